//! The lending desk's queue: one filter (states, partner, format, date buckets, assignee, alert,
//! text) translated to SQL in one place, the page of rows it selects, and the facet counts of
//! that selection as grouped SQL (one `UNION ALL` of `GROUP BY`s), never rows read into Rust.
//!
//! The store compares no state names: which states are "open", "to locate" or "overdue" is the
//! supplier machine's business, and the caller passes them in.

use sqlx::types::Json;
use time::{Date, Duration, OffsetDateTime, Time};

use crate::request::{LEND_COLUMNS, LendRequest};
use crate::{Result, Store, StoreError, Tx, in_snapshot, on_pool, on_tx};
use domain::citation::Citation;
use domain::library::LibraryOffset;

/// When a request was created or last changed, in buckets that do not overlap: days of the
/// library (see [`LendQueueFilter::utc_offset`]), "today" from its midnight.
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

/// Where a date (due back, needed by) falls from today, the library's day (see
/// [`LendQueueFilter::utc_offset`]): buckets that do not overlap.
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

/// The lending queue's "partner notes" facet: requests with messages from the borrowing
/// library (ISO 18626 Notifications), by whether one waits for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerNotes {
    /// A message of the partner is the last word of its thread.
    Waiting,
    /// The partner wrote, and every such thread was answered or closed.
    Answered,
}

impl PartnerNotes {
    pub const ALL: [PartnerNotes; 2] = [PartnerNotes::Waiting, PartnerNotes::Answered];

    pub fn as_str(self) -> &'static str {
        match self {
            PartnerNotes::Waiting => "waiting",
            PartnerNotes::Answered => "answered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The requests of the filter's library with a partner's message that waits for an answer
/// (nothing in its thread after it; a partner's message always starts a thread).
fn partner_waiting_sql(sql: &mut Sql, f: &LendQueueFilter) -> String {
    let lib = sql.p(Arg::Text(f.library_id.clone()));
    format!(
        "SELECT e.request_id FROM request_event e WHERE e.library_id = {lib} AND e.action = 'borrower_notification'
           AND NOT EXISTS (SELECT 1 FROM request_event r WHERE r.reply_to = e.event_id)"
    )
}

/// The requests of the filter's library with any message from the partner.
fn partner_wrote_sql(sql: &mut Sql, f: &LendQueueFilter) -> String {
    let lib = sql.p(Arg::Text(f.library_id.clone()));
    format!(
        "SELECT request_id FROM request_event WHERE library_id = {lib} AND action = 'borrower_notification'"
    )
}

/// ` AND …` keeping the requests with `notes`.
fn partner_notes_where(sql: &mut Sql, f: &LendQueueFilter, notes: PartnerNotes) -> String {
    format!(" AND {}", partner_notes_cond(sql, f, notes))
}

/// The requests with `notes`, as an SQL expression.
fn partner_notes_cond(sql: &mut Sql, f: &LendQueueFilter, notes: PartnerNotes) -> String {
    match notes {
        PartnerNotes::Waiting => format!("request_id IN ({})", partner_waiting_sql(sql, f)),
        PartnerNotes::Answered => {
            let wrote = partner_wrote_sql(sql, f);
            let waiting = partner_waiting_sql(sql, f);
            format!("(request_id IN ({wrote}) AND request_id NOT IN ({waiting}))")
        }
    }
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
    /// `express` or `normal`.
    pub service_level: Option<String>,
    /// How it went out; `none`: not shipped yet.
    pub supplied_format: Option<String>,
    /// Whether a pick slip was printed.
    pub printed: Option<bool>,
    /// A label staff put on it.
    pub label: Option<String>,
    /// Messages from the borrowing library: `waiting` (one is the last word of its thread,
    /// neither answered nor closed) or `answered` (there are some, none waiting).
    pub partner_notes: Option<PartnerNotes>,
    /// Words of the title, a request id (ours or the borrower's), a barcode, or the requesting
    /// library (code, agency id or name).
    pub text: Option<String>,
    pub alert_states: AlertStates,
    /// The moment the buckets are counted from.
    pub now: OffsetDateTime,
    /// The library's time: "today" of the created, modified, due and needed-by buckets and of
    /// the overdue alert is its day, since a loan due today is not late before its midnight
    /// and a request that came in at 07:30 there came in today.
    pub utc_offset: LibraryOffset,
    pub limit: i64,
    pub offset: i64,
}

impl LendQueueFilter {
    /// Every request of `library_id`, buckets counted from `now` (the day buckets in UTC
    /// until `utc_offset` is set to the library's).
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
            service_level: None,
            supplied_format: None,
            printed: None,
            label: None,
            partner_notes: None,
            text: None,
            alert_states,
            now,
            utc_offset: LibraryOffset::UTC,
            limit: 50,
            offset: 0,
        }
    }
}

/// One facet value and how many requests of the selection have it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FacetCount {
    /// `state`, `partner`, `format`, `assignee`, `created`, `modified`, `due`, `needed_by`,
    /// `service_level`, `supplied_format` (`None`: not shipped yet), `printed` (`yes`, `no`),
    /// `label`, `partner_notes` (`waiting`, `answered`; zero included) or `alert`.
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

/// A queue query as it is run: on PostgreSQL planned with its values each time (an unnamed
/// statement). A prepared statement gets a generic plan from its sixth run, which does not
/// know the search's words: in `bench queue` at a million requests, 10 runs of each query, a
/// search of the whole history by request id took 505 ms (p50) and one by Chinese title
/// words 486 ms, against 5 and 13 ms in a run of five; planned with their values, 7
/// and 13 ms over ten. The queue's queries are built for each filter, so a plan is seldom
/// reused anyway. SQLite keeps its prepared statements.
fn planned_with_values<DB, O, A>(
    q: sqlx::query::QueryAs<'_, DB, O, A>,
) -> sqlx::query::QueryAs<'_, DB, O, A>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
{
    q.persistent(DB::NAME != "PostgreSQL")
}

/// Bind a query's values; a macro so that each engine's arm is type-checked on its own.
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = planned_with_values($q);
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Time(t) => q.bind(crate::sql::TimeText(*t)),
                Arg::Date(d) => q.bind(*d),
                Arg::Bool(b) => q.bind(*b),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// The start of `now`'s day at `offset`, as a UTC time.
fn midnight(now: OffsetDateTime, offset: LibraryOffset) -> OffsetDateTime {
    let local = now.to_offset(offset.utc_offset());
    local
        .replace_time(Time::MIDNIGHT)
        .to_offset(time::UtcOffset::UTC)
}

/// The bounds of the age buckets in the library's time: the start of its today, of 6 days
/// before, of 29 days before (as UTC times: the requests' times are UTC).
fn age_bounds(now: OffsetDateTime, offset: LibraryOffset) -> [OffsetDateTime; 3] {
    let t0 = midnight(now, offset);
    [t0, t0 - Duration::days(6), t0 - Duration::days(29)]
}

/// The dates of the age buckets' bounds in the library's time, as the kept counts write them.
fn age_days(now: OffsetDateTime, offset: LibraryOffset) -> [String; 3] {
    let t0 = offset.date(now);
    [
        t0,
        t0.saturating_sub(Duration::days(6)),
        t0.saturating_sub(Duration::days(29)),
    ]
    .map(day_text)
}

/// Today and a week from today, in the library's time: dates are compared as they are (a due
/// date is a day of the lender, a need-by date one of the borrower), so the kept counts,
/// which hold the dates themselves, agree with the filter whatever the offset.
fn day_bounds(now: OffsetDateTime, offset: LibraryOffset) -> (Date, Date) {
    let today = offset.date(now);
    (today, today.saturating_add(Duration::days(7)))
}

fn age_where(sql: &mut Sql, column: &str, bucket: AgeBucket, f: &LendQueueFilter) -> String {
    let [t0, t7, t30] = age_bounds(f.now, f.utc_offset).map(Arg::Time);
    match bucket {
        AgeBucket::Today => format!(" AND {column} >= {}", sql.p(t0)),
        AgeBucket::Week => format!(
            " AND {column} >= {} AND {column} < {}",
            sql.p(t7),
            sql.p(t0)
        ),
        AgeBucket::Month => format!(
            " AND {column} >= {} AND {column} < {}",
            sql.p(t30),
            sql.p(t7)
        ),
        AgeBucket::Older => format!(" AND {column} < {}", sql.p(t30)),
    }
}

fn day_where(sql: &mut Sql, column: &str, bucket: DayBucket, f: &LendQueueFilter) -> String {
    let (today, week) = day_bounds(f.now, f.utc_offset);
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
    format!(" AND {}", alert_cond(sql, f, alert))
}

/// The condition of one alert, as an SQL expression.
fn alert_cond(sql: &mut Sql, f: &LendQueueFilter, alert: LendAlert) -> String {
    let s = &f.alert_states;
    let none = || "1 = 0".to_owned();
    match alert {
        LendAlert::Overdue => {
            let mut parts = Vec::new();
            if !s.overdue.is_empty() {
                parts.push(format!("state IN ({})", sql.list(&s.overdue)));
            }
            if !s.on_loan.is_empty() {
                let states = sql.list(&s.on_loan);
                let (today, _) = day_bounds(f.now, f.utc_offset);
                parts.push(format!(
                    "(state IN ({states}) AND due_date < {})",
                    sql.p(Arg::Date(today))
                ));
            }
            if parts.is_empty() {
                none()
            } else {
                format!("({})", parts.join(" OR "))
            }
        }
        LendAlert::Conditional if s.conditional.is_empty() => none(),
        LendAlert::Conditional => format!("state IN ({})", sql.list(&s.conditional)),
        LendAlert::RenewPending => format!("renew_pending = {}", sql.p(Arg::Bool(true))),
        LendAlert::MessageError => {
            let lib = sql.p(Arg::Text(f.library_id.clone()));
            format!(
                "request_id IN (SELECT request_id FROM outbox WHERE library_id = {lib} AND status = 'dead' AND side = 'lend')"
            )
        }
    }
}

/// How a text search finds its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TextPlan {
    /// Compare every row the other conditions select (no search, or so many candidates that
    /// reading the selection is cheaper).
    Compare,
    /// The candidates come from one index per kind of match (the title's trigrams, the
    /// barcode's and ids' starts, the requester); only they are compared.
    Candidates(TitleHits),
    /// PostgreSQL: the few requests the indexes found (see `IDS_BY_VALUE_PG`), given to the
    /// query as values and compared again there (a request may have changed in between).
    Ids(Vec<String>),
    /// PostgreSQL, more candidates than are read by id: the search compared as an OR of
    /// comparisons that each have an index, the title's as `TitleHits` says and the
    /// requesting libraries whose name matches as their lowered codes (`named`, looked up
    /// first), so that the planner can join the indexes' matches (a BitmapOr) instead of
    /// comparing every row of the selection. A subquery on the names in the OR rules that out.
    Indexed {
        title: TitleHits,
        named: Vec<String>,
    },
}

/// Where a title search's candidates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TitleHits {
    /// SQLite, three characters or more: the search as an FTS5 phrase.
    Phrase(String),
    /// SQLite, one or two characters: the trigrams that start with them (every indexed title
    /// ends with two padding characters, so every occurrence starts one), from `lo` below
    /// `hi`.
    Terms(String, String),
    /// PostgreSQL, three characters or more: the LIKE itself, which the trigram index
    /// answers (migration 0029; 0047 for the open requests alone), in the states asked for.
    Like,
    /// PostgreSQL, two characters, at least one beyond ASCII (a Chinese word): the titles
    /// holding that pair of characters (migration 0045; 0047 for the open requests alone), in
    /// the states asked for.
    Pairs,
    /// No index finds them (PostgreSQL's trigrams need three characters; SQLite's case
    /// folding might write the characters differently): the selection is compared.
    None,
}

impl TitleHits {
    /// Whether these are PostgreSQL's candidates: then they are the search itself (each
    /// found by an index that answers its comparison exactly), not a superset of it.
    fn is_postgres(&self) -> bool {
        matches!(self, TitleHits::Like | TitleHits::Pairs)
    }
}

/// The search text of a filter, trimmed, when there is one.
fn search_text(f: &LendQueueFilter) -> Option<&str> {
    f.text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// Just above every string that starts with `s`, in byte order (SQLite's, and PostgreSQL's
/// `text_pattern_ops`).
fn prefix_end(s: &str) -> String {
    format!("{s}\u{10FFFF}")
}

/// Where the title candidates of `exact` (the lowered search) come from.
fn title_hits(exact: &str, pg: bool) -> TitleHits {
    let n = exact.chars().count();
    if pg {
        return if n >= 3 {
            TitleHits::Like
        } else if n == 2 && !exact.is_ascii() {
            TitleHits::Pairs
        } else {
            TitleHits::None
        };
    }
    if n >= 3 {
        return TitleHits::Phrase(format!("\"{}\"", exact.replace('"', "\"\"")));
    }
    // The trigram tokenizer folds case itself; a range of its terms must be written as it
    // writes them, which is sure only for characters without case (Chinese) and ASCII.
    let caseless = |c: char| {
        c.is_ascii()
            || (c.to_lowercase().eq(std::iter::once(c)) && c.to_uppercase().eq(std::iter::once(c)))
    };
    if exact.chars().all(caseless) {
        TitleHits::Terms(exact.to_owned(), prefix_end(exact))
    } else {
        TitleHits::None
    }
}

/// The ids of the rows a search may match (a superset: each is compared after), one
/// `SELECT` per index, joined by `joiner` (`UNION`, or `UNION ALL` to count them roughly
/// without reading them all).
fn candidates_sql(
    sql: &mut Sql,
    f: &LendQueueFilter,
    exact: &str,
    title: &TitleHits,
    joiner: &str,
) -> String {
    let mut arms = Vec::new();
    match title {
        // Other libraries' titles are dropped by their key (migration 0032), before any of
        // their requests is read.
        TitleHits::Phrase(m) => {
            let m = sql.p(Arg::Text(m.clone()));
            let lib = sql.p(Arg::Text(f.library_id.clone()));
            arms.push(format!(
                "SELECT d.request_id FROM lend_title_fts t JOIN lend_title_doc d ON d.doc = t.rowid WHERE lend_title_fts MATCH {m} AND d.library_id = {lib}"
            ));
        }
        TitleHits::Terms(lo, hi) => {
            let (lo, hi) = (sql.p(Arg::Text(lo.clone())), sql.p(Arg::Text(hi.clone())));
            let lib = sql.p(Arg::Text(f.library_id.clone()));
            arms.push(format!(
                "SELECT d.request_id FROM lend_title_term t JOIN lend_title_doc d ON d.doc = t.doc WHERE t.term >= {lo} AND t.term < {hi} AND d.library_id = {lib}"
            ));
        }
        // A search of the working queue names the open states as the partial indexes of
        // migration 0047 do, so that it walks their entries alone: a title word's trigrams,
        // or a Chinese word, are in thousands of titles of the history, of which the working
        // queue holds a few.
        TitleHits::Like => {
            let lib = sql.p(Arg::Text(f.library_id.clone()));
            let l = sql.p(Arg::Text(format!("%{}%", like_escaped(exact))));
            let st = title_states(sql, f);
            arms.push(format!(
                "SELECT request_id FROM lend_request WHERE library_id = {lib} AND lower(title) LIKE {l} ESCAPE '\\'{st}"
            ));
        }
        TitleHits::Pairs => {
            let lib = sql.p(Arg::Text(f.library_id.clone()));
            let e = sql.p(Arg::Text(exact.to_owned()));
            let st = title_states(sql, f);
            arms.push(format!(
                "SELECT request_id FROM lend_request WHERE library_id = {lib} AND lend_title_pairs(lower(title)) @> ARRAY[CAST({e} AS TEXT)]{st}"
            ));
        }
        TitleHits::None => {}
    }
    let pg = title.is_postgres();
    for column in ["barcode", "request_id", "borrower_request_id"] {
        let lib = sql.p(Arg::Text(f.library_id.clone()));
        if pg {
            // A LIKE of a fixed start: the text_pattern_ops index answers it, whatever the
            // database's collation.
            let pre = sql.p(Arg::Text(format!("{}%", like_escaped(exact))));
            arms.push(format!(
                "SELECT request_id FROM lend_request WHERE library_id = {lib} AND lower({column}) LIKE {pre} ESCAPE '\\'"
            ));
        } else {
            // SQLite uses an index for LIKE only on a NOCASE column: a range of the bytes.
            let lo = sql.p(Arg::Text(exact.to_owned()));
            let hi = sql.p(Arg::Text(prefix_end(exact)));
            arms.push(format!(
                "SELECT request_id FROM lend_request WHERE library_id = {lib} AND lower({column}) >= {lo} AND lower({column}) < {hi}"
            ));
        }
    }
    // A requester has many requests: only those in the states asked for (their indexes end
    // with the state).
    for column in ["borrower_agency", "borrower_id"] {
        let lib = sql.p(Arg::Text(f.library_id.clone()));
        let e = sql.p(Arg::Text(exact.to_owned()));
        let st = states_of(sql, f, "state");
        arms.push(format!(
            "SELECT request_id FROM lend_request WHERE library_id = {lib} AND lower({column}) = {e}{st}"
        ));
    }
    {
        // The libraries whose name matches first, then each one's requests from its index
        // (an `IN (SELECT …)` here made SQLite read every request of the library, 0.3-0.4 s at
        // a million, to test each against the few names).
        let lib = sql.p(Arg::Text(f.library_id.clone()));
        let l = sql.p(Arg::Text(format!("%{}%", like_escaped(exact))));
        let st = states_of(sql, f, "r.state");
        arms.push(format!(
            "SELECT r.request_id FROM library n CROSS JOIN lend_request r WHERE (lower(n.name_en) LIKE {l} ESCAPE '\\' OR lower(n.name_zh) LIKE {l} ESCAPE '\\') AND r.library_id = {lib} AND lower(r.borrower_id) = lower(n.library_id){st}"
        ));
    }
    arms.join(joiner)
}

/// The open states of the lending machine, as the predicate of PostgreSQL's partial title
/// indexes (migration 0047) writes them. A test checks them against the machine: a new open
/// state needs a migration that remakes the indexes.
const OPEN_STATES_INDEXED: [&str; 9] = [
    "request_received",
    "expect_to_supply",
    "will_supply",
    "pick_slip_printed",
    "conditional_pending",
    "shipped",
    "overdue",
    "recalled",
    "return_shipped",
];

/// ` AND state IN (…)` for a title search's candidates. When the filter keeps open states
/// alone they are written as literals: the planner uses a partial index only for a query
/// whose own text implies its predicate, which a parameter never does (a prepared
/// statement's generic plan has no values). Only names of `OPEN_STATES_INDEXED` are written
/// so, nothing a user typed.
fn title_states(sql: &mut Sql, f: &LendQueueFilter) -> String {
    match &f.states {
        Some(s) if !s.is_empty() && s.iter().all(|s| OPEN_STATES_INDEXED.contains(&s.as_str())) => {
            let listed: Vec<String> = s.iter().map(|s| format!("'{s}'")).collect();
            format!(" AND state IN ({})", listed.join(", "))
        }
        _ => states_of(sql, f, "state"),
    }
}

/// ` AND …` keeping the states the filter asks for, of `column`.
fn states_of(sql: &mut Sql, f: &LendQueueFilter, column: &str) -> String {
    match &f.states {
        None => String::new(),
        Some(s) if s.is_empty() => " AND 1 = 0".to_owned(),
        Some(s) => format!(" AND {column} IN ({})", sql.list(s)),
    }
}

/// `s` with `%`, `_` and `\` escaped for LIKE … ESCAPE '\', so that they match themselves.
fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// ` WHERE …` for the filter, the search found as `plan` says.
fn where_clause(sql: &mut Sql, f: &LendQueueFilter, plan: &TextPlan, pg: bool) -> String {
    // With candidates, the rows are read by id from them: the unary `+` keeps SQLite from
    // reading the whole state range of the queue index instead.
    let plus = matches!(
        plan,
        TextPlan::Candidates(TitleHits::Phrase(_) | TitleHits::Terms(..))
    );
    where_of(sql, f, plan, pg, plus)
}

/// ` WHERE …` for the filter, for a query driven by a few request ids found elsewhere (labels,
/// partners' messages, parked messages): SQLite reads the requests by id only (every other
/// index of the requests starts with the library, which the unary `+` keeps it from using),
/// and the search is compared on them.
fn where_driven(sql: &mut Sql, f: &LendQueueFilter, pg: bool) -> String {
    where_of(sql, f, &TextPlan::Compare, pg, !pg)
}

fn where_of(sql: &mut Sql, f: &LendQueueFilter, plan: &TextPlan, pg: bool, plus: bool) -> String {
    let plus = if plus { "+" } else { "" };
    let mut w = format!(
        " WHERE {plus}library_id = {}",
        sql.p(Arg::Text(f.library_id.clone()))
    );
    match &f.states {
        None => {}
        Some(states) if states.is_empty() => w.push_str(" AND 1 = 0"),
        Some(states) => w.push_str(&format!(" AND {plus}state IN ({})", sql.list(states))),
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
        w.push_str(&age_where(sql, "created_at", b, f));
    }
    if let Some(b) = f.modified {
        w.push_str(&age_where(sql, "updated_at", b, f));
    }
    if let Some(b) = f.due {
        w.push_str(&day_where(sql, "due_date", b, f));
    }
    if let Some(b) = f.needed_by {
        w.push_str(&day_where(sql, "needed_by", b, f));
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
    if let Some(l) = &f.service_level {
        w.push_str(&format!(
            " AND service_level = {}",
            sql.p(Arg::Text(l.clone()))
        ));
    }
    match f.supplied_format.as_deref() {
        None => {}
        Some("none") => w.push_str(" AND supplied_format IS NULL"),
        Some(s) => w.push_str(&format!(
            " AND supplied_format = {}",
            sql.p(Arg::Text(s.to_owned()))
        )),
    }
    match f.printed {
        None => {}
        Some(true) => w.push_str(" AND slip_printed_at IS NOT NULL"),
        Some(false) => w.push_str(" AND slip_printed_at IS NULL"),
    }
    if let Some(l) = &f.label {
        let lib = sql.p(Arg::Text(f.library_id.clone()));
        let l = sql.p(Arg::Text(l.clone()));
        w.push_str(&format!(
            " AND request_id IN (SELECT request_id FROM lend_label WHERE library_id = {lib} AND label = {l})"
        ));
    }
    if let Some(n) = f.partner_notes {
        w.push_str(&partner_notes_where(sql, f, n));
    }
    if let Some(t) = search_text(f) {
        // lower() on both sides: SQLite's LIKE folds only ASCII, PostgreSQL's not at all.
        // Title words anywhere in the title; a barcode or request id by its start (what a
        // scanner or a pasted id gives); the requesting library by its code or agency id, or
        // words of its name. Each compared expression has an index (migration 0029), written
        // exactly as there. This condition is what a search means on both engines; SQLite's
        // candidates only narrow the rows it is compared on.
        let exact = t.to_lowercase();
        if let TextPlan::Ids(ids) = plan {
            if ids.is_empty() {
                w.push_str(" AND 1 = 0");
                return w;
            }
            w.push_str(&format!(" AND request_id IN ({})", sql.list(ids)));
        }
        if let TextPlan::Indexed { title, named } = plan {
            w.push_str(&indexed_search(sql, &exact, title, named));
            return w;
        }
        if let TextPlan::Candidates(title) = plan {
            let c = candidates_sql(sql, f, &exact, title, " UNION ");
            w.push_str(&format!(" AND request_id IN ({c})"));
            // PostgreSQL's candidates are the search itself: each one of them is one of the
            // comparisons below, answered by its index. Comparing them again made its
            // planner expect half the library to match and read every row instead of the
            // few candidates by id (3.5 s for one barcode at a million, against 1 ms).
            if title.is_postgres() {
                return w;
            }
        }
        // `%`, `_` and `\` in what was typed are matched as themselves.
        let bare = like_escaped(&exact);
        let l = sql.p(Arg::Text(format!("%{bare}%")));
        let pre = sql.p(Arg::Text(format!("{bare}%")));
        let e = sql.p(Arg::Text(exact));
        let names = format!(
            "SELECT lower(library_id) FROM library WHERE lower(name_en) LIKE {l} ESCAPE '\\' OR lower(name_zh) LIKE {l} ESCAPE '\\'"
        );
        // SQLite: instr() finds the same titles as the LIKE (neither side has an ASCII capital
        // left, and other characters compare as they are either way), several times faster
        // when every row of the selection is compared. PostgreSQL: the LIKE, which its trigram
        // index answers.
        let in_title = if pg {
            format!("lower(title) LIKE {l} ESCAPE '\\'")
        } else {
            format!("instr(lower(title), {e}) > 0")
        };
        // Compared arm by arm until one holds: the requester's equalities first and the title
        // last, so that a requester's requests are not scanned for the title.
        w.push_str(&format!(
            " AND (lower(borrower_agency) = {e} OR lower(borrower_id) = {e} OR lower(borrower_id) IN ({names})
               OR lower(barcode) LIKE {pre} ESCAPE '\\' OR lower(request_id) LIKE {pre} ESCAPE '\\'
               OR lower(borrower_request_id) LIKE {pre} ESCAPE '\\' OR {in_title})"
        ));
    }
    w
}

/// ` AND (…)`: the search `exact` (lowered) as an OR of comparisons that each have an index on
/// PostgreSQL (migrations 0029, 0045): the title's as `title` says, the starts of the barcode
/// and ids, the requester's agency id and code, and the codes of the requesting libraries
/// whose names match (`named`, lowered). It means what the general comparison means.
fn indexed_search(sql: &mut Sql, exact: &str, title: &TitleHits, named: &[String]) -> String {
    let bare = like_escaped(exact);
    // Each row the indexes found is compared again, arm by arm until one holds: the cheap
    // equalities first, the title last. A requester's request is then never lowered and
    // scanned for the title (0.48 s against 0.28 s for a requester's 166,014 requests at a
    // million, `count(*)` of the selection).
    let e = sql.p(Arg::Text(exact.to_owned()));
    let mut codes = vec![exact.to_owned()];
    codes.extend(named.iter().filter(|c| c.as_str() != exact).cloned());
    let mut arms = vec![
        format!("lower(borrower_id) IN ({})", sql.list(&codes)),
        format!("lower(borrower_agency) = {e}"),
    ];
    // A start as the range of the prefix index itself (text_pattern_ops compares bytes; the
    // bound is the prefix and U+10FFFF, a noncharacter no text holds): PostgreSQL treats a
    // LIKE's range as lossy and then compares every row found again with the whole OR, the
    // title's pairs function included (0.9 s against 0.3 s for 经济's 49,302 matches in the
    // whole history at a million). With every arm exact, only the library is compared.
    for column in ["barcode", "request_id", "borrower_request_id"] {
        let lo = sql.p(Arg::Text(exact.to_owned()));
        let hi = sql.p(Arg::Text(prefix_end(exact)));
        arms.push(format!(
            "(lower({column}) ~>=~ {lo} AND lower({column}) ~<~ {hi})"
        ));
    }
    arms.push(match title {
        TitleHits::Pairs => {
            let e = sql.p(Arg::Text(exact.to_owned()));
            format!("lend_title_pairs(lower(title)) @> ARRAY[CAST({e} AS TEXT)]")
        }
        _ => {
            let l = sql.p(Arg::Text(format!("%{bare}%")));
            format!("lower(title) LIKE {l} ESCAPE '\\'")
        }
    });
    format!(" AND ({})", arms.join(" OR "))
}

impl LendQueueFilter {
    /// Whether states alone narrow the selection (no other facet, alert or search): then the
    /// kept counts answer its facets and its total, and its page is read state by state.
    fn by_states_only(&self) -> bool {
        self.partner.is_none()
            && self.format.is_none()
            && self.created.is_none()
            && self.modified.is_none()
            && self.due.is_none()
            && self.needed_by.is_none()
            && self.assignee.is_none()
            && self.alert.is_none()
            && self.service_level.is_none()
            && self.supplied_format.is_none()
            && self.printed.is_none()
            && self.label.is_none()
            && self.partner_notes.is_none()
            && self.text.as_deref().is_none_or(|t| t.trim().is_empty())
    }
}

/// What the kept queue counts are read from (see `Store::counts_source`).
pub(crate) fn counts_source(pg: bool) -> &'static str {
    if pg { "queue_count_now" } else { "queue_count" }
}

/// A day as the kept counts write it.
fn day_text(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// ` WHERE …` over the kept counts of the filter's library and states (`facet` is added by
/// the caller).
fn kept_where(sql: &mut Sql, f: &LendQueueFilter, states: Option<&[String]>) -> String {
    let mut w = format!(
        " WHERE library_id = {} AND side = 'lend'",
        sql.p(Arg::Text(f.library_id.clone()))
    );
    match states {
        None => {}
        Some([]) => w.push_str(" AND 1 = 0"),
        Some(states) => w.push_str(&format!(" AND state IN ({})", sql.list(states))),
    }
    w
}

/// `states` (the selection) narrowed to `of` (an alert's states).
fn within(states: Option<&[String]>, of: &[String]) -> Vec<String> {
    of.iter()
        .filter(|s| states.is_none_or(|sel| sel.contains(s)))
        .cloned()
        .collect()
}

/// The facet counts of a selection made by states alone, from the kept counts: the same rows
/// `lend_facets` groups out of the requests, in a few hundred rows' reading.
///
/// On PostgreSQL the counts are read with the library's notes not yet folded, which are
/// gathered once (`p`): each facet read from the view would read all the notes again.
fn kept_facets_sql(f: &LendQueueFilter, pg: bool) -> Sql {
    let mut sql = Sql::default();
    let (counts, with) = if pg {
        let lib = sql.p(Arg::Text(f.library_id.clone()));
        (
            "(SELECT library_id, side, state, facet, value, n FROM queue_count UNION ALL SELECT library_id, side, state, facet, value, n FROM p) c",
            format!(
                "WITH p AS MATERIALIZED (SELECT library_id, side, state, facet, value, n FROM queue_count_noted WHERE library_id = {lib} AND side = 'lend') "
            ),
        )
    } else {
        (counts_source(false), String::new())
    };
    let states = f.states.as_deref();
    let mut parts = Vec::new();
    let from = |sql: &mut Sql, facet: &str| {
        format!(
            "{counts}{} AND facet = '{facet}'",
            kept_where(sql, f, states)
        )
    };
    // Every request counts once under `format`: its sums per state are the state facet.
    let src = from(&mut sql, "format");
    parts.push(format!(
        "SELECT 'state' AS facet, state AS value, CAST(SUM(n) AS BIGINT) AS count FROM {src} GROUP BY state HAVING SUM(n) > 0"
    ));
    for (facet, value) in [
        ("partner", "value"),
        ("format", "value"),
        ("assignee", "NULLIF(value, '')"),
        ("service_level", "value"),
        ("supplied_format", "NULLIF(value, '')"),
        ("printed", "CASE WHEN value = '1' THEN 'yes' ELSE 'no' END"),
    ] {
        let src = from(&mut sql, facet);
        parts.push(format!(
            "SELECT '{facet}', {value}, CAST(SUM(n) AS BIGINT) FROM {src} GROUP BY value HAVING SUM(n) > 0"
        ));
    }
    {
        // Labels are not kept: only labelled requests are read, through their own table.
        let lib = sql.p(Arg::Text(f.library_id.clone()));
        let st = match states {
            None => String::new(),
            Some([]) => " AND 1 = 0".to_owned(),
            Some(states) => format!(" AND r.state IN ({})", sql.list(states)),
        };
        parts.push(format!(
            "SELECT 'label', l.label, COUNT(*) FROM lend_label l JOIN lend_request r ON r.request_id = l.request_id WHERE l.library_id = {lib}{st} GROUP BY l.label"
        ));
    }
    for notes in PartnerNotes::ALL {
        // Not kept either: the partners' messages are few, found through their own index, and
        // only their requests are read (by id: the `+` keeps SQLite off the state index).
        let plus = if pg { "" } else { "+" };
        let lib = sql.p(Arg::Text(f.library_id.clone()));
        let st = match states {
            None => String::new(),
            Some([]) => " AND 1 = 0".to_owned(),
            Some(states) => format!(" AND {plus}state IN ({})", sql.list(states)),
        };
        let cond = partner_notes_where(&mut sql, f, notes);
        parts.push(format!(
            "SELECT 'partner_notes', '{}', COUNT(*) FROM lend_request WHERE {plus}library_id = {lib}{st}{cond}",
            notes.as_str()
        ));
    }
    let [t0, t7, t30] = age_days(f.now, f.utc_offset);
    for facet in ["created", "modified"] {
        let (a, b, c) = (
            sql.p(Arg::Text(t0.clone())),
            sql.p(Arg::Text(t7.clone())),
            sql.p(Arg::Text(t30.clone())),
        );
        let src = from(&mut sql, facet);
        parts.push(format!(
            "SELECT '{facet}', CASE WHEN value >= {a} THEN 'today' WHEN value >= {b} THEN 'week' WHEN value >= {c} THEN 'month' ELSE 'older' END, CAST(SUM(n) AS BIGINT) FROM {src} GROUP BY 2 HAVING SUM(n) > 0"
        ));
    }
    let (today, week) = day_bounds(f.now, f.utc_offset);
    let (today, week) = (day_text(today), day_text(week));
    for facet in ["due", "needed_by"] {
        let (a, b, c) = (
            sql.p(Arg::Text(today.clone())),
            sql.p(Arg::Text(today.clone())),
            sql.p(Arg::Text(week.clone())),
        );
        let src = from(&mut sql, facet);
        parts.push(format!(
            "SELECT '{facet}', CASE WHEN value = '' THEN 'none' WHEN value < {a} THEN 'past' WHEN value = {b} THEN 'today' WHEN value <= {c} THEN 'week' ELSE 'later' END, CAST(SUM(n) AS BIGINT) FROM {src} GROUP BY 2 HAVING SUM(n) > 0"
        ));
    }
    let a = &f.alert_states;
    for alert in LendAlert::ALL {
        let cond = match alert {
            LendAlert::Overdue => {
                let mut c = Vec::new();
                let marked = within(states, &a.overdue);
                if !marked.is_empty() {
                    c.push(format!(
                        "(facet = 'format' AND state IN ({}))",
                        sql.list(&marked)
                    ));
                }
                let out = within(states, &a.on_loan);
                if !out.is_empty() {
                    let list = sql.list(&out);
                    let t = sql.p(Arg::Text(today.clone()));
                    c.push(format!(
                        "(facet = 'due' AND value <> '' AND value < {t} AND state IN ({list}))"
                    ));
                }
                if c.is_empty() {
                    "1 = 0".to_owned()
                } else {
                    c.join(" OR ")
                }
            }
            LendAlert::Conditional => {
                let cond = within(states, &a.conditional);
                if cond.is_empty() {
                    "1 = 0".to_owned()
                } else {
                    format!("facet = 'format' AND state IN ({})", sql.list(&cond))
                }
            }
            LendAlert::RenewPending => "facet = 'renew_pending' AND value = '1'".to_owned(),
            LendAlert::MessageError => {
                // Parked messages are few: counted from the outbox's own index, not kept.
                let lib = sql.p(Arg::Text(f.library_id.clone()));
                let mut w = format!(" WHERE library_id = {lib}");
                match states {
                    None => {}
                    Some([]) => w.push_str(" AND 1 = 0"),
                    Some(states) => {
                        w.push_str(&format!(" AND state IN ({})", sql.list(states)));
                    }
                }
                let lib = sql.p(Arg::Text(f.library_id.clone()));
                parts.push(format!(
                    "SELECT 'alert', 'message_error', COUNT(*) FROM lend_request{w} AND request_id IN (SELECT request_id FROM outbox WHERE library_id = {lib} AND status = 'dead' AND side = 'lend')"
                ));
                continue;
            }
        };
        let kw = kept_where(&mut sql, f, states);
        parts.push(format!(
            "SELECT 'alert', '{}', CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM {counts}{kw} AND ({cond})",
            alert.as_str()
        ));
    }
    sql.push(&with);
    sql.push(&parts.join(" UNION ALL "));
    sql
}

/// Above this many rows read per state, a page is read the general way.
const PER_STATE_MAX: i64 = 5_000;

/// The page of ids of a selection made by states alone, newest change first: the first
/// `offset + limit` of each state from the (library, state, updated_at) index, merged. A
/// single scan would read and sort every row of the selection.
fn page_by_state_sql(f: &LendQueueFilter, states: &[String]) -> Option<Sql> {
    let (limit, offset) = (f.limit.clamp(1, 500), f.offset.max(0));
    let per_state = limit + offset;
    if states.is_empty() || per_state > PER_STATE_MAX {
        return None;
    }
    let mut sql = Sql::default();
    let mut parts = Vec::new();
    for (i, state) in states.iter().enumerate() {
        let lib = sql.p(Arg::Text(f.library_id.clone()));
        let st = sql.p(Arg::Text(state.clone()));
        let k = sql.p(Arg::Int(per_state));
        parts.push(format!(
            "SELECT request_id, updated_at FROM (SELECT request_id, updated_at FROM lend_request WHERE library_id = {lib} AND state = {st} ORDER BY updated_at DESC, request_id DESC LIMIT {k}) s{i}"
        ));
    }
    let (lim, off) = (sql.p(Arg::Int(limit)), sql.p(Arg::Int(offset)));
    sql.push(&format!(
        "SELECT {LEND_COLUMNS} FROM lend_request WHERE request_id IN
           (SELECT request_id FROM ({}) u ORDER BY updated_at DESC, request_id DESC LIMIT {lim} OFFSET {off})
         ORDER BY updated_at DESC, request_id DESC",
        parts.join(" UNION ALL ")
    ));
    Some(sql)
}

/// The facet name under which `grouped_facets_sql` returns the ids of the page (no facet has
/// an empty name).
const PAGE_FACET: &str = "";

/// The facet counts of the selection `f` makes, grouped out of the requests in one statement;
/// with `page`, also the ids of its page (facet `PAGE_FACET`, count 0, in no order).
///
/// The selection is read once (not once a facet: at a million requests each such reading of
/// the working queue's index took 10-15 ms on SQLite, and seventeen of them made a page). That
/// one reading groups it by the facets of open values (state, partner, format, assignee,
/// service level, supplied format: a few hundred groups) and counts, in each group, how many
/// fall in each bucket of the facets of fixed values (dates, printed, alerts); the facets are
/// then summed out of those groups. Labels, the partners' messages and parked messages are
/// counted from their own few rows, each request they name read by id.
fn grouped_facets_sql(f: &LendQueueFilter, plan: &TextPlan, pg: bool, page: bool) -> Sql {
    let mut sql = Sql::default();
    // (facet, value, condition, shown when zero) of each bucket counted in the groups.
    let mut buckets: Vec<(&str, &str, String, bool)> = Vec::new();
    let [t0, t7, t30] = age_bounds(f.now, f.utc_offset);
    for (facet, column) in [("created", "created_at"), ("modified", "updated_at")] {
        let (a, b, c) = (
            sql.p(Arg::Time(t0)),
            sql.p(Arg::Time(t7)),
            sql.p(Arg::Time(t30)),
        );
        // Both columns are never NULL.
        buckets.push((facet, "today", format!("{column} >= {a}"), false));
        buckets.push((
            facet,
            "week",
            format!("{column} >= {b} AND {column} < {a}"),
            false,
        ));
        buckets.push((
            facet,
            "month",
            format!("{column} >= {c} AND {column} < {b}"),
            false,
        ));
        buckets.push((facet, "older", format!("{column} < {c}"), false));
    }
    let (today, week) = day_bounds(f.now, f.utc_offset);
    for (facet, column) in [("due", "due_date"), ("needed_by", "needed_by")] {
        let (a, b) = (sql.p(Arg::Date(today)), sql.p(Arg::Date(week)));
        buckets.push((facet, "none", format!("{column} IS NULL"), false));
        buckets.push((facet, "past", format!("{column} < {a}"), false));
        buckets.push((facet, "today", format!("{column} = {a}"), false));
        buckets.push((
            facet,
            "week",
            format!("{column} > {a} AND {column} <= {b}"),
            false,
        ));
        buckets.push((facet, "later", format!("{column} > {b}"), false));
    }
    buckets.push((
        "printed",
        "yes",
        "slip_printed_at IS NOT NULL".to_owned(),
        false,
    ));
    buckets.push(("printed", "no", "slip_printed_at IS NULL".to_owned(), false));
    for alert in [
        LendAlert::Overdue,
        LendAlert::Conditional,
        LendAlert::RenewPending,
    ] {
        let cond = alert_cond(&mut sql, f, alert);
        buckets.push(("alert", alert.as_str(), cond, true));
    }
    // A search is compared once: its matches (every column the groups and the page read, all
    // in the queue index) are kept aside, then grouped and paged. Without one, the selection
    // is grouped as it is read (it may be the whole history) and the page read on its own.
    let searched = search_text(f).is_some();
    // Partners' messages and parked messages name few requests. A search's matches are marked
    // with them as they are kept aside (one hashed lookup a row), and the marks counted with
    // the other buckets: a join of the matches with them was planned from the matches'
    // estimate, which is poor (9 rows for 3,346 in `bench queue`), as a loop of index
    // lookups, one for each match. Without a search, each request they name is read by id and
    // checked against the filter (below).
    let mut marks = Vec::new();
    if searched {
        for notes in PartnerNotes::ALL {
            let column = format!("mark{}", marks.len());
            marks.push(format!(
                ", {} AS {column}",
                partner_notes_cond(&mut sql, f, notes)
            ));
            buckets.push(("partner_notes", notes.as_str(), column, true));
        }
        let alert = LendAlert::MessageError;
        let column = format!("mark{}", marks.len());
        marks.push(format!(", {} AS {column}", alert_cond(&mut sql, f, alert)));
        buckets.push(("alert", alert.as_str(), column, true));
    }
    let sums: Vec<String> = buckets
        .iter()
        .enumerate()
        .map(|(i, (_, _, cond, _))| format!("COUNT(*) FILTER (WHERE {cond}) AS s{i}"))
        .collect();
    let w = where_clause(&mut sql, f, plan, pg);
    const OPEN_VALUED: &str =
        "state, borrower_agency, format, assignee_id, service_level, supplied_format";
    let source = if searched {
        sql.push(&format!(
            "WITH m AS MATERIALIZED (SELECT {OPEN_VALUED}, created_at, updated_at, due_date, needed_by, renew_pending, slip_printed_at, request_id{} FROM lend_request{w}), ",
            marks.concat()
        ));
        "m".to_owned()
    } else {
        sql.push("WITH ");
        format!("lend_request{w}")
    };
    sql.push(&format!(
        "g AS MATERIALIZED (SELECT {OPEN_VALUED}, COUNT(*) AS n, {} FROM {source} GROUP BY {OPEN_VALUED}) ",
        sums.join(", ")
    ));
    let mut parts = Vec::new();
    for (facet, column) in [
        ("state", "state"),
        ("partner", "borrower_agency"),
        ("format", "format"),
        ("assignee", "assignee_id"),
        ("service_level", "service_level"),
        ("supplied_format", "supplied_format"),
    ] {
        parts.push(format!(
            "SELECT '{facet}' AS facet, {column} AS value, CAST(SUM(n) AS BIGINT) AS count FROM g GROUP BY {column}"
        ));
    }
    for (i, (facet, value, _, always)) in buckets.iter().enumerate() {
        parts.push(if *always {
            format!("SELECT '{facet}', '{value}', CAST(COALESCE(SUM(s{i}), 0) AS BIGINT) FROM g")
        } else {
            format!(
                "SELECT '{facet}', '{value}', CAST(SUM(s{i}) AS BIGINT) FROM g HAVING SUM(s{i}) > 0"
            )
        });
    }
    // Labels are few: with a search they are looked up among its matches; without one each
    // labelled request is read by id and checked against the filter, and so are the requests
    // partners' messages and parked messages name.
    if searched {
        let lib = sql.p(Arg::Text(f.library_id.clone()));
        parts.push(format!(
            "SELECT 'label', l.label, COUNT(*) FROM lend_label l WHERE l.library_id = {lib} AND l.request_id IN (SELECT request_id FROM m) GROUP BY l.label"
        ));
    } else {
        let lib = sql.p(Arg::Text(f.library_id.clone()));
        let w = where_driven(&mut sql, f, pg);
        parts.push(format!(
            "SELECT 'label', l.label, COUNT(*) FROM lend_label l WHERE l.library_id = {lib} AND EXISTS (SELECT 1 FROM lend_request{w} AND request_id = l.request_id) GROUP BY l.label"
        ));
        for notes in PartnerNotes::ALL {
            let w = where_driven(&mut sql, f, pg);
            let cond = partner_notes_where(&mut sql, f, notes);
            parts.push(format!(
                "SELECT 'partner_notes', '{}', COUNT(*) FROM lend_request{w}{cond}",
                notes.as_str()
            ));
        }
        let w = where_driven(&mut sql, f, pg);
        let cond = alert_where(&mut sql, f, LendAlert::MessageError);
        parts.push(format!(
            "SELECT 'alert', '{}', COUNT(*) FROM lend_request{w}{cond}",
            LendAlert::MessageError.as_str()
        ));
    }
    if page {
        let source = if searched {
            "m".to_owned()
        } else {
            format!("lend_request{}", where_clause(&mut sql, f, plan, pg))
        };
        let (lim, off) = (
            sql.p(Arg::Int(f.limit.clamp(1, 500))),
            sql.p(Arg::Int(f.offset.max(0))),
        );
        parts.push(format!(
            "SELECT '{PAGE_FACET}', request_id, 0 FROM (SELECT request_id FROM {source} ORDER BY updated_at DESC, request_id DESC LIMIT {lim} OFFSET {off}) pg"
        ));
    }
    sql.push(&parts.join(" UNION ALL "));
    sql
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

/// Below this many candidates a SQLite search reads its candidates, whatever the selection's
/// size (a few thousand rows by id are read in milliseconds).
const CANDIDATES_MIN: i64 = 1_000;

/// On PostgreSQL, up to this many candidates are read by id.
pub(crate) const CANDIDATES_MAX_PG: i64 = 5_000;

/// On PostgreSQL, up to this many candidates are handed to the page's query as values. As a
/// subquery the page searched the trigram index again, and a common trigram's list is long:
/// in `bench queue` at a million requests, active requests by title words took 160 ms p50
/// (203 ms p95) that way, against 87 ms (100 ms) with the ids given. A limit of 200 measured
/// the same within the noise.
const IDS_BY_VALUE_PG: usize = 1_000;

impl Store {
    /// How the search of `f` finds its rows. On SQLite the candidates are counted first (up
    /// to a limit): when they are more than a tenth of the rows the states select, comparing
    /// the selection in the queue index (under 1 µs a row at a million, no row read) is
    /// cheaper than reading each candidate's row by its id (about 8 µs).
    async fn text_plan(&self, f: &LendQueueFilter) -> Result<TextPlan> {
        let Some(t) = search_text(f) else {
            return Ok(TextPlan::Compare);
        };
        let pg = self.is_postgres();
        let exact = t.to_lowercase();
        let title = title_hits(&exact, pg);
        if title == TitleHits::None {
            return Ok(TextPlan::Compare);
        }
        if pg {
            return self.text_plan_pg(f, &exact, title).await;
        }
        let limit = {
            let mut selected = Sql::default();
            let kw = kept_where(&mut selected, f, f.states.as_deref());
            selected.push(&format!(
                "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM queue_count{kw} AND facet = 'format'"
            ));
            let selected: (i64,) = on_pool!(self.pool(), p => {
                let q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(selected.text.clone()));
                bind_all!(q, &selected.args).fetch_one(p).await?
            });
            (selected.0 / 10).max(CANDIDATES_MIN)
        };
        let mut probe = Sql::default();
        let c = candidates_sql(&mut probe, f, &exact, &title, " UNION ALL ");
        let lim = probe.p(Arg::Int(limit + 1));
        probe.push(&format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM ({c}) u LIMIT {lim}) n"
        ));
        let found: (i64,) = on_pool!(self.pool(), p => {
            let q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(probe.text.clone()));
            bind_all!(q, &probe.args).fetch_one(p).await?
        });
        Ok(if found.0 <= limit {
            TextPlan::Candidates(title)
        } else {
            TextPlan::Compare
        })
    }

    /// PostgreSQL's plan: its candidates are the matches themselves (trigram and prefix
    /// indexes), fetched up to a fixed bound whatever the selection's size. A few are given to
    /// the query as values, more are found again by it, and beyond `CANDIDATES_MAX_PG` the
    /// selection is compared.
    async fn text_plan_pg(
        &self,
        f: &LendQueueFilter,
        exact: &str,
        title: TitleHits,
    ) -> Result<TextPlan> {
        let max = self
            .inner
            .search_by_id_max
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut probe = Sql::default();
        let c = candidates_sql(&mut probe, f, exact, &title, " UNION ALL ");
        let lim = probe.p(Arg::Int(max + 1));
        probe.push(&format!("SELECT request_id FROM ({c}) u LIMIT {lim}"));
        let found: Vec<(String,)> = on_pool!(self.pool(), p => {
            let q = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(probe.text.clone()));
            bind_all!(q, &probe.args).fetch_all(p).await?
        });
        if found.len() as i64 > max {
            let mut names = Sql::default();
            let l = names.p(Arg::Text(format!("%{}%", like_escaped(exact))));
            names.push(&format!(
                "SELECT lower(library_id) FROM library WHERE lower(name_en) LIKE {l} ESCAPE '\\' OR lower(name_zh) LIKE {l} ESCAPE '\\' ORDER BY 1"
            ));
            let named: Vec<(String,)> = on_pool!(self.pool(), p => {
                let q = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(names.text.clone()));
                bind_all!(q, &names.args).fetch_all(p).await?
            });
            let named = named.into_iter().map(|r| r.0).collect();
            return Ok(TextPlan::Indexed { title, named });
        }
        let mut ids: Vec<String> = found.into_iter().map(|r| r.0).collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(if ids.len() <= IDS_BY_VALUE_PG {
            TextPlan::Ids(ids)
        } else {
            TextPlan::Candidates(title)
        })
    }
}

impl Store {
    /// PostgreSQL: read at most `n` candidates of a queue search by id, and compare the
    /// selection through its indexes beyond that (`None`: `CANDIDATES_MAX_PG`, the default).
    /// For tests, which take either way with a few rows; no setting exposes it.
    #[doc(hidden)]
    pub fn set_search_by_id_max(&self, n: Option<i64>) {
        let n = n.map_or(CANDIDATES_MAX_PG, |n| n.max(0));
        self.inner
            .search_by_id_max
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// A page of the lending queue, newest change first, and how many requests match.
    #[tracing::instrument(skip_all, fields(library = %f.library_id), err)]
    pub async fn lend_queue(&self, f: &LendQueueFilter) -> Result<(Vec<LendRequest>, i64)> {
        if f.by_states_only() {
            return self.lend_queue_by_states(f).await;
        }
        self.lend_queue_grouped(f).await
    }

    /// A page of the lending queue and its count, read from the requests for any filter (the
    /// general way; also what the per-state reading is checked against).
    pub async fn lend_queue_grouped(&self, f: &LendQueueFilter) -> Result<(Vec<LendRequest>, i64)> {
        let plan = self.text_plan(f).await?;
        let pg = self.is_postgres();
        let mut list = Sql::default();
        let w = where_clause(&mut list, f, &plan, pg);
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
        let w = where_clause(&mut count, f, &plan, pg);
        count.push(&format!("SELECT COUNT(*) FROM lend_request{w}"));
        // The page and its count read one snapshot, so they agree while requests change.
        let settings = self.grouping_settings();
        let (rows, total) = in_snapshot!(self, tx => {
            if let Some(s) = settings {
                sqlx::query(s).execute(&mut *tx).await?;
            }
            let q = sqlx::query_as::<_, LendRequest>(sqlx::AssertSqlSafe(list.text.clone()));
            let rows = bind_all!(q, &list.args).fetch_all(&mut *tx).await?;
            let q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(count.text.clone()));
            let total = bind_all!(q, &count.args).fetch_one(&mut *tx).await?.0;
            (rows, total)
        });
        Ok((rows, total))
    }

    /// A page of a selection made by states alone and its total, from the kept counts and the
    /// per-state index.
    async fn lend_queue_by_states(&self, f: &LendQueueFilter) -> Result<(Vec<LendRequest>, i64)> {
        let src = self.counts_source();
        let mut count = Sql::default();
        let kw = kept_where(&mut count, f, f.states.as_deref());
        count.push(&format!(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM {src}{kw} AND facet = 'format'"
        ));
        let mut present = Sql::default();
        let kw = kept_where(&mut present, f, None);
        present.push(&format!(
            "SELECT state FROM {src}{kw} AND facet = 'format' GROUP BY state HAVING SUM(n) > 0"
        ));
        let (rows, total) = in_snapshot!(self, tx => {
            // Every state of the library that has requests, when the filter names none.
            let states = match &f.states {
                Some(s) => s.clone(),
                None => {
                    let q = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(present.text.clone()));
                    bind_all!(q, &present.args)
                        .fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .map(|r| r.0)
                        .collect()
                }
            };
            let list = match page_by_state_sql(f, &states) {
                Some(list) => list,
                None => {
                    let mut list = Sql::default();
                    // States alone: no search.
                    let w = where_clause(&mut list, f, &TextPlan::Compare, self.is_postgres());
                    let (lim, off) = (
                        list.p(Arg::Int(f.limit.clamp(1, 500))),
                        list.p(Arg::Int(f.offset.max(0))),
                    );
                    list.push(&format!(
                        "SELECT {LEND_COLUMNS} FROM lend_request WHERE request_id IN
                           (SELECT request_id FROM lend_request{w} ORDER BY updated_at DESC, request_id DESC LIMIT {lim} OFFSET {off})
                         ORDER BY updated_at DESC, request_id DESC"
                    ));
                    list
                }
            };
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
        if f.by_states_only() && self.kept_days_fit(f).await? {
            let sql = kept_facets_sql(f, self.is_postgres());
            let rows = on_pool!(self.pool(), p => {
                let q = sqlx::query_as::<_, FacetCount>(sqlx::AssertSqlSafe(sql.text.clone()));
                bind_all!(q, &sql.args).fetch_all(p).await?
            });
            return Ok(rows);
        }
        self.lend_facets_grouped(f).await
    }

    /// Whether the kept counts' days (the library's, see migration 0038) are the days the
    /// filter counts its "created" and "modified" buckets in: a filter set to another time
    /// than its library's is grouped out of the requests instead.
    async fn kept_days_fit(&self, f: &LendQueueFilter) -> Result<bool> {
        match self.library(&f.library_id).await {
            Ok(lib) => Ok(lib.offset() == f.utc_offset),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The facet counts grouped out of the requests, for any filter (the general way; also
    /// what the kept counts are checked against).
    pub async fn lend_facets_grouped(&self, f: &LendQueueFilter) -> Result<Vec<FacetCount>> {
        let plan = self.text_plan(f).await?;
        let sql = grouped_facets_sql(f, &plan, self.is_postgres(), false);
        let rows = on_pool!(self.pool(), p => {
            let q = sqlx::query_as::<_, FacetCount>(sqlx::AssertSqlSafe(sql.text.clone()));
            bind_all!(q, &sql.args).fetch_all(p).await?
        });
        Ok(rows)
    }

    /// What the queue page shows: a page of the lending queue (newest change first), how many
    /// requests match, and the facet counts of the selection. The search is planned once, and
    /// the selection is read once for its facets, its total and its page's ids together: the
    /// total is the sum of the state facet (every request has one state).
    #[tracing::instrument(skip_all, fields(library = %f.library_id), err)]
    pub async fn lend_queue_page(
        &self,
        f: &LendQueueFilter,
    ) -> Result<(Vec<LendRequest>, i64, Vec<FacetCount>)> {
        if f.by_states_only() {
            let (rows, total) = self.lend_queue_by_states(f).await?;
            let facets = self.lend_facets(f).await?;
            return Ok((rows, total, facets));
        }
        let plan = self.text_plan(f).await?;
        let sql = grouped_facets_sql(f, &plan, self.is_postgres(), true);
        let settings = self.grouping_settings();
        let (page, facets) = in_snapshot!(self, tx => {
            if let Some(s) = settings {
                sqlx::query(s).execute(&mut *tx).await?;
            }
            let q = sqlx::query_as::<_, FacetCount>(sqlx::AssertSqlSafe(sql.text.clone()));
            let all = bind_all!(q, &sql.args).fetch_all(&mut *tx).await?;
            let (page, facets): (Vec<FacetCount>, Vec<FacetCount>) =
                all.into_iter().partition(|c| c.facet == PAGE_FACET);
            let ids: Vec<String> = page.into_iter().filter_map(|c| c.value).collect();
            let rows = if ids.is_empty() {
                Vec::new()
            } else {
                let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
                let list = format!(
                    "SELECT {LEND_COLUMNS} FROM lend_request WHERE request_id IN ({}) ORDER BY updated_at DESC, request_id DESC",
                    marks.join(", ")
                );
                let mut q = sqlx::query_as::<_, LendRequest>(sqlx::AssertSqlSafe(list));
                for id in &ids {
                    q = q.bind(id.clone());
                }
                q.fetch_all(&mut *tx).await?
            };
            (rows, facets)
        });
        let total = facets
            .iter()
            .filter(|c| c.facet == "state")
            .map(|c| c.count)
            .sum();
        Ok((page, total, facets))
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
                // The queue count notes too: a fold of a seed's million leaves their pages
                // empty, and every queue page reads them until a vacuum gives the pages back.
                for table in [
                    "borrow_request",
                    "request_event",
                    "request_fact",
                    "lend_count_change",
                    "queue_count_delta",
                    "queue_count",
                ] {
                    sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                        .execute(p)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// PostgreSQL: the key of the advisory lock that lets one transaction at a time write the kept
/// counts (a fold, or a library's recount of its days).
const COUNTS_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended('queue_count', 0))";

/// Whether any write noted a count change not yet folded.
const ANY_NOTED: &str =
    "SELECT EXISTS (SELECT 1 FROM lend_count_change) OR EXISTS (SELECT 1 FROM queue_count_delta)";

/// PostgreSQL: the lending requests' noted changes added to the counts, in one statement, so
/// that what it deletes is what it adds: rows noted by a transaction that commits meanwhile
/// are not seen, and stay for the next fold.
/// Returns how many notes it folded (the insert runs to completion whether or not it is read).
const FOLD_LEND_CHANGES: &str = "WITH d AS (DELETE FROM lend_count_change RETURNING *),
    i AS (INSERT INTO queue_count (library_id, side, state, facet, value, n)
    SELECT d.library_id, 'lend', d.state, f.facet, f.value, SUM(d.n)
      FROM d CROSS JOIN LATERAL lend_count_facets(ROW(d.*)::lend_count_change) f
     GROUP BY d.library_id, d.state, f.facet, f.value HAVING SUM(d.n) <> 0
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = queue_count.n + excluded.n)
    SELECT COUNT(*) FROM d";

/// PostgreSQL: the borrowing requests' noted changes added to the counts (as above).
const FOLD_DELTAS: &str = "WITH d AS (DELETE FROM queue_count_delta RETURNING *),
    i AS (INSERT INTO queue_count (library_id, side, state, facet, value, n)
    SELECT library_id, side, state, facet, value, SUM(n) FROM d
     GROUP BY library_id, side, state, facet, value HAVING SUM(n) <> 0
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = queue_count.n + excluded.n)
    SELECT COUNT(*) FROM d";

impl Tx<'_> {
    /// PostgreSQL: take the lock of the kept counts (see `COUNTS_LOCK`) until this
    /// transaction ends. Nothing on SQLite, whose one writer already serialises them.
    pub(crate) async fn lock_counts(&mut self) -> Result<()> {
        if let crate::Conn::Postgres(c) = &mut self.conn {
            sqlx::query(COUNTS_LOCK).execute(&mut **c).await?;
        }
        Ok(())
    }
}

impl Store {
    /// PostgreSQL: add the queue count changes that writes noted (migration 0043) to the
    /// counts, and empty the notes; returns how many notes it folded. Readers see the same
    /// counts before and after (they add the notes themselves); this keeps the notes few, so
    /// that reading them stays cheap. The job runs it every second; nothing to do on SQLite,
    /// whose writer adds them at each commit.
    pub async fn fold_queue_counts(&self) -> Result<u64> {
        if !self.is_postgres() {
            return Ok(0);
        }
        // Nothing noted (an idle server): the job only reads, and takes no lock.
        let noted: (bool,) = on_pool!(self.pool(), p => {
            sqlx::query_as(ANY_NOTED).fetch_one(p).await?
        });
        if !noted.0 {
            return Ok(0);
        }
        self.write(|tx| {
            Box::pin(async move {
                tx.lock_counts().await?;
                let mut folded = 0;
                if let crate::Conn::Postgres(c) = &mut tx.conn {
                    for sql in [FOLD_LEND_CHANGES, FOLD_DELTAS] {
                        let n: (i64,) = sqlx::query_as(sql).fetch_one(&mut **c).await?;
                        folded += u64::try_from(n.0).unwrap_or(0);
                    }
                }
                Ok(folded)
            })
        })
        .await
    }

    /// PostgreSQL: give back the pages of the queue count notes that folds emptied. Every
    /// queue page reads the notes not yet folded, so a notes table left full of empty pages (a
    /// fold of a large import, or a server whose autovacuum is off) slows every page: 120 ms
    /// against 17-35 ms for the active queue of `bench queue` at a million, its notes folded
    /// and not vacuumed. Nothing to do on SQLite, which keeps no notes between commits.
    pub async fn vacuum_queue_notes(&self) -> Result<()> {
        if let crate::Pool::Postgres(p) = self.pool() {
            sqlx::query("VACUUM lend_count_change, queue_count_delta")
                .execute(p)
                .await?;
        }
        Ok(())
    }
}

/// One kept count of the staff queues: side (`lend`, `borrow`), state, facet, value ('' for
/// none) and how many requests.
pub type KeptCount = (String, String, String, String, i64);

impl Store {
    /// The kept counts of `library_id` that are not zero, in key order.
    pub async fn queue_counts(&self, library_id: &str) -> Result<Vec<KeptCount>> {
        let sql = format!(
            "SELECT side, state, facet, value, CAST(SUM(n) AS BIGINT) FROM {} WHERE library_id = $1
             GROUP BY side, state, facet, value HAVING SUM(n) <> 0 ORDER BY side, state, facet, value",
            self.counts_source()
        );
        let rows: Vec<KeptCount> = on_pool!(self.pool(), p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(library_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    /// The same counts grouped out of the requests themselves, to check the kept ones against.
    pub async fn queue_recount(&self, library_id: &str) -> Result<Vec<KeptCount>> {
        let pg = matches!(self.pool(), crate::Pool::Postgres(_));
        // The library's day of a time (migration 0038).
        let offset = "(SELECT utc_offset_minutes FROM library WHERE library_id = $1)";
        let day = |c: &str| {
            if pg {
                format!(
                    "to_char(({c} AT TIME ZONE 'UTC') + make_interval(mins => CAST({offset} AS INTEGER)), 'YYYY-MM-DD')"
                )
            } else {
                format!("COALESCE(date({c}, {offset} || ' minutes'), substr({c}, 1, 10))")
            }
        };
        let date = |c: &str| {
            if pg {
                format!("COALESCE(to_char({c}, 'YYYY-MM-DD'), '')")
            } else {
                format!("COALESCE({c}, '')")
            }
        };
        let lend = [
            ("partner", "borrower_agency".to_owned()),
            ("format", "format".to_owned()),
            ("assignee", "COALESCE(assignee_id, '')".to_owned()),
            ("created", day("created_at")),
            ("modified", day("updated_at")),
            ("due", date("due_date")),
            ("needed_by", date("needed_by")),
            (
                "renew_pending",
                "CASE WHEN renew_pending THEN '1' ELSE '0' END".to_owned(),
            ),
            ("service_level", "service_level".to_owned()),
            (
                "supplied_format",
                "COALESCE(supplied_format, '')".to_owned(),
            ),
            (
                "printed",
                "CASE WHEN slip_printed_at IS NULL THEN '0' ELSE '1' END".to_owned(),
            ),
        ];
        let borrow = [
            ("format", "format".to_owned()),
            ("assignee", "COALESCE(assignee_id, '')".to_owned()),
        ];
        let mut parts = Vec::new();
        for (side, table, facets) in [
            ("lend", "lend_request", &lend[..]),
            ("borrow", "borrow_request", &borrow[..]),
        ] {
            for (facet, expr) in facets {
                parts.push(format!(
                    "SELECT '{side}' AS side, state, '{facet}' AS facet, {expr} AS value, COUNT(*) AS n FROM {table} WHERE library_id = $1 GROUP BY state, {expr}"
                ));
            }
        }
        let sql = format!(
            "SELECT side, state, facet, value, n FROM ({}) c ORDER BY side, state, facet, value",
            parts.join(" UNION ALL ")
        );
        let rows: Vec<KeptCount> = on_pool!(self.pool(), p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(library_id)
                .fetch_all(p)
                .await?
        });
        Ok(rows)
    }
}

/// Most labels one lending request may carry.
pub const MAX_LABELS: i64 = 20;

impl Store {
    /// Put `label` on a lending request of `library_id` (again: no change). Returns whether the
    /// request is there and how many labels it now has, or `None` when it has `MAX_LABELS`.
    pub async fn add_lend_label(
        &self,
        library_id: &str,
        request_id: &str,
        label: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<String>>> {
        let (library_id, request_id, label, user_id) = (
            library_id.to_owned(),
            request_id.to_owned(),
            label.to_owned(),
            user_id.to_owned(),
        );
        self.write(move |tx| {
            Box::pin(async move {
                let labels = tx.lend_labels_in_tx(&request_id).await?;
                if labels.contains(&label) {
                    return Ok(Some(labels));
                }
                if labels.len() as i64 >= MAX_LABELS {
                    return Ok(None);
                }
                on_tx!(tx, c => {
                    crate::sql::query(
                        "INSERT INTO lend_label (request_id, library_id, label, added_by, added_at)
                         SELECT request_id, library_id, $3, $4, $5 FROM lend_request WHERE request_id = $1 AND library_id = $2
                         ON CONFLICT (request_id, label) DO NOTHING",
                    )
                    .bind(&request_id)
                    .bind(&library_id)
                    .bind(&label)
                    .bind(&user_id)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                });
                Ok::<_, StoreError>(Some(tx.lend_labels_in_tx(&request_id).await?))
            })
        })
        .await
    }

    /// Take `label` off a lending request of `library_id`; returns whether it was there.
    pub async fn remove_lend_label(
        &self,
        library_id: &str,
        request_id: &str,
        label: &str,
    ) -> Result<bool> {
        let (library_id, request_id, label) = (
            library_id.to_owned(),
            request_id.to_owned(),
            label.to_owned(),
        );
        self.write(move |tx| {
            Box::pin(async move {
                let n = on_tx!(tx, c => {
                    crate::sql::query(
                        "DELETE FROM lend_label WHERE request_id = $1 AND library_id = $2 AND label = $3",
                    )
                    .bind(&request_id)
                    .bind(&library_id)
                    .bind(&label)
                    .execute(&mut *c)
                    .await?
                    .rows_affected()
                });
                Ok::<_, StoreError>(n > 0)
            })
        })
        .await
    }

    /// The labels of each of `request_ids` (those with none are left out), in label order.
    pub async fn lend_labels(&self, request_ids: &[String]) -> Result<Vec<(String, String)>> {
        if request_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=request_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT request_id, label FROM lend_label WHERE request_id IN ({}) ORDER BY request_id, label",
            marks.join(", ")
        );
        let rows: Vec<(String, String)> = on_pool!(self.pool(), p => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for id in request_ids {
                q = q.bind(id.clone());
            }
            q.fetch_all(p).await?
        });
        Ok(rows)
    }

    /// The labels in use in `library_id`, most used first: for choosing one on the page.
    pub async fn lend_label_names(&self, library_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String, i64)> = on_pool!(self.pool(), p => {
            sqlx::query_as(
                "SELECT label, COUNT(*) FROM lend_label WHERE library_id = $1 GROUP BY label ORDER BY 2 DESC, 1 LIMIT 100",
            )
            .bind(library_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Record that pick slips of `request_ids` (of `library_id`) were marked printed at `now`
    /// by `actor_id` (acting as `actor`). Not a change of the request (no version, no state):
    /// the queue's "printed" facet reads it, and each request's history gets a
    /// `slip_printed` event, in the same transaction.
    pub async fn mark_slips_printed(
        &self,
        library_id: &str,
        request_ids: &[String],
        actor_id: Option<&str>,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        if request_ids.is_empty() {
            return Ok(());
        }
        let (library_id, actor_id, actor) = (
            library_id.to_owned(),
            actor_id.map(str::to_owned),
            actor.to_owned(),
        );
        let ids = request_ids.to_vec();
        let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
        let update = format!(
            "UPDATE lend_request SET slip_printed_at = $2 WHERE library_id = $1 AND request_id IN ({})",
            marks.join(", ")
        );
        let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 5)).collect();
        let events = format!(
            "INSERT INTO request_event (library_id, side, request_id, at, actor_id, actor, action, from_state, to_state)
             SELECT library_id, 'lend', request_id, $2, $3, $4, 'slip_printed', state, state FROM lend_request
             WHERE library_id = $1 AND request_id IN ({})
             ORDER BY request_id",
            marks.join(", ")
        );
        self.write(move |tx| {
            Box::pin(async move {
                on_tx!(tx, c => {
                    let mut q = crate::sql::query(sqlx::AssertSqlSafe(update))
                        .bind(&library_id)
                        .bind(now);
                    for id in &ids {
                        q = q.bind(id);
                    }
                    q.execute(&mut *c).await?;
                    let mut q = crate::sql::query(sqlx::AssertSqlSafe(events))
                        .bind(&library_id)
                        .bind(now)
                        .bind(&actor_id)
                        .bind(&actor);
                    for id in &ids {
                        q = q.bind(id);
                    }
                    q.execute(&mut *c).await?;
                });
                Ok::<_, StoreError>(())
            })
        })
        .await
    }
}

impl crate::Tx<'_> {
    async fn lend_labels_in_tx(&mut self, request_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_tx!(self, c => {
            crate::sql::query_as::<(String,)>(
                "SELECT label FROM lend_label WHERE request_id = $1 ORDER BY label",
            )
            .bind(request_id)
            .fetch_all(&mut *c)
            .await?
        });
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::supplier::LendState;

    #[test]
    fn the_partial_indexes_hold_every_open_state_and_no_other() {
        let open: Vec<&str> = LendState::ALL
            .iter()
            .filter(|s| !s.is_closed())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(
            OPEN_STATES_INDEXED.to_vec(),
            open,
            "migration 0047's predicate against the machine"
        );
        let predicate = format!(
            "WHERE state IN ({})",
            OPEN_STATES_INDEXED.map(|s| format!("'{s}'")).join(", ")
        );
        let migration = include_str!("../migrations/postgres/0047_open_title_indexes.sql");
        assert_eq!(
            migration.matches(&predicate).count(),
            2,
            "both partial indexes have the predicate the queries imply"
        );
    }

    #[test]
    fn a_title_search_names_its_states_as_literals_only_when_all_are_open() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut f = LendQueueFilter::new("lib", now, AlertStates::default());
        let mut sql = Sql::default();
        assert_eq!(title_states(&mut sql, &f), "", "every state");
        f.states = Some(vec!["shipped".to_owned(), "overdue".to_owned()]);
        assert_eq!(
            title_states(&mut sql, &f),
            " AND state IN ('shipped', 'overdue')"
        );
        assert!(sql.args.is_empty());
        f.states = Some(vec!["shipped".to_owned(), "completed".to_owned()]);
        assert_eq!(
            title_states(&mut sql, &f),
            " AND state IN ($1, $2)",
            "a closed state among them"
        );
        f.states = Some(vec!["shipped'); DROP TABLE x; --".to_owned()]);
        assert_eq!(title_states(&mut sql, &f), " AND state IN ($3)");
        f.states = Some(Vec::new());
        assert_eq!(title_states(&mut sql, &f), " AND 1 = 0", "no state at all");
    }
}
