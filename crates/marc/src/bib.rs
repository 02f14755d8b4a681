//! The bibliographic fields librelay uses, from a MARC 21 record. CNMARC (UNIMARC) puts the
//! title in 200$a and the author in 700/701: its mapping belongs beside this one, chosen by the
//! importer per source.

use crate::Record;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BibRecord {
    pub title: Option<String>,
    pub author: Option<String>,
    pub publisher: Option<String>,
    pub place: Option<String>,
    pub year: Option<String>,
    pub edition: Option<String>,
    pub isbns: Vec<String>,
    pub issns: Vec<String>,
    pub lccn: Option<String>,
    pub oclc_numbers: Vec<String>,
    pub language: Option<String>,
    pub subjects: Vec<String>,
    /// From the 880 linked to 245 / 100: the title and author in their own script.
    pub title_vernacular: Option<String>,
    pub author_vernacular: Option<String>,
}

/// ISBD punctuation at the end of a MARC subfield ("Title /", "Beijing :").
fn trim_isbd(s: &str) -> String {
    s.trim()
        .trim_end_matches([' ', '/', ':', ';', ',', '.', '='])
        .trim()
        .to_owned()
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

fn title_of(f: &crate::DataField) -> Option<String> {
    let a = f.subfield('a').map(trim_isbd).unwrap_or_default();
    let b = f.subfield('b').map(trim_isbd);
    non_empty(match b {
        Some(b) if !b.is_empty() => format!("{a}: {b}"),
        _ => a,
    })
}

impl BibRecord {
    pub fn from_record(r: &Record) -> BibRecord {
        let f008 = r.control("008").unwrap_or_default();
        let year = r
            .field("264")
            .or_else(|| r.field("260"))
            .and_then(|f| f.subfield('c'))
            .and_then(|c| {
                let d: String = c.chars().filter(char::is_ascii_digit).take(4).collect();
                (d.len() == 4).then_some(d)
            })
            .or_else(|| {
                f008.get(7..11)
                    .filter(|y| y.chars().all(|c| c.is_ascii_digit()))
                    .map(str::to_owned)
            });
        let linked = |tag: &str| {
            r.fields("880")
                .find(|f| f.subfield('6').is_some_and(|l| l.starts_with(tag)))
        };
        BibRecord {
            title: r.field("245").and_then(title_of),
            author: ["100", "110", "111"]
                .iter()
                .find_map(|t| r.subfield(t, 'a'))
                .map(trim_isbd)
                .and_then(non_empty)
                .or_else(|| r.subfield("245", 'c').map(trim_isbd).and_then(non_empty)),
            publisher: r
                .field("264")
                .or_else(|| r.field("260"))
                .and_then(|f| f.subfield('b'))
                .map(trim_isbd)
                .and_then(non_empty),
            place: r
                .field("264")
                .or_else(|| r.field("260"))
                .and_then(|f| f.subfield('a'))
                .map(trim_isbd)
                .and_then(non_empty),
            year,
            edition: r.subfield("250", 'a').map(trim_isbd).and_then(non_empty),
            isbns: r
                .fields("020")
                .filter_map(|f| f.subfield('a'))
                .filter_map(|a| a.split_whitespace().next().map(str::to_owned))
                .collect(),
            issns: r
                .fields("022")
                .filter_map(|f| f.subfield('a'))
                .map(|s| s.trim().to_owned())
                .collect(),
            lccn: r
                .subfield("010", 'a')
                .map(|s| s.trim().to_owned())
                .and_then(non_empty),
            oclc_numbers: r
                .fields("035")
                .filter_map(|f| f.subfield('a'))
                .filter_map(|a| a.strip_prefix("(OCoLC)"))
                .map(|n| {
                    n.trim_start_matches(|c: char| c.is_ascii_alphabetic())
                        .to_owned()
                })
                .collect(),
            language: f008
                .get(35..38)
                .map(str::to_owned)
                .filter(|l| l.trim().len() == 3)
                .or_else(|| r.subfield("041", 'a').map(str::to_owned)),
            subjects: r
                .fields("650")
                .filter_map(|f| f.subfield('a'))
                .map(trim_isbd)
                .collect(),
            title_vernacular: linked("245").and_then(title_of),
            author_vernacular: linked("100")
                .and_then(|f| f.subfield('a'))
                .map(trim_isbd)
                .and_then(non_empty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Iso2709Reader;

    const DEMO: &[u8] = include_bytes!("../../../fixtures/demo/loc-demo.mrc");

    #[test]
    fn every_demo_record_maps_with_a_title_and_the_chinese_ones_with_their_script() {
        let mut n = 0;
        let mut chinese = 0;
        let mut with_isbn = 0;
        for rec in Iso2709Reader::new(DEMO) {
            let rec = rec.expect("demo records are valid");
            let bib = BibRecord::from_record(&rec);
            assert!(
                bib.title.is_some(),
                "no title in {:?}",
                rec.control_number()
            );
            n += 1;
            with_isbn += usize::from(!bib.isbns.is_empty());
            if bib
                .title_vernacular
                .as_deref()
                .is_some_and(|t| t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))
            {
                chinese += 1;
            }
        }
        assert_eq!(n, 400);
        assert!(chinese >= 80, "{chinese} records with a Chinese title");
        assert!(
            with_isbn >= 350,
            "{with_isbn} records with an ISBN in 020$a"
        );
    }
}
