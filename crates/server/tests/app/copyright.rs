//! Copyright compliance and duplicate requests: the rule of five warns on the sixth recent copy
//! from one journal and holds it for clearance, older articles bypass, the compliance code goes
//! out in the ISO 18626 request, the yearly report; a request repeating an earlier one (by DOI
//! or by a loosely written citation) is flagged, and filled at once from a delivered copy.

use serde_json::{Value, json};

use crate::delivery::{article_for, ship_and_deliver};
use crate::helpers::{Bucket, Engine, TestApp, engines};

fn journal_article(n: usize, year: i32) -> Value {
    json!({
        "title": format!("Interlibrary loan study number {n}"), "author": "Li, Ming",
        "source_title": "Interlending & Document Supply", "issn": "0264-1615",
        "year": year.to_string(), "pages": format!("{}-{}", n * 10, n * 10 + 9),
        "copyright_declaration": true
    })
}

async fn ask(app: &TestApp, reader: &str, citation: Value) -> Value {
    let token = app.login(reader).await;
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "article_copy", "citation": citation}),
            Some(&token),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    req
}

/// The ISO 18626 request sent for borrowing request `id`, once delivered.
async fn sent_xml(app: &TestApp, staff: &str, id: &str) -> String {
    let v = app
        .eventually("/api/v1/outbox?status=delivered&limit=500", staff, |v| {
            v.as_array().is_some_and(|a| {
                a.iter()
                    .any(|m| m["request_id"] == id && m["kind"] == "request")
            })
        })
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .find(|m| m["request_id"] == id && m["kind"] == "request")
        .unwrap()["payload"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn rule_of_five(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let bcu = app.login("bcu-borrow").await;
    let year = app.state.now().year();
    let readers = ["bcu-faculty", "bcu-phd", "bcu-master"];

    // Five copies from one journal this year pass without a word.
    let mut ids = Vec::new();
    for n in 0..5 {
        let req = ask(&app, readers[n % 3], journal_article(n, year - 1)).await;
        assert_eq!(req["copyright"]["clearance"], "not_needed", "{req}");
        assert_eq!(req["copyright"]["earlier_copies"], n);
        ids.push(req["id"].as_str().unwrap().to_owned());
    }
    // The first goes out marked as within the guidelines.
    let first = &ids[0];
    app.borrow_action(&bcu, first, json!({"action": "edit_rota", "rota": ["XNU"]}))
        .await;
    let sent = app
        .borrow_action(&bcu, first, json!({"action": "approve"}))
        .await;
    assert_eq!(sent["state"], "sent", "{sent}");
    let xml = sent_xml(&app, &bcu, first).await;
    assert!(xml.contains("copyrightCompliance>CCG</"), "{xml}");

    // The sixth is over the limit: a warning, and it waits for clearance.
    let sixth = ask(&app, "bcu-phd", journal_article(6, year - 2)).await;
    assert_eq!(sixth["copyright"]["clearance"], "required", "{sixth}");
    assert_eq!(sixth["copyright"]["clearance_required"], true);
    assert_eq!(sixth["copyright"]["earlier_copies"], 5);
    let sixth_id = sixth["id"].as_str().unwrap().to_owned();
    let (_, events) = app
        .get(&format!("/api/v1/requests/{sixth_id}/events"), Some(&bcu))
        .await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "copyright_warning"),
        "{events}"
    );
    app.borrow_action(
        &bcu,
        &sixth_id,
        json!({"action": "edit_rota", "rota": ["XNU"]}),
    )
    .await;
    let (st, err) = app
        .post(
            &format!("/api/v1/requests/{sixth_id}/actions"),
            json!({"action": "approve"}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 409, "{err}");
    assert_eq!(err["error"]["code"], "copyright_clearance_required");
    let (_, still) = app
        .get(&format!("/api/v1/requests/{sixth_id}"), Some(&bcu))
        .await;
    assert_eq!(still["state"], "pending_review");

    // An article older than five years bypasses the rule.
    let old = ask(&app, "bcu-faculty", journal_article(7, year - 6)).await;
    assert_eq!(old["copyright"]["counted"], false, "{old}");
    assert_eq!(old["copyright"]["clearance"], "not_needed");

    // Clearing: readers may not; an override needs its reason; then it may be sent.
    let path = format!("/api/v1/requests/{sixth_id}/copyright-clearance");
    let reader = app.login("bcu-phd").await;
    let (st, _) = app
        .post(
            &path,
            json!({"method": "override", "note": "x"}),
            Some(&reader),
        )
        .await;
    assert_eq!(st, 403);
    let (st, err) = app
        .post(&path, json!({"method": "override"}), Some(&bcu))
        .await;
    assert_eq!(st, 422, "{err}");
    assert_eq!(err["error"]["fields"][0]["field"], "note");
    let (st, err) = app
        .post(&path, json!({"method": "ask_nicely"}), Some(&bcu))
        .await;
    assert_eq!(st, 422, "{err}");
    let (st, cleared) = app
        .post(
            &path,
            json!({"method": "royalty_paid", "note": "rights agency invoice 42", "royalty_minor": 1500, "currency": "CNY"}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 200, "{cleared}");
    assert_eq!(cleared["clearance"], "royalty_paid");
    let (st, again) = app
        .post(&path, json!({"method": "permission"}), Some(&bcu))
        .await;
    assert_eq!(st, 400, "cleared once only: {again}");
    let sent = app
        .borrow_action(&bcu, &sixth_id, json!({"action": "approve"}))
        .await;
    assert_eq!(sent["state"], "sent", "{sent}");
    // Cleared beyond the guidelines: it goes out as complying with the law.
    let xml = sent_xml(&app, &bcu, &sixth_id).await;
    assert!(xml.contains("copyrightCompliance>CCL</"), "{xml}");

    // The report: per journal and publication year, with the cleared request.
    let (st, report) = app
        .get(
            &format!("/api/v1/reports/copyright?year={year}"),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 200, "{report}");
    let rows = report["journals"].as_array().unwrap();
    let total: i64 = rows.iter().map(|r| r["requests"].as_i64().unwrap()).sum();
    assert_eq!(total, 7, "{report}");
    let counted: i64 = rows.iter().map(|r| r["counted"].as_i64().unwrap()).sum();
    assert_eq!(counted, 6, "{report}");
    let cleared: Vec<&Value> = rows
        .iter()
        .flat_map(|r| r["cleared"].as_array().unwrap())
        .collect();
    assert_eq!(cleared.len(), 1);
    assert_eq!(cleared[0]["request_id"], sixth_id.as_str());
    assert_eq!(cleared[0]["royalty_minor"], 1500);
    assert!(
        rows.iter()
            .all(|r| r["journal"] == "Interlending & Document Supply" && r["issn"] == "0264-1615")
    );
    let resp = app
        .client
        .get(format!(
            "{}/api/v1/reports/copyright?year={year}&format=csv",
            app.base
        ))
        .bearer_auth(&bcu)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'), "BOM");
    assert!(
        csv.contains("\"Interlending & Document Supply\"")
            || csv.contains("Interlending & Document Supply,")
    );
    assert!(csv.contains(&format!("{sixth_id} (royalty_paid)")), "{csv}");
    let (st, err) = app
        .get("/api/v1/reports/copyright?year=20x6", Some(&bcu))
        .await;
    assert_eq!(st, 422, "{err}");
    let (st, _) = app.get("/api/v1/reports/copyright", Some(&reader)).await;
    assert_eq!(st, 403);
}

#[tokio::test]
async fn the_sixth_recent_copy_from_a_journal_waits_for_clearance_and_older_ones_bypass() {
    for e in engines() {
        rule_of_five(e).await;
    }
}

async fn settings(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app.login("bcu-admin").await;
    let reader = app.login("bcu-faculty").await;
    let (st, s) = app.get("/api/v1/copyright-settings", Some(&reader)).await;
    assert_eq!(st, 200);
    assert_eq!(s["limit"], 5);
    assert!(s["declaration_zh"].as_str().unwrap().contains("声明"));
    let put = |body: Value, token: String| {
        let app = &app;
        async move {
            let resp = app
                .client
                .put(format!("{}/api/v1/copyright-settings", app.base))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let st = resp.status().as_u16();
            (st, resp.json::<Value>().await.unwrap())
        }
    };
    let mut new = s.clone();
    new["limit"] = json!(2);
    new["compliance"] = json!("CCL");
    new["declaration_en"] = json!("For study only.");
    let (st, _) = put(new.clone(), reader.clone()).await;
    assert_eq!(st, 403);
    let mut bad = new.clone();
    bad["limit"] = json!(0);
    let (st, err) = put(bad, admin.clone()).await;
    assert_eq!(st, 422, "{err}");
    assert_eq!(err["error"]["fields"][0]["field"], "limit");
    let (st, saved) = put(new, admin.clone()).await;
    assert_eq!(saved["compliance"], "CCL");
    assert_eq!(st, 200, "{saved}");
    let (_, s) = app.get("/api/v1/copyright-settings", Some(&reader)).await;
    assert_eq!(s["declaration_en"], "For study only.");
    // With a limit of two, the third copy needs clearance.
    let year = app.state.now().year();
    for n in 0..2 {
        let r = ask(&app, "bcu-faculty", journal_article(n, year)).await;
        assert_eq!(r["copyright"]["clearance"], "not_needed");
    }
    let third = ask(&app, "bcu-faculty", journal_article(3, year)).await;
    assert_eq!(third["copyright"]["clearance"], "required", "{third}");
}

#[tokio::test]
async fn a_library_sets_its_declaration_limit_and_compliance_code() {
    for e in engines() {
        settings(e).await;
    }
}

async fn duplicates(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let bcu = app.login("bcu-borrow").await;
    let year = app.state.now().year();
    let first = ask(
        &app,
        "bcu-faculty",
        json!({"title": "Measuring document delivery speed", "source_title": "Journal of Access Services",
               "doi": "10.1080/15367967.2024.123456", "year": (year - 1).to_string(), "copyright_declaration": true}),
    )
    .await;
    assert!(first.get("duplicate").is_none(), "{first}");
    let first_id = first["id"].as_str().unwrap();

    // Same DOI written as a link, by another reader, with a differently written title.
    let by_doi = ask(
        &app,
        "bcu-phd",
        json!({"title": "Document delivery speed", "source_title": "J Access Serv", "doi": "https://doi.org/10.1080/15367967.2024.123456",
               "copyright_declaration": true}),
    )
    .await;
    assert_eq!(
        by_doi["duplicate"]["earlier_request_id"], first_id,
        "{by_doi}"
    );
    assert_eq!(by_doi["duplicate"]["matched_by"], "doi");
    assert_eq!(by_doi["duplicate"]["can_fill_from_copy"], false);

    // No identifier: the citation written loosely still matches.
    let cited = json!({"title": "The Information Needs of Rural Readers: A Survey", "author": "Chen, Hua",
        "source_title": "Library Quarterly", "year": (year - 1).to_string(), "pages": "45-67",
        "copyright_declaration": true});
    let a = ask(&app, "bcu-faculty", cited).await;
    let a_id = a["id"].as_str().unwrap();
    let b = ask(
        &app,
        "bcu-master",
        json!({"title": "information needs of rural readers", "author": "H. Chen",
               "source_title": "Library quarterly.", "year": (year - 1).to_string(), "pages": "pp. 45-",
               "copyright_declaration": true}),
    )
    .await;
    assert_eq!(b["duplicate"]["earlier_request_id"], a_id, "{b}");
    assert_eq!(b["duplicate"]["matched_by"], "citation");
    let (_, events) = app
        .get(
            &format!("/api/v1/requests/{}/events", b["id"].as_str().unwrap()),
            Some(&bcu),
        )
        .await;
    let found = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "duplicate_found")
        .expect("event");
    assert!(found["note"].as_str().unwrap().contains(a_id), "{found}");

    // Another article of the same journal and author, and the same title another year: new.
    let other = ask(
        &app,
        "bcu-master",
        json!({"title": "The information needs of urban readers", "author": "Chen, Hua",
               "source_title": "Library Quarterly", "year": (year - 1).to_string(), "copyright_declaration": true}),
    )
    .await;
    assert!(other.get("duplicate").is_none(), "{other}");
    let later = ask(
        &app,
        "bcu-master",
        json!({"title": "The Information Needs of Rural Readers", "author": "Chen, Hua",
               "source_title": "Library Quarterly", "year": year.to_string(), "copyright_declaration": true}),
    )
    .await;
    assert!(later.get("duplicate").is_none(), "{later}");

    // Filling from a copy needs one.
    let (st, err) = app
        .post(
            &format!(
                "/api/v1/requests/{}/fill-from-copy",
                b["id"].as_str().unwrap()
            ),
            json!({}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 409, "{err}");
    assert_eq!(err["error"]["code"], "no_delivered_copy");
}

#[tokio::test]
async fn a_request_repeating_an_earlier_one_by_doi_or_by_citation_is_flagged() {
    for e in engines() {
        duplicates(e).await;
    }
}

async fn fill_from_copy(app: TestApp) {
    let bcu = app.login("bcu-borrow").await;
    // The first reader's copy is delivered, and opened once.
    let first = article_for(&app, "bcu-phd", "XNU").await;
    ship_and_deliver(&app, "xnu-lend", &app, &first).await;
    let phd = app.login("bcu-phd").await;
    let doc = format!("/api/v1/requests/{first}/document");
    let resp = app
        .client
        .get(format!("{}{doc}", app.base))
        .bearer_auth(&phd)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first_link = app
        .state
        .store
        .delivery_link_of(&first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first_link.views, 1);

    // A second reader asks for the same article: offered the delivered copy.
    let faculty = app.login("bcu-faculty").await;
    let (st, second) = app
        .post(
            "/api/v1/requests",
            json!({"format": "article_copy", "citation": {
                "title": "Resource Sharing at Speed.", "author": "L. Wang", "source_title": "Journal of documentation",
                "issn": "0022-0418", "volume": "81", "year": "2025", "pages": "101", "copyright_declaration": true}}),
            Some(&faculty),
        )
        .await;
    assert_eq!(st, 201, "{second}");
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert_eq!(
        second["duplicate"]["earlier_request_id"],
        first.as_str(),
        "{second}"
    );
    assert_eq!(second["duplicate"]["can_fill_from_copy"], true, "{second}");

    // Readers cannot fill; staff can, at once, without a lender.
    let path = format!("/api/v1/requests/{second_id}/fill-from-copy");
    let (st, _) = app.post(&path, json!({}), Some(&faculty)).await;
    assert_eq!(st, 403);
    let (st, filled) = app.post(&path, json!({}), Some(&bcu)).await;
    assert_eq!(st, 200, "{filled}");
    assert_eq!(filled["state"], "completed");
    assert!(filled["lender"].is_null(), "no lender was asked: {filled}");
    let (st, again) = app.post(&path, json!({}), Some(&bcu)).await;
    assert_eq!(st, 409, "{again}");

    // The second reader opens their own copy, under their own limits.
    let resp = app
        .client
        .get(format!("{}/api/v1/requests/{second_id}/document", app.base))
        .bearer_auth(&faculty)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.unwrap().starts_with(b"%PDF"));
    let second_link = app
        .state
        .store
        .delivery_link_of(&second_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second_link.views, 1);
    assert_eq!(
        second_link.patron_id,
        app.state
            .store
            .user_by_username("bcu-faculty")
            .await
            .unwrap()
            .unwrap()
            .user_id
    );
    // The first reader's link is untouched: same link, same count, still opens.
    let after = app
        .state
        .store
        .delivery_link_of(&first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.link_id, first_link.link_id);
    assert_eq!(after.views, 1);
    // Neither reader opens the other's request.
    let (st, _) = app
        .get(
            &format!("/api/v1/requests/{first}/document"),
            Some(&faculty),
        )
        .await;
    assert_eq!(st, 404);
    let (_, events) = app
        .get(&format!("/api/v1/requests/{second_id}/events"), Some(&bcu))
        .await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "fill_from_copy"),
        "{events}"
    );
}

#[tokio::test]
async fn a_second_reader_is_filled_at_once_from_the_delivered_copy() {
    for e in engines() {
        fill_from_copy(TestApp::spawn(e).await).await;
    }
}

#[tokio::test]
async fn the_same_with_the_copy_kept_in_an_s3_compatible_bucket() {
    for e in engines() {
        let Some(bucket) = Bucket::fresh("fill from copy on S3").await else {
            return;
        };
        fill_from_copy(TestApp::spawn_with(e, |c| bucket.apply(c)).await).await;
    }
}

/// Eight copies from one journal asked for at the same moment: each is counted after the ones
/// before it, so exactly the three beyond the limit of five wait for clearance, whatever the
/// engine and however the requests interleave.
async fn simultaneous_requests(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let year = app.state.now().year();
    let readers = ["bcu-faculty", "bcu-phd", "bcu-master"];
    let mut tokens = Vec::new();
    for r in readers {
        tokens.push(app.login(r).await);
    }
    let asks = (0..8).map(|n| {
        let token = tokens[n % 3].clone();
        let app = &app;
        async move {
            let (st, req) = app
                .post(
                    "/api/v1/requests",
                    json!({"format": "article_copy", "citation": journal_article(n, year - 1)}),
                    Some(&token),
                )
                .await;
            assert_eq!(st, 201, "{req}");
            req
        }
    });
    let made = futures::future::join_all(asks).await;
    let mut earlier: Vec<u64> = made
        .iter()
        .map(|r| r["copyright"]["earlier_copies"].as_u64().unwrap())
        .collect();
    earlier.sort_unstable();
    assert_eq!(earlier, (0..8).collect::<Vec<u64>>(), "{made:?}");
    let held = made
        .iter()
        .filter(|r| r["copyright"]["clearance"] == "required")
        .count();
    assert_eq!(held, 3, "{made:?}");
}

#[tokio::test]
async fn copies_asked_for_at_the_same_moment_are_counted_one_after_another() {
    for e in engines() {
        simultaneous_requests(e).await;
    }
}
