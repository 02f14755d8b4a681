//! What statistics are computed from: each borrowing request with its reader's type and
//! department, and the events of its history.

use time::OffsetDateTime;

use crate::{Result, Store, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatRequest {
    pub request_id: String,
    pub format: String,
    pub state: String,
    pub lender_id: Option<String>,
    pub rota: sqlx::types::Json<domain::rota::Rota>,
    pub patron_type: Option<String>,
    pub department: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatEvent {
    pub request_id: String,
    pub action: String,
    pub at: OffsetDateTime,
}

impl Store {
    /// The borrowing requests of `library_id` created in [from, to).
    pub async fn stat_requests(
        &self,
        library_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<StatRequest>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, StatRequest>(
                "SELECT r.request_id, r.format, r.state, r.lender_id, r.rota, u.patron_type, u.department, r.created_at
                 FROM borrow_request r JOIN app_user u ON u.user_id = r.patron_id
                 WHERE r.library_id = $1 AND r.created_at >= $2 AND r.created_at < $3",
            )
            .bind(library_id)
            .bind(from)
            .bind(to)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    /// The borrowing-side events of those requests, oldest first.
    pub async fn stat_events(
        &self,
        library_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<StatEvent>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, StatEvent>(
                "SELECT e.request_id, e.action, e.at FROM request_event e
                 JOIN borrow_request r ON r.request_id = e.request_id
                 WHERE e.library_id = $1 AND e.side = 'borrow' AND r.created_at >= $2 AND r.created_at < $3
                 ORDER BY e.event_id",
            )
            .bind(library_id)
            .bind(from)
            .bind(to)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }
}
