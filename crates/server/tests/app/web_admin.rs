//! The admin and review pages, driven as a browser would: reader registration and approval,
//! users and roles, partners, settings, and copyright clearance on a request's page. Each
//! change made through a page is checked through the JSON API.

use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, engines};
use crate::web::{get, post_form, web_login};

fn zh(cookie: &str) -> String {
    format!("{cookie}; librelay_lang=zh-CN")
}

/// The text of the error paragraph with `id`, or "" when the page has none.
fn error_text(body: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}">"#);
    body.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or_default()
        .to_owned()
}

async fn registration(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let login = get(&app, "/login", None).await;
    assert!(login.body.contains(r#"href="/register""#), "{}", login.body);
    let form = get(&app, "/register", None).await;
    assert_eq!(form.status, 200);
    let form_zh = get(&app, "/register", Some("librelay_lang=zh-CN")).await;
    assert!(form_zh.body.contains("读者注册"));
    assert!(!form_zh.body.contains("Register as a reader"));
    assert!(
        form.body.contains(r#"<option value="BCU""#),
        "{}",
        form.body
    );

    // A bad username comes back next to its field, in Chinese, with what was typed kept.
    let fields = |username: &'static str| {
        vec![
            ("library", "BCU"),
            ("username", username),
            ("display_name", "王小明"),
            ("email", "wxm@bcu.example.edu"),
            ("password", "a-long-password"),
            ("patron_type", "master"),
            ("department", "历史系"),
            ("locale", "zh-CN"),
        ]
    };
    let bad = post_form(&app, "/register", Some("librelay_lang=zh-CN"), &fields("x")).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    let err = error_text(&bad.body, "register-e-username");
    assert!(err.contains("用户名应为 3 至 64"), "{err} in {}", bad.body);
    assert!(bad.body.contains(r#"value="王小明""#));
    assert!(bad.body.contains(r#"<html lang="zh-CN">"#));

    let ok = post_form(&app, "/register", None, &fields("wang.xiaoming")).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location(), "/login?registered=1");
    let taken = post_form(&app, "/register", None, &fields("wang.xiaoming")).await;
    assert_eq!(taken.status, 422);
    assert!(error_text(&taken.body, "register-e-username").contains("taken"));

    // Not yet approved: the login is refused with the reason.
    let early = post_form(
        &app,
        "/login",
        None,
        &[
            ("username", "wang.xiaoming"),
            ("password", "a-long-password"),
        ],
    )
    .await;
    assert_eq!(early.status, 401);
    assert!(
        early.body.contains("waiting for approval"),
        "{}",
        early.body
    );

    // Lending staff and readers do not approve readers; the menu shows it to borrowing staff.
    let lend = web_login(&app, "bcu-lend").await;
    assert_eq!(get(&app, "/staff/readers", Some(&lend)).await.status, 403);
    let reader = web_login(&app, "bcu-faculty").await;
    assert_eq!(get(&app, "/staff/readers", Some(&reader)).await.status, 403);
    let staff = web_login(&app, "bcu-borrow").await;
    let list = get(&app, "/staff/readers", Some(&staff)).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains(r#"href="/staff/readers""#));
    assert!(list.body.contains("wang.xiaoming"), "{}", list.body);
    // Another library's staff do not see the registration.
    let other = web_login(&app, "xnu-borrow").await;
    let theirs = get(&app, "/staff/readers", Some(&other)).await;
    assert!(!theirs.body.contains("wang.xiaoming"));

    let id = app
        .state
        .store
        .user_by_username("wang.xiaoming")
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let approve = format!("/staff/readers/{id}/approve");
    assert!(list.body.contains(&format!(r#"action="{approve}""#)));
    let done = post_form(&app, &approve, Some(&staff), &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let after = get(&app, "/staff/readers?done=approved", Some(&staff)).await;
    assert!(!after.body.contains("wang.xiaoming"));

    // The new reader logs in and finds their pages.
    let new = post_form(
        &app,
        "/login",
        None,
        &[
            ("username", "wang.xiaoming"),
            ("password", "a-long-password"),
        ],
    )
    .await;
    assert_eq!(new.status, 303, "{}", new.body);
    let token = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "wang.xiaoming", "password": "a-long-password"}),
            None,
        )
        .await;
    assert_eq!(token.0, 200, "{}", token.1);
    let (_, me) = app
        .get("/api/v1/me", Some(token.1["token"].as_str().unwrap()))
        .await;
    assert_eq!(me["username"], "wang.xiaoming", "{me}");
}

#[tokio::test]
async fn a_reader_registers_staff_approve_and_the_reader_logs_in() {
    for engine in engines() {
        registration(engine).await;
    }
}

#[tokio::test]
async fn an_admin_adds_staff_changes_their_roles_and_disables_them() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let borrow = web_login(&app, "bcu-borrow").await;
    let page = get(&app, "/staff/borrowing", Some(&borrow)).await;
    assert!(!page.body.contains(r#"href="/admin""#));
    assert_eq!(get(&app, "/admin/users", Some(&borrow)).await.status, 403);

    let admin = web_login(&app, "bcu-admin").await;
    let users = get(&app, "/admin/users", Some(&admin)).await;
    assert_eq!(users.status, 200);
    assert!(users.body.contains(r#"href="/admin""#));
    assert!(users.body.contains("bcu-lend"));
    assert!(
        !users.body.contains("xnu-lend"),
        "another library's accounts"
    );
    // Only a hub admin makes hub admins.
    assert!(!users.body.contains(r#"value="hub_admin""#));

    let no_role = post_form(
        &app,
        "/admin/users",
        Some(&zh(&admin)),
        &[
            ("username", "bcu-night"),
            ("display_name", "夜班馆员"),
            ("password", "night-shift-pw"),
        ],
    )
    .await;
    assert_eq!(no_role.status, 422);
    assert!(error_text(&no_role.body, "new-staff-e-roles").contains("角色为必填项"));
    assert!(no_role.body.contains(r#"value="夜班馆员""#));

    let created = post_form(
        &app,
        "/admin/users",
        Some(&admin),
        &[
            ("username", "bcu-night"),
            ("display_name", "Night shift"),
            ("password", "night-shift-pw"),
            ("roles", "lending_operator"),
        ],
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let night = web_login_with(&app, "bcu-night", "night-shift-pw").await;
    assert_eq!(
        get(&app, "/start", Some(&night)).await.location(),
        "/staff/lending"
    );

    let id = app
        .state
        .store
        .user_by_username("bcu-night")
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let changed = post_form(
        &app,
        &format!("/admin/users/{id}/roles"),
        Some(&admin),
        &[("roles", "borrowing_operator")],
    )
    .await;
    assert_eq!(changed.status, 303);
    assert_eq!(
        get(&app, "/start", Some(&night)).await.location(),
        "/staff/borrowing"
    );

    let disabled = post_form(
        &app,
        &format!("/admin/users/{id}/disable"),
        Some(&admin),
        &[],
    )
    .await;
    assert_eq!(disabled.status, 303);
    assert_eq!(
        get(&app, "/staff/borrowing", Some(&night)).await.status,
        303,
        "the session ends"
    );

    // A refused role change comes back on its own row, in the page's language.
    let none = post_form(
        &app,
        &format!("/admin/users/{id}/roles"),
        Some(&zh(&admin)),
        &[],
    )
    .await;
    assert_eq!(none.status, 422);
    assert!(
        error_text(&none.body, &format!("roles-{id}-e-roles")).contains("角色为必填项"),
        "{}",
        none.body
    );
    let admin_id = app
        .state
        .store
        .user_by_username("bcu-admin")
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let drop_own = post_form(
        &app,
        &format!("/admin/users/{admin_id}/roles"),
        Some(&admin),
        &[("roles", "borrowing_operator")],
    )
    .await;
    assert_eq!(drop_own.status, 422);
    assert!(
        error_text(&drop_own.body, &format!("roles-{admin_id}-e-roles")).contains("own admin role"),
        "{}",
        drop_own.body
    );
    assert!(
        drop_own
            .body
            .contains(r#"value="borrowing_operator" checked"#)
    );

    // The JSON API shows the same accounts and refuses the same things.
    let api = app.login("bcu-admin").await;
    let (st, list) = app.get("/api/v1/users", Some(&api)).await;
    assert_eq!(st, 200);
    let night = list
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bcu-night")
        .unwrap()
        .clone();
    assert_eq!(night["roles"], json!(["borrowing_operator"]), "{night}");
    assert_eq!(night["status"], "suspended", "{night}");
    let (st, body) = app
        .put_json(
            &format!("/api/v1/users/{id}/roles"),
            json!({"roles": ["hub_admin"]}),
            &api,
        )
        .await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(
        body["error"]["fields"][0]["code"], "hub_admin_only",
        "{body}"
    );
    let borrow_api = app.login("bcu-borrow").await;
    let (st, _) = app.get("/api/v1/users", Some(&borrow_api)).await;
    assert_eq!(st, 403);
    let (st, made) = app
        .post(
            "/api/v1/users",
            json!({"username": "bcu-day", "display_name": "Day", "password": "day-shift-pw", "roles": ["lending_operator"]}),
            Some(&api),
        )
        .await;
    assert_eq!(st, 201, "{made}");
    assert_eq!(made["kind"], "staff");

    // An admin cannot disable themselves.
    let me = app
        .state
        .store
        .user_by_username("bcu-admin")
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let own = post_form(
        &app,
        &format!("/admin/users/{me}/disable"),
        Some(&admin),
        &[],
    )
    .await;
    assert_eq!(own.status, 422);
    assert_eq!(get(&app, "/admin/users", Some(&admin)).await.status, 200);
}

async fn web_login_with(app: &TestApp, username: &str, password: &str) -> String {
    let p = post_form(
        app,
        "/login",
        None,
        &[("username", username), ("password", password)],
    )
    .await;
    assert_eq!(p.status, 303, "login {username}: {}", p.body);
    p.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("librelay_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The value of input `name` in a form with id `form` on the page.
fn input_value(body: &str, form: &str, name: &str) -> String {
    let marker = format!(r#"id="{form}-{name}" name="{name}""#);
    body.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split(r#"value=""#).nth(1))
        .and_then(|v| v.split('"').next())
        .unwrap_or_default()
        .replace("&amp;", "&")
        .replace("&#x27;", "'")
}

async fn partner_edit(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let lend = web_login(&app, "bcu-lend").await;
    assert_eq!(get(&app, "/admin/partners", Some(&lend)).await.status, 403);
    let admin = web_login(&app, "bcu-admin").await;
    let list = get(&app, "/admin/partners", Some(&admin)).await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains(r#"href="/admin/partners/XNU""#),
        "{}",
        list.body
    );
    let form = get(&app, "/admin/partners/XNU", Some(&admin)).await;
    assert_eq!(form.status, 200);
    let field = |n: &str| input_value(&form.body, "partner", n);
    let (agency, name_en, name_zh) = (field("agency"), field("name_en"), field("name_zh"));
    assert!(agency.contains(':'), "{agency}");

    let send = |loan_days: &'static str| {
        let (agency, name_en, name_zh) = (agency.clone(), name_en.clone(), name_zh.clone());
        let admin = admin.clone();
        let app = &app;
        async move {
            post_form(
                app,
                "/admin/partners/XNU",
                Some(&zh(&admin)),
                &[
                    ("code", "XNU"),
                    ("agency", &agency),
                    ("name_en", &name_en),
                    ("name_zh", &name_zh),
                    ("kind", "university"),
                    ("services", "loan"),
                    ("services", "copy"),
                    ("currency", "CNY"),
                    ("copy_fee", "3.50"),
                    ("loan_days", loan_days),
                    ("answer_days", "2"),
                    ("closed_weekdays", "sunday"),
                    ("active", "on"),
                ],
            )
            .await
        }
    };
    // A bad value is named next to its field, in Chinese, and the typed value stays.
    let bad = send("九十").await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    let err = error_text(&bad.body, "partner-e-loan_days");
    assert!(err.contains("借期天数超出允许范围"), "{err}");
    assert!(bad.body.contains(r#"value="九十""#));

    let ok = send("21").await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location(), "/admin/partners?done=saved");

    // The JSON API shows what XNU now grants BCU.
    let token = app.login("bcu-borrow").await;
    let (st, libs) = app.get("/api/v1/libraries", Some(&token)).await;
    assert_eq!(st, 200);
    let xnu = libs
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["code"] == "XNU")
        .unwrap()
        .clone();
    let terms = &xnu["lends_to_us"];
    assert_eq!(terms["loan_days"], 21, "{xnu}");
    assert_eq!(terms["answer_days"], 2, "{xnu}");
    assert_eq!(terms["copy_fee"]["minor"], 350, "{xnu}");
    assert_eq!(xnu["name_en"], Value::String(name_en.clone()));
}

#[tokio::test]
async fn a_partner_edited_through_the_form_shows_in_the_api() {
    for engine in engines() {
        partner_edit(engine).await;
    }
}

async fn clearance(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = web_login(&app, "bcu-admin").await;
    let year = app.state.now().year();

    // The admin sets a limit of one copy per journal and a declaration of the library's own.
    let settings = get(&app, "/admin/copyright", Some(&admin)).await;
    assert_eq!(settings.status, 200);
    let fields = |limit: &'static str| {
        vec![
            ("declaration_zh", "本人承诺：仅供本人科研使用。"),
            ("declaration_en", "I promise: for my own research only."),
            ("limit", limit),
            ("window_years", "5"),
            ("compliance", "CCG"),
            ("duplicate_window_days", "365"),
        ]
    };
    let bad = post_form(&app, "/admin/copyright", Some(&zh(&admin)), &fields("0")).await;
    assert_eq!(bad.status, 422);
    assert!(
        error_text(&bad.body, "copyright-e-limit").contains("超出允许范围"),
        "{}",
        bad.body
    );
    let ok = post_form(&app, "/admin/copyright", Some(&admin), &fields("1")).await;
    assert_eq!(ok.status, 303, "{}", ok.body);

    // The reader's form shows the library's declaration in the reader's language.
    let reader = web_login(&app, "bcu-faculty").await;
    let form = get(&app, "/my/requests/new", Some(&zh(&reader))).await;
    assert!(
        form.body.contains("本人承诺：仅供本人科研使用。"),
        "{}",
        form.body
    );
    let form = get(&app, "/my/requests/new", Some(&reader)).await;
    assert!(form.body.contains("I promise: for my own research only."));

    // The second recent copy from one journal waits for clearance.
    let token = app.login("bcu-faculty").await;
    let mut ids = Vec::new();
    for n in 0..2 {
        let (st, req) = app
            .post(
                "/api/v1/requests",
                json!({"format": "article_copy", "citation": {
                    "title": format!("Clearance study {n}"), "source_title": "Interlending & Document Supply",
                    "issn": "0264-1615", "year": (year - 1).to_string(), "pages": format!("{}-{}", n * 10 + 1, n * 10 + 9),
                    "copyright_declaration": true}}),
                Some(&token),
            )
            .await;
        assert_eq!(st, 201, "{req}");
        ids.push(req["id"].as_str().unwrap().to_owned());
    }
    let id = &ids[1];
    let staff = web_login(&app, "bcu-borrow").await;
    let page = get(&app, &format!("/requests/{id}"), Some(&staff)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(&format!(r#"action="/requests/{id}/clearance""#)),
        "{}",
        page.body
    );
    // Readers see no clearance form on their own request.
    let own = get(&app, &format!("/requests/{id}"), Some(&reader)).await;
    assert!(!own.body.contains("/clearance"));

    // An override without its reason is refused next to the reason's field, in Chinese.
    let refused = post_form(
        &app,
        &format!("/requests/{id}/clearance"),
        Some(&zh(&staff)),
        &[
            ("method", "override"),
            ("note", ""),
            ("royalty", ""),
            ("currency", "CNY"),
        ],
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        error_text(&refused.body, "clearance-e-note").contains("说明为必填项"),
        "{}",
        refused.body
    );
    let bad_amount = post_form(
        &app,
        &format!("/requests/{id}/clearance"),
        Some(&staff),
        &[
            ("method", "royalty_paid"),
            ("note", "CCC"),
            ("royalty", "lots"),
            ("currency", "CNY"),
        ],
    )
    .await;
    assert_eq!(bad_amount.status, 422);
    assert!(!error_text(&bad_amount.body, "clearance-e-royalty").is_empty());
    assert!(bad_amount.body.contains(r#"value="lots""#));

    let royalty_without_paying = post_form(
        &app,
        &format!("/requests/{id}/clearance"),
        Some(&staff),
        &[
            ("method", "permission"),
            ("note", "ref 9"),
            ("royalty", "3.00"),
            ("currency", "CNY"),
        ],
    )
    .await;
    assert_eq!(royalty_without_paying.status, 422);
    assert!(
        error_text(&royalty_without_paying.body, "clearance-e-royalty").contains("royalty_paid"),
        "{}",
        royalty_without_paying.body
    );
    let cleared = post_form(
        &app,
        &format!("/requests/{id}/clearance"),
        Some(&staff),
        &[
            ("method", "royalty_paid"),
            ("note", "CCC invoice 7"),
            ("royalty", "15.00"),
            ("currency", "CNY"),
        ],
    )
    .await;
    assert_eq!(cleared.status, 303, "{}", cleared.body);
    let staff_token = app.login("bcu-borrow").await;
    let (_, req) = app
        .get(&format!("/api/v1/requests/{id}"), Some(&staff_token))
        .await;
    assert_eq!(req["copyright"]["clearance"], "royalty_paid", "{req}");
    let page = get(&app, &format!("/requests/{id}"), Some(&staff)).await;
    assert!(
        !page
            .body
            .contains(&format!(r#"action="/requests/{id}/clearance""#))
    );
    assert!(page.body.contains("15.00 CNY"), "{}", page.body);
}

#[tokio::test]
async fn copyright_is_cleared_through_the_request_page() {
    for engine in engines() {
        clearance(engine).await;
    }
}

#[tokio::test]
async fn other_roles_do_not_reach_the_admin_pages() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let reader = web_login(&app, "bcu-faculty").await;
    let manager = web_login(&app, "bcu-manager").await;
    for path in [
        "/admin",
        "/admin/users",
        "/admin/partners",
        "/admin/partners/XNU",
        "/admin/closed-days",
        "/admin/routing",
        "/admin/copyright",
        "/admin/delivery",
        "/admin/fees",
        "/admin/letters",
        "/admin/letters/request_received/en",
    ] {
        assert_eq!(get(&app, path, Some(&reader)).await.status, 403, "{path}");
        assert_eq!(get(&app, path, Some(&manager)).await.status, 403, "{path}");
    }
    let admin = web_login(&app, "bcu-admin").await;
    assert_eq!(
        get(&app, "/admin/partners/NOPE", Some(&admin)).await.status,
        404
    );
    assert_eq!(
        get(&app, "/admin/partners/BCU", Some(&admin)).await.status,
        404
    );
}

#[tokio::test]
async fn closed_days_and_routing_are_set_through_their_pages() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let admin = web_login(&app, "bcu-admin").await;
    let bad = post_form(
        &app,
        "/admin/closed-days",
        Some(&zh(&admin)),
        &[("weekdays", "sunday"), ("dates", "2026-10-01\n2026-13-01")],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(
        error_text(&bad.body, "closed-e-dates").contains("YYYY-MM-DD"),
        "{}",
        bad.body
    );
    let ok = post_form(
        &app,
        "/admin/closed-days",
        Some(&admin),
        &[("weekdays", "sunday"), ("dates", "2026-10-01\n2026-10-02")],
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let lib = app.state.store.library("BCU").await.unwrap();
    assert_eq!(lib.closed_days.0.dates.len(), 2);
    let page = get(&app, "/admin/closed-days", Some(&admin)).await;
    assert!(page.body.contains("2026-10-02"));

    let bad = post_form(
        &app,
        "/admin/routing",
        Some(&zh(&admin)),
        &[
            ("groups", "1 | Jing-Jin | XNU CPL\nzero | Far | NSD"),
            ("rules", "faculty | loan | free"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(
        error_text(&bad.body, "routing-e-groups").contains("第 2 行"),
        "{}",
        bad.body
    );
    let ok = post_form(
        &app,
        "/admin/routing",
        Some(&admin),
        &[
            ("groups", "1 | Jing-Jin | XNU CPL"),
            ("rules", "faculty | loan | free"),
        ],
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let token = app.login("bcu-admin").await;
    let (_, s) = app.get("/api/v1/routing-settings", Some(&token)).await;
    assert_eq!(s["groups"][0]["members"], json!(["XNU", "CPL"]), "{s}");
    assert_eq!(
        s["unmediated"][0]["patron_types"],
        json!(["faculty"]),
        "{s}"
    );
    assert_eq!(s["unmediated"][0]["first_lender_free"], true);

    let bad = post_form(
        &app,
        "/admin/delivery",
        Some(&zh(&admin)),
        &[("max_views", "11"), ("days", "30")],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(error_text(&bad.body, "delivery-e-max_views").contains("打开次数上限超出允许范围"));
    let ok = post_form(
        &app,
        "/admin/delivery",
        Some(&admin),
        &[("max_views", ""), ("days", "45")],
    )
    .await;
    assert_eq!(ok.status, 303);
    let (_, d) = app.get("/api/v1/delivery-settings", Some(&token)).await;
    assert_eq!(d, json!({"max_views": null, "days": 45}));
}

async fn fees_and_letters(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = web_login(&app, "bcu-admin").await;
    let token = app.login("bcu-admin").await;
    let page = get(&app, "/admin/fees", Some(&admin)).await;
    assert_eq!(page.status, 200);

    let fields = |loan: &'static str, reciprocal: &'static str| {
        vec![
            ("currency", "CNY"),
            ("rates.loan", loan),
            ("rates.copy_flat", "2.00"),
            ("rates.copy_per_page", "0.30"),
            ("rates.express", ""),
            (
                "partner_groups",
                "Region | HTU CPL | 3.00 | 1.00 | 0.10 | 8.00",
            ),
            ("reciprocal_groups", reciprocal),
        ]
    };
    let bad = post_form(
        &app,
        "/admin/fees",
        Some(&zh(&admin)),
        &fields("five", "Twins | XNU"),
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(
        error_text(&bad.body, "fees-e-rates.loan").contains("不是金额"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains(r#"value="five""#));
    // The schedule's own check: a group may not name the lender itself.
    let own = post_form(
        &app,
        "/admin/fees",
        Some(&zh(&admin)),
        &fields("5.00", "Self | BCU"),
    )
    .await;
    assert_eq!(own.status, 422);
    assert!(
        error_text(&own.body, "fees-e-reciprocal_groups").contains("不能包含出借馆自己"),
        "{}",
        own.body
    );
    let ok = post_form(
        &app,
        "/admin/fees",
        Some(&admin),
        &fields("5.00", "Twins | XNU"),
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let (_, fees) = app.get("/api/v1/libraries/BCU/fees", Some(&token)).await;
    let s = &fees["schedule"];
    assert_eq!(s["rates"]["loan"], 500, "{fees}");
    assert_eq!(s["rates"]["copy_per_page"], 30, "{fees}");
    assert_eq!(
        s["partner_groups"][0]["members"],
        json!(["HTU", "CPL"]),
        "{fees}"
    );
    assert_eq!(s["partner_groups"][0]["rates"]["express"], 800, "{fees}");
    assert_eq!(
        s["reciprocal_groups"][0]["members"],
        json!(["XNU"]),
        "{fees}"
    );
    let again = get(&app, "/admin/fees", Some(&admin)).await;
    assert!(again.body.contains(r#"value="5.00""#), "{}", again.body);

    // Letters: a template that cannot work is refused next to its field, naming the line.
    let list = get(&app, "/admin/letters", Some(&admin)).await;
    assert_eq!(list.status, 200);
    assert!(
        list.body
            .contains(r#"href="/admin/letters/request_received/en""#)
    );
    let path = "/admin/letters/request_received/en";
    assert_eq!(get(&app, path, Some(&admin)).await.status, 200);
    let broken = post_form(
        &app,
        path,
        Some(&zh(&admin)),
        &[
            ("subject", "Received"),
            ("body", "Dear {{ reader_name }},\n{% if %}\n"),
        ],
    )
    .await;
    assert_eq!(broken.status, 422, "{}", broken.body);
    let err = error_text(&broken.body, "letter-e-body");
    assert!(err.contains("正文第 2 行"), "{err}");
    assert!(broken.body.contains("{% if %}"));

    let preview = post_form(
        &app,
        path,
        Some(&admin),
        &[
            ("subject", "We have your request, {{ reader_name }}"),
            ("body", "Dear {{ reader_name }},\nthank you."),
            ("do", "preview"),
        ],
    )
    .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(
        preview.body.contains("We have your request, Ann Reader"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("Dear Ann Reader,"));
    let (_, before) = app
        .get(
            "/api/v1/libraries/BCU/letters/request_received/en",
            Some(&token),
        )
        .await;
    assert_eq!(before["custom"], false, "a preview saves nothing");

    let saved = post_form(
        &app,
        path,
        Some(&admin),
        &[
            ("subject", "We have your request, {{ reader_name }}"),
            ("body", "Dear {{ reader_name }},\nthank you."),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let (_, after) = app
        .get(
            "/api/v1/libraries/BCU/letters/request_received/en",
            Some(&token),
        )
        .await;
    assert_eq!(after["custom"], true, "{after}");
    assert_eq!(after["subject"], "We have your request, {{ reader_name }}");

    let reset = post_form(&app, &format!("{path}/reset"), Some(&admin), &[]).await;
    assert_eq!(reset.status, 303);
    let (_, back) = app
        .get(
            "/api/v1/libraries/BCU/letters/request_received/en",
            Some(&token),
        )
        .await;
    assert_eq!(back["custom"], false);
    assert_eq!(
        get(&app, "/admin/letters/nothing/en", Some(&admin))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn fees_and_letters_are_set_through_their_pages() {
    for engine in engines() {
        fees_and_letters(engine).await;
    }
}

/// A multipart/form-data post of the partner import form: a file, or pasted text.
async fn import_post(
    app: &TestApp,
    cookie: &str,
    file: Option<&[u8]>,
    text: &str,
) -> crate::web::Page {
    let boundary = "XyZboundary42";
    let mut body = Vec::new();
    if let Some(f) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"partners.csv\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(f);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n--{boundary}--\r\n")
            .as_bytes(),
    );
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/admin/partners/import", app.base))
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
async fn a_partner_file_is_uploaded_through_the_import_form() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let admin = web_login(&app, "bcu-admin").await;
    let list = get(&app, "/admin/partners", Some(&admin)).await;
    assert!(list.body.contains(r#"enctype="multipart/form-data""#));

    let csv = "\u{feff}code,agency,name_en,name_zh,loan_days\nZJU,ISIL:CN-ZJU,Zhejiang University Library,浙江大学图书馆,40\nBAD,nonsense,Bad,坏,7\n";
    let done = import_post(&app, &admin, Some(csv.as_bytes()), "").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Rows read: 2"), "{}", done.body);
    assert!(
        done.body.contains("line 3"),
        "the bad row is named: {}",
        done.body
    );
    let token = app.login("bcu-borrow").await;
    let (_, libs) = app.get("/api/v1/libraries", Some(&token)).await;
    let zju = libs
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["code"] == "ZJU")
        .unwrap()
        .clone();
    assert_eq!(zju["lends_to_us"]["loan_days"], 40, "{zju}");

    // Pasted text works too; a file that is not UTF-8 is refused next to the file field.
    let pasted = import_post(
        &app,
        &admin,
        None,
        "code,agency,name_en,name_zh\nNBU,ISIL:CN-NBU,Ningbo,宁波\n",
    )
    .await;
    assert_eq!(pasted.status, 200);
    assert!(app.state.store.library("NBU").await.is_ok());
    let latin1 = import_post(
        &app,
        &zh(&admin),
        Some(b"code,agency,name_en,name_zh\nX1,ISIL:X,\xe9t\xe9,x\n"),
        "",
    )
    .await;
    assert_eq!(latin1.status, 422);
    assert!(
        error_text(&latin1.body, "import-e-file").contains("UTF-8"),
        "{}",
        latin1.body
    );
    let nothing = import_post(&app, &admin, None, "").await;
    assert_eq!(nothing.status, 422);
    let lend = web_login(&app, "bcu-lend").await;
    assert_eq!(import_post(&app, &lend, None, "code\n").await.status, 403);
}

async fn fill_through_the_page(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let first = crate::delivery::article_for(&app, "bcu-phd", "XNU").await;
    crate::delivery::ship_and_deliver(&app, "xnu-lend", &app, &first).await;

    // A second reader asks for the same article through the form.
    let reader = web_login(&app, "bcu-faculty").await;
    let placed = post_form(
        &app,
        "/my/requests/new",
        Some(&reader),
        &[
            ("format", "article_copy"),
            ("title", "Resource Sharing at Speed."),
            ("author", "L. Wang"),
            ("source_title", "Journal of documentation"),
            ("issn", "0022-0418"),
            ("volume", "81"),
            ("year", "2025"),
            ("pages", "101"),
            ("copyright", "yes"),
        ],
    )
    .await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let page_path = placed.location().split('?').next().unwrap().to_owned();
    let second = page_path.trim_start_matches("/requests/").to_owned();

    // Staff see which request it repeats, how it matched, and the button; the reader does not.
    let staff = web_login(&app, "bcu-borrow").await;
    let page = get(&app, &page_path, Some(&zh(&staff))).await;
    assert!(
        page.body.contains(&format!(r#"href="/requests/{first}""#)),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("题录相似"),
        "matched by citation: {}",
        page.body
    );
    let fill = format!("/requests/{second}/fill-from-copy");
    assert!(
        page.body.contains(&format!(r#"action="{fill}""#)),
        "{}",
        page.body
    );
    let own = get(&app, &page_path, Some(&reader)).await;
    assert!(!own.body.contains(&fill));
    assert_eq!(post_form(&app, &fill, Some(&reader), &[]).await.status, 403);

    let done = post_form(&app, &fill, Some(&staff), &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let token = app.login("bcu-borrow").await;
    let (_, req) = app
        .get(&format!("/api/v1/requests/{second}"), Some(&token))
        .await;
    assert_eq!(req["state"], "completed", "{req}");
    // The page says so, and offers the button no more; a second try is refused with a page.
    let after = get(&app, &page_path, Some(&staff)).await;
    assert!(!after.body.contains(&format!(r#"action="{fill}""#)));
    let again = post_form(&app, &fill, Some(&staff), &[]).await;
    assert_eq!(again.status, 409, "{}", again.body);
}

#[tokio::test]
async fn staff_fill_a_repeated_request_from_the_delivered_copy_through_its_page() {
    for engine in engines() {
        fill_through_the_page(engine).await;
    }
}

/// A multipart/form-data post of the holdings upload form.
async fn holdings_post(
    app: &TestApp,
    cookie: &str,
    library: &str,
    file: Option<&[u8]>,
    text: &str,
) -> crate::web::Page {
    let boundary = "HoLdInGs42";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"library\"\r\n\r\n{library}\r\n"
    )
    .into_bytes();
    if let Some(f) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"holdings.csv\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(f);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n--{boundary}--\r\n")
            .as_bytes(),
    );
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/admin/holdings", app.base))
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

async fn holdings_upload(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = web_login(&app, "bcu-admin").await;
    let home = get(&app, "/admin", Some(&admin)).await;
    assert!(
        home.body.contains(r#"href="/admin/holdings""#),
        "{}",
        home.body
    );
    let form = get(&app, "/admin/holdings", Some(&admin)).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"enctype="multipart/form-data""#));
    assert!(form.body.contains(r#"value="BCU""#), "{}", form.body);
    assert!(!form.body.contains(r#"value="XNU""#), "{}", form.body);

    // A file with a good row and a row with a bad check digit, in Chinese.
    let csv = "\u{feff}isbn,title,call_number,barcode,location\n\
               ,本地馆藏测试书,K825.6/1,Z-0001,中文书库\n\
               978-0-306-40615-8,Bad check digit,,Z-0002,\n";
    let done = holdings_post(&app, &zh(&admin), "BCU", Some(csv.as_bytes()), "").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body
            .contains("BCU——读取行数：2 · 写入馆藏：1 · 新建联合目录记录：1 · 跳过行数：1"),
        "{}",
        done.body
    );
    assert!(done.body.contains("第 3 行 isbn"), "{}", done.body);
    let holders = app
        .state
        .store
        .holders(&store::HoldingKey {
            title_lower: Some("本地馆藏测试书".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].library_id, "BCU");

    // Pasted the second time, in English: nothing new, the bad row named again.
    let again = holdings_post(&app, &admin, "BCU", None, csv).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(
        again.body.contains(
            "BCU — rows read: 2 · holdings written: 1 · new union records: 0 · rows left out: 1"
        ),
        "{}",
        again.body
    );
    assert!(again.body.contains("line 3: "), "{}", again.body);

    // A file that cannot be read is refused next to the file field, naming the column;
    // another library's holdings, no file, and staff are refused.
    let unknown = holdings_post(
        &app,
        &admin,
        "BCU",
        Some(b"isbn,shelf\n9780306406157,A\n"),
        "",
    )
    .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert!(
        error_text(&unknown.body, "holdings-e-file").contains("shelf"),
        "{}",
        unknown.body
    );
    let other = holdings_post(&app, &admin, "XNU", None, "isbn\n9780306406157\n").await;
    assert_eq!(other.status, 422, "{}", other.body);
    assert!(
        error_text(&other.body, "holdings-e-library").contains("library"),
        "{}",
        other.body
    );
    let nothing = holdings_post(&app, &zh(&admin), "BCU", None, "").await;
    assert_eq!(nothing.status, 422);
    assert!(error_text(&nothing.body, "holdings-e-file").contains("请选择文件"));
    let staff = web_login(&app, "bcu-borrow").await;
    assert_eq!(
        holdings_post(&app, &staff, "BCU", None, "isbn\n9780306406157\n")
            .await
            .status,
        403
    );

    // A hub admin uploads for any member.
    let hub = web_login(&app, "hub-admin").await;
    let for_xnu = holdings_post(
        &app,
        &hub,
        "XNU",
        None,
        "title,barcode\nHub upload test book,X-1\n",
    )
    .await;
    assert_eq!(for_xnu.status, 200, "{}", for_xnu.body);
    assert!(
        for_xnu.body.contains("XNU — rows read: 1"),
        "{}",
        for_xnu.body
    );
}

#[tokio::test]
async fn holdings_are_uploaded_through_the_admin_page_with_bad_rows_by_line_and_field() {
    for engine in engines() {
        holdings_upload(engine).await;
    }
}
