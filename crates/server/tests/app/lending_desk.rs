//! The lending desk, on SQLite and PostgreSQL: assigning and releasing requests (events, the
//! "assigned" letter through the SMTP sink), notes internal and to the partner, the lending
//! queue's facets, task filters and search over a seeded mix, pick slips as XLSX and XML, and
//! the queue page with its facets in both languages.

use std::io::Read;

use serde_json::{Value, json};
use store::SeedLend;
use time::{Duration, OffsetDateTime};

use crate::helpers::{Engine, TestApp, engines};
use crate::letters::SmtpSink;
use crate::web::{get, web_login};

async fn app_with_mail(engine: Engine, sink: &SmtpSink) -> TestApp {
    let port = sink.start().await;
    TestApp::spawn_with(engine, |c| {
        c.smtp_host = "127.0.0.1".to_owned();
        c.smtp_port = port;
        c.smtp_tls = "none".to_owned();
    })
    .await
}

/// One seeded lending request of XNU.
struct Row {
    id: &'static str,
    title: &'static str,
    partner: &'static str,
    format: &'static str,
    state: &'static str,
    barcode: Option<&'static str>,
    /// Days from today.
    due: Option<i64>,
    need_by: Option<i64>,
    created_days_ago: i64,
    assignee: Option<&'static str>,
}

fn row(id: &'static str, state: &'static str) -> Row {
    Row {
        id,
        title: "Seeded book",
        partner: "BCU",
        format: "loan",
        state,
        barcode: None,
        due: None,
        need_by: None,
        created_days_ago: 0,
        assignee: None,
    }
}

/// Write `rows` as XNU's lending requests, dates counted from the app's clock (due and
/// need-by dates from XNU's day, as its queue counts them).
async fn seed(app: &TestApp, rows: Vec<Row>) {
    let now: OffsetDateTime = app.state.now();
    let today = app
        .state
        .store
        .library("XNU")
        .await
        .unwrap()
        .offset()
        .date(now);
    let mut out = Vec::new();
    for r in rows {
        let lib = app.state.store.library(r.partner).await.unwrap();
        let assignee = match r.assignee {
            Some(u) => Some(
                app.state
                    .store
                    .user_by_username(u)
                    .await
                    .unwrap()
                    .unwrap()
                    .user_id,
            ),
            None => None,
        };
        let created = now - Duration::days(r.created_days_ago);
        out.push(SeedLend {
            request_id: r.id.to_owned(),
            borrower_agency: format!("{}:{}", lib.agency_type, lib.agency_value),
            borrower_id: Some(r.partner.to_owned()),
            format: r.format.to_owned(),
            state: r.state.to_owned(),
            citation: domain::citation::Citation {
                title: Some(r.title.to_owned()),
                author: Some("曹雪芹".to_owned()),
                need_by: r.need_by.map(|d| today + Duration::days(d)),
                ..Default::default()
            },
            barcode: r.barcode.map(str::to_owned),
            due_date: r.due.map(|d| today + Duration::days(d)),
            assignee_id: assignee,
            created_at: created,
            updated_at: created,
        });
    }
    app.state
        .store
        .seed_lend_requests("XNU", out)
        .await
        .unwrap();
}

fn facet(page: &Value, name: &str, value: Option<&str>) -> i64 {
    page["facets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["facet"] == name && f["value"].as_str() == value)
        .map_or(0, |f| f["count"].as_i64().unwrap())
}

/// The count of a facet row that must be listed, even at zero.
fn listed(page: &Value, name: &str, value: &str) -> i64 {
    page["facets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["facet"] == name && f["value"] == value)
        .unwrap_or_else(|| panic!("no {name} {value} row: {page}"))["count"]
        .as_i64()
        .unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    let mut v: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn events(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let (st, v) = app.get(path, Some(token)).await;
    assert_eq!(st, 200, "{v}");
    v.as_array().unwrap().clone()
}

#[tokio::test]
async fn assigning_and_releasing_are_in_the_history_and_the_assignee_gets_a_letter() {
    for engine in engines() {
        assign_and_release(engine).await;
    }
}

async fn assign_and_release(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_with_mail(engine, &sink).await;
    let mut a = row("lend-a", "request_received");
    a.title = "红楼梦 assignment";
    seed(
        &app,
        vec![
            a,
            row("lend-b", "will_supply"),
            row("lend-c", "will_supply"),
        ],
    )
    .await;
    let manager = app.login("xnu-manager").await;
    let lender = app.login("xnu-lend").await;
    let lender_id = app
        .state
        .store
        .user_by_username("xnu-lend")
        .await
        .unwrap()
        .unwrap()
        .user_id;

    let (st, v) = app
        .post(
            "/api/v1/lending/lend-a/assign",
            json!({"assignee": "xnu-lend", "note": "请今天处理 please today"}),
            Some(&manager),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["assignee_id"], lender_id.as_str());
    assert_eq!(v["state"], "request_received", "assigning changes no state");
    let ev = events(&app, "/api/v1/lending/lend-a/events", &manager).await;
    let assign = ev.iter().find(|e| e["action"] == "assign").unwrap();
    assert_eq!(assign["note"], "请今天处理 please today");
    assert_eq!(assign["data"]["assignee"], "xnu-lend");
    assert_eq!(assign["to_state"], "request_received");

    // The assignee reads Chinese: the letter is the default Chinese "assigned" letter.
    let mut letter = None;
    for _ in 0..400 {
        letter = sink
            .mails
            .lock()
            .await
            .iter()
            .find(|m| m.to == "xnu-lend@xnu.example.edu")
            .cloned();
        if letter.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let letter = letter.expect("the assigned letter");
    assert!(
        letter.subject.contains("分配给您的馆际互借请求")
            && letter.subject.contains("红楼梦 assignment"),
        "{letter:?}"
    );
    assert!(letter.body.contains("lend-a"), "{letter:?}");

    // Releasing: an event; releasing again is refused, naming why.
    let (st, v) = app
        .post(
            "/api/v1/lending/lend-a/release",
            json!({"note": "back to the pool"}),
            Some(&lender),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["assignee_id"].is_null());
    let ev = events(&app, "/api/v1/lending/lend-a/events", &lender).await;
    let release = ev.iter().find(|e| e["action"] == "release").unwrap();
    assert_eq!(release["note"], "back to the pool");
    assert_eq!(release["data"]["previous_assignee_id"], lender_id.as_str());
    let (st, v) = app
        .post("/api/v1/lending/lend-a/release", json!({}), Some(&lender))
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["code"], "not_assigned");

    // Taking it oneself: an event, no letter to oneself.
    let (st, v) = app
        .post("/api/v1/lending/lend-a/assign", json!({}), Some(&lender))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["assignee_id"], lender_id.as_str());
    let admin = app.login("xnu-admin").await;
    let mut letters_about_a = 0;
    for status in ["pending", "delivered", "skipped", "dead"] {
        let (st, rows) = app
            .get(&format!("/api/v1/outbox?status={status}"), Some(&admin))
            .await;
        assert_eq!(st, 200, "{rows}");
        letters_about_a += rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "email" && m["request_id"] == "lend-a")
            .count();
    }
    assert_eq!(letters_about_a, 1, "one letter: none for taking it oneself");

    // Someone who does not lend, or another library's staff, cannot be given it.
    for who in ["xnu-borrow", "bcu-lend", "nobody-at-all"] {
        let (st, v) = app
            .post(
                "/api/v1/lending/lend-b/assign",
                json!({"assignee": who}),
                Some(&manager),
            )
            .await;
        assert_eq!(st, 422, "{who}: {v}");
        assert_eq!(v["error"]["code"], "assignee_not_staff");
        assert!(v["error"]["message"].as_str().unwrap().contains("assignee"));
        assert!(
            v["error"]["message_zh"]
                .as_str()
                .unwrap()
                .contains("负责人")
        );
    }
    // Another library's request is not found.
    let bcu = app.login("bcu-lend").await;
    let (st, _) = app
        .post("/api/v1/lending/lend-b/assign", json!({}), Some(&bcu))
        .await;
    assert_eq!(st, 404);

    // Bulk: each one assigned, unknown ids listed as refused.
    let (st, v) = app
        .post(
            "/api/v1/lending/assignments",
            json!({"ids": ["lend-b", "lend-c", "no-such"], "assignee": "xnu-manager"}),
            Some(&lender),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["done"], 2);
    assert_eq!(v["refused"][0]["id"], "no-such");
    let (_, page) = app
        .get("/api/v1/lending?assignee=xnu-manager", Some(&lender))
        .await;
    assert_eq!(ids(&page), vec!["lend-b", "lend-c"]);
}

#[tokio::test]
async fn a_note_over_a_thousand_characters_is_refused_in_both_languages() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        seed(&app, vec![row("lend-n", "request_received")]).await;
        let lender = app.login("xnu-lend").await;
        let long = "书".repeat(1001);
        for (path, body) in [
            ("/api/v1/lending/lend-n/assign", json!({"note": long})),
            ("/api/v1/lending/lend-n/notes", json!({"note": long})),
        ] {
            let (st, v) = app.post(path, body, Some(&lender)).await;
            assert_eq!(st, 422, "{path}: {v}");
            assert_eq!(v["error"]["code"], "note_too_long");
            let en = v["error"]["message"].as_str().unwrap();
            let zh = v["error"]["message_zh"].as_str().unwrap();
            assert!(
                en.contains("note") && en.contains("1000") && en.contains("1001"),
                "{en}"
            );
            assert!(zh.contains("备注") && zh.contains("1001"), "{zh}");
        }
        // Exactly a thousand characters (three bytes each) is fine.
        let (st, v) = app
            .post(
                "/api/v1/lending/lend-n/assign",
                json!({"note": "书".repeat(1000)}),
                Some(&lender),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let ev = events(&app, "/api/v1/lending/lend-n/events", &lender).await;
        assert!(
            ev.iter().all(|e| e["action"] != "note"),
            "nothing refused was kept"
        );
    }
}

#[tokio::test]
async fn notes_are_kept_internal_or_reach_the_partner_as_a_notification() {
    for engine in engines() {
        notes(engine).await;
    }
}

async fn notes(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let id = app
        .loan_for(&bcu, "bcu-faculty", "Notes across", &["XNU"])
        .await;
    // Before it is sent there is nobody to write to.
    let (st, v) = app
        .post(
            &format!("/api/v1/requests/{id}/notes"),
            json!({"note": "hello", "to_partner": true}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["code"], "no_partner");
    // The borrowing side can assign too.
    let (st, v) = app
        .post(
            &format!("/api/v1/requests/{id}/assign"),
            json!({"assignee": "bcu-manager", "note": "VIP"}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["assignee_id"].is_string());

    app.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let lend_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (st, log) = app
        .post(
            &format!("/api/v1/lending/{lend_id}/notes"),
            json!({"note": "shelf check tomorrow"}),
            Some(&xnu),
        )
        .await;
    assert_eq!(st, 200, "{log}");
    let internal = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "note")
        .unwrap();
    assert!(
        internal["message_id"].is_null(),
        "an internal note sends nothing"
    );

    let (st, log) = app
        .post(
            &format!("/api/v1/lending/{lend_id}/notes"),
            json!({"note": "请确认地址 confirm the address", "to_partner": true}),
            Some(&xnu),
        )
        .await;
    assert_eq!(st, 200, "{log}");
    let sent = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "note_to_partner")
        .unwrap();
    assert!(sent["message_id"].is_i64(), "{sent}");
    // The borrower's request hears it through ISO 18626, as a notification from the lender.
    let borrow_events = app
        .eventually(&format!("/api/v1/requests/{id}/events"), &bcu, |v| {
            v.as_array().is_some_and(|e| {
                e.iter().any(|e| {
                    e["note"]
                        .as_str()
                        .is_some_and(|n| n.contains("请确认地址 confirm the address"))
                })
            })
        })
        .await;
    let state_after = app
        .get(&format!("/api/v1/requests/{id}"), Some(&bcu))
        .await
        .1;
    assert_eq!(
        state_after["state"], "sent",
        "a note moves nothing: {borrow_events}"
    );

    // The reader sees neither the assignment nor the staff's notes.
    let reader = app.login("bcu-faculty").await;
    let (st, theirs) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&reader))
        .await;
    assert_eq!(st, 200);
    assert!(
        theirs
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] != "assign" && e["note"] != "VIP"),
        "{theirs}"
    );
    let reader_page = get(
        &app,
        &format!("/requests/{id}"),
        Some(&web_login(&app, "bcu-faculty").await),
    )
    .await;
    assert_eq!(reader_page.status, 200);
    assert!(!reader_page.body.contains("VIP") && !reader_page.body.contains("负责人"));
    // Borrowing staff see who has it, and may note it on the page.
    let staff_page = get(
        &app,
        &format!("/requests/{id}"),
        Some(&format!(
            "{}; librelay_lang=en",
            web_login(&app, "bcu-borrow").await
        )),
    )
    .await;
    assert!(
        staff_page
            .body
            .contains(&format!(r#"action="/staff/borrowing/{id}/note""#))
    );
    assert!(staff_page.body.contains("VIP"));

    // The page shows the notes with the history, and the desk forms.
    let session = web_login(&app, "xnu-lend").await;
    let page = get(
        &app,
        &format!("/staff/lending/{lend_id}"),
        Some(&format!("{session}; librelay_lang=en")),
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("shelf check tomorrow"), "{}", page.body);
    assert!(page.body.contains("Note sent to the partner library"));
    assert!(page.body.contains("Also send it to the partner library"));
    assert!(page.body.contains(r#"action="/staff/lending/"#));
}

#[tokio::test]
async fn facets_tasks_and_search_count_a_seeded_mix() {
    for engine in engines() {
        facets(engine).await;
    }
}

async fn facets(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let mut rows = Vec::new();
    let mut r = row("f-new-1", "request_received");
    r.need_by = Some(0);
    r.barcode = Some("XB-0001");
    rows.push(r);
    let mut r = row("f-new-2", "request_received");
    r.partner = "HTU";
    r.format = "article_copy";
    r.created_days_ago = 3;
    r.assignee = Some("xnu-lend");
    rows.push(r);
    let mut r = row("f-will", "will_supply");
    r.created_days_ago = 10;
    r.need_by = Some(5);
    rows.push(r);
    let mut r = row("f-slip", "pick_slip_printed");
    r.created_days_ago = 40;
    r.assignee = Some("xnu-lend");
    rows.push(r);
    let mut r = row("f-cond", "conditional_pending");
    r.partner = "HTU";
    rows.push(r);
    let mut r = row("f-late", "shipped");
    r.due = Some(-2);
    r.barcode = Some("XB-0002");
    r.created_days_ago = 20;
    rows.push(r);
    let mut r = row("f-out", "shipped");
    r.due = Some(10);
    r.created_days_ago = 5;
    rows.push(r);
    let mut r = row("f-over", "overdue");
    r.due = Some(-30);
    r.created_days_ago = 60;
    rows.push(r);
    let mut r = row("f-done", "completed");
    r.created_days_ago = 100;
    r.title = "已完成的书 Finished";
    rows.push(r);
    let mut r = row("f-unf", "unfilled");
    r.partner = "CPL";
    r.format = "chapter_copy";
    rows.push(r);
    seed(&app, rows).await;
    let lender = app.login("xnu-lend").await;
    let get_page = |q: &'static str| {
        let app = &app;
        let lender = lender.clone();
        async move {
            let (st, v) = app
                .get(&format!("/api/v1/lending?{q}"), Some(&lender))
                .await;
            assert_eq!(st, 200, "{q}: {v}");
            v
        }
    };

    // The overdue sweep marks the late loan overdue and tells its borrower, who never asked
    // for it (it was seeded): BCU's node refuses the message and it is parked, an alert.
    let errors = app
        .eventually("/api/v1/lending?alert=message_error", &lender, |v| {
            // The page and its count are two reads; wait until both see the parked message.
            v["total"] == 1 && v["items"].as_array().is_some_and(|i| i.len() == 1)
        })
        .await;
    assert_eq!(ids(&errors), vec!["f-late"]);

    let all = get_page("scope=all&facets=true").await;
    assert_eq!(all["total"], 10);
    assert_eq!(facet(&all, "state", Some("request_received")), 2);
    assert_eq!(facet(&all, "state", Some("shipped")), 1);
    assert_eq!(facet(&all, "state", Some("overdue")), 2);
    assert_eq!(facet(&all, "state", Some("completed")), 1);
    let bcu = app.state.store.library("BCU").await.unwrap();
    let htu = app.state.store.library("HTU").await.unwrap();
    let agency = |l: &store::LibraryRow| format!("{}:{}", l.agency_type, l.agency_value);
    assert_eq!(facet(&all, "partner", Some(&agency(&bcu))), 7);
    assert_eq!(facet(&all, "partner", Some(&agency(&htu))), 2);
    assert_eq!(facet(&all, "format", Some("loan")), 8);
    assert_eq!(facet(&all, "format", Some("chapter_copy")), 1);
    assert_eq!(facet(&all, "assignee", None), 8, "unassigned");
    let lender_id = app
        .state
        .store
        .user_by_username("xnu-lend")
        .await
        .unwrap()
        .unwrap()
        .user_id;
    assert_eq!(facet(&all, "assignee", Some(&lender_id)), 2);
    assert_eq!(facet(&all, "created", Some("today")), 3);
    assert_eq!(facet(&all, "created", Some("week")), 2);
    assert_eq!(facet(&all, "created", Some("month")), 2);
    assert_eq!(facet(&all, "created", Some("older")), 3);
    assert_eq!(facet(&all, "due", Some("past")), 2);
    assert_eq!(facet(&all, "due", Some("later")), 1);
    assert_eq!(facet(&all, "due", Some("none")), 7);
    assert_eq!(facet(&all, "needed_by", Some("today")), 1);
    assert_eq!(facet(&all, "needed_by", Some("week")), 1);
    assert_eq!(facet(&all, "alert", Some("overdue")), 2);
    assert_eq!(facet(&all, "alert", Some("conditional")), 1);
    assert_eq!(facet(&all, "alert", Some("message_error")), 1);
    // A search counts the parked message among its matches, or lists the alert with zero.
    let late = get_page("scope=all&facets=true&q=f-late").await;
    assert_eq!(ids(&late), vec!["f-late"]);
    assert_eq!(facet(&late, "alert", Some("message_error")), 1, "{late}");
    let over = get_page("scope=all&facets=true&q=f-over").await;
    assert_eq!(ids(&over), vec!["f-over"]);
    assert_eq!(listed(&over, "alert", "message_error"), 0);
    // Every alert is listed, with zero when no request has it.
    assert_eq!(listed(&all, "alert", "renew_pending"), 0);

    // The default scope of the page, active, leaves the closed ones out; facets follow.
    let active = get_page("scope=active&facets=true").await;
    assert_eq!(active["total"], 8);
    assert_eq!(facet(&active, "format", Some("chapter_copy")), 0);
    assert!(
        facet(&active, "format", Some("loan")) > 0,
        "the format facet is there: {active}"
    );
    let narrowed = get_page("scope=active&partner=HTU&facets=true").await;
    assert_eq!(ids(&narrowed), vec!["f-cond", "f-new-2"]);
    assert_eq!(facet(&narrowed, "state", Some("conditional_pending")), 1);
    assert_eq!(
        get_page("assignee=unassigned&scope=active").await["total"],
        6
    );
    assert_eq!(
        ids(&get_page("assignee=me").await),
        vec!["f-new-2", "f-slip"]
    );
    assert_eq!(
        ids(&get_page("created=week").await),
        vec!["f-new-2", "f-out"]
    );
    assert_eq!(ids(&get_page("due=past").await), vec!["f-late", "f-over"]);
    assert_eq!(ids(&get_page("needed_by=today").await), vec!["f-new-1"]);
    assert_eq!(ids(&get_page("format=article_copy").await), vec!["f-new-2"]);

    // Task filters.
    assert_eq!(
        ids(&get_page("task=to_locate").await),
        vec!["f-new-1", "f-new-2"]
    );
    assert_eq!(
        ids(&get_page("task=to_ship_today").await),
        vec!["f-slip", "f-will"]
    );
    assert_eq!(
        ids(&get_page("task=overdue").await),
        vec!["f-late", "f-over"]
    );
    assert_eq!(
        ids(&get_page("task=conditional_awaiting_answer").await),
        vec!["f-cond"]
    );

    // Search: barcode, request id, requesting library by code or name, title.
    assert_eq!(ids(&get_page("q=xb-0002").await), vec!["f-late"]);
    assert_eq!(ids(&get_page("q=f-unf").await), vec!["f-unf"]);
    assert_eq!(ids(&get_page("q=CPL").await), vec!["f-unf"]);
    assert_eq!(
        ids(&get_page("q=HTU&scope=active").await),
        vec!["f-cond", "f-new-2"]
    );
    let htu_name = htu.name_zh.clone();
    let (_, by_name) = app
        .get(
            &format!("/api/v1/lending?q={}", urlencode(&htu_name)),
            Some(&lender),
        )
        .await;
    assert_eq!(ids(&by_name), vec!["f-cond", "f-new-2"], "{htu_name}");
    assert_eq!(
        ids(&get_page("q=%E5%B7%B2%E5%AE%8C%E6%88%90").await),
        vec!["f-done"]
    );

    // A parameter that is not understood is named.
    for (q, field) in [
        ("task=tidy_up", "task"),
        ("created=yesterday", "created"),
        ("state=lost_in_space", "state"),
        ("scope=everything", "scope"),
        ("partner=NOPE", "partner"),
    ] {
        let (st, v) = app
            .get(&format!("/api/v1/lending?{q}"), Some(&lender))
            .await;
        assert_eq!(st, 422, "{q}: {v}");
        assert_eq!(v["error"]["fields"][0]["field"], field, "{v}");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn pick_slips_come_out_as_xlsx_and_xml_with_chinese_intact() {
    for engine in engines() {
        slips(engine).await;
    }
}

async fn slips(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let mut a = row("s-1", "will_supply");
    a.title = "红楼梦（程甲本）";
    a.barcode = Some("XB-9");
    let mut b = row("s-2", "will_supply");
    b.title = "Tom & Jerry <1> \"quoted\"";
    seed(&app, vec![a, b]).await;
    let lender = app.login("xnu-lend").await;

    let resp = app
        .client
        .get(format!(
            "{}/api/v1/lending/pick-slips?ids=s-1,s-2&format=xlsx",
            app.base
        ))
        .bearer_auth(&lender)
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    let bytes = resp.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut text = |name: &str| {
        let mut s = String::new();
        zip.by_name(name).unwrap().read_to_string(&mut s).unwrap();
        s
    };
    assert!(
        text("xl/workbook.xml").contains("取书单"),
        "the sheet's name"
    );
    let _sheet = text("xl/worksheets/sheet1.xml");
    let strings = text("xl/sharedStrings.xml");
    assert!(strings.contains("红楼梦（程甲本）"), "{strings}");
    assert!(strings.contains("曹雪芹"));
    assert!(strings.contains("题名"), "headers in Chinese");
    assert!(strings.contains("XB-9"));

    let resp = app
        .client
        .get(format!(
            "{}/api/v1/lending/pick-slips?ids=s-1,s-2&format=xml",
            app.base
        ))
        .bearer_auth(&lender)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let xml = resp.text().await.unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut titles = Vec::new();
    let mut in_title = false;
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) => {
                in_title = e.name().into_inner() == "title";
                if in_title {
                    titles.push(String::new());
                }
            }
            quick_xml::events::Event::Text(t) if in_title => {
                titles.last_mut().unwrap().push_str(&t.xml10_content());
            }
            quick_xml::events::Event::GeneralRef(r) if in_title => {
                let name = r.xml10_content().into_owned();
                let ch = match name.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                };
                titles.last_mut().unwrap().push_str(ch);
            }
            quick_xml::events::Event::End(_) => in_title = false,
            _ => {}
        }
    }
    assert!(xml.contains("<pickSlips"));
    assert!(titles.iter().any(|t| t == "红楼梦（程甲本）"), "{titles:?}");
    assert!(
        titles.iter().any(|t| t.starts_with("Tom & Jerry <1")),
        "{titles:?}"
    );

    // An id that is not ours is named; a format we do not write is refused.
    let (st, v) = app
        .get(
            "/api/v1/lending/pick-slips?ids=s-1,elsewhere",
            Some(&lender),
        )
        .await;
    assert_eq!(st, 404, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("elsewhere")
    );
    let (st, v) = app
        .get(
            "/api/v1/lending/pick-slips?ids=s-1&format=pdf",
            Some(&lender),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["code"], "unknown_format");

    // From the queue page: the ticked rows' slips.
    let session = web_login(&app, "xnu-lend").await;
    let page = app
        .client
        .post(format!("{}/staff/lending/slips", app.base))
        .header("cookie", &session)
        .header("sec-fetch-site", "same-origin")
        .form(&[("ids", "s-1"), ("ids", "s-2"), ("format", "xml")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("红楼梦（程甲本）"));
}

#[tokio::test]
async fn the_queue_page_shows_its_facets_and_tasks_in_both_languages() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let mut a = row("p-1", "request_received");
    a.title = "页面测试 Page test";
    seed(
        &app,
        vec![
            a,
            row("p-2", "conditional_pending"),
            row("p-3", "completed"),
        ],
    )
    .await;
    let session = web_login(&app, "xnu-lend").await;
    for (lang, words) in [
        (
            "en",
            [
                "Requesting library",
                "To locate",
                "Conditions awaiting an answer",
                "Assignee",
                "Unassigned",
            ],
        ),
        (
            "zh-CN",
            ["借入馆", "待查找", "条件待答复", "负责人", "未分配"],
        ),
    ] {
        let cookie = format!("{session}; librelay_lang={lang}");
        let page = get(&app, "/staff/lending", Some(&cookie)).await;
        assert_eq!(page.status, 200);
        for w in words {
            assert!(page.body.contains(w), "{lang}: {w}");
        }
        assert!(page.body.contains("页面测试 Page test"));
        assert!(
            !page.body.contains("p-3\""),
            "completed ones are not in the active queue"
        );
        assert!(
            page.body.contains(r#"<span class="count">2</span>"#),
            "two active, unassigned"
        );
        assert!(page.body.contains(r#"formaction="/staff/lending/slips""#));
        // A facet link narrows the queue.
        let narrowed = get(
            &app,
            "/staff/lending?task=conditional_awaiting_answer",
            Some(&cookie),
        )
        .await;
        assert_eq!(narrowed.status, 200);
        assert!(!narrowed.body.contains("页面测试 Page test"));
        let bad = get(&app, "/staff/lending?created=yesterday", Some(&cookie)).await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        let says = if lang == "en" {
            "created"
        } else {
            "创建时间（created）的取值无法识别"
        };
        assert!(bad.body.contains(says), "{}", bad.body);
    }
    // Bulk assignment from the queue.
    let done = app
        .client
        .post(format!("{}/staff/lending/bulk", app.base))
        .header("cookie", &session)
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("action", "assign"),
            ("assignee", "xnu-manager"),
            ("ids", "p-1"),
            ("ids", "p-2"),
            ("back", "/staff/lending"),
        ])
        .send()
        .await
        .unwrap();
    assert!(done.status().is_success() || done.status().is_redirection());
    let lender = app.login("xnu-lend").await;
    let (_, v) = app
        .get("/api/v1/lending?assignee=xnu-manager", Some(&lender))
        .await;
    assert_eq!(ids(&v), vec!["p-1", "p-2"]);
}

#[tokio::test]
async fn the_desk_endpoints_are_in_the_openapi_document() {
    let app = TestApp::start(Engine::Sqlite).await;
    let (st, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(st, 200);
    for p in [
        "/api/v1/lending/{id}/assign",
        "/api/v1/lending/{id}/release",
        "/api/v1/lending/{id}/notes",
        "/api/v1/lending/assignments",
        "/api/v1/lending/pick-slips",
        "/api/v1/requests/{id}/assign",
        "/api/v1/requests/{id}/release",
        "/api/v1/requests/{id}/notes",
    ] {
        assert!(doc["paths"].get(p).is_some(), "OpenAPI lacks {p}");
    }
    let params = doc["paths"]["/api/v1/lending"]["get"]["parameters"].to_string();
    for name in ["task", "assignee", "needed_by", "alert", "facets"] {
        assert!(params.contains(&format!("\"{name}\"")), "{name}: {params}");
    }
}
