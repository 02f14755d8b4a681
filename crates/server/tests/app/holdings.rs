//! Holdings imported from a spreadsheet: rows join the union records their keys match (an
//! ISBN-10 finds a record filed by ISBN-13), unmatched rows start minimal records that search
//! finds, bad rows are named by line and field in both languages, and a second import of the
//! same file changes nothing, on every engine.

use domain::ident::Isbn;
use serde_json::Value;
use store::HoldingKey;

use crate::helpers::{TestApp, engines};

async fn post_holdings(app: &TestApp, token: &str, library: &str, body: &str) -> (u16, Value) {
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/catalog/holdings/import?library={library}",
            app.base
        ))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn by_isbn(isbn13: &str) -> HoldingKey {
    HoldingKey {
        isbn: Some(isbn13.to_owned()),
        ..HoldingKey::default()
    }
}

fn by_title(title: &str) -> HoldingKey {
    HoldingKey {
        title_lower: Some(title.to_lowercase()),
        ..HoldingKey::default()
    }
}

async fn title_and_author(app: &TestApp, isbn13: &str) -> Option<(String, Option<String>)> {
    app.state
        .store
        .catalog_sample(1000)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.isbn.as_deref() == Some(isbn13))
        .map(|r| (r.title, r.author))
}

#[tokio::test]
async fn a_holdings_file_makes_the_library_a_holder_and_importing_it_again_changes_nothing() {
    for engine in engines() {
        // Arrange: a demo record with an ISBN-10 form that BCU does not hold yet.
        let app = TestApp::spawn(engine).await;
        let store = &app.state.store;
        let mut target = None;
        for r in store.catalog_sample(1000).await.unwrap() {
            let Some(isbn) = r.isbn.as_deref() else {
                continue;
            };
            let Some(isbn10) = Isbn::parse(isbn).ok().and_then(|i| i.as_isbn10()) else {
                continue;
            };
            let holders = store.holders(&by_isbn(isbn)).await.unwrap();
            if !holders.is_empty() && !holders.iter().any(|h| h.library_id == "BCU") {
                target = Some((isbn.to_owned(), isbn10, holders.len()));
                break;
            }
        }
        let (isbn13, isbn10, holders_before) = target.expect("a demo record with an ISBN-10");
        let demo_title = title_and_author(&app, &isbn13).await;
        let csv = format!(
            "\u{feff}isbn,title,author,year,call_number,barcode,location\r\n\
             {isbn10},,,,QA76.9 .H6,B0001,Main stacks\r\n\
             ,红楼梦,曹雪芹,1982,I242.4/1,B0002,中文书库\r\n\
             978-0-306-40615-8,Bad check digit,,,,B0003,\r\n"
        );
        let admin = app.login("bcu-admin").await;
        let before = store.catalog_counts().await.unwrap();

        // Act
        let (status, summary) = post_holdings(&app, &admin, "BCU", &csv).await;

        // Assert
        assert_eq!(status, 200, "{engine:?}: {summary}");
        assert_eq!(summary["read"], 3, "{engine:?}: {summary}");
        assert_eq!(summary["holdings"], 2, "{engine:?}: {summary}");
        assert_eq!(summary["new_records"], 1, "{engine:?}: {summary}");
        assert_eq!(summary["rejected"], 1, "{engine:?}: {summary}");
        let error = &summary["errors"][0];
        assert_eq!(error["line"], 4, "{engine:?}: {summary}");
        assert_eq!(error["field"], "isbn");
        assert_eq!(error["code"], "invalid_isbn");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("line 4") && message.contains("check digit"),
            "{message}"
        );
        let message_zh = error["message_zh"].as_str().unwrap();
        assert!(message_zh.contains("第 4 行 isbn"), "{message_zh}");

        let holders = store.holders(&by_isbn(&isbn13)).await.unwrap();
        let bcu = holders.iter().find(|h| h.library_id == "BCU");
        assert!(
            bcu.is_some(),
            "{engine:?}: BCU not a holder of {isbn13}: {holders:?}"
        );
        assert_eq!(
            bcu.map(|h| h.call_number.clone()),
            Some(Some("QA76.9 .H6".to_owned()))
        );
        assert_eq!(
            holders.len(),
            holders_before + 1,
            "{engine:?}: other holders lost"
        );
        let chinese = store.holders(&by_title("红楼梦")).await.unwrap();
        assert_eq!(
            chinese
                .iter()
                .map(|h| h.library_id.as_str())
                .collect::<Vec<_>>(),
            ["BCU"],
            "{engine:?}"
        );
        let (status, found) = app
            .get(
                "/api/v1/catalog?q=%E7%BA%A2%E6%A5%BC%E6%A2%A6",
                Some(&admin),
            )
            .await;
        assert_eq!(status, 200, "{found}");
        let hit = found["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["title"] == "红楼梦")
            .unwrap_or_else(|| panic!("{engine:?}: the new record is not in the index: {found}"));
        assert_eq!(hit["holdings"][0]["library"], "BCU");
        assert_eq!(hit["holdings"][0]["location"], "中文书库");
        let after_first = store.catalog_counts().await.unwrap();
        assert_eq!(
            after_first.0 - before.0,
            1,
            "{engine:?}: one new union record"
        );

        // Act again: the same file
        let (status, again) = post_holdings(&app, &admin, "BCU", &csv).await;

        // Assert: nothing new
        assert_eq!(status, 200, "{engine:?}: {again}");
        assert_eq!(again["new_records"], 0, "{engine:?}: {again}");
        assert_eq!(again["holdings"], 2, "{engine:?}: {again}");
        assert_eq!(
            store.catalog_counts().await.unwrap(),
            after_first,
            "{engine:?}: re-import added rows"
        );
        let holders = store.holders(&by_isbn(&isbn13)).await.unwrap();
        let copies = holders
            .iter()
            .find(|h| h.library_id == "BCU")
            .map(|h| h.copies);
        assert_eq!(copies, Some(1), "{engine:?}: duplicate holdings");
        assert_eq!(
            title_and_author(&app, &isbn13).await,
            demo_title,
            "{engine:?}: a holdings row changed the record it joined"
        );
    }
}

#[tokio::test]
async fn an_unknown_column_refuses_the_whole_file_and_only_admins_may_import() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let admin = app.login("bcu-admin").await;
        let staff = app.login("bcu-borrow").await;
        let before = app.state.store.catalog_counts().await.unwrap();

        let (status, body) =
            post_holdings(&app, &admin, "BCU", "isbn\tshelf\n9780306406157\tA1\n").await;
        assert_eq!(status, 422, "{engine:?}: {body}");
        assert_eq!(body["error"]["code"], "unknown_column");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("\"shelf\"")
        );
        assert!(
            body["error"]["message_zh"]
                .as_str()
                .unwrap()
                .contains("未知的列名")
        );

        let (status, _) = post_holdings(&app, &staff, "BCU", "isbn\n9780306406157\n").await;
        assert_eq!(status, 403, "{engine:?}: staff");
        let (status, _) = post_holdings(&app, &admin, "XNU", "isbn\n9780306406157\n").await;
        assert_eq!(status, 403, "{engine:?}: another library's holdings");
        assert_eq!(app.state.store.catalog_counts().await.unwrap(), before);
    }
}

/// One MARCXML record of BCU: 001, an ISBN and, when `item` is set, an 852 with a call
/// number and a barcode.
fn marcxml(control: &str, isbn: &str, title: &str, item: Option<(&str, &str)>) -> String {
    let item = item
        .map(|(call, barcode)| {
            format!(
                r#"<datafield tag="852" ind1=" " ind2=" "><subfield code="b">Stacks</subfield><subfield code="h">{call}</subfield><subfield code="p">{barcode}</subfield></datafield>"#
            )
        })
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim"><record>
<leader>00000nam a2200000 a 4500</leader>
<controlfield tag="001">{control}</controlfield>
<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{isbn}</subfield></datafield>
<datafield tag="100" ind1="1" ind2=" "><subfield code="a">Knuth, Donald E.</subfield></datafield>
<datafield tag="245" ind1="1" ind2="0"><subfield code="a">{title}</subfield></datafield>
{item}
</record></collection>"#
    )
}

async fn import_marc(app: &TestApp, library: &str, xml: &str) {
    let path = app.dir.path().join(format!("{library}-merge.xml"));
    std::fs::write(&path, xml).unwrap();
    let mut seen = catalog::CollectRejections::default();
    let summary = catalog::import_files(
        &app.state.store,
        Some(&app.state.catalog),
        &[path],
        &catalog::ImportOptions::new(library),
        &mut seen,
    )
    .await
    .unwrap();
    assert_eq!(summary.rejected, 0, "{:?}", seen.0);
}

/// BCU's items of the union record with `isbn13`: (call number, barcode, location).
async fn bcu_items(
    app: &TestApp,
    isbn13: &str,
) -> Vec<(Option<String>, Option<String>, Option<String>)> {
    let store = &app.state.store;
    let ids: Vec<String> = store
        .catalog_sample(5000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.isbn.as_deref() == Some(isbn13))
        .map(|r| r.record_id)
        .collect();
    assert_eq!(ids.len(), 1, "one union record for {isbn13}: {ids:?}");
    store
        .holdings_of(&ids)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.library_id == "BCU")
        .map(|h| (h.call_number, h.barcode, h.location))
        .collect()
}

#[tokio::test]
async fn a_spreadsheet_row_updates_the_librarys_marc_item_of_the_same_work_in_place() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let admin = app.login("bcu-admin").await;
        // Arrange: BCU's MARC record of one work has an item with no barcode (no 852: the
        // importer files one item with the record), another work's record an item with a
        // barcode and an old call number.
        let bare = "9780201896831";
        let with_item = "9780201896848";
        import_marc(
            &app,
            "BCU",
            &marcxml(
                "bcu-0001",
                bare,
                "The art of computer programming. Vol. 1",
                None,
            ),
        )
        .await;
        import_marc(
            &app,
            "BCU",
            &marcxml(
                "bcu-0002",
                with_item,
                "The art of computer programming. Vol. 2",
                Some(("QA76.6 .K64 1997", "B-7001")),
            ),
        )
        .await;
        assert_eq!(bcu_items(&app, bare).await.len(), 1, "{engine:?}");
        let counts = app.state.store.catalog_counts().await.unwrap();

        // Act: the spreadsheet has the first work by its ISBN-10 with a barcode, the second by
        // its barcode with a new call number and a location, and a second copy of it.
        let csv = "isbn,call_number,barcode,location\n\
                   0-201-89683-4,QA76.6 .K64 v.1,B-7000,Science library\n\
                   9780201896848,QA76.6 .K64 1997 v.2,B-7001,Science library\n\
                   9780201896848,QA76.6 .K64 1997 v.2 c.2,B-7002,Science library\n";
        let (status, summary) = post_holdings(&app, &admin, "BCU", csv).await;

        // Assert: the items were updated in place; only the second copy is new.
        assert_eq!(status, 200, "{engine:?}: {summary}");
        assert_eq!(summary["new_records"], 0, "{engine:?}: {summary}");
        assert_eq!(
            bcu_items(&app, bare).await,
            [(
                Some("QA76.6 .K64 v.1".to_owned()),
                Some("B-7000".to_owned()),
                Some("Science library".to_owned())
            )],
            "{engine:?}"
        );
        let second = bcu_items(&app, with_item).await;
        assert_eq!(second.len(), 2, "{engine:?}: {second:?}");
        assert!(
            second.contains(&(
                Some("QA76.6 .K64 1997 v.2".to_owned()),
                Some("B-7001".to_owned()),
                Some("Science library".to_owned())
            )),
            "{engine:?}: {second:?}"
        );
        assert!(
            second.iter().any(|i| i.1.as_deref() == Some("B-7002")),
            "{engine:?}: {second:?}"
        );
        // Locate finds the merged item for a request.
        let found = app
            .state
            .store
            .write(|tx| {
                Box::pin(async move {
                    tx.locate(
                        "BCU",
                        &store::HoldingKey {
                            isbn: Some("9780201896831".to_owned()),
                            ..Default::default()
                        },
                    )
                    .await
                })
            })
            .await
            .unwrap();
        assert_eq!(
            found,
            Some((
                Some("QA76.6 .K64 v.1".to_owned()),
                Some("B-7000".to_owned())
            )),
            "{engine:?}"
        );

        // Act again: the same file changes nothing.
        let after = (
            bcu_items(&app, bare).await,
            bcu_items(&app, with_item).await,
        );
        let (status, again) = post_holdings(&app, &admin, "BCU", csv).await;
        assert_eq!(status, 200, "{engine:?}: {again}");
        assert_eq!(
            (
                bcu_items(&app, bare).await,
                bcu_items(&app, with_item).await
            ),
            after,
            "{engine:?}"
        );

        // The library's MARC records imported again: what the spreadsheet merged into their
        // items stays where the records say nothing, and the records' own values stand.
        import_marc(
            &app,
            "BCU",
            &marcxml(
                "bcu-0001",
                bare,
                "The art of computer programming. Vol. 1",
                None,
            ),
        )
        .await;
        import_marc(
            &app,
            "BCU",
            &marcxml(
                "bcu-0002",
                with_item,
                "The art of computer programming. Vol. 2",
                Some(("QA76.6 .K64 1997", "B-7001")),
            ),
        )
        .await;
        assert_eq!(bcu_items(&app, bare).await, after.0, "{engine:?}");
        let second = bcu_items(&app, with_item).await;
        assert_eq!(second.len(), 2, "{engine:?}: {second:?}");
        assert!(
            second.contains(&(
                Some("QA76.6 .K64 1997".to_owned()),
                Some("B-7001".to_owned()),
                Some("Stacks".to_owned())
            )),
            "{engine:?}: {second:?}"
        );

        // A file without the second copy takes it away again; the MARC items stay.
        let (status, _) = post_holdings(
            &app,
            &admin,
            "BCU",
            "isbn,barcode\n9780201896848,B-7001\n0201896834,B-7000\n",
        )
        .await;
        assert_eq!(status, 200, "{engine:?}");
        let second = bcu_items(&app, with_item).await;
        assert_eq!(second.len(), 1, "{engine:?}: {second:?}");
        assert_eq!(second[0].1.as_deref(), Some("B-7001"));
        assert_eq!(bcu_items(&app, bare).await.len(), 1, "{engine:?}");
        // Union records: none added by the spreadsheet at any point.
        assert_eq!(
            app.state.store.catalog_counts().await.unwrap().0,
            counts.0,
            "{engine:?}"
        );
    }
}

#[tokio::test]
async fn a_marc_record_imported_again_without_its_call_number_does_not_keep_the_old_one() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let admin = app.login("bcu-admin").await;
        let dropped = "9780201896831";
        let merged = "9780201896848";
        // Arrange: two of BCU's records with an item each, a call number and a barcode; a
        // spreadsheet then gives the second item a call number of its own.
        import_marc(
            &app,
            "BCU",
            &marcxml(
                "bcu-0001",
                dropped,
                "The art of computer programming. Vol. 1",
                Some(("QA76.6 .K64 v.1", "B-7000")),
            ),
        )
        .await;
        import_marc(
            &app,
            "BCU",
            &marcxml(
                "bcu-0002",
                merged,
                "The art of computer programming. Vol. 2",
                Some(("QA76.6 .K64 v.2", "B-7001")),
            ),
        )
        .await;
        let (status, summary) = post_holdings(
            &app,
            &admin,
            "BCU",
            "isbn,call_number,barcode\n9780201896848,QA76.6 .K64 1997 v.2,B-7001\n",
        )
        .await;
        assert_eq!(status, 200, "{engine:?}: {summary}");

        // Act: both records come again with the item (same barcode) but no call number.
        // (An empty 852 $h: no call number.)
        import_marc(
            &app,
            "BCU",
            &marcxml(
                "bcu-0001",
                dropped,
                "The art of computer programming. Vol. 1",
                Some(("", "B-7000")),
            ),
        )
        .await;
        import_marc(
            &app,
            "BCU",
            &marcxml(
                "bcu-0002",
                merged,
                "The art of computer programming. Vol. 2",
                Some(("", "B-7001")),
            ),
        )
        .await;

        // Assert: the record's own call number is gone; the spreadsheet's stays.
        assert_eq!(
            bcu_items(&app, dropped).await,
            [(None, Some("B-7000".to_owned()), Some("Stacks".to_owned()))],
            "{engine:?}"
        );
        assert_eq!(
            bcu_items(&app, merged).await,
            [(
                Some("QA76.6 .K64 1997 v.2".to_owned()),
                Some("B-7001".to_owned()),
                Some("Stacks".to_owned())
            )],
            "{engine:?}"
        );
    }
}
