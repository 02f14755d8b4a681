//! Statistics blocks (SQLite, migration 0039): the request summaries of one library and one
//! month packed column by column into BLOBs. A report over a year of a large node then loops
//! over a few hundred arrays instead of stepping SQLite through a million rows, which was
//! most of its time. A block is derived from `request_fact` and never out of date: the
//! migration's triggers drop it and mark its month stale in the same transaction as any
//! change to one of its summaries, and a report reads the rows of stale months as it did
//! before blocks existed. `Store::build_stat_blocks` packs stale months again.

use domain::stats::{KeyedAggregator, Outcome, STAGE_COUNT};
use rusqlite::types::ValueRef;
use time::OffsetDateTime;

use crate::sql::LiteCol;
use crate::stats::{StatKey, StatScope};
use crate::{Result, Store, StoreError};

/// Stale months packed per step of the job, at most.
const BLOCKS_PER_STEP: i64 = 16;

/// The columns of a block, in the order of `stat_block` and of the query that reads
/// `request_fact` for one.
const COLUMNS: [&str; 17] = [
    "created",
    "outcome",
    "reason",
    "stage1",
    "stage2",
    "stage3",
    "stage4",
    "stage5",
    "month",
    "library",
    "patron_type",
    "department",
    "reader",
    "source",
    "journal",
    "partner",
    "format",
];

/// A time as stored, and the month of its block: `YYYY-MM` in UTC, the first seven characters
/// of the stored time (the triggers use `substr(created_at, 1, 7)`).
fn stored_and_bucket(t: OffsetDateTime) -> Result<(String, String)> {
    let text = crate::sql::lite_time(t)
        .map_err(|e| StoreError::Corrupt(format!("statistics period: {e}")))?;
    let bucket = text[..7].to_owned();
    Ok((text, bucket))
}

/// Microseconds since 1970, as a stored time is compared: the text keeps six digits of
/// fraction, so a bound is cut to whole microseconds the same way.
fn micros(t: OffsetDateTime) -> i64 {
    let nanos = t.unix_timestamp_nanos().div_euclid(1000);
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

/// `values` as a block column: the narrowest width that holds them all, then the values.
fn pack(values: &[Option<i64>]) -> Result<Vec<u8>> {
    let fits = |bits: u32| {
        let (min, max) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
        values
            .iter()
            .flatten()
            .all(|&v| i128::from(v) > min && i128::from(v) <= max)
    };
    let width: usize = match [8, 16, 32, 64].into_iter().find(|&b| fits(b)) {
        Some(bits) => (bits / 8) as usize,
        None => {
            return Err(StoreError::Corrupt(
                "a statistics summary holds the smallest 64-bit number, which has no place in a block"
                    .to_owned(),
            ));
        }
    };
    let null = -(1i128 << (width * 8 - 1));
    let mut out = Vec::with_capacity(1 + values.len() * width);
    out.push(width as u8);
    for v in values {
        let v = v.map_or(null, i128::from);
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    Ok(out)
}

/// One column of a block being read.
struct Col<'a> {
    width: usize,
    data: &'a [u8],
}

impl<'a> Col<'a> {
    fn new(blob: &'a [u8], n: usize, name: &str) -> Result<Self> {
        let bad = || StoreError::Corrupt(format!("stat_block.{name}: not a block of {n} values"));
        let (&width, data) = blob.split_first().ok_or_else(bad)?;
        let width = usize::from(width);
        if ![1, 2, 4, 8].contains(&width) || n.checked_mul(width) != Some(data.len()) {
            return Err(bad());
        }
        Ok(Col { width, data })
    }

    #[inline]
    fn at(&self, i: usize) -> Option<i64> {
        let at = i * self.width;
        let v = match self.width {
            1 => i64::from(self.data[at] as i8),
            2 => i64::from(i16::from_le_bytes([self.data[at], self.data[at + 1]])),
            4 => {
                let mut b = [0; 4];
                b.copy_from_slice(&self.data[at..at + 4]);
                i64::from(i32::from_le_bytes(b))
            }
            _ => {
                let mut b = [0; 8];
                b.copy_from_slice(&self.data[at..at + 8]);
                i64::from_le_bytes(b)
            }
        };
        let null = i64::MIN >> (64 - self.width * 8);
        (v != null).then_some(v)
    }
}

impl StatKey {
    /// The block column a report by this key groups by (years from months).
    fn block_column(self) -> &'static str {
        // Each column is named after its key.
        match self {
            StatKey::Year => "month",
            k => k.as_str(),
        }
    }
}

/// The libraries a report counts, as a condition on `{alias}.library_id` taking the library
/// as `?3`.
fn library_filter(scope: &StatScope, alias: &str) -> String {
    match (&scope.library_id, scope.members) {
        (Some(_), false) => format!(" AND {alias}.library_id = ?3"),
        (Some(_), true) => format!(
            " AND {alias}.library_id IN (SELECT library_id FROM library WHERE library_id = ?3 OR hub_id = ?3)"
        ),
        (None, _) => String::new(),
    }
}

/// A report's requests on SQLite, aggregated: the blocks of the months in `scope`, and the
/// rows of `request_fact` for months whose block is stale, all in one read transaction (one
/// snapshot, so that a month is counted once: from its block or from its rows).
pub(crate) fn lite_report(
    conn: &rusqlite::Connection,
    key: StatKey,
    scope: &StatScope,
) -> Result<KeyedAggregator> {
    let key_expr = key.expr();
    let (from, first) = stored_and_bucket(scope.from)?;
    let (to, last) = stored_and_bucket(scope.to)?;
    let library = scope.library_id.as_deref().unwrap_or("");
    let tx = conn.unchecked_transaction()?;
    let mut agg = KeyedAggregator::default();

    let (from_us, to_us) = (micros(scope.from), micros(scope.to));
    let group_col = key.block_column();
    let sql = format!(
        "SELECT b.n, b.created, b.outcome, b.reason, b.stage1, b.stage2, b.stage3, b.stage4,
                b.stage5, b.{group_col}
         FROM stat_block b WHERE b.bucket >= ?1 AND b.bucket <= ?2{}",
        library_filter(scope, "b")
    );
    let mut stmt = tx.prepare(&sql)?;
    let mut rows = if scope.library_id.is_some() {
        stmt.query(rusqlite::params![first, last, library])?
    } else {
        stmt.query(rusqlite::params![first, last])?
    };
    while let Some(r) = rows.next()? {
        let n = usize::try_from(r.get::<_, i64>(0)?)
            .map_err(|_| StoreError::Corrupt("stat_block.n below zero".to_owned()))?;
        let col = |i: usize| block_col(r, i, n);
        let (created, outcome, reason) = (col(1)?, col(2)?, col(3)?);
        let stages = [col(4)?, col(5)?, col(6)?, col(7)?, col(8)?];
        let group = col(9)?;
        let year = key == StatKey::Year;
        for i in 0..n {
            let at = created.at(i).unwrap_or(i64::MIN);
            if at < from_us || at >= to_us {
                continue;
            }
            let g = group.at(i).unwrap_or(0);
            let g = if year { g / 100 } else { g };
            let code = outcome.at(i).unwrap_or(-1);
            let outcome = Outcome::from_code(code)
                .ok_or_else(|| StoreError::Corrupt(format!("stat_block.outcome {code}")))?;
            let mut minutes = [None; STAGE_COUNT];
            for (m, s) in minutes.iter_mut().zip(&stages) {
                *m = s.at(i);
            }
            agg.add(g, outcome, reason.at(i), minutes);
        }
    }
    drop(rows);
    drop(stmt);

    // Stale months: their rows, each a range of the table's key (library, created_at).
    let sql = format!(
        "SELECT s.library_id, s.bucket FROM stat_block_stale s
         WHERE s.bucket >= ?1 AND s.bucket <= ?2{}",
        library_filter(scope, "s")
    );
    let stale: Vec<(String, String)> = {
        let mut stmt = tx.prepare(&sql)?;
        let pair = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(String, String)> {
            Ok((r.get(0)?, r.get(1)?))
        };
        if scope.library_id.is_some() {
            stmt.query_map(rusqlite::params![first, last, library], pair)?
                .collect::<rusqlite::Result<_>>()?
        } else {
            stmt.query_map(rusqlite::params![first, last], pair)?
                .collect::<rusqlite::Result<_>>()?
        }
    };
    let sql = format!(
        "SELECT {key_expr} AS grp, f.outcome, f.unfilled_reason_value AS reason,
                f.stage1, f.stage2, f.stage3, f.stage4, f.stage5
         FROM request_fact f
         WHERE f.library_id = ?1 AND f.created_at >= ?2 AND f.created_at < ?3"
    );
    let mut stmt = tx.prepare(&sql)?;
    for (library, bucket) in stale {
        let end = format!("{bucket}~");
        let lo = from.as_str().max(bucket.as_str());
        let hi = to.as_str().min(end.as_str());
        let rows = stmt.query(rusqlite::params![library, lo, hi])?;
        add_rows(rows, &mut agg)?;
    }
    drop(stmt);
    tx.commit()?;
    Ok(agg)
}

/// Column `i` of a row of `stat_block` read by `lite_report` (column 0 is `n`).
fn block_col<'r>(r: &'r rusqlite::Row<'_>, i: usize, n: usize) -> Result<Col<'r>> {
    let name = COLUMNS.get(i.wrapping_sub(1)).copied().unwrap_or("?");
    match r.get_ref(i)? {
        ValueRef::Blob(b) => Col::new(b, n, name),
        _ => Err(StoreError::Corrupt(format!(
            "stat_block.{name}: not a BLOB"
        ))),
    }
}

/// Rows giving per request its group, outcome, unfilled reason and stage minutes, all
/// numbers, added to `agg`.
fn add_rows(mut rows: rusqlite::Rows<'_>, agg: &mut KeyedAggregator) -> Result<()> {
    let int = |r: &rusqlite::Row<'_>, i: usize| -> Result<Option<i64>> {
        match r.get_ref(i)? {
            ValueRef::Integer(v) => Ok(Some(v)),
            ValueRef::Null => Ok(None),
            v => Err(StoreError::Corrupt(format!(
                "request_fact column {i}: {:?} where a number belongs",
                v.data_type()
            ))),
        }
    };
    while let Some(r) = rows.next()? {
        let group = int(r, 0)?.unwrap_or(0);
        let outcome = int(r, 1)?.unwrap_or(-1);
        let outcome = Outcome::from_code(outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("request_fact.outcome {outcome}")))?;
        let reason = int(r, 2)?;
        let stages = [int(r, 3)?, int(r, 4)?, int(r, 5)?, int(r, 6)?, int(r, 7)?];
        agg.add(group, outcome, reason, stages);
    }
    Ok(())
}

/// Pack the summaries of `library` in `bucket` into its block and clear its stale mark, on
/// the writer's connection (inside its transaction). A month without summaries left has no
/// block.
fn build_block(c: &rusqlite::Connection, library: &str, bucket: &str) -> Result<()> {
    let mut stmt = c.prepare_cached(
        "SELECT created_at, outcome, unfilled_reason_value, stage1, stage2, stage3, stage4,
                stage5, month, library_value, patron_type_value, department_value, reader_value,
                source_value, journal_value, partner_value, format_value
         FROM request_fact WHERE library_id = ?1 AND created_at >= ?2 AND created_at < ?3",
    )?;
    let end = format!("{bucket}~");
    let mut rows = stmt.query(rusqlite::params![library, bucket, end])?;
    let mut cols: Vec<Vec<Option<i64>>> = vec![Vec::new(); COLUMNS.len()];
    while let Some(r) = rows.next()? {
        let created = OffsetDateTime::lite(r.get_ref(0)?)
            .map_err(|e| StoreError::Corrupt(format!("request_fact.created_at: {e}")))?;
        cols[0].push(Some(micros(created)));
        for (i, col) in cols.iter_mut().enumerate().skip(1) {
            col.push(match r.get_ref(i)? {
                ValueRef::Integer(v) => Some(v),
                ValueRef::Null => None,
                v => {
                    return Err(StoreError::Corrupt(format!(
                        "request_fact column {i}: {:?} where a number belongs",
                        v.data_type()
                    )));
                }
            });
        }
    }
    drop(rows);
    let n = cols[0].len();
    c.prepare_cached("DELETE FROM stat_block WHERE library_id = ?1 AND bucket = ?2")?
        .execute(rusqlite::params![library, bucket])?;
    if n > 0 {
        let packed = cols
            .iter()
            .map(|v| pack(v.as_slice()))
            .collect::<Result<Vec<_>>>()?;
        let sql = format!(
            "INSERT INTO stat_block (library_id, bucket, n, {}) VALUES (?1, ?2, ?3, {})",
            COLUMNS.join(", "),
            (4..4 + COLUMNS.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut insert = c.prepare_cached(&sql)?;
        let count = i64::try_from(n).unwrap_or(i64::MAX);
        insert.raw_bind_parameter(1, library)?;
        insert.raw_bind_parameter(2, bucket)?;
        insert.raw_bind_parameter(3, count)?;
        for (i, blob) in packed.iter().enumerate() {
            insert.raw_bind_parameter(4 + i, blob.as_slice())?;
        }
        insert.raw_execute()?;
    }
    c.prepare_cached("DELETE FROM stat_block_stale WHERE library_id = ?1 AND bucket = ?2")?
        .execute(rusqlite::params![library, bucket])?;
    Ok(())
}

impl Store {
    /// Pack up to a step's worth of stale months into blocks (SQLite; nothing on PostgreSQL),
    /// those unchanged for at least `settled_secs` (the month in progress changes all the
    /// time: packing it again at each change would cost more than its rows do in a report).
    /// Returns how many months were packed; the job calls it while it returns more than none.
    #[tracing::instrument(skip_all, err)]
    pub async fn build_stat_blocks(&self, settled_secs: i64) -> Result<u64> {
        if !matches!(self.pool(), crate::Pool::Sqlite(_)) {
            return Ok(0);
        }
        let stale = crate::sql::query_as::<(String, String)>(
            "SELECT library_id, bucket FROM stat_block_stale
             WHERE marked_at <= CAST(strftime('%s', 'now') AS INTEGER) - $1
             ORDER BY marked_at, library_id, bucket LIMIT $2",
        )
        .bind(settled_secs)
        .bind(BLOCKS_PER_STEP)
        .read_all(self)
        .await?;
        let mut built = 0;
        for (library, bucket) in stale {
            let (l, b) = (library.clone(), bucket.clone());
            let packed = self
                .write(move |tx| {
                    Box::pin(async move {
                        match &mut tx.conn {
                            crate::Conn::Lite(c) => build_block(c, &l, &b),
                            crate::Conn::Postgres(_) => Ok(()),
                        }
                    })
                })
                .await;
            match packed {
                Ok(()) => built += 1,
                Err(StoreError::Closed) => return Err(StoreError::Closed),
                Err(e) => {
                    // Its rows still serve reports; it goes behind the other stale months, so
                    // that it does not hold them up, and is tried again once it has settled.
                    tracing::warn!(error = %e, library = %library, month = %bucket,
                        "a month of statistics could not be packed; reports read its rows");
                    self.write(move |tx| {
                        Box::pin(async move {
                            crate::sql::query(
                                "UPDATE stat_block_stale
                                 SET marked_at = CAST(strftime('%s', 'now') AS INTEGER)
                                 WHERE library_id = $1 AND bucket = $2",
                            )
                            .bind(library.as_str())
                            .bind(bucket.as_str())
                            .execute(&mut tx.conn)
                            .await?;
                            Ok::<_, StoreError>(())
                        })
                    })
                    .await?;
                }
            }
        }
        Ok(built)
    }

    /// Set every block aside (its month stale, as if it had just changed, so that the job does
    /// not pack it again at once): reports read rows again.
    /// For the benchmark that measures reports with and without blocks in one run. Returns how
    /// many blocks there were.
    pub async fn unpack_stat_blocks(&self) -> Result<u64> {
        if !matches!(self.pool(), crate::Pool::Sqlite(_)) {
            return Ok(0);
        }
        self.write(|tx| {
            Box::pin(async move {
                crate::sql::query(
                    "INSERT OR IGNORE INTO stat_block_stale (library_id, bucket, marked_at)
                     SELECT library_id, bucket, CAST(strftime('%s', 'now') AS INTEGER)
                     FROM stat_block",
                )
                .execute(&mut tx.conn)
                .await?;
                let gone = crate::sql::query("DELETE FROM stat_block")
                    .execute(&mut tx.conn)
                    .await?;
                Ok::<_, StoreError>(gone.rows_affected())
            })
        })
        .await
    }

    /// Pack every stale month at once, however recent its change (tests and benchmarks).
    pub async fn build_all_stat_blocks(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            match self.build_stat_blocks(i64::MIN / 2).await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_keeps_every_value_and_none_in_the_narrowest_width() {
        let cases: [&[Option<i64>]; 5] = [
            &[Some(0), None, Some(127), Some(-127)],
            &[Some(128), None, Some(-32767)],
            &[Some(40_000), None],
            &[Some(i64::from(i32::MIN)), Some(i64::MAX), None],
            &[],
        ];
        for (values, width) in cases.iter().zip([1, 2, 4, 8, 1]) {
            let blob = pack(values).unwrap();
            assert_eq!(blob[0], width, "{values:?}");
            let col = Col::new(&blob, values.len(), "test").unwrap();
            let back: Vec<Option<i64>> = (0..values.len()).map(|i| col.at(i)).collect();
            assert_eq!(back.as_slice(), *values);
        }
        assert!(pack(&[Some(i64::MIN)]).is_err());
    }

    #[test]
    fn a_column_of_the_wrong_length_is_refused() {
        let blob = pack(&[Some(1), Some(2)]).unwrap();
        assert!(Col::new(&blob, 3, "test").is_err());
        assert!(Col::new(&[3, 0, 0, 0], 1, "test").is_err());
        assert!(Col::new(&[], 0, "test").is_err());
        // A count from a damaged row whose length in bytes would wrap around.
        assert!(Col::new(&[8], 1usize << 61, "test").is_err());
    }

    #[test]
    fn a_bucket_is_the_utc_month_and_bounds_are_whole_microseconds() {
        // 2026-03-31 23:30:00.1234567 at -02:00.
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_775_007_000_123_456_700)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(-2, 0, 0).unwrap());
        let (stored, bucket) = stored_and_bucket(t).unwrap();
        assert_eq!(
            (stored.as_str(), bucket.as_str()),
            ("2026-04-01T01:30:00.123456Z", "2026-04")
        );
        assert_eq!(micros(t) % 1_000_000, 123_456);
        let before = OffsetDateTime::from_unix_timestamp_nanos(-100).unwrap();
        assert_eq!(micros(before), -1);
    }
}
