//! The SQLite writer: one connection, one thread, group commit. Callers send closures; the
//! thread runs whatever has queued up inside one `BEGIN IMMEDIATE … COMMIT`, each closure under
//! its own savepoint so one failing closure rolls back only its own writes. Results are handed
//! back only after the commit, so nobody sees success for something that was not made durable.
//!
//! The connection is a plain SQLite connection used synchronously on the writer thread (see
//! `sql`): a statement costs what SQLite needs for it, with no hand-off to another thread.
//!
//! Before each commit the writer adds up the queue counts' deltas the batch's writes left
//! (migration 0025), so counters shared by many steps are written once a commit.

use std::path::Path;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::directory::Cache;
use crate::{Conn, StoreError, Tx, TxFuture};

/// How many closures one commit may carry. Bounded so a flood cannot make one transaction
/// (and its latency) grow without limit.
const MAX_BATCH: usize = 512;

/// A finished closure: whether it succeeded, and how to report to its caller once the batch's
/// fate is known.
struct Ran {
    ok: bool,
    report: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

type Job =
    Box<dyn for<'c> FnOnce(&'c mut rusqlite::Connection, &'c Cache) -> BoxFuture<'c, Ran> + Send>;

/// How the writer's commits reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// `synchronous = NORMAL`: a commit is on the disk at the next checkpoint. A crash of
    /// librelay loses nothing; a crash of the machine may lose the last commits.
    Deferred,
    /// Every commit is on the disk before anyone is told it succeeded: the writer commits
    /// without waiting for the disk, and the syncer thread (`Syncer`) flushes the log (one
    /// fsync for every commit made meanwhile) and only then answers the batches' callers. The
    /// writer runs the next batch during that flush instead of waiting for it.
    Synced,
    /// The same guarantee from SQLite itself (`synchronous = FULL`, the flush inside the
    /// commit), when the database could not be put in WAL mode (whose log `Synced` flushes).
    InCommit,
}

/// The writer's connection to the database file (created and migrated already), with the
/// store's durability and the statement cache sized for all of the store's statements.
pub(crate) fn open_connection(
    path: &str,
    synchronous_full: bool,
) -> Result<(rusqlite::Connection, Durability), StoreError> {
    let conn = rusqlite::Connection::open(Path::new(path))?;
    conn.busy_timeout(BUSY_WAIT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    let durability = match (synchronous_full, mode.eq_ignore_ascii_case("wal")) {
        (false, _) => Durability::Deferred,
        (true, true) => Durability::Synced,
        (true, false) => Durability::InCommit,
    };
    conn.execute_batch(if durability == Durability::InCommit {
        "PRAGMA synchronous = FULL;"
    } else {
        "PRAGMA synchronous = NORMAL;"
    })?;
    // Every closure of a batch runs under a savepoint, and SQLite keeps the pages a savepoint
    // changes in a statement journal: in memory, not in a temporary file written page by page.
    // A 64 MB page cache. It was 256 MB, for an import batch (20,000 records) that changes
    // pages all over the catalog's key and title indexes, but the kernel's zeroing of the fresh
    // memory the writer took during an import of the 250,000 LoC records was 5 % of the whole
    // import's CPU samples (`perf`), and the smaller cache did not slow it. Alternated runs
    // of `librelay import marc` over that file: 10.07, 10.20, 10.80 s at 64 MB against 10.63,
    // 10.65, 10.66 s at 256 MB, peak memory about 210 MB lower; importing it again 14.7 and
    // 15.0 s against 14.6 and 15.7 s; `librelay bench lifecycle --n 3000` 625-645 against
    // 600-669 lifecycles/s.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
    )?;
    // Checkpoints (copying the WAL back into the database file, with its fsync) run on a
    // thread of their own (`Checkpointer`), not inside the writer's commits.
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
    conn.set_prepared_statement_cache_capacity(512);
    Ok((conn, durability))
}

/// What tells a batch's callers how their closures ended.
type Reports = Vec<Box<dyn FnOnce(Option<StoreError>) + Send>>;

/// Flushes the WAL to the disk on its own thread (`Durability::Synced`), then answers the
/// callers of the batches committed before the flush. Batches that queue up while one flush
/// runs share the next. SQLite writes a commit to the WAL before its COMMIT returns, so an
/// fsync of the WAL file after that makes the commit as durable as `synchronous = FULL` does
/// (and a checkpoint never recycles the WAL before the database file holds what it copied).
/// The thread ends when the writer, which holds the sending end, is dropped.
struct Syncer {
    batches: std::sync::mpsc::Sender<Reports>,
}

impl Syncer {
    fn start(path: &str) -> Result<Self, StoreError> {
        let wal_path = format!("{path}-wal");
        let (batches, waiting) = std::sync::mpsc::channel::<Reports>();
        std::thread::Builder::new()
            .name("sqlite-sync".to_owned())
            .spawn(move || {
                let mut wal: Option<std::fs::File> = None;
                while let Ok(first) = waiting.recv() {
                    let mut ready = vec![first];
                    ready.extend(waiting.try_iter());
                    let timer = crate::sql::profile::start();
                    let flushed = flush(&mut wal, &wal_path);
                    crate::sql::profile::stop(timer, "[syncer] fsync of the WAL");
                    let error = flushed.err().map(|e| {
                        tracing::error!(error = %e, "could not flush the SQLite log to the disk");
                        // Opened afresh next time, in case the file was replaced.
                        wal = None;
                        StoreError::NotDurable(format!("fsync of {wal_path}: {e}"))
                    });
                    for reports in ready {
                        for report in reports {
                            report(error.clone());
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Config(format!("the SQLite sync thread: {e}")))?;
        Ok(Syncer { batches })
    }

    /// Answer `reports` once everything committed so far is on the disk.
    fn after_flush(&self, reports: Reports) {
        if let Err(std::sync::mpsc::SendError(reports)) = self.batches.send(reports) {
            for report in reports {
                report(Some(StoreError::NotDurable(
                    "the sync thread has stopped".to_owned(),
                )));
            }
        }
    }
}

fn flush(wal: &mut Option<std::fs::File>, path: &str) -> std::io::Result<()> {
    let file = match wal {
        Some(f) => f,
        None => wal.insert(std::fs::OpenOptions::new().write(true).open(path)?),
    };
    file.sync_data()
}

/// How often the checkpointer copies what the WAL gathered. A round with nothing new to copy
/// writes nothing.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL pages (4 KiB each: 64 MiB) beyond which the log is started again. The writer starts
/// the WAL from its beginning only when a checkpoint has copied all of it and no reader
/// still reads it; under writes and reads that never pause (a busy hub, a million requests
/// seeded) that moment never comes, and the file grew without end (45 GB in one run). When
/// the checkpointer sees the log this long, the writer itself, between two batches (so no
/// commit is in the way), runs a RESTART checkpoint: it waits a moment for the readers,
/// copies the little the checkpointer has not, and has the next commit write the log from its
/// beginning again. The file keeps its length and is written over: emptying it as well
/// (TRUNCATE) cost the writer 144–159 ms per reset, with 350–430 MB logs, against 5–8 ms
/// (two nodes exchanging 1,000 messages/s, synchronous=full).
const WAL_RESET_PAGES: i64 = 16_384;

/// At most one such reset this often, since while it waits the writer waits too. Often enough
/// that the log, written at up to about 16,000 pages a second, stays near `WAL_RESET_PAGES`.
const WAL_RESET_EVERY: Duration = Duration::from_secs(1);

/// How long a reset waits for the readers before it gives up until the next time.
const WAL_RESET_WAIT: Duration = Duration::from_millis(200);

/// The writer's wait for a lock held by another connection (a reset, a checkpoint).
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Copies the WAL back into the database file on its own thread and connection, so that the
/// writer's commits only append to the WAL. A PASSIVE checkpoint never waits for the writer or
/// for readers; what it cannot copy yet it copies on a later round. The thread ends when the
/// writer (which holds `_stop`) is dropped.
struct Checkpointer {
    _stop: std::sync::mpsc::Sender<()>,
    /// The log's length in pages when it passed `WAL_RESET_PAGES`, for the writer to reset
    /// between two batches (0: nothing to do).
    wal_long: Arc<AtomicI64>,
}

impl Checkpointer {
    fn start(path: &str) -> Result<Self, StoreError> {
        let conn = rusqlite::Connection::open(Path::new(path))?;
        conn.busy_timeout(Duration::from_secs(1))?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let wal_long = Arc::new(AtomicI64::new(0));
        let flag = wal_long.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || {
                let mut failing = false;
                let mut last_reset: Option<std::time::Instant> = None;
                // Until the writer is dropped (its end of the channel closes).
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // (busy, pages in the WAL, pages copied); -1s when not in WAL mode.
                    let ran = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                    });
                    match ran {
                        Ok((log, done)) => {
                            failing = false;
                            metrics::gauge!("librelay_sqlite_wal_pages").set((log - done) as f64);
                            if log > WAL_RESET_PAGES
                                && last_reset.is_none_or(|t| t.elapsed() >= WAL_RESET_EVERY)
                            {
                                last_reset = Some(std::time::Instant::now());
                                wal_long.store(log, Ordering::Relaxed);
                            }
                        }
                        Err(e) if !failing => {
                            failing = true;
                            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                        }
                        Err(_) => {}
                    }
                }
            })
            .map_err(|e| StoreError::Config(format!("the SQLite checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            _stop: stop,
            wal_long: flag,
        })
    }
}

/// Run on the writer's connection between two batches when the checkpointer found the log
/// longer than `WAL_RESET_PAGES` (`pages`; 0 when it did not): copy what is left of it into
/// the database and have the next commit write it from its beginning. Readers that hold on
/// past `WAL_RESET_WAIT` leave it for a later time.
fn reset_wal(conn: &rusqlite::Connection, pages: i64) {
    if pages == 0 {
        return;
    }
    let started = std::time::Instant::now();
    let ran = conn.busy_timeout(WAL_RESET_WAIT).and_then(|()| {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0))
    });
    if let Err(e) = conn.busy_timeout(BUSY_WAIT) {
        tracing::warn!(error = %e, "could not set the SQLite writer's busy timeout back");
    }
    match ran {
        Ok(0) => tracing::info!(
            pages,
            ms = started.elapsed().as_millis() as u64,
            "the SQLite log was long: copied, and written from its beginning again"
        ),
        Ok(_) => tracing::debug!(
            pages,
            "the SQLite log is long; readers kept it, trying later"
        ),
        Err(e) => tracing::warn!(error = %e, pages, "could not empty the SQLite log"),
    }
}

pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    _checkpointer: Checkpointer,
}

/// What the writer's thread holds besides its connection.
struct Ctx {
    directory: Arc<Cache>,
    syncer: Option<Syncer>,
    /// Set by the checkpointer when the log is long (`reset_wal`).
    wal_long: Arc<AtomicI64>,
}

impl Writer {
    /// Starts the writer on a thread of its own, so a batch never waits in line behind request
    /// handlers on the shared runtime.
    pub(crate) fn start(
        path: &str,
        conn: rusqlite::Connection,
        durability: Durability,
        directory: Arc<Cache>,
    ) -> Result<Self, StoreError> {
        let checkpointer = Checkpointer::start(path)?;
        let ctx = Ctx {
            wal_long: checkpointer.wal_long.clone(),
            directory,
            syncer: match durability {
                Durability::Synced => Some(Syncer::start(path)?),
                Durability::Deferred | Durability::InCommit => None,
            },
        };
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Config(format!("the SQLite writer's runtime: {e}")))?;
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || runtime.block_on(run(conn, ctx, rx)))
            .map_err(|e| StoreError::Config(format!("the SQLite writer's thread: {e}")))?;
        Ok(Writer {
            jobs: tx,
            _checkpointer: checkpointer,
        })
    }

    pub(crate) async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx<'_>) -> TxFuture<'t, T, E> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |conn: &mut rusqlite::Connection, directory: &Cache| {
            Box::pin(async move {
                let out = {
                    let mut t = Tx::new(Conn::Lite(conn), directory);
                    f(&mut t).await
                };
                let ok = out.is_ok();
                let report = Box::new(move |commit_error: Option<StoreError>| {
                    let result = match (out, commit_error) {
                        (Ok(_), Some(e)) => Err(E::from(e)),
                        (out, _) => out,
                    };
                    // The caller may have gone away (request cancelled); the write stands.
                    let _ = done_tx.send(result);
                });
                Ran { ok, report }
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| E::from(StoreError::Closed))?;
        done_rx.await.map_err(|_| E::from(StoreError::Closed))?
    }
}

async fn run(mut conn: rusqlite::Connection, ctx: Ctx, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, &ctx, &mut batch).await;
        metrics::histogram!("librelay_sqlite_commit_batch").record(batch.len() as f64);
        batch.clear();
        reset_wal(&conn, ctx.wal_long.swap(0, Ordering::Relaxed));
    }
}

async fn run_batch(conn: &mut rusqlite::Connection, ctx: &Ctx, batch: &mut Vec<Job>) {
    let directory: &Cache = &ctx.directory;
    // Each closure runs under its own savepoint.
    let single = batch.len() == 1;
    let mut reports: Reports = Vec::with_capacity(batch.len());
    let mut last_ok = true;
    for (i, job) in batch.drain(..).enumerate() {
        let before: &[&str] = match (i, single, last_ok) {
            (0, true, _) => &["BEGIN IMMEDIATE"],
            (0, false, _) => &["BEGIN IMMEDIATE", "SAVEPOINT job"],
            (_, _, true) => &["RELEASE job", "SAVEPOINT job"],
            (_, _, false) => &["ROLLBACK TO job", "RELEASE job", "SAVEPOINT job"],
        };
        let timer = crate::sql::profile::start();
        let begun = run_cached(conn, before);
        crate::sql::profile::stop(timer, "[writer] begin / savepoint between closures");
        if let Err(e) = begun {
            tracing::error!(error = %e, "could not begin a write");
            // Nothing of this batch is committed: tell those that ran, drop the rest (their
            // callers get `Closed`).
            let _ = conn.execute_batch("ROLLBACK");
            let err = StoreError::from(e);
            for report in reports {
                report(Some(err.clone()));
            }
            return;
        }
        let timer = crate::sql::profile::start();
        let ran = job(conn, directory).await;
        crate::sql::profile::stop(timer, "[writer] closures, statements included");
        last_ok = ran.ok;
        reports.push(ran.report);
    }
    // What closes the last closure, then (unless the batch was a single closure that failed)
    // the queue counts' deltas and the commit.
    let (close, commit): (&[&str], bool) = match (single, last_ok) {
        (true, true) => (&[], true),
        (true, false) => (&["ROLLBACK"], false),
        (false, true) => (&["RELEASE job"], true),
        (false, false) => (&["ROLLBACK TO job", "RELEASE job"], true),
    };
    let timer = crate::sql::profile::start();
    let committed = run_cached(conn, close).and_then(|()| {
        if commit {
            flush_counts(conn)?;
            run_cached(conn, &["COMMIT"])
        } else {
            Ok(())
        }
    });
    crate::sql::profile::stop(timer, "[writer] commit");
    let commit_error = match committed {
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "commit failed");
            let _ = conn.execute_batch("ROLLBACK");
            Some(StoreError::from(e))
        }
    };
    match (&ctx.syncer, commit, commit_error) {
        // Committed: answered once the commit is on the disk.
        (Some(syncer), true, None) => syncer.after_flush(reports),
        (_, _, commit_error) => {
            for report in reports {
                report(commit_error.clone());
            }
        }
    }
}

/// The queue counts' triggers append what each write changed to `queue_count_delta`
/// (migration 0025; the borrowing requests' facets) and to `lend_count_change` (migration 0042;
/// a lending request's old and new counted values, one row each). Once per commit, in the
/// committing transaction, both are added to `queue_count` grouped by key, so that steps
/// sharing a key (same library, state, partner, day…) write its counter once, not once each.
const FLUSH_COUNTS: &str = "INSERT INTO queue_count (library_id, side, state, facet, value, n)
    SELECT library_id, side, state, facet, value, SUM(n) FROM queue_count_delta WHERE true
    GROUP BY library_id, side, state, facet, value HAVING SUM(n) <> 0
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = n + excluded.n";
const EMPTY_DELTAS: &str = "DELETE FROM queue_count_delta";

/// `lend_count_change` as the eleven facets' deltas. The created and modified days are the
/// library's own (its offset read here, as the triggers of 0038 read it on each write); a time
/// SQLite's date() cannot move keeps its UTC date. An update that left a value as it was adds
/// -1 and +1 to the same counter, which the grouping cancels.
const FLUSH_LEND_CHANGES: &str = "INSERT INTO queue_count (library_id, side, state, facet, value, n)
    SELECT library_id, 'lend', state, facet, value, SUM(n) FROM (
        SELECT library_id, state, 'partner' AS facet, partner AS value, n FROM lend_count_change
        UNION ALL SELECT library_id, state, 'format', format, n FROM lend_count_change
        UNION ALL SELECT library_id, state, 'assignee', assignee, n FROM lend_count_change
        UNION ALL SELECT c.library_id, c.state, 'created',
            COALESCE(date(c.created_at, l.utc_offset_minutes || ' minutes'), substr(c.created_at, 1, 10)), c.n
            FROM lend_count_change c LEFT JOIN library l ON l.library_id = c.library_id
        UNION ALL SELECT c.library_id, c.state, 'modified',
            COALESCE(date(c.updated_at, l.utc_offset_minutes || ' minutes'), substr(c.updated_at, 1, 10)), c.n
            FROM lend_count_change c LEFT JOIN library l ON l.library_id = c.library_id
        UNION ALL SELECT library_id, state, 'due', due, n FROM lend_count_change
        UNION ALL SELECT library_id, state, 'needed_by', needed_by, n FROM lend_count_change
        UNION ALL SELECT library_id, state, 'renew_pending', renew_pending, n FROM lend_count_change
        UNION ALL SELECT library_id, state, 'service_level', service_level, n FROM lend_count_change
        UNION ALL SELECT library_id, state, 'supplied_format', supplied_format, n FROM lend_count_change
        UNION ALL SELECT library_id, state, 'printed', printed, n FROM lend_count_change
    ) WHERE true
    GROUP BY library_id, state, facet, value HAVING SUM(n) <> 0
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = n + excluded.n";
const EMPTY_LEND_CHANGES: &str = "DELETE FROM lend_count_change";

/// Everything that adds the noted changes to the counts, in order: for a connection other than
/// the writer's (tests, and `Store::open` for what another connection left).
pub const FLUSH_QUEUE_COUNTS: [&str; 4] = [
    FLUSH_COUNTS,
    EMPTY_DELTAS,
    FLUSH_LEND_CHANGES,
    EMPTY_LEND_CHANGES,
];

/// Add the batch's queue count deltas to the counts (see `FLUSH_COUNTS` and
/// `FLUSH_LEND_CHANGES`); a batch that changed no request writes nothing.
fn flush_counts(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let (deltas, lend_changes): (bool, bool) = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM queue_count_delta), EXISTS (SELECT 1 FROM lend_count_change)",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if deltas {
        run_cached(conn, &[FLUSH_COUNTS, EMPTY_DELTAS])?;
    }
    if lend_changes {
        run_cached(conn, &[FLUSH_LEND_CHANGES, EMPTY_LEND_CHANGES])?;
    }
    Ok(())
}

/// Add what writes of other connections noted before the writer started (a migration that
/// changed requests, a tool), so that the counts agree with the requests once the store opens.
pub(crate) fn flush_pending_counts(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    flush_counts(&tx)?;
    tx.commit()
}

/// Run transaction-control statements through the statement cache: they run a dozen times a
/// commit, and parsing them each time (as `execute_batch` does) showed in profiles.
fn run_cached(conn: &rusqlite::Connection, statements: &[&str]) -> rusqlite::Result<()> {
    for sql in statements {
        conn.prepare_cached(sql)?.raw_execute()?;
    }
    Ok(())
}
