//! Peer profiles of partner libraries served elsewhere (see `domain::peer`).

use domain::peer::PeerProfile;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::{Result, Store, Tx, on_pool, on_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PeerRow {
    pub library_id: String,
    pub profile: Json<PeerProfile>,
    pub updated_at: OffsetDateTime,
}

impl Tx<'_> {
    /// Set the profile of `library_id`, which makes it a remote library.
    pub async fn upsert_peer(
        &mut self,
        library_id: &str,
        profile: &PeerProfile,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.directory.clear();
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO peer (library_id, profile, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (library_id) DO UPDATE SET profile = excluded.profile, updated_at = excluded.updated_at",
            )
            .bind(library_id)
            .bind(Json(profile))
            .bind(now)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Forget the profile: the library is served by this node again. False when it had none.
    pub async fn delete_peer(&mut self, library_id: &str) -> Result<bool> {
        self.directory.clear();
        let n = on_tx!(self, c => {
            crate::sql::query("DELETE FROM peer WHERE library_id = $1")
                .bind(library_id)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// The profile of `library_id`, None when this node serves it.
    pub async fn peer(&mut self, library_id: &str) -> Result<Option<PeerProfile>> {
        if let Some(hit) = self.directory.peer(library_id) {
            return Ok(hit);
        }
        let row: Option<(Json<PeerProfile>,)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT profile FROM peer WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(&mut *c)
                .await?
        });
        let profile = row.map(|r| r.0.0);
        self.directory.remember_peer(library_id, &profile);
        Ok(profile)
    }
}

impl Store {
    /// The profile of `library_id`, None when this node serves it.
    pub async fn peer(&self, library_id: &str) -> Result<Option<PeerProfile>> {
        let cache = self.directory_cache();
        if let Some(hit) = cache.peer(library_id) {
            return Ok(hit);
        }
        let row: Option<(Json<PeerProfile>,)> = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT profile FROM peer WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(p)
                .await?
        });
        let profile = row.map(|r| r.0.0);
        cache.remember_peer(library_id, &profile);
        Ok(profile)
    }

    pub async fn peers(&self) -> Result<Vec<PeerRow>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, PeerRow>(
                "SELECT library_id, profile, updated_at FROM peer ORDER BY library_id",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }
}
