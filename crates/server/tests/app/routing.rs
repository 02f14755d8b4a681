//! Routing through the API: the ranked lender string with its reasons in English and Chinese
//! for a realistic set of partners priced by their fee schedules, lenders over the reader's
//! limit asked last with why, lenders left out with why (no such service, no terms), lender
//! groups with tiers, measured fill rate and turnaround, a lender's "no" moving the request on
//! by itself, and the rule that sends without review.

use domain::library::{PartnerPolicy, Service};
use domain::money::{Currency, Money};
use serde_json::{Value, json};
use store::NewCatalogRecord;

use crate::helpers::{Engine, TestApp, engines};

/// A book of `isbn` held by each of `holders` (one item each).
async fn book(app: &TestApp, isbn: &str, title: &str, holders: &[&str]) -> Value {
    let rec = NewCatalogRecord {
        record_id: format!("route-{isbn}"),
        title: title.to_owned(),
        isbn: Some(isbn.to_owned()),
        ..Default::default()
    };
    let holders: Vec<String> = holders.iter().map(|h| (*h).to_owned()).collect();
    let now = app.state.now();
    app.state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.insert_catalog_record(&rec, now).await?;
                for h in &holders {
                    let barcode = format!("{h}-{}", rec.record_id);
                    tx.insert_holding(&rec.record_id, h, Some("QA76"), Some(&barcode))
                        .await?;
                }
                Ok::<_, store::StoreError>(())
            })
        })
        .await
        .unwrap();
    json!({"title": title, "isbn": isbn})
}

/// XNU charges BCU 5 CNY a loan (its own terms for BCU, not its default, and its schedule).
async fn xnu_charges_bcu(app: &TestApp) {
    let policy = PartnerPolicy {
        services: vec![Service::Loan, Service::Copy],
        loan_days: 30,
        answer_days: 3,
        loan_fee: Some(Money::new(500, Currency::parse("CNY").unwrap())),
        copy_fee: None,
        delivery_methods: vec!["courier".into()],
        payment_methods: vec!["hub_clearing".into()],
        active: true,
    };
    // Its fee schedule says the same (the demo's makes BCU a reciprocal partner): routing
    // prices a lender by its schedule where it keeps one.
    let schedule = domain::fees::FeeSchedule {
        currency: Currency::parse("CNY").unwrap(),
        rates: domain::fees::Rates {
            loan: 1000,
            ..Default::default()
        },
        partner_groups: vec![domain::fees::PartnerGroup {
            name: "BCU".into(),
            members: vec!["BCU".into()],
            rates: domain::fees::Rates {
                loan: 500,
                ..Default::default()
            },
        }],
        reciprocal_groups: vec![],
    };
    let now = app.state.now();
    app.state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.upsert_policy("XNU", Some("BCU"), &policy).await?;
                tx.set_fee_schedule("XNU", &schedule, now).await
            })
        })
        .await
        .unwrap();
}

async fn ask(app: &TestApp, token: &str, citation: Value) -> Value {
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "loan", "citation": citation}),
            Some(token),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    req
}

async fn lenders(app: &TestApp, token: &str, id: &str) -> Value {
    let (st, v) = app
        .get(&format!("/api/v1/requests/{id}/lenders"), Some(token))
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

fn codes(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["library"].as_str().unwrap().to_owned())
        .collect()
}

async fn string_with_reasons(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let reader = app.login("bcu-faculty").await;
    let staff = app.login("bcu-borrow").await;
    // Arrange: Jinghua Public (Beijing, free, 21-day loans, no fee schedule), Haitang
    // (Tianjin, 14 days; its fee schedule charges its region, BCU among it, 15.00 a loan),
    // Xishan (Beijing, 5.00 for BCU by its terms and its schedule), the document supplier
    // (copies only) and the hub (no lending terms) all hold the book.
    xnu_charges_bcu(&app).await;
    let mut citation = book(
        &app,
        "9780306406157",
        "Routing test book",
        &["CPL", "HTU", "XNU", "NSD", "HUB"],
    )
    .await;
    citation["max_cost"] = json!({"amount": "10.00", "currency": "CNY"});

    // Act
    let req = ask(&app, &reader, citation.clone()).await;
    let id = req["id"].as_str().unwrap();
    let v = lenders(&app, &staff, id).await;

    // Assert: the free partner first, then the paying one within the reader's limit; Haitang,
    // whose schedule asks more than the limit, last with why; the supplier and the hub are
    // left out with why.
    assert_eq!(codes(&v, "lenders"), ["CPL", "XNU", "HTU"], "{v}");
    let l = &v["lenders"];
    assert_eq!(
        l[0]["reason"],
        "1st: 0.00 CNY, free partner, same region, 13 km, no history yet, loan 21 days, holds 1"
    );
    assert_eq!(
        l[0]["reason_zh"],
        "第 1 位：免费，互惠馆，同地区，13 公里，暂无历史记录，借期 21 天，馆藏 1 册"
    );
    assert_eq!(
        l[1]["reason"],
        "2nd: 5.00 CNY, fee from its fee schedule, same region, 19 km, no history yet, loan 30 days, holds 1"
    );
    assert_eq!(
        l[2]["reason"],
        "3rd: 15.00 CNY, over the reader's limit 10.00 CNY: asked last, fee from its fee schedule, 123 km, no history yet, loan 14 days, holds 1"
    );
    assert_eq!(
        l[2]["reason_zh"],
        "第 3 位：费用 15.00 CNY，超出读者可接受的最高费用 10.00 CNY：排在最后，费用按其收费标准，123 公里，暂无历史记录，借期 14 天，馆藏 1 册"
    );
    assert_eq!(l[1]["fee"]["minor"], 500, "{v}");
    assert_eq!(l[2]["fee"]["minor"], 1500, "{v}");
    assert_eq!(l[0]["status"], "waiting");
    assert_eq!(codes(&v, "excluded"), ["HUB", "NSD"]);
    let x = &v["excluded"];
    assert_eq!(x[0]["code"], "no_terms");
    assert_eq!(x[1]["code"], "service_not_offered");
    assert_eq!(x[1]["reason"], "does not lend books");
    assert_eq!(x[1]["reason_zh"], "不提供借书服务");
    assert_eq!(
        x[1]["name_en"],
        "National Sci-Tech Document Supplier (demo)"
    );
    // The same string is part of the request resource.
    assert_eq!(req["rota"]["entries"][0]["library"], "CPL");

    // A reader who will pay at most 3 CNY: both paying lenders go to the end, cheaper first.
    citation["max_cost"] = json!({"amount": "3.00", "currency": "CNY"});
    let cheap = ask(&app, &reader, citation.clone()).await;
    let v = lenders(&app, &staff, cheap["id"].as_str().unwrap()).await;
    assert_eq!(codes(&v, "lenders"), ["CPL", "XNU", "HTU"], "{v}");
    assert_eq!(codes(&v, "excluded"), ["HUB", "NSD"]);
    assert_eq!(
        v["lenders"][1]["reason"],
        "2nd: 5.00 CNY, over the reader's limit 3.00 CNY: asked last, fee from its fee schedule, same region, 19 km, no history yet, loan 30 days, holds 1"
    );

    // The library puts Xishan in its first tier: it is asked first, and says why.
    let admin = app.login("bcu-admin").await;
    let settings = json!({"groups": [{"name": "Xishan first", "tier": 1, "members": ["XNU"]}]});
    let (st, body) = app
        .client
        .put(format!("{}/api/v1/routing-settings", app.base))
        .bearer_auth(&admin)
        .json(&settings)
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(st, 200, "{:?}", body.text().await);
    citation["max_cost"] = json!({"amount": "10.00", "currency": "CNY"});
    let tiered = ask(&app, &reader, citation.clone()).await;
    let v = lenders(&app, &staff, tiered["id"].as_str().unwrap()).await;
    assert_eq!(codes(&v, "lenders"), ["XNU", "CPL", "HTU"]);
    assert!(
        v["lenders"][0]["reason"].as_str().unwrap().starts_with(
            "1st: 5.00 CNY, fee from its fee schedule, tier 1 (Xishan first), same region"
        ),
        "{v}"
    );
    // A tier does not lift a lender over the reader's limit out of the last places.
    citation["max_cost"] = json!({"amount": "3.00", "currency": "CNY"});
    let over = ask(&app, &reader, citation.clone()).await;
    let v = lenders(&app, &staff, over["id"].as_str().unwrap()).await;
    assert_eq!(codes(&v, "lenders"), ["CPL", "XNU", "HTU"], "{v}");
    citation["max_cost"] = json!({"amount": "10.00", "currency": "CNY"});

    // Staff may edit the string before it goes; lenders the ranking chose keep their reasons.
    let tid = tiered["id"].as_str().unwrap();
    let (st, edited) = app
        .client
        .put(format!("{}/api/v1/requests/{tid}/lenders", app.base))
        .bearer_auth(&staff)
        .json(&json!({"lenders": ["HTU", "XNU"], "note": "Haitang has it on the shelf"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(st, 200, "{:?}", edited.text().await);
    let v = lenders(&app, &staff, tid).await;
    assert_eq!(codes(&v, "lenders"), ["HTU", "XNU"]);
    assert!(
        v["lenders"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("15.00 CNY, over the reader's limit")
    );

    // Bad settings are refused field by field; readers cannot see the string.
    let (st, _) = app
        .client
        .put(format!("{}/api/v1/routing-settings", app.base))
        .bearer_auth(&admin)
        .json(&json!({"groups": [{"name": "", "tier": 12, "members": ["not a code"]}]}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(st, 422);
    let (st, _) = app
        .get(&format!("/api/v1/requests/{id}/lenders"), Some(&reader))
        .await;
    assert_eq!(st, 403);

    // The staff page of the request shows the string with reasons and who was left out.
    let cookie = crate::web::web_login(&app, "bcu-borrow").await;
    let page = crate::web::get(&app, &format!("/requests/{id}"), Some(&cookie)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("1st: 0.00 CNY, free partner, same region, 13 km, no history yet"),
        "{}",
        page.body
    );
    assert!(page.body.contains("does not lend books"));
}

#[tokio::test]
async fn the_lender_string_is_ranked_with_reasons_and_lenders_left_out_say_why() {
    for e in engines() {
        string_with_reasons(e).await;
    }
}

async fn history_counts(engine: Engine) {
    let app = TestApp::spawn_with(engine, |c| c.routing_history_secs = 0).await;
    let reader = app.login("bcu-faculty").await;
    let staff = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let htu = app.login("htu-lend").await;
    let first = book(&app, "9787111213826", "First book", &["XNU", "HTU"]).await;
    let second = book(&app, "9781861972712", "Second book", &["XNU", "HTU"]).await;

    // Arrange: XNU says no, the request moves on to HTU by itself, HTU ships two days later.
    let req = ask(&app, &reader, first).await;
    let id = req["id"].as_str().unwrap().to_owned();
    app.borrow_action(&staff, &id, json!({"action": "approve"}))
        .await;
    let at_xnu = app.lend_for(&xnu, &id).await;
    app.lend_action(
        &xnu,
        at_xnu["id"].as_str().unwrap(),
        json!({"action": "reject", "reason": "NotOnShelf"}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &staff, |v| {
        v["lender"] == "HTU" && v["state"] == "sent"
    })
    .await;
    let v = lenders(&app, &staff, &id).await;
    assert_eq!(v["lenders"][0]["status"], "unfilled");
    assert_eq!(v["lenders"][1]["status"], "current");
    let at_htu = app.lend_for(&htu, &id).await;
    let lend_id = at_htu["id"].as_str().unwrap().to_owned();
    app.lend_action(&htu, &lend_id, json!({"action": "will_supply"}))
        .await;
    app.clock.advance(time::Duration::days(2));
    app.lend_action(
        &htu,
        &lend_id,
        json!({"action": "ship_physical", "barcode": "HTU-1"}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &staff, |v| {
        v["state"] == "shipped"
    })
    .await;

    // Act: the next request for a book both hold.
    let next = ask(&app, &reader, second).await;
    let v = lenders(&app, &staff, next["id"].as_str().unwrap()).await;

    // Assert: the history shows in the reasons (XNU stays first: same region and free to
    // BCU by its fee schedule; HTU's schedule charges BCU 15.00).
    assert_eq!(codes(&v, "lenders"), ["XNU", "HTU"]);
    let xnu_reason = v["lenders"][0]["reason"].as_str().unwrap();
    assert!(xnu_reason.contains("fill rate 0 %"), "{xnu_reason}");
    assert_eq!(
        v["lenders"][1]["reason"],
        "2nd: 15.00 CNY, fee from its fee schedule, 123 km, fill rate 100 %, median 2.0 days, loan 14 days, holds 1"
    );
    assert!(
        v["lenders"][1]["reason_zh"]
            .as_str()
            .unwrap()
            .contains("满足率 100%，中位周期 2.0 天")
    );
}

#[tokio::test]
async fn measured_fill_rate_and_turnaround_show_in_the_reasons_and_a_no_moves_on_by_itself() {
    for e in engines() {
        history_counts(e).await;
    }
}

async fn unmediated(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app.login("bcu-admin").await;
    let faculty = app.login("bcu-faculty").await;
    let student = app.login("bcu-undergraduate").await;
    let free = book(&app, "9787302123453", "Free to borrow", &["HTU", "CPL"]).await;
    xnu_charges_bcu(&app).await;
    let paid = book(&app, "9787040195835", "Only at a paying partner", &["XNU"]).await;
    let rules = json!({"unmediated": [{"patron_types": ["faculty"], "first_lender_free": true}]});
    let resp = app
        .client
        .put(format!("{}/api/v1/routing-settings", app.base))
        .bearer_auth(&admin)
        .json(&rules)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (st, got) = app.get("/api/v1/routing-settings", Some(&admin)).await;
    assert_eq!(st, 200);
    assert_eq!(got["unmediated"][0]["patron_types"][0], "faculty");

    // A faculty reader's request whose first lender is free goes out at once.
    let sent = ask(&app, &faculty, free.clone()).await;
    assert_eq!(sent["state"], "sent", "{sent}");
    assert_eq!(sent["lender"], "CPL");
    let lend = app.login("cpl-lend").await;
    let at_cpl = app.lend_for(&lend, sent["id"].as_str().unwrap()).await;
    assert_eq!(at_cpl["state"], "request_received");
    let (_, events) = app
        .get(
            &format!("/api/v1/requests/{}/events", sent["id"].as_str().unwrap()),
            Some(&faculty),
        )
        .await;
    let approve = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "approve")
        .unwrap();
    assert_eq!(approve["actor"], "system");

    // An undergraduate's waits for staff; so does a faculty request whose first lender charges.
    let waits = ask(&app, &student, free).await;
    assert_eq!(waits["state"], "pending_review");
    let charged = ask(&app, &faculty, paid).await;
    assert_eq!(charged["state"], "pending_review");
}

#[tokio::test]
async fn a_rule_sends_a_faculty_request_with_a_free_first_lender_at_once() {
    for e in engines() {
        unmediated(e).await;
    }
}

async fn post_file(app: &TestApp, token: &str, body: &str, content_type: &str) -> (u16, Value) {
    let resp = app
        .client
        .post(format!("{}/api/v1/partners/import", app.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn import_partners(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app.login("bcu-admin").await;
    let staff = app.login("bcu-borrow").await;
    let reader = app.login("bcu-faculty").await;
    let csv = "\u{feff}code,agency,name_en,name_zh,kind,region,services,loan_fee,copy_fee,loan_days,delivery_methods,payment_methods,closed_weekdays,closed_dates\n\
        PKU,ISIL:CN-100871,Peking University Library,北京大学图书馆,university,Beijing,loan;copy,,5.00,30,courier;url,hub_clearing,sunday,2026-10-01;2026-10-02\n\
        NOPE!,ISIL:CN-X,Bad code,坏代码,university,,,,,,,,,\n\
        XNU,ISIL:CN-XNU,Xishan Normal University Library,西山师范大学图书馆,university,Beijing,copy,,2.00,14,url,invoice,saturday;sunday,\n\
        FDU,ISIL:CN-200433,\"Fudan University Library, Shanghai\",复旦大学图书馆,university,Shanghai,,,abc,0,,,funday,\n\
        SHL,ISIL:CN-BCU,Shanghai Library,上海图书馆,public,Shanghai,loan,,,,,,,\n";

    // Act
    let (st, summary) = post_file(&app, &admin, csv, "text/csv").await;

    // Assert: the good rows are in, every bad one is named by line and field.
    assert_eq!(st, 200, "{summary}");
    assert_eq!(summary["read"], 5);
    assert_eq!(summary["created"], 1);
    assert_eq!(summary["updated"], 1);
    assert_eq!(summary["rejected"], 3);
    let errors: Vec<(u64, &str, &str)> = summary["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["field"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (3, "code", "invalid_library_code"),
            (5, "copy_fee", "invalid_amount"),
            (5, "loan_days", "out_of_range"),
            (5, "closed_weekdays", "invalid_weekday"),
            (6, "agency", "agency_id_taken"),
        ],
        "{summary}"
    );
    assert_eq!(
        summary["errors"][4]["message_zh"],
        "第 6 行 agency：机构标识已属于另一图书馆"
    );
    let (_, libs) = app.get("/api/v1/libraries", Some(&staff)).await;
    let lib = |code: &str| {
        libs.as_array()
            .unwrap()
            .iter()
            .find(|l| l["code"] == code)
            .cloned()
    };
    let pku = lib("PKU").expect("PKU imported");
    assert_eq!(pku["name_zh"], "北京大学图书馆");
    assert_eq!(pku["agency"], "ISIL:CN-100871");
    assert_eq!(pku["region"], "Beijing");
    assert_eq!(pku["lends_to_us"]["copy_fee"]["minor"], 500);
    assert_eq!(
        pku["lends_to_us"]["delivery_methods"],
        json!(["courier", "url"])
    );
    let xnu = lib("XNU").unwrap();
    assert_eq!(xnu["lends_to_us"]["services"], json!(["copy"]));
    assert_eq!(xnu["lends_to_us"]["loan_days"], 14);
    assert!(lib("FDU").is_none() && lib("SHL").is_none());
    let pku_row = app.state.store.library("PKU").await.unwrap();
    assert_eq!(pku_row.closed_days.0.dates.len(), 2);
    // Terms granted to BCU only: another borrower still gets XNU's default.
    let for_htu = app
        .state
        .store
        .policy_between("XNU", "HTU")
        .await
        .unwrap()
        .unwrap();
    assert!(for_htu.services.contains(&Service::Loan));

    // Routing follows the imported terms: XNU now supplies copies only.
    let citation = book(
        &app,
        "9787302123453",
        "Imported partners' book",
        &["PKU", "XNU"],
    )
    .await;
    let req = ask(&app, &reader, citation).await;
    let v = lenders(&app, &staff, req["id"].as_str().unwrap()).await;
    assert_eq!(codes(&v, "lenders"), ["PKU"]);
    assert_eq!(codes(&v, "excluded"), ["XNU"]);

    // Importing the same file again updates in place: nothing new.
    let (_, again) = post_file(&app, &admin, csv, "text/csv").await;
    assert_eq!(
        (again["created"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(2))
    );

    // JSON works the same way, by item number.
    let json_file = r#"[{"code": "NLC", "agency": "ISIL:CN-NLC", "name_en": "National Library of China",
                         "name_zh": "中国国家图书馆", "kind": "research", "services": ["copy"], "copy_fee": 3},
                        {"code": "BAD", "agency": "no colon", "name_en": "x", "name_zh": "y"}]"#;
    let (st, summary) = post_file(&app, &admin, json_file, "application/json").await;
    assert_eq!(st, 200, "{summary}");
    assert_eq!(
        (summary["created"].as_u64(), summary["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(summary["errors"][0]["line"], 2);
    assert_eq!(summary["errors"][0]["field"], "agency");

    // A file that cannot be read as a whole is refused, naming the column; staff may not import.
    let (st, body) = post_file(&app, &admin, "code,agencyy,name_en,name_zh\n", "text/csv").await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["code"], "unknown_column");
    assert!(
        body["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("agencyy")
    );
    let (st, _) = post_file(&app, &staff, csv, "text/csv").await;
    assert_eq!(st, 403);
}

#[tokio::test]
async fn a_partner_file_with_bad_rows_reports_them_and_imports_the_rest() {
    for e in engines() {
        import_partners(e).await;
    }
}

/// "3 Dec" and "12月3日", as the reasons write a day.
fn day_texts(d: time::Date) -> (String, String) {
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = u8::from(d.month());
    (
        format!("{} {}", d.day(), months[usize::from(m) - 1]),
        format!("{m}月{}日", d.day()),
    )
}

async fn distance_closures_and_methods(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app.login("bcu-admin").await;
    let staff = app.login("bcu-borrow").await;
    let reader = app.login("bcu-faculty").await;
    // Arrange: Haitang (another region) moves to a site about a kilometre from BCU and sends
    // by mail only, through the partner file with coordinates; Jinghua Public is closed today
    // and the next two days (library time).
    let csv = "code,agency,name_en,name_zh,kind,region,latitude,longitude,services,loan_days,delivery_methods,payment_methods\n\
        HTU,ISIL:CN-HTU,Haitang University of Technology Library,海棠理工大学图书馆,university,Tianjin,40.0600,116.4200,loan;copy,14,mail,hub_clearing\n\
        XNU,ISIL:CN-XNU,Xishan Normal University Library,西山师范大学图书馆,university,Beijing,91,116.2,loan;copy,30,courier,hub_clearing\n";
    let (st, summary) = post_file(&app, &admin, csv, "text/csv").await;
    assert_eq!(st, 200, "{summary}");
    assert_eq!(summary["updated"], 1, "{summary}");
    assert_eq!(summary["errors"][0]["field"], "latitude", "{summary}");
    assert_eq!(summary["errors"][0]["code"], "out_of_range", "{summary}");
    assert_eq!(
        summary["errors"][0]["message_zh"],
        "第 3 行 latitude：超出允许范围"
    );
    let htu = app.state.store.library("HTU").await.unwrap();
    assert_eq!(
        (htu.latitude_e6, htu.longitude_e6),
        (Some(40_060_000), Some(116_420_000))
    );
    // Haitang's fee schedule makes BCU a reciprocal partner, so that only distance and
    // closures tell the free lenders apart (the demo's schedule charges BCU).
    let free_to_bcu = domain::fees::FeeSchedule {
        currency: Currency::parse("CNY").unwrap(),
        rates: domain::fees::Rates {
            loan: 1500,
            ..Default::default()
        },
        partner_groups: vec![],
        reciprocal_groups: vec![domain::fees::ReciprocalGroup {
            name: "Beijing".into(),
            members: vec!["BCU".into()],
        }],
    };
    let now = app.state.now();
    app.state
        .store
        .write(move |tx| {
            Box::pin(async move { tx.set_fee_schedule("HTU", &free_to_bcu, now).await })
        })
        .await
        .unwrap();
    let today = app
        .state
        .now()
        .to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap())
        .date();
    let cpl = app.state.store.library("CPL").await.unwrap();
    let closed = store::LibraryRow {
        closed_days: store::Json(domain::calendar::ClosedDays {
            weekdays: vec![],
            dates: (0..3).map(|d| today + time::Duration::days(d)).collect(),
        }),
        ..cpl
    };
    app.state
        .store
        .write(move |tx| Box::pin(async move { tx.upsert_library(&closed).await }))
        .await
        .unwrap();
    let citation = book(
        &app,
        "9780262033848",
        "Distance test book",
        &["CPL", "HTU", "XNU"],
    )
    .await;

    // Act
    let req = ask(&app, &reader, citation.clone()).await;
    let v = lenders(&app, &staff, req["id"].as_str().unwrap()).await;

    // Assert: the nearest first though in another region, then Xishan at 19 km; Jinghua, the
    // nearest free one of all but closed, last, saying until when.
    assert_eq!(codes(&v, "lenders"), ["HTU", "XNU", "CPL"], "{v}");
    let l = &v["lenders"];
    assert_eq!(
        l[0]["reason"],
        "1st: 0.00 CNY, fee from its fee schedule, free partner, 1 km, no history yet, loan 14 days, holds 1"
    );
    assert_eq!(
        l[1]["reason"],
        "2nd: 0.00 CNY, fee from its fee schedule, free partner, same region, 19 km, no history yet, loan 30 days, holds 1"
    );
    let (en, zh) = day_texts(today + time::Duration::days(3));
    assert_eq!(
        l[2]["reason"],
        format!(
            "3rd: 0.00 CNY, closed until {en}, free partner, same region, 13 km, no history yet, loan 21 days, holds 1"
        )
    );
    assert_eq!(
        l[2]["reason_zh"],
        format!(
            "第 3 位：免费，闭馆至{zh}开馆，互惠馆，同地区，13 公里，暂无历史记录，借期 21 天，馆藏 1 册"
        )
    );

    // The library accepts delivery by courier or URL and pays through the hub only.
    let (st, body) = app
        .put_json(
            "/api/v1/routing-settings",
            json!({"delivery_methods": ["courier", "URL"], "payment_methods": ["hub_clearing"]}),
            &admin,
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, bad) = app
        .put_json(
            "/api/v1/routing-settings",
            json!({"payment_methods": [" "]}),
            &admin,
        )
        .await;
    assert_eq!(st, 422, "{bad}");
    assert_eq!(
        bad["error"]["fields"][0]["field"], "payment_methods",
        "{bad}"
    );
    assert_eq!(bad["error"]["fields"][0]["code"], "invalid_method_name");
    let req = ask(&app, &reader, citation.clone()).await;
    let v = lenders(&app, &staff, req["id"].as_str().unwrap()).await;

    // Assert: Haitang, by mail only, is left out and says why; the others say how they suit.
    assert_eq!(codes(&v, "lenders"), ["XNU", "CPL"], "{v}");
    assert!(
        v["lenders"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("19 km, delivery by courier or url, payment by hub_clearing,"),
        "{v}"
    );
    assert!(
        v["lenders"][1]["reason_zh"]
            .as_str()
            .unwrap()
            .contains("递送方式 courier/url，付款方式 hub_clearing"),
        "{v}"
    );
    assert_eq!(codes(&v, "excluded"), ["HTU"]);
    let x = &v["excluded"][0];
    assert_eq!(x["code"], "delivery_not_accepted");
    assert_eq!(
        x["reason"],
        "delivers only by mail, which we do not accept (we accept courier, URL)"
    );
    assert_eq!(
        x["reason_zh"],
        "仅以 mail 递送，本馆不接受（本馆接受 courier、URL）"
    );

    // Once Xishan charges, Jinghua, free though closed for the next days, comes before it: a
    // closure decides only between lenders of the same cost.
    xnu_charges_bcu(&app).await;
    let req = ask(&app, &reader, citation).await;
    let v = lenders(&app, &staff, req["id"].as_str().unwrap()).await;
    assert_eq!(codes(&v, "lenders"), ["CPL", "XNU"], "{v}");
    assert!(
        v["lenders"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("1st: 0.00 CNY, closed until {en}, free partner,")),
        "{v}"
    );

    // The routing page shows the methods, and a partner's page its coordinates.
    let cookie = crate::web::web_login(&app, "bcu-admin").await;
    let page = crate::web::get(&app, "/admin/routing", Some(&cookie)).await;
    assert!(page.body.contains("courier, URL"), "{}", page.body);
    let page = crate::web::get(&app, "/admin/partners/HTU", Some(&cookie)).await;
    assert!(
        page.body.contains("40.06") && page.body.contains("116.42"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn nearer_open_lenders_come_first_and_lenders_whose_methods_we_refuse_are_left_out() {
    for e in engines() {
        distance_closures_and_methods(e).await;
    }
}
