//! Routing a borrowing request: gather what the ranking needs (who holds the item, their terms
//! for us, where they are and when they are closed, their measured fill rate, turnaround and
//! load, our own lender groups and the methods we accept) and let
//! `domain::routing` order them, with reasons.

use domain::citation::{Citation, RequestFormat};
use domain::fees::{Charge, page_count};
use domain::ident::LibraryCode;
use domain::library::{LibraryKind, LibraryOffset, Service};
use domain::money::{Currency, Money};
use domain::rota::Rota;
use domain::routing::{self, LenderFacts, Needs, RoutingSettings};
use store::{HoldingKey, StoreError};

use crate::AppState;

/// How far back the request history counts for fill rate, turnaround and load.
const HISTORY_DAYS: i64 = 365;

/// The currency fees are shown in when the reader gave no limit.
const HOME_CURRENCY: &str = "CNY";

/// What a request is matched on in the union catalog.
pub fn holding_key(c: &Citation) -> HoldingKey {
    HoldingKey {
        isbn: c.isbn.as_ref().map(|i| i.to_string()),
        issn: c.issn.as_ref().map(|i| i.to_string()),
        oclc_number: c.oclc_number.as_ref().map(|o| o.to_string()),
        title_lower: c
            .title
            .as_ref()
            .filter(|_| c.isbn.is_none() && c.issn.is_none())
            .map(|t| t.to_lowercase()),
    }
}

/// Whole days from today in the borrowing library's time (`offset`) to the reader's need-by
/// date.
fn days_left(
    need_by: Option<time::Date>,
    now: time::OffsetDateTime,
    offset: LibraryOffset,
) -> Option<i64> {
    need_by.map(|d| (d - offset.date(now)).whole_days())
}

/// Whole days from today (in the borrowing library's time, `offset`) to the need-by date of
/// `c`.
pub fn days_left_of(c: &Citation, now: time::OffsetDateTime, offset: LibraryOffset) -> Option<i64> {
    days_left(c.need_by, now, offset)
}

/// The library's routing settings, or the defaults when it set none.
pub async fn settings(st: &AppState, library: &str) -> Result<RoutingSettings, StoreError> {
    Ok(st
        .store
        .routing_settings(library)
        .await?
        .unwrap_or_default())
}

/// What `lender`'s fee schedule charges `borrower` for this request (`Some(None)`: nothing,
/// e.g. a reciprocal partner); `None` when the lender keeps no schedule here, or its
/// schedule cannot price it (then its terms' fee counts, as without a schedule).
async fn scheduled_fee(
    st: &AppState,
    lender: &str,
    borrower: &str,
    format: RequestFormat,
    c: &Citation,
) -> Result<Option<Option<Money>>, StoreError> {
    let Some(schedule) = st.store.fee_schedule(lender).await? else {
        return Ok(None);
    };
    let pages = page_count(c.pages.as_deref());
    Ok(
        match schedule.charge(borrower, Service::for_format(format), pages, false) {
            Ok(Charge::Reciprocal(_)) => Some(None),
            Ok(Charge::Amount { money, .. }) => Some(Some(money)),
            Err(e) => {
                tracing::warn!(error = %e, lender, borrower, "fee schedule could not price a request");
                None
            }
        },
    )
}

/// Rank the partners that hold the item for `borrower`: the lender string with a reason for
/// each place, and the holders left out with why.
pub async fn build(
    st: &AppState,
    borrower: &str,
    format: RequestFormat,
    c: &Citation,
) -> Result<Rota, StoreError> {
    let now = st.now();
    let holders = st.store.holders(&holding_key(c)).await?;
    let own = st.store.library(borrower).await?;
    let settings = settings(st, borrower).await?;
    let records = st
        .store
        .lender_records(
            now - time::Duration::days(HISTORY_DAYS),
            std::time::Duration::from_secs(st.config.routing_history_secs),
        )
        .await?;
    let mut lenders = Vec::new();
    for h in holders {
        if h.library_id == borrower {
            continue;
        }
        // Holdings of a library not in the directory (yet) cannot be asked.
        let Ok(lender) = st.store.library(&h.library_id).await else {
            continue;
        };
        let Ok(code) = LibraryCode::parse(&h.library_id) else {
            continue;
        };
        lenders.push(LenderFacts {
            library: code,
            supplier: LibraryKind::parse(&lender.kind) == Some(LibraryKind::Supplier),
            copies: u32::try_from(h.copies).unwrap_or(u32::MAX),
            same_region: lender.region == own.region,
            location: lender.location(),
            closed: lender.closed_days.0.clone(),
            policy: st.store.policy_between(&h.library_id, borrower).await?,
            schedule_fee: scheduled_fee(st, &h.library_id, borrower, format, c).await?,
            record: records.get(&h.library_id).cloned().unwrap_or_default(),
        });
    }
    let currency = match &c.max_cost {
        Some(m) => m.currency.clone(),
        None => Currency::parse(HOME_CURRENCY)
            .map_err(|e| StoreError::Corrupt(format!("home currency: {e}")))?,
    };
    let needs = Needs {
        service: Service::for_format(format),
        max_cost: c.max_cost.clone(),
        days_left: days_left(c.need_by, now, own.offset()),
        currency,
        // Closed days are read against today in the borrowing library's time.
        today: own.offset().date(now),
        borrower_at: own.location(),
    };
    let ranking = routing::rank(lenders, &needs, &settings);
    let mut rota = Rota::new(ranking.entries);
    rota.excluded = ranking.excluded;
    Ok(rota)
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    #[test]
    fn days_left_counts_from_today_in_library_time() {
        let china = LibraryOffset::CHINA;
        // 18:00 UTC on 30 Nov is already 1 Dec in China: a 3 Dec need-by leaves two days.
        let evening = datetime!(2026-11-30 18:00 UTC);
        assert_eq!(china.date(evening), date!(2026 - 12 - 01));
        assert_eq!(
            days_left(Some(date!(2026 - 12 - 03)), evening, china),
            Some(2)
        );
        // Earlier the same UTC day it is still 30 Nov in China.
        let morning = datetime!(2026-11-30 10:00 UTC);
        assert_eq!(
            days_left(Some(date!(2026 - 12 - 03)), morning, china),
            Some(3)
        );
        assert_eq!(days_left(None, morning, china), None);
        // A library at UTC-5 is still on 30 Nov at 18:00 UTC: three days.
        let west = LibraryOffset::parse("-05:00").unwrap();
        assert_eq!(
            days_left(Some(date!(2026 - 12 - 03)), evening, west),
            Some(3)
        );
    }
}
