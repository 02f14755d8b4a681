//! Messages the library sent or is sending: what is waiting, what a partner refused or could
//! not be reached for ("dead"), and sending one again once the cause is fixed.

use axum::Json;
use axum::extract::{Path, State};
use domain::Actor;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(resend))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// pending, delivered or dead (default dead).
    pub status: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxView {
    pub id: i64,
    pub request_id: String,
    /// borrow or lend: which side of ours sent it.
    pub side: String,
    /// request, supplying_agency_message or requesting_agency_message.
    pub kind: String,
    /// The partner's agency id, TYPE:VALUE.
    pub recipient: String,
    pub status: String,
    pub attempts: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub next_attempt_at: OffsetDateTime,
    /// Why the last attempt failed or what the partner refused.
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The ISO 18626 XML as sent.
    pub payload: String,
}

fn require_staff(user: &CurrentUser) -> ApiResult<()> {
    if user.can(Actor::BorrowingStaff) || user.can(Actor::LendingStaff) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "the outbox is for staff",
            "发件箱仅供馆员查看",
        ))
    }
}

/// The library's outgoing messages by status, newest first.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "meta", params(OutboxQuery),
    responses((status = 200, body = Vec<OutboxView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<OutboxQuery>,
) -> ApiResult<Json<Vec<OutboxView>>> {
    require_staff(&user)?;
    let status = q.status.unwrap_or_else(|| "dead".to_owned());
    if !matches!(
        status.as_str(),
        "pending" | "delivered" | "skipped" | "dead"
    ) {
        return Err(ApiError::Invalid(vec![domain::citation::FieldError {
            message_zh: None,
            field: "status",
            code: "unknown_state",
            message: format!("{status:?} is not pending, delivered, skipped or dead"),
        }]));
    }
    let rows = st
        .store
        .outbox_by_status(
            &user.library_id,
            &status,
            q.limit.unwrap_or(100).clamp(1, 500),
        )
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| OutboxView {
                id: r.outbox_id,
                request_id: r.request_id,
                side: r.side,
                payload: if r.kind == "email" {
                    crate::letters::redacted(&r.payload)
                } else {
                    r.payload
                },
                kind: r.kind,
                recipient: r.recipient,
                status: r.status,
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
                last_error: r.last_error,
                created_at: r.created_at,
            })
            .collect(),
    ))
}

/// Send a dead message again, now.
#[utoipa::path(post, path = "/api/v1/outbox/{id}/resend", tag = "meta",
    params(("id" = i64, Path, description = "outbox message id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn resend(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<axum::http::StatusCode> {
    require_staff(&user)?;
    let (lib, now) = (user.library_id.clone(), st.now());
    let found = st
        .store
        .write(move |tx| Box::pin(async move { tx.outbox_resend(&lib, id, now).await }))
        .await?;
    if !found {
        return Err(ApiError::NotFound("message"));
    }
    st.store.notify_outbox();
    Ok(axum::http::StatusCode::NO_CONTENT)
}
