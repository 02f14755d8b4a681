//! Fees and settlement: lenders' schedules, the charge recorded when a lender ships, closing a
//! month (bilateral or through the hub) with sums that balance, late charges booked as
//! corrections in the next month, and statements that are the same bytes every time.

use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, engines};

async fn put(app: &TestApp, path: &str, body: Value, token: &str, lang: &str) -> (u16, Value) {
    let resp = app
        .client
        .put(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("accept-language", lang)
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    (st, resp.json().await.unwrap_or(Value::Null))
}

async fn bytes(app: &TestApp, path: &str, token: &str) -> (u16, String, Vec<u8>) {
    let resp = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (st, ct, resp.bytes().await.unwrap().to_vec())
}

/// A BCU reader's request sent to `lender` alone and approved; returns the borrowing id.
async fn request_to(app: &TestApp, format: &str, lender: &str, pages: &str) -> String {
    request_with(app, format, lender, pages, false).await
}

/// The same, asking for express service when `express`.
async fn request_with(
    app: &TestApp,
    format: &str,
    lender: &str,
    pages: &str,
    express: bool,
) -> String {
    let patron = app.login("bcu-phd").await;
    let bcu = app.login("bcu-borrow").await;
    let citation = if format == "loan" {
        json!({"title": format!("Fee book for {lender}"), "author": "Fee, F.", "express": express})
    } else {
        json!({"title": "Fees at speed", "author": "Wang, L.", "source_title": "Journal of Documentation",
               "issn": "0022-0418", "year": "2025", "pages": pages, "copyright_declaration": true})
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

/// The lender's staff supply and ship it (`ship` is the action body).
async fn ship(app: &TestApp, lender_staff: &str, borrow_id: &str, ship: Value) -> String {
    let tok = app.login(lender_staff).await;
    let lend = app.lend_for(&tok, borrow_id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.lend_action(&tok, &lend, json!({"action": "will_supply"}))
        .await;
    app.lend_action(&tok, &lend, ship).await;
    lend
}

/// This month at the lenders here (the default time, +08:00): a charge counts in the lending
/// library's month.
fn current_month(app: &TestApp) -> String {
    let now = domain::library::LibraryOffset::default().date(app.state.now());
    format!("{}-{:02}", now.year(), u8::from(now.month()))
}

#[tokio::test]
async fn fee_schedules_are_kept_by_admins_and_every_bad_field_is_named() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let xnu_admin = app.login("xnu-admin").await;
    let bcu_admin = app.login("bcu-admin").await;
    let hub = app.login("hub-admin").await;
    let good = json!({
        "currency": "CNY",
        "rates": {"loan": 1200, "copy_flat": 0, "copy_per_page": 40, "express": 800},
        "partner_groups": [{"name": "region", "members": ["htu"], "rates": {"loan": 600}}],
        "reciprocal_groups": [{"name": "twins", "members": ["BCU"]}]
    });
    let (st, v) = put(
        &app,
        "/api/v1/libraries/XNU/fees",
        good.clone(),
        &xnu_admin,
        "en",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["schedule"]["partner_groups"][0]["members"],
        json!(["HTU"])
    );
    let (st, v) = app
        .get("/api/v1/libraries/xnu/fees", Some(&xnu_admin))
        .await;
    assert_eq!(
        (st, &v["schedule"]["rates"]["loan"]),
        (200, &json!(1200)),
        "{v}"
    );
    // Another library's admin may not; the hub's admin may.
    let (st, _) = put(
        &app,
        "/api/v1/libraries/XNU/fees",
        good.clone(),
        &bcu_admin,
        "en",
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = app
        .get(
            "/api/v1/libraries/XNU/fees",
            Some(&app.login("xnu-lend").await),
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = put(&app, "/api/v1/libraries/XNU/fees", good, &hub, "en").await;
    assert_eq!(st, 200);
    let (st, _) = app.get("/api/v1/libraries/NOPE/fees", Some(&hub)).await;
    assert_eq!(st, 404);

    let bad = json!({
        "currency": "yuan",
        "rates": {"loan": -5},
        "partner_groups": [{"name": "", "members": ["NOPE"], "rates": {}}],
        "reciprocal_groups": [{"name": "self", "members": ["XNU"]}]
    });
    let (st, v) = put(
        &app,
        "/api/v1/libraries/XNU/fees",
        bad.clone(),
        &xnu_admin,
        "en",
    )
    .await;
    assert_eq!(st, 422, "{v}");
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
            "rates.loan",
            "partner_groups.name",
            "partner_groups.members",
            "reciprocal_groups.members"
        ]
    );
    let (st, v) = put(&app, "/api/v1/libraries/XNU/fees", bad, &xnu_admin, "zh-CN").await;
    assert_eq!(st, 422);
    let messages: Vec<&str> = v["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages[0], "币种应为三个字母的 ISO 4217 代码，例如 CNY");
    assert_eq!(messages[1], "借书费不能为负数");
    assert!(messages[4].contains("不能包含出借馆自己"), "{messages:?}");
    // The stored schedule is unchanged by the refused one.
    let (_, v) = app
        .get("/api/v1/libraries/XNU/fees", Some(&xnu_admin))
        .await;
    assert_eq!(v["schedule"]["rates"]["loan"], json!(1200));
}

#[tokio::test]
async fn shipping_charges_the_borrower_and_a_closed_month_settles_the_same_every_time() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let bcu = app.login("bcu-borrow").await;
        let hub = app.login("hub-admin").await;
        // Demo schedules: HTU charges its region 15.00 a loan (+15.00 express); NSD sells
        // copies at 10.00 + 0.50 a page; XNU and BCU are reciprocal; CPL charges nothing.
        // The reader asked for express service: the lender's express surcharge applies,
        // though the ship action does not mention it.
        let loan = request_with(&app, "loan", "HTU", "", true).await;
        let htu_lend = ship(
            &app,
            "htu-lend",
            &loan,
            json!({"action": "ship_physical", "barcode": "F1"}),
        )
        .await;
        let copy = request_to(&app, "article_copy", "NSD", "101-119").await;
        ship(
            &app,
            "nsd-lend",
            &copy,
            json!({"action": "ship_digital", "url": "https://example.org/c.pdf"}),
        )
        .await;
        let free = request_to(&app, "loan", "XNU", "").await;
        ship(
            &app,
            "xnu-lend",
            &free,
            json!({"action": "ship_physical", "barcode": "F2"}),
        )
        .await;
        // Refused: nothing is charged.
        let refused = request_to(&app, "loan", "HTU", "").await;
        let htu = app.login("htu-lend").await;
        let lend = app.lend_for(&htu, &refused).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.lend_action(
            &htu,
            &lend,
            json!({"action": "reject", "reason": "NotOnShelf"}),
        )
        .await;

        let (st, fees) = app
            .get(&format!("/api/v1/requests/{loan}/fees"), Some(&bcu))
            .await;
        assert_eq!(st, 200, "{fees}");
        assert_eq!(fees.as_array().unwrap().len(), 1, "{fees}");
        assert_eq!(fees[0]["amount"], json!({"minor": 3000, "currency": "CNY"}));
        assert_eq!(fees[0]["amount_text"], "30.00");
        assert_eq!(fees[0]["kind"], "charge");
        assert_eq!(
            fees[0]["basis"],
            "loan 15.00 + express 15.00 (group 京津地区 Region)"
        );
        let (_, fees) = app
            .get(&format!("/api/v1/requests/{copy}/fees"), Some(&bcu))
            .await;
        assert_eq!(
            fees[0]["amount"]["minor"], 1950,
            "10.00 + 19 pages × 0.50: {fees}"
        );
        for id in [&free, &refused] {
            let (_, fees) = app
                .get(&format!("/api/v1/requests/{id}/fees"), Some(&bcu))
                .await;
            assert_eq!(fees, json!([]), "{id}");
        }
        // The lender sees the same charge on its side; a reader of another library does not.
        let (_, fees) = app
            .get(&format!("/api/v1/lending/{htu_lend}/fees"), Some(&htu))
            .await;
        assert_eq!(fees[0]["borrower"], "BCU");
        let (st, _) = app
            .get(&format!("/api/v1/requests/{loan}/fees"), Some(&htu))
            .await;
        assert_eq!(st, 404);

        // Close the month in bilateral mode.
        let month = current_month(&app);
        let (st, _) = app
            .post(
                &format!("/api/v1/settlements/{month}"),
                json!({"mode": "bilateral"}),
                Some(&bcu),
            )
            .await;
        assert_eq!(st, 403);
        let (st, first) = app
            .post(
                &format!("/api/v1/settlements/{month}"),
                json!({"mode": "bilateral"}),
                Some(&hub),
            )
            .await;
        assert_eq!(st, 200, "{first}");
        assert_eq!(first["charges"], 2);
        assert_eq!(first["balance"], json!({"CNY": 0}));
        let pos = |who: &str, other: &str| -> i64 {
            first["positions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["library"] == who && p["counterparty"] == other)
                .unwrap()["net"]
                .as_i64()
                .unwrap()
        };
        assert_eq!((pos("BCU", "HTU"), pos("HTU", "BCU")), (-3000, 3000));
        assert_eq!((pos("BCU", "NSD"), pos("NSD", "BCU")), (-1950, 1950));
        // Again: the same result; in the other mode: refused.
        let (st, again) = app
            .post(
                &format!("/api/v1/settlements/{month}"),
                json!({"mode": "bilateral"}),
                Some(&hub),
            )
            .await;
        assert_eq!((st, &again), (200, &first));
        let (st, v) = app
            .post(
                &format!("/api/v1/settlements/{month}"),
                json!({"mode": "hub"}),
                Some(&hub),
            )
            .await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (409, Some("month_closed_in_other_mode"))
        );

        // Statements: CSV with a byte order mark and XLSX, the same bytes each time.
        let csv_path = format!("/api/v1/settlements/{month}/statements/BCU.csv");
        let (st, ct, csv) = bytes(&app, &csv_path, &hub).await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&csv));
        assert!(ct.starts_with("text/csv"));
        assert!(csv.starts_with("\u{feff}".as_bytes()));
        let text = String::from_utf8(csv.clone()).unwrap();
        assert!(text.contains("HTU,CNY,0.00,30.00,-30.00,1"), "{text}");
        assert!(text.contains("北辰大学图书馆"), "{text}");
        assert_eq!(bytes(&app, &csv_path, &hub).await.2, csv);
        let xlsx_path = format!("/api/v1/settlements/{month}/statements/bcu.xlsx");
        let (st, ct, xlsx) = bytes(&app, &xlsx_path, &app.login("bcu-admin").await).await;
        assert_eq!(st, 200);
        assert!(ct.contains("spreadsheetml"));
        assert!(xlsx.starts_with(b"PK"));
        assert_eq!(bytes(&app, &xlsx_path, &hub).await.2, xlsx);
        // PDF: the same bytes each time, a sound cross-reference table, the Chinese name in
        // the content as UTF-16BE, and text a PDF reader can extract.
        let pdf_path = format!("/api/v1/settlements/{month}/statements/BCU.pdf");
        let (st, ct, pdf) = bytes(&app, &pdf_path, &hub).await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&pdf));
        assert_eq!(ct, "application/pdf");
        check_pdf(&pdf);
        assert_eq!(bytes(&app, &pdf_path, &hub).await.2, pdf);
        let name_hex: String = "北辰大学图书馆"
            .encode_utf16()
            .map(|u| format!("{u:04X}"))
            .collect();
        assert!(
            String::from_utf8_lossy(&pdf).contains(&format!("<{name_hex}> Tj")),
            "the Chinese name is not in the content stream"
        );
        if let Some(text) = pdf_text(&pdf) {
            assert!(text.contains("北辰大学图书馆"), "{text}");
            assert!(text.contains(&month), "{text}");
            assert!(text.contains("-30.00"), "{text}");
            assert!(text.contains("合计"), "{text}");
        }
        // Another library's admin may not read BCU's statement.
        let (st, _, _) = bytes(&app, &csv_path, &app.login("htu-admin").await).await;
        assert_eq!(st, 403);

        // A shipment after the month closed, dated in it: booked next month as a correction.
        let late = request_to(&app, "loan", "HTU", "").await;
        ship(
            &app,
            "htu-lend",
            &late,
            json!({"action": "ship_physical", "barcode": "F3"}),
        )
        .await;
        let (_, fees) = app
            .get(&format!("/api/v1/requests/{late}/fees"), Some(&bcu))
            .await;
        assert_eq!(fees[0]["kind"], "correction", "{fees}");
        assert_ne!(fees[0]["month"], month.as_str());
        let next = fees[0]["month"].as_str().unwrap().to_owned();
        // The closed month's statement did not change.
        assert_eq!(bytes(&app, &csv_path, &hub).await.2, csv);
        // Next month, once closed, shows the correction and where it came from.
        app.clock.advance(time::Duration::days(32));
        let hub = app.login("hub-admin").await;
        let (st, s) = app
            .post(
                &format!("/api/v1/settlements/{next}"),
                json!({}),
                Some(&hub),
            )
            .await;
        assert_eq!(st, 200, "{s}");
        assert_eq!(
            (s["mode"].as_str(), s["corrections"].as_i64()),
            (Some("hub"), Some(1))
        );
        let (_, _, csv) = bytes(
            &app,
            &format!("/api/v1/settlements/{next}/statements/BCU.csv"),
            &hub,
        )
        .await;
        let text = String::from_utf8(csv).unwrap();
        assert!(
            text.contains(&format!("更正 correction (from {month})")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_correction_after_closing_goes_into_the_next_open_month_with_its_reason_and_events() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let hub = app.login("hub-admin").await;
        let bcu = app.login("bcu-admin").await;
        let month = current_month(&app);
        let (st, v) = app
            .post(
                &format!("/api/v1/settlements/{month}"),
                json!({}),
                Some(&hub),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let csv_path = format!("/api/v1/settlements/{month}/statements/BCU.csv");
        let (_, _, closed_csv) = bytes(&app, &csv_path, &hub).await;
        let path = "/api/v1/libraries/BCU/fee-corrections";

        // Every wrong field is named; nothing is recorded.
        let (st, v) = app
            .post(
                path,
                json!({"amount": "abc", "currency": "C1", "counterparty": "bcu", "reason": " "}),
                Some(&bcu),
            )
            .await;
        assert_eq!(st, 422, "{v}");
        let named: Vec<(&str, &str)> = v["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["field"].as_str().unwrap(), f["code"].as_str().unwrap()))
            .collect();
        assert_eq!(
            named,
            [
                ("counterparty", "same_library"),
                ("currency", "invalid_currency"),
                ("amount", "invalid_amount"),
                ("reason", "required")
            ]
        );
        let (st, v) = app.post(path, json!({}), Some(&bcu)).await;
        assert_eq!(st, 422, "{v}");
        assert_eq!(v["error"]["fields"].as_array().unwrap().len(), 4, "{v}");
        let (st, v) = app
            .post(
                path,
                json!({"amount": "0.00", "currency": "CNY", "counterparty": "NOPE", "reason": "x"}),
                Some(&bcu),
            )
            .await;
        assert_eq!(st, 422, "{v}");
        assert_eq!(v["error"]["fields"][0]["code"], "unknown_library", "{v}");
        assert_eq!(v["error"]["fields"][1]["code"], "zero_amount", "{v}");
        let (st, v) = app
            .post(path, json!({"amount": "1", "nonsense": 1}), Some(&bcu))
            .await;
        assert_eq!(st, 422, "{v}");
        // Another library's admin may not record for BCU; readers and staff not at all.
        let body = json!({"amount": "-12.50", "currency": "CNY", "counterparty": "htu",
                          "reason": "Lost book refund 遗失赔偿"});
        let (st, _) = app
            .post(path, body.clone(), Some(&app.login("htu-admin").await))
            .await;
        assert_eq!(st, 403);
        let (st, _) = app
            .post(path, body.clone(), Some(&app.login("bcu-borrow").await))
            .await;
        assert_eq!(st, 403);
        assert_eq!(app.get(path, Some(&bcu)).await.1, json!([]));
        // A library records what it owes; a claim on another library is the hub's to record,
        // and no correction is beyond any real fee.
        for (amount, code) in [
            ("12.50", "claim_needs_hub"),
            ("-100000000.01", "amount_too_large"),
        ] {
            let (st, v) = app
                .post(
                    path,
                    json!({"amount": amount, "currency": "CNY", "counterparty": "HTU", "reason": "r"}),
                    Some(&bcu),
                )
                .await;
            assert_eq!(st, 422, "{v}");
            assert_eq!(v["error"]["fields"][0]["code"], code, "{v}");
        }

        // BCU owes HTU 12.50: booked in the next open month, not the closed one.
        let (st, c) = app.post(path, body, Some(&bcu)).await;
        assert_eq!(st, 201, "{c}");
        assert_eq!(c["amount"], json!({"minor": -1250, "currency": "CNY"}));
        assert_eq!(c["counterparty"], "HTU");
        let next = c["month"].as_str().unwrap().to_owned();
        assert!(next > month, "{next} after {month}");
        // The hub's admin records one for a member, the amount as a JSON number.
        let (st, h) = app
            .post(
                "/api/v1/libraries/HTU/fee-corrections",
                json!({"amount": 3, "currency": "CNY", "counterparty": "NSD", "reason": "Postage"}),
                Some(&hub),
            )
            .await;
        assert_eq!(st, 201, "{h}");
        assert_eq!(h["amount_text"], "3.00");
        // Both sides see it, each from its own side, newest first.
        let (_, list) = app
            .get(
                "/api/v1/libraries/HTU/fee-corrections",
                Some(&app.login("htu-admin").await),
            )
            .await;
        let seen: Vec<(&str, &str)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["counterparty"].as_str().unwrap(),
                    c["amount_text"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(seen, [("NSD", "3.00"), ("BCU", "12.50")], "{list}");
        // An event on each side says who recorded what and why.
        let id = c["id"].as_i64().unwrap();
        for (lib, signed) in [("BCU", -1250), ("HTU", 1250)] {
            let events = app
                .state
                .store
                .events(lib, &format!("fee-{id}"))
                .await
                .unwrap();
            assert_eq!(events.len(), 1, "{lib}");
            let e = &events[0];
            assert_eq!(
                (e.side.as_str(), e.action.as_str(), e.actor.as_str()),
                ("fees", "fee_correction", "library_admin")
            );
            assert_eq!(e.note.as_deref(), Some("Lost book refund 遗失赔偿"));
            let data = e.data.as_ref().unwrap();
            assert_eq!(data["amount_minor"], signed, "{lib}");
            assert_eq!(data["month"], next.as_str());
        }

        // The closed month did not change; the next one carries the corrections visibly.
        assert_eq!(bytes(&app, &csv_path, &hub).await.2, closed_csv);
        app.clock.advance(time::Duration::days(32));
        let hub = app.login("hub-admin").await;
        let (st, s) = app
            .post(
                &format!("/api/v1/settlements/{next}"),
                json!({}),
                Some(&hub),
            )
            .await;
        assert_eq!(st, 200, "{s}");
        assert_eq!(s["corrections"], 2, "{s}");
        assert_eq!(s["balance"], json!({"CNY": 0}), "{s}");
        let (_, _, csv) = bytes(
            &app,
            &format!("/api/v1/settlements/{next}/statements/BCU.csv"),
            &hub,
        )
        .await;
        let text = String::from_utf8(csv).unwrap();
        assert!(text.contains("人工更正 manual correction"), "{text}");
        assert!(
            text.contains("原因 reason: Lost book refund 遗失赔偿"),
            "{text}"
        );
        assert!(
            text.contains("清算中心 clearing centre,CNY,0.00,12.50,-12.50,1"),
            "{text}"
        );
        let (_, _, pdf) = bytes(
            &app,
            &format!("/api/v1/settlements/{next}/statements/HTU.pdf"),
            &hub,
        )
        .await;
        check_pdf(&pdf);
        if let Some(text) = pdf_text(&pdf) {
            // Table cells wrap: compare without the line breaks.
            let joined: String = text.split_whitespace().collect();
            assert!(joined.contains("Lostbookrefund遗失赔偿"), "{text}");
        }
    }
}

#[tokio::test]
async fn the_fees_page_links_each_statement_and_records_corrections_in_both_languages() {
    use crate::web::{get, post_form, web_login};
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let hub = app.login("hub-admin").await;
        let month = current_month(&app);
        let (st, _) = app
            .post(
                &format!("/api/v1/settlements/{month}"),
                json!({"mode": "bilateral"}),
                Some(&hub),
            )
            .await;
        assert_eq!(st, 200);
        let admin = web_login(&app, "bcu-admin").await;
        let page = get(&app, "/admin/fees", Some(&admin)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for ext in ["csv", "xlsx", "pdf"] {
            let href = format!("/admin/fees/statements/{month}/BCU.{ext}");
            assert!(
                page.body.contains(&format!("href=\"{href}\"")),
                "{ext}: {}",
                page.body
            );
        }
        let pdf = get(
            &app,
            &format!("/admin/fees/statements/{month}/BCU.pdf"),
            Some(&admin),
        )
        .await;
        assert_eq!(pdf.status, 200);
        assert_eq!(pdf.headers["content-type"], "application/pdf");
        assert!(pdf.body.starts_with("%PDF-1.4"));
        // The hub's admins see every member's statements and may download them.
        let hub_web = web_login(&app, "hub-admin").await;
        let page = get(&app, "/admin/fees", Some(&hub_web)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for code in ["BCU", "HTU", "NSD"] {
            let href = format!("/admin/fees/statements/{month}/{code}.pdf");
            assert!(page.body.contains(&href), "{code}: {}", page.body);
        }
        let htu = get(
            &app,
            &format!("/admin/fees/statements/{month}/HTU.xlsx"),
            Some(&hub_web),
        )
        .await;
        assert_eq!(htu.status, 200);
        // Only one's own library's statements, also through the page.
        let other = get(
            &app,
            &format!("/admin/fees/statements/{month}/HTU.pdf"),
            Some(&admin),
        )
        .await;
        assert_eq!(other.status, 403);

        let zh = format!("{admin}; librelay_lang=zh-CN");
        let bad = post_form(
            &app,
            "/admin/fees/corrections",
            Some(&zh),
            &[
                ("library", "BCU"),
                ("counterparty", "HTU"),
                ("amount", "十元"),
                ("currency", "CNY"),
                ("reason", ""),
            ],
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("金额应为金额"), "{}", bad.body);
        assert!(bad.body.contains("原因为必填项"), "{}", bad.body);
        assert!(bad.body.contains("value=\"十元\""), "typed values are kept");
        let bad = post_form(
            &app,
            "/admin/fees/corrections",
            Some(&admin),
            &[
                ("library", "BCU"),
                ("counterparty", ""),
                ("amount", "5"),
                ("currency", "CNY"),
                ("reason", "r"),
            ],
        )
        .await;
        assert_eq!(bad.status, 422);
        assert!(
            bad.body.contains("counterparty: the other library"),
            "{}",
            bad.body
        );
        let ok = post_form(
            &app,
            "/admin/fees/corrections",
            Some(&admin),
            &[
                ("library", "BCU"),
                ("counterparty", "XNU"),
                ("amount", "-8.80"),
                ("currency", "CNY"),
                ("reason", "Duplicate charge 重复收费"),
            ],
        )
        .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        assert_eq!(ok.location(), "/admin/fees?done=corrected");
        let page = get(&app, "/admin/fees?done=corrected", Some(&zh)).await;
        assert!(page.body.contains("更正已登记"), "{}", page.body);
        assert!(
            page.body.contains("Duplicate charge 重复收费"),
            "{}",
            page.body
        );
        assert!(page.body.contains("8.80 CNY"), "{}", page.body);
        // A library admin cannot record for another library.
        let other = post_form(
            &app,
            "/admin/fees/corrections",
            Some(&admin),
            &[
                ("library", "HTU"),
                ("counterparty", "XNU"),
                ("amount", "1"),
                ("currency", "CNY"),
                ("reason", "r"),
            ],
        )
        .await;
        assert_eq!(other.status, 422);
        assert!(other.body.contains("own library"), "{}", other.body);
    }
}

/// Checks a PDF's frame: header, `%%EOF`, and that every cross-reference entry points at
/// the start of its object.
fn check_pdf(pdf: &[u8]) {
    let rfind = |needle: &[u8]| pdf.windows(needle.len()).rposition(|w| w == needle);
    assert!(pdf.starts_with(b"%PDF-1."));
    assert!(pdf.ends_with(b"%%EOF\n"));
    let sx = rfind(b"startxref\n").expect("startxref") + 10;
    let xref: usize = std::str::from_utf8(&pdf[sx..])
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let table = std::str::from_utf8(&pdf[xref..]).expect("xref table is text");
    let mut lines = table.lines();
    assert_eq!(lines.next(), Some("xref"));
    let count: usize = lines.next().unwrap()[2..].parse().unwrap();
    assert!(count > 8, "{count} objects");
    for (n, entry) in lines.take(count).enumerate().skip(1) {
        let off: usize = entry[..10].parse().unwrap();
        assert!(
            pdf[off..].starts_with(format!("{n} 0 obj").as_bytes()),
            "xref entry {n} points at {off}, not at its object"
        );
    }
}

/// The text a PDF reader extracts (`pdftotext` from poppler-utils), or `None` with a note when
/// it is not installed.
fn pdf_text(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("statement.pdf");
    std::fs::write(&path, pdf).unwrap();
    match std::process::Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8(out.stdout).unwrap())
        }
        Err(_) => {
            println!("note: pdftotext (poppler-utils) is not installed; PDF text not extracted");
            None
        }
    }
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn generated_traffic_nets_to_zero_across_the_network_in_both_modes() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let hub = app.login("hub-admin").await;
        let libs = ["BCU", "XNU", "HTU", "CPL", "NSD"];
        let now = app.state.now();
        let mut rng = Lcg(8);
        let mut rows = Vec::new();
        let mut per_library: std::collections::BTreeMap<(String, String), i64> = Default::default();
        // Two months of traffic in two currencies.
        for month_back in [1i64, 2] {
            let at = now - time::Duration::days(31 * month_back);
            let month = format!("{}-{:02}", at.year(), u8::from(at.month()));
            for i in 0..400 {
                let l = libs[rng.next(5) as usize];
                let b = libs[rng.next(5) as usize];
                if l == b {
                    continue;
                }
                let currency = if rng.next(4) == 0 { "USD" } else { "CNY" };
                let amount = 100 + rng.next(5000) as i64;
                if month_back == 1 {
                    *per_library
                        .entry((l.to_owned(), currency.to_owned()))
                        .or_default() += amount;
                    *per_library
                        .entry((b.to_owned(), currency.to_owned()))
                        .or_default() -= amount;
                }
                rows.push(store::FeeLoad {
                    fee: store::NewFee {
                        lender_id: l.to_owned(),
                        borrower_id: b.to_owned(),
                        lend_request_id: format!("gen-l-{month_back}-{i}"),
                        borrow_request_id: format!("gen-b-{month_back}-{i}"),
                        service: "loan".to_owned(),
                        amount_minor: amount,
                        currency: currency.to_owned(),
                        basis: "generated".to_owned(),
                        occurred_at: at,
                    },
                    month: month.clone(),
                    kind: "charge",
                });
            }
        }
        app.state
            .store
            .write(move |tx| Box::pin(async move { tx.load_fees(&rows).await }))
            .await
            .unwrap();
        let last = now - time::Duration::days(31);
        let last = format!("{}-{:02}", last.year(), u8::from(last.month()));
        let (st, hubbed) = app
            .post(
                &format!("/api/v1/settlements/{last}"),
                json!({"mode": "hub"}),
                Some(&hub),
            )
            .await;
        assert_eq!(st, 200, "{hubbed}");
        assert_eq!(hubbed["balance"], json!({"CNY": 0, "USD": 0}), "{hubbed}");
        for p in hubbed["positions"].as_array().unwrap() {
            assert!(p["counterparty"].is_null());
            let key = (
                p["library"].as_str().unwrap().to_owned(),
                p["currency"].as_str().unwrap().to_owned(),
            );
            assert_eq!(p["net"].as_i64().unwrap(), per_library[&key], "{key:?}");
        }
        let before = now - time::Duration::days(62);
        let before = format!("{}-{:02}", before.year(), u8::from(before.month()));
        let (st, bilateral) = app
            .post(
                &format!("/api/v1/settlements/{before}"),
                json!({"mode": "bilateral"}),
                Some(&hub),
            )
            .await;
        assert_eq!(st, 200, "{bilateral}");
        assert_eq!(bilateral["balance"], json!({"CNY": 0, "USD": 0}));
        // Each pair's two lines are opposite.
        for p in bilateral["positions"].as_array().unwrap() {
            let mirror = bilateral["positions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|q| {
                    q["library"] == p["counterparty"]
                        && q["counterparty"] == p["library"]
                        && q["currency"] == p["currency"]
                })
                .unwrap();
            assert_eq!(p["net"].as_i64().unwrap(), -mirror["net"].as_i64().unwrap());
        }
        // Bad input is named; a month not begun cannot be closed; an unclosed one has no statement.
        let (st, v) = app
            .post(
                "/api/v1/settlements/2026-13",
                json!({"mode": "weekly"}),
                Some(&hub),
            )
            .await;
        assert_eq!(st, 422);
        let fields: Vec<&str> = v["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["month", "mode"]);
        let (st, v) = app
            .post("/api/v1/settlements/2999-01", json!({}), Some(&hub))
            .await;
        assert_eq!(
            (st, v["error"]["fields"][0]["code"].as_str()),
            (422, Some("future_month"))
        );
        let (st, _, _) = bytes(&app, "/api/v1/settlements/2999-01/statements/BCU.csv", &hub).await;
        assert_eq!(st, 409);
        let (st, _, _) = bytes(
            &app,
            &format!("/api/v1/settlements/{last}/statements/BCU.ods"),
            &hub,
        )
        .await;
        assert_eq!(st, 422);
    }
}

#[tokio::test]
async fn fee_and_settlement_routes_are_in_the_openapi_document() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let (st, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(st, 200);
    for (path, method) in [
        ("/api/v1/libraries/{code}/fees", "get"),
        ("/api/v1/libraries/{code}/fees", "put"),
        ("/api/v1/requests/{id}/fees", "get"),
        ("/api/v1/lending/{id}/fees", "get"),
        ("/api/v1/settlements/{month}", "post"),
        ("/api/v1/settlements/{month}", "get"),
        ("/api/v1/settlements/{month}/statements/{file}", "get"),
        ("/api/v1/libraries/{code}/fee-corrections", "get"),
        ("/api/v1/libraries/{code}/fee-corrections", "post"),
    ] {
        assert!(
            doc["paths"][path].get(method).is_some(),
            "OpenAPI lacks {method} {path}"
        );
    }
}

/// Closing nets inside the database; `domain::fees::net` is the same rule written in Rust.
/// On random months (several currencies, negative corrections, both modes) the two give the
/// same positions in the same order, and the head counts every charge and correction.
#[tokio::test]
async fn netting_in_the_database_matches_the_domain_rule() {
    use domain::fees::{Month, SettlementMode, net};
    use store::{FeeLoad, NewFee};
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let libs = ["BCU", "XNU", "HTU", "CPL", "NSD"];
        let mut seed: u64 = 7;
        let mut rnd = move |k: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % k
        };
        let now = app.state.now();
        let mut rows = Vec::new();
        for (month, n) in [("2025-03", 700), ("2025-04", 300)] {
            for k in 0..n {
                let l = rnd(5) as usize;
                let b = (l + 1 + rnd(4) as usize) % 5;
                let correction = k % 17 == 0;
                rows.push(FeeLoad {
                    fee: NewFee {
                        lender_id: libs[l].to_owned(),
                        borrower_id: libs[b].to_owned(),
                        lend_request_id: format!("l{month}{k}"),
                        borrow_request_id: format!("b{month}{k}"),
                        service: "loan".to_owned(),
                        amount_minor: if correction {
                            -(rnd(900) as i64)
                        } else {
                            1 + rnd(5000) as i64
                        },
                        currency: ["CNY", "CNY", "USD"][rnd(3) as usize].to_owned(),
                        basis: "test".to_owned(),
                        occurred_at: now,
                    },
                    month: month.to_owned(),
                    kind: if correction { "correction" } else { "charge" },
                });
            }
        }
        app.state
            .store
            .write(move |tx| Box::pin(async move { tx.load_fees(&rows).await }))
            .await
            .unwrap();
        for (month, mode, n, corrections) in [
            ("2025-03", SettlementMode::Bilateral, 700, 42),
            ("2025-04", SettlementMode::Hub, 300, 18),
        ] {
            let expected =
                net(&app.state.store.fee_pair_totals(month).await.unwrap(), mode).unwrap();
            let s = server::settle::close_month(
                &app.state.store,
                Month::parse(month).unwrap(),
                mode,
                "test",
                now,
            )
            .await
            .unwrap();
            assert_eq!(s.positions, expected, "{engine:?} {month}");
            assert!(s.positions.len() >= 10, "{}", s.positions.len());
            assert!(s.balance.values().all(|v| *v == 0), "{:?}", s.balance);
            assert_eq!((s.charges, s.corrections), (n, corrections), "{month}");
        }
    }
}

#[tokio::test]
async fn the_requests_service_level_not_the_ship_action_decides_the_express_fee() {
    for engine in engines() {
        let app = TestApp::spawn(engine).await;
        let bcu = app.login("bcu-borrow").await;
        let htu = app.login("htu-lend").await;
        // A normal request: a ship action that says "express" is refused, in both languages,
        // and changes nothing.
        let normal = request_to(&app, "loan", "HTU", "").await;
        let lend = app.lend_for(&htu, &normal).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.lend_action(&htu, &lend, json!({"action": "will_supply"}))
            .await;
        let (st, v) = app
            .post(
                &format!("/api/v1/lending/{lend}/actions"),
                json!({"action": "ship_physical", "barcode": "N1", "express": true}),
                Some(&htu),
            )
            .await;
        assert_eq!(st, 422, "{v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("normal service"), "{v}");
        let zh = v["error"]["message_zh"].as_str().unwrap_or_default();
        assert!(zh.contains("普通服务"), "{v}");
        let (_, got) = app
            .get(&format!("/api/v1/lending/{lend}"), Some(&htu))
            .await;
        assert_eq!(got["state"], "will_supply", "{got}");
        // Shipped as it asked: the loan fee alone.
        app.lend_action(
            &htu,
            &lend,
            json!({"action": "ship_physical", "barcode": "N1", "express": false}),
        )
        .await;
        let (_, fees) = app
            .get(&format!("/api/v1/requests/{normal}/fees"), Some(&bcu))
            .await;
        assert_eq!(fees[0]["amount"]["minor"], 1500, "{fees}");

        // An express request: the surcharge whatever the ship action leaves out, and a ship
        // action that calls it normal is refused.
        let express = request_with(&app, "loan", "HTU", "", true).await;
        let lend = app.lend_for(&htu, &express).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.lend_action(&htu, &lend, json!({"action": "will_supply"}))
            .await;
        let (st, v) = app
            .post(
                &format!("/api/v1/lending/{lend}/actions"),
                json!({"action": "ship_physical", "barcode": "E1", "express": false}),
                Some(&htu),
            )
            .await;
        assert_eq!(st, 422, "{v}");
        app.lend_action(
            &htu,
            &lend,
            json!({"action": "ship_physical", "barcode": "E1"}),
        )
        .await;
        let (_, fees) = app
            .get(&format!("/api/v1/requests/{express}/fees"), Some(&bcu))
            .await;
        assert_eq!(fees[0]["amount"]["minor"], 3000, "{fees}");
        assert!(
            fees[0]["basis"]
                .as_str()
                .unwrap_or_default()
                .contains("express"),
            "{fees}"
        );
    }
}
