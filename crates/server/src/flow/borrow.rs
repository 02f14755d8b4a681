//! The borrowing side: a reader's request is created with its rota, then moved by staff, the
//! patron, the lender's messages and the clock, always through the requester machine.

use domain::citation::{CitationInput, RequestFormat};
use domain::ident::LibraryCode;
use domain::library::Service;
use domain::machine::{IsoAction, Machine};
use domain::people::PatronType;
use domain::requester::{BorrowAction, BorrowContext, BorrowEffect, BorrowState, Requester};
use domain::rota::{Rota, RotaEntry, RotaOutcome};
use serde::Deserialize;
use store::{BorrowRequest, NewBorrowRequest, NewEvent, NewOutbox, Store, StoreError, Tx};
use time::OffsetDateTime;

use super::{Acting, ActionInput, FlowError, Touched, iso};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::letters::LetterKind;
use ::iso18626 as wire;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// `loan`, `article_copy` or `chapter_copy`.
    pub format: String,
    #[schema(value_type = Object)]
    pub citation: CitationInput,
    /// Staff only: the reader the request is for (defaults to the caller, who must be a patron).
    #[serde(default)]
    pub patron_id: Option<String>,
    /// Staff only: lender library codes in order, instead of the ranking from holdings.
    #[serde(default)]
    pub rota: Option<Vec<String>>,
}

/// Create a borrowing request in `pending_review`, with its rota built from who holds the item.
/// `source` is how it came in (`domain::stats::SOURCES`), kept in its history for statistics.
pub async fn create_borrow_request(
    st: &AppState,
    user: &CurrentUser,
    body: CreateRequest,
    source: domain::stats::Source,
) -> ApiResult<BorrowRequest> {
    let format = RequestFormat::parse(&body.format).ok_or_else(|| {
        ApiError::Invalid(vec![domain::citation::FieldError {
            message_zh: None,
            field: "format",
            code: "invalid_format",
            message: format!(
                "format must be loan, article_copy or chapter_copy, not {:?}",
                body.format
            ),
        }])
    })?;
    let now = st.now();
    // "Today" for the need-by date is the library's day, not UTC's.
    let offset = st.store.library(&user.library_id).await?.offset();
    let mut citation = body
        .citation
        .validate(format, offset.date(now))
        .map_err(ApiError::Invalid)?;
    // A need-by date sooner than lenders supply at normal speed makes the request express
    // (the library's `express_within_days`); the form says so beside the date.
    let routing = super::route::settings(st, &user.library_id).await?;
    let express_by_date = !citation.express
        && routing.need_by_makes_express(super::route::days_left_of(&citation, now, offset));
    if express_by_date {
        citation.express = true;
    }
    let patron_id = match (&body.patron_id, user.is_patron()) {
        (None, true) => user.user_id.clone(),
        (Some(p), false) if user.can(domain::Actor::BorrowingStaff) => {
            let patron = st
                .store
                .user(p)
                .await
                .map_err(|_| ApiError::NotFound("patron"))?;
            if patron.library_id != user.library_id || patron.kind != "patron" {
                return Err(ApiError::NotFound("patron"));
            }
            p.clone()
        }
        (Some(_), true) => {
            return Err(ApiError::forbidden(
                "a reader asks for themselves only",
                "读者只能为自己提出请求",
            ));
        }
        (None, false) => {
            return Err(ApiError::Bilingual(
                400,
                "bad_request",
                "staff must name the reader: patron_id".to_owned(),
                "馆员代读者提交时须指明读者：patron_id".to_owned(),
            ));
        }
        (Some(_), false) => {
            return Err(ApiError::forbidden(
                "only borrowing staff request for a reader",
                "只有借入馆员可以代读者提出请求",
            ));
        }
    };
    let (rota, ranked) = match body.rota {
        Some(codes) if !user.is_patron() => (
            Rota::new(rota_entries(&st.store, &user.library_id, &codes).await?),
            false,
        ),
        Some(_) => {
            return Err(ApiError::forbidden(
                "readers cannot choose lenders",
                "读者不能指定出借馆",
            ));
        }
        None => (
            super::route::build(st, &user.library_id, format, &citation).await?,
            true,
        ),
    };
    // Available already (licensed, open access)? Asked before the transaction: the open-access
    // service is outside, and a failure there only flags the request.
    let available = super::available::check(st, &user.library_id, format, &citation).await;
    // The library's rules may send a ranked string at once, without staff review; not when
    // the text is available already: then the reader is shown the link instead.
    let send_now = ranked && !available.iter().any(super::available::Flag::is_available) && {
        let patron_type = st
            .store
            .user(&patron_id)
            .await?
            .patron_type
            .as_deref()
            .and_then(PatronType::parse);
        routing.sends_at_once(
            patron_type,
            Service::for_format(format),
            rota.entries.first(),
        )
    };
    let new = NewBorrowRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        library_id: user.library_id.clone(),
        patron_id,
        format: format.as_str().to_owned(),
        state: BorrowState::PendingReview.as_str().to_owned(),
        citation,
        rota,
        created_by: user.user_id.clone(),
    };
    let actor_id = user.user_id.clone();
    let label = if user.is_patron() { "patron" } else { "staff" };
    let id = new.request_id.clone();
    let touched = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.insert_borrow_request(&new, now).await?;
                let note = if new.rota.entries.is_empty() {
                    Some("no partner holds this item: add lenders to the rota")
                } else {
                    None
                };
                let mut data = serde_json::json!({
                    "rota": new.rota.entries.iter().map(|e| e.library.as_str()).collect::<Vec<_>>(),
                    "source": source.as_str(),
                });
                if express_by_date {
                    data["express_by_need_by"] = serde_json::json!(true);
                }
                tx.insert_event(
                    &NewEvent {
                        library_id: &new.library_id,
                        side: "borrow",
                        request_id: &new.request_id,
                        actor_id: Some(&actor_id),
                        actor: label,
                        action: "create",
                        from_state: None,
                        to_state: &new.state,
                        note,
                        message_id: None,
                        data: Some(data),
                    },
                    now,
                )
                .await?;
                // Copyright limit and earlier requests it repeats: same transaction.
                super::copyright::check_new_request(
                    tx,
                    now,
                    &new.library_id,
                    &new.request_id,
                    format,
                    &new.citation,
                    &super::copyright::Creator {
                        user_id: &actor_id,
                        label,
                    },
                )
                .await?;
                super::available::record(
                    tx,
                    now,
                    &new.library_id,
                    &new.request_id,
                    &available,
                    &super::copyright::Creator {
                        user_id: &actor_id,
                        label,
                    },
                )
                .await?;
                // A deposit that will not cover the expected charge: flagged for staff.
                super::reader_fees::check_new_request(tx, now, &new).await?;
                let about = crate::letters::About {
                    library_id: &new.library_id,
                    request_id: &new.request_id,
                    patron_id: &new.patron_id,
                };
                crate::letters::queue(
                    tx,
                    LetterKind::RequestReceived,
                    about,
                    serde_json::json!({}),
                    now,
                )
                .await?;
                if send_now {
                    let mut req = tx.borrow_request_for_update(&new.request_id).await?;
                    let extra = Extra {
                        note: None,
                        internal_note: Some(
                            "sent at once by the library's routing rule".to_owned(),
                        ),
                        ..Extra::default()
                    };
                    let touched = apply_borrow(
                        tx,
                        now,
                        &mut req,
                        BorrowAction::Approve,
                        &Acting::rule(),
                        &extra,
                    )
                    .await?;
                    return super::receive::deliver_here(tx, now, touched).await;
                }
                Ok::<_, FlowError>(Touched::default())
            })
        })
        .await?;
    // The "request received" letter is always queued; a request sent at once touched itself.
    st.store.notify_outbox();
    touched.publish(st);
    Ok(st.store.borrow_request(&id).await?)
}

/// Lender entries for codes staff typed, refusing unknown libraries and our own.
async fn rota_entries(store: &Store, own: &str, codes: &[String]) -> ApiResult<Vec<RotaEntry>> {
    let mut out = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let lib = LibraryCode::parse(code).map_err(|e| {
            ApiError::Invalid(vec![domain::citation::FieldError {
                message_zh: None,
                field: "rota",
                code: "invalid_library_code",
                message: format!("rota[{i}]: {e}"),
            }])
        })?;
        if lib.as_str() == own || store.library(lib.as_str()).await.is_err() {
            return Err(ApiError::Invalid(vec![domain::citation::FieldError {
                message_zh: None,
                field: "rota",
                code: "unknown_library",
                message: format!("rota[{i}]: {lib} is not a partner library"),
            }]));
        }
        if out.iter().any(|e: &RotaEntry| e.library == lib) {
            continue;
        }
        out.push(RotaEntry {
            library: lib,
            reason: "chosen by staff".to_owned(),
            reason_zh: "馆员指定".to_owned(),
            fee: None,
            outcome: None,
            note: None,
        });
    }
    Ok(out)
}

/// A person's action on a borrowing request of their library (or, for a patron, their own).
pub async fn borrow_action(
    st: &AppState,
    user: &CurrentUser,
    request_id: &str,
    input: ActionInput,
) -> ApiResult<BorrowRequest> {
    let action = BorrowAction::parse(&input.action)
        .filter(|a| a.is_manual())
        .ok_or_else(|| unknown_action(&input.action))?;
    let existing = visible_borrow(st, user, request_id).await?;
    // The new lenders are checked outside the transaction: that reads the directory only.
    let new_rota = match (action, &input.rota) {
        (BorrowAction::EditRota, Some(codes)) => {
            Some(rota_entries(&st.store, &existing.library_id, codes).await?)
        }
        (BorrowAction::EditRota, None) => {
            return Err(ApiError::Bilingual(
                400,
                "bad_request",
                "edit_rota needs rota: [library codes]".to_owned(),
                "修改出借馆序列需要 rota：[图书馆代码]".to_owned(),
            ));
        }
        _ => None,
    };
    if action == BorrowAction::Approve
        && existing.rota.0.entries.is_empty()
        && user.can(domain::Actor::BorrowingStaff)
    {
        return Err(ApiError::Bilingual(
            400,
            "bad_request",
            "the lender string is empty: add lenders with edit_rota before approving".to_owned(),
            "出借馆序列为空：请先用 edit_rota 添加出借馆再审核通过".to_owned(),
        ));
    }
    if action == BorrowAction::AcceptRetry
        && let Some(offer) = &existing.retry_offer
        && offer.0.has_lapsed(
            lender_offset(&st.store, &offer.0.lender)
                .await?
                .date(st.now()),
        )
    {
        let until = offer
            .0
            .retry_before
            .map(|d| d.to_string())
            .unwrap_or_default();
        return Err(ApiError::Bilingual(
            409,
            "retry_offer_lapsed",
            format!(
                "the lender's offer held until {until}; decline it to ask the next lender, or edit the lenders"
            ),
            format!(
                "出借馆的重试条件有效期至 {until}，已过期；请拒绝该条件以转向下一馆，或修改出借馆列表"
            ),
        ));
    }
    if action == BorrowAction::FillFromCopy {
        return super::copyright::fill_from_copy(st, user, request_id).await;
    }
    if action == BorrowAction::FillFromLink {
        let input = super::available::FillFromLink::default();
        return super::available::fill_from_link(st, user, request_id, input).await;
    }
    // Sent on although the text was found available: the history says what was passed over.
    let passed_over: Vec<String> = if action == BorrowAction::Approve {
        st.store
            .availability_of(&existing.request_id)
            .await?
            .into_iter()
            .filter(|a| a.status == "available")
            .map(|a| a.source)
            .collect()
    } else {
        Vec::new()
    };
    if matches!(action, BorrowAction::Approve | BorrowAction::Reactivate)
        && st
            .store
            .copyright_use(&existing.request_id)
            .await?
            .and_then(|u| domain::copyright::Clearance::parse(&u.clearance))
            .is_some_and(|c| !c.allows_sending())
    {
        return Err(ApiError::Bilingual(
            409,
            "copyright_clearance_required",
            super::copyright::CLEARANCE_NEEDED.replace("{id}", &existing.request_id),
            super::copyright::CLEARANCE_NEEDED_ZH.replace("{id}", &existing.request_id),
        ));
    }
    if action == BorrowAction::DeliverToPatron {
        // A copy shipped from another node is fetched and stored here before the reader gets
        // a link to it; one shipped from this node is already here.
        let (url, file) = st.store.borrow_document(&existing.request_id).await?;
        if let (Some(url), None) = (url, file) {
            crate::api::files::fetch_remote_copy(
                st,
                &existing.library_id,
                &existing.request_id,
                &url,
            )
            .await?;
        }
    }
    let acting = Acting::user(user);
    let id = request_id.to_owned();
    let now = st.now();
    let config = st.config.clone();
    let touched = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut req = tx.borrow_request_for_update(&id).await?;
                if let Some(mut entries) = new_rota {
                    // A lender the ranking had put in the string keeps its reasons and fee.
                    for e in &mut entries {
                        if let Some(ranked) = req.rota.0.entries.iter().find(|r| {
                            r.library == e.library && r.outcome.is_none() && !r.reason_zh.is_empty()
                        }) {
                            e.reason = ranked.reason.clone();
                            e.reason_zh = ranked.reason_zh.clone();
                            e.fee = ranked.fee.clone();
                        }
                    }
                    req.rota.0.replace_remaining(entries);
                }
                let extra = Extra {
                    note: input.note.clone(),
                    internal_note: input.internal_note.clone(),
                    data: (!passed_over.is_empty())
                        .then(|| serde_json::json!({ "available_passed_over": passed_over })),
                    ..Extra::default()
                };
                let touched = apply_borrow(tx, now, &mut req, action, &acting, &extra).await?;
                let touched = super::receive::deliver_here(tx, now, touched).await?;
                if action == BorrowAction::DeliverToPatron
                    && let Some(link) =
                        crate::api::files::issue_link(tx, &config, &req, now).await?
                {
                    let vars = serde_json::json!({
                        "link": link.link,
                        "expires": tx.library(&req.library_id).await?.offset().date(link.expires_at).to_string(),
                        "views": link.max_views,
                    });
                    crate::letters::queue(
                        tx,
                        LetterKind::DocumentDelivered,
                        (&req).into(),
                        vars,
                        now,
                    )
                    .await?;
                }
                Ok::<_, FlowError>(touched)
            })
        })
        .await?;
    touched.publish(st);
    Ok(st.store.borrow_request(request_id).await?)
}

fn unknown_action(name: &str) -> ApiError {
    ApiError::Refused(domain::Refusal::NotAllowed {
        state: "any",
        action: name.to_owned(),
        allowed: domain::requester::BORROW_ACTIONS
            .iter()
            .filter(|a| a.is_manual())
            .map(|a| a.as_str())
            .collect(),
    })
}

/// A borrowing request the user may see: their library's for staff, their own for a patron.
/// Anything else is "not found", so ids of other libraries leak nothing.
pub async fn visible_borrow(
    st: &AppState,
    user: &CurrentUser,
    request_id: &str,
) -> ApiResult<BorrowRequest> {
    let req = st
        .store
        .borrow_request(request_id)
        .await
        .map_err(|_| ApiError::NotFound("request"))?;
    let visible =
        req.library_id == user.library_id && (!user.is_patron() || req.patron_id == user.user_id);
    if visible {
        Ok(req)
    } else {
        Err(ApiError::NotFound("request"))
    }
}

/// What an action brings besides its name.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub note: Option<String>,
    pub internal_note: Option<String>,
    /// From the lender's message: its due date.
    pub due_date: Option<time::Date>,
    /// Event details (the message fields that mattered).
    pub data: Option<serde_json::Value>,
    /// From the lender's RetryPossible message: the terms it offered.
    pub retry_offer: Option<domain::retry::RetryOffer>,
}

pub fn context(req: &BorrowRequest) -> Result<(BorrowState, BorrowContext), FlowError> {
    let state = BorrowState::parse(&req.state).ok_or_else(|| {
        FlowError::Store(StoreError::Corrupt(format!("borrow state {}", req.state)))
    })?;
    let format = RequestFormat::parse(&req.format)
        .ok_or_else(|| FlowError::Store(StoreError::Corrupt(format!("format {}", req.format))))?;
    let ctx = BorrowContext {
        format,
        has_next_lender: req.rota.0.has_next(),
        cancel_pending: req.cancel_pending,
        renew_pending: req.renew_pending,
        // Read apart (`return_held`, `holding_return`): only loans on hold have a row.
        return_held: false,
        holding_return: false,
    };
    Ok((state, ctx))
}

/// The state and context of `req` for `action`, with the hold on its return read only for the
/// actions that look at it (every other step of every request is spared the read).
async fn context_in(
    tx: &mut Tx<'_>,
    req: &BorrowRequest,
    action: BorrowAction,
) -> Result<(BorrowState, BorrowContext), FlowError> {
    let (state, mut ctx) = context(req)?;
    if matches!(
        action,
        BorrowAction::ShipReturn
            | BorrowAction::MarkLost
            | BorrowAction::HoldReturn
            | BorrowAction::LenderReleaseHoldReturn
            | BorrowAction::LenderLoanCompleted
            | BorrowAction::LenderCompletedWithoutReturn
    ) {
        let holds = tx.return_holds(&req.request_id).await?;
        (ctx.return_held, ctx.holding_return) = store::held_by_each(&holds);
    }
    Ok((state, ctx))
}

/// The time of the lender `code` (a retry offer's days are its days); the default when it is
/// not in the directory.
async fn lender_offset(
    store: &store::Store,
    code: &str,
) -> Result<domain::library::LibraryOffset, store::StoreError> {
    match store.library(code).await {
        Ok(l) => Ok(l.offset()),
        Err(store::StoreError::NotFound) => Ok(domain::library::LibraryOffset::default()),
        Err(e) => Err(e),
    }
}

/// `lender_offset` inside a transaction.
async fn tx_lender_offset(
    tx: &mut Tx<'_>,
    code: &str,
) -> Result<domain::library::LibraryOffset, store::StoreError> {
    match tx.library(code).await {
        Ok(l) => Ok(l.offset()),
        Err(store::StoreError::NotFound) => Ok(domain::library::LibraryOffset::default()),
        Err(e) => Err(e),
    }
}

/// What we tell the lender when staff hold the return without a note of their own.
const HOLD_RETURN_NOTE: (&str, &str) = (
    "We keep the item a while and will send it back later",
    "本馆暂留该资料，稍后归还",
);

/// Decide `action` and carry out its effects inside the caller's transaction: the state, the
/// rota, the flags, the event and every outgoing message.
pub async fn apply_borrow(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &mut BorrowRequest,
    action: BorrowAction,
    acting: &Acting,
    extra: &Extra,
) -> Result<Touched, FlowError> {
    let (state, ctx) = context_in(tx, req, action).await?;
    let decision = Requester::decide(state, action, &ctx, &acting.actors)?;
    let mut messages = Vec::new();
    // A note librelay writes itself, in English and Chinese, for the event.
    let mut own_note: Option<(&str, &str)> = None;
    let outcome = match action {
        // A retry offer left unanswered past its last day counts as declined.
        BorrowAction::LenderDeadlinePassed if state == BorrowState::RetryOffered => {
            RotaOutcome::RetryDeclined
        }
        BorrowAction::LenderDeadlinePassed => RotaOutcome::NoAnswer,
        BorrowAction::RejectConditions => RotaOutcome::ConditionsRefused,
        BorrowAction::LenderCancelled => RotaOutcome::Cancelled,
        BorrowAction::DeclineRetry => RotaOutcome::RetryDeclined,
        _ => RotaOutcome::Unfilled,
    };
    let mut touched = Touched {
        request_ids: vec![req.request_id.clone()],
        messages: 0,
    };
    for effect in decision.effects {
        match effect {
            BorrowEffect::AdvanceRota => {
                let note = extra.note.clone();
                let next = req
                    .rota
                    .0
                    .advance(outcome, note)
                    .map(|e| e.library.to_string());
                req.lender_id = next;
                req.lender_request_id = None;
                req.lender_deadline = None;
            }
            BorrowEffect::SendRequest => {
                super::copyright::ensure_cleared(tx, &req.request_id).await?;
                let id = send_request(tx, now, req, extra, None).await?;
                messages.push(id);
            }
            BorrowEffect::KeepRetryOffer => {
                req.retry_offer = extra.retry_offer.clone().map(store::Json);
                // An offer with a last day is declined by the deadline sweep once that day
                // has passed at the lender (whose day it is) with no answer from staff.
                req.lender_deadline = match &extra.retry_offer {
                    Some(o) => match o.retry_before.and_then(|d| d.next_day()) {
                        Some(d) => Some(tx_lender_offset(tx, &o.lender).await?.start_of(d)),
                        None => None,
                    },
                    None => None,
                };
            }
            BorrowEffect::DropRetryOffer => req.retry_offer = None,
            BorrowEffect::SendRetryRequest => {
                let offer = req.retry_offer.take().map(|o| o.0).ok_or_else(|| {
                    FlowError::bad("there are no retry terms to accept", "没有可接受的重试条件")
                })?;
                super::copyright::ensure_cleared(tx, &req.request_id).await?;
                let id = send_request(tx, now, req, extra, Some(&offer)).await?;
                messages.push(id);
            }
            BorrowEffect::ResetRota => {
                req.rota.0.reset();
                req.lender_id = None;
                req.lender_request_id = None;
                req.lender_deadline = None;
                req.cancel_pending = false;
                req.renew_pending = false;
                req.retry_offer = None;
            }
            BorrowEffect::CancelAtLender => {
                let note = extra
                    .note
                    .clone()
                    .or_else(|| Some(cancel_note(action).to_owned()));
                messages.push(send_ram(tx, now, req, IsoAction::Cancel, note).await?);
            }
            BorrowEffect::MarkCancelPending => req.cancel_pending = true,
            BorrowEffect::ClearCancelPending => req.cancel_pending = false,
            BorrowEffect::ClearLenderDeadline => req.lender_deadline = None,
            BorrowEffect::SendReceived => messages
                .push(send_ram(tx, now, req, IsoAction::Received, extra.note.clone()).await?),
            BorrowEffect::SendRenew => {
                messages.push(send_ram(tx, now, req, IsoAction::Renew, extra.note.clone()).await?)
            }
            BorrowEffect::MarkRenewPending => req.renew_pending = true,
            BorrowEffect::RenewAnswered => req.renew_pending = false,
            BorrowEffect::SendShippedReturn => messages
                .push(send_ram(tx, now, req, IsoAction::ShippedReturn, extra.note.clone()).await?),
            BorrowEffect::SendConditionsAccepted => {
                let note = format!(
                    "{} {}",
                    domain::machine::CONDITION_AGREED_MARKER,
                    extra.note.clone().unwrap_or_default()
                );
                messages.push(
                    send_ram(
                        tx,
                        now,
                        req,
                        IsoAction::Notification,
                        Some(note.trim().to_owned()),
                    )
                    .await?,
                )
            }
            BorrowEffect::SendLost => {
                let note = extra
                    .note
                    .clone()
                    .unwrap_or_else(|| "Item reported lost".to_owned());
                messages.push(send_ram(tx, now, req, IsoAction::Lost, Some(note)).await?)
            }
            BorrowEffect::MarkReturnHeld => {
                // The lender's hold: by the lender's agency, with its words.
                let by = extra
                    .data
                    .as_ref()
                    .and_then(|d| d["from"].as_str())
                    .map(str::to_owned);
                let hold = store::NewReturnHold {
                    library_id: &req.library_id,
                    side: "borrow",
                    request_id: &req.request_id,
                    held_by: store::HELD_BY_LENDER,
                    actor: by.as_deref(),
                    note: extra.note.as_deref(),
                };
                tx.open_return_hold(&hold, now).await?;
            }
            BorrowEffect::ClearReturnHeld => {
                if ctx.return_held {
                    tx.release_return_hold(&req.request_id, Some(store::HELD_BY_LENDER))
                        .await?;
                }
            }
            BorrowEffect::SendHoldReturn => {
                // Both languages, as partner letters: the lender's staff may read either.
                let note = match &extra.note {
                    Some(n) => n.clone(),
                    None => {
                        own_note = Some(HOLD_RETURN_NOTE);
                        format!("{} / {}", HOLD_RETURN_NOTE.0, HOLD_RETURN_NOTE.1)
                    }
                };
                messages.push(send_ram(tx, now, req, IsoAction::HoldReturn, Some(note)).await?)
            }
            BorrowEffect::MarkHoldingReturn => {
                let hold = store::NewReturnHold {
                    library_id: &req.library_id,
                    side: "borrow",
                    request_id: &req.request_id,
                    held_by: store::HELD_BY_BORROWER,
                    actor: acting.username.as_deref(),
                    note: extra.note.as_deref(),
                };
                tx.open_return_hold(&hold, now).await?;
            }
            BorrowEffect::ClearHoldingReturn => {
                if ctx.holding_return {
                    tx.release_return_hold(&req.request_id, Some(store::HELD_BY_BORROWER))
                        .await?;
                }
            }
            BorrowEffect::TakeDueDate => {
                if extra.due_date.is_some() {
                    req.due_date = extra.due_date;
                }
            }
            BorrowEffect::MarkOverdue => req.overdue = true,
            BorrowEffect::MarkRecalled => req.recalled = true,
        }
    }
    req.state = decision.to.as_str().to_owned();
    tx.update_borrow_request(req, now).await?;
    let note = match (&extra.note, &extra.internal_note, own_note) {
        (Some(n), Some(i), _) => Some(format!("{n} / {i}")),
        (None, i, Some((en, _))) => Some(match i {
            Some(i) => format!("{en} / {i}"),
            None => en.to_owned(),
        }),
        (n, i, _) => n.clone().or_else(|| i.clone()),
    };
    let mut data = extra.data.clone().unwrap_or_else(|| serde_json::json!({}));
    if let Some(obj) = data.as_object_mut() {
        if let (Some((_, zh)), None) = (own_note, &extra.internal_note) {
            obj.insert("note_zh".to_owned(), serde_json::json!(zh));
        }
        if !messages.is_empty() {
            obj.insert("messages".to_owned(), serde_json::json!(messages));
        }
        if let Some(l) = &req.lender_id {
            obj.insert("lender".to_owned(), serde_json::json!(l));
        }
    }
    tx.insert_event(
        &NewEvent {
            library_id: &req.library_id,
            side: "borrow",
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
    touched.messages = messages.len();
    // The lender shipped: what the reader pays, and who pays it, in the same transaction.
    if decision.to == BorrowState::Shipped
        && matches!(
            action,
            BorrowAction::LenderLoaned | BorrowAction::LenderCopyCompleted
        )
    {
        super::reader_fees::charge_on_shipment(tx, now, req).await?;
    }
    // Ended without the reader getting the item: the charge is given back in the same
    // transaction.
    if decision.to != decision.from {
        super::reader_fees::refund_if_not_received(tx, now, req, decision.from, decision.to)
            .await?;
    }
    // The reader hears of the steps that concern them, in the same transaction.
    if decision.to != state {
        let letter = match decision.to {
            BorrowState::Unfilled => Some((
                LetterKind::Unfilled,
                serde_json::json!({ "reason": extra.note }),
            )),
            BorrowState::Cancelled => Some((LetterKind::Cancelled, serde_json::json!({}))),
            BorrowState::Received if req.format == RequestFormat::Loan.as_str() => {
                Some((LetterKind::ReadyForPickup, serde_json::json!({})))
            }
            // The first lender only: moving along the rota is not news for the reader.
            BorrowState::Sent if decision.from == BorrowState::PendingReview => {
                Some((LetterKind::SentToLender, serde_json::json!({})))
            }
            BorrowState::ConditionalPending => Some((
                LetterKind::ConditionalNeedsAnswer,
                serde_json::json!({ "reason": extra.note.as_deref().map(|n| {
                    n.replace(domain::machine::CONDITION_MARKER, "").trim().to_owned()
                }) }),
            )),
            BorrowState::Shipped => Some((LetterKind::Shipped, serde_json::json!({}))),
            _ => None,
        };
        if let Some((kind, vars)) = letter {
            crate::letters::queue(tx, kind, (&*req).into(), vars, now).await?;
            touched.messages += 1;
        }
    }
    // A recall changes no state (the reader still has the item) but they must hear of it.
    if action == BorrowAction::LenderRecalled {
        crate::letters::queue(
            tx,
            LetterKind::Recalled,
            (&*req).into(),
            serde_json::json!({}),
            now,
        )
        .await?;
        touched.messages += 1;
    }
    Ok(touched)
}

fn cancel_note(action: BorrowAction) -> &'static str {
    match action {
        BorrowAction::LenderDeadlinePassed => {
            "No answer by the deadline; the request has moved to another library"
        }
        BorrowAction::RejectConditions => "Conditions not accepted",
        _ => "Cancelled by the borrowing library",
    }
}

/// The ISO 18626 request to the current lender; starts the lender's answer deadline.
///
/// With a retry offer the request is the lender's terms accepted (ISO 18626 requestType
/// `Retry`, referring to the request it answered); it waits in the outbox until the offer's
/// `retry_after` day, and the lender's answer deadline runs from then.
async fn send_request(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &mut BorrowRequest,
    extra: &Extra,
    retry: Option<&domain::retry::RetryOffer>,
) -> Result<i64, FlowError> {
    let lender_id = req
        .lender_id
        .clone()
        .ok_or_else(|| FlowError::Internal("send without a lender".into()))?;
    let lender = tx.library(&lender_id).await?;
    let borrower = tx.library(&req.library_id).await?;
    let policy = tx.policy_for(&lender_id, &req.library_id).await?;
    let answer_days = policy.as_ref().map_or(3, |p| p.answer_days.max(1));
    // The answer days are the lender's opening days, so they are counted on the lender's
    // calendar in the lender's time: its staff answer in their own day, and its closed days
    // are days there. (The borrower's days would shift the lender's time to answer by the
    // difference of the two clocks, on the lender's calendar.)
    let offset = lender.offset();
    let today = offset.date(now);
    // A retry's dates are days of the lender, whose staff gave them: the request goes out at
    // the lender's midnight of `retry_after`.
    let send_on = match retry.map(|r| r.send_on(today)) {
        Some(day) if day > today => day,
        _ => today,
    };
    let send_at = if send_on > today {
        offset.start_of(send_on)
    } else {
        now
    };
    // "Answer within 3 working days": until the end (23:59:59 at the lender) of the third
    // opening day after the day the request reaches it.
    let last_day = lender.closed_days.0.add_open_days(send_on, answer_days);
    req.lender_deadline = Some(offset.end_of(last_day));
    let format = RequestFormat::parse(&req.format).unwrap_or(RequestFormat::Loan);
    req.send_seq += 1;
    let header = iso::header(
        iso::agency(&borrower),
        iso::agency(&lender),
        &wire_id(req),
        None,
        now,
    );
    let mut request = iso::request(header, format, &req.citation.0, extra.note.clone());
    if format.is_copy()
        && let Some(service) = request.service_info.as_mut()
    {
        let code = super::copyright::compliance_for(tx, &req.library_id, &req.request_id).await?;
        service.copyright_compliance = Some(code.as_str().to_owned());
    }
    if let Some(offer) = retry {
        iso::accept_retry(&mut request, offer);
    }
    let msg = wire::Message::Request(request);
    let xml = wire::write(&msg, wire::Version::V2021);
    let recipient = iso::agency_key(&iso::agency(&lender));
    let id = tx
        .insert_outbox_at(
            &NewOutbox {
                library_id: &req.library_id,
                request_id: &req.request_id,
                side: "borrow",
                kind: "request",
                recipient: &recipient,
                payload: &xml,
            },
            now,
            send_at,
        )
        .await?;
    Ok(id)
}

/// A message to the lender outside the machine's steps (a staff note). Returns the outbox id.
pub(crate) async fn send_notification(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &BorrowRequest,
    action: IsoAction,
    note: String,
) -> Result<i64, FlowError> {
    send_ram(tx, now, req, action, Some(note)).await
}

async fn send_ram(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &BorrowRequest,
    action: IsoAction,
    note: Option<String>,
) -> Result<i64, FlowError> {
    let lender_id = req
        .lender_id
        .clone()
        .ok_or_else(|| FlowError::Internal("message without a lender".into()))?;
    let lender = tx.library(&lender_id).await?;
    let borrower = tx.library(&req.library_id).await?;
    let header = iso::header(
        iso::agency(&borrower),
        iso::agency(&lender),
        &wire_id(req),
        req.lender_request_id.as_deref(),
        now,
    );
    let msg = wire::Message::RequestingAgencyMessage(wire::RequestingAgencyMessage {
        header,
        action: iso::action_to_wire(action),
        note,
    });
    let xml = wire::write(&msg, wire::Version::V2021);
    let recipient = iso::agency_key(&iso::agency(&lender));
    let id = tx
        .insert_outbox(
            &NewOutbox {
                library_id: &req.library_id,
                request_id: &req.request_id,
                side: "borrow",
                kind: "requesting_agency_message",
                recipient: &recipient,
                payload: &xml,
            },
            now,
        )
        .await?;
    Ok(id)
}

/// The requestingAgencyRequestId of the current send: `request_id.n`.
pub fn wire_id(req: &BorrowRequest) -> String {
    format!("{}.{}", req.request_id, req.send_seq)
}

/// Our request id and send number out of a requestingAgencyRequestId.
pub fn parse_wire_id(id: &str) -> (&str, Option<i64>) {
    match id.rsplit_once('.') {
        Some((rid, n)) => match n.parse() {
            Ok(n) => (rid, Some(n)),
            Err(_) => (id, None),
        },
        None => (id, None),
    }
}

/// Actions this user may take now, for lists of many requests: as if no lender held the
/// return (one read per row would slow the queues); the action itself is decided on what is
/// stored. A single request's page uses [`allowed_actions_now`].
pub fn allowed_actions(
    req: &BorrowRequest,
    user: &CurrentUser,
) -> Result<Vec<&'static str>, FlowError> {
    let (state, ctx) = context(req)?;
    allowed_in(state, &ctx, user)
}

/// Actions this user may take now on one request, knowing whether its return is held.
pub async fn allowed_actions_now(
    store: &store::Store,
    req: &BorrowRequest,
    user: &CurrentUser,
) -> Result<Vec<&'static str>, FlowError> {
    let (state, mut ctx) = context(req)?;
    let holds = store.return_holds(&req.request_id).await?;
    (ctx.return_held, ctx.holding_return) = store::held_by_each(&holds);
    allowed_in(state, &ctx, user)
}

fn allowed_in(
    state: BorrowState,
    ctx: &BorrowContext,
    user: &CurrentUser,
) -> Result<Vec<&'static str>, FlowError> {
    Ok(Requester::allowed(state, ctx, &user.actors())
        .into_iter()
        // Offered only where an earlier delivered copy exists (see the request's `duplicate`) or
        // the text is available already (its `availability`).
        .filter(|a| {
            a.is_manual() && !matches!(a, BorrowAction::FillFromCopy | BorrowAction::FillFromLink)
        })
        .map(|a| a.as_str())
        .collect())
}
