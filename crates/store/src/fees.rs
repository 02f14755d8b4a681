//! Fee schedules, the charges recorded when lenders ship, and closed settlement months.

use domain::fees::{FeeSchedule, Month, PairTotal, Position, booking_month};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, Tx, on_pool, on_tx};

/// Advisory lock key shared by charges (shared) and month closing (exclusive) on PostgreSQL,
/// so that a charge is never written into a month while that month is being closed. SQLite
/// has one writer, which gives the same for free.
const FEE_LOCK: i64 = 0x6c69_6272_6665_6573;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct FeeRow {
    pub fee_transaction_id: i64,
    pub lender_id: String,
    pub borrower_id: String,
    pub lend_request_id: String,
    pub borrow_request_id: String,
    pub service: String,
    pub amount_minor: i64,
    pub currency: String,
    pub basis: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub month: String,
    pub kind: String,
}

crate::sql::lite_row!(FeeRow {
    fee_transaction_id,
    lender_id,
    borrower_id,
    lend_request_id,
    borrow_request_id,
    service,
    amount_minor,
    currency,
    basis,
    occurred_at,
    month,
    kind
});

const FEE_COLUMNS: &str = "fee_transaction_id, lender_id, borrower_id, lend_request_id, borrow_request_id, service, amount_minor, currency, basis, occurred_at, month, kind";

/// The `service` of a correction recorded by hand (its basis is the reason given).
pub const MANUAL_SERVICE: &str = "adjustment";

/// A charge about to be recorded; its month and kind are decided by the store.
#[derive(Debug, Clone)]
pub struct NewFee {
    pub lender_id: String,
    pub borrower_id: String,
    pub lend_request_id: String,
    pub borrow_request_id: String,
    pub service: String,
    pub amount_minor: i64,
    pub currency: String,
    pub basis: String,
    pub occurred_at: OffsetDateTime,
}

/// A fee row with its month and kind given (bulk loads, benchmarks).
#[derive(Debug, Clone)]
pub struct FeeLoad {
    pub fee: NewFee,
    pub month: String,
    pub kind: &'static str,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct SettlementRow {
    pub month: String,
    pub mode: String,
    #[serde(with = "time::serde::rfc3339")]
    pub closed_at: OffsetDateTime,
    pub closed_by: String,
    pub charges: i64,
    pub corrections: i64,
}

crate::sql::lite_row!(SettlementRow {
    month,
    mode,
    closed_at,
    closed_by,
    charges,
    corrections
});

#[derive(Debug, Clone, sqlx::FromRow)]
struct LineRow {
    library_id: String,
    counterparty_id: Option<String>,
    currency: String,
    receivable_minor: i64,
    payable_minor: i64,
    net_minor: i64,
    charges: i64,
}

impl From<LineRow> for Position {
    fn from(l: LineRow) -> Self {
        Position {
            library: l.library_id,
            counterparty: l.counterparty_id,
            currency: l.currency,
            receivable: l.receivable_minor,
            payable: l.payable_minor,
            net: l.net_minor,
            charges: l.charges,
        }
    }
}

fn schedule_from(json: sqlx::types::Json<FeeSchedule>) -> FeeSchedule {
    json.0
}

const PAIR_TOTALS_SQL: &str =
    "SELECT lender_id, borrower_id, currency, CAST(SUM(amount_minor) AS BIGINT), COUNT(*)
     FROM fee_transaction WHERE month = $1 GROUP BY lender_id, borrower_id, currency
     ORDER BY lender_id, borrower_id, currency";

fn pair_totals(rows: Vec<(String, String, String, i64, i64)>) -> Vec<PairTotal> {
    rows.into_iter()
        .map(|(lender, borrower, currency, amount, charges)| PairTotal {
            lender,
            borrower,
            currency,
            amount,
            charges,
        })
        .collect()
}

impl Store {
    pub async fn fee_schedule(&self, library_id: &str) -> Result<Option<FeeSchedule>> {
        let row: Option<(sqlx::types::Json<FeeSchedule>,)> = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT schedule FROM fee_schedule WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|r| schedule_from(r.0)))
    }

    /// The charges of a borrowing request (what the borrowing library pays for it).
    pub async fn fees_of_borrow_request(&self, request_id: &str) -> Result<Vec<FeeRow>> {
        let sql = format!(
            "SELECT {FEE_COLUMNS} FROM fee_transaction WHERE borrow_request_id = $1 ORDER BY fee_transaction_id"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, FeeRow>(sqlx::AssertSqlSafe(sql)).bind(request_id).fetch_all(p).await?
        });
        Ok(rows)
    }

    /// The charges of a lending request (what the lender is owed for it).
    pub async fn fees_of_lend_request(&self, request_id: &str) -> Result<Vec<FeeRow>> {
        let sql = format!(
            "SELECT {FEE_COLUMNS} FROM fee_transaction WHERE lend_request_id = $1 ORDER BY fee_transaction_id"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, FeeRow>(sqlx::AssertSqlSafe(sql)).bind(request_id).fetch_all(p).await?
        });
        Ok(rows)
    }

    /// The charges counted in `month` where `library_id` lends or borrows, oldest first.
    pub async fn month_fees_of(&self, month: &str, library_id: &str) -> Result<Vec<FeeRow>> {
        let sql = format!(
            "SELECT {FEE_COLUMNS} FROM fee_transaction WHERE month = $1 AND (lender_id = $2 OR borrower_id = $2)
             ORDER BY fee_transaction_id"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, FeeRow>(sqlx::AssertSqlSafe(sql)).bind(month).bind(library_id).fetch_all(p).await?
        });
        Ok(rows)
    }

    /// The corrections recorded by hand where `library_id` is one side, newest first.
    pub async fn manual_corrections_of(&self, library_id: &str, limit: i64) -> Result<Vec<FeeRow>> {
        let sql = format!(
            "SELECT {FEE_COLUMNS} FROM fee_transaction
             WHERE service = '{MANUAL_SERVICE}' AND (lender_id = $1 OR borrower_id = $1)
             ORDER BY fee_transaction_id DESC LIMIT $2"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, FeeRow>(sqlx::AssertSqlSafe(sql)).bind(library_id).bind(limit).fetch_all(p).await?
        });
        Ok(rows)
    }

    /// Closed months with their mode, newest first.
    pub async fn closed_months(&self, limit: i64) -> Result<Vec<(String, String)>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT month, mode FROM settlement ORDER BY month DESC LIMIT $1")
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        Ok(rows)
    }

    /// A closed month and its positions, sorted by library, counterparty and currency.
    pub async fn settlement(&self, month: &str) -> Result<Option<(SettlementRow, Vec<Position>)>> {
        let head: Option<SettlementRow> = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, SettlementRow>(
                "SELECT month, mode, closed_at, closed_by, charges, corrections FROM settlement WHERE month = $1",
            )
            .bind(month)
            .fetch_optional(p)
            .await?
        });
        let Some(head) = head else { return Ok(None) };
        let lines: Vec<LineRow> = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, LineRow>(
                "SELECT library_id, counterparty_id, currency, receivable_minor, payable_minor, net_minor, charges
                 FROM settlement_line WHERE month = $1 ORDER BY settlement_line_id",
            )
            .bind(month)
            .fetch_all(p)
            .await?
        });
        Ok(Some((
            head,
            lines.into_iter().map(Position::from).collect(),
        )))
    }

    /// Sums per lender, borrower and currency of a month, read from the pool: what
    /// `domain::fees::net` nets, to check the store's own netting against.
    pub async fn fee_pair_totals(&self, month: &str) -> Result<Vec<PairTotal>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as(PAIR_TOTALS_SQL).bind(month).fetch_all(p).await?
        });
        Ok(pair_totals(rows))
    }

    /// Bulk loads of fee rows (benchmarks): drop `fee_transaction`'s secondary indexes and
    /// return the statements that create them again as the migrations made them. Building an
    /// index once over loaded rows is many times faster than keeping it up to date row by
    /// row, with millions of rows in random key order. Call `create_indexes` after the load.
    pub async fn drop_fee_indexes(&self) -> Result<Vec<String>> {
        self.write(|tx| {
            Box::pin(async move {
                let postgres = tx.is_postgres();
                let sql = if postgres {
                    // Not those behind a constraint (the primary key).
                    "SELECT indexname, indexdef FROM pg_indexes
                     WHERE schemaname = current_schema() AND tablename = 'fee_transaction'
                       AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                                       WHERE k.conname = indexname)
                     ORDER BY indexname"
                } else {
                    // Automatic indexes have no SQL.
                    "SELECT name, sql FROM sqlite_master
                     WHERE type = 'index' AND tbl_name = 'fee_transaction' AND sql IS NOT NULL
                     ORDER BY name"
                };
                let rows: Vec<(String, String)> = on_tx!(tx, c => {
                    crate::sql::query_as(sql).fetch_all(&mut *c).await?
                });
                for (name, _) in &rows {
                    // Names from the catalog, quoted.
                    let drop = format!("DROP INDEX \"{}\"", name.replace('"', "\"\""));
                    on_tx!(tx, c => {
                        crate::sql::query(sqlx::AssertSqlSafe(drop)).execute(&mut *c).await?;
                    });
                }
                Ok::<_, StoreError>(rows.into_iter().map(|(_, def)| def).collect())
            })
        })
        .await
    }

    /// Run index definitions as `drop_fee_indexes` gave them, in one transaction.
    pub async fn create_indexes(&self, definitions: Vec<String>) -> Result<()> {
        self.write(move |tx| {
            Box::pin(async move {
                for def in definitions {
                    on_tx!(tx, c => {
                        crate::sql::query(sqlx::AssertSqlSafe(def)).execute(&mut *c).await?;
                    });
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
    }

    /// After a bulk load of fee rows: the planner's statistics, and on PostgreSQL the
    /// visibility map that index-only scans need (what autovacuum would do after a while).
    pub async fn analyze_fees(&self) -> Result<()> {
        match self.pool() {
            crate::Pool::Sqlite(_) => Ok(()),
            crate::Pool::Postgres(p) => {
                sqlx::query("VACUUM ANALYZE fee_transaction")
                    .execute(p)
                    .await?;
                Ok(())
            }
        }
    }

    /// Baseline for the settlement benchmark: the plain `SUM … GROUP BY` over a month's rows,
    /// every group fetched. Returns the number of groups.
    pub async fn bench_plain_fee_sum(&self, month: &str) -> Result<usize> {
        let rows: Vec<(String, String, i64)> = on_pool!(self.pool(), p => {
            sqlx::query_as(
                "SELECT lender_id, borrower_id, CAST(SUM(amount_minor) AS BIGINT) FROM fee_transaction
                 WHERE month = $1 GROUP BY lender_id, borrower_id",
            )
            .bind(month)
            .fetch_all(p)
            .await?
        });
        Ok(rows.len())
    }
}

impl Tx<'_> {
    pub async fn set_fee_schedule(
        &mut self,
        library_id: &str,
        s: &FeeSchedule,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO fee_schedule (library_id, schedule, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (library_id) DO UPDATE SET schedule = excluded.schedule, updated_at = excluded.updated_at",
            )
            .bind(library_id)
            .bind(sqlx::types::Json(s))
            .bind(now)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    pub async fn fee_schedule(&mut self, library_id: &str) -> Result<Option<FeeSchedule>> {
        let row: Option<(sqlx::types::Json<FeeSchedule>,)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT schedule FROM fee_schedule WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row.map(|r| schedule_from(r.0)))
    }

    async fn closed_months_from(&mut self, from: &str) -> Result<Vec<Month>> {
        let rows: Vec<(String,)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT month FROM settlement WHERE month >= $1 ORDER BY month")
                .bind(from)
                .fetch_all(&mut *c)
                .await?
        });
        rows.into_iter()
            .map(|(m,)| {
                Month::parse(&m).ok_or_else(|| StoreError::Corrupt(format!("settlement month {m}")))
            })
            .collect()
    }

    /// What lenders charged the borrowing library for a request so far, per currency (the
    /// charges of its shipments; corrections recorded by hand are not a request's charge).
    pub async fn lender_charges_of_borrow_request(
        &mut self,
        request_id: &str,
        borrower_id: &str,
    ) -> Result<Vec<(String, i64)>> {
        let sql = format!(
            "SELECT currency, CAST(SUM(amount_minor) AS BIGINT) FROM fee_transaction
             WHERE borrow_request_id = $1 AND borrower_id = $2 AND service <> '{MANUAL_SERVICE}'
             GROUP BY currency ORDER BY currency"
        );
        let rows = on_tx!(self, c => {
            crate::sql::query_as(sqlx::AssertSqlSafe(sql))
                .bind(request_id)
                .bind(borrower_id)
                .fetch_all(&mut *c)
                .await?
        });
        Ok(rows)
    }

    /// Record a charge in the month it happened, or, if that month is closed, in the first
    /// open month after it as a correction. Returns the row as stored.
    pub async fn record_fee(&mut self, f: &NewFee) -> Result<FeeRow> {
        self.lock_fees_shared().await?;
        let occurred = self.lender_month(f).await?;
        let closed = self.closed_months_from(&occurred.to_string()).await?;
        let (month, late) = booking_month(occurred, &closed);
        let load = FeeLoad {
            fee: f.clone(),
            month: month.to_string(),
            kind: if late { "correction" } else { "charge" },
        };
        self.insert_fee(&load).await
    }

    /// A correction an admin records by hand (the amount from `lender_id`'s point of view is
    /// owed to it by `borrower_id`): booked as a correction in the first open month from the
    /// month it is recorded in, so a closed month never changes.
    pub async fn record_manual_correction(&mut self, f: &NewFee) -> Result<FeeRow> {
        self.lock_fees_shared().await?;
        let now = self.lender_month(f).await?;
        let closed = self.closed_months_from(&now.to_string()).await?;
        let (month, _) = booking_month(now, &closed);
        let load = FeeLoad {
            fee: f.clone(),
            month: month.to_string(),
            kind: "correction",
        };
        self.insert_fee(&load).await
    }

    /// The month a charge happened in: the lending library's month (it charges, and its
    /// month starts at its midnight), in the default time for a lender not in the directory.
    async fn lender_month(&mut self, f: &NewFee) -> Result<Month> {
        let offset = match self.library(&f.lender_id).await {
            Ok(l) => l.offset(),
            Err(StoreError::NotFound) => domain::library::LibraryOffset::default(),
            Err(e) => return Err(e),
        };
        Ok(Month::of(f.occurred_at.to_offset(offset.utc_offset())))
    }

    async fn lock_fees_shared(&mut self) -> Result<()> {
        if self.is_postgres() {
            on_tx!(self, c => {
                crate::sql::query("SELECT pg_advisory_xact_lock_shared($1)")
                    .bind(FEE_LOCK)
                    .execute(&mut *c)
                    .await?;
            });
        }
        Ok(())
    }

    async fn insert_fee(&mut self, load: &FeeLoad) -> Result<FeeRow> {
        let sql = format!(
            "INSERT INTO fee_transaction (lender_id, borrower_id, lend_request_id, borrow_request_id, service, amount_minor, currency, basis, occurred_at, month, kind)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {FEE_COLUMNS}"
        );
        let row = on_tx!(self, c => {
            crate::sql::query_as::<FeeRow>(sqlx::AssertSqlSafe(sql))
                .bind(&load.fee.lender_id)
                .bind(&load.fee.borrower_id)
                .bind(&load.fee.lend_request_id)
                .bind(&load.fee.borrow_request_id)
                .bind(&load.fee.service)
                .bind(load.fee.amount_minor)
                .bind(&load.fee.currency)
                .bind(&load.fee.basis)
                .bind(load.fee.occurred_at)
                .bind(&load.month)
                .bind(load.kind)
                .fetch_one(&mut *c)
                .await?
        });
        Ok(row)
    }

    /// Many fee rows at once, months and kinds as given (benchmarks, imports of past traffic).
    /// SQLite: one prepared single-row INSERT run per row (the writer's connection is in
    /// process, so a row costs no round trip, and a statement with thousands of `$N`
    /// parameters costs more to bind than it saves). PostgreSQL: `COPY … FROM STDIN`.
    pub async fn load_fees(&mut self, rows: &[FeeLoad]) -> Result<()> {
        const COLUMNS: &str = "lender_id, borrower_id, lend_request_id, borrow_request_id, service, amount_minor, currency, basis, occurred_at, month, kind";
        if let crate::Conn::Postgres(c) = &mut self.conn {
            return copy_fees(c, COLUMNS, rows).await;
        }
        for r in rows {
            on_tx!(self, c => {
                crate::sql::query(
                    "INSERT INTO fee_transaction (lender_id, borrower_id, lend_request_id, borrow_request_id, service, amount_minor, currency, basis, occurred_at, month, kind)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                    .bind(&r.fee.lender_id)
                    .bind(&r.fee.borrower_id)
                    .bind(&r.fee.lend_request_id)
                    .bind(&r.fee.borrow_request_id)
                    .bind(&r.fee.service)
                    .bind(r.fee.amount_minor)
                    .bind(&r.fee.currency)
                    .bind(&r.fee.basis)
                    .bind(r.fee.occurred_at)
                    .bind(&r.month)
                    .bind(r.kind)
                    .execute(&mut *c)
                    .await?;
            });
        }
        Ok(())
    }

    /// Take the month-closing lock (PostgreSQL): waits for charges being written to commit and
    /// holds new ones back until this transaction ends.
    pub async fn lock_fees_for_closing(&mut self) -> Result<()> {
        if self.is_postgres() {
            on_tx!(self, c => {
                crate::sql::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(FEE_LOCK)
                    .execute(&mut *c)
                    .await?;
            });
        }
        Ok(())
    }

    pub async fn settlement_head(&mut self, month: &str) -> Result<Option<SettlementRow>> {
        let row = on_tx!(self, c => {
            crate::sql::query_as::<SettlementRow>(
                "SELECT month, mode, closed_at, closed_by, charges, corrections FROM settlement WHERE month = $1",
            )
            .bind(month)
            .fetch_optional(&mut *c)
            .await?
        });
        Ok(row)
    }

    /// Close a month inside the database: store `head`, then every library's position, netted
    /// by one `INSERT … SELECT … GROUP BY` over the month's rows (bilateral: per library,
    /// counterparty and currency; `hub`: per library and currency against the clearing
    /// centre), then the head's counts. The month's rows are read once, through the month
    /// index, and never leave the database; the positions come out in the order
    /// `domain::fees::net` gives (library, counterparty, currency; byte order).
    ///
    /// A sum that does not fit in 64 bits fails the statement (see
    /// `StoreError::is_numeric_overflow`) and nothing is stored.
    pub async fn close_fee_month(&mut self, head: &SettlementRow, hub: bool) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO settlement (month, mode, closed_at, closed_by, charges, corrections)
                 VALUES ($1, $2, $3, $4, 0, 0)",
            )
            .bind(&head.month)
            .bind(&head.mode)
            .bind(head.closed_at)
            .bind(&head.closed_by)
            .execute(&mut *c)
            .await?;
        });
        let postgres = self.is_postgres();
        // Each pair's sum once, then each side of it: the lender receives, the borrower pays.
        // One side row carries one amount and a zero, so `receivable - payable` cannot
        // overflow there, and SUM refuses a total that does not fit.
        let (counterparty, swapped, group) = if hub {
            let null = if postgres {
                "CAST(NULL AS TEXT)"
            } else {
                "NULL"
            };
            (null, null, "library_id, currency")
        } else {
            (
                "borrower_id",
                "lender_id",
                "library_id, counterparty_id, currency",
            )
        };
        // Byte order on PostgreSQL too, whatever the database's collation.
        let order = match (hub, postgres) {
            (true, true) => r#"library_id COLLATE "C", currency COLLATE "C""#,
            (true, false) => "library_id, currency",
            (false, true) => {
                r#"library_id COLLATE "C", counterparty_id COLLATE "C", currency COLLATE "C""#
            }
            (false, false) => "library_id, counterparty_id, currency",
        };
        let pick_counterparty = if hub { counterparty } else { "counterparty_id" };
        let sql = format!(
            "WITH pair AS (
                 SELECT lender_id, borrower_id, currency, SUM(amount_minor) AS amount, COUNT(*) AS n
                 FROM fee_transaction WHERE month = $1 AND lender_id <> borrower_id
                 GROUP BY lender_id, borrower_id, currency)
             INSERT INTO settlement_line (month, library_id, counterparty_id, currency, receivable_minor, payable_minor, net_minor, charges)
             SELECT $1, library_id, {pick_counterparty}, currency, SUM(receivable), SUM(payable),
                    SUM(receivable - payable), SUM(n)
             FROM (SELECT lender_id AS library_id, {counterparty} AS counterparty_id, currency,
                          amount AS receivable, 0 AS payable, n FROM pair
                   UNION ALL
                   SELECT borrower_id, {swapped}, currency, 0, amount, n FROM pair) side
             GROUP BY {group}
             ORDER BY {order}"
        );
        on_tx!(self, c => {
            crate::sql::query(sqlx::AssertSqlSafe(sql))
                .bind(&head.month)
                .execute(&mut *c)
                .await?;
        });
        if !postgres {
            // SQLite turns an integer that overflows into a float instead of failing.
            let (floats,): (i64,) = on_tx!(self, c => {
                crate::sql::query_as(
                    "SELECT COUNT(*) FROM settlement_line WHERE month = $1
                     AND (typeof(net_minor) <> 'integer' OR typeof(receivable_minor) <> 'integer'
                          OR typeof(payable_minor) <> 'integer')",
                )
                .bind(&head.month)
                .fetch_one(&mut *c)
                .await?
            });
            if floats > 0 {
                return Err(StoreError::NumericOverflow(format!(
                    "{floats} positions of {} do not fit in 64-bit minor units",
                    head.month
                )));
            }
        }
        // Every charge is on two lines (its lender's and its borrower's); the corrections are
        // counted through their own partial index, not by reading the month again. SQLite's
        // planner prefers the month index (it also starts with the month, and covers `kind`),
        // which reads every row of the month a second time: a third of the closing's time at
        // a million rows. So it is named there; PostgreSQL's planner finds the small index.
        let corrections_from = if postgres {
            "fee_transaction"
        } else {
            "fee_transaction INDEXED BY fee_transaction_correction"
        };
        let sql = format!(
            "UPDATE settlement SET
                 charges = (SELECT CAST(COALESCE(SUM(charges), 0) AS BIGINT) / 2
                            FROM settlement_line WHERE month = $1),
                 corrections = (SELECT COUNT(*) FROM {corrections_from}
                                WHERE month = $1 AND kind = 'correction')
             WHERE month = $1"
        );
        on_tx!(self, c => {
            crate::sql::query(sqlx::AssertSqlSafe(sql))
            .bind(&head.month)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }
}

/// A text-format `COPY` field: backslash, tab, newline and carriage return escaped.
fn copy_field(out: &mut String, v: &str) {
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// `rows` into `fee_transaction` by `COPY … FROM STDIN` (text format), sent in pieces of about
/// a megabyte. Times go as RFC 3339 text, which `TIMESTAMPTZ` reads as the same instant.
async fn copy_fees(c: &mut sqlx::PgConnection, columns: &str, rows: &[FeeLoad]) -> Result<()> {
    use std::fmt::Write;

    use time::format_description::well_known::Rfc3339;
    if rows.is_empty() {
        return Ok(());
    }
    let mut copy = c
        .copy_in_raw(&format!("COPY fee_transaction ({columns}) FROM STDIN"))
        .await?;
    let mut buf = String::with_capacity(1 << 20);
    for r in rows {
        let at = r
            .fee
            .occurred_at
            .format(&Rfc3339)
            .map_err(|e| StoreError::Corrupt(format!("fee time: {e}")))?;
        for v in [
            &r.fee.lender_id,
            &r.fee.borrower_id,
            &r.fee.lend_request_id,
            &r.fee.borrow_request_id,
            &r.fee.service,
        ] {
            copy_field(&mut buf, v);
            buf.push('\t');
        }
        let _ = write!(buf, "{}\t", r.fee.amount_minor);
        copy_field(&mut buf, &r.fee.currency);
        buf.push('\t');
        copy_field(&mut buf, &r.fee.basis);
        buf.push('\t');
        buf.push_str(&at);
        buf.push('\t');
        copy_field(&mut buf, &r.month);
        buf.push('\t');
        copy_field(&mut buf, r.kind);
        buf.push('\n');
        if buf.len() >= 1 << 20 {
            copy.send(buf.as_bytes()).await?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        copy.send(buf.as_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}
