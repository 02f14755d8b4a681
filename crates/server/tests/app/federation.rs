//! ISO 18626 between nodes and with other systems' peers: a loan lent from one librelay node
//! to another over HTTP, and a peer that fails, is fixed and is sent to again, with the peer
//! profile's version, credentials and error style honoured both ways.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::helpers::{Engine, TestApp, engines};

/// A reader of BCU asks for the book; BCU approves; XNU (same node) says no, so the request
/// goes on to HTU by itself. Returns the borrowing request id.
async fn request_passed_on_to_htu(a: &TestApp) -> String {
    let patron = a.login("bcu-faculty").await;
    let bcu = a.login("bcu-borrow").await;
    let xnu = a.login("xnu-lend").await;
    // A record held by XNU (node A) and HTU (node B), and no one else.
    let citation = crate::lifecycle::book_held_by_xnu_and_htu(a).await;
    let (st, req) = a
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": citation}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    a.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let at_xnu = a.lend_for(&xnu, &id).await;
    a.lend_action(
        &xnu,
        at_xnu["id"].as_str().unwrap(),
        json!({"action": "reject", "reason": "NotOnShelf"}),
    )
    .await;
    a.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["lender"] == "HTU" && v["state"] == "sent"
    })
    .await;
    id
}

async fn two_nodes(engine: Engine) {
    let (a, b) = TestApp::pair(engine).await;
    let id = request_passed_on_to_htu(&a).await;
    let bcu = a.login("bcu-borrow").await;
    // HTU's staff are on node B: the request arrived there over HTTP.
    let htu = b.login("htu-lend").await;
    let at_htu = b.lend_for(&htu, &id).await;
    assert_eq!(at_htu["state"], "request_received", "{at_htu}");
    let lend_id = at_htu["id"].as_str().unwrap().to_owned();
    b.lend_action(&htu, &lend_id, json!({"action": "will_supply"}))
        .await;
    a.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "will_supply"
    })
    .await;
    let shipped = b
        .lend_action(
            &htu,
            &lend_id,
            json!({"action": "ship_physical", "barcode": "HTU0001"}),
        )
        .await;
    let v = a
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "shipped"
        })
        .await;
    assert_eq!(v["due_date"], shipped["due_date"], "{v}");
    for action in ["receive", "lend_to_patron", "patron_return", "ship_return"] {
        a.borrow_action(&bcu, &id, json!({"action": action})).await;
    }
    b.eventually(&format!("/api/v1/lending/{lend_id}"), &htu, |v| {
        v["state"] == "return_shipped"
    })
    .await;
    b.lend_action(&htu, &lend_id, json!({"action": "check_in"}))
        .await;
    a.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "completed"
    })
    .await;
    // Nothing was parked on either side; a node does not take messages for the other's
    // libraries.
    let (_, dead) = a.get("/api/v1/outbox?status=dead", Some(&bcu)).await;
    assert_eq!(dead, json!([]));
    let (_, dead) = b.get("/api/v1/outbox?status=dead", Some(&htu)).await;
    assert_eq!(dead, json!([]));
    // Everything either node sent is valid against the schema of either version.
    assert_sent_messages_valid(&a, &bcu).await;
    assert_sent_messages_valid(&b, &htu).await;
    let (_, sent) = a.get("/api/v1/outbox?status=delivered", Some(&bcu)).await;
    assert!(
        sent.as_array()
            .unwrap()
            .iter()
            .any(|m| m["recipient"] == "ISIL:CN-HTU"),
        "{sent}"
    );
}

#[tokio::test]
async fn a_loan_is_lent_from_one_node_to_another_over_iso18626_and_completes() {
    for e in engines() {
        two_nodes(e).await;
    }
}

#[tokio::test]
async fn a_node_refuses_a_message_for_a_library_it_does_not_serve() {
    let (a, _b) = TestApp::pair(Engine::Sqlite).await;
    let xml = std::fs::read_to_string(sample("NewRequest.xml"))
        .unwrap()
        .replace("OCLC-ABCDE", "CN-HTU");
    let resp = a
        .client
        .post(format!("{}/iso18626", a.base))
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("ERROR"), "{text}");
    assert!(text.contains("served by another system"), "{text}");
}

fn sample(name: &str) -> std::path::PathBuf {
    std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../iso18626/tests/fixtures/samples")
    .join(name)
}

/// A peer of another system, played by the test: it answers HTTP 500 while `failing`, else an
/// OK confirmation, and keeps what it was sent. While `stalled` it keeps what it was sent but
/// holds back its answer until `stalled` turns false.
#[derive(Clone, Default)]
pub(crate) struct FakePeer {
    pub(crate) failing: Arc<AtomicBool>,
    pub(crate) stalled: Arc<AtomicBool>,
    pub(crate) received: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

impl FakePeer {
    pub(crate) async fn start(self) -> String {
        let peer = self.clone();
        let app = axum::Router::new().route(
            "/iso18626",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let peer = peer.clone();
                async move {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    if peer.failing.load(Ordering::SeqCst) {
                        return (StatusCode::INTERNAL_SERVER_ERROR, "overloaded".to_owned());
                    }
                    peer.received.lock().await.push((headers, text.clone()));
                    while peer.stalled.load(Ordering::SeqCst) {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                    (StatusCode::OK, ok_confirmation(&text))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/iso18626")
    }

    /// The first body the peer was sent that `matches`, waiting up to five seconds for it.
    pub(crate) async fn wait_for(&self, matches: impl Fn(&str) -> bool) -> Option<String> {
        for _ in 0..200 {
            let found = self
                .received
                .lock()
                .await
                .iter()
                .map(|(_, body)| body)
                .find(|b| matches(b))
                .cloned();
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        None
    }
}

/// The OK confirmation a peer gives a request, in the request's own version.
fn ok_confirmation(request: &str) -> String {
    let (msg, version) = iso18626::parse(request.as_bytes()).unwrap();
    let mut header = msg.header().clone();
    header.message_status = Some(iso18626::MessageStatus::Ok);
    header.timestamp_received = Some(header.timestamp.clone());
    let conf = iso18626::Confirmation {
        header,
        ..Default::default()
    };
    let reply = match msg {
        iso18626::Message::Request(_) => iso18626::Message::RequestConfirmation(conf),
        iso18626::Message::RequestingAgencyMessage(m) => {
            iso18626::Message::RequestingAgencyMessageConfirmation(iso18626::Confirmation {
                action: Some(m.action),
                ..conf
            })
        }
        other => panic!("unexpected {}", other.kind()),
    };
    iso18626::write(&reply, version)
}

#[tokio::test]
async fn a_peer_that_fails_is_retried_parked_fixed_and_sent_to_in_its_own_version() {
    let a = TestApp::spawn(Engine::Sqlite).await;
    let admin = a.login("bcu-admin").await;
    let bcu = a.login("bcu-borrow").await;
    let fake = FakePeer::default();
    fake.failing.store(true, Ordering::SeqCst);
    let endpoint = fake.clone().start().await;

    // HTU is now served by an Alma peer: 2017 schema, a shared secret each way, refusals
    // answered with HTTP 400.
    let profile = json!({
        "system": "alma",
        "endpoint": endpoint,
        "auth": {"type": "header", "name": "X-Api-Key", "value": "to-alma"},
        "inbound_auth": {"type": "header", "name": "X-Api-Key", "value": "from-alma"},
        "error_style": "http_400",
    });
    let resp = a
        .client
        .put(format!("{}/api/v1/peers/HTU", a.base))
        .bearer_auth(&admin)
        .json(&profile)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let shown: Value = resp.json().await.unwrap();
    assert_eq!(shown["profile"]["version"], "2017");
    assert_eq!(shown["profile"]["accepts_expect_to_supply"], false);
    assert_eq!(shown["profile"]["auth"]["value"], "***", "{shown}");
    // Staff without an admin role cannot read or change profiles.
    let (st, _) = a.get("/api/v1/peers", Some(&bcu)).await;
    assert_eq!(st, 403);
    // A bad profile is refused field by field.
    let bad = a
        .client
        .put(format!("{}/api/v1/peers/HTU", a.base))
        .bearer_auth(&admin)
        .header("accept-language", "zh-CN,zh;q=0.9")
        .json(&json!({"system": "alma", "endpoint": "ftp://x", "max_in_flight": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    let bad: Value = bad.json().await.unwrap();
    let fields: Vec<&str> = bad["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["endpoint", "max_in_flight"], "{bad}");
    let said = bad["error"]["fields"][0]["message"].as_str().unwrap();
    assert!(said.contains("接收地址"), "said in Chinese: {bad}");

    let id = request_passed_on_to_htu(&a).await;

    // The peer answers 500: tried again with growing pauses, then parked for staff.
    let mut parked = Value::Null;
    for _ in 0..40 {
        a.clock.advance(time::Duration::hours(7));
        // Deliver what is due now rather than wait for the background loop: on a loaded
        // machine it could fall behind the clock, and the lender's deadline pass first.
        server::jobs::deliver_once(&a.state).await.unwrap();
        let (_, dead) = a.get("/api/v1/outbox?status=dead", Some(&bcu)).await;
        if let Some(m) = dead
            .as_array()
            .and_then(|d| d.iter().find(|m| m["recipient"] == "ISIL:CN-HTU"))
        {
            parked = m.clone();
            break;
        }
    }
    assert_eq!(parked["attempts"], 8, "{parked}");
    assert!(
        parked["last_error"].as_str().unwrap().contains("HTTP 500"),
        "{parked}"
    );
    assert!(fake.received.lock().await.is_empty());

    // The peer is back; staff send the message again and it arrives, in the 2017 schema,
    // with the secret.
    fake.failing.store(false, Ordering::SeqCst);
    let msg_id = parked["id"].as_i64().unwrap();
    let (st, _) = a
        .post(
            &format!("/api/v1/outbox/{msg_id}/resend"),
            json!({}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 204);
    let mut got = None;
    for _ in 0..100 {
        if let Some(first) = fake.received.lock().await.first().cloned() {
            got = Some(first);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let (headers, body) = got.expect("the peer received the request");
    assert_eq!(headers["x-api-key"], "to-alma");
    let (msg, version) = iso18626::parse(body.as_bytes()).unwrap();
    assert_eq!(version, iso18626::Version::V2017);
    let iso18626::Message::Request(r) = msg else {
        panic!("not a request: {body}")
    };
    let wire_id = r.header.requesting_agency_request_id.clone();
    assert!(wire_id.starts_with(&id), "{wire_id} is not of {id}");
    assert_valid_2017(&body);
    a.eventually("/api/v1/outbox?status=delivered", &bcu, |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"].as_i64() == Some(msg_id))
    })
    .await;

    // Alma answers WillSupply. Without its secret the message is refused with 401; with it,
    // the request moves on.
    let answer = will_supply_from_htu(&wire_id);
    let post = |secret: Option<&'static str>, body: String| {
        let mut r = a
            .client
            .post(format!("{}/iso18626", a.base))
            .header("content-type", "application/xml")
            .body(body);
        if let Some(s) = secret {
            r = r.header("X-Api-Key", s);
        }
        r.send()
    };
    let resp = post(None, answer.clone()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.text().await.unwrap().contains("ERROR"));
    let resp = post(Some("from-alma"), answer.clone()).await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("OK"), "{text}");
    a.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "will_supply"
    })
    .await;
    // A refusal is answered the way this peer wants it: HTTP 400 with the ERROR confirmation.
    let unknown = answer.replace(&wire_id, "no-such-request.1");
    let resp = post(Some("from-alma"), unknown).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.unwrap().contains("ERROR"));
}

/// A WillSupply status change from HTU for our request `wire_id`, in the 2017 schema.
fn will_supply_from_htu(wire_id: &str) -> String {
    let msg = iso18626::Message::SupplyingAgencyMessage(iso18626::SupplyingAgencyMessage {
        header: iso18626::Header {
            supplying_agency_id: iso18626::AgencyId {
                agency_type: "ISIL".into(),
                value: "CN-HTU".into(),
            },
            requesting_agency_id: iso18626::AgencyId {
                agency_type: "ISIL".into(),
                value: "CN-BCU".into(),
            },
            timestamp: "2026-11-30T08:00:00Z".into(),
            requesting_agency_request_id: wire_id.to_owned(),
            supplying_agency_request_id: Some("alma-77".into()),
            ..Default::default()
        },
        message_info: iso18626::MessageInfo {
            reason_for_message: iso18626::ReasonForMessage::RequestResponse,
            ..Default::default()
        },
        status_info: iso18626::StatusInfo {
            status: iso18626::Status::WillSupply,
            last_change: "2026-11-30T08:00:00Z".into(),
            ..Default::default()
        },
        ..Default::default()
    });
    iso18626::write(&msg, iso18626::Version::V2017)
}

/// `xml` is valid against the ISO 18626 v1.2 (2017) schema, checked with xmllint where it is
/// installed (scripts/test installs it).
fn assert_valid_2017(xml: &str) {
    assert_valid(xml, "ISO-18626-v1_2.xsd");
}

/// `xml` is valid against the schema `xsd` of the fixtures, checked with xmllint where it is
/// installed.
pub(crate) fn assert_valid(xml: &str, xsd: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let xsd = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../iso18626/tests/fixtures/xsd")
    .join(xsd);
    let Ok(mut child) = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&xsd)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("SKIPPED: xmllint is not installed, so schema validation was not run");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not valid against {}:\n{}\n{xml}",
        xsd.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every message a node sent in a lifecycle is valid against the 2021 schema as stored, and
/// against the 2017 schema as written for a 2017 peer.
pub(crate) async fn assert_sent_messages_valid(app: &TestApp, staff: &str) {
    assert_sent_valid(app, staff, 3).await;
}

/// The same for a node that sent at least `min` messages; waits until nothing is still on
/// its way.
pub(crate) async fn assert_sent_valid(app: &TestApp, staff: &str, min: usize) {
    app.eventually("/api/v1/outbox?status=pending", staff, |v| {
        v.as_array()
            .is_some_and(|p| p.iter().all(|m| m["kind"] == "email"))
    })
    .await;
    let (_, sent) = app
        .get("/api/v1/outbox?status=delivered&limit=500", Some(staff))
        .await;
    let as_2017 = domain::peer::PeerProfile::preset(
        domain::peer::PeerSystem::ReShare,
        "http://127.0.0.1:9/iso18626",
    );
    let mut n = 0;
    for m in sent.as_array().unwrap() {
        if m["kind"] == "email" {
            continue;
        }
        let xml = m["payload"].as_str().unwrap();
        assert_valid(xml, "ISO-18626-2021-2.xsd");
        let old = server::flow::send::adapt(xml, &as_2017).unwrap().unwrap();
        assert_valid(&old, "ISO-18626-v1_2.xsd");
        n += 1;
    }
    assert!(n >= min, "messages checked: {n}, expected at least {min}");
}

/// POST `xml` to the node's ISO 18626 endpoint as a peer would: the HTTP status and the body.
pub(crate) async fn post_iso(app: &TestApp, xml: String) -> (u16, String) {
    let resp = app
        .client
        .post(format!("{}/iso18626", app.base))
        .header("content-type", "text/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A loan of BCU sent to HTU, which is now a peer on another system played by the test.
pub(crate) async fn loan_sent_to_a_scripted_peer(
    engine: Engine,
) -> (TestApp, FakePeer, String, String) {
    let a = TestApp::spawn(engine).await;
    let admin = a.login("bcu-admin").await;
    let bcu = a.login("bcu-borrow").await;
    let patron = a.login("bcu-faculty").await;
    let fake = FakePeer::default();
    served_by(&a, &admin, "HTU", &fake).await;
    let id = loan_sent_to(&a, &patron, &bcu, "HTU", "Quirks of peers").await;
    assert!(
        fake.wait_for(|_| true).await.is_some(),
        "the peer got the request"
    );
    (a, fake, id, bcu)
}

/// Make `library` a peer on another system, played by `peer`.
async fn served_by(a: &TestApp, admin: &str, library: &str, peer: &FakePeer) {
    let endpoint = peer.clone().start().await;
    let resp = a
        .client
        .put(format!("{}/api/v1/peers/{library}", a.base))
        .bearer_auth(admin)
        .json(&json!({"system": "other", "endpoint": endpoint}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// A loan of `title` placed by `patron` and sent by `staff` to `lender` alone. Returns its id.
async fn loan_sent_to(a: &TestApp, patron: &str, staff: &str, lender: &str, title: &str) -> String {
    let (st, req) = a
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": title, "author": "Vendor, V."}}),
            Some(patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    a.borrow_action(staff, &id, json!({"action": "edit_rota", "rota": [lender]}))
        .await;
    a.borrow_action(staff, &id, json!({"action": "approve"}))
        .await;
    id
}

/// A peer that is slow to answer holds up its own messages only: a request for another peer,
/// queued while the first waits for its answer, goes out at once.
async fn slow_peer(engine: Engine) {
    let a = TestApp::spawn(engine).await;
    let admin = a.login("bcu-admin").await;
    let bcu = a.login("bcu-borrow").await;
    let patron = a.login("bcu-faculty").await;
    let (slow, quick) = (FakePeer::default(), FakePeer::default());
    slow.stalled.store(true, Ordering::SeqCst);
    served_by(&a, &admin, "HTU", &slow).await;
    served_by(&a, &admin, "CPL", &quick).await;

    let first = loan_sent_to(&a, &patron, &bcu, "HTU", "Slow to answer").await;
    assert!(
        slow.wait_for(|b| b.contains(&first)).await.is_some(),
        "the slow peer got its request"
    );
    let second = loan_sent_to(&a, &patron, &bcu, "CPL", "Quick to answer").await;
    assert!(
        quick.wait_for(|b| b.contains(&second)).await.is_some(),
        "the other peer got its request while the slow one had not answered"
    );
    let delivered = |id: String| {
        let (a, admin) = (&a, &admin);
        async move {
            a.eventually("/api/v1/outbox?status=delivered&limit=500", admin, |rows| {
                rows.as_array()
                    .is_some_and(|r| r.iter().any(|m| m["request_id"] == id))
            })
            .await;
        }
    };
    // The quick peer's answer was kept.
    delivered(second).await;

    // The slow peer outlasts the message's lease: the job does not send it a second time
    // while the first is still waiting for its answer.
    a.clock.advance(time::Duration::minutes(5));
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let sent = |peer: &FakePeer, id: &str| {
        let (peer, id) = (peer.clone(), id.to_owned());
        async move {
            peer.received
                .lock()
                .await
                .iter()
                .filter(|(_, b)| b.contains(&id))
                .count()
        }
    };
    assert_eq!(sent(&slow, &first).await, 1, "sent once while under way");
    slow.stalled.store(false, Ordering::SeqCst);
    // The slow peer's answer is kept once it comes.
    delivered(first.clone()).await;
    assert_eq!(sent(&slow, &first).await, 1, "and sent only once");
}

#[tokio::test]
async fn a_slow_peer_holds_up_no_other_peer() {
    for e in engines() {
        slow_peer(e).await;
    }
}

async fn quirks_are_read(engine: Engine) {
    let (a, _fake, id, bcu) = loan_sent_to_a_scripted_peer(engine).await;
    let wire_id = format!("{id}.1");
    // 2021 content under a 2017 version label; a vendor's elements (one of them called
    // `status`, before the real one); padded values; empty optional elements; odd-case codes;
    // timestamps without seconds or without the colon in the offset.
    let will_supply = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626" xmlns:v="urn:example:vendor" version="v1_2_2017">
  <v:routing><v:hop>3</v:hop></v:routing>
  <supplyingAgencyMessage>
    <header>
      <supplyingAgencyId>
        <agencyIdType> ISIL </agencyIdType>
        <agencyIdValue>
          CN-HTU
        </agencyIdValue>
      </supplyingAgencyId>
      <requestingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>CN-BCU</agencyIdValue></requestingAgencyId>
      <timestamp>2026-11-30T16:05+0800</timestamp>
      <requestingAgencyRequestId>  {wire_id}  </requestingAgencyRequestId>
      <supplyingAgencyRequestId>peer-9</supplyingAgencyRequestId>
      <v:trace>abc</v:trace>
    </header>
    <messageInfo>
      <reasonForMessage>requestresponse</reasonForMessage>
      <answerYesNo/>
      <note></note>
      <reasonUnfilled> </reasonUnfilled>
    </messageInfo>
    <statusInfo>
      <v:status>Unfilled</v:status>
      <status> will_supply </status>
      <expectedDeliveryDate/>
      <dueDate></dueDate>
      <lastChange>2026-11-30T16:05+08</lastChange>
    </statusInfo>
    <retryInfo/>
  </supplyingAgencyMessage>
</ISO18626Message>"#
    );
    let (st, conf) = post_iso(&a, will_supply).await;
    assert_eq!(st, 200, "{conf}");
    let (msg, version) = iso18626::parse(conf.as_bytes()).unwrap();
    assert_eq!(
        msg.header().message_status,
        Some(iso18626::MessageStatus::Ok),
        "{conf}"
    );
    assert_eq!(
        version,
        iso18626::Version::V2021,
        "answered in the version it spoke: {conf}"
    );
    assert_valid(&conf, "ISO-18626-2021-2.xsd");
    let v = a
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "will_supply"
        })
        .await;
    assert_eq!(v["lender_request_id"], "peer-9", "{v}");

    // 2017 content under a 2021 label, with shouting and spaced codes and a due date without
    // seconds: it is read as 2017 and answered in 2017.
    let loaned = format!(
        r#"<ill:ISO18626Message xmlns:ill="http://illtransactions.org/2013/iso18626" ill:version="2021-2">
<ill:supplyingAgencyMessage>
<ill:header>
<ill:supplyingAgencyId><ill:agencyIdType>ISIL</ill:agencyIdType><ill:agencyIdValue>CN-HTU</ill:agencyIdValue></ill:supplyingAgencyId>
<ill:requestingAgencyId><ill:agencyIdType>ISIL</ill:agencyIdType><ill:agencyIdValue>CN-BCU</ill:agencyIdValue></ill:requestingAgencyId>
<ill:multipleItemRequestId/>
<ill:timestamp>2026-11-30T16:10:00+0800</ill:timestamp>
<ill:requestingAgencyRequestId>{wire_id}</ill:requestingAgencyRequestId>
<ill:supplyingAgencyRequestId>peer-9</ill:supplyingAgencyRequestId>
</ill:header>
<ill:messageInfo><ill:reasonForMessage>STATUS CHANGE</ill:reasonForMessage></ill:messageInfo>
<ill:statusInfo><ill:status>LOANED</ill:status><ill:dueDate>2026-12-30T23:59+0800</ill:dueDate><ill:lastChange>2026-11-30T16:10+08:00</ill:lastChange></ill:statusInfo>
<ill:deliveryInfo><ill:dateSent>2026-11-30T16:10</ill:dateSent><ill:itemId>39001</ill:itemId><ill:sentVia>Mail</ill:sentVia><ill:sentToPatron>N</ill:sentToPatron></ill:deliveryInfo>
</ill:supplyingAgencyMessage>
</ill:ISO18626Message>"#
    );
    let (st, conf) = post_iso(&a, loaned).await;
    assert_eq!(st, 200, "{conf}");
    let (msg, version) = iso18626::parse(conf.as_bytes()).unwrap();
    assert_eq!(
        msg.header().message_status,
        Some(iso18626::MessageStatus::Ok),
        "{conf}"
    );
    assert_eq!(version, iso18626::Version::V2017, "{conf}");
    assert_valid_2017(&conf);
    let v = a
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "shipped"
        })
        .await;
    assert_eq!(v["due_date"], "2026-12-30", "{v}");
}

#[tokio::test]
async fn a_peers_quirks_are_read_leniently() {
    for e in engines() {
        quirks_are_read(e).await;
    }
}

async fn missing_header_fields(engine: Engine) {
    let (a, _fake, id, bcu) = loan_sent_to_a_scripted_peer(engine).await;
    let wire_id = format!("{id}.1");
    let message = |header: &str| {
        format!(
            r#"<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626" version="v1_2_2017">
  <supplyingAgencyMessage>
    <header>{header}</header>
    <messageInfo><reasonForMessage>StatusChange</reasonForMessage></messageInfo>
    <statusInfo><status>Loaned</status><lastChange>2026-11-30T16:10:00Z</lastChange></statusInfo>
  </supplyingAgencyMessage>
</ISO18626Message>"#
        )
    };
    let htu = "<supplyingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>CN-HTU</agencyIdValue></supplyingAgencyId>";
    let bcu_id = "<requestingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>CN-BCU</agencyIdValue></requestingAgencyId>";
    let stamp = "<timestamp>2026-11-30T16:10:00Z</timestamp>";
    let rid = format!("<requestingAgencyRequestId>{wire_id}</requestingAgencyRequestId>");
    let cases = [
        (
            format!("{htu}{bcu_id}<multipleItemRequestId/>{rid}"),
            "supplyingAgencyMessage/header/timestamp",
        ),
        (
            format!("{htu}<multipleItemRequestId/>{stamp}{rid}"),
            "supplyingAgencyMessage/header/requestingAgencyId",
        ),
        (
            format!(
                "{htu}{bcu_id}<multipleItemRequestId/>{stamp}<requestingAgencyRequestId>  </requestingAgencyRequestId>"
            ),
            "supplyingAgencyMessage/header/requestingAgencyRequestId",
        ),
        (
            format!("{bcu_id}<multipleItemRequestId/>{stamp}{rid}"),
            "supplyingAgencyMessage/header/supplyingAgencyId",
        ),
    ];
    for (header, path) in cases {
        let (st, conf) = post_iso(&a, message(&header)).await;
        assert_eq!(st, 200, "{conf}");
        let (msg, version) = iso18626::parse(conf.as_bytes()).unwrap();
        assert_eq!(version, iso18626::Version::V2017, "{conf}");
        assert_valid_2017(&conf);
        let iso18626::Message::SupplyingAgencyMessageConfirmation(c) = msg else {
            panic!("not a supplyingAgencyMessageConfirmation: {conf}")
        };
        assert_eq!(
            c.header.message_status,
            Some(iso18626::MessageStatus::Error)
        );
        assert_eq!(
            c.reason_for_message,
            Some(iso18626::ReasonForMessage::StatusChange),
            "{conf}"
        );
        let error = c.header.error_data.unwrap();
        assert_eq!(
            error.error_type,
            iso18626::ErrorType::BadlyFormedMessage,
            "{conf}"
        );
        assert!(error.error_value.contains(path), "{path} not in {conf}");
    }
    // Nothing was applied.
    let (_, v) = a.get(&format!("/api/v1/requests/{id}"), Some(&bcu)).await;
    assert_eq!(v["state"], "sent", "{v}");
}

#[tokio::test]
async fn a_message_missing_a_mandatory_header_field_is_refused_naming_the_element() {
    for e in engines() {
        missing_header_fields(e).await;
    }
}

/// Three nodes: the consortium hub (HUB) on one, its members BCU and XNU on a second and HTU,
/// CPL and NSD on a third. The members know only the hub's address for each other; the hub
/// knows where each member is served and passes their messages on.
async fn hub_and_members(engine: Engine) {
    let hub = TestApp::start(engine).await;
    let a = TestApp::start(engine).await;
    let b = TestApp::start(engine).await;
    let at = |codes: &[&str], node: &TestApp| -> Vec<(String, String)> {
        codes
            .iter()
            .map(|c| ((*c).to_owned(), format!("{}/iso18626", node.base)))
            .collect()
    };
    let mut members = at(&["BCU", "XNU"], &a);
    members.extend(at(&["HTU", "CPL", "NSD"], &b));
    hub.seed(&members).await;
    a.seed(&at(&["HUB", "HTU", "CPL", "NSD"], &hub)).await;
    b.seed(&at(&["HUB", "BCU", "XNU"], &hub)).await;

    let patron = a.login("bcu-faculty").await;
    let bcu = a.login("bcu-borrow").await;
    let htu = b.login("htu-lend").await;
    let (st, req) = a
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Through the hub", "author": "Hub, H."}}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    a.borrow_action(&bcu, &id, json!({"action": "edit_rota", "rota": ["HTU"]}))
        .await;
    a.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    // The request reaches HTU on the third node by way of the hub.
    let at_htu = b.lend_for(&htu, &id).await;
    assert_eq!(at_htu["borrower_agency"], "ISIL:CN-BCU", "{at_htu}");
    let lend_id = at_htu["id"].as_str().unwrap().to_owned();
    b.lend_action(&htu, &lend_id, json!({"action": "will_supply"}))
        .await;
    b.lend_action(
        &htu,
        &lend_id,
        json!({"action": "ship_physical", "barcode": "H-1"}),
    )
    .await;
    a.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "shipped"
    })
    .await;
    for action in ["receive", "lend_to_patron", "patron_return", "ship_return"] {
        a.borrow_action(&bcu, &id, json!({"action": action})).await;
    }
    b.eventually(&format!("/api/v1/lending/{lend_id}"), &htu, |v| {
        v["state"] == "return_shipped"
    })
    .await;
    b.lend_action(&htu, &lend_id, json!({"action": "check_in"}))
        .await;
    a.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "completed"
    })
    .await;

    // Every message crossed the hub: it passed them on, to HTU and to BCU, and parked none.
    let hub_staff = hub.login("hub-admin").await;
    let (_, relayed) = hub
        .get(
            "/api/v1/outbox?status=delivered&limit=500",
            Some(&hub_staff),
        )
        .await;
    let relayed = relayed.as_array().unwrap();
    let to = |agency: &str| relayed.iter().filter(|m| m["recipient"] == agency).count();
    assert!(
        to("ISIL:CN-HTU") >= 3,
        "request, received, return: {relayed:?}"
    );
    assert!(
        to("ISIL:CN-BCU") >= 3,
        "will supply, loaned, completed: {relayed:?}"
    );
    assert!(relayed.iter().all(|m| m["side"] == "relay"), "{relayed:?}");
    let (_, dead) = hub
        .get("/api/v1/outbox?status=dead", Some(&hub_staff))
        .await;
    assert_eq!(dead, json!([]));
    // The hub's own libraries have no request of their own in this.
    let (_, hub_queue) = hub.get("/api/v1/lending", Some(&hub_staff)).await;
    assert_eq!(hub_queue["total"], 0, "{hub_queue}");
    for m in relayed {
        assert_valid(m["payload"].as_str().unwrap(), "ISO-18626-2021-2.xsd");
    }
}

#[tokio::test]
async fn a_hub_on_one_node_passes_messages_between_members_on_others_and_a_loan_completes() {
    for e in engines() {
        hub_and_members(e).await;
    }
}
