//! The web pages, driven as a browser would over HTTP: forms, cookies, redirects.

use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;
use serde_json::Value;
use server::demo::DEMO_PASSWORD;

use crate::helpers::{Engine, TestApp, engines};

/// A client that shows redirects instead of following them, and keeps no cookies of its own.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

async fn send(req: reqwest::RequestBuilder) -> Page {
    let resp = req.send().await.unwrap();
    Page {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

pub(crate) async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut r = browser().get(format!("{}{path}", app.base));
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    send(r).await
}

/// A same-origin form post, as a browser sends it.
pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> Page {
    let mut r = browser()
        .post(format!("{}{path}", app.base))
        .header("sec-fetch-site", "same-origin")
        .form(form);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    send(r).await
}

/// Log in through the form; the `name=value` of the session cookie.
pub(crate) async fn web_login(app: &TestApp, username: &str) -> String {
    let p = post_form(
        app,
        "/login",
        None,
        &[("username", username), ("password", DEMO_PASSWORD)],
    )
    .await;
    assert_eq!(p.status, 303, "login {username}: {}", p.body);
    let c = p.set_cookie("librelay_session").expect("a session cookie");
    c.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn logging_in_opens_a_session_and_logging_out_closes_it() {
    let app = TestApp::spawn(Engine::Sqlite).await;

    let form = get(&app, "/login", None).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"<label for="username">"#));

    let wrong = post_form(
        &app,
        "/login",
        None,
        &[
            ("username", "bcu-faculty"),
            ("password", "not-the-password"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong username or password."));
    assert!(wrong.set_cookie("librelay_session").is_none());

    let ok = post_form(
        &app,
        "/login",
        None,
        &[("username", "bcu-faculty"), ("password", DEMO_PASSWORD)],
    )
    .await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.location(), "/start");
    let set = ok.set_cookie("librelay_session").unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();

    let start = get(&app, "/start", Some(&cookie)).await;
    assert_eq!(start.location(), "/my/requests");
    let mine = get(&app, "/my/requests", Some(&cookie)).await;
    assert_eq!(mine.status, 200);
    assert!(mine.body.contains("<h1>My requests</h1>"));
    // A reader's menu has the reader's pages and no staff queue.
    assert!(mine.body.contains(r#"href="/my/requests/new""#));
    assert!(!mine.body.contains(r#"href="/staff/lending""#));

    let out = post_form(&app, "/logout", Some(&cookie), &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/login?out=1");
    assert!(
        out.set_cookie("librelay_session")
            .unwrap()
            .contains("Max-Age=0")
    );

    let after = get(&app, "/my/requests", Some(&cookie)).await;
    assert_eq!(after.status, 303, "the old cookie no longer works");
    assert_eq!(after.location(), "/login?next=/my/requests");
}

#[tokio::test]
async fn staff_menus_follow_the_roles() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let lend = web_login(&app, "bcu-lend").await;
    let start = get(&app, "/start", Some(&lend)).await;
    assert_eq!(start.location(), "/staff/lending");
    let page = get(&app, "/staff/lending", Some(&lend)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"href="/staff/lending""#));
    assert!(!page.body.contains(r#"href="/staff/borrowing""#));
    assert_eq!(get(&app, "/staff/borrowing", Some(&lend)).await.status, 403);

    let reader = web_login(&app, "bcu-faculty").await;
    assert_eq!(get(&app, "/staff/lending", Some(&reader)).await.status, 403);

    let manager = web_login(&app, "bcu-manager").await;
    let page = get(&app, "/staff/borrowing", Some(&manager)).await;
    assert!(page.body.contains(r#"href="/staff/borrowing""#));
    assert!(page.body.contains(r#"href="/staff/lending""#));
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let cookie = web_login(&app, "bcu-faculty").await;
    let form = [("format", "loan"), ("title", "A forged request")];

    let by_fetch_metadata = send(
        browser()
            .post(format!("{}/my/requests/new", app.base))
            .header("cookie", &cookie)
            .header("sec-fetch-site", "cross-site")
            .form(&form),
    )
    .await;
    assert_eq!(by_fetch_metadata.status, 403);
    assert!(by_fetch_metadata.body.contains("from another site"));

    let by_origin = send(
        browser()
            .post(format!("{}/logout", app.base))
            .header("cookie", &cookie)
            .header("origin", "http://evil.example")
            .form(&form),
    )
    .await;
    assert_eq!(by_origin.status, 403);

    // Nothing was created and the session is still open.
    let mine = get(&app, "/my/requests", Some(&cookie)).await;
    assert_eq!(mine.status, 200);
    assert!(!mine.body.contains("A forged request"));
}

#[tokio::test]
async fn an_openurl_link_fills_in_the_request_form() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let link = "/openurl?url_ver=Z39.88-2004&rft_val_fmt=info%3Aofi%2Ffmt%3Akev%3Amtx%3Ajournal\
        &rft.genre=article&rft.atitle=Deep+learning&rft.jtitle=Nature&rft.aulast=LeCun\
        &rft.aufirst=Yann&rft.volume=521&rft.issue=7553&rft.spage=436&rft.epage=444\
        &rft.date=2015&rft.issn=0028-0836&rft_id=info%3Adoi%2F10.1038%2Fnature14539";

    let anonymous = get(&app, link, None).await;
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location().starts_with("/login?next=/openurl%3F"));

    let cookie = web_login(&app, "bcu-faculty").await;
    let page = get(&app, link, Some(&cookie)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for expected in [
        r#"value="Deep learning""#,
        r#"value="Nature""#,
        r#"value="LeCun, Yann""#,
        r#"value="436-444""#,
        r#"value="2015""#,
        r#"value="0028-0836""#,
        r#"value="10.1038/nature14539""#,
        r#"value="article_copy" checked"#,
    ] {
        assert!(page.body.contains(expected), "{expected} in the form");
    }

    // OpenURL 0.1, as older link resolvers send it.
    let old = get(
        &app,
        "/openurl?genre=book&title=Dream+of+the+Red+Chamber&isbn=9787020002207&id=doi%3A10.1000%2Fxyz",
        Some(&cookie),
    )
    .await;
    assert!(old.body.contains(r#"value="Dream of the Red Chamber""#));
    assert!(old.body.contains(r#"value="loan" checked"#));
    assert!(old.body.contains(r#"value="10.1000/xyz""#));
}

#[tokio::test]
async fn a_reader_places_follows_and_cancels_a_request_through_the_pages() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let cookie = web_login(&app, "bcu-faculty").await;

    let bad = post_form(
        &app,
        "/my/requests/new",
        Some(&cookie),
        &[
            ("format", "article_copy"),
            ("title", "On tests"),
            ("isbn", "12345"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422);
    // Each error sits by its field and is listed at the top; what was typed is kept.
    assert!(bad.body.contains(r#"id="e-source_title""#), "{}", bad.body);
    assert!(bad.body.contains(r#"id="e-isbn""#));
    assert!(bad.body.contains(r##"href="#f-isbn""##));
    assert!(bad.body.contains(r#"value="On tests""#));
    assert!(bad.body.contains(r#"aria-invalid="true""#));

    let ok = post_form(
        &app,
        "/my/requests/new",
        Some(&cookie),
        &[
            ("format", "loan"),
            ("title", "Web pages that work"),
            ("author", "Tester, A."),
            ("year", "2020"),
        ],
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let detail_path = ok.location().to_owned();
    assert!(detail_path.starts_with("/requests/"));
    let id = detail_path
        .trim_start_matches("/requests/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    let detail = get(&app, &detail_path, Some(&cookie)).await;
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains("Web pages that work"));
    assert!(detail.body.contains("Being checked by the library"));
    assert!(detail.body.contains("The request was placed"));
    assert!(
        detail.body.contains(r#"value="cancel""#),
        "cancel is offered"
    );
    assert!(!detail.body.contains(r#"value="renew""#), "renew is not");

    let list = get(&app, "/my/requests", Some(&cookie)).await;
    assert!(list.body.contains("Web pages that work"));

    // The JSON API sees the same request.
    let token = app.login("bcu-faculty").await;
    let (st, v) = app
        .get(&format!("/api/v1/requests/{id}"), Some(&token))
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["state"], "pending_review");

    let cancel = post_form(
        &app,
        &format!("/requests/{id}/act"),
        Some(&cookie),
        &[("action", "cancel")],
    )
    .await;
    assert_eq!(cancel.status, 303, "{}", cancel.body);
    let after = get(&app, cancel.location(), Some(&cookie)).await;
    assert!(after.body.contains("Cancelled"));
    assert!(!after.body.contains(r#"value="cancel""#));

    // Another reader cannot see it.
    let other = web_login(&app, "bcu-undergraduate").await;
    assert_eq!(get(&app, &detail_path, Some(&other)).await.status, 404);
}

#[tokio::test]
async fn borrowing_staff_work_the_queue_with_facets_and_row_actions() {
    for engine in engines() {
        queue_with_facets_and_row_actions(engine).await;
    }
}

async fn queue_with_facets_and_row_actions(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let reader = web_login(&app, "bcu-faculty").await;
    let placed = post_form(
        &app,
        "/my/requests/new",
        Some(&reader),
        &[("format", "loan"), ("title", "A queue test book")],
    )
    .await;
    assert_eq!(placed.status, 303);
    let id = placed
        .location()
        .trim_start_matches("/requests/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    let staff = web_login(&app, "bcu-borrow").await;
    let queue = get(&app, "/staff/borrowing?state=pending_review", Some(&staff)).await;
    assert_eq!(queue.status, 200);
    assert!(queue.body.contains("A queue test book"));
    assert!(queue.body.contains(r#"<span class="count">1</span>"#));
    assert!(queue.body.contains(r#"value="edit_rota""#));

    let open = get(&app, "/staff/borrowing?state=open", Some(&staff)).await;
    assert!(open.body.contains("A queue test book"));
    assert!(
        open.body
            .contains(r#"href="/staff/borrowing?state=open" hx-get"#)
    );

    let search = get(&app, "/staff/borrowing?q=no+such+title", Some(&staff)).await;
    assert!(search.body.contains("No request matches."));
    let bad_state = get(&app, "/staff/borrowing?state=nonsense", Some(&staff)).await;
    assert_eq!(bad_state.status, 400);

    // With htmx the answer is the queue alone; the refusal is shown in it.
    let refused = send(
        browser()
            .post(format!("{}/staff/borrowing/{id}/act", app.base))
            .header("cookie", &staff)
            .header("sec-fetch-site", "same-origin")
            .header("hx-request", "true")
            .form(&[("action", "receive"), ("back", "/staff/borrowing")]),
    )
    .await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.trim_start().starts_with(r#"<div id="queue""#));
    assert!(refused.body.contains("not possible at the request"));

    let cancelled = post_form(
        &app,
        &format!("/staff/borrowing/{id}/act"),
        Some(&staff),
        &[
            ("action", "cancel"),
            ("back", "/staff/borrowing?state=pending_review"),
        ],
    )
    .await;
    assert_eq!(cancelled.status, 303);
    assert_eq!(
        cancelled.location(),
        "/staff/borrowing?state=pending_review&done=cancel"
    );
    let token = app.login("bcu-borrow").await;
    let (_, v): (u16, Value) = app
        .get(&format!("/api/v1/requests/{id}"), Some(&token))
        .await;
    assert_eq!(v["state"], "cancelled");
    let open = get(&app, "/staff/borrowing?state=open", Some(&staff)).await;
    assert!(
        !open.body.contains("A queue test book"),
        "a cancelled request is not open"
    );
}

#[tokio::test]
async fn pages_speak_chinese_or_english_and_remember_the_choice() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let zh = send(
        browser()
            .get(format!("{}/login", app.base))
            .header("accept-language", "zh-CN,zh;q=0.9,en;q=0.5"),
    )
    .await;
    assert!(zh.body.contains(r#"<html lang="zh-CN">"#));
    assert!(zh.body.contains("登录 librelay"));
    assert_eq!(zh.headers.get("content-language").unwrap(), "zh-CN");

    let en = send(
        browser()
            .get(format!("{}/login", app.base))
            .header("accept-language", "en-GB"),
    )
    .await;
    assert!(en.body.contains(r#"<html lang="en">"#));
    assert!(en.body.contains("Log in to librelay"));

    let switch = post_form(&app, "/lang", None, &[("to", "zh-CN"), ("back", "/login")]).await;
    assert_eq!(switch.status, 303);
    assert_eq!(switch.location(), "/login");
    let lang = switch.set_cookie("librelay_lang").unwrap();
    let lang = lang.split(';').next().unwrap().to_owned();
    let remembered = send(
        browser()
            .get(format!("{}/login", app.base))
            .header("accept-language", "en")
            .header("cookie", &lang),
    )
    .await;
    assert!(remembered.body.contains("登录 librelay"));

    // A reader's pages and the form's errors in Chinese.
    let session = web_login(&app, "bcu-faculty").await;
    let both = format!("{session}; {lang}");
    let mine = get(&app, "/my/requests", Some(&both)).await;
    assert!(mine.body.contains("<h1>我的请求</h1>"));
    let bad = post_form(
        &app,
        "/my/requests/new",
        Some(&both),
        &[("format", "loan"), ("title", "")],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("题名为必填项"), "{}", bad.body);

    let refused = post_form(&app, "/lang", None, &[("to", "fr"), ("back", "/login")]).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("The language must be"));
    let bad_in_chinese = get(&app, "/my/requests?offset=many", Some(&both)).await;
    assert_eq!(bad_in_chinese.status, 400);
    assert!(
        bad_in_chinese.body.contains("地址中有无法识别的参数"),
        "{}",
        bad_in_chinese.body
    );
    let offsite = post_form(
        &app,
        "/lang",
        None,
        &[("to", "en"), ("back", "//evil.example/")],
    )
    .await;
    assert_eq!(offsite.location(), "/login");
}

#[tokio::test]
async fn the_assets_are_served_from_the_project() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let js = get(&app, "/static/htmx.min.js", None).await;
    assert_eq!(js.status, 200);
    assert!(js.body.contains("htmx"));
    let css = get(&app, "/static/web.css", None).await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    // An unknown address is a page for a browser and the JSON error for a program.
    let page = send(
        browser()
            .get(format!("{}/no/such/page", app.base))
            .header("accept", "text/html,application/xhtml+xml")
            .header("accept-language", "zh-CN"),
    )
    .await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("该页面或请求不存在"));
    let (st, v) = app.get("/no/such/endpoint", None).await;
    assert_eq!(st, 404);
    assert_eq!(v["error"]["code"], "not_found");
    // The JSON API and the home page are as they were.
    assert_eq!(get(&app, "/healthz", None).await.status, 200);
    assert_eq!(get(&app, "/", None).await.status, 200);
}

/// A WebDriver session on headless Chromium, spoken to over plain HTTP (no client crate needed).
struct Chromium {
    driver: std::process::Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Chromium {
    /// Headless Chromium through chromedriver, or `None` (with the reason) where they are absent.
    async fn start() -> Result<Chromium, String> {
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .ok_or("chromium is not installed")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("chromedriver cannot be started: {e}"))?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut c = Chromium {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http: reqwest::Client::new(),
            _profile: profile,
        };
        let mut ready = false;
        for _ in 0..100 {
            if c.http
                .get(format!("{}/status", c.base))
                .send()
                .await
                .is_ok()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if !ready {
            return Err("chromedriver did not answer".to_owned());
        }
        let args = serde_json::json!([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            format!("--user-data-dir={}", c._profile.path().display()),
            "--window-size=412,915",
        ]);
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"binary": binary, "args": args}
        }}});
        let v = c.call(reqwest::Method::POST, "/session", Some(caps)).await;
        c.session = v["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no WebDriver session: {v}"))?
            .to_owned();
        Ok(c)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let v: Value = r.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        let path = format!("/session/{}/url", self.session);
        self.call(
            reqwest::Method::POST,
            &path,
            Some(serde_json::json!({"url": url})),
        )
        .await;
    }

    async fn find(&self, css: &str) -> String {
        let path = format!("/session/{}/element", self.session);
        let v = self
            .call(
                reqwest::Method::POST,
                &path,
                Some(serde_json::json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        let path = format!("/session/{}/element/{id}/value", self.session);
        self.call(
            reqwest::Method::POST,
            &path,
            Some(serde_json::json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        let path = format!("/session/{}/element/{id}/click", self.session);
        self.call(reqwest::Method::POST, &path, Some(serde_json::json!({})))
            .await;
    }

    /// Wait until the page shows `text`; the page's source when it does.
    async fn wait_for(&self, text: &str) -> String {
        let path = format!("/session/{}/source", self.session);
        let mut last = Value::Null;
        for _ in 0..100 {
            last = self.call(reqwest::Method::GET, &path, None).await;
            if last.as_str().is_some_and(|s| s.contains(text)) {
                return last.as_str().unwrap_or_default().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the page never showed {text:?}; it was: {last}");
    }

    async fn quit(mut self) {
        let path = format!("/session/{}", self.session);
        self.call(reqwest::Method::DELETE, &path, None).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

#[tokio::test]
async fn in_chromium_a_reader_logs_in_from_an_openurl_link_and_places_the_request() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let browser = match Chromium::start().await {
        Ok(b) => b,
        Err(why) => {
            println!(
                "SKIPPED the Chromium test: {why} (scripts/test installs chromium and chromium-driver)"
            );
            return;
        }
    };
    // The link a discovery system sends, before the reader has logged in.
    browser
        .goto(&format!(
            "{}/openurl?url_ver=Z39.88-2004&rft.genre=article&rft.atitle=Browsers+at+work\
             &rft.jtitle=Journal+of+Tests&rft.date=2024&rft.spage=1&rft.epage=9",
            app.base
        ))
        .await;
    browser.wait_for("Please log in to continue.").await;
    browser.type_into("#username", "bcu-faculty").await;
    browser.type_into("#password", DEMO_PASSWORD).await;
    browser.click("button.primary").await;
    let form = browser
        .wait_for("Filled in from the link you followed")
        .await;
    assert!(form.contains(r#"value="Browsers at work""#));

    // Switch to Chinese on the form itself; the link's values survive the round trip.
    browser.click(r#"button[value="zh-CN"]"#).await;
    browser.wait_for("申请借书或文献复制").await;
    browser.click("form.stack button.primary").await;
    let detail = browser.wait_for("您的请求已提交给图书馆").await;
    assert!(detail.contains("Browsers at work"));
    assert!(detail.contains("图书馆审核中"));
    assert!(detail.contains("提交了请求"));

    // The reader logs out; borrowing staff log in and cancel it from their queue, which htmx
    // updates in place.
    browser.click("form.logout button").await;
    browser.wait_for("您已退出登录").await;
    browser.click(r#"button[value="en"]"#).await;
    browser.wait_for("Log in to librelay").await;
    browser.type_into("#username", "bcu-borrow").await;
    browser.type_into("#password", DEMO_PASSWORD).await;
    browser.click("button.primary").await;
    browser.wait_for("Borrowing queue").await;
    browser
        .goto(&format!("{}/staff/borrowing?q=Browsers", app.base))
        .await;
    browser.wait_for("Browsers at work").await;
    browser
        .click(r#"#queue form.inline input[value="cancel"] ~ button"#)
        .await;
    let after = browser
        .wait_for(r#"<p class="notice" role="status">Done.</p>"#)
        .await;
    assert!(after.contains("Cancelled"));
    let url = browser
        .call(
            reqwest::Method::GET,
            &format!("/session/{}/url", browser.session),
            None,
        )
        .await;
    assert!(
        url.as_str()
            .unwrap()
            .ends_with("/staff/borrowing?q=Browsers"),
        "the queue was swapped in place, the address kept: {url}"
    );
    browser.quit().await;
}

/// The `row-…` ids of a queue page: the request ids of its rows.
fn row_ids(page: &str) -> Vec<String> {
    page.split(r#"<tr id="row-"#)
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Poll a page until it shows `text` (messages between libraries travel through the outbox).
async fn eventually_shows(app: &TestApp, path: &str, cookie: &str, text: &str) -> String {
    for _ in 0..200 {
        let p = get(app, path, Some(cookie)).await;
        if p.status == 200 && p.body.contains(text) {
            return p.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{path} never showed {text:?}");
}

#[tokio::test]
async fn a_whole_loan_is_done_through_the_pages_alone() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let book = crate::lifecycle::book_held_by_xnu_and_htu(&app).await;
    let title = book["title"].as_str().unwrap().to_owned();
    let isbn = book["isbn"].as_str().unwrap().to_owned();
    let reader = web_login(&app, "bcu-faculty").await;
    let bcu = web_login(&app, "bcu-borrow").await;
    let xnu = web_login(&app, "xnu-lend").await;

    let placed = post_form(
        &app,
        "/my/requests/new",
        Some(&reader),
        &[("format", "loan"), ("title", &title), ("isbn", &isbn)],
    )
    .await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let detail = placed.location().split('?').next().unwrap().to_owned();
    let id = detail.trim_start_matches("/requests/").to_owned();

    // Borrowing staff see the lender string on the request's page and approve from the queue;
    // the request goes to XNU.
    let reviewed = get(&app, &detail, Some(&bcu)).await;
    assert!(reviewed.body.contains("XNU → HTU"), "{}", reviewed.body);
    let act = format!("/staff/borrowing/{id}/act");
    let approved = post_form(&app, &act, Some(&bcu), &[("action", "approve")]).await;
    assert_eq!(approved.status, 303, "{}", approved.body);

    // XNU's lending staff find it in their queue and work it from its page.
    let queue = eventually_shows(&app, "/staff/lending?state=request_received", &xnu, &title).await;
    let lend_id = row_ids(&queue)
        .into_iter()
        .find(|lid| queue.contains(&format!(r#"href="/staff/lending/{lid}""#)))
        .unwrap();
    let lend_page = format!("/staff/lending/{lend_id}");
    let page = get(&app, &lend_page, Some(&xnu)).await;
    assert!(page.body.contains("The request arrived"), "{}", page.body);
    let lend_act = format!("{lend_page}/act");
    // As the page's forms post them: with the page to come back to.
    assert!(
        page.body
            .contains(&format!(r#"name="back" value="{lend_page}""#))
    );
    for form in [
        vec![("action", "will_supply"), ("back", lend_page.as_str())],
        vec![
            ("action", "ship_physical"),
            ("barcode", "XNU-WEB-1"),
            ("back", lend_page.as_str()),
        ],
    ] {
        let done = post_form(&app, &lend_act, Some(&xnu), &form).await;
        assert_eq!(done.status, 303, "{form:?}: {}", done.body);
        assert!(done.location().starts_with(&lend_page));
    }
    let shipped = get(&app, &lend_page, Some(&xnu)).await;
    assert!(shipped.body.contains("XNU-WEB-1"));
    assert!(shipped.body.contains("It was shipped"));
    let slip_link = format!(r#"href="{lend_page}/slip""#);
    assert!(shipped.body.contains(&slip_link));
    let slip = get(&app, &format!("{lend_page}/slip"), Some(&xnu)).await;
    assert_eq!(slip.status, 200);
    assert!(slip.body.contains("<h1>Pick slip</h1>"));
    assert!(slip.body.contains("XNU-WEB-1"));
    assert!(slip.body.contains(&title));
    let other_library = web_login(&app, "htu-lend").await;
    let hidden = get(&app, &format!("{lend_page}/slip"), Some(&other_library)).await;
    assert_eq!(hidden.status, 404, "another library's slip is not found");

    // BCU receives it and lends it to the reader, who sees it on loan and may renew.
    eventually_shows(&app, &detail, &bcu, "On its way to the library").await;
    for action in ["receive", "lend_to_patron"] {
        let done = post_form(&app, &act, Some(&bcu), &[("action", action)]).await;
        assert_eq!(done.status, 303, "{action}: {}", done.body);
    }
    let mine = get(&app, &detail, Some(&reader)).await;
    assert!(mine.body.contains("On loan to the reader"));
    assert!(mine.body.contains("The lending library shipped it"));
    assert!(mine.body.contains(r#"value="renew""#), "{}", mine.body);
    assert!(!mine.body.contains(r#"value="cancel""#));
}

/// The local links of a page, `&amp;` decoded.
fn local_links(page: &str) -> Vec<String> {
    page.split(r#"href=""#)
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|h| h.starts_with('/') && !h.starts_with("//"))
        .map(|h| h.replace("&amp;", "&"))
        .collect()
}

#[tokio::test]
async fn every_page_each_role_can_reach_answers_in_its_language_without_broken_links() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let reader = web_login(&app, "bcu-faculty").await;
    let placed = post_form(
        &app,
        "/my/requests/new",
        Some(&reader),
        &[
            ("format", "chapter_copy"),
            ("title", "A chapter"),
            ("source_title", "A book"),
        ],
    )
    .await;
    assert_eq!(placed.status, 303);
    // The same chapter again, from another reader: staff pages show it as a duplicate, with a
    // link to the earlier request.
    let again = web_login(&app, "bcu-phd").await;
    let repeated = post_form(
        &app,
        "/my/requests/new",
        Some(&again),
        &[
            ("format", "chapter_copy"),
            ("title", "A chapter"),
            ("source_title", "A book"),
        ],
    )
    .await;
    assert_eq!(repeated.status, 303);
    let second = repeated.location().split('?').next().unwrap().to_owned();
    let staff = web_login(&app, "bcu-borrow").await;
    let page = get(&app, &second, Some(&staff)).await;
    assert!(
        page.body.contains("This repeats an earlier request"),
        "{}",
        page.body
    );

    for user in [
        "bcu-faculty",
        "bcu-borrow",
        "bcu-lend",
        "bcu-manager",
        "bcu-admin",
        "hub-admin",
    ] {
        let session = web_login(&app, user).await;
        for (lang, foreign) in [("en", "退出登录"), ("zh-CN", "Log out")] {
            let cookie = format!("{session}; librelay_lang={lang}");
            let mut seen = std::collections::HashSet::new();
            let mut todo = vec!["/start".to_owned()];
            while let Some(path) = todo.pop() {
                if !seen.insert(path.clone()) || seen.len() > 80 {
                    continue;
                }
                let p = get(&app, &path, Some(&cookie)).await;
                if p.status == 303 {
                    todo.push(p.location().to_owned());
                    continue;
                }
                assert_eq!(p.status, 200, "{user} ({lang}): {path}");
                let html = p
                    .headers
                    .get("content-type")
                    .is_some_and(|c| c.to_str().unwrap().starts_with("text/html"));
                if !html {
                    continue;
                }
                assert!(
                    p.body.contains(&format!(r#"<html lang="{lang}">"#)),
                    "{path}"
                );
                assert!(
                    !p.body.contains(foreign),
                    "{user} ({lang}): {path} mixes languages"
                );
                todo.extend(local_links(&p.body));
            }
            assert!(seen.len() > 2, "{user} reached {seen:?}");
            let must_reach: &[&str] = match user {
                "bcu-admin" => &[
                    "/admin",
                    "/admin/users",
                    "/admin/partners",
                    "/admin/partners/new",
                    "/admin/partners/XNU",
                    "/admin/closed-days",
                    "/admin/routing",
                    "/admin/holdings",
                    "/admin/copyright",
                    "/admin/delivery",
                    "/admin/fees",
                    "/admin/letters",
                    "/admin/letters/digest/zh-CN",
                    "/staff/readers",
                ],
                "bcu-borrow" | "bcu-manager" => &["/staff/readers"],
                _ => &[],
            };
            for page in must_reach {
                assert!(seen.contains(*page), "{user} ({lang}) never reached {page}");
            }
        }
    }
}

#[tokio::test]
async fn borrowing_staff_ask_on_a_readers_behalf() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let staff = web_login(&app, "bcu-borrow").await;
    let form = get(&app, "/staff/borrowing/new", Some(&staff)).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"action="/staff/borrowing/new""#));
    assert!(form.body.contains(r#"id="f-patron""#));

    // A reader of another library is no reader of ours; the citation's errors come with it.
    let wrong = post_form(
        &app,
        "/staff/borrowing/new",
        Some(&staff),
        &[
            ("patron", "xnu-faculty"),
            ("format", "loan"),
            ("year", "12"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains(r#"id="e-patron""#));
    assert!(wrong.body.contains(r#"id="e-title""#));
    assert!(wrong.body.contains(r#"id="e-year""#));

    let ok = post_form(
        &app,
        "/staff/borrowing/new",
        Some(&staff),
        &[
            ("patron", "bcu-faculty"),
            ("format", "loan"),
            ("title", "Asked at the desk"),
        ],
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let reader = web_login(&app, "bcu-faculty").await;
    let mine = get(&app, "/my/requests", Some(&reader)).await;
    assert!(mine.body.contains("Asked at the desk"));

    // Readers cannot use the staff route to ask for someone else.
    let other = post_form(
        &app,
        "/staff/borrowing/new",
        Some(&reader),
        &[
            ("patron", "bcu-undergraduate"),
            ("format", "loan"),
            ("title", "Not mine to ask"),
        ],
    )
    .await;
    assert_eq!(other.status, 303);
    let undergrad = web_login(&app, "bcu-undergraduate").await;
    let theirs = get(&app, "/my/requests", Some(&undergrad)).await;
    assert!(!theirs.body.contains("Not mine to ask"));
}

#[tokio::test]
async fn a_lending_operator_applies_one_action_to_several_rows() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let book = crate::lifecycle::book_held_by_xnu_and_htu(&app).await;
    let bcu = app.login("bcu-borrow").await;
    for reader in ["bcu-faculty", "bcu-undergraduate"] {
        let token = app.login(reader).await;
        let (st, req) = app
            .post(
                "/api/v1/requests",
                serde_json::json!({"format": "loan", "citation": book}),
                Some(&token),
            )
            .await;
        assert_eq!(st, 201, "{req}");
        app.borrow_action(
            &bcu,
            req["id"].as_str().unwrap(),
            serde_json::json!({"action": "approve"}),
        )
        .await;
    }
    let xnu = web_login(&app, "xnu-lend").await;
    let title = book["title"].as_str().unwrap();
    let mut queue = String::new();
    for _ in 0..200 {
        queue = get(&app, "/staff/lending?state=request_received", Some(&xnu))
            .await
            .body;
        if row_ids(&queue).len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let ids = row_ids(&queue);
    assert_eq!(ids.len(), 2, "both arrived: {queue}");
    assert!(queue.contains(title));
    assert!(queue.contains(r#"<span class="count">2</span>"#));
    assert!(queue.contains(r#"form="bulk""#));

    let back = "/staff/lending?state=request_received";
    let form = |action: &'static str| {
        let mut f: Vec<(&str, &str)> = vec![("action", action), ("back", back)];
        f.extend(ids.iter().map(|id| ("ids", id.as_str())));
        f
    };
    let done = post_form(
        &app,
        "/staff/lending/bulk",
        Some(&xnu),
        &form("will_supply"),
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location(),
        "/staff/lending?state=request_received&bulk_done=2&bulk_refused=0"
    );
    let after = get(&app, done.location(), Some(&xnu)).await;
    assert!(
        after
            .body
            .contains("Done: 2; not possible at their stage: 0")
    );
    assert!(after.body.contains("No request matches."), "both moved on");

    // Checking in what was never shipped is refused row by row; with htmx, the queue says so.
    let refused = send(
        browser()
            .post(format!("{}/staff/lending/bulk", app.base))
            .header("cookie", &xnu)
            .header("sec-fetch-site", "same-origin")
            .header("hx-request", "true")
            .form(&form("check_in")),
    )
    .await;
    assert_eq!(refused.status, 200);
    assert!(
        refused
            .body
            .contains("Done: 0; not possible at their stage: 2")
    );

    let odd = post_form(&app, "/staff/lending/bulk", Some(&xnu), &form("reject")).await;
    assert_eq!(odd.status, 400, "reject needs a reason: not a bulk action");
}
