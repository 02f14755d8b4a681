//! Open holds on the return of a loan (ISO 18626:2021), on either side of it: the lender's
//! (status HoldReturn until ReleaseHoldReturn: do not send it back yet) and the borrower's
//! (action HoldReturn: we keep it a while). A row per open hold and holder; releasing deletes it.

use time::OffsetDateTime;

use crate::{Result, Store, Tx, on_pool, on_tx};

/// Who holds the return: the lender asked for it to wait, or the borrower keeps the item.
pub const HELD_BY_LENDER: &str = "lender";
pub const HELD_BY_BORROWER: &str = "borrower";

/// One open hold on the return of a request, as staff pages show it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReturnHold {
    /// `lender` or `borrower`.
    pub held_by: String,
    pub held_at: OffsetDateTime,
    /// The staff member (display name) or the partner's agency (TYPE:VALUE) that set it.
    pub actor: Option<String>,
    /// The reason given with it.
    pub note: Option<String>,
}

crate::sql::lite_row!(ReturnHold {
    held_by,
    held_at,
    actor,
    note
});

/// A hold to open on the return of request `request_id` of `library_id`, on `side`
/// (`borrow` or `lend`), held by `held_by` ([`HELD_BY_LENDER`] or [`HELD_BY_BORROWER`]).
#[derive(Debug, Clone, Copy)]
pub struct NewReturnHold<'a> {
    pub library_id: &'a str,
    pub side: &'a str,
    pub request_id: &'a str,
    pub held_by: &'a str,
    pub actor: Option<&'a str>,
    pub note: Option<&'a str>,
}

impl Tx<'_> {
    /// Opens a hold on the return. Opening a hold that is open already keeps its first time,
    /// actor and reason.
    pub async fn open_return_hold(
        &mut self,
        h: &NewReturnHold<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO return_hold (request_id, held_by, library_id, side, held_at, actor, note)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (request_id, held_by) DO NOTHING",
            )
            .bind(h.request_id)
            .bind(h.held_by)
            .bind(h.library_id)
            .bind(h.side)
            .bind(now)
            .bind(h.actor)
            .bind(h.note)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Releases the holds on the return of `request_id`: `held_by`'s only, or every one.
    pub async fn release_return_hold(
        &mut self,
        request_id: &str,
        held_by: Option<&str>,
    ) -> Result<()> {
        match held_by {
            Some(by) => on_tx!(self, c => {
                crate::sql::query("DELETE FROM return_hold WHERE request_id = $1 AND held_by = $2")
                    .bind(request_id)
                    .bind(by)
                    .execute(&mut *c)
                    .await?;
            }),
            None => on_tx!(self, c => {
                crate::sql::query("DELETE FROM return_hold WHERE request_id = $1")
                    .bind(request_id)
                    .execute(&mut *c)
                    .await?;
            }),
        }
        Ok(())
    }

    /// The open holds on the return of `request_id`, the lender's first.
    pub async fn return_holds(&mut self, request_id: &str) -> Result<Vec<ReturnHold>> {
        let rows = on_tx!(self, c => {
            crate::sql::query_as::<ReturnHold>(
                "SELECT held_by, held_at, actor, note FROM return_hold WHERE request_id = $1
                 ORDER BY held_by DESC",
            )
            .bind(request_id)
            .fetch_all(&mut *c)
            .await?
        });
        Ok(rows)
    }
}

impl Store {
    /// The open holds on the return of `request_id`, the lender's first.
    pub async fn return_holds(&self, request_id: &str) -> Result<Vec<ReturnHold>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, ReturnHold>(
                "SELECT held_by, held_at, actor, note FROM return_hold WHERE request_id = $1
                 ORDER BY held_by DESC",
            )
            .bind(request_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }
}

/// Since when `by` holds the return, among `holds`.
pub fn held_since(holds: &[ReturnHold], by: &str) -> Option<OffsetDateTime> {
    holds.iter().find(|h| h.held_by == by).map(|h| h.held_at)
}

/// Whether the lender and whether the borrower hold the return, among `holds`.
pub fn held_by_each(holds: &[ReturnHold]) -> (bool, bool) {
    (
        held_since(holds, HELD_BY_LENDER).is_some(),
        held_since(holds, HELD_BY_BORROWER).is_some(),
    )
}
