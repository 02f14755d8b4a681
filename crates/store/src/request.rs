//! Borrowing and lending requests: rows, the queue filters (one filter type translated to SQL in
//! one place), and the writes the flow makes inside its transaction.

use sqlx::types::Json;
use time::{Date, OffsetDateTime};

use crate::{Result, Store, StoreError, Tx, in_snapshot, on_pool, on_tx};
use domain::citation::Citation;
use domain::retry::RetryOffer;
use domain::rota::Rota;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BorrowRequest {
    pub request_id: String,
    pub library_id: String,
    pub patron_id: String,
    pub format: String,
    pub state: String,
    pub title: String,
    pub citation: Json<Citation>,
    pub rota: Json<Rota>,
    pub lender_id: Option<String>,
    pub lender_request_id: Option<String>,
    /// How many times the request has been sent; the ISO 18626 requestingAgencyRequestId of
    /// send n is `request_id.n`, so answers to an earlier send are told apart.
    pub send_seq: i64,
    pub lender_deadline: Option<OffsetDateTime>,
    pub due_date: Option<Date>,
    pub cancel_pending: bool,
    pub renew_pending: bool,
    pub overdue: bool,
    pub recalled: bool,
    /// The current lender's RetryPossible terms, while staff have not answered them.
    pub retry_offer: Option<Json<RetryOffer>>,
    /// The staff member working the request, if someone took it.
    pub assignee_id: Option<String>,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

crate::sql::lite_row!(BorrowRequest {
    request_id,
    library_id,
    patron_id,
    format,
    state,
    title,
    citation,
    rota,
    lender_id,
    lender_request_id,
    send_seq,
    lender_deadline,
    due_date,
    cancel_pending,
    renew_pending,
    overdue,
    recalled,
    retry_offer,
    assignee_id,
    created_by,
    created_at,
    updated_at,
    version
});

#[derive(Debug, Clone)]
pub struct NewBorrowRequest {
    pub request_id: String,
    pub library_id: String,
    pub patron_id: String,
    pub format: String,
    pub state: String,
    pub citation: Citation,
    pub rota: Rota,
    pub created_by: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LendRequest {
    pub request_id: String,
    pub library_id: String,
    pub borrower_agency: String,
    pub borrower_id: Option<String>,
    pub borrower_request_id: String,
    pub format: String,
    pub state: String,
    pub title: String,
    pub citation: Json<Citation>,
    pub iso_version: String,
    pub call_number: Option<String>,
    pub barcode: Option<String>,
    pub due_date: Option<Date>,
    pub renew_pending: bool,
    pub assignee_id: Option<String>,
    /// The borrower's need-by date (from the citation), for the queue's filters.
    pub needed_by: Option<Date>,
    /// `express` or `normal`, as the borrower asked.
    pub service_level: String,
    /// How the item went out (`physical`, `digital`, `non_returnable`), once shipped.
    pub supplied_format: Option<String>,
    /// When a pick slip for the request was last produced.
    pub slip_printed_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

crate::sql::lite_row!(LendRequest {
    request_id,
    library_id,
    borrower_agency,
    borrower_id,
    borrower_request_id,
    format,
    state,
    title,
    citation,
    iso_version,
    call_number,
    barcode,
    due_date,
    renew_pending,
    assignee_id,
    needed_by,
    service_level,
    supplied_format,
    slip_printed_at,
    created_at,
    updated_at,
    version
});

#[derive(Debug, Clone)]
pub struct NewLendRequest {
    pub request_id: String,
    pub library_id: String,
    pub borrower_agency: String,
    pub borrower_id: Option<String>,
    pub borrower_request_id: String,
    pub format: String,
    pub state: String,
    pub citation: Citation,
    pub iso_version: String,
    pub call_number: Option<String>,
    pub barcode: Option<String>,
    /// `express` or `normal`.
    pub service_level: String,
}

/// What a borrowing list may be narrowed by. `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct BorrowFilter {
    pub library_id: String,
    pub patron_id: Option<String>,
    pub states: Vec<String>,
    /// Case-insensitive substring of the title or the request id.
    pub text: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Default)]
pub struct LendFilter {
    pub library_id: String,
    pub states: Vec<String>,
    pub borrower_id: Option<String>,
    pub text: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

pub(crate) const BORROW_COLUMNS: &str = "request_id, library_id, patron_id, format, state, title, citation, rota, lender_id, lender_request_id, send_seq, lender_deadline, due_date, cancel_pending, renew_pending, overdue, recalled, retry_offer, assignee_id, created_by, created_at, updated_at, version";
pub(crate) const LEND_COLUMNS: &str = "request_id, library_id, borrower_agency, borrower_id, borrower_request_id, format, state, title, citation, iso_version, call_number, barcode, due_date, renew_pending, assignee_id, needed_by, service_level, supplied_format, slip_printed_at, created_at, updated_at, version";

/// Builds `WHERE` clauses with numbered placeholders, the same text for both engines.
struct Where {
    sql: String,
    args: Vec<String>,
}

impl Where {
    fn new(library_id: &str) -> Self {
        Where {
            sql: " WHERE library_id = $1".to_owned(),
            args: vec![library_id.to_owned()],
        }
    }

    fn eq(&mut self, column: &str, value: &str) {
        self.args.push(value.to_owned());
        self.sql
            .push_str(&format!(" AND {column} = ${}", self.args.len()));
    }

    fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let mut marks = Vec::new();
        for v in values {
            self.args.push(v.clone());
            marks.push(format!("${}", self.args.len()));
        }
        self.sql
            .push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
    }

    /// Title words or an id, in any of `id_columns`.
    fn text(&mut self, value: &str, id_columns: &[&str]) {
        // lower() on both sides: SQLite's LIKE folds only ASCII, PostgreSQL's not at all.
        self.args.push(format!(
            "%{}%",
            value.to_lowercase().replace(['%', '_'], "")
        ));
        let n = self.args.len();
        let ids: String = id_columns
            .iter()
            .map(|c| format!(" OR {c} LIKE ${n}"))
            .collect();
        self.sql
            .push_str(&format!(" AND (lower(title) LIKE ${n}{ids})"));
    }
}

impl Tx<'_> {
    pub async fn insert_borrow_request(
        &mut self,
        r: &NewBorrowRequest,
        now: OffsetDateTime,
    ) -> Result<()> {
        let title = r.citation.title.clone().unwrap_or_default();
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO borrow_request (request_id, library_id, patron_id, format, state, title, citation, rota, created_by, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            )
            .bind(&r.request_id)
            .bind(&r.library_id)
            .bind(&r.patron_id)
            .bind(&r.format)
            .bind(&r.state)
            .bind(&title)
            .bind(Json(&r.citation))
            .bind(Json(&r.rota))
            .bind(&r.created_by)
            .bind(now)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Load for change. On PostgreSQL the row is locked until commit; on SQLite the single
    /// writer already serialises every change.
    pub async fn borrow_request_for_update(&mut self, request_id: &str) -> Result<BorrowRequest> {
        let lock = if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql =
            format!("SELECT {BORROW_COLUMNS} FROM borrow_request WHERE request_id = $1{lock}");
        let row = on_tx!(self, c => {
            crate::sql::query_as::<BorrowRequest>(sqlx::AssertSqlSafe(sql))
                .bind(request_id)
                .fetch_optional(&mut *c)
                .await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// Write back every mutable column, bumping the version.
    pub async fn update_borrow_request(
        &mut self,
        r: &BorrowRequest,
        now: OffsetDateTime,
    ) -> Result<()> {
        let n = on_tx!(self, c => {
            crate::sql::query(
                "UPDATE borrow_request SET state = $2, title = $3, citation = $4, rota = $5, lender_id = $6,
                    lender_request_id = $7, lender_deadline = $8, due_date = $9, cancel_pending = $10,
                    renew_pending = $11, overdue = $12, recalled = $13, updated_at = $14, send_seq = $16,
                    retry_offer = $17, assignee_id = $18, version = version + 1
                 WHERE request_id = $1 AND version = $15",
            )
            .bind(&r.request_id)
            .bind(&r.state)
            .bind(&r.title)
            .bind(&r.citation)
            .bind(&r.rota)
            .bind(&r.lender_id)
            .bind(&r.lender_request_id)
            .bind(r.lender_deadline)
            .bind(r.due_date)
            .bind(r.cancel_pending)
            .bind(r.renew_pending)
            .bind(r.overdue)
            .bind(r.recalled)
            .bind(now)
            .bind(r.version)
            .bind(r.send_seq)
            .bind(&r.retry_offer)
            .bind(&r.assignee_id)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::Conflict("borrow_request.version".to_owned()));
        }
        Ok(())
    }

    pub async fn insert_lend_request(
        &mut self,
        r: &NewLendRequest,
        now: OffsetDateTime,
    ) -> Result<()> {
        let title = r.citation.title.clone().unwrap_or_default();
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO lend_request (request_id, library_id, borrower_agency, borrower_id, borrower_request_id, format, state, title, citation, iso_version, call_number, barcode, needed_by, service_level, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14, $15, $13, $13)",
            )
            .bind(&r.request_id)
            .bind(&r.library_id)
            .bind(&r.borrower_agency)
            .bind(&r.borrower_id)
            .bind(&r.borrower_request_id)
            .bind(&r.format)
            .bind(&r.state)
            .bind(&title)
            .bind(Json(&r.citation))
            .bind(&r.iso_version)
            .bind(&r.call_number)
            .bind(&r.barcode)
            .bind(now)
            .bind(r.citation.need_by)
            .bind(&r.service_level)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    pub async fn lend_request_for_update(&mut self, request_id: &str) -> Result<LendRequest> {
        let lock = if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!("SELECT {LEND_COLUMNS} FROM lend_request WHERE request_id = $1{lock}");
        let row = on_tx!(self, c => {
            crate::sql::query_as::<LendRequest>(sqlx::AssertSqlSafe(sql))
                .bind(request_id)
                .fetch_optional(&mut *c)
                .await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// The lending request a partner's message is about, by its own request id.
    pub async fn lend_request_by_borrower(
        &mut self,
        library_id: &str,
        borrower_agency: &str,
        borrower_request_id: &str,
    ) -> Result<Option<LendRequest>> {
        let lock = if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {LEND_COLUMNS} FROM lend_request WHERE library_id = $1 AND borrower_agency = $2 AND borrower_request_id = $3{lock}"
        );
        let row = on_tx!(self, c => {
            crate::sql::query_as::<LendRequest>(sqlx::AssertSqlSafe(sql))
                .bind(library_id)
                .bind(borrower_agency)
                .bind(borrower_request_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row)
    }

    pub async fn update_lend_request(
        &mut self,
        r: &LendRequest,
        now: OffsetDateTime,
    ) -> Result<()> {
        let n = on_tx!(self, c => {
            crate::sql::query(
                "UPDATE lend_request SET state = $2, call_number = $3, barcode = $4, due_date = $5,
                    renew_pending = $6, assignee_id = $7, updated_at = $8, supplied_format = $10,
                    slip_printed_at = $11, version = version + 1
                 WHERE request_id = $1 AND version = $9",
            )
            .bind(&r.request_id)
            .bind(&r.state)
            .bind(&r.call_number)
            .bind(&r.barcode)
            .bind(r.due_date)
            .bind(r.renew_pending)
            .bind(&r.assignee_id)
            .bind(now)
            .bind(r.version)
            .bind(&r.supplied_format)
            .bind(r.slip_printed_at)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::Conflict("lend_request.version".to_owned()));
        }
        Ok(())
    }
}

impl Store {
    pub async fn borrow_request(&self, request_id: &str) -> Result<BorrowRequest> {
        let sql = format!("SELECT {BORROW_COLUMNS} FROM borrow_request WHERE request_id = $1");
        crate::sql::query_as::<BorrowRequest>(sqlx::AssertSqlSafe(sql))
            .bind(request_id)
            .read_optional(self)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The lending requests of `library_id` among `request_ids`, in one read; ids of another
    /// library's requests or of none are left out. At most a few hundred ids at once.
    pub async fn lend_requests_of(
        &self,
        library_id: &str,
        request_ids: &[String],
    ) -> Result<Vec<LendRequest>> {
        if request_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..request_ids.len())
            .map(|i| format!("${}", i + 2))
            .collect();
        let sql = format!(
            "SELECT {LEND_COLUMNS} FROM lend_request WHERE library_id = $1 AND request_id IN ({})",
            marks.join(", ")
        );
        let mut q = crate::sql::query_as::<LendRequest>(sqlx::AssertSqlSafe(sql)).bind(library_id);
        for id in request_ids {
            q = q.bind(id.as_str());
        }
        q.read_all(self).await
    }

    pub async fn lend_request(&self, request_id: &str) -> Result<LendRequest> {
        let sql = format!("SELECT {LEND_COLUMNS} FROM lend_request WHERE request_id = $1");
        crate::sql::query_as::<LendRequest>(sqlx::AssertSqlSafe(sql))
            .bind(request_id)
            .read_optional(self)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The lending request `lender` holds for one send of a borrowing request (its
    /// requestingAgencyRequestId), when the borrower is on this node.
    pub async fn lend_request_for_borrow(
        &self,
        lender: &str,
        borrower_request_id: &str,
    ) -> Result<Option<LendRequest>> {
        let sql = format!(
            "SELECT {LEND_COLUMNS} FROM lend_request WHERE library_id = $1 AND borrower_request_id = $2
             ORDER BY created_at DESC LIMIT 1"
        );
        crate::sql::query_as::<LendRequest>(sqlx::AssertSqlSafe(sql))
            .bind(lender)
            .bind(borrower_request_id)
            .read_optional(self)
            .await
    }

    /// A page of borrowing requests, newest change first, and the total that match.
    pub async fn borrow_requests(&self, f: &BorrowFilter) -> Result<(Vec<BorrowRequest>, i64)> {
        let mut w = Where::new(&f.library_id);
        if let Some(p) = &f.patron_id {
            w.eq("patron_id", p);
        }
        w.any_of("state", &f.states);
        if let Some(t) = f.text.as_deref().filter(|t| !t.trim().is_empty()) {
            w.text(t.trim(), &["request_id"]);
        }
        self.page("borrow_request", BORROW_COLUMNS, w, f.limit, f.offset)
            .await
    }

    pub async fn lend_requests(&self, f: &LendFilter) -> Result<(Vec<LendRequest>, i64)> {
        let mut w = Where::new(&f.library_id);
        if let Some(b) = &f.borrower_id {
            w.eq("borrower_id", b);
        }
        w.any_of("state", &f.states);
        if let Some(t) = f.text.as_deref().filter(|t| !t.trim().is_empty()) {
            w.text(t.trim(), &["request_id", "borrower_request_id"]);
        }
        self.page("lend_request", LEND_COLUMNS, w, f.limit, f.offset)
            .await
    }

    async fn page<R>(
        &self,
        table: &str,
        columns: &str,
        w: Where,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<R>, i64)>
    where
        R: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        let n = w.args.len();
        let list_sql = format!(
            "SELECT {columns} FROM {table}{} ORDER BY updated_at DESC, request_id DESC LIMIT ${} OFFSET ${}",
            w.sql,
            n + 1,
            n + 2
        );
        let count_sql = format!("SELECT COUNT(*) FROM {table}{}", w.sql);
        // The page and its count read one snapshot, so they agree while requests change.
        let (rows, total) = in_snapshot!(self, tx => {
            let mut q = sqlx::query_as::<_, R>(sqlx::AssertSqlSafe(list_sql));
            for a in &w.args {
                q = q.bind(a.clone());
            }
            let rows = q.bind(limit.clamp(1, 500)).bind(offset.max(0)).fetch_all(&mut *tx).await?;
            let mut cq = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(count_sql));
            for a in &w.args {
                cq = cq.bind(a.clone());
            }
            let total = cq.fetch_one(&mut *tx).await?.0;
            (rows, total)
        });
        Ok((rows, total))
    }

    /// Borrowing requests whose lender deadline has passed, oldest first.
    pub async fn borrow_deadlines_due(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(self.pool(), p => {
            sqlx::query_as(
                "SELECT request_id FROM borrow_request WHERE lender_deadline IS NOT NULL AND lender_deadline <= $1
                 ORDER BY lender_deadline LIMIT $2",
            )
            .bind(crate::sql::TimeText(now))
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The UTC offsets (minutes east) the libraries keep, each once: a sweep that goes by
    /// days works out each one's date, and its query compares each library with its own.
    pub async fn library_offsets(&self) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = on_pool!(self.pool(), p => {
            sqlx::query_as(
                "SELECT DISTINCT utc_offset_minutes FROM library ORDER BY utc_offset_minutes",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Loans we lent whose due date has passed in the lending library's own time and that are
    /// not yet marked overdue, leaving out loans whose return either side holds (the borrower
    /// keeps it a while with the lender's knowledge, or the lender asked it to). `today` pairs
    /// each UTC offset in use (minutes east, as [`Store::library_offsets`] gives them) with its
    /// date now; a loan of a library at an offset not listed (changed since) waits for the next
    /// round.
    pub async fn lend_overdue_due(&self, today: &[(i64, Date)], limit: i64) -> Result<Vec<String>> {
        if today.is_empty() {
            return Ok(Vec::new());
        }
        // Placeholders only, built from the list's length: no value goes into the text.
        let each: Vec<String> = (0..today.len())
            .map(|i| {
                format!(
                    "(l.utc_offset_minutes = ${} AND r.due_date < ${})",
                    2 * i + 2,
                    2 * i + 3
                )
            })
            .collect();
        let sql = format!(
            "SELECT r.request_id FROM lend_request r JOIN library l ON l.library_id = r.library_id
             WHERE r.state = 'shipped' AND ({})
               AND NOT EXISTS (SELECT 1 FROM return_hold h WHERE h.request_id = r.request_id)
             ORDER BY r.due_date, r.request_id LIMIT $1",
            each.join(" OR ")
        );
        let rows = on_pool!(self.pool(), p => {
            let mut q = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql)).bind(limit);
            for (minutes, date) in today {
                q = q.bind(*minutes).bind(*date);
            }
            q.fetch_all(p).await?
        });
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// How many of the library's borrowing requests are in each state: the queue's facets.
    pub async fn borrow_state_counts(&self, library_id: &str) -> Result<Vec<(String, i64)>> {
        self.state_counts("borrow_request", library_id).await
    }

    /// How many of the library's lending requests are in each state: the queue's facets.
    pub async fn lend_state_counts(&self, library_id: &str) -> Result<Vec<(String, i64)>> {
        self.state_counts("lend_request", library_id).await
    }

    /// From the kept counts (migrations 0019 and 0043: every request counts once under
    /// `format`).
    async fn state_counts(&self, table: &str, library_id: &str) -> Result<Vec<(String, i64)>> {
        let side = if table == "lend_request" {
            "lend"
        } else {
            "borrow"
        };
        let sql = format!(
            "SELECT state, CAST(SUM(n) AS BIGINT) FROM {} WHERE library_id = $1 AND side = '{side}' AND facet = 'format'
             GROUP BY state HAVING SUM(n) > 0 ORDER BY state",
            self.counts_source()
        );
        let rows: Vec<(String, i64)> = on_pool!(self.pool(), p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(library_id)
                .fetch_all(p)
                .await?
        });
        Ok(rows)
    }

    pub async fn count_borrow_requests(&self) -> Result<i64> {
        let n: (i64,) = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT COUNT(*) FROM borrow_request").fetch_one(p).await?
        });
        Ok(n.0)
    }
}
