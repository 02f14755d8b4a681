//! Filling in a request from a DOI, PMID or ISBN: the union catalog first, then Crossref- and
//! PubMed-style services, here a fake served on loopback by the test (no outside service can
//! be reached), through the API and the reader's form.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, engines};
use crate::web::{get as get_page, web_login};

const DOI: &str = "10.1000/jot.2020.45";
const PMID: &str = "31452104";
const CROSSREF_ISBN: &str = "9780306406157";

async fn work(Path(doi): Path<String>) -> Response {
    if doi != DOI {
        return (StatusCode::NOT_FOUND, "Resource not found.").into_response();
    }
    axum::Json(json!({"status": "ok", "message-type": "work", "message": {
        "DOI": DOI, "type": "journal-article",
        "title": ["Interlibrary loan <i>at</i> scale"],
        "author": [{"given": "Mei", "family": "Wang"}, {"given": "John", "family": "Smith"}],
        "container-title": ["Journal of Things"], "volume": "12", "issue": "3", "page": "45-67",
        "ISSN": ["0317-8471"], "publisher": "Example Press",
        "published-print": {"date-parts": [[2020, 6]]}
    }}))
    .into_response()
}

async fn works(Query(q): Query<Vec<(String, String)>>) -> Response {
    let filter = q
        .iter()
        .find(|(k, _)| k == "filter")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let items = if filter == format!("isbn:{CROSSREF_ISBN}") {
        json!([{ "type": "book", "title": ["Signals and systems"], "ISBN": [CROSSREF_ISBN],
                 "author": [{"given": "A.", "family": "Oppenheim"}], "publisher": "Prentice Hall",
                 "issued": {"date-parts": [[1983]]}, "container-title": ["A series"] }])
    } else {
        json!([])
    };
    axum::Json(json!({"status": "ok", "message": {"items": items, "total-results": items.as_array().map_or(0, Vec::len)}}))
        .into_response()
}

async fn esummary(Query(q): Query<Vec<(String, String)>>) -> Response {
    let id = q
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let doc = if id == PMID {
        json!({"uid": PMID, "title": "Document delivery times in academic libraries.",
               "authors": [{"name": "Zhang L"}, {"name": "Chen Y"}], "source": "J Doc Deliv",
               "fulljournalname": "Journal of document delivery", "volume": "8", "issue": "2",
               "pages": "101-9", "pubdate": "2019 Aug", "issn": "", "essn": "1050-124X",
               "articleids": [{"idtype": "pubmed", "value": PMID}, {"idtype": "doi", "value": "10.1000/jdd.8.101"}]})
    } else {
        json!({"uid": id, "error": "cannot get document summary"})
    };
    axum::Json(json!({"header": {"type": "esummary"}, "result": {"uids": [id.clone()], id: doc}}))
        .into_response()
}

/// A fake of both services on loopback; its base URL. `/broken/…` answers 500 to everything.
async fn fake_services() -> String {
    let app = axum::Router::new()
        .route("/crossref/works/{*doi}", get(work))
        .route("/crossref/works", get(works))
        .route("/pubmed/esummary.fcgi", get(esummary))
        .route(
            "/broken/{*rest}",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn app_with_fakes(engine: Engine) -> TestApp {
    let base = fake_services().await;
    TestApp::spawn_with(engine, move |c| {
        c.crossref_url = format!("{base}/crossref");
        c.pubmed_url = format!("{base}/pubmed/");
    })
    .await
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn lookup(app: &TestApp, token: &str, id: &str) -> (u16, Value) {
    app.get(&format!("/api/v1/lookup?id={}", enc(id)), Some(token))
        .await
}

#[tokio::test]
async fn identifiers_fill_in_citations_from_the_catalog_crossref_and_pubmed() {
    for engine in engines() {
        let app = app_with_fakes(engine).await;
        let token = app.login("bcu-faculty").await;

        // A DOI, pasted as a link: Crossref's record, markup stripped, authors as "Family, Given".
        let (s, v) = lookup(&app, &token, &format!("https://doi.org/{DOI}")).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["source"], "crossref");
        assert_eq!(v["format"], "article_copy");
        assert_eq!(v["citation"]["title"], "Interlibrary loan at scale");
        assert_eq!(v["citation"]["author"], "Wang, Mei; Smith, John");
        assert_eq!(v["citation"]["source_title"], "Journal of Things");
        assert_eq!(v["citation"]["year"], "2020");
        assert_eq!(v["citation"]["pages"], "45-67");
        assert_eq!(v["citation"]["doi"], DOI);

        // The citation found is one the request API takes as it is.
        let (s, created) = app
            .post(
                "/api/v1/requests",
                json!({"format": v["format"], "citation": v["citation"]}),
                Some(&token),
            )
            .await;
        assert_eq!(s, 201, "{created}");

        // A PMID: PubMed's summary.
        let (s, v) = lookup(&app, &token, &format!("PMID: {PMID}")).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["source"], "pubmed");
        assert_eq!(
            v["citation"]["title"],
            "Document delivery times in academic libraries"
        );
        assert_eq!(
            v["citation"]["source_title"],
            "Journal of document delivery"
        );
        assert_eq!(v["citation"]["issn"], "1050-124X");
        assert_eq!(v["citation"]["doi"], "10.1000/jdd.8.101");
        assert_eq!(v["citation"]["year"], "2019");

        // An ISBN the union catalog holds is answered from the catalog, as ISBN-10 or -13.
        let (_, page) = app
            .get("/api/v1/catalog?q=a&per_page=100", Some(&token))
            .await;
        let hit = page["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| {
                h["identifiers"]["isbn"]
                    .as_array()
                    .is_some_and(|i| !i.is_empty())
            })
            .expect("a demo record with an ISBN")
            .clone();
        let isbns: Vec<String> = hit["identifiers"]["isbn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap().to_owned())
            .collect();
        for isbn in &isbns {
            let (s, v) = lookup(&app, &token, isbn).await;
            assert_eq!(s, 200, "{isbn}: {v}");
            assert_eq!(v["source"], "catalog", "{isbn}");
            assert_eq!(v["format"], "loan");
            let title = v["citation"]["title"].as_str().unwrap();
            assert!(
                title == hit["title"] || Some(title) == hit["title_vernacular"].as_str(),
                "{isbn}: {title} vs {hit}"
            );
        }

        // An ISBN the catalog lacks goes on to Crossref; the series is not taken as the title.
        let (s, v) = lookup(&app, &token, "0-306-40615-2").await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["source"], "crossref");
        assert_eq!(v["format"], "loan");
        assert_eq!(v["citation"]["title"], "Signals and systems");
        assert!(v["citation"]["source_title"].is_null(), "{v}");

        // Refusals say what is wrong.
        let (s, v) = lookup(&app, &token, "10.1000/unknown").await;
        assert_eq!(s, 404, "{v}");
        assert_eq!(v["error"]["code"], "identifier_not_found");
        assert!(v["error"]["message"].as_str().unwrap().contains("Crossref"));
        let (s, v) = lookup(&app, &token, "12345").await;
        assert_eq!(s, 404, "{v}");
        let (s, v) = lookup(&app, &token, "0306406153").await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["error"]["code"], "unrecognised_identifier");
        let (s, _) = app
            .get(&format!("/api/v1/lookup?id={}", enc(DOI)), None)
            .await;
        assert_eq!(s, 401);
    }
}

#[tokio::test]
async fn a_failing_service_is_a_clear_error_and_a_missing_one_is_not_asked() {
    let base = fake_services().await;
    let app = TestApp::spawn_with(Engine::Sqlite, move |c| {
        c.crossref_url = format!("{base}/broken");
        c.pubmed_url = String::new();
    })
    .await;
    let token = app.login("bcu-faculty").await;
    let (s, v) = lookup(&app, &token, DOI).await;
    assert_eq!(s, 502, "{v}");
    assert_eq!(v["error"]["code"], "lookup_service_failed");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("500"),
        "{v}"
    );
    let (s, v) = lookup(&app, &token, PMID).await;
    assert_eq!(s, 404, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no lookup service"),
        "{v}"
    );
}

#[tokio::test]
async fn the_request_form_is_filled_in_from_a_lookup_in_the_readers_language() {
    let app = app_with_fakes(Engine::Sqlite).await;
    let cookie = web_login(&app, "bcu-faculty").await;
    let page = get_page(
        &app,
        &format!("/my/requests/new?lookup={}", enc(DOI)),
        Some(&cookie),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Filled in from Crossref"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"value="Interlibrary loan at scale""#));
    assert!(page.body.contains(r#"value="Journal of Things""#));
    assert!(page.body.contains(r#"value="article_copy" checked"#));

    // Nothing found: the form stays empty and says so next to the lookup field, in Chinese
    // for a reader who reads Chinese.
    let zh = format!("{cookie}; librelay_lang=zh-CN");
    let page = get_page(&app, "/my/requests/new?lookup=10.1000%2Fnope", Some(&zh)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("未找到该标识符的记录"), "{}", page.body);
    assert!(page.body.contains(r#"aria-invalid="true""#));
    let page = get_page(&app, "/my/requests/new?lookup=hello", Some(&cookie)).await;
    assert!(
        page.body.contains("is not a DOI, a PMID or an ISBN"),
        "{}",
        page.body
    );
}
