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
            for row in group {
                if let Err(e) = deliver(&st, row).await {
                    tracing::warn!(error = %e, "delivery bookkeeping failed");
                }
            }
        }
    }))
    .await;
    Ok(n)
}

async fn deliver(st: &AppState, row: OutboxRow) -> Result<(), FlowError> {
    let Some(agency) = iso::parse_agency_key(&row.recipient) else {
        return fail(
            st,
            &row,
            format!("recipient {} is not TYPE:VALUE", row.recipient),
        )
        .await;
    };
    let local = st
        .store
        .library_by_agency(&agency.agency_type, &agency.value)
        .await?;
    if local.is_none() {
        // Remote peers are reached over HTTP with their peer profile (a later step); until one
        // is configured the message waits, retried with backoff, visible to staff.
        return fail(
            st,
            &row,
            format!(
                "no route to {}: it is not a library on this node",
                row.recipient
            ),
        )
        .await;
    }
    let answer =
        crate::flow::receive::deliver_local(st, row.payload.as_bytes(), row.outbox_id).await;
    metrics::counter!("librelay_outbox_delivered_total", "result" => if answer.ok { "ok" } else { "refused" })
        .increment(1);
    Ok(())
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
