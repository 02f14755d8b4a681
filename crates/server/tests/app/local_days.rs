//! Days in each library's own time: a loan's due date counts from the lender's day of
//! shipping, a loan becomes overdue at the lender's midnight, and a reminder goes out on the
//! reader's library's day, for a library east of UTC (+08:00) and one west of it (-05:00).
//! The background sweeps are held back; each test runs them itself at the moments it picks.

use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::helpers::{Engine, TestApp, engines};

/// The two offsets each test runs with: China's, and one west of UTC.
const OFFSETS: [&str; 2] = ["+08:00", "-05:00"];

/// Run `check` on every engine at each of `OFFSETS`.
async fn at_each_offset<F, Fut>(check: F)
where
    F: Fn(Engine, &'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for e in engines() {
        for offset in OFFSETS {
            check(e, offset).await;
        }
    }
}

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
    at_each_offset(due_date_from_the_lenders_day).await;
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
    at_each_offset(overdue_at_the_lenders_midnight).await;
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
    at_each_offset(reminder_on_the_readers_day).await;
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
    at_each_offset(due_buckets_from_the_lenders_midnight).await;
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
    let (id, _) = loan_at_xnu(&app, "Answered on opening days").await;
    let (_, v) = app.get(&format!("/api/v1/requests/{id}"), Some(&bcu)).await;
    let deadline = time_of(&v["lender_deadline"]);
    let answer_days = answer_days_of_xnu_for_bcu(&app).await;
    // Until the end of the last of them at XNU: "answer within three working days".
    let last = local(day + Duration::days(answer_days), 23, 59, offset) + Duration::seconds(59);
    assert_eq!(
        deadline, last,
        "at {offset}: {answer_days} opening days after {day} end at {last}"
    );
}

fn time_of(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap_or_else(|| panic!("not a time: {v}")),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

async fn answer_days_of_xnu_for_bcu(app: &TestApp) -> i64 {
    app.state
        .store
        .write(|tx| Box::pin(async move { tx.policy_for("XNU", "BCU").await }))
        .await
        .unwrap()
        .map_or(3, |p| i64::from(p.answer_days.max(1)))
}

#[tokio::test]
async fn a_lenders_days_to_answer_are_its_own_opening_days() {
    at_each_offset(answer_days_on_the_lenders_calendar).await;
}

/// The ids `query` selects in XNU's queue, and that selection's count of `facet`'s `bucket`.
async fn xnu_bucket(app: &TestApp, query: &str, facet: &str, bucket: &str) -> (Vec<String>, i64) {
    let xnu = app.login("xnu-lend").await;
    let (st, v) = app
        .get(
            &format!("/api/v1/lending?scope=all&facets=true&{query}"),
            Some(&xnu),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let mut ids: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let count = v["facets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["facet"] == facet && f["value"] == bucket)
        .map_or(0, |f| f["count"].as_i64().unwrap());
    (ids, count)
}

/// The kept counts of XNU equal a recount of its requests in its own days.
async fn kept_counts_agree(app: &TestApp, what: &str) {
    app.assert_kept_counts(&["XNU"], what).await;
}

async fn created_buckets_from_the_lenders_midnight(engine: Engine, offset: &str) {
    let app = app_without_sweeps(engine).await;
    set_offset(&app, "XNU", offset).await;
    let day = tomorrow(&app, offset);
    // A moment whose UTC date is not the lender's: 07:30 at +08:00 is 23:30 UTC the day
    // before; 20:00 at -05:00 is 01:00 UTC the day after.
    let hour = if offset.starts_with('+') { 7 } else { 20 };
    go_to(&app, local(day, hour, 30, offset));
    let (_, lend_id) = loan_at_xnu(&app, "Came in this morning").await;
    let one = vec![lend_id.clone()];

    // Later the same day at the lender: created and modified today, whichever way counted.
    go_to(&app, local(day, hour + 2, 30, offset));
    for facet in ["created", "modified"] {
        let (ids, n) = xnu_bucket(&app, "", facet, "today").await;
        assert_eq!((ids, n), (one.clone(), 1), "{offset} {facet}: unfiltered");
        let (ids, n) = xnu_bucket(&app, &format!("{facet}=today"), facet, "today").await;
        assert_eq!((ids, n), (one.clone(), 1), "{offset} {facet}=today");
        let (ids, n) = xnu_bucket(&app, &format!("{facet}=week"), facet, "week").await;
        assert_eq!((ids, n), (Vec::new(), 0), "{offset} {facet}=week");
        let (_, n) = xnu_bucket(&app, "", facet, "week").await;
        assert_eq!(n, 0, "{offset} {facet}: none this week but today");
    }
    kept_counts_agree(&app, offset).await;

    // Half an hour after the lender's midnight it came in yesterday: this week, not today.
    go_to(&app, local(day + Duration::days(1), 0, 30, offset));
    for facet in ["created", "modified"] {
        let (ids, n) = xnu_bucket(&app, "", facet, "week").await;
        assert_eq!((ids, n), (one.clone(), 1), "{offset} {facet}: next day");
        let (_, n) = xnu_bucket(&app, "", facet, "today").await;
        assert_eq!(n, 0, "{offset} {facet}: next day, not today");
        let (ids, n) = xnu_bucket(&app, &format!("{facet}=week"), facet, "week").await;
        assert_eq!(
            (ids, n),
            (one.clone(), 1),
            "{offset} {facet}=week, next day"
        );
        let (ids, _) = xnu_bucket(&app, &format!("{facet}=today"), facet, "today").await;
        assert!(ids.is_empty(), "{offset} {facet}=today, next day");
    }

    // The library moves to another time: its kept days are counted again.
    let other = if offset.starts_with('+') {
        "-05:00"
    } else {
        "+08:00"
    };
    set_offset(&app, "XNU", other).await;
    kept_counts_agree(&app, &format!("{offset} then {other}")).await;
}

#[tokio::test]
async fn the_lending_queues_created_and_modified_buckets_start_at_the_lenders_midnight() {
    at_each_offset(created_buckets_from_the_lenders_midnight).await;
}

async fn offer_retry(app: &TestApp, lend_id: &str, after: Option<Date>, before: Date) {
    let xnu = app.login("xnu-lend").await;
    let mut body = json!({"action": "offer_retry", "reason": "OnLoan",
        "retry_before": before.to_string()});
    if let Some(a) = after {
        body["retry_after"] = json!(a.to_string());
    }
    app.lend_action(&xnu, lend_id, body).await;
}

async fn retry_days_are_the_lenders(engine: Engine, offset: &str) {
    let app = app_without_sweeps(engine).await;
    set_offset(&app, "XNU", offset).await;
    let bcu = app.login("bcu-borrow").await;
    let day = tomorrow(&app, offset);
    let (held, held_lend) = loan_at_xnu(&app, "Retried from the lender's day").await;
    let (late, late_lend) = loan_at_xnu(&app, "Accepted late on the last day").await;
    let (lapsed, lapsed_lend) = loan_at_xnu(&app, "Accepted after the last day").await;
    offer_retry(
        &app,
        &held_lend,
        Some(day + Duration::days(1)),
        day + Duration::days(1),
    )
    .await;
    offer_retry(&app, &late_lend, None, day).await;
    offer_retry(&app, &lapsed_lend, None, day).await;
    let path = |id: &str| format!("/api/v1/requests/{id}");
    for id in [&held, &late, &lapsed] {
        app.eventually(&path(id), &bcu, |v| v["state"] == "retry_offered")
            .await;
    }

    // An offer unanswered is declined once its last day has passed at the lender.
    let (_, v) = app.get(&path(&held), Some(&bcu)).await;
    assert_eq!(
        time_of(&v["lender_deadline"]),
        local(day + Duration::days(2), 0, 0, offset),
        "{offset}: {v}"
    );

    // Accepted now, the new request waits for the lender's midnight of its retry_after day,
    // and the lender's days to answer run from that day.
    app.borrow_action(&bcu, &held, json!({"action": "accept_retry"}))
        .await;
    let (_, pending) = app.get("/api/v1/outbox?status=pending", Some(&bcu)).await;
    let message = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "request" && m["request_id"] == held.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no held request in {pending}"));
    assert_eq!(
        time_of(&message["next_attempt_at"]),
        local(day + Duration::days(1), 0, 0, offset),
        "{offset}: {message}"
    );
    let xnu_days = app.state.store.library("XNU").await.unwrap().closed_days.0;
    let last = xnu_days.add_open_days(
        day + Duration::days(1),
        u32::try_from(answer_days_of_xnu_for_bcu(&app).await).unwrap(),
    );
    let (_, v) = app.get(&path(&held), Some(&bcu)).await;
    assert_eq!(
        time_of(&v["lender_deadline"]),
        local(last, 23, 59, offset) + Duration::seconds(59),
        "{offset}: {v}"
    );

    // The offer's last day is the lender's: half an hour before its midnight it still holds,
    // half an hour after it has lapsed.
    go_to(&app, local(day, 23, 30, offset));
    let (st, v) = app
        .post(
            &format!("{}/actions", path(&late)),
            json!({"action": "accept_retry"}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 200, "{offset}: late on its last day: {v}");
    go_to(&app, local(day + Duration::days(1), 0, 30, offset));
    let (st, v) = app
        .post(
            &format!("{}/actions", path(&lapsed)),
            json!({"action": "accept_retry"}),
            Some(&bcu),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("retry_offer_lapsed")),
        "{offset}: after its last day: {v}"
    );
}

#[tokio::test]
async fn a_retry_offers_days_are_the_lenders_own() {
    at_each_offset(retry_days_are_the_lenders).await;
}

/// The first day of the month after the one `d` is in.
fn first_of_next_month(d: Date) -> Date {
    let (y, m) = match d.month() {
        time::Month::December => (d.year() + 1, time::Month::January),
        m => (d.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1).unwrap()
}

/// A moment on a day at a month's edge whose UTC month is not the library's: 07:30 on the 1st
/// at +08:00 (23:30 UTC the month before); 21:00 on the last day at -05:00 (02:00 UTC the
/// month after). Returns the moment and the library's day of it.
fn month_edge(app: &TestApp, offset: &str) -> (OffsetDateTime, Date) {
    let next = first_of_next_month(tomorrow(app, offset));
    if offset.starts_with('+') {
        (local(next, 7, 30, offset), next)
    } else {
        let last = first_of_next_month(next) - Duration::days(1);
        (local(last, 21, 0, offset), last)
    }
}

async fn statistics_months_of_the_library(engine: Engine, offset: &str) {
    let app = app_without_sweeps(engine).await;
    set_offset(&app, "BCU", offset).await;
    let (at, day) = month_edge(&app, offset);
    go_to(&app, at);
    // Logged in after the clock moved (up to a month): a token lasts hours.
    let bcu = app.login("bcu-borrow").await;
    app.loan_for(&bcu, "bcu-faculty", "Asked for at a month's edge", &["XNU"])
        .await;
    let month = format!("{:04}-{:02}", day.year(), u8::from(day.month()));

    // Counted in BCU's month, and in a period of that one day of BCU's.
    let (st, v) = app
        .get(
            &format!("/api/v1/stats/borrowing?by=month&from={day}&to={day}"),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let groups: Vec<(String, i64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap().to_owned(),
                g["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [(month.clone(), 1), ("all".to_owned(), 1)],
        "{offset}: asked at {at}, BCU's {day}"
    );

    // BCU moves to another time: the summaries follow its months.
    let other = if offset.starts_with('+') {
        "-05:00"
    } else {
        "+08:00"
    };
    set_offset(&app, "BCU", other).await;
    let other_day = domain::library::LibraryOffset::parse(other)
        .unwrap()
        .date(at);
    let other_month = format!("{:04}-{:02}", other_day.year(), u8::from(other_day.month()));
    assert_ne!(other_month, month, "the edge is an edge in both times");
    let (_, v) = app
        .get(
            &format!("/api/v1/stats/borrowing?by=month&from={other_day}&to={other_day}"),
            Some(&bcu),
        )
        .await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|g| g["group"] == other_month.as_str() && g["requests"] == 1),
        "{offset} then {other}: {v}"
    );
}

#[tokio::test]
async fn statistics_count_a_request_in_its_librarys_own_day_and_month() {
    at_each_offset(statistics_months_of_the_library).await;
}

async fn fee_month_of_the_lender(engine: Engine, offset: &str) {
    let app = app_without_sweeps(engine).await;
    set_offset(&app, "XNU", offset).await;
    // BCU in the other time: the lender's month decides.
    let other = if offset.starts_with('+') {
        "-05:00"
    } else {
        "+08:00"
    };
    set_offset(&app, "BCU", other).await;
    let (at, day) = month_edge(&app, offset);
    let fee = store::NewFee {
        lender_id: "XNU".to_owned(),
        borrower_id: "BCU".to_owned(),
        lend_request_id: "L-edge".to_owned(),
        borrow_request_id: "B-edge".to_owned(),
        service: "loan".to_owned(),
        amount_minor: 500,
        currency: "CNY".to_owned(),
        basis: "test".to_owned(),
        // In UTC, as the clock gives it.
        occurred_at: at.to_offset(UtcOffset::UTC),
    };
    let row = app
        .state
        .store
        .write(move |tx| Box::pin(async move { tx.record_fee(&fee).await }))
        .await
        .unwrap();
    assert_eq!(
        row.month,
        format!("{:04}-{:02}", day.year(), u8::from(day.month())),
        "{offset}: charged at {at}, XNU's {day}"
    );
}

#[tokio::test]
async fn a_charge_counts_in_the_lending_librarys_month() {
    at_each_offset(fee_month_of_the_lender).await;
}

async fn import_partners_csv(app: &TestApp, token: &str, csv: &str) -> Value {
    let resp = app
        .client
        .post(format!("{}/api/v1/partners/import", app.base))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

async fn offset_of(app: &TestApp, code: &str) -> String {
    app.state
        .store
        .library(code)
        .await
        .unwrap()
        .offset()
        .to_string()
}

async fn partner_time(engine: Engine) {
    let app = app_without_sweeps(engine).await;
    set_offset(&app, "BCU", "-05:00").await;
    let admin = app.login("bcu-admin").await;

    // A partner added without a time is in the importing library's, not a fixed +08:00.
    let v = import_partners_csv(
        &app,
        &admin,
        "code,agency,name_en,name_zh\nPKU,ISIL:CN-100871,Peking University Library,北京大学图书馆\n",
    )
    .await;
    assert_eq!(v["created"], 1, "{v}");
    assert_eq!(offset_of(&app, "PKU").await, "-05:00");

    // Its admins give it its own; a bad one is named, in both languages.
    let v = import_partners_csv(
        &app,
        &admin,
        "code,agency,name_en,name_zh,utc_offset\n\
         PKU,ISIL:CN-100871,Peking University Library,北京大学图书馆,+09:00\n\
         NYP,ISIL:US-NN,New York Public Library,纽约公共图书馆,+25:00\n",
    )
    .await;
    assert_eq!(
        (v["updated"].as_i64(), v["rejected"].as_i64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(v["errors"][0]["field"], "utc_offset", "{v}");
    assert_eq!(v["errors"][0]["code"], "invalid_utc_offset", "{v}");
    assert!(
        v["errors"][0]["message_zh"]
            .as_str()
            .unwrap()
            .contains("时差"),
        "{v}"
    );
    assert_eq!(offset_of(&app, "PKU").await, "+09:00");

    // A file without the column keeps it.
    import_partners_csv(
        &app,
        &admin,
        "code,agency,name_en,name_zh\nPKU,ISIL:CN-100871,Peking University Library,北京大学图书馆\n",
    )
    .await;
    assert_eq!(offset_of(&app, "PKU").await, "+09:00");
}

#[tokio::test]
async fn a_partner_added_without_a_time_takes_the_importing_librarys_and_admins_can_set_it() {
    for e in engines() {
        partner_time(e).await;
    }
}
