//! What ISO 18626:2021 added, between nodes and with a 2017 peer: a lender holding the return
//! of a loan and releasing it, a borrower holding it, an item lost at the borrower; and
//! refusals told to whom they concern: a hub telling a library that the member it relayed a
//! message to refused it (or never took it), a transfer request refused on one node.

use serde_json::{Value, json};

use crate::federation::{assert_sent_valid, assert_valid, loan_sent_to_a_scripted_peer, post_iso};
use crate::helpers::{Engine, TestApp, engines};

/// A loan of BCU (node A) from HTU (node B), shipped, received and lent to the reader.
struct OnLoan {
    a: TestApp,
    b: TestApp,
    id: String,
    lend_id: String,
    bcu: String,
    htu: String,
}

impl OnLoan {
    async fn start(engine: Engine) -> OnLoan {
        let (a, b) = TestApp::pair(engine).await;
        let patron = a.login("bcu-faculty").await;
        let bcu = a.login("bcu-borrow").await;
        let htu = b.login("htu-lend").await;
        let (st, req) = a
            .post(
                "/api/v1/requests",
                json!({"format": "loan", "citation": {"title": "Kept a while", "author": "Hold, H."}}),
                Some(&patron),
            )
            .await;
        assert_eq!(st, 201, "{req}");
        let id = req["id"].as_str().unwrap().to_owned();
        a.borrow_action(&bcu, &id, json!({"action": "edit_rota", "rota": ["HTU"]}))
            .await;
        a.borrow_action(&bcu, &id, json!({"action": "approve"}))
            .await;
        let lend_id = b.lend_for(&htu, &id).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        b.lend_action(&htu, &lend_id, json!({"action": "will_supply"}))
            .await;
        b.lend_action(
            &htu,
            &lend_id,
            json!({"action": "ship_physical", "barcode": "H-7"}),
        )
        .await;
        a.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "shipped"
        })
        .await;
        for action in ["receive", "lend_to_patron"] {
            a.borrow_action(&bcu, &id, json!({"action": action})).await;
        }
        OnLoan {
            a,
            b,
            id,
            lend_id,
            bcu,
            htu,
        }
    }

    async fn borrower_sees(&self, check: impl Fn(&Value) -> bool) -> Value {
        self.a
            .eventually(&format!("/api/v1/requests/{}", self.id), &self.bcu, check)
            .await
    }

    async fn lender_sees(&self, check: impl Fn(&Value) -> bool) -> Value {
        self.b
            .eventually(
                &format!("/api/v1/lending/{}", self.lend_id),
                &self.htu,
                check,
            )
            .await
    }

    async fn history(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
        let (st, v) = app.get(&format!("{path}/events"), Some(token)).await;
        assert_eq!(st, 200, "{v}");
        v.as_array().unwrap().clone()
    }
}

fn allows(v: &Value, action: &str) -> bool {
    v["allowed_actions"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == action))
}

async fn hold_and_release(engine: Engine) {
    let l = OnLoan::start(engine).await;
    let lender = l.lender_sees(|v| v["state"] == "shipped").await;
    assert!(allows(&lender, "hold_return"), "{lender}");
    assert!(!allows(&lender, "release_hold_return"), "{lender}");

    l.b.lend_action(
        &l.htu,
        &l.lend_id,
        json!({"action": "hold_return", "note": "Closed for stocktaking until 5 January"}),
    )
    .await;
    let lender = l.lender_sees(|v| v["return_held_since"].is_string()).await;
    assert!(allows(&lender, "release_hold_return"), "{lender}");
    assert!(!allows(&lender, "hold_return"), "{lender}");

    // The borrower keeps the loan going but may not send the item back yet.
    let v = l
        .borrower_sees(|v| v["return_held_since"].is_string())
        .await;
    assert_eq!(v["state"], "on_loan_to_patron", "{v}");
    l.a.borrow_action(&l.bcu, &l.id, json!({"action": "patron_return"}))
        .await;
    let (_, v) =
        l.a.get(&format!("/api/v1/requests/{}", l.id), Some(&l.bcu))
            .await;
    assert!(!allows(&v, "ship_return"), "{v}");
    let (st, refused) =
        l.a.post(
            &format!("/api/v1/requests/{}/actions", l.id),
            json!({"action": "ship_return"}),
            Some(&l.bcu),
        )
        .await;
    assert_eq!(st, 409, "{refused}");
    let history = OnLoan::history(&l.a, &format!("/api/v1/requests/{}", l.id), &l.bcu).await;
    let held = history
        .iter()
        .find(|e| e["action"] == "lender_hold_return")
        .unwrap_or_else(|| panic!("{history:?}"));
    assert_eq!(held["actor"], "peer", "{held}");
    assert!(
        held["note"]
            .as_str()
            .is_some_and(|n| n.contains("stocktaking")),
        "the lender's words reach the borrower's staff: {held}"
    );
    // The request's own page says who holds the return, since when and why, on both sides.
    let (_, v) =
        l.a.get(&format!("/api/v1/requests/{}", l.id), Some(&l.bcu))
            .await;
    let theirs = hold_by(&v, "lender").unwrap_or_else(|| panic!("{v}"));
    assert_eq!(theirs["by"], "ISIL:CN-HTU", "{v}");
    let session = crate::web::web_login(&l.a, "bcu-borrow").await;
    let detail = format!("/requests/{}", l.id);
    let en = page(&l.a, &detail, &session, "en").await;
    assert!(
        en.contains("Return held by the lender (do not send it back yet)")
            && en.contains("set by ISIL:CN-HTU")
            && en.contains("stocktaking"),
        "{en}"
    );
    let zh = page(&l.a, &detail, &session, "zh-CN").await;
    assert!(
        zh.contains("出借馆要求暂缓归还") && zh.contains("始于"),
        "{zh}"
    );
    let lender_session = crate::web::web_login(&l.b, "htu-lend").await;
    let lend_page = format!("/staff/lending/{}", l.lend_id);
    let en = page(&l.b, &lend_page, &lender_session, "en").await;
    assert!(
        en.contains("We asked the borrower to hold the return") && en.contains("set by htu-lend"),
        "{en}"
    );
    assert!(
        page(&l.b, &lend_page, &lender_session, "zh-CN")
            .await
            .contains("本馆已要求借入馆暂缓归还")
    );

    l.b.lend_action(&l.htu, &l.lend_id, json!({"action": "release_hold_return"}))
        .await;
    let v = l
        .borrower_sees(|v| v["return_held_since"].is_null() && allows(v, "ship_return"))
        .await;
    assert_eq!(v["state"], "returned_by_patron", "{v}");
    l.a.borrow_action(&l.bcu, &l.id, json!({"action": "ship_return"}))
        .await;
    l.lender_sees(|v| v["state"] == "return_shipped").await;
    let history = OnLoan::history(&l.a, &format!("/api/v1/requests/{}", l.id), &l.bcu).await;
    assert!(
        history
            .iter()
            .any(|e| e["action"] == "lender_release_hold_return"),
        "{history:?}"
    );
    // What both sent is valid in 2021 as stored, and in 2017 as written for a 2017 peer.
    assert_sent_valid(&l.b, &l.htu, 4).await;
    assert_sent_valid(&l.a, &l.bcu, 3).await;
}

#[tokio::test]
async fn a_lender_holds_the_return_of_a_loan_and_releases_it_across_nodes() {
    for e in engines() {
        hold_and_release(e).await;
    }
}

async fn lost(engine: Engine) {
    let l = OnLoan::start(engine).await;
    l.a.borrow_action(
        &l.bcu,
        &l.id,
        json!({"action": "mark_lost", "note": "Lost by the reader on a train"}),
    )
    .await;
    let lender = l
        .lender_sees(|v| v["state"] == "completed_without_return")
        .await;
    assert!(!allows(&lender, "check_in"), "{lender}");
    let history = OnLoan::history(&l.b, &format!("/api/v1/lending/{}", l.lend_id), &l.htu).await;
    let lost = history
        .iter()
        .find(|e| e["action"] == "borrower_lost")
        .unwrap_or_else(|| panic!("{history:?}"));
    assert_eq!(lost["from_state"], "shipped", "{lost}");
    assert_eq!(lost["to_state"], "completed_without_return", "{lost}");
    assert!(
        lost["note"].as_str().is_some_and(|n| n.contains("train")),
        "{lost}"
    );
    // The lender's answer closes the borrower's side too.
    l.borrower_sees(|v| v["state"] == "completed").await;
    assert_sent_valid(&l.a, &l.bcu, 3).await;
}

#[tokio::test]
async fn an_item_lost_at_the_borrower_is_recorded_and_ends_the_loan_on_both_sides() {
    for e in engines() {
        lost(e).await;
    }
}

/// A supplying agency message from the scripted 2017 peer HTU about BCU's request `wire_id`.
fn sam_2017(wire_id: &str, at: &str, status: &str, note: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626" version="v1_2_2017">
  <supplyingAgencyMessage>
    <header>
      <supplyingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>CN-HTU</agencyIdValue></supplyingAgencyId>
      <requestingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>CN-BCU</agencyIdValue></requestingAgencyId>
      <multipleItemRequestId/>
      <timestamp>{at}</timestamp>
      <requestingAgencyRequestId>{wire_id}</requestingAgencyRequestId>
      <supplyingAgencyRequestId>peer-1</supplyingAgencyRequestId>
    </header>
    <messageInfo><reasonForMessage>StatusChange</reasonForMessage><note>{note}</note></messageInfo>
    <statusInfo><status>{status}</status><dueDate>2027-01-31T23:59:59Z</dueDate><lastChange>{at}</lastChange></statusInfo>
  </supplyingAgencyMessage>
</ISO18626Message>"#
    )
}

async fn with_a_2017_peer(engine: Engine) {
    let (a, fake, id, bcu) = loan_sent_to_a_scripted_peer(engine).await;
    // HTU speaks the 2017 schema from now on.
    let admin = a.login("bcu-admin").await;
    let endpoint = a.get("/api/v1/peers/HTU", Some(&admin)).await.1["profile"]["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = a
        .client
        .put(format!("{}/api/v1/peers/HTU", a.base))
        .bearer_auth(&admin)
        .json(&json!({"system": "other", "endpoint": endpoint, "version": "2017"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let wire_id = format!("{id}.1");
    let path = format!("/api/v1/requests/{id}");
    let (st, conf) = post_iso(
        &a,
        sam_2017(&wire_id, "2026-11-30T09:00:00Z", "Loaned", "Sent today"),
    )
    .await;
    assert_eq!(st, 200, "{conf}");
    a.eventually(&path, &bcu, |v| v["state"] == "shipped").await;
    for action in ["receive", "lend_to_patron"] {
        a.borrow_action(&bcu, &id, json!({"action": action})).await;
    }
    // The 2017 peer can only say HoldReturn in its note, as the marker this node writes.
    let (st, conf) = post_iso(
        &a,
        sam_2017(
            &wire_id,
            "2026-11-30T10:00:00+0800",
            "Loaned",
            "#HoldReturn# We are moving; keep it until we write again",
        ),
    )
    .await;
    assert_eq!(st, 200, "{conf}");
    assert!(conf.contains("<messageStatus>OK</messageStatus>"), "{conf}");
    assert_valid(&conf, "ISO-18626-v1_2.xsd");
    let v = a
        .eventually(&path, &bcu, |v| v["return_held_since"].is_string())
        .await;
    assert_eq!(v["state"], "on_loan_to_patron", "{v}");
    let (st, conf) = post_iso(
        &a,
        sam_2017(
            &wire_id,
            "2026-12-20T10:00:00Z",
            "Loaned",
            "#ReleaseHoldReturn#",
        ),
    )
    .await;
    assert_eq!(st, 200, "{conf}");
    a.eventually(&path, &bcu, |v| v["return_held_since"].is_null())
        .await;

    // Our own hold goes to a 2017 peer as a Notification with the marker, valid against its
    // schema.
    a.borrow_action(
        &bcu,
        &id,
        json!({"action": "hold_return", "note": "Closed until Monday"}),
    )
    .await;
    let held = fake
        .wait_for(|b| b.contains("requestingAgencyMessage") && b.contains("#HoldReturn#"))
        .await
        .expect("the peer was told of our hold");
    assert!(held.contains("<action>Notification</action>"), "{held}");
    assert!(held.contains("#HoldReturn# Closed until Monday"), "{held}");
    assert_valid(&held, "ISO-18626-v1_2.xsd");

    // Lost goes to a 2017 peer as a Notification saying so, valid against its schema.
    a.borrow_action(
        &bcu,
        &id,
        json!({"action": "mark_lost", "note": "Water damage"}),
    )
    .await;
    let sent = fake
        .wait_for(|b| b.contains("requestingAgencyMessage") && b.contains("#Lost#"))
        .await
        .expect("the peer was told of the loss");
    assert!(sent.contains("<action>Notification</action>"), "{sent}");
    assert!(sent.contains("#Lost# Water damage"), "{sent}");
    assert_valid(&sent, "ISO-18626-v1_2.xsd");
    let (message, version) = iso18626::parse(sent.as_bytes()).unwrap();
    assert_eq!(version, iso18626::Version::V2017);
    let iso18626::Message::RequestingAgencyMessage(m) = message else {
        panic!("{sent}")
    };
    assert_eq!(
        m.action,
        iso18626::Action::Lost,
        "read back as the 2021 value"
    );
}

#[tokio::test]
async fn a_2017_peer_holds_a_return_in_its_note_and_hears_of_a_loss_in_a_notification() {
    for e in engines() {
        with_a_2017_peer(e).await;
    }
}

/// The hub relays BCU's request to HTU, whose node refuses it (it expects credentials from
/// BCU that the hub does not have): BCU is told Unfilled and moves on to its next lender.
async fn relay_refused(engine: Engine) {
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
    let b_admin = b.login("htu-admin").await;
    let resp = b
        .client
        .put(format!("{}/api/v1/peers/BCU", b.base))
        .bearer_auth(&b_admin)
        .json(&json!({
            "system": "librelay",
            "endpoint": format!("{}/iso18626", hub.base),
            "inbound_auth": {"type": "header", "name": "X-Api-Key", "value": "only-for-bcu"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let patron = a.login("bcu-faculty").await;
    let bcu = a.login("bcu-borrow").await;
    let (st, req) = a
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Refused on the way", "author": "Hub, H."}}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    a.borrow_action(
        &bcu,
        &id,
        json!({"action": "edit_rota", "rota": ["HTU", "XNU"]}),
    )
    .await;
    a.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;

    // BCU hears that HTU refused and asks XNU, its next lender (on its own node).
    let v = a
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["lender"] == "XNU" && v["state"] == "sent"
        })
        .await;
    assert_eq!(v["rota"]["entries"][0]["outcome"], "unfilled", "{v}");
    let (_, history) = a
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let unfilled = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "lender_unfilled")
        .unwrap_or_else(|| panic!("{history}"))
        .clone();
    let note = unfilled["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("OtherReason") && note.contains("refused") && note.contains("CN-HTU"),
        "the note says who refused and why: {unfilled}"
    );
    let xnu = a.login("xnu-lend").await;
    assert_eq!(a.lend_for(&xnu, &id).await["state"], "request_received");

    // At the hub: the refused request is parked for its staff, and the answer went to BCU.
    let hub_staff = hub.login("hub-admin").await;
    let (_, dead) = hub
        .get("/api/v1/outbox?status=dead", Some(&hub_staff))
        .await;
    let dead = dead.as_array().unwrap();
    assert!(
        dead.iter()
            .any(|m| m["kind"] == "request" && m["recipient"] == "ISIL:CN-HTU"),
        "{dead:?}"
    );
    let delivered = hub
        .eventually(
            "/api/v1/outbox?status=delivered&limit=500",
            &hub_staff,
            |v| {
                v.as_array().is_some_and(|m| {
                    m.iter().any(|m| {
                        m["recipient"] == "ISIL:CN-BCU" && m["kind"] == "supplying_agency_message"
                    })
                })
            },
        )
        .await;
    for m in delivered.as_array().unwrap() {
        let xml = m["payload"].as_str().unwrap();
        if m["recipient"] == "ISIL:CN-BCU" {
            assert!(xml.contains("<status>Unfilled</status>"), "{xml}");
        }
        assert_valid(xml, "ISO-18626-2021-2.xsd");
    }
}

#[tokio::test]
async fn a_request_the_hub_relayed_and_the_member_refused_is_answered_unfilled_to_its_sender() {
    for e in engines() {
        relay_refused(e).await;
    }
}

/// XNU passes BCU's request on to HTU on the other node, whose node refuses it (it expects
/// credentials from BCU): XNU answers BCU Unfilled itself, as BCU still waits on it.
async fn forward_refused(engine: Engine) {
    let (a, b) = TestApp::pair(engine).await;
    let b_admin = b.login("htu-admin").await;
    let resp = b
        .client
        .put(format!("{}/api/v1/peers/BCU", b.base))
        .bearer_auth(&b_admin)
        .json(&json!({
            "system": "librelay",
            "endpoint": format!("{}/iso18626", a.base),
            "inbound_auth": {"type": "header", "name": "X-Api-Key", "value": "only-for-bcu"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let patron = a.login("bcu-faculty").await;
    let bcu = a.login("bcu-borrow").await;
    let xnu = a.login("xnu-lend").await;
    let (st, req) = a
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Passed on and refused", "author": "Fwd, F."}}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    a.borrow_action(&bcu, &id, json!({"action": "edit_rota", "rota": ["XNU"]}))
        .await;
    a.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let at_xnu = a.lend_for(&xnu, &id).await;
    let xnu_id = at_xnu["id"].as_str().unwrap().to_owned();
    a.lend_action(
        &xnu,
        &xnu_id,
        json!({"action": "forward", "forward_to": "HTU"}),
    )
    .await;

    let lending = a
        .eventually(&format!("/api/v1/lending/{xnu_id}"), &xnu, |v| {
            v["state"] == "unfilled"
        })
        .await;
    assert_eq!(lending["library"], "XNU", "{lending}");
    let (_, history) = a
        .get(&format!("/api/v1/lending/{xnu_id}/events"), Some(&xnu))
        .await;
    let refused = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "forward_refused")
        .unwrap_or_else(|| panic!("{history}"))
        .clone();
    assert_eq!(refused["actor"], "system", "{refused}");
    assert_eq!(refused["from_state"], "forwarded", "{refused}");
    let v = a
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "unfilled"
        })
        .await;
    assert_eq!(v["rota"]["entries"][0]["outcome"], "unfilled", "{v}");
    let (_, history) = a
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let unfilled = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "lender_unfilled")
        .unwrap_or_else(|| panic!("{history}"))
        .clone();
    assert!(
        unfilled["note"]
            .as_str()
            .is_some_and(|n| n.contains("ISIL:CN-HTU") && n.contains("refused")),
        "the borrower's staff read who refused: {unfilled}"
    );
}

#[tokio::test]
async fn a_request_passed_on_and_refused_by_the_new_supplier_is_answered_unfilled_by_the_first() {
    for e in engines() {
        forward_refused(e).await;
    }
}

/// A hub node with BCU and XNU on node `a` and HTU, CPL and NSD on node `b` (HTU at `htu_at`
/// when given: a peer the test plays), each member knowing the others at the hub's address.
async fn three_nodes(engine: Engine, htu_at: Option<&str>) -> (TestApp, TestApp, TestApp) {
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
    members.extend(at(&["CPL", "NSD"], &b));
    members.push((
        "HTU".to_owned(),
        htu_at.map_or_else(|| format!("{}/iso18626", b.base), str::to_owned),
    ));
    hub.seed(&members).await;
    a.seed(&at(&["HUB", "HTU", "CPL", "NSD"], &hub)).await;
    b.seed(&at(&["HUB", "BCU", "XNU"], &hub)).await;
    (hub, a, b)
}

/// `admin` of `app` sets the peer profile of `code`: a librelay node at `endpoint`, expecting
/// `secret` in X-Api-Key from it when given, nothing otherwise.
async fn set_peer(app: &TestApp, admin: &str, code: &str, endpoint: &str, secret: Option<&str>) {
    let token = app.login(admin).await;
    let inbound = match secret {
        Some(s) => json!({"type": "header", "name": "X-Api-Key", "value": s}),
        None => json!({"type": "none"}),
    };
    let profile = json!({"system": "librelay", "endpoint": endpoint, "inbound_auth": inbound});
    let resp = app
        .client
        .put(format!("{}/api/v1/peers/{code}", app.base))
        .bearer_auth(&token)
        .json(&profile)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

fn has_event(v: &Value, action: &str, words: &[&str]) -> bool {
    v.as_array().is_some_and(|events| {
        events.iter().any(|e| {
            e["action"] == action
                && e["note"]
                    .as_str()
                    .is_some_and(|n| words.iter().all(|w| n.contains(w)))
        })
    })
}

/// Everything `staff` of `app` delivered with `side` is valid against the 2021 schema, and
/// there is something.
async fn delivered_valid(app: &TestApp, staff: &str, side: &str, recipient: &str) -> Vec<String> {
    let delivered = app
        .eventually("/api/v1/outbox?status=delivered&limit=500", staff, |v| {
            v.as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| m["side"] == side && m["recipient"] == recipient)
            })
        })
        .await;
    let mut out = Vec::new();
    for m in delivered.as_array().unwrap() {
        let xml = m["payload"].as_str().unwrap();
        assert_valid(xml, "ISO-18626-2021-2.xsd");
        if m["side"] == side && m["recipient"] == recipient {
            out.push(xml.to_owned());
        }
    }
    out
}

/// The hub relays BCU's cancel to HTU, whose node refuses it (it now expects credentials from
/// BCU that the hub does not have): BCU hears of it in a Notification from HTU. Then HTU's
/// answer is refused by BCU's node in the same way, and HTU hears of it from BCU.
async fn relayed_messages_refused(engine: Engine) {
    let (hub, a, b) = three_nodes(engine, None).await;
    let hub_at = format!("{}/iso18626", hub.base);
    let patron = a.login("bcu-faculty").await;
    let bcu = a.login("bcu-borrow").await;
    let htu = b.login("htu-lend").await;
    let (st, req) = a
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Answers lost on the way", "author": "Hub, H."}}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    a.borrow_action(&bcu, &id, json!({"action": "edit_rota", "rota": ["HTU"]}))
        .await;
    a.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let lend_id = b.lend_for(&htu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A requesting agency message refused at the member: the sender is told.
    set_peer(&b, "htu-admin", "BCU", &hub_at, Some("only-for-bcu")).await;
    a.borrow_action(&bcu, &id, json!({"action": "cancel"}))
        .await;
    let events = format!("/api/v1/requests/{id}/events");
    let history = a
        .eventually(&events, &bcu, |v| {
            has_event(
                v,
                "lender_notification",
                &["Not delivered", "Cancel", "未送达：", "消息"],
            )
        })
        .await;
    let told = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "lender_notification")
        .unwrap()
        .clone();
    let note = told["note"].as_str().unwrap();
    assert!(
        note.contains("ISIL:CN-HTU") && note.contains("Consortium passed on"),
        "who did not take it, and through which hub: {told}"
    );
    assert_eq!(told["actor"], "peer", "{told}");
    let (_, v) = a.get(&format!("/api/v1/requests/{id}"), Some(&bcu)).await;
    assert_eq!(v["state"], "sent", "nothing changed but the history: {v}");
    assert_eq!(v["lender"], "HTU", "{v}");
    let hub_staff = hub.login("hub-admin").await;
    let (_, dead) = hub
        .get("/api/v1/outbox?status=dead", Some(&hub_staff))
        .await;
    assert!(
        dead.as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "requesting_agency_message" && m["recipient"] == "ISIL:CN-HTU"),
        "the hub's staff still see it parked: {dead}"
    );
    let notices = delivered_valid(&hub, &hub_staff, "relay_notice", "ISIL:CN-BCU").await;
    assert!(
        notices.iter().any(
            |x| x.contains("<reasonForMessage>Notification</reasonForMessage>")
                && x.contains("<status>RequestReceived</status>")
        ),
        "{notices:?}"
    );
    let (_, lending) = b
        .get(&format!("/api/v1/lending/{lend_id}"), Some(&htu))
        .await;
    assert_eq!(lending["state"], "request_received", "{lending}");

    // A supplying agency message refused at the borrower: the member that sent it is told.
    set_peer(&b, "htu-admin", "BCU", &hub_at, None).await;
    set_peer(&a, "bcu-admin", "HTU", &hub_at, Some("only-for-htu")).await;
    b.lend_action(&htu, &lend_id, json!({"action": "will_supply"}))
        .await;
    b.eventually(&format!("/api/v1/lending/{lend_id}/events"), &htu, |v| {
        has_event(
            v,
            "borrower_notification",
            &["Not delivered", "WillSupply", "ISIL:CN-BCU"],
        )
    })
    .await;
    let (_, v) = a.get(&format!("/api/v1/requests/{id}"), Some(&bcu)).await;
    assert_eq!(v["state"], "sent", "{v}");
    let notices = delivered_valid(&hub, &hub_staff, "relay_notice", "ISIL:CN-HTU").await;
    assert!(
        notices
            .iter()
            .any(|x| x.contains("<action>Notification</action>")),
        "{notices:?}"
    );
    let (_, dead) = hub
        .get("/api/v1/outbox?status=dead", Some(&hub_staff))
        .await;
    assert!(
        dead.as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "supplying_agency_message" && m["recipient"] == "ISIL:CN-BCU"),
        "{dead}"
    );
}

#[tokio::test]
async fn relayed_messages_the_far_side_refuses_are_told_to_their_senders_as_notifications() {
    for e in engines() {
        relayed_messages_refused(e).await;
    }
}

/// The hub relays BCU's request to HTU, whose system answers HTTP 500 every time: after its
/// retries the request is dead at the hub, and in the same step BCU hears Unfilled and moves on
/// to its next lender.
async fn relay_dead(engine: Engine) {
    let fake = crate::federation::FakePeer::default();
    fake.failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let endpoint = fake.clone().start().await;
    let (hub, a, _b) = three_nodes(engine, Some(&endpoint)).await;
    let patron = a.login("bcu-faculty").await;
    let bcu = a.login("bcu-borrow").await;
    let (st, req) = a
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Never arrived", "author": "Down, D."}}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    a.borrow_action(
        &bcu,
        &id,
        json!({"action": "edit_rota", "rota": ["HTU", "XNU"]}),
    )
    .await;
    a.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let hub_staff = hub.login("hub-admin").await;
    let mut parked = Value::Null;
    for _ in 0..40 {
        hub.clock.advance(time::Duration::hours(7));
        server::jobs::deliver_once(&hub.state).await.unwrap();
        let (_, dead) = hub
            .get("/api/v1/outbox?status=dead", Some(&hub_staff))
            .await;
        if let Some(m) = dead
            .as_array()
            .and_then(|d| d.iter().find(|m| m["recipient"] == "ISIL:CN-HTU"))
        {
            parked = m.clone();
            break;
        }
    }
    assert_eq!(parked["attempts"], 8, "{parked}");
    assert_eq!(parked["kind"], "request", "{parked}");
    let v = a
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["lender"] == "XNU" && v["state"] == "sent"
        })
        .await;
    assert_eq!(v["rota"]["entries"][0]["outcome"], "unfilled", "{v}");
    let (_, history) = a
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    assert!(
        has_event(
            &history,
            "lender_unfilled",
            &[
                "Not delivered",
                "ISIL:CN-HTU",
                "after 8 attempts",
                "HTTP 500",
                "/ 未送达：",
                "请向其他图书馆申请"
            ]
        ),
        "{history}"
    );
    delivered_valid(&hub, &hub_staff, "relay_notice", "ISIL:CN-BCU").await;
    assert!(fake.received.lock().await.is_empty());
}

#[tokio::test]
async fn a_relayed_request_dead_after_its_retries_is_answered_unfilled_to_its_sender() {
    for e in engines() {
        relay_dead(e).await;
    }
}

/// On one node: XNU passes BCU's request on to HTU, which takes it (BCU follows it) and then
/// passes it back to XNU. XNU refuses a request it passed on itself; HTU, which BCU now waits
/// on, closes as unfilled and tells BCU, as a refusal from another node would.
async fn forward_refused_here(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let patron = app.login("bcu-faculty").await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let htu = app.login("htu-lend").await;
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Round in a circle", "author": "Loop, L."}}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    app.borrow_action(&bcu, &id, json!({"action": "edit_rota", "rota": ["XNU"]}))
        .await;
    app.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let xnu_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.lend_action(
        &xnu,
        &xnu_id,
        json!({"action": "forward", "forward_to": "HTU"}),
    )
    .await;
    let htu_id = app.lend_for(&htu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.lend_action(&htu, &htu_id, json!({"action": "will_supply"}))
        .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["lender"] == "HTU"
    })
    .await;
    app.lend_action(
        &htu,
        &htu_id,
        json!({"action": "forward", "forward_to": "XNU", "note": "Ours is at the bindery"}),
    )
    .await;

    let lending = app
        .eventually(&format!("/api/v1/lending/{htu_id}"), &htu, |v| {
            v["state"] == "unfilled"
        })
        .await;
    assert_eq!(lending["library"], "HTU", "{lending}");
    let (_, history) = app
        .get(&format!("/api/v1/lending/{htu_id}/events"), Some(&htu))
        .await;
    let refused = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "forward_refused")
        .unwrap_or_else(|| panic!("{history}"))
        .clone();
    assert_eq!(refused["actor"], "system", "{refused}");
    assert_eq!(refused["from_state"], "forwarded", "{refused}");
    assert!(
        refused["note"]
            .as_str()
            .is_some_and(|n| n.contains("ISIL:CN-XNU") && n.contains("closed it")),
        "who refused and why: {refused}"
    );
    // XNU's own request is as it was: passed on.
    let (_, at_xnu) = app
        .get(&format!("/api/v1/lending/{xnu_id}"), Some(&xnu))
        .await;
    assert_eq!(at_xnu["state"], "forwarded", "{at_xnu}");
    let v = app
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "unfilled"
        })
        .await;
    assert_eq!(v["rota"]["entries"][0]["outcome"], "unfilled", "{v}");
    let (_, history) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    assert!(
        has_event(&history, "lender_changed", &["HTU"])
            && has_event(&history, "lender_unfilled", &["ISIL:CN-XNU", "refused"]),
        "the borrower's staff read who refused: {history}"
    );
    // HTU's staff see the refused transfer request parked, with XNU's reason.
    let (_, dead) = app.get("/api/v1/outbox?status=dead", Some(&htu)).await;
    assert!(
        dead.as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "request"
                && m["recipient"] == "ISIL:CN-XNU"
                && m["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("closed it"))),
        "{dead}"
    );
}

#[tokio::test]
async fn a_request_passed_on_and_refused_by_a_library_of_the_same_node_is_answered_unfilled() {
    for e in engines() {
        forward_refused_here(e).await;
    }
}

fn hold_by<'a>(v: &'a Value, by: &str) -> Option<&'a Value> {
    v["return_holds"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["held_by"] == by))
}

/// A staff page of `app` at `path`, in `lang`.
async fn page(app: &TestApp, path: &str, session: &str, lang: &str) -> String {
    let p = crate::web::get(app, path, Some(&format!("{session}; librelay_lang={lang}"))).await;
    assert_eq!(p.status, 200, "{path}: {}", p.body);
    p.body
}

async fn borrower_holds(engine: Engine) {
    let l = OnLoan::start(engine).await;
    let v = l.borrower_sees(|v| v["state"] == "on_loan_to_patron").await;
    assert!(allows(&v, "hold_return"), "{v}");
    let session = crate::web::web_login(&l.a, "bcu-borrow").await;
    let detail = format!("/requests/{}", l.id);
    assert!(
        page(&l.a, &detail, &session, "en")
            .await
            .contains("Tell the lender we keep it a while (hold the return)")
    );
    assert!(
        page(&l.a, &detail, &session, "zh-CN")
            .await
            .contains("告知出借馆暂缓归还")
    );
    // Only staff hold a return.
    let reader = l.a.login("bcu-faculty").await;
    let (st, _) =
        l.a.post(
            &format!("/api/v1/requests/{}/actions", l.id),
            json!({"action": "hold_return"}),
            Some(&reader),
        )
        .await;
    assert!(st == 403 || st == 409, "{st}");

    l.a.borrow_action(
        &l.bcu,
        &l.id,
        json!({"action": "hold_return", "note": "Library closed for the holidays until 3 January"}),
    )
    .await;
    let (_, v) =
        l.a.get(&format!("/api/v1/requests/{}", l.id), Some(&l.bcu))
            .await;
    let ours = hold_by(&v, "borrower").unwrap_or_else(|| panic!("{v}"));
    assert_eq!(ours["by"], "bcu-borrow", "{v}");
    assert!(ours["since"].is_string(), "{v}");
    assert!(
        v["return_held_since"].is_null(),
        "the lender holds nothing: {v}"
    );
    assert!(!allows(&v, "hold_return"), "held once: {v}");
    let lender = l.lender_sees(|v| hold_by(v, "borrower").is_some()).await;
    let theirs = hold_by(&lender, "borrower").unwrap();
    assert_eq!(theirs["by"], "ISIL:CN-BCU", "{lender}");
    assert!(
        theirs["note"]
            .as_str()
            .is_some_and(|n| n.contains("holidays")),
        "the borrower's words reach the lender's staff: {lender}"
    );
    assert_eq!(lender["state"], "shipped", "the loan goes on: {lender}");
    let history = OnLoan::history(&l.b, &format!("/api/v1/lending/{}", l.lend_id), &l.htu).await;
    assert!(
        history
            .iter()
            .any(|e| e["action"] == "borrower_hold_return" && e["actor"] == "peer"),
        "{history:?}"
    );

    // While the return is held the loan is not late: a year on, the lender's overdue sweep
    // leaves it as it is.
    l.b.clock.advance(time::Duration::days(365));
    let marked = server::jobs::sweep_overdue(&l.b.state).await.unwrap();
    l.b.clock.advance(-time::Duration::days(365));
    assert_eq!(marked, 0, "a held return is not overdue");
    let (_, v) =
        l.b.get(&format!("/api/v1/lending/{}", l.lend_id), Some(&l.htu))
            .await;
    assert_eq!(v["state"], "shipped", "{v}");

    // Both staff pages say who holds it, since when and why, in both languages.
    let en = page(&l.a, &detail, &session, "en").await;
    assert!(
        en.contains("We hold the return (the lender was told)")
            && en.contains("set by bcu-borrow")
            && en.contains("holidays"),
        "{en}"
    );
    assert!(
        page(&l.a, &detail, &session, "zh-CN")
            .await
            .contains("本馆暂缓归还（已告知出借馆）")
    );
    let lender_session = crate::web::web_login(&l.b, "htu-lend").await;
    let lend_page = format!("/staff/lending/{}", l.lend_id);
    let en = page(&l.b, &lend_page, &lender_session, "en").await;
    assert!(
        en.contains("The borrower holds the return") && en.contains("ISIL:CN-BCU"),
        "{en}"
    );
    let zh = page(&l.b, &lend_page, &lender_session, "zh-CN").await;
    assert!(
        zh.contains("借入馆暂缓归还") && zh.contains("设置者"),
        "{zh}"
    );

    // Our own hold does not stop the return; sending it back ends the hold on both sides.
    for action in ["patron_return", "ship_return"] {
        l.a.borrow_action(&l.bcu, &l.id, json!({"action": action}))
            .await;
    }
    let (_, v) =
        l.a.get(&format!("/api/v1/requests/{}", l.id), Some(&l.bcu))
            .await;
    assert!(v["return_holds"].is_null(), "{v}");
    let lender = l
        .lender_sees(|v| v["state"] == "return_shipped" && v["return_holds"].is_null())
        .await;
    assert!(
        !page(&l.b, &lend_page, &lender_session, "en")
            .await
            .contains("The borrower holds the return")
    );
    assert!(!allows(&lender, "release_hold_return"), "{lender}");
    assert_sent_valid(&l.a, &l.bcu, 4).await;
}

#[tokio::test]
async fn borrowing_staff_hold_the_return_and_both_sides_show_who_holds_it_until_it_ships() {
    for e in engines() {
        borrower_holds(e).await;
    }
}

async fn own_hold_notes(engine: Engine) {
    let l = OnLoan::start(engine).await;
    l.lender_sees(|v| v["state"] == "shipped").await;
    l.borrower_sees(|v| v["state"] == "on_loan_to_patron").await;
    let lender_session = crate::web::web_login(&l.b, "htu-lend").await;
    let lend_page = format!("/staff/lending/{}", l.lend_id);
    let session = crate::web::web_login(&l.a, "bcu-borrow").await;
    let detail = format!("/requests/{}", l.id);

    // The lender holds the return without a note: librelay's words, in the page's language
    // at home and in both languages at the borrower.
    l.b.lend_action(&l.htu, &l.lend_id, json!({"action": "hold_return"}))
        .await;
    let zh = page(&l.b, &lend_page, &lender_session, "zh-CN").await;
    assert!(zh.contains("请暂缓归还，待本馆通知后再寄回"), "{zh}");
    let en = page(&l.b, &lend_page, &lender_session, "en").await;
    assert!(
        en.contains("Please keep the item until we ask for it back"),
        "{en}"
    );
    l.borrower_sees(|v| v["return_held_since"].is_string())
        .await;
    let history = OnLoan::history(
        &l.a,
        &detail.replace("/requests", "/api/v1/requests"),
        &l.bcu,
    )
    .await;
    assert!(
        has_event(
            &Value::Array(history.clone()),
            "lender_hold_return",
            &["Please keep the item", "/ 请暂缓归还"]
        ),
        "{history:?}"
    );
    l.b.lend_action(&l.htu, &l.lend_id, json!({"action": "release_hold_return"}))
        .await;
    l.borrower_sees(|v| v["return_held_since"].is_null()).await;

    // The borrower holds it without a note: the same, the other way round.
    l.a.borrow_action(&l.bcu, &l.id, json!({"action": "hold_return"}))
        .await;
    let zh = page(&l.a, &detail, &session, "zh-CN").await;
    assert!(zh.contains("本馆暂留该资料，稍后归还"), "{zh}");
    let en = page(&l.a, &detail, &session, "en").await;
    assert!(
        en.contains("We keep the item a while and will send it back later"),
        "{en}"
    );
    let lender = l.lender_sees(|v| hold_by(v, "borrower").is_some()).await;
    let theirs = hold_by(&lender, "borrower").unwrap();
    assert!(
        theirs["note"]
            .as_str()
            .is_some_and(|n| n.contains("We keep the item") && n.contains("/ 本馆暂留该资料")),
        "{lender}"
    );
}

#[tokio::test]
async fn hold_notes_librelay_writes_itself_read_in_both_languages() {
    for e in engines() {
        own_hold_notes(e).await;
    }
}
