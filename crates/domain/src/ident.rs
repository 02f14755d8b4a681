//! Identifiers that refuse bad values: ISBN (10 or 13, stored as 13), ISSN, DOI, PMID, OCLC
//! number, library code and ISO 18626 agency id. Parse, don't validate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("ISBN {0:?} must have 10 or 13 digits")]
    IsbnLength(String),
    #[error("ISBN {given:?}: check digit is {found}, expected {expected}")]
    IsbnCheck {
        given: String,
        found: char,
        expected: char,
    },
    #[error("ISSN {0:?} must be 8 characters NNNN-NNNC")]
    IssnShape(String),
    #[error("ISSN {given:?}: check digit is {found}, expected {expected}")]
    IssnCheck {
        given: String,
        found: char,
        expected: char,
    },
    #[error("DOI {0:?} must look like 10.NNNN/suffix")]
    Doi(String),
    #[error("PMID {0:?} must be a number of 1 to 8 digits")]
    Pmid(String),
    #[error("OCLC number {0:?} must be digits, optionally after (OCoLC), ocm, ocn or on")]
    Oclc(String),
    #[error("library code {0:?} must be 2 to 16 letters, digits, - or _")]
    LibraryCode(String),
    #[error("agency id {0:?} must be TYPE:VALUE, e.g. ISIL:CN-100000")]
    AgencyId(String),
}

impl IdentError {
    /// Stable snake_case code for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            IdentError::IsbnLength(_) | IdentError::IsbnCheck { .. } => "invalid_isbn",
            IdentError::IssnShape(_) | IdentError::IssnCheck { .. } => "invalid_issn",
            IdentError::Doi(_) => "invalid_doi",
            IdentError::Pmid(_) => "invalid_pmid",
            IdentError::Oclc(_) => "invalid_oclc_number",
            IdentError::LibraryCode(_) => "invalid_library_code",
            IdentError::AgencyId(_) => "invalid_agency_id",
        }
    }
}

/// Implements Display, FromStr and string serde (deserialising through `parse`) for a newtype
/// with `parse(&str) -> Result<Self, IdentError>` and `as_str()`.
macro_rules! string_ident {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = IdentError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::parse(s)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn digit_value(c: char) -> u32 {
    c.to_digit(10).unwrap_or(0)
}

/// An ISBN, kept as its 13 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Isbn(String);

impl Isbn {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let chars: Vec<char> = s
            .trim()
            .trim_start_matches("ISBN")
            .trim_start_matches("isbn")
            .trim_start_matches(':')
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .collect();
        let given = s.trim().to_owned();
        match chars.len() {
            10 => {
                if !chars[..9].iter().all(char::is_ascii_digit) {
                    return Err(IdentError::IsbnLength(given));
                }
                let sum: u32 = chars[..9]
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (10 - i as u32) * digit_value(*c))
                    .sum();
                let check = (11 - sum % 11) % 11;
                let expected = if check == 10 {
                    'X'
                } else {
                    char::from_digit(check, 10).unwrap_or('0')
                };
                let found = chars[9].to_ascii_uppercase();
                if found != expected {
                    return Err(IdentError::IsbnCheck {
                        given,
                        found,
                        expected,
                    });
                }
                let core: String = std::iter::once("978".to_owned())
                    .chain(chars[..9].iter().map(|c| c.to_string()))
                    .collect();
                Ok(Isbn(format!("{core}{}", isbn13_check(&core))))
            }
            13 => {
                if !chars.iter().all(char::is_ascii_digit) {
                    return Err(IdentError::IsbnLength(given));
                }
                let core: String = chars[..12].iter().collect();
                let expected = isbn13_check(&core);
                if chars[12] != expected {
                    return Err(IdentError::IsbnCheck {
                        given,
                        found: chars[12],
                        expected,
                    });
                }
                Ok(Isbn(chars.iter().collect()))
            }
            _ => Err(IdentError::IsbnLength(given)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_isbn13(&self) -> &str {
        &self.0
    }

    /// The ISBN-10 form, for 978-prefixed ISBNs only.
    pub fn as_isbn10(&self) -> Option<String> {
        let core = self.0.strip_prefix("978")?.get(..9)?;
        let sum: u32 = core
            .chars()
            .enumerate()
            .map(|(i, c)| (10 - i as u32) * digit_value(c))
            .sum();
        let check = (11 - sum % 11) % 11;
        let c = if check == 10 {
            'X'
        } else {
            char::from_digit(check, 10)?
        };
        Some(format!("{core}{c}"))
    }
}

fn isbn13_check(core12: &str) -> char {
    let sum: u32 = core12
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                digit_value(c)
            } else {
                3 * digit_value(c)
            }
        })
        .sum();
    char::from_digit((10 - sum % 10) % 10, 10).unwrap_or('0')
}

string_ident!(Isbn);

/// An ISSN, kept as NNNN-NNNC.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Issn(String);

impl Issn {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let given = s.trim().to_owned();
        let chars: Vec<char> = given
            .trim_start_matches("ISSN")
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .collect();
        if chars.len() != 8 || !chars[..7].iter().all(char::is_ascii_digit) {
            return Err(IdentError::IssnShape(given));
        }
        let sum: u32 = chars[..7]
            .iter()
            .enumerate()
            .map(|(i, c)| (8 - i as u32) * digit_value(*c))
            .sum();
        let check = (11 - sum % 11) % 11;
        let expected = if check == 10 {
            'X'
        } else {
            char::from_digit(check, 10).unwrap_or('0')
        };
        let found = chars[7].to_ascii_uppercase();
        if found != expected {
            return Err(IdentError::IssnCheck {
                given,
                found,
                expected,
            });
        }
        let a: String = chars[..4].iter().collect();
        let b: String = chars[4..7].iter().collect();
        Ok(Issn(format!("{a}-{b}{found}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_ident!(Issn);

/// A DOI, lower-cased (DOIs compare case-insensitively) and without resolver prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Doi(String);

impl Doi {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let given = s.trim();
        let lower = given.to_lowercase();
        let mut rest = lower.as_str();
        for prefix in [
            "https://doi.org/",
            "http://doi.org/",
            "https://dx.doi.org/",
            "http://dx.doi.org/",
            "doi:",
            "doi ",
        ] {
            if let Some(r) = rest.strip_prefix(prefix) {
                rest = r.trim();
            }
        }
        let ok = rest
            .strip_prefix("10.")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(reg, suffix)| {
                !reg.is_empty()
                    && reg.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && !suffix.trim().is_empty()
                    && !suffix.chars().any(char::is_whitespace)
            });
        if ok && rest.len() <= 300 {
            Ok(Doi(rest.to_owned()))
        } else {
            Err(IdentError::Doi(given.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_ident!(Doi);

/// A PubMed id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pmid(String);

impl Pmid {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let t = s.trim();
        let t = t
            .strip_prefix("PMID:")
            .or_else(|| t.strip_prefix("pmid:"))
            .unwrap_or(t)
            .trim();
        let digits = t.trim_start_matches('0');
        if t.is_empty()
            || !t.chars().all(|c| c.is_ascii_digit())
            || digits.is_empty()
            || digits.len() > 8
        {
            return Err(IdentError::Pmid(s.trim().to_owned()));
        }
        Ok(Pmid(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_ident!(Pmid);

/// An OCLC (WorldCat) number, digits only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OclcNumber(String);

impl OclcNumber {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let t = s.trim();
        // "(OCoLC)ocm00012345" as 035 fields carry it: the system prefix, then the old
        // ocm/ocn/on prefixes, then the digits.
        let rest = t
            .strip_prefix("(OCoLC)")
            .or_else(|| t.strip_prefix("(ocolc)"))
            .unwrap_or(t)
            .trim();
        let rest = ["ocm", "ocn", "on"]
            .iter()
            .find_map(|p| rest.strip_prefix(p))
            .unwrap_or(rest)
            .trim();
        let digits = rest.trim_start_matches('0');
        if rest.is_empty()
            || !rest.chars().all(|c| c.is_ascii_digit())
            || digits.is_empty()
            || digits.len() > 15
        {
            return Err(IdentError::Oclc(t.to_owned()));
        }
        Ok(OclcNumber(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_ident!(OclcNumber);

/// A library's short code (the tenant key), upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LibraryCode(String);

impl LibraryCode {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let t = s.trim().to_ascii_uppercase();
        let ok = (2..=16).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(LibraryCode(t))
        } else {
            Err(IdentError::LibraryCode(s.trim().to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_ident!(LibraryCode);

/// An ISO 18626 agency id: type (ISIL, OCLC, a national scheme) and value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgencyId {
    pub agency_type: String,
    pub value: String,
}

impl AgencyId {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let bad = || IdentError::AgencyId(s.trim().to_owned());
        let (t, v) = s.trim().split_once(':').ok_or_else(bad)?;
        if t.is_empty()
            || !t.chars().all(|c| c.is_ascii_alphanumeric())
            || v.is_empty()
            || v.chars().any(char::is_whitespace)
        {
            return Err(bad());
        }
        Ok(AgencyId {
            agency_type: t.to_ascii_uppercase(),
            value: v.to_owned(),
        })
    }
}

impl fmt::Display for AgencyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.agency_type, self.value)
    }
}

impl FromStr for AgencyId {
    type Err = IdentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgencyId::parse(s)
    }
}

impl Serialize for AgencyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for AgencyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AgencyId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn isbn10_and_13_are_the_same_isbn() {
        let a = Isbn::parse("0-306-40615-2").unwrap();
        let b = Isbn::parse("978-0-306-40615-7").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_isbn10().as_deref(), Some("0306406152"));
        assert_eq!(
            Isbn::parse("080442957X").unwrap().as_isbn10().as_deref(),
            Some("080442957X")
        );
    }

    #[test]
    fn a_wrong_check_digit_is_named() {
        let e = Isbn::parse("978-0-306-40615-3").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ISBN \"978-0-306-40615-3\": check digit is 3, expected 7"
        );
        assert_eq!(e.code(), "invalid_isbn");
        assert!(Issn::parse("0028-0837").is_err());
        assert_eq!(Issn::parse("00280836").unwrap().as_str(), "0028-0836");
        assert_eq!(Issn::parse("0737-8831").unwrap().as_str(), "0737-8831");
        assert_eq!(Issn::parse("2434-561x").unwrap().as_str(), "2434-561X");
    }

    #[test]
    fn dois_lose_resolver_prefixes_and_case() {
        assert_eq!(
            Doi::parse("https://doi.org/10.1000/XYZ.123")
                .unwrap()
                .as_str(),
            "10.1000/xyz.123"
        );
        assert_eq!(
            Doi::parse("doi:10.1038/nature12373").unwrap().as_str(),
            "10.1038/nature12373"
        );
        assert!(Doi::parse("10.1000").is_err());
        assert!(Doi::parse("11.1000/x").is_err());
        assert_eq!(Pmid::parse("0012345").unwrap().as_str(), "12345");
        assert!(Pmid::parse("123456789").is_err());
        assert_eq!(
            OclcNumber::parse("(OCoLC)ocm00012345").unwrap().as_str(),
            "12345"
        );
        assert_eq!(
            OclcNumber::parse("(OCoLC)00012345").unwrap().as_str(),
            "12345"
        );
        assert_eq!(OclcNumber::parse("ocn123").unwrap().as_str(), "123");
        assert_eq!(LibraryCode::parse("bcu").unwrap().as_str(), "BCU");
        assert!(LibraryCode::parse("a b").is_err());
        assert_eq!(
            AgencyId::parse("isil:CN-100000").unwrap().to_string(),
            "ISIL:CN-100000"
        );
    }

    #[test]
    fn json_with_a_bad_isbn_does_not_deserialize() {
        assert!(serde_json::from_str::<Isbn>("\"9780306406158\"").is_err());
        assert_eq!(
            serde_json::from_str::<Isbn>("\"0306406152\"")
                .unwrap()
                .as_str(),
            "9780306406157"
        );
    }

    fn isbn10() -> impl Strategy<Value = String> {
        proptest::collection::vec(0u32..10, 9).prop_map(|d| {
            let sum: u32 = d.iter().enumerate().map(|(i, x)| (10 - i as u32) * x).sum();
            let c = (11 - sum % 11) % 11;
            let mut s: String = d
                .iter()
                .map(|x| char::from_digit(*x, 10).unwrap())
                .collect();
            s.push(if c == 10 {
                'X'
            } else {
                char::from_digit(c, 10).unwrap()
            });
            s
        })
    }

    proptest! {
        #[test]
        fn every_valid_isbn10_converts_to_a_valid_isbn13(s in isbn10()) {
            let isbn = Isbn::parse(&s).unwrap();
            prop_assert_eq!(Isbn::parse(isbn.as_isbn13()).unwrap(), isbn.clone());
            prop_assert_eq!(isbn.as_isbn10().unwrap(), s.to_ascii_uppercase());
        }

        #[test]
        fn changing_one_digit_is_refused(s in isbn10(), pos in 0usize..9, delta in 1u32..10) {
            let mut chars: Vec<char> = s.chars().collect();
            let d = chars[pos].to_digit(10).unwrap();
            chars[pos] = char::from_digit((d + delta) % 10, 10).unwrap();
            let changed: String = chars.into_iter().collect();
            prop_assert!(Isbn::parse(&changed).is_err());
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = Isbn::parse(&s);
            let _ = Issn::parse(&s);
            let _ = Doi::parse(&s);
            let _ = Pmid::parse(&s);
            let _ = OclcNumber::parse(&s);
            let _ = LibraryCode::parse(&s);
            let _ = AgencyId::parse(&s);
        }
    }
}
