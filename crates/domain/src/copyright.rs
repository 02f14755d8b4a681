//! Copyright compliance for article copies: the reader's declaration a library shows, the
//! journal a copy is counted under, and the "rule of five" (CONTU guidelines): within one
//! calendar year a library may receive at most five copies of articles less than five years old
//! from one journal; beyond that it clears copyright (pays a royalty, obtains permission, or a
//! person overrides with a reason) before the request goes out. Older articles are not counted
//! against the limit.

use serde::{Deserialize, Serialize};

use crate::citation::{Citation, FieldError, RequestFormat};
use crate::people::string_enum;

/// What the borrowing library tells the lender, in ISO 18626 `copyrightCompliance`; written
/// as the standard's codes in JSON too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComplianceCode {
    /// Complies with the copyright guidelines (the rule of five).
    #[serde(rename = "CCG")]
    Ccg,
    /// Complies with copyright law (fair use / the national exception), beyond the guidelines.
    #[serde(rename = "CCL")]
    Ccl,
}

impl ComplianceCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceCode::Ccg => "CCG",
            ComplianceCode::Ccl => "CCL",
        }
    }
}

/// A library's copyright terms (stored per library; a library without its own uses
/// `Default`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyrightSettings {
    /// The declaration a reader accepts on a copy request, in English.
    pub declaration_en: String,
    /// The same in Simplified Chinese.
    pub declaration_zh: String,
    /// Copies of recent articles per journal per calendar year before clearance is needed.
    pub limit: u32,
    /// Articles published fewer than this many years before the request count.
    pub window_years: u32,
    /// The code set on outgoing ISO 18626 requests.
    pub compliance: ComplianceCode,
    /// Earlier requests of the library this many days back are searched for duplicates.
    pub duplicate_window_days: u32,
}

impl Default for CopyrightSettings {
    fn default() -> Self {
        CopyrightSettings {
            declaration_en: "I declare that the copy is for my private study or research only, \
                             and that I will not pass it on or use it commercially."
                .to_owned(),
            declaration_zh: "本人声明：复制件仅用于个人学习或研究，不转发他人，不用于商业目的。"
                .to_owned(),
            limit: 5,
            window_years: 5,
            compliance: ComplianceCode::Ccg,
            duplicate_window_days: 365,
        }
    }
}

const MAX_DECLARATION: usize = 4000;

impl CopyrightSettings {
    /// Every field out of bounds, named.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        for (field, text) in [
            ("declaration_en", &self.declaration_en),
            ("declaration_zh", &self.declaration_zh),
        ] {
            let n = text.trim().chars().count();
            if n == 0 {
                out.push(FieldError::new(
                    field,
                    "required",
                    "the declaration text is empty",
                ));
            } else if n > MAX_DECLARATION {
                out.push(FieldError::new(
                    field,
                    "too_long",
                    format!("at most {MAX_DECLARATION} characters, not {n}"),
                ));
            }
        }
        if !(1..=100).contains(&self.limit) {
            out.push(FieldError::new("limit", "out_of_range", "1 to 100 copies"));
        }
        if !(1..=50).contains(&self.window_years) {
            out.push(FieldError::new(
                "window_years",
                "out_of_range",
                "1 to 50 years",
            ));
        }
        if !(1..=3650).contains(&self.duplicate_window_days) {
            out.push(FieldError::new(
                "duplicate_window_days",
                "out_of_range",
                "1 to 3650 days",
            ));
        }
        out
    }
}

/// The journal a copy is counted under: its ISSN, else its normalised title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    /// `issn:0022-0418` or `title:journalofdocumentation`.
    pub key: String,
    /// For people: the title as the reader wrote it, else the ISSN.
    pub label: String,
    pub issn: Option<String>,
}

/// The journal of an article copy; `None` for loans, chapters and citations naming no journal.
pub fn journal_of(format: RequestFormat, c: &Citation) -> Option<Journal> {
    if format != RequestFormat::ArticleCopy {
        return None;
    }
    let title = c
        .source_title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(issn) = &c.issn {
        return Some(Journal {
            key: format!("issn:{issn}"),
            label: title.map_or_else(|| issn.to_string(), str::to_owned),
            issn: Some(issn.to_string()),
        });
    }
    let title = title?;
    let norm = crate::duplicate::normalise_title(title);
    if norm.is_empty() {
        return None;
    }
    // A leading "the" is dropped: "The Lancet" and "Lancet" are one journal.
    let norm = norm
        .strip_prefix("the")
        .filter(|r| !r.is_empty())
        .unwrap_or(&norm);
    Some(Journal {
        key: format!("title:{norm}"),
        label: title.to_owned(),
        issn: None,
    })
}

/// The publication year of a citation: the first four-digit run that reads as a year.
pub fn publication_year(c: &Citation) -> Option<i32> {
    let y = c.year.as_deref()?;
    let digits: Vec<char> = y.chars().collect();
    digits.windows(4).find_map(|w| {
        if w.iter().all(char::is_ascii_digit) {
            let s: String = w.iter().collect();
            s.parse::<i32>().ok().filter(|y| (1000..=2999).contains(y))
        } else {
            None
        }
    })
}

/// What the rule says about one new copy request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// The article is recent enough to count against the limit (unknown years count: the
    /// library cannot show the article is old).
    pub counted: bool,
    /// Counted copies from this journal already this calendar year.
    pub earlier: u32,
    /// This copy would exceed the limit: clearance is needed before sending.
    pub over_limit: bool,
}

/// Apply the rule: `earlier` counted copies of the journal this year, the article from
/// `pub_year`, requested in `request_year`.
pub fn assess(
    s: &CopyrightSettings,
    pub_year: Option<i32>,
    request_year: i32,
    earlier: u32,
) -> Assessment {
    let counted = pub_year
        .is_none_or(|y| request_year - y < i32::try_from(s.window_years).unwrap_or(i32::MAX));
    Assessment {
        counted,
        earlier,
        over_limit: counted && earlier >= s.limit,
    }
}

string_enum!(
    /// Where a request stands with copyright.
    Clearance {
        /// Within the guidelines (or an older article): nothing to do.
        NotNeeded => "not_needed",
        /// Over the limit: staff must clear it before it is sent.
        Required => "required",
        /// Cleared: the library paid the royalty (e.g. through a rights agency).
        RoyaltyPaid => "royalty_paid",
        /// Cleared: the rights holder gave permission.
        Permission => "permission",
        /// Cleared: staff overrode the limit, with a reason.
        Override => "override",
    }
);

impl Clearance {
    /// Whether a request in this standing may be sent.
    pub fn allows_sending(self) -> bool {
        self != Clearance::Required
    }

    /// The ways staff may clear a request.
    pub fn is_clearing(self) -> bool {
        matches!(
            self,
            Clearance::RoyaltyPaid | Clearance::Permission | Clearance::Override
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::Issn;

    fn article(issn: Option<&str>, source: Option<&str>, year: &str) -> Citation {
        Citation {
            title: Some("A study".into()),
            source_title: source.map(Into::into),
            issn: issn.map(|i| Issn::parse(i).unwrap()),
            year: Some(year.into()),
            ..Citation::default()
        }
    }

    #[test]
    fn the_sixth_recent_copy_is_over_the_limit_and_older_articles_bypass() {
        let s = CopyrightSettings::default();
        assert!(!assess(&s, Some(2024), 2026, 4).over_limit);
        let sixth = assess(&s, Some(2024), 2026, 5);
        assert!(sixth.counted && sixth.over_limit);
        // 2021 is five years before 2026: no longer "less than five years old".
        let old = assess(&s, Some(2021), 2026, 50);
        assert!(!old.counted && !old.over_limit);
        assert!(assess(&s, Some(2022), 2026, 5).over_limit);
        assert!(assess(&s, None, 2026, 5).over_limit, "unknown year counts");
        let wide = CopyrightSettings {
            limit: 2,
            window_years: 10,
            ..s
        };
        assert!(assess(&wide, Some(2018), 2026, 2).over_limit);
    }

    #[test]
    fn journals_are_keyed_by_issn_else_normalised_title() {
        let a = journal_of(
            RequestFormat::ArticleCopy,
            &article(Some("0022-0418"), Some("J. Doc."), "2025"),
        )
        .unwrap();
        assert_eq!(a.key, "issn:0022-0418");
        assert_eq!(a.label, "J. Doc.");
        let b = journal_of(
            RequestFormat::ArticleCopy,
            &article(None, Some("The  LANCET."), "2025"),
        )
        .unwrap();
        let c = journal_of(
            RequestFormat::ArticleCopy,
            &article(None, Some("Lancet"), "2025"),
        )
        .unwrap();
        assert_eq!(b.key, c.key);
        let zh_t = journal_of(
            RequestFormat::ArticleCopy,
            &article(None, Some("圖書館雜誌"), "2025"),
        );
        let zh_s = journal_of(
            RequestFormat::ArticleCopy,
            &article(None, Some("图书馆杂志"), "2025"),
        );
        assert_eq!(zh_t.unwrap().key, zh_s.unwrap().key);
        assert!(
            journal_of(
                RequestFormat::Loan,
                &article(Some("0022-0418"), None, "2025")
            )
            .is_none()
        );
        assert!(journal_of(RequestFormat::ArticleCopy, &article(None, None, "2025")).is_none());
    }

    #[test]
    fn years_are_read_out_of_loose_text() {
        let y = |s: &str| publication_year(&article(None, None, s));
        assert_eq!(y("2024"), Some(2024));
        assert_eq!(y("c1998."), Some(1998));
        assert_eq!(y("Spring 2019"), Some(2019));
        assert_eq!(y("n.d."), None);
    }

    #[test]
    fn settings_are_bounded() {
        assert!(CopyrightSettings::default().validate().is_empty());
        let bad = CopyrightSettings {
            declaration_en: " ".into(),
            limit: 0,
            window_years: 0,
            duplicate_window_days: 0,
            ..CopyrightSettings::default()
        };
        let fields: Vec<_> = bad.validate().iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "declaration_en",
                "limit",
                "window_years",
                "duplicate_window_days"
            ]
        );
    }
}
