//! Letters beyond the first ones, against the SMTP sink on loopback, on SQLite and PostgreSQL:
//! every step of a loan reaches the reader in their language; a library's own template is used,
//! previewed, and refused when it cannot work; password reset links work once and expire;
//! digests gather a day's letters into one mail; reminders go out once per due date; the jobs
//! are visible to admins.

use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, engines};
use crate::letters::{Mail, SmtpSink};

async fn app_on(engine: Engine, sink: &SmtpSink) -> TestApp {
    let port = sink.start().await;
    TestApp::spawn_with(engine, |c| {
        c.smtp_host = "127.0.0.1".to_owned();
        c.smtp_port = port;
        c.smtp_tls = "none".to_owned();
        c.mail_from = "Interlibrary Loan <ill@bcu.example.edu>".to_owned();
    })
    .await
}

/// Wait for a mail to `to` whose subject contains `subject`.
async fn mail_to(sink: &SmtpSink, to: &str, subject: &str) -> Mail {
    for _ in 0..400 {
        if let Some(m) = sink
            .mails
            .lock()
            .await
            .iter()
            .find(|m| m.to == to && m.subject.contains(subject))
        {
            return m.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!(
        "no mail to {to} with {subject:?}; got {:#?}",
        sink.mails.lock().await.clone()
    );
}

async fn count_to(sink: &SmtpSink, to: &str, subject: &str) -> usize {
    sink.mails
        .lock()
        .await
        .iter()
        .filter(|m| m.to == to && m.subject.contains(subject))
        .count()
}

async fn put(app: &TestApp, path: &str, body: Value, token: &str, lang: &str) -> (u16, Value) {
    let resp = app
        .client
        .put(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("accept-language", lang)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn delete(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let resp = app
        .client
        .delete(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

struct Words {
    sent: &'static str,
    conditional: &'static str,
    shipped: &'static str,
    ready: &'static str,
    due_soon: &'static str,
    recalled: &'static str,
    overdue: &'static str,
}

const ZH: Words = Words {
    sent: "您的申请已发往合作馆",
    conditional: "请答复出借馆的条件",
    shipped: "出借馆已寄出",
    ready: "您申请的图书已到馆",
    due_soon: "即将到期",
    recalled: "出借馆召回图书",
    overdue: "已逾期",
};

const EN: Words = Words {
    sent: "Your request went to a partner library",
    conditional: "Conditions need your answer",
    shipped: "On its way",
    ready: "Ready for pickup",
    due_soon: "Due soon",
    recalled: "Recalled",
    overdue: "Overdue",
};

async fn a_loan_told_step_by_step(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let xnu_lib = app.state.store.library("XNU").await.unwrap();
    for (reader, words, lender_name) in [
        ("bcu-faculty", &ZH, &xnu_lib.name_zh),
        ("bcu-external", &EN, &xnu_lib.name_en),
    ] {
        let to = format!("{reader}@bcu.example.edu");
        let title = format!("Letters for {reader}");
        let id = app.loan_for(&bcu, reader, &title, &["XNU"]).await;

        app.borrow_action(&bcu, &id, json!({"action": "approve"}))
            .await;
        let m = mail_to(&sink, &to, words.sent).await;
        assert!(m.subject.contains(&title), "{m:?}");
        assert!(
            m.body.contains(lender_name.as_str()) && m.body.contains(&id),
            "{m:?}"
        );

        let lend_id = app.lend_for(&xnu, &id).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.lend_action(
            &xnu,
            &lend_id,
            json!({"action": "conditional", "note": "library use only"}),
        )
        .await;
        let m = mail_to(&sink, &to, words.conditional).await;
        assert!(m.body.contains("library use only"), "{m:?}");
        assert!(
            !m.body.contains('#'),
            "no protocol marker in the letter: {m:?}"
        );

        app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "conditional_pending"
        })
        .await;
        app.borrow_action(&bcu, &id, json!({"action": "accept_conditions"}))
            .await;
        let due = app.state.now().date() + time::Duration::days(2);
        app.eventually(&format!("/api/v1/lending/{lend_id}"), &xnu, |v| {
            v["state"] == "will_supply"
        })
        .await;
        app.lend_action(
            &xnu,
            &lend_id,
            json!({"action": "ship_physical", "barcode": "X1", "due_date": due.to_string()}),
        )
        .await;
        let m = mail_to(&sink, &to, words.shipped).await;
        assert!(
            m.subject.contains(&title) && m.body.contains(lender_name.as_str()),
            "{m:?}"
        );

        app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "shipped"
        })
        .await;
        app.borrow_action(&bcu, &id, json!({"action": "receive"}))
            .await;
        mail_to(&sink, &to, words.ready).await;
        app.borrow_action(&bcu, &id, json!({"action": "lend_to_patron"}))
            .await;
        // Due in two days, the library's default is three: the reminder goes out now.
        let m = mail_to(&sink, &to, words.due_soon).await;
        assert!(m.body.contains(&due.to_string()), "{m:?}");

        app.lend_action(&xnu, &lend_id, json!({"action": "recall"}))
            .await;
        let m = mail_to(&sink, &to, words.recalled).await;
        assert!(m.subject.contains(&title), "{m:?}");

        // Every sweep after this finds the reminder already sent.
        for _ in 0..3 {
            server::jobs::sweep_reminders(&app.state).await.unwrap();
        }
        assert_eq!(count_to(&sink, &to, words.due_soon).await, 1);
    }
    // Three days on both loans are overdue: one letter each, however often the sweep runs.
    app.clock.advance(time::Duration::days(3));
    for (reader, words) in [("bcu-faculty", &ZH), ("bcu-external", &EN)] {
        let to = format!("{reader}@bcu.example.edu");
        let m = mail_to(&sink, &to, words.overdue).await;
        assert!(m.body.contains(&format!("Letters for {reader}")), "{m:?}");
    }
    for _ in 0..3 {
        assert_eq!(server::jobs::sweep_reminders(&app.state).await.unwrap(), 0);
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    for (reader, words) in [("bcu-faculty", &ZH), ("bcu-external", &EN)] {
        let to = format!("{reader}@bcu.example.edu");
        assert_eq!(count_to(&sink, &to, words.overdue).await, 1, "{to}");
        assert_eq!(count_to(&sink, &to, words.due_soon).await, 1, "{to}");
    }
}

#[tokio::test]
async fn every_step_of_a_loan_reaches_the_reader_in_their_language_and_reminders_go_once() {
    for e in engines() {
        a_loan_told_step_by_step(e).await;
    }
}

async fn templates(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let admin = app.login("bcu-admin").await;
    let path = "/api/v1/libraries/BCU/letters/request_received/en";

    let (st, v) = app.get(path, Some(&admin)).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["custom"], false);
    assert!(
        v["subject"]
            .as_str()
            .unwrap()
            .starts_with("Your interlibrary loan request")
    );

    // Refusals say what and where, in English and in Chinese.
    let (st, v) = put(
        &app,
        path,
        json!({"subject": "Hi {{ reader_nmae }}", "body": "x"}),
        &admin,
        "en",
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_template");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("subject:") && msg.contains("reader_nmae"),
        "{v}"
    );
    let (st, v) = put(
        &app,
        path,
        json!({"subject": "Hi", "body": "Dear {{ reader_name }},\n{% if title %}no end"}),
        &admin,
        "zh-CN",
    )
    .await;
    assert_eq!(st, 422, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("正文第 2 行"), "{v}");
    assert!(
        v["error"]["message_en"]
            .as_str()
            .unwrap()
            .starts_with("body, line 2:"),
        "{v}"
    );
    let (st, _) = app
        .post(
            &format!("{path}/preview"),
            json!({"body": "{{ nope }}"}),
            Some(&admin),
        )
        .await;
    assert_eq!(st, 422);

    // Others may not touch the library's letters.
    let lend = app.login("bcu-lend").await;
    let (st, _) = put(
        &app,
        path,
        json!({"subject": "x", "body": "y"}),
        &lend,
        "en",
    )
    .await;
    assert_eq!(st, 403);
    let xnu_admin = app.login("xnu-admin").await;
    let (st, _) = app.get(path, Some(&xnu_admin)).await;
    assert_eq!(st, 403);
    let (st, v) = app
        .get("/api/v1/libraries/BCU/letters/no_such/en", Some(&admin))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (404, Some("unknown_letter_kind")),
        "{v}"
    );

    // A preview with sample values, then the library's own letter is the one sent.
    let own = json!({
        "subject": "BCU got it: {{ title }}",
        "body": "Hello {{ reader_name }}! Request {{ request_id }} is with us.\n-- {{ library_name }}",
    });
    let (st, v) = app
        .post(&format!("{path}/preview"), own.clone(), Some(&admin))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["subject"], "BCU got it: Moby Dick");
    let bcu = app.state.store.library("BCU").await.unwrap();
    assert!(
        v["body"]
            .as_str()
            .unwrap()
            .ends_with(&format!("-- {}", bcu.name_en)),
        "{v}"
    );
    let (st, v) = put(&app, path, own, &admin, "en").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["custom"], true);

    let reader = app.login("bcu-external").await;
    let (_, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Own words"}}),
            Some(&reader),
        )
        .await;
    let m = mail_to(
        &sink,
        "bcu-external@bcu.example.edu",
        "BCU got it: Own words",
    )
    .await;
    assert!(m.body.starts_with("Hello "), "{m:?}");
    assert!(m.body.contains(req["id"].as_str().unwrap()), "{m:?}");
    // The Chinese letter is untouched.
    let zh = app.login("bcu-faculty").await;
    app.post(
        "/api/v1/requests",
        json!({"format": "loan", "citation": {"title": "原样"}}),
        Some(&zh),
    )
    .await;
    mail_to(
        &sink,
        "bcu-faculty@bcu.example.edu",
        "馆际互借申请已收到：原样",
    )
    .await;

    // Back to the default.
    let (st, v) = delete(&app, path, &admin).await;
    assert_eq!((st, &v["custom"]), (200, &json!(false)), "{v}");
    app.post(
        "/api/v1/requests",
        json!({"format": "loan", "citation": {"title": "Default again"}}),
        Some(&reader),
    )
    .await;
    mail_to(
        &sink,
        "bcu-external@bcu.example.edu",
        "Your interlibrary loan request: Default again",
    )
    .await;
}

#[tokio::test]
async fn a_library_edits_previews_and_resets_its_letters_and_bad_templates_are_refused() {
    for e in engines() {
        templates(e).await;
    }
}

fn link_in(body: &str) -> String {
    body.split_whitespace()
        .find(|w| w.contains("/reset-password/"))
        .expect("a reset link")
        .to_owned()
}

async fn reset(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let old_session = app.login("bcu-external").await;

    // The same answer for an account, an address and nobody.
    let mut answers = Vec::new();
    for login in ["bcu-external", "nobody-here", "nobody@example.edu"] {
        answers.push(
            app.post("/api/v1/password-reset", json!({"login": login}), None)
                .await,
        );
    }
    assert_eq!(answers[0].0, 202);
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");

    let m = mail_to(&sink, "bcu-external@bcu.example.edu", "Reset your password").await;
    assert!(m.body.contains("bcu-external"), "{m:?}");
    let link = link_in(&m.body);
    assert!(link.starts_with(&app.base), "{link}");
    let token = link.rsplit('/').next().unwrap().to_owned();
    // Staff see the letter in the outbox, not the secret.
    let (_, out) = app
        .get(
            "/api/v1/outbox?status=delivered",
            Some(&app.login("bcu-borrow").await),
        )
        .await;
    assert!(!out.to_string().contains(&token), "{out}");

    // The page opens; a short password is refused and the link still works.
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("password_again"));
    let path = format!("/api/v1/password-reset/{token}");
    let (st, _) = app.post(&path, json!({"password": "short"}), None).await;
    assert_eq!(st, 422);
    let (st, v) = app
        .post(&path, json!({"password": "a new secret 1"}), None)
        .await;
    assert_eq!(st, 204, "{v}");
    // Once only; old sessions are over; the new password works.
    let (st, v) = app
        .post(&path, json!({"password": "another one 2"}), None)
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (410, Some("reset_link_invalid")),
        "{v}"
    );
    let (st, _) = app.get("/api/v1/me", Some(&old_session)).await;
    assert_eq!(st, 401);
    let (st, _) = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "bcu-external", "password": "a new secret 1"}),
            None,
        )
        .await;
    assert_eq!(st, 200);

    // By e-mail address, through the web pages, and an hour later the link is dead.
    let form = app
        .client
        .post(format!("{}/reset-password", app.base))
        .header("accept-language", "zh-CN")
        .form(&[("login", "BCU-Faculty@bcu.example.edu")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 200);
    assert!(form.text().await.unwrap().contains("如有匹配的账户"));
    let m = mail_to(&sink, "bcu-faculty@bcu.example.edu", "重设密码").await;
    assert!(m.body.contains("仅可使用一次"), "{m:?}");
    let link = link_in(&m.body);
    app.clock.advance(time::Duration::minutes(61));
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 410);
    let posted = app
        .client
        .post(&link)
        .form(&[
            ("password", "too late 123"),
            ("password_again", "too late 123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 410);
    app.login("bcu-faculty").await;
}

#[tokio::test]
async fn a_reset_link_works_once_ends_every_session_and_expires() {
    for e in engines() {
        reset(e).await;
    }
}

async fn digest(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let reader = app.login("bcu-external").await;
    let (st, v) = app
        .get("/api/v1/me/letter-preferences", Some(&reader))
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v["preferences"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["delivery"] == "immediately")
    );
    let (st, v) = put(
        &app,
        "/api/v1/me/letter-preferences",
        json!([{"kind": "password_reset", "delivery": "never"}]),
        &reader,
        "en",
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("always_immediate")),
        "{v}"
    );
    let (st, v) = put(
        &app,
        "/api/v1/me/letter-preferences",
        json!([{"kind": "request_received", "delivery": "daily_digest"},
               {"kind": "cancelled", "delivery": "never"}]),
        &reader,
        "en",
    )
    .await;
    assert_eq!(st, 200, "{v}");

    let mut ids = Vec::new();
    for title in ["First of the day", "Second of the day"] {
        let (_, req) = app
            .post(
                "/api/v1/requests",
                json!({"format": "loan", "citation": {"title": title}}),
                Some(&reader),
            )
            .await;
        ids.push(req["id"].as_str().unwrap().to_owned());
    }
    // Cancelled: turned off.
    app.borrow_action(&reader, &ids[1], json!({"action": "cancel"}))
        .await;
    let bcu = app.login("bcu-borrow").await;
    app.eventually("/api/v1/outbox?status=skipped", &bcu, |v| {
        let s = v.to_string();
        s.matches("held for the recipient").count() == 2 && s.contains("turned this kind")
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        sink.mails.lock().await.is_empty(),
        "{:?}",
        sink.mails.lock().await
    );

    // The next morning: one mail with both letters.
    app.clock.advance(time::Duration::days(1));
    let m = mail_to(
        &sink,
        "bcu-external@bcu.example.edu",
        "daily digest: 2 letters",
    )
    .await;
    assert!(
        m.body.contains("First of the day") && m.body.contains("Second of the day"),
        "{m:?}"
    );
    assert!(
        m.body.contains(&ids[0]) && m.body.contains(&ids[1]),
        "{m:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(sink.mails.lock().await.len(), 1);
    assert_eq!(server::jobs::send_digests(&app.state).await.unwrap(), 0);

    // A library may forbid turning letters off.
    let admin = app.login("bcu-admin").await;
    let (st, _) = put(
        &app,
        "/api/v1/libraries/BCU/letter-settings",
        json!({"due_soon_days": 5, "allow_never": false}),
        &admin,
        "en",
    )
    .await;
    assert_eq!(st, 200);
    let (st, v) = put(
        &app,
        "/api/v1/me/letter-preferences",
        json!([{"kind": "overdue", "delivery": "never"}]),
        &reader,
        "zh-CN",
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("never_not_allowed")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("本馆不允许"),
        "{v}"
    );

    // The jobs as admins see them.
    let (st, jobs) = app.get("/api/v1/jobs", Some(&admin)).await;
    assert_eq!(st, 200, "{jobs}");
    let digest = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "daily_digest")
        .unwrap();
    assert!(
        digest["last_result"].as_str().unwrap().starts_with("ok"),
        "{digest}"
    );
    assert!(
        digest["next_run"].as_str().unwrap().ends_with(":00:00Z"),
        "{digest}"
    );
    for name in ["due_date_reminders", "lender_deadlines", "overdue_loans"] {
        assert!(
            jobs.as_array().unwrap().iter().any(|j| j["job"] == name),
            "{name}: {jobs}"
        );
    }
    let (st, _) = app.get("/api/v1/jobs", Some(&reader)).await;
    assert_eq!(st, 403);
}

#[tokio::test]
async fn a_daily_digest_gathers_held_letters_into_one_mail() {
    for e in engines() {
        digest(e).await;
    }
}

async fn welcome(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let (st, v) = app
        .post(
            "/api/v1/register",
            json!({"library": "BCU", "username": "new-reader", "password": "long enough 1",
                   "display_name": "New Reader", "email": "new-reader@example.edu",
                   "patron_type": "external", "locale": "en"}),
            None,
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let staff = app.login("bcu-borrow").await;
    let (st, _) = app
        .post(
            &format!("/api/v1/patrons/{}/approve", v["id"].as_str().unwrap()),
            json!({}),
            Some(&staff),
        )
        .await;
    assert_eq!(st, 200);
    let m = mail_to(
        &sink,
        "new-reader@example.edu",
        "Your interlibrary loan account is ready",
    )
    .await;
    assert!(
        m.body.contains("Dear New Reader") && m.body.contains("new-reader"),
        "{m:?}"
    );
    // A reader who registered in Chinese is welcomed in Chinese.
    let (st, v) = app
        .post(
            "/api/v1/register",
            json!({"library": "BCU", "username": "xin-duzhe", "password": "long enough 2",
                   "display_name": "新读者", "email": "xin-duzhe@example.edu",
                   "patron_type": "master", "locale": "zh-CN"}),
            None,
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = app
        .post(
            &format!("/api/v1/patrons/{}/approve", v["id"].as_str().unwrap()),
            json!({}),
            Some(&staff),
        )
        .await;
    assert_eq!(st, 200);
    let m = mail_to(&sink, "xin-duzhe@example.edu", "您的馆际互借账户已开通").await;
    assert!(
        m.body.contains("新读者") && m.body.contains("xin-duzhe"),
        "{m:?}"
    );
}

#[tokio::test]
async fn an_approved_registration_is_told_to_the_reader() {
    for e in engines() {
        welcome(e).await;
    }
}

async fn job_lease(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let store = app.state.store.clone();
    let t0 = app.state.now();
    let start = |at: time::OffsetDateTime, scheduled: bool| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    Box::pin(async move {
                        tx.job_start("test_job", at, at + time::Duration::minutes(10), scheduled)
                            .await
                    })
                })
                .await
                .unwrap()
        }
    };
    let minutes = time::Duration::minutes;
    assert!(start(t0, true).await, "a job never run is due");
    assert!(
        !start(t0 + minutes(1), false).await,
        "held by the first run"
    );
    assert!(
        start(t0 + minutes(11), false).await,
        "a run that died loses its lease"
    );
    let next = t0 + time::Duration::days(1);
    store
        .write(move |tx| {
            Box::pin(async move {
                tx.job_finished("test_job", t0 + minutes(12), Err("it broke"), next)
                    .await
            })
        })
        .await
        .unwrap();
    assert!(
        !start(t0 + minutes(13), true).await,
        "not due before next_run"
    );
    let runs = store.job_runs().await.unwrap();
    let run = runs.iter().find(|r| r.job == "test_job").unwrap();
    assert_eq!(run.last_error.as_deref(), Some("it broke"));
    assert_eq!(
        (run.failures, run.last_result.as_deref()),
        (1, Some("failed"))
    );
    assert!(run.lease_until.is_none());
    assert!(start(next, true).await);
}

#[tokio::test]
async fn a_job_runs_in_one_process_at_a_time_and_when_due() {
    for e in engines() {
        job_lease(e).await;
    }
}

async fn digest_claimed_once(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let reader = app.login("bcu-faculty").await;
    let (st, _) = put(
        &app,
        "/api/v1/me/letter-preferences",
        json!([{"kind": "request_received", "delivery": "daily_digest"}]),
        &reader,
        "en",
    )
    .await;
    assert_eq!(st, 200);
    for i in 0..3 {
        app.post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": format!("Held {i}")}}),
            Some(&reader),
        )
        .await;
    }
    let bcu = app.login("bcu-borrow").await;
    app.eventually("/api/v1/outbox?status=skipped", &bcu, |v| {
        v.to_string().matches("held for the recipient").count() == 3
    })
    .await;
    // Two workers at once: the letters go into exactly one digest.
    let (a, b) = tokio::join!(
        server::jobs::send_digests(&app.state),
        server::jobs::send_digests(&app.state)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    let m = mail_to(&sink, "bcu-faculty@bcu.example.edu", "每日汇总：3 封通知").await;
    for i in 0..3 {
        assert!(m.body.contains(&format!("Held {i}")), "{m:?}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(sink.mails.lock().await.len(), 1);
}

#[tokio::test]
async fn two_digest_workers_at_once_send_one_digest() {
    for e in engines() {
        digest_claimed_once(e).await;
    }
}

async fn reminder_days(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let reader = app.login("bcu-external").await;
    let patron = app.get("/api/v1/me", Some(&reader)).await.1["id"].clone();
    let (_, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "patron_id": patron, "citation": {"title": "Five days"}, "rota": ["XNU"]}),
            Some(&bcu),
        )
        .await;
    let id = req["id"].as_str().unwrap().to_owned();
    app.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let lend_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Five days from today at BCU, whose days the reminders count.
    let bcu_today = app
        .state
        .store
        .library("BCU")
        .await
        .unwrap()
        .offset()
        .date(app.state.now());
    let due = bcu_today + time::Duration::days(5);
    app.lend_action(
        &xnu,
        &lend_id,
        json!({"action": "ship_physical", "barcode": "X5", "due_date": due.to_string()}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "shipped"
    })
    .await;
    app.borrow_action(&bcu, &id, json!({"action": "receive"}))
        .await;
    app.borrow_action(&bcu, &id, json!({"action": "lend_to_patron"}))
        .await;
    // Five days ahead and the default of three: not yet.
    assert_eq!(server::jobs::sweep_reminders(&app.state).await.unwrap(), 0);
    assert_eq!(
        count_to(&sink, "bcu-external@bcu.example.edu", "Due soon").await,
        0
    );
    // The library reminds five days ahead: now.
    let admin = app.login("bcu-admin").await;
    let (st, v) = put(
        &app,
        "/api/v1/libraries/BCU/letter-settings",
        json!({"due_soon_days": 5, "allow_never": true}),
        &admin,
        "en",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let m = mail_to(&sink, "bcu-external@bcu.example.edu", "Due soon: Five days").await;
    assert!(m.body.contains("(in 5 days)"), "{m:?}");
    let (st, v) = put(
        &app,
        "/api/v1/libraries/BCU/letter-settings",
        json!({"due_soon_days": 0, "allow_never": true}),
        &admin,
        "zh-CN",
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert!(
        v["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("到期提醒提前天数"),
        "{v}"
    );
}

#[tokio::test]
async fn the_due_soon_reminder_follows_the_librarys_days() {
    for e in engines() {
        reminder_days(e).await;
    }
}

async fn cancelled_and_unfilled(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let staff = app.login("bcu-borrow").await;
    let lender = app.login("xnu-lend").await;
    for (reader, cancelled, unfilled, reason) in [
        (
            "bcu-external",
            "Request cancelled: ",
            "We could not obtain: ",
            "Reason: ",
        ),
        (
            "bcu-faculty",
            "馆际互借申请已取消：",
            "很抱歉，未能为您借到：",
            "原因：",
        ),
    ] {
        let token = app.login(reader).await;
        let to = format!("{reader}@bcu.example.edu");
        // Cancelled by the reader before it was worked.
        let title = format!("取消 Cancelled for {reader}");
        let (st, v) = app
            .post(
                "/api/v1/requests",
                json!({"format": "loan", "citation": {"title": title}}),
                Some(&token),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let (st, v) = app
            .post(
                &format!("/api/v1/requests/{id}/actions"),
                json!({"action": "cancel"}),
                Some(&token),
            )
            .await;
        assert_eq!((st, &v["state"]), (200, &json!("cancelled")), "{v}");
        let m = mail_to(&sink, &to, &format!("{cancelled}{title}")).await;
        assert!(m.body.contains(&id), "{m:?}");
        // Unfilled: the only lender cannot supply, and says why.
        let title = format!("无法提供 Unfilled for {reader}");
        let (_, v) = app
            .post(
                "/api/v1/requests",
                json!({"format": "loan", "citation": {"title": title}}),
                Some(&token),
            )
            .await;
        let id = v["id"].as_str().unwrap().to_owned();
        app.borrow_action(&staff, &id, json!({"action": "edit_rota", "rota": ["XNU"]}))
            .await;
        app.borrow_action(&staff, &id, json!({"action": "approve"}))
            .await;
        let lend = app.lend_for(&lender, &id).await;
        app.lend_action(
            &lender,
            lend["id"].as_str().unwrap(),
            json!({"action": "reject", "reason": "NotOnShelf", "note": "missing from the shelf 书架上没有"}),
        )
        .await;
        let m = mail_to(&sink, &to, &format!("{unfilled}{title}")).await;
        assert!(m.body.contains(&id), "{m:?}");
        assert!(m.body.contains(reason), "the reason is told: {m:?}");
        assert!(m.body.contains("书架上没有"), "{m:?}");
    }
}

#[tokio::test]
async fn cancelled_and_unfilled_letters_reach_the_reader_in_their_language() {
    for e in engines() {
        cancelled_and_unfilled(e).await;
    }
}
