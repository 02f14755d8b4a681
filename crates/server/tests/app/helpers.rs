//! `TestApp`: the real application on port 0 with its own fresh store and a clock the test can
//! move, plus one helper per endpoint.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use server::{App, Config, ManualClock};

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub state: server::AppState,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The engines to run on here: SQLite always, PostgreSQL when `TEST_POSTGRES_URL` is set.
pub fn engines() -> Vec<Engine> {
    let mut e = vec![Engine::Sqlite];
    if std::env::var("TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) {
        e.push(Engine::Postgres);
    }
    e
}

/// A new empty PostgreSQL database on the server of `TEST_POSTGRES_URL`, for one test.
pub async fn fresh_postgres() -> String {
    let url = std::env::var("TEST_POSTGRES_URL").expect("TEST_POSTGRES_URL");
    store::create_postgres_database(&url, &format!("librelay_t_{}", uuid_like()))
        .await
        .expect("create a test database")
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let c = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}{:x}{c}", n, std::process::id())
}

impl TestApp {
    /// The app with the demo consortium's directory and catalog (no demo activity).
    pub async fn spawn(engine: Engine) -> TestApp {
        let app = Self::start(engine).await;
        app.seed(&[]).await;
        app
    }

    /// Two nodes of one consortium: `a` serves HUB, BCU and XNU, `b` serves HTU, CPL and NSD;
    /// each knows the other's libraries as librelay peers at the other's `/iso18626`.
    pub async fn pair(engine: Engine) -> (TestApp, TestApp) {
        let a = Self::start(engine).await;
        let b = Self::start(engine).await;
        let remote = |codes: &[&str], node: &TestApp| -> Vec<(String, String)> {
            codes
                .iter()
                .map(|c| ((*c).to_owned(), format!("{}/iso18626", node.base)))
                .collect()
        };
        a.seed(&remote(&["HTU", "CPL", "NSD"], &b)).await;
        b.seed(&remote(&["HUB", "BCU", "XNU"], &a)).await;
        (a, b)
    }

    /// `pair` with each node's configuration changed (e.g. its copies kept in S3).
    pub async fn pair_with(
        engine: Engine,
        change_a: impl FnOnce(&mut Config),
        change_b: impl FnOnce(&mut Config),
    ) -> (TestApp, TestApp) {
        let a = Self::start_with(engine, change_a).await;
        let b = Self::start_with(engine, change_b).await;
        let remote = |codes: &[&str], node: &TestApp| -> Vec<(String, String)> {
            codes
                .iter()
                .map(|c| ((*c).to_owned(), format!("{}/iso18626", node.base)))
                .collect()
        };
        a.seed(&remote(&["HTU", "CPL", "NSD"], &b)).await;
        b.seed(&remote(&["HUB", "BCU", "XNU"], &a)).await;
        (a, b)
    }

    /// Seed the demo directory; `remote` libraries are served by another node.
    pub async fn seed(&self, remote: &[(String, String)]) {
        server::demo::seed_directory_split(&self.state, self.dir.path(), remote)
            .await
            .unwrap()
            .expect("empty store");
        // Routing ranks a lender closed today below open ones, so the demo's closed weekdays
        // would change the lender order with the day the tests run. Tests start with every
        // library open every day; those about closed days set their own.
        self.open_every_day().await;
    }

    /// Clear every library's closed weekdays and dates.
    pub async fn open_every_day(&self) {
        let libs = self.state.store.libraries().await.unwrap();
        self.state
            .store
            .write(move |tx| {
                Box::pin(async move {
                    for l in libs {
                        let row = store::LibraryRow {
                            closed_days: store::Json(Default::default()),
                            ..l
                        };
                        tx.upsert_library(&row).await?;
                    }
                    Ok::<_, store::StoreError>(())
                })
            })
            .await
            .unwrap();
    }

    /// The demo app with configuration changed by `change`.
    pub async fn spawn_with(engine: Engine, change: impl FnOnce(&mut Config)) -> TestApp {
        let app = Self::start_with(engine, change).await;
        app.seed(&[]).await;
        app
    }

    /// The app on a fresh, empty store.
    pub async fn start(engine: Engine) -> TestApp {
        Self::start_with(engine, |_| {}).await
    }

    pub async fn start_with(engine: Engine, change: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(dir.path().to_path_buf());
        change(&mut config);
        if engine == Engine::Postgres {
            config.database_url = fresh_postgres().await;
        }
        let clock = ManualClock::new();
        let app = App::build_with_clock(config, Arc::new(clock.clone()))
            .await
            .expect("app starts");
        let base = format!("http://{}", app.address());
        let state = app.state();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::new(),
            clock,
            state,
            dir,
            stop: Some(tx),
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut r = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
        let mut r = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn put_json(&self, path: &str, body: Value, token: &str) -> (u16, Value) {
        let resp = self
            .client
            .put(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn login(&self, username: &str) -> String {
        let (st, body) = self
            .post(
                "/api/v1/auth/login",
                json!({"username": username, "password": server::demo::DEMO_PASSWORD}),
                None,
            )
            .await;
        assert_eq!(st, 200, "login {username}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// A loan of `title` that borrowing staff (`staff`, a token) ask for on behalf of the reader
    /// `patron` (a username) from the lenders `rota`, in that order; its id.
    pub async fn loan_for(&self, staff: &str, patron: &str, title: &str, rota: &[&str]) -> String {
        let patron_id = self
            .get("/api/v1/me", Some(&self.login(patron).await))
            .await
            .1["id"]
            .clone();
        let (st, req) = self
            .post(
                "/api/v1/requests",
                json!({"format": "loan", "patron_id": patron_id, "citation": {"title": title}, "rota": rota}),
                Some(staff),
            )
            .await;
        assert_eq!(st, 201, "{req}");
        req["id"].as_str().unwrap().to_owned()
    }

    pub async fn borrow_action(&self, token: &str, id: &str, body: Value) -> Value {
        let (st, v) = self
            .post(
                &format!("/api/v1/requests/{id}/actions"),
                body.clone(),
                Some(token),
            )
            .await;
        assert_eq!(st, 200, "borrowing action {body} on {id}: {v}");
        v
    }

    pub async fn lend_action(&self, token: &str, id: &str, body: Value) -> Value {
        let (st, v) = self
            .post(
                &format!("/api/v1/lending/{id}/actions"),
                body.clone(),
                Some(token),
            )
            .await;
        assert_eq!(st, 200, "lending action {body} on {id}: {v}");
        v
    }

    /// Poll until `check` holds for the JSON at `path` (messages travel through the outbox).
    pub async fn eventually(
        &self,
        path: &str,
        token: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = Value::Null;
        for _ in 0..200 {
            let (st, v) = self.get(path, Some(token)).await;
            if st == 200 && check(&v) {
                return v;
            }
            last = v;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{path} never reached the expected state; last: {last}");
    }

    /// The lending request for a borrowing request id, as the lender's staff see it.
    /// The kept queue counts of each of `libraries` equal a recount of its requests: as
    /// readers see them, and again once the notes are folded in (PostgreSQL; on SQLite the
    /// fold has nothing to do).
    pub async fn assert_kept_counts(&self, libraries: &[&str], when: &str) {
        let store = &self.state.store;
        for fold in [false, true] {
            if fold {
                store.fold_queue_counts().await.unwrap();
            }
            for lib in libraries {
                let kept = store.queue_counts(lib).await.unwrap();
                let recount = store.queue_recount(lib).await.unwrap();
                assert_eq!(kept, recount, "{lib}, {when}, folded: {fold}");
            }
        }
    }

    pub async fn lend_for(&self, token: &str, borrow_id: &str) -> Value {
        let v = self
            .eventually(&format!("/api/v1/lending?q={borrow_id}"), token, |v| {
                v["items"].as_array().is_some_and(|i| i.len() == 1)
            })
            .await;
        v["items"][0].clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A fresh bucket on the S3-compatible server of the tests (`TEST_S3_ENDPOINT`, e.g.
/// `moto_server`, which `scripts/test` installs and starts on a free loopback port).
#[derive(Debug, Clone)]
pub struct Bucket {
    pub endpoint: String,
    pub name: String,
}

impl Bucket {
    /// A new empty bucket; `None` (saying the S3 part of `test` is skipped) without a server.
    pub async fn fresh(test: &str) -> Option<Bucket> {
        let endpoint = match std::env::var("TEST_S3_ENDPOINT") {
            Ok(e) if !e.trim().is_empty() => e.trim().trim_end_matches('/').to_owned(),
            _ => {
                eprintln!(
                    "{test}: S3 part skipped: no S3-compatible server (set TEST_S3_ENDPOINT, e.g. to a moto_server; scripts/test starts one)"
                );
                return None;
            }
        };
        let name = format!("librelay-t-{}", uuid_like());
        let resp = reqwest::Client::new()
            .put(format!("{endpoint}/{name}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("TEST_S3_ENDPOINT {endpoint} does not answer: {e}"));
        assert!(
            resp.status().is_success(),
            "creating bucket {name}: HTTP {}",
            resp.status()
        );
        Some(Bucket { endpoint, name })
    }

    /// Point `c` at this bucket.
    pub fn apply(&self, c: &mut Config) {
        c.s3_bucket = self.name.clone();
        c.s3_endpoint = self.endpoint.clone();
        c.s3_region = "us-east-1".to_owned();
        c.s3_access_key_id = "librelay-test".to_owned();
        c.s3_secret_access_key = "librelay-test-secret".to_owned();
    }

    /// Point `c` at the folder `prefix` of this bucket.
    pub fn apply_prefixed(&self, c: &mut Config, prefix: &str) {
        self.apply(c);
        c.s3_prefix = prefix.to_owned();
    }

    /// The keys of every object in the bucket, read from the server itself.
    pub async fn keys(&self) -> Vec<String> {
        let text = reqwest::Client::new()
            .get(format!("{}/{}?list-type=2", self.endpoint, self.name))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    /// The multipart uploads begun in the bucket and neither completed nor aborted.
    pub async fn uploads_in_progress(&self) -> usize {
        let text = reqwest::Client::new()
            .get(format!("{}/{}?uploads", self.endpoint, self.name))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.matches("<Upload>").count()
    }

    /// The ETag of `key` as the server gives it (a multipart object's ends in `-PARTS"`).
    pub async fn etag(&self, key: &str) -> String {
        let resp = reqwest::Client::new()
            .head(format!("{}/{}/{key}", self.endpoint, self.name))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "HEAD {key}: HTTP {}",
            resp.status()
        );
        resp.headers()["etag"].to_str().unwrap().to_owned()
    }

    /// Remove the (empty) bucket.
    pub async fn remove(&self) {
        let resp = reqwest::Client::new()
            .delete(format!("{}/{}", self.endpoint, self.name))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "HTTP {}", resp.status());
    }
}
