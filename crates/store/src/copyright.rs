//! Copyright and duplicates: each library's copyright terms, the copies counted under the rule
//! of five with their clearance, the citation keys that find earlier requests, and which
//! request repeats which.

use sqlx::types::Json;
use time::OffsetDateTime;

use crate::{Result, Store, Tx, on_pool, on_tx};
use domain::copyright::CopyrightSettings;

/// A copy counted (or not) under the rule of five, with its clearance.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CopyrightUse {
    pub request_id: String,
    pub library_id: String,
    pub journal_key: String,
    pub journal_title: String,
    pub issn: Option<String>,
    pub pub_year: Option<i64>,
    pub use_year: i64,
    pub counted: bool,
    pub earlier: i64,
    pub clearance: String,
    pub cleared_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub cleared_at: Option<OffsetDateTime>,
    pub clearance_note: Option<String>,
    pub royalty_minor: Option<i64>,
    pub royalty_currency: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

crate::sql::lite_row!(CopyrightUse {
    request_id,
    library_id,
    journal_key,
    journal_title,
    issn,
    pub_year,
    use_year,
    counted,
    earlier,
    clearance,
    cleared_by,
    cleared_at,
    clearance_note,
    royalty_minor,
    royalty_currency,
    created_at
});

/// A copy of the report's year with the state of its request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CopyrightReportRow {
    #[sqlx(flatten)]
    pub usage: CopyrightUse,
    pub state: String,
    /// 1 when a copy was stored for the request.
    pub has_copy: i64,
}

/// An earlier request that may repeat a new one: what the comparison needs, nothing more
/// (a library's common title words can make up to `MAX_CANDIDATES` of them per request).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MatchCandidate {
    pub request_id: String,
    pub format: String,
    pub citation: Json<domain::citation::Citation>,
    pub created_at: OffsetDateTime,
}

crate::sql::lite_row!(MatchCandidate {
    request_id,
    format,
    citation,
    created_at
});

/// Which earlier request a request repeats.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Duplicate {
    pub request_id: String,
    pub library_id: String,
    pub earlier_request_id: String,
    pub matched_by: String,
    pub score_percent: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

crate::sql::lite_row!(Duplicate {
    request_id,
    library_id,
    earlier_request_id,
    matched_by,
    score_percent,
    created_at
});

const USE_COLUMNS: &str = "request_id, library_id, journal_key, journal_title, issn, pub_year, use_year, counted, earlier, clearance, cleared_by, cleared_at, clearance_note, royalty_minor, royalty_currency, created_at";
const DUP_COLUMNS: &str =
    "request_id, library_id, earlier_request_id, matched_by, score_percent, created_at";

/// At most this many earlier requests are scored for one new request: keys are specific, so
/// more than this share one only for very common short titles.
const MAX_CANDIDATES: i64 = 200;

impl Tx<'_> {
    pub async fn copyright_settings(&mut self, library_id: &str) -> Result<CopyrightSettings> {
        let row: Option<(Json<CopyrightSettings>,)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT settings FROM copyright_settings WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row.map(|r| r.0.0).unwrap_or_default())
    }

    pub async fn set_copyright_settings(
        &mut self,
        library_id: &str,
        s: &CopyrightSettings,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO copyright_settings (library_id, settings, updated_at) VALUES ($1, $2, $3)
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

    /// Counted copies of a journal asked for in `use_year`, leaving out requests that ended
    /// without a copy (`not_supplied`: their states).
    ///
    /// The count decides whether the new request is over the limit, so two requests for the
    /// same journal and year must not both count before either is stored. On SQLite the single
    /// writer already serialises them; on PostgreSQL the count first takes a lock on that
    /// library, journal and year, held until the transaction ends.
    pub async fn count_copyright_uses(
        &mut self,
        library_id: &str,
        journal_key: &str,
        use_year: i64,
        not_supplied: &[&str],
    ) -> Result<i64> {
        let (a, b) = (
            not_supplied.first().copied().unwrap_or(""),
            not_supplied.get(1).copied().unwrap_or(""),
        );
        if let crate::Conn::Postgres(c) = &mut self.conn {
            let key = format!("copyright_use|{library_id}|{journal_key}|{use_year}");
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut **c)
                .await?;
        }
        let n: (i64,) = on_tx!(self, c => {
            crate::sql::query_as(
                "SELECT count(*) FROM copyright_use u JOIN borrow_request r ON r.request_id = u.request_id
                 WHERE u.library_id = $1 AND u.journal_key = $2 AND u.use_year = $3 AND u.counted
                   AND r.state <> $4 AND r.state <> $5",
            )
            .bind(library_id)
            .bind(journal_key)
            .bind(use_year)
            .bind(a)
            .bind(b)
            .fetch_one(&mut *c)
            .await?
        });
        Ok(n.0)
    }

    pub async fn insert_copyright_use(&mut self, u: &CopyrightUse) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO copyright_use (request_id, library_id, journal_key, journal_title, issn, pub_year, use_year, counted, earlier, clearance, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&u.request_id)
            .bind(&u.library_id)
            .bind(&u.journal_key)
            .bind(&u.journal_title)
            .bind(&u.issn)
            .bind(u.pub_year)
            .bind(u.use_year)
            .bind(u.counted)
            .bind(u.earlier)
            .bind(&u.clearance)
            .bind(u.created_at)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    pub async fn copyright_use(&mut self, request_id: &str) -> Result<Option<CopyrightUse>> {
        let sql = format!("SELECT {USE_COLUMNS} FROM copyright_use WHERE request_id = $1");
        let row = on_tx!(self, c => {
            crate::sql::query_as::<CopyrightUse>(sqlx::AssertSqlSafe(sql))
                .bind(request_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row)
    }

    /// Record how staff cleared a copy.
    pub async fn clear_copyright(&mut self, u: &CopyrightUse) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "UPDATE copyright_use SET clearance = $2, cleared_by = $3, cleared_at = $4, clearance_note = $5,
                    royalty_minor = $6, royalty_currency = $7
                 WHERE request_id = $1",
            )
            .bind(&u.request_id)
            .bind(&u.clearance)
            .bind(&u.cleared_by)
            .bind(u.cleared_at)
            .bind(&u.clearance_note)
            .bind(u.royalty_minor)
            .bind(&u.royalty_currency)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Index a request under its citation keys.
    pub async fn insert_match_keys(
        &mut self,
        library_id: &str,
        request_id: &str,
        keys: &[String],
        now: OffsetDateTime,
    ) -> Result<()> {
        for k in keys {
            on_tx!(self, c => {
                crate::sql::query(
                    "INSERT INTO request_match_key (library_id, match_key, request_id, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                )
                .bind(library_id)
                .bind(k)
                .bind(request_id)
                .bind(now)
                .execute(&mut *c)
                .await?;
            });
        }
        Ok(())
    }

    /// Earlier requests of the library created since `since` that share a key, newest first.
    pub async fn match_candidates(
        &mut self,
        library_id: &str,
        keys: &[String],
        since: OffsetDateTime,
    ) -> Result<Vec<MatchCandidate>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            // The limit goes on the keys' own rows: a key many requests share (a common
            // title word and no year) then costs index entries, not every request's row.
            "SELECT request_id, format, citation, created_at FROM borrow_request WHERE request_id IN (
                SELECT request_id FROM request_match_key
                 WHERE library_id = $1 AND created_at >= $2 AND match_key IN ({marks})
                 ORDER BY created_at DESC LIMIT $3)
             ORDER BY created_at DESC",
            marks = marks.join(", ")
        );
        let rows = on_tx!(self, c => {
            let mut q = crate::sql::query_as::<MatchCandidate>(sqlx::AssertSqlSafe(sql))
                .bind(library_id)
                .bind(since)
                .bind(MAX_CANDIDATES);
            for k in keys {
                q = q.bind(k);
            }
            q.fetch_all(&mut *c).await?
        });
        Ok(rows)
    }

    pub async fn insert_duplicate(&mut self, d: &Duplicate) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO request_duplicate (request_id, library_id, earlier_request_id, matched_by, score_percent, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&d.request_id)
            .bind(&d.library_id)
            .bind(&d.earlier_request_id)
            .bind(&d.matched_by)
            .bind(d.score_percent)
            .bind(d.created_at)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    pub async fn duplicate_of(&mut self, request_id: &str) -> Result<Option<Duplicate>> {
        let sql = format!("SELECT {DUP_COLUMNS} FROM request_duplicate WHERE request_id = $1");
        let row = on_tx!(self, c => {
            crate::sql::query_as::<Duplicate>(sqlx::AssertSqlSafe(sql))
                .bind(request_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row)
    }
}

impl Store {
    pub async fn copyright_settings(&self, library_id: &str) -> Result<CopyrightSettings> {
        let row: Option<(Json<CopyrightSettings>,)> = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT settings FROM copyright_settings WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|r| r.0.0).unwrap_or_default())
    }

    pub async fn copyright_use(&self, request_id: &str) -> Result<Option<CopyrightUse>> {
        let sql = format!("SELECT {USE_COLUMNS} FROM copyright_use WHERE request_id = $1");
        crate::sql::query_as::<CopyrightUse>(sqlx::AssertSqlSafe(sql))
            .bind(request_id)
            .read_optional(self)
            .await
    }

    /// Every copy the library asked for in `year`, with its request's state, by journal.
    pub async fn copyright_year(
        &self,
        library_id: &str,
        year: i64,
    ) -> Result<Vec<CopyrightReportRow>> {
        let cols: String = USE_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols}, r.state, CAST(CASE WHEN r.document_file_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_copy FROM copyright_use u JOIN borrow_request r ON r.request_id = u.request_id
             WHERE u.library_id = $1 AND u.use_year = $2 ORDER BY u.journal_key, u.created_at"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, CopyrightReportRow>(sqlx::AssertSqlSafe(sql))
                .bind(library_id)
                .bind(year)
                .fetch_all(p)
                .await?
        });
        Ok(rows)
    }

    pub async fn duplicate_of(&self, request_id: &str) -> Result<Option<Duplicate>> {
        let sql = format!("SELECT {DUP_COLUMNS} FROM request_duplicate WHERE request_id = $1");
        let row = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, Duplicate>(sqlx::AssertSqlSafe(sql))
                .bind(request_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row)
    }
}
