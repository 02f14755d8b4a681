//! The lender's stored copies of digital shipments fetched by a borrowing library on another
//! node: when they were first fetched, and which of them may now be deleted.

use time::OffsetDateTime;

use crate::files::{FILE_COLUMNS, StoredFile};
use crate::{Result, Store, Tx, on_pool, on_tx};

impl Tx<'_> {
    /// Note the first fetch of a stored copy by the borrowing library; later fetches (a retry)
    /// keep the first time. True when this was the first.
    pub async fn mark_file_fetched(&mut self, file_id: &str, now: OffsetDateTime) -> Result<bool> {
        let n = on_tx!(self, c => {
            crate::sql::query("UPDATE stored_file SET fetched_at = $2 WHERE file_id = $1 AND fetched_at IS NULL")
                .bind(file_id)
                .bind(now)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}

impl Store {
    /// Lenders' copies first fetched before `fetched_before`, not purged, that no reader of
    /// this node still has a live link to (a borrower on the same node reads the lender's
    /// file itself; that copy goes when its links expire).
    pub async fn lender_copies_to_purge(
        &self,
        fetched_before: OffsetDateTime,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<StoredFile>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM stored_file f WHERE purged_at IS NULL
               AND lend_request_id IS NOT NULL AND fetched_at IS NOT NULL AND fetched_at < $1
               AND NOT EXISTS (SELECT 1 FROM delivery_link l WHERE l.file_id = f.file_id
                                AND l.revoked_at IS NULL AND l.expires_at > $2)
             ORDER BY fetched_at LIMIT $3"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, StoredFile>(sqlx::AssertSqlSafe(sql))
                .bind(crate::sql::TimeText(fetched_before))
                .bind(crate::sql::TimeText(now))
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        Ok(rows)
    }
}
