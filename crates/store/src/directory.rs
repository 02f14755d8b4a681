//! Libraries, partner policies, users and API tokens.

use sqlx::types::Json;
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, Tx, on_pool, on_tx};
use domain::calendar::ClosedDays;
use domain::library::PartnerPolicy;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LibraryRow {
    pub library_id: String,
    pub agency_type: String,
    pub agency_value: String,
    pub name_en: String,
    pub name_zh: String,
    pub kind: String,
    pub region: String,
    pub address: String,
    pub hub_id: Option<String>,
    pub closed_days: Json<ClosedDays>,
    pub created_at: OffsetDateTime,
    /// Where it is, in millionths of a degree; both or neither (see `location`).
    pub latitude_e6: Option<i64>,
    pub longitude_e6: Option<i64>,
    /// Its time: minutes east of UTC (see `offset`); set by its admins, not by a directory
    /// import.
    pub utc_offset_minutes: i64,
}

impl LibraryRow {
    /// Its time; a value the checks would refuse reads as the default, UTC+8.
    pub fn offset(&self) -> domain::library::LibraryOffset {
        domain::library::LibraryOffset::from_minutes(self.utc_offset_minutes).unwrap_or_default()
    }

    /// Its coordinates, when both are set and in range.
    pub fn location(&self) -> Option<domain::geo::GeoPoint> {
        domain::geo::GeoPoint::from_e6(self.latitude_e6?, self.longitude_e6?).ok()
    }
}

crate::sql::lite_row!(LibraryRow {
    library_id,
    agency_type,
    agency_value,
    name_en,
    name_zh,
    kind,
    region,
    address,
    hub_id,
    closed_days,
    created_at,
    latitude_e6,
    longitude_e6,
    utc_offset_minutes
});

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    pub library_id: String,
    pub partner_id: Option<String>,
    pub policy: Json<PartnerPolicy>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub user_id: String,
    pub library_id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub kind: String,
    pub patron_type: Option<String>,
    pub department: Option<String>,
    pub roles: String,
    pub status: String,
    pub locale: String,
    pub created_at: OffsetDateTime,
}

crate::sql::lite_row!(UserRow {
    user_id,
    library_id,
    username,
    display_name,
    email,
    password_hash,
    kind,
    patron_type,
    department,
    roles,
    status,
    locale,
    created_at
});

#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_id: String,
    pub library_id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub kind: String,
    pub patron_type: Option<String>,
    pub department: Option<String>,
    pub roles: String,
    pub status: String,
    pub locale: String,
}

/// Libraries and partner policies as last read, shared by reads and writes. Entries expire
/// after a minute so that changes made by another process on the same PostgreSQL show up;
/// changes made through this store clear it at once.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    inner: std::sync::RwLock<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    loaded: Option<std::time::Instant>,
    libraries: std::collections::HashMap<String, LibraryRow>,
    agencies: std::collections::HashMap<(String, String), Option<String>>,
    policies: std::collections::HashMap<(String, String), Option<PartnerPolicy>>,
    peers: std::collections::HashMap<String, Option<domain::peer::PeerProfile>>,
}

const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl Cache {
    fn read<T>(&self, f: impl FnOnce(&CacheInner) -> Option<T>) -> Option<T> {
        let inner = self.inner.read().ok()?;
        if inner.loaded.is_none_or(|t| t.elapsed() > CACHE_TTL) {
            return None;
        }
        f(&inner)
    }

    fn write(&self, f: impl FnOnce(&mut CacheInner)) {
        if let Ok(mut inner) = self.inner.write() {
            if inner.loaded.is_none_or(|t| t.elapsed() > CACHE_TTL) {
                *inner = CacheInner {
                    loaded: Some(std::time::Instant::now()),
                    ..CacheInner::default()
                };
            }
            f(&mut inner);
        }
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut inner) = self.inner.write() {
            *inner = CacheInner::default();
        }
    }

    fn library(&self, id: &str) -> Option<LibraryRow> {
        self.read(|c| c.libraries.get(id).cloned())
    }

    fn remember_library(&self, row: &LibraryRow) {
        self.write(|c| {
            c.libraries.insert(row.library_id.clone(), row.clone());
        });
    }

    fn agency(&self, t: &str, v: &str) -> Option<Option<LibraryRow>> {
        self.read(|c| {
            let code = c.agencies.get(&(t.to_uppercase(), v.to_owned()))?;
            match code {
                Some(code) => c.libraries.get(code).cloned().map(Some),
                None => Some(None),
            }
        })
    }

    fn remember_agency(&self, t: &str, v: &str, row: Option<&LibraryRow>) {
        self.write(|c| {
            c.agencies.insert(
                (t.to_uppercase(), v.to_owned()),
                row.map(|r| r.library_id.clone()),
            );
            if let Some(r) = row {
                c.libraries.insert(r.library_id.clone(), r.clone());
            }
        });
    }

    fn policy(&self, lender: &str, borrower: &str) -> Option<Option<PartnerPolicy>> {
        self.read(|c| {
            c.policies
                .get(&(lender.to_owned(), borrower.to_owned()))
                .cloned()
        })
    }

    pub(crate) fn peer(&self, library: &str) -> Option<Option<domain::peer::PeerProfile>> {
        self.read(|c| c.peers.get(library).cloned())
    }

    pub(crate) fn remember_peer(&self, library: &str, p: &Option<domain::peer::PeerProfile>) {
        self.write(|c| {
            c.peers.insert(library.to_owned(), p.clone());
        });
    }

    fn remember_policy(&self, lender: &str, borrower: &str, p: &Option<PartnerPolicy>) {
        self.write(|c| {
            c.policies
                .insert((lender.to_owned(), borrower.to_owned()), p.clone());
        });
    }
}

const LIBRARY_COLUMNS: &str = "library_id, agency_type, agency_value, name_en, name_zh, kind, region, address, hub_id, closed_days, created_at, latitude_e6, longitude_e6, utc_offset_minutes";
pub(crate) const USER_COLUMNS: &str = "user_id, library_id, username, display_name, email, password_hash, kind, patron_type, department, roles, status, locale, created_at";

impl Tx<'_> {
    pub async fn insert_library(&mut self, lib: &LibraryRow) -> Result<()> {
        self.directory.clear();
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO library (library_id, agency_type, agency_value, name_en, name_zh, kind, region, address, hub_id, closed_days, created_at, latitude_e6, longitude_e6, utc_offset_minutes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(&lib.library_id)
            .bind(&lib.agency_type)
            .bind(&lib.agency_value)
            .bind(&lib.name_en)
            .bind(&lib.name_zh)
            .bind(&lib.kind)
            .bind(&lib.region)
            .bind(&lib.address)
            .bind(&lib.hub_id)
            .bind(&lib.closed_days)
            .bind(lib.created_at)
            .bind(lib.latitude_e6)
            .bind(lib.longitude_e6)
            .bind(lib.utc_offset_minutes)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Set the library's time (its admins' choice).
    pub async fn set_library_offset(
        &mut self,
        library_id: &str,
        offset: domain::library::LibraryOffset,
    ) -> Result<()> {
        // Unchanged (a partner form or file that repeats the time): nothing to recount.
        let current: Option<(i64,)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT utc_offset_minutes FROM library WHERE library_id = $1")
                .bind(library_id)
                .fetch_optional(&mut *c)
                .await?
        });
        match current {
            None => return Err(StoreError::NotFound),
            Some((m,)) if m == offset.minutes() => return Ok(()),
            Some(_) => {}
        }
        self.directory.clear();
        on_tx!(self, c => {
            crate::sql::query("UPDATE library SET utc_offset_minutes = $2 WHERE library_id = $1")
                .bind(library_id)
                .bind(offset.minutes())
                .execute(&mut *c)
                .await?;
        });
        self.recount_local_days(library_id, offset.minutes())
            .await?;
        // Its requests' statistics months are its months (migration 0038).
        let months = if self.is_postgres() {
            "UPDATE request_fact SET month = CAST(to_char((created_at AT TIME ZONE 'UTC') + make_interval(mins => CAST($2 AS INTEGER)), 'YYYYMM') AS BIGINT)
             WHERE library_id = $1
               AND month IS DISTINCT FROM CAST(to_char((created_at AT TIME ZONE 'UTC') + make_interval(mins => CAST($2 AS INTEGER)), 'YYYYMM') AS BIGINT)"
        } else {
            "UPDATE request_fact SET month = COALESCE(CAST(strftime('%Y%m', created_at, $2 || ' minutes') AS INTEGER), month)
             WHERE library_id = $1"
        };
        on_tx!(self, c => {
            crate::sql::query(months)
                .bind(library_id)
                .bind(offset.minutes())
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// The kept "created" and "modified" counts of `library_id` hold its days (migrations
    /// 0038 and 0043); once its offset changes they are counted again from its requests.
    ///
    /// SQLite: what this transaction changed so far is added to the counts first (as at a
    /// commit), so that the recount, which reads the requests as they now are, is not added to
    /// again.
    ///
    /// PostgreSQL: other transactions write requests meanwhile, and the notes of those that
    /// committed are not yet folded. One statement (one snapshot) sets each of the two facets'
    /// counters to the recount less what the notes it sees add to it, so that the counters
    /// and the notes together give the recount; counters no longer counted are set to 0. The
    /// counts' lock keeps a fold from running between.
    async fn recount_local_days(&mut self, library_id: &str, offset_minutes: i64) -> Result<()> {
        if self.is_postgres() {
            self.lock_counts().await?;
            let day = |c: &str| {
                format!(
                    "to_char(({c} AT TIME ZONE 'UTC') + make_interval(mins => CAST($2 AS INTEGER)), 'YYYY-MM-DD')"
                )
            };
            let (created, modified) = (day("created_at"), day("updated_at"));
            let sql = format!(
                "INSERT INTO queue_count (library_id, side, state, facet, value, n)
                 SELECT $1, 'lend', state, facet, value, SUM(n) FROM (
                     SELECT state, facet, value, 0 AS n FROM queue_count
                      WHERE library_id = $1 AND side = 'lend' AND facet IN ('created', 'modified')
                     UNION ALL
                     SELECT state, 'created', {created}, COUNT(*) FROM lend_request WHERE library_id = $1 GROUP BY 1, 3
                     UNION ALL
                     SELECT state, 'modified', {modified}, COUNT(*) FROM lend_request WHERE library_id = $1 GROUP BY 1, 3
                     UNION ALL
                     SELECT c.state, f.facet, f.value, -c.n
                       FROM lend_count_change c CROSS JOIN LATERAL lend_count_facets(c) f
                      WHERE c.library_id = $1 AND f.facet IN ('created', 'modified')
                 ) x GROUP BY state, facet, value
                 ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = excluded.n"
            );
            on_tx!(self, c => {
                crate::sql::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(library_id)
                    .bind(offset_minutes)
                    .execute(&mut *c)
                    .await?;
            });
            return Ok(());
        }
        for sql in crate::writer::FLUSH_QUEUE_COUNTS {
            on_tx!(self, c => {
                crate::sql::query(sql).execute(&mut *c).await?;
            });
        }
        for sql in [
            "DELETE FROM queue_count WHERE library_id = $1 AND side = 'lend' AND facet IN ('created', 'modified')",
            "INSERT INTO queue_count (library_id, side, state, facet, value, n)
             SELECT r.library_id, 'lend', r.state, 'created', COALESCE(date(r.created_at, l.utc_offset_minutes || ' minutes'), substr(r.created_at, 1, 10)) AS d, COUNT(*)
               FROM lend_request r JOIN library l ON l.library_id = r.library_id
              WHERE r.library_id = $1 GROUP BY r.state, d
             UNION ALL
             SELECT r.library_id, 'lend', r.state, 'modified', COALESCE(date(r.updated_at, l.utc_offset_minutes || ' minutes'), substr(r.updated_at, 1, 10)) AS d, COUNT(*)
               FROM lend_request r JOIN library l ON l.library_id = r.library_id
              WHERE r.library_id = $1 GROUP BY r.state, d",
        ] {
            on_tx!(self, c => {
                crate::sql::query(sql).bind(library_id).execute(&mut *c).await?;
            });
        }
        Ok(())
    }

    /// Set the policy `library` applies to `partner` (`None`: to every partner without one).
    pub async fn upsert_policy(
        &mut self,
        library: &str,
        partner: Option<&str>,
        policy: &PartnerPolicy,
    ) -> Result<()> {
        let json = Json(policy);
        self.directory.clear();
        // NULL partner ids never collide in a UNIQUE constraint, so the default row is
        // replaced by hand rather than by ON CONFLICT.
        on_tx!(self, c => {
            if partner.is_none() {
                crate::sql::query("DELETE FROM partner_policy WHERE library_id = $1 AND partner_id IS NULL")
                    .bind(library)
                    .execute(&mut *c)
                    .await?;
                crate::sql::query("INSERT INTO partner_policy (library_id, partner_id, policy) VALUES ($1, NULL, $2)")
                    .bind(library)
                    .bind(json)
                    .execute(&mut *c)
                    .await?;
            } else {
                crate::sql::query(
                    "INSERT INTO partner_policy (library_id, partner_id, policy) VALUES ($1, $2, $3)
                     ON CONFLICT (library_id, partner_id) DO UPDATE SET policy = excluded.policy",
                )
                .bind(library)
                .bind(partner)
                .bind(json)
                .execute(&mut *c)
                .await?;
            }
        });
        Ok(())
    }

    pub async fn insert_user(&mut self, u: &NewUser, now: OffsetDateTime) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO app_user (user_id, library_id, username, display_name, email, password_hash, kind, patron_type, department, roles, status, locale, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&u.user_id)
            .bind(&u.library_id)
            .bind(&u.username)
            .bind(&u.display_name)
            .bind(&u.email)
            .bind(&u.password_hash)
            .bind(&u.kind)
            .bind(&u.patron_type)
            .bind(&u.department)
            .bind(&u.roles)
            .bind(&u.status)
            .bind(&u.locale)
            .bind(now)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    pub async fn insert_token(
        &mut self,
        token_hash: &str,
        user_id: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query("INSERT INTO api_token (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(token_hash)
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    pub async fn revoke_token(&mut self, token_hash: &str, now: OffsetDateTime) -> Result<bool> {
        let n = on_tx!(self, c => {
            crate::sql::query("UPDATE api_token SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(token_hash)
                .bind(now)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    pub async fn set_user_status(
        &mut self,
        library: &str,
        user_id: &str,
        status: &str,
    ) -> Result<()> {
        let n = on_tx!(self, c => {
            crate::sql::query("UPDATE app_user SET status = $3 WHERE library_id = $1 AND user_id = $2")
                .bind(library)
                .bind(user_id)
                .bind(status)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Replace a staff account's roles (comma-separated, as `roles_to_string` writes them).
    pub async fn set_user_roles(
        &mut self,
        library: &str,
        user_id: &str,
        roles: &str,
    ) -> Result<()> {
        let n = on_tx!(self, c => {
            crate::sql::query("UPDATE app_user SET roles = $3 WHERE library_id = $1 AND user_id = $2")
                .bind(library)
                .bind(user_id)
                .bind(roles)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    pub async fn library_by_agency(
        &mut self,
        agency_type: &str,
        value: &str,
    ) -> Result<Option<LibraryRow>> {
        if let Some(hit) = self.directory.agency(agency_type, value) {
            return Ok(hit);
        }
        let sql = format!(
            "SELECT {LIBRARY_COLUMNS} FROM library WHERE upper(agency_type) = upper($1) AND agency_value = $2"
        );
        let row = on_tx!(self, c => {
            crate::sql::query_as::<LibraryRow>(sqlx::AssertSqlSafe(sql))
                .bind(agency_type)
                .bind(value)
                .fetch_optional(&mut *c)
                .await?
        });
        self.directory
            .remember_agency(agency_type, value, row.as_ref());
        Ok(row)
    }

    pub async fn library(&mut self, library_id: &str) -> Result<LibraryRow> {
        if let Some(hit) = self.directory.library(library_id) {
            return Ok(hit);
        }
        let sql = format!("SELECT {LIBRARY_COLUMNS} FROM library WHERE library_id = $1");
        let row = on_tx!(self, c => {
            crate::sql::query_as::<LibraryRow>(sqlx::AssertSqlSafe(sql))
                .bind(library_id)
                .fetch_optional(&mut *c)
                .await?
        });
        let row = row.ok_or(StoreError::NotFound)?;
        self.directory.remember_library(&row);
        Ok(row)
    }

    /// An account by id, inside the transaction.
    pub async fn user_by_id(&mut self, user_id: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM app_user WHERE user_id = $1");
        let row = on_tx!(self, c => {
            crate::sql::query_as::<UserRow>(sqlx::AssertSqlSafe(sql))
                .bind(user_id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row)
    }

    /// The policy `lender` applies to `borrower`: its own row, else the lender's default.
    pub async fn policy_for(
        &mut self,
        lender: &str,
        borrower: &str,
    ) -> Result<Option<PartnerPolicy>> {
        if let Some(hit) = self.directory.policy(lender, borrower) {
            return Ok(hit);
        }
        let row: Option<(Json<PartnerPolicy>,)> = on_tx!(self, c => {
            crate::sql::query_as(
                "SELECT policy FROM partner_policy WHERE library_id = $1 AND (partner_id = $2 OR partner_id IS NULL)
                 ORDER BY partner_id IS NULL LIMIT 1",
            )
            .bind(lender)
            .bind(borrower)
            .fetch_optional(&mut *c)
            .await?
        });
        let policy = row.map(|r| r.0.0);
        self.directory.remember_policy(lender, borrower, &policy);
        Ok(policy)
    }
}

impl Store {
    pub async fn libraries(&self) -> Result<Vec<LibraryRow>> {
        let sql = format!("SELECT {LIBRARY_COLUMNS} FROM library ORDER BY library_id");
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, LibraryRow>(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?
        });
        Ok(rows)
    }

    pub async fn library(&self, library_id: &str) -> Result<LibraryRow> {
        let cache = self.directory_cache();
        if let Some(hit) = cache.library(library_id) {
            return Ok(hit);
        }
        let sql = format!("SELECT {LIBRARY_COLUMNS} FROM library WHERE library_id = $1");
        let row = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, LibraryRow>(sqlx::AssertSqlSafe(sql)).bind(library_id).fetch_optional(p).await?
        });
        let row = row.ok_or(StoreError::NotFound)?;
        cache.remember_library(&row);
        Ok(row)
    }

    pub async fn library_by_agency(
        &self,
        agency_type: &str,
        value: &str,
    ) -> Result<Option<LibraryRow>> {
        let cache = self.directory_cache();
        if let Some(hit) = cache.agency(agency_type, value) {
            return Ok(hit);
        }
        let sql = format!(
            "SELECT {LIBRARY_COLUMNS} FROM library WHERE upper(agency_type) = upper($1) AND agency_value = $2"
        );
        let row = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, LibraryRow>(sqlx::AssertSqlSafe(sql))
                .bind(agency_type)
                .bind(value)
                .fetch_optional(p)
                .await?
        });
        cache.remember_agency(agency_type, value, row.as_ref());
        Ok(row)
    }

    /// The policy `lender` applies to `borrower`: its own row, else the lender's default.
    pub async fn policy_between(
        &self,
        lender: &str,
        borrower: &str,
    ) -> Result<Option<PartnerPolicy>> {
        let cache = self.directory_cache();
        if let Some(hit) = cache.policy(lender, borrower) {
            return Ok(hit);
        }
        let row: Option<(Json<PartnerPolicy>,)> = on_pool!(self.pool(), p => {
            sqlx::query_as(
                "SELECT policy FROM partner_policy WHERE library_id = $1 AND (partner_id = $2 OR partner_id IS NULL)
                 ORDER BY partner_id IS NULL LIMIT 1",
            )
            .bind(lender)
            .bind(borrower)
            .fetch_optional(p)
            .await?
        });
        let policy = row.map(|r| r.0.0);
        cache.remember_policy(lender, borrower, &policy);
        Ok(policy)
    }

    pub async fn count_libraries(&self) -> Result<i64> {
        let n: (i64,) = on_pool!(self.pool(), p => {
            sqlx::query_as("SELECT COUNT(*) FROM library").fetch_one(p).await?
        });
        Ok(n.0)
    }

    pub async fn policies(&self, lender: &str) -> Result<Vec<PolicyRow>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, PolicyRow>(
                "SELECT library_id, partner_id, policy FROM partner_policy WHERE library_id = $1 ORDER BY partner_id",
            )
            .bind(lender)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM app_user WHERE username = $1");
        let row = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql)).bind(username).fetch_optional(p).await?
        });
        Ok(row)
    }

    pub async fn user(&self, user_id: &str) -> Result<UserRow> {
        let sql = format!("SELECT {USER_COLUMNS} FROM app_user WHERE user_id = $1");
        let row = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_optional(p).await?
        });
        row.ok_or(StoreError::NotFound)
    }

    pub async fn users(&self, library: &str) -> Result<Vec<UserRow>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM app_user WHERE library_id = $1 ORDER BY kind, username"
        );
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql)).bind(library).fetch_all(p).await?
        });
        Ok(rows)
    }

    /// The user behind a token that is neither revoked nor expired.
    pub async fn token_owner(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<UserRow>> {
        let sql = format!(
            "SELECT {} FROM api_token t JOIN app_user u ON u.user_id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2",
            USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        crate::sql::query_as::<UserRow>(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .bind(now)
            .read_optional(self)
            .await
    }
}

impl Tx<'_> {
    /// Add the library, or update the one with its code in place (names, agency id, kind,
    /// region, address, hub, closed days). Returns whether it was new.
    pub async fn upsert_library(&mut self, lib: &LibraryRow) -> Result<bool> {
        self.directory.clear();
        let exists: Option<(String,)> = on_tx!(self, c => {
            crate::sql::query_as("SELECT library_id FROM library WHERE library_id = $1")
                .bind(&lib.library_id)
                .fetch_optional(&mut *c)
                .await?
        });
        if exists.is_none() {
            self.insert_library(lib).await?;
            return Ok(true);
        }
        on_tx!(self, c => {
            crate::sql::query(
                "UPDATE library SET agency_type = $2, agency_value = $3, name_en = $4, name_zh = $5, kind = $6,
                        region = $7, address = $8, hub_id = $9, closed_days = $10,
                        latitude_e6 = $11, longitude_e6 = $12
                 WHERE library_id = $1",
            )
            .bind(&lib.library_id)
            .bind(&lib.agency_type)
            .bind(&lib.agency_value)
            .bind(&lib.name_en)
            .bind(&lib.name_zh)
            .bind(&lib.kind)
            .bind(&lib.region)
            .bind(&lib.address)
            .bind(&lib.hub_id)
            .bind(&lib.closed_days)
            .bind(lib.latitude_e6)
            .bind(lib.longitude_e6)
            .execute(&mut *c)
            .await?;
        });
        Ok(false)
    }
}
