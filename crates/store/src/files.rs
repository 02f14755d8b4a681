//! Delivered copies: stored files, what each borrowing request received, and readers' links.

use time::OffsetDateTime;

use crate::{Result, Store, Tx, on_pool, on_tx};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct StoredFile {
    pub file_id: String,
    pub library_id: String,
    pub lend_request_id: Option<String>,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    #[serde(skip)]
    pub storage_key: String,
    #[serde(skip)]
    pub fetch_token_hash: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub purged_at: Option<OffsetDateTime>,
    /// For a PDF: how its copyright cover page is put in front, or why it is not (JSON, read
    /// once when the file is stored; see the server's `cover`).
    #[serde(skip)]
    pub cover_plan: Option<String>,
}

crate::sql::lite_row!(StoredFile {
    file_id,
    library_id,
    lend_request_id,
    filename,
    content_type,
    size_bytes,
    sha256,
    storage_key,
    fetch_token_hash,
    created_at,
    purged_at,
    cover_plan
});

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryLink {
    pub link_id: String,
    pub token_hash: String,
    pub library_id: String,
    pub borrow_request_id: String,
    pub patron_id: String,
    pub file_id: String,
    pub max_views: Option<i64>,
    pub views: i64,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

crate::sql::lite_row!(DeliveryLink {
    link_id,
    token_hash,
    library_id,
    borrow_request_id,
    patron_id,
    file_id,
    max_views,
    views,
    expires_at,
    revoked_at,
    created_at
});

pub(crate) const FILE_COLUMNS: &str = "file_id, library_id, lend_request_id, filename, content_type, size_bytes, sha256, storage_key, fetch_token_hash, created_at, purged_at, cover_plan";
const LINK_COLUMNS: &str = "link_id, token_hash, library_id, borrow_request_id, patron_id, file_id, max_views, views, expires_at, revoked_at, created_at";

impl Tx<'_> {
    pub async fn insert_file(&mut self, f: &StoredFile) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO stored_file (file_id, library_id, lend_request_id, filename, content_type, size_bytes, sha256, storage_key, fetch_token_hash, created_at, cover_plan)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&f.file_id)
            .bind(&f.library_id)
            .bind(&f.lend_request_id)
            .bind(&f.filename)
            .bind(&f.content_type)
            .bind(f.size_bytes)
            .bind(&f.sha256)
            .bind(&f.storage_key)
            .bind(&f.fetch_token_hash)
            .bind(f.created_at)
            .bind(&f.cover_plan)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Keep what reading a stored PDF found for its cover page (see `StoredFile::cover_plan`).
    pub async fn set_cover_plan(&mut self, file_id: &str, plan: &str) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query("UPDATE stored_file SET cover_plan = $2 WHERE file_id = $1")
                .bind(file_id)
                .bind(plan)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    pub async fn file(&mut self, file_id: &str) -> Result<Option<StoredFile>> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM stored_file WHERE file_id = $1");
        let row = on_tx!(self, c => {
            crate::sql::query_as::<StoredFile>(sqlx::AssertSqlSafe(sql))
                .bind(file_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row)
    }

    /// Give the file a new fetch key (its hash): the address sent to the borrowing library.
    pub async fn set_fetch_token(&mut self, file_id: &str, token_hash: &str) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query("UPDATE stored_file SET fetch_token_hash = $2 WHERE file_id = $1")
                .bind(file_id)
                .bind(token_hash)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// Record what the lender sent for a borrowing request: its address and, when the copy is
    /// stored here, the file.
    pub async fn set_borrow_document(
        &mut self,
        request_id: &str,
        url: Option<&str>,
        file_id: Option<&str>,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "UPDATE borrow_request SET document_url = COALESCE($2, document_url), document_file_id = COALESCE($3, document_file_id) WHERE request_id = $1",
            )
            .bind(request_id)
            .bind(url)
            .bind(file_id)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// The address and stored file of what a borrowing request received.
    pub async fn borrow_document(
        &mut self,
        request_id: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        let row: Option<(Option<String>, Option<String>)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT document_url, document_file_id FROM borrow_request WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row.unwrap_or((None, None)))
    }

    pub async fn insert_delivery_link(&mut self, l: &DeliveryLink) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO delivery_link (link_id, token_hash, library_id, borrow_request_id, patron_id, file_id, max_views, views, expires_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)",
            )
            .bind(&l.link_id)
            .bind(&l.token_hash)
            .bind(&l.library_id)
            .bind(&l.borrow_request_id)
            .bind(&l.patron_id)
            .bind(&l.file_id)
            .bind(l.max_views)
            .bind(l.expires_at)
            .bind(l.created_at)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Revoke every live link of a request (before a new one is issued).
    pub async fn revoke_delivery_links(
        &mut self,
        request_id: &str,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let n = on_tx!(self, c => {
            crate::sql::query("UPDATE delivery_link SET revoked_at = $2 WHERE borrow_request_id = $1 AND revoked_at IS NULL")
                .bind(request_id)
                .bind(now)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// The live link of a request, locked for counting a view.
    pub async fn current_delivery_link(
        &mut self,
        request_id: &str,
    ) -> Result<Option<DeliveryLink>> {
        let lock = if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM delivery_link WHERE borrow_request_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1{lock}"
        );
        let row = on_tx!(self, c => {
            crate::sql::query_as::<DeliveryLink>(sqlx::AssertSqlSafe(sql))
                .bind(request_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row)
    }

    /// The link a token opens, locked for counting a view.
    pub async fn delivery_link_by_token(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<DeliveryLink>> {
        let lock = if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!("SELECT {LINK_COLUMNS} FROM delivery_link WHERE token_hash = $1{lock}");
        let row = on_tx!(self, c => {
            crate::sql::query_as::<DeliveryLink>(sqlx::AssertSqlSafe(sql))
                .bind(token_hash)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row)
    }

    pub async fn count_delivery_view(&mut self, link_id: &str) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query("UPDATE delivery_link SET views = views + 1 WHERE link_id = $1")
                .bind(link_id)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    pub async fn mark_file_purged(&mut self, file_id: &str, now: OffsetDateTime) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query("UPDATE stored_file SET purged_at = $2 WHERE file_id = $1")
                .bind(file_id)
                .bind(now)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }
}

impl Store {
    /// The address and stored file of what a borrowing request received.
    pub async fn borrow_document(
        &self,
        request_id: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        let row: Option<(Option<String>, Option<String>)> = crate::sql::query_as(
            "SELECT document_url, document_file_id FROM borrow_request WHERE request_id = $1",
        )
        .bind(request_id)
        .read_optional(self)
        .await?;
        Ok(row.unwrap_or((None, None)))
    }

    /// The library's own delivery terms, when it set them.
    pub async fn delivery_settings(
        &self,
        library_id: &str,
    ) -> Result<Option<domain::library::DeliverySettings>> {
        let row: Option<(sqlx::types::Json<domain::library::DeliverySettings>,)> = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT settings FROM delivery_settings WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|r| r.0.0))
    }

    pub async fn file(&self, file_id: &str) -> Result<Option<StoredFile>> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM stored_file WHERE file_id = $1");
        let row = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, StoredFile>(sqlx::AssertSqlSafe(sql)).bind(file_id).fetch_optional(p).await?
        });
        Ok(row)
    }

    /// The files uploaded for a lending request, newest first.
    pub async fn files_for_lend(&self, lend_request_id: &str) -> Result<Vec<StoredFile>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM stored_file WHERE lend_request_id = $1 ORDER BY created_at DESC"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, StoredFile>(sqlx::AssertSqlSafe(sql)).bind(lend_request_id).fetch_all(p).await?
        });
        Ok(rows)
    }

    /// The live link of a borrowing request, if any.
    pub async fn delivery_link_of(&self, request_id: &str) -> Result<Option<DeliveryLink>> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM delivery_link WHERE borrow_request_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1"
        );
        let row = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, DeliveryLink>(sqlx::AssertSqlSafe(sql)).bind(request_id).fetch_optional(p).await?
        });
        Ok(row)
    }

    /// Files no live link needs any more: every link of theirs expired or revoked before
    /// `before`, and not purged yet.
    pub async fn files_to_purge(
        &self,
        before: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<StoredFile>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM stored_file f WHERE purged_at IS NULL
               AND EXISTS (SELECT 1 FROM delivery_link l WHERE l.file_id = f.file_id)
               AND NOT EXISTS (SELECT 1 FROM delivery_link l WHERE l.file_id = f.file_id
                                AND l.revoked_at IS NULL AND l.expires_at > $1)
             ORDER BY created_at LIMIT $2"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, StoredFile>(sqlx::AssertSqlSafe(sql)).bind(crate::sql::TimeText(before)).bind(limit).fetch_all(p).await?
        });
        Ok(rows)
    }
}

impl Tx<'_> {
    /// The library's own delivery terms, when it set them.
    pub async fn delivery_settings(
        &mut self,
        library_id: &str,
    ) -> Result<Option<domain::library::DeliverySettings>> {
        let row: Option<(sqlx::types::Json<domain::library::DeliverySettings>,)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT settings FROM delivery_settings WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row.map(|r| r.0.0))
    }

    pub async fn set_delivery_settings(
        &mut self,
        library_id: &str,
        s: &domain::library::DeliverySettings,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO delivery_settings (library_id, settings, updated_at) VALUES ($1, $2, $3)
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
