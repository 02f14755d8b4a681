//! Fees between libraries: a lender's schedule (per service, per partner group, reciprocal
//! groups that charge nothing, one currency), the charge for one shipment, settlement months,
//! and monthly netting, bilateral (each pair of libraries settles one net amount, as OCLC's
//! IFM does) or through a clearing centre (each member settles its net with the hub only, as
//! CALIS members do). Money is integer minor units throughout.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::citation::FieldError;
use crate::library::Service;
use crate::money::{Currency, Money, MoneyError};

/// Largest single rate accepted, in minor units (one million in a two-decimal currency): a
/// typo guard, far above any interlibrary fee.
pub const MAX_RATE_MINOR: i64 = 100_000_000;
/// Most groups one schedule may list.
pub const MAX_GROUPS: usize = 50;
/// Most members one group may list.
pub const MAX_MEMBERS: usize = 2000;

/// What one service costs, in minor units of the schedule's currency. A copy costs
/// `copy_flat + pages × copy_per_page` (set either to zero for a purely flat or per-page
/// price); an express shipment adds `express`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rates {
    pub loan: i64,
    pub copy_flat: i64,
    pub copy_per_page: i64,
    pub express: i64,
}

/// Borrowing libraries charged other rates than the schedule's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerGroup {
    pub name: String,
    /// Library codes.
    pub members: Vec<String>,
    pub rates: Rates,
}

/// Libraries that lend to each other free of charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReciprocalGroup {
    pub name: String,
    pub members: Vec<String>,
}

/// A lender's fee schedule, as stored and as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSchedule {
    pub currency: Currency,
    /// For every borrower not in a partner or reciprocal group.
    pub rates: Rates,
    /// Checked in order: the first group naming the borrower sets its rates.
    #[serde(default)]
    pub partner_groups: Vec<PartnerGroup>,
    /// A borrower in any of these pays nothing.
    #[serde(default)]
    pub reciprocal_groups: Vec<ReciprocalGroup>,
}

/// A schedule as it arrives: the currency is loose text so that a bad one is reported as a
/// field error with the others rather than as a broken document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeScheduleInput {
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub rates: Rates,
    #[serde(default)]
    pub partner_groups: Vec<PartnerGroup>,
    #[serde(default)]
    pub reciprocal_groups: Vec<ReciprocalGroup>,
}

fn check_rates(prefix: Prefix, r: &Rates, where_: &str, out: &mut Vec<FieldError>) {
    for (field, v) in [
        (prefix.loan, r.loan),
        (prefix.copy_flat, r.copy_flat),
        (prefix.copy_per_page, r.copy_per_page),
        (prefix.express, r.express),
    ] {
        if v < 0 {
            out.push(FieldError::new(
                field,
                "negative",
                format!("{field}{where_} is {v}: a fee cannot be negative"),
            ));
        } else if v > MAX_RATE_MINOR {
            out.push(FieldError::new(
                field,
                "out_of_range",
                format!("{field}{where_} is {v}: at most {MAX_RATE_MINOR} minor units"),
            ));
        }
    }
}

#[derive(Clone, Copy)]
struct Prefix {
    loan: &'static str,
    copy_flat: &'static str,
    copy_per_page: &'static str,
    express: &'static str,
}

const TOP: Prefix = Prefix {
    loan: "rates.loan",
    copy_flat: "rates.copy_flat",
    copy_per_page: "rates.copy_per_page",
    express: "rates.express",
};
const GROUP: Prefix = Prefix {
    loan: "partner_groups.rates.loan",
    copy_flat: "partner_groups.rates.copy_flat",
    copy_per_page: "partner_groups.rates.copy_per_page",
    express: "partner_groups.rates.express",
};

fn check_members(
    field: &'static str,
    name: &str,
    members: &[String],
    lender: &str,
    known: &dyn Fn(&str) -> bool,
    out: &mut Vec<FieldError>,
) {
    if members.is_empty() {
        out.push(FieldError::new(
            field,
            "required",
            format!("{field} of group {name:?} lists no library"),
        ));
    }
    if members.len() > MAX_MEMBERS {
        out.push(FieldError::new(
            field,
            "out_of_range",
            format!("{field} of group {name:?}: at most {MAX_MEMBERS} libraries"),
        ));
    }
    for m in members {
        let code = m.trim().to_uppercase();
        if code == lender {
            out.push(FieldError::new(
                field,
                "own_library",
                format!("{field} of group {name:?} lists {code}, the lender itself"),
            ));
        } else if !known(&code) {
            out.push(FieldError::new(
                field,
                "unknown_library",
                format!("{field} of group {name:?}: no library {m:?} on this node"),
            ));
        }
    }
}

fn check_name(field: &'static str, i: usize, name: &str, out: &mut Vec<FieldError>) {
    let n = name.trim();
    if n.is_empty() {
        out.push(FieldError::new(
            field,
            "required",
            format!("{field} of group {} is empty", i + 1),
        ));
    } else if n.chars().count() > 100 {
        out.push(FieldError::new(
            field,
            "too_long",
            format!("{field} of group {}: at most 100 characters", i + 1),
        ));
    }
}

impl FeeScheduleInput {
    /// The schedule of `lender`, or every field that is wrong. `known` says whether a library
    /// code exists on this node; member codes come back upper-cased and trimmed.
    pub fn check(
        self,
        lender: &str,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<FeeSchedule, Vec<FieldError>> {
        let mut out = Vec::new();
        let currency = match Currency::parse(&self.currency) {
            Ok(c) => Some(c),
            Err(e) => {
                out.push(FieldError::new(
                    "currency",
                    "invalid_currency",
                    e.to_string(),
                ));
                None
            }
        };
        check_rates(TOP, &self.rates, "", &mut out);
        if self.partner_groups.len() > MAX_GROUPS || self.reciprocal_groups.len() > MAX_GROUPS {
            out.push(FieldError::new(
                "partner_groups",
                "out_of_range",
                format!("at most {MAX_GROUPS} partner groups and {MAX_GROUPS} reciprocal groups"),
            ));
        }
        for (i, g) in self.partner_groups.iter().enumerate() {
            check_name("partner_groups.name", i, &g.name, &mut out);
            check_members(
                "partner_groups.members",
                &g.name,
                &g.members,
                lender,
                known,
                &mut out,
            );
            check_rates(
                GROUP,
                &g.rates,
                &format!(" of group {:?}", g.name),
                &mut out,
            );
        }
        for (i, g) in self.reciprocal_groups.iter().enumerate() {
            check_name("reciprocal_groups.name", i, &g.name, &mut out);
            check_members(
                "reciprocal_groups.members",
                &g.name,
                &g.members,
                lender,
                known,
                &mut out,
            );
        }
        match currency {
            Some(currency) if out.is_empty() => {
                let clean = |m: Vec<String>| m.iter().map(|c| c.trim().to_uppercase()).collect();
                Ok(FeeSchedule {
                    currency,
                    rates: self.rates,
                    partner_groups: self
                        .partner_groups
                        .into_iter()
                        .map(|g| PartnerGroup {
                            name: g.name.trim().to_owned(),
                            members: clean(g.members),
                            rates: g.rates,
                        })
                        .collect(),
                    reciprocal_groups: self
                        .reciprocal_groups
                        .into_iter()
                        .map(|g| ReciprocalGroup {
                            name: g.name.trim().to_owned(),
                            members: clean(g.members),
                        })
                        .collect(),
                })
            }
            _ => Err(out),
        }
    }
}

/// What one shipment costs the borrower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Nothing: lender and borrower are in the named reciprocal group.
    Reciprocal(String),
    /// The amount and how it was reached (e.g. "copy 5.00 + 23 pages × 0.30").
    Amount { money: Money, basis: String },
}

impl FeeSchedule {
    /// The charge for shipping `service` to `borrower` (a library code); `pages` counts for
    /// per-page copies.
    pub fn charge(
        &self,
        borrower: &str,
        service: Service,
        pages: u32,
        express: bool,
    ) -> Result<Charge, MoneyError> {
        if let Some(g) = self
            .reciprocal_groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == borrower))
        {
            return Ok(Charge::Reciprocal(g.name.clone()));
        }
        let (rates, group) = match self
            .partner_groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == borrower))
        {
            Some(g) => (&g.rates, Some(g.name.as_str())),
            None => (&self.rates, None),
        };
        let cur = &self.currency;
        let show = |minor: i64| Money::new(minor, cur.clone()).to_decimal_string();
        let (mut minor, mut basis) = match service {
            Service::Loan => (rates.loan, format!("loan {}", show(rates.loan))),
            Service::Copy => {
                let per_page = rates
                    .copy_per_page
                    .checked_mul(i64::from(pages))
                    .ok_or(MoneyError::Overflow)?;
                let total = rates
                    .copy_flat
                    .checked_add(per_page)
                    .ok_or(MoneyError::Overflow)?;
                let basis = match (rates.copy_flat, rates.copy_per_page) {
                    (_, 0) => format!("copy {}", show(rates.copy_flat)),
                    (0, p) => format!("copy {pages} pages × {}", show(p)),
                    (f, p) => format!("copy {} + {pages} pages × {}", show(f), show(p)),
                };
                (total, basis)
            }
        };
        if express && rates.express > 0 {
            minor = minor
                .checked_add(rates.express)
                .ok_or(MoneyError::Overflow)?;
            basis.push_str(&format!(" + express {}", show(rates.express)));
        }
        if let Some(g) = group {
            basis.push_str(&format!(" (group {g})"));
        }
        Ok(Charge::Amount {
            money: Money::new(minor, cur.clone()),
            basis,
        })
    }
}

/// Pages of a copy from a citation's page field: "12-34" is 23, "12-34, 40" is 24, "xii-xx"
/// is 9, "e123" is 1. Unreadable or missing: 1, the least a copy can be.
pub fn page_count(pages: Option<&str>) -> u32 {
    let Some(p) = pages else { return 1 };
    let mut total: u32 = 0;
    for part in p.split([',', ';']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let n = match part.split_once(['-', '–']) {
            Some((a, b)) => match (page_number(a), page_number(b)) {
                (Some(a), Some(b)) if b >= a => b - a + 1,
                _ => 1,
            },
            None => 1,
        };
        // A range of thousands of pages is a typo, not a copy; it still costs one range.
        total = total.saturating_add(n.min(10_000));
    }
    total.max(1)
}

fn page_number(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u32>() {
        return Some(n);
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if !digits.is_empty() && digits.len() + 1 >= s.len() {
        // e123, S12: a prefix letter and a number.
        return digits.parse().ok();
    }
    roman(s)
}

fn roman(s: &str) -> Option<u32> {
    let mut total: u32 = 0;
    let mut prev: u32 = 0;
    for c in s.to_ascii_lowercase().chars().rev() {
        let v = match c {
            'i' => 1,
            'v' => 5,
            'x' => 10,
            'l' => 50,
            'c' => 100,
            'd' => 500,
            'm' => 1000,
            _ => return None,
        };
        if v < prev {
            total = total.checked_sub(v)?;
        } else {
            total += v;
            prev = v;
        }
    }
    (total > 0).then_some(total)
}

/// A settlement month, "2026-11".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u8,
}

impl Month {
    /// "YYYY-MM", years 2000 to 9999.
    pub fn parse(s: &str) -> Option<Month> {
        let (y, m) = s.trim().split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let month: u8 = m.parse().ok()?;
        ((2000..=9999).contains(&year) && (1..=12).contains(&month))
            .then_some(Month { year, month })
    }

    pub fn of(at: time::OffsetDateTime) -> Month {
        Month {
            year: at.year(),
            month: u8::from(at.month()),
        }
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// The month a charge counts in: the month it happened, or when that month is closed, the
/// first open month after it (and then it is a correction). `closed` lists closed months.
pub fn booking_month(occurred: Month, closed: &[Month]) -> (Month, bool) {
    let mut m = occurred;
    while closed.contains(&m) {
        m = m.next();
    }
    (m, m != occurred)
}

/// How a month is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementMode {
    /// Each pair of libraries settles one net amount.
    Bilateral,
    /// Each library pays or receives its net with the clearing centre only.
    Hub,
}

impl SettlementMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SettlementMode::Bilateral => "bilateral",
            SettlementMode::Hub => "hub",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "bilateral" => Some(SettlementMode::Bilateral),
            "hub" => Some(SettlementMode::Hub),
            _ => None,
        }
    }
}

/// Charges of one month from one lender to one borrower in one currency, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairTotal {
    pub lender: String,
    pub borrower: String,
    pub currency: String,
    pub amount: i64,
    pub charges: i64,
}

/// One library's position: what it receives as a lender and pays as a borrower, and the net
/// (positive: it is paid). `counterparty` is the other library (bilateral) or None (the hub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub library: String,
    pub counterparty: Option<String>,
    pub currency: String,
    pub receivable: i64,
    pub payable: i64,
    pub net: i64,
    pub charges: i64,
}

#[derive(Default)]
struct Acc {
    receivable: i64,
    payable: i64,
    charges: i64,
}

/// Net the month's totals. Positions come sorted by library, counterparty and currency; for
/// each currency the nets add up to zero. Amounts that would overflow i64 are an error.
pub fn net(totals: &[PairTotal], mode: SettlementMode) -> Result<Vec<Position>, MoneyError> {
    let mut acc: BTreeMap<(String, Option<String>, String), Acc> = BTreeMap::new();
    for t in totals.iter().filter(|t| t.lender != t.borrower) {
        let (lender_cp, borrower_cp) = match mode {
            SettlementMode::Bilateral => (Some(t.borrower.clone()), Some(t.lender.clone())),
            SettlementMode::Hub => (None, None),
        };
        let a = acc
            .entry((t.lender.clone(), lender_cp, t.currency.clone()))
            .or_default();
        a.receivable = a
            .receivable
            .checked_add(t.amount)
            .ok_or(MoneyError::Overflow)?;
        a.charges += t.charges;
        let b = acc
            .entry((t.borrower.clone(), borrower_cp, t.currency.clone()))
            .or_default();
        b.payable = b
            .payable
            .checked_add(t.amount)
            .ok_or(MoneyError::Overflow)?;
        b.charges += t.charges;
    }
    acc.into_iter()
        .map(|((library, counterparty, currency), a)| {
            Ok(Position {
                library,
                counterparty,
                currency,
                net: a
                    .receivable
                    .checked_sub(a.payable)
                    .ok_or(MoneyError::Overflow)?,
                receivable: a.receivable,
                payable: a.payable,
                charges: a.charges,
            })
        })
        .collect()
}

/// Sum of the nets per currency (zero for every currency when the books balance).
pub fn balance(positions: &[Position]) -> BTreeMap<String, i128> {
    let mut out: BTreeMap<String, i128> = BTreeMap::new();
    for p in positions {
        *out.entry(p.currency.clone()).or_default() += i128::from(p.net);
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn known(c: &str) -> bool {
        ["BCU", "XNU", "HTU", "CPL", "NSD"].contains(&c)
    }

    fn input(v: serde_json::Value) -> FeeScheduleInput {
        serde_json::from_value(v).unwrap()
    }

    fn schedule() -> FeeSchedule {
        input(serde_json::json!({
            "currency": "cny",
            "rates": {"loan": 2000, "copy_flat": 500, "copy_per_page": 30, "express": 1000},
            "partner_groups": [{"name": "region", "members": ["bcu"], "rates": {"loan": 1000, "copy_per_page": 20}}],
            "reciprocal_groups": [{"name": "twins", "members": ["HTU"]}]
        }))
        .check("XNU", &known)
        .unwrap()
    }

    #[test]
    fn charges_follow_service_group_and_reciprocity() {
        let s = schedule();
        let amount = |b: &str, svc, pages, express| match s.charge(b, svc, pages, express).unwrap()
        {
            Charge::Amount { money, .. } => Some(money.minor),
            Charge::Reciprocal(_) => None,
        };
        assert_eq!(amount("CPL", Service::Loan, 1, false), Some(2000));
        assert_eq!(amount("CPL", Service::Loan, 1, true), Some(3000));
        assert_eq!(amount("CPL", Service::Copy, 10, false), Some(800));
        assert_eq!(amount("BCU", Service::Loan, 1, false), Some(1000));
        assert_eq!(amount("BCU", Service::Copy, 10, false), Some(200));
        assert_eq!(amount("HTU", Service::Loan, 1, true), None);
        let Charge::Amount { basis, .. } = s.charge("CPL", Service::Copy, 23, true).unwrap() else {
            panic!()
        };
        assert_eq!(basis, "copy 5.00 + 23 pages × 0.30 + express 10.00");
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = input(serde_json::json!({
            "currency": "yuan",
            "rates": {"loan": -1, "copy_per_page": MAX_RATE_MINOR + 1},
            "partner_groups": [{"name": " ", "members": ["NOPE", "XNU"], "rates": {"express": -5}}],
            "reciprocal_groups": [{"name": "x", "members": []}]
        }))
        .check("XNU", &known)
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            fields,
            [
                ("currency", "invalid_currency"),
                ("rates.loan", "negative"),
                ("rates.copy_per_page", "out_of_range"),
                ("partner_groups.name", "required"),
                ("partner_groups.members", "unknown_library"),
                ("partner_groups.members", "own_library"),
                ("partner_groups.rates.express", "negative"),
                ("reciprocal_groups.members", "required"),
            ]
        );
    }

    #[test]
    fn pages_are_counted_from_the_citation() {
        assert_eq!(page_count(Some("12-34")), 23);
        assert_eq!(page_count(Some("12-34, 40")), 24);
        assert_eq!(page_count(Some("xii-xx")), 9);
        assert_eq!(page_count(Some("e123")), 1);
        assert_eq!(page_count(Some("S12-S15")), 4);
        assert_eq!(page_count(Some("34-12")), 1);
        assert_eq!(page_count(None), 1);
        assert_eq!(page_count(Some("")), 1);
    }

    #[test]
    fn months_parse_step_and_book_late_charges_forward() {
        let m = Month::parse("2026-12").unwrap();
        assert_eq!(m.next().to_string(), "2027-01");
        for bad in ["2026-13", "2026-1", "26-01", "abcd-ef", "", "1999-01"] {
            assert!(Month::parse(bad).is_none(), "{bad}");
        }
        let nov = Month::parse("2026-11").unwrap();
        assert_eq!(booking_month(nov, &[]), (nov, false));
        assert_eq!(booking_month(nov, &[nov, m]), (m.next(), true));
    }

    #[test]
    fn bilateral_netting_gives_each_pair_one_amount() {
        let t = |l: &str, b: &str, a| PairTotal {
            lender: l.into(),
            borrower: b.into(),
            currency: "CNY".into(),
            amount: a,
            charges: 1,
        };
        let p = net(
            &[t("A", "B", 500), t("B", "A", 200), t("A", "C", 100)],
            SettlementMode::Bilateral,
        )
        .unwrap();
        let get = |l: &str, c: &str| {
            p.iter()
                .find(|x| x.library == l && x.counterparty.as_deref() == Some(c))
                .unwrap()
                .net
        };
        assert_eq!(
            (get("A", "B"), get("B", "A"), get("A", "C"), get("C", "A")),
            (300, -300, 100, -100)
        );
        let h = net(
            &[t("A", "B", 500), t("B", "A", 200), t("A", "C", 100)],
            SettlementMode::Hub,
        )
        .unwrap();
        let nets: Vec<_> = h.iter().map(|x| (x.library.as_str(), x.net)).collect();
        assert_eq!(nets, [("A", 400), ("B", -300), ("C", -100)]);
    }

    proptest! {
        #[test]
        fn nets_balance_to_zero_per_currency(
            rows in proptest::collection::vec((0u8..6, 0u8..6, 0u8..2, 0i64..1_000_000), 0..200),
            hub in any::<bool>(),
        ) {
            let totals: Vec<PairTotal> = rows.iter().map(|(l, b, c, a)| PairTotal {
                lender: format!("L{l}"),
                borrower: format!("L{b}"),
                currency: if *c == 0 { "CNY".into() } else { "USD".into() },
                amount: *a,
                charges: 1,
            }).collect();
            let mode = if hub { SettlementMode::Hub } else { SettlementMode::Bilateral };
            let p = net(&totals, mode).unwrap();
            for (_, sum) in balance(&p) {
                prop_assert_eq!(sum, 0);
            }
        }
    }
}
