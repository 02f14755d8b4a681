//! Holdings import from a spreadsheet (CSV or tab-separated), for members that cannot export
//! MARC: each row is one item of the library, filed under the union record its identifiers
//! cluster on (the same keys as a MARC record's), or under a new minimal record. Rows go
//! through the MARC importer's batched store path, so clustering, update in place and indexing
//! are the MARC import's own.

use std::collections::{HashMap, HashSet};

use domain::ident::{Isbn, Issn, OclcNumber};
use domain::partner::{RowError, split_csv};
use serde::Serialize;
use store::{ImportRecord, Imported, NewCatalogRecord, NewHolding, Store};
use time::OffsetDateTime;

use crate::CatalogError;
use crate::bib::{Bib, normalise};
use crate::index::CatalogIndex;

/// The columns a holdings file may have, in any order. Each row needs at least one of `isbn`,
/// `issn`, `oclc` or `title`.
pub const COLUMNS: &[&str] = &[
    "isbn",
    "issn",
    "oclc",
    "title",
    "author",
    "year",
    "call_number",
    "barcode",
    "location",
];

const IDENTIFYING: &[&str] = &["isbn", "issn", "oclc", "title"];

/// Records per store transaction.
const BATCH: usize = 1000;

/// What a holdings import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HoldingsSummary {
    /// Rows read after the header.
    pub read: usize,
    /// Holdings of the library written (new or replacing the same row's earlier import).
    pub holdings: usize,
    /// Union records started because no record matched a row.
    pub new_records: usize,
    /// Rows refused; each problem is in `errors`.
    pub rejected: usize,
    pub errors: Vec<RowError>,
}

/// A file's good rows as records for the store (rows of one work merged into one record with
/// several holdings), and its bad rows.
#[derive(Debug, Default)]
pub struct HoldingsFile {
    pub read: usize,
    pub records: Vec<ImportRecord>,
    pub errors: Vec<RowError>,
}

/// Read a holdings file. A file that cannot be read as a whole (empty, an unknown column, no
/// identifying column, an unclosed quote) is an error; bad rows are listed and left out.
pub fn read(text: &str) -> Result<HoldingsFile, Vec<RowError>> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line = body.lines().next().unwrap_or_default();
    let delimiter = if first_line.contains('\t') { '\t' } else { ',' };
    let mut rows = split_csv(body, delimiter)?.into_iter();
    let Some((_, header)) = rows.next() else {
        return Err(vec![RowError::new(
            0,
            "",
            "empty_file",
            "the file is empty: the first line names the columns".to_owned(),
        )]);
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    check_columns(&header)?;
    let mut file = HoldingsFile::default();
    // Identity of each record in `file.records`, so rows of one work share a record.
    let mut by_identity: HashMap<String, usize> = HashMap::new();
    for (line, values) in rows {
        file.read += 1;
        let get = |name: &str| -> Option<String> {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| values.get(i))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        match check_row(line, &get) {
            Ok((identity, record)) => match by_identity.get(&identity) {
                Some(&at) => {
                    if let Some(r) = file.records.get_mut(at) {
                        r.holdings.extend(record.holdings);
                    }
                }
                None => {
                    by_identity.insert(identity, file.records.len());
                    file.records.push(record);
                }
            },
            Err(mut errors) => file.errors.append(&mut errors),
        }
    }
    Ok(file)
}

fn check_columns(header: &[String]) -> Result<(), Vec<RowError>> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for name in header {
        if !COLUMNS.contains(&name.as_str()) {
            errors.push(RowError::new(
                1,
                name,
                "unknown_column",
                format!(
                    "column {name:?} is not known; the columns are {}",
                    COLUMNS.join(", ")
                ),
            ));
        } else if !seen.insert(name.as_str()) {
            errors.push(RowError::new(
                1,
                name,
                "duplicate_column",
                format!("column {name:?} appears twice"),
            ));
        }
    }
    if !header.iter().any(|h| IDENTIFYING.contains(&h.as_str())) {
        errors.push(RowError::new(
            1,
            "title",
            "missing_column",
            "one of the columns isbn, issn, oclc or title is required".to_owned(),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// One row as a record with one holding, and the identity its re-import is matched on.
fn check_row(
    line: usize,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, ImportRecord), Vec<RowError>> {
    let mut errors = Vec::new();
    let isbn = get("isbn").and_then(|v| match Isbn::parse(&v) {
        Ok(i) => Some(i.as_isbn13().to_owned()),
        Err(e) => {
            errors.push(RowError::new(
                line,
                "isbn",
                e.code(),
                format!("line {line}: {e}"),
            ));
            None
        }
    });
    let issn = get("issn").and_then(|v| match Issn::parse(&v) {
        Ok(i) => Some(i.to_string()),
        Err(e) => {
            errors.push(RowError::new(
                line,
                "issn",
                e.code(),
                format!("line {line}: {e}"),
            ));
            None
        }
    });
    let oclc = get("oclc").and_then(|v| match OclcNumber::parse(&v) {
        Ok(o) => Some(o.to_string()),
        Err(e) => {
            errors.push(RowError::new(
                line,
                "oclc",
                e.code(),
                format!("line {line}: {e}"),
            ));
            None
        }
    });
    let year = get("year");
    if let Some(y) = &year
        && !(y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
    {
        errors.push(RowError::new(
            line,
            "year",
            "invalid_year",
            format!("line {line}: year {y:?} must be four digits"),
        ));
    }
    let title = get("title");
    if title.is_none() && get("isbn").is_none() && get("issn").is_none() && get("oclc").is_none() {
        errors.push(RowError::new(
            line,
            "title",
            "no_identifier",
            format!("line {line}: give at least one of isbn, issn, oclc or title"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let author = get("author");
    // A record started from a row without a title is shown by its identifier.
    let shown_title = title
        .clone()
        .or_else(|| isbn.as_ref().map(|i| format!("ISBN {i}")))
        .or_else(|| issn.as_ref().map(|i| format!("ISSN {i}")))
        .or_else(|| oclc.as_ref().map(|o| format!("OCLC {o}")))
        .unwrap_or_default();
    let bib = Bib {
        title: title.clone().unwrap_or_default(),
        author: author.clone(),
        year: year.clone(),
        isbns: isbn.iter().cloned().collect(),
        issns: issn.iter().cloned().collect(),
        oclc_numbers: oclc.iter().cloned().collect(),
        ..Bib::default()
    };
    // The keys are the MARC import's: identifiers, then title + author + year when all three
    // are given (a stand-in title never makes a work key).
    let keys = bib.cluster_keys();
    let identity = match keys.first() {
        Some(k) => format!("holdings:{k}"),
        None => format!(
            "holdings:title:{}|{}|{}",
            normalise(&shown_title),
            normalise(author.as_deref().unwrap_or_default()),
            year.as_deref().unwrap_or_default()
        ),
    };
    let bib_json = serde_json::to_string(&bib).unwrap_or_default();
    let record = ImportRecord {
        control_number: None,
        // The store matches a re-import on this library's system number: the row's identity,
        // prefixed so it never meets a MARC 035.
        system_number: Some(identity.clone()),
        isbn: None,
        record: NewCatalogRecord {
            record_id: String::new(),
            title: shown_title,
            author,
            year,
            isbn,
            issn,
            oclc_number: oclc,
            ..NewCatalogRecord::default()
        },
        keys,
        bib_json,
        holdings: vec![NewHolding {
            location: get("location"),
            call_number: get("call_number"),
            barcode: get("barcode"),
        }],
        holdings_only: true,
    };
    Ok((identity, record))
}

/// Import `text` as the holdings of `library_id`: store the good rows in batches, update the
/// search index for every union record touched, and report the bad rows. `Ok(Err(…))` is a
/// file refused as a whole, before anything was written.
pub async fn import_holdings(
    store: &Store,
    index: Option<&CatalogIndex>,
    library_id: &str,
    text: &str,
) -> Result<Result<HoldingsSummary, Vec<RowError>>, CatalogError> {
    let file = match read(text) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let mut errors = file.errors;
    errors.sort_by_key(|e| e.line);
    let rejected = errors.iter().map(|e| e.line).collect::<HashSet<_>>().len();
    let holdings = file.records.iter().map(|r| r.holdings.len()).sum();
    let (unions_before, _, _) = store.catalog_counts().await?;
    let mut records = file.records;
    while !records.is_empty() {
        let rest = records.split_off(records.len().min(BATCH));
        let batch = std::mem::replace(&mut records, rest);
        let library = library_id.to_owned();
        let now = OffsetDateTime::now_utc();
        let imported: Imported = store
            .write(move |tx| {
                Box::pin(async move { tx.import_catalog_records(&library, &batch, now).await })
            })
            .await?;
        let outcomes = imported.stored;
        if let Some(index) = index {
            index.remove(&imported.merged)?;
            let mut touched: Vec<String> =
                outcomes.iter().map(|o| o.record_id().to_owned()).collect();
            touched.sort_unstable();
            touched.dedup();
            let unions = store.union_records(&touched).await?;
            index.upsert(&unions)?;
        }
    }
    if let Some(index) = index {
        index.finish_writing()?;
    }
    let (unions_after, _, _) = store.catalog_counts().await?;
    Ok(Ok(HoldingsSummary {
        read: file.read,
        holdings,
        new_records: usize::try_from(unions_after - unions_before).unwrap_or(0),
        rejected,
        errors,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_isbn_10_row_clusters_on_its_isbn_13() {
        let f = read("\u{feff}isbn,title,call_number\n0-306-40615-2,Some book,QA1\n").unwrap();
        assert_eq!(f.read, 1);
        assert!(f.errors.is_empty());
        assert_eq!(f.records[0].keys, vec!["isbn:9780306406157".to_owned()]);
    }

    #[test]
    fn tab_separated_files_and_bad_rows_by_line_and_field() {
        let f = read("isbn\ttitle\tyear\n0306406153\tX\t\n\t\t1999\n").unwrap();
        assert_eq!(f.read, 2);
        let fields: Vec<(usize, &str, &str)> = f
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            fields,
            vec![(2, "isbn", "invalid_isbn"), (3, "title", "no_identifier")]
        );
        assert!(f.errors[0].message_zh.starts_with("第 2 行 isbn"));
    }

    #[test]
    fn an_unknown_column_refuses_the_file() {
        let e = read("isbn,shelf\n9780306406157,A\n").unwrap_err();
        assert_eq!(
            (e[0].field.as_str(), e[0].code),
            ("shelf", "unknown_column")
        );
    }

    #[test]
    fn odd_files_give_an_error_or_rows_never_a_panic() {
        for text in [
            "",
            "\u{feff}",
            "isbn",
            "\"isbn,title\n1",
            "title\n\"unclosed",
            "title,,\n",
            "isbn\n\u{0}\u{fffd}\n,,,,,,,,,,\n",
        ] {
            match read(text) {
                Ok(f) => assert_eq!(f.read, f.records.len() + f.errors.len(), "{text:?}"),
                Err(e) => assert!(!e.is_empty(), "{text:?}"),
            }
        }
    }

    #[test]
    fn rows_of_one_work_share_a_record() {
        let f = read("title,barcode\n红楼梦,1\n红楼梦,2\n").unwrap();
        assert_eq!(f.records.len(), 1);
        assert_eq!(f.records[0].holdings.len(), 2);
    }
}
