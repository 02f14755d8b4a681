//! What a library charges its own readers, and who pays it: per service the lender's charge
//! passed on, a flat reader fee, or nothing; subsidies by reader type (so many loans and copies
//! a calendar year that the library pays, e.g. 10 books and 20 articles for PhD readers); the
//! rest from the reader's deposit when it covers the charge, else invoiced to the reader.
//! Pure: the store keeps the policy, the deposits and the charges; this decides.

use serde::{Deserialize, Serialize};

use crate::citation::FieldError;
use crate::fees::MAX_RATE_MINOR;
use crate::library::Service;
use crate::money::{Currency, Money};
use crate::people::PatronType;
use crate::requester::BorrowState;

/// Most items a year one subsidy rule may pay for: a typo guard.
pub const MAX_QUOTA: u32 = 10_000;
/// Largest single deposit movement, in minor units (1,000,000.00 in a two-decimal currency).
pub const MAX_DEPOSIT_MINOR: i64 = 100_000_000;
/// Longest reason for a deposit movement.
pub const MAX_REASON_CHARS: usize = 500;

/// How the reader is charged for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Charging {
    /// Nothing: the library pays whatever the lender charges.
    None,
    /// What the lender charged the library, passed on.
    Lender,
    /// The policy's flat fee for the service, whatever the lender charged.
    Flat,
}

impl Charging {
    pub fn as_str(self) -> &'static str {
        match self {
            Charging::None => "none",
            Charging::Lender => "lender",
            Charging::Flat => "flat",
        }
    }

    pub fn parse(s: &str) -> Option<Charging> {
        match s.trim() {
            "none" | "" => Some(Charging::None),
            "lender" => Some(Charging::Lender),
            "flat" => Some(Charging::Flat),
            _ => None,
        }
    }
}

/// One service's rule: how, and the flat amount in minor units (used by `Flat` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCharge {
    pub mode: Charging,
    #[serde(default)]
    pub flat: i64,
}

/// Items a year the library pays for, for one reader type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subsidy {
    pub patron_type: PatronType,
    pub loans: u32,
    pub copies: u32,
}

/// A library's reader charges and subsidies, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderFeePolicy {
    /// The currency of flat fees and of readers' deposits.
    pub currency: Currency,
    pub loan: ServiceCharge,
    pub copy: ServiceCharge,
    #[serde(default)]
    pub subsidies: Vec<Subsidy>,
}

/// One service's rule as it arrives.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceChargeInput {
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub flat: i64,
}

/// A subsidy as it arrives.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsidyInput {
    #[serde(default)]
    pub patron_type: String,
    #[serde(default)]
    pub loans: i64,
    #[serde(default)]
    pub copies: i64,
}

/// A policy as it arrives: loose text and wide integers, so that every bad field is reported
/// together rather than as a broken document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderFeePolicyInput {
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub loan: ServiceChargeInput,
    #[serde(default)]
    pub copy: ServiceChargeInput,
    #[serde(default)]
    pub subsidies: Vec<SubsidyInput>,
}

fn service_rule(
    field_mode: &'static str,
    field_flat: &'static str,
    s: &ServiceChargeInput,
    out: &mut Vec<FieldError>,
) -> Option<ServiceCharge> {
    let mode = Charging::parse(&s.mode);
    if mode.is_none() {
        out.push(FieldError::new(
            field_mode,
            "unknown_value",
            format!(
                "{field_mode} is {:?}: none, lender or flat",
                s.mode.chars().take(40).collect::<String>()
            ),
        ));
    }
    if s.flat < 0 {
        out.push(FieldError::new(
            field_flat,
            "negative",
            format!("{field_flat} is {}: a fee cannot be negative", s.flat),
        ));
    } else if s.flat > MAX_RATE_MINOR {
        out.push(FieldError::new(
            field_flat,
            "out_of_range",
            format!(
                "{field_flat} is {}: at most {MAX_RATE_MINOR} minor units",
                s.flat
            ),
        ));
    } else if mode == Some(Charging::Flat) && s.flat == 0 {
        out.push(FieldError::new(
            field_flat,
            "required",
            format!("{field_flat}: a flat fee needs its amount (or choose none)"),
        ));
    }
    let mode = mode?;
    Some(ServiceCharge {
        mode,
        flat: if mode == Charging::Flat { s.flat } else { 0 },
    })
}

impl ReaderFeePolicyInput {
    /// The policy, or every field that is wrong (subsidies are named with their position).
    pub fn check(self) -> Result<ReaderFeePolicy, Vec<FieldError>> {
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
        let loan = service_rule("loan.mode", "loan.flat", &self.loan, &mut out);
        let copy = service_rule("copy.mode", "copy.flat", &self.copy, &mut out);
        let mut subsidies: Vec<Subsidy> = Vec::new();
        if self.subsidies.len() > PatronType::ALL.len() {
            out.push(FieldError::new(
                "subsidies",
                "too_many",
                format!(
                    "at most one subsidy per reader type ({})",
                    PatronType::ALL.len()
                ),
            ));
        }
        for (i, s) in self.subsidies.iter().enumerate() {
            let n = i + 1;
            let pt = PatronType::parse(s.patron_type.trim());
            if pt.is_none() {
                out.push(FieldError::new(
                    "subsidies.patron_type",
                    "invalid_patron_type",
                    format!(
                        "subsidy {n}: {:?} is not a reader type (faculty, phd, master, undergraduate, staff, external)",
                        s.patron_type.chars().take(40).collect::<String>()
                    ),
                ));
            }
            if let Some(p) = pt
                && subsidies.iter().any(|x| x.patron_type == p)
            {
                out.push(FieldError::new(
                    "subsidies.patron_type",
                    "duplicate_name",
                    format!("subsidy {n}: {p} is listed twice"),
                ));
            }
            let mut quota = |field: &'static str, v: i64| -> Option<u32> {
                match u32::try_from(v) {
                    Ok(q) if q <= MAX_QUOTA => Some(q),
                    _ => {
                        out.push(FieldError::new(
                            field,
                            "out_of_range",
                            format!("subsidy {n}: {field} is {v}: 0 to {MAX_QUOTA} a year"),
                        ));
                        None
                    }
                }
            };
            let loans = quota("subsidies.loans", s.loans);
            let copies = quota("subsidies.copies", s.copies);
            if let (Some(patron_type), Some(loans), Some(copies)) = (pt, loans, copies)
                && !subsidies.iter().any(|x| x.patron_type == patron_type)
            {
                subsidies.push(Subsidy {
                    patron_type,
                    loans,
                    copies,
                });
            }
        }
        match (currency, loan, copy) {
            (Some(currency), Some(loan), Some(copy)) if out.is_empty() => Ok(ReaderFeePolicy {
                currency,
                loan,
                copy,
                subsidies,
            }),
            _ => Err(out),
        }
    }
}

/// Who pays a reader's charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payer {
    /// The library, within the reader type's yearly quota.
    Subsidy,
    /// Taken from the reader's deposit.
    Deposit,
    /// Owed by the reader, on an invoice.
    Invoice,
}

impl Payer {
    pub fn as_str(self) -> &'static str {
        match self {
            Payer::Subsidy => "subsidy",
            Payer::Deposit => "deposit",
            Payer::Invoice => "invoice",
        }
    }

    pub fn parse(s: &str) -> Option<Payer> {
        match s {
            "subsidy" => Some(Payer::Subsidy),
            "deposit" => Some(Payer::Deposit),
            "invoice" => Some(Payer::Invoice),
            _ => None,
        }
    }

    /// In words, English and Chinese.
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            Payer::Subsidy => ("paid by the library (subsidy)", "由图书馆补贴支付"),
            Payer::Deposit => ("paid from the reader's deposit", "从读者预存款中扣除"),
            Payer::Invoice => ("invoiced to the reader", "向读者开具账单"),
        }
    }
}

/// Whether the reader's charge, recorded when the lender shipped, is given back when the
/// request moves from `from` to `to`: the request ended without the reader getting the item.
/// Lost while it was on its way or at the library, before the reader had it; cancelled or
/// unfilled (a charge exists only after a shipment, so such a request never reached the
/// reader). A copy delivered or a loan the reader received is never refunded: a loan lost
/// while with the reader, or completed, keeps its charge.
pub fn charge_refunded_on(from: BorrowState, to: BorrowState) -> bool {
    match to {
        BorrowState::Cancelled | BorrowState::Unfilled => from != to,
        BorrowState::Lost => matches!(from, BorrowState::Shipped | BorrowState::Received),
        _ => false,
    }
}

/// A charge to a reader: the amount and how it was reached (English and Chinese).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderCharge {
    pub money: Money,
    pub basis: String,
    pub basis_zh: String,
}

impl ReaderFeePolicy {
    pub fn rule(&self, service: Service) -> ServiceCharge {
        match service {
            Service::Loan => self.loan,
            Service::Copy => self.copy,
        }
    }

    /// What the reader is charged for `service`, given what the lender charged the library
    /// (`None`: no charge known, e.g. a reciprocal partner). `None` when nothing is charged.
    pub fn reader_charge(
        &self,
        service: Service,
        lender_charge: Option<&Money>,
    ) -> Option<ReaderCharge> {
        let rule = self.rule(service);
        let charge = match rule.mode {
            Charging::None => return None,
            Charging::Flat => {
                let money = Money::new(rule.flat, self.currency.clone());
                ReaderCharge {
                    basis: format!("flat reader fee {money}"),
                    basis_zh: format!("读者固定费用 {money}"),
                    money,
                }
            }
            Charging::Lender => {
                let money = lender_charge?.clone();
                ReaderCharge {
                    basis: format!("the lender's charge {money}"),
                    basis_zh: format!("出借馆收费 {money}"),
                    money,
                }
            }
        };
        (charge.money.minor > 0).then_some(charge)
    }

    /// Items of `service` a year the library pays for a reader of type `patron_type`.
    pub fn quota(&self, patron_type: Option<PatronType>, service: Service) -> u32 {
        let Some(pt) = patron_type else { return 0 };
        self.subsidies
            .iter()
            .find(|s| s.patron_type == pt)
            .map_or(0, |s| match service {
                Service::Loan => s.loans,
                Service::Copy => s.copies,
            })
    }
}

/// Who pays a charge of `amount`: the library while the reader's subsidy for the year is not
/// used up (`used` of `quota`), else the deposit when its `balance` (same currency; `None`:
/// another currency or no deposit) covers the whole amount, else an invoice to the reader.
pub fn payer(amount: i64, quota: u32, used: u32, balance: Option<i64>) -> Payer {
    if used < quota {
        Payer::Subsidy
    } else if balance.is_some_and(|b| b >= amount) {
        Payer::Deposit
    } else {
        Payer::Invoice
    }
}

/// A deposit movement as it arrives: a signed decimal amount (a top-up is positive, a refund
/// or withdrawal negative) and the reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositInput {
    #[serde(default)]
    pub amount: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub reason: String,
}

/// A checked deposit movement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositMovement {
    pub money: Money,
    pub reason: String,
}

impl DepositInput {
    /// The movement, or every field that is wrong. `balance` is the reader's balance in the
    /// given currency: a withdrawal may not take it below zero.
    pub fn check(
        self,
        balance: &dyn Fn(&Currency) -> i64,
    ) -> Result<DepositMovement, Vec<FieldError>> {
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
        let money = currency.and_then(|c| match Money::parse_decimal(&self.amount, c) {
            Ok(m) if m.minor == 0 => {
                out.push(FieldError::new(
                    "amount",
                    "zero_amount",
                    "amount is zero: a top-up is positive, a refund negative",
                ));
                None
            }
            Ok(m) if !(-MAX_DEPOSIT_MINOR..=MAX_DEPOSIT_MINOR).contains(&m.minor) => {
                out.push(FieldError::new(
                    "amount",
                    "deposit_too_large",
                    format!(
                        "amount {m} is too large: at most {} at a time",
                        Money::new(MAX_DEPOSIT_MINOR, m.currency.clone())
                    ),
                ));
                None
            }
            Ok(m) => Some(m),
            Err(e) => {
                out.push(FieldError::new("amount", "invalid_amount", e.to_string()));
                None
            }
        });
        if let Some(m) = &money
            && m.minor < 0
        {
            let b = balance(&m.currency);
            if b + m.minor < 0 {
                out.push(FieldError::new(
                    "amount",
                    "over_balance",
                    format!(
                        "amount {m} is more than the balance {}",
                        Money::new(b, m.currency.clone())
                    ),
                ));
            }
        }
        let reason = self.reason.trim().to_owned();
        if reason.is_empty() {
            out.push(FieldError::new(
                "reason",
                "required",
                "reason is required: say why the deposit changes (e.g. a receipt number)",
            ));
        } else if reason.chars().count() > MAX_REASON_CHARS {
            out.push(FieldError::new(
                "reason",
                "too_long",
                format!("reason: at most {MAX_REASON_CHARS} characters"),
            ));
        }
        match money {
            Some(money) if out.is_empty() => Ok(DepositMovement { money, reason }),
            _ => Err(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charge_is_refunded_only_when_the_reader_never_got_the_item() {
        use BorrowState as S;
        assert!(charge_refunded_on(S::Shipped, S::Lost));
        assert!(charge_refunded_on(S::Received, S::Lost));
        assert!(charge_refunded_on(S::Shipped, S::Cancelled));
        assert!(charge_refunded_on(S::WillSupply, S::Unfilled));
        for from in [S::OnLoanToPatron, S::ReturnedByPatron, S::ReturnShipped] {
            assert!(!charge_refunded_on(from, S::Lost), "{from:?}");
        }
        for from in [S::Shipped, S::Received, S::OnLoanToPatron, S::Lost] {
            assert!(!charge_refunded_on(from, S::Completed), "{from:?}");
        }
        assert!(!charge_refunded_on(S::Cancelled, S::Cancelled));
    }

    fn policy() -> ReaderFeePolicy {
        serde_json::from_value::<ReaderFeePolicyInput>(serde_json::json!({
            "currency": "cny",
            "loan": {"mode": "lender"},
            "copy": {"mode": "flat", "flat": 300},
            "subsidies": [{"patron_type": "phd", "loans": 10, "copies": 20}]
        }))
        .unwrap()
        .check()
        .unwrap()
    }

    fn cny(minor: i64) -> Money {
        Money::new(minor, Currency::parse("CNY").unwrap())
    }

    #[test]
    fn charges_follow_the_rule_of_each_service() {
        let p = policy();
        let lent = cny(2000);
        let loan = p.reader_charge(Service::Loan, Some(&lent)).unwrap();
        assert_eq!(loan.money, lent);
        assert_eq!(loan.basis, "the lender's charge 20.00 CNY");
        assert_eq!(p.reader_charge(Service::Loan, None), None);
        let copy = p.reader_charge(Service::Copy, None).unwrap();
        assert_eq!(copy.money, cny(300));
        assert_eq!(copy.basis_zh, "读者固定费用 3.00 CNY");
        let free = ReaderFeePolicy {
            loan: ServiceCharge {
                mode: Charging::None,
                flat: 0,
            },
            ..p.clone()
        };
        assert_eq!(free.reader_charge(Service::Loan, Some(&lent)), None);
        assert_eq!(p.quota(Some(PatronType::Phd), Service::Copy), 20);
        assert_eq!(p.quota(Some(PatronType::Faculty), Service::Copy), 0);
        assert_eq!(p.quota(None, Service::Loan), 0);
    }

    #[test]
    fn the_subsidy_pays_first_then_the_deposit_then_an_invoice() {
        assert_eq!(payer(500, 10, 9, None), Payer::Subsidy);
        assert_eq!(payer(500, 10, 10, Some(500)), Payer::Deposit);
        assert_eq!(payer(500, 10, 10, Some(499)), Payer::Invoice);
        assert_eq!(payer(500, 0, 0, None), Payer::Invoice);
    }

    #[test]
    fn every_bad_field_of_a_policy_is_named() {
        let e = serde_json::from_value::<ReaderFeePolicyInput>(serde_json::json!({
            "currency": "yuan",
            "loan": {"mode": "sometimes", "flat": -1},
            "copy": {"mode": "flat"},
            "subsidies": [
                {"patron_type": "wizard", "loans": 1, "copies": 1},
                {"patron_type": "phd", "loans": -1, "copies": 20000},
                {"patron_type": "master", "loans": 1, "copies": 1},
                {"patron_type": "master", "loans": 2, "copies": 2}
            ]
        }))
        .unwrap()
        .check()
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            fields,
            [
                ("currency", "invalid_currency"),
                ("loan.mode", "unknown_value"),
                ("loan.flat", "negative"),
                ("copy.flat", "required"),
                ("subsidies.patron_type", "invalid_patron_type"),
                ("subsidies.loans", "out_of_range"),
                ("subsidies.copies", "out_of_range"),
                ("subsidies.patron_type", "duplicate_name"),
            ]
        );
    }

    #[test]
    fn deposit_movements_need_an_amount_a_reason_and_enough_balance() {
        let balance = |_: &Currency| 1000;
        let ok = DepositInput {
            amount: "50.00".into(),
            currency: "cny".into(),
            reason: " receipt 42 ".into(),
        }
        .check(&balance)
        .unwrap();
        assert_eq!((ok.money, ok.reason.as_str()), (cny(5000), "receipt 42"));
        let e = DepositInput {
            amount: "-10.01".into(),
            currency: "CNY".into(),
            reason: String::new(),
        }
        .check(&balance)
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(fields, [("amount", "over_balance"), ("reason", "required")]);
        for (amount, code) in [
            ("0", "zero_amount"),
            ("abc", "invalid_amount"),
            ("1.234", "invalid_amount"),
            ("2000000", "deposit_too_large"),
        ] {
            let e = DepositInput {
                amount: amount.into(),
                currency: "CNY".into(),
                reason: "x".into(),
            }
            .check(&balance)
            .unwrap_err();
            assert_eq!(e[0].code, code, "{amount}");
        }
    }
}
