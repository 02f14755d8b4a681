//! The lending desk's queue: one filter (states, partner, format, date buckets, assignee, alert,
//! text) translated to SQL in one place, the page of rows it selects, and the facet counts of
//! that selection as grouped SQL (one `UNION ALL` of `GROUP BY`s), never rows read into Rust.
//!
//! The store compares no state names: which states are "open", "to locate" or "overdue" is the
//! supplier machine's business, and the caller passes them in.

use sqlx::types::Json;
use time::{Date, Duration, OffsetDateTime, Time};

use crate::request::{LEND_COLUMNS, LendRequest};
use crate::{Result, Store, StoreError, in_snapshot, on_pool, on_tx};
use domain::citation::Citation;

/// When a request was created or last changed, in buckets that do not overlap (days in UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeBucket {
    Today,
    /// 2 to 7 days ago.
    Week,
    /// 8 to 30 days ago.
    Month,
    Older,
}

impl AgeBucket {
    pub const ALL: [AgeBucket; 4] = [
        AgeBucket::Today,
        AgeBucket::Week,
        AgeBucket::Month,
        AgeBucket::Older,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgeBucket::Today => "today",
            AgeBucket::Week => "week",
            AgeBucket::Month => "month",
            AgeBucket::Older => "older",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// Where a date (due back, needed by) falls from today: buckets that do not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayBucket {
    /// Before today.
    Past,
    Today,
    /// Within the next 7 days.
    Week,
    Later,
    /// No date.
    None,
}

impl DayBucket {
    pub const ALL: [DayBucket; 5] = [
        DayBucket::Past,
        DayBucket::Today,
        DayBucket::Week,
        DayBucket::Later,
        DayBucket::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DayBucket::Past => "past",
            DayBucket::Today => "today",
            DayBucket::Week => "week",
            DayBucket::Later => "later",
            DayBucket::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    Unassigned,
    User(String),
}

/// Requests that need attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LendAlert {
    /// Marked overdue, or out on loan past its due date.
    Overdue,
    /// Conditions offered, the borrower has not answered.
    Conditional,
    /// A message to the partner was parked after failing.
    MessageError,
    /// The borrower asked to renew.
    RenewPending,
}

impl LendAlert {
    pub const ALL: [LendAlert; 4] = [
        LendAlert::Overdue,
        LendAlert::Conditional,
        LendAlert::MessageError,
        LendAlert::RenewPending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LendAlert::Overdue => "overdue",
            LendAlert::Conditional => "conditional",
            LendAlert::MessageError => "message_error",
            LendAlert::RenewPending => "renew_pending",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The states that make up each alert, from the supplier machine.
#[derive(Debug, Clone, Default)]
pub struct AlertStates {
    /// Marked overdue.
    pub overdue: Vec<String>,
    /// Out on loan: overdue once the due date has passed.
    pub on_loan: Vec<String>,
    /// Conditions offered, awaiting the borrower's answer.
    pub conditional: Vec<String>,
}

/// What the lending queue shows. `None` fields do not filter.
#[derive(Debug, Clone)]
pub struct LendQueueFilter {
    pub library_id: String,
    /// `None`: every state; `Some(empty)`: nothing matches.
    pub states: Option<Vec<String>>,
    /// The requesting library's agency id, TYPE:VALUE.
    pub partner: Option<String>,
    pub format: Option<String>,
    pub created: Option<AgeBucket>,
    pub modified: Option<AgeBucket>,
    pub due: Option<DayBucket>,
    pub needed_by: Option<DayBucket>,
    pub assignee: Option<AssigneeFilter>,
    pub alert: Option<LendAlert>,
    /// Words of the title, a request id (ours or the borrower's), a barcode, or the requesting
    /// library (code, agency id or name).
    pub text: Option<String>,
    pub alert_states: AlertStates,
    /// The moment the buckets are counted from.
    pub now: OffsetDateTime,
    pub limit: i64,
    pub offset: i64,
}

impl LendQueueFilter {
    /// Every request of `library_id`, buckets counted from `now`.
    pub fn new(library_id: &str, now: OffsetDateTime, alert_states: AlertStates) -> Self {
        LendQueueFilter {
            library_id: library_id.to_owned(),
            states: None,
            partner: None,
            format: None,
            created: None,
            modified: None,
            due: None,
            needed_by: None,
            assignee: None,
            alert: None,
            text: None,
            alert_states,
            now,
            limit: 50,
            offset: 0,
        }
    }
}

/// One facet value and how many requests of the selection have it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FacetCount {
    /// `state`, `partner`, `format`, `assignee`, `created`, `modified`, `due`, `needed_by` or
    /// `alert`.
    pub facet: String,
    /// The value; `None` for "no assignee".
    pub value: Option<String>,
    pub count: i64,
}

/// A bound value of a query built here.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Time(OffsetDateTime),
    Date(Date),
    Bool(bool),
    Int(i64),
}

/// SQL text with numbered placeholders (the same for both engines) and their values.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    /// A placeholder for `a`.
    fn p(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    fn list(&mut self, values: &[String]) -> String {
        values
            .iter()
            .map(|v| self.p(Arg::Text(v.clone())))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
}

/// Bind a query's values; a macro so that each engine's arm is type-checked on its own.
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Time(t) => q.bind(*t),
                Arg::Date(d) => q.bind(*d),
                Arg::Bool(b) => q.bind(*b),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

fn midnight(now: OffsetDateTime) -> OffsetDateTime {
    now.to_offset(time::UtcOffset::UTC)
        .replace_time(Time::MIDNIGHT)
}

/// The bounds of the age buckets: start of today, of 6 days before, of 29 days before.
fn age_bounds(now: OffsetDateTime) -> [OffsetDateTime; 3] {
    let t0 = midnight(now);
    [t0, t0 - Duration::days(6), t0 - Duration::days(29)]
}

fn day_bounds(now: OffsetDateTime) -> (Date, Date) {
    let today = now.to_offset(time::UtcOffset::UTC).date();
    (today, today.saturating_add(Duration::days(7)))
}

/// `column`'s age bucket as an SQL expression.
fn age_case(sql: &mut Sql, column: &str, now: OffsetDateTime) -> String {
    let [t0, t7, t30] = age_bounds(now);
    let (a, b, c) = (
        sql.p(Arg::Time(t0)),
        sql.p(Arg::Time(t7)),
        sql.p(Arg::Time(t30)),
    );
    format!(
        "CASE WHEN {column} >= {a} THEN 'today' WHEN {column} >= {b} THEN 'week' WHEN {column} >= {c} THEN 'month' ELSE 'older' END"
    )
}

/// `column`'s day bucket as an SQL expression.
fn day_case(sql: &mut Sql, column: &str, now: OffsetDateTime) -> String {
    let (today, week) = day_bounds(now);
    let (a, b, c) = (
        sql.p(Arg::Date(today)),
        sql.p(Arg::Date(today)),
        sql.p(Arg::Date(week)),
    );
    format!(
        "CASE WHEN {column} IS NULL THEN 'none' WHEN {column} < {a} THEN 'past' WHEN {column} = {b} THEN 'today' WHEN {column} <= {c} THEN 'week' ELSE 'later' END"
    )
}

fn age_where(sql: &mut Sql, column: &str, bucket: AgeBucket, now: OffsetDateTime) -> String {
    let [t0, t7, t30] = age_bounds(now);
    match bucket {
        AgeBucket::Today => format!(" AND {column} >= {}", sql.p(Arg::Time(t0))),
        AgeBucket::Week => format!(
            " AND {column} >= {} AND {column} < {}",
            sql.p(Arg::Time(t7)),
            sql.p(Arg::Time(t0))
        ),
        AgeBucket::Month => format!(
            " AND {column} >= {} AND {column} < {}",
            sql.p(Arg::Time(t30)),
            sql.p(Arg::Time(t7))
        ),
        AgeBucket::Older => format!(" AND {column} < {}", sql.p(Arg::Time(t30))),
    }
}

fn day_where(sql: &mut Sql, column: &str, bucket: DayBucket, now: OffsetDateTime) -> String {
    let (today, week) = day_bounds(now);
    match bucket {
        DayBucket::Past => format!(" AND {column} < {}", sql.p(Arg::Date(today))),
        DayBucket::Today => format!(" AND {column} = {}", sql.p(Arg::Date(today))),
        DayBucket::Week => format!(
            " AND {column} > {} AND {column} <= {}",
            sql.p(Arg::Date(today)),
            sql.p(Arg::Date(week))
        ),
        DayBucket::Later => format!(" AND {column} > {}", sql.p(Arg::Date(week))),
        DayBucket::None => format!(" AND {column} IS NULL"),
    }
}

/// The condition of one alert, as ` AND (…)`.
fn alert_where(sql: &mut Sql, f: &LendQueueFilter, alert: LendAlert) -> String {
    let s = &f.alert_states;
    let none = || " AND 1 = 0".to_owned();
    match alert {
        LendAlert::Overdue => {
            let mut parts = Vec::new();
            if !s.overdue.is_empty() {
                parts.push(format!("state IN ({})", sql.list(&s.overdue)));
            }
            if !s.on_loan.is_empty() {
                let states = sql.list(&s.on_loan);
                let (today, _) = day_bounds(f.now);
                parts.push(format!(
                    "(state IN ({states}) AND due_date < {})",
                    sql.p(Arg::Date(today))
                ));
            }
            if parts.is_empty() {
                none()
            } else {
                format!(" AND ({})", parts.join(" OR "))
            }
        }
        LendAlert::Conditional if s.conditional.is_empty() => none(),
        LendAlert::Conditional => format!(" AND state IN ({})", sql.list(&s.conditional)),
        LendAlert::RenewPending => format!(" AND renew_pending = {}", sql.p(Arg::Bool(true))),
        LendAlert::MessageError => {
            let lib = sql.p(Arg::Text(f.library_id.clone()));
            format!(
                " AND request_id IN (SELECT request_id FROM outbox WHERE library_id = {lib} AND status = 'dead' AND side = 'lend')"
            )
        }
    }
}

/// ` WHERE …` for the filter.
fn where_clause(sql: &mut Sql, f: &LendQueueFilter) -> String {
    let mut w = format!(
        " WHERE library_id = {}",
        sql.p(Arg::Text(f.library_id.clone()))
    );
    match &f.states {
        None => {}
        Some(states) if states.is_empty() => w.push_str(" AND 1 = 0"),
        Some(states) => w.push_str(&format!(" AND state IN ({})", sql.list(states))),
    }
    if let Some(p) = &f.partner {
        w.push_str(&format!(
            " AND borrower_agency = {}",
            sql.p(Arg::Text(p.clone()))
        ));
    }
    if let Some(fmt) = &f.format {
        w.push_str(&format!(" AND format = {}", sql.p(Arg::Text(fmt.clone()))));
    }
    if let Some(b) = f.created {
        w.push_str(&age_where(sql, "created_at", b, f.now));
    }
    if let Some(b) = f.modified {
        w.push_str(&age_where(sql, "updated_at", b, f.now));
    }
    if let Some(b) = f.due {
        w.push_str(&day_where(sql, "due_date", b, f.now));
    }
    if let Some(b) = f.needed_by {
        w.push_str(&day_where(sql, "needed_by", b, f.now));
    }
    match &f.assignee {
        None => {}
        Some(AssigneeFilter::Unassigned) => w.push_str(" AND assignee_id IS NULL"),
        Some(AssigneeFilter::User(u)) => {
            w.push_str(&format!(
                " AND assignee_id = {}",
                sql.p(Arg::Text(u.clone()))
            ));
        }
    }
    if let Some(a) = f.alert {
        w.push_str(&alert_where(sql, f, a));
    }
    if let Some(t) = f.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        // lower() on both sides: SQLite's LIKE folds only ASCII, PostgreSQL's not at all.
        let exact = t.to_lowercase();
        let like = format!("%{}%", exact.replace(['%', '_', '\\'], ""));
        let l = sql.p(Arg::Text(like));
        let e = sql.p(Arg::Text(exact));
        w.push_str(&format!(
            " AND (lower(title) LIKE {l} OR lower(request_id) LIKE {l} OR lower(borrower_request_id) LIKE {l}
               OR lower(barcode) = {e} OR lower(borrower_agency) = {e} OR lower(borrower_id) = {e}
               OR borrower_id IN (SELECT library_id FROM library WHERE lower(name_en) LIKE {l} OR lower(name_zh) LIKE {l}))"
        ));
    }
    w
}

/// One lending request row as the benchmark seeds it.
#[derive(Debug, Clone)]
pub struct SeedLend {
    pub request_id: String,
    pub borrower_agency: String,
    pub borrower_id: Option<String>,
    pub format: String,
    pub state: String,
    pub citation: Citation,
    pub barcode: Option<String>,
    pub due_date: Option<Date>,
    pub assignee_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Store {
    /// A page of the lending queue, newest change first, and how many requests match.
    #[tracing::instrument(skip_all, fields(library = %f.library_id), err)]
    pub async fn lend_queue(&self, f: &LendQueueFilter) -> Result<(Vec<LendRequest>, i64)> {
        let mut list = Sql::default();
        let w = where_clause(&mut list, f);
        let (lim, off) = (
            list.p(Arg::Int(f.limit.clamp(1, 500))),
            list.p(Arg::Int(f.offset.max(0))),
        );
        // The page's ids first, from the queue index alone; then only those rows are read.
        list.push(&format!(
            "SELECT {LEND_COLUMNS} FROM lend_request WHERE request_id IN
               (SELECT request_id FROM lend_request{w} ORDER BY updated_at DESC, request_id DESC LIMIT {lim} OFFSET {off})
             ORDER BY updated_at DESC, request_id DESC"
        ));
        let mut count = Sql::default();
        let w = where_clause(&mut count, f);
        count.push(&format!("SELECT COUNT(*) FROM lend_request{w}"));
        // The page and its count read one snapshot, so they agree while requests change.
        let (rows, total) = in_snapshot!(self, tx => {
            let q = sqlx::query_as::<_, LendRequest>(sqlx::AssertSqlSafe(list.text.clone()));
            let rows = bind_all!(q, &list.args).fetch_all(&mut *tx).await?;
            let q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(count.text.clone()));
            let total = bind_all!(q, &count.args).fetch_one(&mut *tx).await?.0;
            (rows, total)
        });
        Ok((rows, total))
    }

    /// The facet counts of the selection `f` makes: for each facet, every value present and
    /// how many requests have it; each alert with its count (zero included).
    #[tracing::instrument(skip_all, fields(library = %f.library_id), err)]
    pub async fn lend_facets(&self, f: &LendQueueFilter) -> Result<Vec<FacetCount>> {
        let mut sql = Sql::default();
        // Without a text search every facet groups the queue index itself (no table reads). A
        // text search reads the table: then the selection is read once and every facet groups
        // that copy, rather than each applying the search again.
        let searching = f.text.as_deref().is_some_and(|t| !t.trim().is_empty());
        if searching {
            let w = where_clause(&mut sql, f);
            sql.push(&format!(
                "WITH sel AS MATERIALIZED (SELECT library_id, request_id, state, borrower_agency, format, assignee_id, created_at, updated_at, due_date, needed_by, renew_pending FROM lend_request{w}) "
            ));
        }
        // `FROM …` of one part, with its WHERE (more conditions may follow with AND).
        let from = |sql: &mut Sql| {
            if searching {
                "sel WHERE 1 = 1".to_owned()
            } else {
                format!("lend_request{}", where_clause(sql, f))
            }
        };
        let mut parts = Vec::new();
        for (facet, expr) in [
            ("state", "state"),
            ("partner", "borrower_agency"),
            ("format", "format"),
            ("assignee", "assignee_id"),
        ] {
            let src = from(&mut sql);
            parts.push(format!(
                "SELECT '{facet}' AS facet, {expr} AS value, COUNT(*) AS count FROM {src} GROUP BY {expr}"
            ));
        }
        for (facet, column, age) in [
            ("created", "created_at", true),
            ("modified", "updated_at", true),
            ("due", "due_date", false),
            ("needed_by", "needed_by", false),
        ] {
            let expr = if age {
                age_case(&mut sql, column, f.now)
            } else {
                day_case(&mut sql, column, f.now)
            };
            let src = from(&mut sql);
            parts.push(format!(
                "SELECT '{facet}' AS facet, {expr} AS value, COUNT(*) AS count FROM {src} GROUP BY 2"
            ));
        }
        for alert in LendAlert::ALL {
            let src = from(&mut sql);
            let cond = alert_where(&mut sql, f, alert);
            parts.push(format!(
                "SELECT 'alert' AS facet, '{}' AS value, COUNT(*) AS count FROM {src}{cond}",
                alert.as_str()
            ));
        }
        sql.push(&parts.join(" UNION ALL "));
        let rows = on_pool!(self.pool(), p => {
            let q = sqlx::query_as::<_, FacetCount>(sqlx::AssertSqlSafe(sql.text.clone()));
            bind_all!(q, &sql.args).fetch_all(p).await?
        });
        Ok(rows)
    }

    /// Write many lending requests at once, in batches of multi-row inserts (benchmark seeding;
    /// no events, no messages). Returns how many were written.
    pub async fn seed_lend_requests(&self, library_id: &str, rows: Vec<SeedLend>) -> Result<u64> {
        const PER_INSERT: usize = 500;
        let library_id = library_id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let mut written = 0u64;
                for chunk in rows.chunks(PER_INSERT) {
                    let mut sql = String::from(
                        "INSERT INTO lend_request (request_id, library_id, borrower_agency, borrower_id, borrower_request_id, format, state, title, citation, iso_version, barcode, due_date, assignee_id, needed_by, created_at, updated_at) VALUES ",
                    );
                    const COLS: usize = 16;
                    for (i, _) in chunk.iter().enumerate() {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        let marks: Vec<String> =
                            (1..=COLS).map(|c| format!("${}", i * COLS + c)).collect();
                        sql.push_str(&format!("({})", marks.join(", ")));
                    }
                    let n = on_tx!(tx, c => {
                        let mut q = crate::sql::query(sqlx::AssertSqlSafe(sql));
                        for r in chunk {
                            q = q
                                .bind(r.request_id.clone())
                                .bind(library_id.clone())
                                .bind(r.borrower_agency.clone())
                                .bind(r.borrower_id.clone())
                                .bind(format!("{}.1", r.request_id))
                                .bind(r.format.clone())
                                .bind(r.state.clone())
                                .bind(r.citation.title.clone().unwrap_or_default())
                                .bind(Json(r.citation.clone()))
                                .bind("2021")
                                .bind(r.barcode.clone())
                                .bind(r.due_date)
                                .bind(r.assignee_id.clone())
                                .bind(r.citation.need_by)
                                .bind(r.created_at)
                                .bind(r.updated_at);
                        }
                        q.execute(&mut *c).await?.rows_affected()
                    });
                    written += n;
                }
                Ok::<_, StoreError>(written)
            })
        })
        .await
    }

    /// Baseline for the queue benchmark: a plain count of the whole table.
    pub async fn count_lend_requests(&self) -> Result<i64> {
        let n: (i64,) = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT COUNT(*) FROM lend_request").fetch_one(p).await?
        });
        Ok(n.0)
    }

    /// After seeding: let the planner know the table's shape (PostgreSQL also sets the
    /// visibility map, which index-only scans need).
    pub async fn analyze(&self) -> Result<()> {
        match self.pool() {
            crate::Pool::Sqlite(_) => {
                // The read pool is read-only: ANALYZE writes its statistics through the writer.
                self.write(|tx| {
                    Box::pin(async move {
                        on_tx!(tx, c => {
                            crate::sql::query("ANALYZE").execute(&mut *c).await?;
                        });
                        Ok::<_, StoreError>(())
                    })
                })
                .await?;
            }
            crate::Pool::Postgres(p) => {
                sqlx::query("VACUUM ANALYZE lend_request")
                    .execute(p)
                    .await?;
                sqlx::query("VACUUM ANALYZE outbox").execute(p).await?;
                for table in ["borrow_request", "request_event", "request_fact"] {
                    sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                        .execute(p)
                        .await?;
                }
            }
        }
        Ok(())
    }
}
