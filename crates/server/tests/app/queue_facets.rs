//! The queues' newer facets and forms, on SQLite and PostgreSQL: labels added and removed
//! through the API and the queue page, counted and filtered; the supplied format once shipped;
//! pick slips printed; the service level; bulk assignment on the borrowing queue page without
//! script; refusals said in Chinese.

use serde_json::{Value, json};
use store::SeedLend;
use time::Duration;

use crate::helpers::{Engine, TestApp, engines};
use crate::web::{get, post_form, web_login};

/// Lending requests of XNU from BCU, in `state`, created now.
async fn seed(app: &TestApp, rows: &[(&str, &str)]) {
    let now = app.state.now();
    let bcu = app.state.store.library("BCU").await.unwrap();
    let rows = rows
        .iter()
        .map(|(id, state)| SeedLend {
            request_id: (*id).to_owned(),
            borrower_agency: format!("{}:{}", bcu.agency_type, bcu.agency_value),
            borrower_id: Some("BCU".to_owned()),
            format: "loan".to_owned(),
            state: (*state).to_owned(),
            citation: domain::citation::Citation {
                title: Some(format!("标签测试 Facet test {id}")),
                ..Default::default()
            },
            barcode: None,
            due_date: None,
            assignee_id: None,
            created_at: now - Duration::hours(1),
            updated_at: now - Duration::hours(1),
        })
        .collect();
    app.state
        .store
        .seed_lend_requests("XNU", rows)
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

async fn assert_counts_agree(app: &TestApp) {
    app.assert_kept_counts(&["XNU"], "queue facets").await;
}

#[tokio::test]
async fn labels_supplied_format_printed_slips_and_service_level_are_facets() {
    for engine in engines() {
        new_facets(engine).await;
    }
}

async fn new_facets(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    seed(
        &app,
        &[
            ("nf-1", "request_received"),
            ("nf-2", "will_supply"),
            ("nf-3", "will_supply"),
        ],
    )
    .await;
    let lender = app.login("xnu-lend").await;
    let page = |q: &'static str| {
        let (app, lender) = (&app, lender.clone());
        async move {
            let (st, v) = app
                .get(&format!("/api/v1/lending?{q}"), Some(&lender))
                .await;
            assert_eq!(st, 200, "{q}: {v}");
            v
        }
    };

    // Labels: added (twice is once), counted, filtered, removed.
    for label in ["稀见 rare", "稀见 rare", "ask Li"] {
        let (st, v) = app
            .post(
                "/api/v1/lending/nf-1/labels",
                json!({ "label": label }),
                Some(&lender),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    let (st, v) = app
        .post(
            "/api/v1/lending/nf-2/labels",
            json!({"label": "  稀见 rare "}),
            Some(&lender),
        )
        .await;
    assert_eq!((st, &v["labels"]), (200, &json!(["稀见 rare"])), "{v}");
    let (_, v) = app.get("/api/v1/lending/nf-1/labels", Some(&lender)).await;
    assert_eq!(v["labels"], json!(["ask Li", "稀见 rare"]));
    let all = page("facets=true").await;
    assert_eq!(facet(&all, "label", Some("稀见 rare")), 2, "{all}");
    assert_eq!(facet(&all, "label", Some("ask Li")), 1);
    assert_eq!(
        ids(&page("label=%E7%A8%80%E8%A7%81%20rare").await),
        vec!["nf-1", "nf-2"]
    );
    let gone = app
        .client
        .delete(format!("{}/api/v1/lending/nf-1/labels/ask%20Li", app.base))
        .bearer_auth(&lender)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 200);
    let (_, v) = app.get("/api/v1/lending/nf-1/labels", Some(&lender)).await;
    assert_eq!(v["labels"], json!(["稀见 rare"]));
    let again = app
        .client
        .delete(format!("{}/api/v1/lending/nf-1/labels/ask%20Li", app.base))
        .bearer_auth(&lender)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 404);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "label_not_found");
    // A bad label is refused naming the field, in both languages.
    for bad in [String::new(), "长".repeat(41), "tab\there".to_owned()] {
        let (st, v) = app
            .post(
                "/api/v1/lending/nf-3/labels",
                json!({ "label": bad }),
                Some(&lender),
            )
            .await;
        assert_eq!(st, 422, "{v}");
        assert_eq!(v["error"]["code"], "bad_label");
        assert!(v["error"]["message"].as_str().unwrap().contains("label"));
        assert!(v["error"]["message_zh"].as_str().unwrap().contains("标签"));
    }
    // Another library's staff do not reach it.
    let bcu = app.login("bcu-lend").await;
    let (st, _) = app
        .post(
            "/api/v1/lending/nf-3/labels",
            json!({"label": "x"}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 404);

    // Supplied format: known once shipped.
    app.lend_action(
        &lender,
        "nf-2",
        json!({"action": "ship_physical", "barcode": "NF-2"}),
    )
    .await;
    let all = page("facets=true").await;
    assert_eq!(facet(&all, "supplied_format", Some("physical")), 1, "{all}");
    assert_eq!(facet(&all, "supplied_format", None), 2);
    assert_eq!(ids(&page("supplied_format=physical").await), vec!["nf-2"]);
    assert_eq!(
        ids(&page("supplied_format=none").await),
        vec!["nf-1", "nf-3"]
    );

    // Printed: reading slips (GET), or opening the printable slip page, marks nothing;
    // printing them (POST) or the slip page's button does.
    let slip = app
        .client
        .get(format!(
            "{}/api/v1/lending/pick-slips?ids=nf-3,nf-1&format=xml",
            app.base
        ))
        .bearer_auth(&lender)
        .send()
        .await
        .unwrap();
    assert_eq!(slip.status().as_u16(), 200);
    let xml = slip.text().await.unwrap();
    assert!(
        xml.find("nf-3").unwrap() < xml.find("nf-1").unwrap(),
        "in the order asked: {xml}"
    );
    let cookie = web_login(&app, "xnu-lend").await;
    let slip_page = get(&app, "/staff/lending/nf-1/slip", Some(&cookie)).await;
    assert_eq!(slip_page.status, 200, "{}", slip_page.body);
    assert!(
        slip_page.body.contains("Not marked as printed yet"),
        "{}",
        slip_page.body
    );
    assert!(
        slip_page
            .body
            .contains(r#"action="/staff/lending/nf-1/slip/printed""#),
        "{}",
        slip_page.body
    );
    let all = page("facets=true").await;
    assert_eq!(facet(&all, "printed", Some("yes")), 0, "{all}");
    let slip = app
        .client
        .post(format!("{}/api/v1/lending/pick-slips", app.base))
        .bearer_auth(&lender)
        .json(&json!({"ids": ["nf-3"], "format": "xml"}))
        .send()
        .await
        .unwrap();
    assert_eq!(slip.status().as_u16(), 200);
    assert!(
        slip.text()
            .await
            .unwrap()
            .contains("<requestId>nf-3</requestId>")
    );
    let (st, v) = app
        .post(
            "/api/v1/lending/pick-slips",
            json!({"ids": ["nf-3", "elsewhere"]}),
            Some(&lender),
        )
        .await;
    assert_eq!(st, 404, "{v}");
    assert!(
        v["error"]["message"].to_string().contains("elsewhere"),
        "{v}"
    );
    let all = page("facets=true").await;
    assert_eq!(facet(&all, "printed", Some("yes")), 1, "{all}");
    assert_eq!(facet(&all, "printed", Some("no")), 2);
    assert_eq!(ids(&page("printed=yes").await), vec!["nf-3"]);

    // Service level: what the borrower asked for; seeded ones are normal.
    assert_eq!(facet(&all, "service_level", Some("normal")), 3);
    assert_eq!(ids(&page("service_level=express").await).len(), 0);

    // The same facets grouped out of the requests (a narrowing filter) agree.
    let narrowed = page("facets=true&partner=BCU").await;
    for (f, v) in [
        ("label", Some("稀见 rare")),
        ("supplied_format", Some("physical")),
        ("supplied_format", None),
        ("printed", Some("yes")),
        ("printed", Some("no")),
        ("service_level", Some("normal")),
    ] {
        assert_eq!(facet(&narrowed, f, v), facet(&all, f, v), "{f} {v:?}");
    }
    assert_counts_agree(&app).await;
    // The slip page's button marks nf-1, in Chinese too.
    let zh = format!("{cookie}; librelay_lang=zh-CN");
    let marked = post_form(&app, "/staff/lending/nf-1/slip/printed", Some(&zh), &[]).await;
    assert_eq!(marked.status, 303, "{}", marked.body);
    let slip_page = get(&app, marked.location(), Some(&zh)).await;
    assert!(
        slip_page.body.contains("已标记为已打印。"),
        "{}",
        slip_page.body
    );
    assert!(
        slip_page.body.contains("已标记为打印于"),
        "{}",
        slip_page.body
    );
    // Each marking is in the request's history, in both languages; opening a slip is not.
    let history = get(&app, "/staff/lending/nf-1", Some(&zh)).await;
    assert_eq!(
        history.body.matches("取书单已标记为已打印").count(),
        1,
        "{}",
        history.body
    );
    let history = get(&app, "/staff/lending/nf-3", Some(&cookie)).await;
    assert_eq!(
        history.body.matches("Pick slip marked printed").count(),
        1,
        "{}",
        history.body
    );
    let history = get(&app, "/staff/lending/nf-2", Some(&cookie)).await;
    assert!(
        !history.body.contains("Pick slip marked printed"),
        "{}",
        history.body
    );
    let other = web_login(&app, "htu-lend").await;
    let refused = post_form(&app, "/staff/lending/nf-1/slip/printed", Some(&other), &[]).await;
    assert_eq!(
        refused.status, 404,
        "another library's request is not found"
    );
    assert_eq!(ids(&page("printed=yes").await), vec!["nf-1", "nf-3"]);

    // Values not understood are named.
    for (q, field) in [
        ("service_level=slow", "service_level"),
        ("supplied_format=carrier_pigeon", "supplied_format"),
        ("printed=maybe", "printed"),
    ] {
        let (st, v) = app
            .get(&format!("/api/v1/lending?{q}"), Some(&lender))
            .await;
        assert_eq!(st, 422, "{q}: {v}");
        assert_eq!(v["error"]["fields"][0]["field"], field, "{v}");
    }
}

#[tokio::test]
async fn the_lending_page_adds_and_removes_labels_and_shows_the_new_facets_in_both_languages() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    seed(&app, &[("lp-1", "request_received")]).await;
    let session = web_login(&app, "xnu-lend").await;
    let added = post_form(
        &app,
        "/staff/lending/lp-1/labels",
        Some(&session),
        &[
            ("op", "add"),
            ("label", "加急处理"),
            ("back", "/staff/lending"),
        ],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert_eq!(added.location(), "/staff/lending");
    for (lang, words) in [
        ("en", ["Labels", "Service level", "Pick slip", "Add label"]),
        ("zh-CN", ["标签", "服务级别", "取书单", "加标签"]),
    ] {
        let cookie = format!("{session}; librelay_lang={lang}");
        let page = get(&app, "/staff/lending", Some(&cookie)).await;
        assert_eq!(page.status, 200);
        for w in words {
            assert!(page.body.contains(w), "{lang}: {w}");
        }
        assert!(page.body.contains("加急处理"));
    }
    let bad = post_form(
        &app,
        "/staff/lending/lp-1/labels",
        Some(&format!("{session}; librelay_lang=zh-CN")),
        &[("op", "add"), ("label", ""), ("back", "/staff/lending")],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("标签"), "{}", bad.body);
    let removed = post_form(
        &app,
        "/staff/lending/lp-1/labels",
        Some(&session),
        &[
            ("op", "remove"),
            ("label", "加急处理"),
            ("back", "/staff/lending?scope=all"),
        ],
    )
    .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(removed.location(), "/staff/lending?scope=all");
    let lender = app.login("xnu-lend").await;
    let (_, v) = app.get("/api/v1/lending/lp-1/labels", Some(&lender)).await;
    assert_eq!(v["labels"], json!([]));
}

#[tokio::test]
async fn borrowing_staff_assign_and_release_in_bulk_from_the_queue_page_without_script() {
    for engine in engines() {
        borrowing_bulk(engine).await;
    }
}

async fn borrowing_bulk(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let patron = app.login("bcu-faculty").await;
    let mut placed = Vec::new();
    for t in ["批量一 Bulk one", "批量二 Bulk two"] {
        let (st, v) = app
            .post(
                "/api/v1/requests",
                json!({"format": "loan", "citation": {"title": t}}),
                Some(&patron),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        placed.push(v["id"].as_str().unwrap().to_owned());
    }
    let session = web_login(&app, "bcu-borrow").await;
    for (lang, words) in [
        ("en", ["Assign to", "Assignee"]),
        ("zh-CN", ["分配给", "负责人"]),
    ] {
        let cookie = format!("{session}; librelay_lang={lang}");
        let page = get(&app, "/staff/borrowing", Some(&cookie)).await;
        assert_eq!(page.status, 200);
        for w in words {
            assert!(page.body.contains(w), "{lang}: {w}\n{}", page.body);
        }
        assert!(page.body.contains(r#"name="assignee""#));
        assert!(page.body.contains(r#"value="assign""#));
    }
    let done = post_form(
        &app,
        "/staff/borrowing/bulk",
        Some(&session),
        &[
            ("action", "assign"),
            ("assignee", "me"),
            ("note", "批量 bulk"),
            ("ids", &placed[0]),
            ("ids", &placed[1]),
            ("back", "/staff/borrowing"),
        ],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(
        done.location().contains("bulk_done=2"),
        "{}",
        done.location()
    );
    let staff = app.login("bcu-borrow").await;
    let me = app.get("/api/v1/me", Some(&staff)).await.1["id"].clone();
    for id in &placed {
        let (_, v) = app
            .get(&format!("/api/v1/requests/{id}"), Some(&staff))
            .await;
        assert_eq!(v["assignee_id"], me, "{v}");
    }
    let page = get(&app, "/staff/borrowing", Some(&session)).await;
    let display = app.get("/api/v1/me", Some(&staff)).await.1["display_name"].clone();
    assert!(
        page.body.contains(display.as_str().unwrap()),
        "the assignee column names them"
    );
    let released = post_form(
        &app,
        "/staff/borrowing/bulk",
        Some(&session),
        &[
            ("action", "release"),
            ("ids", &placed[0]),
            ("back", "/staff/borrowing"),
        ],
    )
    .await;
    assert_eq!(released.status, 303);
    assert!(released.location().contains("bulk_done=1"));
    let (_, v) = app
        .get(&format!("/api/v1/requests/{}", placed[0]), Some(&staff))
        .await;
    assert!(v["assignee_id"].is_null(), "{v}");
    // Someone who does not borrow cannot be given them: refused as a whole, in words.
    let refused = post_form(
        &app,
        "/staff/borrowing/bulk",
        Some(&format!("{session}; librelay_lang=zh-CN")),
        &[
            ("action", "assign"),
            ("assignee", "xnu-lend"),
            ("ids", &placed[1]),
            ("back", "/staff/borrowing"),
        ],
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("负责人"), "{}", refused.body);

    // The same through the API: each on its own, the unknown one listed with why.
    let (st, v) = app
        .post(
            "/api/v1/requests/assignments",
            json!({"ids": [placed[0], placed[1], "no-such-request"],
                   "assignee": "bcu-manager", "note": "接手 taking over"}),
            Some(&staff),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["done"], 2, "{v}");
    assert_eq!(v["refused"][0]["id"], "no-such-request", "{v}");
    assert_eq!(v["refused"][0]["code"], "not_found", "{v}");
    let manager = app.login("bcu-manager").await;
    let manager_id = app.get("/api/v1/me", Some(&manager)).await.1["id"].clone();
    for id in &placed {
        let (_, v) = app
            .get(&format!("/api/v1/requests/{id}"), Some(&staff))
            .await;
        assert_eq!(v["assignee_id"], manager_id, "{v}");
        let (_, events) = app
            .get(&format!("/api/v1/requests/{id}/events"), Some(&staff))
            .await;
        assert!(
            events.to_string().contains("接手 taking over"),
            "the note is in the history: {events}"
        );
    }
    let (st, v) = app
        .post(
            "/api/v1/requests/assignments",
            json!({"ids": [placed[0]], "release": true}),
            Some(&staff),
        )
        .await;
    assert_eq!((st, &v["done"]), (200, &json!(1)), "{v}");
    let (st, v) = app
        .post(
            "/api/v1/requests/assignments",
            json!({"ids": [placed[1]], "note": "长".repeat(1001)}),
            Some(&staff),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("note_too_long")),
        "{v}"
    );
    let (st, v) = app
        .post(
            "/api/v1/requests/assignments",
            json!({"ids": [placed[1]], "assignee": "xnu-lend"}),
            Some(&staff),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    for outsider in ["bcu-faculty", "xnu-lend"] {
        let token = app.login(outsider).await;
        let (st, v) = app
            .post(
                "/api/v1/requests/assignments",
                json!({"ids": [placed[1]]}),
                Some(&token),
            )
            .await;
        assert_eq!(st, 403, "{outsider}: {v}");
    }
    let (_, v) = app
        .get(&format!("/api/v1/requests/{}", placed[1]), Some(&staff))
        .await;
    assert_eq!(
        v["assignee_id"], manager_id,
        "nothing changed by the refusals: {v}"
    );
}

#[tokio::test]
async fn refusals_in_the_request_flow_are_said_in_chinese_when_asked() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let patron = app.login("bcu-faculty").await;
    let zh = |path: &str| {
        app.client
            .get(format!("{}{path}", app.base))
            .bearer_auth(&patron)
            .header("accept-language", "zh-CN")
    };
    let r = zh("/api/v1/lending").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "forbidden");
    assert_eq!(v["error"]["message"], "借出队列仅供馆员使用", "{v}");
    assert_eq!(v["error"]["message_en"], "the lending queue is for staff");
    // In English, the English sentence (no Chinese field left behind).
    let (st, v) = app.get("/api/v1/lending", Some(&patron)).await;
    assert_eq!(st, 403);
    assert_eq!(v["error"]["message"], "the lending queue is for staff");
    // A reader choosing lenders is refused with its own reason.
    let r = app
        .client
        .post(format!("{}/api/v1/requests", app.base))
        .bearer_auth(&patron)
        .header("accept-language", "zh-CN")
        .json(&json!({"format": "loan", "citation": {"title": "X"}, "rota": ["XNU"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["message"], "读者不能指定出借馆", "{v}");
}

async fn labels_on_the_request_page(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    seed(&app, &[("lp-1", "request_received")]).await;
    let cookie = web_login(&app, "xnu-lend").await;
    let here = "/staff/lending/lp-1";
    let page = get(&app, here, Some(&cookie)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("No labels yet."), "{}", page.body);
    assert!(
        page.body.contains(r#"action="/staff/lending/lp-1/labels""#),
        "{}",
        page.body
    );
    // Added on the request's own page, it comes back to that page and shows there, and in
    // the API and the queue's label facet.
    let added = post_form(
        &app,
        &format!("{here}/labels"),
        Some(&cookie),
        &[("op", "add"), ("label", "善本 rare book"), ("back", here)],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert_eq!(added.location(), here);
    let zh = format!("{cookie}; librelay_lang=zh-CN");
    let page = get(&app, here, Some(&zh)).await;
    assert!(
        page.body
            .contains(r#"<span class="chip">善本 rare book</span>"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("标签"), "{}", page.body);
    let lender = app.login("xnu-lend").await;
    let (_, v) = app.get("/api/v1/lending/lp-1/labels", Some(&lender)).await;
    assert_eq!(v["labels"], json!(["善本 rare book"]));
    let (_, q) = app.get("/api/v1/lending?facets=true", Some(&lender)).await;
    assert_eq!(facet(&q, "label", Some("善本 rare book")), 1, "{q}");
    // And removed there.
    let removed = post_form(
        &app,
        &format!("{here}/labels"),
        Some(&cookie),
        &[
            ("op", "remove"),
            ("label", "善本 rare book"),
            ("back", here),
        ],
    )
    .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    let page = get(&app, here, Some(&cookie)).await;
    assert!(!page.body.contains("善本 rare book"), "{}", page.body);
    // Another library's staff reach neither the page nor its labels.
    let other = web_login(&app, "htu-lend").await;
    let refused = post_form(
        &app,
        &format!("{here}/labels"),
        Some(&other),
        &[("op", "add"), ("label", "x"), ("back", here)],
    )
    .await;
    assert_eq!(refused.status, 404, "{}", refused.body);
}

#[tokio::test]
async fn a_lending_requests_own_page_shows_and_edits_its_labels() {
    for engine in engines() {
        labels_on_the_request_page(engine).await;
    }
}

async fn express(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    // The reader ticks "express" on the request form; the staff form has it too.
    let reader = web_login(&app, "bcu-faculty").await;
    let form = get(&app, "/my/requests/new", Some(&reader)).await;
    assert!(form.body.contains(r#"name="express""#), "{}", form.body);
    assert!(form.body.contains("Express service"), "{}", form.body);
    let zh = get(
        &app,
        "/my/requests/new",
        Some(&format!("{reader}; librelay_lang=zh-CN")),
    )
    .await;
    assert!(zh.body.contains("加急服务"), "{}", zh.body);
    let staff_cookie = web_login(&app, "bcu-borrow").await;
    let staff_form = get(&app, "/staff/borrowing/new", Some(&staff_cookie)).await;
    assert!(
        staff_form.body.contains(r#"name="express""#),
        "{}",
        staff_form.body
    );
    let placed = post_form(
        &app,
        "/my/requests/new",
        Some(&reader),
        &[
            ("format", "loan"),
            ("title", "加急 Express by the form"),
            ("express", "yes"),
        ],
    )
    .await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let fast = placed
        .location()
        .trim_start_matches("/requests/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let detail = get(&app, placed.location(), Some(&reader)).await;
    assert!(detail.body.contains("Express service"), "{}", detail.body);
    // Through the API, one without.
    let patron = app.login("bcu-faculty").await;
    let (st, v) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "普通 Normal by the API"}}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let slow = v["id"].as_str().unwrap().to_owned();
    let (st, v) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Bad", "express": "soon"}}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 422, "{v}");

    // Both go to XNU; its queue tells them apart by the serviceLevel that came with them.
    let staff = app.login("bcu-borrow").await;
    for id in [&fast, &slow] {
        app.borrow_action(&staff, id, json!({"action": "edit_rota", "rota": ["XNU"]}))
            .await;
        let sent = app
            .borrow_action(&staff, id, json!({"action": "approve"}))
            .await;
        assert_eq!(sent["state"], "sent", "{sent}");
    }
    let lender = app.login("xnu-lend").await;
    let fast_lend = app.lend_for(&lender, &fast).await;
    let slow_lend = app.lend_for(&lender, &slow).await;
    let (_, v) = app
        .get("/api/v1/lending?service_level=express", Some(&lender))
        .await;
    let listed: Vec<_> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(listed, vec![fast_lend["id"].clone()], "{v}");
    let (_, v) = app
        .get("/api/v1/lending?service_level=normal", Some(&lender))
        .await;
    assert!(
        v.to_string().contains(slow_lend["id"].as_str().unwrap()),
        "{v}"
    );
    assert!(
        !v.to_string().contains(fast_lend["id"].as_str().unwrap()),
        "{v}"
    );
    let (_, v) = app.get("/api/v1/lending?facets=true", Some(&lender)).await;
    assert_eq!(facet(&v, "service_level", Some("express")), 1, "{v}");
}

#[tokio::test]
async fn an_express_request_to_an_email_partner_says_so_in_both_languages() {
    let sink = crate::letters::SmtpSink::default();
    let port = sink.start().await;
    let app = TestApp::spawn_with(Engine::Sqlite, |c| {
        c.smtp_host = "127.0.0.1".to_owned();
        c.smtp_port = port;
        c.mail_from = "Interlibrary Loan <ill@bcu.example.edu>".to_owned();
    })
    .await;
    let patron = app.login("bcu-faculty").await;
    let (st, v) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "急件 Rush job", "express": true}}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let staff = app.login("bcu-borrow").await;
    app.borrow_action(&staff, &id, json!({"action": "edit_rota", "rota": ["EDS"]}))
        .await;
    app.borrow_action(&staff, &id, json!({"action": "approve"}))
        .await;
    for _ in 0..400 {
        if let Some(m) = sink
            .mails
            .lock()
            .await
            .iter()
            .find(|m| m.to == "ill@eds.example.com" && m.subject.contains("急件 Rush job"))
        {
            assert!(m.body.contains("借阅（返还式），加急"), "{m:?}");
            assert!(
                m.body.contains("loan (to be returned), express service"),
                "{m:?}"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!(
        "no letter to the e-mail partner: {:#?}",
        sink.mails.lock().await.clone()
    );
}

#[tokio::test]
async fn an_express_request_reaches_the_lender_as_express() {
    for engine in engines() {
        express(engine).await;
    }
}

async fn near_need_by(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    // The form says what a near need-by date does, with the library's days, in both languages.
    let reader = web_login(&app, "bcu-faculty").await;
    let form = get(&app, "/my/requests/new", Some(&reader)).await;
    assert!(
        form.body
            .contains("A need-by date within 5 days makes the request express"),
        "{}",
        form.body
    );
    let zh = get(
        &app,
        "/my/requests/new",
        Some(&format!("{reader}; librelay_lang=zh-CN")),
    )
    .await;
    assert!(
        zh.body.contains("需要日期在 5 天之内的请求按加急处理"),
        "{}",
        zh.body
    );
    let patron = app.login("bcu-faculty").await;
    let today = app.state.now().date();
    let place = |title: &'static str, days: i64| {
        let app = &app;
        let patron = patron.clone();
        async move {
            let (st, v) = app
                .post(
                    "/api/v1/requests",
                    json!({"format": "loan", "citation": {"title": title,
                           "need_by": (today + Duration::days(days)).to_string()}}),
                    Some(&patron),
                )
                .await;
            assert_eq!(st, 201, "{v}");
            v
        }
    };
    // Needed in two days: express, though the reader did not tick it; in a month: normal.
    let soon = place("急需 Needed soon", 2).await;
    assert_eq!(soon["citation"]["express"], true, "{soon}");
    let later = place("不急 Needed later", 30).await;
    assert!(later["citation"].get("express").is_none(), "{later}");
    // The reader's own page says so.
    let detail = get(
        &app,
        &format!("/requests/{}", soon["id"].as_str().unwrap()),
        Some(&reader),
    )
    .await;
    assert!(detail.body.contains("Express service"), "{}", detail.body);

    // The library's setting: 0 turns it off (the form no longer says it); past 60 is refused.
    let admin = app.login("bcu-admin").await;
    let (st, v) = app.get("/api/v1/routing-settings", Some(&admin)).await;
    assert_eq!(st, 200, "{v}");
    let mut off = v.clone();
    off["express_within_days"] = json!(0);
    let (st, v) = app.put_json("/api/v1/routing-settings", off, &admin).await;
    assert_eq!(st, 200, "{v}");
    let relaxed = place("不再加急 Not express now", 2).await;
    assert!(relaxed["citation"].get("express").is_none(), "{relaxed}");
    let form = get(&app, "/my/requests/new", Some(&reader)).await;
    assert!(
        !form.body.contains("makes the request express"),
        "{}",
        form.body
    );
    let (_, mut bad) = app.get("/api/v1/routing-settings", Some(&admin)).await;
    bad["express_within_days"] = json!(61);
    let (st, v) = app.put_json("/api/v1/routing-settings", bad, &admin).await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(
        v["error"]["fields"][0]["field"], "express_within_days",
        "{v}"
    );
}

#[tokio::test]
async fn a_need_by_date_sooner_than_the_library_allows_makes_the_request_express() {
    for engine in engines() {
        near_need_by(engine).await;
    }
}

async fn search(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let now = app.state.now();
    let bcu = app.state.store.library("BCU").await.unwrap();
    // 1,200 requests: enough that a search matching all of them reads the selection, while
    // one matching a few reads its candidates (SQLite); the results must not differ.
    let titles = [
        "经济与历史研究 Economics",
        "文学与哲学 Literature_and 100%",
        "Ünïcode Straße",
    ];
    let rows = (0..1_200)
        .map(|i| SeedLend {
            request_id: format!("sr-{i:04}"),
            borrower_agency: format!("{}:{}", bcu.agency_type, bcu.agency_value),
            borrower_id: Some("BCU".to_owned()),
            // Formats, due and need-by dates of every bucket, for the facets to count.
            format: if i % 5 == 0 { "article_copy" } else { "loan" }.to_owned(),
            state: if i % 2 == 0 {
                "request_received"
            } else {
                "completed"
            }
            .to_owned(),
            citation: domain::citation::Citation {
                title: Some(format!("{} 检索 Search book {i}", titles[i % 3])),
                need_by: (i % 4 == 1).then(|| now.date() + Duration::days(i as i64 % 11 - 3)),
                ..Default::default()
            },
            barcode: Some(format!("SB{i:05}")),
            due_date: (i % 7 < 3).then(|| now.date() + Duration::days(i as i64 % 13 - 4)),
            assignee_id: None,
            created_at: now - Duration::hours(1),
            updated_at: now - Duration::minutes(i as i64),
        })
        .collect();
    app.state
        .store
        .seed_lend_requests("XNU", rows)
        .await
        .unwrap();
    // Another library's requests with the same words, barcodes and requester: never found,
    // and the title index drops them before reading any (migration 0032).
    let others = (0..300)
        .map(|i| SeedLend {
            request_id: format!("ot-{i:04}"),
            borrower_agency: format!("{}:{}", bcu.agency_type, bcu.agency_value),
            borrower_id: Some("BCU".to_owned()),
            format: "loan".to_owned(),
            state: "request_received".to_owned(),
            citation: domain::citation::Citation {
                title: Some(format!("{} 检索 Search book {i}", titles[0])),
                ..Default::default()
            },
            barcode: Some(format!("SB{i:05}")),
            due_date: None,
            assignee_id: None,
            created_at: now - Duration::hours(1),
            updated_at: now,
        })
        .collect();
    app.state
        .store
        .seed_lend_requests("HTU", others)
        .await
        .unwrap();
    let lender = app.login("xnu-lend").await;
    let total = |q: String| {
        let (app, lender) = (&app, lender.clone());
        async move {
            let (st, v) = app
                .get(
                    &format!("/api/v1/lending?{q}&facets=true&limit=5"),
                    Some(&lender),
                )
                .await;
            assert_eq!(st, 200, "{q}: {v}");
            let state_sum: i64 = v["facets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["facet"] == "state")
                .map(|f| f["count"].as_i64().unwrap())
                .sum();
            assert_eq!(v["total"].as_i64().unwrap(), state_sum, "{q}: {v}");
            (v["total"].as_i64().unwrap(), ids(&v))
        }
    };
    let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let cases = [
        // Chinese title words: two characters, one, a phrase; in the whole history and active.
        ("经济", 400, 200),
        ("济", 400, 200),
        ("检索", 1_200, 600),
        ("与哲学", 400, 200),
        ("经济与历史研究 economics", 400, 200),
        // Words in any case; `%` and `_` are themselves.
        ("SEARCH BOOK 1199", 1, 0),
        ("search book 11", 111, 55),
        ("100%", 400, 200),
        ("e_a", 400, 200),
        ("h_b", 0, 0),
        ("%", 400, 200),
        ("straße", 400, 200),
        // Two characters, one beyond ASCII: PostgreSQL finds them by their pair (0045).
        ("ße", 400, 200),
        // A barcode or request id by its start, the requester by code or name.
        ("sb0119", 10, 5),
        ("SB01200", 0, 0),
        ("sr-0042", 1, 1),
        ("sr-1", 200, 100),
        ("bcu", 1_200, 600),
        // Words of the requester's name, in either language (a name that several libraries
        // share finds each one's requests).
        ("北辰", 1_200, 600),
        ("BEICHEN University", 1_200, 600),
        ("university", 1_200, 600),
        ("no such words", 0, 0),
    ];
    // PostgreSQL reads a search's candidates by id up to a bound, and beyond it compares
    // the selection through its indexes (the names looked up first): both ways, here with
    // the bound at zero, must find the same rows.
    let bounds: &[Option<i64>] = if engine == Engine::Postgres {
        &[None, Some(0)]
    } else {
        &[None]
    };
    for bound in bounds {
        if let Some(b) = bound {
            app.state.store.set_search_by_id_max(Some(*b));
        }
        for (q, all, active) in cases {
            let (n, _) = total(format!("scope=all&q={}", enc(q))).await;
            assert_eq!(n, all, "{q} in all history, bound {bound:?}");
            let (n, page) = total(format!("scope=active&q={}", enc(q))).await;
            assert_eq!(n, active, "{q} in the active queue, bound {bound:?}");
            assert!(page.len() as i64 <= 5.min(active), "{q}: {page:?}");
        }
        if bound.is_some() {
            page_agrees_with_a_recount(&app).await;
        }
    }
    app.state.store.set_search_by_id_max(None);
    // SQLite's lower() leaves non-ASCII capitals as they are, PostgreSQL's lowers them: each
    // engine keeps its meaning.
    let capital = if engine == Engine::Postgres { 400 } else { 0 };
    for q in ["ünïcode", "Ünïcode"] {
        let (n, _) = total(format!("scope=all&q={}", enc(q))).await;
        assert_eq!(n, capital, "{q}");
    }
    let (_, page) = total(format!("scope=all&q={}", enc("sr-0042"))).await;
    assert_eq!(page, vec!["sr-0042"]);
    let (n, _) = total(format!("scope=all&q={}", enc(&bcu.name_zh))).await;
    assert_eq!(n, 1_200, "{}", bcu.name_zh);
    page_agrees_with_a_recount(&app).await;
}

/// The queue page's one read (`lend_queue_page`: search planned once, facets, total and page
/// ids from one reading of the selection) gives the rows and total of `lend_queue`, the
/// facets of `lend_facets_grouped`, and facet counts equal to a recount of every matching row
/// read page by page, for searches, facet filters and task filters.
async fn page_agrees_with_a_recount(app: &TestApp) {
    use std::collections::BTreeMap;
    let open = server::flow::desk::lend_open_states();
    let mut filters = Vec::new();
    for q in [
        None,
        Some("经济"),
        Some("济"),
        Some("search book 11"),
        Some("sb0119"),
        Some("sr-0042"),
        Some("bcu"),
        Some("100%"),
        Some("no such words"),
    ] {
        for states in [None, Some(open.clone())] {
            let mut f = store::LendQueueFilter::new(
                "XNU",
                app.state.now(),
                server::flow::desk::lend_alert_states(),
            );
            f.states = states;
            f.text = q.map(str::to_owned);
            f.limit = 7;
            filters.push(f);
        }
    }
    let mut narrowed = filters[1].clone();
    narrowed.format = Some("loan".to_owned());
    narrowed.modified = Some(store::AgeBucket::Today);
    filters.push(narrowed);
    let mut overdue = filters[1].clone();
    overdue.alert = Some(store::LendAlert::Overdue);
    filters.push(overdue);
    let mut offset = filters[2].clone();
    offset.offset = 30;
    filters.push(offset);
    // Each filter again in XNU's own time: the buckets start at its midnight, and selections
    // by states alone are counted from the kept counts, which hold its days.
    let own = app.state.store.library("XNU").await.unwrap().offset();
    let in_own_time: Vec<_> = filters
        .iter()
        .map(|f| store::LendQueueFilter {
            utc_offset: own,
            ..f.clone()
        })
        .collect();
    filters.extend(in_own_time);
    for f in filters {
        let what = format!(
            "{:?} {:?} offset {} at {}",
            f.text, f.states, f.offset, f.utc_offset
        );
        let (rows, total, mut facets) = app.state.store.lend_queue_page(&f).await.unwrap();
        let (lrows, ltotal) = app.state.store.lend_queue(&f).await.unwrap();
        let ids =
            |r: &[store::LendRequest]| r.iter().map(|r| r.request_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&rows), ids(&lrows), "{what}");
        assert_eq!(total, ltotal, "{what}");
        let mut grouped = app.state.store.lend_facets_grouped(&f).await.unwrap();
        let key = |c: &store::FacetCount| (c.facet.clone(), c.value.clone());
        facets.sort_by_key(key);
        grouped.sort_by_key(key);
        assert_eq!(facets, grouped, "{what}");
        // Every matching row, read 500 at a time, counted here.
        let mut all = Vec::new();
        let mut each = f.clone();
        each.limit = 500;
        loop {
            each.offset = all.len() as i64;
            let (rows, _) = app.state.store.lend_queue(&each).await.unwrap();
            if rows.is_empty() {
                break;
            }
            all.extend(rows);
        }
        assert_eq!(all.len() as i64, total, "{what}");
        let mut recount: BTreeMap<(String, Option<String>), i64> = BTreeMap::new();
        let alerts = server::flow::desk::lend_alert_states();
        // Every alert is shown, zero included (no message is parked here).
        for a in store::LendAlert::ALL {
            recount.insert(("alert".to_owned(), Some(a.as_str().to_owned())), 0);
        }
        let now = f.now.to_offset(f.utc_offset.utc_offset());
        let t0 = now.replace_time(time::Time::MIDNIGHT);
        let age = |t: time::OffsetDateTime| {
            if t >= t0 {
                "today"
            } else if t >= t0 - Duration::days(6) {
                "week"
            } else if t >= t0 - Duration::days(29) {
                "month"
            } else {
                "older"
            }
        };
        let today = now.date();
        let day = |d: Option<time::Date>| match d {
            None => "none",
            Some(d) if d < today => "past",
            Some(d) if d == today => "today",
            Some(d) if d <= today + Duration::days(7) => "week",
            Some(_) => "later",
        };
        for r in &all {
            let overdue = alerts.overdue.contains(&r.state)
                || (alerts.on_loan.contains(&r.state) && r.due_date.is_some_and(|d| d < today));
            let mut seen = vec![
                ("state", Some(r.state.clone())),
                ("partner", Some(r.borrower_agency.clone())),
                ("format", Some(r.format.clone())),
                ("assignee", r.assignee_id.clone()),
                ("service_level", Some(r.service_level.clone())),
                ("supplied_format", r.supplied_format.clone()),
                ("created", Some(age(r.created_at).to_owned())),
                ("modified", Some(age(r.updated_at).to_owned())),
                ("due", Some(day(r.due_date).to_owned())),
                ("needed_by", Some(day(r.needed_by).to_owned())),
                (
                    "printed",
                    Some(
                        if r.slip_printed_at.is_some() {
                            "yes"
                        } else {
                            "no"
                        }
                        .to_owned(),
                    ),
                ),
            ];
            if overdue {
                seen.push(("alert", Some("overdue".to_owned())));
            }
            if alerts.conditional.contains(&r.state) {
                seen.push(("alert", Some("conditional".to_owned())));
            }
            if r.renew_pending {
                seen.push(("alert", Some("renew_pending".to_owned())));
            }
            for (facet, value) in seen {
                *recount.entry((facet.to_owned(), value)).or_default() += 1;
            }
        }
        let grouped: BTreeMap<(String, Option<String>), i64> = facets
            .iter()
            .filter(|c| recount.keys().any(|k| k.0 == c.facet))
            .map(|c| ((c.facet.clone(), c.value.clone()), c.count))
            .collect();
        assert_eq!(grouped, recount, "{what}");
    }
}

#[tokio::test]
async fn every_kind_of_search_finds_the_same_rows_from_its_index_or_by_comparing() {
    for engine in engines() {
        search(engine).await;
    }
}

async fn threads(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let patron = app.login("bcu-faculty").await;
    let bcu = app.login("bcu-borrow").await;
    let (st, v) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "往来信函 Letters between libraries"}}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let borrow = v["id"].as_str().unwrap().to_owned();
    app.borrow_action(
        &bcu,
        &borrow,
        json!({"action": "edit_rota", "rota": ["XNU"]}),
    )
    .await;
    app.borrow_action(&bcu, &borrow, json!({"action": "approve"}))
        .await;
    let xnu = app.login("xnu-lend").await;
    let lend = app.lend_for(&xnu, &borrow).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let waiting = |q: &str| {
        let (app, xnu, q) = (&app, xnu.clone(), q.to_owned());
        async move {
            let (st, v) = app
                .get(&format!("/api/v1/lending?facets=true{q}"), Some(&xnu))
                .await;
            assert_eq!(st, 200, "{v}");
            (
                facet(&v, "partner_notes", Some("waiting")),
                facet(&v, "partner_notes", Some("answered")),
                ids(&v),
            )
        }
    };
    assert_eq!(waiting("").await.0, 0);

    // The borrowing library writes: the lender's queue has a partner note waiting.
    let (st, v) = app
        .post(
            &format!("/api/v1/requests/{borrow}/notes"),
            json!({"note": "能否加急？ Could you hurry?", "to_partner": true}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let events = app
        .eventually(&format!("/api/v1/lending/{lend}/events"), &xnu, |v| {
            v.as_array()
                .is_some_and(|e| e.iter().any(|e| e["action"] == "borrower_notification"))
        })
        .await;
    let theirs = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "borrower_notification")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    // A search counts them among its matches (kept aside), as the whole queue counts them.
    let searches = [format!("&q={lend}"), format!("&scope=all&q={lend}")];
    for q in ["", "&scope=all", "&partner=BCU"]
        .into_iter()
        .chain(searches.iter().map(String::as_str))
    {
        let (w, a, _) = waiting(q).await;
        assert_eq!((w, a), (1, 0), "{q}");
    }
    assert_eq!(
        waiting(&format!("&q={lend}&partner_notes=waiting")).await,
        (1, 0, vec![lend.clone()])
    );
    assert_eq!(waiting("&q=no-such-request").await, (0, 0, Vec::new()));
    assert_eq!(
        waiting("&partner_notes=waiting").await.2,
        vec![lend.clone()]
    );
    assert!(waiting("&partner_notes=answered").await.2.is_empty());

    // A step of the request is no message to answer; an unknown one is not found.
    let create = events.as_array().unwrap()[0]["id"].as_i64().unwrap();
    let (st, v) = app
        .post(
            &format!("/api/v1/lending/{lend}/notes"),
            json!({"note": "x", "reply_to": create}),
            Some(&xnu),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["code"], "not_a_message", "{v}");
    let (st, v) = app
        .post(
            &format!("/api/v1/lending/{lend}/notes"),
            json!({"note": "x", "reply_to": 999_999_999}),
            Some(&xnu),
        )
        .await;
    assert_eq!(st, 404, "{v}");

    // The lender's page shows the thread, waiting, with its reply forms, in both languages.
    let cookie = web_login(&app, "xnu-lend").await;
    let page = get(&app, &format!("/staff/lending/{lend}"), Some(&cookie)).await;
    assert!(
        page.body.contains("waiting for our answer"),
        "{}",
        page.body
    );
    assert!(page.body.contains("From the partner"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!(r#"name="reply_to" value="{theirs}""#)),
        "{}",
        page.body
    );
    let zh = format!("{cookie}; librelay_lang=zh-CN");
    let page = get(&app, &format!("/staff/lending/{lend}"), Some(&zh)).await;
    assert!(page.body.contains("待我方回复"), "{}", page.body);

    // Replying to the partner from the page answers it: the facet moves to "answered", and the
    // borrower receives the reply.
    let theirs_text = theirs.to_string();
    let replied = post_form(
        &app,
        &format!("/staff/lending/{lend}/note"),
        Some(&zh),
        &[
            ("note", "今天寄出 Shipping today"),
            ("reply_to", theirs_text.as_str()),
            ("to_partner", "true"),
        ],
    )
    .await;
    assert_eq!(replied.status, 303, "{}", replied.body);
    let (w, a, _) = waiting("").await;
    assert_eq!((w, a), (0, 1));
    let (w, a, _) = waiting(&format!("&q={lend}")).await;
    assert_eq!((w, a), (0, 1), "searched");
    let (_, events) = app
        .get(&format!("/api/v1/lending/{lend}/events"), Some(&xnu))
        .await;
    let reply = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "note_to_partner")
        .unwrap();
    assert_eq!(reply["reply_to"], theirs, "{events}");
    let borrowed = app
        .eventually(&format!("/api/v1/requests/{borrow}/events"), &bcu, |v| {
            v.as_array()
                .is_some_and(|e| e.iter().any(|e| e["action"] == "lender_notification"))
        })
        .await;
    let answer = borrowed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "lender_notification")
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // The borrowing staff add an internal response to it, then close the thread; a closed
    // thread takes no more, and closing it again is refused.
    let (st, v) = app
        .post(
            &format!("/api/v1/requests/{borrow}/notes"),
            json!({"note": "已告知读者 Reader told", "reply_to": answer}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = app
        .post(
            &format!("/api/v1/requests/{borrow}/threads/{answer}/close"),
            json!({}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let closed: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reply_to"] == answer)
        .collect();
    assert_eq!(closed.len(), 2, "{v}");
    assert_eq!(closed[1]["action"], "thread_closed");
    for (path, body) in [
        (
            format!("/api/v1/requests/{borrow}/threads/{answer}/close"),
            json!({}),
        ),
        (
            format!("/api/v1/requests/{borrow}/notes"),
            json!({"note": "again", "reply_to": answer}),
        ),
    ] {
        let (st, v) = app.post(&path, body, Some(&bcu)).await;
        assert_eq!(st, 409, "{path}: {v}");
        assert_eq!(v["error"]["code"], "thread_closed", "{v}");
    }
    let staff_cookie = web_login(&app, "bcu-borrow").await;
    let page = get(&app, &format!("/requests/{borrow}"), Some(&staff_cookie)).await;
    assert!(page.body.contains("Thread closed"), "{}", page.body);

    // The lender closes its own thread from the page.
    let closed = post_form(
        &app,
        &format!("/staff/lending/{lend}/close"),
        Some(&cookie),
        &[("thread", theirs_text.as_str())],
    )
    .await;
    assert_eq!(closed.status, 303, "{}", closed.body);
    let page = get(&app, &format!("/staff/lending/{lend}"), Some(&cookie)).await;
    assert!(
        !page
            .body
            .contains(&format!(r#"name="reply_to" value="{theirs}""#)),
        "{}",
        page.body
    );
    let (w, a, _) = waiting("").await;
    assert_eq!((w, a), (0, 1));
}

#[tokio::test]
async fn the_communications_log_keeps_reply_threads_and_the_queue_shows_partner_notes() {
    for engine in engines() {
        threads(engine).await;
    }
}

/// A request changed in the first second after midnight (UTC) is "modified today" whichever
/// way the page counts it: from the kept counts (by date) or from the requests (by time), and
/// the "today" filter finds it.
#[tokio::test]
async fn a_request_changed_just_after_midnight_is_counted_today_everywhere() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let now = app.state.now();
        let midnight = now
            .to_offset(time::UtcOffset::UTC)
            .replace_time(time::Time::MIDNIGHT);
        let bcu = app.state.store.library("BCU").await.unwrap();
        let at = [
            midnight + Duration::milliseconds(250),
            midnight,
            midnight - Duration::milliseconds(250),
        ];
        let rows = at
            .iter()
            .enumerate()
            .map(|(i, t)| SeedLend {
                request_id: format!("mn-{i}"),
                borrower_agency: format!("{}:{}", bcu.agency_type, bcu.agency_value),
                borrower_id: Some("BCU".to_owned()),
                format: "loan".to_owned(),
                state: "request_received".to_owned(),
                citation: domain::citation::Citation {
                    title: Some(format!("Midnight book {i}")),
                    ..Default::default()
                },
                barcode: None,
                due_date: None,
                assignee_id: None,
                created_at: *t,
                updated_at: *t,
            })
            .collect();
        app.state
            .store
            .seed_lend_requests("XNU", rows)
            .await
            .unwrap();
        let f = store::LendQueueFilter::new(
            "XNU",
            app.state.now(),
            server::flow::desk::lend_alert_states(),
        );
        let (_, _, mut page) = app.state.store.lend_queue_page(&f).await.unwrap();
        let mut grouped = app.state.store.lend_facets_grouped(&f).await.unwrap();
        let key = |c: &store::FacetCount| (c.facet.clone(), c.value.clone());
        page.sort_by_key(key);
        grouped.sort_by_key(key);
        assert_eq!(page, grouped, "{engine:?}");
        let today = |facets: &[store::FacetCount], facet: &str| {
            facets
                .iter()
                .find(|c| c.facet == facet && c.value.as_deref() == Some("today"))
                .map(|c| c.count)
        };
        assert_eq!(today(&page, "modified"), Some(2), "{engine:?}: {page:?}");
        assert_eq!(today(&page, "created"), Some(2), "{engine:?}: {page:?}");
        let mut only_today = f.clone();
        only_today.modified = Some(store::AgeBucket::Today);
        let (rows, total) = app.state.store.lend_queue(&only_today).await.unwrap();
        assert_eq!(total, 2, "{engine:?}");
        let mut ids: Vec<_> = rows.iter().map(|r| r.request_id.clone()).collect();
        ids.sort();
        assert_eq!(ids, ["mn-0", "mn-1"], "{engine:?}");
    }
}
