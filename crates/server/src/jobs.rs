//! Background jobs inside `serve`: outbox delivery, the sweeps (lender deadlines …) and the
//! summaries the statistics read. Each is idempotent and claims its work in the store, so
//! several processes can run them together.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use domain::library::LibraryOffset;
use domain::requester::BorrowAction;
use domain::supplier::LendAction;
use futures::future::join_all;
use store::{NewEvent, OutboxRow};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::AppState;
use crate::flow::borrow::{Extra, apply_borrow};
use crate::flow::lend::apply_lend;
use crate::flow::send::Sent;
use crate::flow::{Acting, FlowError, iso};

/// Messages claimed by one round of `deliver_once`. Delivered concurrently by (recipient,
/// request) so their writes share commits, in order within one request.
const CLAIM: i64 = 256;
/// Messages the running job has under way at once.
const IN_FLIGHT: usize = 512;
/// How long the job waits at stop for the deliveries under way.
/// (Less than the 5 s the server gives its jobs to end.)
const STOP_GRACE: Duration = Duration::from_secs(4);
/// How long a claimed message is ours before another worker may try it.
const LEASE: time::Duration = time::Duration::seconds(60);

/// Start the jobs; they stop when `stop` turns true.
pub fn spawn(st: AppState, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(outbox_loop(st.clone(), stop.clone())),
        tokio::spawn(sweep_loop(st.clone(), stop.clone())),
        tokio::spawn(statistics_loop(st.clone(), stop.clone())),
        tokio::spawn(counts_loop(st, stop)),
    ]
}

/// How often the kept queue counts' notes are folded in on PostgreSQL.
const COUNTS_FOLD_EVERY: Duration = Duration::from_secs(1);

/// How many folds that found notes may pass before the notes' emptied pages are given back
/// (`Store::vacuum_queue_notes`): about a minute of a busy server's writes, whether or not
/// the database's autovacuum runs.
const COUNTS_VACUUM_AFTER: u32 = 60;

/// PostgreSQL: fold the queue counts' notes into the counts (`Store::fold_queue_counts`), so
/// that the notes a queue page adds up stay a second's writes. Readers are exact without it;
/// SQLite's writer adds them at each commit, so there the job ends at once.
async fn counts_loop(st: AppState, mut stop: watch::Receiver<bool>) {
    if !st.store.is_postgres() {
        return;
    }
    let mut busy_folds = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        match st.store.fold_queue_counts().await {
            Ok(0) => {}
            Ok(_) => busy_folds += 1,
            Err(e) => tracing::warn!(error = %e, "folding the queue counts' notes failed"),
        }
        if busy_folds >= COUNTS_VACUUM_AFTER {
            busy_folds = 0;
            if let Err(e) = st.store.vacuum_queue_notes().await {
                tracing::warn!(error = %e, "vacuuming the queue counts' notes failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(COUNTS_FOLD_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// How long a library's month has had no change before the job packs it into a block
/// (`Store::build_stat_blocks`): the month in progress changes all day, and its rows cost a
/// report less than packing it again after each change would.
const BLOCK_SETTLED_SECS: i64 = 600;

/// Keep the summaries the statistics read (`request_fact`) up to date with the events, a page
/// of requests at a time: after an upgrade or a restore the first pass reads every request,
/// which takes minutes on a large store and must not happen inside a report request. Pages
/// follow each other at once until the pass is done, then the job waits `statistics_interval_ms`.
/// Several processes may share a PostgreSQL database: one at a time runs it (it holds the
/// job's lease in the store, which runs out if that process dies); the others skip the round.
async fn statistics_loop(st: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(st.config.statistics_interval_ms.max(10));
    loop {
        if *stop.borrow() {
            return;
        }
        match st.store.refresh_request_facts_step(st.now()).await {
            Ok(step) if step.pending.is_some() => {
                // Let the requests waiting on the runtime go first between pages.
                tokio::task::yield_now().await;
                continue;
            }
            Ok(_) => {
                // Up to date: pack the months that have settled, a few at a time.
                match st.store.build_stat_blocks(BLOCK_SETTLED_SECS).await {
                    Ok(n) if n > 0 => {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "packing statistics months failed"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "summarising requests for the statistics failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

/// What the statistics job does, run to the end at once: every page of the pass under way
/// (or a new one) until the summaries are up to date. Returns how many requests were
/// summarised.
pub async fn summarise_for_statistics(st: &AppState) -> Result<usize, FlowError> {
    let n = st.store.refresh_request_facts(st.now()).await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Deliver the outbox as messages become due. Each (recipient, request) group is delivered by
/// a task of its own, in order within the group, so a slow or silent peer holds up only its
/// own messages; up to `IN_FLIGHT` messages are under way at once. The job claims again when a
/// message is queued, when a group ends (its slots are free, and a message it held back may be
/// due) and every `outbox_poll_ms` (retries coming due); a wake-up that is not a queued message
/// first asks the store whether anything is due, a read, before it claims, a write. On stop it
/// gives the deliveries under way `STOP_GRACE` to finish.
async fn outbox_loop(st: AppState, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(st.config.outbox_poll_ms.max(10));
    let mut running = JoinSet::new();
    let mut under_way = UnderWay::default();
    let mut queued = true;
    loop {
        if *stop.borrow() {
            break;
        }
        while let Some(done) = running.try_join_next_with_id() {
            under_way.ended(done, &st, &mut running);
        }
        let free = IN_FLIGHT.saturating_sub(under_way.messages);
        let mut full_claim = false;
        if free > 0 && (queued || due(&st).await) {
            match claim(&st, i64::try_from(free).unwrap_or(CLAIM)).await {
                Ok(groups) => {
                    full_claim = groups.iter().map(Vec::len).sum::<usize>() >= free;
                    for group in groups {
                        under_way.start(group, &st, &mut running);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "outbox claim failed"),
            }
        }
        if full_claim && under_way.messages < IN_FLIGHT {
            queued = true; // more may be waiting
            continue;
        }
        queued = false;
        tokio::select! {
            _ = st.store.outbox_notified() => queued = true,
            Some(done) = running.join_next_with_id() => under_way.ended(done, &st, &mut running),
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => {}
        }
    }
    // Let the deliveries under way finish, for a while: a peer that takes its time would
    // otherwise hold up the stop for as long as its timeout. What is cut off stays leased and
    // is sent again once the lease runs out (the receiver treats a repeat as one message).
    let finish = async { while running.join_next().await.is_some() {} };
    if tokio::time::timeout(STOP_GRACE, finish).await.is_err() {
        tracing::info!(
            left = running.len(),
            "outbox: deliveries still under way at stop are sent again later"
        );
        running.shutdown().await;
    }
}

type GroupKey = (String, String);

/// The outbox job's groups under way, one task each, and the messages claimed for a group
/// while its task still ran.
#[derive(Default)]
struct UnderWay {
    /// Each task's group and the messages it was given.
    tasks: HashMap<tokio::task::Id, (GroupKey, Vec<i64>)>,
    /// The task of each group under way.
    groups: HashMap<GroupKey, tokio::task::Id>,
    /// Messages claimed for a group under way, to follow once its task has sent all of its own.
    waiting: HashMap<GroupKey, Vec<OutboxRow>>,
    /// Messages given to the tasks under way.
    messages: usize,
}

impl UnderWay {
    /// Deliver a claimed group in a task of its own, unless the group is under way. Then its
    /// messages wait for the task: either the task has sent what it was given and not yet been
    /// seen to end (the claim found the next message due), or a delivery outlasted its lease
    /// (a peer slow to answer, or waiting on its own limit) and the claim handed out again a
    /// message the task still holds, which is dropped here, so nothing goes twice or out of
    /// order.
    fn start(&mut self, group: Vec<OutboxRow>, st: &AppState, running: &mut JoinSet<bool>) {
        let Some(key) = group.first().map(group_key) else {
            return;
        };
        if let Some(task) = self.groups.get(&key) {
            let given = self.tasks.get(task).map(|(_, ids)| ids.as_slice());
            let waiting = self.waiting.entry(key).or_default();
            for row in group {
                let known = given.is_some_and(|ids| ids.contains(&row.outbox_id))
                    || waiting.iter().any(|w| w.outbox_id == row.outbox_id);
                if !known {
                    waiting.push(row);
                }
            }
            return;
        }
        let ids: Vec<i64> = group.iter().map(|r| r.outbox_id).collect();
        self.messages += ids.len();
        let st = st.clone();
        let task = running.spawn(async move { deliver_group(&st, group).await });
        self.groups.insert(key.clone(), task.id());
        self.tasks.insert(task.id(), (key, ids));
    }

    /// A task ended. The messages waiting for its group follow if it sent everything it was
    /// given; if it stopped at a failure they stay leased and, once the lease runs out, wait
    /// behind the failed message's retry as the claim orders them.
    fn ended(
        &mut self,
        done: Result<(tokio::task::Id, bool), tokio::task::JoinError>,
        st: &AppState,
        running: &mut JoinSet<bool>,
    ) {
        let (task, all_sent) = match done {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "an outbox delivery task failed");
                (e.id(), false)
            }
        };
        let Some((key, ids)) = self.tasks.remove(&task) else {
            return;
        };
        self.groups.remove(&key);
        self.messages = self.messages.saturating_sub(ids.len());
        if let Some(mut next) = self.waiting.remove(&key)
            && all_sent
        {
            next.sort_by_key(|r| r.outbox_id);
            self.start(next, st, running);
        }
    }
}

fn group_key(row: &OutboxRow) -> GroupKey {
    (row.recipient.clone(), row.request_id.clone())
}

/// Whether a message is due; a failed read counts as yes, so the claim says what is wrong.
async fn due(st: &AppState) -> bool {
    st.store.outbox_has_due(st.now()).await.unwrap_or(true)
}

/// Claim up to `limit` due messages, grouped by (recipient, request), each group in order.
async fn claim(st: &AppState, limit: i64) -> Result<Vec<Vec<OutboxRow>>, FlowError> {
    let now = st.now();
    let rows = st
        .store
        .write(move |tx| Box::pin(async move { tx.claim_outbox(now, now + LEASE, limit).await }))
        .await?;
    let mut groups: BTreeMap<(String, String), Vec<OutboxRow>> = BTreeMap::new();
    for row in rows {
        groups.entry(group_key(&row)).or_default().push(row);
    }
    Ok(groups.into_values().collect())
}

/// Deliver one group in order; after a failure the rest of the group waits for the retry (the
/// claim holds later messages back while an earlier one waits).
/// Returns whether it went through the whole group.
async fn deliver_group(st: &AppState, group: Vec<OutboxRow>) -> bool {
    for row in group {
        match deliver(st, row).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "delivery bookkeeping failed");
                return false;
            }
        }
    }
    true
}

/// One round, run to the end: claim what is due and deliver it. Returns how many messages were
/// handled.
pub async fn deliver_once(st: &AppState) -> Result<usize, FlowError> {
    let groups = claim(st, CLAIM).await?;
    let n = groups.iter().map(Vec::len).sum();
    join_all(groups.into_iter().map(|group| {
        let st = st.clone();
        async move { deliver_group(&st, group).await }
    }))
    .await;
    Ok(n)
}

/// Deliver one message: to a library on this node directly, to a peer over HTTP. Returns
/// false when it failed and later messages of the same request should wait.
async fn deliver(st: &AppState, row: OutboxRow) -> Result<bool, FlowError> {
    if row.kind == "email" {
        return mail(st, row).await;
    }
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
    if profile.system == domain::peer::PeerSystem::Email {
        let outcome = crate::partner_mail::send(st, &library, &profile, &row.payload).await;
        return mailed(st, row, outcome).await;
    }
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

/// Send a queued letter; a refusal by the mail server is parked with its reason, a failure
/// retried like any message.
async fn mail(st: &AppState, row: OutboxRow) -> Result<bool, FlowError> {
    let outcome = crate::letters::send(&st.store, &st.config, &row.payload).await;
    mailed(st, row, outcome).await
}

/// Close an outbox row by what became of its mail (a letter, or a partner's letter).
async fn mailed(
    st: &AppState,
    row: OutboxRow,
    outcome: crate::letters::Mailed,
) -> Result<bool, FlowError> {
    let id = row.outbox_id;
    let now = st.now();
    match outcome {
        crate::letters::Mailed::Sent(answer) => {
            metrics::counter!("librelay_letters_sent_total").increment(1);
            st.store
                .write(move |tx| {
                    Box::pin(async move { tx.outbox_delivered(id, &answer, now).await })
                })
                .await?;
            Ok(true)
        }
        crate::letters::Mailed::Skipped(why) => {
            st.store
                .write(move |tx| Box::pin(async move { tx.outbox_skipped(id, &why, now).await }))
                .await?;
            Ok(true)
        }
        crate::letters::Mailed::Held {
            library_id,
            user_id,
            payload,
        } => {
            st.store
                .write(move |tx| {
                    Box::pin(async move {
                        tx.insert_digest_item(&library_id, &user_id, &payload, now)
                            .await?;
                        tx.outbox_skipped(id, "held for the recipient's daily digest", now)
                            .await
                    })
                })
                .await?;
            Ok(true)
        }
        crate::letters::Mailed::Refused(why) => park_mail(st, &row, why).await,
        crate::letters::Mailed::Failed(why) => {
            fail(st, &row, why).await?;
            Ok(false)
        }
    }
}

/// Park a mail the mail server refused for good; when it is about a borrowing request, the
/// refusal is told on the request too (in the same transaction), so that staff see it there
/// and not only in the outbox.
async fn park_mail(st: &AppState, row: &OutboxRow, why: String) -> Result<bool, FlowError> {
    tracing::warn!(outbox = row.outbox_id, recipient = %row.recipient, reason = %why, "mail parked");
    let (request_id, library_id) = (row.request_id.clone(), row.library_id.clone());
    let on_request = !row.request_id.is_empty() && row.side == "borrow";
    let (now, outbox_id) = (st.now(), row.outbox_id);
    st.store
        .write(move |tx| {
            Box::pin(async move {
                tx.outbox_dead(outbox_id, &why, "").await?;
                if !on_request {
                    return Ok(());
                }
                let req = match tx.borrow_request_for_update(&request_id).await {
                    Ok(r) if r.library_id == library_id => r,
                    Ok(_) | Err(store::StoreError::NotFound) => return Ok(()),
                    Err(e) => return Err(FlowError::from(e)),
                };
                let note = format!("mail not delivered: {why}");
                tx.insert_event(
                    &store::NewEvent {
                        library_id: &req.library_id,
                        side: "borrow",
                        request_id: &req.request_id,
                        actor_id: None,
                        actor: "system",
                        action: "mail_refused",
                        from_state: Some(&req.state),
                        to_state: &req.state,
                        note: Some(&note),
                        message_id: Some(outbox_id),
                        data: Some(serde_json::json!({
                            "note_zh": format!("邮件未能送达：{why}"),
                        })),
                    },
                    now,
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    Ok(true)
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
    let now = st.now();
    let parked = row.clone();
    let told = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.outbox_dead(id, &why, &confirmation).await?;
                // A relayed message, or a request passed on, that was refused is told to the
                // library that waits for it, at once.
                crate::flow::receive::tell_undelivered(tx, now, &parked, &why).await
            })
        })
        .await?;
    if told {
        st.store.notify_outbox();
    }
    Ok(true)
}

/// Record a failed attempt with exponential backoff (30 s, 1 min, 2 min ... at most 6 h).
/// The attempt that makes the message dead tells whom it concerns in the same transaction,
/// as a refusal does: a relayed message's sender, or the borrower of a request passed on.
async fn fail(st: &AppState, row: &OutboxRow, why: String) -> Result<(), FlowError> {
    let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX).min(10);
    let backoff = time::Duration::seconds((30_i64 << attempts).min(6 * 3600));
    let now = st.now();
    let next = now + backoff;
    let id = row.outbox_id;
    let max = i64::from(st.config.outbox_max_attempts);
    let failed = row.clone();
    metrics::counter!("librelay_outbox_delivered_total", "result" => "failed").increment(1);
    let told = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                if !tx.outbox_failed(id, &why, next, max).await? {
                    return Ok(false);
                }
                tracing::warn!(outbox = id, recipient = %failed.recipient, reason = %why,
                    "message dead after its retries");
                let why = format!("not delivered after {max} attempts: {why}");
                crate::flow::receive::tell_undelivered(tx, now, &failed, &why).await
            })
        })
        .await?;
    if told {
        st.store.notify_outbox();
    }
    Ok(())
}

async fn sweep_loop(st: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(st.config.sweep_interval_ms.max(10));
    loop {
        if *stop.borrow() {
            return;
        }
        sweeps(&st, every).await;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Mark loans overdue the day after their due date, in the lending library's own time (a
/// loan due today is not late before the lender's midnight, wherever the server's clock
/// is); the borrower is told by the machine's status message. A loan whose return is held
/// (HoldReturn, by either side) is not late while the hold lasts; staff may still mark it
/// overdue themselves. Returns how many were marked.
pub async fn sweep_overdue(st: &AppState) -> Result<usize, FlowError> {
    let now = st.now();
    // Each offset in use with its date now: the query compares every loan with its own
    // library's day. (An offset out of range reads as the default, as `LibraryRow::offset`.)
    let today: Vec<(i64, time::Date)> = st
        .store
        .library_offsets()
        .await?
        .into_iter()
        .map(|m| {
            (
                m,
                LibraryOffset::from_minutes(m).unwrap_or_default().date(now),
            )
        })
        .collect();
    let due = st.store.lend_overdue_due(&today, 500).await?;
    let mut marked = 0;
    for id in due {
        let result = st
            .store
            .write(move |tx| {
                Box::pin(async move {
                    let mut req = tx.lend_request_for_update(&id).await?;
                    // Checked again in the transaction, in the lender's time as it is now.
                    let today = tx.library(&req.library_id).await?.offset().date(now);
                    if req.state != domain::supplier::LendState::Shipped.as_str()
                        || req.due_date.is_none_or(|d| d >= today)
                        || !tx.return_holds(&req.request_id).await?.is_empty()
                    {
                        return Ok(None);
                    }
                    let input = crate::flow::ActionInput::default();
                    let touched = apply_lend(
                        tx,
                        now,
                        &mut req,
                        LendAction::MarkOverdue,
                        &Acting::system(),
                        &input,
                        &Extra::default(),
                    )
                    .await?;
                    crate::flow::receive::deliver_here(tx, now, touched)
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
                    let lapsed = domain::requester::BorrowState::parse(&req.state)
                        == Some(domain::requester::BorrowState::RetryOffered);
                    let note = if lapsed {
                        "the lender's retry offer lapsed with no answer"
                    } else {
                        "no answer by the deadline"
                    };
                    let extra = Extra {
                        note: Some(note.to_owned()),
                        ..Extra::default()
                    };
                    let touched = apply_borrow(
                        tx,
                        now,
                        &mut req,
                        BorrowAction::LenderDeadlinePassed,
                        &Acting::system(),
                        &extra,
                    )
                    .await?;
                    crate::flow::receive::deliver_here(tx, now, touched)
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

/// Delete the bytes of delivered copies whose every reader link has expired or been revoked;
/// the record stays (marked purged) for the history and statistics. Returns how many.
pub async fn purge_files(st: &AppState) -> Result<usize, FlowError> {
    let now = st.now();
    let due = st.store.files_to_purge(now, 200).await?;
    let mut purged = 0;
    for f in due {
        if let Err(e) = st.files.delete(&f.storage_key).await {
            tracing::warn!(error = %e, file = %f.file_id, "could not delete an expired copy");
            continue;
        }
        let id = f.file_id.clone();
        st.store
            .write(move |tx| Box::pin(async move { tx.mark_file_purged(&id, now).await }))
            .await?;
        purged += 1;
    }
    purged += purge_lender_copies(st).await?;
    Ok(purged)
}

/// Copies shipped from another node by a partner the library trusts: fetched here and
/// delivered to the reader with no staff step (a copy from this node is delivered when the
/// lender's message is applied). A fetch that fails is logged and tried again at the next
/// sweep. Returns how many were delivered.
pub async fn deliver_trusted_remote(st: &AppState) -> Result<usize, FlowError> {
    let shipped = domain::requester::BorrowState::Shipped.as_str();
    let loan = domain::citation::RequestFormat::Loan.as_str();
    let mut delivered = 0;
    for (library, settings) in st.store.all_delivery_settings().await? {
        if settings.trusted_senders.is_empty() {
            continue;
        }
        for (id, lender, url) in st
            .store
            .remote_copies_waiting(&library, shipped, loan, 50)
            .await?
        {
            if !lender.is_some_and(|l| settings.trusted_senders.contains(&l)) {
                continue;
            }
            if let Err(e) = crate::api::files::fetch_remote_copy(st, &library, &id, &url).await {
                tracing::warn!(error = %e, request = %id, "a trusted sender's copy could not be fetched yet");
                continue;
            }
            let (now, rid) = (st.now(), id.clone());
            let touched = st
                .store
                .write(move |tx| {
                    Box::pin(async move {
                        crate::flow::available::trusted_delivery(tx, now, &rid).await
                    })
                })
                .await?;
            if let Some(t) = touched {
                t.publish(st);
                st.store.notify_outbox();
                delivered += 1;
            }
        }
    }
    Ok(delivered)
}

/// How long the lender keeps its copy after the borrowing library first fetched it: long
/// enough for a fetch that failed half-way to be tried again.
const LENDER_COPY_GRACE: time::Duration = time::Duration::days(1);

/// Delete the lender's copies that borrowing libraries on other nodes fetched more than a day
/// ago (they keep their own copy); the lending request's history says so. Returns how many.
pub async fn purge_lender_copies(st: &AppState) -> Result<usize, FlowError> {
    let now = st.now();
    let due = st
        .store
        .lender_copies_to_purge(now - LENDER_COPY_GRACE, now, 200)
        .await?;
    let mut purged = 0;
    for f in due {
        if let Err(e) = st.files.delete(&f.storage_key).await {
            tracing::warn!(error = %e, file = %f.file_id, "could not delete a lender's fetched copy");
            continue;
        }
        let Some(lend_id) = f.lend_request_id.clone() else {
            continue;
        };
        let (id, library) = (f.file_id.clone(), f.library_id.clone());
        st.store
            .write(move |tx| {
                Box::pin(async move {
                    tx.mark_file_purged(&id, now).await?;
                    let req = tx.lend_request_for_update(&lend_id).await?;
                    tx.insert_event(
                        &NewEvent {
                            library_id: &library,
                            side: "lend",
                            request_id: &lend_id,
                            actor_id: None,
                            actor: "system",
                            action: "copy_purged",
                            from_state: Some(&req.state),
                            to_state: &req.state,
                            note: Some(
                                "the borrowing library fetched the copy and keeps its own: ours was deleted",
                            ),
                            message_id: None,
                            data: Some(serde_json::json!({
                                "file_id": id,
                                "note_zh": "借入馆已取回复制件并自行保存：本馆的副本已删除",
                            })),
                        },
                        now,
                    )
                    .await?;
                    Ok::<_, FlowError>(())
                })
            })
            .await?;
        purged += 1;
    }
    Ok(purged)
}

/// How long a job run is ours before another process may take the job over (a run that died
/// without saying so).
const JOB_LEASE: time::Duration = time::Duration::minutes(10);

/// One round of every sweep, each recorded in `job_run`. The jobs are started together and
/// finished together (two writes a round, whatever the number of jobs).
async fn sweeps(st: &AppState, every: Duration) {
    let gap = time::Duration::try_from(every).unwrap_or(time::Duration::minutes(1));
    let rounds: [(&'static str, bool, JobFn); 6] = [
        ("lender_deadlines", false, |st| {
            Box::pin(sweep_deadlines(st))
        }),
        ("overdue_loans", false, |st| Box::pin(sweep_overdue(st))),
        ("purge_expired_copies", false, |st| {
            Box::pin(purge_files(st))
        }),
        ("trusted_sender_copies", false, |st| {
            Box::pin(deliver_trusted_remote(st))
        }),
        ("due_date_reminders", false, |st| {
            Box::pin(sweep_reminders(st))
        }),
        ("daily_digest", true, |st| Box::pin(send_due_digests(st))),
    ];
    let now = st.now();
    let lease = now + JOB_LEASE;
    let names: Vec<(&'static str, bool)> = rounds.iter().map(|(n, s, _)| (*n, *s)).collect();
    let started = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut out = Vec::new();
                for (name, scheduled) in names {
                    out.push(tx.job_start(name, now, lease, scheduled).await?);
                }
                Ok::<_, FlowError>(out)
            })
        })
        .await;
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "the jobs could not be started");
            return;
        }
    };
    let mut finished = Vec::new();
    for ((name, scheduled, job), go) in rounds.into_iter().zip(started) {
        if !go {
            continue;
        }
        let outcome = match job(st).await {
            Ok(n) => Ok(format!("ok: {n} handled")),
            Err(e) => {
                tracing::warn!(job = name, error = %e, "job failed");
                Err(e.to_string())
            }
        };
        let end = st.now();
        let next = if scheduled { next_hour(end) } else { end + gap };
        finished.push((name, end, outcome, next));
    }
    if finished.is_empty() {
        return;
    }
    let recorded = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                for (name, end, outcome, next) in &finished {
                    let r = match outcome {
                        Ok(s) => Ok(s.as_str()),
                        Err(e) => Err(e.as_str()),
                    };
                    tx.job_finished(name, *end, r, *next).await?;
                }
                Ok::<_, FlowError>(())
            })
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "the jobs' runs could not be recorded");
    }
}

type JobFn = for<'a> fn(
    &'a AppState,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<usize, FlowError>> + Send + 'a>,
>;

/// When the digest job looks again: the coming full hour, since each library chooses the hour
/// of its own digest.
pub fn next_hour(after: time::OffsetDateTime) -> time::OffsetDateTime {
    let at = after.to_offset(time::UtcOffset::UTC);
    let hour = at
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(at);
    hour + time::Duration::HOUR
}

/// Run `job` unless another process is running it (or, when `scheduled`, it is not due yet),
/// and record the run: start, end, result or failure, next run. Returns whether it ran.
pub async fn run_job(
    st: &AppState,
    name: &'static str,
    scheduled: bool,
    next: impl Fn(time::OffsetDateTime) -> time::OffsetDateTime,
    job: JobFn,
) -> Result<bool, FlowError> {
    let now = st.now();
    let lease = now + JOB_LEASE;
    let started = st
        .store
        .write(move |tx| Box::pin(async move { tx.job_start(name, now, lease, scheduled).await }))
        .await?;
    if !started {
        return Ok(false);
    }
    let result = job(st).await;
    let end = st.now();
    let next_run = next(end);
    let outcome = match &result {
        Ok(n) => Ok(format!("ok: {n} handled")),
        Err(e) => Err(e.to_string()),
    };
    st.store
        .write(move |tx| {
            Box::pin(async move {
                let r = match &outcome {
                    Ok(s) => Ok(s.as_str()),
                    Err(e) => Err(e.as_str()),
                };
                tx.job_finished(name, end, r, next_run).await
            })
        })
        .await?;
    result.map(|_| true)
}

/// Queue due-soon and overdue letters for loans readers hold. Each reminder is claimed (per
/// request, kind and due date) in the transaction that queues it, so it goes out once even
/// when several processes sweep at once; a renewal's new due date earns new reminders.
/// Returns how many were queued.
pub async fn sweep_reminders(st: &AppState) -> Result<usize, FlowError> {
    use crate::letters::LetterKind;
    use domain::requester::BorrowState;

    let now = st.now();
    // Days are counted in the reader's library's time (the library that sends the letter):
    // the candidates are those due within the longest reminder period of the latest date any
    // library is on; each is then measured against its own library's date.
    let latest = LibraryOffset::FARTHEST_EAST.date(now);
    let holding = [BorrowState::OnLoanToPatron.as_str()];
    let ids = st
        .store
        .borrow_requests_due_by(&holding, latest + time::Duration::days(30), 500)
        .await?;
    // Per library: its reminder period and its date now.
    let mut settings: BTreeMap<String, (i64, time::Date)> = BTreeMap::new();
    let mut queued = 0;
    for id in ids {
        let req = st.store.borrow_request(&id).await?;
        let (days, today) = match settings.get(&req.library_id) {
            Some(d) => *d,
            None => {
                let days = i64::from(
                    st.store
                        .letter_settings(&req.library_id)
                        .await?
                        .due_soon_days,
                );
                let today = st.store.library(&req.library_id).await?.offset().date(now);
                settings.insert(req.library_id.clone(), (days, today));
                (days, today)
            }
        };
        let done = st
            .store
            .write(move |tx| {
                Box::pin(async move {
                    let req = tx.borrow_request_for_update(&id).await?;
                    let Some(due) = req.due_date else {
                        return Ok(false);
                    };
                    if req.state != BorrowState::OnLoanToPatron.as_str() {
                        return Ok(false);
                    }
                    let left = (due - today).whole_days();
                    let kind = if left < 0 {
                        LetterKind::Overdue
                    } else if left <= days {
                        LetterKind::DueSoon
                    } else {
                        return Ok(false);
                    };
                    if !tx
                        .claim_reminder(&req.request_id, kind.as_str(), due, now)
                        .await?
                    {
                        return Ok(false);
                    }
                    let vars = serde_json::json!({ "days": left.max(0) });
                    crate::letters::queue(tx, kind, (&req).into(), vars, now).await?;
                    Ok::<_, FlowError>(true)
                })
            })
            .await?;
        if done {
            queued += 1;
        }
    }
    if queued > 0 {
        st.store.notify_outbox();
    }
    Ok(queued)
}

/// Gather each person's held letters into one digest letter, in the outbox, now, whatever
/// the hour. Returns how many digests were queued.
pub async fn send_digests(st: &AppState) -> Result<usize, FlowError> {
    let waiting = st.store.digest_waiting(1000).await?;
    let mut queued = 0;
    for (user, _, _) in waiting {
        if queue_digest(st, user, None).await? {
            queued += 1;
        }
    }
    if queued > 0 {
        st.store.notify_outbox();
    }
    Ok(queued)
}

/// The digest job: for each person with held letters, a digest of the letters held before
/// their library's last digest hour (see `LetterSettings::digest_hour`); letters held since
/// wait for the next one. Idempotent: a letter goes into one digest only.
pub async fn send_due_digests(st: &AppState) -> Result<usize, FlowError> {
    let waiting = st.store.digest_waiting(1000).await?;
    let mut cutoffs: BTreeMap<String, time::OffsetDateTime> = BTreeMap::new();
    let mut queued = 0;
    for (user, library, oldest) in waiting {
        let cutoff = match cutoffs.get(&library) {
            Some(c) => *c,
            None => {
                let offset = st.store.library(&library).await?.offset();
                let c = st
                    .store
                    .letter_settings(&library)
                    .await?
                    .last_digest_due(st.now(), offset);
                cutoffs.insert(library, c);
                c
            }
        };
        // Nothing held before the library's last digest hour: no transaction to find that out.
        if oldest > cutoff {
            continue;
        }
        if queue_digest(st, user, Some(cutoff)).await? {
            queued += 1;
        }
    }
    if queued > 0 {
        st.store.notify_outbox();
    }
    Ok(queued)
}

/// Queue one person's digest of the letters held (before `cutoff`, when given). Returns
/// whether there was anything to send.
async fn queue_digest(
    st: &AppState,
    user: String,
    cutoff: Option<time::OffsetDateTime>,
) -> Result<bool, FlowError> {
    use crate::letters::{LetterKind, Queued};

    let now = st.now();
    st.store
        .write(move |tx| {
            Box::pin(async move {
                let items = tx.take_digest_items(&user, cutoff, now).await?;
                let Some(first) = items.first() else {
                    return Ok(false);
                };
                let library = first.library_id.clone();
                let mut letters = Vec::new();
                for item in &items {
                    match serde_json::from_str::<Queued>(&item.payload) {
                        Ok(q) => letters.push(q),
                        Err(e) => tracing::warn!(
                            item = item.letter_digest_id, error = %e,
                            "a held letter cannot be read; left out of the digest"
                        ),
                    }
                }
                if letters.is_empty() {
                    return Ok(false);
                }
                let digest = Queued {
                    kind: LetterKind::Digest,
                    request_id: String::new(),
                    user_id: Some(user.clone()),
                    vars: serde_json::json!({}),
                    items: letters,
                };
                let recipient = format!("user:{user}");
                crate::letters::insert(tx, &library, "", &recipient, &digest, now).await?;
                Ok::<_, FlowError>(true)
            })
        })
        .await
}
