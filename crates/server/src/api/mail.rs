//! Mail with e-mail partners: a request's communications (the mail received about it) and the
//! answers staff record from it, and the unmatched mail staff file by hand.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use store::{InboundMailRow, NewEvent};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json as Body;
use super::views::BorrowView;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::flow::FlowError;
use crate::flow::borrow::{allowed_actions, visible_borrow};
use crate::flow::email::{AnswerInput, PartnerAnswer, record_answer};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(answer))
        .routes(routes!(of_request))
        .routes(routes!(unmatched))
        .routes(routes!(file))
}

/// One received mail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MailView {
    pub id: i64,
    /// `reply` or `bounce`.
    pub kind: String,
    pub request_id: Option<String>,
    pub envelope_from: String,
    pub envelope_to: String,
    pub from: String,
    pub subject: String,
    pub message_id: Option<String>,
    /// The readable text, decoded.
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Set when staff filed it by hand.
    pub filed_by: Option<String>,
}

impl From<InboundMailRow> for MailView {
    fn from(r: InboundMailRow) -> Self {
        MailView {
            id: r.inbound_mail_id,
            kind: r.kind,
            request_id: r.request_id,
            envelope_from: r.envelope_from,
            envelope_to: r.envelope_to,
            from: r.from_header,
            subject: r.subject,
            message_id: r.message_id,
            body: r.body,
            received_at: r.received_at,
            filed_by: r.filed_by,
        }
    }
}

/// A request's communications with an e-mail partner.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestMail {
    /// The current lender's mail address when it is an e-mail partner: then staff record its
    /// answers (`POST …/partner-answers`).
    pub email_partner: Option<String>,
    /// The answers that can be recorded.
    pub answers: Vec<&'static str>,
    /// Mail received about the request, oldest first.
    pub mail: Vec<MailView>,
}

fn staff_only(user: &CurrentUser) -> ApiResult<()> {
    if user.is_patron() {
        Err(ApiError::forbidden(
            "the mail of a library is for its staff",
            "本馆邮件仅供本馆馆员查看",
        ))
    } else {
        Ok(())
    }
}

/// The current lender's mail address, when it is an e-mail partner.
pub async fn email_partner_of(
    st: &AppState,
    req: &store::BorrowRequest,
) -> ApiResult<Option<String>> {
    let Some(lender) = &req.lender_id else {
        return Ok(None);
    };
    Ok(st
        .store
        .peer(lender)
        .await?
        .and_then(|p| p.mail_address().map(str::to_owned)))
}

/// Record what an e-mail partner answered: it moves the request exactly as the partner's
/// ISO 18626 message would, with the staff member's event, in one transaction.
#[utoipa::path(post, path = "/api/v1/requests/{id}/partner-answers", tag = "borrowing",
    params(("id" = String, Path, description = "request id")),
    request_body = AnswerInput,
    responses((status = 200, body = BorrowView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the lender is not an e-mail partner, or the answer does not fit the request's state", body = ErrorBody),
        (status = 422, description = "a field the answer needs is missing or wrong", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(user = %user.username, request = %id))]
pub async fn answer(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(input): Body<AnswerInput>,
) -> ApiResult<Json<BorrowView>> {
    let req = record_answer(&st, &user, &id, input).await?;
    let allowed = allowed_actions(&req, &user)?;
    let mut view = BorrowView::new(req, Some(allowed));
    super::copyright::annotate(&st, &mut view).await?;
    Ok(Json(view))
}

/// The mail received about a request, and whether its lender is an e-mail partner.
#[utoipa::path(get, path = "/api/v1/requests/{id}/mail", tag = "borrowing",
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestMail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn of_request(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestMail>> {
    staff_only(&user)?;
    let req = visible_borrow(&st, &user, &id).await?;
    let mail = st
        .store
        .inbound_mail_of_request(&req.library_id, &req.request_id)
        .await?;
    Ok(Json(RequestMail {
        email_partner: email_partner_of(&st, &req).await?,
        answers: PartnerAnswer::ALL.iter().map(|a| a.as_str()).collect(),
        mail: mail.into_iter().map(MailView::from).collect(),
    }))
}

/// Received mail that names no request: the library's (sent to `ill+CODE@…`), and for hub
/// admins also the mail that names no library. Newest first, at most 200.
#[utoipa::path(get, path = "/api/v1/mail/unmatched", tag = "borrowing",
    responses((status = 200, body = Vec<MailView>), (status = 403, body = ErrorBody)))]
pub async fn unmatched(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<Vec<MailView>>> {
    staff_only(&user)?;
    let hub = user.roles.contains(&domain::people::Role::HubAdmin);
    let rows = st.store.unmatched_mail(&user.library_id, hub, 200).await?;
    Ok(Json(rows.into_iter().map(MailView::from).collect()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileInput {
    /// The borrowing request of the caller's library to file the mail on.
    pub request_id: String,
}

/// File an unmatched mail on a request of the caller's library: it joins the request's
/// communications, with an event by the staff member.
#[utoipa::path(post, path = "/api/v1/mail/{mail_id}/file", tag = "borrowing",
    params(("mail_id" = i64, Path, description = "the unmatched mail")),
    request_body = FileInput,
    responses((status = 200, body = MailView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn file(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(mail_id): Path<i64>,
    Body(input): Body<FileInput>,
) -> ApiResult<Json<MailView>> {
    file_mail(&st, &user, mail_id, input.request_id.trim()).await?;
    let req = visible_borrow(&st, &user, input.request_id.trim()).await?;
    let filed = st
        .store
        .inbound_mail_of_request(&req.library_id, &req.request_id)
        .await?
        .into_iter()
        .find(|m| m.inbound_mail_id == mail_id)
        .ok_or(ApiError::NotFound("mail"))?;
    Ok(Json(MailView::from(filed)))
}

/// File unmatched mail `mail_id` on `request_id`, in one transaction with its event.
pub async fn file_mail(
    st: &AppState,
    user: &CurrentUser,
    mail_id: i64,
    request_id: &str,
) -> ApiResult<()> {
    if !user.can(domain::Actor::BorrowingStaff) {
        return Err(ApiError::forbidden(
            "mail is filed by borrowing staff",
            "邮件由借入馆员归档",
        ));
    }
    let req = visible_borrow(st, user, request_id).await.map_err(|_| {
        ApiError::Bilingual(
            404,
            "unknown_request",
            format!("request_id: {request_id:?} is not a borrowing request of your library"),
            format!("request_id：{request_id:?} 不是本馆的借入申请"),
        )
    })?;
    let hub = user.roles.contains(&domain::people::Role::HubAdmin);
    let (library_id, user_id, now) = (user.library_id.clone(), user.user_id.clone(), st.now());
    let rid = req.request_id.clone();
    st.store
        .write(move |tx| {
            Box::pin(async move {
                let mail = tx
                    .unmatched_mail_for_update(mail_id)
                    .await?
                    .filter(|m| match &m.library_id {
                        Some(l) => *l == library_id,
                        None => hub,
                    })
                    .ok_or(FlowError::NotFound("unmatched mail"))?;
                tx.file_inbound_mail(mail_id, &library_id, &rid, &user_id, now)
                    .await?;
                let req = tx.borrow_request_for_update(&rid).await?;
                let bounce = mail.kind == "bounce";
                tx.insert_event(
                    &NewEvent {
                        library_id: &req.library_id,
                        side: "borrow",
                        request_id: &req.request_id,
                        actor_id: Some(&user_id),
                        actor: "staff",
                        action: if bounce {
                            "mail_bounced"
                        } else {
                            "mail_received"
                        },
                        from_state: Some(&req.state),
                        to_state: &req.state,
                        note: Some(&mail.subject),
                        message_id: None,
                        data: Some(serde_json::json!({
                            "inbound_mail_id": mail_id,
                            "from": mail.from_header,
                            "kind": mail.kind,
                            "filed_by_hand": true,
                        })),
                    },
                    now,
                )
                .await?;
                Ok::<_, FlowError>(())
            })
        })
        .await?;
    st.waiters.changed(request_id);
    Ok(())
}
