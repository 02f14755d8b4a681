//! The ISO 18626 scenario matrix between two nodes over real HTTP: each step one side takes is
//! seen on the other through the messages alone.

use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp};

/// The two nodes, a loan of BCU (node A) sent to `rota`, and the tokens to work it.
struct Loan {
    a: TestApp,
    b: TestApp,
    id: String,
    bcu: String,
    htu: String,
}

impl Loan {
    async fn sent_to(rota: &[&str]) -> Loan {
        let (a, b) = TestApp::pair(Engine::Sqlite).await;
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
    let l = Loan::sent_to(&["HTU", "XNU"]).await;
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
    let l = Loan::sent_to(&["HTU"]).await;
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
    let l = Loan::sent_to(&["HTU"]).await;
    let lend_id = l.at_htu().await;
    l.borrow(json!({"action": "cancel"})).await;
    l.lender_sees(&lend_id, |v| v["state"] == "cancelled").await;
    l.borrower_sees(|v| v["state"] == "cancelled").await;
}

#[tokio::test]
async fn renewals_are_answered_yes_then_no() {
    let l = Loan::sent_to(&["HTU"]).await;
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
    let l = Loan::sent_to(&["HTU"]).await;
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
