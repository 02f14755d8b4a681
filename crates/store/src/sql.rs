//! The query layer of write transactions: one way of writing a statement, its arguments and
//! the rows it returns, run by whichever engine the transaction is on.
//!
//! On PostgreSQL a statement goes through sqlx as before. On SQLite the writer thread owns a
//! plain SQLite connection and runs each statement right there, synchronously: with sqlx every
//! statement was a round trip to the connection's own worker thread (two thread switches), and
//! a busy writer spent most of its time waiting for those switches rather than in SQLite.
//!
//! Values are stored as sqlx stores them on SQLite (dates as `YYYY-MM-DD`, JSON as text,
//! booleans as 0 / 1), so the read pool, which still uses sqlx, reads what the writer wrote.
//! Times are the exception: sqlx writes RFC 3339 with a fraction of a second only when it is
//! not zero, and SQLite compares times as text, so `…T00:00:00Z` sorted after
//! `…T00:00:00.25Z`. Every time is written as `lite_time` text instead (UTC, always six
//! digits of fraction), whose text order is time order; the read pool binds times through
//! `TimeText` to compare them the same way.

use std::marker::PhantomData;

use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, Sqlite};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::{Conn, Result, StoreError};

/// The SQL text of a statement: a literal, or text built from a closed list of names (never
/// from data; the caller marks it with `sqlx::AssertSqlSafe`).
pub(crate) enum Sql {
    Static(&'static str),
    Built(String),
}

impl Sql {
    fn as_str(&self) -> &str {
        match self {
            Sql::Static(s) => s,
            Sql::Built(s) => s,
        }
    }
}

impl From<&'static str> for Sql {
    fn from(s: &'static str) -> Self {
        Sql::Static(s)
    }
}

impl From<sqlx::AssertSqlSafe<String>> for Sql {
    fn from(s: sqlx::AssertSqlSafe<String>) -> Self {
        Sql::Built(s.0)
    }
}

impl From<sqlx::AssertSqlSafe<&str>> for Sql {
    fn from(s: sqlx::AssertSqlSafe<&str>) -> Self {
        Sql::Built(s.0.to_owned())
    }
}

/// The type of a NULL argument, which PostgreSQL needs to know.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Int,
    Real,
    Bool,
    Text,
    Time,
    Date,
    Json,
    Blob,
}

/// One argument of a statement.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Null(Kind),
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(String),
    Time(OffsetDateTime),
    Date(Date),
    /// Serialised JSON.
    Json(String),
    Blob(Vec<u8>),
    /// A value that could not be encoded (JSON that does not serialise): the statement is not
    /// run and says why.
    Unencodable(String),
}

/// A value that can be an argument. Implemented for the types the store binds, for `Option`
/// of them (NULL) and for references to them.
pub(crate) trait ToArg {
    fn to_arg(&self) -> Arg;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg {
        (**self).to_arg()
    }
}

/// A value type with a known kind, so `None` of it binds a typed NULL.
pub(crate) trait Typed {
    const KIND: Kind;
}

impl<T: ToArg + Typed> ToArg for Option<T> {
    fn to_arg(&self) -> Arg {
        match self {
            Some(v) => v.to_arg(),
            None => Arg::Null(T::KIND),
        }
    }
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Arg {
                Arg::Int(i64::from(*self))
            }
        }
        impl Typed for $t {
            const KIND: Kind = Kind::Int;
        }
    )*};
}
int_arg!(i64, i32, i16, u32, u16, u8);

impl ToArg for f64 {
    fn to_arg(&self) -> Arg {
        Arg::Real(*self)
    }
}
impl Typed for f64 {
    const KIND: Kind = Kind::Real;
}

impl ToArg for bool {
    fn to_arg(&self) -> Arg {
        Arg::Bool(*self)
    }
}
impl Typed for bool {
    const KIND: Kind = Kind::Bool;
}

impl ToArg for str {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.to_owned())
    }
}
impl ToArg for String {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.clone())
    }
}
impl Typed for String {
    const KIND: Kind = Kind::Text;
}
impl Typed for str {
    const KIND: Kind = Kind::Text;
}
impl<T: Typed + ?Sized> Typed for &T {
    const KIND: Kind = T::KIND;
}

impl ToArg for OffsetDateTime {
    fn to_arg(&self) -> Arg {
        Arg::Time(*self)
    }
}
impl Typed for OffsetDateTime {
    const KIND: Kind = Kind::Time;
}

impl ToArg for Date {
    fn to_arg(&self) -> Arg {
        Arg::Date(*self)
    }
}
impl Typed for Date {
    const KIND: Kind = Kind::Date;
}

impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Arg {
        Arg::Blob(self.clone())
    }
}
impl ToArg for [u8] {
    fn to_arg(&self) -> Arg {
        Arg::Blob(self.to_vec())
    }
}
impl Typed for Vec<u8> {
    const KIND: Kind = Kind::Blob;
}

impl<T: serde::Serialize> ToArg for Json<T> {
    fn to_arg(&self) -> Arg {
        match serde_json::to_string(&self.0) {
            Ok(s) => Arg::Json(s),
            Err(e) => Arg::Unencodable(e.to_string()),
        }
    }
}
impl<T> Typed for Json<T> {
    const KIND: Kind = Kind::Json;
}

/// JSON text bound as PostgreSQL `jsonb` (as sqlx binds `Json<T>`: version byte, then text).
struct PgJson(String);

impl sqlx::Type<Postgres> for PgJson {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_name("jsonb")
    }
}

impl sqlx::Encode<'_, Postgres> for PgJson {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        buf.push(1);
        buf.extend_from_slice(self.0.as_bytes());
        Ok(sqlx::encode::IsNull::No)
    }
}

fn bind_pg<'q>(
    q: sqlx::query::Query<'q, Postgres, PgArguments>,
    a: Arg,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    match a {
        Arg::Null(Kind::Int) => q.bind(None::<i64>),
        Arg::Null(Kind::Real) => q.bind(None::<f64>),
        Arg::Null(Kind::Bool) => q.bind(None::<bool>),
        Arg::Null(Kind::Text) => q.bind(None::<String>),
        Arg::Null(Kind::Time) => q.bind(None::<OffsetDateTime>),
        Arg::Null(Kind::Date) => q.bind(None::<Date>),
        Arg::Null(Kind::Json) => q.bind(None::<PgJson>),
        Arg::Null(Kind::Blob) => q.bind(None::<Vec<u8>>),
        Arg::Int(v) => q.bind(v),
        Arg::Real(v) => q.bind(v),
        Arg::Bool(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::Time(v) => q.bind(v),
        Arg::Date(v) => q.bind(v),
        Arg::Json(v) => q.bind(PgJson(v)),
        Arg::Blob(v) => q.bind(v),
        // Refused before any statement runs (`Query::encodable`).
        Arg::Unencodable(_) => q.bind(None::<String>),
    }
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let text = |s: String| ToSqlOutput::Owned(rusqlite::types::Value::Text(s));
        Ok(match self {
            Arg::Null(_) => ToSqlOutput::Borrowed(ValueRef::Null),
            Arg::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Arg::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Arg::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v))),
            Arg::Text(v) | Arg::Json(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Arg::Time(v) => {
                text(lite_time(*v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?)
            }
            Arg::Date(v) => text(
                v.format(format_description!("[year]-[month]-[day]"))
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
            ),
            Arg::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Arg::Unencodable(e) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(e.clone().into()));
            }
        })
    }
}

/// A time as SQLite stores it: UTC, to the microsecond, the fraction always written, e.g.
/// `2026-11-30T08:00:00.250000Z`. Every stored time has this one width, so comparing two as
/// text (what SQLite does with `<`, `ORDER BY`, `MIN`) compares them as times, and the first
/// ten characters are the UTC date (the queue counts' triggers group by them). PostgreSQL
/// keeps microseconds too, and sqlx cuts finer fractions off there as this does here, so both
/// engines hold the same instant. Migration 0033 rewrote older values into this form.
///
/// Refuses a time whose UTC year is outside 0000–9999 (RFC 3339 cannot write it either).
pub(crate) fn lite_time(t: OffsetDateTime) -> std::result::Result<String, String> {
    let utc = t
        .checked_to_offset(UtcOffset::UTC)
        .filter(|u| (0..=9999).contains(&u.year()))
        .ok_or_else(|| format!("the time {t} cannot be stored: its year is out of range"))?;
    let (year, month, day) = utc.to_calendar_date();
    let (hour, minute, second, micro) = utc.to_hms_micro();
    // Digits written in place: every bound time goes through here, and this is about twice
    // as fast as `write!` with padding (55 ns against 130 ns; `time`'s RFC 3339 takes 30).
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for b in out[at..at + width].iter_mut().rev() {
            *b = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year.unsigned_abs());
    put(5, 2, u32::from(u8::from(month)));
    put(8, 2, u32::from(day));
    put(11, 2, u32::from(hour));
    put(14, 2, u32::from(minute));
    put(17, 2, u32::from(second));
    put(20, 6, micro);
    String::from_utf8(out.to_vec()).map_err(|e| e.to_string())
}

/// A time bound to a statement run through sqlx (the read pool): on SQLite the `lite_time`
/// text, so that it compares with stored times as they compare in time (sqlx's own encoding
/// of an `OffsetDateTime` drops a zero fraction and keeps the offset); on PostgreSQL a
/// `timestamptz` as before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeText(pub(crate) OffsetDateTime);

impl sqlx::Type<Sqlite> for TimeText {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<Sqlite>>::type_info()
    }
}

impl sqlx::Encode<'_, Sqlite> for TimeText {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as sqlx::Database>::ArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as sqlx::Encode<'_, Sqlite>>::encode(lite_time(self.0)?, buf)
    }
}

impl sqlx::Type<Postgres> for TimeText {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <OffsetDateTime as sqlx::Type<Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, Postgres> for TimeText {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <OffsetDateTime as sqlx::Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

/// A statement with its arguments; `R` is the row type it returns.
pub(crate) struct Query<R = ()> {
    sql: Sql,
    args: Vec<Arg>,
    row: PhantomData<fn() -> R>,
}

/// A statement that returns no rows of interest.
pub(crate) fn query(sql: impl Into<Sql>) -> Query<()> {
    Query {
        sql: sql.into(),
        args: Vec::new(),
        row: PhantomData,
    }
}

/// A statement whose rows are read as `R` (a tuple, or a row struct).
pub(crate) fn query_as<R>(sql: impl Into<Sql>) -> Query<R> {
    Query {
        sql: sql.into(),
        args: Vec::new(),
        row: PhantomData,
    }
}

/// What a statement did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    rows: u64,
}

impl Done {
    pub(crate) fn rows_affected(&self) -> u64 {
        self.rows
    }
}

impl<R> Query<R> {
    pub(crate) fn bind(mut self, v: impl ToArg) -> Self {
        self.args.push(v.to_arg());
        self
    }

    /// An argument that could not be encoded stops the statement with the reason.
    fn encodable(&self) -> Result<()> {
        match self.args.iter().find_map(|a| match a {
            Arg::Unencodable(e) => Some(e),
            _ => None,
        }) {
            Some(e) => Err(StoreError::Corrupt(format!(
                "a value could not be stored: {e}"
            ))),
            None => Ok(()),
        }
    }

    fn pg(self) -> sqlx::query::Query<'static, Postgres, PgArguments> {
        let q = match self.sql {
            Sql::Static(s) => sqlx::query(s),
            Sql::Built(s) => sqlx::query(sqlx::AssertSqlSafe(s)),
        };
        self.args.into_iter().fold(q, bind_pg)
    }

    pub(crate) async fn execute(self, conn: &mut Conn<'_>) -> Result<Done> {
        self.encodable()?;
        match conn {
            Conn::Lite(c) => {
                lite_run(c, &self.sql, &self.args, |_| Ok(())).map(|(_, rows)| Done { rows })
            }
            Conn::Postgres(c) => {
                let done = self.pg().execute(&mut **c).await?;
                Ok(Done {
                    rows: done.rows_affected(),
                })
            }
        }
    }
}

impl Query<()> {
    /// Run an INSERT of one row into a table whose key `key` is its rowid on SQLite (an
    /// `INTEGER PRIMARY KEY`) and return the new key. The statement carries no RETURNING:
    /// PostgreSQL gets `RETURNING key` added, while SQLite reads the connection's last
    /// inserted rowid (not changed by what triggers insert). On SQLite a RETURNING clause
    /// makes the statement gather its rows in a temporary table and keep a statement journal,
    /// a copy of every page it changes. In `bench lifecycle` (SQL profile, same sitting) an
    /// event insert took 12.5 us this way against 20.5 us, an outbox insert 8.4 us against
    /// 14.9 us.
    pub(crate) async fn insert_id(self, conn: &mut Conn<'_>, key: &str) -> Result<i64> {
        self.encodable()?;
        if let Conn::Lite(c) = conn {
            lite_run(c, &self.sql, &self.args, |_| Ok(()))?;
            return Ok(c.last_insert_rowid());
        }
        let returning = Query::<(i64,)> {
            sql: Sql::Built(format!("{} RETURNING {key}", self.sql.as_str())),
            args: self.args,
            row: PhantomData,
        };
        Ok(returning.fetch_one(conn).await?.0)
    }
}

impl<R: Row> Query<R> {
    pub(crate) async fn fetch_all(self, conn: &mut Conn<'_>) -> Result<Vec<R>> {
        self.encodable()?;
        match conn {
            Conn::Lite(c) => lite_run(c, &self.sql, &self.args, R::from_lite).map(|(rows, _)| rows),
            Conn::Postgres(c) => {
                let rows = self.pg().fetch_all(&mut **c).await?;
                rows.iter()
                    .map(|r| R::from_pg(r).map_err(StoreError::from))
                    .collect()
            }
        }
    }

    pub(crate) async fn fetch_optional(self, conn: &mut Conn<'_>) -> Result<Option<R>> {
        self.encodable()?;
        match conn {
            Conn::Lite(c) => lite_first(c, &self.sql, &self.args),
            Conn::Postgres(c) => {
                let row = self.pg().fetch_optional(&mut **c).await?;
                row.as_ref()
                    .map(|r| R::from_pg(r).map_err(StoreError::from))
                    .transpose()
            }
        }
    }

    pub(crate) async fn fetch_one(self, conn: &mut Conn<'_>) -> Result<R> {
        self.fetch_optional(conn).await?.ok_or(StoreError::NotFound)
    }

    /// A point read outside a write transaction: on SQLite on a plain read connection, in
    /// the calling task (see `reader`); on PostgreSQL through the pool.
    pub(crate) async fn read_optional(self, store: &crate::Store) -> Result<Option<R>> {
        self.encodable()?;
        match (store.readers(), store.pool()) {
            (Some(readers), _) => readers.with(|c| lite_first(c, &self.sql, &self.args)),
            (None, crate::Pool::Postgres(p)) => {
                let row = self.pg().fetch_optional(p).await?;
                row.as_ref()
                    .map(|r| R::from_pg(r).map_err(StoreError::from))
                    .transpose()
            }
            (None, crate::Pool::Sqlite(_)) => Err(StoreError::Closed),
        }
    }

    /// All rows of a read outside a write transaction, on SQLite on one of the blocking
    /// threads (a read of thousands of rows does not hold up the runtime's threads, which
    /// serve every request); on PostgreSQL through the pool like `read_all`.
    pub(crate) async fn read_all_blocking(self, store: &crate::Store) -> Result<Vec<R>>
    where
        R: Send + 'static,
    {
        if store.readers().is_none() {
            return self.read_all(store).await;
        }
        self.encodable()?;
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            store.readers().ok_or(StoreError::Closed)?.with(|c| {
                lite_run_inner(c, &self.sql, &self.args, R::from_lite).map(|(rows, _)| rows)
            })
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("a read on a blocking thread: {e}")))?
    }

    /// All rows of a short read outside a write transaction (see `read_optional`).
    pub(crate) async fn read_all(self, store: &crate::Store) -> Result<Vec<R>> {
        self.encodable()?;
        match (store.readers(), store.pool()) {
            (Some(readers), _) => readers.with(|c| {
                lite_run_inner(c, &self.sql, &self.args, R::from_lite).map(|(rows, _)| rows)
            }),
            (None, crate::Pool::Postgres(p)) => {
                let rows = self.pg().fetch_all(p).await?;
                rows.iter()
                    .map(|r| R::from_pg(r).map_err(StoreError::from))
                    .collect()
            }
            (None, crate::Pool::Sqlite(_)) => Err(StoreError::Closed),
        }
    }
}

/// Run statements that take no arguments (transaction control), one after another.
pub(crate) async fn batch(conn: &mut Conn<'_>, sql: &str) -> Result<()> {
    match conn {
        Conn::Lite(c) => {
            let timer = profile::start();
            let out = c.execute_batch(sql).map_err(StoreError::from);
            profile::stop(timer, sql);
            out
        }
        Conn::Postgres(c) => {
            use sqlx::Executor;
            c.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())))
                .await?;
            Ok(())
        }
    }
}

/// Bind `args` to the statement's parameters. Statements number their parameters `$1`, `$2`,
/// …, which SQLite takes as names, numbered in order of first use; so each parameter is bound
/// by the number in its name, as sqlx does.
fn lite_bind(stmt: &mut rusqlite::Statement<'_>, sql: &str, args: &[Arg]) -> rusqlite::Result<()> {
    let slots = lite_slots(stmt, sql)?;
    for (i, at) in slots.iter().enumerate() {
        let Some(arg) = at.checked_sub(1).and_then(|k| args.get(k)) else {
            return Err(rusqlite::Error::InvalidParameterCount(*at, args.len()));
        };
        stmt.raw_bind_parameter(i + 1, arg)?;
    }
    Ok(())
}

/// How many statement texts keep their parameter slots; past this the cache starts again (the
/// texts are a closed set, so it is never reached in practice).
const SLOT_CACHE: usize = 1024;

thread_local! {
    /// For each statement text seen on this thread: the argument (`$n`) each parameter slot
    /// takes. SQLite looks a parameter's name up by walking a list from its start, so asking
    /// for every name of a statement costs the square of its parameters: for the importer's
    /// multi-row inserts (1,300 values) that walk was half of the writer thread's time.
    static SLOTS: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<[usize]>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The argument number of each parameter slot of `stmt` (whose text is `sql`), from the cache
/// or asked of SQLite once.
fn lite_slots(stmt: &rusqlite::Statement<'_>, sql: &str) -> rusqlite::Result<std::rc::Rc<[usize]>> {
    if let Some(found) = SLOTS.with(|s| s.borrow().get(sql).cloned())
        && found.len() == stmt.parameter_count()
    {
        return Ok(found);
    }
    let mut slots = Vec::with_capacity(stmt.parameter_count());
    for i in 1..=stmt.parameter_count() {
        slots.push(match stmt.parameter_name(i) {
            Some(name) => match name.strip_prefix(['$', '?']).map(str::parse::<usize>) {
                Some(Ok(n)) => n,
                _ => return Err(rusqlite::Error::InvalidParameterName(name.to_owned())),
            },
            None => i,
        });
    }
    let slots: std::rc::Rc<[usize]> = slots.into();
    SLOTS.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() >= SLOT_CACHE {
            s.clear();
        }
        s.insert(sql.to_owned(), std::rc::Rc::clone(&slots));
    });
    Ok(slots)
}

/// One SQLite statement run again and again with new values (the importer's one-row inserts):
/// prepared, and its parameter slots read, once, then each run binds its values where they
/// lie. `query(…).execute` looks the statement and its slots up by its text (hashing it
/// twice), and copies every value into an argument list, on every run. Importing 250,000
/// records, those look-ups and copies were about an eighth of the writer thread's samples.
pub(crate) struct LiteRows<'c> {
    stmt: rusqlite::CachedStatement<'c>,
    slots: std::rc::Rc<[usize]>,
    sql: String,
}

impl<'c> LiteRows<'c> {
    pub(crate) fn prepare(c: &'c rusqlite::Connection, sql: String) -> Result<Self> {
        let stmt = c.prepare_cached(&sql)?;
        let slots = lite_slots(&stmt, &sql)?;
        Ok(LiteRows { stmt, slots, sql })
    }

    /// Run the statement once, `args[n - 1]` bound to `$n`; how many rows it changed.
    pub(crate) fn run(&mut self, args: &[&dyn rusqlite::ToSql]) -> Result<u64> {
        let timer = profile::start();
        for (i, at) in self.slots.iter().enumerate() {
            let Some(arg) = at.checked_sub(1).and_then(|k| args.get(k)) else {
                return Err(rusqlite::Error::InvalidParameterCount(*at, args.len()).into());
            };
            self.stmt.raw_bind_parameter(i + 1, arg)?;
        }
        let changed = self.stmt.raw_execute()?;
        profile::stop(timer, &self.sql);
        Ok(changed as u64)
    }
}

/// Run a statement to the end, reading each row with `read`; returns the rows and how many
/// rows the statement changed.
fn lite_run<T>(
    c: &rusqlite::Connection,
    sql: &Sql,
    args: &[Arg],
    read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<(Vec<T>, u64)> {
    let timer = profile::start();
    let out = lite_run_inner(c, sql, args, read);
    profile::stop(timer, sql.as_str());
    out
}

fn lite_run_inner<T>(
    c: &rusqlite::Connection,
    sql: &Sql,
    args: &[Arg],
    mut read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<(Vec<T>, u64)> {
    let mut stmt = c.prepare_cached(sql.as_str())?;
    lite_bind(&mut stmt, sql.as_str(), args)?;
    let mut out = Vec::new();
    {
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            out.push(read(row)?);
        }
    }
    drop(stmt);
    Ok((out, c.changes()))
}

/// The first row of a statement, if any. A write (with RETURNING) still runs to the end, so it
/// finishes its work.
fn lite_first<R: Row>(c: &rusqlite::Connection, sql: &Sql, args: &[Arg]) -> Result<Option<R>> {
    let mut stmt = c.prepare_cached(sql.as_str())?;
    if stmt.readonly() {
        // A read need not go on past the row wanted.
        let timer = profile::start();
        lite_bind(&mut stmt, sql.as_str(), args)?;
        let mut rows = stmt.raw_query();
        let row = match rows.next()? {
            Some(row) => Some(R::from_lite(row)?),
            None => None,
        };
        profile::stop(timer, sql.as_str());
        return Ok(row);
    }
    drop(stmt);
    let mut first = None;
    lite_run(c, sql, args, |row| {
        if first.is_none() {
            first = Some(R::from_lite(row)?);
        }
        Ok(())
    })?;
    Ok(first)
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(f, msg)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Conflict(msg.clone().unwrap_or_else(|| "unique".to_owned()))
            }
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Sqlite(std::sync::Arc::new(e)),
        }
    }
}

/// A row read by a write transaction, on either engine.
pub(crate) trait Row: Sized {
    fn from_pg(row: &PgRow) -> std::result::Result<Self, sqlx::Error>;
    fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// One column value read from SQLite, stored as sqlx stores it.
pub(crate) trait LiteCol: Sized {
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String>;
}

/// Read column `idx` of a SQLite row as `T`.
pub(crate) fn col<T: LiteCol, I: rusqlite::RowIndex + Copy + std::fmt::Debug>(
    row: &rusqlite::Row<'_>,
    idx: I,
) -> rusqlite::Result<T> {
    let v = row.get_ref(idx)?;
    T::lite(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            v.data_type(),
            format!("column {idx:?}: {e}").into(),
        )
    })
}

/// Read the column named `name`, expected at position `at` (row structs list their columns in
/// field order, so the name is found without a search; else it is looked up).
pub(crate) fn named_col<T: LiteCol>(
    row: &rusqlite::Row<'_>,
    at: usize,
    name: &'static str,
) -> rusqlite::Result<T> {
    match row.as_ref().column_name(at) {
        Ok(n) if n == name => col(row, at),
        _ => col(row, name),
    }
}

fn text<'a>(v: ValueRef<'a>) -> std::result::Result<&'a str, String> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).map_err(|e| e.to_string()),
        other => Err(format!("expected text, found {:?}", other.data_type())),
    }
}

// Numbers and text are read as leniently as SQLite converts them (and sqlx reads them): a
// REAL read as an integer is truncated, a number read as text is its decimal form.
impl LiteCol for i64 {
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i),
            #[allow(clippy::cast_possible_truncation)]
            ValueRef::Real(r) => Ok(r as i64),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| "expected an integer, found text".to_owned()),
            other => Err(format!(
                "expected an integer, found {:?}",
                other.data_type()
            )),
        }
    }
}

impl LiteCol for i32 {
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        i32::try_from(i64::lite(v)?).map_err(|e| e.to_string())
    }
}

impl LiteCol for f64 {
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Real(r) => Ok(r),
            #[allow(clippy::cast_precision_loss)]
            ValueRef::Integer(i) => Ok(i as f64),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| "expected a number, found text".to_owned()),
            other => Err(format!("expected a number, found {:?}", other.data_type())),
        }
    }
}

impl LiteCol for bool {
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        Ok(i64::lite(v)? != 0)
    }
}

impl LiteCol for String {
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i.to_string()),
            ValueRef::Real(r) => Ok(r.to_string()),
            v => text(v).map(str::to_owned),
        }
    }
}

impl LiteCol for Vec<u8> {
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b.to_vec()),
            other => Err(format!("expected bytes, found {:?}", other.data_type())),
        }
    }
}

impl<T: LiteCol> LiteCol for Option<T> {
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::lite(v).map(Some),
        }
    }
}

impl LiteCol for Date {
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        Date::parse(text(v)?, format_description!("[year]-[month]-[day]"))
            .map_err(|e| e.to_string())
    }
}

impl LiteCol for OffsetDateTime {
    /// As sqlx reads it: RFC 3339, or a date and time with a space (SQLite's own functions
    /// write those), taken as UTC; or seconds since 1970.
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        if let ValueRef::Integer(i) = v {
            return OffsetDateTime::from_unix_timestamp(i).map_err(|e| e.to_string());
        }
        let s = text(v)?;
        if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
            return Ok(t);
        }
        let with_fraction =
            format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
        let plain = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        PrimitiveDateTime::parse(s, with_fraction)
            .or_else(|_| PrimitiveDateTime::parse(s, plain))
            .map(PrimitiveDateTime::assume_utc)
            .map_err(|_| format!("not a time: {s:?}"))
    }
}

impl<T: serde::de::DeserializeOwned> LiteCol for Json<T> {
    fn lite(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        let bytes = match v {
            ValueRef::Text(b) | ValueRef::Blob(b) => b,
            other => return Err(format!("expected JSON, found {:?}", other.data_type())),
        };
        serde_json::from_slice(bytes)
            .map(Json)
            .map_err(|e| e.to_string())
    }
}

macro_rules! tuple_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t),+> Row for ($($t,)+)
        where
            $($t: LiteCol + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,)+
        {
            fn from_pg(row: &PgRow) -> std::result::Result<Self, sqlx::Error> {
                sqlx::FromRow::from_row(row)
            }
            fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(($(col::<$t, usize>(row, $i)?,)+))
            }
        }
    };
}
tuple_row!(A 0);
tuple_row!(A 0, B 1);
tuple_row!(A 0, B 1, C 2);
tuple_row!(A 0, B 1, C 2, D 3);
tuple_row!(A 0, B 1, C 2, D 3, E 4);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// `Row` for a struct that derives `sqlx::FromRow`: PostgreSQL through the derive, SQLite by
/// column name, field by field.
macro_rules! lite_row {
    ($t:ty { $($f:ident),+ $(,)? }) => {
        impl $crate::sql::Row for $t {
            fn from_pg(row: &sqlx::postgres::PgRow) -> std::result::Result<Self, sqlx::Error> {
                sqlx::FromRow::from_row(row)
            }
            // The position after the last field is counted and not read.
            #[allow(unused_assignments)]
            fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                let mut at = 0usize;
                Ok(Self {
                    $($f: {
                        let v = $crate::sql::named_col(row, at, stringify!($f))?;
                        at += 1;
                        v
                    },)+
                })
            }
        }
    };
}
pub(crate) use lite_row;

/// Time spent per SQLite statement on the writer's connection, kept only when the environment
/// variable `LIBRELAY_SQL_PROFILE` is set (for `librelay bench`): where a write's time goes.
pub mod profile {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    fn enabled() -> bool {
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| std::env::var_os("LIBRELAY_SQL_PROFILE").is_some())
    }

    fn table() -> &'static Mutex<HashMap<String, (u64, Duration)>> {
        static T: OnceLock<Mutex<HashMap<String, (u64, Duration)>>> = OnceLock::new();
        T.get_or_init(Mutex::default)
    }

    pub(crate) fn start() -> Option<Instant> {
        enabled().then(Instant::now)
    }

    pub(crate) fn stop(started: Option<Instant>, sql: &str) {
        let Some(started) = started else { return };
        let spent = started.elapsed();
        let key: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let key: String = key.chars().take(90).collect();
        if let Ok(mut t) = table().lock() {
            let e = t.entry(key).or_default();
            e.0 += 1;
            e.1 += spent;
        }
    }

    /// The statements run so far, most time first: count, total and mean time, and the text.
    /// `None` when profiling is off.
    pub fn report() -> Option<String> {
        if !enabled() {
            return None;
        }
        let t = table().lock().ok()?;
        let mut rows: Vec<_> = t.iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.1));
        let total: Duration = rows.iter().map(|r| r.1.1).sum();
        let count: u64 = rows.iter().map(|r| r.1.0).sum();
        let mut out = format!(
            "SQLite statements (the writer's and point reads): {count} in {:.3} s\n",
            total.as_secs_f64()
        );
        for (sql, (n, spent)) in rows.into_iter().take(40) {
            out.push_str(&format!(
                "{n:>9} {:>9.3} s {:>7.1} us  {sql}\n",
                spent.as_secs_f64(),
                spent.as_secs_f64() * 1e6 / (*n).max(1) as f64
            ));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rusqlite::types::ValueRef;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_time_is_written_utc_with_six_digits_of_fraction() {
        let cases = [
            (
                datetime!(2026-11-30 08:00:00 UTC),
                "2026-11-30T08:00:00.000000Z",
            ),
            (
                datetime!(2026-11-30 08:00:00.25 UTC),
                "2026-11-30T08:00:00.250000Z",
            ),
            // Finer than a microsecond is cut, as sqlx does for PostgreSQL.
            (
                datetime!(2026-11-30 08:00:00.123456789 UTC),
                "2026-11-30T08:00:00.123456Z",
            ),
            // Another offset is written as the same instant in UTC, on its UTC date.
            (
                datetime!(2026-12-01 07:30:00.5 +08:00),
                "2026-11-30T23:30:00.500000Z",
            ),
            (
                datetime!(0001-01-01 00:00:00 UTC),
                "0001-01-01T00:00:00.000000Z",
            ),
        ];
        for (t, text) in cases {
            assert_eq!(lite_time(t).unwrap(), text, "{t}");
            let back = OffsetDateTime::lite(ValueRef::Text(text.as_bytes())).unwrap();
            assert_eq!(back, t.replace_nanosecond(t.microsecond() * 1000).unwrap());
        }
    }

    #[test]
    fn the_written_text_sorts_as_the_times_do() {
        let t = datetime!(2026-11-30 00:00:00 UTC);
        let times = [
            t - time::Duration::microseconds(1),
            t,
            t + time::Duration::microseconds(1),
            t + time::Duration::milliseconds(250),
            t + time::Duration::seconds(1),
            (t + time::Duration::milliseconds(500)).to_offset(time::macros::offset!(+08:00)),
        ];
        let mut texts: Vec<String> = times.iter().map(|t| lite_time(*t).unwrap()).collect();
        texts.sort();
        let mut sorted = times;
        sorted.sort();
        let want: Vec<String> = sorted.iter().map(|t| lite_time(*t).unwrap()).collect();
        assert_eq!(texts, want);
    }

    #[test]
    fn a_year_outside_rfc_3339_is_refused_not_written() {
        let before_year_zero = Date::from_calendar_date(-1, time::Month::June, 1).unwrap();
        assert!(lite_time(before_year_zero.midnight().assume_utc()).is_err());
        // 9999-12-31 23:00 at -01:00 is in the year 10000 in UTC.
        assert!(lite_time(datetime!(9999-12-31 23:00:00 -01:00)).is_err());
    }

    #[test]
    fn every_older_form_is_still_read() {
        let t = datetime!(2026-11-30 08:00:00.25 UTC);
        for old in [
            "2026-11-30T08:00:00.25Z",
            "2026-11-30T08:00:00.250000000Z",
            "2026-11-30T16:00:00.25+08:00",
            "2026-11-30 08:00:00.25",
        ] {
            let read = OffsetDateTime::lite(ValueRef::Text(old.as_bytes())).unwrap();
            assert_eq!(read, t, "{old}");
        }
    }
}
