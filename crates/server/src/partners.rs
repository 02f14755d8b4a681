//! Partner directory import, for the API and the command line: check every row of a CSV or
//! JSON file, check the good ones against the directory (agency ids taken by another library,
//! unknown hubs), then add or update them in place by code, with their lending terms, in one
//! transaction. Bad rows are reported by line and field; the rest are imported.

use std::collections::HashSet;

use domain::partner::{self, PartnerRecord, RowError};
use serde::Serialize;
use store::{Json, LibraryRow, Store, StoreError};
use time::OffsetDateTime;

/// What an import did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    /// Rows (CSV lines after the header, or JSON items) read.
    pub read: usize,
    pub created: usize,
    pub updated: usize,
    /// Rows refused; each problem is in `errors`.
    pub rejected: usize,
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<RowError>,
}

/// The file's rows, told CSV or JSON by its first character; a file-level problem is an error.
pub fn read(text: &str) -> Result<Vec<partner::RawRow>, Vec<RowError>> {
    let body = text.trim_start_matches('\u{feff}').trim_start();
    if body.starts_with('[') || body.starts_with('{') {
        partner::read_json(text)
    } else {
        partner::read_csv(text)
    }
}

/// Import `text`. The lending terms are what each partner grants `terms_for` (a borrowing
/// library), or its default terms for every partner when `None`.
pub async fn import(
    store: &Store,
    text: &str,
    terms_for: Option<&str>,
    now: OffsetDateTime,
) -> Result<Result<ImportSummary, Vec<RowError>>, StoreError> {
    let rows = match read(text) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let read = rows.len();
    let (good, mut errors) = partner::check_rows(rows);
    let known = store.libraries().await?;
    let in_file: HashSet<String> = good.iter().map(|p| p.code.to_string()).collect();
    let mut accepted: Vec<PartnerRecord> = Vec::new();
    for p in good {
        let mut bad = Vec::new();
        if let Some(other) = known.iter().find(|l| {
            l.library_id != p.code.as_str()
                && l.agency_type.eq_ignore_ascii_case(&p.agency.agency_type)
                && l.agency_value == p.agency.value
        }) {
            bad.push(RowError::new(
                p.line,
                "agency",
                "agency_id_taken",
                format!(
                    "line {}: agency id {} belongs to library {}",
                    p.line, p.agency, other.library_id
                ),
            ));
        }
        if let Some(h) = &p.hub
            && !in_file.contains(h.as_str())
            && !known.iter().any(|l| l.library_id == h.as_str())
        {
            bad.push(RowError::new(
                p.line,
                "hub",
                "unknown_library",
                format!("line {}: hub {h} is not a library here", p.line),
            ));
        }
        if terms_for == Some(p.code.as_str()) {
            bad.push(RowError::new(
                p.line,
                "code",
                "own_library",
                format!(
                    "line {}: {} is the importing library itself",
                    p.line, p.code
                ),
            ));
        }
        if bad.is_empty() {
            accepted.push(p);
        } else {
            errors.extend(bad);
        }
    }
    // A hub named in the file is written before its members.
    let hubs: HashSet<String> = accepted
        .iter()
        .filter_map(|p| p.hub.as_ref().map(|h| h.to_string()))
        .collect();
    accepted.sort_by_key(|p| !hubs.contains(p.code.as_str()));
    errors.sort_by_key(|e| e.line);
    let rejected = errors.iter().map(|e| e.line).collect::<HashSet<_>>().len();
    let terms_for = terms_for.map(str::to_owned);
    let (created, updated) = store
        .write(move |tx| {
            Box::pin(async move {
                let (mut created, mut updated) = (0, 0);
                for p in &accepted {
                    let row = LibraryRow {
                        library_id: p.code.to_string(),
                        agency_type: p.agency.agency_type.clone(),
                        agency_value: p.agency.value.clone(),
                        name_en: p.name_en.clone(),
                        name_zh: p.name_zh.clone(),
                        kind: p.kind.as_str().to_owned(),
                        region: p.region.clone(),
                        address: p.address.clone(),
                        hub_id: p.hub.as_ref().map(|h| h.to_string()),
                        closed_days: Json(p.closed.clone()),
                        created_at: now,
                    };
                    if tx.upsert_library(&row).await? {
                        created += 1;
                    } else {
                        updated += 1;
                    }
                    tx.upsert_policy(p.code.as_str(), terms_for.as_deref(), &p.policy)
                        .await?;
                }
                Ok::<_, StoreError>((created, updated))
            })
        })
        .await?;
    Ok(Ok(ImportSummary {
        read,
        created,
        updated,
        rejected,
        errors,
    }))
}
