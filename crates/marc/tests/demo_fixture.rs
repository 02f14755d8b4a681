//! The committed demo catalog (fixtures/demo/loc-demo.mrc) reads and maps completely: the demo
//! server loads it, so a record lost here is a book missing from the demo.

use marc::{BibRecord, Format, Iso2709Reader};

/// The fixture, found through the manifest directory cargo gives at run time (a test binary
/// built in another checkout must not read that checkout's files).
fn fixture() -> std::path::PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    std::path::Path::new(&dir).join("../../fixtures/demo/loc-demo.mrc")
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

#[test]
fn every_demo_record_parses_and_maps_with_a_title() {
    let bytes = std::fs::read(fixture()).unwrap();
    assert_eq!(marc::detect(&bytes), Format::Iso2709);
    assert!(
        bytes.len() < 1024 * 1024,
        "the fixture should stay under 1 MB"
    );

    let mut count = 0;
    let mut with_isbn = 0;
    let mut english = 0;
    let mut chinese_titles = 0;
    for record in Iso2709Reader::new(bytes.as_slice()) {
        let record = record.unwrap_or_else(|e| panic!("demo record unreadable: {e}"));
        let bib = BibRecord::from_record(&record);
        let id = record.control_number().unwrap_or("?").trim().to_owned();
        assert!(
            bib.title.as_deref().is_some_and(|t| !t.is_empty()),
            "no title in {id}"
        );
        count += 1;
        with_isbn += usize::from(!bib.isbns.is_empty());
        english += usize::from(bib.language.as_deref() == Some("eng"));
        if bib
            .title_vernacular
            .as_deref()
            .is_some_and(|t| t.chars().any(is_han))
        {
            chinese_titles += 1;
            assert_eq!(bib.language.as_deref(), Some("chi"), "{id}");
        }
    }

    assert!((380..=420).contains(&count), "{count} records");
    assert!(
        chinese_titles >= 80,
        "{chinese_titles} records with a Chinese vernacular title"
    );
    assert!(english >= 280, "{english} English-language records");
    assert_eq!(with_isbn, count, "every demo record has an ISBN");
}

#[test]
fn the_demo_reads_the_same_through_the_format_detecting_reader() {
    let bytes = std::fs::read(fixture()).unwrap();
    let direct: Vec<_> = Iso2709Reader::new(bytes.as_slice()).collect();
    let detected: Vec<_> = marc::Records::detect(bytes.as_slice()).unwrap().collect();
    assert_eq!(direct, detected);
}
