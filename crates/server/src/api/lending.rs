//! The lending queue: requests partner libraries sent us, worked by lending staff.

use super::extract::Json as Body;
use super::extract::Query;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::{ActionsView, EventView, LendView};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::flow::ActionInput;
use crate::flow::desk::{self, LendQueueParams, Side};
use crate::flow::lend::{lend_action, visible_lend};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(events))
        .routes(routes!(actions, act))
        .routes(routes!(assign))
        .routes(routes!(release))
        .routes(routes!(add_note))
        .routes(routes!(close_thread))
        .routes(routes!(bulk_assign))
        .routes(routes!(pick_slips, print_pick_slips))
        .routes(routes!(labels, add_label))
        .routes(routes!(remove_label))
}

/// A page of the lending queue, with the facet counts of the whole selection when asked for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LendQueuePage {
    pub total: i64,
    pub items: Vec<LendView>,
    /// With `facets=true`: for each facet (`state`, `partner`, `format`, `assignee`, `created`,
    /// `modified`, `due`, `needed_by`, `service_level`, `supplied_format`, `printed`, `label`,
    /// `partner_notes`, `alert`) the values present and their counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<Vec<FacetView>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FacetView {
    pub facet: String,
    /// `null` for "no assignee".
    pub value: Option<String>,
    pub count: i64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Add the facet counts of the selection to the answer.
    pub facets: Option<bool>,
    /// Only requests from this borrowing library (code); the same as `partner`.
    pub borrower: Option<String>,
}

/// The library's lending queue, newest change first: every request unless `scope` says
/// otherwise (the page shows `active` by default), narrowed by facets, a task filter and a
/// search by title, request id, barcode or requesting library.
#[utoipa::path(get, path = "/api/v1/lending", tag = "lending", params(LendQueueParams, ListQuery),
    responses((status = 200, body = LendQueuePage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, description = "a parameter is not understood; the field is named", body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(mut p): Query<LendQueueParams>,
    Query(extra): Query<ListQuery>,
) -> ApiResult<Json<LendQueuePage>> {
    if user.is_patron() {
        return Err(ApiError::forbidden(
            "the lending queue is for staff",
            "借出队列仅供馆员使用",
        ));
    }
    if p.scope.is_none() {
        p.scope = Some("all".to_owned());
    }
    if p.partner.is_none() {
        p.partner = extra.borrower.clone();
    }
    let filter = desk::lend_queue_filter(&st, &user, &p).await?;
    let (rows, total, facets) = if extra.facets.unwrap_or(false) {
        let (rows, total, facets) = st.store.lend_queue_page(&filter).await?;
        let facets = facets
            .into_iter()
            .map(|f| FacetView {
                facet: f.facet,
                value: f.value,
                count: f.count,
            })
            .collect();
        (rows, total, Some(facets))
    } else {
        let (rows, total) = st.store.lend_queue(&filter).await?;
        (rows, total, None)
    };
    Ok(Json(LendQueuePage {
        total,
        items: rows.into_iter().map(|r| LendView::new(r, None)).collect(),
        facets,
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
    Ok(Json(detail(&st, &user, req).await?))
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

/// Close the communications thread that message `event` of a lending request is in. The
/// thread takes no more replies, and a partner's message in it no longer waits for an answer
/// (the queue's "partner notes" facet).
#[utoipa::path(post, path = "/api/v1/lending/{id}/threads/{event}/close", tag = "lending",
    params(("id" = String, Path, description = "lending request id"),
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
    desk::close_thread(&st, &user, Side::Lend, &id, event).await?;
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
    let allowed = crate::flow::lend::allowed_actions_now(&st.store, &req, &user).await?;
    Ok(Json(ActionsView {
        state: req.state,
        allowed,
    }))
}

/// Do an action: will_supply, expect_to_supply, conditional, locate, locate_failed,
/// print_pick_slip, reject, ship_physical, ship_digital, ship_non_returnable, answer_renew_yes,
/// answer_renew_no, recall, mark_overdue, mark_lost, check_in, hold_return (ask the borrower not
/// to send it back yet: ISO 18626 HoldReturn), release_hold_return, reactivate.
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
    Ok(Json(detail(&st, &user, req).await?))
}

/// Who to assign a request to, and why.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A staff member of the library who works these requests: username or user id. Absent:
    /// the caller. They get the "assigned" letter unless they assigned it themselves.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Up to 1,000 characters, kept in the request's history.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    /// Up to 1,000 characters, kept in the request's history.
    #[serde(default)]
    pub note: Option<String>,
}

/// A staff note on a request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// Up to 1,000 characters.
    pub note: String,
    /// Also send it to the partner library as an ISO 18626 Notification.
    #[serde(default)]
    pub to_partner: bool,
    /// The id of a message (event) of the request this note answers: the note joins that
    /// message's thread in the communications log.
    #[serde(default)]
    pub reply_to: Option<i64>,
}

/// Assign (or release) many requests at once.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkAssignBody {
    /// Request ids of the queue called: lending requests at `/lending/assignments`,
    /// borrowing requests at `/requests/assignments` (at most 500).
    pub ids: Vec<String>,
    /// As for one request; absent: the caller.
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// Release the requests instead of assigning them.
    #[serde(default)]
    pub release: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    /// How many requests were assigned or released.
    pub done: usize,
    /// The others, each with why.
    pub refused: Vec<BulkRefusal>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkRefusal {
    pub id: String,
    pub code: String,
    pub message: String,
}

/// Assign a lending request to a staff member (or to oneself), with an optional note; an
/// `assign` event in its history, and the "assigned" letter to the assignee.
#[utoipa::path(post, path = "/api/v1/lending/{id}/assign", tag = "lending",
    params(("id" = String, Path, description = "lending request id")),
    request_body = AssignBody,
    responses(
        (status = 200, body = LendView),
        (status = 404, body = ErrorBody),
        (status = 422, description = "note_too_long (over 1,000 characters) or assignee_not_staff; in English and Chinese", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn assign(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(body): Body<AssignBody>,
) -> ApiResult<Json<LendView>> {
    desk::assign(
        &st,
        &user,
        Side::Lend,
        &id,
        body.assignee.as_deref(),
        body.note.as_deref(),
    )
    .await?;
    current(&st, &user, &id).await
}

/// Take a lending request off whoever has it, with an optional note (a `release` event).
#[utoipa::path(post, path = "/api/v1/lending/{id}/release", tag = "lending",
    params(("id" = String, Path, description = "lending request id")),
    request_body = ReleaseBody,
    responses(
        (status = 200, body = LendView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not_assigned", body = ErrorBody),
        (status = 422, description = "note_too_long", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn release(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(body): Body<ReleaseBody>,
) -> ApiResult<Json<LendView>> {
    desk::release(&st, &user, Side::Lend, &id, body.note.as_deref()).await?;
    current(&st, &user, &id).await
}

/// Add a note to a lending request's communications log: internal, or also sent to the
/// borrowing library as an ISO 18626 Notification (`to_partner`).
#[utoipa::path(post, path = "/api/v1/lending/{id}/notes", tag = "lending",
    params(("id" = String, Path, description = "lending request id")),
    request_body = NoteBody,
    responses(
        (status = 200, body = Vec<EventView>),
        (status = 404, body = ErrorBody),
        (status = 422, description = "note_required, note_too_long", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn add_note(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(body): Body<NoteBody>,
) -> ApiResult<Json<Vec<EventView>>> {
    desk::add_note(
        &st,
        &user,
        Side::Lend,
        &id,
        Some(&body.note),
        body.to_partner,
        body.reply_to,
    )
    .await?;
    let req = visible_lend(&st, &user, &id).await?;
    let events = st.store.events(&req.library_id, &req.request_id).await?;
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}

/// Assign or release many lending requests: each one on its own, the refusals listed.
#[utoipa::path(post, path = "/api/v1/lending/assignments", tag = "lending",
    request_body = BulkAssignBody,
    responses(
        (status = 200, body = BulkResult),
        (status = 422, description = "too many ids, note_too_long or assignee_not_staff", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, n = body.ids.len()))]
pub async fn bulk_assign(
    State(st): State<AppState>,
    user: CurrentUser,
    Body(body): Body<BulkAssignBody>,
) -> ApiResult<Json<BulkResult>> {
    Ok(Json(
        bulk(
            &st,
            &user,
            Side::Lend,
            &body.ids,
            body.release,
            body.assignee.as_deref(),
            body.note.as_deref(),
        )
        .await?,
    ))
}

/// Assign or release each of `ids` through the same steps as one request; the caller's
/// mistakes that would refuse every one (a note too long, no such assignee) refuse the call.
pub async fn bulk(
    st: &AppState,
    user: &CurrentUser,
    side: Side,
    ids: &[String],
    release: bool,
    assignee: Option<&str>,
    note: Option<&str>,
) -> ApiResult<BulkResult> {
    if ids.len() > 500 {
        return Err(ApiError::Bilingual(
            422,
            "too_many_ids",
            format!("ids: at most 500 at once, {} given", ids.len()),
            format!("ids（请求编号）：一次最多 500 个，收到 {} 个", ids.len()),
        ));
    }
    // Not one of them could move: refused as a whole, not request by request.
    if user.is_patron() || !user.can(side.capacity()) {
        return Err(match side {
            Side::Lend => ApiError::forbidden(
                "lending requests are assigned by lending staff",
                "借出请求由借出馆员分配",
            ),
            Side::Borrow => ApiError::forbidden(
                "borrowing requests are assigned by borrowing staff",
                "借入请求由借入馆员分配",
            ),
        });
    }
    desk::check_note("note", note)?;
    let mut done = 0;
    let mut refused = Vec::new();
    for id in ids {
        let r = if release {
            desk::release(st, user, side, id, note).await
        } else {
            desk::assign(st, user, side, id, assignee, note).await
        };
        match r {
            Ok(()) => done += 1,
            Err(e @ ApiError::Internal(_)) => return Err(e),
            Err(e @ ApiError::Bilingual(422, "assignee_not_staff", ..)) => return Err(e),
            Err(e) => refused.push(BulkRefusal {
                id: id.clone(),
                code: e.code().to_owned(),
                message: e.to_string(),
            }),
        }
    }
    Ok(BulkResult { done, refused })
}

async fn current(st: &AppState, user: &CurrentUser, id: &str) -> ApiResult<Json<LendView>> {
    let req = visible_lend(st, user, id).await?;
    Ok(Json(detail(st, user, req).await?))
}

/// One request as its detail view shows it: the actions the user may take now, knowing whether
/// we hold its return, and since when we do.
async fn detail(st: &AppState, user: &CurrentUser, req: store::LendRequest) -> ApiResult<LendView> {
    let allowed = crate::flow::lend::allowed_actions_now(&st.store, &req, user).await?;
    let holds = st.store.return_holds(&req.request_id).await?;
    let mut view = LendView::new(req, Some(allowed));
    view.return_held_since = store::return_held_since(&holds, store::HELD_BY_LENDER);
    view.return_holds = super::views::ReturnHoldView::of(holds);
    Ok(view)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlipQuery {
    /// Comma-separated lending request ids (at most 500).
    pub ids: String,
    /// `xlsx` (default) or `xml`.
    pub format: Option<String>,
}

/// Pick slips for the selected lending requests, as a spreadsheet or as XML: what the
/// shelver needs to find each item and where it goes. Column names follow Accept-Language.
/// Reading them changes nothing; `POST` the same to print them (the requests then count as
/// printed).
#[utoipa::path(get, path = "/api/v1/lending/pick-slips", tag = "lending", params(SlipQuery),
    responses(
        (status = 200, description = "XLSX (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet) or XML"),
        (status = 404, description = "an id is not a lending request of the library; it is named", body = ErrorBody),
        (status = 422, description = "no ids, too many, or an unknown format", body = ErrorBody)
    ))]
pub async fn pick_slips(
    State(st): State<AppState>,
    user: CurrentUser,
    headers: axum::http::HeaderMap,
    Query(q): Query<SlipQuery>,
) -> ApiResult<axum::response::Response> {
    let ids: Vec<String> = q
        .ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let m = crate::web::catalog::Msg::for_locale(crate::i18n::negotiate(
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    ));
    crate::slips::response(
        &st,
        &user,
        m,
        &ids,
        q.format.as_deref(),
        crate::slips::MarkPrinted::No,
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrintSlips {
    /// The lending requests (at most 500).
    pub ids: Vec<String>,
    /// `xlsx` (default) or `xml`.
    #[serde(default)]
    pub format: Option<String>,
}

/// The pick slips of the selection to print: the file as `GET` gives it, and the requests
/// count as printed from now (the queue's `printed` facet).
#[utoipa::path(post, path = "/api/v1/lending/pick-slips", tag = "lending",
    request_body = PrintSlips,
    responses(
        (status = 200, description = "XLSX (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet) or XML"),
        (status = 404, description = "an id is not a lending request of the library; it is named", body = ErrorBody),
        (status = 422, description = "no ids, too many, or an unknown format", body = ErrorBody)
    ))]
pub async fn print_pick_slips(
    State(st): State<AppState>,
    user: CurrentUser,
    headers: axum::http::HeaderMap,
    Body(input): Body<PrintSlips>,
) -> ApiResult<axum::response::Response> {
    let ids: Vec<String> = input
        .ids
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let m = crate::web::catalog::Msg::for_locale(crate::i18n::negotiate(
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    ));
    crate::slips::response(
        &st,
        &user,
        m,
        &ids,
        input.format.as_deref(),
        crate::slips::MarkPrinted::Yes,
    )
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LabelBody {
    /// 1 to 40 characters, e.g. `rare` or `ask Li`.
    pub label: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LabelsView {
    /// The request's labels, in order.
    pub labels: Vec<String>,
}

/// The labels staff put on a lending request.
#[utoipa::path(get, path = "/api/v1/lending/{id}/labels", tag = "lending",
    params(("id" = String, Path, description = "lending request id")),
    responses((status = 200, body = LabelsView), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn labels(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LabelsView>> {
    Ok(Json(LabelsView {
        labels: desk::labels(&st, &user, &id).await?,
    }))
}

/// Put a label on a lending request (a label it has already changes nothing); the queue
/// counts and filters by label.
#[utoipa::path(post, path = "/api/v1/lending/{id}/labels", tag = "lending",
    params(("id" = String, Path, description = "lending request id")),
    request_body = LabelBody,
    responses(
        (status = 200, body = LabelsView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "too_many_labels (20 at most)", body = ErrorBody),
        (status = 422, description = "bad_label: 1 to 40 characters, no control characters", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn add_label(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(body): Body<LabelBody>,
) -> ApiResult<Json<LabelsView>> {
    Ok(Json(LabelsView {
        labels: desk::add_label(&st, &user, &id, &body.label).await?,
    }))
}

/// Take a label off a lending request.
#[utoipa::path(delete, path = "/api/v1/lending/{id}/labels/{label}", tag = "lending",
    params(
        ("id" = String, Path, description = "lending request id"),
        ("label" = String, Path, description = "the label to take off")
    ),
    responses(
        (status = 200, body = LabelsView),
        (status = 404, description = "not_found, label_not_found", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn remove_label(
    State(st): State<AppState>,
    user: CurrentUser,
    Path((id, label)): Path<(String, String)>,
) -> ApiResult<Json<LabelsView>> {
    Ok(Json(LabelsView {
        labels: desk::remove_label(&st, &user, &id, &label).await?,
    }))
}
