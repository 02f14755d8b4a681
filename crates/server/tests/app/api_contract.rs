//! The stable interface of ARCHITECTURE.md, checked the way a script or a peer would: health,
//! OpenAPI, login, and the error contract.

use serde_json::json;

use crate::helpers::{Engine, TestApp};

#[tokio::test]
async fn health_openapi_and_home_answer() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let (st, h) = app.get("/healthz", None).await;
    assert_eq!((st, h["status"].as_str()), (200, Some("ok")));
    let (st, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(st, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for p in [
        "/api/v1/auth/login",
        "/api/v1/requests",
        "/api/v1/requests/{id}/actions",
        "/api/v1/lending",
        "/api/v1/lending/{id}/actions",
    ] {
        assert!(doc["paths"].get(p).is_some(), "OpenAPI lacks {p}");
    }
    let (st, page) = app.get("/api/docs", None).await;
    assert_eq!(st, 200);
    assert!(page.as_str().unwrap().contains("/api/v1/requests"));
    let (st, home) = app.get("/", None).await;
    assert_eq!(st, 200);
    assert!(home.as_str().unwrap().contains("馆际互借"));
    let (st, metrics) = app.get("/metrics", None).await;
    assert_eq!(st, 200, "{metrics}");
    let (st, nf) = app.get("/no/such/page", None).await;
    assert_eq!((st, nf["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn demo_accounts_are_written_and_log_in() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let raw = std::fs::read_to_string(app.dir.path().join("demo-accounts.json")).unwrap();
    let accounts: Vec<serde_json::Value> = serde_json::from_str(&raw).unwrap();
    assert!(accounts.len() >= 20);
    for role in [
        "patron:faculty",
        "patron:phd",
        "patron:master",
        "patron:undergraduate",
        "borrowing_operator",
        "lending_operator",
        "resource_sharing_manager",
        "library_admin",
        "hub_admin",
    ] {
        assert!(
            accounts.iter().any(|a| a["role"] == role),
            "no demo account with role {role}"
        );
    }
    let a = &accounts[0];
    let (st, body) = app
        .post(
            "/api/v1/auth/login",
            json!({"username": a["username"], "password": a["password"]}),
            None,
        )
        .await;
    assert_eq!(st, 200, "{body}");
}

#[tokio::test]
async fn the_error_contract_holds() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let (st, body) = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "bcu-faculty", "password": "wrong"}),
            None,
        )
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    let (st, body) = app.get("/api/v1/requests", None).await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (st, _) = app.get("/api/v1/requests", Some("not-a-token")).await;
    assert_eq!(st, 401);
    let tok = app.login("bcu-faculty").await;

    // An invalid citation lists every bad field at once.
    let (st, body) = app
        .post("/api/v1/requests", json!({"format": "loan", "citation": {"title": "", "isbn": "978-0-00-000000-1", "year": "20x6"}}), Some(&tok))
        .await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_fields");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for f in ["citation.title", "citation.isbn", "citation.year"] {
        assert!(fields.contains(&f), "{f} not reported: {body}");
    }
    let (st, body) = app
        .post(
            "/api/v1/requests",
            json!({"format": "microfilm", "citation": {"title": "x"}}),
            Some(&tok),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    // Malformed JSON and JSON of the wrong shape follow the contract too.
    let resp = app
        .client
        .post(format!("{}/api/v1/requests", app.base))
        .bearer_auth(&tok)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "bad_request");
    assert!(
        v["error"]["message_zh"]
            .as_str()
            .is_some_and(|m| m.contains("JSON")),
        "{v}"
    );

    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Contract", "author": "Doe, J."}}),
            Some(&tok),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap();
    for sub in ["", "/events", "/actions"] {
        let (st, _) = app
            .get(&format!("/api/v1/requests/{id}{sub}"), Some(&tok))
            .await;
        assert_eq!(st, 200, "{sub}");
    }
    let (st, body) = app
        .post(
            &format!("/api/v1/requests/{id}/actions"),
            json!({"action": "no_such_action"}),
            Some(&tok),
        )
        .await;
    assert_eq!(st, 409, "{body}");
    let staff = app.login("bcu-borrow").await;
    let (st, body) = app
        .post(
            &format!("/api/v1/requests/{id}/actions"),
            json!({"action": "receive"}),
            Some(&staff),
        )
        .await;
    assert_eq!(st, 409, "{body}");
    assert_eq!(body["error"]["state"], "pending_review");
    // A refusal from the request flow says what is wrong in both languages.
    let (st, empty) = app
        .post(
            &format!("/api/v1/requests/{id}/actions"),
            json!({"action": "approve"}),
            Some(&staff),
        )
        .await;
    assert_eq!(st, 400, "{empty}");
    assert!(
        empty["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("lender string is empty")),
        "{empty}"
    );
    assert!(
        empty["error"]["message_zh"]
            .as_str()
            .is_some_and(|m| m.contains("出借馆序列为空")),
        "{empty}"
    );
    // Nobody holds this title, so approving needs lenders first: the refusal says what is open.
    assert!(
        body["error"]["allowed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "edit_rota"),
        "{body}"
    );
    let (st, _) = app
        .get(
            "/api/v1/requests/00000000-0000-4000-8000-000000000000",
            Some(&tok),
        )
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn a_revoked_token_no_longer_works() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let tok = app.login("bcu-admin").await;
    let (st, _) = app.post("/api/v1/auth/logout", json!({}), Some(&tok)).await;
    assert_eq!(st, 204);
    let (st, _) = app.get("/api/v1/me", Some(&tok)).await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn a_pending_reader_cannot_log_in_yet() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let (st, body) = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "bcu-newreader", "password": server::demo::DEMO_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
}

#[tokio::test]
async fn a_registered_reader_logs_in_after_staff_approve() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let reg = json!({"library": "bcu", "username": "new.reader", "password": "long enough", "display_name": "新读者", "patron_type": "master", "department": "Physics"});
    let (st, body) = app.post("/api/v1/register", reg.clone(), None).await;
    assert_eq!(
        (st, body["status"].as_str()),
        (201, Some("pending")),
        "{body}"
    );
    let (st, _) = app.post("/api/v1/register", reg, None).await;
    assert_eq!(st, 409, "a taken username");
    let (st, body) = app.post("/api/v1/register", json!({"library": "NOPE", "username": "x", "password": "short", "display_name": "", "patron_type": "wizard"}), None).await;
    assert_eq!(st, 422);
    assert_eq!(
        body["error"]["fields"].as_array().unwrap().len(),
        5,
        "{body}"
    );
    let login = json!({"username": "new.reader", "password": "long enough"});
    let (st, _) = app.post("/api/v1/auth/login", login.clone(), None).await;
    assert_eq!(st, 403, "pending until approved");
    let staff = app.login("bcu-borrow").await;
    let (_, pending) = app
        .get("/api/v1/patrons?status=pending", Some(&staff))
        .await;
    let id = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == "new.reader")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Staff of another library cannot approve BCU's readers.
    let other = app.login("xnu-borrow").await;
    let (st, _) = app
        .post(
            &format!("/api/v1/patrons/{id}/approve"),
            json!({}),
            Some(&other),
        )
        .await;
    assert_eq!(st, 404);
    let (st, body) = app
        .post(
            &format!("/api/v1/patrons/{id}/approve"),
            json!({}),
            Some(&staff),
        )
        .await;
    assert_eq!((st, body["status"].as_str()), (200, Some("active")));
    let (st, body) = app.post("/api/v1/auth/login", login, None).await;
    assert_eq!(st, 200, "{body}");
    // Suspension takes effect on the next call with an existing token.
    let tok = body["token"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/patrons/{id}/suspend"),
        json!({}),
        Some(&staff),
    )
    .await;
    let (st, _) = app.get("/api/v1/me", Some(&tok)).await;
    assert_eq!(st, 403);
}

#[tokio::test]
async fn errors_speak_the_readers_language() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let resp = app
        .client
        .get(format!("{}/api/v1/requests", app.base))
        .header("accept-language", "zh-CN,zh;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["content-language"], "zh-CN");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        v["error"]["code"], "unauthenticated",
        "codes do not change with the language"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("需要登录"),
        "{v}"
    );
    let tok = app.login("bcu-faculty").await;
    let resp = app
        .client
        .post(format!("{}/api/v1/requests", app.base))
        .bearer_auth(&tok)
        .header("accept-language", "zh")
        .json(&json!({"format": "loan", "citation": {"title": "", "isbn": "123"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let v: serde_json::Value = resp.json().await.unwrap();
    let msgs: Vec<&str> = v["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(msgs.contains(&"题名为必填项"), "{v}");
    assert!(msgs.iter().any(|m| m.starts_with("ISBN 无效")), "{v}");
    // English stays the default.
    let (_, v) = app.get("/api/v1/requests", None).await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("authentication required")
    );
}

#[tokio::test]
async fn staff_see_the_partner_libraries_and_the_terms_they_lend_on() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let tok = app.login("bcu-borrow").await;
    let (st, libs) = app.get("/api/v1/libraries", Some(&tok)).await;
    assert_eq!(st, 200, "{libs}");
    let libs = libs.as_array().unwrap();
    assert_eq!(libs.len(), 7, "six members and the e-mail partner");
    let htu = libs.iter().find(|l| l["code"] == "HTU").unwrap();
    assert_eq!(htu["name_zh"], "海棠理工大学图书馆");
    assert_eq!(
        htu["lends_to_us"]["loan_days"], 14,
        "two weeks across regions: {htu}"
    );
    let xnu = libs.iter().find(|l| l["code"] == "XNU").unwrap();
    assert_eq!(
        xnu["lends_to_us"]["loan_days"], 30,
        "a month inside the region: {xnu}"
    );
    let nsd = libs.iter().find(|l| l["code"] == "NSD").unwrap();
    assert_eq!(nsd["lends_to_us"]["copy_fee"]["minor"], 2000);
    assert!(libs.iter().find(|l| l["code"] == "BCU").unwrap()["lends_to_us"].is_null());
    let (st, _) = app.get("/api/v1/libraries", None).await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn a_new_library_and_its_first_admin_are_set_up_from_the_command_line_functions() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let now = time::OffsetDateTime::now_utc();
    let lib = server::admin::NewLibrary {
        code: "sxu".into(),
        agency: "ISIL:CN-SXU".into(),
        name_en: "Songxi University Library".into(),
        name_zh: "松溪大学图书馆".into(),
        kind: "university".into(),
        region: "Shanghai".into(),
        hub: Some("HUB".into()),
    };
    server::admin::add_library(&app.state.store, lib.clone(), now)
        .await
        .unwrap();
    let again = server::admin::add_library(&app.state.store, lib, now)
        .await
        .unwrap_err();
    assert!(again.to_string().contains("exists already"), "{again}");
    let admin = server::admin::NewAccount {
        library: "SXU".into(),
        username: "sxu-admin".into(),
        display_name: "管理员".into(),
        password: "a long password".into(),
        roles: "library_admin".into(),
        patron_type: None,
    };
    server::admin::add_user(&app.state.store, admin.clone(), now)
        .await
        .unwrap();
    let bad = server::admin::NewAccount {
        roles: "librarian".into(),
        username: "x2".into(),
        ..admin
    };
    let err = server::admin::add_user(&app.state.store, bad, now)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown role"), "{err}");
    let (st, body) = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "sxu-admin", "password": "a long password"}),
            None,
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (_, libs) = app
        .get("/api/v1/libraries", Some(body["token"].as_str().unwrap()))
        .await;
    let sxu = libs
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["code"] == "SXU")
        .unwrap()
        .clone();
    assert_eq!(
        (sxu["hub"].as_str(), sxu["agency"].as_str()),
        (Some("HUB"), Some("ISIL:CN-SXU"))
    );
}
