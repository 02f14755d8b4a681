//! The whole flow through the API alone: loans and copies between libraries of one node, the
//! rota moving on by itself after a refusal and after a deadline, and both histories complete.

use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, engines};

/// A record the demo catalog holds only at XNU and HTU (every third record).
pub(crate) async fn book_held_by_xnu_and_htu(app: &TestApp) -> Value {
    let sample = app.state.store.catalog_sample(400).await.unwrap();
    for r in sample {
        let Some(isbn) = r.isbn.clone() else { continue };
        let key = store::HoldingKey {
            isbn: Some(isbn.clone()),
            ..Default::default()
        };
        let holders: Vec<String> = app
            .state
            .store
            .holders(&key)
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.library_id)
            .collect();
        if holders == ["HTU", "XNU"] {
            return json!({"title": r.title, "author": r.author, "isbn": isbn});
        }
    }
    panic!("the demo catalog has no record held only by HTU and XNU");
}

fn actions_of(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_every_event_has_actor_and_time(events: &Value) {
    for e in events.as_array().unwrap() {
        assert!(
            e["actor"].is_string() && e["at"].is_string(),
            "event without actor or time: {e}"
        );
        assert!(e["to_state"].is_string(), "{e}");
    }
}

async fn loan_refused_then_supplied(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let patron = app.login("bcu-faculty").await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let htu = app.login("htu-lend").await;
    let citation = book_held_by_xnu_and_htu(&app).await;

    // Arrange: a reader of BCU asks for a book held only by XNU (same region, so first) and HTU.
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": citation}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    assert_eq!(req["state"], "pending_review");
    let id = req["id"].as_str().unwrap().to_owned();
    let rota: Vec<&str> = req["rota"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["library"].as_str().unwrap())
        .collect();
    assert_eq!(rota, ["XNU", "HTU"], "ranked rota: {req}");

    // Borrowing staff approve; the request goes to XNU.
    let v = app
        .borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    assert_eq!(v["state"], "sent");
    assert_eq!(v["lender"], "XNU");

    // XNU rejects; the request moves on to HTU by itself.
    let at_xnu = app.lend_for(&xnu, &id).await;
    assert_eq!(at_xnu["state"], "request_received");
    app.lend_action(
        &xnu,
        at_xnu["id"].as_str().unwrap(),
        json!({"action": "reject", "reason": "NotOnShelf", "note": "missing from the shelf"}),
    )
    .await;
    let moved = app
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["lender"] == "HTU" && v["state"] == "sent"
        })
        .await;
    assert_eq!(moved["rota"]["entries"][0]["outcome"], "unfilled");

    // HTU supplies and ships.
    let at_htu = app.lend_for(&htu, &id).await;
    let lend_id = at_htu["id"].as_str().unwrap().to_owned();
    app.lend_action(&htu, &lend_id, json!({"action": "will_supply"}))
        .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "will_supply"
    })
    .await;
    let shipped = app
        .lend_action(
            &htu,
            &lend_id,
            json!({"action": "ship_physical", "barcode": "HTU0001"}),
        )
        .await;
    assert!(
        shipped["due_date"].is_string(),
        "due date computed: {shipped}"
    );
    let v = app
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "shipped"
        })
        .await;
    assert_eq!(
        v["due_date"], shipped["due_date"],
        "the borrower takes the lender's due date"
    );

    // BCU receives, lends to the reader, takes it back and ships it home.
    for a in ["receive", "lend_to_patron", "patron_return", "ship_return"] {
        app.borrow_action(&bcu, &id, json!({"action": a})).await;
    }
    app.eventually(&format!("/api/v1/lending/{lend_id}"), &htu, |v| {
        v["state"] == "return_shipped"
    })
    .await;
    app.lend_action(&htu, &lend_id, json!({"action": "check_in"}))
        .await;
    let done = app
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "completed"
        })
        .await;
    assert_eq!(done["allowed_actions"], json!([]));

    // Both histories show every step with actor and time.
    let (_, borrow_events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    assert_every_event_has_actor_and_time(&borrow_events);
    let got = actions_of(&borrow_events);
    for want in [
        "create",
        "approve",
        "lender_unfilled",
        "lender_will_supply",
        "lender_loaned",
        "receive",
        "lend_to_patron",
        "patron_return",
        "ship_return",
        "lender_loan_completed",
    ] {
        assert!(
            got.contains(&want.to_owned()),
            "borrowing history lacks {want}: {got:?}"
        );
    }
    let unfilled = borrow_events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "lender_unfilled")
        .unwrap();
    assert_eq!(unfilled["actor"], "peer");
    let (_, lend_events) = app
        .get(&format!("/api/v1/lending/{lend_id}/events"), Some(&htu))
        .await;
    assert_every_event_has_actor_and_time(&lend_events);
    let got = actions_of(&lend_events);
    for want in [
        "request_received",
        "will_supply",
        "ship_physical",
        "borrower_received",
        "borrower_shipped_return",
        "check_in",
    ] {
        assert!(
            got.contains(&want.to_owned()),
            "lending history lacks {want}: {got:?}"
        );
    }
    let (_, v) = app
        .get(&format!("/api/v1/lending/{lend_id}"), Some(&htu))
        .await;
    assert_eq!(v["state"], "completed");
    // The reader sees the same request as completed too.
    let (st, mine) = app
        .get(&format!("/api/v1/requests/{id}"), Some(&patron))
        .await;
    assert_eq!((st, mine["state"].as_str()), (200, Some("completed")));
}

#[tokio::test]
async fn a_loan_refused_by_the_first_lender_is_supplied_by_the_next_and_completes() {
    for e in engines() {
        loan_refused_then_supplied(e).await;
    }
}

async fn copy_shipped_digitally(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let patron = app.login("bcu-phd").await;
    let bcu = app.login("bcu-borrow").await;
    let citation = json!({
        "title": "Interlibrary loan in practice", "author": "Li, M.", "source_title": "Journal of Documentation",
        "issn": "0022-0418", "volume": "80", "issue": "3", "year": "2024", "pages": "512-530",
        "copyright_declaration": true
    });
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "article_copy", "citation": citation}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    let first = req["rota"]["entries"][0]["library"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        first, "NSD",
        "free members come before the paid supplier: {req}"
    );
    app.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let lender = app.login(&format!("{}-lend", first.to_lowercase())).await;
    let at = app.lend_for(&lender, &id).await;
    let lend_id = at["id"].as_str().unwrap().to_owned();
    assert_eq!(at["format"], "article_copy");
    // No URL: a clear refusal, nothing changes.
    let (st, err) = app
        .post(
            &format!("/api/v1/lending/{lend_id}/actions"),
            json!({"action": "ship_digital"}),
            Some(&lender),
        )
        .await;
    assert_eq!(st, 400, "{err}");
    // A loan-only action is not allowed for a copy, and the refusal names what is.
    let (st, err) = app
        .post(
            &format!("/api/v1/lending/{lend_id}/actions"),
            json!({"action": "ship_physical"}),
            Some(&lender),
        )
        .await;
    assert_eq!(st, 409, "{err}");
    assert_eq!(err["error"]["code"], "action_not_allowed");
    assert!(
        err["error"]["allowed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "ship_digital"),
        "{err}"
    );
    let uploaded: Value = app
        .client
        .post(format!(
            "{}/api/v1/lending/{lend_id}/files?filename=a.pdf",
            app.base
        ))
        .bearer_auth(&lender)
        .body(b"%PDF-1.4\n%%EOF\n".to_vec())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.lend_action(
        &lender,
        &lend_id,
        json!({"action": "ship_digital", "file_id": uploaded["file_id"]}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "shipped"
    })
    .await;
    app.borrow_action(&bcu, &id, json!({"action": "receive"}))
        .await;
    let v = app
        .borrow_action(&bcu, &id, json!({"action": "deliver_to_patron"}))
        .await;
    assert_eq!(v["state"], "completed");
    let (_, l) = app
        .get(&format!("/api/v1/lending/{lend_id}"), Some(&lender))
        .await;
    assert_eq!(l["state"], "copy_completed");
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    assert_every_event_has_actor_and_time(&events);
    assert!(actions_of(&events).contains(&"lender_copy_completed".to_owned()));
}

#[tokio::test]
async fn an_article_copy_is_shipped_digitally_and_delivered() {
    for e in engines() {
        copy_shipped_digitally(e).await;
    }
}

async fn deadline_passes(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let id = app
        .loan_for(
            &bcu,
            "bcu-master",
            "A book nobody answers for",
            &["XNU", "HTU"],
        )
        .await;
    let v = app
        .borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    assert!(v["lender_deadline"].is_string());
    let at_xnu = app.lend_for(&xnu, &id).await;

    // Nobody at XNU answers (three opening days). Five days later the sweep has moved the
    // request on, by itself.
    app.clock.advance(time::Duration::days(5));
    let moved = app
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["lender"] == "HTU"
        })
        .await;
    assert_eq!(moved["state"], "sent");
    assert_eq!(moved["rota"]["entries"][0]["outcome"], "no_answer");
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let sweep = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "lender_deadline_passed")
        .unwrap();
    assert_eq!(sweep["actor"], "system");
    // XNU was told: its request is cancelled, so it will not ship.
    app.eventually(
        &format!("/api/v1/lending/{}", at_xnu["id"].as_str().unwrap()),
        &xnu,
        |v| v["state"] == "cancelled",
    )
    .await;
}

#[tokio::test]
async fn a_lender_that_does_not_answer_by_its_deadline_is_passed_over() {
    for e in engines() {
        deadline_passes(e).await;
    }
}

#[tokio::test]
async fn staff_of_another_library_cannot_see_a_request() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let patron = app.login("bcu-undergraduate").await;
    let (_, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Private reading"}}),
            Some(&patron),
        )
        .await;
    let id = req["id"].as_str().unwrap();
    let other = app.login("xnu-borrow").await;
    let (st, body) = app
        .get(&format!("/api/v1/requests/{id}"), Some(&other))
        .await;
    assert_eq!(st, 404, "{body}");
    let (st, _) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&other))
        .await;
    assert_eq!(st, 404);
    // Another reader of the same library cannot see it either.
    let reader = app.login("bcu-faculty").await;
    let (st, _) = app
        .get(&format!("/api/v1/requests/{id}"), Some(&reader))
        .await;
    assert_eq!(st, 404);
    let (_, list) = app.get("/api/v1/requests", Some(&reader)).await;
    assert_eq!(list["total"], 0);
    // Filters name real states, and say so when they do not.
    let (_, mine) = app
        .get("/api/v1/requests?state=pending_review", Some(&patron))
        .await;
    assert_eq!(mine["total"], 1);
    let (st, err) = app
        .get("/api/v1/requests?state=pending_reveiw", Some(&patron))
        .await;
    assert_eq!(
        (st, err["error"]["fields"][0]["code"].as_str()),
        (422, Some("unknown_state"))
    );
}

#[tokio::test]
async fn a_reader_cancels_before_review_but_cannot_approve() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let patron = app.login("bcu-master").await;
    let (_, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": {"title": "Changed my mind"}}),
            Some(&patron),
        )
        .await;
    let id = req["id"].as_str().unwrap();
    assert_eq!(req["allowed_actions"], json!(["cancel"]));
    let (st, err) = app
        .post(
            &format!("/api/v1/requests/{id}/actions"),
            json!({"action": "approve"}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 409, "{err}");
    assert_eq!(
        err["error"]["allowed"],
        json!(["cancel"]),
        "a reader may only cancel: {err}"
    );
    // With lenders in the rota, approving is staff work: forbidden, not merely out of state.
    let staff = app.login("bcu-borrow").await;
    let (_, held) = app.post("/api/v1/requests", json!({"format": "loan", "patron_id": app.get("/api/v1/me", Some(&patron)).await.1["id"], "citation": {"title": "Held"}, "rota": ["XNU"]}), Some(&staff)).await;
    let (st, err) = app
        .post(
            &format!("/api/v1/requests/{}/actions", held["id"].as_str().unwrap()),
            json!({"action": "approve"}),
            Some(&patron),
        )
        .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (403, Some("action_forbidden")),
        "{err}"
    );
    let v = app
        .borrow_action(&patron, id, json!({"action": "cancel"}))
        .await;
    assert_eq!(v["state"], "cancelled");
}

#[tokio::test]
async fn a_loan_past_its_due_date_is_marked_overdue_and_the_borrower_told() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let id = app.loan_for(&bcu, "bcu-phd", "Due soon", &["XNU"]).await;
    let approved = app
        .borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let found = app.lend_for(&xnu, &id).await;
    let lend_id = found["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{found} after {approved}"))
        .to_owned();
    let due = (time::OffsetDateTime::now_utc().date() + time::Duration::days(2)).to_string();
    let shipped = app
        .lend_action(
            &xnu,
            &lend_id,
            json!({"action": "ship_physical", "barcode": "X1", "due_date": due}),
        )
        .await;
    assert_eq!(
        shipped["due_date"],
        due.as_str(),
        "staff may set the due date"
    );
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "shipped"
    })
    .await;
    app.borrow_action(&bcu, &id, json!({"action": "receive"}))
        .await;
    app.borrow_action(&bcu, &id, json!({"action": "lend_to_patron"}))
        .await;

    app.clock.advance(time::Duration::days(4));
    app.eventually(&format!("/api/v1/lending/{lend_id}"), &xnu, |v| {
        v["state"] == "overdue"
    })
    .await;
    let v = app
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["overdue"] == true
        })
        .await;
    assert_eq!(
        v["state"], "on_loan_to_patron",
        "overdue is a flag on the borrowing side"
    );
    // A renewal of an overdue loan, answered yes, puts it back on loan with a new date.
    app.borrow_action(&bcu, &id, json!({"action": "renew"}))
        .await;
    app.eventually(&format!("/api/v1/lending/{lend_id}"), &xnu, |v| {
        v["renew_pending"] == true
    })
    .await;
    let renewed = app
        .lend_action(&xnu, &lend_id, json!({"action": "answer_renew_yes"}))
        .await;
    assert_eq!(renewed["state"], "shipped");
    let v = app
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["renew_pending"] == false
        })
        .await;
    assert_eq!(v["due_date"], renewed["due_date"]);
}

#[tokio::test]
async fn a_former_lenders_late_answer_is_kept_in_the_history_but_changes_nothing() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let xnu_manager = app.login("xnu-manager").await;
    let id = app
        .loan_for(&bcu, "bcu-staff", "Changed minds", &["XNU", "HTU"])
        .await;
    app.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let lend_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.lend_action(
        &xnu,
        &lend_id,
        json!({"action": "reject", "reason": "OnLoan"}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["lender"] == "HTU"
    })
    .await;
    // XNU changes its mind: only a manager may reopen, and the answer comes too late.
    let (st, _) = app
        .post(
            &format!("/api/v1/lending/{lend_id}/actions"),
            json!({"action": "reactivate"}),
            Some(&xnu),
        )
        .await;
    assert_eq!(st, 403);
    app.lend_action(&xnu_manager, &lend_id, json!({"action": "reactivate"}))
        .await;
    app.lend_action(&xnu, &lend_id, json!({"action": "will_supply"}))
        .await;
    let events = app
        .eventually(&format!("/api/v1/requests/{id}/events"), &bcu, |v| {
            v.as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "message_not_applied")
        })
        .await;
    let kept = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "message_not_applied")
        .unwrap();
    assert_eq!(kept["actor"], "peer");
    assert_eq!(kept["data"]["status"], "WillSupply");
    let (_, v) = app.get(&format!("/api/v1/requests/{id}"), Some(&bcu)).await;
    assert_eq!(
        (v["state"].as_str(), v["lender"].as_str()),
        (Some("sent"), Some("HTU")),
        "{v}"
    );
}

#[tokio::test]
async fn an_answer_to_a_partner_not_on_this_node_is_retried_then_parked_and_can_be_resent() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let xnu = app.login("xnu-lend").await;
    // A request from a library served elsewhere (OCLC's sample), addressed to XNU over HTTP.
    let path = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../iso18626/tests/fixtures/samples/NewRequest.xml");
    let xml = std::fs::read_to_string(path)
        .unwrap()
        .replace("OCLC-ABCDE", "CN-XNU");
    let resp = app
        .client
        .post(format!("{}/iso18626", app.base))
        .header("content-type", "text/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let lend_id = app.lend_for(&xnu, "168166854").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.lend_action(&xnu, &lend_id, json!({"action": "will_supply"}))
        .await;
    // Until that partner's address is configured, the answer cannot go out: it is tried again
    // with growing pauses, then parked for staff.
    let mut parked = Value::Null;
    for _ in 0..40 {
        app.clock.advance(time::Duration::hours(7));
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let (_, dead) = app.get("/api/v1/outbox?status=dead", Some(&xnu)).await;
        if dead.as_array().is_some_and(|d| !d.is_empty()) {
            parked = dead[0].clone();
            break;
        }
    }
    assert_eq!(parked["recipient"], "ISIL:OCLC-BCDEF", "{parked}");
    assert_eq!(parked["attempts"], 8);
    assert!(
        parked["last_error"].as_str().unwrap().contains("no route"),
        "{parked}"
    );
    assert!(parked["payload"].as_str().unwrap().contains("WillSupply"));
    // Another library's staff do not see or touch it.
    let bcu = app.login("bcu-lend").await;
    let (_, theirs) = app.get("/api/v1/outbox?status=dead", Some(&bcu)).await;
    assert_eq!(theirs, json!([]));
    let id = parked["id"].as_i64().unwrap();
    let (st, _) = app
        .post(
            &format!("/api/v1/outbox/{id}/resend"),
            json!({}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = app
        .post(
            &format!("/api/v1/outbox/{id}/resend"),
            json!({}),
            Some(&xnu),
        )
        .await;
    assert_eq!(st, 204);
    let (_, pending) = app.get("/api/v1/outbox?status=pending", Some(&xnu)).await;
    assert!(
        pending.as_array().unwrap().iter().any(|m| m["id"] == id),
        "{pending}"
    );
    let (st, _) = app.get("/api/v1/outbox?status=lost", Some(&xnu)).await;
    assert_eq!(st, 422);
}

/// Messages between two libraries of this node are delivered in the sender's own transaction:
/// with no outbox worker running at all, a loan goes from request to completion, every step's
/// answer is there as soon as the step returns, and no partner message is left waiting.
async fn one_node_loan_without_worker(engine: Engine) {
    let app = TestApp::spawn_with(engine, |c| c.background_jobs = false).await;
    let patron = app.login("bcu-faculty").await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let citation = book_held_by_xnu_and_htu(&app).await;
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": citation}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    let v = app
        .borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    assert_eq!(
        (v["state"].as_str(), v["lender"].as_str()),
        (Some("sent"), Some("XNU"))
    );

    // Read once, no polling: the lender has it the moment the approval returned.
    let (st, queue) = app
        .get(&format!("/api/v1/lending?q={id}"), Some(&xnu))
        .await;
    assert_eq!(st, 200);
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "XNU's queue right after approval: {queue}");
    assert_eq!(items[0]["state"], "request_received");
    let lend_id = items[0]["id"].as_str().unwrap().to_owned();

    app.lend_action(&xnu, &lend_id, json!({"action": "will_supply"}))
        .await;
    borrow_state(&app, &bcu, &id, "will_supply").await;
    app.lend_action(
        &xnu,
        &lend_id,
        json!({"action": "ship_physical", "barcode": "XNU0001"}),
    )
    .await;
    borrow_state(&app, &bcu, &id, "shipped").await;
    for a in ["receive", "lend_to_patron", "patron_return", "ship_return"] {
        app.borrow_action(&bcu, &id, json!({"action": a})).await;
    }
    let (_, lend) = app
        .get(&format!("/api/v1/lending/{lend_id}"), Some(&xnu))
        .await;
    assert_eq!(lend["state"], "return_shipped", "{lend}");
    app.lend_action(&xnu, &lend_id, json!({"action": "check_in"}))
        .await;
    borrow_state(&app, &bcu, &id, "completed").await;

    // Every partner message of both libraries was closed as delivered, with its confirmation;
    // only letters (which go by the worker) are still waiting.
    for lib in ["BCU", "XNU"] {
        let waiting = app
            .state
            .store
            .outbox_by_status(lib, "pending", 100)
            .await
            .unwrap();
        let partner: Vec<_> = waiting.iter().filter(|m| m.kind != "email").collect();
        assert!(
            partner.is_empty(),
            "{lib} has partner messages waiting: {partner:?}"
        );
    }
    let delivered = app
        .state
        .store
        .outbox_by_status("BCU", "delivered", 100)
        .await
        .unwrap();
    let kinds: Vec<&str> = delivered.iter().map(|m| m.kind.as_str()).collect();
    assert!(
        kinds.contains(&"request") && kinds.contains(&"requesting_agency_message"),
        "BCU's delivered messages: {kinds:?}"
    );
    let delivered = app
        .state
        .store
        .outbox_by_status("XNU", "delivered", 100)
        .await
        .unwrap();
    assert!(
        delivered.len() >= 3,
        "XNU sent will supply, loaned and completed: {delivered:?}"
    );
}

#[tokio::test]
async fn a_loan_between_libraries_of_one_node_needs_no_outbox_worker() {
    for e in engines() {
        one_node_loan_without_worker(e).await;
    }
}

async fn borrow_state(app: &TestApp, token: &str, id: &str, want: &str) {
    let (_, v) = app
        .get(&format!("/api/v1/requests/{id}"), Some(token))
        .await;
    assert_eq!(v["state"], want, "{v}");
}

/// A message out of step with the request (a recall while the request is still with the
/// lender, not yet shipped) is kept, not applied; its reason reads in the page's language.
#[tokio::test]
async fn a_message_out_of_step_is_kept_with_its_reason_in_chinese_on_a_chinese_page() {
    for e in crate::helpers::engines() {
        let app = TestApp::spawn(e).await;
        let bcu = app.login("bcu-borrow").await;
        let htu = app.login("htu-lend").await;
        let id = app
            .loan_for(&bcu, "bcu-staff", "Out of step", &["HTU"])
            .await;
        app.borrow_action(&bcu, &id, json!({"action": "approve"}))
            .await;
        app.lend_for(&htu, &id).await;
        let recall = iso18626::Message::SupplyingAgencyMessage(iso18626::SupplyingAgencyMessage {
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
                requesting_agency_request_id: id.clone(),
                ..Default::default()
            },
            message_info: iso18626::MessageInfo {
                reason_for_message: iso18626::ReasonForMessage::StatusChange,
                ..Default::default()
            },
            status_info: iso18626::StatusInfo {
                status: iso18626::Status::Recalled,
                last_change: "2026-11-30T08:00:00Z".into(),
                ..Default::default()
            },
            ..Default::default()
        });
        let resp = app
            .client
            .post(format!("{}/iso18626", app.base))
            .header("content-type", "application/xml")
            .body(iso18626::write(&recall, iso18626::Version::V2021))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let events = app
            .eventually(&format!("/api/v1/requests/{id}/events"), &bcu, |v| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["action"] == "message_not_applied")
            })
            .await;
        let kept = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "message_not_applied")
            .unwrap()
            .clone();
        assert_eq!(kept["data"]["reason"], "out_of_step", "{kept}");
        let (_, v) = app.get(&format!("/api/v1/requests/{id}"), Some(&bcu)).await;
        assert_eq!(v["state"], "sent", "nothing changed: {v}");

        let cookie = crate::web::web_login(&app, "bcu-borrow").await;
        let page = |lang: &'static str| {
            app.client
                .get(format!("{}/requests/{id}", app.base))
                .header("cookie", &cookie)
                .header("accept-language", lang)
                .send()
        };
        let zh = page("zh-CN").await.unwrap().text().await.unwrap();
        assert!(
            zh.contains("对方的消息未被处理：请求处于“已发往出借馆”阶段，不能执行"),
            "{zh}"
        );
        assert!(!zh.contains("not applied"), "{zh}");
        assert!(!zh.contains("is not allowed in state"), "{zh}");
        let en = page("en").await.unwrap().text().await.unwrap();
        assert!(
            en.contains("not applied: action lender_recalled is not allowed in state sent"),
            "{en}"
        );
    }
}
