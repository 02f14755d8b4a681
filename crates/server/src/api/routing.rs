//! Routing: the ranked lender string of a borrowing request with the reasons for each place
//! and the lenders left out, staff's edits to it, and each library's routing settings (lender
//! groups with priority tiers, rules for sending without review).

use axum::extract::{Path, State};
use domain::Actor;
use domain::money::Money;
use domain::rota::RotaOutcome;
use domain::routing::RoutingSettings;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json;
use super::views::BorrowView;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::flow::ActionInput;
use crate::flow::borrow::{allowed_actions, borrow_action, visible_borrow};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lenders, edit_lenders))
        .routes(routes!(get_settings, put_settings))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LenderView {
    /// 1 for the first lender asked.
    pub position: usize,
    pub library: String,
    pub name_en: String,
    pub name_zh: String,
    /// Why the ranking put it here, in English ("2nd: 0.00 CNY, same region, fill rate 93 %").
    pub reason: String,
    /// The same in Chinese.
    pub reason_zh: String,
    #[schema(value_type = Option<Object>)]
    pub fee: Option<Money>,
    /// `current` (has the request now), `waiting` (not asked yet) or what it answered:
    /// `unfilled`, `no_answer`, `conditions_refused`, `cancelled`, `skipped`.
    pub status: String,
    /// The lender's own words, when it said no.
    pub note: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExcludedView {
    pub library: String,
    pub name_en: String,
    pub name_zh: String,
    /// `no_terms`, `inactive`, `service_not_offered`, `over_max_cost` or `currency_differs`.
    pub code: String,
    pub reason: String,
    pub reason_zh: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LendersView {
    pub request_id: String,
    pub state: String,
    pub lenders: Vec<LenderView>,
    /// Partners that hold the item but are not in the string, with why.
    pub excluded: Vec<ExcludedView>,
}

fn outcome_name(o: RotaOutcome) -> &'static str {
    match o {
        RotaOutcome::Unfilled => "unfilled",
        RotaOutcome::NoAnswer => "no_answer",
        RotaOutcome::ConditionsRefused => "conditions_refused",
        RotaOutcome::Cancelled => "cancelled",
        RotaOutcome::Skipped => "skipped",
        RotaOutcome::RetryDeclined => "retry_declined",
    }
}

fn require_staff(user: &CurrentUser) -> ApiResult<()> {
    if user.can(Actor::BorrowingStaff) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "the lender string is for borrowing staff",
            "出借馆序列仅供借入馆员使用",
        ))
    }
}

async fn names(st: &AppState, code: &str) -> (String, String) {
    match st.store.library(code).await {
        Ok(l) => (l.name_en, l.name_zh),
        Err(_) => (code.to_owned(), code.to_owned()),
    }
}

/// The request's lender string: each lender in order with the reasons for its place and what
/// it answered, and the partners left out with why.
#[utoipa::path(get, path = "/api/v1/requests/{id}/lenders", tag = "borrowing",
    params(("id" = String, Path, description = "borrowing request id")),
    responses((status = 200, body = LendersView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn lenders(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<LendersView>> {
    let req = visible_borrow(&st, &user, &id).await?;
    require_staff(&user)?;
    let rota = &req.rota.0;
    let mut lenders = Vec::new();
    for (i, e) in rota.entries.iter().enumerate() {
        let (name_en, name_zh) = names(&st, e.library.as_str()).await;
        let status = match e.outcome {
            Some(o) => outcome_name(o),
            None if rota.current == Some(i) => "current",
            None => "waiting",
        };
        lenders.push(LenderView {
            position: i + 1,
            library: e.library.to_string(),
            name_en,
            name_zh,
            reason: e.reason.clone(),
            reason_zh: if e.reason_zh.is_empty() {
                e.reason.clone()
            } else {
                e.reason_zh.clone()
            },
            fee: e.fee.clone(),
            status: status.to_owned(),
            note: e.note.clone(),
        });
    }
    let mut excluded = Vec::new();
    for x in &rota.excluded {
        let (name_en, name_zh) = names(&st, x.library.as_str()).await;
        excluded.push(ExcludedView {
            library: x.library.to_string(),
            name_en,
            name_zh,
            code: x.code.clone(),
            reason: x.reason.clone(),
            reason_zh: x.reason_zh.clone(),
        });
    }
    Ok(axum::Json(LendersView {
        request_id: req.request_id,
        state: req.state,
        lenders,
        excluded,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditLenders {
    /// Library codes of the lenders still to ask, in order. Lenders already asked keep their
    /// place and answer; a lender the ranking had chosen keeps its reasons.
    pub lenders: Vec<String>,
    /// Kept in the request's history.
    #[serde(default)]
    pub note: Option<String>,
}

/// Change the lenders still to ask (the `edit_rota` action), before or while the string runs.
#[utoipa::path(put, path = "/api/v1/requests/{id}/lenders", tag = "borrowing",
    params(("id" = String, Path, description = "borrowing request id")),
    request_body = EditLenders,
    responses((status = 200, body = BorrowView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn edit_lenders(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<EditLenders>,
) -> ApiResult<axum::Json<BorrowView>> {
    require_staff(&user)?;
    let input = ActionInput {
        action: "edit_rota".to_owned(),
        rota: Some(body.lenders),
        internal_note: body.note,
        ..ActionInput::default()
    };
    let req = borrow_action(&st, &user, &id, input).await?;
    let allowed = allowed_actions(&req, &user)?;
    Ok(axum::Json(BorrowView::new(req, Some(allowed))))
}

/// The caller's library's routing settings: lender groups with priority tiers (1 first;
/// lenders in no group after every tier) and the rules that send a new request at once.
#[utoipa::path(get, path = "/api/v1/routing-settings", tag = "borrowing",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_settings(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<axum::Json<RoutingSettings>> {
    require_staff(&user)?;
    Ok(axum::Json(
        crate::flow::route::settings(&st, &user.library_id).await?,
    ))
}

/// Set the library's routing settings (admins), e.g.
/// `{"groups": [{"name": "Jing-Jin", "tier": 1, "members": ["XNU", "CPL"]}],
///   "unmediated": [{"patron_types": ["faculty"], "first_lender_free": true}]}`.
/// Requests created later follow them.
#[utoipa::path(put, path = "/api/v1/routing-settings", tag = "admin",
    request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(st): State<AppState>,
    user: CurrentUser,
    Json(input): Json<RoutingSettings>,
) -> ApiResult<axum::Json<RoutingSettings>> {
    Ok(axum::Json(save_settings(&st, &user, input).await?))
}

/// Check and store the library's routing settings (its admins): the API's and the settings
/// page's one way.
pub async fn save_settings(
    st: &AppState,
    user: &CurrentUser,
    input: RoutingSettings,
) -> ApiResult<RoutingSettings> {
    if !user.roles.iter().any(|r| r.is_admin()) {
        return Err(ApiError::forbidden(
            "routing settings are set by the library's admins",
            "路由设置由本馆管理员设置",
        ));
    }
    let errors = input.validate();
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let (lib, now, saved) = (user.library_id.clone(), st.now(), input.clone());
    st.store
        .write(move |tx| Box::pin(async move { tx.set_routing_settings(&lib, &saved, now).await }))
        .await?;
    Ok(input)
}
