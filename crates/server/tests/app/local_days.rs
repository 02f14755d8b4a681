//! Days in each library's own time: a loan's due date counts from the lender's day of
//! shipping, a loan becomes overdue at the lender's midnight, and a reminder goes out on the
//! reader's library's day, for a library east of UTC (+08:00) and one west of it (-05:00).
//! The background sweeps are held back; each test runs them itself at the moments it picks.

use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::helpers::{Engine, TestApp, engines};

/// The two offsets each test runs with: China's, and one west of UTC.
const OFFSETS: [&str; 2] = ["+08:00", "-05:00"];

/// The app with the sweeps held back (they run once at start, then not for an hour).
async fn app_without_sweeps(engine: Engine) -> TestApp {
    TestApp::spawn_with(engine, |c| c.sweep_interval_ms = 3_600_000).await
}

/// Set `code`'s time through the API, as its admin does.
async fn set_offset(app: &TestApp, code: &str, offset: &str) {
    let admin = app.login(&format!("{}-admin", code.to_lowercase())).await;
    let (st, v) = app
        .put_json(
            "/api/v1/library-time",
            json!({ "utc_offset": offset }),
            &admin,
        )
        .await;
    assert_eq!((st, v["utc_offset"].as_str()), (200, Some(offset)), "{v}");
}

fn utc_offset(offset: &str) -> UtcOffset {
    domain::library::LibraryOffset::parse(offset)
        .unwrap()
        .utc_offset()
}

/// `day` at `hour:minute` in the time `offset`.
fn local(day: Date, hour: u8, minute: u8, offset: &str) -> OffsetDateTime {
    PrimitiveDateTime::new(day, Time::from_hms(hour, minute, 0).unwrap())
        .assume_offset(utc_offset(offset))
}

/// Move the app's clock forward to `t`.
fn go_to(app: &TestApp, t: OffsetDateTime) {
    let by = t - app.state.now();
    assert!(by > Duration::ZERO, "the clock only moves forward (to {t})");
    app.clock.advance(by);
}

/// Tomorrow in the time `offset`: every moment of it is still to come.
fn tomorrow(app: &TestApp, offset: &str) -> Date {
    app.state.now().to_offset(utc_offset(offset)).date() + Duration::days(1)
}

/// A loan BCU asks XNU for, approved and received at XNU; returns (borrowing id, lending id).
async fn loan_at_xnu(app: &TestApp, title: &str) -> (String, String) {
    let bcu = app.login("bcu-borrow").await;
    let xnu = app.login("xnu-lend").await;
    let id = app.loan_for(&bcu, "bcu-faculty", title, &["XNU"]).await;
    app.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    let lend_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, lend_id)
}

async fn ship(app: &TestApp, lend_id: &str, due: Option<Date>) -> Value {
    let xnu = app.login("xnu-lend").await;
    let mut body = json!({"action": "ship_physical", "barcode": format!("B-{lend_id}")});
    if let Some(d) = due {
        body["due_date"] = json!(d.to_string());
    }
    app.lend_action(&xnu, lend_id, body).await
}

fn date_of(v: &Value) -> Date {
    let text = v["due_date"].as_str().unwrap_or_else(|| panic!("{v}"));
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap()
}

async fn loan_days_of_xnu_for_bcu(app: &TestApp) -> i64 {
    let policy = app
        .state
        .store
        .write(|tx| Box::pin(async move { tx.policy_for("XNU", "BCU").await }))
        .await
        .unwrap();
    i64::from(policy.map_or(28, |p| p.loan_days))
}

async fn due_date_from_the_lenders_day(engine: Engine, offset: &str) {
    let app = app_without_sweeps(engine).await;
    set_offset(&app, "XNU", offset).await;
    let loan_days = loan_days_of_xnu_for_bcu(&app).await;
    let day = tomorrow(&app, offset);
    let (_, late) = loan_at_xnu(&app, "Shipped late in the evening").await;
    let (_, early) = loan_at_xnu(&app, "Shipped early in the morning").await;

    // 23:30 at the lender (15:30 UTC at +08:00; 04:30 UTC the next day at -05:00).
    go_to(&app, local(day, 23, 30, offset));
    let shipped = ship(&app, &late, None).await;
    assert_eq!(
        date_of(&shipped),
        day + Duration::days(loan_days),
        "at {offset}, shipped on {day} in the evening: {shipped}"
    );

    // 07:30 the next morning at the lender (23:30 UTC the day before at +08:00).
    go_to(&app, local(day + Duration::days(1), 7, 30, offset));
    let shipped = ship(&app, &early, None).await;
    assert_eq!(
        date_of(&shipped),
        day + Duration::days(1 + loan_days),
        "at {offset}, shipped on the morning after {day}: {shipped}"
    );
}

#[tokio::test]
async fn a_loan_period_runs_from_the_lenders_own_day_of_shipping() {
    for e in engines() {
        for offset in OFFSETS {
            due_date_from_the_lenders_day(e, offset).await;
        }
    }
}

async fn overdue_at_the_lenders_midnight(engine: Engine, offset: &str) {
    let app = app_without_sweeps(engine).await;
    set_offset(&app, "XNU", offset).await;
    let xnu = app.login("xnu-lend").await;
    let day = tomorrow(&app, offset);
    let (_, lend_id) = loan_at_xnu(&app, "Due back tomorrow").await;
    ship(&app, &lend_id, Some(day)).await;
    let path = format!("/api/v1/lending/{lend_id}");

    // Half an hour before the lender's midnight the loan is due today, not late.
    go_to(&app, local(day, 23, 30, offset));
    assert_eq!(server::jobs::sweep_overdue(&app.state).await.unwrap(), 0);
    let (_, v) = app.get(&path, Some(&xnu)).await;
    assert_eq!(
        v["state"], "shipped",
        "at {offset}, late on its due day: {v}"
    );

    // Half an hour after it, the loan is overdue.
    go_to(&app, local(day + Duration::days(1), 0, 30, offset));
    assert_eq!(server::jobs::sweep_overdue(&app.state).await.unwrap(), 1);
    let (_, v) = app.get(&path, Some(&xnu)).await;
    assert_eq!(v["state"], "overdue", "at {offset}, the day after: {v}");
}

#[tokio::test]
async fn a_loan_is_overdue_from_the_lenders_midnight_after_its_due_date() {
    for e in engines() {
        for offset in OFFSETS {
            overdue_at_the_lenders_midnight(e, offset).await;
        }
    }
}

async fn reminder_on_the_readers_day(engine: Engine, offset: &str) {
    let app = app_without_sweeps(engine).await;
    set_offset(&app, "BCU", offset).await;
    let bcu = app.login("bcu-borrow").await;
    let day = tomorrow(&app, offset);
    // BCU reminds three days ahead (its default): due four days after `day`, the reminder
    // belongs to the day after `day`, from BCU's midnight.
    let due = day + Duration::days(4);
    let (id, lend_id) = loan_at_xnu(&app, "A reminder on the right day").await;
    ship(&app, &lend_id, Some(due)).await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "shipped"
    })
    .await;
    app.borrow_action(&bcu, &id, json!({"action": "receive"}))
        .await;
    app.borrow_action(&bcu, &id, json!({"action": "lend_to_patron"}))
        .await;

    go_to(&app, local(day, 23, 30, offset));
    assert_eq!(
        server::jobs::sweep_reminders(&app.state).await.unwrap(),
        0,
        "at {offset}, four days before {due} in BCU's time"
    );
    go_to(&app, local(day + Duration::days(1), 0, 30, offset));
    assert_eq!(
        server::jobs::sweep_reminders(&app.state).await.unwrap(),
        1,
        "at {offset}, three days before {due} in BCU's time"
    );
}

#[tokio::test]
async fn a_due_date_reminder_goes_out_on_the_readers_library_day() {
    for e in engines() {
        for offset in OFFSETS {
            reminder_on_the_readers_day(e, offset).await;
        }
    }
}

/// The lending requests `query` selects in XNU's queue, and that selection's count of the due
/// bucket `bucket` (with `facets=true`, from the kept counts or grouped from the requests).
async fn xnu_queue(app: &TestApp, query: &str, bucket: &str) -> (Vec<String>, i64) {
    let xnu = app.login("xnu-lend").await;
    let (st, v) = app
        .get(
            &format!("/api/v1/lending?scope=all&facets=true&{query}"),
            Some(&xnu),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let ids = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let count = v["facets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["facet"] == "due" && f["value"] == bucket)
        .map_or(0, |f| f["count"].as_i64().unwrap());
    (ids, count)
}

async fn due_buckets_from_the_lenders_midnight(engine: Engine, offset: &str) {
    let app = app_without_sweeps(engine).await;
    set_offset(&app, "XNU", offset).await;
    let day = tomorrow(&app, offset);
    let (_, lend_id) = loan_at_xnu(&app, "Due in the queue").await;
    ship(&app, &lend_id, Some(day)).await;

    // Half an hour into its due day at the lender: due today, not overdue.
    go_to(&app, local(day, 0, 30, offset));
    let (ids, today) = xnu_queue(&app, "due=today", "today").await;
    assert_eq!((ids, today), (vec![lend_id.clone()], 1), "{offset}");
    let (ids, _) = xnu_queue(&app, "task=overdue", "past").await;
    assert!(ids.is_empty(), "{offset}: not overdue on its due day");
    let (_, past) = xnu_queue(&app, "", "past").await;
    assert_eq!(past, 0, "{offset}");

    // Half an hour into the next day there: past due, and overdue before the sweep marks it.
    go_to(&app, local(day + Duration::days(1), 0, 30, offset));
    let (ids, past) = xnu_queue(&app, "due=past", "past").await;
    assert_eq!((ids, past), (vec![lend_id.clone()], 1), "{offset}");
    let (ids, _) = xnu_queue(&app, "task=overdue", "past").await;
    assert_eq!(ids, vec![lend_id.clone()], "{offset}");
    let (_, today) = xnu_queue(&app, "", "today").await;
    assert_eq!(today, 0, "{offset}");
}

#[tokio::test]
async fn the_lending_queues_due_buckets_start_at_the_lenders_midnight() {
    for e in engines() {
        for offset in OFFSETS {
            due_buckets_from_the_lenders_midnight(e, offset).await;
        }
    }
}

/// Close `code` on `day` (and on no other day).
async fn close_on(app: &TestApp, code: &str, day: Date) {
    let lib = app.state.store.library(code).await.unwrap();
    let row = store::LibraryRow {
        closed_days: store::Json(domain::calendar::ClosedDays {
            weekdays: Vec::new(),
            dates: vec![day],
        }),
        ..lib
    };
    app.state
        .store
        .write(move |tx| Box::pin(async move { tx.upsert_library(&row).await }))
        .await
        .unwrap();
}

async fn answer_days_on_the_lenders_calendar(engine: Engine, offset: &str) {
    let app = app_without_sweeps(engine).await;
    set_offset(&app, "XNU", offset).await;
    // A moment when XNU's date is not the UTC date: early morning east of UTC, late evening
    // west of it.
    let day = tomorrow(&app, offset);
    let hour = if offset.starts_with('+') { 4 } else { 21 };
    go_to(&app, local(day, hour, 0, offset));
    // XNU is closed today (its day); the request reaches it today, and its three opening
    // days to answer are the next three days.
    close_on(&app, "XNU", day).await;
    let bcu = app.login("bcu-borrow").await;
    let before = app.state.now();
    let (id, _) = loan_at_xnu(&app, "Answered on opening days").await;
    let after = app.state.now();
    let (_, v) = app.get(&format!("/api/v1/requests/{id}"), Some(&bcu)).await;
    let deadline = OffsetDateTime::parse(
        v["lender_deadline"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let answer_days = app
        .state
        .store
        .write(|tx| Box::pin(async move { tx.policy_for("XNU", "BCU").await }))
        .await
        .unwrap()
        .map_or(3, |p| i64::from(p.answer_days.max(1)));
    let days = Duration::days(answer_days);
    assert!(
        before + days <= deadline && deadline <= after + days,
        "at {offset}: {answer_days} opening days from {before} gave {deadline}"
    );
}

#[tokio::test]
async fn a_lenders_days_to_answer_are_its_own_opening_days() {
    for e in engines() {
        for offset in OFFSETS {
            answer_days_on_the_lenders_calendar(e, offset).await;
        }
    }
}
