//! Copyright and duplicates over HTTP: the library's copyright terms (the reader's declaration,
//! the rule-of-five limit, the compliance code, the duplicate window), clearing a request over
//! the limit, filling a request from a copy already delivered, and the yearly copyright report.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::copyright::{Clearance, CopyrightSettings};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::BorrowView;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::flow::copyright::{self as flow, ClearanceInput};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(clear))
        .routes(routes!(fill))
        .routes(routes!(report))
}

/// The caller's library's copyright terms (readers see them too: the declaration is theirs to
/// accept).
#[utoipa::path(get, path = "/api/v1/copyright-settings", tag = "borrowing",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn get_settings(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<axum::Json<CopyrightSettings>> {
    Ok(axum::Json(
        st.store.copyright_settings(&user.library_id).await?,
    ))
}

/// Set the library's terms (its admins): `declaration_en`, `declaration_zh`, `limit` (1–100
/// copies per journal per calendar year), `window_years` (1–50: articles younger than this
/// count), `compliance` (`CCG` or `CCL`), `duplicate_window_days` (1–3650).
#[utoipa::path(put, path = "/api/v1/copyright-settings", tag = "borrowing",
    request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(st): State<AppState>,
    user: CurrentUser,
    super::extract::Json(input): super::extract::Json<CopyrightSettings>,
) -> ApiResult<axum::Json<CopyrightSettings>> {
    Ok(axum::Json(save_settings(&st, &user, input).await?))
}

/// Check and store the library's copyright terms (its admins): the API's and the settings
/// page's one way.
pub async fn save_settings(
    st: &AppState,
    user: &CurrentUser,
    input: CopyrightSettings,
) -> ApiResult<CopyrightSettings> {
    if !user.roles.iter().any(|r| r.is_admin()) {
        return Err(ApiError::forbidden(
            "copyright terms are set by the library's admins",
            "版权条款由本馆管理员设置",
        ));
    }
    let errors = input.validate();
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let (lib, now, saved) = (user.library_id.clone(), st.now(), input.clone());
    st.store
        .write(move |tx| {
            Box::pin(async move { tx.set_copyright_settings(&lib, &saved, now).await })
        })
        .await?;
    Ok(input)
}

/// Clear copyright for a request over the library's limit, so that it may be approved and
/// sent: `{"method": "royalty_paid" | "permission" | "override", "note": "…",
/// "royalty_minor": 1500, "currency": "CNY"}` (an override needs its reason in `note`).
#[utoipa::path(post, path = "/api/v1/requests/{id}/copyright-clearance", tag = "borrowing",
    params(("id" = String, Path, description = "borrowing request id")),
    request_body = ClearanceInput,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn clear(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    super::extract::Json(input): super::extract::Json<ClearanceInput>,
) -> ApiResult<axum::Json<store::CopyrightUse>> {
    Ok(axum::Json(flow::clear(&st, &user, &id, input).await?))
}

/// Fill a copy request at once from the copy the library delivered for the earlier request it
/// repeats: the reader gets their own link (the library's view and day limits), no lender is
/// asked. 409 `no_delivered_copy` says why when that copy cannot be used.
#[utoipa::path(post, path = "/api/v1/requests/{id}/fill-from-copy", tag = "borrowing",
    params(("id" = String, Path, description = "borrowing request id")),
    responses((status = 200, body = BorrowView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn fill(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<BorrowView>> {
    let req = flow::fill_from_copy(&st, &user, &id).await?;
    let allowed = crate::flow::borrow::allowed_actions(&req, &user).ok();
    let mut view = BorrowView::new(req, allowed);
    annotate(&st, &mut view).await?;
    Ok(axum::Json(view))
}

/// Add the request's copyright standing, the earlier request it repeats and where it is
/// available already to its view.
pub async fn annotate(st: &AppState, view: &mut BorrowView) -> ApiResult<()> {
    if let Some(u) = st.store.copyright_use(&view.id).await? {
        view.copyright = Some(serde_json::json!({
            "journal": u.journal_title,
            "issn": u.issn,
            "publication_year": u.pub_year,
            "year": u.use_year,
            "counted": u.counted,
            "earlier_copies": u.earlier,
            "clearance": u.clearance,
            "clearance_required": Clearance::parse(&u.clearance) == Some(Clearance::Required),
        }));
    }
    if let Some(d) = st.store.duplicate_of(&view.id).await? {
        let req = st.store.borrow_request(&view.id).await?;
        let can_fill = flow::can_fill_from_copy(st, &req).await;
        view.duplicate = Some(serde_json::json!({
            "earlier_request_id": d.earlier_request_id,
            "matched_by": d.matched_by,
            "score_percent": d.score_percent,
            "can_fill_from_copy": can_fill,
        }));
    }
    let found = st.store.availability_of(&view.id).await?;
    if !found.is_empty() {
        let req = st.store.borrow_request(&view.id).await?;
        let can_fill = crate::flow::available::can_fill_from_link(st, &req).await;
        view.availability = Some(serde_json::json!({
            "can_fill_from_link": can_fill,
            "sources": found.iter().map(|a| serde_json::json!({
                "source": a.source,
                "status": a.status,
                "url": a.url,
                "reasons_en": a.detail.0["reasons_en"],
                "reasons_zh": a.detail.0["reasons_zh"],
                "facts": a.detail.0["facts"],
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// Calendar year, e.g. 2026 (default: this year).
    pub year: Option<String>,
    /// json (default) or csv.
    pub format: Option<String>,
}

/// One journal's copies in the report year, by publication year.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JournalRow {
    pub journal: String,
    pub issn: Option<String>,
    /// Publication year of the articles; absent where the citation gave none.
    pub publication_year: Option<i64>,
    /// Copy requests placed (cancelled and unfilled ones included).
    pub requests: i64,
    /// Requests counted against the limit (recent articles, not cancelled or unfilled).
    pub counted: i64,
    /// Copies the reader received.
    pub received: i64,
    /// Over the limit and still waiting for clearance.
    pub awaiting_clearance: i64,
    /// Requests that passed clearance, with how.
    pub cleared: Vec<ClearedRequest>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClearedRequest {
    pub request_id: String,
    pub method: String,
    pub note: Option<String>,
    pub royalty_minor: Option<i64>,
    pub currency: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CopyrightReport {
    pub library: String,
    pub year: i64,
    pub limit: u32,
    pub window_years: u32,
    pub journals: Vec<JournalRow>,
}

/// Copies of articles the library asked for in a calendar year, per journal and publication
/// year: requests, counted copies, copies received, and which requests passed clearance.
/// `format=csv` gives UTF-8 CSV with a byte order mark.
#[utoipa::path(get, path = "/api/v1/reports/copyright", tag = "borrowing", params(ReportQuery),
    responses((status = 200, body = CopyrightReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    if !user.can(domain::Actor::BorrowingStaff) {
        return Err(ApiError::forbidden(
            "the copyright report is for borrowing staff",
            "版权报告仅供借入馆员使用",
        ));
    }
    let year = match q.year.as_deref().map(str::trim) {
        None | Some("") => i64::from(st.now().year()),
        Some(y) => y
            .parse::<i64>()
            .ok()
            .filter(|y| (1900..=9999).contains(y))
            .ok_or_else(|| {
                ApiError::Invalid(vec![domain::citation::FieldError::new(
                    "year",
                    "invalid_year",
                    format!("year must be a four-digit year, not {y:?}"),
                )])
            })?,
    };
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::Invalid(vec![domain::citation::FieldError::new(
                "format",
                "invalid_format",
                format!("{other:?} is not json or csv"),
            )]));
        }
    };
    let settings = st.store.copyright_settings(&user.library_id).await?;
    let rows = st.store.copyright_year(&user.library_id, year).await?;
    let mut groups: BTreeMap<(String, Option<i64>), JournalRow> = BTreeMap::new();
    for r in rows {
        let u = r.usage;
        let state = domain::requester::BorrowState::parse(&r.state);
        let ended_without = state.is_some_and(|s| {
            matches!(
                s,
                domain::requester::BorrowState::Cancelled
                    | domain::requester::BorrowState::Unfilled
            )
        });
        let received = state.is_some_and(|s| s == domain::requester::BorrowState::Completed)
            && r.has_copy == 1;
        let g = groups
            .entry((u.journal_key.clone(), u.pub_year))
            .or_insert_with(|| JournalRow {
                journal: u.journal_title.clone(),
                issn: u.issn.clone(),
                publication_year: u.pub_year,
                requests: 0,
                counted: 0,
                received: 0,
                awaiting_clearance: 0,
                cleared: Vec::new(),
            });
        g.requests += 1;
        g.counted += i64::from(u.counted && !ended_without);
        g.received += i64::from(received);
        match Clearance::parse(&u.clearance) {
            Some(Clearance::Required) if !ended_without => g.awaiting_clearance += 1,
            Some(c) if c.is_clearing() => g.cleared.push(ClearedRequest {
                request_id: u.request_id.clone(),
                method: u.clearance.clone(),
                note: u.clearance_note.clone(),
                royalty_minor: u.royalty_minor,
                currency: u.royalty_currency.clone(),
            }),
            _ => {}
        }
    }
    let report = CopyrightReport {
        library: user.library_id.clone(),
        year,
        limit: settings.limit,
        window_years: settings.window_years,
        journals: groups.into_values().collect(),
    };
    if csv {
        return Ok(to_csv(&report));
    }
    Ok((StatusCode::OK, axum::Json(report)).into_response())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn to_csv(r: &CopyrightReport) -> Response {
    let mut out = String::from("\u{feff}");
    out.push_str("journal,issn,publication_year,requests,counted,received,awaiting_clearance,cleared,cleared_requests\r\n");
    for j in &r.journals {
        let cleared: Vec<String> = j
            .cleared
            .iter()
            .map(|c| format!("{} ({})", c.request_id, c.method))
            .collect();
        let row = [
            csv_field(&j.journal),
            j.issn.clone().unwrap_or_default(),
            j.publication_year
                .map(|y| y.to_string())
                .unwrap_or_default(),
            j.requests.to_string(),
            j.counted.to_string(),
            j.received.to_string(),
            j.awaiting_clearance.to_string(),
            j.cleared.len().to_string(),
            csv_field(&cleared.join("; ")),
        ];
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    let name = format!("attachment; filename=\"copyright-{}.csv\"", r.year);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        out,
    )
        .into_response()
}
