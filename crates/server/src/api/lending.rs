//! The lending queue: requests partner libraries sent us, worked by lending staff.

use super::extract::Json as Body;
use super::extract::Query;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use store::LendFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::requests::states_of;
use super::views::{ActionsView, EventView, LendView, Page};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::flow::ActionInput;
use crate::flow::lend::{allowed_actions, lend_action, visible_lend};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(events))
        .routes(routes!(actions, act))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LendQuery {
    /// Comma-separated states, e.g. `request_received,will_supply`.
    pub state: Option<String>,
    /// Words of the title, or a request id.
    pub q: Option<String>,
    /// Only requests from this borrowing library (code).
    pub borrower: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The library's lending queue, newest change first.
#[utoipa::path(get, path = "/api/v1/lending", tag = "lending", params(LendQuery),
    responses((status = 200, body = Page<LendView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<LendQuery>,
) -> ApiResult<Json<Page<LendView>>> {
    if user.is_patron() {
        return Err(ApiError::Forbidden(
            "the lending queue is for staff".to_owned(),
        ));
    }
    let filter = LendFilter {
        library_id: user.library_id.clone(),
        states: states_of(&q.state, |s| {
            domain::supplier::LendState::parse(s).is_some()
        })?,
        borrower_id: q.borrower.clone(),
        text: q.q.clone(),
        limit: q.limit.unwrap_or(50),
        offset: q.offset.unwrap_or(0),
    };
    let (rows, total) = st.store.lend_requests(&filter).await?;
    Ok(Json(Page {
        total,
        items: rows.into_iter().map(|r| LendView::new(r, None)).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/lending/{id}", tag = "lending",
    params(("id" = String, Path, description = "lending request id")),
    responses((status = 200, body = LendView), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LendView>> {
    let req = visible_lend(&st, &user, &id).await?;
    let allowed = allowed_actions(&req, &user)?;
    Ok(Json(LendView::new(req, Some(allowed))))
}

#[utoipa::path(get, path = "/api/v1/lending/{id}/events", tag = "lending",
    params(("id" = String, Path, description = "lending request id")),
    responses((status = 200, body = Vec<EventView>), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<EventView>>> {
    let req = visible_lend(&st, &user, &id).await?;
    let events = st.store.events(&req.library_id, &req.request_id).await?;
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/lending/{id}/actions", tag = "lending",
    params(("id" = String, Path, description = "lending request id")),
    responses((status = 200, body = ActionsView), (status = 404, body = ErrorBody)))]
pub async fn actions(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ActionsView>> {
    let req = visible_lend(&st, &user, &id).await?;
    let allowed = allowed_actions(&req, &user)?;
    Ok(Json(ActionsView {
        state: req.state,
        allowed,
    }))
}

/// Do an action: will_supply, expect_to_supply, conditional, locate, locate_failed,
/// print_pick_slip, reject, ship_physical, ship_digital, ship_non_returnable, answer_renew_yes,
/// answer_renew_no, recall, mark_overdue, mark_lost, check_in, reactivate.
#[utoipa::path(post, path = "/api/v1/lending/{id}/actions", tag = "lending",
    params(("id" = String, Path, description = "lending request id")),
    request_body = ActionInput,
    responses(
        (status = 200, body = LendView),
        (status = 400, description = "a detail the action needs is missing", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "action_not_allowed", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id, action = %input.action))]
pub async fn act(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(input): Body<ActionInput>,
) -> ApiResult<Json<LendView>> {
    let req = lend_action(&st, &user, &id, input).await?;
    let allowed = allowed_actions(&req, &user)?;
    Ok(Json(LendView::new(req, Some(allowed))))
}
