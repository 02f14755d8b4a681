//! Incoming ISO 18626 messages, from HTTP or from the outbox of a library on this node: find
//! the library the header names, apply the message once (a repeat gets the same confirmation
//! and changes nothing) and answer with the confirmation in the sender's schema version.

use domain::machine::IsoAction;
use domain::requester::BorrowAction;
use domain::supplier::{LendAction, LendState};
use sha2::{Digest, Sha256};
use store::{NewEvent, NewLendRequest, NewOutbox, Savepoint, StoreError, Tx};
use time::OffsetDateTime;

use super::borrow::{Extra, apply_borrow};
use super::lend::apply_lend;
use super::{Acting, ActionInput, FlowError, Touched, iso};
use crate::AppState;
use ::iso18626 as wire;

/// The answer to one incoming message.
#[derive(Debug)]
pub struct Received {
    pub confirmation: String,
    pub ok: bool,
    /// The HTTP status to answer with: 200, or what the sender's peer profile asks for a
    /// refusal (400), or 401 when its credentials are missing or wrong.
    pub http_status: u16,
}

/// Receive one message over HTTP. Never fails: every problem becomes an ERROR confirmation
/// that says what and where (and, for our own faults, is logged). A sender with a peer
/// profile must present the credentials the profile asks for.
pub async fn receive(st: &AppState, body: &[u8], headers: &axum::http::HeaderMap) -> Received {
    receive_inner(st, body, None, Some(headers)).await
}

/// Deliver a message from the outbox of a library on this node: applied and marked delivered
/// (or dead, when refused) in one transaction, so a crash between the two cannot happen.
pub async fn deliver_local(st: &AppState, body: &[u8], outbox_id: i64) -> Received {
    receive_inner(st, body, Some(outbox_id), None).await
}

/// The peer profile of the library that sent `msg`, when it is served elsewhere.
async fn sender_profile(
    st: &AppState,
    msg: &wire::Message,
) -> Result<Option<domain::peer::PeerProfile>, StoreError> {
    let h = msg.header();
    let sender = match msg {
        wire::Message::SupplyingAgencyMessage(_)
        | wire::Message::SupplyingAgencyMessageConfirmation(_) => &h.supplying_agency_id,
        _ => &h.requesting_agency_id,
    };
    let Some(lib) = st
        .store
        .library_by_agency(&sender.agency_type, &sender.value)
        .await?
    else {
        return Ok(None);
    };
    st.store.peer(&lib.library_id).await
}

async fn receive_inner(
    st: &AppState,
    body: &[u8],
    outbox_id: Option<i64>,
    headers: Option<&axum::http::HeaderMap>,
) -> Received {
    let now = st.now();
    let (msg, version) = match wire::parse(body) {
        Ok(v) => v,
        Err(e) => {
            metrics::counter!("librelay_iso18626_received_total", "result" => "unreadable")
                .increment(1);
            let xml = unreadable(body, now, &e);
            if let Some(id) = outbox_id {
                let why = format!("{}: {e}", e.error_type().as_str());
                let confirmation = xml.clone();
                let marked = st
                    .store
                    .write(move |tx| {
                        Box::pin(async move { tx.outbox_dead(id, &why, &confirmation).await })
                    })
                    .await;
                if let Err(e) = marked {
                    tracing::warn!(error = %e, "could not park an unreadable outgoing message");
                }
            }
            return Received {
                confirmation: xml,
                ok: false,
                http_status: 200,
            };
        }
    };
    let mut refusal_status = 200;
    if let Some(headers) = headers {
        let profile = match sender_profile(st, &msg).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "could not read the sender's peer profile");
                None
            }
        };
        if let Some(profile) = profile {
            if profile.error_style == domain::peer::ErrorStyle::Http400 {
                refusal_status = 400;
            }
            if !super::send::credentials_ok(&profile.inbound_auth, headers) {
                metrics::counter!("librelay_iso18626_received_total", "result" => "unauthorised")
                    .increment(1);
                let what = "the credentials this node expects from the sending agency are missing or wrong".to_owned();
                return Received {
                    confirmation: refuse(
                        &msg,
                        now,
                        version,
                        wire::ErrorType::UnrecognisedDataValue,
                        what,
                    ),
                    ok: false,
                    http_status: 401,
                };
            }
        }
    }
    let key = message_key(&msg);
    let moved = msg.clone();
    let result = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let (xml, refused, touched) = apply(tx, now, &moved, version, Some(&key)).await?;
                // Closed before the replies go out: they may follow it on the same thread.
                if let Some(id) = outbox_id {
                    match &refused {
                        None => tx.outbox_delivered(id, &xml, now).await?,
                        Some(why) => {
                            park_refused(tx, now, id, why, &xml).await?;
                        }
                    }
                }
                let touched = deliver_here(tx, now, touched).await?;
                Ok::<_, FlowError>((xml, refused.is_none(), touched))
            })
        })
        .await;
    match result {
        Ok((xml, ok, touched)) => {
            touched.publish(st);
            let label = if ok { "ok" } else { "error" };
            metrics::counter!("librelay_iso18626_received_total", "result" => label).increment(1);
            Received {
                confirmation: xml,
                ok,
                http_status: if ok { 200 } else { refusal_status },
            }
        }
        Err(e) => {
            tracing::error!(error = %e, kind = msg.kind(), "could not apply an incoming message");
            metrics::counter!("librelay_iso18626_received_total", "result" => "failed")
                .increment(1);
            let conf = iso::confirmation(
                &msg,
                now,
                Some((
                    wire::ErrorType::UnrecognisedDataValue,
                    "the message could not be stored; send it again later".to_owned(),
                )),
            );
            Received {
                confirmation: wire::write(&conf, version),
                ok: false,
                http_status: 200,
            }
        }
    }
}

/// The ERROR confirmation for a message that could not be read. Where enough of it can be made
/// out, the confirmation is of the matching kind, in the sender's version, and repeats its
/// agency ids and request id so that the sender can tell which message was refused.
fn unreadable(body: &[u8], now: OffsetDateTime, e: &wire::ParseError) -> String {
    let error = Some((e.error_type(), e.to_string()));
    let Some(s) = wire::sniff(body) else {
        let blank = wire::Message::RequestConfirmation(wire::Confirmation::default());
        return wire::write(&iso::confirmation(&blank, now, error), wire::Version::V2021);
    };
    let mut header = s.header;
    // A confirmation's header is the sender's, less what a confirmation does not carry.
    header.supplying_agency_request_id = None;
    let skeleton = match s.kind {
        "supplyingAgencyMessage" => {
            wire::Message::SupplyingAgencyMessage(wire::SupplyingAgencyMessage {
                header,
                ..Default::default()
            })
        }
        "requestingAgencyMessage" => {
            wire::Message::RequestingAgencyMessage(wire::RequestingAgencyMessage {
                header,
                action: s.action.unwrap_or(wire::Action::Notification),
                note: None,
            })
        }
        _ => wire::Message::Request(wire::Request {
            header,
            ..Default::default()
        }),
    };
    let mut conf = iso::confirmation(&skeleton, now, error);
    // Repeat only what the sender said: an unreadable reason or action is left out.
    match &mut conf {
        wire::Message::SupplyingAgencyMessageConfirmation(c) => {
            c.reason_for_message = s.reason_for_message;
        }
        wire::Message::RequestingAgencyMessageConfirmation(c) => c.action = s.action,
        _ => {}
    }
    wire::write(&conf, s.version)
}

/// How many rounds of replies to replies one transaction delivers on this node before it
/// leaves the rest to the outbox worker (a reply to a message is the next round).
const LOCAL_ROUNDS: usize = 8;

/// Deliver, inside the transaction that queued them, the partner messages addressed to
/// libraries served by this node: each is applied as if it had arrived from the outbox and its
/// outbox row closed with the confirmation, so the change, its message and the recipient's
/// answer commit together, with no second transaction and no wait for the worker. Returns
/// what the deliveries touched, with `touched` (the sender's own change) merged in.
///
/// A message is left to the outbox worker, as before, when its recipient is served elsewhere,
/// when an earlier message of the same request to the same recipient is still waiting (order
/// is kept), or when applying it fails: that failure is undone on its own (a savepoint), and
/// the worker retries and logs it, so the sender's own change stands.
pub async fn deliver_here(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    mut touched: Touched,
) -> Result<Touched, FlowError> {
    for _ in 0..LOCAL_ROUNDS {
        let queued = tx.take_queued_messages();
        if queued.is_empty() {
            return Ok(touched);
        }
        for m in queued {
            if !served_here(tx, &m.recipient).await?
                || tx
                    .outbox_waits_behind(&m.request_id, &m.recipient, m.outbox_id)
                    .await?
            {
                touched.messages += 1;
                continue;
            }
            let Ok((msg, version)) = wire::parse(m.payload.as_bytes()) else {
                // The worker parks it with the reason.
                touched.messages += 1;
                continue;
            };
            let mark = tx.queued_len();
            tx.savepoint(Savepoint::LocalDelivery).await?;
            // No idempotency record: the message exists only in this transaction and is closed
            // as delivered in it, so it cannot arrive a second time.
            match apply(tx, now, &msg, version, None).await {
                Ok((xml, refused, t)) => {
                    match &refused {
                        None => tx.outbox_delivered(m.outbox_id, &xml, now).await?,
                        Some(why) => {
                            // Refused on this node: told as a refusal by another node is.
                            park_refused(tx, now, m.outbox_id, why, &xml).await?;
                        }
                    }
                    tx.release(Savepoint::LocalDelivery).await?;
                    let label = if refused.is_none() { "ok" } else { "refused" };
                    metrics::counter!("librelay_outbox_delivered_total", "result" => label)
                        .increment(1);
                    touched.merge(t);
                }
                Err(e) => {
                    tx.rollback_to(Savepoint::LocalDelivery).await?;
                    tx.forget_queued_after(mark);
                    tracing::warn!(error = %e, outbox_id = m.outbox_id, kind = msg.kind(),
                        "could not deliver a message on this node at once; the outbox retries it");
                    touched.messages += 1;
                }
            }
        }
    }
    if !tx.take_queued_messages().is_empty() {
        touched.messages += 1;
    }
    Ok(touched)
}

/// Whether `recipient` (TYPE:VALUE) is a library this node serves itself.
async fn served_here(tx: &mut Tx<'_>, recipient: &str) -> Result<bool, StoreError> {
    let Some(agency) = iso::parse_agency_key(recipient) else {
        return Ok(false);
    };
    let Some(library) = tx
        .library_by_agency(&agency.agency_type, &agency.value)
        .await?
    else {
        return Ok(false);
    };
    Ok(tx.peer(&library.library_id).await?.is_none())
}

/// Identifies a message independently of how it was sent, for idempotency.
fn message_key(msg: &wire::Message) -> String {
    let h = msg.header();
    let detail = match msg {
        wire::Message::SupplyingAgencyMessage(m) => format!(
            "{}|{}|{:?}",
            m.message_info.reason_for_message.as_str(),
            m.status_info.status.as_str(),
            m.message_info.answer_yes_no
        ),
        wire::Message::RequestingAgencyMessage(m) => format!(
            "{}|{}",
            m.action.as_str(),
            m.note.clone().unwrap_or_default()
        ),
        _ => String::new(),
    };
    let text = format!(
        "{}|{}|{}|{}|{}|{}|{}",
        msg.kind(),
        iso::agency_key(&h.requesting_agency_id),
        iso::agency_key(&h.supplying_agency_id),
        h.requesting_agency_request_id,
        h.supplying_agency_request_id.clone().unwrap_or_default(),
        h.timestamp,
        detail
    );
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn refuse(
    msg: &wire::Message,
    now: OffsetDateTime,
    version: wire::Version,
    t: wire::ErrorType,
    what: String,
) -> String {
    wire::write(&iso::confirmation(msg, now, Some((t, what))), version)
}

/// An ERROR confirmation for `msg`, with the refusal text for the outbox and nothing changed.
fn refused(
    msg: &wire::Message,
    now: OffsetDateTime,
    version: wire::Version,
    t: wire::ErrorType,
    text: String,
) -> (String, Option<String>, Touched) {
    let xml = refuse(msg, now, version, t, text.clone());
    (xml, Some(text), Touched::default())
}

/// Apply a message: the confirmation, the refusal text when it was refused, what changed.
/// With `key`, a message seen before gets its first confirmation again and changes nothing.
async fn apply(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    msg: &wire::Message,
    version: wire::Version,
    key: Option<&str>,
) -> Result<(String, Option<String>, Touched), FlowError> {
    let h = msg.header();
    // Requests and requesting agency messages are for the supplier; the rest for the requester.
    let (ours, field) = match msg {
        wire::Message::Request(_) | wire::Message::RequestingAgencyMessage(_) => {
            (&h.supplying_agency_id, "supplyingAgencyId")
        }
        wire::Message::SupplyingAgencyMessage(_) => (&h.requesting_agency_id, "requestingAgencyId"),
        _ => {
            let text = format!(
                "a {} is an answer, not a message this endpoint takes",
                msg.kind()
            );
            return Ok(refused(
                msg,
                now,
                version,
                wire::ErrorType::UnsupportedActionType,
                text,
            ));
        }
    };
    let Some(library) = tx.library_by_agency(&ours.agency_type, &ours.value).await? else {
        let text = format!(
            "header/{field} {} is not a library on this node",
            iso::agency_key(ours)
        );
        return Ok(refused(
            msg,
            now,
            version,
            wire::ErrorType::UnrecognisedDataValue,
            text,
        ));
    };
    if tx.peer(&library.library_id).await?.is_some() {
        if let Some(hub) = relaying_hub(tx, msg, &library).await? {
            return relay(tx, now, msg, version, key, &hub, &library).await;
        }
        let text = format!(
            "header/{field} {} is a partner served by another system, not by this node",
            iso::agency_key(ours)
        );
        return Ok(refused(
            msg,
            now,
            version,
            wire::ErrorType::UnrecognisedDataValue,
            text,
        ));
    }
    if let Some(key) = key
        && let Some(previous) = tx.inbox_seen(&library.library_id, key).await?
    {
        return Ok((previous, None, Touched::default()));
    }
    let outcome = match msg {
        wire::Message::Request(r) => on_request(tx, now, &library.library_id, r, version).await?,
        wire::Message::SupplyingAgencyMessage(m) => {
            on_supplying(tx, now, &library.library_id, m, false).await?
        }
        wire::Message::RequestingAgencyMessage(m) => {
            on_requesting(tx, now, &library.library_id, m).await?
        }
        _ => Outcome::Error(
            wire::ErrorType::UnsupportedActionType,
            "unexpected message".to_owned(),
        ),
    };
    let (xml, refused, touched) = match outcome {
        Outcome::Applied(t) => (
            wire::write(&iso::confirmation(msg, now, None), version),
            None,
            t,
        ),
        Outcome::Error(t, what) => {
            let why = format!("{}: {what}", t.as_str());
            (
                refuse(msg, now, version, t, what),
                Some(why),
                Touched::default(),
            )
        }
    };
    // Refusals are not remembered: a corrected message with the same identity must get through.
    if refused.is_none()
        && let Some(key) = key
    {
        tx.inbox_record(&library.library_id, key, &xml, now).await?;
    }
    Ok((xml, refused, touched))
}

/// The hub on this node that relays `msg` for `member`, a library served by another node: the
/// member's hub, when the hub is served here and the sender is a member of the same hub served
/// elsewhere too. Strangers get the usual refusal: a hub passes on its members' messages only.
async fn relaying_hub(
    tx: &mut Tx<'_>,
    msg: &wire::Message,
    member: &store::LibraryRow,
) -> Result<Option<store::LibraryRow>, FlowError> {
    let Some(hub_id) = member.hub_id.as_deref() else {
        return Ok(None);
    };
    let h = msg.header();
    let sender = match msg {
        wire::Message::SupplyingAgencyMessage(_) => &h.supplying_agency_id,
        _ => &h.requesting_agency_id,
    };
    let Some(sender) = tx
        .library_by_agency(&sender.agency_type, &sender.value)
        .await?
    else {
        return Ok(None);
    };
    if sender.hub_id.as_deref() != Some(hub_id)
        || sender.library_id == member.library_id
        || tx.peer(&sender.library_id).await?.is_none()
    {
        return Ok(None);
    }
    let hub = match tx.library(hub_id).await {
        Ok(h) => h,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if tx.peer(&hub.library_id).await?.is_some() {
        return Ok(None);
    }
    Ok(Some(hub))
}

/// A hub passes on a message for one of its members served by another node: queued in the
/// hub's outbox for the member (in the member's schema version and with its credentials, like
/// any message to a peer), confirmed to the sender once queued, and delivered with the same
/// retries and dead letters as the hub's own messages. Once per message: a repeat gets the same
/// confirmation and is not queued again.
async fn relay(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    msg: &wire::Message,
    version: wire::Version,
    key: Option<&str>,
    hub: &store::LibraryRow,
    member: &store::LibraryRow,
) -> Result<(String, Option<String>, Touched), FlowError> {
    if let Some(key) = key
        && let Some(previous) = tx.inbox_seen(&hub.library_id, key).await?
    {
        return Ok((previous, None, Touched::default()));
    }
    let h = msg.header();
    let xml = wire::write(msg, version);
    let recipient = iso::agency_key(&iso::agency(member));
    // Messages of one request go out in order: they share the requester and its request id.
    let thread = format!(
        "relay:{}:{}",
        iso::agency_key(&h.requesting_agency_id),
        h.requesting_agency_request_id
    );
    tx.insert_outbox(
        &NewOutbox {
            library_id: &hub.library_id,
            request_id: &thread,
            side: "relay",
            kind: match msg {
                wire::Message::Request(_) => "request",
                wire::Message::SupplyingAgencyMessage(_) => "supplying_agency_message",
                _ => "requesting_agency_message",
            },
            recipient: &recipient,
            payload: &xml,
        },
        now,
    )
    .await?;
    let confirmation = wire::write(&iso::confirmation(msg, now, None), version);
    if let Some(key) = key {
        tx.inbox_record(&hub.library_id, key, &confirmation, now)
            .await?;
    }
    metrics::counter!("librelay_iso18626_relayed_total").increment(1);
    Ok((
        confirmation,
        None,
        Touched {
            request_ids: Vec::new(),
            messages: 1,
        },
    ))
}

/// Where a hub's word about a relayed message goes: its own outbox, on the relayed request's
/// thread, marked so that a notice that cannot be delivered either is only parked for staff
/// (two refusing nodes must not bounce notices between them for ever).
const RELAY_NOTICE: &str = "relay_notice";

/// A message this hub relayed could not be delivered: the member (or the far peer) refused it
/// with an ERROR confirmation or an HTTP refusal, or it went dead after its retries. The hub
/// confirmed it to its sender when it queued it (relaying is asynchronous, so a slow member
/// never holds the sender's HTTP request open), so an ERROR confirmation is no longer
/// possible. The sender is told instead in the ISO 18626 way a real peer understands, in the
/// name of the library it was writing to, queued in the hub's outbox behind the relayed
/// messages of that request (and the hub's staff still see the message parked):
///
/// - a **request**: an Unfilled answer (reasonUnfilled `OtherReason`), as the sender waits for
///   an answer that would never come; it moves on to its next lender.
/// - a **requestingAgencyMessage** (cancel, renew, received, shipped return ...): a
///   supplyingAgencyMessage Notification. Its status is the member's last status the hub
///   relayed for that request (the standard requires one), or RequestReceived before any.
///   Nothing changes at the sender; its staff read why in the note and act.
/// - a **supplyingAgencyMessage** (will supply, loaned, renew answer ...): a
///   requestingAgencyMessage Notification to the member that sent it.
///
/// The note says who refused, why, and through which hub. Call it in the transaction that
/// parks the message. Returns whether a notice was queued: nothing for a message that is not a
/// relay, or a notice of the hub's own.
pub async fn tell_relay_refusal(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    row: &store::OutboxRow,
    why: &str,
) -> Result<bool, FlowError> {
    if row.side != "relay" {
        return Ok(false);
    }
    let Ok((msg, _)) = wire::parse(row.payload.as_bytes()) else {
        return Ok(false);
    };
    let h = msg.header().clone();
    if h.requesting_agency_id.is_empty()
        || h.supplying_agency_id.is_empty()
        || h.requesting_agency_request_id.trim().is_empty()
    {
        return Ok(false);
    }
    let hub = tx.library(&row.library_id).await?;
    let requester = iso::agency_key(&h.requesting_agency_id);
    let supplier = iso::agency_key(&h.supplying_agency_id);
    let (to, notice) = match &msg {
        wire::Message::Request(_) => {
            // Both languages, as partner letters: the reader of the note may be either.
            let note = format!(
                "Not delivered: the request that {} passed on to {supplier} was refused or could not reach it ({why}). Ask another library. / 未送达：{} 转发给 {supplier} 的请求被拒收或无法送达（{why}）。请向其他图书馆申请。",
                hub.name_en, hub.name_zh,
            );
            (
                requester,
                relay_sam(&h, now, wire::Status::Unfilled, Some("OtherReason"), note),
            )
        }
        wire::Message::RequestingAgencyMessage(m) => {
            let status = last_relayed_status(tx, row).await?;
            let note = format!(
                "Not delivered: {supplier} did not take the {action} message that {} passed on to it ({why}). Nothing changed there; send it again or contact that library. / 未送达：{supplier} 未接收 {} 转发的 {action} 消息（{why}）。对方处无任何变化；请重新发送或联系该馆。",
                hub.name_en,
                hub.name_zh,
                action = m.action.as_str(),
            );
            (requester, relay_sam(&h, now, status, None, note))
        }
        wire::Message::SupplyingAgencyMessage(m) => {
            let note = format!(
                "Not delivered: {requester} did not take the {status} message ({reason}) that {} passed on to it ({why}). Nothing changed there; send it again or contact that library. / 未送达：{requester} 未接收 {} 转发的 {status} 消息（{reason}）（{why}）。对方处无任何变化；请重新发送或联系该馆。",
                hub.name_en,
                hub.name_zh,
                status = m.status_info.status.as_str(),
                reason = m.message_info.reason_for_message.as_str(),
            );
            let ram = wire::RequestingAgencyMessage {
                header: iso::header(
                    h.requesting_agency_id.clone(),
                    h.supplying_agency_id.clone(),
                    &h.requesting_agency_request_id,
                    h.supplying_agency_request_id.as_deref(),
                    now,
                ),
                action: wire::Action::Notification,
                note: Some(note),
            };
            (supplier, wire::Message::RequestingAgencyMessage(ram))
        }
        _ => return Ok(false),
    };
    let kind = match &notice {
        wire::Message::RequestingAgencyMessage(_) => "requesting_agency_message",
        _ => "supplying_agency_message",
    };
    let xml = wire::write(&notice, wire::Version::V2021);
    tx.insert_outbox(
        &NewOutbox {
            library_id: &row.library_id,
            request_id: &row.request_id,
            side: RELAY_NOTICE,
            kind,
            recipient: &to,
            payload: &xml,
        },
        now,
    )
    .await?;
    metrics::counter!("librelay_iso18626_relay_refusals_told_total", "kind" => row.kind.clone())
        .increment(1);
    Ok(true)
}

/// A supplying agency message in the name of the supplier of `h`, to its requester.
fn relay_sam(
    h: &wire::Header,
    now: OffsetDateTime,
    status: wire::Status,
    reason_unfilled: Option<&str>,
    note: String,
) -> wire::Message {
    let reason = if status == wire::Status::Unfilled {
        wire::ReasonForMessage::RequestResponse
    } else {
        wire::ReasonForMessage::Notification
    };
    wire::Message::SupplyingAgencyMessage(wire::SupplyingAgencyMessage {
        header: iso::header(
            h.requesting_agency_id.clone(),
            h.supplying_agency_id.clone(),
            &h.requesting_agency_request_id,
            h.supplying_agency_request_id.as_deref(),
            now,
        ),
        message_info: wire::MessageInfo {
            reason_for_message: reason,
            reason_unfilled: reason_unfilled.map(str::to_owned),
            note: Some(note),
            ..wire::MessageInfo::default()
        },
        status_info: wire::StatusInfo {
            status,
            last_change: iso::timestamp(now),
            ..wire::StatusInfo::default()
        },
        ..wire::SupplyingAgencyMessage::default()
    })
}

/// The member's last status the hub relayed on the thread of `row`, for a notice that must
/// carry one. A hold on the return is news, not a stage: it stands as Loaned. Before the
/// member said anything, RequestReceived (the hub delivered the request to it).
async fn last_relayed_status(
    tx: &mut Tx<'_>,
    row: &store::OutboxRow,
) -> Result<wire::Status, FlowError> {
    let last = tx
        .relayed_last_delivered(&row.library_id, &row.request_id, "supplying_agency_message")
        .await?;
    let status = match last.as_deref().map(|x| wire::parse(x.as_bytes())) {
        Some(Ok((wire::Message::SupplyingAgencyMessage(m), _))) => m.status_info.status,
        _ => wire::Status::RequestReceived,
    };
    Ok(match status {
        wire::Status::HoldReturn | wire::Status::ReleaseHoldReturn => wire::Status::Loaned,
        s => s,
    })
}

/// Park an outgoing message the recipient refused, and tell whom it concerns, in the caller's
/// transaction: a relayed message's sender (see [`tell_relay_refusal`]), or, for a transfer
/// request of ours, the borrower still waiting on us (see `lend::forward_refused`). Libraries
/// on this node and on other nodes are handled alike. Returns whether anything was told.
pub async fn park_refused(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    outbox_id: i64,
    why: &str,
    confirmation: &str,
) -> Result<bool, FlowError> {
    tx.outbox_dead(outbox_id, why, confirmation).await?;
    let Some(row) = tx.outbox_row(outbox_id).await? else {
        return Ok(false);
    };
    tell_undelivered(tx, now, &row, why).await
}

/// Tell whom it concerns that the message `row` will not be delivered (refused, or dead after
/// its retries): see [`park_refused`].
pub async fn tell_undelivered(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    row: &store::OutboxRow,
    why: &str,
) -> Result<bool, FlowError> {
    let relayed = tell_relay_refusal(tx, now, row, why).await?;
    let forwarded = super::lend::forward_refused(tx, now, row, why).await?;
    Ok(relayed || forwarded)
}

enum Outcome {
    Applied(Touched),
    Error(wire::ErrorType, String),
}

async fn on_request(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    library_id: &str,
    r: &wire::Request,
    version: wire::Version,
) -> Result<Outcome, FlowError> {
    let h = &r.header;
    if h.requesting_agency_request_id.trim().is_empty() {
        return Ok(Outcome::Error(
            wire::ErrorType::UnrecognisedDataValue,
            "header/requestingAgencyRequestId is empty".to_owned(),
        ));
    }
    let borrower_agency = iso::agency_key(&h.requesting_agency_id);
    if let Some(had) = tx
        .lend_request_by_borrower(
            library_id,
            &borrower_agency,
            &h.requesting_agency_request_id,
        )
        .await?
    {
        // A transfer request for a request we had and closed (we passed it on ourselves, or
        // said no): it went round in a circle. Refused, so the library that passed it to us
        // answers the borrower, rather than taken as a repeat and left unanswered.
        let transfer = r.service_info.as_ref().is_some_and(|s| {
            s.request_subtype
                .contains(&wire::RequestSubType::TransferRequest)
        });
        if transfer && LendState::parse(&had.state).is_some_and(LendState::is_closed) {
            return Ok(Outcome::Error(
                wire::ErrorType::UnrecognisedDataValue,
                format!(
                    "header/requestingAgencyRequestId {} from {borrower_agency}: this library had this request already and closed it ({}); a transfer request cannot bring it back",
                    h.requesting_agency_request_id, had.state
                ),
            ));
        }
        // The same request again (a retry with a new timestamp): it exists once.
        return Ok(Outcome::Applied(Touched::default()));
    }
    let borrower = tx
        .library_by_agency(
            &h.requesting_agency_id.agency_type,
            &h.requesting_agency_id.value,
        )
        .await?;
    let (format, citation) = iso::citation_of(r);
    let key = store::HoldingKey {
        isbn: citation.isbn.as_ref().map(|i| i.to_string()),
        issn: citation.issn.as_ref().map(|i| i.to_string()),
        oclc_number: citation.oclc_number.as_ref().map(|o| o.to_string()),
        title_lower: citation.title.as_ref().map(|t| t.to_lowercase()),
    };
    // Locate at once: staff see where the item is the moment the request arrives.
    let located = tx.locate(library_id, &key).await?;
    let new = NewLendRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        library_id: library_id.to_owned(),
        borrower_agency: borrower_agency.clone(),
        borrower_id: borrower.map(|b| b.library_id),
        borrower_request_id: h.requesting_agency_request_id.clone(),
        format: format.as_str().to_owned(),
        state: LendState::RequestReceived.as_str().to_owned(),
        citation,
        iso_version: iso::version_str(version).to_owned(),
        call_number: located.as_ref().and_then(|l| l.0.clone()),
        barcode: located.as_ref().and_then(|l| l.1.clone()),
        service_level: domain::supplier::ServiceLevel::from_iso(
            r.service_info
                .as_ref()
                .and_then(|s| s.service_level.as_deref()),
        )
        .as_str()
        .to_owned(),
    };
    tx.insert_lend_request(&new, now).await?;
    let (note, note_zh) = match &located {
        Some((call, _)) => (
            format!(
                "located: {}",
                call.clone().unwrap_or_else(|| "held".to_owned())
            ),
            format!(
                "已找到馆藏：{}",
                call.clone().unwrap_or_else(|| "本馆有藏".to_owned())
            ),
        ),
        None => (
            "not found in our holdings".to_owned(),
            "本馆馆藏中未找到".to_owned(),
        ),
    };
    let service_note = r.service_info.as_ref().and_then(|s| s.note.clone());
    // A retry names the request it follows and the terms accepted: staff see both.
    let retry_of = r
        .service_info
        .as_ref()
        .filter(|s| s.request_type == Some(wire::RequestType::Retry))
        .map(|s| {
            serde_json::json!({
                "previous_request_id": s.requesting_agency_previous_request_id,
                "loan_conditions": s.loan_condition,
                "format": s.preferred_format,
                "maximum_costs": r.billing_info.as_ref().and_then(|b| b.maximum_costs.as_ref())
                    .map(|c| format!("{} {}", c.monetary_value, c.currency_code)),
            })
        });
    let (note, note_zh) = match retry_of
        .as_ref()
        .and_then(|r| r["previous_request_id"].as_str())
    {
        Some(previous) => (
            format!("{note}; retry of {previous}"),
            format!("{note_zh}；重新申请，前一申请为 {previous}"),
        ),
        None => (note, note_zh),
    };
    tx.insert_event(
        &NewEvent {
            library_id,
            side: "lend",
            request_id: &new.request_id,
            actor_id: None,
            actor: "peer",
            action: "request_received",
            from_state: None,
            to_state: &new.state,
            note: Some(&note),
            message_id: None,
            data: Some(serde_json::json!({
                "from": borrower_agency, "note": service_note, "located": located.is_some(),
                "retry_of": retry_of, "note_zh": note_zh,
            })),
        },
        now,
    )
    .await?;
    let borrow_id = super::borrow::parse_wire_id(&new.borrower_request_id)
        .0
        .to_owned();
    Ok(Outcome::Applied(Touched {
        request_ids: vec![new.request_id, borrow_id],
        messages: 0,
    }))
}

/// Apply an answer of an e-mail partner that staff recorded from its mail, in the caller's
/// transaction: the very path of an incoming supplyingAgencyMessage, so the request moves
/// exactly as the ISO message would move it. Unlike a peer's message, a step the request's
/// state does not allow is refused (the caller's transaction is then dropped), not kept in
/// the history: the person recording it can correct it.
pub async fn apply_recorded(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    library_id: &str,
    m: &wire::SupplyingAgencyMessage,
) -> Result<Touched, FlowError> {
    match on_supplying(tx, now, library_id, m, true).await? {
        Outcome::Applied(t) => Ok(t),
        Outcome::Error(_, what) => Err(FlowError::BadInput {
            status: 409,
            code: "answer_not_applicable",
            zh: format!("无法记录此答复：{what}"),
            en: format!("the answer cannot be recorded: {what}"),
        }),
    }
}

async fn on_supplying(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    library_id: &str,
    m: &wire::SupplyingAgencyMessage,
    strict: bool,
) -> Result<Outcome, FlowError> {
    let h = &m.header;
    let (request_id, seq) = super::borrow::parse_wire_id(&h.requesting_agency_request_id);
    let mut req = match tx.borrow_request_for_update(request_id).await {
        Ok(r) if r.library_id == library_id => r,
        Ok(_) | Err(StoreError::NotFound) => {
            return Ok(Outcome::Error(
                wire::ErrorType::UnrecognisedDataValue,
                format!(
                    "header/requestingAgencyRequestId {} is not a request of ours",
                    h.requesting_agency_request_id
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let sender = iso::agency_key(&h.supplying_agency_id);
    let current = match &req.lender_id {
        Some(l) => Some(iso::agency_key(&iso::agency(&tx.library(l).await?))),
        None => None,
    };
    let note = m.message_info.note.clone().unwrap_or_default();
    let status = iso::status_to_domain(m.status_info.status);
    let data = serde_json::json!({
        "from": sender,
        "reason_for_message": m.message_info.reason_for_message.as_str(),
        "status": m.status_info.status.as_str(),
        "answer": m.message_info.answer_yes_no,
        "reason_unfilled": m.message_info.reason_unfilled,
        "due_date": m.status_info.due_date,
    });
    let this_send = seq.is_none_or(|n| n == req.send_seq);
    if this_send
        && current.as_deref() != Some(sender.as_str())
        && let Some(new) = passed_on_to(tx, &req, m).await?
    {
        // The lender passed the request on (ISO 18626 transfer): from now on the new
        // supplier is the lender, its messages are taken and returns go to it.
        let before = req.lender_id.clone();
        req.lender_id = Some(new.library_id.clone());
        req.lender_request_id = h.supplying_agency_request_id.clone();
        tx.update_borrow_request(&req, now).await?;
        req.version += 1;
        let note = format!(
            "now supplied by {} ({sender}), passed on by {}",
            new.library_id,
            before.as_deref().unwrap_or("-")
        );
        let note_zh = format!(
            "现由 {}（{sender}）提供，由 {} 转交",
            new.library_id,
            before.as_deref().unwrap_or("-")
        );
        tx.insert_event(
            &NewEvent {
                library_id,
                side: "borrow",
                request_id: &req.request_id,
                actor_id: None,
                actor: "peer",
                action: "lender_changed",
                from_state: Some(&req.state),
                to_state: &req.state,
                note: Some(&note),
                message_id: None,
                data: Some(serde_json::json!({
                    "from": before, "to": new.library_id, "agency": sender, "note_zh": note_zh,
                })),
            },
            now,
        )
        .await?;
    }
    let current = req.lender_id.clone();
    let current = match &current {
        Some(l) => Some(iso::agency_key(&iso::agency(&tx.library(l).await?))),
        None => None,
    };
    if strict && (current.as_deref() != Some(sender.as_str()) || !this_send) {
        return Ok(Outcome::Error(
            wire::ErrorType::UnrecognisedDataValue,
            "the partner is not the request's current lender".to_owned(),
        ));
    }
    if current.as_deref() != Some(sender.as_str()) || !this_send {
        // A former lender, or an answer to an earlier send: keep it in the history for staff,
        // change nothing. A shipment after we moved on needs a person (the cancel crossed it).
        let why = match m.status_info.status {
            wire::Status::Loaned | wire::Status::CopyCompleted => NotApplied::FormerLenderShipped,
            _ => NotApplied::FormerLender,
        };
        let at = Target::of(library_id, "borrow", &req.request_id, &req.state);
        record_unapplied(tx, now, &at, &why, data).await?;
        return Ok(Outcome::Applied(Touched {
            request_ids: vec![req.request_id.clone()],
            messages: 0,
        }));
    }
    if req.lender_request_id.is_none() {
        req.lender_request_id = h.supplying_agency_request_id.clone();
    }
    let action = BorrowAction::from_lender(
        iso::reason_to_domain(m.message_info.reason_for_message),
        status,
        m.message_info.answer_yes_no,
        &note,
    );
    let mut text = note.clone();
    if let Some(r) = &m.message_info.reason_unfilled {
        text = format!("{r} {text}").trim().to_owned();
    }
    let retry_offer = (m.status_info.status == wire::Status::RetryPossible)
        .then(|| {
            req.lender_id
                .as_deref()
                .map(|l| iso::retry_offer_of(m, l, &h.requesting_agency_request_id))
        })
        .flatten();
    let mut data = data;
    if let (Some(offer), Some(obj)) = (&retry_offer, data.as_object_mut()) {
        obj.insert("retry_offer".to_owned(), serde_json::json!(offer));
    }
    let extra = Extra {
        note: (!text.is_empty()).then_some(text),
        internal_note: None,
        due_date: m.status_info.due_date.as_deref().and_then(iso::parse_date),
        data: Some(data.clone()),
        retry_offer,
    };
    let result = apply_borrow(tx, now, &mut req, action, &Acting::peer(), &extra).await;
    let mut result = match result {
        Err(e) if strict => return Err(e),
        r => r,
    };
    if let Ok(touched) = &mut result {
        let url = m
            .delivery_info
            .as_ref()
            .and_then(|d| d.url.as_deref())
            .map(str::trim)
            .filter(|u| u.starts_with("http"));
        if let Some(url) = url {
            let local = crate::api::files::local_file_of(tx, url).await?;
            tx.set_borrow_document(&req.request_id, Some(url), local.as_deref())
                .await?;
        }
        // A copy from a partner the library trusts goes straight to the reader.
        if action == BorrowAction::LenderCopyCompleted
            && let Some(more) = super::available::trusted_delivery(tx, now, &req.request_id).await?
        {
            touched.merge(more);
            req = tx.borrow_request_for_update(&req.request_id).await?;
        }
    }
    settle(
        tx,
        now,
        result,
        Target::of(library_id, "borrow", &req.request_id, &req.state),
        data,
    )
    .await
}

/// The library that sent `m`, when it is taking over the request from our current lender: a
/// library of the directory (not us, not one that already said no to this request), answering
/// a request that is still waiting for its lender with a supplier's first steps
/// (ExpectToSupply, WillSupply, Loaned, CopyCompleted). Anything else from a stranger is kept
/// in the history only.
async fn passed_on_to(
    tx: &mut Tx<'_>,
    req: &store::BorrowRequest,
    m: &wire::SupplyingAgencyMessage,
) -> Result<Option<store::LibraryRow>, FlowError> {
    use domain::requester::BorrowState;
    let waiting = matches!(
        BorrowState::parse(&req.state),
        Some(BorrowState::Sent | BorrowState::ExpectToSupply | BorrowState::WillSupply)
    );
    let supplying = matches!(
        m.status_info.status,
        wire::Status::ExpectToSupply
            | wire::Status::WillSupply
            | wire::Status::Loaned
            | wire::Status::CopyCompleted
    ) && matches!(
        m.message_info.reason_for_message,
        wire::ReasonForMessage::RequestResponse | wire::ReasonForMessage::StatusChange
    );
    if !waiting || !supplying || req.cancel_pending || req.lender_id.is_none() {
        return Ok(None);
    }
    let a = &m.header.supplying_agency_id;
    let Some(lib) = tx.library_by_agency(&a.agency_type, &a.value).await? else {
        return Ok(None);
    };
    let refused_before = req
        .rota
        .0
        .entries
        .iter()
        .any(|e| e.library.as_str() == lib.library_id && e.outcome.is_some());
    if lib.library_id == req.library_id || refused_before {
        return Ok(None);
    }
    Ok(Some(lib))
}

async fn on_requesting(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    library_id: &str,
    m: &wire::RequestingAgencyMessage,
) -> Result<Outcome, FlowError> {
    let h = &m.header;
    let agency = iso::agency_key(&h.requesting_agency_id);
    let Some(mut req) = tx
        .lend_request_by_borrower(library_id, &agency, &h.requesting_agency_request_id)
        .await?
    else {
        return Ok(Outcome::Error(
            wire::ErrorType::UnrecognisedDataValue,
            format!(
                "header/requestingAgencyRequestId {} from {agency} is not a request we received",
                h.requesting_agency_request_id
            ),
        ));
    };
    let note = m.note.clone().unwrap_or_default();
    let iso_action: IsoAction = iso::action_to_domain(m.action);
    let action = LendAction::from_borrower(iso_action, &note);
    let data = serde_json::json!({ "from": agency, "action": m.action.as_str() });
    let extra = Extra {
        note: (!note.is_empty()).then_some(note),
        data: Some(data.clone()),
        ..Extra::default()
    };
    let result = apply_lend(
        tx,
        now,
        &mut req,
        action,
        &Acting::peer(),
        &ActionInput::default(),
        &extra,
    )
    .await;
    settle(
        tx,
        now,
        result,
        Target::of(library_id, "lend", &req.request_id, &req.state),
        data,
    )
    .await
}

/// The request a message was about, for its history.
struct Target<'a> {
    library_id: &'a str,
    side: &'static str,
    request_id: &'a str,
    state: &'a str,
}

impl<'a> Target<'a> {
    fn of(library_id: &'a str, side: &'static str, request_id: &'a str, state: &'a str) -> Self {
        Target {
            library_id,
            side,
            request_id,
            state,
        }
    }
}

/// Peers send what their own workflow allows: a message out of step with ours is kept in the
/// history and confirmed, not bounced, or the peer would send it again for ever.
async fn settle(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    result: Result<Touched, FlowError>,
    at: Target<'_>,
    data: serde_json::Value,
) -> Result<Outcome, FlowError> {
    match result {
        Ok(t) => Ok(Outcome::Applied(t)),
        Err(FlowError::Refused(r)) => {
            let why = NotApplied::OutOfStep {
                side: at.side,
                refusal: r,
            };
            record_unapplied(tx, now, &at, &why, data).await?;
            Ok(Outcome::Applied(Touched {
                request_ids: vec![at.request_id.to_owned()],
                messages: 0,
            }))
        }
        Err(e) => Err(e),
    }
}

/// Why a partner's message was kept in the history without being applied: a typed reason
/// with its words in English and Chinese (the event keeps both, as every generated note does).
#[derive(Debug, Clone)]
pub enum NotApplied {
    /// What the message stands for is not allowed at the request's stage (`side`: "borrow"
    /// or "lend", whose state machine refused it).
    OutOfStep {
        side: &'static str,
        refusal: domain::Refusal,
    },
    /// A library that no longer has the request reports it shipped.
    FormerLenderShipped,
    /// Any other message from a library that no longer has the request.
    FormerLender,
}

impl NotApplied {
    /// Stable snake_case code, kept in the event's data.
    pub fn code(&self) -> &'static str {
        match self {
            NotApplied::OutOfStep { .. } => "out_of_step",
            NotApplied::FormerLenderShipped => "former_lender_shipped",
            NotApplied::FormerLender => "former_lender",
        }
    }

    pub fn en(&self) -> String {
        match self {
            NotApplied::OutOfStep { refusal, .. } => format!("not applied: {refusal}"),
            NotApplied::FormerLenderShipped => "a library that no longer has this request reports it shipped: receive and return it, or settle with that library".to_owned(),
            NotApplied::FormerLender => {
                "message from a library that no longer has this request".to_owned()
            }
        }
    }

    pub fn zh(&self) -> String {
        match self {
            NotApplied::OutOfStep { side, refusal } => {
                format!("对方的消息未被处理：{}", refusal_zh(side, refusal))
            }
            NotApplied::FormerLenderShipped => {
                "已不再负责此申请的图书馆报告已发出：请签收并归还，或与该馆结算".to_owned()
            }
            NotApplied::FormerLender => "来自已不再负责此申请的图书馆的消息".to_owned(),
        }
    }
}

/// A state machine's refusal in Chinese: the stage and the actions in the words of the pages.
fn refusal_zh(side: &str, refusal: &domain::Refusal) -> String {
    let zh = &crate::web::catalog::ZH;
    let state = |s: &'static str| {
        if side == "lend" {
            zh.lend_state(s)
        } else {
            zh.borrow_state(s)
        }
    };
    let action = |a: &str| -> String {
        if side == "lend" {
            zh.lend_action(a).to_owned()
        } else {
            zh.borrow_action(a).to_owned()
        }
    };
    match refusal {
        domain::Refusal::NotAllowed {
            state: s,
            action: a,
            allowed,
        } => {
            let allowed: Vec<String> = allowed.iter().map(|a| format!("“{}”", action(a))).collect();
            format!(
                "请求处于“{}”阶段，不能执行“{}”；现在可执行：{}",
                state(s),
                action(a),
                if allowed.is_empty() {
                    "无".to_owned()
                } else {
                    allowed.join("、")
                }
            )
        }
        domain::Refusal::Forbidden {
            state: s,
            action: a,
            who,
        } => {
            let who: Vec<&str> = who.iter().map(|w| actor_zh(*w)).collect();
            format!(
                "请求处于“{}”阶段，“{}”须由{}执行",
                state(s),
                action(a),
                who.join("、")
            )
        }
    }
}

fn actor_zh(a: domain::Actor) -> &'static str {
    match a {
        domain::Actor::Patron => "读者",
        domain::Actor::BorrowingStaff => "借入馆员",
        domain::Actor::LendingStaff => "借出馆员",
        domain::Actor::Manager => "馆际互借主管或管理员",
        domain::Actor::Peer => "合作馆",
        domain::Actor::System => "系统",
    }
}

async fn record_unapplied(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    at: &Target<'_>,
    why: &NotApplied,
    data: serde_json::Value,
) -> Result<(), FlowError> {
    let mut data = data;
    if let Some(o) = data.as_object_mut() {
        o.insert("note_zh".to_owned(), serde_json::Value::String(why.zh()));
        o.insert(
            "reason".to_owned(),
            serde_json::Value::String(why.code().to_owned()),
        );
    }
    let note = why.en();
    tx.insert_event(
        &NewEvent {
            library_id: at.library_id,
            side: at.side,
            request_id: at.request_id,
            actor_id: None,
            actor: "peer",
            action: "message_not_applied",
            from_state: Some(at.state),
            to_state: at.state,
            note: Some(&note),
            message_id: None,
            data: Some(data),
        },
        now,
    )
    .await?;
    Ok(())
}
