//! Borrowing statistics from the request history, through the API and the pages: counts, fill
//! rate, unfilled reasons and stage times by reader type, source, journal and partner; the
//! hub's view; CSV that spreadsheet programs open in Chinese and XLSX; charts beside tables;
//! partner evaluation. Every test runs on SQLite and, when configured, PostgreSQL.

use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, engines};
use crate::web::{get as web_get, post_form, web_login};

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

fn group(v: &Value, name: &str) -> Value {
    v.as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no group {name} in {v}"))
}

async fn raw(app: &TestApp, path: &str, token: &str) -> (u16, String, Vec<u8>) {
    let resp = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.bytes().await.unwrap().to_vec())
}

/// A filled PhD loan (XNU ships after five hours), a faculty loan XNU refuses (not on the
/// shelf), and an article from Nature placed through the web form filled from an OpenURL.
async fn history(app: &TestApp) -> (String, String) {
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let filled = loan(app, "bcu-phd", &bcu, "Filled book").await;
    let refused = loan(app, "bcu-faculty", &bcu, "Refused book").await;
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

    let reader = web_login(app, "bcu-phd").await;
    let page = post_form(
        app,
        "/my/requests/new",
        Some(&reader),
        &[
            ("format", "article_copy"),
            ("title", "On counting requests"),
            ("author", "Count, C."),
            ("source_title", "Nature"),
            ("year", "2020"),
            ("pages", "1-9"),
            ("copyright", "on"),
            ("via", "openurl"),
        ],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    (filled, refused)
}

async fn statistics(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    history(&app).await;
    let bcu = app.login("bcu-borrow").await;

    // By reader type: counts, fill rate, unfilled reasons and stage times.
    let (st, v) = app
        .get("/api/v1/stats/borrowing?by=patron_type", Some(&bcu))
        .await;
    assert_eq!(st, 200, "{v}");
    let phd = group(&v, "phd");
    assert_eq!(
        (phd["requests"].as_u64(), phd["filled"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(phd["fill_rate"], 1.0);
    let shipped = &phd["stages"][1];
    assert_eq!(shipped["stage"], "sent_to_shipped");
    let hours = shipped["median_hours"].as_f64().unwrap();
    assert!((hours - 5.0).abs() < 0.01, "{phd}");
    let faculty = group(&v, "faculty");
    assert_eq!(
        (faculty["unfilled"].as_u64(), faculty["fill_rate"].as_f64()),
        (Some(1), Some(0.0))
    );
    assert_eq!(faculty["unfilled_reasons"], json!({"NotOnShelf": 1}));
    let all = group(&v, "all");
    assert_eq!(
        (all["requests"].as_u64(), all["fill_rate"].as_f64()),
        (Some(3), Some(0.5))
    );

    // How the requests came in, and the top journals (loans have none).
    let (_, v) = app
        .get("/api/v1/stats/borrowing?by=source", Some(&bcu))
        .await;
    assert_eq!(group(&v, "api")["requests"], 2);
    assert_eq!(group(&v, "openurl")["requests"], 1);
    let (_, v) = app
        .get("/api/v1/stats/borrowing?by=journal&top=5", Some(&bcu))
        .await;
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Nature", "all"]);

    // CSV with a byte order mark and one row per group; `lender` is the older name of
    // `partner`.
    let (st, ct, body) = raw(&app, "/api/v1/stats/borrowing?by=lender&format=csv", &bcu).await;
    assert_eq!((st, ct.as_str()), (200, "text/csv; charset=utf-8"));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with("\u{feff}partner,requests,filled"),
        "{text}"
    );
    assert!(text.contains("\r\nXNU,2,1,1,0,0.50,"), "{text}");
    assert!(text.contains("NotOnShelf: 1"), "{text}");

    // XLSX: a zip container.
    let (st, ct, body) = raw(&app, "/api/v1/stats/borrowing?by=month&format=xlsx", &bcu).await;
    assert_eq!(st, 200);
    assert_eq!(
        ct,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(body.starts_with(b"PK"));

    // The hub's view counts the hub and its members, for hub admins only, and names no
    // other library's readers.
    let (st, _) = app
        .get("/api/v1/stats/borrowing?scope=hub", Some(&bcu))
        .await;
    assert_eq!(st, 403);
    let hub = app.login("hub-admin").await;
    let (st, v) = app
        .get("/api/v1/stats/borrowing?scope=hub&by=library", Some(&hub))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(group(&v, "BCU")["requests"], 3);
    assert_eq!(group(&v, "all")["requests"], 3);
    let (st, v) = app
        .get("/api/v1/stats/borrowing?scope=hub&by=reader", Some(&hub))
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["fields"][0]["field"], "by", "{v}");

    // Bad parameters are named; readers see no statistics.
    let (st, err) = app
        .get(
            "/api/v1/stats/borrowing?by=colour&from=2026-13-01&top=0&scope=planet&format=pdf",
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
    assert_eq!(fields, ["by", "from", "format", "top", "scope"]);
    let (st, err) = app
        .get(
            "/api/v1/stats/borrowing?from=2026-03-02&to=2026-03-01",
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(err["error"]["fields"][0]["field"], "to");
    let reader = app.login("bcu-phd").await;
    let (st, _) = app.get("/api/v1/stats/borrowing", Some(&reader)).await;
    assert_eq!(st, 403);

    // The page: a chart named for screen readers beside a table, in the page's language.
    let staff = web_login(&app, "bcu-borrow").await;
    let en = format!("{staff}; librelay_lang=en");
    let page = web_get(&app, "/staff/stats?by=patron_type", Some(&en)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains(r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img""#)
    );
    assert!(
        page.body
            .contains(r#"<title id="chart-groups-t">Requests and fills · Reader type</title>"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("PhD student"));
    assert!(page.body.contains("Turnaround per stage"));
    assert!(page.body.contains("<table>"));
    assert!(
        page.body
            .contains("/staff/stats/export?format=xlsx&#38;by=patron_type"),
        "{}",
        page.body
    );
    let zh = format!("{staff}; librelay_lang=zh-CN");
    let page = web_get(&app, "/staff/stats?by=patron_type", Some(&zh)).await;
    assert!(page.body.contains("博士生") && page.body.contains("各环节用时"));
    let bad = web_get(&app, "/staff/stats?top=many", Some(&en)).await;
    assert_eq!(bad.status, 422);
    let file = web_get(&app, "/staff/stats/export?format=csv&by=journal", Some(&en)).await;
    assert_eq!(file.status, 200);
    assert!(file.body.starts_with("\u{feff}journal,"), "{}", file.body);

    // Both resources are in the OpenAPI document, with their shapes.
    let (_, doc) = app.get("/api/openapi.json", None).await;
    for p in ["/api/v1/stats/borrowing", "/api/v1/stats/partners"] {
        assert!(doc["paths"].get(p).is_some(), "OpenAPI lacks {p}");
    }
    let schemas = &doc["components"]["schemas"];
    for s in [
        "GroupStatsDoc",
        "StageStatDoc",
        "PartnerEvaluation",
        "PartnerScore",
    ] {
        assert!(schemas.get(s).is_some(), "OpenAPI lacks the schema {s}");
    }
}

#[tokio::test]
async fn statistics_count_fills_reasons_sources_and_stage_times_from_the_history() {
    for e in engines() {
        statistics(e).await;
    }
}

async fn evaluation(engine: Engine) {
    let app = TestApp::spawn_with(engine, |c| c.routing_history_secs = 0).await;
    history(&app).await;
    let bcu = app.login("bcu-borrow").await;
    // One more loan now waits for XNU's answer: its load.
    loan(&app, "bcu-master", &bcu, "Waiting book").await;

    let admin = app.login("bcu-admin").await;
    let (st, v) = app.get("/api/v1/stats/partners", Some(&admin)).await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v["explanation"]
            .as_str()
            .unwrap()
            .contains("fill rate 40 %")
    );
    assert!(
        v["explanation_zh"]
            .as_str()
            .unwrap()
            .contains("满足率占 40%")
    );
    let partners = v["partners"].as_array().unwrap();
    let xnu = partners.iter().find(|p| p["library"] == "XNU").unwrap();
    assert_eq!(
        (
            xnu["asked"].as_u64(),
            xnu["filled"].as_u64(),
            xnu["unfilled"].as_u64(),
            xnu["open_now"].as_u64()
        ),
        (Some(3), Some(1), Some(1), Some(1)),
        "{xnu}"
    );
    assert_eq!(xnu["on_time"], 2);
    assert_eq!(xnu["fill_rate"], 0.5);
    let score = xnu["score"].as_u64().unwrap();
    assert!(score > 0 && score <= 100);
    assert!(partners.iter().all(|p| p["library"] != "BCU"));
    let scores: Vec<u64> = partners
        .iter()
        .map(|p| p["score"].as_u64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    let (st, _) = app.get("/api/v1/stats/partners", Some(&bcu)).await;
    assert_eq!(st, 403);

    let cookie = web_login(&app, "bcu-admin").await;
    let page = web_get(
        &app,
        "/admin/evaluation",
        Some(&format!("{cookie}; librelay_lang=en")),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"<title id="chart-partners-t">"#));
    assert!(page.body.contains("The capability score (0 to 100)"));
    let page = web_get(
        &app,
        "/admin/evaluation",
        Some(&format!("{cookie}; librelay_lang=zh-CN")),
    )
    .await;
    assert!(page.body.contains("能力评分（0–100）"));
}

#[tokio::test]
async fn partner_evaluation_scores_each_lender_from_its_history_and_open_requests() {
    for e in engines() {
        evaluation(e).await;
    }
}

async fn generated_year(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let now = app.state.now();
    // The demo's year of history, written in bulk.
    let n = server::traffic::generate(&app.state, 400, now, true, "gen", |_, _| {})
        .await
        .unwrap();
    assert_eq!(n, 400);
    let hub = app.login("hub-admin").await;
    let from = (now - time::Duration::days(370)).date();
    let (st, v) = app
        .get(
            &format!("/api/v1/stats/borrowing?scope=hub&by=month&from={from}"),
            Some(&hub),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let all = group(&v, "all");
    assert_eq!(all["requests"], 400);
    let rate = all["fill_rate"].as_f64().unwrap();
    assert!((0.5..0.98).contains(&rate), "{all}");
    assert!(v.as_array().unwrap().len() >= 10, "a group a month: {v}");
    for stage in all["stages"].as_array().unwrap() {
        assert!(stage["n"].as_u64().unwrap() > 0, "{stage}");
        assert!(stage["p90_hours"].as_f64() >= stage["median_hours"].as_f64());
    }
    let (_, v) = app
        .get(
            &format!("/api/v1/stats/borrowing?scope=hub&by=journal&top=5&from={from}"),
            Some(&hub),
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 6, "{v}");
    let (_, v) = app
        .get(
            &format!("/api/v1/stats/borrowing?scope=hub&by=partner&from={from}"),
            Some(&hub),
        )
        .await;
    assert!(group(&v, "all")["unfilled_reasons"]["deadline_passed"].as_u64() > Some(0));
    // Routing and partner evaluation read the same history.
    let (_, ev) = app.get("/api/v1/stats/partners", Some(&hub)).await;
    let asked: u64 = ev["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["asked"].as_u64().unwrap())
        .sum();
    assert!(asked > 300, "{ev}");
}

#[tokio::test]
async fn a_generated_year_of_traffic_fills_every_view() {
    for e in engines() {
        generated_year(e).await;
    }
}

async fn same_as_from_events(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let now = app.state.now();
    let store = &app.state.store;
    // A year of generated traffic, recent requests still open, summarised once …
    server::traffic::generate(&app.state, 600, now, false, "mix", |_, _| {})
        .await
        .unwrap();
    assert_eq!(store.refresh_request_facts(now).await.unwrap(), 600);
    let year = store::StatScope {
        library_id: None,
        members: false,
        from: now - time::Duration::days(400),
        to: now + time::Duration::days(30),
    };
    let recent = store::StatScope {
        from: now - time::Duration::days(75),
        to: now - time::Duration::days(5),
        ..year.clone()
    };
    let mut scopes = Vec::new();
    for period in [&year, &recent] {
        scopes.push(period.clone());
        scopes.push(store::StatScope {
            library_id: Some("HUB".to_owned()),
            members: true,
            ..period.clone()
        });
        scopes.push(store::StatScope {
            library_id: Some("BCU".to_owned()),
            members: false,
            ..period.clone()
        });
    }
    // On SQLite each library's months are packed into blocks once built: the reports read
    // every month from its rows, from blocks, from both after changes, and after a library's
    // time moved its requests into other months.
    let sqlite = matches!(engine, Engine::Sqlite);
    same_reports(store, &scopes, engine, "rows").await;
    let built = store.build_all_stat_blocks().await.unwrap();
    assert_eq!(built > 0, sqlite, "{engine:?}: {built} months packed");
    same_reports(store, &scopes, engine, "blocks").await;
    // Requests made and answered through the workflow after that summary, which the next
    // refresh picks up.
    history(&app).await;
    store.refresh_request_facts(app.state.now()).await.unwrap();
    same_reports(store, &scopes, engine, "blocks and changed months").await;
    store
        .write(|tx| {
            Box::pin(async move {
                let offset = domain::library::LibraryOffset::from_minutes(-5 * 60).unwrap();
                tx.set_library_offset("BCU", offset).await
            })
        })
        .await
        .unwrap();
    same_reports(store, &scopes, engine, "after a library's time changed").await;
    store.build_all_stat_blocks().await.unwrap();
    same_reports(store, &scopes, engine, "rebuilt").await;
    // The whole year counts every request, in more than one group.
    let by_month = store
        .stat_report(&year, store::StatKey::Month, None)
        .await
        .unwrap();
    assert_eq!(by_month.last().unwrap().requests, 603);
    assert!(by_month.len() > 10, "{by_month:?}");
}

/// Every report over `scopes` is the same from the summaries as from the events.
async fn same_reports(
    store: &store::Store,
    scopes: &[store::StatScope],
    engine: Engine,
    when: &str,
) {
    for scope in scopes {
        for key in store::StatKey::ALL {
            for top in [None, Some(3)] {
                let fast = store.stat_report(scope, *key, top).await.unwrap();
                let plain = store
                    .stat_report_from_events(scope, *key, top)
                    .await
                    .unwrap();
                assert_eq!(
                    fast,
                    plain,
                    "{engine:?} {when}: {scope:?} by {}",
                    key.as_str()
                );
                let all = fast.last().unwrap();
                assert_eq!(all.group, "all");
            }
        }
    }
}

#[tokio::test]
async fn reports_from_the_summaries_match_the_reports_computed_from_the_events() {
    for e in engines() {
        same_as_from_events(e).await;
    }
}

/// Scalar `sql` on the app's own PostgreSQL database, behind its back.
async fn pg_scalar(app: &TestApp, sql: &'static str) -> i64 {
    let url = app.state.config.store_config().url;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let v: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    v
}

/// Run `sql` on the app's own database, behind its back.
async fn exec_raw(app: &TestApp, sql: &'static str) {
    let url = app.state.config.store_config().url;
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn catching_up(engine: Engine) {
    // No job of its own: the test runs it.
    let app = TestApp::spawn_with(engine, |c| c.background_jobs = false).await;
    let now = app.state.now();
    let store = &app.state.store;
    // As after an upgrade: a history of requests and events, and no summary of them.
    server::traffic::generate(&app.state, 2_500, now, false, "upg", |_, _| {})
        .await
        .unwrap();
    let hub = app.login("hub-admin").await;
    // The hub's days: a report's period runs from its midnight to its midnight.
    let offset = store.library("HUB").await.unwrap().offset();
    let from = offset.date(now - time::Duration::days(400));
    let to = offset.date(now);
    let path = format!("/api/v1/stats/borrowing?scope=hub&by=month&from={from}&to={to}");

    // A report does not summarise them all itself: it answers at once with what is
    // summarised (nothing yet) and how far that is, in both languages.
    let (st, v) = app.get(&path, Some(&hub)).await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["preparing"]["summarised"], 0, "{v}");
    assert_eq!(v["preparing"]["total"], 2_500, "{v}");
    let en = v["preparing"]["message"].as_str().unwrap();
    assert!(
        en.starts_with("Statistics are being prepared: 0 of 2500 requests summarised"),
        "{en}"
    );
    let zh = v["preparing"]["message_zh"].as_str().unwrap();
    assert!(
        zh.contains("统计数据正在准备中：已汇总 0 / 2500 个请求"),
        "{zh}"
    );
    assert_eq!(
        v["groups"].as_array().unwrap().last().unwrap()["requests"],
        0
    );
    // A file, which could not say so to whoever opens it, is refused until the figures are
    // whole, in both languages.
    let resp = app
        .client
        .get(format!("{}{path}&format=csv", app.base))
        .bearer_auth(&hub)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let e: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "statistics_preparing", "{e}");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Statistics are being prepared"), "{e}");
    let zh = e["error"]["message_zh"].as_str().unwrap_or_default();
    assert!(zh.contains("统计数据正在准备中"), "{e}");

    // The page says it too, in the reader's language.
    let staff = web_login(&app, "hub-admin").await;
    let page = web_get(
        &app,
        &format!("/staff/stats?scope=hub&by=month&from={from}&to={to}"),
        Some(&format!("{staff}; librelay_lang=zh-CN")),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("统计数据正在准备中：已汇总 0 ") && page.body.contains("2500 个请求"),
        "{}",
        page.body
    );

    // One step of the job: a page summarised, in its own short transactions.
    let step = store
        .refresh_request_facts_step(app.state.now())
        .await
        .unwrap();
    assert_eq!(step.summarised, 2_000);
    let pending = store.request_facts_pending().await.unwrap().unwrap();
    assert_eq!((pending.done, pending.total), (2_000, 2_500));

    // The job run to the end: the report is whole, and the same as computed from the events.
    let n = server::jobs::summarise_for_statistics(&app.state)
        .await
        .unwrap();
    // The rest of the pass; then, since the pass began before this call, one more pass over
    // what changed after its mark. On PostgreSQL a mark is the oldest transaction still
    // running in the whole cluster, so another database's open transaction (a test beside
    // this one) may hold it before this test's events: that pass then summarises them all
    // again, which changes no figure.
    assert!(n == 500 || n == 3_000, "{n}");
    let (st, v) = app.get(&path, Some(&hub)).await;
    assert_eq!(st, 200, "{v}");
    let scope = store::StatScope {
        library_id: Some("HUB".to_owned()),
        members: true,
        from: offset.start_of(from),
        to: offset.start_of(to) + time::Duration::days(1),
    };
    let plain = store
        .stat_report_from_events(&scope, store::StatKey::Month, None)
        .await
        .unwrap();
    let fast = store
        .stat_report(&scope, store::StatKey::Month, None)
        .await
        .unwrap();
    assert_eq!(fast, plain, "{engine:?}");
    // The API's figures are those (compared as counts: floats read back from JSON text may
    // differ in their last bit).
    let counts = |g: &Value| {
        (
            g["group"].as_str().unwrap().to_owned(),
            ["requests", "filled", "unfilled", "cancelled"].map(|k| g[k].as_u64().unwrap()),
        )
    };
    let api: Vec<_> = v.as_array().unwrap().iter().map(counts).collect();
    let expected: Vec<_> = serde_json::to_value(&plain)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(counts)
        .collect();
    assert_eq!(api, expected, "{engine:?}");
    assert_eq!(group(&v, "all")["requests"], 2_500);
}

#[tokio::test]
async fn a_report_after_an_upgrade_answers_at_once_while_the_job_catches_up() {
    for e in engines() {
        catching_up(e).await;
    }
}

async fn same_ids(engine: Engine) {
    let app = TestApp::spawn_with(engine, |c| c.background_jobs = false).await;
    let now = app.state.now();
    let store = &app.state.store;
    server::traffic::generate(&app.state, 300, now, false, "ids", |_, _| {})
        .await
        .unwrap();
    assert_eq!(store.refresh_request_facts(now).await.unwrap(), 300);
    let ids = "SELECT COALESCE(MAX(value_id), 0) FROM stat_value";
    let seq = "SELECT COALESCE(last_value, 0) FROM pg_sequences WHERE sequencename = 'stat_value_value_id_seq'";
    let (max, last) = (pg_scalar(&app, ids).await, pg_scalar(&app, seq).await);
    assert!(max > 10, "{max}");
    // Every request summarised again, with the same keys.
    exec_raw(&app, "DELETE FROM stat_mark").await;
    assert_eq!(store.refresh_request_facts(now).await.unwrap(), 300);
    assert_eq!(pg_scalar(&app, ids).await, max);
    assert_eq!(pg_scalar(&app, seq).await, last, "identity values used up");
}

#[tokio::test]
async fn summarising_the_same_keys_again_uses_no_new_ids_on_postgresql() {
    for e in engines() {
        if e == Engine::Postgres {
            same_ids(e).await;
        }
    }
}

/// The summaries of every request against the reports computed from the events, by month and
/// by partner, over every library.
async fn summaries_match_events(app: &TestApp, engine: Engine) {
    let scope = store::StatScope {
        library_id: None,
        members: false,
        from: app.state.now() - time::Duration::days(400),
        to: app.state.now() + time::Duration::days(400),
    };
    let store = &app.state.store;
    for key in [store::StatKey::Month, store::StatKey::Partner] {
        let fast = store.stat_report(&scope, key, None).await.unwrap();
        let plain = store
            .stat_report_from_events(&scope, key, None)
            .await
            .unwrap();
        assert_eq!(fast, plain, "{engine:?} by {}", key.as_str());
    }
}

async fn one_process_at_a_time(engine: Engine) {
    let app = TestApp::spawn_with(engine, |c| c.background_jobs = false).await;
    let now = app.state.now();
    server::traffic::generate(&app.state, 300, now, false, "lease", |_, _| {})
        .await
        .unwrap();
    // A second process on the same database.
    let mine = app.state.store.clone();
    let other = store::Store::open(&app.state.config.store_config())
        .await
        .unwrap();

    // Both run the job at once: one does the whole pass, the other skips it, no error.
    let (a, b) = tokio::join!(
        mine.refresh_request_facts(now),
        other.refresh_request_facts(now)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a + b, a.min(b)), (300, 0), "{engine:?}: {a} and {b}");
    summaries_match_events(&app, engine).await;
    let (holder, waiting) = if a == 300 {
        (&mine, &other)
    } else {
        (&other, &mine)
    };

    // The holder keeps it while it runs the job; the other skips its rounds …
    for _ in 0..2 {
        let step = waiting.refresh_request_facts_step(now).await.unwrap();
        assert!(step.held_elsewhere, "{engine:?}");
        let step = holder.refresh_request_facts_step(now).await.unwrap();
        assert!(!step.held_elsewhere, "{engine:?}");
    }
    // … whatever the processes' own clocks say: the lease runs on the database's clock.
    let step = waiting
        .refresh_request_facts_step(now + time::Duration::days(1))
        .await
        .unwrap();
    assert!(
        step.held_elsewhere,
        "{engine:?}: a clock ahead took the lease"
    );
    // Once the holder stops (a process that died), its lease runs out and the other takes it.
    exec_raw(
        &app,
        "UPDATE job_lease SET lease_until = clock_timestamp() - interval '1 second'",
    )
    .await;
    let step = waiting.refresh_request_facts_step(now).await.unwrap();
    assert!(!step.held_elsewhere, "{engine:?}");
    let step = holder.refresh_request_facts_step(now).await.unwrap();
    assert!(step.held_elsewhere, "{engine:?}");
}

#[tokio::test]
async fn one_process_at_a_time_runs_the_statistics_job_and_a_dead_one_lets_go() {
    // Several processes share a database only on PostgreSQL.
    for e in engines() {
        if e == Engine::Postgres {
            one_process_at_a_time(e).await;
        }
    }
}

/// A restarted process runs the job at once: on SQLite (one process per file) it does not
/// wait for the lease of the process it replaced.
#[tokio::test]
async fn a_restarted_sqlite_store_runs_the_statistics_job_at_once() {
    let app = TestApp::spawn_with(Engine::Sqlite, |c| c.background_jobs = false).await;
    let now = app.state.now();
    server::traffic::generate(&app.state, 30, now, false, "restart", |_, _| {})
        .await
        .unwrap();
    let before = app.state.store.refresh_request_facts(now).await.unwrap();
    assert_eq!(before, 30);
    server::traffic::generate(&app.state, 20, now, false, "restart2", |_, _| {})
        .await
        .unwrap();
    // The same file opened again, as after a restart.
    let again = store::Store::open(&app.state.config.store_config())
        .await
        .unwrap();
    // Held back by the former process's lease, it would summarise nothing.
    let n = again.refresh_request_facts(now).await.unwrap();
    assert!(n >= 20, "{n}");
}

async fn late_commit(engine: Engine) {
    // The workflow needs the outbox job; the statistics job runs once, at the start.
    let app = TestApp::spawn(engine).await;
    let now = app.state.now();
    let store = &app.state.store;
    server::traffic::generate(&app.state, 50, now, false, "late", |_, _| {})
        .await
        .unwrap();
    // A pass that began long after the time the next events are stamped with: as if the
    // transactions that write them took their time before it and committed after it.
    let pass = now + time::Duration::days(30);
    assert_eq!(store.refresh_request_facts(pass).await.unwrap(), 50);
    history(&app).await;
    let n = store
        .refresh_request_facts(pass + time::Duration::minutes(1))
        .await
        .unwrap();
    assert!(n >= 2, "{engine:?}: {n}");
    summaries_match_events(&app, engine).await;
}

#[tokio::test]
async fn events_that_commit_after_a_pass_are_summarised_by_the_next_whatever_their_time() {
    for e in engines() {
        late_commit(e).await;
    }
}

/// A database restored into another PostgreSQL cluster keeps the mark of the old one, a
/// transaction id the new cluster has not reached: the mark is dropped and every request
/// summarised again, instead of every new event being hidden behind it.
#[tokio::test]
async fn a_mark_from_another_postgresql_cluster_starts_a_full_pass() {
    for e in engines() {
        if e != Engine::Postgres {
            continue;
        }
        let app = TestApp::spawn_with(e, |c| c.background_jobs = false).await;
        let now = app.state.now();
        let store = &app.state.store;
        server::traffic::generate(&app.state, 40, now, false, "restore", |_, _| {})
            .await
            .unwrap();
        assert_eq!(store.refresh_request_facts(now).await.unwrap(), 40);
        exec_raw(&app, "UPDATE stat_mark SET seq = 9000000000000").await;
        server::traffic::generate(&app.state, 10, now, false, "restored", |_, _| {})
            .await
            .unwrap();
        assert_eq!(store.refresh_request_facts(now).await.unwrap(), 50);
        summaries_match_events(&app, e).await;
    }
}
