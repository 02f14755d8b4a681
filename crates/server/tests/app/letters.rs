//! Letters to readers through a real SMTP conversation with a sink the test runs on loopback:
//! each letter arrives in the reader's language with its content; a mail server that refuses
//! gets the letter retried and then parked for staff.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

use crate::helpers::{Engine as DbEngine, TestApp};

/// One mail as the sink got it: envelope recipient, decoded subject and body.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The headers as sent, unfolded.
    pub headers: Vec<String>,
}

/// A small SMTP server: answers what a client needs to hand over mail, keeps every message;
/// while `busy` it answers MAIL FROM with a temporary failure (451).
#[derive(Clone, Default)]
pub struct SmtpSink {
    pub mails: Arc<Mutex<Vec<Mail>>>,
    pub busy: Arc<AtomicBool>,
    /// While set, every recipient is refused for good (550).
    pub refuse: Arc<AtomicBool>,
}

impl SmtpSink {
    pub async fn start(&self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move { sink.session(stream).await });
            }
        });
        port
    }

    async fn session(&self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let _ = write.write_all(b"220 sink ESMTP\r\n").await;
        let mut to = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let upper = line.to_ascii_uppercase();
            let answer: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                b"250-sink\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("MAIL FROM") {
                if self.busy.load(Ordering::SeqCst) {
                    b"451 try again later\r\n"
                } else {
                    b"250 OK\r\n"
                }
            } else if upper.starts_with("RCPT TO") {
                to = line[8..].trim().trim_matches(['<', '>', ':']).to_owned();
                if self.refuse.load(Ordering::SeqCst) {
                    b"550 5.1.1 no such user\r\n"
                } else {
                    b"250 OK\r\n"
                }
            } else if upper == "DATA" {
                let _ = write.write_all(b"354 go ahead\r\n").await;
                let mut data = Vec::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    data.push(l);
                }
                self.mails.lock().await.push(decode(&to, &data));
                b"250 queued\r\n"
            } else if upper == "QUIT" {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            } else {
                b"250 OK\r\n"
            };
            if write.write_all(answer).await.is_err() {
                return;
            }
        }
    }

    /// Wait for `n` mails.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        for _ in 0..200 {
            let mails = self.mails.lock().await.clone();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!(
            "expected {n} mails, got {:?}",
            self.mails.lock().await.clone()
        );
    }
}

fn decode(to: &str, data: &[String]) -> Mail {
    let b64 = base64::engine::general_purpose::STANDARD;
    let split = data.iter().position(|l| l.is_empty()).unwrap_or(data.len());
    // Unfold headers.
    let mut headers: Vec<String> = Vec::new();
    for l in &data[..split] {
        if l.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                // Unfolding removes the line break only; the white space stays.
                last.push_str(l);
            }
        } else {
            headers.push(l.clone());
        }
    }
    let subject_raw: &str = headers
        .iter()
        .find_map(|h| h.strip_prefix("Subject: "))
        .unwrap_or_default();
    // RFC 2047: encoded words (base64) and plain words; the space between two encoded words
    // is not part of the text, any other is.
    let mut subject = String::new();
    let mut last_encoded = false;
    for word in subject_raw.split_whitespace() {
        let inner = word
            .strip_prefix("=?utf-8?b?")
            .or_else(|| word.strip_prefix("=?UTF-8?B?"))
            .and_then(|w| w.strip_suffix("?="));
        let (text, encoded) = match inner {
            Some(i) => (String::from_utf8(b64.decode(i).unwrap()).unwrap(), true),
            None => (word.to_owned(), false),
        };
        let joined = encoded && last_encoded;
        if !subject.is_empty() && !joined {
            subject.push(' ');
        }
        subject.push_str(&text);
        last_encoded = encoded;
    }
    let body_b64: String = data[split..].iter().map(|l| l.trim()).collect();
    let body = String::from_utf8(b64.decode(body_b64).unwrap()).unwrap();
    Mail {
        to: to.to_owned(),
        subject,
        body,
        headers,
    }
}

async fn app_with_sink(sink: &SmtpSink) -> TestApp {
    let port = sink.start().await;
    TestApp::spawn_with(DbEngine::Sqlite, |c| {
        c.smtp_host = "127.0.0.1".to_owned();
        c.smtp_port = port;
        c.smtp_tls = "none".to_owned();
        c.mail_from = "Interlibrary Loan <ill@bcu.example.edu>".to_owned();
    })
    .await
}

#[tokio::test]
async fn readers_get_their_letters_in_their_own_language() {
    let sink = SmtpSink::default();
    let app = app_with_sink(&sink).await;
    // A Chinese-speaking reader and an English-speaking (external) one ask for the same book.
    for (who, lang) in [("bcu-faculty", "zh"), ("bcu-external", "en")] {
        let token = app.login(who).await;
        let (st, req) = app
            .post(
                "/api/v1/requests",
                json!({"format": "loan", "citation": {"title": "Letters of Note", "author": "Usher, S."}}),
                Some(&token),
            )
            .await;
        assert_eq!(st, 201, "{req}");
        let mails = sink.wait_for(if lang == "zh" { 1 } else { 2 }).await;
        let m = mails.last().unwrap();
        assert_eq!(m.to, format!("{who}@bcu.example.edu"));
        assert!(m.subject.contains("Letters of Note"), "{m:?}");
        if lang == "zh" {
            assert!(m.subject.contains("馆际互借申请已收到"), "{m:?}");
            assert!(m.body.contains("我们已收到您的馆际互借申请"), "{m:?}");
        } else {
            assert!(
                m.subject.starts_with("Your interlibrary loan request"),
                "{m:?}"
            );
            assert!(m.body.contains("we have received your request"), "{m:?}");
        }
        assert!(m.body.contains(req["id"].as_str().unwrap()), "{m:?}");
    }
}

#[tokio::test]
async fn a_delivered_copy_letter_carries_the_readers_link_and_it_opens() {
    let sink = SmtpSink::default();
    let app = app_with_sink(&sink).await;
    let id = crate::delivery::article_for(&app, "bcu-external", "XNU").await;
    crate::delivery::ship_and_deliver(&app, "xnu-lend", &app, &id).await;
    // Received, sent to the lender, shipped, then the copy: find the copy's letter.
    let mut mails = sink.wait_for(2).await;
    for _ in 0..200 {
        if mails
            .iter()
            .any(|m| m.subject.starts_with("Your copy has arrived"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        mails = sink.mails.lock().await.clone();
    }
    let m = mails
        .iter()
        .find(|m| m.subject.starts_with("Your copy has arrived"))
        .unwrap_or_else(|| panic!("no copy letter in {mails:?}"));
    assert!(m.body.contains("at most 5 times"), "{m:?}");
    let link = m
        .body
        .split_whitespace()
        .find(|w| w.contains("/d/"))
        .expect("a link in the letter")
        .to_owned();
    assert!(link.starts_with(&app.base), "{link} is on this node");
    let resp = app.client.get(&link).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), crate::delivery::PDF);
}

#[tokio::test]
async fn a_busy_mail_server_gets_the_letter_again_then_it_is_parked_and_can_be_resent() {
    let sink = SmtpSink::default();
    sink.busy.store(true, Ordering::SeqCst);
    let app = app_with_sink(&sink).await;
    let patron = app.login("bcu-faculty").await;
    app.post(
        "/api/v1/requests",
        json!({"format": "loan", "citation": {"title": "Patience", "author": "Waiting, W."}}),
        Some(&patron),
    )
    .await;
    let mut parked = Value::Null;
    for _ in 0..40 {
        app.clock.advance(time::Duration::hours(7));
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let bcu = app.login("bcu-borrow").await;
        let (_, dead) = app.get("/api/v1/outbox?status=dead", Some(&bcu)).await;
        if let Some(m) = dead.as_array().and_then(|d| d.first()) {
            parked = m.clone();
            break;
        }
    }
    assert_eq!(parked["kind"], "email", "{parked}");
    assert_eq!(parked["attempts"], 8, "{parked}");
    assert!(
        parked["last_error"].as_str().unwrap().contains("451"),
        "{parked}"
    );
    sink.busy.store(false, Ordering::SeqCst);
    let bcu = app.login("bcu-borrow").await;
    let (st, _) = app
        .post(
            &format!("/api/v1/outbox/{}/resend", parked["id"]),
            json!({}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 204);
    let mails = sink.wait_for(1).await;
    assert!(mails[0].subject.contains("Patience"));
}

/// Every kind of letter a person receives, in Chinese and in English, through the real SMTP
/// path: what arrives is the library's template written out for that person, word for word.
#[tokio::test]
async fn every_letter_kind_arrives_in_both_languages_with_its_content() {
    use server::letters::{self, LetterKind};
    let sink = SmtpSink::default();
    let app = app_with_sink(&sink).await;
    let mut expected = Vec::new();
    for (who, lang) in [("bcu-faculty", "zh-CN"), ("bcu-external", "en")] {
        let user = app
            .state
            .store
            .user_by_username(who)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(letters::lang_of(&user), lang, "{who}");
        let library = app.state.store.library(&user.library_id).await.unwrap();
        // The letter's own values; the person's name and library come from the store.
        let mut vars = letters::sample_vars(lang);
        for own in ["reader_name", "recipient_name", "username", "library_name"] {
            vars.as_object_mut().unwrap().remove(own);
        }
        let mut all = vars.clone();
        all["reader_name"] = json!(user.display_name);
        all["recipient_name"] = json!(user.display_name);
        all["username"] = json!(user.username);
        all["library_name"] = json!(if lang == "zh-CN" {
            &library.name_zh
        } else {
            &library.name_en
        });
        for kind in LetterKind::ALL
            .iter()
            .copied()
            .filter(|k| !k.for_partner() && *k != LetterKind::Digest)
        {
            let (subject, body) = letters::default_template(kind, lang);
            let subject = letters::render(subject, &all).unwrap();
            let body = letters::render(body, &all).unwrap();
            assert!(
                !subject.trim().is_empty() && !body.trim().is_empty(),
                "{kind:?}"
            );
            // Written in the person's language: Chinese letters are in Chinese characters,
            // English ones have none outside the sample values.
            let han = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
            assert_eq!(han(&subject), lang == "zh-CN", "{kind:?} {lang}: {subject}");
            expected.push((user.email.clone().unwrap(), subject, body));
            let (lib, uid, vars, now) = (
                user.library_id.clone(),
                user.user_id.clone(),
                vars.clone(),
                app.state.now(),
            );
            app.state
                .store
                .write(move |tx| {
                    Box::pin(async move {
                        letters::queue_to_user(tx, kind, &lib, &uid, "", vars, now).await
                    })
                })
                .await
                .unwrap();
        }
    }
    app.state.store.notify_outbox();
    let mails = sink.wait_for(expected.len()).await;
    for (to, subject, body) in &expected {
        let m = mails
            .iter()
            .find(|m| &m.to == to && &m.subject == subject)
            .unwrap_or_else(|| panic!("no letter {subject:?} to {to} in {mails:?}"));
        assert_eq!(
            m.body.replace("\r\n", "\n").trim_end(),
            body.trim_end(),
            "{subject}"
        );
    }
}
