//! What readers pay: the library's reader fee policy (charges per service and subsidies by
//! reader type, kept by its admins), readers' deposit accounts (topped up or refunded by
//! staff, every movement with who and why), and each request's charge with who paid it.

use axum::extract::{Path, State};
use domain::Actor;
use domain::money::{Currency, Money};
use domain::reader_fees::{DepositInput, Payer, ReaderFeePolicy, ReaderFeePolicyInput};
use serde::Serialize;
use store::{ChargeReviewRow, DepositMovementRow, NewDepositMovement, NewEvent, ReaderChargeRow};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_policy, put_policy))
        .routes(routes!(get_deposit, post_deposit))
        .routes(routes!(request_charge))
        .routes(routes!(my_charges))
}

/// The policy as shown; null when the library charges its readers nothing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReaderFeePolicyView {
    pub library: String,
    #[schema(value_type = Option<Object>)]
    pub policy: Option<ReaderFeePolicy>,
}

/// The reader fee policy of a library (its admins and its hub's): per service `none`,
/// `lender` (the lender's charge passed on) or `flat` (`flat` in minor units), and subsidies:
/// per reader type, loans and copies a calendar year the library pays.
#[utoipa::path(get, path = "/api/v1/libraries/{code}/reader-fees", tag = "fees",
    params(("code" = String, Path, description = "library code")),
    responses((status = 200, body = ReaderFeePolicyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_policy(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<ReaderFeePolicyView>> {
    let (library, policy) = policy_of(&st, &user, &code).await?;
    Ok(axum::Json(ReaderFeePolicyView { library, policy }))
}

/// Set the reader fee policy. Every wrong field is named.
#[utoipa::path(put, path = "/api/v1/libraries/{code}/reader-fees", tag = "fees",
    params(("code" = String, Path, description = "library code")),
    request_body(content = Object, description = "{currency, loan: {mode: none|lender|flat, flat}, copy: {mode, flat}, subsidies: [{patron_type, loans, copies}]}; amounts in minor units, quotas per calendar year"),
    responses((status = 200, body = ReaderFeePolicyView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_policy(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Json(input): Json<ReaderFeePolicyInput>,
) -> ApiResult<axum::Json<ReaderFeePolicyView>> {
    let (library, policy) = save_policy(&st, &user, &code, input).await?;
    Ok(axum::Json(ReaderFeePolicyView {
        library,
        policy: Some(policy),
    }))
}

/// The policy of a library the user keeps fees for, with its code as stored.
pub async fn policy_of(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
) -> ApiResult<(String, Option<ReaderFeePolicy>)> {
    let lib = super::fees::require_fee_admin(st, user, code).await?;
    let policy = st.store.reader_fee_policy(&lib).await?;
    Ok((lib, policy))
}

/// Check and store a policy: the API's and the admin page's one way.
pub async fn save_policy(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
    input: ReaderFeePolicyInput,
) -> ApiResult<(String, ReaderFeePolicy)> {
    let lib = super::fees::require_fee_admin(st, user, code).await?;
    let policy = input.check().map_err(ApiError::Invalid)?;
    let now = st.now();
    let (l, p, by) = (lib.clone(), policy.clone(), user.user_id.clone());
    st.store
        .write(move |tx| {
            Box::pin(async move {
                tx.set_reader_fee_policy(&l, &p, &by, now).await?;
                // What readers are expected to pay changed: so may the review flags.
                crate::flow::reader_fees::review_open_requests(tx, now, &l, None).await?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok((lib, policy))
}

fn money(minor: i64, currency: &str) -> ApiResult<Money> {
    let c = Currency::parse(currency)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored currency: {e}")))?;
    Ok(Money::new(minor, c))
}

/// An amount as shown: minor units, currency and the decimal text.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Amount {
    pub minor: i64,
    pub currency: String,
    /// e.g. "12.50"
    pub text: String,
}

impl Amount {
    fn of(minor: i64, currency: &str) -> ApiResult<Amount> {
        let m = money(minor, currency)?;
        Ok(Amount {
            minor,
            currency: currency.to_owned(),
            text: m.to_decimal_string(),
        })
    }
}

/// One movement of a reader's deposit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MovementView {
    pub id: i64,
    /// top_up, refund, charge or charge_refund (a charge given back: the reader did not get
    /// the item).
    pub kind: String,
    pub amount: Amount,
    /// The balance after it.
    pub balance: Amount,
    /// The request a charge was for.
    pub request_id: Option<String>,
    /// Why, in English (what staff typed, for a top-up or a refund).
    pub reason: String,
    /// Why, in Chinese: the system's own text for a charge or a charge given back; for a
    /// top-up or a refund what staff typed, as typed.
    pub reason_zh: String,
    /// The staff member who recorded it (none for a charge).
    pub recorded_by: Option<String>,
    pub at: String,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn movement_view(m: DepositMovementRow) -> ApiResult<MovementView> {
    Ok(MovementView {
        id: m.deposit_movement_id,
        amount: Amount::of(m.amount_minor, &m.currency)?,
        balance: Amount::of(m.balance_minor, &m.currency)?,
        kind: m.kind,
        request_id: m.borrow_request_id,
        reason_zh: m.reason_zh.unwrap_or_else(|| m.reason.clone()),
        reason: m.reason,
        recorded_by: m.actor_id,
        at: rfc3339(m.created_at),
    })
}

/// A reader's deposit: balances per currency and the latest movements.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DepositView {
    pub reader: String,
    pub balances: Vec<Amount>,
    pub movements: Vec<MovementView>,
}

/// The reader (an account of the user's library), when the user is borrowing staff or an
/// admin there, or the reader themselves when `own_ok`.
async fn reader_for(
    st: &AppState,
    user: &CurrentUser,
    reader_id: &str,
    own_ok: bool,
) -> ApiResult<store::UserRow> {
    let reader = st
        .store
        .user(reader_id)
        .await
        .map_err(|_| ApiError::NotFound("reader"))?;
    if reader.library_id != user.library_id || reader.kind != "patron" {
        return Err(ApiError::NotFound("reader"));
    }
    let staff = !user.is_patron() && user.can(Actor::BorrowingStaff);
    if staff || (own_ok && reader.user_id == user.user_id) {
        Ok(reader)
    } else {
        Err(ApiError::forbidden(
            "readers' deposits are kept by the library's borrowing staff",
            "读者预存款由本馆借入馆员管理",
        ))
    }
}

/// Movements shown with a deposit.
const MOVEMENTS_SHOWN: i64 = 200;

pub async fn deposit_of(st: &AppState, reader_id: &str) -> ApiResult<DepositView> {
    let balances = st
        .store
        .deposit_balances(reader_id)
        .await?
        .into_iter()
        .map(|b| Amount::of(b.balance_minor, &b.currency))
        .collect::<ApiResult<_>>()?;
    let movements = st
        .store
        .deposit_movements(reader_id, MOVEMENTS_SHOWN)
        .await?
        .into_iter()
        .map(movement_view)
        .collect::<ApiResult<_>>()?;
    Ok(DepositView {
        reader: reader_id.to_owned(),
        balances,
        movements,
    })
}

/// A reader's deposit: the reader themselves, and the library's borrowing staff and admins.
#[utoipa::path(get, path = "/api/v1/readers/{id}/deposit", tag = "fees",
    params(("id" = String, Path, description = "the reader's user id")),
    responses((status = 200, body = DepositView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_deposit(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DepositView>> {
    let reader = reader_for(&st, &user, &id, true).await?;
    Ok(axum::Json(deposit_of(&st, &reader.user_id).await?))
}

/// Top up a reader's deposit (a positive amount) or pay some back (negative; never below
/// zero). Borrowing staff and admins of the reader's library; the reason is required and kept
/// with who recorded it.
#[utoipa::path(post, path = "/api/v1/readers/{id}/deposit", tag = "fees",
    params(("id" = String, Path, description = "the reader's user id")),
    request_body(content = Object, description = "{amount: \"50.00\", currency: \"CNY\", reason}"),
    responses((status = 201, body = MovementView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_deposit(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(input): Json<DepositInput>,
) -> ApiResult<(axum::http::StatusCode, axum::Json<MovementView>)> {
    let m = record_deposit(&st, &user, &id, input).await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(m)))
}

/// Check and record a deposit movement with its event: the API's and the admin page's one
/// way. `reader` is a user id or a username of the library.
pub async fn record_deposit(
    st: &AppState,
    user: &CurrentUser,
    reader: &str,
    input: DepositInput,
) -> ApiResult<MovementView> {
    let reader = reader.trim();
    let id = match st.store.user_by_username(reader).await? {
        Some(u) if u.library_id == user.library_id => u.user_id,
        _ => reader.to_owned(),
    };
    let reader = reader_for(st, user, &id, false).await?;
    let balances = st.store.deposit_balances(&reader.user_id).await?;
    let movement = input
        .check(&|c: &Currency| {
            balances
                .iter()
                .find(|b| b.currency == c.as_str())
                .map_or(0, |b| b.balance_minor)
        })
        .map_err(ApiError::Invalid)?;
    let now = st.now();
    let (library, patron, actor) = (
        reader.library_id.clone(),
        reader.user_id.clone(),
        user.user_id.clone(),
    );
    let row = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let amount = movement.money.minor;
                let kind = if amount > 0 { "top_up" } else { "refund" };
                let row = tx
                    .move_deposit(
                        &NewDepositMovement {
                            library_id: &library,
                            patron_id: &patron,
                            currency: movement.money.currency.as_str(),
                            amount_minor: amount,
                            kind,
                            borrow_request_id: None,
                            reason: &movement.reason,
                            reason_zh: None,
                            actor_id: Some(&actor),
                        },
                        now,
                    )
                    .await?;
                let Some(row) = row else {
                    // Spent since it was checked: said like the check says it.
                    return Ok(None);
                };
                let id = format!("deposit-{}", row.deposit_movement_id);
                tx.insert_event(
                    &NewEvent {
                        library_id: &library,
                        side: "deposit",
                        request_id: &id,
                        actor_id: Some(&actor),
                        actor: "staff",
                        action: kind,
                        from_state: None,
                        to_state: "recorded",
                        note: Some(&movement.reason),
                        message_id: None,
                        data: Some(serde_json::json!({
                            "reader": patron,
                            "amount": movement.money,
                            "balance_minor": row.balance_minor,
                        })),
                    },
                    now,
                )
                .await?;
                crate::flow::reader_fees::review_open_requests(tx, now, &library, Some(&patron))
                    .await?;
                Ok::<_, ApiError>(Some(row))
            })
        })
        .await?;
    match row {
        Some(row) => movement_view(row),
        None => Err(ApiError::Invalid(vec![domain::citation::FieldError::new(
            "amount",
            "over_balance",
            "the amount is more than the balance",
        )])),
    }
}

/// A request's charge to its reader.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChargeView {
    pub request_id: String,
    /// loan or copy.
    pub service: String,
    pub amount: Amount,
    /// subsidy (the library pays), deposit (taken from the reader's deposit) or invoice (the
    /// reader owes it).
    pub payer: String,
    /// Who paid, in words (English and Chinese).
    pub payer_text: String,
    pub payer_text_zh: String,
    pub basis: String,
    pub basis_zh: String,
    pub at: String,
    /// When the charge was given back (the request ended without the reader getting the
    /// item); null while it stands.
    pub refunded_at: Option<String>,
    /// "refunded" in words, when it was (English and Chinese).
    pub refunded_text: Option<String>,
    pub refunded_text_zh: Option<String>,
}

pub fn charge_view(c: ReaderChargeRow) -> ApiResult<ChargeView> {
    let (en, zh) = Payer::parse(&c.payer).map_or(("", ""), Payer::words);
    Ok(ChargeView {
        amount: Amount::of(c.amount_minor, &c.currency)?,
        request_id: c.borrow_request_id,
        service: c.service,
        payer: c.payer,
        payer_text: en.to_owned(),
        payer_text_zh: zh.to_owned(),
        basis: c.basis,
        basis_zh: c.basis_zh,
        at: rfc3339(c.created_at),
        refunded_at: c.refunded_at.map(rfc3339),
        refunded_text: c
            .refunded_at
            .map(|_| "refunded: the reader did not get the item".to_owned()),
        refunded_text_zh: c
            .refunded_at
            .map(|_| "已退还：读者未收到所借资料".to_owned()),
    })
}

/// A request flagged for staff: the deposit did not cover the expected charge.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    pub expected: Amount,
    /// The balance when the request was placed.
    pub balance_then: Amount,
    pub message: String,
    pub message_zh: String,
    pub at: String,
}

pub fn review_view(r: ChargeReviewRow) -> ApiResult<ReviewView> {
    let expected = Amount::of(r.expected_minor, &r.currency)?;
    let balance_then = Amount::of(r.balance_minor, &r.currency)?;
    Ok(ReviewView {
        message: format!(
            "The reader's deposit ({} {}) does not cover the expected charge of {} {}: check before sending, the reader will be invoiced otherwise",
            balance_then.text, r.currency, expected.text, r.currency
        ),
        message_zh: format!(
            "读者预存款（{} {}）不足以支付预计费用 {} {}：请在发送前核实，否则将向读者开具账单",
            balance_then.text, r.currency, expected.text, r.currency
        ),
        expected,
        balance_then,
        at: rfc3339(r.created_at),
    })
}

/// What the reader pays for a request and who pays it, and its review flag.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestChargeView {
    /// null until the lender ships, and when the reader is not charged.
    pub charge: Option<ChargeView>,
    /// Present while the reader's deposit is not expected to cover the charge.
    pub review: Option<ReviewView>,
}

/// The reader's charge of a borrowing request (the reader and the library's staff).
#[utoipa::path(get, path = "/api/v1/requests/{id}/reader-charge", tag = "fees",
    params(("id" = String, Path, description = "borrowing request id")),
    responses((status = 200, body = RequestChargeView), (status = 404, body = ErrorBody)))]
pub async fn request_charge(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RequestChargeView>> {
    let req = crate::flow::borrow::visible_borrow(&st, &user, &id).await?;
    let charge = st
        .store
        .reader_charge(&req.request_id)
        .await?
        .map(charge_view)
        .transpose()?;
    let review = st
        .store
        .charge_review(&req.request_id)
        .await?
        .map(review_view)
        .transpose()?;
    Ok(axum::Json(RequestChargeView { charge, review }))
}

/// The reader's own charges and deposit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MyChargesView {
    pub charges: Vec<ChargeView>,
    pub deposit: DepositView,
}

/// Charges shown to a reader.
const CHARGES_SHOWN: i64 = 500;

pub async fn my_charges_of(st: &AppState, user: &CurrentUser) -> ApiResult<MyChargesView> {
    let charges = st
        .store
        .reader_charges_of(&user.user_id, CHARGES_SHOWN)
        .await?
        .into_iter()
        .map(charge_view)
        .collect::<ApiResult<_>>()?;
    Ok(MyChargesView {
        charges,
        deposit: deposit_of(st, &user.user_id).await?,
    })
}

/// The caller's own charges (newest first) and deposit.
#[utoipa::path(get, path = "/api/v1/me/charges", tag = "fees",
    responses((status = 200, body = MyChargesView), (status = 401, body = ErrorBody)))]
pub async fn my_charges(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<axum::Json<MyChargesView>> {
    Ok(axum::Json(my_charges_of(&st, &user).await?))
}
