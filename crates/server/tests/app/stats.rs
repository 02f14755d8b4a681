//! Borrowing statistics from the request history: counts, fill rate and stage times by reader
//! type, as JSON and as CSV that spreadsheet programs open in Chinese.

use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp};

async fn loan(app: &TestApp, reader: &str, staff: &str, title: &str) -> String {
    let token = app.login(reader).await;
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": title, "author": "Stat, S."}}),
            Some(&token),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    app.borrow_action(staff, &id, json!({"action": "edit_rota", "rota": ["XNU"]}))
        .await;
    app.borrow_action(staff, &id, json!({"action": "approve"}))
        .await;
    id
}

#[tokio::test]
async fn statistics_count_fills_and_stage_times_by_reader_type() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    // A PhD reader's loan is supplied; a faculty reader's is refused by the only lender.
    let filled = loan(&app, "bcu-phd", &bcu, "Filled book").await;
    let refused = loan(&app, "bcu-faculty", &bcu, "Refused book").await;
    let lend = app.lend_for(&xnu, &filled).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(time::Duration::hours(5));
    app.lend_action(&xnu, &lend, json!({"action": "will_supply"}))
        .await;
    app.lend_action(
        &xnu,
        &lend,
        json!({"action": "ship_physical", "barcode": "S1"}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{filled}"), &bcu, |v| {
        v["state"] == "shipped"
    })
    .await;
    app.borrow_action(&bcu, &filled, json!({"action": "receive"}))
        .await;
    let lend2 = app.lend_for(&xnu, &refused).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.lend_action(
        &xnu,
        &lend2,
        json!({"action": "reject", "reason": "NotOnShelf"}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{refused}"), &bcu, |v| {
        v["state"] == "unfilled"
    })
    .await;

    let (st, v) = app
        .get("/api/v1/stats/borrowing?by=patron_type", Some(&bcu))
        .await;
    assert_eq!(st, 200, "{v}");
    let group = |name: &str| -> Value {
        v.as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"] == name)
            .cloned()
            .unwrap()
    };
    let phd = group("phd");
    assert_eq!(
        (phd["requests"].as_u64(), phd["filled"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(phd["fill_rate"], 1.0);
    let shipped = &phd["stages"][1];
    assert_eq!(shipped["stage"], "sent_to_shipped");
    let hours = shipped["median_hours"].as_f64().unwrap();
    assert!((hours - 5.0).abs() < 0.01, "{phd}");
    let faculty = group("faculty");
    assert_eq!(
        (faculty["unfilled"].as_u64(), faculty["fill_rate"].as_f64()),
        (Some(1), Some(0.0))
    );
    let all = group("all");
    assert_eq!(
        (all["requests"].as_u64(), all["fill_rate"].as_f64()),
        (Some(2), Some(0.5))
    );

    // CSV with a byte order mark and one row per group.
    let resp = app
        .client
        .get(format!(
            "{}/api/v1/stats/borrowing?by=lender&format=csv",
            app.base
        ))
        .bearer_auth(&bcu)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("\u{feff}lender,requests,filled"), "{text}");
    assert!(text.contains("\r\nXNU,2,1,1,0,0.50,"), "{text}");

    // Bad parameters are named; readers see no statistics.
    let (st, err) = app
        .get(
            "/api/v1/stats/borrowing?by=colour&from=2026-13-01",
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 422);
    let fields: Vec<&str> = err["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["by", "from"]);
    let reader = app.login("bcu-phd").await;
    let (st, _) = app.get("/api/v1/stats/borrowing", Some(&reader)).await;
    assert_eq!(st, 403);
}
