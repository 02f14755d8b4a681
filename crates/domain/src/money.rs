//! Money as integer minor units plus an ISO 4217 currency: never floating point, so fees add up
//! to the cent and "12.50" means exactly 1250 fen.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency {0:?} must be three letters (ISO 4217), e.g. CNY")]
    Currency(String),
    #[error("amount {0:?} must be a decimal number such as 12.50")]
    Amount(String),
    #[error("amount {given:?} has too many decimals: {currency} has at most {digits}")]
    Precision {
        given: String,
        digits: u32,
        currency: String,
    },
    #[error("cannot combine an amount in {0} with one in {1}")]
    Mismatch(String, String),
    #[error("amount out of range")]
    Overflow,
}

impl MoneyError {
    /// Stable snake_case code for APIs, independent of the message wording.
    pub fn code(&self) -> &'static str {
        match self {
            MoneyError::Currency(_) => "invalid_currency",
            MoneyError::Amount(_) => "invalid_amount",
            MoneyError::Precision { .. } => "too_many_decimals",
            MoneyError::Mismatch(..) => "currency_mismatch",
            MoneyError::Overflow => "amount_out_of_range",
        }
    }
}

/// Longest piece of an amount quoted back in a message.
const QUOTE_MAX: usize = 40;

fn quoted(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= QUOTE_MAX {
        s.to_owned()
    } else {
        let mut short: String = s.chars().take(QUOTE_MAX).collect();
        short.push('…');
        short
    }
}

/// An ISO 4217 currency code, upper case. Whether the code is actually assigned is not checked:
/// the list changes, and a partner's invoice in a new currency must still be recordable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(String);

impl Currency {
    /// Accepts "CNY"; "cny" too, since forms and partners are not always careful about case.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let t = s.trim().to_ascii_uppercase();
        if t.len() == 3 && t.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Currency(t))
        } else {
            Err(MoneyError::Currency(quoted(s)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Decimal places of the minor unit (ISO 4217): most currencies have 2; those listed here
    /// are the ones librelay's partners are likely to meet that differ.
    pub fn exponent(&self) -> u32 {
        match self.0.as_str() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Currency::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An amount: `minor` units (fen, cents, yen) of `currency`. JSON `{"minor": 1250, "currency":
/// "CNY"}`, an integer because JSON numbers with decimals are floats to most readers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    /// "12.50" in CNY is 1250 minor units. Decimals the currency does not have are refused
    /// rather than rounded, except trailing zeros ("12.500" is exactly 12.50). Thousands
    /// separators, signs other than a leading '-' and exponents are refused too.
    pub fn parse_decimal(s: &str, currency: Currency) -> Result<Money, MoneyError> {
        let t = s.trim();
        let (neg, unsigned) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t),
        };
        let (whole, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        if (whole.is_empty() && frac.is_empty())
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !frac.chars().all(|c| c.is_ascii_digit())
        {
            return Err(MoneyError::Amount(quoted(s)));
        }
        let digits = currency.exponent();
        let frac = frac.trim_end_matches('0');
        if frac.len() > digits as usize {
            return Err(MoneyError::Precision {
                given: quoted(s),
                digits,
                currency: currency.0,
            });
        }
        // i128 so that i64::MIN, whose magnitude i64 cannot hold, still parses.
        let whole = whole.trim_start_matches('0');
        if whole.len() > 30 {
            return Err(MoneyError::Overflow);
        }
        let w: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| MoneyError::Overflow)?
        };
        let f: i128 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<width$}", width = digits as usize)
                .parse()
                .map_err(|_| MoneyError::Overflow)?
        };
        let magnitude = w
            .checked_mul(10_i128.pow(digits))
            .and_then(|v| v.checked_add(f))
            .ok_or(MoneyError::Overflow)?;
        let signed = if neg { -magnitude } else { magnitude };
        let minor = i64::try_from(signed).map_err(|_| MoneyError::Overflow)?;
        Ok(Money { minor, currency })
    }

    /// The amount with as many decimals as the currency has: "12.50", "-0.05", "1500" (JPY).
    pub fn to_decimal_string(&self) -> String {
        let digits = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if digits == 0 {
            return format!("{sign}{abs}");
        }
        let scale = 10_u64.pow(digits);
        format!(
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = digits as usize
        )
    }

    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.combine(other, i64::checked_add)
    }

    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.combine(other, i64::checked_sub)
    }

    /// Amounts in different currencies never combine: converting needs a rate, and a rate is a
    /// decision for a person, not for arithmetic.
    fn combine(&self, other: &Money, op: fn(i64, i64) -> Option<i64>) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::Mismatch(
                self.currency.0.clone(),
                other.currency.0.clone(),
            ));
        }
        let minor = op(self.minor, other.minor).ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency.clone(),
        })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cur(s: &str) -> Currency {
        Currency::parse(s).unwrap()
    }

    fn cny(s: &str) -> Money {
        Money::parse_decimal(s, cur("CNY")).unwrap()
    }

    #[test]
    fn currencies_are_three_letters_in_upper_case() {
        assert_eq!(cur("cny").as_str(), "CNY");
        assert_eq!(cur(" USD ").to_string(), "USD");
        assert_eq!("EUR".parse::<Currency>().unwrap(), cur("EUR"));
        for s in ["", "CN", "CNYY", "C1Y", "人民币", "ÉUR"] {
            let e = Currency::parse(s).unwrap_err();
            assert_eq!(e.code(), "invalid_currency", "{s}");
        }
    }

    #[test]
    fn exponents_follow_iso_4217() {
        for (c, e) in [("CNY", 2), ("USD", 2), ("EUR", 2), ("GBP", 2), ("JPY", 0)] {
            assert_eq!(cur(c).exponent(), e, "{c}");
        }
        assert_eq!(cur("KRW").exponent(), 0);
        assert_eq!(cur("KWD").exponent(), 3);
        assert_eq!(cur("XYZ").exponent(), 2);
    }

    #[test]
    fn decimals_become_minor_units_and_back() {
        assert_eq!(cny("12.50").minor, 1250);
        assert_eq!(cny("12.5").minor, 1250);
        assert_eq!(cny("12").minor, 1200);
        assert_eq!(cny(".5").minor, 50);
        assert_eq!(cny("12.500").minor, 1250);
        assert_eq!(cny(" 0.05 ").minor, 5);
        assert_eq!(cny("12.5").to_decimal_string(), "12.50");
        assert_eq!(cny("12.5").to_string(), "12.50 CNY");
        assert_eq!(cny("-0.05").to_decimal_string(), "-0.05");
        assert_eq!(cny("-12.34").minor, -1234);
        let yen = Money::parse_decimal("1500", cur("JPY")).unwrap();
        assert_eq!((yen.minor, yen.to_string().as_str()), (1500, "1500 JPY"));
        let dinar = Money::parse_decimal("1.5", cur("KWD")).unwrap();
        assert_eq!(
            (dinar.minor, dinar.to_decimal_string().as_str()),
            (1500, "1.500")
        );
    }

    #[test]
    fn too_many_decimals_are_refused_not_rounded() {
        let e = Money::parse_decimal("1.234", cur("CNY")).unwrap_err();
        assert_eq!(e.code(), "too_many_decimals");
        assert_eq!(
            e.to_string(),
            "amount \"1.234\" has too many decimals: CNY has at most 2"
        );
        assert!(matches!(
            Money::parse_decimal("1500.5", cur("JPY")),
            Err(MoneyError::Precision { digits: 0, .. })
        ));
        assert!(Money::parse_decimal("1500.0", cur("JPY")).is_ok());
    }

    #[test]
    fn what_is_not_a_plain_decimal_is_refused() {
        for s in [
            "", "abc", ".", "-", "-.", "+1", "1,000", "1 000", "1e3", "--1", "1.2.3", "¥12",
        ] {
            let e = Money::parse_decimal(s, cur("CNY")).unwrap_err();
            assert_eq!(e.code(), "invalid_amount", "{s:?}");
        }
    }

    #[test]
    fn amounts_beyond_i64_are_refused() {
        let e = Money::parse_decimal("92233720368547758.08", cur("CNY")).unwrap_err();
        assert_eq!(e, MoneyError::Overflow);
        assert_eq!(
            Money::parse_decimal("-92233720368547758.08", cur("CNY"))
                .unwrap()
                .minor,
            i64::MIN
        );
        let e = Money::parse_decimal(&"9".repeat(100), cur("CNY")).unwrap_err();
        assert_eq!(e.code(), "amount_out_of_range");
    }

    #[test]
    fn different_currencies_do_not_add() {
        let a = cny("1");
        let b = Money::parse_decimal("1", cur("USD")).unwrap();
        let e = a.checked_add(&b).unwrap_err();
        assert_eq!(e.code(), "currency_mismatch");
        assert_eq!(
            e.to_string(),
            "cannot combine an amount in CNY with one in USD"
        );
        assert!(a.checked_sub(&b).is_err());
        assert_eq!(a.checked_add(&a).unwrap().minor, 200);
        assert_eq!(
            a.checked_sub(&cny("2.50")).unwrap().to_string(),
            "-1.50 CNY"
        );
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let big = Money::new(i64::MAX, cur("CNY"));
        assert_eq!(big.checked_add(&cny("0.01")), Err(MoneyError::Overflow));
        let small = Money::new(i64::MIN, cur("CNY"));
        assert_eq!(small.checked_sub(&cny("0.01")), Err(MoneyError::Overflow));
        assert!(small.is_negative());
        assert!(!Money::zero(cur("CNY")).is_negative());
    }

    #[test]
    fn json_is_minor_units_and_a_code() {
        let m = cny("12.50");
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json, serde_json::json!({"minor": 1250, "currency": "CNY"}));
        let back: Money = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
        assert!(
            serde_json::from_value::<Money>(serde_json::json!({"minor": 1, "currency": "C"}))
                .is_err()
        );
        assert!(
            serde_json::from_value::<Money>(serde_json::json!({"minor": 1.5, "currency": "CNY"}))
                .is_err()
        );
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        prop_oneof![Just("CNY"), Just("JPY"), Just("KWD"), Just("USD")].prop_map(cur)
    }

    proptest! {
        #[test]
        fn the_decimal_string_parses_back_to_the_same_money(
            minor in any::<i64>(),
            c in any_currency(),
        ) {
            let m = Money::new(minor, c.clone());
            prop_assert_eq!(Money::parse_decimal(&m.to_decimal_string(), c).unwrap(), m);
        }

        #[test]
        fn arbitrary_text_never_panics(
            s in prop_oneof![any::<String>(), "-?[0-9]{0,25}(\\.[0-9]{0,6})?"],
            c in any_currency()
        ) {
            let _ = Currency::parse(&s);
            if let Ok(m) = Money::parse_decimal(&s, c) {
                let again = Money::parse_decimal(&m.to_decimal_string(), m.currency.clone());
                prop_assert_eq!(again.unwrap(), m);
            }
        }
    }
}
