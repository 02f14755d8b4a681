//! Letters' own records: templates libraries rewrote, letter rules, each person's choices per
//! kind of letter, reminders already queued, letters held for a digest, password reset links,
//! and the background jobs' runs.

use sqlx::types::Json;
use time::{Date, OffsetDateTime};

use crate::{Result, Store, Tx, on_pool, on_tx};
use domain::library::LetterSettings;

/// A library's own version of one letter in one language.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LetterTemplateRow {
    pub library_id: String,
    pub kind: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    pub updated_by: Option<String>,
    pub updated_at: OffsetDateTime,
}

/// A letter held for a digest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DigestItem {
    pub letter_digest_id: i64,
    pub library_id: String,
    pub user_id: String,
    pub payload: String,
    pub created_at: OffsetDateTime,
}

crate::sql::lite_row!(DigestItem {
    letter_digest_id,
    library_id,
    user_id,
    payload,
    created_at
});

/// One background job as last run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRun {
    pub job: String,
    pub last_start: Option<OffsetDateTime>,
    pub last_end: Option<OffsetDateTime>,
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub failures: i64,
    pub next_run: Option<OffsetDateTime>,
    pub lease_until: Option<OffsetDateTime>,
}

const TEMPLATE_COLUMNS: &str = "library_id, kind, locale, subject, body, updated_by, updated_at";
const JOB_COLUMNS: &str =
    "job, last_start, last_end, last_result, last_error, failures, next_run, lease_until";

impl Store {
    pub async fn letter_template(
        &self,
        library_id: &str,
        kind: &str,
        locale: &str,
    ) -> Result<Option<LetterTemplateRow>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM letter_template WHERE library_id = $1 AND kind = $2 AND locale = $3"
        );
        let row = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, LetterTemplateRow>(sqlx::AssertSqlSafe(sql))
                .bind(library_id).bind(kind).bind(locale)
                .fetch_optional(p).await?
        });
        Ok(row)
    }

    /// The library's letter rules, or the defaults.
    pub async fn letter_settings(&self, library_id: &str) -> Result<LetterSettings> {
        let row: Option<(Json<LetterSettings>,)> = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT settings FROM letter_settings WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|r| r.0.0).unwrap_or_default())
    }

    /// Every library's own mail addresses (see `LetterSettings::mail_addresses`), for the
    /// libraries that set any: (library, addresses).
    pub async fn library_mail_addresses(&self) -> Result<Vec<(String, Vec<String>)>> {
        let rows: Vec<(String, Json<LetterSettings>)> = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT library_id, settings FROM letter_settings ORDER BY library_id")
                .fetch_all(p)
                .await?
        });
        Ok(rows
            .into_iter()
            .filter(|(_, s)| !s.0.mail_addresses.is_empty())
            .map(|(l, s)| (l, s.0.mail_addresses))
            .collect())
    }

    /// A person's choices: (kind, delivery) for the kinds they changed.
    pub async fn letter_preferences(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, (String, String)>(
                "SELECT kind, delivery FROM letter_preference WHERE user_id = $1 ORDER BY kind",
            )
            .bind(user_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    /// Borrowing requests in one of `states` whose due date is on or before `until`: the
    /// candidates for due-date reminders (checked again in the transaction that queues one).
    pub async fn borrow_requests_due_by(
        &self,
        states: &[&str],
        until: Date,
        limit: i64,
    ) -> Result<Vec<String>> {
        // States come from the domain's own list, never from input; placeholders keep it so.
        let marks: Vec<String> = (0..states.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT request_id FROM borrow_request WHERE due_date IS NOT NULL AND due_date <= $1
               AND state IN ({})
               AND NOT EXISTS (SELECT 1 FROM letter_reminder r WHERE r.request_id = borrow_request.request_id
                                AND r.due_date = borrow_request.due_date AND r.kind = 'overdue')
             ORDER BY due_date, request_id LIMIT $2",
            marks.join(", ")
        );
        let rows = on_pool!(self.pool(), p => {
            let mut q = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql)).bind(until).bind(limit);
            for s in states {
                q = q.bind(*s);
            }
            q.fetch_all(p).await?
        });
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Whether a reset link would work now (for the form that asks for the new password).
    pub async fn password_reset_valid(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let row: Option<(String,)> = on_pool!(self.pool(), p => {
            sqlx::query_as(
                "SELECT user_id FROM password_reset WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash).bind(crate::sql::TimeText(now))
            .fetch_optional(p).await?
        });
        Ok(row.is_some())
    }

    /// Accounts with this e-mail address (case does not matter), across the node.
    pub async fn users_by_email(&self, email: &str) -> Result<Vec<crate::UserRow>> {
        let sql = format!(
            "SELECT {} FROM app_user WHERE lower(email) = lower($1) ORDER BY username",
            crate::directory::USER_COLUMNS
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, crate::UserRow>(sqlx::AssertSqlSafe(sql)).bind(email).fetch_all(p).await?
        });
        Ok(rows)
    }

    pub async fn job_runs(&self) -> Result<Vec<JobRun>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM job_run ORDER BY job");
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, JobRun>(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?
        });
        Ok(rows)
    }
}

impl Tx<'_> {
    pub async fn set_letter_template(&mut self, t: &LetterTemplateRow) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO letter_template (library_id, kind, locale, subject, body, updated_by, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (library_id, kind, locale) DO UPDATE SET subject = excluded.subject,
                   body = excluded.body, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .bind(&t.library_id)
            .bind(&t.kind)
            .bind(&t.locale)
            .bind(&t.subject)
            .bind(&t.body)
            .bind(&t.updated_by)
            .bind(t.updated_at)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Back to the shipped default. Returns whether the library had its own version.
    pub async fn delete_letter_template(
        &mut self,
        library_id: &str,
        kind: &str,
        locale: &str,
    ) -> Result<bool> {
        let n = on_tx!(self, c => {
            crate::sql::query("DELETE FROM letter_template WHERE library_id = $1 AND kind = $2 AND locale = $3")
                .bind(library_id).bind(kind).bind(locale)
                .execute(&mut *c).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// Every library's own mail addresses as this transaction sees them, after taking the
    /// mail-address lock (PostgreSQL; SQLite has one writer): two libraries saving the same
    /// address at once are checked one after the other, so only the first gets it.
    pub async fn library_mail_addresses_locked(&mut self) -> Result<Vec<(String, Vec<String>)>> {
        if let crate::Conn::Postgres(c) = &mut self.conn {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind("letter_settings|mail_addresses")
                .execute(&mut **c)
                .await?;
        }
        let rows: Vec<(String, Json<LetterSettings>)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT library_id, settings FROM letter_settings ORDER BY library_id")
                .fetch_all(&mut *c)
                .await?
        });
        Ok(rows
            .into_iter()
            .filter(|(_, s)| !s.0.mail_addresses.is_empty())
            .map(|(l, s)| (l, s.0.mail_addresses))
            .collect())
    }

    pub async fn set_letter_settings(
        &mut self,
        library_id: &str,
        s: &LetterSettings,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO letter_settings (library_id, settings, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (library_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
            )
            .bind(library_id)
            .bind(Json(s))
            .bind(now)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    pub async fn set_letter_preference(
        &mut self,
        user_id: &str,
        kind: &str,
        delivery: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO letter_preference (user_id, kind, delivery, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, kind) DO UPDATE SET delivery = excluded.delivery, updated_at = excluded.updated_at",
            )
            .bind(user_id).bind(kind).bind(delivery).bind(now)
            .execute(&mut *c).await?;
        });
        Ok(())
    }

    /// Record that the `kind` reminder for this due date is queued. False when it already was
    /// (by this process or another): the caller then queues nothing.
    pub async fn claim_reminder(
        &mut self,
        request_id: &str,
        kind: &str,
        due_date: Date,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let n = on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO letter_reminder (request_id, kind, due_date, queued_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (request_id, kind, due_date) DO NOTHING",
            )
            .bind(request_id).bind(kind).bind(due_date).bind(now)
            .execute(&mut *c).await?.rows_affected()
        });
        Ok(n > 0)
    }

    pub async fn insert_digest_item(
        &mut self,
        library_id: &str,
        user_id: &str,
        payload: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO letter_digest (library_id, user_id, payload, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(library_id).bind(user_id).bind(payload).bind(now)
            .execute(&mut *c).await?;
        });
        Ok(())
    }

    /// Take a person's waiting digest letters (oldest first), those held before `cutoff` when
    /// given (later ones wait for the next digest), and mark them sent. On PostgreSQL rows
    /// another process holds are skipped, so no letter goes into two digests.
    pub async fn take_digest_items(
        &mut self,
        user_id: &str,
        cutoff: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Vec<DigestItem>> {
        let lock = if self.is_postgres() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let before = if cutoff.is_some() {
            " AND created_at <= $3"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE letter_digest SET sent_at = $2 WHERE letter_digest_id IN (
                SELECT letter_digest_id FROM letter_digest
                 WHERE user_id = $1 AND sent_at IS NULL{before}{lock})
             RETURNING letter_digest_id, library_id, user_id, payload, created_at"
        );
        let mut q = crate::sql::query_as::<DigestItem>(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(now);
        if let Some(c) = cutoff {
            q = q.bind(c);
        }
        let mut rows = on_tx!(self, c => q.fetch_all(&mut *c).await?);
        rows.sort_by_key(|r| r.letter_digest_id);
        Ok(rows)
    }

    pub async fn insert_password_reset(
        &mut self,
        token_hash: &str,
        user_id: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO password_reset (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash).bind(user_id).bind(now).bind(expires_at)
            .execute(&mut *c).await?;
        });
        Ok(())
    }

    /// Use a reset link: the user it was for, when it exists, is unused and has not expired.
    /// Using it also spends the user's other outstanding links.
    pub async fn use_password_reset(
        &mut self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>> {
        let user: Option<(String,)> = on_tx!(self, c => {
            crate::sql::query_as(
                "UPDATE password_reset SET used_at = $2
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
            )
            .bind(token_hash).bind(now)
            .fetch_optional(&mut *c).await?
        });
        if let Some((uid,)) = &user {
            on_tx!(self, c => {
                crate::sql::query("UPDATE password_reset SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
                    .bind(uid).bind(now)
                    .execute(&mut *c).await?;
            });
        }
        Ok(user.map(|u| u.0))
    }

    /// Set a new password hash and revoke every token (API and web sessions) of the user.
    pub async fn set_password(
        &mut self,
        user_id: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let n = on_tx!(self, c => {
            crate::sql::query("UPDATE app_user SET password_hash = $2 WHERE user_id = $1")
                .bind(user_id).bind(password_hash)
                .execute(&mut *c).await?;
            crate::sql::query("UPDATE api_token SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(user_id).bind(now)
                .execute(&mut *c).await?.rows_affected()
        });
        Ok(n)
    }

    /// Start a run of `job` unless another holds it (its lease not yet over) or, for a
    /// `scheduled` job, it is not due (`next_run` later than now). True: the caller runs it
    /// and must call `job_finished`.
    pub async fn job_start(
        &mut self,
        job: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        scheduled: bool,
    ) -> Result<bool> {
        let n = on_tx!(self, c => {
            crate::sql::query("INSERT INTO job_run (job, failures) VALUES ($1, 0) ON CONFLICT (job) DO NOTHING")
                .bind(job).execute(&mut *c).await?;
            crate::sql::query(
                "UPDATE job_run SET last_start = $2, lease_until = $3
                 WHERE job = $1 AND (lease_until IS NULL OR lease_until <= $2)
                   AND ($4 = FALSE OR next_run IS NULL OR next_run <= $2)",
            )
            .bind(job).bind(now).bind(lease_until).bind(scheduled)
            .execute(&mut *c).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// Record how a run ended and when the next is due; releases the lease.
    pub async fn job_finished(
        &mut self,
        job: &str,
        now: OffsetDateTime,
        result: std::result::Result<&str, &str>,
        next_run: OffsetDateTime,
    ) -> Result<()> {
        let (summary, error) = match result {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        on_tx!(self, c => {
            crate::sql::query(
                "UPDATE job_run SET last_end = $2, last_result = COALESCE($3, 'failed'), last_error = $4,
                   failures = CASE WHEN $4 IS NULL THEN 0 ELSE failures + 1 END,
                   next_run = $5, lease_until = NULL
                 WHERE job = $1",
            )
            .bind(job).bind(now).bind(summary).bind(error).bind(next_run)
            .execute(&mut *c).await?;
        });
        Ok(())
    }
}
