//! Open holds on the return of a loan (ISO 18626:2021 HoldReturn / ReleaseHoldReturn), on
//! either side: a row while the lender has asked for the item not to be sent back.

use time::OffsetDateTime;

use crate::{Result, Store, Tx, on_pool, on_tx};

impl Tx<'_> {
    /// Opens (`held`) or releases the hold on the return of request `request_id` of
    /// `library_id`, on `side` (`borrow` or `lend`). Opening an open hold keeps its first time.
    pub async fn set_return_hold(
        &mut self,
        library_id: &str,
        side: &str,
        request_id: &str,
        held: bool,
        now: OffsetDateTime,
    ) -> Result<()> {
        if held {
            on_tx!(self, c => {
                crate::sql::query(
                    "INSERT INTO return_hold (request_id, library_id, side, held_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING",
                )
                .bind(request_id)
                .bind(library_id)
                .bind(side)
                .bind(now)
                .execute(&mut *c)
                .await?;
            });
        } else {
            on_tx!(self, c => {
                crate::sql::query("DELETE FROM return_hold WHERE request_id = $1")
                    .bind(request_id)
                    .execute(&mut *c)
                    .await?;
            });
        }
        Ok(())
    }

    /// Since when the return of `request_id` is held, if it is.
    pub async fn return_held_since(&mut self, request_id: &str) -> Result<Option<OffsetDateTime>> {
        let row: Option<(OffsetDateTime,)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT held_at FROM return_hold WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row.map(|r| r.0))
    }
}

impl Store {
    /// Since when the return of `request_id` is held, if it is.
    pub async fn return_held_since(&self, request_id: &str) -> Result<Option<OffsetDateTime>> {
        let row: Option<(OffsetDateTime,)> = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT held_at FROM return_hold WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|r| r.0))
    }
}
