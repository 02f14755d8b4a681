//! What the trusted-sender sweep reads: the libraries' delivery terms, and the copies shipped
//! from other nodes that are waiting to be fetched.

use sqlx::types::Json;

use crate::{Result, Store, on_pool};
use domain::library::DeliverySettings;

impl Store {
    /// Every library's own delivery terms (libraries without a row use the node's).
    pub async fn all_delivery_settings(&self) -> Result<Vec<(String, DeliverySettings)>> {
        let rows: Vec<(String, Json<DeliverySettings>)> = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT library_id, settings FROM delivery_settings ORDER BY library_id")
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(|(l, s)| (l, s.0)).collect())
    }

    /// Requests of `library_id` in `state`, not of format `loan_format`, whose copy is at a
    /// partner's address and not yet stored here: (request id, lender, address), oldest first.
    pub async fn remote_copies_waiting(
        &self,
        library_id: &str,
        state: &str,
        loan_format: &str,
        limit: i64,
    ) -> Result<Vec<(String, Option<String>, String)>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as(
                "SELECT request_id, lender_id, document_url FROM borrow_request
                 WHERE library_id = $1 AND state = $2 AND format <> $3
                   AND document_url IS NOT NULL AND document_file_id IS NULL
                 ORDER BY updated_at LIMIT $4",
            )
            .bind(library_id)
            .bind(state)
            .bind(loan_format)
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }
}
