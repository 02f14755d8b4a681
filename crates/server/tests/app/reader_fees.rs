//! What readers pay: the library's reader fee policy, subsidies by reader type that run out
//! within the year, deposits topped up by staff and charged when a lender ships, invoices
//! when neither covers a charge, the review flag of a request the deposit will not cover, and
//! the admin page and the reader's page in both languages.

use serde_json::{Value, json};

use crate::helpers::{TestApp, engines};

/// BCU's policy: loans cost the reader what the lender charged, copies a flat 3.00; PhD
/// readers have one loan a year paid by the library.
fn policy() -> Value {
    json!({
        "currency": "CNY",
        "loan": {"mode": "lender"},
        "copy": {"mode": "flat", "flat": 300},
        "subsidies": [{"patron_type": "phd", "loans": 1, "copies": 0}]
    })
}

/// A BCU PhD reader's request, sent to `lender` alone and approved.
async fn request_to(app: &TestApp, format: &str, lender: &str, title: &str) -> String {
    let patron = app.login("bcu-phd").await;
    let bcu = app.login("bcu-borrow").await;
    let citation = if format == "loan" {
        json!({"title": title, "author": "Fee, F."})
    } else {
        json!({"title": title, "author": "Wang, L.", "source_title": "Journal of Reader Fees",
               "issn": "0022-0418", "year": "2025", "pages": "1-10", "copyright_declaration": true})
    };
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": format, "citation": citation}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    app.borrow_action(&bcu, &id, json!({"action": "edit_rota", "rota": [lender]}))
        .await;
    app.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    id
}

async fn ship(app: &TestApp, lender_staff: &str, borrow_id: &str, loan: bool) {
    let tok = app.login(lender_staff).await;
    let lend = app.lend_for(&tok, borrow_id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.lend_action(&tok, &lend, json!({"action": "will_supply"}))
        .await;
    let action = if loan {
        json!({"action": "ship_physical", "barcode": format!("R{}", &borrow_id[..8])})
    } else {
        json!({"action": "ship_digital", "url": "https://example.org/c.pdf"})
    };
    let v = app.lend_action(&tok, &lend, action).await;
    assert!(v.get("error").is_none(), "{v}");
}

async fn charge_of(app: &TestApp, token: &str, id: &str) -> Value {
    let (st, v) = app
        .get(&format!("/api/v1/requests/{id}/reader-charge"), Some(token))
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn phd_id(app: &TestApp) -> String {
    app.state
        .store
        .user_by_username("bcu-phd")
        .await
        .unwrap()
        .unwrap()
        .user_id
}

#[tokio::test]
async fn the_subsidy_pays_first_then_the_deposit_then_the_reader_is_invoiced() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let admin = app.login("bcu-admin").await;
        let staff = app.login("bcu-borrow").await;
        let reader = app.login("bcu-phd").await;
        let phd = phd_id(&app).await;
        let (st, v) = app
            .put_json("/api/v1/libraries/BCU/reader-fees", policy(), &admin)
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["policy"]["subsidies"][0]["patron_type"], "phd");

        // A loan from HTU (15.00 for its region): the PhD reader's one subsidised loan.
        let loan1 = request_to(&app, "loan", "HTU", "Subsidised book").await;
        ship(&app, "htu-lend", &loan1, true).await;
        let v = charge_of(&app, &reader, &loan1).await;
        assert_eq!(v["charge"]["amount"]["minor"], 1500, "{v}");
        assert_eq!(v["charge"]["payer"], "subsidy");
        assert_eq!(v["charge"]["basis"], "the lender's charge 15.00 CNY");
        assert_eq!(v["charge"]["payer_text_zh"], "由图书馆补贴支付");
        assert!(v["review"].is_null());

        // A copy (flat 3.00, no subsidy for copies) placed while the deposit is empty: flagged
        // for staff, not refused.
        let copy1 = request_to(&app, "article_copy", "XNU", "Deposit article").await;
        let v = charge_of(&app, &staff, &copy1).await;
        assert!(v["charge"].is_null(), "{v}");
        assert_eq!(v["review"]["expected"]["minor"], 300, "{v}");
        assert_eq!(v["review"]["balance_then"]["minor"], 0);
        assert!(
            v["review"]["message_zh"]
                .as_str()
                .unwrap()
                .contains("预存款（0.00 CNY）不足以支付预计费用 3.00 CNY"),
            "{v}"
        );
        // Staff top it up with a reason; the reader cannot.
        let (st, m) = app
            .post(
                &format!("/api/v1/readers/{phd}/deposit"),
                json!({"amount": "5.00", "currency": "CNY", "reason": "receipt 0042"}),
                Some(&staff),
            )
            .await;
        assert_eq!(st, 201, "{m}");
        assert_eq!(m["kind"], "top_up");
        assert_eq!(m["balance"]["text"], "5.00");
        let (st, _) = app
            .post(
                &format!("/api/v1/readers/{phd}/deposit"),
                json!({"amount": "5.00", "currency": "CNY", "reason": "me"}),
                Some(&reader),
            )
            .await;
        assert_eq!(st, 403);
        ship(&app, "xnu-lend", &copy1, false).await;
        let v = charge_of(&app, &staff, &copy1).await;
        assert_eq!(v["charge"]["payer"], "deposit", "{v}");
        assert_eq!(v["charge"]["amount"]["minor"], 300);
        assert!(v["review"].is_null(), "the flag is cleared: {v}");

        // Another copy: 2.00 left does not cover 3.00: flagged, then invoiced.
        let copy2 = request_to(&app, "article_copy", "XNU", "Invoiced article").await;
        assert_eq!(
            charge_of(&app, &staff, &copy2).await["review"]["balance_then"]["minor"],
            200
        );
        ship(&app, "xnu-lend", &copy2, false).await;
        assert_eq!(
            charge_of(&app, &staff, &copy2).await["charge"]["payer"],
            "invoice"
        );
        // The loan subsidy is used up for the year: the next loan is the reader's.
        let loan2 = request_to(&app, "loan", "HTU", "Second book").await;
        ship(&app, "htu-lend", &loan2, true).await;
        let v = charge_of(&app, &staff, &loan2).await;
        assert_eq!(
            (&v["charge"]["payer"], &v["charge"]["amount"]["minor"]),
            (&json!("invoice"), &json!(1500)),
            "{v}"
        );
        // A reciprocal lender charges the library nothing: nothing is passed on.
        let free = request_to(&app, "loan", "XNU", "Reciprocal book").await;
        ship(&app, "xnu-lend", &free, true).await;
        assert!(charge_of(&app, &staff, &free).await["charge"].is_null());

        // The reader sees every charge and the deposit with each movement.
        let (st, mine) = app.get("/api/v1/me/charges", Some(&reader)).await;
        assert_eq!(st, 200, "{mine}");
        let payers: Vec<&str> = mine["charges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["payer"].as_str().unwrap())
            .collect();
        assert_eq!(payers.len(), 4, "{mine}");
        for p in ["subsidy", "deposit", "invoice"] {
            assert!(payers.contains(&p), "{p}: {mine}");
        }
        assert_eq!(mine["deposit"]["balances"][0]["text"], "2.00");
        let moves = mine["deposit"]["movements"].as_array().unwrap();
        assert_eq!(moves.len(), 2, "{mine}");
        assert_eq!(moves[0]["kind"], "charge");
        assert_eq!(moves[0]["amount"]["minor"], -300);
        assert_eq!(moves[0]["request_id"], copy1.as_str());
        assert_eq!(moves[1]["reason"], "receipt 0042");
        let staff_id = app
            .state
            .store
            .user_by_username("bcu-borrow")
            .await
            .unwrap()
            .unwrap()
            .user_id;
        assert_eq!(moves[1]["recorded_by"], staff_id.as_str());
        // Every charge is in the request's history, with who paid.
        let events = app.state.store.events("BCU", &copy1).await.unwrap();
        let charged = events
            .iter()
            .find(|e| e.action == "reader_charged")
            .expect("a reader_charged event");
        assert!(
            charged
                .note
                .as_deref()
                .unwrap()
                .contains("paid from the reader's deposit"),
            "{:?}",
            charged.note
        );
        let events = app.state.store.events("BCU", &copy2).await.unwrap();
        assert!(events.iter().any(|e| e.action == "deposit_short"));
        // Another library's staff see neither the deposit nor the charge.
        let htu = app.login("htu-borrow").await;
        let (st, _) = app
            .get(&format!("/api/v1/readers/{phd}/deposit"), Some(&htu))
            .await;
        assert_eq!(st, 404);
        let (st, _) = app
            .get(
                &format!("/api/v1/requests/{loan1}/reader-charge"),
                Some(&htu),
            )
            .await;
        assert_eq!(st, 404);
    }
}

#[tokio::test]
async fn bad_policies_and_deposit_movements_are_named_in_both_languages() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let admin = app.login("bcu-admin").await;
        let staff = app.login("bcu-borrow").await;
        let phd = phd_id(&app).await;
        let bad = json!({
            "currency": "yuan",
            "loan": {"mode": "sometimes"},
            "copy": {"mode": "flat", "flat": -5},
            "subsidies": [{"patron_type": "wizard", "loans": 1, "copies": 1}]
        });
        let resp = app
            .client
            .put(format!("{}/api/v1/libraries/BCU/reader-fees", app.base))
            .bearer_auth(&admin)
            .header("accept-language", "zh-CN")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422);
        let v: Value = resp.json().await.unwrap();
        let fields: Vec<&str> = v["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "currency",
                "loan.mode",
                "copy.flat",
                "subsidies.patron_type"
            ],
            "{v}"
        );
        let text = v.to_string();
        assert!(text.contains("借书的读者收费方式的取值无法识别"), "{text}");
        assert!(text.contains("复制的读者固定费用不能为负数"), "{text}");
        // Nothing was stored; another library's admin may not set it.
        let (_, v) = app
            .get("/api/v1/libraries/BCU/reader-fees", Some(&admin))
            .await;
        assert!(v["policy"].is_null(), "{v}");
        let (st, _) = app
            .put_json(
                "/api/v1/libraries/BCU/reader-fees",
                policy(),
                &app.login("htu-admin").await,
            )
            .await;
        assert_eq!(st, 403);

        for (body, field, code) in [
            (
                json!({"amount": "ten", "currency": "CNY", "reason": "x"}),
                "amount",
                "invalid_amount",
            ),
            (
                json!({"amount": "-1.00", "currency": "CNY", "reason": "refund"}),
                "amount",
                "over_balance",
            ),
            (
                json!({"amount": "1.00", "currency": "CNY", "reason": " "}),
                "reason",
                "required",
            ),
            (
                json!({"amount": "0", "currency": "CNY", "reason": "x"}),
                "amount",
                "zero_amount",
            ),
        ] {
            let resp = app
                .client
                .post(format!("{}/api/v1/readers/{phd}/deposit", app.base))
                .bearer_auth(&staff)
                .header("accept-language", "zh-CN")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 422, "{body}");
            let v: Value = resp.json().await.unwrap();
            let f = &v["error"]["fields"][0];
            assert_eq!(
                (f["field"].as_str(), f["code"].as_str()),
                (Some(field), Some(code)),
                "{v}"
            );
            assert!(
                f["message"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .any(|c| c > '\u{2e80}'),
                "Chinese: {v}"
            );
        }
        // A refund within the balance goes through and is recorded as such.
        let (st, _) = app
            .post(
                &format!("/api/v1/readers/{phd}/deposit"),
                json!({"amount": "8.00", "currency": "CNY", "reason": "cash"}),
                Some(&staff),
            )
            .await;
        assert_eq!(st, 201);
        let (st, m) = app
            .post(
                &format!("/api/v1/readers/{phd}/deposit"),
                json!({"amount": "-8.00", "currency": "CNY", "reason": "left the university"}),
                Some(&staff),
            )
            .await;
        assert_eq!(st, 201, "{m}");
        assert_eq!(
            (&m["kind"], &m["balance"]["minor"]),
            (&json!("refund"), &json!(0))
        );
        // A staff account is not a reader with a deposit.
        let (st, _) = app
            .post(
                "/api/v1/readers/no-such-reader/deposit",
                json!({"amount": "1.00", "currency": "CNY", "reason": "x"}),
                Some(&staff),
            )
            .await;
        assert_eq!(st, 404);
    }
}

#[tokio::test]
async fn the_admin_page_keeps_the_policy_and_deposits_and_the_reader_sees_the_balance() {
    use crate::web::{get, post_form, web_login};
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let admin = web_login(&app, "bcu-admin").await;
        let page = get(&app, "/admin", Some(&admin)).await;
        assert!(page.body.contains("href=\"/admin/reader-fees\""));
        let zh = format!("{admin}; librelay_lang=zh-CN");
        let page = get(&app, "/admin/reader-fees", Some(&zh)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("收费与补贴"), "{}", page.body);
        assert!(page.body.contains("尚无读者预存款"));

        let bad = post_form(
            &app,
            "/admin/reader-fees",
            Some(&zh),
            &[
                ("currency", "CNY"),
                ("loan.mode", "lender"),
                ("loan.flat", ""),
                ("copy.mode", "flat"),
                ("copy.flat", "三元"),
                ("subsidies", "phd | 10 | 20\nwizard 3"),
            ],
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("第 2 行"), "{}", bad.body);
        assert!(bad.body.contains("value=\"三元\""), "typed values are kept");
        let ok = post_form(
            &app,
            "/admin/reader-fees",
            Some(&admin),
            &[
                ("currency", "CNY"),
                ("loan.mode", "lender"),
                ("loan.flat", ""),
                ("copy.mode", "flat"),
                ("copy.flat", "3.00"),
                ("subsidies", "phd | 10 | 20\nmaster | 2 | 5"),
            ],
        )
        .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        let api = app.login("bcu-admin").await;
        let (_, v) = app
            .get("/api/v1/libraries/BCU/reader-fees", Some(&api))
            .await;
        assert_eq!(v["policy"]["copy"], json!({"mode": "flat", "flat": 300}));
        assert_eq!(v["policy"]["subsidies"][1]["copies"], 5);
        let page = get(&app, "/admin/reader-fees", Some(&admin)).await;
        assert!(page.body.contains("phd | 10 | 20"), "{}", page.body);

        let bad = post_form(
            &app,
            "/admin/reader-fees/deposits",
            Some(&zh),
            &[
                ("reader", "nobody-here"),
                ("amount", "50.00"),
                ("currency", "CNY"),
                ("reason", "receipt 7"),
            ],
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(
            bad.body.contains("本馆没有使用此用户名的读者"),
            "{}",
            bad.body
        );
        let ok = post_form(
            &app,
            "/admin/reader-fees/deposits",
            Some(&admin),
            &[
                ("reader", "bcu-phd"),
                ("amount", "50.00"),
                ("currency", "CNY"),
                ("reason", "receipt 7"),
            ],
        )
        .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        let page = get(&app, "/admin/reader-fees", Some(&admin)).await;
        assert!(page.body.contains("50.00 CNY"), "{}", page.body);

        let reader = web_login(&app, "bcu-phd").await;
        let mine = get(&app, "/my/requests", Some(&reader)).await;
        assert_eq!(mine.status, 200);
        assert!(
            mine.body.contains("Deposit balance: 50.00 CNY"),
            "{}",
            mine.body
        );
        let mine = get(
            &app,
            "/my/requests",
            Some(&format!("{reader}; librelay_lang=zh-CN")),
        )
        .await;
        assert!(mine.body.contains("预存款余额: 50.00 CNY"), "{}", mine.body);
    }
}

/// The actions of a request's review-flag events, oldest first.
async fn flag_events(app: &TestApp, id: &str) -> Vec<String> {
    app.state
        .store
        .events("BCU", id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "deposit_short" || e.action == "deposit_covered")
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn the_review_flag_follows_the_deposit_the_subsidy_and_the_policy() {
    use crate::web::{get, web_login};
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let admin = app.login("bcu-admin").await;
        let staff = app.login("bcu-borrow").await;
        let phd = phd_id(&app).await;
        // Copies cost a flat 3.00; PhD readers have one copy a year paid by the library.
        let with_copies = |copies: u32| {
            json!({
                "currency": "CNY",
                "loan": {"mode": "lender"},
                "copy": {"mode": "flat", "flat": 300},
                "subsidies": [{"patron_type": "phd", "loans": 0, "copies": copies}]
            })
        };
        let (st, v) = app
            .put_json("/api/v1/libraries/BCU/reader-fees", with_copies(1), &admin)
            .await;
        assert_eq!(st, 200, "{v}");

        // Both placed while the subsidy is unused: neither is flagged.
        let first = request_to(&app, "article_copy", "XNU", "First subsidised article").await;
        let second = request_to(&app, "article_copy", "XNU", "Second article").await;
        assert!(charge_of(&app, &staff, &second).await["review"].is_null());

        // The first uses the subsidy up: the second, with an empty deposit, is flagged now.
        ship(&app, "xnu-lend", &first, false).await;
        assert_eq!(
            charge_of(&app, &staff, &first).await["charge"]["payer"],
            "subsidy"
        );
        let v = charge_of(&app, &staff, &second).await;
        assert_eq!(v["review"]["expected"]["minor"], 300, "{v}");
        assert_eq!(v["review"]["balance_then"]["minor"], 0, "{v}");
        assert_eq!(flag_events(&app, &second).await, ["deposit_short"]);

        // A top-up that covers it clears the flag; a refund below it sets it again.
        let deposit = |amount: &str, reason: &str| json!({"amount": amount, "currency": "CNY", "reason": reason});
        let (st, m) = app
            .post(
                &format!("/api/v1/readers/{phd}/deposit"),
                deposit("5.00", "receipt 1"),
                Some(&staff),
            )
            .await;
        assert_eq!(st, 201, "{m}");
        assert!(charge_of(&app, &staff, &second).await["review"].is_null());
        assert_eq!(
            flag_events(&app, &second).await,
            ["deposit_short", "deposit_covered"]
        );
        let (st, m) = app
            .post(
                &format!("/api/v1/readers/{phd}/deposit"),
                deposit("-3.00", "cash back"),
                Some(&staff),
            )
            .await;
        assert_eq!(st, 201, "{m}");
        let v = charge_of(&app, &staff, &second).await;
        assert_eq!(v["review"]["balance_then"]["minor"], 200, "{v}");

        // A second subsidised copy in the policy covers it again.
        let (st, v) = app
            .put_json("/api/v1/libraries/BCU/reader-fees", with_copies(2), &admin)
            .await;
        assert_eq!(st, 200, "{v}");
        assert!(charge_of(&app, &staff, &second).await["review"].is_null());
        assert_eq!(
            flag_events(&app, &second).await,
            [
                "deposit_short",
                "deposit_covered",
                "deposit_short",
                "deposit_covered"
            ]
        );
        // The request's history says so in both languages.
        let page = web_login(&app, "bcu-borrow").await;
        let en = get(&app, &format!("/requests/{second}"), Some(&page)).await;
        assert_eq!(en.status, 200, "{}", en.body);
        assert!(
            en.body.contains("now covers the expected charge"),
            "{}",
            en.body
        );
        let zh = get(
            &app,
            &format!("/requests/{second}"),
            Some(&format!("{page}; librelay_lang=zh-CN")),
        )
        .await;
        assert!(zh.body.contains("现已足以支付预计费用"), "{}", zh.body);
        assert!(
            zh.body.contains("读者预存款不足以支付预计费用"),
            "{}",
            zh.body
        );
    }
}

async fn deposit_minor(app: &TestApp, token: &str, reader: &str) -> i64 {
    let (st, v) = app
        .get(&format!("/api/v1/readers/{reader}/deposit"), Some(token))
        .await;
    assert_eq!(st, 200, "{v}");
    v["balances"][0]["minor"].as_i64().unwrap_or(0)
}

async fn refunded_events(app: &TestApp, id: &str) -> Vec<store::EventRow> {
    app.state
        .store
        .events("BCU", id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "reader_charge_refunded")
        .collect()
}

async fn refunds(engine: crate::helpers::Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app.login("bcu-admin").await;
    let staff = app.login("bcu-borrow").await;
    let reader = app.login("bcu-phd").await;
    let phd = phd_id(&app).await;
    let (st, v) = app
        .put_json("/api/v1/libraries/BCU/reader-fees", policy(), &admin)
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, m) = app
        .post(
            &format!("/api/v1/readers/{phd}/deposit"),
            json!({"amount": "20.00", "currency": "CNY", "reason": "receipt 7"}),
            Some(&staff),
        )
        .await;
    assert_eq!(st, 201, "{m}");

    // The PhD reader's one subsidised loan is lost on its way: the subsidy is given back, in
    // the step that marks it lost, and said in the history in both languages.
    let lost = request_to(&app, "loan", "HTU", "Lost in the post").await;
    ship(&app, "htu-lend", &lost, true).await;
    assert_eq!(
        charge_of(&app, &staff, &lost).await["charge"]["payer"],
        "subsidy"
    );
    app.borrow_action(
        &staff,
        &lost,
        json!({"action": "mark_lost", "note": "never arrived"}),
    )
    .await;
    let v = charge_of(&app, &reader, &lost).await;
    assert!(v["charge"]["refunded_at"].is_string(), "{v}");
    assert_eq!(
        v["charge"]["refunded_text_zh"],
        "已退还：读者未收到所借资料"
    );
    let events = refunded_events(&app, &lost).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let note_zh = events[0].data.as_ref().unwrap().0["note_zh"]
        .as_str()
        .unwrap();
    assert!(note_zh.starts_with("已退还读者费用"), "{note_zh}");
    // So the next loan is subsidised again.
    let second = request_to(&app, "loan", "HTU", "Subsidised again").await;
    ship(&app, "htu-lend", &second, true).await;
    assert_eq!(
        charge_of(&app, &staff, &second).await["charge"]["payer"],
        "subsidy"
    );

    // A loan paid from the deposit and lost at the library before the reader had it: the
    // money goes back to the deposit.
    let at_desk = request_to(&app, "loan", "HTU", "Lost at the desk").await;
    ship(&app, "htu-lend", &at_desk, true).await;
    let v = charge_of(&app, &staff, &at_desk).await;
    assert_eq!(v["charge"]["payer"], "deposit", "{v}");
    assert_eq!(deposit_minor(&app, &staff, &phd).await, 500);
    app.borrow_action(&staff, &at_desk, json!({"action": "receive"}))
        .await;
    app.borrow_action(
        &staff,
        &at_desk,
        json!({"action": "mark_lost", "note": "gone from the hold shelf"}),
    )
    .await;
    assert_eq!(deposit_minor(&app, &staff, &phd).await, 2000);
    assert_eq!(refunded_events(&app, &at_desk).await.len(), 1);
    let (_, mine) = app.get("/api/v1/me/charges", Some(&reader)).await;
    let back = &mine["deposit"]["movements"][0];
    assert_eq!(back["kind"], "charge_refund", "{mine}");
    assert_eq!(back["amount"]["minor"], 1500);
    assert_eq!(back["request_id"], at_desk.as_str());
    // Its reason in both languages, and the charge's before it.
    assert_eq!(
        back["reason_zh"],
        format!("退还请求 {at_desk} 的费用：读者未收到所借资料")
    );
    assert!(
        back["reason"]
            .as_str()
            .unwrap()
            .starts_with("refund of the charge"),
        "{mine}"
    );
    let charged = &mine["deposit"]["movements"][1];
    assert_eq!(charged["kind"], "charge", "{mine}");
    assert!(
        charged["reason_zh"]
            .as_str()
            .unwrap()
            .starts_with(&format!("请求 {at_desk} 的费用：")),
        "{mine}"
    );
    // The reader's own page says which charges were given back, in the reader's language.
    let cookie = crate::web::web_login(&app, "bcu-phd").await;
    let page = crate::web::get(
        &app,
        "/my/requests",
        Some(&format!("{cookie}; librelay_lang=zh-CN")),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("已退还：读者未收到所借资料"),
        "{}",
        page.body
    );

    // A loan the reader received keeps its charge, lost or not.
    let kept = request_to(&app, "loan", "HTU", "Lost by the reader").await;
    ship(&app, "htu-lend", &kept, true).await;
    assert_eq!(
        charge_of(&app, &staff, &kept).await["charge"]["payer"],
        "deposit"
    );
    for a in ["receive", "lend_to_patron"] {
        app.borrow_action(&staff, &kept, json!({"action": a})).await;
    }
    app.borrow_action(
        &staff,
        &kept,
        json!({"action": "mark_lost", "note": "lost by the reader"}),
    )
    .await;
    assert_eq!(deposit_minor(&app, &staff, &phd).await, 500);
    assert!(charge_of(&app, &staff, &kept).await["charge"]["refunded_at"].is_null());
    assert!(refunded_events(&app, &kept).await.is_empty());
}

#[tokio::test]
async fn a_charge_is_refunded_when_the_reader_never_gets_the_item() {
    for engine in engines() {
        refunds(engine).await;
    }
}
