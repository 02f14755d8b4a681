//! What statistics are computed from: each borrowing request summarised from its events into
//! one `request_fact` row (outcome, unfilled reason, minutes per stage) with the keys reports
//! group by, kept up to date from the events before each report; then reports group those
//! rows. The rows are derived data: they can always be rebuilt from the events. The keys are
//! kept as numbers for their texts (`stat_value`), so that a report reads and groups a few
//! integers per request and names its groups once at the end.

use std::collections::HashMap;

use domain::library::LibraryOffset;
use domain::stats::{Aggregator, GroupStats, KeyedAggregator, Outcome, STAGE_COUNT, StatEvent};
use time::{Duration, OffsetDateTime};

use crate::{Pool, Result, Store, StoreError, Tx, on_pool, on_tx};

/// The row of `stat_mark` for request summaries.
const MARK: &str = "request_fact";

/// The statistics job's row of `job_lease` (migration 0037).
const LEASE_NAME: &str = "statistics";

/// How long a claim on the statistics job lasts (PostgreSQL, in seconds of the database's
/// clock): a process that died or restarted holds it no longer after this.
const LEASE_SECS: i64 = 120;

/// A holder renews its claim when fewer seconds than this are left, so that a step (seconds)
/// never outlives it; otherwise a step costs no write for the lease.
const RENEW_SECS: i64 = 90;

/// Requests summarised per round trip.
const PAGE: usize = 2000;

/// Rows per INSERT when summaries are stored.
const PER_INSERT: usize = 200;

/// What a report groups requests by. Each is one SQL expression over `request_fact f`, written
/// here and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatKey {
    PatronType,
    Department,
    Reader,
    Source,
    Journal,
    Partner,
    Library,
    Format,
    Month,
    Year,
}

impl StatKey {
    pub const ALL: &'static [StatKey] = &[
        StatKey::PatronType,
        StatKey::Department,
        StatKey::Reader,
        StatKey::Source,
        StatKey::Journal,
        StatKey::Partner,
        StatKey::Library,
        StatKey::Format,
        StatKey::Month,
        StatKey::Year,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatKey::PatronType => "patron_type",
            StatKey::Department => "department",
            StatKey::Reader => "reader",
            StatKey::Source => "source",
            StatKey::Journal => "journal",
            StatKey::Partner => "partner",
            StatKey::Library => "library",
            StatKey::Format => "format",
            StatKey::Month => "month",
            StatKey::Year => "year",
        }
    }

    /// The name, or `lender` (the older name of `partner`).
    pub fn parse(s: &str) -> Option<Self> {
        if s == "lender" {
            return Some(StatKey::Partner);
        }
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// The number each request is grouped by: a `stat_value` id, or for months and years
    /// the YYYYMM or YYYY itself.
    pub(crate) fn expr(self) -> &'static str {
        match self {
            StatKey::PatronType => "f.patron_type_value",
            StatKey::Department => "f.department_value",
            // Grouped by the reader's id; the groups are named after the readers afterwards
            // (see `reader_labels`), not by joining the reader to every request.
            StatKey::Reader => "f.reader_value",
            StatKey::Source => "f.source_value",
            StatKey::Journal => "f.journal_value",
            StatKey::Partner => "f.partner_value",
            StatKey::Library => "f.library_value",
            StatKey::Format => "f.format_value",
            StatKey::Month => "f.month",
            StatKey::Year => "(f.month / 100)",
        }
    }

    /// Whether the group numbers are `stat_value` ids (else months or years).
    fn by_value(self) -> bool {
        !matches!(self, StatKey::Month | StatKey::Year)
    }
}

/// Which requests a report counts.
#[derive(Debug, Clone)]
pub struct StatScope {
    /// The borrowing library; with `members`, the hub whose members (and itself) are counted;
    /// `None`: every library on the node (benchmarks only).
    pub library_id: Option<String>,
    /// Count the members of the hub `library_id` too (the hub's view).
    pub members: bool,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct FactSource {
    request_id: String,
    library_id: String,
    patron_id: String,
    format: String,
    state: String,
    lender_id: Option<String>,
    patron_type: Option<String>,
    department: Option<String>,
    journal: Option<String>,
    created_at: OffsetDateTime,
}

crate::sql::lite_row!(FactSource {
    request_id,
    library_id,
    patron_id,
    format,
    state,
    lender_id,
    patron_type,
    department,
    journal,
    created_at,
});

#[derive(sqlx::FromRow)]
struct EventSource {
    request_id: String,
    action: String,
    at: OffsetDateTime,
    source: Option<String>,
    reason_unfilled: Option<String>,
    lender: Option<String>,
}

crate::sql::lite_row!(EventSource {
    request_id,
    action,
    at,
    source,
    reason_unfilled,
    lender,
});

/// One request's stored summary.
struct Fact {
    request_id: String,
    library_id: String,
    created_at: OffsetDateTime,
    /// YYYYMM.
    month: i64,
    patron_id: String,
    patron_type: String,
    department: String,
    source: String,
    journal: String,
    partner: String,
    format: String,
    outcome: Outcome,
    unfilled_reason: Option<String>,
    stages: [Option<i64>; STAGE_COUNT],
}

fn key_or_dash(v: Option<String>) -> String {
    v.map(|s| {
        let s = s.trim();
        match s.char_indices().nth(KEY_CHARS) {
            Some((end, _)) => s[..end].trim_end().to_owned(),
            None => s.to_owned(),
        }
    })
    .filter(|s| !s.is_empty())
    .unwrap_or_else(|| "-".to_owned())
}

/// A key's text is grouped by its first this many characters: `stat_value` keeps each text
/// under a unique index, and PostgreSQL refuses index entries over about 2,700 bytes (a
/// 2,000-character Chinese journal title is 6,000). Titles that differ only after this are
/// one group.
const KEY_CHARS: usize = 300;

/// YYYYMM of `t` in the time `offset` (a library's month starts at its midnight).
fn local_month(t: OffsetDateTime, offset: LibraryOffset) -> i64 {
    let d = offset.date(t);
    i64::from(d.year()) * 100 + i64::from(u8::from(d.month()))
}

/// The summary of `r` from its events, oldest first.
/// `offset` is the time of the request's library: its month is the library's month.
fn fact_of(r: FactSource, events: &[&EventSource], offset: LibraryOffset) -> Fact {
    let stat_events: Vec<StatEvent> = events
        .iter()
        .map(|e| StatEvent {
            action: e.action.clone(),
            at: e.at,
            reason_unfilled: e.reason_unfilled.clone(),
        })
        .collect();
    let s = domain::stats::summarise_request(&r.state, &stat_events);
    // Requests made before the way in was recorded count under `-`.
    let source = events
        .iter()
        .find(|e| e.action == "create")
        .and_then(|e| e.source.clone());
    // The lender that has it, else the last one asked.
    let partner = r
        .lender_id
        .clone()
        .or_else(|| events.iter().rev().find_map(|e| e.lender.clone()));
    let journal = if r.format == "loan" { None } else { r.journal };
    Fact {
        month: local_month(r.created_at, offset),
        request_id: r.request_id,
        library_id: r.library_id,
        created_at: r.created_at,
        patron_id: r.patron_id,
        patron_type: key_or_dash(r.patron_type),
        department: key_or_dash(r.department),
        source: key_or_dash(source),
        journal: key_or_dash(journal),
        partner: key_or_dash(partner),
        format: r.format,
        outcome: s.outcome,
        unfilled_reason: s.unfilled_reason,
        stages: s.stage_minutes,
    }
}

#[derive(sqlx::FromRow)]
struct FactGroupRow {
    grp: i64,
    outcome: i64,
    reason: Option<i64>,
    n: i64,
    s1: Vec<i64>,
    s2: Vec<i64>,
    s3: Vec<i64>,
    s4: Vec<i64>,
    s5: Vec<i64>,
}

/// A report's rows on PostgreSQL, grouped there by key, outcome and unfilled reason: a few rows
/// with each stage's times as an array, instead of a row per request (sqlx decodes rows one
/// at a time, about a second at a million). The aggregation is the same as row by row.
/// `sql` is the per-request query `stat_report` builds.
async fn pg_report(p: &sqlx::PgPool, sql: &str, scope: &StatScope) -> Result<KeyedAggregator> {
    let stage = |i: usize| {
        format!("COALESCE(array_agg(stage{i}) FILTER (WHERE stage{i} IS NOT NULL), '{{}}') AS s{i}")
    };
    let grouped = format!(
        "SELECT grp, outcome, reason, COUNT(*) AS n, {}, {}, {}, {}, {}
         FROM ({sql}) fact GROUP BY grp, outcome, reason",
        stage(1),
        stage(2),
        stage(3),
        stage(4),
        stage(5)
    );
    let mut q = sqlx::query_as::<_, FactGroupRow>(sqlx::AssertSqlSafe(grouped))
        .bind(scope.from)
        .bind(scope.to);
    if let Some(l) = &scope.library_id {
        q = q.bind(l.as_str());
    }
    let mut agg = KeyedAggregator::default();
    for r in q.fetch_all(p).await? {
        let outcome = Outcome::from_code(r.outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("request_fact.outcome {}", r.outcome)))?;
        let n = usize::try_from(r.n)
            .map_err(|_| StoreError::Corrupt(format!("request count {}", r.n)))?;
        agg.add_bulk(r.grp, outcome, r.reason, n, [r.s1, r.s2, r.s3, r.s4, r.s5]);
    }
    Ok(agg)
}

/// The texts `stat_value` keeps, by id, for `ids`.
async fn value_names(store: &Store, ids: &[i64]) -> Result<HashMap<i64, String>> {
    const PER_QUERY: usize = 500;
    let mut names = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(PER_QUERY) {
        let sql = format!(
            "SELECT value_id, value FROM stat_value WHERE value_id IN ({})",
            marks(1, chunk.len())
        );
        let mut q = crate::sql::query_as::<(i64, String)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        names.extend(q.read_all(store).await?);
    }
    Ok(names)
}

/// The ids of `values` in `stat_value`, adding those it lacks, in the caller's transaction.
/// Only the texts not there yet are inserted: on PostgreSQL an `INSERT … ON CONFLICT DO
/// NOTHING` takes an identity value for every row it is given, kept or not, so inserting
/// every text at each refresh used up ids by the thousand. A text another refresh adds at
/// the same moment meets `ON CONFLICT DO NOTHING` (PostgreSQL waits for the other
/// transaction, then skips it) and is read back with the rest.
async fn value_ids(tx: &mut Tx<'_>, values: &[&str]) -> Result<HashMap<String, i64>> {
    const PER_QUERY: usize = 500;
    let mut ids = HashMap::with_capacity(values.len());
    for chunk in values.chunks(PER_QUERY) {
        find_values(tx, chunk, &mut ids).await?;
        let missing: Vec<&str> = chunk
            .iter()
            .copied()
            .filter(|v| !ids.contains_key(*v))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let add = format!(
            "INSERT INTO stat_value (value) VALUES {} ON CONFLICT (value) DO NOTHING",
            (1..=missing.len())
                .map(|i| format!("(${i})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = crate::sql::query(sqlx::AssertSqlSafe(add));
        for v in &missing {
            q = q.bind(*v);
        }
        q.execute(&mut tx.conn).await?;
        find_values(tx, &missing, &mut ids).await?;
    }
    Ok(ids)
}

/// The ids `stat_value` has for `values`, into `ids`.
async fn find_values(
    tx: &mut Tx<'_>,
    values: &[&str],
    ids: &mut HashMap<String, i64>,
) -> Result<()> {
    let find = format!(
        "SELECT value_id, value FROM stat_value WHERE value IN ({})",
        marks(1, values.len())
    );
    let mut q = crate::sql::query_as::<(i64, String)>(sqlx::AssertSqlSafe(find));
    for v in values {
        q = q.bind(*v);
    }
    for (id, v) in q.fetch_all(&mut tx.conn).await? {
        ids.insert(v, id);
    }
    Ok(())
}

/// Set the mark: the next pass reads the requests with events from change `seq` on (see
/// `Store::change_mark`); `at` is when the pass that read up to it began.
async fn write_mark(tx: &mut Tx<'_>, at: OffsetDateTime, seq: i64) -> Result<()> {
    crate::sql::query(
        "INSERT INTO stat_mark (name, at, seq) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET at = excluded.at, seq = excluded.seq",
    )
    .bind(MARK)
    .bind(at)
    .bind(seq)
    .execute(&mut tx.conn)
    .await?;
    Ok(())
}

/// Move the pass on past the page just written, or end it. Only from where the step read
/// it: when another process moved it first, that one's move stands.
async fn move_pass(tx: &mut Tx<'_>, step: PassMove) -> Result<()> {
    match step.finish {
        Some((started_at, seq)) => {
            let ended =
                crate::sql::query("DELETE FROM stat_pass WHERE name = $1 AND after_id = $2")
                    .bind(MARK)
                    .bind(step.from.as_str())
                    .execute(&mut tx.conn)
                    .await?;
            if ended.rows_affected() > 0 {
                write_mark(tx, started_at, seq).await?;
            }
        }
        None => {
            crate::sql::query(
                "UPDATE stat_pass SET after_id = $2, done = done + $3
                 WHERE name = $1 AND after_id = $4",
            )
            .bind(MARK)
            .bind(step.to.as_str())
            .bind(i64::try_from(step.summarised).unwrap_or(i64::MAX))
            .bind(step.from.as_str())
            .execute(&mut tx.conn)
            .await?;
        }
    }
    Ok(())
}

/// `$first, $first+1, …` for `n` arguments.
fn marks(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How far a pass of summaries has got: `done` of the `total` requests it set out to
/// summarise (`done` may pass `total` when requests were made during the pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactProgress {
    pub done: u64,
    pub total: u64,
    /// Whether this is a pass over every request (the first after an upgrade or a restore,
    /// when nothing is summarised yet), rather than the routine one over what changed since
    /// the last pass.
    pub full: bool,
}

impl FactProgress {
    /// Requests still to summarise in this pass.
    pub fn remaining(&self) -> u64 {
        self.total.saturating_sub(self.done)
    }
}

/// What one step of refreshing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactStep {
    /// Requests summarised by this step.
    pub summarised: u64,
    /// The pass still under way after this step; `None`: the summaries are up to date.
    pub pending: Option<FactProgress>,
    /// When the pass this step finished began (the summaries now hold every event committed
    /// before it); `None` when it finished none.
    pub finished_from: Option<OffsetDateTime>,
    /// Another process holds the job (PostgreSQL shared by several processes): this one did
    /// nothing this round.
    pub held_elsewhere: bool,
}

impl FactStep {
    fn idle(held_elsewhere: bool) -> Self {
        FactStep {
            summarised: 0,
            pending: None,
            finished_from: None,
            held_elsewhere,
        }
    }
}

/// The pass under way (`stat_pass`, migrations 0035 and 0037; its `since` time is no longer
/// read: `since_seq` replaced it).
#[derive(sqlx::FromRow)]
struct PassRow {
    started_at: OffsetDateTime,
    since_seq: Option<i64>,
    mark_seq: Option<i64>,
    after_id: String,
    done: i64,
    total: i64,
}

crate::sql::lite_row!(PassRow {
    started_at,
    since_seq,
    mark_seq,
    after_id,
    done,
    total,
});

/// The mark of the last pass (`stat_mark`).
#[derive(sqlx::FromRow)]
struct MarkRow {
    at: OffsetDateTime,
    seq: Option<i64>,
}

crate::sql::lite_row!(MarkRow { at, seq });

impl PassRow {
    fn progress(&self) -> FactProgress {
        let done = u64::try_from(self.done).unwrap_or(0);
        let total = u64::try_from(self.total).unwrap_or(0);
        FactProgress {
            done,
            total: total.max(done),
            full: self.since_seq.is_none(),
        }
    }
}

/// Where a step leaves its pass, written with the step's summaries.
struct PassMove {
    /// The pass's cursor that the step read from: a step that lost a race with another
    /// process doing the same page moves nothing.
    from: String,
    to: String,
    summarised: u64,
    /// The pass is done: it is removed and its start (time, change mark) becomes the mark.
    finish: Option<(OffsetDateTime, i64)>,
}

impl Store {
    /// The time of each library with a request in `page` (from the directory's cache); a
    /// library not in the directory is left out (the default time).
    async fn offsets_of(&self, page: &[FactSource]) -> Result<HashMap<String, LibraryOffset>> {
        let mut out = HashMap::new();
        for r in page {
            if out.contains_key(&r.library_id) {
                continue;
            }
            match self.library(&r.library_id).await {
                Ok(l) => {
                    out.insert(r.library_id.clone(), l.offset());
                }
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Bring the request summaries up to date with the events, all at once: steps of
    /// `refresh_request_facts_step` until nothing is left. Returns how many requests were
    /// summarised. For the background job's tests, benchmarks and small stores; a report
    /// request asks `request_facts_pending` first and does not wait for a long pass.
    #[tracing::instrument(skip_all, err)]
    pub async fn refresh_request_facts(&self, now: OffsetDateTime) -> Result<u64> {
        let mut total = 0;
        loop {
            let step = self.refresh_request_facts_step(now).await?;
            total += step.summarised;
            // A pass begun before `now` (by the job, or another process) misses what changed
            // behind its cursor since it began: one more pass, from its start, follows it.
            let up_to_date = step.pending.is_none() && step.finished_from.is_none_or(|f| f >= now);
            if up_to_date {
                return Ok(total);
            }
        }
    }

    /// One bounded step of bringing the summaries up to date: every request with an event
    /// since the last mark (all of them the first time) is summarised again, a page at a
    /// time, each page its own short read and its own write transaction (which also moves the
    /// pass on), so that no read transaction is held for the whole pass (on SQLite a long
    /// reader keeps the WAL from being recycled). The pass is kept in the store: it resumes
    /// after a restart. One process at a time runs it (`hold_stat_lease`); another that shares
    /// the database does nothing this round (`held_elsewhere`). When the pass is done its
    /// start becomes the mark.
    #[tracing::instrument(skip_all, err)]
    pub async fn refresh_request_facts_step(&self, now: OffsetDateTime) -> Result<FactStep> {
        if !self.hold_stat_lease().await? {
            return Ok(FactStep::idle(true));
        }
        let pass = match self.fact_pass().await? {
            Some(p) => p,
            None => {
                // Taken before anything is read: what commits from here on has a later mark.
                let upto = self.change_mark().await?;
                let mark = self.fact_mark().await?;
                let since = mark.as_ref().and_then(|m| m.seq);
                let total = self.facts_to_summarise(since).await?;
                if total == 0 {
                    // Nothing new and a recent mark: the next refresh reads as little as
                    // this one did, and a report costs no write.
                    let recent = mark
                        .as_ref()
                        .is_some_and(|m| m.seq.is_some() && now - m.at < Duration::hours(1));
                    if !recent {
                        self.set_fact_mark(now, upto).await?;
                    }
                    return Ok(FactStep::idle(false));
                }
                self.start_fact_pass(now, since, upto, total).await?;
                match self.fact_pass().await? {
                    Some(p) => p,
                    // Finished in between (only when a lease ran out mid-step): look again
                    // next step.
                    None => {
                        return Ok(FactStep {
                            summarised: 0,
                            pending: Some(FactProgress {
                                done: 0,
                                total,
                                full: since.is_none(),
                            }),
                            finished_from: None,
                            held_elsewhere: false,
                        });
                    }
                }
            }
        };
        let page = self.fact_sources(pass.since_seq, &pass.after_id).await?;
        let finished = page.len() < PAGE;
        let to = page
            .last()
            .map_or_else(|| pass.after_id.clone(), |r| r.request_id.clone());
        let events = self.fact_events(&page).await?;
        let facts = {
            let mut by_request: HashMap<&str, Vec<&EventSource>> = HashMap::new();
            for e in &events {
                by_request.entry(e.request_id.as_str()).or_default().push(e);
            }
            let offsets = self.offsets_of(&page).await?;
            let mut facts = Vec::with_capacity(page.len());
            for r in page {
                let evs = by_request
                    .get(r.request_id.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let offset = offsets.get(&r.library_id).copied().unwrap_or_default();
                facts.push(fact_of(r, evs, offset));
            }
            facts
        };
        let summarised = facts.len() as u64;
        let mut progress = pass.progress();
        progress.done += summarised;
        progress.total = progress.total.max(progress.done);
        // Migration 0037 gave a pass under way its mark; without one the next pass would read
        // every change recorded (more than needed, nothing missed).
        let mark_seq = pass.mark_seq.unwrap_or(0);
        self.store_facts(
            facts,
            Some(PassMove {
                from: pass.after_id.clone(),
                to,
                summarised,
                finish: finished.then_some((pass.started_at, mark_seq)),
            }),
        )
        .await?;
        Ok(FactStep {
            summarised,
            pending: (!finished).then_some(progress),
            finished_from: finished.then_some(pass.started_at),
            held_elsewhere: false,
        })
    }

    /// How far the summaries are behind the events, without changing anything: the pass
    /// under way, or the requests the next pass would summarise (`done` 0); `None` when they
    /// are up to date. Cheap: a row, or a count over an index.
    #[tracing::instrument(skip_all, err)]
    pub async fn request_facts_pending(&self) -> Result<Option<FactProgress>> {
        let pass = self.fact_pass().await?;
        if let Some(p) = &pass
            && p.since_seq.is_none()
        {
            return Ok(Some(p.progress()));
        }
        let since = self.fact_mark().await?.and_then(|m| m.seq);
        let total = self.facts_to_summarise(since).await?;
        Ok((total > 0).then_some(FactProgress {
            done: 0,
            total,
            full: since.is_none(),
        }))
    }

    /// Whether this handle may run the statistics job now. On PostgreSQL several processes
    /// may share the database: one at a time runs the job, the one holding the lease in
    /// `job_lease` (taken when free or expired, renewed by its holder). Every time is the
    /// database's clock, so processes whose clocks differ agree on when a lease runs out, and
    /// one that died or restarted lets go after `LEASE_SECS`. On SQLite one process owns the
    /// file: it always runs the job (a restart does not wait for its own former lease).
    async fn hold_stat_lease(&self) -> Result<bool> {
        if matches!(self.pool(), Pool::Sqlite(_)) {
            return Ok(true);
        }
        let held = crate::sql::query_as::<(String, bool, bool)>(
            "SELECT holder,
                    lease_until > clock_timestamp(),
                    lease_until > clock_timestamp() + make_interval(secs => $2)
             FROM job_lease WHERE name = $1",
        )
        .bind(LEASE_NAME)
        .bind(RENEW_SECS)
        .read_optional(self)
        .await?;
        let me = self.holder().to_owned();
        match held {
            Some((holder, _, fresh)) if holder == me && fresh => return Ok(true),
            Some((holder, live, _)) if holder != me && live => return Ok(false),
            _ => {}
        }
        // Taken only when still free or expired, or ours: of two processes trying at once,
        // one gets it (the row lock orders them, the second sees the first's lease).
        self.write(move |tx| {
            Box::pin(async move {
                let got = crate::sql::query_as::<(String,)>(
                    "INSERT INTO job_lease (name, holder, lease_until)
                     VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                         lease_until = excluded.lease_until
                     WHERE job_lease.holder = excluded.holder
                        OR job_lease.lease_until <= clock_timestamp()
                     RETURNING holder",
                )
                .bind(LEASE_NAME)
                .bind(me.as_str())
                .bind(LEASE_SECS)
                .fetch_optional(&mut tx.conn)
                .await?;
                Ok::<_, StoreError>(got.is_some())
            })
        })
        .await
    }

    /// The change mark now: every event written from here on has a change (`SEQ`) at least
    /// this, and every event before it is committed and visible. On SQLite writes are serial,
    /// so the next event id. On PostgreSQL event ids are taken before commit, in any order,
    /// so the transaction id each event records, and the oldest transaction still running.
    async fn change_mark(&self) -> Result<i64> {
        let sql = match self.pool() {
            Pool::Sqlite(_) => "SELECT COALESCE(MAX(event_id), 0) + 1 FROM request_event",
            Pool::Postgres(_) => "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        };
        let row = crate::sql::query_as::<(i64,)>(sql)
            .read_optional(self)
            .await?;
        Ok(row.map_or(0, |(n,)| n))
    }

    async fn fact_pass(&self) -> Result<Option<PassRow>> {
        crate::sql::query_as::<PassRow>(
            "SELECT started_at, since_seq, mark_seq, after_id, done, total
             FROM stat_pass WHERE name = $1",
        )
        .bind(MARK)
        .read_optional(self)
        .await
    }

    /// The mark of the last pass. On PostgreSQL a mark is a transaction id, which means
    /// something only in the database cluster that gave it: after a dump restored into
    /// another cluster (whose ids start again near zero) a mark beyond every id given so far
    /// would hide every new event. Such a mark is dropped, so the next pass is a full one.
    async fn fact_mark(&self) -> Result<Option<MarkRow>> {
        let mut mark =
            crate::sql::query_as::<MarkRow>("SELECT at, seq FROM stat_mark WHERE name = $1")
                .bind(MARK)
                .read_optional(self)
                .await?;
        if let (Pool::Postgres(_), Some(m)) = (self.pool(), mark.as_mut())
            && let Some(seq) = m.seq
        {
            let next = crate::sql::query_as::<(i64,)>(
                "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint",
            )
            .read_optional(self)
            .await?;
            if next.is_some_and(|(n,)| seq > n) {
                tracing::warn!(
                    mark = seq,
                    "the statistics mark is from another database cluster: summarising every request again"
                );
                m.seq = None;
            }
        }
        Ok(mark)
    }

    /// How many requests a pass from change `since` summarises (`None`: every request). A
    /// count over an index, on a blocking thread on SQLite (every request of a large store).
    async fn facts_to_summarise(&self, since: Option<i64>) -> Result<u64> {
        let rows = match since {
            None => {
                crate::sql::query_as::<(i64,)>("SELECT COUNT(*) FROM borrow_request")
                    .read_all_blocking(self)
                    .await?
            }
            Some(s) => {
                let sql = format!(
                    "SELECT COUNT(DISTINCT request_id) FROM {}",
                    self.changed_events("$1")
                );
                crate::sql::query_as::<(i64,)>(sqlx::AssertSqlSafe(sql))
                    .bind(s)
                    .read_all_blocking(self)
                    .await?
            }
        };
        let n = rows.first().map_or(0, |(n,)| *n);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The borrowing events from change `mark` (a parameter) on: `request_event` and its
    /// condition, for a FROM clause. On SQLite the change is the event id, read as a range of
    /// the table's own key: given the choice, SQLite's planner (with its sampled statistics)
    /// walked a whole index instead: 42 to 110 ms at a million events, on every report.
    fn changed_events(&self, mark: &str) -> String {
        match self.pool() {
            Pool::Sqlite(_) => {
                format!("request_event NOT INDEXED WHERE event_id >= {mark} AND side = 'borrow'")
            }
            Pool::Postgres(_) => {
                format!("request_event WHERE xact_id >= {mark} AND side = 'borrow'")
            }
        }
    }

    async fn set_fact_mark(&self, at: OffsetDateTime, seq: i64) -> Result<()> {
        self.write(move |tx| Box::pin(async move { write_mark(tx, at, seq).await }))
            .await
    }

    /// Begin a pass over the requests changed from `since` (`None`: all) whose mark, once it
    /// is done, is `upto`; unless one was begun meanwhile (then that one goes on).
    async fn start_fact_pass(
        &self,
        now: OffsetDateTime,
        since: Option<i64>,
        upto: i64,
        total: u64,
    ) -> Result<()> {
        let total = i64::try_from(total).unwrap_or(i64::MAX);
        self.write(move |tx| {
            Box::pin(async move {
                crate::sql::query(
                    "INSERT INTO stat_pass
                        (name, started_at, since_seq, mark_seq, after_id, done, total)
                     VALUES ($1, $2, $3, $4, '', 0, $5) ON CONFLICT (name) DO NOTHING",
                )
                .bind(MARK)
                .bind(now)
                .bind(since)
                .bind(upto)
                .bind(total)
                .execute(&mut tx.conn)
                .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
    }

    /// The next page of requests to summarise, in id order after `after`.
    async fn fact_sources(&self, since: Option<i64>, after: &str) -> Result<Vec<FactSource>> {
        let changed = if since.is_some() {
            format!(
                " AND r.request_id IN (SELECT request_id FROM {})",
                self.changed_events("$3")
            )
        } else {
            String::new()
        };
        let select = |journal: &str| {
            format!(
                "SELECT r.request_id, r.library_id, r.patron_id, r.format, r.state, r.lender_id,
                        u.patron_type, u.department, {journal} AS journal, r.created_at
                 FROM borrow_request r LEFT JOIN app_user u ON u.user_id = r.patron_id
                 WHERE r.request_id > $1{changed}
                 ORDER BY r.request_id LIMIT $2"
            )
        };
        let limit = i64::try_from(PAGE).unwrap_or(i64::MAX);
        // On SQLite through a plain read connection: sqlx's driver hands each row across
        // threads, which at millions of rows was most of the first summary's time.
        let sql = match self.pool() {
            Pool::Sqlite(_) => select("json_extract(r.citation, '$.source_title')"),
            Pool::Postgres(_) => select("(r.citation ->> 'source_title')"),
        };
        let mut q = crate::sql::query_as::<FactSource>(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(limit);
        if let Some(s) = since {
            q = q.bind(s);
        }
        q.read_all_blocking(self).await
    }

    /// The borrowing events of `requests`, by request, oldest first.
    async fn fact_events(&self, requests: &[FactSource]) -> Result<Vec<EventSource>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let select = |source: &str, reason: &str, lender: &str| {
            format!(
                "SELECT request_id, action, at, {source} AS source,
                        {reason} AS reason_unfilled, {lender} AS lender
                 FROM request_event
                 WHERE side = 'borrow' AND request_id IN ({})
                 ORDER BY request_id, event_id",
                marks(1, requests.len())
            )
        };
        let sql = match self.pool() {
            Pool::Sqlite(_) => select(
                "json_extract(data, '$.source')",
                "json_extract(data, '$.reason_unfilled')",
                "json_extract(data, '$.lender')",
            ),
            Pool::Postgres(_) => select(
                "(data ->> 'source')",
                "(data ->> 'reason_unfilled')",
                "(data ->> 'lender')",
            ),
        };
        let mut q = crate::sql::query_as::<EventSource>(sqlx::AssertSqlSafe(sql));
        for r in requests {
            q = q.bind(r.request_id.as_str());
        }
        q.read_all_blocking(self).await
    }

    /// Write `facts` and, in the same transaction, move the pass on (`step`).
    async fn store_facts(&self, facts: Vec<Fact>, step: Option<PassMove>) -> Result<()> {
        self.write(move |tx| {
            Box::pin(async move {
                let mut texts: Vec<&str> = Vec::with_capacity(facts.len() + 64);
                for f in &facts {
                    texts.extend([
                        f.library_id.as_str(),
                        f.patron_id.as_str(),
                        f.patron_type.as_str(),
                        f.department.as_str(),
                        f.source.as_str(),
                        f.journal.as_str(),
                        f.partner.as_str(),
                        f.format.as_str(),
                    ]);
                    texts.extend(f.unfilled_reason.as_deref());
                }
                texts.sort_unstable();
                texts.dedup();
                let ids = value_ids(tx, &texts).await?;
                let id = |v: &str| {
                    ids.get(v).copied().ok_or_else(|| {
                        StoreError::Corrupt(format!("stat_value lacks {v:?} after adding it"))
                    })
                };
                const COLS: usize = 19;
                for chunk in facts.chunks(PER_INSERT) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| format!("({})", marks(i * COLS + 1, COLS)))
                        .collect();
                    let sql = format!(
                        "INSERT INTO request_fact (library_id, created_at, request_id, month,
                            library_value, reader_value, patron_type_value, department_value,
                            source_value, journal_value, partner_value, format_value, outcome,
                            unfilled_reason_value, stage1, stage2, stage3, stage4, stage5)
                         VALUES {}
                         ON CONFLICT (request_id) DO UPDATE SET
                            patron_type_value = excluded.patron_type_value,
                            department_value = excluded.department_value,
                            source_value = excluded.source_value,
                            journal_value = excluded.journal_value,
                            partner_value = excluded.partner_value,
                            format_value = excluded.format_value,
                            outcome = excluded.outcome,
                            unfilled_reason_value = excluded.unfilled_reason_value,
                            stage1 = excluded.stage1, stage2 = excluded.stage2,
                            stage3 = excluded.stage3, stage4 = excluded.stage4,
                            stage5 = excluded.stage5",
                        values.join(", ")
                    );
                    let mut q = crate::sql::query(sqlx::AssertSqlSafe(sql));
                    for f in chunk {
                        q = q
                            .bind(f.library_id.as_str())
                            .bind(f.created_at)
                            .bind(f.request_id.as_str())
                            .bind(f.month)
                            .bind(id(&f.library_id)?)
                            .bind(id(&f.patron_id)?)
                            .bind(id(&f.patron_type)?)
                            .bind(id(&f.department)?)
                            .bind(id(&f.source)?)
                            .bind(id(&f.journal)?)
                            .bind(id(&f.partner)?)
                            .bind(id(&f.format)?)
                            .bind(f.outcome.code())
                            .bind(f.unfilled_reason.as_deref().map(id).transpose()?)
                            .bind(f.stages[0])
                            .bind(f.stages[1])
                            .bind(f.stages[2])
                            .bind(f.stages[3])
                            .bind(f.stages[4]);
                    }
                    on_tx!(tx, c => {
                        q.execute(&mut *c).await?;
                    });
                }
                if let Some(step) = step {
                    move_pass(tx, step).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
    }

    /// Requests in `scope` grouped by `key`: counts, fill rate, unfilled reasons and stage
    /// times (see `domain::stats::aggregate`). Reads the summaries as they are: call
    /// `refresh_request_facts` first.
    #[tracing::instrument(skip_all, fields(key = key.as_str()), err)]
    pub async fn stat_report(
        &self,
        scope: &StatScope,
        key: StatKey,
        top: Option<usize>,
    ) -> Result<Vec<GroupStats>> {
        let agg = match (self.readers(), self.pool()) {
            (Some(_), _) => {
                // Packed months from their blocks, the others from their rows; a long read,
                // off the runtime's threads.
                let (store, scope) = (self.clone(), scope.clone());
                tokio::task::spawn_blocking(move || {
                    store
                        .readers()
                        .ok_or(StoreError::Closed)?
                        .with(|c| crate::stat_block::lite_report(c, key, &scope))
                })
                .await
                .map_err(|e| StoreError::Corrupt(format!("statistics report task: {e}")))??
            }
            (None, Pool::Postgres(p)) => {
                let library = match (&scope.library_id, scope.members) {
                    (Some(_), false) => " AND f.library_id = $3",
                    (Some(_), true) => {
                        " AND f.library_id IN (SELECT library_id FROM library WHERE library_id = $3 OR hub_id = $3)"
                    }
                    (None, _) => "",
                };
                let sql = format!(
                    "SELECT {} AS grp, f.outcome, f.unfilled_reason_value AS reason,
                            f.stage1, f.stage2, f.stage3, f.stage4, f.stage5
                     FROM request_fact f
                     WHERE f.created_at >= $1 AND f.created_at < $2{library}",
                    key.expr()
                );
                pg_report(p, &sql, scope).await?
            }
            (None, Pool::Sqlite(_)) => return Err(StoreError::Closed),
        };
        self.finish_report(agg, key, top).await
    }

    /// Name the groups and reasons of a report, then sum it up.
    async fn finish_report(
        &self,
        agg: KeyedAggregator,
        key: StatKey,
        top: Option<usize>,
    ) -> Result<Vec<GroupStats>> {
        let mut ids = agg.reasons();
        if key.by_value() {
            ids.extend_from_slice(agg.keys());
        }
        let names = value_names(self, &ids).await?;
        let group = |k: i64| match key {
            StatKey::Month => Some(format!("{:04}-{:02}", k / 100, k % 100)),
            StatKey::Year => Some(format!("{k:04}")),
            _ => names.get(&k).cloned(),
        };
        let agg = agg
            .named(group, &names)
            .map_err(|k| StoreError::Corrupt(format!("request_fact: no stat_value {k}")))?;
        self.finish_named(agg, key, top).await
    }

    async fn finish_named(
        &self,
        agg: Aggregator,
        key: StatKey,
        top: Option<usize>,
    ) -> Result<Vec<GroupStats>> {
        let agg = if key == StatKey::Reader {
            let ids: Vec<String> = agg.keys().map(str::to_owned).collect();
            agg.relabel(&self.reader_labels(&ids).await?)
        } else {
            agg
        };
        Ok(agg.finish(top))
    }

    /// What `stat_report` gives, computed the straightforward way: every borrowing request on
    /// the node summarised from its events in memory and grouped by the texts of its keys,
    /// without the stored summaries. It reads every event: for tests that check the stored
    /// summaries and the reports read from them against it.
    pub async fn stat_report_from_events(
        &self,
        scope: &StatScope,
        key: StatKey,
        top: Option<usize>,
    ) -> Result<Vec<GroupStats>> {
        let libraries: Option<Vec<String>> = match (&scope.library_id, scope.members) {
            (Some(l), false) => Some(vec![l.clone()]),
            (Some(l), true) => Some(
                crate::sql::query_as::<(String,)>(
                    "SELECT library_id FROM library WHERE library_id = $1 OR hub_id = $1",
                )
                .bind(l.as_str())
                .read_all(self)
                .await?
                .into_iter()
                .map(|(l,)| l)
                .collect(),
            ),
            (None, _) => None,
        };
        let mut agg = Aggregator::default();
        let mut after = String::new();
        loop {
            let page = self.fact_sources(None, &after).await?;
            let Some(last) = page.last() else { break };
            after = last.request_id.clone();
            let events = self.fact_events(&page).await?;
            let mut by_request: HashMap<&str, Vec<&EventSource>> = HashMap::new();
            for e in &events {
                by_request.entry(e.request_id.as_str()).or_default().push(e);
            }
            let offsets = self.offsets_of(&page).await?;
            for r in page {
                let evs = by_request
                    .get(r.request_id.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let offset = offsets.get(&r.library_id).copied().unwrap_or_default();
                let f = fact_of(r, evs, offset);
                let counted = f.created_at >= scope.from
                    && f.created_at < scope.to
                    && libraries
                        .as_ref()
                        .is_none_or(|ls| ls.contains(&f.library_id));
                if !counted {
                    continue;
                }
                let group = match key {
                    StatKey::PatronType => f.patron_type.clone(),
                    StatKey::Department => f.department.clone(),
                    StatKey::Reader => f.patron_id.clone(),
                    StatKey::Source => f.source.clone(),
                    StatKey::Journal => f.journal.clone(),
                    StatKey::Partner => f.partner.clone(),
                    StatKey::Library => f.library_id.clone(),
                    StatKey::Format => f.format.clone(),
                    StatKey::Month => format!("{:04}-{:02}", f.month / 100, f.month % 100),
                    StatKey::Year => format!("{:04}", f.month / 100),
                };
                agg.add_parts(&group, f.outcome, f.unfilled_reason.as_deref(), f.stages);
            }
        }
        self.finish_named(agg, key, top).await
    }

    /// How reports name readers: "display name (username)" by user id, for the ids that are
    /// readers' accounts (others keep their id).
    async fn reader_labels(&self, ids: &[String]) -> Result<HashMap<String, String>> {
        const PER_QUERY: usize = 500;
        let mut labels = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(PER_QUERY) {
            let sql = format!(
                "SELECT user_id, display_name || ' (' || username || ')' FROM app_user
                 WHERE user_id IN ({})",
                marks(1, chunk.len())
            );
            let rows: Vec<(String, Option<String>)> = on_pool!(self.pool(), p => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(id.as_str());
                }
                q.fetch_all(p).await?
            });
            labels.extend(rows.into_iter().filter_map(|(id, l)| l.map(|l| (id, l))));
        }
        Ok(labels)
    }

    /// Requests waiting for each lender's answer now (sent, not yet shipped), by lender.
    /// `states` are the waiting states, from the requester machine.
    pub async fn open_requests_by_lender(&self, states: &[&str]) -> Result<HashMap<String, u32>> {
        if states.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT lender_id, COUNT(*) FROM borrow_request
             WHERE lender_id IS NOT NULL AND state IN ({}) GROUP BY lender_id",
            marks(1, states.len())
        );
        let rows: Vec<(String, i64)> = on_pool!(self.pool(), p => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for s in states {
                q = q.bind(*s);
            }
            q.fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .map(|(l, n)| (l, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect())
    }
}

/// One generated event of a seeded request.
#[derive(Debug, Clone)]
pub struct SeedEvent {
    pub action: &'static str,
    pub actor: &'static str,
    pub from_state: Option<&'static str>,
    pub to_state: &'static str,
    pub at: OffsetDateTime,
    pub data: Option<serde_json::Value>,
}

/// A borrowing request with its history, written in bulk (benchmarks, demo traffic).
#[derive(Debug, Clone)]
pub struct SeedBorrow {
    pub request_id: String,
    pub library_id: String,
    pub patron_id: String,
    pub format: String,
    pub state: String,
    pub citation: domain::citation::Citation,
    pub rota: domain::rota::Rota,
    pub lender_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub events: Vec<SeedEvent>,
}

impl Store {
    /// Write generated borrowing requests and their events in one transaction, many rows to
    /// an INSERT. For benchmarks and demo traffic; the requests are as complete as the
    /// statistics and routing read them, not as the workflow would leave them.
    pub async fn seed_borrow_history(&self, rows: Vec<SeedBorrow>) -> Result<u64> {
        const REQ_PER_INSERT: usize = 400;
        const EV_PER_INSERT: usize = 1000;
        self.write(move |tx| {
            Box::pin(async move {
                const RCOLS: usize = 12;
                for chunk in rows.chunks(REQ_PER_INSERT) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| format!("({})", marks(i * RCOLS + 1, RCOLS)))
                        .collect();
                    let sql = format!(
                        "INSERT INTO borrow_request (request_id, library_id, patron_id, format, state,
                            title, citation, rota, lender_id, created_by, created_at, updated_at)
                         VALUES {}",
                        values.join(", ")
                    );
                    on_tx!(tx, c => {
                        let mut q = crate::sql::query(sqlx::AssertSqlSafe(sql));
                        for r in chunk {
                            q = q
                                .bind(r.request_id.as_str())
                                .bind(r.library_id.as_str())
                                .bind(r.patron_id.as_str())
                                .bind(r.format.as_str())
                                .bind(r.state.as_str())
                                .bind(r.citation.title.clone().unwrap_or_default())
                                .bind(sqlx::types::Json(&r.citation))
                                .bind(sqlx::types::Json(&r.rota))
                                .bind(r.lender_id.clone())
                                .bind(r.patron_id.as_str())
                                .bind(r.created_at)
                                .bind(r.updated_at);
                        }
                        q.execute(&mut *c).await?;
                    });
                }
                let events: Vec<(&SeedBorrow, &SeedEvent)> = rows
                    .iter()
                    .flat_map(|r| r.events.iter().map(move |e| (r, e)))
                    .collect();
                const ECOLS: usize = 8;
                for chunk in events.chunks(EV_PER_INSERT) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| format!("({}, 'borrow')", marks(i * ECOLS + 1, ECOLS)))
                        .collect();
                    let sql = format!(
                        "INSERT INTO request_event (library_id, request_id, at, actor, action,
                            from_state, to_state, data, side)
                         VALUES {}",
                        values.join(", ")
                    );
                    on_tx!(tx, c => {
                        let mut q = crate::sql::query(sqlx::AssertSqlSafe(sql));
                        for (r, e) in chunk {
                            q = q
                                .bind(r.library_id.as_str())
                                .bind(r.request_id.as_str())
                                .bind(e.at)
                                .bind(e.actor)
                                .bind(e.action)
                                .bind(e.from_state)
                                .bind(e.to_state)
                                .bind(e.data.as_ref().map(sqlx::types::Json));
                        }
                        q.execute(&mut *c).await?;
                    });
                }
                // History written with past times is behind any mark: the summaries read
                // every request again (a pass under way is started over).
                for table in ["stat_mark", "stat_pass"] {
                    crate::sql::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE name = $1"
                    )))
                    .bind(MARK)
                    .execute(&mut tx.conn)
                    .await?;
                }
                Ok::<_, StoreError>(rows.len() as u64)
            })
        })
        .await
    }
}

impl Store {
    /// How many borrowing events there are (the benchmark's description of its store).
    pub async fn count_borrow_events(&self) -> Result<i64> {
        let n: (i64,) = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT COUNT(*) FROM request_event WHERE side = 'borrow'")
                .fetch_one(p)
                .await?
        });
        Ok(n.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_key_is_grouped_by_its_first_characters_and_fits_an_index() {
        let title = "中国科学院文献情报中心学报".repeat(160);
        let key = key_or_dash(Some(format!("  {title}  ")));
        assert_eq!(key.chars().count(), KEY_CHARS);
        assert!(key.len() < 2_000, "{} bytes", key.len());
        assert!(title.starts_with(&key));
        assert_eq!(key_or_dash(Some("  Nature ".into())), "Nature");
        assert_eq!(key_or_dash(Some("   ".into())), "-");
        assert_eq!(key_or_dash(None), "-");
    }
}
