//! Fees and settlement: each lender's fee schedule (its admins and the hub's), the charges of
//! a request, closing a month (hub admins) and each library's statement of a closed month as
//! CSV or XLSX.

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
async fn require_fee_admin(st: &AppState, user: &CurrentUser, code: &str) -> ApiResult<String> {
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

/// One library's statement of a closed month: `CODE.csv` (UTF-8 with a byte order mark) or
/// `CODE.xlsx`. Hub admins get any member's; library admins their own library's.
#[utoipa::path(get, path = "/api/v1/settlements/{month}/statements/{file}", tag = "fees",
    params(("month" = String, Path, description = "YYYY-MM"),
           ("file" = String, Path, description = "the library code and format, e.g. BCU.csv or BCU.xlsx")),
    responses((status = 200, description = "the statement file", content_type = "text/csv"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn statement_file(
    State(st): State<AppState>,
    user: CurrentUser,
    Path((m, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let m = month(&m)?;
    let (code, ext) = file.rsplit_once('.').ok_or_else(|| {
        ApiError::Invalid(vec![FieldError::new(
            "file",
            "unknown_file_format",
            format!("{file:?} should be CODE.csv or CODE.xlsx"),
        )])
    })?;
    if ext != "csv" && ext != "xlsx" {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "file",
            "unknown_file_format",
            format!("{file:?} should be CODE.csv or CODE.xlsx"),
        )]));
    }
    let code = code.trim().to_uppercase();
    let own_admin = code == user.library_id && user.roles.iter().any(|r| r.is_admin());
    if !own_admin {
        require_hub_admin(&user).map_err(|_| {
            ApiError::forbidden(
                "statements are for the library's admins and the hub's admins",
                "对账单仅供本馆管理员和中心管理员查看",
            )
        })?;
    }
    let s = settle::statement(&st.store, m, &code).await?;
    let name = format!("statement-{}-{m}.{ext}", s.library);
    let (ctype, body) = if ext == "csv" {
        ("text/csv; charset=utf-8", s.to_csv())
    } else {
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            s.to_xlsx()?,
        )
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
