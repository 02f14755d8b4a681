//! E-mail partners, on SQLite and PostgreSQL, with the SMTP sink on loopback for outgoing mail
//! and a real SMTP conversation with the app's inbound endpoint for replies: a request to an
//! e-mail partner goes as one bilingual letter with every field; staff record its answers and
//! the request moves as the ISO message would move it; later messages go as letters too; a
//! reply (GBK, quoted-printable, encoded subject) lands in its request's log; a bounce is
//! recorded on its request; unmatched mail is listed and filed by hand; the digest goes at the
//! library's hour.

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{Engine, TestApp, engines};
use crate::letters::{Mail, SmtpSink};

const PARTNER: &str = "ill@eds.example.com";

async fn app_on(engine: Engine, sink: &SmtpSink) -> TestApp {
    let port = sink.start().await;
    TestApp::spawn_with(engine, |c| {
        c.smtp_host = "127.0.0.1".to_owned();
        c.smtp_port = port;
        c.smtp_tls = "none".to_owned();
        c.mail_from = "Interlibrary Loan <ill@bcu.example.edu>".to_owned();
        c.inbound_smtp_listen = "127.0.0.1:0".to_owned();
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

fn header<'a>(m: &'a Mail, name: &str) -> &'a str {
    m.headers
        .iter()
        .find_map(|h| {
            let (n, v) = h.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} header in {m:?}"))
}

/// Hand `raw` to the app's inbound SMTP endpoint as a mail server would; the final answer.
async fn smtp_send(app: &TestApp, from: &str, to: &[&str], raw: &[u8]) -> String {
    let addr = app.state.config.inbound_smtp_listen.clone();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut answer = String::new();
    async fn reply(lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, out: &mut String) {
        // Multi-line answers end with a line whose fourth character is a space.
        loop {
            out.clear();
            lines.read_line(out).await.unwrap();
            if out.len() < 4 || out.as_bytes()[3] == b' ' {
                return;
            }
        }
    }
    reply(&mut lines, &mut answer).await;
    assert!(answer.starts_with("220"), "{answer}");
    let mut send = async |cmd: String, expect: &str, answer: &mut String| {
        write.write_all(cmd.as_bytes()).await.unwrap();
        reply(&mut lines, answer).await;
        assert!(answer.starts_with(expect), "{cmd}: {answer}");
    };
    send("EHLO mx.test\r\n".into(), "250", &mut answer).await;
    send(format!("MAIL FROM:<{from}>\r\n"), "250", &mut answer).await;
    for t in to {
        send(format!("RCPT TO:<{t}>\r\n"), "250", &mut answer).await;
    }
    send("DATA\r\n".into(), "354", &mut answer).await;
    // Dot-stuffing, CRLF line ends.
    let mut data = Vec::new();
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(line);
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    send(
        String::from_utf8_lossy(&data).into_owned(),
        "250",
        &mut answer,
    )
    .await;
    let filed = answer.clone();
    send("QUIT\r\n".into(), "221", &mut answer).await;
    filed
}

/// A loan request of a BCU reader, sent by BCU's staff to the e-mail partner: (id, wire id).
async fn request_to_partner(app: &TestApp, title: &str) -> (String, String) {
    let reader = app.login("bcu-faculty").await;
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {
                "title": title, "author": "曹雪芹", "isbn": "9787020002207",
                "edition": "第3版", "publisher": "人民文学出版社", "place_of_publication": "北京",
                "year": "1996", "volume": "上册", "language": "chi",
                "need_by": "2027-03-01", "max_cost": {"amount": "30.00", "currency": "CNY"}}}),
            Some(&reader),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    let staff = app.login("bcu-borrow").await;
    app.borrow_action(&staff, &id, json!({"action": "edit_rota", "rota": ["EDS"]}))
        .await;
    let sent = app
        .borrow_action(&staff, &id, json!({"action": "approve"}))
        .await;
    assert_eq!(sent["state"], "sent", "{sent}");
    assert_eq!(sent["lender"], "EDS", "{sent}");
    let wire = format!("{id}.1");
    (id, wire)
}

async fn answer(app: &TestApp, token: &str, id: &str, body: Value) -> (u16, Value) {
    app.post(
        &format!("/api/v1/requests/{id}/partner-answers"),
        body,
        Some(token),
    )
    .await
}

async fn events(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let (st, v) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(token))
        .await;
    assert_eq!(st, 200, "{v}");
    v.as_array().unwrap().clone()
}

async fn letter_and_answers(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let (id, wire) = request_to_partner(&app, "红楼梦").await;

    // One mail, both languages, every field, the reply address carrying the id.
    let m = mail_to(&sink, PARTNER, &format!("[ILL:{wire}]")).await;
    assert!(m.subject.contains("馆际互借申请：红楼梦"), "{m:?}");
    assert!(
        m.subject.contains("Interlibrary loan request: 红楼梦"),
        "{m:?}"
    );
    for want in [
        "北辰大学图书馆请求贵馆提供以下文献（借阅（返还式））",
        "Beichen University Library asks you to supply the following (loan (to be returned))",
        "题名：红楼梦",
        "Title: 红楼梦",
        "著者：曹雪芹",
        "ISBN：9787020002207",
        "ISBN: 9787020002207",
        "Edition: 第3版",
        "Publisher: 人民文学出版社",
        "Place of publication: 北京",
        "Year: 1996",
        "Volume: 上册",
        "需要日期：2027-03-01",
        "Needed by: 2027-03-01",
        "最高费用：30.00 CNY",
        "Maximum cost: 30.00 CNY",
        "北辰大学图书馆馆际互借处",
        "ILL Office, Beichen University Library",
        "Agency id ISIL:CN-BCU",
        &format!("ill+{wire}@bcu.example.edu"),
        &format!("request number {wire}"),
    ] {
        assert!(m.body.contains(want), "{want:?} missing in\n{}", m.body);
    }
    assert_eq!(
        header(&m, "Reply-To"),
        format!("ill+{wire}@bcu.example.edu")
    );
    assert!(
        header(&m, "Message-ID").contains(&wire),
        "{}",
        header(&m, "Message-ID")
    );

    // Staff record the partner's answers; each moves the request as the ISO message would.
    let staff = app.login("bcu-borrow").await;
    let (st, v) = answer(
        &app,
        &staff,
        &id,
        json!({"answer": "will_supply", "note": "下周寄出"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "will_supply", "{v}");
    let ev = events(&app, &staff, &id).await;
    let recorded = ev
        .iter()
        .find(|e| e["action"] == "partner_answer_recorded")
        .unwrap();
    assert_eq!(recorded["actor"], "staff", "{recorded}");
    assert!(
        ev.iter()
            .any(|e| e["actor"] == "peer" && e["to_state"] == "will_supply"),
        "{ev:?}"
    );

    // A shipped loan needs its due date: refused naming the field, in both languages.
    let (st, v) = answer(&app, &staff, &id, json!({"answer": "loaned"})).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("due_date_required")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("due_date"),
        "{v}"
    );
    let resp = app
        .client
        .post(format!("{}/api/v1/requests/{id}/partner-answers", app.base))
        .bearer_auth(&staff)
        .header("accept-language", "zh-CN")
        .json(&json!({"answer": "loaned"}))
        .send()
        .await
        .unwrap();
    let zh: Value = resp.json().await.unwrap();
    assert!(
        zh["error"]["message"]
            .as_str()
            .unwrap()
            .contains("应还日期"),
        "{zh}"
    );
    // An answer that does not fit the stage is refused, and nothing changes.
    let (st, v) = answer(
        &app,
        &staff,
        &id,
        json!({"answer": "renew_yes", "due_date": "2027-02-01"}),
    )
    .await;
    assert_eq!(st, 409, "{v}");
    let (st, v) = answer(
        &app,
        &staff,
        &id,
        json!({"answer": "loaned", "due_date": "2027-01-15"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "shipped", "{v}");
    assert_eq!(v["due_date"], "2027-01-15", "{v}");

    // Received, lent, returned by the reader, shipped back: the return goes as a letter.
    for a in ["receive", "lend_to_patron", "patron_return", "ship_return"] {
        app.borrow_action(&staff, &id, json!({"action": a})).await;
    }
    let back = mail_to(&sink, PARTNER, "我馆已将原件寄还").await;
    assert!(back.subject.contains(&format!("[ILL:{wire}]")), "{back:?}");
    assert!(
        back.body.contains("we have shipped the item back to you"),
        "{back:?}"
    );
    let (st, v) = answer(&app, &staff, &id, json!({"answer": "loan_completed"})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "completed", "{v}");

    // A request at a partner that answers over ISO 18626 takes no recorded answers.
    let reader = app.login("bcu-faculty").await;
    let (_, other) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Another book"}}),
            Some(&reader),
        )
        .await;
    let other_id = other["id"].as_str().unwrap();
    app.borrow_action(
        &staff,
        other_id,
        json!({"action": "edit_rota", "rota": ["XNU"]}),
    )
    .await;
    app.borrow_action(&staff, other_id, json!({"action": "approve"}))
        .await;
    let (st, v) = answer(&app, &staff, other_id, json!({"answer": "will_supply"})).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("not_an_email_partner")),
        "{v}"
    );
    // Readers cannot record answers.
    let (st, _) = answer(&app, &reader, &id, json!({"answer": "note", "note": "x"})).await;
    assert_eq!(st, 403);
}

#[tokio::test]
async fn an_email_partner_gets_a_bilingual_letter_and_staff_record_its_answers() {
    for e in engines() {
        letter_and_answers(e).await;
    }
}

async fn replies_and_bounces(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let (id, wire) = request_to_partner(&app, "三国演义").await;
    let letter = mail_to(&sink, PARTNER, &format!("[ILL:{wire}]")).await;
    let staff = app.login("bcu-borrow").await;

    // A reply from a Chinese mail client: GB2312 subject, GBK quoted-printable text.
    let gbk = |s: &str| encoding_rs::GB18030.encode(s).0.into_owned();
    let subject = base64::engine::general_purpose::STANDARD.encode(gbk("回复：馆际互借申请"));
    let qp: String = gbk("可以提供，预计下周寄出。")
        .iter()
        .map(|c| format!("={c:02X}"))
        .collect();
    let reply = format!(
        "From: =?GB2312?B?{}?= <{PARTNER}>\r\nTo: ill+{wire}@bcu.example.edu\r\nSubject: =?GB2312?B?{subject}?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"==b1\"\r\n\r\n--==b1\r\nContent-Type: text/plain; charset=GB2312\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp}\r\n.line starting with a dot\r\n--==b1\r\nContent-Type: text/html; charset=GB2312\r\n\r\n<p>html</p>\r\n--==b1--\r\n",
        base64::engine::general_purpose::STANDARD.encode(gbk("东方文献"))
    );
    let said = smtp_send(
        &app,
        PARTNER,
        &[&format!("ill+{wire}@bcu.example.edu")],
        reply.as_bytes(),
    )
    .await;
    assert!(said.contains(&id), "{said}");
    // The same mail delivered again (the server missed our answer) is kept once.
    let reply = reply.replace(
        "MIME-Version",
        "Message-ID: <r1@eds.example.com>\r\nMIME-Version",
    );
    let to = format!("ill+{wire}@bcu.example.edu");
    smtp_send(&app, PARTNER, &[&to], reply.as_bytes()).await;
    let again = smtp_send(&app, PARTNER, &[&to], reply.as_bytes()).await;
    assert!(again.contains("already received"), "{again}");
    let (st, log) = app
        .get(&format!("/api/v1/requests/{id}/mail"), Some(&staff))
        .await;
    assert_eq!(st, 200, "{log}");
    assert_eq!(log["email_partner"], PARTNER, "{log}");
    let mail = &log["mail"][0];
    assert_eq!(mail["kind"], "reply", "{log}");
    assert_eq!(mail["subject"], "回复：馆际互借申请", "{log}");
    assert_eq!(mail["from"], format!("东方文献 <{PARTNER}>"), "{log}");
    assert!(
        mail["body"]
            .as_str()
            .unwrap()
            .contains("可以提供，预计下周寄出。\r\n.line starting with a dot"),
        "{log}"
    );
    let ev = events(&app, &staff, &id).await;
    assert!(
        ev.iter()
            .any(|e| e["action"] == "mail_received" && e["note"] == "回复：馆际互借申请"),
        "{ev:?}"
    );
    // Readers do not see the library's mail, in the log or the history.
    let reader = app.login("bcu-faculty").await;
    let (st, _) = app
        .get(&format!("/api/v1/requests/{id}/mail"), Some(&reader))
        .await;
    assert_eq!(st, 403);
    assert!(
        !events(&app, &reader, &id)
            .await
            .iter()
            .any(|e| e["action"] == "mail_received")
    );

    // Matched by the subject alone, when the partner writes to the plain address.
    let plain = format!(
        "From: {PARTNER}\r\nTo: ill@bcu.example.edu\r\nSubject: Re: your request [ILL:{wire}]\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64::engine::general_purpose::STANDARD.encode("Shipped today.")
    );
    smtp_send(&app, PARTNER, &["ill@bcu.example.edu"], plain.as_bytes()).await;

    // A bounce of the partner letter: a delivery report quoting the letter's headers.
    let message_id = header(&letter, "Message-ID").to_owned();
    let bounce = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.bcu.example.edu>\r\nTo: ill@bcu.example.edu\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r1\"\r\n\r\n--r1\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n--r1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.bcu.example.edu\r\n\r\nFinal-Recipient: rfc822; {PARTNER}\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--r1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Interlibrary Loan <ill@bcu.example.edu>\r\nTo: {PARTNER}\r\nMessage-ID: {message_id}\r\nSubject: something\r\n--r1--\r\n"
    );
    smtp_send(&app, "", &["ill@bcu.example.edu"], bounce.as_bytes()).await;
    let (_, log) = app
        .get(&format!("/api/v1/requests/{id}/mail"), Some(&staff))
        .await;
    let kinds: Vec<_> = log["mail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["reply", "reply", "reply", "bounce"], "{log}");
    let ev = events(&app, &staff, &id).await;
    let bounced = ev.iter().find(|e| e["action"] == "mail_bounced").unwrap();
    let note = bounced["note"].as_str().unwrap();
    assert!(
        note.contains("Status: 5.1.1") && note.contains(PARTNER),
        "{bounced}"
    );
    // A plain-text notice from a mailer daemon about the reader's letter, quoting its headers.
    let to_reader = mail_to(&sink, "bcu-faculty@bcu.example.edu", "三国演义").await;
    let quoted = header(&to_reader, "Message-ID").to_owned();
    let notice = format!(
        "From: postmaster@mx.bcu.example.edu\r\nTo: ill@bcu.example.edu\r\nSubject: Delivery Status Notification (Failure)\r\n\r\nDelivery to bcu-faculty@bcu.example.edu failed: mailbox full.\r\n\r\n----- Original message -----\r\nMessage-ID: {quoted}\r\n"
    );
    smtp_send(
        &app,
        "postmaster@mx.bcu.example.edu",
        &["ill@bcu.example.edu"],
        notice.as_bytes(),
    )
    .await;
    let ev = events(&app, &staff, &id).await;
    assert_eq!(
        ev.iter().filter(|e| e["action"] == "mail_bounced").count(),
        2,
        "{ev:?}"
    );

    // Mail that names no request: kept for staff; BCU's own (ill+BCU@) for BCU, the rest for
    // hub admins; filed by hand onto a request.
    let stray = "From: someone@elsewhere.example\r\nTo: ill@bcu.example.edu\r\nSubject: A question about fees\r\n\r\nHow much is a loan?\r\n";
    smtp_send(
        &app,
        "someone@elsewhere.example",
        &["ill@bcu.example.edu"],
        stray.as_bytes(),
    )
    .await;
    let ours = "From: someone@elsewhere.example\r\nTo: ill+BCU@bcu.example.edu\r\nSubject: For Beichen\r\n\r\nHello.\r\n";
    smtp_send(
        &app,
        "someone@elsewhere.example",
        &["ill+bcu@bcu.example.edu"],
        ours.as_bytes(),
    )
    .await;
    let (st, list) = app.get("/api/v1/mail/unmatched", Some(&staff)).await;
    assert_eq!(st, 200, "{list}");
    let subjects: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(subjects, ["For Beichen"], "{list}");
    let hub = app.login("hub-admin").await;
    let (_, list) = app.get("/api/v1/mail/unmatched", Some(&hub)).await;
    assert!(list.to_string().contains("A question about fees"), "{list}");
    let xnu = app.login("xnu-borrow").await;
    let (_, list) = app.get("/api/v1/mail/unmatched", Some(&xnu)).await;
    assert_eq!(list, json!([]), "another library sees none of it");
    let mail_id = app.get("/api/v1/mail/unmatched", Some(&staff)).await.1[0]["id"]
        .as_i64()
        .unwrap();
    let (st, v) = app
        .post(
            &format!("/api/v1/mail/{mail_id}/file"),
            json!({"request_id": "no-such-request"}),
            Some(&staff),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (404, Some("unknown_request")),
        "{v}"
    );
    let (st, v) = app
        .post(
            &format!("/api/v1/mail/{mail_id}/file"),
            json!({"request_id": id}),
            Some(&staff),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["request_id"], id.as_str());
    let (_, list) = app.get("/api/v1/mail/unmatched", Some(&staff)).await;
    assert_eq!(list, json!([]));
    let (_, log) = app
        .get(&format!("/api/v1/requests/{id}/mail"), Some(&staff))
        .await;
    assert_eq!(log["mail"].as_array().unwrap().len(), 6, "{log}");
}

#[tokio::test]
async fn replies_and_bounces_over_smtp_are_filed_on_their_request_and_the_rest_listed() {
    for e in engines() {
        replies_and_bounces(e).await;
    }
}

async fn digest_hour(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let admin = app.login("bcu-admin").await;
    // BCU keeps UTC-5 (were the hour read in China time, it would have passed long ago).
    let (st, v) = app
        .put_json(
            "/api/v1/library-time",
            json!({"utc_offset": "-05:00"}),
            &admin,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    // Two hours from now, in the library's time: the letters held now wait until then.
    let local_hour = (u32::from(app.state.now().hour()) + 24 - 5) % 24;
    let hour = (local_hour + 2) % 24;
    let (st, v) = app
        .put_json(
            "/api/v1/libraries/BCU/letter-settings",
            json!({"due_soon_days": 3, "allow_never": true, "digest_hour": 24}),
            &admin,
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert!(v.to_string().contains("digest_hour"), "{v}");
    let (st, v) = app
        .put_json(
            "/api/v1/libraries/BCU/letter-settings",
            json!({"due_soon_days": 3, "allow_never": true, "digest_hour": hour}),
            &admin,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let reader = app.login("bcu-external").await;
    let (st, _) = app
        .put_json(
            "/api/v1/me/letter-preferences",
            json!([{"kind": "request_received", "delivery": "daily_digest"}]),
            &reader,
        )
        .await;
    assert_eq!(st, 200);
    app.post(
        "/api/v1/requests",
        json!({"format": "loan", "citation": {"title": "Held for the evening"}}),
        Some(&reader),
    )
    .await;
    let staff = app.login("bcu-borrow").await;
    app.eventually("/api/v1/outbox?status=skipped", &staff, |v| {
        v.to_string().contains("held for the recipient")
    })
    .await;
    assert_eq!(server::jobs::send_due_digests(&app.state).await.unwrap(), 0);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(sink.mails.lock().await.is_empty());
    // Past the library's hour: the digest goes (by the job, or by this call).
    app.clock.advance(time::Duration::hours(3));
    let _ = server::jobs::send_due_digests(&app.state).await.unwrap();
    let m = mail_to(
        &sink,
        "bcu-external@bcu.example.edu",
        "daily digest: 1 letters",
    )
    .await;
    assert!(m.body.contains("Held for the evening"), "{m:?}");

    // The library admin sets the hour on the letters page too.
    let cookie = crate::web::web_login(&app, "bcu-admin").await;
    let page = crate::web::get(&app, "/admin/letters", Some(&cookie)).await;
    assert!(page.body.contains("digest_hour"), "{}", page.body);
    for bad in ["24", "evening"] {
        let p = crate::web::post_form(
            &app,
            "/admin/letters/settings",
            Some(&cookie),
            &[("due_soon_days", "3"), ("digest_hour", bad)],
        )
        .await;
        assert_eq!(p.status, 422, "{bad}: {}", p.body);
    }
    // The library's time is on the same form: a wrong one is named next to its field.
    let p = crate::web::post_form(
        &app,
        "/admin/letters/settings",
        Some(&cookie),
        &[
            ("due_soon_days", "5"),
            ("digest_hour", "17"),
            ("utc_offset", "Tokyo"),
        ],
    )
    .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("is not a UTC offset"), "{}", p.body);
    let p = crate::web::post_form(
        &app,
        "/admin/letters/settings",
        Some(&format!("{cookie}; librelay_lang=zh-CN")),
        &[
            ("due_soon_days", "5"),
            ("digest_hour", "17"),
            ("utc_offset", "+15:00"),
        ],
    )
    .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("不是有效的 UTC 时差"), "{}", p.body);
    let (_, t) = app.get("/api/v1/library-time", Some(&admin)).await;
    assert_eq!(t["utc_offset"], "-05:00", "nothing saved: {t}");
    let p = crate::web::post_form(
        &app,
        "/admin/letters/settings",
        Some(&cookie),
        &[
            ("due_soon_days", "5"),
            ("digest_hour", "17"),
            ("utc_offset", "+09:00"),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, t) = app.get("/api/v1/library-time", Some(&admin)).await;
    assert_eq!(t["utc_offset"], "+09:00", "{t}");
    let page = crate::web::get(&app, "/admin/letters", Some(&cookie)).await;
    assert!(
        page.body.contains("in the library&#39;s time (UTC+9)")
            || page.body.contains("in the library's time (UTC+9)"),
        "{}",
        page.body
    );
    let (_, v) = app
        .get("/api/v1/libraries/BCU/letter-settings", Some(&admin))
        .await;
    assert_eq!(
        v,
        json!({"due_soon_days": 5, "allow_never": false, "digest_hour": 17, "mail_addresses": []})
    );
}

#[tokio::test]
async fn the_daily_digest_goes_at_the_hour_the_library_chose() {
    for e in engines() {
        digest_hour(e).await;
    }
}

async fn through_the_pages(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let (id, _) = request_to_partner(&app, "西游记").await;
    let cookie = crate::web::web_login(&app, "bcu-borrow").await;
    let page = crate::web::get(&app, &format!("/requests/{id}"), Some(&cookie)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("partner-answer"), "{}", page.body);
    assert!(page.body.contains(PARTNER), "{}", page.body);
    // A shipped loan without its due date comes back with the error next to the form.
    let path = format!("/requests/{id}/partner-answer");
    let p = crate::web::post_form(
        &app,
        &path,
        Some(&cookie),
        &[("form", "partner_answer"), ("answer", "loaned")],
    )
    .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("due_date"), "{}", p.body);
    let p = crate::web::post_form(
        &app,
        &path,
        Some(&cookie),
        &[
            ("form", "partner_answer"),
            ("answer", "unfilled"),
            ("reason", "NotHeld"),
            ("note", "本馆无此书"),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let staff = app.login("bcu-borrow").await;
    let (_, v) = app
        .get(&format!("/api/v1/requests/{id}"), Some(&staff))
        .await;
    assert_eq!(v["state"], "unfilled", "no other lender: {v}");
    // The unmatched mail page lists what names no request.
    let ours = "From: a@elsewhere.example\r\nTo: ill+BCU@bcu.example.edu\r\nSubject: Stray note\r\n\r\nHello.\r\n";
    smtp_send(
        &app,
        "a@elsewhere.example",
        &["ill+BCU@bcu.example.edu"],
        ours.as_bytes(),
    )
    .await;
    let page = crate::web::get(&app, "/staff/mail", Some(&cookie)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Stray note"), "{}", page.body);
}

#[tokio::test]
async fn staff_record_an_answer_and_see_unmatched_mail_through_the_pages() {
    for e in engines() {
        through_the_pages(e).await;
    }
}

async fn refused(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    sink.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    let (id, _) = request_to_partner(&app, "水浒传").await;
    let staff = app.login("bcu-borrow").await;
    let ev = app
        .eventually(&format!("/api/v1/requests/{id}/events"), &staff, |v| {
            v.to_string().contains("mail_refused")
        })
        .await;
    let refused = ev
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "mail_refused" && e["note"].to_string().contains("550"))
        .unwrap_or_else(|| panic!("{ev}"))
        .clone();
    assert_eq!(refused["actor"], "system", "{refused}");
    let (_, dead) = app.get("/api/v1/outbox?status=dead", Some(&staff)).await;
    assert!(dead.to_string().contains("550"), "{dead}");
}

#[tokio::test]
async fn a_partner_letter_the_mail_server_refuses_is_told_on_the_request() {
    for e in engines() {
        refused(e).await;
    }
}

async fn retry_terms(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let (id, _) = request_to_partner(&app, "金瓶梅").await;
    let staff = app.login("bcu-borrow").await;
    // The same checks as a lender's own offer: a cost reason needs the cost.
    let (st, v) = answer(
        &app,
        &staff,
        &id,
        json!({"answer": "retry_possible", "reason": "CostExceedsMaxCost"}),
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("retry_cost_required")),
        "{v}"
    );
    let (st, v) = answer(
        &app,
        &staff,
        &id,
        json!({"answer": "retry_possible", "reason": "CostExceedsMaxCost",
               "cost_minor": 5000, "currency": "CNY", "retry_before": "2027-12-31"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "retry_offered", "{v}");
    let offer = v["retry_offer"].to_string();
    assert!(offer.contains("5000") || offer.contains("50.00"), "{offer}");
    assert!(offer.contains("2027-12-31"), "{offer}");
}

#[tokio::test]
async fn staff_record_an_email_partners_retry_terms_as_an_offer() {
    for e in engines() {
        retry_terms(e).await;
    }
}

/// One SMTP conversation with the app's endpoint: each command's final answer line.
async fn smtp_talk(app: &TestApp, commands: &[&str]) -> Vec<String> {
    let addr = app.state.config.inbound_smtp_listen.clone();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    // Multi-line answers: every line kept, joined, until the one whose fourth character is a
    // space.
    async fn reply(lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            lines.read_line(&mut line).await.unwrap();
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return all;
            }
        }
    }
    let mut out = vec![reply(&mut lines).await];
    for c in commands {
        write
            .write_all(format!("{c}\r\n").as_bytes())
            .await
            .unwrap();
        out.push(reply(&mut lines).await);
    }
    out
}

async fn recipients(engine: Engine) {
    let sink = SmtpSink::default();
    let port = sink.start().await;
    let app = TestApp::spawn_with(engine, |c| {
        c.smtp_host = "127.0.0.1".to_owned();
        c.smtp_port = port;
        c.mail_from = "Interlibrary Loan <ill@bcu.example.edu>".to_owned();
        c.mail_reply_to = "replies@hub.example.net".to_owned();
        c.inbound_smtp_domains = vec!["ill.example.org".to_owned()];
        c.inbound_smtp_listen = "127.0.0.1:0".to_owned();
    })
    .await;
    // No certificate: no STARTTLS in EHLO, and asking for it is refused.
    let said = smtp_talk(
        &app,
        &[
            "EHLO mx.test",
            "STARTTLS",
            "MAIL FROM:<spammer@elsewhere.example>",
            "RCPT TO:<victim@gmail.example>",
            "RCPT TO:<someone@bcu.example.edu>",
            "RCPT TO:<replies+0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.1@HUB.example.net>",
            "RCPT TO:<ill+BCU@bcu.example.edu>",
            "RCPT TO:<anyone@ill.example.org>",
            "RCPT TO:<postmaster>",
            "RCPT TO:<ill@xnu.example.edu>",
            "QUIT",
        ],
    )
    .await;
    assert!(said[1].starts_with("250"), "{said:?}");
    assert!(!said[1].contains("STARTTLS"), "{}", said[1]);
    assert!(said[2].starts_with("502"), "{said:?}");
    for refused in [4, 5, 10] {
        assert!(said[refused].starts_with("550 5.7.1"), "{said:?}");
        assert!(
            said[refused].contains("not a mailbox of this interlibrary loan node"),
            "{}",
            said[refused]
        );
    }
    assert!(said[4].contains("<victim@gmail.example>"), "{}", said[4]);
    for taken in [6, 7, 8, 9] {
        assert!(said[taken].starts_with("250"), "{said:?}");
    }

    // XNU gives its own mailbox; from then on mail to it (and its plus addresses) is taken
    // and, naming no request, listed for XNU's staff only.
    let admin = app.login("xnu-admin").await;
    let (st, v) = app
        .get("/api/v1/libraries/XNU/letter-settings", Some(&admin))
        .await;
    assert_eq!(st, 200, "{v}");
    let mut settings = v.clone();
    settings["mail_addresses"] = json!(["not an address"]);
    let (st, v) = app
        .put_json(
            "/api/v1/libraries/XNU/letter-settings",
            settings.clone(),
            &admin,
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert!(v.to_string().contains("mail_addresses"), "{v}");
    assert!(v.to_string().contains("not an address"), "{v}");
    settings["mail_addresses"] = json!([" ILL@xnu.example.edu "]);
    let (st, v) = app
        .put_json(
            "/api/v1/libraries/XNU/letter-settings",
            settings.clone(),
            &admin,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["mail_addresses"], json!(["ill@xnu.example.edu"]), "{v}");
    // Another library cannot claim the same mailbox.
    let bcu_admin = app.login("bcu-admin").await;
    let (_, mut bcu) = app
        .get("/api/v1/libraries/BCU/letter-settings", Some(&bcu_admin))
        .await;
    bcu["mail_addresses"] = json!(["ill@xnu.example.edu"]);
    let (st, v) = app
        .put_json("/api/v1/libraries/BCU/letter-settings", bcu, &bcu_admin)
        .await;
    assert_eq!(st, 422, "{v}");
    assert!(
        v.to_string()
            .contains("already the mail address of library XNU"),
        "{v}"
    );

    let mail = "From: a@elsewhere.example\r\nTo: Xinan ILL <ill@xnu.example.edu>\r\nSubject: Opening hours at Christmas\r\n\r\nAre you open?\r\n";
    let filed = smtp_send(
        &app,
        "a@elsewhere.example",
        &["ill+question@xnu.example.edu"],
        mail.as_bytes(),
    )
    .await;
    assert!(filed.contains("unmatched"), "{filed}");
    let xnu = app.login("xnu-borrow").await;
    let (_, list) = app.get("/api/v1/mail/unmatched", Some(&xnu)).await;
    assert!(
        list.to_string().contains("Opening hours at Christmas"),
        "{list}"
    );
    let bcu = app.login("bcu-borrow").await;
    let (_, list) = app.get("/api/v1/mail/unmatched", Some(&bcu)).await;
    assert_eq!(list, json!([]), "BCU sees none of XNU's mail");
    let hub = app.login("hub-admin").await;
    let (_, list) = app.get("/api/v1/mail/unmatched", Some(&hub)).await;
    assert!(
        !list.to_string().contains("Opening hours at Christmas"),
        "not left to the hub: {list}"
    );
    // And on the page, in Chinese.
    let cookie = crate::web::web_login(&app, "xnu-borrow").await;
    let page = crate::web::get(
        &app,
        "/staff/mail",
        Some(&format!("{cookie}; librelay_lang=zh-CN")),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Opening hours at Christmas"),
        "{}",
        page.body
    );
    assert!(page.body.contains("未归档邮件"), "{}", page.body);
    // The address on the admin page: a bad line is named next to its field.
    let cookie = crate::web::web_login(&app, "xnu-admin").await;
    let p = crate::web::post_form(
        &app,
        "/admin/letters/settings",
        Some(&cookie),
        &[
            ("due_soon_days", "3"),
            ("digest_hour", "8"),
            ("allow_never", "on"),
            ("mail_addresses", "ill@xnu.example.edu\nill at xnu"),
        ],
    )
    .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body.contains("is not a mail address such as"),
        "{}",
        p.body
    );
    assert!(p.body.contains("ill at xnu"), "{}", p.body);
    let page = crate::web::get(&app, "/admin/letters", Some(&cookie)).await;
    assert!(page.body.contains("ill@xnu.example.edu"), "{}", page.body);
}

#[tokio::test]
async fn the_inbound_endpoint_refuses_mail_for_others_and_files_a_librarys_own_for_its_staff() {
    for e in engines() {
        recipients(e).await;
    }
}

fn tls_fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/tls")
        .join(name)
}

async fn starttls(engine: Engine) {
    use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let sink = SmtpSink::default();
    let port = sink.start().await;
    let app = TestApp::spawn_with(engine, |c| {
        c.smtp_host = "127.0.0.1".to_owned();
        c.smtp_port = port;
        c.mail_from = "Interlibrary Loan <ill@bcu.example.edu>".to_owned();
        c.inbound_smtp_listen = "127.0.0.1:0".to_owned();
        c.inbound_smtp_tls_cert = tls_fixture("localhost.crt").display().to_string();
        c.inbound_smtp_tls_key = tls_fixture("localhost.key").display().to_string();
    })
    .await;
    let (id, wire) = request_to_partner(&app, "镜花缘").await;
    // STARTTLS is offered, takes no parameters, and refuses commands pipelined behind it.
    let said = smtp_talk(&app, &["EHLO mx.test", "STARTTLS now"]).await;
    assert!(said[1].contains("250-STARTTLS"), "{}", said[1]);
    assert!(said[2].starts_with("501"), "{said:?}");
    let said = smtp_talk(
        &app,
        &["EHLO mx.test", "STARTTLS\r\nMAIL FROM:<a@b.example>"],
    )
    .await;
    assert!(said[2].starts_with("554"), "{said:?}");

    // A client that upgrades and checks the certificate (the fixture is its only root).
    let pem = std::fs::read(tls_fixture("localhost.crt")).unwrap();
    let tls = TlsParameters::builder("localhost".to_owned())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_pem(&pem).unwrap())
        .build_rustls()
        .unwrap();
    let smtp_port: u16 = app
        .state
        .config
        .inbound_smtp_listen
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(smtp_port)
        .tls(Tls::Required(tls))
        .build();
    let reply = lettre::Message::builder()
        .from(PARTNER.parse().unwrap())
        .to(format!("ill+{wire}@bcu.example.edu").parse().unwrap())
        .subject("Re: 镜花缘 — over TLS")
        .body("We will send it on Monday.".to_owned())
        .unwrap();
    let sent = client.send(reply).await.unwrap();
    let said = sent.message().collect::<Vec<_>>().join(" ");
    assert!(said.contains(&format!("on request {id}")), "{said}");
    let staff = app.login("bcu-borrow").await;
    let (_, log) = app
        .get(&format!("/api/v1/requests/{id}/mail"), Some(&staff))
        .await;
    assert!(log.to_string().contains("over TLS"), "{log}");

    // A client that does not trust the certificate is not let through in the clear either.
    let untrusted = TlsParameters::builder("localhost".to_owned())
        .certificate_store(CertificateStore::None)
        .build_rustls()
        .unwrap();
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(smtp_port)
        .tls(Tls::Required(untrusted))
        .build();
    let again = lettre::Message::builder()
        .from(PARTNER.parse().unwrap())
        .to(format!("ill+{wire}@bcu.example.edu").parse().unwrap())
        .subject("Re: 镜花缘 — untrusted")
        .body("x".to_owned())
        .unwrap();
    assert!(client.send(again).await.is_err());
}

#[tokio::test]
async fn the_inbound_endpoint_offers_starttls_with_a_configured_certificate() {
    for e in engines() {
        starttls(e).await;
    }
}

async fn retry_terms_on_the_page(engine: Engine) {
    let sink = SmtpSink::default();
    let app = app_on(engine, &sink).await;
    let (id, _) = request_to_partner(&app, "儒林外史").await;
    let cookie = crate::web::web_login(&app, "bcu-borrow").await;
    let page = crate::web::get(&app, &format!("/requests/{id}"), Some(&cookie)).await;
    assert!(
        page.body.contains(r#"value="retry_possible""#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"name="retry_reason""#),
        "{}",
        page.body
    );
    let path = format!("/requests/{id}/partner-answer");
    let form = |extra: &[(&'static str, &'static str)]| {
        let mut f = vec![("form", "partner_answer"), ("answer", "retry_possible")];
        f.extend_from_slice(extra);
        f
    };
    // Each refusal names the field it is about, in the page's language.
    for (fields, expect_en, expect_zh) in [
        (
            form(&[]),
            "retry_reason: choose why the partner cannot supply now",
            "重试原因为必填项",
        ),
        (
            form(&[("retry_reason", "CostExceedsMaxCost")]),
            "cost: the reason CostExceedsMaxCost needs the cost",
            "须填写对方收费",
        ),
        (
            form(&[
                ("retry_reason", "CostExceedsMaxCost"),
                ("cost", "fifty yuan"),
            ]),
            "is not an amount and an ISO 4217 currency",
            "对方收费金额或币种无效",
        ),
        (
            form(&[("retry_reason", "OnLoan"), ("retry_after", "next week")]),
            "is not a date (YYYY-MM-DD)",
            "最早可重新申请日期应为 YYYY-MM-DD 格式",
        ),
        (
            form(&[
                ("retry_reason", "OnLoan"),
                ("retry_after", "2027-06-01"),
                ("retry_before", "2027-05-01"),
            ]),
            "retry_before: the offer cannot end before",
            "条件有效期至不能早于最早可重新申请日期",
        ),
        (
            form(&[("retry_reason", "LoanCondition")]),
            "loan_condition: the reason LoanCondition needs the condition",
            "借阅条件为必填项",
        ),
    ] {
        let p = crate::web::post_form(&app, &path, Some(&cookie), &fields).await;
        assert_eq!(p.status, 422, "{fields:?}: {}", p.body);
        assert!(p.body.contains(expect_en), "{fields:?}: {}", p.body);
        let zh = format!("{cookie}; librelay_lang=zh-CN");
        let p = crate::web::post_form(&app, &path, Some(&zh), &fields).await;
        assert_eq!(p.status, 422, "{fields:?}: {}", p.body);
        assert!(p.body.contains(expect_zh), "{fields:?}: {}", p.body);
    }
    let staff = app.login("bcu-borrow").await;
    let (_, v) = app
        .get(&format!("/api/v1/requests/{id}"), Some(&staff))
        .await;
    assert_eq!(v["state"], "sent", "nothing recorded by a refusal: {v}");
    let p = crate::web::post_form(
        &app,
        &path,
        Some(&cookie),
        &form(&[
            ("retry_reason", "CostExceedsMaxCost"),
            ("cost", "50.00 CNY"),
            ("retry_before", "2027-12-31"),
            ("note", "我们可以提供，但需收费 50 元"),
        ]),
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, v) = app
        .get(&format!("/api/v1/requests/{id}"), Some(&staff))
        .await;
    assert_eq!(v["state"], "retry_offered", "{v}");
    let offer = v["retry_offer"].to_string();
    assert!(offer.contains("CostExceedsMaxCost"), "{offer}");
    assert!(offer.contains("5000") || offer.contains("50.00"), "{offer}");
    assert!(offer.contains("2027-12-31"), "{offer}");
}

#[tokio::test]
async fn staff_record_an_email_partners_retry_terms_on_the_request_page() {
    for e in engines() {
        retry_terms_on_the_page(e).await;
    }
}

/// PUT a library's letter settings with the given mail addresses, asking for Chinese.
async fn put_addresses_zh(
    app: &TestApp,
    code: &str,
    token: &str,
    addresses: &[&str],
) -> (u16, Value) {
    let body = json!({"due_soon_days": 3, "allow_never": true, "digest_hour": 8,
        "mail_addresses": addresses});
    let resp = app
        .client
        .put(format!(
            "{}/api/v1/libraries/{code}/letter-settings",
            app.base
        ))
        .bearer_auth(token)
        .header("accept-language", "zh-CN")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn node_mailboxes(engine: Engine) {
    let sink = SmtpSink::default();
    let port = sink.start().await;
    let app = TestApp::spawn_with(engine, |c| {
        c.smtp_host = "127.0.0.1".to_owned();
        c.smtp_port = port;
        c.mail_from = "Interlibrary Loan <ill@bcu.example.edu>".to_owned();
        c.mail_reply_to = "replies@hub.example.net".to_owned();
        c.inbound_smtp_domains = vec!["ill.example.org".to_owned()];
        c.inbound_smtp_listen = "127.0.0.1:0".to_owned();
    })
    .await;
    let admin = app.login("xnu-admin").await;
    // The node's own mailboxes, their plus addresses and postmaster are no library's.
    for own in [
        "replies@hub.example.net",
        "Replies+anything@HUB.example.net",
        "ill@bcu.example.edu",
        "ill+XNU@bcu.example.edu",
        "postmaster@xnu.example.edu",
    ] {
        let (st, v) = app
            .put_json(
                "/api/v1/libraries/XNU/letter-settings",
                json!({"due_soon_days": 3, "allow_never": true, "digest_hour": 8,
                    "mail_addresses": [own]}),
                &admin,
            )
            .await;
        assert_eq!(st, 422, "{own}: {v}");
        assert_eq!(
            v["error"]["fields"][0]["code"], "node_mailbox",
            "{own}: {v}"
        );
        assert!(
            v.to_string().contains(&own.to_lowercase()),
            "names the address {own}: {v}"
        );
    }
    let (st, v) = put_addresses_zh(&app, "XNU", &admin, &["replies@hub.example.net"]).await;
    assert_eq!(st, 422, "{v}");
    let zh = v["error"]["fields"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        zh.contains("replies@hub.example.net") && zh.contains("本节点"),
        "{v}"
    );
    assert!(
        v["error"]["fields"][0]["message_en"]
            .as_str()
            .unwrap_or_default()
            .contains("own mailboxes"),
        "{v}"
    );
    // An address in the node's own mail domains is the hub's to give.
    let (st, v) = put_addresses_zh(&app, "XNU", &admin, &["xnu@ill.example.org"]).await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["fields"][0]["code"], "hub_domain_only", "{v}");
    let zh = v["error"]["fields"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        zh.contains("xnu@ill.example.org") && zh.contains("联盟管理员"),
        "{v}"
    );
    let hub = app.login("hub-admin").await;
    let (st, v) = put_addresses_zh(&app, "HUB", &hub, &["hub@ill.example.org"]).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["mail_addresses"], json!(["hub@ill.example.org"]), "{v}");

    // A taken address is named with its library, in Chinese too.
    let (st, v) = put_addresses_zh(&app, "XNU", &admin, &["ill@xnu.example.edu"]).await;
    assert_eq!(st, 200, "{v}");
    let bcu_admin = app.login("bcu-admin").await;
    let (st, v) = put_addresses_zh(&app, "BCU", &bcu_admin, &["ill@xnu.example.edu"]).await;
    assert_eq!(st, 422, "{v}");
    let zh = v["error"]["fields"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        zh.contains("ill@xnu.example.edu") && zh.contains("XNU"),
        "{v}"
    );
    // And on the admin page, in Chinese.
    let cookie = crate::web::web_login(&app, "bcu-admin").await;
    let p = crate::web::post_form(
        &app,
        "/admin/letters/settings",
        Some(&format!("{cookie}; librelay_lang=zh-CN")),
        &[
            ("due_soon_days", "3"),
            ("digest_hour", "8"),
            ("allow_never", "on"),
            ("mail_addresses", "ill@xnu.example.edu"),
        ],
    )
    .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body
            .contains("邮箱地址“ill@xnu.example.edu”已是 XNU 馆的邮箱"),
        "{}",
        p.body
    );

    // Two libraries claiming one address at once: only one gets it.
    let body = |code: &str| {
        json!({"due_soon_days": 3, "allow_never": true, "digest_hour": 8,
            "mail_addresses": [format!("{}@elsewhere.example", code.to_lowercase()), "shared@elsewhere.example"]})
    };
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            app.put_json("/api/v1/libraries/XNU/letter-settings", body("XNU"), &admin),
            app.put_json(
                "/api/v1/libraries/BCU/letter-settings",
                body("BCU"),
                &bcu_admin
            ),
        );
        let ok = [a.0, b.0].iter().filter(|s| **s == 200).count();
        assert_eq!(ok, 1, "{a:?} {b:?}");
        // Free the address for the next round.
        for (code, token) in [("XNU", &admin), ("BCU", &bcu_admin)] {
            let (st, v) = put_addresses_zh(&app, code, token, &[]).await;
            assert_eq!(st, 200, "{v}");
        }
    }

    // A claim saved before the node refused them: mail to the node's mailbox that names no
    // request is still not that library's.
    let claimed = domain::library::LetterSettings {
        mail_addresses: vec!["replies@hub.example.net".to_owned()],
        ..domain::library::LetterSettings::default()
    };
    let now = app.state.now();
    app.state
        .store
        .write(move |tx| {
            Box::pin(async move { tx.set_letter_settings("XNU", &claimed, now).await })
        })
        .await
        .unwrap();
    let mail = "From: b@elsewhere.example\r\nTo: <replies@hub.example.net>\r\nSubject: Question for the hub\r\n\r\nHello\r\n";
    let filed = smtp_send(
        &app,
        "b@elsewhere.example",
        &["replies@hub.example.net"],
        mail.as_bytes(),
    )
    .await;
    assert!(filed.contains("unmatched"), "{filed}");
    let xnu = app.login("xnu-borrow").await;
    let (_, list) = app.get("/api/v1/mail/unmatched", Some(&xnu)).await;
    assert!(
        !list.to_string().contains("Question for the hub"),
        "XNU does not get the node's mail: {list}"
    );
    let (_, list) = app.get("/api/v1/mail/unmatched", Some(&hub)).await;
    assert!(
        list.to_string().contains("Question for the hub"),
        "left to the hub: {list}"
    );
}

#[tokio::test]
async fn a_library_cannot_claim_the_nodes_own_mailboxes_or_another_librarys() {
    for e in engines() {
        node_mailboxes(e).await;
    }
}
