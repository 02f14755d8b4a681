//! Licensed e-resources and availability: the KBART packages each library imported with their
//! titles, and what a new copy request was found available through (the library's licence or
//! open access).

use sqlx::types::Json;
use time::OffsetDateTime;

use crate::{Result, Store, Tx, on_pool, on_tx};
use domain::kbart::LicensedTitle;

/// Titles per INSERT statement when a package is stored (9 values each: far below either
/// engine's limit on bound parameters).
const TITLES_PER_INSERT: usize = 500;

/// A KBART package of a library.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct LicencePackage {
    pub library_id: String,
    pub package: String,
    pub titles: i64,
    pub imported_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub imported_at: OffsetDateTime,
}

/// A licensed title found for a citation, with the package it is in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LicensedMatch {
    pub package: String,
    pub coverage: Json<LicensedTitle>,
}

/// Where a request was found available already.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Availability {
    pub request_id: String,
    /// `licensed` or `open_access`.
    pub source: String,
    pub library_id: String,
    /// `available`, or `unchecked` when the source could not be asked.
    pub status: String,
    pub url: Option<String>,
    /// Reasons in both languages (`reasons_en`, `reasons_zh`) and what was matched.
    pub detail: Json<serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

crate::sql::lite_row!(Availability {
    request_id,
    source,
    library_id,
    status,
    url,
    detail,
    created_at
});

const AVAILABILITY_COLUMNS: &str =
    "request_id, source, library_id, status, url, detail, created_at";

impl Tx<'_> {
    /// Store a library's package, replacing every title an earlier import of the same package
    /// left. Returns how many titles the earlier import had.
    pub async fn replace_licence_package(
        &mut self,
        library_id: &str,
        package: &str,
        titles: &[LicensedTitle],
        imported_by: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<i64> {
        let count = i64::try_from(titles.len()).unwrap_or(i64::MAX);
        let replaced = on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO licence_package (library_id, package, titles, imported_by, imported_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (library_id, package) DO UPDATE SET titles = excluded.titles,
                    imported_by = excluded.imported_by, imported_at = excluded.imported_at",
            )
            .bind(library_id)
            .bind(package)
            .bind(count)
            .bind(imported_by)
            .bind(now)
            .execute(&mut *c)
            .await?;
            // The package row is written first: its lock makes a second import of the same
            // package wait, then delete what this one stored, instead of colliding with it.
            let replaced = crate::sql::query("DELETE FROM licensed_title WHERE library_id = $1 AND package = $2")
                .bind(library_id)
                .bind(package)
                .execute(&mut *c)
                .await?
                .rows_affected();
            for chunk in titles.chunks(TITLES_PER_INSERT) {
                let sql = format!(
                    "INSERT INTO licensed_title (library_id, package, line, title, title_key, print_id, online_id, url, coverage) VALUES {}",
                    crate::catalog::rows_of(9, chunk.len())
                );
                let mut q = crate::sql::query(sqlx::AssertSqlSafe(sql));
                for t in chunk {
                    q = q
                        .bind(library_id)
                        .bind(package)
                        .bind(i64::try_from(t.line).unwrap_or(i64::MAX))
                        .bind(&t.title)
                        .bind(&t.title_key)
                        .bind(&t.print_id)
                        .bind(&t.online_id)
                        .bind(&t.url)
                        .bind(Json(t));
                }
                q.execute(&mut *c).await?;
            }
            replaced
        });
        Ok(i64::try_from(replaced).unwrap_or(i64::MAX))
    }

    pub async fn insert_availability(&mut self, a: &Availability) -> Result<()> {
        on_tx!(self, c => {
            crate::sql::query(
                "INSERT INTO request_availability (request_id, source, library_id, status, url, detail, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&a.request_id)
            .bind(&a.source)
            .bind(&a.library_id)
            .bind(&a.status)
            .bind(&a.url)
            .bind(&a.detail)
            .bind(a.created_at)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    pub async fn availability_of(&mut self, request_id: &str) -> Result<Vec<Availability>> {
        let sql = format!(
            "SELECT {AVAILABILITY_COLUMNS} FROM request_availability WHERE request_id = $1 ORDER BY source"
        );
        let rows = on_tx!(self, c => {
            crate::sql::query_as::<Availability>(sqlx::AssertSqlSafe(sql))
                .bind(request_id)
                .fetch_all(&mut *c)
                .await?
        });
        Ok(rows)
    }
}

impl Store {
    /// The library's licensed titles with one of `ids` (print or online), and, when
    /// `title_key` is given, those with that normalised title; in package and line order.
    pub async fn licensed_titles_for(
        &self,
        library_id: &str,
        ids: &[String],
        title_key: Option<&str>,
    ) -> Result<Vec<LicensedMatch>> {
        let mut out = Vec::new();
        for id in ids {
            let rows = on_pool!(self.pool(), p => {
                sqlx::query_as::<_, LicensedMatch>(
                    "SELECT package, coverage FROM licensed_title
                     WHERE library_id = $1 AND (print_id = $2 OR online_id = $2)
                     ORDER BY package, line LIMIT 50",
                )
                .bind(library_id)
                .bind(id)
                .fetch_all(p)
                .await?
            });
            out.extend(rows);
        }
        if let Some(key) = title_key.filter(|k| !k.is_empty()) {
            let rows = on_pool!(self.pool(), p => {
                sqlx::query_as::<_, LicensedMatch>(
                    "SELECT package, coverage FROM licensed_title
                     WHERE library_id = $1 AND title_key = $2 ORDER BY package, line LIMIT 50",
                )
                .bind(library_id)
                .bind(key)
                .fetch_all(p)
                .await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// The library's packages, by name.
    pub async fn licence_packages(&self, library_id: &str) -> Result<Vec<LicencePackage>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, LicencePackage>(
                "SELECT library_id, package, titles, imported_by, imported_at FROM licence_package
                 WHERE library_id = $1 ORDER BY package",
            )
            .bind(library_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    /// How many titles the library has under a package (counted, not the stored figure).
    pub async fn licensed_title_count(&self, library_id: &str, package: &str) -> Result<i64> {
        let n: (i64,) = on_pool!(self.pool(), p => {
            sqlx::query_as(
                "SELECT count(*) FROM licensed_title WHERE library_id = $1 AND package = $2",
            )
            .bind(library_id)
            .bind(package)
            .fetch_one(p)
            .await?
        });
        Ok(n.0)
    }

    pub async fn availability_of(&self, request_id: &str) -> Result<Vec<Availability>> {
        let sql = format!(
            "SELECT {AVAILABILITY_COLUMNS} FROM request_availability WHERE request_id = $1 ORDER BY source"
        );
        crate::sql::query_as::<Availability>(sqlx::AssertSqlSafe(sql))
            .bind(request_id)
            .read_all(self)
            .await
    }
}
