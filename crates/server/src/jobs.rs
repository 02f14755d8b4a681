//! Background jobs inside `serve`: outbox delivery and the sweeps (lender deadlines). Each is
//! idempotent and claims its work in the store, so several processes can run them together.

use std::collections::BTreeMap;
use std::time::Duration;

use domain::requester::BorrowAction;
use domain::supplier::LendAction;
use futures::future::join_all;
use store::OutboxRow;
use tokio::sync::watch;

use crate::AppState;
use crate::flow::borrow::{Extra, apply_borrow};
use crate::flow::lend::apply_lend;
use crate::flow::send::Sent;
use crate::flow::{Acting, FlowError, iso};

/// Messages claimed per round. Delivered concurrently by (recipient, request) so their writes
/// share commits, in order within one request.
const CLAIM: i64 = 256;
/// How long a claimed message is ours before another worker may try it.
const LEASE: time::Duration = time::Duration::seconds(60);

/// Start the jobs; they stop when `stop` turns true.
pub fn spawn(st: AppState, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(outbox_loop(st.clone(), stop.clone())),
        tokio::spawn(sweep_loop(st, stop)),
    ]
}

async fn outbox_loop(st: AppState, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(st.config.outbox_poll_ms.max(10));
    loop {
        if *stop.borrow() {
            return;
        }
        match deliver_once(&st).await {
            Ok(n) if n > 0 => continue, // more may be waiting
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox round failed"),
        }
        tokio::select! {
            _ = st.store.outbox_notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One round: claim what is due and deliver it. Returns how many messages were handled.
pub async fn deliver_once(st: &AppState) -> Result<usize, FlowError> {
    let now = st.now();
    let rows = st
        .store
        .write(move |tx| Box::pin(async move { tx.claim_outbox(now, now + LEASE, CLAIM).await }))
        .await?;
    let n = rows.len();
    let mut groups: BTreeMap<(String, String), Vec<OutboxRow>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.recipient.clone(), row.request_id.clone()))
            .or_default()
            .push(row);
    }
    join_all(groups.into_values().map(|group| {
        let st = st.clone();
        async move {
            // In order within a request; after a failure the rest of the group waits for the
            // retry (the claim query holds later messages back while an earlier one waits).
            for row in group {
                match deliver(&st, row).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "delivery bookkeeping failed");
                        break;
                    }
                }
            }
        }
    }))
    .await;
    Ok(n)
}

/// Deliver one message: to a library on this node directly, to a peer over HTTP. Returns
/// false when it failed and later messages of the same request should wait.
async fn deliver(st: &AppState, row: OutboxRow) -> Result<bool, FlowError> {
    let Some(agency) = iso::parse_agency_key(&row.recipient) else {
        let why = format!("recipient {} is not TYPE:VALUE", row.recipient);
        return park(st, &row, why, String::new()).await;
    };
    let Some(library) = st
        .store
        .library_by_agency(&agency.agency_type, &agency.value)
        .await?
    else {
        let why = format!(
            "no route to {}: it is neither a library on this node nor a partner with a peer profile",
            row.recipient
        );
        fail(st, &row, why).await?;
        return Ok(false);
    };
    let Some(profile) = st.store.peer(&library.library_id).await? else {
        let answer =
            crate::flow::receive::deliver_local(st, row.payload.as_bytes(), row.outbox_id).await;
        metrics::counter!("librelay_outbox_delivered_total", "result" => if answer.ok { "ok" } else { "refused" })
            .increment(1);
        return Ok(true);
    };
    let id = row.outbox_id;
    let now = st.now();
    match st
        .peers
        .send(&library.library_id, &profile, &row.payload)
        .await
    {
        Sent::Confirmed(confirmation) => {
            metrics::counter!("librelay_outbox_delivered_total", "result" => "ok").increment(1);
            st.store
                .write(move |tx| {
                    Box::pin(async move { tx.outbox_delivered(id, &confirmation, now).await })
                })
                .await?;
            Ok(true)
        }
        Sent::Skipped(why) => {
            metrics::counter!("librelay_outbox_delivered_total", "result" => "skipped")
                .increment(1);
            st.store
                .write(move |tx| Box::pin(async move { tx.outbox_skipped(id, &why, now).await }))
                .await?;
            Ok(true)
        }
        Sent::Refused { why, confirmation } => {
            metrics::counter!("librelay_outbox_delivered_total", "result" => "refused")
                .increment(1);
            park(st, &row, why, confirmation).await
        }
        Sent::Failed(why) => {
            fail(st, &row, why).await?;
            Ok(false)
        }
    }
}

/// Park a message for staff at once: sending it again as it is would not help.
async fn park(
    st: &AppState,
    row: &OutboxRow,
    why: String,
    confirmation: String,
) -> Result<bool, FlowError> {
    tracing::warn!(outbox = row.outbox_id, recipient = %row.recipient, reason = %why, "message parked");
    let id = row.outbox_id;
    st.store
        .write(move |tx| Box::pin(async move { tx.outbox_dead(id, &why, &confirmation).await }))
        .await?;
    Ok(true)
}

/// Record a failed attempt with exponential backoff (30 s, 1 min, 2 min ... at most 6 h).
async fn fail(st: &AppState, row: &OutboxRow, why: String) -> Result<(), FlowError> {
    let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX).min(10);
    let backoff = time::Duration::seconds((30_i64 << attempts).min(6 * 3600));
    let next = st.now() + backoff;
    let id = row.outbox_id;
    let max = i64::from(st.config.outbox_max_attempts);
    metrics::counter!("librelay_outbox_delivered_total", "result" => "failed").increment(1);
    st.store
        .write(move |tx| Box::pin(async move { tx.outbox_failed(id, &why, next, max).await }))
        .await?;
    Ok(())
}

async fn sweep_loop(st: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(st.config.sweep_interval_ms.max(10));
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = sweep_deadlines(&st).await {
            tracing::warn!(error = %e, "deadline sweep failed");
        }
        if let Err(e) = sweep_overdue(&st).await {
            tracing::warn!(error = %e, "overdue sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Mark loans overdue the day after their due date; the borrower is told by the machine's
/// status message. Returns how many were marked.
pub async fn sweep_overdue(st: &AppState) -> Result<usize, FlowError> {
    let now = st.now();
    let due = st.store.lend_overdue_due(now.date(), 500).await?;
    let mut marked = 0;
    for id in due {
        let result = st
            .store
            .write(move |tx| {
                Box::pin(async move {
                    let mut req = tx.lend_request_for_update(&id).await?;
                    if req.state != domain::supplier::LendState::Shipped.as_str()
                        || req.due_date.is_none_or(|d| d >= now.date())
                    {
                        return Ok(None);
                    }
                    let input = crate::flow::ActionInput::default();
                    apply_lend(
                        tx,
                        now,
                        &mut req,
                        LendAction::MarkOverdue,
                        &Acting::system(),
                        &input,
                        &Extra::default(),
                    )
                    .await
                    .map(Some)
                })
            })
            .await?;
        if let Some(t) = result {
            t.publish(st);
            marked += 1;
        }
    }
    Ok(marked)
}

/// Pass over every lender whose answer deadline has gone by. Returns how many moved.
pub async fn sweep_deadlines(st: &AppState) -> Result<usize, FlowError> {
    let now = st.now();
    let due = st.store.borrow_deadlines_due(now, 500).await?;
    let mut moved = 0;
    for id in due {
        let rid = id.clone();
        let result = st
            .store
            .write(move |tx| {
                Box::pin(async move {
                    let mut req = tx.borrow_request_for_update(&rid).await?;
                    // Re-check inside the transaction: an answer may have arrived meanwhile.
                    if req.lender_deadline.is_none_or(|d| d > now) {
                        return Ok(None);
                    }
                    let extra = Extra {
                        note: Some("no answer by the deadline".to_owned()),
                        ..Extra::default()
                    };
                    apply_borrow(
                        tx,
                        now,
                        &mut req,
                        BorrowAction::LenderDeadlinePassed,
                        &Acting::system(),
                        &extra,
                    )
                    .await
                    .map(Some)
                })
            })
            .await;
        match result {
            Ok(Some(t)) => {
                t.publish(st);
                moved += 1;
            }
            Ok(None) => {}
            Err(FlowError::Refused(r)) => {
                // The state does not take a deadline (a stale column): clear it, or it would be
                // swept again every round.
                tracing::debug!(request = %id, refusal = %r, "deadline not applicable; clearing");
                let rid = id.clone();
                st.store
                    .write(move |tx| {
                        Box::pin(async move {
                            let mut req = tx.borrow_request_for_update(&rid).await?;
                            req.lender_deadline = None;
                            tx.update_borrow_request(&req, now).await?;
                            Ok::<_, FlowError>(())
                        })
                    })
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(moved)
}
