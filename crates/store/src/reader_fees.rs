//! What libraries charge their readers: the reader fee policy, deposit accounts with every
//! movement, the charge of each request with who paid it, and the review flag of a request
//! whose expected charge the reader's deposit does not cover.

use std::collections::HashMap;

use domain::reader_fees::ReaderFeePolicy;
use time::OffsetDateTime;

use crate::request::BORROW_COLUMNS;
use crate::{BorrowRequest, Result, Store, Tx, on_pool, on_tx};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DepositMovementRow {
    pub deposit_movement_id: i64,
    pub library_id: String,
    pub patron_id: String,
    pub currency: String,
    pub amount_minor: i64,
    pub balance_minor: i64,
    pub kind: String,
    pub borrow_request_id: Option<String>,
    pub reason: String,
    /// The reason in Chinese, for the movements the system writes (a charge, a charge given
    /// back); `None` for what staff typed, which is shown as typed.
    pub reason_zh: Option<String>,
    pub actor_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

crate::sql::lite_row!(DepositMovementRow {
    deposit_movement_id,
    library_id,
    patron_id,
    currency,
    amount_minor,
    balance_minor,
    kind,
    borrow_request_id,
    reason,
    reason_zh,
    actor_id,
    created_at
});

const MOVEMENT_COLUMNS: &str = "deposit_movement_id, library_id, patron_id, currency, amount_minor, balance_minor, kind, borrow_request_id, reason, reason_zh, actor_id, created_at";

/// A reader's balance in one currency.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DepositBalance {
    pub patron_id: String,
    pub currency: String,
    pub balance_minor: i64,
}

crate::sql::lite_row!(DepositBalance {
    patron_id,
    currency,
    balance_minor
});

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ReaderChargeRow {
    pub borrow_request_id: String,
    pub library_id: String,
    pub patron_id: String,
    pub service: String,
    pub amount_minor: i64,
    pub currency: String,
    pub payer: String,
    pub basis: String,
    pub basis_zh: String,
    pub year: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the charge was given back: the request ended without the reader getting the item.
    #[serde(with = "time::serde::rfc3339::option")]
    pub refunded_at: Option<OffsetDateTime>,
}

crate::sql::lite_row!(ReaderChargeRow {
    borrow_request_id,
    library_id,
    patron_id,
    service,
    amount_minor,
    currency,
    payer,
    basis,
    basis_zh,
    year,
    created_at,
    refunded_at
});

const CHARGE_COLUMNS: &str = "borrow_request_id, library_id, patron_id, service, amount_minor, currency, payer, basis, basis_zh, year, created_at, refunded_at";

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ChargeReviewRow {
    pub borrow_request_id: String,
    pub library_id: String,
    pub expected_minor: i64,
    pub currency: String,
    pub balance_minor: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

crate::sql::lite_row!(ChargeReviewRow {
    borrow_request_id,
    library_id,
    expected_minor,
    currency,
    balance_minor,
    created_at
});

/// What pays for a library's open requests, read at once (see `Tx::fee_standing`).
#[derive(Debug, Clone, Default)]
pub struct FeeStanding {
    /// Reader id → their type, if their account has one.
    pub patron_types: HashMap<String, Option<String>>,
    /// (reader id, service) → the charges the subsidy paid this year.
    pub subsidy_used: HashMap<(String, String), i64>,
    /// (reader id, currency) → the deposit balance.
    pub balances: HashMap<(String, String), i64>,
    /// Request id → its review flag.
    pub reviews: HashMap<String, ChargeReviewRow>,
}

/// A deposit movement about to be written.
#[derive(Debug, Clone)]
pub struct NewDepositMovement<'a> {
    pub library_id: &'a str,
    pub patron_id: &'a str,
    pub currency: &'a str,
    /// Signed: a top-up is positive, a refund or a charge negative.
    pub amount_minor: i64,
    /// `top_up`, `refund`, `charge` or `charge_refund` (a charge given back).
    pub kind: &'static str,
    pub borrow_request_id: Option<&'a str>,
    pub reason: &'a str,
    /// The reason in Chinese, when the system writes it; `None` for a reason staff typed.
    pub reason_zh: Option<&'a str>,
    pub actor_id: Option<&'a str>,
}

impl Store {
    pub async fn reader_fee_policy(&self, library_id: &str) -> Result<Option<ReaderFeePolicy>> {
        let row: Option<(sqlx::types::Json<ReaderFeePolicy>,)> = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT policy FROM reader_fee_policy WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|r| r.0.0))
    }

    /// A reader's balances, one per currency they ever had a deposit in.
    pub async fn deposit_balances(&self, patron_id: &str) -> Result<Vec<DepositBalance>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, DepositBalance>(
                "SELECT patron_id, currency, balance_minor FROM deposit_account WHERE patron_id = $1 ORDER BY currency",
            )
            .bind(patron_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    /// Every reader of the library with a deposit account, and the balance.
    pub async fn library_deposits(&self, library_id: &str) -> Result<Vec<DepositBalance>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, DepositBalance>(
                "SELECT patron_id, currency, balance_minor FROM deposit_account WHERE library_id = $1
                 ORDER BY patron_id, currency",
            )
            .bind(library_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    /// A reader's deposit movements, newest first.
    pub async fn deposit_movements(
        &self,
        patron_id: &str,
        limit: i64,
    ) -> Result<Vec<DepositMovementRow>> {
        let sql = format!(
            "SELECT {MOVEMENT_COLUMNS} FROM deposit_movement WHERE patron_id = $1
             ORDER BY deposit_movement_id DESC LIMIT $2"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, DepositMovementRow>(sqlx::AssertSqlSafe(sql))
                .bind(patron_id)
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        Ok(rows)
    }

    /// What the reader was charged for a request, and who paid.
    pub async fn reader_charge(&self, request_id: &str) -> Result<Option<ReaderChargeRow>> {
        let sql =
            format!("SELECT {CHARGE_COLUMNS} FROM reader_charge WHERE borrow_request_id = $1");
        let row = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, ReaderChargeRow>(sqlx::AssertSqlSafe(sql))
                .bind(request_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row)
    }

    /// A reader's charges, newest first.
    pub async fn reader_charges_of(
        &self,
        patron_id: &str,
        limit: i64,
    ) -> Result<Vec<ReaderChargeRow>> {
        let sql = format!(
            "SELECT {CHARGE_COLUMNS} FROM reader_charge WHERE patron_id = $1
             ORDER BY created_at DESC, borrow_request_id LIMIT $2"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, ReaderChargeRow>(sqlx::AssertSqlSafe(sql))
                .bind(patron_id)
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        Ok(rows)
    }

    /// The open review flag of a request: its deposit did not cover the expected charge.
    pub async fn charge_review(&self, request_id: &str) -> Result<Option<ChargeReviewRow>> {
        let row = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, ChargeReviewRow>(
                "SELECT borrow_request_id, library_id, expected_minor, currency, balance_minor, created_at
                 FROM reader_charge_review WHERE borrow_request_id = $1",
            )
            .bind(request_id)
            .fetch_optional(p)
            .await?
        });
        Ok(row)
    }
}

impl Tx<'_> {
    pub async fn set_reader_fee_policy(
        &mut self,
        library_id: &str,
        policy: &ReaderFeePolicy,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO reader_fee_policy (library_id, policy, updated_at, updated_by) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (library_id) DO UPDATE SET policy = excluded.policy,
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(library_id)
            .bind(sqlx::types::Json(policy))
            .bind(now)
            .bind(by)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    pub async fn reader_fee_policy(&mut self, library_id: &str) -> Result<Option<ReaderFeePolicy>> {
        let row: Option<(sqlx::types::Json<ReaderFeePolicy>,)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT policy FROM reader_fee_policy WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row.map(|r| r.0.0))
    }

    /// The reader's balance in `currency` (0 without an account).
    pub async fn deposit_balance(&mut self, patron_id: &str, currency: &str) -> Result<i64> {
        let row: Option<(i64,)> = on_tx!(self, c => {
            crate::sql::query_as(
                "SELECT balance_minor FROM deposit_account WHERE patron_id = $1 AND currency = $2",
            )
            .bind(patron_id)
            .bind(currency)
            .fetch_optional(&mut *c)
            .await?
        });
        Ok(row.map_or(0, |r| r.0))
    }

    /// Move money in or out of a reader's deposit and record the movement. Returns the
    /// movement, or `None` when it would take the balance below zero (nothing is written).
    /// The balance changes by one conditional statement, so two movements never both spend
    /// the same money.
    pub async fn move_deposit(
        &mut self,
        m: &NewDepositMovement<'_>,
        now: OffsetDateTime,
    ) -> Result<Option<DepositMovementRow>> {
        let balance: Option<(i64,)> = on_tx!(self, c => {
            if m.amount_minor >= 0 {
                crate::sql::query_as(
                    "INSERT INTO deposit_account (patron_id, currency, library_id, balance_minor, updated_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (patron_id, currency) DO UPDATE
                         SET balance_minor = deposit_account.balance_minor + excluded.balance_minor,
                             updated_at = excluded.updated_at
                     RETURNING balance_minor",
                )
                .bind(m.patron_id)
                .bind(m.currency)
                .bind(m.library_id)
                .bind(m.amount_minor)
                .bind(now)
                .fetch_optional(&mut *c)
                .await?
            } else {
                crate::sql::query_as(
                    "UPDATE deposit_account SET balance_minor = balance_minor + $3, updated_at = $4
                     WHERE patron_id = $1 AND currency = $2 AND balance_minor + $3 >= 0
                     RETURNING balance_minor",
                )
                .bind(m.patron_id)
                .bind(m.currency)
                .bind(m.amount_minor)
                .bind(now)
                .fetch_optional(&mut *c)
                .await?
            }
        });
        let Some((balance,)) = balance else {
            return Ok(None);
        };
        let sql = format!(
            "INSERT INTO deposit_movement (library_id, patron_id, currency, amount_minor, balance_minor, kind, borrow_request_id, reason, reason_zh, actor_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {MOVEMENT_COLUMNS}"
        );
        let row = on_tx!(self, c => {
            crate::sql::query_as::<DepositMovementRow>(sqlx::AssertSqlSafe(sql))
                .bind(m.library_id)
                .bind(m.patron_id)
                .bind(m.currency)
                .bind(m.amount_minor)
                .bind(balance)
                .bind(m.kind)
                .bind(m.borrow_request_id)
                .bind(m.reason)
                .bind(m.reason_zh)
                .bind(m.actor_id)
                .bind(now)
                .fetch_one(&mut *c)
                .await?
        });
        Ok(Some(row))
    }

    /// How many charges of `service` the library paid for the reader in `year` (the subsidy
    /// used).
    pub async fn subsidy_used(&mut self, patron_id: &str, year: i64, service: &str) -> Result<i64> {
        let row: (i64,) = on_tx!(self, c => {
            crate::sql::query_as(
                "SELECT COUNT(*) FROM reader_charge
                 WHERE patron_id = $1 AND year = $2 AND service = $3 AND payer = 'subsidy'
                   AND refunded_at IS NULL",
            )
            .bind(patron_id)
            .bind(year)
            .bind(service)
            .fetch_one(&mut *c)
            .await?
        });
        Ok(row.0)
    }

    pub async fn reader_charge_exists(&mut self, request_id: &str) -> Result<bool> {
        let row: Option<(i64,)> = on_tx!(self, c => {
            // Typed: PostgreSQL's plain `1` is an INTEGER, which does not read as i64.
            crate::sql::query_as(
                "SELECT CAST(1 AS BIGINT) FROM reader_charge WHERE borrow_request_id = $1",
            )
            .bind(request_id)
            .fetch_optional(&mut *c)
            .await?
        });
        Ok(row.is_some())
    }

    /// Mark a request's charge refunded, once: returns the charge when this call refunded it,
    /// `None` when there is none or it was refunded already.
    pub async fn refund_reader_charge(
        &mut self,
        request_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ReaderChargeRow>> {
        let sql = format!(
            "UPDATE reader_charge SET refunded_at = $2
             WHERE borrow_request_id = $1 AND refunded_at IS NULL
             RETURNING {CHARGE_COLUMNS}"
        );
        let row = on_tx!(self, c => {
            crate::sql::query_as::<ReaderChargeRow>(sqlx::AssertSqlSafe(sql))
                .bind(request_id)
                .bind(now)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row)
    }

    /// What pays for the library's open requests (one reader's, with `patron_id`), read at
    /// once for a review of all of them: the readers' types, the subsidies they used in
    /// `year` and their deposit balances, and the review flags the requests carry. Five
    /// statements, however many requests and readers.
    pub async fn fee_standing(
        &mut self,
        library_id: &str,
        patron_id: Option<&str>,
        states: &[&str],
        year: i64,
    ) -> Result<FeeStanding> {
        let mut out = FeeStanding::default();
        if states.is_empty() {
            return Ok(out);
        }
        let reader = if patron_id.is_some() {
            " AND patron_id = $2"
        } else {
            " AND $2 IS NULL"
        };
        let marks: Vec<String> = (3..3 + states.len()).map(|i| format!("${i}")).collect();
        let open = format!(
            "SELECT DISTINCT patron_id FROM borrow_request
             WHERE library_id = $1{reader} AND state IN ({})",
            marks.join(", ")
        );
        let types_sql =
            format!("SELECT user_id, patron_type FROM app_user WHERE user_id IN ({open})");
        let used_sql = "SELECT patron_id, service, COUNT(*) FROM reader_charge
             WHERE year = $3 AND payer = 'subsidy' AND refunded_at IS NULL
               AND library_id = $1 AND ($2 IS NULL OR patron_id = $2)
             GROUP BY patron_id, service";
        let balances_sql = "SELECT patron_id, currency, balance_minor FROM deposit_account
             WHERE library_id = $1 AND ($2 IS NULL OR patron_id = $2)";
        let reviews_sql = "SELECT borrow_request_id, library_id, expected_minor, currency, balance_minor, created_at
             FROM reader_charge_review r
             WHERE library_id = $1 AND ($2 IS NULL OR EXISTS (
                 SELECT 1 FROM borrow_request b
                 WHERE b.request_id = r.borrow_request_id AND b.patron_id = $2))";
        on_tx!(self, c => {
            let mut q = crate::sql::query_as::<(String, Option<String>)>(sqlx::AssertSqlSafe(types_sql))
                .bind(library_id)
                .bind(patron_id);
            for s in states {
                q = q.bind(*s);
            }
            out.patron_types = q.fetch_all(&mut *c).await?.into_iter().collect();
            let rows = crate::sql::query_as::<(String, String, i64)>(used_sql)
                .bind(library_id)
                .bind(patron_id)
                .bind(year)
                .fetch_all(&mut *c)
                .await?;
            out.subsidy_used = rows.into_iter().map(|(p, s, n)| ((p, s), n)).collect();
            let rows = crate::sql::query_as::<(String, String, i64)>(balances_sql)
                .bind(library_id)
                .bind(patron_id)
                .fetch_all(&mut *c)
                .await?;
            out.balances = rows.into_iter().map(|(p, cur, b)| ((p, cur), b)).collect();
            let rows = crate::sql::query_as::<ChargeReviewRow>(reviews_sql)
                .bind(library_id)
                .bind(patron_id)
                .fetch_all(&mut *c)
                .await?;
            out.reviews = rows
                .into_iter()
                .map(|r| (r.borrow_request_id.clone(), r))
                .collect();
        });
        Ok(out)
    }

    pub async fn insert_reader_charge(&mut self, r: &ReaderChargeRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO reader_charge ({CHARGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        on_tx!(self, c => {
            crate::sql::query(sqlx::AssertSqlSafe(sql))
                .bind(&r.borrow_request_id)
                .bind(&r.library_id)
                .bind(&r.patron_id)
                .bind(&r.service)
                .bind(r.amount_minor)
                .bind(&r.currency)
                .bind(&r.payer)
                .bind(&r.basis)
                .bind(&r.basis_zh)
                .bind(r.year)
                .bind(r.created_at)
                .bind(r.refunded_at)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    pub async fn insert_charge_review(&mut self, r: &ChargeReviewRow) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO reader_charge_review (borrow_request_id, library_id, expected_minor, currency, balance_minor, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (borrow_request_id) DO UPDATE SET expected_minor = excluded.expected_minor,
                     currency = excluded.currency, balance_minor = excluded.balance_minor,
                     created_at = excluded.created_at",
            )
            .bind(&r.borrow_request_id)
            .bind(&r.library_id)
            .bind(r.expected_minor)
            .bind(&r.currency)
            .bind(r.balance_minor)
            .bind(r.created_at)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// The library's requests in one of `states` that have no reader charge yet (one
    /// reader's, with `patron_id`), oldest first: those whose review flag a change of deposit,
    /// subsidy or policy can turn.
    pub async fn uncharged_requests(
        &mut self,
        library_id: &str,
        patron_id: Option<&str>,
        states: &[&str],
    ) -> Result<Vec<BorrowRequest>> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        let reader = if patron_id.is_some() {
            " AND patron_id = $2"
        } else {
            ""
        };
        let first = if patron_id.is_some() { 3 } else { 2 };
        let marks: Vec<String> = (first..first + states.len())
            .map(|i| format!("${i}"))
            .collect();
        let sql = format!(
            "SELECT {BORROW_COLUMNS} FROM borrow_request
             WHERE library_id = $1{reader} AND state IN ({})
               AND NOT EXISTS (SELECT 1 FROM reader_charge c
                               WHERE c.borrow_request_id = borrow_request.request_id)
             ORDER BY created_at, request_id",
            marks.join(", ")
        );
        let rows = on_tx!(self, c => {
            let mut q = crate::sql::query_as::<BorrowRequest>(sqlx::AssertSqlSafe(sql))
                .bind(library_id);
            if let Some(p) = patron_id {
                q = q.bind(p);
            }
            for s in states {
                q = q.bind(*s);
            }
            q.fetch_all(&mut *c).await?
        });
        Ok(rows)
    }

    /// Whether a request carries the review flag.
    pub async fn charge_review_exists(&mut self, request_id: &str) -> Result<bool> {
        let row: Option<(i64,)> = on_tx!(self, c => {
            crate::sql::query_as(
                "SELECT CAST(1 AS BIGINT) FROM reader_charge_review WHERE borrow_request_id = $1",
            )
            .bind(request_id)
            .fetch_optional(&mut *c)
            .await?
        });
        Ok(row.is_some())
    }

    /// Clear a request's review flag; true when there was one.
    pub async fn clear_charge_review(&mut self, request_id: &str) -> Result<bool> {
        let done = on_tx!(self, c => {
            crate::sql::query("DELETE FROM reader_charge_review WHERE borrow_request_id = $1")
                .bind(request_id)
                .execute(&mut *c)
                .await?
        });
        Ok(done.rows_affected() > 0)
    }
}
