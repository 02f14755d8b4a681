//! The union catalog: MARC import (re-import, rejections, clustering across libraries) and
//! search (English, Chinese in either script, ISBN-10 against ISBN-13), on every engine.

use std::path::PathBuf;

use catalog::{CollectRejections, ImportOptions, ImportSummary, import_files};
use serde_json::Value;

use crate::helpers::{TestApp, engines};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog/loc-catalog.mrc")
}

/// 60 Library of Congress records: 30 English books, 30 Chinese (traditional and simplified).
const FIXTURE_RECORDS: u64 = 60;

async fn import(
    app: &TestApp,
    library: &str,
    file: &PathBuf,
) -> (ImportSummary, CollectRejections) {
    let mut seen = CollectRejections::default();
    let mut options = ImportOptions::new(library);
    options.batch_size = 16;
    let summary = import_files(
        &app.state.store,
        Some(&app.state.catalog),
        std::slice::from_ref(file),
        &options,
        &mut seen,
    )
    .await
    .unwrap();
    (summary, seen)
}

async fn search(app: &TestApp, token: &str, q: &str) -> Value {
    let path = format!("/api/v1/catalog?q={}&per_page=50", urlencode(q));
    let (status, body) = app.get(&path, Some(token)).await;
    assert_eq!(status, 200, "search {q}: {body}");
    body
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn titles(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{} {}",
                h["title"].as_str().unwrap_or(""),
                h["title_vernacular"].as_str().unwrap_or("")
            )
        })
        .collect()
}

async fn counts(app: &TestApp) -> (i64, i64, i64) {
    app.state.store.catalog_counts().await.unwrap()
}

#[tokio::test]
async fn importing_twice_updates_in_place_without_duplicates() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let before = counts(&app).await;
        let (first, rejected) = import(&app, "BCU", &fixture()).await;
        assert_eq!(
            (first.read, first.stored, first.updated, first.rejected),
            (FIXTURE_RECORDS, FIXTURE_RECORDS, 0, 0),
            "{engine:?}: {:?}",
            rejected.0
        );
        let after_first = counts(&app).await;
        let token = app.login("bcu-borrow").await;
        let indexed = search(&app, &token, "").await["total"].clone();
        let (second, _) = import(&app, "BCU", &fixture()).await;
        assert_eq!(
            (second.read, second.stored, second.updated),
            (FIXTURE_RECORDS, 0, FIXTURE_RECORDS),
            "{engine:?}"
        );
        assert_eq!(
            counts(&app).await,
            after_first,
            "{engine:?}: re-import added rows"
        );
        // Each updated record's document is replaced, not added again.
        assert_eq!(
            search(&app, &token, "").await["total"],
            indexed,
            "{engine:?}: re-import added documents to the index"
        );
        assert_eq!(
            after_first.1 - before.1,
            FIXTURE_RECORDS as i64,
            "{engine:?}"
        );
    }
}

#[tokio::test]
async fn a_broken_record_is_rejected_with_its_number_and_offset_and_the_rest_imported() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let good = std::fs::read(fixture()).unwrap();
        let first_end = good.iter().position(|b| *b == 0x1D).unwrap() + 1;
        // Record 2 claims 500 bytes but its leader is garbage past the length.
        let mut broken = b"00500cam a22XXXXX".to_vec();
        broken.extend_from_slice(&[b'x'; 40]);
        broken.push(0x1D);
        let mut bytes = good[..first_end].to_vec();
        bytes.extend_from_slice(&broken);
        bytes.extend_from_slice(&good[first_end..]);
        let path = app.dir.path().join("with-broken.mrc");
        std::fs::write(&path, &bytes).unwrap();

        let (summary, rejected) = import(&app, "BCU", &path).await;

        assert_eq!(summary.read, FIXTURE_RECORDS + 1, "{engine:?}");
        assert_eq!(summary.stored, FIXTURE_RECORDS, "{engine:?}");
        assert_eq!(summary.rejected, 1, "{engine:?}");
        let r = &rejected.0[0];
        assert_eq!((r.record_no, r.byte_offset), (2, first_end as u64), "{r}");
        assert!(r.to_string().contains("record 2 at byte"), "{r}");
    }
}

#[tokio::test]
async fn records_of_two_libraries_cluster_into_one_union_record_with_both_holdings() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let (unions_before, _, _) = counts(&app).await;
        import(&app, "BCU", &fixture()).await;
        let (unions_one, _, _) = counts(&app).await;
        let (second, _) = import(&app, "XNU", &fixture()).await;
        // Another library's records are new records of that library...
        assert_eq!(second.stored, FIXTURE_RECORDS, "{engine:?}");
        // ...that join the union records already there rather than adding their own.
        let (unions_two, sources, _) = counts(&app).await;
        assert_eq!(unions_two, unions_one, "{engine:?}");
        assert!(unions_one > unions_before && sources >= 2 * FIXTURE_RECORDS as i64);

        let token = app.login("bcu-borrow").await;
        let body = search(&app, &token, "9579823103").await;
        assert_eq!(body["total"], 1, "{engine:?}: {body}");
        let libs: Vec<&str> = body["hits"][0]["holdings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["library"].as_str().unwrap())
            .collect();
        assert!(libs.contains(&"BCU") && libs.contains(&"XNU"), "{libs:?}");
        let facet: Vec<&str> = body["facets"]["library"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["value"].as_str().unwrap())
            .collect();
        assert!(facet.contains(&"BCU") && facet.contains(&"XNU"), "{body}");

        // A rota sees both members through the union record.
        let key = store::HoldingKey {
            isbn: Some(
                domain::ident::Isbn::parse("9579823103")
                    .unwrap()
                    .to_string(),
            ),
            ..Default::default()
        };
        let holders = app.state.store.holders(&key).await.unwrap();
        let ids: Vec<&str> = holders.iter().map(|h| h.library_id.as_str()).collect();
        assert!(ids.contains(&"BCU") && ids.contains(&"XNU"), "{ids:?}");
    }
}

#[tokio::test]
async fn search_finds_english_words_and_chinese_in_either_script() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        import(&app, "BCU", &fixture()).await;
        let token = app.login("bcu-borrow").await;

        // The record's 880 title is traditional (全球變遷與變遷全球); the query is simplified.
        let body = search(&app, &token, "全球变迁").await;
        assert!(
            titles(&body).iter().any(|t| t.contains("全球變遷")),
            "{engine:?}: {body}"
        );
        // And back: a simplified record (国史概要) found in traditional characters.
        let body = search(&app, &token, "國史概要").await;
        assert!(
            titles(&body).iter().any(|t| t.contains("国史概要")),
            "{body}"
        );
        // A word inside a longer title (bigrams), and the author in Chinese.
        let body = search(&app, &token, "政治制度 張治安").await;
        assert!(
            titles(&body).iter().any(|t| t.contains("明代政治制度")),
            "{body}"
        );
        assert_eq!(body["hits"][0]["language"], "chi", "{body}");

        // English: a word of a title of the fixture, case and accents ignored. The first
        // English title with a word of five letters or more (hits of an empty query come in no
        // set order, and some titles have only short words).
        let long_word = |t: &str| {
            t.split(|c: char| !c.is_alphanumeric())
                .find(|w| w.len() > 4)
                .map(str::to_uppercase)
        };
        let (first_title, word) = search(&app, &token, "").await["hits"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["language"] == "eng")
            .filter_map(|h| h["title"].as_str())
            .find_map(|t| long_word(t).map(|w| (t.to_owned(), w)))
            .unwrap();
        let body = search(&app, &token, &word).await;
        assert!(
            titles(&body)
                .iter()
                .any(|t| *t.trim() == *first_title || t.starts_with(&first_title)),
            "{word}: {body}"
        );

        // Nonsense finds nothing; a bad page size is the caller's mistake.
        assert_eq!(search(&app, &token, "zzqxjv").await["total"], 0);
        let (status, body) = app
            .get("/api/v1/catalog?q=a&per_page=1000", Some(&token))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "bad_request");
        let (status, _) = app.get("/api/v1/catalog?q=a", None).await;
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn an_isbn_10_finds_the_record_catalogued_with_its_isbn_13_and_back() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        import(&app, "BCU", &fixture()).await;
        let token = app.login("bcu-borrow").await;
        // The fixture has 957-98231-0-3 as an ISBN-10.
        let isbn13 = domain::ident::Isbn::parse("9579823103").unwrap();
        let hyphenated = format!("978-{}", &isbn13.as_isbn13()[3..]);
        for q in [
            "9579823103",
            "957-98231-0-3",
            isbn13.as_isbn13(),
            &hyphenated,
        ] {
            let body = search(&app, &token, q).await;
            assert_eq!(body["total"], 1, "{engine:?} {q}: {body}");
            let ids = body["hits"][0]["identifiers"]["isbn"].as_array().unwrap();
            assert!(ids.iter().any(|i| i == isbn13.as_isbn13()), "{body}");
            assert!(ids.iter().any(|i| i == "9579823103"), "{body}");
        }
    }
}

fn cnmarc_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog/cnmarc-sample.mrc")
}

fn hit<'a>(body: &'a Value, title: &str) -> &'a Value {
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["title"] == title)
        .unwrap_or_else(|| panic!("no hit titled {title}: {body}"))
}

#[tokio::test]
async fn cnmarc_records_are_told_by_their_fields_mapped_like_marc_21_and_searchable_in_chinese() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let token = app.login("bcu-borrow").await;

        // Act: the CNMARC file, its format told by the records' fields.
        let (summary, rejected) = import(&app, "CPL", &cnmarc_fixture()).await;

        // Assert: every record read and stored, titles from 200 $a, authors from 700/701, the
        // ISBN-10 from 010 (X check digit) as ISBN-13, publisher and year from 210, language
        // from 101, the holding from 905.
        assert_eq!(
            (summary.read, summary.stored, summary.rejected),
            (4, 4, 0),
            "{engine:?}: {:?}",
            rejected.0
        );
        let body = search(&app, &token, "红楼梦").await;
        let h = hit(&body, "红楼梦");
        assert_eq!(h["author"], "曹雪芹", "{h}");
        assert_eq!(h["year"], "1982", "{h}");
        assert_eq!(h["language"], "chi", "{h}");
        assert_eq!(h["identifiers"]["isbn"][0], "9787020002207", "{h}");
        assert_eq!(h["holdings"][0]["library"], "CPL", "{h}");
        assert_eq!(h["holdings"][0]["call_number"], "I242.47/12", "{h}");
        assert_eq!(h["holdings"][0]["barcode"], "C0012345", "{h}");
        // Traditional script, the author, the ISBN-10 and a word of the publisher find it too.
        for q in ["紅樓夢", "曹雪芹", "7-02-000220-X", "9787020002207"] {
            let body = search(&app, &token, q).await;
            hit(&body, "红楼梦");
        }
        let body = search(&app, &token, "钱锺书").await;
        assert_eq!(hit(&body, "围城")["author"], "钱锺书");
        let body = search(&app, &token, "Knuth").await;
        let knuth = hit(
            &body,
            "The art of computer programming. Vol. 1, Fundamental algorithms",
        );
        assert_eq!(knuth["author"], "Knuth, Donald E.", "{knuth}");
        assert_eq!(knuth["year"], "1997", "{knuth}");
        // The journal (011 ISSN) joins the demo's record of the same ISSN as another holder.
        let body = search(&app, &token, "1001-8867").await;
        let journal = hit(&body, "中国图书馆学报");
        assert!(
            journal["holdings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["library"] == "CPL"),
            "{journal}"
        );

        // Re-importing updates in place; forcing MARC 21 onto CNMARC finds no 245 and says so.
        let (again, _) = import(&app, "CPL", &cnmarc_fixture()).await;
        assert_eq!((again.stored, again.updated), (0, 4), "{engine:?}");
        let mut seen = CollectRejections::default();
        let mut options = ImportOptions::new("XNU");
        options.dialect = Some(marc::Dialect::Marc21);
        let forced = import_files(
            &app.state.store,
            Some(&app.state.catalog),
            &[cnmarc_fixture()],
            &options,
            &mut seen,
        )
        .await
        .unwrap();
        assert_eq!(forced.rejected, 4, "{engine:?}");
        assert_eq!(seen.0[0].code, "no_title");
        assert!(
            seen.0[0].reason.contains("200 $a in CNMARC"),
            "{}",
            seen.0[0]
        );
    }
}

/// One MARCXML record: 001, optionally an ISBN and an OCLC number (035), a title and no
/// author (so no title + author + year key).
fn linked_record(control: &str, isbn: Option<&str>, oclc: Option<&str>, title: &str) -> String {
    let isbn = isbn
        .map(|i| {
            format!(
                r#"<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{i}</subfield></datafield>"#
            )
        })
        .unwrap_or_default();
    let oclc = oclc
        .map(|o| {
            format!(
                r#"<datafield tag="035" ind1=" " ind2=" "><subfield code="a">(OCoLC){o}</subfield></datafield>"#
            )
        })
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim"><record>
<leader>00000nam a2200000 a 4500</leader>
<controlfield tag="001">{control}</controlfield>
{isbn}{oclc}
<datafield tag="245" ind1="0" ind2="0"><subfield code="a">{title}</subfield></datafield>
</record></collection>"#
    )
}

#[tokio::test]
async fn a_record_that_links_two_clusters_merges_them_into_one_union_record() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let write = |name: &str, xml: String| {
            let path = app.dir.path().join(name);
            std::fs::write(&path, xml).unwrap();
            path
        };
        // Arrange: BCU files the work by its ISBN, XNU by its OCLC number: two union records.
        let by_isbn = write(
            "bcu.xml",
            linked_record("bcu-1", Some("9787875366127"), None, "Zymurgical handbook"),
        );
        let by_oclc = write(
            "xnu.xml",
            linked_record("xnu-1", None, Some("ocm00777001"), "Zymurgy handbook"),
        );
        let (unions_before, _, _) = counts(&app).await;
        import(&app, "BCU", &by_isbn).await;
        import(&app, "XNU", &by_oclc).await;
        assert_eq!(counts(&app).await.0, unions_before + 2, "{engine:?}");

        // Act: a third record carries both identifiers.
        let both = write(
            "both.xml",
            linked_record(
                "bcu-2",
                Some("7-87536-612-7"),
                Some("777001"),
                "Zymurgical handbook",
            ),
        );
        let (summary, _) = import(&app, "BCU", &both).await;

        // Assert: one union record with every member and both libraries' holdings, found
        // once by either member's title.
        assert_eq!(summary.stored, 1, "{engine:?}");
        let (unions, _, _) = counts(&app).await;
        assert_eq!(unions, unions_before + 1, "{engine:?}");
        let token = app.login("bcu-borrow").await;
        for q in ["zymurgy", "zymurgical", "9787875366127"] {
            let body = search(&app, &token, q).await;
            assert_eq!(body["total"], 1, "{engine:?} {q}: {body}");
            let libs: Vec<&str> = body["hits"][0]["holdings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["library"].as_str().unwrap())
                .collect();
            assert!(
                libs.contains(&"BCU") && libs.contains(&"XNU"),
                "{engine:?} {q}: {libs:?}"
            );
        }
        let key = store::HoldingKey {
            oclc_number: Some("777001".to_owned()),
            ..Default::default()
        };
        let holders = app.state.store.holders(&key).await.unwrap();
        let ids: Vec<&str> = holders.iter().map(|h| h.library_id.as_str()).collect();
        assert_eq!(ids, ["BCU", "XNU"], "{engine:?}");
    }
}
