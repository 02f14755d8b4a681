//! Catalog records and holdings: enough to build a rota from who holds what. The union catalog
//! issue brings search and clustering on top of these tables.

use time::OffsetDateTime;

use crate::{Result, Store, Tx, on_pool, on_tx};

#[derive(Debug, Clone, Default)]
pub struct NewCatalogRecord {
    pub record_id: String,
    pub title: String,
    pub author: Option<String>,
    pub publisher: Option<String>,
    pub year: Option<String>,
    pub isbn: Option<String>,
    pub issn: Option<String>,
    pub oclc_number: Option<String>,
    pub lccn: Option<String>,
    pub language: Option<String>,
    pub title_vernacular: Option<String>,
    pub author_vernacular: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CatalogRecord {
    pub record_id: String,
    pub title: String,
    pub author: Option<String>,
    pub publisher: Option<String>,
    pub year: Option<String>,
    pub isbn: Option<String>,
    pub issn: Option<String>,
    pub oclc_number: Option<String>,
    pub lccn: Option<String>,
    pub language: Option<String>,
    pub title_vernacular: Option<String>,
    pub author_vernacular: Option<String>,
}

/// A library that holds a record, with how many items.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HoldingRow {
    pub library_id: String,
    pub copies: i64,
    pub call_number: Option<String>,
}

impl Tx<'_> {
    pub async fn insert_catalog_record(
        &mut self,
        r: &NewCatalogRecord,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, c => {
            sqlx::query(
                "INSERT INTO catalog_record (record_id, title, author, publisher, year, isbn, issn, oclc_number, lccn, language, title_vernacular, author_vernacular, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&r.record_id)
            .bind(&r.title)
            .bind(&r.author)
            .bind(&r.publisher)
            .bind(&r.year)
            .bind(&r.isbn)
            .bind(&r.issn)
            .bind(&r.oclc_number)
            .bind(&r.lccn)
            .bind(&r.language)
            .bind(&r.title_vernacular)
            .bind(&r.author_vernacular)
            .bind(now)
            .execute(&mut **c)
            .await?;
        });
        Ok(())
    }

    pub async fn insert_holding(
        &mut self,
        record_id: &str,
        library_id: &str,
        call_number: Option<&str>,
        barcode: Option<&str>,
    ) -> Result<()> {
        on_tx!(self, c => {
            sqlx::query("INSERT INTO holding (record_id, library_id, call_number, barcode) VALUES ($1, $2, $3, $4)")
                .bind(record_id)
                .bind(library_id)
                .bind(call_number)
                .bind(barcode)
                .execute(&mut **c)
                .await?;
        });
        Ok(())
    }

    /// Our own item for a request we are asked to lend: the first holding of a matching record.
    pub async fn locate(
        &mut self,
        library_id: &str,
        key: &HoldingKey,
    ) -> Result<Option<(Option<String>, Option<String>)>> {
        let row: Option<(Option<String>, Option<String>)> = on_tx!(self, c => {
            sqlx::query_as(
                "SELECT h.call_number, h.barcode FROM holding h JOIN catalog_record r ON r.record_id = h.record_id
                 WHERE h.library_id = $1 AND ((r.isbn = $2) OR (r.issn = $3) OR (r.oclc_number = $4) OR (lower(r.title) = $5))
                 ORDER BY h.holding_id LIMIT 1",
            )
            .bind(library_id)
            .bind(&key.isbn)
            .bind(&key.issn)
            .bind(&key.oclc_number)
            .bind(&key.title_lower)
            .fetch_optional(&mut **c)
            .await?
        });
        Ok(row)
    }
}

/// What a request is matched on against the catalog. Absent parts match nothing.
#[derive(Debug, Clone, Default)]
pub struct HoldingKey {
    pub isbn: Option<String>,
    pub issn: Option<String>,
    pub oclc_number: Option<String>,
    pub title_lower: Option<String>,
}

impl Store {
    /// Libraries that hold a record matching `key`, with their number of items.
    pub async fn holders(&self, key: &HoldingKey) -> Result<Vec<HoldingRow>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, HoldingRow>(
                "SELECT h.library_id, COUNT(*) AS copies, MIN(h.call_number) AS call_number
                 FROM holding h JOIN catalog_record r ON r.record_id = h.record_id
                 WHERE (r.isbn = $1) OR (r.issn = $2) OR (r.oclc_number = $3) OR (lower(r.title) = $4)
                 GROUP BY h.library_id ORDER BY h.library_id",
            )
            .bind(&key.isbn)
            .bind(&key.issn)
            .bind(&key.oclc_number)
            .bind(&key.title_lower)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    pub async fn catalog_sample(&self, limit: i64) -> Result<Vec<CatalogRecord>> {
        let rows = on_pool!(self.pool(), p => {
            sqlx::query_as::<_, CatalogRecord>(
                "SELECT record_id, title, author, publisher, year, isbn, issn, oclc_number, lccn, language, title_vernacular, author_vernacular
                 FROM catalog_record ORDER BY record_id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }
}
