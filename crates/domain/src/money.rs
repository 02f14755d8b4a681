//! Money as integer minor units plus an ISO 4217 currency: never floating point.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency {0:?} must be three capital letters (ISO 4217), e.g. CNY")]
    Currency(String),
    #[error("amount {0:?} is not a decimal number")]
    Amount(String),
    #[error("amount {given:?} has more than {digits} decimals for {currency}")]
    Precision {
        given: String,
        digits: u32,
        currency: String,
    },
    #[error("cannot combine {0} and {1}")]
    Mismatch(String, String),
    #[error("amount out of range")]
    Overflow,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(String);

impl Currency {
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let t = s.trim().to_ascii_uppercase();
        if t.len() == 3 && t.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Currency(t))
        } else {
            Err(MoneyError::Currency(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Decimal places of the minor unit.
    pub fn exponent(&self) -> u32 {
        match self.0.as_str() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
            _ => 2,
        }
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

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    /// "12.50" in CNY is 1250 minor units; more decimals than the currency has are refused.
    pub fn parse_decimal(s: &str, currency: Currency) -> Result<Money, MoneyError> {
        let t = s.trim();
        let (neg, t) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t),
        };
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        let digits = currency.exponent();
        if whole.is_empty() && frac.is_empty()
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !frac.chars().all(|c| c.is_ascii_digit())
        {
            return Err(MoneyError::Amount(s.to_owned()));
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > digits as usize {
            return Err(MoneyError::Precision {
                given: s.to_owned(),
                digits,
                currency: currency.0,
            });
        }
        let scale = 10_i64.pow(digits);
        let w: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| MoneyError::Overflow)?
        };
        let f: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<width$}", width = digits as usize)
                .parse()
                .map_err(|_| MoneyError::Overflow)?
        };
        let minor = w
            .checked_mul(scale)
            .and_then(|v| v.checked_add(f))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor: if neg { -minor } else { minor },
            currency,
        })
    }

    pub fn to_decimal_string(&self) -> String {
        let digits = self.currency.exponent();
        if digits == 0 {
            return self.minor.to_string();
        }
        let scale = 10_i64.pow(digits).unsigned_abs();
        let abs = self.minor.unsigned_abs();
        let sign = if self.minor < 0 { "-" } else { "" };
        format!(
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = digits as usize
        )
    }

    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::Mismatch(
                self.currency.0.clone(),
                other.currency.0.clone(),
            ));
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency.clone(),
        })
    }

    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::Mismatch(
                self.currency.0.clone(),
                other.currency.0.clone(),
            ));
        }
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
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
    use super::*;

    fn cny() -> Currency {
        Currency::parse("cny").unwrap()
    }

    #[test]
    fn decimals_become_minor_units_and_back() {
        let m = Money::parse_decimal("12.5", cny()).unwrap();
        assert_eq!(m.minor, 1250);
        assert_eq!(m.to_string(), "12.50 CNY");
        assert_eq!(
            Money::parse_decimal("-0.05", cny())
                .unwrap()
                .to_decimal_string(),
            "-0.05"
        );
        assert_eq!(
            Money::parse_decimal("1500", Currency::parse("JPY").unwrap())
                .unwrap()
                .minor,
            1500
        );
        assert!(matches!(
            Money::parse_decimal("1.234", cny()),
            Err(MoneyError::Precision { .. })
        ));
        assert!(Money::parse_decimal("abc", cny()).is_err());
        assert!(Money::parse_decimal(".", cny()).is_err());
    }

    #[test]
    fn different_currencies_do_not_add() {
        let a = Money::parse_decimal("1", cny()).unwrap();
        let b = Money::parse_decimal("1", Currency::parse("USD").unwrap()).unwrap();
        assert!(a.checked_add(&b).is_err());
        assert_eq!(a.checked_add(&a).unwrap().minor, 200);
        let big = Money {
            minor: i64::MAX,
            currency: cny(),
        };
        assert_eq!(big.checked_add(&a), Err(MoneyError::Overflow));
    }
}
