//! The queues' kept counts (migration 0019), on SQLite and PostgreSQL: after a realistic run of
//! requests through the API (placing, approving, refusing, supplying, shipping, returning,
//! checking in, cancelling, assigning and releasing one by one and in bulk, renewing), every
//! library's kept counts equal a recount of its requests, and the queue's facets read from them
//! equal the ones grouped out of the requests.

use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, engines};
use crate::lifecycle::book_held_by_xnu_and_htu;

#[tokio::test]
async fn kept_queue_counts_equal_a_recount_after_a_run_of_requests() {
    for engine in engines() {
        kept_counts(engine).await;
    }
}

async fn assert_counts_agree(app: &TestApp, when: &str) {
    app.assert_kept_counts(&["BCU", "XNU", "HTU", "CPL"], when)
        .await;
}

async fn place(app: &TestApp, patron: &str, citation: &Value) -> String {
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": citation}),
            Some(patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    req["id"].as_str().unwrap().to_owned()
}

async fn kept_counts(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    assert_counts_agree(&app, "after the demo seed").await;
    let patron = app.login("bcu-faculty").await;
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let htu = app.login("htu-lend").await;
    let citation = book_held_by_xnu_and_htu(&app).await;

    // A loan refused by XNU, supplied by HTU, and returned.
    let id = place(&app, &patron, &citation).await;
    app.post(
        &format!("/api/v1/requests/{id}/assign"),
        json!({}),
        Some(&bcu),
    )
    .await;
    app.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let at_xnu = app.lend_for(&xnu, &id).await;
    let xnu_id = at_xnu["id"].as_str().unwrap().to_owned();
    let (st, v) = app
        .post(
            &format!("/api/v1/lending/{xnu_id}/assign"),
            json!({"note": "mine"}),
            Some(&xnu),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    app.lend_action(
        &xnu,
        &xnu_id,
        json!({"action": "reject", "reason": "NotOnShelf"}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["lender"] == "HTU" && v["state"] == "sent"
    })
    .await;
    assert_counts_agree(&app, "after a refusal").await;
    let at_htu = app.lend_for(&htu, &id).await;
    let lend_id = at_htu["id"].as_str().unwrap().to_owned();
    app.lend_action(&htu, &lend_id, json!({"action": "will_supply"}))
        .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "will_supply"
    })
    .await;
    app.lend_action(
        &htu,
        &lend_id,
        json!({"action": "ship_physical", "barcode": "HTU-KEPT-1"}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "shipped"
    })
    .await;
    assert_counts_agree(&app, "after shipping (a due date)").await;
    for a in ["receive", "lend_to_patron", "patron_return", "ship_return"] {
        app.borrow_action(&bcu, &id, json!({"action": a})).await;
    }
    app.eventually(&format!("/api/v1/lending/{lend_id}"), &htu, |v| {
        v["state"] == "return_shipped"
    })
    .await;
    app.lend_action(&htu, &lend_id, json!({"action": "check_in"}))
        .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "completed"
    })
    .await;
    assert_counts_agree(&app, "after a whole loan").await;

    // Requests cancelled by the reader, and several assigned and released in bulk.
    let cancelled = place(&app, &patron, &json!({"title": "Changed my mind"})).await;
    app.borrow_action(&patron, &cancelled, json!({"action": "cancel"}))
        .await;
    let mut sent = Vec::new();
    for _ in 0..3 {
        let id = place(&app, &patron, &citation).await;
        app.borrow_action(&bcu, &id, json!({"action": "approve"}))
            .await;
        sent.push(
            app.lend_for(&xnu, &id).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (st, v) = app
        .post(
            "/api/v1/lending/assignments",
            json!({"ids": sent, "assignee": "xnu-lend", "note": "bulk"}),
            Some(&xnu),
        )
        .await;
    assert_eq!((st, v["done"].as_i64()), (200, Some(3)), "{v}");
    let (st, v) = app
        .post(
            "/api/v1/lending/assignments",
            json!({"ids": [sent[0]], "release": true}),
            Some(&xnu),
        )
        .await;
    assert_eq!((st, v["done"].as_i64()), (200, Some(1)), "{v}");
    app.lend_action(&xnu, &sent[1], json!({"action": "will_supply"}))
        .await;
    assert_counts_agree(&app, "after cancelling and bulk assignment").await;

    // The queue's facets and totals read from the kept counts equal the ones grouped out of
    // the requests, for the working queue, the finished ones and the whole history.
    let open = server::flow::desk::lend_open_states();
    let closed = server::flow::desk::lend_closed_states();
    for lib in ["XNU", "HTU"] {
        for states in [Some(open.clone()), Some(closed.clone()), None] {
            let mut f = store::LendQueueFilter::new(
                lib,
                app.state.now(),
                server::flow::desk::lend_alert_states(),
            );
            f.states = states;
            let mut kept = app.state.store.lend_facets(&f).await.unwrap();
            let mut grouped = app.state.store.lend_facets_grouped(&f).await.unwrap();
            let key = |c: &store::FacetCount| (c.facet.clone(), c.value.clone());
            kept.sort_by_key(key);
            grouped.sort_by_key(key);
            assert_eq!(kept, grouped, "{lib} {:?}", f.states);
            let (rows, total) = app.state.store.lend_queue(&f).await.unwrap();
            let (grows, gtotal) = app.state.store.lend_queue_grouped(&f).await.unwrap();
            assert_eq!(total, gtotal, "{lib} {:?}", f.states);
            let ids = |r: &[store::LendRequest]| {
                r.iter().map(|r| r.request_id.clone()).collect::<Vec<_>>()
            };
            assert_eq!(ids(&rows), ids(&grows), "{lib} {:?}", f.states);
        }
    }
}
