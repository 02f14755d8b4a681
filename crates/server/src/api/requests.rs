//! Borrowing requests: readers create and follow theirs; borrowing staff work their library's.

use super::extract::Json as Body;
use super::extract::Query;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use store::BorrowFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::{ActionsView, BorrowView, EventView, Page};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};
use crate::flow::borrow::{allowed_actions, borrow_action, visible_borrow};
use crate::flow::desk::{self, Side};
use crate::flow::{ActionInput, CreateRequest, create_borrow_request};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one))
        .routes(routes!(events))
        .routes(routes!(actions, act))
        .routes(routes!(assign))
        .routes(routes!(bulk_assign))
        .routes(routes!(release))
        .routes(routes!(add_note))
        .routes(routes!(close_thread))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated states, e.g. `pending_review,sent`.
    pub state: Option<String>,
    /// Words of the title, or a request id.
    pub q: Option<String>,
    /// Staff: only this reader's requests.
    pub patron_id: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The comma-separated `state` filter, each name checked by `known` (the machine's own list).
pub fn states_of(s: &Option<String>, known: impl Fn(&str) -> bool) -> ApiResult<Vec<String>> {
    let states: Vec<String> = s
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    match states.iter().find(|st| !known(st)) {
        Some(bad) => Err(crate::error::ApiError::Invalid(vec![
            domain::citation::FieldError {
                message_zh: None,
                field: "state",
                code: "unknown_state",
                message: format!("{bad:?} is not a state"),
            },
        ])),
        None => Ok(states),
    }
}

/// Ask for a loan or a copy. Readers ask for themselves; borrowing staff name the reader.
#[utoipa::path(post, path = "/api/v1/requests", tag = "borrowing",
    request_body = CreateRequest,
    responses(
        (status = 201, body = BorrowView),
        (status = 401, body = ErrorBody),
        (status = 422, description = "invalid citation: every bad field is listed", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username))]
pub async fn create(
    State(st): State<AppState>,
    user: CurrentUser,
    Body(body): Body<CreateRequest>,
) -> ApiResult<(StatusCode, Json<BorrowView>)> {
    let req = create_borrow_request(&st, &user, body, domain::stats::Source::Api).await?;
    let allowed = allowed_actions(&req, &user).ok();
    metrics::counter!("librelay_requests_created_total").increment(1);
    let mut view = BorrowView::new(req, allowed);
    super::copyright::annotate(&st, &mut view).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A reader's own requests, or a staff member's library's, newest change first.
#[utoipa::path(get, path = "/api/v1/requests", tag = "borrowing", params(ListQuery),
    responses((status = 200, body = Page<BorrowView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<BorrowView>>> {
    let patron_id = if user.is_patron() {
        Some(user.user_id.clone())
    } else {
        q.patron_id.clone()
    };
    let filter = BorrowFilter {
        library_id: user.library_id.clone(),
        patron_id,
        states: states_of(&q.state, |s| {
            domain::requester::BorrowState::parse(s).is_some()
        })?,
        text: q.q.clone(),
        limit: q.limit.unwrap_or(50),
        offset: q.offset.unwrap_or(0),
    };
    let (rows, total) = st.store.borrow_requests(&filter).await?;
    Ok(Json(Page {
        total,
        items: rows.into_iter().map(|r| BorrowView::new(r, None)).collect(),
    }))
}

/// One request, with the actions the caller may take now.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "borrowing",
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = BorrowView), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<BorrowView>> {
    let req = visible_borrow(&st, &user, &id).await?;
    let mut view = detail(&st, &user, req).await?;
    super::copyright::annotate(&st, &mut view).await?;
    Ok(Json(view))
}

/// The request's history: every step with its actor and time.
#[utoipa::path(get, path = "/api/v1/requests/{id}/events", tag = "borrowing",
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = Vec<EventView>), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<EventView>>> {
    let req = visible_borrow(&st, &user, &id).await?;
    let events = st.store.events(&req.library_id, &req.request_id).await?;
    Ok(Json(
        events
            .into_iter()
            .filter(|e| !(user.is_patron() && desk::staff_only(&e.action)))
            .map(EventView::from)
            .collect(),
    ))
}

/// What the caller may do now.
#[utoipa::path(get, path = "/api/v1/requests/{id}/actions", tag = "borrowing",
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = ActionsView), (status = 404, body = ErrorBody)))]
pub async fn actions(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ActionsView>> {
    let req = visible_borrow(&st, &user, &id).await?;
    let allowed = crate::flow::borrow::allowed_actions_now(&st.store, &req, &user).await?;
    Ok(Json(ActionsView {
        state: req.state,
        allowed,
    }))
}

/// Do an action: approve, edit_rota, cancel, accept_conditions, reject_conditions, receive,
/// lend_to_patron, deliver_to_patron, patron_return, ship_return, renew, mark_lost, reactivate.
#[utoipa::path(post, path = "/api/v1/requests/{id}/actions", tag = "borrowing",
    params(("id" = String, Path, description = "request id")),
    request_body = ActionInput,
    responses(
        (status = 200, body = BorrowView),
        (status = 403, description = "the action is not for this user", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "action_not_allowed: names the state and the allowed actions", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id, action = %input.action))]
pub async fn act(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(input): Body<ActionInput>,
) -> ApiResult<Json<BorrowView>> {
    let req = borrow_action(&st, &user, &id, input).await?;
    Ok(Json(detail(&st, &user, req).await?))
}

/// Assign a borrowing request to a staff member (or to oneself), with an optional note; an
/// `assign` event in its history, and the "assigned" letter to the assignee.
#[utoipa::path(post, path = "/api/v1/requests/{id}/assign", tag = "borrowing",
    params(("id" = String, Path, description = "request id")),
    request_body = super::lending::AssignBody,
    responses(
        (status = 200, body = BorrowView),
        (status = 404, body = ErrorBody),
        (status = 422, description = "note_too_long (over 1,000 characters) or assignee_not_staff; in English and Chinese", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn assign(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(body): Body<super::lending::AssignBody>,
) -> ApiResult<Json<BorrowView>> {
    desk::assign(
        &st,
        &user,
        Side::Borrow,
        &id,
        body.assignee.as_deref(),
        body.note.as_deref(),
    )
    .await?;
    current(&st, &user, &id).await
}

/// Assign or release many borrowing requests, as the borrowing queue page's bulk form does:
/// each one on its own, through the same steps as one, the refusals listed.
#[utoipa::path(post, path = "/api/v1/requests/assignments", tag = "borrowing",
    request_body = super::lending::BulkAssignBody,
    responses(
        (status = 200, body = super::lending::BulkResult),
        (status = 403, body = ErrorBody),
        (status = 422, description = "too many ids, note_too_long or assignee_not_staff; in English and Chinese", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, n = body.ids.len()))]
pub async fn bulk_assign(
    State(st): State<AppState>,
    user: CurrentUser,
    Body(body): Body<super::lending::BulkAssignBody>,
) -> ApiResult<Json<super::lending::BulkResult>> {
    Ok(Json(
        super::lending::bulk(
            &st,
            &user,
            Side::Borrow,
            &body.ids,
            body.release,
            body.assignee.as_deref(),
            body.note.as_deref(),
        )
        .await?,
    ))
}

/// Take a borrowing request off whoever has it, with an optional note (a `release` event).
#[utoipa::path(post, path = "/api/v1/requests/{id}/release", tag = "borrowing",
    params(("id" = String, Path, description = "request id")),
    request_body = super::lending::ReleaseBody,
    responses(
        (status = 200, body = BorrowView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not_assigned", body = ErrorBody),
        (status = 422, description = "note_too_long", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn release(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(body): Body<super::lending::ReleaseBody>,
) -> ApiResult<Json<BorrowView>> {
    desk::release(&st, &user, Side::Borrow, &id, body.note.as_deref()).await?;
    current(&st, &user, &id).await
}

/// Add a note to a borrowing request's communications log: internal, or also sent to the
/// lending library as an ISO 18626 Notification (`to_partner`; refused before it has one).
#[utoipa::path(post, path = "/api/v1/requests/{id}/notes", tag = "borrowing",
    params(("id" = String, Path, description = "request id")),
    request_body = super::lending::NoteBody,
    responses(
        (status = 200, body = Vec<EventView>),
        (status = 404, body = ErrorBody),
        (status = 409, description = "no_partner", body = ErrorBody),
        (status = 422, description = "note_required, note_too_long", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn add_note(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(body): Body<super::lending::NoteBody>,
) -> ApiResult<Json<Vec<EventView>>> {
    desk::add_note(
        &st,
        &user,
        Side::Borrow,
        &id,
        Some(&body.note),
        body.to_partner,
        body.reply_to,
    )
    .await?;
    let req = visible_borrow(&st, &user, &id).await?;
    let events = st.store.events(&req.library_id, &req.request_id).await?;
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}

/// Close the communications thread that message `event` of a borrowing request is in (staff).
#[utoipa::path(post, path = "/api/v1/requests/{id}/threads/{event}/close", tag = "borrowing",
    params(("id" = String, Path, description = "request id"),
           ("event" = i64, Path, description = "a message of the thread (its event id)")),
    responses(
        (status = 200, body = Vec<EventView>),
        (status = 404, description = "message_not_found", body = ErrorBody),
        (status = 409, description = "thread_closed", body = ErrorBody),
        (status = 422, description = "not_a_message", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn close_thread(
    State(st): State<AppState>,
    user: CurrentUser,
    Path((id, event)): Path<(String, i64)>,
) -> ApiResult<Json<Vec<EventView>>> {
    desk::close_thread(&st, &user, Side::Borrow, &id, event).await?;
    let req = visible_borrow(&st, &user, &id).await?;
    let events = st.store.events(&req.library_id, &req.request_id).await?;
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}

async fn current(st: &AppState, user: &CurrentUser, id: &str) -> ApiResult<Json<BorrowView>> {
    let req = visible_borrow(st, user, id).await?;
    Ok(Json(detail(st, user, req).await?))
}

/// One request as its detail view shows it: the actions the user may take now, knowing whether
/// the lender holds its return, and since when it does.
async fn detail(
    st: &AppState,
    user: &CurrentUser,
    req: store::BorrowRequest,
) -> ApiResult<BorrowView> {
    let allowed = crate::flow::borrow::allowed_actions_now(&st.store, &req, user).await?;
    let holds = st.store.return_holds(&req.request_id).await?;
    let mut view = BorrowView::new(req, Some(allowed));
    view.return_held_since = store::return_held_since(&holds, store::HELD_BY_LENDER);
    view.return_holds = super::views::ReturnHoldView::of(holds);
    Ok(view)
}
