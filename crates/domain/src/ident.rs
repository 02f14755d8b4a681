//! Identifiers that refuse bad values: ISBN (10 or 13, stored as 13), ISSN, DOI, PMID, OCLC
//! number, library code and ISO 18626 agency id. Parse, don't validate: once a value of one of
//! these types exists it is well formed, so no other layer checks again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not the identifier it was meant to be. Messages quote what was given (cut
/// short, since they go back to the caller) and say what was expected, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("ISBN {0:?} must have 10 or 13 digits (the last of an ISBN-10 may be X)")]
    IsbnShape(String),
    #[error("ISBN {0:?} must start with 978 or 979")]
    IsbnPrefix(String),
    #[error("ISBN {given:?}: check digit is {found}, expected {expected}")]
    IsbnCheck {
        given: String,
        found: char,
        expected: char,
    },
    #[error("ISSN {0:?} must be 8 characters NNNN-NNNC (the last may be X)")]
    IssnShape(String),
    #[error("ISSN {given:?}: check digit is {found}, expected {expected}")]
    IssnCheck {
        given: String,
        found: char,
        expected: char,
    },
    #[error("DOI {0:?} must look like 10.1000/suffix")]
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
    /// Stable snake_case code: APIs and translations key on it, so it never changes with the
    /// wording of the message.
    pub fn code(&self) -> &'static str {
        match self {
            IdentError::IsbnShape(_) | IdentError::IsbnPrefix(_) | IdentError::IsbnCheck { .. } => {
                "invalid_isbn"
            }
            IdentError::IssnShape(_) | IdentError::IssnCheck { .. } => "invalid_issn",
            IdentError::Doi(_) => "invalid_doi",
            IdentError::Pmid(_) => "invalid_pmid",
            IdentError::Oclc(_) => "invalid_oclc_number",
            IdentError::LibraryCode(_) => "invalid_library_code",
            IdentError::AgencyId(_) => "invalid_agency_id",
        }
    }
}

/// Longest piece of the input quoted back in a message: a pasted page of text should not come
/// back whole in an error body.
const QUOTE_MAX: usize = 60;

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

/// `s` without a leading `label`, compared ignoring ASCII case ("isbn", "ISSN", "(ocolc)").
fn strip_label<'a>(s: &'a str, label: &str) -> Option<&'a str> {
    let head = s.get(..label.len())?;
    if head.eq_ignore_ascii_case(label) {
        s.get(label.len()..)
    } else {
        None
    }
}

/// What is left of `s` after an optional `LABEL` and `:`, as in "ISSN: 0028-0836".
fn without_label<'a>(s: &'a str, label: &str) -> &'a str {
    let s = s.trim();
    match strip_label(s, label) {
        Some(rest) => {
            let rest = rest.trim_start();
            rest.strip_prefix(':').unwrap_or(rest).trim_start()
        }
        None => s,
    }
}

/// The characters of an ISBN or ISSN without the hyphens and spaces people print them with.
fn compact(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect()
}

/// Decimal digit values, or `None` if any character is not an ASCII digit.
fn digit_values(cs: &[char]) -> Option<Vec<u32>> {
    cs.iter()
        .map(|c| {
            if c.is_ascii_digit() {
                c.to_digit(10)
            } else {
                None
            }
        })
        .collect()
}

/// A check value 0..=10 as printed: 10 is X in ISBN-10 and ISSN.
fn mod11_char(v: u32) -> char {
    if v == 10 {
        'X'
    } else {
        char::from_digit(v, 10).unwrap_or('?')
    }
}

/// ISBN-10 and ISSN share one scheme: weights counting down to 2, then the check makes the
/// weighted sum a multiple of 11.
fn mod11_check(body: &[u32]) -> char {
    let n = body.len() as u32 + 1;
    let sum: u32 = body.iter().zip((2..=n).rev()).map(|(d, w)| d * w).sum();
    mod11_char((11 - sum % 11) % 11)
}

/// ISBN-13 (EAN-13): weights 1, 3, 1, 3 … and the check makes the sum a multiple of 10.
fn isbn13_check(body12: &[u32]) -> char {
    let sum: u32 = body12
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { 3 * d })
        .sum();
    char::from_digit((10 - sum % 10) % 10, 10).unwrap_or('?')
}

/// Implements Display, FromStr and string serde (deserialising through `parse`, so a bad value
/// in JSON fails to deserialize) for a newtype with `parse` and `as_str`.
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

/// An ISBN, kept as its 13 digits so that the ISBN-10 and ISBN-13 of one book are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Isbn(String);

impl Isbn {
    /// Accepts "0-306-40615-2", "978 0 306 40615 7", "ISBN-13: 978-0-306-40615-7", "080442957x".
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let given = quoted(s);
        let t = s.trim();
        // "ISBN-13:" and "ISBN-10:" are how catalogues and citations label them.
        let t = match strip_label(t, "ISBN") {
            Some(rest) => {
                let rest = strip_label(rest, "-13")
                    .or_else(|| strip_label(rest, "-10"))
                    .unwrap_or(rest)
                    .trim_start();
                rest.strip_prefix(':').unwrap_or(rest)
            }
            None => t,
        };
        let chars = compact(t);
        let shape = || IdentError::IsbnShape(given.clone());
        match chars.len() {
            10 => {
                let (body, last) = chars.split_at(9);
                let body = digit_values(body).ok_or_else(shape)?;
                let found = last
                    .first()
                    .map(char::to_ascii_uppercase)
                    .ok_or_else(shape)?;
                if !(found.is_ascii_digit() || found == 'X') {
                    return Err(shape());
                }
                let expected = mod11_check(&body);
                if found != expected {
                    return Err(IdentError::IsbnCheck {
                        given,
                        found,
                        expected,
                    });
                }
                // An ISBN-10 is an ISBN-13 with 978 in front and a check digit recomputed.
                let mut d13 = vec![9, 7, 8];
                d13.extend(body);
                let check = isbn13_check(&d13);
                let mut out: String = d13
                    .iter()
                    .filter_map(|d| char::from_digit(*d, 10))
                    .collect();
                out.push(check);
                Ok(Isbn(out))
            }
            13 => {
                let digits = digit_values(&chars).ok_or_else(shape)?;
                // Other EAN-13 prefixes are not books (977 is a periodical's ISSN barcode).
                if !chars.starts_with(&['9', '7', '8']) && !chars.starts_with(&['9', '7', '9']) {
                    return Err(IdentError::IsbnPrefix(given));
                }
                let (body, last) = digits.split_at(12);
                let expected = isbn13_check(body);
                let found = last
                    .first()
                    .and_then(|d| char::from_digit(*d, 10))
                    .ok_or_else(shape)?;
                if found != expected {
                    return Err(IdentError::IsbnCheck {
                        given,
                        found,
                        expected,
                    });
                }
                Ok(Isbn(chars.into_iter().collect()))
            }
            _ => Err(shape()),
        }
    }

    /// The 13 digits, no hyphens.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_isbn13(&self) -> &str {
        &self.0
    }

    /// The ISBN-10 form; only 978 ISBNs have one (979 was never issued as ISBN-10).
    pub fn as_isbn10(&self) -> Option<String> {
        let body = self.0.strip_prefix("978")?.get(..9)?;
        let chars: Vec<char> = body.chars().collect();
        let digits = digit_values(&chars)?;
        let mut out = body.to_owned();
        out.push(mod11_check(&digits));
        Some(out)
    }
}

string_ident!(Isbn);

/// An ISSN, kept as NNNN-NNNC with an upper-case X.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Issn(String);

impl Issn {
    /// Accepts "0028-0836", "00280836", "ISSN 2434-561x".
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let given = quoted(s);
        let chars = compact(without_label(s, "ISSN"));
        let shape = || IdentError::IssnShape(given.clone());
        if chars.len() != 8 {
            return Err(shape());
        }
        let (body, last) = chars.split_at(7);
        let digits = digit_values(body).ok_or_else(shape)?;
        let found = last
            .first()
            .map(char::to_ascii_uppercase)
            .ok_or_else(shape)?;
        if !(found.is_ascii_digit() || found == 'X') {
            return Err(shape());
        }
        let expected = mod11_check(&digits);
        if found != expected {
            return Err(IdentError::IssnCheck {
                given,
                found,
                expected,
            });
        }
        let first: String = body.iter().take(4).collect();
        let rest: String = body.iter().skip(4).collect();
        Ok(Issn(format!("{first}-{rest}{found}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_ident!(Issn);

/// Resolver and scheme prefixes people paste in front of a DOI.
const DOI_PREFIXES: [&str; 6] = [
    "https://doi.org/",
    "http://doi.org/",
    "https://dx.doi.org/",
    "http://dx.doi.org/",
    "doi.org/",
    "doi:",
];

/// No DOI registration agency issues anything near this long; the cap keeps junk out of
/// indexes and messages.
const DOI_MAX: usize = 300;

/// A DOI without resolver prefix, in lower case: DOIs compare case-insensitively (over ASCII,
/// per the DOI Handbook), so storing one case makes equality and hashing agree with that.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Doi(String);

impl Doi {
    /// Accepts "10.1038/nature12373", "doi:10.1038/…", "https://doi.org/10.1038/…".
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let lower = s.trim().to_ascii_lowercase();
        let mut rest = lower.as_str();
        // Repeated because people paste "doi: https://doi.org/10…"; each pass shortens `rest`.
        while let Some(r) = DOI_PREFIXES.iter().find_map(|p| rest.strip_prefix(p)) {
            rest = r.trim_start();
        }
        let ok = rest
            .strip_prefix("10.")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(registrant, suffix)| {
                // The registrant is digits, possibly in dotted subdivisions: 10.1000.10/…
                registrant
                    .split('.')
                    .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
                    && !suffix.is_empty()
                    && !suffix.chars().any(|c| c.is_whitespace() || c.is_control())
            });
        if ok && rest.len() <= DOI_MAX {
            Ok(Doi(rest.to_owned()))
        } else {
            Err(IdentError::Doi(quoted(s)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_ident!(Doi);

/// A PubMed id: a positive number of at most 8 digits, kept without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pmid(String);

impl Pmid {
    /// Accepts "12345", "0012345", "PMID: 12345".
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let t = without_label(s, "PMID");
        let digits = t.trim_start_matches('0');
        if t.is_empty()
            || !t.chars().all(|c| c.is_ascii_digit())
            || digits.is_empty()
            || digits.len() > 8
        {
            return Err(IdentError::Pmid(quoted(s)));
        }
        Ok(Pmid(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_ident!(Pmid);

/// More digits than any OCLC number will have for a long time; bounds what we store.
const OCLC_MAX_DIGITS: usize = 15;

/// An OCLC (WorldCat) number, digits only, without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OclcNumber(String);

impl OclcNumber {
    /// Accepts "12345", "(OCoLC)00012345", "(OCoLC)ocm00012345", "ocn123456789", "on1234567890".
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let t = s.trim();
        // As MARC 035 carries it: the system prefix, then the ocm/ocn/on prefixes that once
        // told the number's length, then the digits.
        let t = strip_label(t, "(OCoLC)").unwrap_or(t).trim_start();
        let t = ["ocm", "ocn", "on"]
            .iter()
            .find_map(|p| strip_label(t, p))
            .unwrap_or(t)
            .trim_start();
        let digits = t.trim_start_matches('0');
        if t.is_empty()
            || !t.chars().all(|c| c.is_ascii_digit())
            || digits.is_empty()
            || digits.len() > OCLC_MAX_DIGITS
        {
            return Err(IdentError::Oclc(quoted(s)));
        }
        Ok(OclcNumber(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_ident!(OclcNumber);

/// A library's short code (the tenant key), upper case so "bcu" and "BCU" are one library.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LibraryCode(String);

impl LibraryCode {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let t = s.trim().to_ascii_uppercase();
        // All allowed characters are ASCII, so the byte length is the character count.
        let ok = (2..=16).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(LibraryCode(t))
        } else {
            Err(IdentError::LibraryCode(quoted(s)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_ident!(LibraryCode);

/// An ISO 18626 agency id: type (ISIL, OCLC, a national scheme) and value. The type is kept in
/// upper case; the value as given, since schemes differ on whether its case matters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgencyId {
    pub agency_type: String,
    pub value: String,
}

impl AgencyId {
    /// Accepts "ISIL:CN-100000"; the value may itself contain ':'.
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let bad = || IdentError::AgencyId(quoted(s));
        let (t, v) = s.trim().split_once(':').ok_or_else(bad)?;
        if t.is_empty()
            || !t.chars().all(|c| c.is_ascii_alphanumeric())
            || v.is_empty()
            || v.chars().any(|c| c.is_whitespace() || c.is_control())
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
        s.collect_str(self)
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
    fn isbn10_and_13_of_one_book_are_equal() {
        let a = Isbn::parse("0-306-40615-2").unwrap();
        let b = Isbn::parse("978-0-306-40615-7").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_isbn13(), "9780306406157");
        assert_eq!(a.to_string(), "9780306406157");
        assert_eq!(a.as_isbn10().as_deref(), Some("0306406152"));
    }

    #[test]
    fn isbn_accepts_spaces_labels_and_a_lower_case_x() {
        for s in [
            "080442957X",
            "080442957x",
            "0 8044 2957 X",
            "ISBN 0-8044-2957-X",
            "isbn:080442957x",
            "ISBN-10: 0-8044-2957-X",
        ] {
            let isbn = Isbn::parse(s).unwrap();
            assert_eq!(isbn.as_isbn10().as_deref(), Some("080442957X"), "{s}");
        }
        assert_eq!(
            Isbn::parse("ISBN-13: 978-0-306-40615-7").unwrap().as_str(),
            "9780306406157"
        );
    }

    #[test]
    fn a_979_isbn_has_no_isbn10() {
        let isbn = Isbn::parse("979-10-90636-07-1").unwrap();
        assert_eq!(isbn.as_isbn10(), None);
    }

    #[test]
    fn a_wrong_isbn_check_digit_is_named() {
        let e = Isbn::parse("978-0-306-40615-3").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ISBN \"978-0-306-40615-3\": check digit is 3, expected 7"
        );
        assert_eq!(e.code(), "invalid_isbn");
        let e = Isbn::parse("0306406153").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ISBN \"0306406153\": check digit is 3, expected 2"
        );
    }

    #[test]
    fn isbns_of_the_wrong_shape_or_prefix_are_refused() {
        for s in [
            "",
            "123",
            "03064061522",
            "030640615a",
            "X306406152",
            "978030640615X",
        ] {
            assert!(
                matches!(Isbn::parse(s), Err(IdentError::IsbnShape(_))),
                "{s}"
            );
        }
        // A valid EAN-13, but a periodical's, not a book's.
        assert!(matches!(
            Isbn::parse("9770028083005"),
            Err(IdentError::IsbnPrefix(_))
        ));
    }

    #[test]
    fn issns_take_hyphen_or_not_and_show_it() {
        assert_eq!(Issn::parse("00280836").unwrap().as_str(), "0028-0836");
        assert_eq!(Issn::parse("0737-8831").unwrap().as_str(), "0737-8831");
        assert_eq!(Issn::parse("2434-561x").unwrap().to_string(), "2434-561X");
        assert_eq!(
            Issn::parse("ISSN: 0028-0836").unwrap().as_str(),
            "0028-0836"
        );
        let e = Issn::parse("0028-0837").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ISSN \"0028-0837\": check digit is 7, expected 6"
        );
        assert_eq!(e.code(), "invalid_issn");
        for s in ["0028-083", "0028-08366", "002a-0836", "0028-083Y"] {
            assert!(
                matches!(Issn::parse(s), Err(IdentError::IssnShape(_))),
                "{s}"
            );
        }
    }

    #[test]
    fn dois_lose_resolver_prefixes_and_case() {
        for s in [
            "10.1000/XYZ.123",
            "doi:10.1000/xyz.123",
            "DOI: 10.1000/xyz.123",
            "https://doi.org/10.1000/XYZ.123",
            "http://dx.doi.org/10.1000/xyz.123",
            "doi: https://doi.org/10.1000/xyz.123",
        ] {
            assert_eq!(Doi::parse(s).unwrap().as_str(), "10.1000/xyz.123", "{s}");
        }
        assert_eq!(
            Doi::parse("10.1000/ABC").unwrap(),
            Doi::parse("10.1000/abc").unwrap()
        );
        assert!(Doi::parse("10.1000.10/x").is_ok());
        for s in [
            "10.1000",
            "11.1000/x",
            "10./x",
            "10.abc/x",
            "10.1000/",
            "10.1000/a b",
        ] {
            let e = Doi::parse(s).unwrap_err();
            assert_eq!(e.code(), "invalid_doi", "{s}");
        }
    }

    #[test]
    fn pmids_are_short_positive_numbers() {
        assert_eq!(Pmid::parse("0012345").unwrap().as_str(), "12345");
        assert_eq!(Pmid::parse("PMID: 12345678").unwrap().as_str(), "12345678");
        for s in ["", "0", "000", "123456789", "12a", "-5", "1.5"] {
            assert_eq!(Pmid::parse(s).unwrap_err().code(), "invalid_pmid", "{s}");
        }
    }

    #[test]
    fn oclc_numbers_lose_their_prefixes() {
        for (s, want) in [
            ("(OCoLC)ocm00012345", "12345"),
            ("(OCoLC)00012345", "12345"),
            ("(ocolc) ocn123456789", "123456789"),
            ("ocn123", "123"),
            ("on1234567890", "1234567890"),
            ("42", "42"),
        ] {
            assert_eq!(OclcNumber::parse(s).unwrap().as_str(), want, "{s}");
        }
        for s in ["", "(OCoLC)", "ocm", "0", "12a", "(DLC)12345"] {
            let e = OclcNumber::parse(s).unwrap_err();
            assert_eq!(e.code(), "invalid_oclc_number", "{s}");
        }
    }

    #[test]
    fn library_codes_are_short_and_upper_case() {
        assert_eq!(LibraryCode::parse(" bcu ").unwrap().as_str(), "BCU");
        assert_eq!(LibraryCode::parse("cn-100_a").unwrap().as_str(), "CN-100_A");
        assert!(LibraryCode::parse("AB").is_ok());
        assert!(LibraryCode::parse("ABCDEFGHIJKLMNOP").is_ok());
        for s in ["A", "ABCDEFGHIJKLMNOPQ", "a b", "BCU!", "北大", "ÄB"] {
            let e = LibraryCode::parse(s).unwrap_err();
            assert_eq!(e.code(), "invalid_library_code", "{s}");
        }
    }

    #[test]
    fn agency_ids_are_type_and_value() {
        let a = AgencyId::parse("isil:CN-100000").unwrap();
        assert_eq!(a.agency_type, "ISIL");
        assert_eq!(a.value, "CN-100000");
        assert_eq!(a.to_string(), "ISIL:CN-100000");
        assert_eq!(AgencyId::parse("OCLC:a:b").unwrap().value, "a:b");
        for s in [
            "ISIL",
            ":CN-1",
            "ISIL:",
            "IS IL:CN",
            "ISIL:CN 1",
            "IS-IL:CN",
        ] {
            let e = AgencyId::parse(s).unwrap_err();
            assert_eq!(e.code(), "invalid_agency_id", "{s}");
        }
    }

    #[test]
    fn from_str_is_parse() {
        let isbn: Isbn = "0306406152".parse().unwrap();
        assert_eq!(isbn.as_str(), "9780306406157");
        let code: Result<LibraryCode, _> = "x".parse();
        assert!(code.is_err());
        let agency: AgencyId = "ISIL:CN-1".parse().unwrap();
        assert_eq!(agency.value, "CN-1");
    }

    #[test]
    fn identifiers_are_json_strings_and_bad_ones_do_not_deserialize() {
        let isbn: Isbn = serde_json::from_str("\"0306406152\"").unwrap();
        assert_eq!(serde_json::to_string(&isbn).unwrap(), "\"9780306406157\"");
        assert!(serde_json::from_str::<Isbn>("\"9780306406158\"").is_err());
        assert!(serde_json::from_str::<Isbn>("9780306406157").is_err());
        let issn: Issn = serde_json::from_str("\"00280836\"").unwrap();
        assert_eq!(serde_json::to_string(&issn).unwrap(), "\"0028-0836\"");
        assert!(serde_json::from_str::<Issn>("\"0028-0837\"").is_err());
        let doi: Doi = serde_json::from_str("\"doi:10.1000/ABC\"").unwrap();
        assert_eq!(serde_json::to_string(&doi).unwrap(), "\"10.1000/abc\"");
        assert!(serde_json::from_str::<Doi>("\"x\"").is_err());
        assert!(serde_json::from_str::<Pmid>("\"0\"").is_err());
        assert!(serde_json::from_str::<OclcNumber>("\"ocm\"").is_err());
        assert!(serde_json::from_str::<LibraryCode>("\"a b\"").is_err());
        let agency: AgencyId = serde_json::from_str("\"isil:CN-1\"").unwrap();
        assert_eq!(serde_json::to_string(&agency).unwrap(), "\"ISIL:CN-1\"");
        assert!(serde_json::from_str::<AgencyId>("\"ISIL\"").is_err());
    }

    #[test]
    fn long_input_is_quoted_short() {
        let junk = "9".repeat(10_000);
        let msg = Isbn::parse(&junk).unwrap_err().to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.contains('…'));
    }

    fn digits_to_string(d: &[u32]) -> String {
        d.iter()
            .map(|x| char::from_digit(*x, 10).unwrap())
            .collect()
    }

    fn isbn10() -> impl Strategy<Value = String> {
        proptest::collection::vec(0u32..10, 9).prop_map(|d| {
            let mut s = digits_to_string(&d);
            s.push(mod11_check(&d));
            s
        })
    }

    fn isbn13() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just(8u32), Just(9u32)],
            proptest::collection::vec(0u32..10, 9),
        )
            .prop_map(|(third, rest)| {
                let mut d = vec![9, 7, third];
                d.extend(rest);
                let mut s = digits_to_string(&d);
                s.push(isbn13_check(&d));
                s
            })
    }

    fn issn() -> impl Strategy<Value = String> {
        proptest::collection::vec(0u32..10, 7).prop_map(|d| {
            let mut s = digits_to_string(&d);
            s.push(mod11_check(&d));
            s
        })
    }

    /// `s` with the character at `pos` replaced by a different digit.
    fn one_digit_changed(s: &str, pos: usize, delta: u32) -> String {
        let mut chars: Vec<char> = s.chars().collect();
        let pos = pos % chars.len();
        let new = match chars[pos].to_digit(10) {
            Some(d) => (d + delta) % 10,
            // The check was X (10): every digit differs from it.
            None => delta % 10,
        };
        chars[pos] = char::from_digit(new, 10).unwrap();
        chars.into_iter().collect()
    }

    /// Any text, and text close enough to identifiers to get past the first checks.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[0-9Xx :()-]{0,20}",
            "(?i)(isbn|issn|pmid|doi|ocm|10\\.)[0-9./a-z -]{0,16}",
        ]
    }

    /// Refused, or parsed to a value whose printed form parses to the same value.
    fn reparses<T: fmt::Display + PartialEq>(
        parse: fn(&str) -> Result<T, IdentError>,
        s: &str,
    ) -> bool {
        match parse(s) {
            Ok(v) => parse(&v.to_string()).is_ok_and(|again| again == v),
            Err(_) => true,
        }
    }

    proptest! {
        #[test]
        fn every_valid_isbn10_converts_to_a_valid_isbn13(s in isbn10()) {
            let isbn = Isbn::parse(&s).unwrap();
            prop_assert_eq!(Isbn::parse(isbn.as_isbn13()).unwrap(), isbn.clone());
            prop_assert_eq!(isbn.as_isbn10().unwrap(), s.clone());
            // Lower-case x and hyphens are the same ISBN.
            let printed = format!("{}-{}-{}", &s[..1], &s[1..5], s[5..].to_ascii_lowercase());
            prop_assert_eq!(Isbn::parse(&printed).unwrap(), isbn);
        }

        #[test]
        fn every_valid_isbn13_parses_to_itself(s in isbn13()) {
            let isbn = Isbn::parse(&s).unwrap();
            prop_assert_eq!(isbn.as_str(), s.as_str());
            if let Some(ten) = isbn.as_isbn10() {
                prop_assert_eq!(Isbn::parse(&ten).unwrap(), isbn);
            }
        }

        #[test]
        fn changing_one_digit_of_an_isbn10_is_refused(
            s in isbn10(), pos in 0usize..10, delta in 1u32..10
        ) {
            prop_assert!(Isbn::parse(&one_digit_changed(&s, pos, delta)).is_err());
        }

        #[test]
        fn changing_one_digit_of_an_isbn13_is_refused(
            s in isbn13(), pos in 0usize..13, delta in 1u32..10
        ) {
            prop_assert!(Isbn::parse(&one_digit_changed(&s, pos, delta)).is_err());
        }

        #[test]
        fn every_valid_issn_parses_and_one_changed_digit_is_refused(
            s in issn(), pos in 0usize..8, delta in 1u32..10
        ) {
            let parsed = Issn::parse(&s).unwrap();
            prop_assert_eq!(parsed.as_str().replace('-', ""), s.clone());
            prop_assert!(Issn::parse(&one_digit_changed(&s, pos, delta)).is_err());
        }

        #[test]
        fn arbitrary_text_never_panics_and_what_parses_reparses(s in text()) {
            prop_assert!(reparses(Isbn::parse, &s));
            prop_assert!(reparses(Issn::parse, &s));
            prop_assert!(reparses(Doi::parse, &s));
            prop_assert!(reparses(Pmid::parse, &s));
            prop_assert!(reparses(OclcNumber::parse, &s));
            prop_assert!(reparses(LibraryCode::parse, &s));
            prop_assert!(reparses(AgencyId::parse, &s));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = String::from_utf8_lossy(&b);
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
