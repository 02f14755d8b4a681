//! Mail received by the inbound SMTP endpoint (partner replies and bounces), filed on the
//! request it names or kept in the unmatched list; and the per-library digest hour's reads.

use time::OffsetDateTime;

use crate::{Result, Store, Tx, on_pool, on_tx};

/// One received mail, without its raw bytes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboundMailRow {
    pub inbound_mail_id: i64,
    pub library_id: Option<String>,
    pub request_id: Option<String>,
    /// `reply` or `bounce`.
    pub kind: String,
    pub envelope_from: String,
    pub envelope_to: String,
    pub from_header: String,
    pub subject: String,
    pub message_id: Option<String>,
    pub body: String,
    pub received_at: OffsetDateTime,
    pub filed_by: Option<String>,
    pub filed_at: Option<OffsetDateTime>,
}

crate::sql::lite_row!(InboundMailRow {
    inbound_mail_id,
    library_id,
    request_id,
    kind,
    envelope_from,
    envelope_to,
    from_header,
    subject,
    message_id,
    body,
    received_at,
    filed_by,
    filed_at
});

/// A mail to keep.
#[derive(Debug, Clone)]
pub struct NewInboundMail<'a> {
    pub library_id: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub kind: &'a str,
    pub envelope_from: &'a str,
    pub envelope_to: &'a str,
    pub from_header: &'a str,
    pub subject: &'a str,
    pub message_id: Option<&'a str>,
    pub body: &'a str,
    pub raw: &'a [u8],
}

const MAIL_COLUMNS: &str = "inbound_mail_id, library_id, request_id, kind, envelope_from, envelope_to, \
     from_header, subject, message_id, body, received_at, filed_by, filed_at";

impl Tx<'_> {
    /// Keep a received mail; returns its id, or None when the same mail (Message-ID, sender
    /// and recipients) was kept before.
    pub async fn insert_inbound_mail(
        &mut self,
        m: &NewInboundMail<'_>,
        now: OffsetDateTime,
    ) -> Result<Option<i64>> {
        let row: Option<(i64,)> = on_tx!(self, c => {
            crate::sql::query_as(
                "INSERT INTO inbound_mail (library_id, request_id, kind, envelope_from, envelope_to,
                   from_header, subject, message_id, body, raw, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (message_id, envelope_from, envelope_to) WHERE message_id IS NOT NULL
                 DO NOTHING RETURNING inbound_mail_id",
            )
            .bind(m.library_id)
            .bind(m.request_id)
            .bind(m.kind)
            .bind(m.envelope_from)
            .bind(m.envelope_to)
            .bind(m.from_header)
            .bind(m.subject)
            .bind(m.message_id)
            .bind(m.body)
            .bind(m.raw)
            .bind(now)
            .fetch_optional(&mut *c)
            .await?
        });
        Ok(row.map(|r| r.0))
    }

    /// The unmatched mail `id` for update, when it is still unmatched.
    pub async fn unmatched_mail_for_update(&mut self, id: i64) -> Result<Option<InboundMailRow>> {
        let lock = if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {MAIL_COLUMNS} FROM inbound_mail WHERE inbound_mail_id = $1 AND request_id IS NULL{lock}"
        );
        let row = on_tx!(self, c => {
            crate::sql::query_as::<InboundMailRow>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row)
    }

    /// File an unmatched mail on a request by hand.
    pub async fn file_inbound_mail(
        &mut self,
        id: i64,
        library_id: &str,
        request_id: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let n = on_tx!(self, c => {
            crate::sql::query(
                "UPDATE inbound_mail SET library_id = $2, request_id = $3, filed_by = $4, filed_at = $5
                 WHERE inbound_mail_id = $1 AND request_id IS NULL",
            )
            .bind(id).bind(library_id).bind(request_id).bind(user_id).bind(now)
            .execute(&mut *c).await?.rows_affected()
        });
        Ok(n > 0)
    }
}

impl Store {
    /// The mail filed on a request of `library_id`, oldest first.
    pub async fn inbound_mail_of_request(
        &self,
        library_id: &str,
        request_id: &str,
    ) -> Result<Vec<InboundMailRow>> {
        let sql = format!(
            "SELECT {MAIL_COLUMNS} FROM inbound_mail WHERE library_id = $1 AND request_id = $2
             ORDER BY inbound_mail_id"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, InboundMailRow>(sqlx::AssertSqlSafe(sql))
                .bind(library_id).bind(request_id)
                .fetch_all(p).await?
        });
        Ok(rows)
    }

    /// Unmatched mail, newest first: of `library_id`, and also the mail no library could be
    /// told for when `with_unattributed` (hub admins).
    pub async fn unmatched_mail(
        &self,
        library_id: &str,
        with_unattributed: bool,
        limit: i64,
    ) -> Result<Vec<InboundMailRow>> {
        let sql = format!(
            "SELECT {MAIL_COLUMNS} FROM inbound_mail WHERE request_id IS NULL
               AND (library_id = $1 OR ($2 AND library_id IS NULL))
             ORDER BY inbound_mail_id DESC LIMIT $3"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, InboundMailRow>(sqlx::AssertSqlSafe(sql))
                .bind(library_id).bind(with_unattributed).bind(limit)
                .fetch_all(p).await?
        });
        Ok(rows)
    }

    /// People with letters waiting for their digest: (user, library, when the oldest was held).
    pub async fn digest_waiting(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, String, OffsetDateTime)>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, (String, String, OffsetDateTime)>(
                "SELECT user_id, library_id, MIN(created_at) FROM letter_digest WHERE sent_at IS NULL
                 GROUP BY user_id, library_id ORDER BY user_id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }
}
