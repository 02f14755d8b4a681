//! librelay's persistence: one `Store` over embedded SQLite or PostgreSQL, chosen by URL.
//!
//! Reads go to a pool. Writes are closures run in one transaction: on PostgreSQL each in its
//! own, on SQLite through a single writer task that commits many closures together (group
//! commit), so that a state change, its event and its outgoing message are atomic and
//! thousands of them a second still cost few fsyncs.
#![forbid(unsafe_code)]

mod catalog;
mod copyright;
mod directory;
mod error;
mod fees;
mod files;
mod lender_copies;
mod letters;
mod licences;
mod mail;
mod message;
mod peer;
mod queue;
mod reader;
mod reader_fees;
mod request;
mod return_hold;
mod routing;
mod sql;
mod stat_block;
mod stats;
mod trusted;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgConnection, PgPool, SqlitePool};
use tokio::sync::Notify;

pub use catalog::{
    CatalogRecord, HoldingKey, HoldingRow, HoldingView, ImportRecord, Imported, NewCatalogRecord,
    NewHolding, Stored, UnionRecord,
};
pub use copyright::{CopyrightReportRow, CopyrightUse, Duplicate, MatchCandidate};
pub use directory::{LibraryRow, NewUser, PolicyRow, UserRow};
pub use error::StoreError;
pub use fees::{FeeLoad, FeeRow, MANUAL_SERVICE, NewFee, SettlementRow};
pub use files::{DeliveryLink, StoredFile};
pub use letters::{DigestItem, JobRun, LetterTemplateRow};
pub use licences::{Availability, LicencePackage, LicensedMatch};
pub use mail::{InboundMailRow, NewInboundMail};
pub use message::{EventRow, NewEvent, NewOutbox, OutboxRow};
pub use peer::PeerRow;
pub use queue::{
    AgeBucket, AlertStates, AssigneeFilter, DayBucket, FacetCount, KeptCount, LendAlert,
    LendQueueFilter, MAX_LABELS, PartnerNotes, SeedLend,
};
pub use reader_fees::{
    ChargeReviewRow, DepositBalance, DepositMovementRow, FeeStanding, NewDepositMovement,
    ReaderChargeRow,
};
pub use request::{
    BorrowFilter, BorrowRequest, LendFilter, LendRequest, NewBorrowRequest, NewLendRequest,
};
pub use return_hold::{
    HELD_BY_BORROWER, HELD_BY_LENDER, NewReturnHold, ReturnHold, held_by_each,
    held_since as return_held_since,
};
pub use sql::profile::report as sql_profile_report;
pub use stats::{FactProgress, FactStep, SeedBorrow, SeedEvent, StatKey, StatScope};
pub use writer::FLUSH_QUEUE_COUNTS;

pub use sqlx::types::Json;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which engine and how durable. `synchronous_full` makes SQLite fsync every commit (nothing
/// acknowledged is lost on power failure); group commit keeps that affordable.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub url: String,
    pub sqlite_synchronous_full: bool,
    pub max_connections: u32,
}

impl StoreConfig {
    /// The embedded store in `data_dir`.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        StoreConfig {
            url: format!("sqlite://{}", data_dir.join("librelay.db").display()),
            sqlite_synchronous_full: true,
            max_connections: 8,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
    }
}

/// The read side: a pool per engine. Query code matches on it through `on_pool!`.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The connection of a write transaction: on SQLite the writer thread's own connection, used
/// synchronously (see `sql`).
pub(crate) enum Conn<'c> {
    Lite(&'c mut rusqlite::Connection),
    Postgres(&'c mut PgConnection),
}

/// A write transaction in progress. Query code matches on its connection through `on_tx!`.
pub struct Tx<'c> {
    pub(crate) conn: Conn<'c>,
    pub(crate) directory: &'c directory::Cache,
    /// The partner messages (not letters) this transaction put in the outbox, in order, so
    /// that those for libraries on this node can be delivered before it commits.
    pub(crate) queued: Vec<QueuedMessage>,
}

/// A partner message put in the outbox by the transaction in progress.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub outbox_id: i64,
    pub request_id: String,
    pub recipient: String,
    pub payload: String,
}

impl<'c> Tx<'c> {
    pub(crate) fn new(conn: Conn<'c>, directory: &'c directory::Cache) -> Self {
        Tx {
            conn,
            directory,
            queued: Vec::new(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.conn, Conn::Postgres(_))
    }

    /// The partner messages queued so far and not yet taken.
    pub fn take_queued_messages(&mut self) -> Vec<QueuedMessage> {
        std::mem::take(&mut self.queued)
    }

    /// How many queued messages are waiting to be taken (to undo with `forget_queued_after`).
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    /// Forget messages queued after the first `len`: the savepoint they were written under was
    /// rolled back, so they no longer exist.
    pub fn forget_queued_after(&mut self, len: usize) {
        self.queued.truncate(len);
    }

    /// `SAVEPOINT name`: a nested part of this transaction that can be undone on its own.
    pub async fn savepoint(&mut self, name: Savepoint) -> Result<()> {
        self.control(format!("SAVEPOINT {}", name.as_str())).await
    }

    /// Keep what was written since `savepoint(name)`.
    pub async fn release(&mut self, name: Savepoint) -> Result<()> {
        self.control(format!("RELEASE SAVEPOINT {}", name.as_str()))
            .await
    }

    /// Undo what was written since `savepoint(name)`, and end it.
    pub async fn rollback_to(&mut self, name: Savepoint) -> Result<()> {
        let name = name.as_str();
        self.control(format!(
            "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
        ))
        .await
    }

    /// Run transaction-control statements built from a closed list of names (never data).
    async fn control(&mut self, sql: String) -> Result<()> {
        sql::batch(&mut self.conn, &sql).await
    }
}

/// The savepoints the code uses: a closed list, so no name is ever made from data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Savepoint {
    /// Delivering one message to a library on this node inside the sender's transaction.
    LocalDelivery,
}

impl Savepoint {
    fn as_str(self) -> &'static str {
        match self {
            Savepoint::LocalDelivery => "local_delivery",
        }
    }
}

/// Run the same query body against whichever pool is configured; each arm is type-checked
/// against its own driver.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::Pool::Sqlite($p) => $body,
            $crate::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Reads that must agree with each other (a page and its count) in one read transaction that
/// sees a single snapshot on either engine: `$tx` is the transaction, used as `&mut *$tx`.
macro_rules! in_snapshot {
    ($store:expr, $tx:ident => $body:expr) => {{
        let snapshot = $store.snapshot_statement();
        on_pool!($store.pool(), p => {
            let mut $tx = p.begin().await?;
            if let Some(sql) = snapshot {
                sqlx::query(sql).execute(&mut *$tx).await?;
            }
            let out = $body;
            $tx.commit().await?;
            out
        })
    }};
}
pub(crate) use in_snapshot;

/// The connection of a write transaction as `$c` (a `&mut Conn`), for statements written with
/// `sql::query` / `sql::query_as`, which run on either engine.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {{
        let $c = &mut $tx.conn;
        $body
    }};
}
pub(crate) use on_tx;

struct Inner {
    pool: Pool,
    /// SQLite only: plain connections for point reads (see `reader`).
    readers: Option<reader::Readers>,
    writer: Option<writer::Writer>,
    /// SQLite: whether every commit is flushed to the disk before it is acknowledged.
    sqlite_synchronous_full: bool,
    outbox_ready: Notify,
    /// Libraries and policies change rarely and are read by every step of every request.
    directory: Arc<directory::Cache>,
    /// Lenders' measured figures for routing, kept briefly.
    routing: routing::HistoryCache,
    /// Who this handle (one per process) is when it holds a job's lease (`job_lease`).
    holder: String,
    /// PostgreSQL: how many candidates a queue search reads by id at most (see
    /// `queue::CANDIDATES_MAX_PG`); lowered by tests to take the other way with few rows.
    search_by_id_max: std::sync::atomic::AtomicI64,
}

/// The store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine())
            .finish()
    }
}

/// The boxed future a write closure returns.
pub type TxFuture<'t, T, E> = BoxFuture<'t, std::result::Result<T, E>>;

impl Store {
    /// Open (creating the SQLite file if needed) and bring the schema up to date.
    #[tracing::instrument(skip_all, fields(postgres = config.is_postgres()), err)]
    pub async fn open(config: &StoreConfig) -> Result<Store> {
        if config.is_postgres() {
            let opts = PgConnectOptions::from_str(&config.url)
                .map_err(|e| StoreError::Config(format!("database URL: {e}")))?
                .log_statements(tracing::log::LevelFilter::Trace);
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections.max(2))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            let inner = Inner {
                pool: Pool::Postgres(pool),
                readers: None,
                writer: None,
                sqlite_synchronous_full: false,
                outbox_ready: Notify::new(),
                directory: Arc::default(),
                routing: Default::default(),
                holder: uuid::Uuid::now_v7().to_string(),
                search_by_id_max: queue::CANDIDATES_MAX_PG.into(),
            };
            return Ok(Store {
                inner: Arc::new(inner),
            });
        }
        let path = config
            .url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if config.sqlite_synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("cache_size", "-32000")
            .log_statements(tracing::log::LevelFilter::Trace);
        let mut conn = opts.connect().await?;
        sqlx::migrate!("./migrations/sqlite").run(&mut conn).await?;
        {
            use sqlx::Connection;
            conn.close().await?;
        }
        let (conn, durability) = writer::open_connection(path, config.sqlite_synchronous_full)?;
        writer::flush_pending_counts(&conn)?;
        let read = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(2))
            .connect_with(opts.read_only(true))
            .await?;
        let directory: Arc<directory::Cache> = Arc::default();
        let inner = Inner {
            pool: Pool::Sqlite(read),
            readers: Some(reader::Readers::new(path)),
            writer: Some(writer::Writer::start(
                path,
                conn,
                durability,
                directory.clone(),
            )?),
            sqlite_synchronous_full: config.sqlite_synchronous_full,
            outbox_ready: Notify::new(),
            directory,
            routing: Default::default(),
            holder: uuid::Uuid::now_v7().to_string(),
            search_by_id_max: queue::CANDIDATES_MAX_PG.into(),
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    pub fn engine(&self) -> &'static str {
        match self.inner.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// The first statement of a read transaction whose reads must all see one snapshot: on
    /// PostgreSQL, repeatable read (each statement sees its own snapshot by default); on
    /// SQLite nothing, since a read transaction there reads one snapshot already.
    pub(crate) fn snapshot_statement(&self) -> Option<&'static str> {
        match self.inner.pool {
            Pool::Sqlite(_) => None,
            Pool::Postgres(_) => Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        }
    }

    /// PostgreSQL: settings for the rest of a read transaction that groups a large selection
    /// (a broad search of the whole history). No JIT: compiling the grouping's expressions
    /// took 0.26 s of a 1.0 s query at a million requests, more than it saved. And 16 MB of
    /// work memory, so that the groups are hashed in memory instead of sorted on disk (with
    /// both, that query took 0.61-0.77 s instead of 1.3-1.6 s).
    pub(crate) fn grouping_settings(&self) -> Option<&'static str> {
        match self.inner.pool {
            Pool::Sqlite(_) => None,
            Pool::Postgres(_) => {
                Some("SELECT set_config('jit', 'off', true), set_config('work_mem', '16MB', true)")
            }
        }
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Whether this store is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner.pool, Pool::Postgres(_))
    }

    /// What the staff queues' kept counts are read from, as rows of `(library_id, side,
    /// state, facet, value, n)` whose `n` add up per key. Both engines keep the counts as
    /// requests change: SQLite's writer adds each commit's changes to `queue_count` at the
    /// commit; PostgreSQL's writes note them and a job folds them in (migration 0043), so
    /// there the counts are read with the notes not yet folded (a view).
    pub(crate) fn counts_source(&self) -> &'static str {
        queue::counts_source(self.is_postgres())
    }

    pub(crate) fn readers(&self) -> Option<&reader::Readers> {
        self.inner.readers.as_ref()
    }

    pub(crate) fn directory_cache(&self) -> &directory::Cache {
        &self.inner.directory
    }

    pub(crate) fn routing_cache(&self) -> &routing::HistoryCache {
        &self.inner.routing
    }

    /// Who this handle is when it holds a job's lease: one per opened store.
    pub(crate) fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// Run `f` in one write transaction and commit. An `Err` from `f` rolls back everything it
    /// wrote and comes back unchanged.
    pub async fn write<T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx<'_>) -> TxFuture<'t, T, E> + Send + 'static,
    {
        match (&self.inner.pool, &self.inner.writer) {
            (_, Some(w)) => w.run(f).await,
            (Pool::Postgres(pg), None) => {
                let mut tx = pg.begin().await.map_err(StoreError::from)?;
                let out = {
                    let mut t = Tx::new(Conn::Postgres(&mut tx), &self.inner.directory);
                    f(&mut t).await
                };
                match out {
                    Ok(v) => {
                        tx.commit().await.map_err(StoreError::from)?;
                        Ok(v)
                    }
                    Err(e) => {
                        // Dropping the transaction rolls it back; an explicit rollback only
                        // reports errors we could not act on anyway.
                        drop(tx);
                        Err(e)
                    }
                }
            }
            (Pool::Sqlite(_), None) => Err(E::from(StoreError::Closed)),
        }
    }

    /// Whether writes handed over one after another run in that order. True on SQLite, where
    /// one writer runs every write as it was queued; on PostgreSQL two writes in flight at once
    /// run on connections of their own and may interleave.
    pub fn writes_in_order(&self) -> bool {
        self.inner.writer.is_some()
    }

    /// The store answers (for /healthz).
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self.pool(), p => {
            sqlx::query("SELECT 1").execute(p).await?;
        });
        Ok(())
    }

    /// Wakes the outbox worker; call after a write that queued messages.
    pub fn notify_outbox(&self) {
        self.inner.outbox_ready.notify_one();
    }

    /// Wait until `notify_outbox` is called (or return at once if it was since the last wait).
    pub async fn outbox_notified(&self) {
        self.inner.outbox_ready.notified().await;
    }

    /// Raw commit rate baseline for benchmarks: `n` single-row transactions, one after another,
    /// with this store's durability. On SQLite they run on a plain connection of their own to
    /// the store's file (SQLite's own rate, not the writer's); on PostgreSQL on the store's
    /// write path. Returns commits per second.
    pub async fn bench_single_row_commits(&self, n: u32) -> Result<f64> {
        if let Some(readers) = self.readers() {
            let path = readers.path().to_owned();
            let full = self.inner.sqlite_synchronous_full;
            return tokio::task::spawn_blocking(move || raw_sqlite_commits(&path, full, n))
                .await
                .map_err(|e| StoreError::Config(format!("the commit baseline: {e}")))?;
        }
        self.write(|tx| {
            Box::pin(async move {
                on_tx!(tx, c => {
                    crate::sql::query("CREATE TABLE IF NOT EXISTS bench_commit (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
                        .execute(&mut *c).await?;
                });
                Ok::<_, StoreError>(())
            })
        })
        .await?;
        let start = std::time::Instant::now();
        for i in 0..n {
            let v = format!("row {i}");
            self.write(move |tx| {
                Box::pin(async move {
                    on_tx!(tx, c => {
                        crate::sql::query("INSERT INTO bench_commit (id, v) VALUES ($1, $2)")
                            .bind(i64::from(i) + 1_000_000_000)
                            .bind(v)
                            .execute(&mut *c).await?;
                    });
                    Ok::<_, StoreError>(())
                })
            })
            .await?;
        }
        let secs = start.elapsed().as_secs_f64();
        self.write(|tx| {
            Box::pin(async move {
                on_tx!(tx, c => {
                    crate::sql::query("DROP TABLE bench_commit").execute(&mut *c).await?;
                });
                Ok::<_, StoreError>(())
            })
        })
        .await?;
        Ok(f64::from(n) / secs.max(1e-9))
    }
}

/// SQLite's own rate of single-row commits (see `Store::bench_single_row_commits`).
fn raw_sqlite_commits(path: &std::path::Path, full: bool, n: u32) -> Result<f64> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(if full {
        "PRAGMA synchronous = FULL;"
    } else {
        "PRAGMA synchronous = NORMAL;"
    })?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS bench_commit (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
    )?;
    let start = std::time::Instant::now();
    {
        let mut insert = conn.prepare("INSERT INTO bench_commit (id, v) VALUES (?1, ?2)")?;
        for i in 0..n {
            insert.execute(rusqlite::params![
                i64::from(i) + 1_000_000_000,
                format!("row {i}")
            ])?;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    conn.execute_batch("DROP TABLE bench_commit")?;
    Ok(f64::from(n) / secs.max(1e-9))
}

impl Store {
    /// Every (table, column) of librelay's schema, for checking the two engines agree.
    pub async fn schema_columns(&self) -> Result<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = match self.pool() {
            Pool::Sqlite(p) => {
                // Plain tables only: SQLite's full-text index of lending titles (a virtual
                // table, its shadow tables and its key table, migration 0029) is that engine's
                // own way to search; PostgreSQL's is an index.
                sqlx::query_as(
                    "SELECT m.name, p.name FROM pragma_table_list m JOIN pragma_table_info(m.name) p
                     WHERE m.schema = 'main' AND m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'
                       AND m.name <> 'lend_title_doc'
                     ORDER BY 1, 2",
                )
                .fetch_all(p)
                .await?
            }
            Pool::Postgres(p) => {
                // Base tables only: the view of the kept counts with their notes (migration
                // 0043) is how PostgreSQL reads them; SQLite reads the counts themselves.
                sqlx::query_as(
                    "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c
                       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
                       AND c.table_name NOT LIKE '\\_sqlx%'
                     ORDER BY 1, 2",
                )
                .fetch_all(p)
                .await?
            }
        };
        Ok(rows)
    }
}

/// Create an empty PostgreSQL database `name` on the server of `url` and return its URL (for
/// tests and benchmarks that need a fresh store).
pub async fn create_postgres_database(url: &str, name: &str) -> Result<String> {
    use sqlx::Connection;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Config(format!(
            "database name {name:?} must be letters, digits and _"
        )));
    }
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::Executor::execute(
        &mut conn,
        sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
    )
    .await?;
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let base = match url[scheme_end..].find('/') {
        Some(i) => &url[..scheme_end + i],
        None => url,
    };
    let query = url.find('?').map(|i| &url[i..]).unwrap_or("");
    Ok(format!("{base}/{name}{query}"))
}
