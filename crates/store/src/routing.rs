//! What routing reads: each library's routing settings, and the borrowing history of every
//! lender (one query over a recent window, kept for a short while) from which fill rate,
//! turnaround and reliability are measured, with the requests waiting for each lender now
//! (its load).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::routing::{HistoryStep, LenderRecord, RoutingSettings};
use time::OffsetDateTime;

use crate::{Pool, Result, Store, Tx, on_pool, on_tx};

/// Each library's measured figures, by library code.
pub type LenderRecords = Arc<HashMap<String, LenderRecord>>;

/// The measured figures as last computed, and when.
#[derive(Debug, Default)]
pub(crate) struct HistoryCache {
    inner: Mutex<Option<(Instant, LenderRecords)>>,
}

#[derive(sqlx::FromRow)]
struct StepRow {
    request_id: String,
    library_id: String,
    state: String,
    action: String,
    at: OffsetDateTime,
    lender: String,
}

impl Store {
    /// The library's routing settings, when it set them.
    pub async fn routing_settings(&self, library_id: &str) -> Result<Option<RoutingSettings>> {
        let row: Option<(sqlx::types::Json<RoutingSettings>,)> = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT settings FROM routing_settings WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|r| r.0.0))
    }

    /// Fill rate, turnaround and reliability of every library from the borrowing events since
    /// `since`, and its open requests now, reused while younger than `max_age`.
    pub async fn lender_records(
        &self,
        since: OffsetDateTime,
        max_age: Duration,
    ) -> Result<LenderRecords> {
        let cache = self.routing_cache();
        if let Ok(guard) = cache.inner.lock()
            && let Some((at, map)) = guard.as_ref()
            && at.elapsed() < max_age
        {
            return Ok(map.clone());
        }
        // The lender after each step is in the event's data (empty when no lender has the
        // request, e.g. after the last one said no); the two engines read JSON differently,
        // the rest is the same.
        let select = |lender: &str| {
            format!(
                "SELECT r.request_id, r.library_id, r.state, e.action, e.at, COALESCE({lender}, '') AS lender
                 FROM request_event e JOIN borrow_request r ON r.request_id = e.request_id
                 WHERE e.side = 'borrow' AND e.at >= $1
                 ORDER BY r.request_id, e.event_id"
            )
        };
        let rows: Vec<StepRow> = match self.pool() {
            Pool::Sqlite(p) => {
                let sql = select("json_extract(e.data, '$.lender')");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(crate::sql::TimeText(since))
                    .fetch_all(p)
                    .await?
            }
            Pool::Postgres(p) => {
                let sql = select("(e.data ->> 'lender')");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(crate::sql::TimeText(since))
                    .fetch_all(p)
                    .await?
            }
        };
        let steps: Vec<HistoryStep> = rows
            .into_iter()
            .map(|r| HistoryStep {
                request_id: r.request_id,
                borrower: r.library_id,
                state: r.state,
                action: r.action,
                at: r.at,
                lender: r.lender,
            })
            .collect();
        let mut measured = domain::routing::measure(&steps);
        // Load is what waits for each lender's answer now, not what it did over the year.
        let waiting: Vec<&str> = domain::requester::BorrowState::ALL
            .iter()
            .filter(|s| s.is_awaiting_lender())
            .map(|s| s.as_str())
            .collect();
        for (lender, n) in self.open_requests_by_lender(&waiting).await? {
            measured.entry(lender).or_default().open_now = n;
        }
        let map = Arc::new(measured);
        if let Ok(mut guard) = cache.inner.lock() {
            *guard = Some((Instant::now(), map.clone()));
        }
        Ok(map)
    }
}

impl Tx<'_> {
    pub async fn set_routing_settings(
        &mut self,
        library_id: &str,
        s: &RoutingSettings,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO routing_settings (library_id, settings, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (library_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
            )
            .bind(library_id)
            .bind(sqlx::types::Json(s))
            .bind(now)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }
}
