//! The ISO 18626 scenario matrix between two nodes over real HTTP: each step one side takes is
//! seen on the other through the messages alone. Every scenario runs on SQLite and, when
//! `TEST_POSTGRES_URL` is set, on PostgreSQL.

use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, engines};

/// The two nodes, a loan of BCU (node A) sent to `rota`, and the tokens to work it.
struct Loan {
    a: TestApp,
    b: TestApp,
    id: String,
    bcu: String,
    htu: String,
}

impl Loan {
    async fn sent_on(engine: Engine, rota: &[&str]) -> Loan {
        let (a, b) = TestApp::pair(engine).await;
        let patron = a.login("bcu-faculty").await;
        let bcu = a.login("bcu-borrow").await;
        let htu = b.login("htu-lend").await;
        let (st, req) = a
            .post(
                "/api/v1/requests",
                json!({"format": "loan", "citation": {"title": "Scenario book", "author": "Matrix, M."}}),
                Some(&patron),
            )
            .await;
        assert_eq!(st, 201, "{req}");
        let id = req["id"].as_str().unwrap().to_owned();
        a.borrow_action(&bcu, &id, json!({"action": "edit_rota", "rota": rota}))
            .await;
        a.borrow_action(&bcu, &id, json!({"action": "approve"}))
            .await;
        Loan { a, b, id, bcu, htu }
    }

    /// The lending request at HTU (node B).
    async fn at_htu(&self) -> String {
        self.b.lend_for(&self.htu, &self.id).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn lend(&self, lend_id: &str, body: Value) -> Value {
        self.b.lend_action(&self.htu, lend_id, body).await
    }

    async fn borrow(&self, body: Value) -> Value {
        self.a.borrow_action(&self.bcu, &self.id, body).await
    }

    async fn borrower_sees(&self, check: impl Fn(&Value) -> bool) -> Value {
        self.a
            .eventually(&format!("/api/v1/requests/{}", self.id), &self.bcu, check)
            .await
    }

    async fn lender_sees(&self, lend_id: &str, check: impl Fn(&Value) -> bool) -> Value {
        self.b
            .eventually(&format!("/api/v1/lending/{lend_id}"), &self.htu, check)
            .await
    }

    /// Ship the loan and have BCU receive it and lend it to the reader.
    async fn on_loan(&self, lend_id: &str) {
        self.lend(lend_id, json!({"action": "will_supply"})).await;
        self.lend(
            lend_id,
            json!({"action": "ship_physical", "barcode": "M-1"}),
        )
        .await;
        self.borrower_sees(|v| v["state"] == "shipped").await;
        self.borrow(json!({"action": "receive"})).await;
        self.borrow(json!({"action": "lend_to_patron"})).await;
    }
}

#[tokio::test]
async fn will_supply_then_unfilled_moves_on_to_the_next_lender_on_the_other_node() {
    for e in engines() {
        will_supply_then_unfilled_moves_on_to_the_next_lender_on_the_other_node_on(e).await;
    }
}

async fn will_supply_then_unfilled_moves_on_to_the_next_lender_on_the_other_node_on(
    engine: Engine,
) {
    let l = Loan::sent_on(engine, &["HTU", "XNU"]).await;
    let lend_id = l.at_htu().await;
    l.lend(&lend_id, json!({"action": "will_supply"})).await;
    l.borrower_sees(|v| v["state"] == "will_supply").await;
    l.lend(&lend_id, json!({"action": "reject", "reason": "Missing"}))
        .await;
    let v = l
        .borrower_sees(|v| v["lender"] == "XNU" && v["state"] == "sent")
        .await;
    assert_eq!(v["rota"]["entries"][0]["outcome"], "unfilled", "{v}");
    // XNU is on node A: the request went there directly.
    let xnu = l.a.login("xnu-lend").await;
    assert_eq!(l.a.lend_for(&xnu, &l.id).await["state"], "request_received");
}

#[tokio::test]
async fn a_condition_is_accepted_across_nodes() {
    for e in engines() {
        a_condition_is_accepted_across_nodes_on(e).await;
    }
}

async fn a_condition_is_accepted_across_nodes_on(engine: Engine) {
    let l = Loan::sent_on(engine, &["HTU"]).await;
    let lend_id = l.at_htu().await;
    l.lend(
        &lend_id,
        json!({"action": "conditional", "note": "library use only"}),
    )
    .await;
    l.borrower_sees(|v| v["state"] == "conditional_pending")
        .await;
    l.borrow(json!({"action": "accept_conditions"})).await;
    l.lender_sees(&lend_id, |v| v["state"] != "conditional_pending")
        .await;
}

#[tokio::test]
async fn a_cancel_before_shipping_is_answered_yes() {
    for e in engines() {
        a_cancel_before_shipping_is_answered_yes_on(e).await;
    }
}

async fn a_cancel_before_shipping_is_answered_yes_on(engine: Engine) {
    let l = Loan::sent_on(engine, &["HTU"]).await;
    let lend_id = l.at_htu().await;
    l.borrow(json!({"action": "cancel"})).await;
    l.lender_sees(&lend_id, |v| v["state"] == "cancelled").await;
    l.borrower_sees(|v| v["state"] == "cancelled").await;
}

#[tokio::test]
async fn renewals_are_answered_yes_then_no() {
    for e in engines() {
        renewals_are_answered_yes_then_no_on(e).await;
    }
}

async fn renewals_are_answered_yes_then_no_on(engine: Engine) {
    let l = Loan::sent_on(engine, &["HTU"]).await;
    let lend_id = l.at_htu().await;
    l.on_loan(&lend_id).await;
    let before = l.borrower_sees(|v| v["state"] == "on_loan_to_patron").await;
    l.borrow(json!({"action": "renew"})).await;
    l.lender_sees(&lend_id, |v| v["renew_pending"] == true)
        .await;
    let new_due = (time::OffsetDateTime::now_utc().date() + time::Duration::days(60)).to_string();
    l.lend(
        &lend_id,
        json!({"action": "answer_renew_yes", "due_date": new_due}),
    )
    .await;
    let v = l
        .borrower_sees(|v| v["renew_pending"] == false && v["due_date"] != before["due_date"])
        .await;
    assert_eq!(v["due_date"], new_due.as_str(), "{v}");
    l.borrow(json!({"action": "renew"})).await;
    l.lender_sees(&lend_id, |v| v["renew_pending"] == true)
        .await;
    l.lend(&lend_id, json!({"action": "answer_renew_no"})).await;
    let v = l.borrower_sees(|v| v["renew_pending"] == false).await;
    assert_eq!(
        v["due_date"],
        new_due.as_str(),
        "a no keeps the due date: {v}"
    );
}

#[tokio::test]
async fn a_recall_and_an_overdue_reach_the_borrower() {
    for e in engines() {
        a_recall_and_an_overdue_reach_the_borrower_on(e).await;
    }
}

async fn a_recall_and_an_overdue_reach_the_borrower_on(engine: Engine) {
    let l = Loan::sent_on(engine, &["HTU"]).await;
    let lend_id = l.at_htu().await;
    l.on_loan(&lend_id).await;
    // Overdue: the lender's sweep marks it the day after the due date.
    l.b.clock.advance(time::Duration::days(120));
    l.borrower_sees(|v| v["overdue"] == true).await;
    let htu = l.b.login("htu-lend").await;
    l.b.lend_action(&htu, &lend_id, json!({"action": "recall"}))
        .await;
    let bcu = l.a.login("bcu-borrow").await;
    l.a.eventually(&format!("/api/v1/requests/{}", l.id), &bcu, |v| {
        v["recalled"] == true
    })
    .await;
}

impl Loan {
    /// The lending requests at HTU for this loan, oldest first.
    async fn all_at_htu(&self) -> Vec<Value> {
        let (_, v) = self
            .b
            .get(&format!("/api/v1/lending?q={}", self.id), Some(&self.htu))
            .await;
        let mut items = v["items"].as_array().cloned().unwrap_or_default();
        items.sort_by_key(|i| i["borrower_request_id"].as_str().unwrap_or("").to_owned());
        items
    }

    /// The borrowing request's history on node A.
    async fn history(&self) -> Vec<Value> {
        let (st, v) = self
            .a
            .get(
                &format!("/api/v1/requests/{}/events", self.id),
                Some(&self.bcu),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        v.as_array().cloned().unwrap_or_default()
    }
}

/// `n` days from today at the lenders here (HTU, XNU: the default time, +08:00), whose days
/// a retry offer's dates are.
fn in_days(n: i64) -> String {
    let today = domain::library::LibraryOffset::default().date(time::OffsetDateTime::now_utc());
    (today + time::Duration::days(n)).to_string()
}

async fn retry_for_a_higher_cost(engine: Engine) {
    let l = Loan::sent_on(engine, &["HTU", "XNU"]).await;
    let lend_id = l.at_htu().await;
    // HTU would lend, for 25.00 CNY, until the offer lapses in ten days.
    let until = in_days(10);
    let v = l
        .lend(
            &lend_id,
            json!({"action": "offer_retry", "reason": "CostExceedsMaxCost",
                   "cost_minor": 2500, "currency": "CNY", "retry_before": until,
                   "note": "rare book, courier needed"}),
        )
        .await;
    assert_eq!(v["state"], "retry_possible", "{v}");
    let v = l.borrower_sees(|v| v["state"] == "retry_offered").await;
    let offer = &v["retry_offer"];
    assert_eq!(offer["reason"], "CostExceedsMaxCost", "{v}");
    assert_eq!(
        offer["cost"],
        json!({"minor": 2500, "currency": "CNY"}),
        "{v}"
    );
    assert_eq!(offer["retry_before"], until.as_str(), "{v}");
    assert_eq!(offer["lender"], "HTU", "{v}");
    assert_eq!(offer["previous_request_id"], format!("{}.1", l.id), "{v}");
    assert_eq!(v["lender"], "HTU", "still with HTU: {v}");
    let (_, detail) =
        l.a.get(&format!("/api/v1/requests/{}", l.id), Some(&l.bcu))
            .await;
    let allowed = detail["allowed_actions"].as_array().unwrap();
    assert!(allowed.contains(&json!("accept_retry")), "{detail}");
    assert!(allowed.contains(&json!("decline_retry")), "{detail}");

    // The borrowing staff's page shows the terms and the two answers.
    let cookie = crate::web::web_login(&l.a, "bcu-borrow").await;
    let page = crate::web::get(&l.a, &format!("/requests/{}", l.id), Some(&cookie)).await;
    assert_eq!(page.status, 200);
    for shown in [
        "CostExceedsMaxCost",
        "25.00 CNY",
        &until,
        "rare book, courier needed",
    ] {
        assert!(page.body.contains(shown), "{shown} not on the page");
    }
    for action in ["accept_retry", "decline_retry"] {
        assert!(
            page.body.contains(&format!("value=\"{action}\"")),
            "no {action} form"
        );
    }
    // Staff accept: a new request goes to HTU, referring to the one it answered.
    let v = l.borrow(json!({"action": "accept_retry"})).await;
    assert_eq!(v["state"], "sent", "{v}");
    assert!(v["retry_offer"].is_null(), "the offer is used up: {v}");
    let mut items = Vec::new();
    for _ in 0..200 {
        items = l.all_at_htu().await;
        if items.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0]["state"], "retry_possible");
    assert_eq!(items[1]["state"], "request_received");
    assert_eq!(items[1]["borrower_request_id"], format!("{}.2", l.id));
    let retry_id = items[1]["id"].as_str().unwrap().to_owned();
    let (_, events) =
        l.b.get(&format!("/api/v1/lending/{retry_id}/events"), Some(&l.htu))
            .await;
    let arrived = &events[0];
    assert_eq!(
        arrived["data"]["retry_of"]["previous_request_id"],
        format!("{}.1", l.id),
        "{events}"
    );
    assert_eq!(
        arrived["data"]["retry_of"]["maximum_costs"], "25.00 CNY",
        "{events}"
    );
    // The request as it went out: requestType Retry, the earlier id, the cost accepted.
    // HTU holding the retry does not mean the sender has marked it delivered yet: wait for both.
    let requests_delivered = |v: &Value| {
        v.as_array().is_some_and(|a| {
            a.iter()
                .filter(|m| m["kind"] == "request" && m["request_id"] == l.id.as_str())
                .count()
                == 2
        })
    };
    let sent =
        l.a.eventually(
            "/api/v1/outbox?status=delivered&limit=500",
            &l.bcu,
            requests_delivered,
        )
        .await;
    let retry = sent
        .as_array()
        .unwrap()
        .iter()
        // Newest first: the retry, not the first request.
        .find(|m| m["kind"] == "request" && m["request_id"] == l.id.as_str())
        .unwrap()["payload"]
        .as_str()
        .unwrap()
        .to_owned();
    let (msg, _) = iso18626::parse(retry.as_bytes()).unwrap();
    let iso18626::Message::Request(r) = msg else {
        panic!("{retry}")
    };
    let service = r.service_info.unwrap();
    assert_eq!(service.request_type, Some(iso18626::RequestType::Retry));
    assert_eq!(
        service.requesting_agency_previous_request_id,
        Some(format!("{}.1", l.id))
    );
    let max = r.billing_info.unwrap().maximum_costs.unwrap();
    assert_eq!(
        (max.monetary_value.as_str(), max.currency_code.as_str()),
        ("25.00", "CNY")
    );

    // HTU lends this time; the loan goes on as usual.
    l.lend(&retry_id, json!({"action": "will_supply"})).await;
    l.lend(
        &retry_id,
        json!({"action": "ship_physical", "barcode": "R-1"}),
    )
    .await;
    l.borrower_sees(|v| v["state"] == "shipped").await;
    let history = l.history().await;
    for action in ["lender_retry_possible", "accept_retry", "lender_loaned"] {
        assert!(
            history.iter().any(|e| e["action"] == action),
            "{action} missing from {history:?}"
        );
    }
    crate::federation::assert_sent_valid(&l.a, &l.bcu, 2).await;
    crate::federation::assert_sent_valid(&l.b, &l.htu, 3).await;
}

#[tokio::test]
async fn a_retry_for_a_higher_cost_is_accepted_with_a_new_request_to_the_same_lender() {
    for e in engines() {
        retry_for_a_higher_cost(e).await;
    }
}

async fn retry_on_loan_waits_for_its_day(engine: Engine) {
    let l = Loan::sent_on(engine, &["HTU"]).await;
    let lend_id = l.at_htu().await;
    let back = in_days(14);
    l.lend(
        &lend_id,
        json!({"action": "offer_retry", "reason": "OnLoan", "retry_after": back}),
    )
    .await;
    let v = l.borrower_sees(|v| v["state"] == "retry_offered").await;
    assert_eq!(v["retry_offer"]["retry_after"], back.as_str(), "{v}");
    l.borrow(json!({"action": "accept_retry"})).await;
    // The new request waits in the outbox until the day the lender named.
    server::jobs::deliver_once(&l.a.state).await.unwrap();
    let (_, pending) = l.a.get("/api/v1/outbox?status=pending", Some(&l.bcu)).await;
    let held = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "request" && m["request_id"] == l.id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no held request in {pending}"));
    // At HTU's midnight of that day (a retry's days are the lender's).
    let htu = l.a.state.store.library("HTU").await.unwrap().offset();
    let back_day = time::Date::parse(
        &back,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap();
    let at = time::OffsetDateTime::parse(
        held["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(at, htu.start_of(back_day), "{held}");
    assert_eq!(l.all_at_htu().await.len(), 1);
    // That day comes: it goes out and HTU has it.
    l.a.clock.advance(time::Duration::days(15));
    server::jobs::deliver_once(&l.a.state).await.unwrap();
    let bcu = l.a.login("bcu-borrow").await;
    let v =
        l.a.eventually(&format!("/api/v1/requests/{}", l.id), &bcu, |v| {
            v["state"] == "sent"
        })
        .await;
    assert!(v["retry_offer"].is_null(), "{v}");
    let mut n = 0;
    for _ in 0..200 {
        n = l.all_at_htu().await.len();
        if n < 2 {
            server::jobs::deliver_once(&l.a.state).await.unwrap();
        }
        if n == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_retry_after_a_loan_comes_back_is_held_until_that_day() {
    for e in engines() {
        retry_on_loan_waits_for_its_day(e).await;
    }
}

async fn retry_declined(engine: Engine) {
    let l = Loan::sent_on(engine, &["HTU", "XNU"]).await;
    let lend_id = l.at_htu().await;
    // A loan condition must be named; the refusal says so in both languages.
    let (st, err) =
        l.b.post(
            &format!("/api/v1/lending/{lend_id}/actions"),
            json!({"action": "offer_retry", "reason": "LoanCondition"}),
            Some(&l.htu),
        )
        .await;
    assert_eq!(st, 422, "{err}");
    assert_eq!(err["error"]["code"], "retry_condition_required", "{err}");
    assert!(
        err["error"]["message_zh"]
            .as_str()
            .unwrap()
            .contains("借阅条件"),
        "{err}"
    );
    l.lend(
        &lend_id,
        json!({"action": "offer_retry", "reason": "LoanCondition",
               "loan_condition": "LibraryUseOnly", "retry_before": in_days(1)}),
    )
    .await;
    let v = l.borrower_sees(|v| v["state"] == "retry_offered").await;
    assert_eq!(
        v["retry_offer"]["loan_conditions"],
        json!(["LibraryUseOnly"]),
        "{v}"
    );
    // Staff decline within the offer's days: the next lender (XNU, on node A) is asked.
    l.borrow(json!({"action": "decline_retry", "note": "reader needs to take it home"}))
        .await;
    let v = l
        .borrower_sees(|v| v["lender"] == "XNU" && v["state"] == "sent")
        .await;
    assert_eq!(v["rota"]["entries"][0]["outcome"], "retry_declined", "{v}");
    assert!(v["retry_offer"].is_null(), "{v}");
    let xnu = l.a.login("xnu-lend").await;
    assert_eq!(l.a.lend_for(&xnu, &l.id).await["state"], "request_received");
    crate::federation::assert_sent_valid(&l.b, &l.htu, 1).await;
}

/// A retry offer nobody answers is declined by the clock the day after its last day: the
/// request moves on to the next lender, the lender string says the offer was declined, and
/// the history says why.
async fn retry_lapsed(engine: Engine) {
    let l = Loan::sent_on(engine, &["HTU", "XNU"]).await;
    let lend_id = l.at_htu().await;
    l.lend(
        &lend_id,
        json!({"action": "offer_retry", "reason": "LoanCondition",
               "loan_condition": "LibraryUseOnly", "retry_before": in_days(1)}),
    )
    .await;
    l.borrower_sees(|v| v["state"] == "retry_offered").await;
    // On its last day the offer stands.
    l.a.clock.advance(time::Duration::days(1));
    server::jobs::sweep_deadlines(&l.a.state).await.unwrap();
    let (_, v) =
        l.a.get(&format!("/api/v1/requests/{}", l.id), Some(&l.bcu))
            .await;
    assert_eq!(v["state"], "retry_offered", "{v}");
    // The day after, it has lapsed and the next lender is asked.
    l.a.clock.advance(time::Duration::days(1));
    server::jobs::sweep_deadlines(&l.a.state).await.unwrap();
    let v = l
        .borrower_sees(|v| v["lender"] == "XNU" && v["state"] == "sent")
        .await;
    assert_eq!(v["rota"]["entries"][0]["outcome"], "retry_declined", "{v}");
    assert!(v["retry_offer"].is_null(), "{v}");
    let (_, events) =
        l.a.get(&format!("/api/v1/requests/{}/events", l.id), Some(&l.bcu))
            .await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "lender_deadline_passed"
                && e["note"]
                    .as_str()
                    .is_some_and(|n| n.contains("retry offer lapsed"))),
        "{events}"
    );
}

#[tokio::test]
async fn a_retry_offer_left_unanswered_past_its_last_day_is_declined_by_itself() {
    for e in engines() {
        retry_lapsed(e).await;
    }
}

#[tokio::test]
async fn a_retry_for_a_loan_condition_is_declined_and_the_next_lender_asked() {
    for e in engines() {
        retry_declined(e).await;
    }
}

async fn cancel_refused(engine: Engine) {
    let l = Loan::sent_on(engine, &["HTU"]).await;
    let lend_id = l.at_htu().await;
    l.lend(&lend_id, json!({"action": "will_supply"})).await;
    l.borrower_sees(|v| v["state"] == "will_supply").await;
    // Node B cannot reach node A for a while: HTU ships, and its news waits in its outbox.
    let admin = l.b.login("htu-admin").await;
    let set_endpoint = |endpoint: String| {
        let client = l.b.client.clone();
        let url = format!("{}/api/v1/peers/BCU", l.b.base);
        let admin = admin.clone();
        async move {
            let resp = client
                .put(url)
                .bearer_auth(&admin)
                .json(&json!({"system": "librelay", "endpoint": endpoint}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
        }
    };
    set_endpoint("http://127.0.0.1:9/iso18626".to_owned()).await;
    l.lend(
        &lend_id,
        json!({"action": "ship_physical", "barcode": "C-1"}),
    )
    .await;
    // The reader, not knowing, asks to cancel: HTU has shipped, so it says no.
    l.borrow(json!({"action": "cancel", "note": "no longer needed"}))
        .await;
    l.borrower_sees(|v| v["cancel_pending"] == true && v["state"] == "will_supply")
        .await;
    let events =
        l.b.eventually(&format!("/api/v1/lending/{lend_id}/events"), &l.htu, |v| {
            v.as_array()
                .is_some_and(|e| e.iter().any(|e| e["action"] == "borrower_cancel"))
        })
        .await;
    let answered = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "borrower_cancel")
        .unwrap();
    assert_eq!(answered["to_state"], "shipped", "{events}");
    // The link is back; the waiting messages go out in order.
    set_endpoint(format!("{}/iso18626", l.a.base)).await;
    l.b.clock.advance(time::Duration::hours(1));
    server::jobs::deliver_once(&l.b.state).await.unwrap();
    let v = l
        .borrower_sees(|v| v["state"] == "shipped" && v["cancel_pending"] == false)
        .await;
    assert_eq!(v["state"], "shipped", "{v}");
    let history = l.history().await;
    let refused = history
        .iter()
        .find(|e| e["action"] == "lender_cancel_refused")
        .unwrap_or_else(|| panic!("no refusal in {history:?}"));
    assert_eq!(refused["from_state"], "shipped", "{refused}");
    assert_eq!(refused["to_state"], "shipped", "{refused}");
    assert!(
        refused["note"]
            .as_str()
            .unwrap()
            .contains("Already shipped"),
        "{refused}"
    );
    // It arrives and is lent as if nothing happened.
    l.borrow(json!({"action": "receive"})).await;
    l.lender_sees(&lend_id, |v| v["state"] == "shipped").await;
}

#[tokio::test]
async fn a_cancel_answered_no_leaves_the_request_where_it_was_with_the_answer_in_its_history() {
    for e in engines() {
        cancel_refused(e).await;
    }
}

async fn passed_on(engine: Engine) {
    let l = Loan::sent_on(engine, &["HTU"]).await;
    let lend_id = l.at_htu().await;
    // HTU cannot lend it itself and passes it on to CPL (same node B).
    let (st, err) =
        l.b.post(
            &format!("/api/v1/lending/{lend_id}/actions"),
            json!({"action": "forward", "forward_to": "HTU"}),
            Some(&l.htu),
        )
        .await;
    assert_eq!(st, 422, "not to itself: {err}");
    let v = l
        .lend(
            &lend_id,
            json!({"action": "forward", "forward_to": "CPL", "note": "our copy is at CPL"}),
        )
        .await;
    assert_eq!(v["state"], "forwarded", "{v}");
    let cpl = l.b.login("cpl-lend").await;
    let at_cpl = l.b.lend_for(&cpl, &l.id).await;
    assert_eq!(at_cpl["borrower_agency"], "ISIL:CN-BCU", "{at_cpl}");
    assert_eq!(at_cpl["borrower_request_id"], format!("{}.1", l.id));
    let cpl_id = at_cpl["id"].as_str().unwrap().to_owned();
    // A cancel sent to HTU now is answered no: HTU no longer has the request.
    l.borrow(json!({"action": "cancel"})).await;
    let v = l
        .borrower_sees(|v| v["state"] == "sent" && v["cancel_pending"] == false)
        .await;
    assert_eq!(v["lender"], "HTU", "{v}");
    let history = l.history().await;
    let refused = history
        .iter()
        .find(|e| e["action"] == "lender_cancel_refused")
        .unwrap_or_else(|| panic!("no refusal in {history:?}"));
    assert!(
        refused["note"].as_str().unwrap().contains("Passed on"),
        "{refused}"
    );
    // CPL answers BCU itself: BCU follows it.
    l.b.lend_action(&cpl, &cpl_id, json!({"action": "will_supply"}))
        .await;
    let v = l
        .borrower_sees(|v| v["state"] == "will_supply" && v["lender"] == "CPL")
        .await;
    assert_eq!(v["lender"], "CPL", "{v}");
    l.b.lend_action(
        &cpl,
        &cpl_id,
        json!({"action": "ship_physical", "barcode": "F-1"}),
    )
    .await;
    l.borrower_sees(|v| v["state"] == "shipped").await;
    for action in ["receive", "lend_to_patron", "patron_return", "ship_return"] {
        l.borrow(json!({"action": action})).await;
    }
    // The return goes to CPL, which checks it in; the loan completes.
    l.b.eventually(&format!("/api/v1/lending/{cpl_id}"), &cpl, |v| {
        v["state"] == "return_shipped"
    })
    .await;
    l.b.lend_action(&cpl, &cpl_id, json!({"action": "check_in"}))
        .await;
    l.borrower_sees(|v| v["state"] == "completed").await;
    let history = l.history().await;
    let changed = history
        .iter()
        .find(|e| e["action"] == "lender_changed")
        .unwrap_or_else(|| panic!("no lender change in {history:?}"));
    assert_eq!(changed["data"]["from"], "HTU", "{changed}");
    assert_eq!(changed["data"]["to"], "CPL", "{changed}");
    // HTU stays out of it once it passed the request on.
    let (_, v) =
        l.b.get(&format!("/api/v1/lending/{lend_id}"), Some(&l.htu))
            .await;
    assert_eq!(v["state"], "forwarded", "{v}");
    // HTU sent the request on to CPL and told BCU; CPL's answers went to BCU.
    crate::federation::assert_sent_valid(&l.a, &l.bcu, 3).await;
    crate::federation::assert_sent_valid(&l.b, &l.htu, 2).await;
    crate::federation::assert_sent_valid(&l.b, &cpl, 3).await;
}

#[tokio::test]
async fn a_supplier_that_passes_the_request_on_is_followed_to_the_new_supplier() {
    for e in engines() {
        passed_on(e).await;
    }
}

/// A message from a library the request was never passed to, claiming to ship it, is kept in
/// the history and changes nothing.
#[tokio::test]
async fn a_stranger_claiming_a_request_is_not_followed_once_it_has_said_no() {
    for e in engines() {
        a_stranger_claiming_a_request_is_not_followed_once_it_has_said_no_on(e).await;
    }
}

async fn a_stranger_claiming_a_request_is_not_followed_once_it_has_said_no_on(engine: Engine) {
    let l = Loan::sent_on(engine, &["XNU", "HTU"]).await;
    // XNU (node A) says no, then claims to supply it after all: it is not taken back.
    let xnu = l.a.login("xnu-lend").await;
    let at_xnu = l.a.lend_for(&xnu, &l.id).await;
    let xnu_id = at_xnu["id"].as_str().unwrap().to_owned();
    l.a.lend_action(
        &xnu,
        &xnu_id,
        json!({"action": "reject", "reason": "NotOnShelf"}),
    )
    .await;
    l.borrower_sees(|v| v["lender"] == "HTU" && v["state"] == "sent")
        .await;
    let claim = iso18626::Message::SupplyingAgencyMessage(iso18626::SupplyingAgencyMessage {
        header: iso18626::Header {
            supplying_agency_id: iso18626::AgencyId {
                agency_type: "ISIL".into(),
                value: "CN-XNU".into(),
            },
            requesting_agency_id: iso18626::AgencyId {
                agency_type: "ISIL".into(),
                value: "CN-BCU".into(),
            },
            timestamp: "2026-11-30T08:00:00Z".into(),
            requesting_agency_request_id: format!("{}.2", l.id),
            ..Default::default()
        },
        message_info: iso18626::MessageInfo {
            reason_for_message: iso18626::ReasonForMessage::StatusChange,
            ..Default::default()
        },
        status_info: iso18626::StatusInfo {
            status: iso18626::Status::WillSupply,
            last_change: "2026-11-30T08:00:00Z".into(),
            ..Default::default()
        },
        ..Default::default()
    });
    let resp =
        l.a.client
            .post(format!("{}/iso18626", l.a.base))
            .header("content-type", "application/xml")
            .body(iso18626::write(&claim, iso18626::Version::V2021))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, v) =
        l.a.get(&format!("/api/v1/requests/{}", l.id), Some(&l.bcu))
            .await;
    assert_eq!(v["lender"], "HTU", "{v}");
    assert_eq!(v["state"], "sent", "{v}");
    let history = l.history().await;
    assert!(
        history.iter().any(|e| e["action"] == "message_not_applied"),
        "{history:?}"
    );
}
