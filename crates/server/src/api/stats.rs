//! Borrowing statistics of the caller's library, from the request history: counts, fill rate
//! and turnaround per stage, by reader type, department, lender, format, month or year; JSON,
//! or CSV (UTF-8 with a byte order mark, so spreadsheet programs read Chinese correctly).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use domain::Actor;
use domain::citation::FieldError;
use domain::stats::{GroupStats, RequestFacts, summarise};
use serde::Deserialize;
use time::{Date, OffsetDateTime, Time};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(borrowing))
}

const GROUPINGS: &[&str] = &[
    "patron_type",
    "department",
    "lender",
    "format",
    "month",
    "year",
];

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// patron_type (default), department, lender, format, month or year.
    pub by: Option<String>,
    /// First day (YYYY-MM-DD) of requests counted, by creation; default 1 January this year.
    pub from: Option<String>,
    /// Last day counted (YYYY-MM-DD); default today.
    pub to: Option<String>,
    /// json (default) or csv.
    pub format: Option<String>,
}

fn day(field: &'static str, v: Option<&str>, default: Date) -> Result<Date, FieldError> {
    match v {
        None => Ok(default),
        Some(s) => Date::parse(
            s.trim(),
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| FieldError::new(field, "invalid_date", format!("{s:?} is not YYYY-MM-DD"))),
    }
}

/// Requests, fills, fill rate and turnaround per stage (median and 90th percentile, in hours),
/// grouped as asked, with a total row `all`.
#[utoipa::path(get, path = "/api/v1/stats/borrowing", tag = "borrowing", params(StatsQuery),
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn borrowing(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<StatsQuery>,
) -> ApiResult<Response> {
    if !user.can(Actor::BorrowingStaff) {
        return Err(ApiError::forbidden(
            "statistics are for the library's staff",
            "统计数据仅供本馆馆员查看",
        ));
    }
    let today = st.now().date();
    let mut errors = Vec::new();
    let by = q.by.clone().unwrap_or_else(|| "patron_type".to_owned());
    if !GROUPINGS.contains(&by.as_str()) {
        errors.push(FieldError::new(
            "by",
            "unknown_grouping",
            format!("{by:?} is not one of {}", GROUPINGS.join(", ")),
        ));
    }
    let start_of_year = Date::from_ordinal_date(today.year(), 1).unwrap_or(today);
    let from = day("from", q.from.as_deref(), start_of_year);
    let to = day("to", q.to.as_deref(), today);
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            errors.push(FieldError::new(
                "format",
                "unknown_format",
                format!("{other:?} is not json or csv"),
            ));
            false
        }
    };
    let (from, to) = match (from, to) {
        (Ok(f), Ok(t)) => (f, t),
        (f, t) => {
            errors.extend(f.err());
            errors.extend(t.err());
            (today, today)
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let start = OffsetDateTime::new_utc(from, Time::MIDNIGHT);
    let end = OffsetDateTime::new_utc(to, Time::MIDNIGHT) + time::Duration::days(1);
    let requests = st.store.stat_requests(&user.library_id, start, end).await?;
    let mut events: HashMap<String, Vec<(String, OffsetDateTime)>> = HashMap::new();
    for e in st.store.stat_events(&user.library_id, start, end).await? {
        events
            .entry(e.request_id)
            .or_default()
            .push((e.action, e.at));
    }
    let facts = requests.into_iter().map(|r| {
        let group = match by.as_str() {
            "department" => r.department.clone(),
            // The lender that has it, else the last one that answered.
            "lender" => r.lender_id.clone().or_else(|| {
                r.rota
                    .0
                    .entries
                    .iter()
                    .rev()
                    .find(|e| e.outcome.is_some())
                    .map(|e| e.library.to_string())
            }),
            "format" => Some(r.format.clone()),
            "month" => Some(format!(
                "{}-{:02}",
                r.created_at.year(),
                u8::from(r.created_at.month())
            )),
            "year" => Some(r.created_at.year().to_string()),
            _ => r.patron_type.clone(),
        }
        .unwrap_or_else(|| "-".to_owned());
        RequestFacts {
            group,
            state: r.state,
            events: events.remove(&r.request_id).unwrap_or_default(),
        }
    });
    let stats = summarise(facts);
    if csv {
        return Ok(to_csv(&by, &stats).into_response());
    }
    Ok(axum::Json(stats).into_response())
}

fn to_csv(by: &str, stats: &[GroupStats]) -> Response {
    let mut out = String::from("\u{feff}");
    let mut head = vec![
        by.to_owned(),
        "requests".into(),
        "filled".into(),
        "unfilled".into(),
        "cancelled".into(),
        "fill_rate".into(),
    ];
    for (name, _, _) in domain::stats::STAGES {
        head.push(format!("{name}_median_hours"));
        head.push(format!("{name}_p90_hours"));
    }
    out.push_str(&head.join(","));
    out.push_str("\r\n");
    let num = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_default();
    for g in stats {
        let mut row = vec![
            csv_field(&g.group),
            g.requests.to_string(),
            g.filled.to_string(),
            g.unfilled.to_string(),
            g.cancelled.to_string(),
            num(g.fill_rate),
        ];
        for s in &g.stages {
            row.push(num(s.median_hours));
            row.push(num(s.p90_hours));
        }
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"borrowing-statistics.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
