//! Partner directory import, for the API and the command line: check every row of a CSV or
//! JSON file, check the good ones against the directory (agency ids taken by another library,
//! unknown hubs), then add or update them in place by code, with their lending terms, in one
//! transaction. Bad rows are reported by line and field; the rest are imported.

use std::collections::HashSet;

use domain::calendar::ClosedDays;
use domain::library::{LibraryOffset, PartnerPolicy};
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
    import_rows(store, rows, terms_for, now).await.map(Ok)
}

/// Import rows already split into fields (a file's, or the one row of the partner form): the
/// same checks and the same transaction as a file.
pub async fn import_rows(
    store: &Store,
    rows: Vec<partner::RawRow>,
    terms_for: Option<&str>,
    now: OffsetDateTime,
) -> Result<ImportSummary, StoreError> {
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
    // A file without coordinate columns keeps the coordinates on record.
    for p in &mut accepted {
        if p.location.is_none() {
            p.location = Some(
                known
                    .iter()
                    .find(|l| l.library_id == p.code.as_str())
                    .and_then(LibraryRow::location),
            );
        }
    }
    errors.sort_by_key(|e| e.line);
    let rejected = errors.iter().map(|e| e.line).collect::<HashSet<_>>().len();
    let home = home_offset(&known, terms_for);
    let terms_for = terms_for.map(str::to_owned);
    let (created, updated) = store
        .write(move |tx| {
            Box::pin(async move {
                let (mut created, mut updated) = (0, 0);
                for p in &accepted {
                    let location = p.location.flatten();
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
                        latitude_e6: location.map(|g| g.lat_e6()),
                        longitude_e6: location.map(|g| g.lon_e6()),
                        // A new library without a time in the file is in the node's.
                        utc_offset_minutes: p.utc_offset.unwrap_or(home).minutes(),
                    };
                    if tx.upsert_library(&row).await? {
                        created += 1;
                    } else {
                        updated += 1;
                        // A known one keeps its time unless the file gives one.
                        if let Some(o) = p.utc_offset {
                            tx.set_library_offset(p.code.as_str(), o).await?;
                        }
                    }
                    tx.upsert_policy(p.code.as_str(), terms_for.as_deref(), &p.policy)
                        .await?;
                }
                Ok::<_, StoreError>((created, updated))
            })
        })
        .await?;
    Ok(ImportSummary {
        read,
        created,
        updated,
        rejected,
        errors,
    })
}

/// A library and the terms it grants as the columns of a partner file, so that a form can show
/// them and send them back through [`import_rows`].
/// The time a library added without one is given: the importing library's, else the time
/// of the node's hub (the library of kind `hub`, the first by code), else the default
/// (+08:00). There is no node-wide setting for it.
pub fn home_offset(known: &[LibraryRow], importing: Option<&str>) -> LibraryOffset {
    importing
        .and_then(|code| known.iter().find(|l| l.library_id == code))
        .or_else(|| {
            known
                .iter()
                .filter(|l| l.kind == "hub")
                .min_by(|a, b| a.library_id.cmp(&b.library_id))
        })
        .map(LibraryRow::offset)
        .unwrap_or_default()
}

pub fn columns_of(lib: &LibraryRow, policy: Option<&PartnerPolicy>) -> Vec<(String, String)> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let closed = &lib.closed_days.0;
    let weekday = |w: &domain::calendar::WeekdayName| {
        serde_json::to_value(w)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut out = vec![
        ("code", lib.library_id.clone()),
        (
            "agency",
            format!("{}:{}", lib.agency_type, lib.agency_value),
        ),
        ("name_en", lib.name_en.clone()),
        ("name_zh", lib.name_zh.clone()),
        ("kind", lib.kind.clone()),
        ("region", lib.region.clone()),
        ("address", lib.address.clone()),
        (
            "latitude",
            lib.location()
                .map(|g| g.latitude_text())
                .unwrap_or_default(),
        ),
        (
            "longitude",
            lib.location()
                .map(|g| g.longitude_text())
                .unwrap_or_default(),
        ),
        ("hub", lib.hub_id.clone().unwrap_or_default()),
        ("utc_offset", lib.offset().to_string()),
        (
            "closed_weekdays",
            closed
                .weekdays
                .iter()
                .map(weekday)
                .collect::<Vec<_>>()
                .join(";"),
        ),
        (
            "closed_dates",
            closed
                .dates
                .iter()
                .filter_map(|d| d.format(fmt).ok())
                .collect::<Vec<_>>()
                .join(";"),
        ),
    ];
    if let Some(p) = policy {
        let currency = p
            .loan_fee
            .as_ref()
            .or(p.copy_fee.as_ref())
            .map_or_else(|| "CNY".to_owned(), |m| m.currency.as_str().to_owned());
        out.extend([
            (
                "services",
                p.services
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(";"),
            ),
            ("currency", currency),
            (
                "loan_fee",
                p.loan_fee
                    .as_ref()
                    .map(|m| m.to_decimal_string())
                    .unwrap_or_default(),
            ),
            (
                "copy_fee",
                p.copy_fee
                    .as_ref()
                    .map(|m| m.to_decimal_string())
                    .unwrap_or_default(),
            ),
            ("loan_days", p.loan_days.to_string()),
            ("answer_days", p.answer_days.to_string()),
            ("delivery_methods", p.delivery_methods.join(";")),
            ("payment_methods", p.payment_methods.join(";")),
            ("active", p.active.to_string()),
        ]);
    }
    out.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Set a library's own closed weekdays and dates (written as in a partner file: `saturday;
/// sunday`, `2026-10-01;2026-10-02`), checked by the same rules as an imported row.
pub async fn set_closed_days(
    store: &Store,
    library_id: &str,
    weekdays: &str,
    dates: &str,
) -> Result<Result<ClosedDays, Vec<RowError>>, StoreError> {
    let lib = store.library(library_id).await?;
    let mut fields = columns_of(&lib, None);
    for (k, v) in &mut fields {
        match k.as_str() {
            "closed_weekdays" => *v = weekdays.to_owned(),
            "closed_dates" => *v = dates.to_owned(),
            _ => {}
        }
    }
    let record = match partner::check_row((1, fields)) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let closed = record.closed.clone();
    let row = LibraryRow {
        closed_days: Json(record.closed),
        ..lib
    };
    store
        .write(move |tx| Box::pin(async move { tx.upsert_library(&row).await }))
        .await?;
    Ok(Ok(closed))
}
