//! A lender's "retry possible" answer: it cannot fill the request as asked, but would under
//! other terms (a higher cost, after a date, another format, a loan condition...). The borrowing
//! staff see the terms and accept them (a new request to the same lender, with those terms,
//! referring to the one answered) or decline them (the next lender in the rota is asked).

use serde::{Deserialize, Serialize};
use time::Date;

use crate::money::Money;

/// The ISO 18626 reasonRetry values (an open list: others are kept as the lender sent them).
pub const REASONS_RETRY: &[&str] = &[
    "AtBindery",
    "CostExceedsMaxCost",
    "LoanCondition",
    "MultiVolAvail",
    "NotCurrentAvailableForILL",
    "NotFoundAsCited",
    "OnLoan",
    "OnOrder",
    "ReqDelDateNotPossible",
    "ReqDelMethodNotSupp",
    "ReqEditionNotPossible",
    "ReqFormatNotPossible",
    "ReqPayMethNotSupp",
    "ReqServLevelNotSupp",
    "ReqServTypeNotPossible",
];

/// What a lender offered with a RetryPossible answer, kept on the borrowing request until staff
/// accept or decline it. Values of the open ISO lists are kept as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryOffer {
    /// The library code of the lender that offered it.
    pub lender: String,
    /// The requestingAgencyRequestId of the send it answered: the retry refers to it.
    pub previous_request_id: String,
    /// ISO 18626 reasonRetry, e.g. `CostExceedsMaxCost`, `OnLoan`, `LoanCondition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Not to be asked again before this day (e.g. when the item is back from loan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<Date>,
    /// The offer holds until this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_before: Option<Date>,
    /// What the lender would charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Money>,
    /// A cost the lender sent that is not an amount in a known currency, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loan_conditions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formats: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub editions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// ISO 18626 serviceType: `Copy`, `Loan` or `CopyOrLoan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_levels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivery_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payment_methods: Vec<String>,
    /// The lender's own words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl RetryOffer {
    /// Whether the offer has lapsed on `today` (its last day has passed).
    pub fn has_lapsed(&self, today: Date) -> bool {
        self.retry_before.is_some_and(|d| today > d)
    }

    /// The day a new request may go out: `retry_after` when that is still to come.
    pub fn send_on(&self, today: Date) -> Date {
        match self.retry_after {
            Some(d) if d > today => d,
            _ => today,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn an_offer_lapses_after_its_last_day_and_waits_for_its_first() {
        let offer = RetryOffer {
            retry_after: Some(date!(2026 - 12 - 03)),
            retry_before: Some(date!(2026 - 12 - 10)),
            ..RetryOffer::default()
        };
        assert!(!offer.has_lapsed(date!(2026 - 12 - 10)));
        assert!(offer.has_lapsed(date!(2026 - 12 - 11)));
        assert_eq!(offer.send_on(date!(2026 - 12 - 01)), date!(2026 - 12 - 03));
        assert_eq!(offer.send_on(date!(2026 - 12 - 05)), date!(2026 - 12 - 05));
        assert!(!RetryOffer::default().has_lapsed(date!(2030 - 01 - 01)));
    }

    #[test]
    fn an_offer_round_trips_through_json_and_leaves_out_what_is_absent() {
        let offer = RetryOffer {
            lender: "HTU".into(),
            previous_request_id: "r.1".into(),
            reason: Some("OnLoan".into()),
            ..RetryOffer::default()
        };
        let json = serde_json::to_value(&offer).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"lender": "HTU", "previous_request_id": "r.1", "reason": "OnLoan"})
        );
        assert_eq!(serde_json::from_value::<RetryOffer>(json).unwrap(), offer);
    }
}
