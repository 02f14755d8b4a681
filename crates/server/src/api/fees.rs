//! Fees and settlement: each lender's fee schedule (its admins and the hub's), the charges of
//! a request, closing a month (hub admins) and each library's statement of a closed month as
//! CSV, XLSX or PDF; and corrections admins record by hand after a month is closed.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use domain::citation::FieldError;
use domain::fees::{FeeSchedule, FeeScheduleInput, Month, SettlementMode};
use domain::people::Role;
use serde::{Deserialize, Serialize};
use store::FeeRow;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::settle::{self, SettleError, Settlement};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_schedule, put_schedule))
        .routes(routes!(request_fees))
        .routes(routes!(lending_fees))
        .routes(routes!(close, get_settlement))
        .routes(routes!(statement_file))
        .routes(routes!(list_corrections, post_correction))
}

impl From<SettleError> for ApiError {
    fn from(e: SettleError) -> Self {
        match e {
            SettleError::FutureMonth { .. } => ApiError::Invalid(vec![FieldError::new(
                "month",
                "future_month",
                e.to_string(),
            )]),
            SettleError::OtherMode { .. } => {
                ApiError::Unacceptable(409, "month_closed_in_other_mode", e.to_string())
            }
            SettleError::NotClosed { .. } => {
                ApiError::Unacceptable(409, "month_not_closed", e.to_string())
            }
            SettleError::UnknownLibrary(_) => ApiError::NotFound("library"),
            SettleError::Overflow => {
                ApiError::Unacceptable(422, "amount_out_of_range", e.to_string())
            }
            SettleError::Store(s) => ApiError::from(s),
            SettleError::Xlsx(m) => ApiError::internal(anyhow::anyhow!(m)),
        }
    }
}

fn is_hub_admin(user: &CurrentUser) -> bool {
    user.roles.contains(&Role::HubAdmin)
}

/// Library admins keep their own library's fees; hub admins those of every member of their hub.
pub(crate) async fn require_fee_admin(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
) -> ApiResult<String> {
    let lib = st
        .store
        .library(&code.trim().to_uppercase())
        .await
        .map_err(|_| ApiError::NotFound("library"))?;
    let own = lib.library_id == user.library_id;
    let allowed = (own && user.roles.iter().any(|r| r.is_admin()))
        || (is_hub_admin(user) && lib.hub_id.as_deref() == Some(user.library_id.as_str()));
    if allowed {
        Ok(lib.library_id)
    } else {
        Err(ApiError::forbidden(
            "fee schedules are kept by the library's admins and its hub's admins",
            "收费标准由本馆管理员和所属中心管理员维护",
        ))
    }
}

/// A schedule as shown: amounts in minor units of `currency`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeeScheduleView {
    pub library: String,
    /// null when the library charges nothing.
    #[schema(value_type = Option<Object>)]
    pub schedule: Option<FeeSchedule>,
}

/// The library's fee schedule: rates per service in minor units (loan; copy flat and per
/// page; express surcharge), partner groups with their own rates, reciprocal groups that pay
/// nothing, and the currency.
#[utoipa::path(get, path = "/api/v1/libraries/{code}/fees", tag = "fees",
    params(("code" = String, Path, description = "the lender's library code")),
    responses((status = 200, body = FeeScheduleView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_schedule(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<FeeScheduleView>> {
    let lib = require_fee_admin(&st, &user, &code).await?;
    let schedule = st.store.fee_schedule(&lib).await?;
    Ok(axum::Json(FeeScheduleView {
        library: lib,
        schedule,
    }))
}

/// Set the library's fee schedule. Every wrong field is named in the answer.
#[utoipa::path(put, path = "/api/v1/libraries/{code}/fees", tag = "fees",
    params(("code" = String, Path, description = "the lender's library code")),
    request_body(content = Object, description = "{currency, rates: {loan, copy_flat, copy_per_page, express}, partner_groups: [{name, members, rates}], reciprocal_groups: [{name, members}]}; amounts in minor units"),
    responses((status = 200, body = FeeScheduleView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_schedule(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Json(input): Json<FeeScheduleInput>,
) -> ApiResult<axum::Json<FeeScheduleView>> {
    let (library, schedule) = save_schedule(&st, &user, &code, input).await?;
    Ok(axum::Json(FeeScheduleView {
        library,
        schedule: Some(schedule),
    }))
}

/// The schedule of a library the user keeps fees for (`None`: it charges nothing yet), with
/// its code as stored.
pub async fn schedule_of(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
) -> ApiResult<(String, Option<FeeSchedule>)> {
    let lib = require_fee_admin(st, user, code).await?;
    let schedule = st.store.fee_schedule(&lib).await?;
    Ok((lib, schedule))
}

/// Check and store a library's fee schedule: the API's and the fees page's one way. Every
/// wrong field is named.
pub async fn save_schedule(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
    input: FeeScheduleInput,
) -> ApiResult<(String, FeeSchedule)> {
    let lib = require_fee_admin(st, user, code).await?;
    let codes: Vec<String> = st
        .store
        .libraries()
        .await?
        .into_iter()
        .map(|l| l.library_id)
        .collect();
    let schedule = input
        .check(&lib, &|c: &str| codes.iter().any(|k| k == c))
        .map_err(ApiError::Invalid)?;
    let now = st.now();
    let (l, s) = (lib.clone(), schedule.clone());
    st.store
        .write(move |tx| Box::pin(async move { tx.set_fee_schedule(&l, &s, now).await }))
        .await?;
    Ok((lib, schedule))
}

/// A charge as shown on a request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeeView {
    pub lender: String,
    pub borrower: String,
    pub lend_request_id: String,
    pub borrow_request_id: String,
    /// loan or copy.
    pub service: String,
    #[schema(value_type = Object)]
    pub amount: domain::money::Money,
    /// The amount as a decimal, e.g. "12.50".
    pub amount_text: String,
    pub basis: String,
    pub occurred_at: String,
    /// The settlement month it counts in.
    pub month: String,
    /// charge, or correction: a charge of an already closed month booked in a later one.
    pub kind: String,
}

fn fee_views(rows: Vec<FeeRow>) -> ApiResult<Vec<FeeView>> {
    rows.into_iter()
        .map(|f| {
            let currency = domain::money::Currency::parse(&f.currency)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("stored fee currency: {e}")))?;
            let amount = domain::money::Money::new(f.amount_minor, currency);
            Ok(FeeView {
                lender: f.lender_id,
                borrower: f.borrower_id,
                lend_request_id: f.lend_request_id,
                borrow_request_id: f.borrow_request_id,
                service: f.service,
                amount_text: amount.to_decimal_string(),
                amount,
                basis: f.basis,
                occurred_at: f
                    .occurred_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                month: f.month,
                kind: f.kind,
            })
        })
        .collect()
}

/// What the lender charged for one of our requests (empty: no charge, e.g. reciprocal).
#[utoipa::path(get, path = "/api/v1/requests/{id}/fees", tag = "fees",
    params(("id" = String, Path, description = "borrowing request id")),
    responses((status = 200, body = Vec<FeeView>), (status = 404, body = ErrorBody)))]
pub async fn request_fees(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<FeeView>>> {
    let req = crate::flow::borrow::visible_borrow(&st, &user, &id).await?;
    Ok(axum::Json(fee_views(
        st.store.fees_of_borrow_request(&req.request_id).await?,
    )?))
}

/// What we charged for one of the requests partners sent us.
#[utoipa::path(get, path = "/api/v1/lending/{id}/fees", tag = "fees",
    params(("id" = String, Path, description = "lending request id")),
    responses((status = 200, body = Vec<FeeView>), (status = 404, body = ErrorBody)))]
pub async fn lending_fees(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<FeeView>>> {
    let req = crate::flow::lend::visible_lend(&st, &user, &id).await?;
    Ok(axum::Json(fee_views(
        st.store.fees_of_lend_request(&req.request_id).await?,
    )?))
}

fn require_hub_admin(user: &CurrentUser) -> ApiResult<()> {
    if is_hub_admin(user) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "months are closed by the hub's admins",
            "月度结算由中心管理员关账",
        ))
    }
}

fn month(s: &str) -> ApiResult<Month> {
    Month::parse(s).ok_or_else(|| {
        ApiError::Invalid(vec![FieldError::new(
            "month",
            "invalid_month",
            format!("{s:?} is not a month such as 2026-11"),
        )])
    })
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseInput {
    /// bilateral (each pair of libraries settles one net amount) or hub (each library settles
    /// its net with the clearing centre); default hub.
    pub mode: Option<String>,
}

/// Close a month: net its charges and store every library's position. Closing a closed month
/// again in the same mode gives the same result; charges of a closed month that arrive later
/// are booked in the next open month as corrections.
#[utoipa::path(post, path = "/api/v1/settlements/{month}", tag = "fees",
    params(("month" = String, Path, description = "YYYY-MM")),
    request_body = CloseInput,
    responses((status = 200, body = Settlement), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn close(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(m): Path<String>,
    Json(input): Json<CloseInput>,
) -> ApiResult<axum::Json<Settlement>> {
    require_hub_admin(&user)?;
    let mut errors = Vec::new();
    let m = month(&m).map_err(|e| {
        if let ApiError::Invalid(f) = e {
            errors.extend(f);
        }
    });
    let mode = match input.mode.as_deref() {
        None => Some(SettlementMode::Hub),
        Some(s) => SettlementMode::parse(s).or_else(|| {
            errors.push(FieldError::new(
                "mode",
                "unknown_mode",
                format!("{s:?} is not bilateral or hub"),
            ));
            None
        }),
    };
    let (Ok(m), Some(mode), true) = (m, mode, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let s = settle::close_month(&st.store, m, mode, &user.username, st.now()).await?;
    Ok(axum::Json(s))
}

/// A closed month with every library's position.
#[utoipa::path(get, path = "/api/v1/settlements/{month}", tag = "fees",
    params(("month" = String, Path, description = "YYYY-MM")),
    responses((status = 200, body = Settlement), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn get_settlement(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(m): Path<String>,
) -> ApiResult<axum::Json<Settlement>> {
    require_hub_admin(&user)?;
    Ok(axum::Json(settle::closed(&st.store, month(&m)?).await?))
}

/// One library's statement of a closed month: `CODE.csv` (UTF-8 with a byte order mark),
/// `CODE.xlsx` or `CODE.pdf` (A4, Chinese in the reader's standard Song font). Hub admins get any member's; library admins their own library's.
#[utoipa::path(get, path = "/api/v1/settlements/{month}/statements/{file}", tag = "fees",
    params(("month" = String, Path, description = "YYYY-MM"),
           ("file" = String, Path, description = "the library code and format: BCU.csv, BCU.xlsx or BCU.pdf")),
    responses((status = 200, description = "the statement file", content_type = "text/csv"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn statement_file(
    State(st): State<AppState>,
    user: CurrentUser,
    Path((m, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    statement_download(&st, &user, &m, &file).await
}

/// A statement file as a download: the API's and the fees page's one way.
pub async fn statement_download(
    st: &AppState,
    user: &CurrentUser,
    m: &str,
    file: &str,
) -> ApiResult<Response> {
    let m = month(m)?;
    let bad_format = || {
        ApiError::Invalid(vec![FieldError::new(
            "file",
            "unknown_file_format",
            format!("{file:?} should be CODE.csv, CODE.xlsx or CODE.pdf"),
        )])
    };
    let (code, ext) = file.rsplit_once('.').ok_or_else(bad_format)?;
    if !matches!(ext, "csv" | "xlsx" | "pdf") {
        return Err(bad_format());
    }
    let code = code.trim().to_uppercase();
    let own_admin = code == user.library_id && user.roles.iter().any(|r| r.is_admin());
    if !own_admin {
        let refused = || {
            ApiError::forbidden(
                "statements are for the library's admins and the hub's admins",
                "对账单仅供本馆管理员和中心管理员查看",
            )
        };
        require_hub_admin(user).map_err(|_| refused())?;
        // The hub's admins read their own and their members' statements, not another hub's.
        let member = match st.store.library(&code).await {
            Ok(l) => {
                l.library_id == user.library_id || l.hub_id.as_deref() == Some(&user.library_id)
            }
            Err(store::StoreError::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        if !member {
            return Err(refused());
        }
    }
    let s = settle::statement(&st.store, m, &code).await?;
    let name = format!("statement-{}-{m}.{ext}", s.library);
    let (ctype, body) = match ext {
        "csv" => ("text/csv; charset=utf-8", s.to_csv()),
        "pdf" => ("application/pdf", s.to_pdf()),
        _ => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            s.to_xlsx()?,
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// A correction recorded by hand: `amount` is from the library's point of view (positive: the
/// counterparty owes it to the library; negative: the library owes it), a decimal in
/// `currency`; `reason` says why and is shown on both libraries' statements.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionInput {
    /// e.g. "12.50" or "-8.00" (a JSON number is taken too).
    #[schema(value_type = Option<String>)]
    pub amount: Option<serde_json::Value>,
    /// ISO 4217, e.g. CNY.
    pub currency: Option<String>,
    /// The other library's code.
    pub counterparty: Option<String>,
    pub reason: Option<String>,
}

const REASON_MAX: usize = 500;

/// The largest correction, in minor units (100,000,000.00): beyond any real fee, and far from
/// where a month's sums could overflow.
const MAX_CORRECTION_MINOR: i64 = 10_000_000_000;

/// Check and record a correction for library `code`: the API's and the fees page's one way.
/// It is booked in the first open month from now, as a correction, with an event on each side.
pub async fn record_correction(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
    input: CorrectionInput,
) -> ApiResult<FeeRow> {
    use domain::money::{Currency, Money};
    let lib = require_fee_admin(st, user, code).await?;
    let mut errors = Vec::new();
    let counterparty = input
        .counterparty
        .as_deref()
        .map(|c| c.trim().to_uppercase())
        .unwrap_or_default();
    if counterparty.is_empty() {
        errors.push(FieldError::new(
            "counterparty",
            "required",
            "counterparty: the other library's code is required",
        ));
    } else if counterparty == lib {
        errors.push(FieldError::new(
            "counterparty",
            "same_library",
            format!("counterparty: {counterparty} is the library itself"),
        ));
    } else {
        let own = st.store.library(&lib).await?;
        match st.store.library(&counterparty).await {
            // Corrections are between libraries of one network: the hub and its members.
            Ok(other) => {
                let network = |l: &store::LibraryRow| {
                    l.hub_id.clone().unwrap_or_else(|| l.library_id.clone())
                };
                if network(&own) != network(&other) {
                    errors.push(FieldError::new(
                        "counterparty",
                        "outside_network",
                        format!("counterparty: {counterparty} is not in the same hub as {lib}"),
                    ));
                }
            }
            Err(store::StoreError::NotFound) => errors.push(FieldError::new(
                "counterparty",
                "unknown_library",
                format!("counterparty: no library has the code {counterparty:?}"),
            )),
            Err(e) => return Err(e.into()),
        }
    }
    let currency_text = input.currency.as_deref().unwrap_or("").trim().to_owned();
    let currency = if currency_text.is_empty() {
        errors.push(FieldError::new(
            "currency",
            "required",
            "currency: a currency such as CNY is required",
        ));
        None
    } else {
        match Currency::parse(&currency_text) {
            Ok(c) => Some(c),
            Err(_) => {
                errors.push(FieldError::new(
                    "currency",
                    "invalid_currency",
                    format!("currency: {currency_text:?} is not a three-letter ISO 4217 code"),
                ));
                None
            }
        }
    };
    let amount_text = match &input.amount {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.trim().to_owned(),
        Some(other) => other.to_string(),
    };
    let mut amount = None;
    if amount_text.is_empty() {
        errors.push(FieldError::new(
            "amount",
            "required",
            "amount: an amount such as 12.50 or -12.50 is required",
        ));
    } else {
        // Read in the given currency's decimals, or CNY's while the currency is wrong, so
        // that a bad amount is reported too.
        let c = currency.clone().or_else(|| Currency::parse("CNY").ok());
        match c.map(|c| Money::parse_decimal(&amount_text, c)) {
            Some(Ok(m)) if m.minor == 0 => errors.push(FieldError::new(
                "amount",
                "zero_amount",
                "amount: a correction of zero changes nothing",
            )),
            Some(Ok(m)) if m.minor.checked_abs().is_none_or(|a| a > MAX_CORRECTION_MINOR) => {
                errors.push(FieldError::new(
                    "amount",
                    "amount_too_large",
                    "amount: at most 100,000,000.00 in one correction",
                ))
            }
            // A claim on another library is the hub's to record; a library records what it owes.
            Some(Ok(m)) if m.minor > 0 && !is_hub_admin(user) => errors.push(FieldError::new(
                "amount",
                "claim_needs_hub",
                "amount: only the hub's admins record a claim on another library; record what your library owes (a negative amount)",
            )),
            Some(Ok(m)) => amount = Some(m.minor),
            _ => errors.push(FieldError::new(
                "amount",
                "invalid_amount",
                format!("amount: {amount_text:?} is not an amount such as 12.50 or -12.50"),
            )),
        }
    }
    let reason = input.reason.as_deref().unwrap_or("").trim().to_owned();
    if reason.is_empty() {
        errors.push(FieldError::new(
            "reason",
            "required",
            "reason: say why the correction is made",
        ));
    } else if reason.chars().count() > REASON_MAX {
        errors.push(FieldError::new(
            "reason",
            "too_long",
            format!("reason: at most {REASON_MAX} characters"),
        ));
    }
    let (Some(minor), Some(currency), true) = (amount, currency, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let Some(size) = minor.checked_abs() else {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "amount",
            "invalid_amount",
            "amount: out of range",
        )]));
    };
    // Stored as a charge from the side that is owed to the side that owes.
    let (lender, borrower) = if minor > 0 {
        (lib.clone(), counterparty.clone())
    } else {
        (counterparty.clone(), lib.clone())
    };
    let fee = store::NewFee {
        lender_id: lender,
        borrower_id: borrower,
        lend_request_id: String::new(),
        borrow_request_id: String::new(),
        service: store::MANUAL_SERVICE.to_owned(),
        amount_minor: size,
        currency: currency.as_str().to_owned(),
        basis: reason.clone(),
        occurred_at: st.now(),
    };
    let actor = if is_hub_admin(user) {
        "hub_admin"
    } else {
        "library_admin"
    };
    let (user_id, now) = (user.user_id.clone(), st.now());
    let row = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let row = tx.record_manual_correction(&fee).await?;
                let request_id = format!("fee-{}", row.fee_transaction_id);
                for (side, other, signed) in
                    [(&lib, &counterparty, minor), (&counterparty, &lib, -minor)]
                {
                    let data = serde_json::json!({
                        "fee_transaction_id": row.fee_transaction_id,
                        "counterparty": other,
                        "amount_minor": signed,
                        "currency": row.currency,
                        "month": row.month,
                        "recorded_for": lib,
                    });
                    tx.insert_event(
                        &store::NewEvent {
                            library_id: side,
                            side: "fees",
                            request_id: &request_id,
                            actor_id: Some(user_id.as_str()),
                            actor,
                            action: "fee_correction",
                            from_state: None,
                            to_state: "recorded",
                            note: Some(row.basis.as_str()),
                            message_id: None,
                            data: Some(data),
                        },
                        now,
                    )
                    .await?;
                }
                Ok::<_, store::StoreError>(row)
            })
        })
        .await?;
    Ok(row)
}

/// A correction as shown: the fee row, with the amount from the library's point of view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CorrectionView {
    /// The fee transaction; its events are under the request id `fee-{id}`.
    pub id: i64,
    pub library: String,
    pub counterparty: String,
    /// Positive: the library receives it; negative: it pays.
    #[schema(value_type = Object)]
    pub amount: domain::money::Money,
    pub amount_text: String,
    pub reason: String,
    /// The open month it is booked in.
    pub month: String,
    pub recorded_at: String,
}

/// One manual correction from `library`'s side.
pub fn correction_view(library: &str, f: &FeeRow) -> ApiResult<CorrectionView> {
    let currency = domain::money::Currency::parse(&f.currency)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored fee currency: {e}")))?;
    let (signed, counterparty) = if f.lender_id == library {
        (f.amount_minor, f.borrower_id.clone())
    } else {
        (-f.amount_minor, f.lender_id.clone())
    };
    let amount = domain::money::Money::new(signed, currency);
    Ok(CorrectionView {
        id: f.fee_transaction_id,
        library: library.to_owned(),
        counterparty,
        amount_text: amount.to_decimal_string(),
        amount,
        reason: f.basis.clone(),
        month: f.month.clone(),
        recorded_at: f
            .occurred_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

/// The library's corrections recorded by hand, newest first (at most 200), including those
/// its partners or its hub recorded against it.
pub async fn corrections_of(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
) -> ApiResult<(String, Vec<CorrectionView>)> {
    let lib = require_fee_admin(st, user, code).await?;
    let rows = st.store.manual_corrections_of(&lib, 200).await?;
    let views = rows
        .iter()
        .map(|f| correction_view(&lib, f))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok((lib, views))
}

/// Corrections recorded by hand for or against the library, newest first.
#[utoipa::path(get, path = "/api/v1/libraries/{code}/fee-corrections", tag = "fees",
    params(("code" = String, Path, description = "library code")),
    responses((status = 200, body = Vec<CorrectionView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_corrections(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<Vec<CorrectionView>>> {
    Ok(axum::Json(corrections_of(&st, &user, &code).await?.1))
}

/// Record a correction after a month is closed (the library's admins or its hub's): it goes
/// into the next open month as a correction, visible on both libraries' statements with its
/// reason, and writes an event on each side. Every wrong field is named.
#[utoipa::path(post, path = "/api/v1/libraries/{code}/fee-corrections", tag = "fees",
    params(("code" = String, Path, description = "the library the amount is seen from")),
    request_body = CorrectionInput,
    responses((status = 201, body = CorrectionView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_correction(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Json(input): Json<CorrectionInput>,
) -> ApiResult<(axum::http::StatusCode, axum::Json<CorrectionView>)> {
    let row = record_correction(&st, &user, &code, input).await?;
    let lib = code.trim().to_uppercase();
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(correction_view(&lib, &row)?),
    ))
}
