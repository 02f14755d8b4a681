//! "Available already?": a library's licensed e-resources imported from KBART (API, command
//! line's function, admin page), the licensed link shown on a copy request and filled from;
//! open access asked by DOI from an Unpaywall-style fake on loopback (found, unknown, slow);
//! and the trusted sender whose copies go straight to the reader.

use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::delivery::article_for;
use crate::helpers::{Bucket, Engine, TestApp, engines};
use crate::web::{get as get_page, web_login};

const HEADER: &str = "publication_title\tprint_identifier\tonline_identifier\tdate_first_issue_online\tnum_first_vol_online\tnum_first_issue_online\tdate_last_issue_online\tnum_last_vol_online\tnum_last_issue_online\ttitle_url\tfirst_author\ttitle_id\tembargo_info\tcoverage_depth\tnotes\tpublisher_name\tpublication_type";

/// A package: Journal of Documentation (the delivery tests' journal) from 2000 with the most
/// recent year kept back; a title known by its name only; a title with abstracts only; and,
/// with `bad`, a line with four mistakes.
fn kbart(bad: bool) -> String {
    let mut s = format!("{HEADER}\n");
    s.push_str("Journal of Documentation\t0022-0418\t1758-7379\t2000-01\t56\t1\t\t\t\thttps://licensed.example.org/jdoc\t\tJD\tR1Y\tfulltext\t\tEmerald\tserial\n");
    s.push_str("图书情报工作\t\t\t2010\t54\t\t2020\t64\t\thttps://licensed.example.org/tsqbgz\t\tTS\t\tfulltext\t\t\tserial\n");
    s.push_str("Abstracts Monthly\t0317-8471\t\t1990\t\t\t\t\t\thttps://licensed.example.org/am\t\tAM\t\tabstracts\t\t\tserial\n");
    if bad {
        s.push_str("Broken\t1234-5678\t\t2001-13\t\t\t\t\t\tnot-a-link\t\t\tR1\t\t\t\tserial\n");
    }
    s
}

async fn import(app: &TestApp, token: &str, package: &str, body: String) -> (u16, Value) {
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/licences/kbart?package={package}",
            app.base
        ))
        .bearer_auth(token)
        .header("content-type", "text/tab-separated-values")
        .header("accept-language", "zh-CN")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn request(app: &TestApp, reader: &str, citation: Value) -> Value {
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

fn jdoc(year: &str) -> Value {
    json!({
        "title": "Citation practices", "author": "Li, M.", "source_title": "Journal of Documentation",
        "issn": "0022-0418", "volume": "81", "year": year, "pages": "1-20", "copyright_declaration": true
    })
}

async fn kbart_import(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app.login("bcu-admin").await;
    let (st, done) = import(&app, &admin, "Emerald", kbart(true)).await;
    assert_eq!(st, 200, "{done}");
    assert_eq!(
        (
            &done["read"],
            &done["titles"],
            &done["rejected"],
            &done["replaced"]
        ),
        (&json!(4), &json!(3), &json!(1), &json!(0)),
        "{done}"
    );
    let errors: Vec<(i64, String, String)> = done["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (5, "print_identifier".into(), "invalid_issn".into()),
            (5, "date_first_issue_online".into(), "invalid_date".into()),
            (5, "title_url".into(), "invalid_url".into()),
            (5, "embargo_info".into(), "invalid_embargo".into()),
        ]
    );
    assert!(
        done["errors"][0]["message_zh"]
            .as_str()
            .unwrap()
            .starts_with("第 5 行 print_identifier 列："),
        "{done}"
    );

    // The same package again: replaced, not doubled.
    let (st, again) = import(&app, &admin, "Emerald", kbart(false)).await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(
        (&again["titles"], &again["replaced"]),
        (&json!(3), &json!(3))
    );
    assert_eq!(
        app.state
            .store
            .licensed_title_count("BCU", "Emerald")
            .await
            .unwrap(),
        3
    );
    let (st, list) = app.get("/api/v1/licences", Some(&admin)).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["titles"], 3);

    // Not a KBART file: refused whole, in the caller's language, and the package is kept.
    let (st, err) = import(&app, &admin, "Emerald", "isbn,title\n1,x\n".into()).await;
    assert_eq!(st, 422, "{err}");
    assert_eq!(err["error"]["code"], "missing_column");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("KBART"),
        "{err}"
    );
    let (st, err) = import(&app, &admin, "Emerald", format!("{HEADER}\n\tbad\n")).await;
    assert_eq!(st, 422, "{err}");
    assert_eq!(err["error"]["code"], "no_titles");
    assert_eq!(
        app.state
            .store
            .licensed_title_count("BCU", "Emerald")
            .await
            .unwrap(),
        3
    );
    // No package name.
    let (st, err) = import(&app, &admin, "%20", kbart(false)).await;
    assert_eq!(st, 422, "{err}");
    // Borrowing staff and readers do not import; another library's admin not for BCU.
    let staff = app.login("bcu-borrow").await;
    let (st, _) = import(&app, &staff, "Emerald", kbart(false)).await;
    assert_eq!(st, 403);
    let other = app.login("xnu-admin").await;
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/licences/kbart?package=X&library=BCU",
            app.base
        ))
        .bearer_auth(&other)
        .body(kbart(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let (st, _) = app
        .get("/api/v1/licences", Some(&app.login("bcu-phd").await))
        .await;
    assert_eq!(st, 403);
}

#[tokio::test]
async fn a_kbart_package_is_imported_with_bad_lines_named_and_replaced_on_reimport() {
    for e in engines() {
        kbart_import(e).await;
    }
}

async fn licensed_link(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app.login("bcu-admin").await;
    let (st, done) = import(&app, &admin, "Emerald", kbart(false)).await;
    assert_eq!(st, 200, "{done}");
    let year = app.state.now().year();
    let bcu = app.login("bcu-borrow").await;

    // Last year: covered, the most recent year is kept back by R1Y.
    let req = request(&app, "bcu-phd", jdoc(&(year - 1).to_string())).await;
    let id = req["id"].as_str().unwrap().to_owned();
    let a = &req["availability"];
    assert_eq!(a["sources"][0]["source"], "licensed", "{req}");
    assert_eq!(a["sources"][0]["status"], "available");
    assert_eq!(a["sources"][0]["url"], "https://licensed.example.org/jdoc");
    let reasons = a["sources"][0]["reasons_en"].to_string();
    assert!(reasons.contains("0022-0418"), "{reasons}");
    assert!(reasons.contains("embargo R1Y"), "{reasons}");
    assert!(
        a["sources"][0]["reasons_zh"].to_string().contains("封锁期"),
        "{a}"
    );
    assert_eq!(req["state"], "pending_review");

    // The reader sees the link on their request page, before anyone acts.
    let cookie = web_login(&app, "bcu-phd").await;
    let page = get_page(&app, &format!("/requests/{id}"), Some(&cookie)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("https://licensed.example.org/jdoc"),
        "{}",
        page.body
    );
    // Staff see it with its reasons and the fill button.
    let staff_cookie = web_login(&app, "bcu-borrow").await;
    let page = get_page(&app, &format!("/requests/{id}"), Some(&staff_cookie)).await;
    assert!(page.body.contains("fill-from-link"), "{}", page.body);

    // Readers cannot fill it; staff can, and the reader is told by letter.
    let phd = app.login("bcu-phd").await;
    let path = format!("/api/v1/requests/{id}/fill-from-link");
    let (st, _) = app.post(&path, json!({}), Some(&phd)).await;
    assert_eq!(st, 403);
    let (st, err) = app
        .post(&path, json!({"source": "open_access"}), Some(&bcu))
        .await;
    assert_eq!(st, 409, "{err}");
    assert_eq!(err["error"]["code"], "not_available");
    let (st, err) = app.post(&path, json!({"source": "x"}), Some(&bcu)).await;
    assert_eq!(st, 422, "{err}");
    let (st, filled) = app
        .post(&path, json!({"source": "licensed"}), Some(&bcu))
        .await;
    assert_eq!(st, 200, "{filled}");
    assert_eq!(filled["state"], "completed");
    assert!(filled["lender"].is_null(), "{filled}");
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"licensed_available"), "{actions:?}");
    assert!(actions.contains(&"fill_from_link"), "{actions:?}");
    let mut letters = Vec::new();
    for status in ["pending", "skipped", "delivered"] {
        letters.extend(
            app.state
                .store
                .outbox_by_status("BCU", status, 500)
                .await
                .unwrap()
                .into_iter()
                .filter(|r| r.request_id == id)
                .map(|r| r.payload),
        );
    }
    assert!(
        letters.iter().any(|p| p.contains("available_now")),
        "the reader is told: {letters:?}"
    );

    // This year is under the embargo: flagged with the day it lifts, not available; the
    // request waits for a lender as usual.
    let req = request(&app, "bcu-phd", jdoc(&year.to_string())).await;
    let id = req["id"].as_str().unwrap().to_owned();
    let flag = &req["availability"]["sources"][0];
    let lifts = format!("{}-01-01", year + 1);
    assert_eq!(flag["status"], "embargoed", "{req}");
    assert_eq!(flag["facts"]["embargo_until"], lifts.as_str(), "{req}");
    assert!(
        flag["reasons_en"]
            .to_string()
            .contains(&format!("under embargo until {lifts}")),
        "{flag}"
    );
    assert!(flag["reasons_zh"].to_string().contains("封锁期"), "{flag}");
    assert_eq!(req["availability"]["can_fill_from_link"], false, "{req}");
    assert_ne!(req["state"], "completed", "{req}");
    let (st, err) = app
        .post(
            &format!("/api/v1/requests/{id}/fill-from-link"),
            json!({"source": "licensed"}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 409, "an embargoed title is no link to fill from: {err}");
    // Staff see it on the request page, in either language, and so does the reader.
    let page = get_page(&app, &format!("/requests/{id}"), Some(&staff_cookie)).await;
    assert!(
        page.body
            .contains(&format!("Licensed, but under embargo until {lifts}")),
        "{}",
        page.body
    );
    assert!(!page.body.contains("fill-link-licensed"), "{}", page.body);
    let zh_cookie = format!("{staff_cookie}; librelay_lang=zh-CN");
    let zh_page = get_page(&app, &format!("/requests/{id}"), Some(&zh_cookie)).await;
    assert!(
        zh_page
            .body
            .contains(&format!("本馆已订购，但处于封锁期，{lifts} 起可获取")),
        "{}",
        zh_page.body
    );
    let page = get_page(&app, &format!("/requests/{id}"), Some(&cookie)).await;
    assert!(
        page.body
            .contains(&format!("embargo until {lifts}: until then it is obtained")),
        "{}",
        page.body
    );
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let embargoed = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "licensed_embargoed")
        .unwrap_or_else(|| panic!("{events}"));
    assert!(
        embargoed["data"]["note_zh"]
            .as_str()
            .unwrap()
            .contains("封锁期"),
        "{embargoed}"
    );

    // Found by the title alone (no ISSN), within its dates and volumes.
    let req = request(
        &app,
        "bcu-faculty",
        json!({"title": "数字图书馆", "source_title": "图书情报工作", "volume": "60", "year": "2016", "copyright_declaration": true}),
    )
    .await;
    assert_eq!(
        req["availability"]["sources"][0]["url"], "https://licensed.example.org/tsqbgz",
        "{req}"
    );
    assert!(
        req["availability"]["sources"][0]["reasons_zh"]
            .to_string()
            .contains("刊名"),
        "{req}"
    );
    // After the last licensed volume: not covered.
    let req = request(
        &app,
        "bcu-faculty",
        json!({"title": "数字图书馆", "source_title": "图书情报工作", "volume": "66", "year": "2022", "copyright_declaration": true}),
    )
    .await;
    assert!(req["availability"].is_null(), "{req}");
    // Abstracts only is no full text.
    let req = request(
        &app,
        "bcu-faculty",
        json!({"title": "A", "source_title": "Abstracts Monthly", "issn": "0317-8471", "year": "2001", "copyright_declaration": true}),
    )
    .await;
    assert!(req["availability"].is_null(), "{req}");

    // Staff may send it on instead: the history says what was passed over.
    let req = request(&app, "bcu-master", jdoc(&(year - 2).to_string())).await;
    let id = req["id"].as_str().unwrap().to_owned();
    app.borrow_action(&bcu, &id, json!({"action": "edit_rota", "rota": ["XNU"]}))
        .await;
    let sent = app
        .borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    assert_eq!(sent["state"], "sent", "{sent}");
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let approve = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "approve")
        .unwrap();
    assert_eq!(
        approve["data"]["available_passed_over"],
        json!(["licensed"]),
        "{approve}"
    );
    // Another library does not see BCU's licences.
    let req = request(&app, "xnu-faculty", jdoc(&(year - 1).to_string())).await;
    assert!(req["availability"].is_null(), "{req}");
}

#[tokio::test]
async fn a_request_for_a_licensed_journal_is_answered_with_the_licensed_link() {
    for e in engines() {
        licensed_link(e).await;
    }
}

const OA_DOI: &str = "10.1371/journal.pone.0000001";
const SLOW_DOI: &str = "10.5555/slow.1";
const BROKEN_DOI: &str = "10.5555/broken.1";

async fn unpaywall(Path(doi): Path<String>) -> Response {
    match doi.as_str() {
        OA_DOI => axum::Json(json!({
            "doi": OA_DOI, "is_oa": true,
            "best_oa_location": {
                "url": "https://oa.example.org/article/1",
                "url_for_pdf": "https://oa.example.org/article/1.pdf",
                "license": "cc-by", "version": "publishedVersion", "host_type": "publisher"
            }
        }))
        .into_response(),
        SLOW_DOI => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            axum::Json(json!({"is_oa": false})).into_response()
        }
        BROKEN_DOI => (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response(),
        _ => (StatusCode::NOT_FOUND, axum::Json(json!({"error": true}))).into_response(),
    }
}

async fn fake_unpaywall() -> String {
    let app = axum::Router::new().route("/v2/{*doi}", get(unpaywall));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v2")
}

fn with_doi(doi: &str) -> Value {
    json!({"title": "An open article", "source_title": "PLOS ONE", "year": "2007", "doi": doi, "copyright_declaration": true})
}

async fn open_access(engine: Engine) {
    let base = fake_unpaywall().await;
    let app = TestApp::spawn_with(engine, move |c| {
        c.open_access_url = base;
        c.open_access_email = "ill@example.edu".into();
        c.open_access_timeout_ms = 400;
    })
    .await;
    let req = request(&app, "bcu-phd", with_doi(OA_DOI)).await;
    let s = &req["availability"]["sources"][0];
    assert_eq!(s["source"], "open_access", "{req}");
    assert_eq!(s["status"], "available");
    assert_eq!(s["url"], "https://oa.example.org/article/1.pdf");
    assert_eq!(s["facts"]["license"], "cc-by");
    assert_eq!(s["facts"]["version"], "publishedVersion");
    assert!(s["reasons_zh"].to_string().contains("出版社正式版"), "{s}");
    assert_eq!(req["availability"]["can_fill_from_link"], true);

    // Unknown to the service: nothing to show.
    let req = request(&app, "bcu-phd", with_doi("10.5555/unknown.7")).await;
    assert!(req["availability"].is_null(), "{req}");

    // Slow or failing: the request is placed all the same, flagged as not checked.
    let started = std::time::Instant::now();
    let req = request(&app, "bcu-phd", with_doi(SLOW_DOI)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout held"
    );
    assert_eq!(req["state"], "pending_review");
    let s = &req["availability"]["sources"][0];
    assert_eq!(s["status"], "unchecked", "{req}");
    assert!(s["url"].is_null());
    assert!(s["reasons_en"].to_string().contains("400 ms"), "{s}");
    assert_eq!(req["availability"]["can_fill_from_link"], false);
    let req = request(&app, "bcu-phd", with_doi(BROKEN_DOI)).await;
    assert_eq!(req["availability"]["sources"][0]["status"], "unchecked");
    assert!(
        req["availability"]["sources"][0]["reasons_zh"]
            .to_string()
            .contains("500"),
        "{req}"
    );
    let id = req["id"].as_str().unwrap();
    let bcu = app.login("bcu-borrow").await;
    let (st, err) = app
        .post(
            &format!("/api/v1/requests/{id}/fill-from-link"),
            json!({}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 409, "{err}");
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    assert!(
        events.to_string().contains("open_access_unchecked"),
        "{events}"
    );
}

#[tokio::test]
async fn open_access_is_found_by_doi_and_a_slow_or_failing_service_never_blocks_the_request() {
    for e in engines() {
        open_access(e).await;
    }
}

#[tokio::test]
async fn open_access_is_not_asked_when_no_service_is_configured() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let req = request(&app, "bcu-phd", with_doi(OA_DOI)).await;
    assert!(req["availability"].is_null(), "{req}");
}

async fn trusted_sender(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app.login("bcu-admin").await;
    // Unknown partners and the library itself are refused, by field.
    let (st, err) = app
        .put_json(
            "/api/v1/delivery-settings",
            json!({"max_views": 5, "days": 30, "trusted_senders": ["NOPE", "BCU"]}),
            &admin,
        )
        .await;
    assert_eq!(st, 422, "{err}");
    assert_eq!(err["error"]["fields"].as_array().unwrap().len(), 2, "{err}");
    let (st, saved) = app
        .put_json(
            "/api/v1/delivery-settings",
            json!({"max_views": 5, "days": 30, "trusted_senders": ["xnu"]}),
            &admin,
        )
        .await;
    assert_eq!(st, 200, "{saved}");
    assert_eq!(saved["trusted_senders"], json!(["XNU"]));

    // XNU is trusted: its copy reaches the reader with no staff step.
    let id = article_for(&app, "bcu-phd", "XNU").await;
    let xnu = app.login("xnu-lend").await;
    let lend_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/lending/{lend_id}/files?filename=copy.pdf",
            app.base
        ))
        .bearer_auth(&xnu)
        .header("content-type", "application/octet-stream")
        .body(crate::delivery::PDF.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let file: Value = resp.json().await.unwrap();
    app.lend_action(
        &xnu,
        &lend_id,
        json!({"action": "ship_digital", "file_id": file["file_id"]}),
    )
    .await;
    let bcu = app.login("bcu-borrow").await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "completed"
    })
    .await;
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let trusted = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "trusted_sender")
        .unwrap_or_else(|| panic!("{events}"));
    assert!(
        trusted["note"]
            .as_str()
            .unwrap()
            .contains("XNU is a trusted sender"),
        "{trusted}"
    );
    // The note is kept in both languages, and each page shows its own.
    assert_eq!(
        trusted["data"]["note_zh"], "XNU 为可信发送方：复制件已直接交付读者",
        "{trusted}"
    );
    let delivered = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "deliver_to_patron")
        .unwrap_or_else(|| panic!("{events}"));
    assert!(
        delivered["data"]["note_zh"]
            .as_str()
            .unwrap()
            .contains("可信发送方"),
        "{delivered}"
    );
    let staff = web_login(&app, "bcu-borrow").await;
    let en = get_page(
        &app,
        &format!("/requests/{id}"),
        Some(&format!("{staff}; librelay_lang=en")),
    )
    .await;
    assert!(
        en.body
            .contains("XNU is a trusted sender: the copy went straight to the reader"),
        "{}",
        en.body
    );
    let zh = get_page(
        &app,
        &format!("/requests/{id}"),
        Some(&format!("{staff}; librelay_lang=zh-CN")),
    )
    .await;
    assert!(
        zh.body.contains("XNU 为可信发送方：复制件已直接交付读者"),
        "{}",
        zh.body
    );
    assert!(!zh.body.contains("is a trusted sender"), "{}", zh.body);
    // The reader opens it at once.
    let phd = app.login("bcu-phd").await;
    let resp = app
        .client
        .get(format!("{}/api/v1/requests/{id}/document", app.base))
        .bearer_auth(&phd)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.unwrap().starts_with(b"%PDF"));

    // HTU is not trusted: its copy waits for staff.
    let id = article_for(&app, "bcu-faculty", "HTU").await;
    let htu = app.login("htu-lend").await;
    let lend_id = app.lend_for(&htu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/lending/{lend_id}/files?filename=copy.pdf",
            app.base
        ))
        .bearer_auth(&htu)
        .header("content-type", "application/octet-stream")
        .body(crate::delivery::PDF.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let file: Value = resp.json().await.unwrap();
    app.lend_action(
        &htu,
        &lend_id,
        json!({"action": "ship_digital", "file_id": file["file_id"]}),
    )
    .await;
    let v = app
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "shipped"
        })
        .await;
    assert_eq!(v["state"], "shipped");
}

#[tokio::test]
async fn a_copy_from_a_trusted_sender_goes_straight_to_the_reader() {
    for e in engines() {
        trusted_sender(e).await;
    }
}

async fn lender_purge((a, b): (TestApp, TestApp)) {
    // BCU (node a) borrows from HTU (node b); staff deliver, which fetches the copy to a.
    let id = article_for(&a, "bcu-phd", "HTU").await;
    let file = crate::delivery::ship_and_deliver(&b, "htu-lend", &a, &id).await;
    let file_id = file["file_id"].as_str().unwrap().to_owned();
    // Several sweeps pass (every 100 ms in tests): within the day it is kept.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = b.state.store.file(&file_id).await.unwrap().unwrap();
    assert!(
        stored.purged_at.is_none(),
        "kept while the borrower may still fetch it"
    );

    // A day later the lender's copy is deleted by its sweep, and its history says so.
    b.clock.advance(time::Duration::hours(25));
    let mut purged = None;
    for _ in 0..200 {
        let f = b.state.store.file(&file_id).await.unwrap().unwrap();
        if f.purged_at.is_some() {
            purged = Some(f);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let purged = purged.expect("the lender's copy is purged a day after the fetch");
    assert!(b.state.files.get(&purged.storage_key).await.is_err());
    let htu = b.login("htu-lend").await;
    let lend_id = b.lend_for(&htu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, events) = b
        .get(&format!("/api/v1/lending/{lend_id}/events"), Some(&htu))
        .await;
    assert!(events.to_string().contains("copy_purged"), "{events}");
    // The reader still opens the borrowing library's own copy.
    let phd = a.login("bcu-phd").await;
    let resp = a
        .client
        .get(format!("{}/api/v1/requests/{id}/document", a.base))
        .bearer_auth(&phd)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.unwrap().starts_with(b"%PDF"));
}

#[tokio::test]
async fn the_lenders_copy_is_deleted_a_day_after_the_borrowing_node_fetched_it() {
    for e in engines() {
        lender_purge(TestApp::pair(e).await).await;
    }
}

#[tokio::test]
async fn the_same_with_both_nodes_keeping_their_copies_in_one_s3_bucket() {
    for e in engines() {
        let Some(bucket) = Bucket::fresh("lender purge on S3").await else {
            return;
        };
        // Each node has its own folder of the bucket.
        let pair = TestApp::pair_with(
            e,
            |c| bucket.apply_prefixed(c, "node-a"),
            |c| bucket.apply_prefixed(c, "node-b"),
        )
        .await;
        lender_purge(pair).await;
        let keys = bucket.keys().await;
        assert_eq!(
            keys.len(),
            1,
            "only the borrowing node's copy is left: {keys:?}"
        );
        assert!(keys[0].starts_with("node-a/files/"), "{keys:?}");
    }
}

/// The admin page's upload: a multipart post of the package name and the file.
async fn upload_page(app: &TestApp, cookie: &str, package: &str, file: &str) -> crate::web::Page {
    let boundary = "KbArTbOuNdArY7";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"package\"\r\n\r\n{package}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.txt\"\r\nContent-Type: text/tab-separated-values\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/admin/licences", app.base))
        .header("sec-fetch-site", "same-origin")
        .header("cookie", cookie)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    crate::web::Page {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

#[tokio::test]
async fn a_kbart_file_is_uploaded_through_the_admin_page() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let admin = web_login(&app, "bcu-admin").await;
    let page = get_page(&app, "/admin/licences", Some(&admin)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = get_page(&app, "/admin", Some(&admin)).await;
    assert!(
        page.body.contains("/admin/licences"),
        "linked from the admin home"
    );

    let page = upload_page(&app, &admin, "Emerald", &kbart(true)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Emerald"), "{}", page.body);
    assert!(
        page.body.contains("print_identifier"),
        "the bad line's column: {}",
        page.body
    );
    assert_eq!(
        app.state
            .store
            .licensed_title_count("BCU", "Emerald")
            .await
            .unwrap(),
        3
    );
    // Not a KBART file: refused next to the field, nothing changed.
    let page = upload_page(&app, &admin, "Emerald", "isbn,title\n1,x\n").await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("KBART"), "{}", page.body);
    // Readers and borrowing staff do not reach it.
    let staff = web_login(&app, "bcu-borrow").await;
    let page = get_page(&app, "/admin/licences", Some(&staff)).await;
    assert_ne!(page.status, 200);
}

async fn trusted_remote(engine: Engine) {
    let (a, b) = TestApp::pair(engine).await;
    let admin = a.login("bcu-admin").await;
    let (st, saved) = a
        .put_json(
            "/api/v1/delivery-settings",
            json!({"max_views": 5, "days": 30, "trusted_senders": ["HTU"]}),
            &admin,
        )
        .await;
    assert_eq!(st, 200, "{saved}");
    // HTU, on the other node, ships the copy: node a fetches it and the reader has it, with
    // no staff step.
    let id = article_for(&a, "bcu-phd", "HTU").await;
    let htu = b.login("htu-lend").await;
    let lend_id = b.lend_for(&htu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = b
        .client
        .post(format!(
            "{}/api/v1/lending/{lend_id}/files?filename=copy.pdf",
            b.base
        ))
        .bearer_auth(&htu)
        .header("content-type", "application/octet-stream")
        .body(crate::delivery::PDF.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let file: Value = resp.json().await.unwrap();
    b.lend_action(
        &htu,
        &lend_id,
        json!({"action": "ship_digital", "file_id": file["file_id"]}),
    )
    .await;
    let bcu = a.login("bcu-borrow").await;
    a.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "completed"
    })
    .await;
    let (_, events) = a
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    assert!(events.to_string().contains("trusted_sender"), "{events}");
    let phd = a.login("bcu-phd").await;
    let resp = a
        .client
        .get(format!("{}/api/v1/requests/{id}/document", a.base))
        .bearer_auth(&phd)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.unwrap().starts_with(b"%PDF"));
}

#[tokio::test]
async fn a_trusted_senders_copy_from_another_node_is_fetched_and_goes_to_the_reader() {
    for e in engines() {
        trusted_remote(e).await;
    }
}
