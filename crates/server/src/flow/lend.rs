//! The lending side: a partner's request, worked by our staff through the supplier machine,
//! each step answered to the borrower as an ISO 18626 supplying agency message.

use domain::citation::RequestFormat;
use domain::machine::{CONDITION_MARKER, IsoReason, IsoStatus, Machine};
use domain::supplier::{LendAction, LendContext, LendEffect, LendState, Supplier};
use store::{LendRequest, NewEvent, NewOutbox, StoreError, Tx};
use time::OffsetDateTime;

use super::borrow::Extra;
use super::{Acting, ActionInput, FlowError, REASONS_UNFILLED, Touched, iso};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use ::iso18626 as wire;

/// A lending request of the user's library; others are "not found".
pub async fn visible_lend(
    st: &AppState,
    user: &CurrentUser,
    request_id: &str,
) -> ApiResult<LendRequest> {
    if user.is_patron() {
        return Err(ApiError::NotFound("request"));
    }
    let req = st
        .store
        .lend_request(request_id)
        .await
        .map_err(|_| ApiError::NotFound("request"))?;
    if req.library_id == user.library_id {
        Ok(req)
    } else {
        Err(ApiError::NotFound("request"))
    }
}

pub async fn lend_action(
    st: &AppState,
    user: &CurrentUser,
    request_id: &str,
    input: ActionInput,
) -> ApiResult<LendRequest> {
    let _ = visible_lend(st, user, request_id).await?;
    let action = LendAction::parse(&input.action)
        .filter(|a| a.is_manual())
        .ok_or_else(|| {
            ApiError::Refused(domain::Refusal::NotAllowed {
                state: "any",
                action: input.action.clone(),
                allowed: domain::supplier::LEND_ACTIONS
                    .iter()
                    .filter(|a| a.is_manual())
                    .map(|a| a.as_str())
                    .collect(),
            })
        })?;
    if input
        .reason
        .as_ref()
        .is_some_and(|r| r.trim().is_empty() || r.len() > 100)
    {
        return Err(ApiError::Bilingual(
            400,
            "bad_request",
            format!(
                "reason must be an ISO 18626 reasonUnfilled such as {}",
                REASONS_UNFILLED.join(", ")
            ),
            format!(
                "拒绝理由须为 ISO 18626 的 reasonUnfilled 值，例如 {}",
                REASONS_UNFILLED.join("、")
            ),
        ));
    }
    let mut input = input;
    let mut fetch_key = None;
    if action == LendAction::ShipDigital {
        if let (None, Some(file_id)) = (&input.url, &input.file_id) {
            // The uploaded copy goes out as an address of ours with a key for the borrower.
            let file = st
                .store
                .file(file_id)
                .await?
                .filter(|f| {
                    f.lend_request_id.as_deref() == Some(request_id) && f.purged_at.is_none()
                })
                .ok_or_else(|| {
                    ApiError::Bilingual(
                        400,
                        "bad_request",
                        format!("file_id {file_id} is not a copy uploaded for this request"),
                        format!("file_id {file_id} 不是为本请求上传的复制件"),
                    )
                })?;
            let token = crate::api::files::new_token();
            input.url = Some(format!(
                "{}/api/v1/files/{}?key={token}",
                st.config.public_base().trim_end_matches('/'),
                file.file_id
            ));
            fetch_key = Some((file.file_id, crate::api::files::hash_token(&token)));
        }
        if input.url.as_deref().is_none_or(|u| !u.starts_with("http")) {
            return Err(ApiError::Bilingual(
                400,
                "bad_request",
                "ship_digital needs file_id (a copy uploaded with POST /api/v1/lending/{id}/files) or url: the http(s) address of the copy".to_owned(),
                "电子发送需要 file_id（用 POST /api/v1/lending/{id}/files 上传的复制件）或 url（复制件的 http(s) 地址）".to_owned(),
            ));
        }
    }
    if action == LendAction::OfferRetry {
        retry_terms(&input)?;
    }
    if action == LendAction::Forward {
        let current = st.store.lend_request(request_id).await?;
        forward_target(st, &current, input.forward_to.as_deref()).await?;
    }
    let acting = Acting::user(user);
    let id = request_id.to_owned();
    let now = st.now();
    let touched = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut req = tx.lend_request_for_update(&id).await?;
                if let Some((file_id, hash)) = &fetch_key {
                    tx.set_fetch_token(file_id, hash).await?;
                }
                let touched = apply_lend(
                    tx,
                    now,
                    &mut req,
                    action,
                    &acting,
                    &input,
                    &Extra::default(),
                )
                .await?;
                super::receive::deliver_here(tx, now, touched).await
            })
        })
        .await?;
    touched.publish(st);
    Ok(st.store.lend_request(request_id).await?)
}

pub fn context(req: &LendRequest) -> Result<(LendState, LendContext), FlowError> {
    let state = LendState::parse(&req.state).ok_or_else(|| {
        FlowError::Store(StoreError::Corrupt(format!("lend state {}", req.state)))
    })?;
    let format = RequestFormat::parse(&req.format)
        .ok_or_else(|| FlowError::Store(StoreError::Corrupt(format!("format {}", req.format))))?;
    Ok((
        state,
        LendContext {
            format,
            renew_pending: req.renew_pending,
            // Read apart (`return_held`, `borrower_holds`): only loans on hold have a row.
            return_held: false,
            borrower_holds: false,
        },
    ))
}

/// The state and context of `req` for `action`, with the hold on its return read only for the
/// actions that look at it or end it (every other step of every request is spared the read).
async fn context_in(
    tx: &mut Tx<'_>,
    req: &LendRequest,
    action: LendAction,
) -> Result<(LendState, LendContext), FlowError> {
    let (state, mut ctx) = context(req)?;
    if matches!(
        action,
        LendAction::HoldReturn
            | LendAction::ReleaseHoldReturn
            | LendAction::CheckIn
            | LendAction::MarkLost
            | LendAction::BorrowerShippedReturn
            | LendAction::BorrowerLost
            | LendAction::BorrowerHoldReturn
    ) {
        let holds = tx.return_holds(&req.request_id).await?;
        (ctx.return_held, ctx.borrower_holds) = store::held_by_each(&holds);
    }
    Ok((state, ctx))
}

/// What we tell the borrower when staff hold the return without a note of their own.
const HOLD_RETURN_NOTE: (&str, &str) = (
    "Please keep the item until we ask for it back",
    "请暂缓归还，待本馆通知后再寄回",
);

/// Decide and carry out a lending action inside the caller's transaction.
pub async fn apply_lend(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &mut LendRequest,
    action: LendAction,
    acting: &Acting,
    input: &ActionInput,
    extra: &Extra,
) -> Result<Touched, FlowError> {
    let (state, ctx) = context_in(tx, req, action).await?;
    let decision = Supplier::decide(state, action, &ctx, &acting.actors)?;
    // The borrower's request decides the express fee (its service level), not the shipment:
    // a ship action that says otherwise is refused rather than silently overruled.
    let express = domain::supplier::ServiceLevel::parse(&req.service_level)
        == Some(domain::supplier::ServiceLevel::Express);
    if let Some(asked) = input.express
        && asked != express
        && decision.effects.contains(&LendEffect::SendShipped)
    {
        let (en, zh) = if express {
            (
                "express: this request asks for express service, so the express fee applies; leave express out",
                "express（加急）：该请求要求加急服务，须收取加急费；请不要填写此项",
            )
        } else {
            (
                "express: this request asks for normal service; the express fee applies only to requests that ask for express service",
                "express（加急）：该请求为普通服务；只有要求加急服务的请求才收取加急费",
            )
        };
        return Err(FlowError::BadInput {
            status: 422,
            code: "express_set_by_request",
            en: en.to_owned(),
            zh: zh.to_owned(),
        });
    }
    let new_status = decision.to.iso_status();
    // The first answer to a request is its RequestResponse; later ones are status changes.
    let first_answer = matches!(
        state,
        LendState::RequestReceived | LendState::ExpectToSupply
    ) && !matches!(action, LendAction::BorrowerStatusRequest);
    let change_reason = if first_answer && state == LendState::RequestReceived {
        IsoReason::RequestResponse
    } else {
        IsoReason::StatusChange
    };
    if let Some(b) = &input.barcode {
        req.barcode = Some(b.clone());
    }
    if let Some(c) = &input.call_number {
        req.call_number = Some(c.clone());
    }
    if let Some(f) = domain::supplier::SuppliedFormat::of_action(action) {
        req.supplied_format = Some(f.as_str().to_owned());
    }
    let mut messages = Vec::new();
    // A note librelay writes itself, in English and Chinese, for the event.
    let mut own_note: Option<(&str, &str)> = None;
    for effect in decision.effects {
        let sam = match effect {
            LendEffect::SendStatus => Some(Sam::new(change_reason, new_status, input.note.clone())),
            LendEffect::SendConditional => {
                let by = input
                    .reply_by
                    .map(|d| format!(" (answer by {d})"))
                    .unwrap_or_default();
                let text = format!(
                    "{CONDITION_MARKER} {}{by}",
                    input.note.clone().unwrap_or_default()
                );
                Some(Sam::new(
                    IsoReason::Notification,
                    new_status,
                    Some(text.trim().to_owned()),
                ))
            }
            LendEffect::SendUnfilled => {
                let mut s = Sam::new(change_reason, IsoStatus::Unfilled, input.note.clone());
                let default = if action == LendAction::LocateFailed {
                    "NotOnShelf"
                } else {
                    "NotAvailableForILL"
                };
                s.reason_unfilled =
                    Some(input.reason.clone().unwrap_or_else(|| default.to_owned()));
                Some(s)
            }
            LendEffect::SendRetryPossible => {
                let mut s = Sam::new(change_reason, IsoStatus::RetryPossible, input.note.clone());
                s.retry = Some(retry_terms(input)?);
                Some(s)
            }
            LendEffect::SendForward => {
                let code = input.forward_to.as_deref().map(str::trim).ok_or_else(|| {
                    FlowError::bad(
                        "forward needs forward_to: the code of the library to pass it on to",
                        "转交需要 forward_to：接手馆的代码",
                    )
                })?;
                let target = tx.library(code).await?;
                messages.push(send_forward(tx, now, req, &target, input.note.clone()).await?);
                Some(Sam::new(
                    IsoReason::Notification,
                    new_status,
                    Some(
                        format!(
                            "Passed on to {} ({}), which will answer you directly. {}",
                            target.name_en,
                            iso::agency_key(&iso::agency(&target)),
                            input.note.clone().unwrap_or_default()
                        )
                        .trim()
                        .to_owned(),
                    ),
                ))
            }
            LendEffect::SendShipped => {
                let mut s = Sam::new(IsoReason::StatusChange, new_status, input.note.clone());
                s.shipped = true;
                s.url = input.url.clone();
                s.physical = !matches!(action, LendAction::ShipDigital);
                Some(s)
            }
            LendEffect::SendRenewYes => {
                let mut s = Sam::new(
                    IsoReason::RenewResponse,
                    IsoStatus::Loaned,
                    input.note.clone(),
                );
                s.answer = Some(true);
                Some(s)
            }
            LendEffect::SendRenewNo => {
                let mut s = Sam::new(IsoReason::RenewResponse, new_status, input.note.clone());
                s.answer = Some(false);
                Some(s)
            }
            LendEffect::SendCancelYes => {
                let mut s = Sam::new(IsoReason::CancelResponse, new_status, None);
                s.answer = Some(true);
                Some(s)
            }
            LendEffect::SendCancelNo => {
                let why = if state == LendState::Forwarded {
                    "Passed on to another library, which has the request now: ask it to cancel"
                } else {
                    "Already shipped"
                };
                let mut s = Sam::new(IsoReason::CancelResponse, new_status, Some(why.to_owned()));
                s.answer = Some(false);
                Some(s)
            }
            LendEffect::SendStatusResponse => {
                Some(Sam::new(IsoReason::StatusRequestResponse, new_status, None))
            }
            LendEffect::MarkRenewPending => {
                req.renew_pending = true;
                None
            }
            LendEffect::ClearRenewPending => {
                req.renew_pending = false;
                None
            }
            LendEffect::SendHoldReturn => {
                // Both languages, as partner letters: the borrower's staff may read either.
                let note = match &input.note {
                    Some(n) => n.clone(),
                    None => {
                        own_note = Some(HOLD_RETURN_NOTE);
                        format!("{} / {}", HOLD_RETURN_NOTE.0, HOLD_RETURN_NOTE.1)
                    }
                };
                Some(Sam::new(
                    IsoReason::StatusChange,
                    IsoStatus::HoldReturn,
                    Some(note),
                ))
            }
            LendEffect::SendReleaseHoldReturn => Some(Sam::new(
                IsoReason::StatusChange,
                IsoStatus::ReleaseHoldReturn,
                input.note.clone(),
            )),
            LendEffect::MarkReturnHeld => {
                let hold = store::NewReturnHold {
                    library_id: &req.library_id,
                    side: "lend",
                    request_id: &req.request_id,
                    held_by: store::HELD_BY_LENDER,
                    actor: acting.username.as_deref(),
                    note: input.note.as_deref(),
                };
                tx.open_return_hold(&hold, now).await?;
                None
            }
            LendEffect::ClearReturnHeld => {
                if ctx.return_held {
                    tx.release_return_hold(&req.request_id, Some(store::HELD_BY_LENDER))
                        .await?;
                }
                None
            }
            LendEffect::MarkBorrowerHolds => {
                // The borrower's hold: by its agency, with its words.
                let hold = store::NewReturnHold {
                    library_id: &req.library_id,
                    side: "lend",
                    request_id: &req.request_id,
                    held_by: store::HELD_BY_BORROWER,
                    actor: Some(req.borrower_agency.as_str()),
                    note: extra.note.as_deref(),
                };
                tx.open_return_hold(&hold, now).await?;
                None
            }
            LendEffect::ClearBorrowerHolds => {
                if ctx.borrower_holds {
                    tx.release_return_hold(&req.request_id, Some(store::HELD_BY_BORROWER))
                        .await?;
                }
                None
            }
            LendEffect::SetDueDate => {
                req.due_date = Some(match input.due_date {
                    Some(d) => d,
                    None => computed_due_date(tx, req, now).await?,
                });
                None
            }
        };
        if let Some(s) = sam {
            messages.push(send_sam(tx, now, req, s).await?);
        }
    }
    req.state = decision.to.as_str().to_owned();
    tx.update_lend_request(req, now).await?;
    let fee = if decision.effects.contains(&LendEffect::SendShipped) {
        super::fees::charge_shipment(tx, now, req, express).await?
    } else {
        None
    };
    let note = match (&input.note, &input.internal_note, &extra.note) {
        (_, _, Some(peer)) => Some(peer.clone()),
        (Some(n), Some(i), _) => Some(format!("{n} / {i}")),
        (None, i, None) if own_note.is_some() => own_note.map(|(en, _)| match i {
            Some(i) => format!("{en} / {i}"),
            None => en.to_owned(),
        }),
        (n, i, _) => n.clone().or_else(|| i.clone()),
    };
    let mut data = extra.data.clone().unwrap_or_else(|| serde_json::json!({}));
    if let Some(obj) = data.as_object_mut() {
        if let (Some((_, zh)), None, None) = (own_note, &input.internal_note, &extra.note) {
            obj.insert("note_zh".to_owned(), serde_json::json!(zh));
        }
        if !messages.is_empty() {
            obj.insert("messages".to_owned(), serde_json::json!(messages));
        }
        if let Some(serde_json::Value::Object(f)) = fee {
            obj.extend(f);
        }
        if let Some(r) = &input.reason {
            obj.insert("reason".to_owned(), serde_json::json!(r));
        }
        if let Some(d) = req
            .due_date
            .filter(|_| decision.effects.contains(&LendEffect::SetDueDate))
        {
            obj.insert("due_date".to_owned(), serde_json::json!(d.to_string()));
        }
    }
    tx.insert_event(
        &NewEvent {
            library_id: &req.library_id,
            side: "lend",
            request_id: &req.request_id,
            actor_id: acting.user_id.as_deref(),
            actor: acting.label,
            action: action.as_str(),
            from_state: Some(decision.from.as_str()),
            to_state: decision.to.as_str(),
            note: note.as_deref(),
            message_id: messages.last().copied(),
            data: Some(data),
        },
        now,
    )
    .await?;
    let mut ids = vec![req.request_id.clone()];
    ids.push(
        super::borrow::parse_wire_id(&req.borrower_request_id)
            .0
            .to_owned(),
    );
    Ok(Touched {
        request_ids: ids,
        messages: messages.len(),
    })
}

/// The library a request may be passed on to: another library in the directory, neither us nor
/// the borrower; refused in both languages otherwise.
async fn forward_target(
    st: &AppState,
    req: &LendRequest,
    code: Option<&str>,
) -> Result<(), ApiError> {
    let bad = |code: &'static str, en: String, zh: String| ApiError::Bilingual(422, code, en, zh);
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return Err(bad(
            "forward_to_required",
            "forward needs forward_to: the code of the library to pass the request on to"
                .to_owned(),
            "转送请求须给出 forward_to：接手的图书馆代码".to_owned(),
        ));
    };
    let target = match st.store.library(code).await {
        Ok(t) => Some(t),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    match target {
        Some(t)
            if t.library_id != req.library_id
                && Some(&t.library_id) != req.borrower_id.as_ref() =>
        {
            Ok(())
        }
        Some(_) => Err(bad(
            "invalid_forward_to",
            format!("{code} is this library or the borrowing library: pass it on to another"),
            format!("{code} 是本馆或借入馆，请转给其他图书馆"),
        )),
        None => Err(bad(
            "invalid_forward_to",
            format!("{code} is not a library in the directory"),
            format!("{code} 不在图书馆名录中"),
        )),
    }
}

/// The request passed on to `target` for the borrower: the borrower's agency and request id in
/// the header (the new supplier answers the borrower directly), marked as a transfer request.
async fn send_forward(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &LendRequest,
    target: &store::LibraryRow,
    note: Option<String>,
) -> Result<i64, FlowError> {
    let us = tx.library(&req.library_id).await?;
    let borrower = iso::parse_agency_key(&req.borrower_agency).ok_or_else(|| {
        FlowError::Store(StoreError::Corrupt(format!(
            "agency {}",
            req.borrower_agency
        )))
    })?;
    let header = iso::header(
        borrower,
        iso::agency(target),
        &req.borrower_request_id,
        None,
        now,
    );
    let format = RequestFormat::parse(&req.format).unwrap_or(RequestFormat::Loan);
    let said = format!(
        "Passed on by {} ({}). {}",
        us.name_en,
        iso::agency_key(&iso::agency(&us)),
        note.unwrap_or_default()
    );
    let mut request = iso::request(
        header,
        format,
        &req.citation.0,
        Some(said.trim().to_owned()),
    );
    if let Some(service) = request.service_info.as_mut() {
        service.request_subtype = vec![wire::RequestSubType::TransferRequest];
    }
    let xml = wire::write(&wire::Message::Request(request), wire::Version::V2021);
    let recipient = iso::agency_key(&iso::agency(target));
    let id = tx
        .insert_outbox(
            &NewOutbox {
                library_id: &req.library_id,
                request_id: &req.request_id,
                side: "lend",
                kind: "request",
                recipient: &recipient,
                payload: &xml,
            },
            now,
        )
        .await?;
    Ok(id)
}

/// A transfer request of ours (a `forward`) that the library we passed the request on to
/// refused: the borrower still waits on us (it follows the new supplier only once that one
/// answers), so the lending request closes as unfilled and the borrower hears it from us, with
/// who refused and why. Call it in the transaction that parks the refused message; returns
/// whether it applied (nothing for any other message, or a request no longer `forwarded`).
pub async fn forward_refused(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    row: &store::OutboxRow,
    why: &str,
) -> Result<bool, FlowError> {
    if row.side != "lend" || row.kind != "request" {
        return Ok(false);
    }
    let mut req = match tx.lend_request_for_update(&row.request_id).await {
        Ok(r) if r.library_id == row.library_id => r,
        Ok(_) | Err(StoreError::NotFound) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if req.state != LendState::Forwarded.as_str() {
        return Ok(false);
    }
    let input = ActionInput {
        reason: Some("OtherReason".to_owned()),
        note: Some(format!(
            "We passed the request on to {}, which refused it or could not be reached ({why}); we cannot supply it.",
            row.recipient
        )),
        ..ActionInput::default()
    };
    let extra = Extra {
        data: Some(serde_json::json!({ "refused_by": row.recipient, "why": why })),
        ..Extra::default()
    };
    apply_lend(
        tx,
        now,
        &mut req,
        LendAction::ForwardRefused,
        &Acting::system(),
        &input,
        &extra,
    )
    .await?;
    Ok(true)
}

/// Due date from our policy for this borrower (default four weeks), moved off closed days.
/// The loan period runs from the day it is shipped in our own time: a library east of UTC
/// shipping in its morning is still on the day before in UTC, and counting from that day
/// would make the loan a day short.
async fn computed_due_date(
    tx: &mut Tx<'_>,
    req: &LendRequest,
    now: OffsetDateTime,
) -> Result<time::Date, FlowError> {
    let lender = tx.library(&req.library_id).await?;
    let policy = match &req.borrower_id {
        Some(b) => tx.policy_for(&req.library_id, b).await?,
        None => None,
    };
    let days = policy.map_or(28, |p| p.loan_days);
    let shipped = lender.offset().date(now);
    Ok(lender.closed_days.0.due_date(shipped, days))
}

/// A message to the borrower outside the machine's steps (a staff note): reason and status
/// as given, in the request's outbox queue. Returns the outbox id.
pub(crate) async fn send_notification(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &LendRequest,
    reason: IsoReason,
    status: IsoStatus,
    note: String,
) -> Result<i64, FlowError> {
    send_sam(tx, now, req, Sam::new(reason, status, Some(note))).await
}

/// A supplying agency message about to be written.
struct Sam {
    reason: IsoReason,
    status: IsoStatus,
    note: Option<String>,
    answer: Option<bool>,
    reason_unfilled: Option<String>,
    shipped: bool,
    physical: bool,
    url: Option<String>,
    retry: Option<iso::RetryTerms>,
}

impl Sam {
    fn new(reason: IsoReason, status: IsoStatus, note: Option<String>) -> Self {
        Sam {
            reason,
            status,
            note,
            answer: None,
            reason_unfilled: None,
            shipped: false,
            physical: true,
            url: None,
            retry: None,
        }
    }
}

async fn send_sam(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &LendRequest,
    s: Sam,
) -> Result<i64, FlowError> {
    let lender = tx.library(&req.library_id).await?;
    let borrower = iso::parse_agency_key(&req.borrower_agency).ok_or_else(|| {
        FlowError::Store(StoreError::Corrupt(format!(
            "agency {}",
            req.borrower_agency
        )))
    })?;
    let header = iso::header(
        borrower,
        iso::agency(&lender),
        &req.borrower_request_id,
        Some(&req.request_id),
        now,
    );
    let mut note = s.note;
    if let Some(url) = &s.url {
        // 2017 has no URL element: the address goes in the note too, which every peer shows.
        note = Some(
            format!("{} {url}", note.unwrap_or_default())
                .trim()
                .to_owned(),
        );
    }
    let delivery = s.shipped.then(|| wire::DeliveryInfo {
        date_sent: iso::timestamp(now),
        item_id: req.barcode.clone(),
        url: s.url.clone(),
        sent_via: Some(if s.physical { "Mail" } else { "URL" }.to_owned()),
        sent_to_patron: false,
        delivered_format: Some(if s.physical { "Printed" } else { "PDF" }.to_owned()),
        ..Default::default()
    });
    let mut sam = wire::SupplyingAgencyMessage {
        header,
        message_info: wire::MessageInfo {
            reason_for_message: iso::reason_to_wire(s.reason),
            answer_yes_no: s.answer,
            note,
            reason_unfilled: s.reason_unfilled,
            ..Default::default()
        },
        status_info: wire::StatusInfo {
            status: iso::status_to_wire(s.status),
            due_date: req.due_date.map(iso::due_date_text),
            last_change: iso::timestamp(now),
            ..Default::default()
        },
        delivery_info: delivery,
        ..Default::default()
    };
    if let Some(terms) = &s.retry {
        terms.apply(&mut sam, lender.offset());
    }
    let msg = wire::Message::SupplyingAgencyMessage(sam);
    let xml = wire::write(&msg, iso::parse_version(&req.iso_version));
    let id = tx
        .insert_outbox(
            &NewOutbox {
                library_id: &req.library_id,
                request_id: &req.request_id,
                side: "lend",
                kind: "supplying_agency_message",
                recipient: &req.borrower_agency,
                payload: &xml,
            },
            now,
        )
        .await?;
    Ok(id)
}

/// Actions this user may take now, for lists of many requests: as if no return were held (one
/// read per row would slow the queues); the action itself is decided on what is stored. A
/// single request's page uses [`allowed_actions_now`].
pub fn allowed_actions(
    req: &LendRequest,
    user: &CurrentUser,
) -> Result<Vec<&'static str>, FlowError> {
    let (state, ctx) = context(req)?;
    allowed_in(state, &ctx, user)
}

/// Actions this user may take now on one request, knowing whether its return is held.
pub async fn allowed_actions_now(
    store: &store::Store,
    req: &LendRequest,
    user: &CurrentUser,
) -> Result<Vec<&'static str>, FlowError> {
    let (state, mut ctx) = context(req)?;
    let holds = store.return_holds(&req.request_id).await?;
    (ctx.return_held, ctx.borrower_holds) = store::held_by_each(&holds);
    allowed_in(state, &ctx, user)
}

fn allowed_in(
    state: LendState,
    ctx: &LendContext,
    user: &CurrentUser,
) -> Result<Vec<&'static str>, FlowError> {
    Ok(Supplier::allowed(state, ctx, &user.actors())
        .into_iter()
        .filter(|a| a.is_manual())
        .map(|a| a.as_str())
        .collect())
}

/// The terms of an `offer_retry`, checked: a reasonRetry, and what that reason needs (a cost
/// for `CostExceedsMaxCost`, a loan condition for `LoanCondition`), each said in both languages.
pub(crate) fn retry_terms(input: &ActionInput) -> Result<iso::RetryTerms, FlowError> {
    use domain::money::{Currency, Money};
    let bad = |code: &'static str, en: String, zh: String| FlowError::BadInput {
        status: 422,
        code,
        en,
        zh,
    };
    let reason = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            bad(
                "retry_reason_required",
                format!(
                    "offer_retry needs reason: an ISO 18626 reasonRetry such as {}",
                    domain::retry::REASONS_RETRY.join(", ")
                ),
                format!(
                    "提出重试条件须给出 reason（ISO 18626 重试原因），例如 {}",
                    domain::retry::REASONS_RETRY.join("、")
                ),
            )
        })?;
    let cost = match (input.cost_minor, input.currency.as_deref()) {
        (None, None) => None,
        (Some(minor), Some(code)) if minor >= 0 => {
            let currency = Currency::parse(code).map_err(|_| {
                bad(
                    "invalid_currency",
                    format!("currency {code:?} is not an ISO 4217 code such as CNY"),
                    format!("币种 {code:?} 不是 ISO 4217 代码（例如 CNY）"),
                )
            })?;
            Some(Money::new(minor, currency))
        }
        _ => {
            return Err(bad(
                "invalid_cost",
                "cost_minor (0 or more, in minor units) and currency go together".to_owned(),
                "cost_minor（以最小货币单位计，不小于 0）与 currency 须同时给出".to_owned(),
            ));
        }
    };
    if reason.eq_ignore_ascii_case("CostExceedsMaxCost") && cost.is_none() {
        return Err(bad(
            "retry_cost_required",
            "reason CostExceedsMaxCost needs the cost we would charge: cost_minor and currency"
                .to_owned(),
            "重试原因为 CostExceedsMaxCost（费用超出上限）时须给出本馆收费：cost_minor 与 currency"
                .to_owned(),
        ));
    }
    let loan_condition = input
        .loan_condition
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    if reason.eq_ignore_ascii_case("LoanCondition") && loan_condition.is_none() {
        return Err(bad(
            "retry_condition_required",
            "reason LoanCondition needs loan_condition, e.g. LibraryUseOnly".to_owned(),
            "重试原因为 LoanCondition（借阅条件）时须给出 loan_condition，例如 LibraryUseOnly"
                .to_owned(),
        ));
    }
    if let (Some(after), Some(before)) = (input.retry_after, input.retry_before)
        && before < after
    {
        return Err(bad(
            "invalid_retry_dates",
            format!("retry_before {before} is earlier than retry_after {after}"),
            format!("retry_before（{before}）早于 retry_after（{after}）"),
        ));
    }
    let too_long = [&input.loan_condition, &input.item_format, &input.reason]
        .iter()
        .any(|v| v.as_deref().is_some_and(|v| v.len() > 100));
    if too_long {
        return Err(bad(
            "too_long",
            "reason, loan_condition and item_format are codes of at most 100 characters".to_owned(),
            "reason、loan_condition 与 item_format 为代码，最长 100 个字符".to_owned(),
        ));
    }
    Ok(iso::RetryTerms {
        reason: reason.to_owned(),
        cost,
        retry_after: input.retry_after,
        retry_before: input.retry_before,
        loan_condition,
        item_format: input
            .item_format
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned),
    })
}
