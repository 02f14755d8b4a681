//! What ISO 18626:2021 added, between nodes and with a 2017 peer: a lender holding the return
//! of a loan and releasing it, an item lost at the borrower, and a hub telling a library that
//! the member it relayed a request to refused it.

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

    // Lost goes to a 2017 peer as a Notification saying so, valid against its schema.
    a.borrow_action(
        &bcu,
        &id,
        json!({"action": "mark_lost", "note": "Water damage"}),
    )
    .await;
    let mut sent = None;
    for _ in 0..200 {
        sent = fake
            .received
            .lock()
            .await
            .iter()
            .map(|(_, body)| body.clone())
            .find(|b| b.contains("requestingAgencyMessage") && b.contains("#Lost#"));
        if sent.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let sent = sent.expect("the peer was told of the loss");
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
