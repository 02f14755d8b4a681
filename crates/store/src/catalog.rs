//! The union catalog's tables: union records (`catalog_record`), each library's own records under
//! them (`catalog_source`), the keys records cluster on (`catalog_key`) and holdings. Who holds
//! what is read from here to build a rota and to locate an item; search lives in the `catalog`
//! crate, which indexes what is stored here.

use time::OffsetDateTime;

use crate::{Pool, Result, Store, Tx, on_pool, on_tx};

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
        self.insert_union_record(r, now).await?;
        // Records added this way (the demo) cluster with imported ones like any other.
        let keys: Vec<String> = [
            r.isbn.as_ref().map(|v| format!("isbn:{v}")),
            r.issn.as_ref().map(|v| format!("issn:{v}")),
            r.oclc_number.as_ref().map(|v| format!("oclc:{v}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        self.add_keys(&r.record_id, &keys).await?;
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
            crate::sql::query("INSERT INTO holding (record_id, library_id, call_number, barcode) VALUES ($1, $2, $3, $4)")
                .bind(record_id)
                .bind(library_id)
                .bind(call_number)
                .bind(barcode)
                .execute(&mut *c)
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
            crate::sql::query_as(
                "SELECT h.call_number, h.barcode FROM holding h
                 WHERE h.library_id = $1 AND h.record_id IN (SELECT record_id FROM catalog_key WHERE match_key IN ($2, $3, $4)
                       UNION SELECT record_id FROM catalog_record WHERE lower(title) = $5)
                 ORDER BY h.holding_id LIMIT 1",
            )
            .bind(library_id)
            .bind(key.isbn.as_ref().map(|v| format!("isbn:{v}")))
            .bind(key.issn.as_ref().map(|v| format!("issn:{v}")))
            .bind(key.oclc_number.as_ref().map(|v| format!("oclc:{v}")))
            .bind(&key.title_lower)
            .fetch_optional(&mut *c)
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
                 FROM holding h
                 WHERE h.record_id IN (SELECT record_id FROM catalog_key WHERE match_key IN ($1, $2, $3)
                       UNION SELECT record_id FROM catalog_record WHERE lower(title) = $4)
                 GROUP BY h.library_id ORDER BY h.library_id",
            )
            .bind(key.isbn.as_ref().map(|v| format!("isbn:{v}")))
            .bind(key.issn.as_ref().map(|v| format!("issn:{v}")))
            .bind(key.oclc_number.as_ref().map(|v| format!("oclc:{v}")))
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

/// One library's record to store in the union catalog, as the importer prepared it.
#[derive(Debug, Clone, Default)]
pub struct ImportRecord {
    /// 001, the strongest identifier for matching a re-import.
    pub control_number: Option<String>,
    /// First 035 $a as given, used when there is no 001.
    pub system_number: Option<String>,
    /// First valid ISBN as 13 digits, used when there is neither.
    pub isbn: Option<String>,
    /// The union record's display fields when this record starts a new one.
    pub record: NewCatalogRecord,
    /// Cluster keys in order of strength ("isbn:…", "issn:…", "oclc:…", "work:…").
    pub keys: Vec<String>,
    /// The mapped bibliographic fields as JSON, kept to rebuild the search index.
    pub bib_json: String,
    pub holdings: Vec<NewHolding>,
    /// A row of a holdings file rather than a catalog record: its few fields never replace
    /// the union record's on a re-import, since the record it joined may be described by
    /// another library's MARC (or the demo) with no source of its own to protect it.
    pub holdings_only: bool,
}

/// One item of a library.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewHolding {
    pub location: Option<String>,
    pub call_number: Option<String>,
    pub barcode: Option<String>,
}

/// What became of one imported record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A new record of this library, in union record `record_id`.
    Inserted { record_id: String },
    /// This library's earlier copy of the record, updated in place.
    Updated { record_id: String },
}

/// What one import batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Each record's outcome, in order.
    pub stored: Vec<Stored>,
    /// Union records folded into another because a record linked their clusters: gone from
    /// the store, to be dropped from the search index.
    pub merged: Vec<String>,
    /// Union records this batch started whose members are all records of this batch (those
    /// whose outcome names them): the importer can index them from what it holds, without
    /// reading them back.
    pub created: Vec<String>,
}

impl Stored {
    pub fn record_id(&self) -> &str {
        match self {
            Stored::Inserted { record_id } | Stored::Updated { record_id } => record_id,
        }
    }
}

/// A union record with what its members say: enough to index it and to show it.
#[derive(Debug, Clone)]
pub struct UnionRecord {
    pub record: CatalogRecord,
    /// Every member's mapped fields (JSON, as stored by the importer).
    pub member_bibs: Vec<String>,
    /// Libraries holding it.
    pub libraries: Vec<String>,
}

/// A holding as shown in the catalog.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct HoldingView {
    pub record_id: String,
    pub library_id: String,
    pub location: Option<String>,
    pub call_number: Option<String>,
    pub barcode: Option<String>,
}

const UNION_COLUMNS: &str = "record_id, title, author, publisher, year, isbn, issn, oclc_number, \
                             lccn, language, title_vernacular, author_vernacular";

/// New rows of one import batch, written together by `Tx::flush`. Rows name the batch's
/// records by their place in it, so their values are bound from the records, not copied.
#[derive(Default)]
struct Pending {
    /// New union record ids, each with the record that starts it.
    unions: Vec<(String, usize)>,
    /// Source id, union record id, and the record's place in the batch.
    sources: Vec<(String, String, usize)>,
    /// The record's place, the key's place among its keys, and the union record it names.
    keys: Vec<(usize, usize, String)>,
    /// Union record id, source id, the record's place and the holding's place among its items.
    holdings: Vec<(String, String, usize, usize)>,
}

/// The import's inserts: the head of each statement (a VALUES list follows), how many values
/// a row has, and what follows the VALUES.
const INSERT_UNION: (&str, usize, &str) = (
    "INSERT INTO catalog_record (record_id, title, author, publisher, year, isbn, issn, oclc_number, lccn, language, title_vernacular, author_vernacular, created_at) VALUES ",
    13,
    "",
);
const INSERT_SOURCE: (&str, usize, &str) = (
    "INSERT INTO catalog_source (source_id, record_id, library_id, control_number, system_number, isbn, bib, created_at, updated_at) VALUES ",
    9,
    "",
);
const INSERT_KEY: (&str, usize, &str) = (
    "INSERT INTO catalog_key (match_key, record_id) VALUES ",
    2,
    " ON CONFLICT (match_key) DO NOTHING",
);
const INSERT_HOLDING: (&str, usize, &str) = (
    "INSERT INTO holding (record_id, library_id, call_number, barcode, source_id, location, marc_call_number) VALUES ",
    7,
    " ON CONFLICT DO NOTHING",
);

/// `($1, …, $width), ($width+1, …)` for `rows` rows: the VALUES of a multi-row insert. Only
/// the counts go into the SQL text; the values are bound.
pub(crate) fn rows_of(width: usize, rows: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text of an `INSERT … VALUES (…), (…) …` of `width` columns, built once for each number
/// of rows a flush uses (a full chunk, then the remainder) rather than once a chunk.
struct Statements {
    head: &'static str,
    width: usize,
    tail: &'static str,
    made: Vec<(usize, String)>,
}

impl Statements {
    fn new((head, width, tail): (&'static str, usize, &'static str)) -> Self {
        Statements {
            head,
            width,
            tail,
            made: Vec::new(),
        }
    }

    fn text(&mut self, rows: usize) -> String {
        if let Some((_, sql)) = self.made.iter().find(|(n, _)| *n == rows) {
            return sql.clone();
        }
        let sql = format!("{}{}{}", self.head, rows_of(self.width, rows), self.tail);
        self.made.push((rows, sql.clone()));
        sql
    }
}

/// A union record's values in `INSERT_UNION`'s column order, `id` as its record id.
fn bind_union(
    q: crate::sql::Query,
    id: &str,
    r: &NewCatalogRecord,
    now: OffsetDateTime,
) -> crate::sql::Query {
    q.bind(id)
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
}

/// A library's record's values in `INSERT_SOURCE`'s column order.
fn bind_source(
    q: crate::sql::Query,
    source_id: &str,
    record_id: &str,
    library_id: &str,
    r: &ImportRecord,
    now: OffsetDateTime,
) -> crate::sql::Query {
    q.bind(source_id)
        .bind(record_id)
        .bind(library_id)
        .bind(&r.control_number)
        .bind(&r.system_number)
        .bind(&r.isbn)
        .bind(&r.bib_json)
        .bind(now)
        .bind(now)
}

/// An item's values in `INSERT_HOLDING`'s column order; `from_marc`: the call number is also
/// remembered as the MARC record's (see `merge_into_holding`).
fn bind_holding(
    q: crate::sql::Query,
    record_id: &str,
    library_id: &str,
    source_id: &str,
    h: &NewHolding,
    from_marc: bool,
) -> crate::sql::Query {
    q.bind(record_id)
        .bind(library_id)
        .bind(&h.call_number)
        .bind(&h.barcode)
        .bind(source_id)
        .bind(&h.location)
        .bind(h.call_number.as_ref().filter(|_| from_marc))
}

/// `Tx::flush` on SQLite: one row a statement, each statement prepared once for the whole
/// flush (`LiteRows`). A row a statement costs no round trip on SQLite, and spares it the
/// statement journal a multi-row insert keeps (a copy of every page it changes, in case a
/// later row fails).
fn flush_lite(
    c: &rusqlite::Connection,
    library_id: &str,
    records: &[ImportRecord],
    p: &Pending,
    now: OffsetDateTime,
) -> Result<()> {
    use crate::sql::LiteRows;
    let now = crate::sql::lite_time(now)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    let one_row = |s| Statements::new(s).text(1);
    if !p.unions.is_empty() {
        let mut unions = LiteRows::prepare(c, one_row(INSERT_UNION))?;
        for (id, at) in &p.unions {
            let Some(r) = records.get(*at).map(|r| &r.record) else {
                continue;
            };
            unions.run(&[
                id,
                &r.title,
                &r.author,
                &r.publisher,
                &r.year,
                &r.isbn,
                &r.issn,
                &r.oclc_number,
                &r.lccn,
                &r.language,
                &r.title_vernacular,
                &r.author_vernacular,
                &now,
            ])?;
        }
    }
    if !p.sources.is_empty() {
        let mut sources = LiteRows::prepare(c, one_row(INSERT_SOURCE))?;
        for (source_id, record_id, at) in &p.sources {
            let Some(r) = records.get(*at) else { continue };
            sources.run(&[
                source_id,
                record_id,
                &library_id,
                &r.control_number,
                &r.system_number,
                &r.isbn,
                &r.bib_json,
                &now,
                &now,
            ])?;
        }
    }
    if !p.keys.is_empty() {
        let mut keys = LiteRows::prepare(c, one_row(INSERT_KEY))?;
        for (at, k, record_id) in &p.keys {
            let Some(key) = records.get(*at).and_then(|r| r.keys.get(*k)) else {
                continue;
            };
            keys.run(&[key, record_id])?;
        }
    }
    if !p.holdings.is_empty() {
        let mut holdings = LiteRows::prepare(c, one_row(INSERT_HOLDING))?;
        for (record_id, source_id, at, i) in &p.holdings {
            let Some(h) = records.get(*at).and_then(|r| r.holdings.get(*i)) else {
                continue;
            };
            holdings.run(&[
                record_id,
                &library_id,
                &h.call_number,
                &h.barcode,
                source_id,
                &h.location,
                &h.call_number,
            ])?;
        }
    }
    Ok(())
}

/// `$first, $first+1, …` for `n` values: the placeholders of an `IN (…)` list. Only the count
/// goes into the SQL text; the values are bound.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Tx<'_> {
    /// Store `records` of `library_id`: each updates this library's earlier copy (matched on its
    /// strongest identifier) or joins / starts a union record. One call is one transaction: the
    /// importer sends big batches so that 250,000 records cost a few hundred commits. New
    /// records, the common case, cost a handful of multi-row statements per batch rather than
    /// several statements each; updates go one by one.
    pub async fn import_catalog_records(
        &mut self,
        library_id: &str,
        records: &[ImportRecord],
        now: OffsetDateTime,
    ) -> Result<Imported> {
        use std::collections::{HashMap, HashSet};
        let identity = |r: &ImportRecord| -> Option<(usize, String)> {
            if let Some(v) = &r.control_number {
                Some((0, v.clone()))
            } else if let Some(v) = &r.system_number {
                Some((1, v.clone()))
            } else {
                r.isbn.clone().map(|v| (2, v))
            }
        };
        // The identities of this library's sources already stored (or earlier in the batch).
        let mut sources: HashSet<(usize, String), foldhash::fast::RandomState> = HashSet::default();
        for (kind, column) in ["control_number", "system_number", "isbn"]
            .iter()
            .enumerate()
        {
            let values: Vec<String> = records
                .iter()
                .filter_map(|r| identity(r).filter(|(k, _)| *k == kind).map(|(_, v)| v))
                .collect();
            for value in self.sources_by(library_id, column, &values).await? {
                sources.insert((kind, value));
            }
        }
        let all_keys: Vec<&str> = records
            .iter()
            .flat_map(|r| r.keys.iter().map(String::as_str))
            .collect();
        let found = self.keys_lookup(&all_keys).await?;
        // The union record each key of the batch names so far, the key borrowed from its
        // record: the batch's keys are looked up and added by the hundred thousand.
        let mut keys: HashMap<&str, String, foldhash::fast::RandomState> = all_keys
            .iter()
            .filter_map(|k| found.get(*k).map(|id| (*k, id.clone())))
            .collect();
        let mut pending = Pending::default();
        let mut out = Vec::with_capacity(records.len());
        let mut merged: Vec<String> = Vec::new();
        let mut created: Vec<String> = Vec::new();
        for (at, r) in records.iter().enumerate() {
            if r.holdings_only {
                // A spreadsheet row merges into the library's holdings of its work one by one
                // (see `import_holdings_row`), after what is pending is written.
                self.flush(library_id, records, &mut pending, now).await?;
                let stored = self.import_holdings_row(library_id, r, now).await?;
                for k in &r.keys {
                    keys.entry(k.as_str())
                        .or_insert_with(|| stored.record_id().to_owned());
                }
                out.push(stored);
                continue;
            }
            let id = identity(r);
            if id.as_ref().is_some_and(|id| sources.contains(id)) {
                // The record (or its twin earlier in this batch) is stored: update it in place,
                // after writing what is pending so the update sees it.
                self.flush(library_id, records, &mut pending, now).await?;
                let stored = self.import_one(library_id, r, now).await?;
                for k in &r.keys {
                    keys.entry(k.as_str())
                        .or_insert_with(|| stored.record_id().to_owned());
                }
                out.push(stored);
                continue;
            }
            // The union records this record's keys name, strongest key first.
            let mut named: Vec<String> = Vec::new();
            for id in r.keys.iter().filter_map(|k| keys.get(k.as_str())) {
                if !named.contains(id) {
                    named.push(id.clone());
                }
            }
            if named.len() > 1 {
                // The record links clusters filed apart (an ISBN in one, an OCLC number in
                // another): they become one, the cluster of its strongest key.
                self.flush(library_id, records, &mut pending, now).await?;
                let keep = named[0].clone();
                let gone = named.split_off(1);
                self.merge_union_records(&keep, &gone).await?;
                for v in keys.values_mut() {
                    if gone.contains(v) {
                        v.clone_from(&keep);
                    }
                }
                for o in &mut out {
                    if gone.iter().any(|g| g == o.record_id()) {
                        *o = match o {
                            Stored::Inserted { .. } => Stored::Inserted {
                                record_id: keep.clone(),
                            },
                            Stored::Updated { .. } => Stored::Updated {
                                record_id: keep.clone(),
                            },
                        };
                    }
                }
                created.retain(|c| *c != keep && !gone.contains(c));
                merged.extend(gone);
            }
            let record_id = match named.first() {
                Some(id) => id.clone(),
                None => {
                    let id = uuid::Uuid::now_v7().to_string();
                    pending.unions.push((id.clone(), at));
                    created.push(id.clone());
                    id
                }
            };
            let source_id = uuid::Uuid::now_v7().to_string();
            for (i, k) in r.keys.iter().enumerate() {
                if let std::collections::hash_map::Entry::Vacant(e) = keys.entry(k.as_str()) {
                    e.insert(record_id.clone());
                    pending.keys.push((at, i, record_id.clone()));
                }
            }
            for i in 0..r.holdings.len() {
                pending
                    .holdings
                    .push((record_id.clone(), source_id.clone(), at, i));
            }
            if let Some(id) = id {
                sources.insert(id);
            }
            pending.sources.push((source_id, record_id.clone(), at));
            out.push(Stored::Inserted { record_id });
        }
        self.flush(library_id, records, &mut pending, now).await?;
        // A union record started here that a spreadsheet row or an update joined has members
        // from outside the batch's new records.
        let joined: std::collections::HashSet<&str> = records
            .iter()
            .zip(&out)
            .filter(|(r, o)| r.holdings_only || matches!(o, Stored::Updated { .. }))
            .map(|(_, o)| o.record_id())
            .collect();
        created.retain(|c| !joined.contains(c.as_str()));
        Ok(Imported {
            stored: out,
            merged,
            created,
        })
    }

    /// Fold union records `gone` into `keep`: their members, items and keys move to `keep`
    /// and they are deleted. An item of a library with the same barcode on both sides is one
    /// item: the copy under `gone` goes.
    async fn merge_union_records(&mut self, keep: &str, gone: &[String]) -> Result<()> {
        for g in gone {
            for sql in [
                "DELETE FROM holding WHERE record_id = $2 AND barcode IS NOT NULL AND EXISTS (
                     SELECT 1 FROM holding k WHERE k.record_id = $1 AND k.library_id = holding.library_id
                                             AND k.barcode = holding.barcode)",
                "UPDATE holding SET record_id = $1 WHERE record_id = $2",
                "UPDATE catalog_source SET record_id = $1 WHERE record_id = $2",
                "UPDATE catalog_key SET record_id = $1 WHERE record_id = $2",
                "DELETE FROM catalog_record WHERE record_id = $2 AND $1 <> $2",
            ] {
                on_tx!(self, c => {
                    crate::sql::query(sql)
                        .bind(keep)
                        .bind(g)
                        .execute(&mut *c)
                        .await?;
                });
            }
        }
        Ok(())
    }

    /// Which of `values` this library's sources have as their `column`, read from the index on
    /// (library_id, `column`) alone.
    async fn sources_by(
        &mut self,
        library_id: &str,
        column: &str,
        values: &[String],
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for chunk in values.chunks(500) {
            // `column` is one of three names fixed by the caller; values are bound.
            let sql = format!(
                "SELECT {column} FROM catalog_source WHERE library_id = $1 AND {column} IN ({})",
                placeholders(2, chunk.len())
            );
            let rows: Vec<(String,)> = on_tx!(self, c => {
                let mut q = crate::sql::query_as(sqlx::AssertSqlSafe(sql)).bind(library_id);
                for v in chunk {
                    q = q.bind(v);
                }
                q.fetch_all(&mut *c).await?
            });
            out.extend(rows.into_iter().map(|(v,)| v));
        }
        Ok(out)
    }

    /// The union record each of `keys` names, for those that name one.
    async fn keys_lookup(
        &mut self,
        keys: &[impl AsRef<str>],
    ) -> Result<std::collections::HashMap<String, String>> {
        let mut out = std::collections::HashMap::new();
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT match_key, record_id FROM catalog_key WHERE match_key IN ({})",
                placeholders(1, chunk.len())
            );
            let rows: Vec<(String, String)> = on_tx!(self, c => {
                let mut q = crate::sql::query_as(sqlx::AssertSqlSafe(sql));
                for v in chunk {
                    q = q.bind(v.as_ref());
                }
                q.fetch_all(&mut *c).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// Write the new rows gathered so far. On PostgreSQL as multi-row inserts (one round trip
    /// for many rows); on SQLite one row a statement (`flush_lite`).
    async fn flush(
        &mut self,
        library_id: &str,
        records: &[ImportRecord],
        p: &mut Pending,
        now: OffsetDateTime,
    ) -> Result<()> {
        let pending = std::mem::take(p);
        let c = match &mut self.conn {
            crate::Conn::Lite(c) => return flush_lite(c, library_id, records, &pending, now),
            crate::Conn::Postgres(c) => &mut **c,
        };
        let mut unions = Statements::new(INSERT_UNION);
        for chunk in pending.unions.chunks(100) {
            let sql = unions.text(chunk.len());
            let mut q = crate::sql::query(sqlx::AssertSqlSafe(sql));
            for (id, at) in chunk {
                let Some(r) = records.get(*at).map(|r| &r.record) else {
                    continue;
                };
                q = bind_union(q, id, r, now);
            }
            q.execute(&mut crate::Conn::Postgres(&mut *c)).await?;
        }
        let mut sources = Statements::new(INSERT_SOURCE);
        for chunk in pending.sources.chunks(100) {
            let sql = sources.text(chunk.len());
            let mut q = crate::sql::query(sqlx::AssertSqlSafe(sql));
            for (source_id, record_id, at) in chunk {
                let Some(r) = records.get(*at) else { continue };
                q = bind_source(q, source_id, record_id, library_id, r, now);
            }
            q.execute(&mut crate::Conn::Postgres(&mut *c)).await?;
        }
        let mut keys = Statements::new(INSERT_KEY);
        for chunk in pending.keys.chunks(500) {
            let sql = keys.text(chunk.len());
            let mut q = crate::sql::query(sqlx::AssertSqlSafe(sql));
            for (at, k, record_id) in chunk {
                let Some(key) = records.get(*at).and_then(|r| r.keys.get(*k)) else {
                    continue;
                };
                q = q.bind(key).bind(record_id);
            }
            q.execute(&mut crate::Conn::Postgres(&mut *c)).await?;
        }
        let mut holdings = Statements::new(INSERT_HOLDING);
        for chunk in pending.holdings.chunks(200) {
            let sql = holdings.text(chunk.len());
            let mut q = crate::sql::query(sqlx::AssertSqlSafe(sql));
            for (record_id, source_id, at, i) in chunk {
                let Some(h) = records.get(*at).and_then(|r| r.holdings.get(*i)) else {
                    continue;
                };
                q = bind_holding(q, record_id, library_id, source_id, h, true);
            }
            q.execute(&mut crate::Conn::Postgres(&mut *c)).await?;
        }
        Ok(())
    }

    async fn import_one(
        &mut self,
        library_id: &str,
        r: &ImportRecord,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let existing = self.find_source(library_id, r).await?;
        let stored = match existing {
            Some((source_id, record_id)) => {
                on_tx!(self, c => {
                    crate::sql::query(
                        "UPDATE catalog_source SET control_number = $2, system_number = $3, isbn = $4, bib = $5, updated_at = $6 WHERE source_id = $1",
                    )
                    .bind(&source_id)
                    .bind(&r.control_number)
                    .bind(&r.system_number)
                    .bind(&r.isbn)
                    .bind(&r.bib_json)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                });
                if !r.holdings_only {
                    on_tx!(self, c => {
                        crate::sql::query(
                            "UPDATE catalog_record SET title = $2, author = $3, publisher = $4, year = $5, isbn = $6, issn = $7, oclc_number = $8, lccn = $9, language = $10, title_vernacular = $11, author_vernacular = $12
                             WHERE record_id = $1 AND (SELECT COUNT(*) FROM catalog_source s WHERE s.record_id = $1) = 1",
                        )
                        .bind(&record_id)
                        .bind(&r.record.title)
                        .bind(&r.record.author)
                        .bind(&r.record.publisher)
                        .bind(&r.record.year)
                        .bind(&r.record.isbn)
                        .bind(&r.record.issn)
                        .bind(&r.record.oclc_number)
                        .bind(&r.record.lccn)
                        .bind(&r.record.language)
                        .bind(&r.record.title_vernacular)
                        .bind(&r.record.author_vernacular)
                        .execute(&mut *c)
                        .await?;
                    });
                }
                self.add_keys(&record_id, &r.keys).await?;
                self.replace_source_holdings(&record_id, library_id, &source_id, &r.holdings)
                    .await?;
                Stored::Updated { record_id }
            }
            None => {
                let mut record_id = None;
                for key in &r.keys {
                    let found: Option<(String,)> = on_tx!(self, c => {
                        crate::sql::query_as("SELECT record_id FROM catalog_key WHERE match_key = $1")
                            .bind(key)
                            .fetch_optional(&mut *c)
                            .await?
                    });
                    if let Some((id,)) = found {
                        record_id = Some(id);
                        break;
                    }
                }
                let record_id = match record_id {
                    Some(id) => id,
                    None => {
                        let mut new = r.record.clone();
                        new.record_id = uuid::Uuid::now_v7().to_string();
                        self.insert_union_record(&new, now).await?;
                        new.record_id
                    }
                };
                let source_id = uuid::Uuid::now_v7().to_string();
                self.insert_source(&source_id, &record_id, library_id, r, now)
                    .await?;
                self.add_keys(&record_id, &r.keys).await?;
                self.add_holdings(
                    &record_id,
                    library_id,
                    &source_id,
                    &r.holdings,
                    !r.holdings_only,
                )
                .await?;
                Stored::Inserted { record_id }
            }
        };
        Ok(stored)
    }

    /// Store one work's rows of a holdings file. The row keeps a source of its own (its
    /// identity, so a re-import finds it), but its items merge into the library's holdings of
    /// the union record whatever source gave them: an item with the same barcode, else one
    /// without a barcode (a MARC record's item with no 852 $p), else, for a row without a
    /// barcode, the first one not yet matched, is updated in place (call number, barcode and
    /// location, where the row gives them); only an item that matches none is added. Items this
    /// file gave earlier that no row matches now are removed, so a re-import replaces the
    /// file's earlier rows, and importing the same file twice changes nothing.
    async fn import_holdings_row(
        &mut self,
        library_id: &str,
        r: &ImportRecord,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let (source_id, record_id, inserted) = match self.find_source(library_id, r).await? {
            Some((source_id, record_id)) => {
                on_tx!(self, c => {
                    crate::sql::query("UPDATE catalog_source SET bib = $2, updated_at = $3 WHERE source_id = $1")
                        .bind(&source_id)
                        .bind(&r.bib_json)
                        .bind(now)
                        .execute(&mut *c)
                        .await?;
                });
                (source_id, record_id, false)
            }
            None => {
                let found = self.keys_lookup(&r.keys).await?;
                let record_id = match r.keys.iter().find_map(|k| found.get(k)) {
                    Some(id) => id.clone(),
                    None => {
                        let mut new = r.record.clone();
                        new.record_id = uuid::Uuid::now_v7().to_string();
                        self.insert_union_record(&new, now).await?;
                        new.record_id
                    }
                };
                let source_id = uuid::Uuid::now_v7().to_string();
                self.insert_source(&source_id, &record_id, library_id, r, now)
                    .await?;
                (source_id, record_id, true)
            }
        };
        self.add_keys(&record_id, &r.keys).await?;
        let existing: Vec<(i64, Option<String>, Option<String>)> = on_tx!(self, c => {
            crate::sql::query_as(
                "SELECT holding_id, source_id, barcode FROM holding WHERE record_id = $1 AND library_id = $2 ORDER BY holding_id",
            )
            .bind(&record_id)
            .bind(library_id)
            .fetch_all(&mut *c)
            .await?
        });
        let mut matched: Vec<i64> = Vec::new();
        // Barcodes given by this file's rows so far: a second row with the same barcode is
        // the same item and changes nothing (an item is unique by barcode within a record).
        let mut given: Vec<&str> = Vec::new();
        for h in &r.holdings {
            if let Some(b) = h.barcode.as_deref() {
                if given.contains(&b) {
                    continue;
                }
                given.push(b);
            }
            let free = |e: &&(i64, Option<String>, Option<String>)| !matched.contains(&e.0);
            let target = h
                .barcode
                .as_ref()
                .and_then(|b| {
                    existing
                        .iter()
                        .filter(free)
                        .find(|e| e.2.as_deref() == Some(b.as_str()))
                })
                .or_else(|| existing.iter().filter(free).find(|e| e.2.is_none()))
                .or_else(|| {
                    h.barcode
                        .is_none()
                        .then(|| existing.iter().find(free))
                        .flatten()
                })
                .map(|e| e.0);
            match target {
                Some(holding_id) => {
                    matched.push(holding_id);
                    self.merge_into_holding(holding_id, h, false).await?;
                }
                None => {
                    self.add_holdings(
                        &record_id,
                        library_id,
                        &source_id,
                        std::slice::from_ref(h),
                        false,
                    )
                    .await?;
                }
            }
        }
        for (holding_id, from, _) in &existing {
            if from.as_deref() == Some(source_id.as_str()) && !matched.contains(holding_id) {
                on_tx!(self, c => {
                    crate::sql::query("DELETE FROM holding WHERE holding_id = $1")
                        .bind(*holding_id)
                        .execute(&mut *c)
                        .await?;
                });
            }
        }
        Ok(if inserted {
            Stored::Inserted { record_id }
        } else {
            Stored::Updated { record_id }
        })
    }

    /// This library's earlier copy of `r`: by 001 when it has one, else by its first 035, else
    /// by its first ISBN. Only the strongest identifier is tried, so two records of one library
    /// that share an ISBN but have their own 001s stay two records.
    async fn find_source(
        &mut self,
        library_id: &str,
        r: &ImportRecord,
    ) -> Result<Option<(String, String)>> {
        let (sql, value) = if let Some(cn) = &r.control_number {
            (
                "SELECT source_id, record_id FROM catalog_source WHERE library_id = $1 AND control_number = $2 ORDER BY source_id LIMIT 1",
                cn,
            )
        } else if let Some(sn) = &r.system_number {
            (
                "SELECT source_id, record_id FROM catalog_source WHERE library_id = $1 AND system_number = $2 ORDER BY source_id LIMIT 1",
                sn,
            )
        } else if let Some(isbn) = &r.isbn {
            (
                "SELECT source_id, record_id FROM catalog_source WHERE library_id = $1 AND isbn = $2 ORDER BY source_id LIMIT 1",
                isbn,
            )
        } else {
            return Ok(None);
        };
        let row: Option<(String, String)> = on_tx!(self, c => {
            crate::sql::query_as(sql)
                .bind(library_id)
                .bind(value)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row)
    }

    async fn insert_source(
        &mut self,
        source_id: &str,
        record_id: &str,
        library_id: &str,
        r: &ImportRecord,
        now: OffsetDateTime,
    ) -> Result<()> {
        let sql = Statements::new(INSERT_SOURCE).text(1);
        on_tx!(self, c => {
            bind_source(crate::sql::query(sqlx::AssertSqlSafe(sql)), source_id, record_id, library_id, r, now)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    async fn insert_union_record(
        &mut self,
        r: &NewCatalogRecord,
        now: OffsetDateTime,
    ) -> Result<()> {
        let sql = Statements::new(INSERT_UNION).text(1);
        on_tx!(self, c => {
            bind_union(crate::sql::query(sqlx::AssertSqlSafe(sql)), &r.record_id, r, now)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// Keys already naming another union record stay with it: the first record to claim a key
    /// keeps it, so clusters never move under records already filed.
    async fn add_keys(&mut self, record_id: &str, keys: &[String]) -> Result<()> {
        for key in keys {
            on_tx!(self, c => {
                crate::sql::query(
                    "INSERT INTO catalog_key (match_key, record_id) VALUES ($1, $2) ON CONFLICT (match_key) DO NOTHING",
                )
                .bind(key)
                .bind(record_id)
                .execute(&mut *c)
                .await?;
            });
        }
        Ok(())
    }

    /// Bring the items a re-imported record lists into line with those its earlier import
    /// made: each item is matched by barcode, else to the next one left in order, and updated
    /// in place; what the record gives wins, and what it leaves empty keeps the value a
    /// holdings spreadsheet merged in; items the record no longer lists go, new ones are added.
    async fn replace_source_holdings(
        &mut self,
        record_id: &str,
        library_id: &str,
        source_id: &str,
        holdings: &[NewHolding],
    ) -> Result<()> {
        let existing: Vec<(i64, Option<String>)> = on_tx!(self, c => {
            crate::sql::query_as(
                "SELECT holding_id, barcode FROM holding WHERE source_id = $1 ORDER BY holding_id",
            )
            .bind(source_id)
            .fetch_all(&mut *c)
            .await?
        });
        let mut taken = vec![false; existing.len()];
        // First the items the record names by a barcode they already have.
        let mut target: Vec<Option<usize>> = holdings
            .iter()
            .map(|h| {
                let b = h.barcode.as_deref()?;
                let i = existing
                    .iter()
                    .enumerate()
                    .position(|(i, e)| !taken[i] && e.1.as_deref() == Some(b))?;
                taken[i] = true;
                Some(i)
            })
            .collect();
        let mut added = Vec::new();
        for (h, t) in holdings.iter().zip(target.iter_mut()) {
            if t.is_some() {
                continue;
            }
            if let Some(b) = h.barcode.as_deref() {
                // An item of this record with the barcode already (another import's, or a
                // repeat within the record): it is that item, nothing to change.
                let held: Option<(i64,)> = on_tx!(self, c => {
                    crate::sql::query_as(
                        "SELECT holding_id FROM holding WHERE record_id = $1 AND library_id = $2 AND barcode = $3",
                    )
                    .bind(record_id)
                    .bind(library_id)
                    .bind(b)
                    .fetch_optional(&mut *c)
                    .await?
                });
                if held.is_some() {
                    continue;
                }
            }
            // Then the rest in order: the next item this record's import made.
            *t = taken.iter().position(|t| !t);
            match *t {
                Some(i) => taken[i] = true,
                None => added.push(h.clone()),
            }
        }
        for (h, t) in holdings.iter().zip(&target) {
            let Some(i) = *t else { continue };
            self.merge_into_holding(existing[i].0, h, true).await?;
        }
        for (i, (holding_id, _)) in existing.iter().enumerate() {
            if !taken[i] {
                on_tx!(self, c => {
                    crate::sql::query("DELETE FROM holding WHERE holding_id = $1")
                        .bind(holding_id)
                        .execute(&mut *c)
                        .await?;
                });
            }
        }
        self.add_holdings(record_id, library_id, source_id, &added, true)
            .await
    }

    /// Update an item in place with what `h` says; what it leaves empty keeps its value, except
    /// that a MARC record (`from_marc`) that no longer gives a call number clears the one it
    /// gave before (a spreadsheet's call number stays).
    async fn merge_into_holding(
        &mut self,
        holding_id: i64,
        h: &NewHolding,
        from_marc: bool,
    ) -> Result<()> {
        let sql = if from_marc {
            "UPDATE holding SET barcode = COALESCE($2, barcode),
                    call_number = CASE WHEN $3 IS NOT NULL THEN $3
                                       WHEN call_number IS NOT DISTINCT FROM marc_call_number THEN NULL
                                       ELSE call_number END,
                    marc_call_number = $3,
                    location = COALESCE($4, location)
             WHERE holding_id = $1"
        } else {
            "UPDATE holding SET barcode = COALESCE($2, barcode), call_number = COALESCE($3, call_number),
                    location = COALESCE($4, location)
             WHERE holding_id = $1"
        };
        on_tx!(self, c => {
            crate::sql::query(sql)
            .bind(holding_id)
            .bind(&h.barcode)
            .bind(&h.call_number)
            .bind(&h.location)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Add items; `from_marc`: they come from a MARC record, whose call number is remembered
    /// as the record's (see `merge_into_holding`).
    async fn add_holdings(
        &mut self,
        record_id: &str,
        library_id: &str,
        source_id: &str,
        holdings: &[NewHolding],
        from_marc: bool,
    ) -> Result<()> {
        let sql = Statements::new(INSERT_HOLDING).text(1);
        for h in holdings {
            on_tx!(self, c => {
                bind_holding(crate::sql::query(sqlx::AssertSqlSafe(sql.clone())), record_id, library_id, source_id, h, from_marc)
                    .execute(&mut *c)
                    .await?;
            });
        }
        Ok(())
    }
}

impl Store {
    /// Union records `ids` with their members' fields and holding libraries, for indexing.
    /// Records that do not exist are left out.
    pub async fn union_records(&self, ids: &[String]) -> Result<Vec<UnionRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        // Bounded so the bound values stay well under either engine's limit.
        for chunk in ids.chunks(500) {
            let list = placeholders(1, chunk.len());
            let records_sql = format!(
                "SELECT {UNION_COLUMNS} FROM catalog_record WHERE record_id IN ({list}) ORDER BY record_id"
            );
            let bibs_sql = format!(
                "SELECT record_id, bib FROM catalog_source WHERE record_id IN ({list}) ORDER BY record_id, created_at"
            );
            let libs_sql = format!(
                "SELECT DISTINCT record_id, library_id FROM holding WHERE record_id IN ({list}) ORDER BY record_id, library_id"
            );
            let (records, bibs, libs) = on_pool!(self.pool(), p => {
                let mut q1 = sqlx::query_as::<_, CatalogRecord>(sqlx::AssertSqlSafe(records_sql));
                let mut q2 = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(bibs_sql));
                let mut q3 = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(libs_sql));
                for id in chunk {
                    q1 = q1.bind(id);
                    q2 = q2.bind(id);
                    q3 = q3.bind(id);
                }
                (q1.fetch_all(p).await?, q2.fetch_all(p).await?, q3.fetch_all(p).await?)
            });
            let mut by_id: std::collections::BTreeMap<String, UnionRecord> = records
                .into_iter()
                .map(|record| {
                    (
                        record.record_id.clone(),
                        UnionRecord {
                            record,
                            member_bibs: Vec::new(),
                            libraries: Vec::new(),
                        },
                    )
                })
                .collect();
            for (id, bib) in bibs {
                if let Some(u) = by_id.get_mut(&id) {
                    u.member_bibs.push(bib);
                }
            }
            for (id, lib) in libs {
                if let Some(u) = by_id.get_mut(&id) {
                    u.libraries.push(lib);
                }
            }
            out.extend(by_id.into_values());
        }
        Ok(out)
    }

    /// Union record ids after `after` in id order, `limit` at most: pages for a reindex.
    pub async fn union_record_ids(&self, after: &str, limit: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(self.pool(), p => {
            sqlx::query_as(
                "SELECT record_id FROM catalog_record WHERE record_id > $1 ORDER BY record_id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The holdings of union records `ids`, by library then call number.
    pub async fn holdings_of(&self, ids: &[String]) -> Result<Vec<HoldingView>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT record_id, library_id, location, call_number, barcode FROM holding
                 WHERE record_id IN ({}) ORDER BY record_id, library_id, call_number, holding_id",
                placeholders(1, chunk.len())
            );
            let rows = on_pool!(self.pool(), p => {
                let mut q = sqlx::query_as::<_, HoldingView>(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// Refresh the planner's statistics of the catalog tables on PostgreSQL. A bulk import
    /// grows them from nothing; with statistics from an empty table the planner scans whole
    /// tables for the importer's `IN (…)` lookups and every batch gets slower. SQLite's planner
    /// picks the indexes without statistics, so there it does nothing.
    pub async fn analyze_catalog(&self) -> Result<()> {
        if let Pool::Postgres(p) = self.pool() {
            sqlx::query("ANALYZE catalog_record, catalog_source, catalog_key, holding")
                .execute(p)
                .await?;
        }
        Ok(())
    }

    /// Counts for an import report and tests: union records, source records, holdings.
    pub async fn catalog_counts(&self) -> Result<(i64, i64, i64)> {
        let row: (i64, i64, i64) = on_pool!(self.pool(), p => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM catalog_record), (SELECT COUNT(*) FROM catalog_source), (SELECT COUNT(*) FROM holding)",
            )
            .fetch_one(p)
            .await?
        });
        Ok(row)
    }
}
