//! What a reader asks for: the request format and the citation, parsed from loose input into
//! checked types, with every bad field reported at once.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::ident::{Doi, Isbn, Issn, OclcNumber, Pmid};
use crate::money::{Currency, Money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestFormat {
    Loan,
    ArticleCopy,
    ChapterCopy,
}

impl RequestFormat {
    pub fn is_copy(self) -> bool {
        !matches!(self, RequestFormat::Loan)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestFormat::Loan => "loan",
            RequestFormat::ArticleCopy => "article_copy",
            RequestFormat::ChapterCopy => "chapter_copy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RequestFormat::Loan,
            RequestFormat::ArticleCopy,
            RequestFormat::ChapterCopy,
        ]
        .into_iter()
        .find(|f| f.as_str() == s.trim())
    }
}

/// A checked citation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The journal or book an article or chapter is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place_of_publication: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isbn: Option<Isbn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issn: Option<Issn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doi: Option<Doi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pmid: Option<Pmid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oclc_number: Option<OclcNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_by: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patron_note: Option<String>,
    #[serde(default)]
    pub copyright_declaration: bool,
}

impl Citation {
    /// Normalised title (lower case, letters and digits only, first 64 characters) and year,
    /// for spotting the same work asked for twice.
    pub fn dedup_key(&self) -> String {
        let title: String = self
            .title
            .as_deref()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .take(64)
            .collect();
        format!("{title}|{}", self.year.as_deref().unwrap_or_default())
    }
}

/// One thing wrong with the input, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// e.g. `citation.isbn`
    pub field: &'static str,
    /// e.g. `required`, `invalid_isbn`, `too_long`
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyInput {
    pub amount: String,
    pub currency: String,
}

/// A citation as it arrives (JSON form, OpenURL): every field loose text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CitationInput {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub source_title: Option<String>,
    #[serde(default)]
    pub volume: Option<String>,
    #[serde(default)]
    pub issue: Option<String>,
    #[serde(default)]
    pub year: Option<String>,
    #[serde(default)]
    pub pages: Option<String>,
    #[serde(default)]
    pub edition: Option<String>,
    #[serde(default)]
    pub publisher: Option<String>,
    #[serde(default)]
    pub place_of_publication: Option<String>,
    #[serde(default)]
    pub isbn: Option<String>,
    #[serde(default)]
    pub issn: Option<String>,
    #[serde(default)]
    pub doi: Option<String>,
    #[serde(default)]
    pub pmid: Option<String>,
    #[serde(default)]
    pub oclc_number: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// YYYY-MM-DD
    #[serde(default)]
    pub need_by: Option<String>,
    #[serde(default)]
    pub max_cost: Option<MoneyInput>,
    #[serde(default)]
    pub patron_note: Option<String>,
    #[serde(default)]
    pub copyright_declaration: Option<bool>,
}

const MAX_TEXT: usize = 1000;
const MAX_TITLE: usize = 2000;

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn err(&mut self, field: &'static str, code: &'static str, message: String) {
        self.errors.push(FieldError {
            field,
            code,
            message,
        });
    }

    /// Trimmed text, empty as absent, at most `max` characters (not bytes: 书名 is two).
    fn text(&mut self, field: &'static str, v: Option<String>, max: usize) -> Option<String> {
        let v = clean(v)?;
        if v.chars().count() > max {
            self.err(
                field,
                "too_long",
                format!("{field} is longer than {max} characters"),
            );
            return None;
        }
        Some(v)
    }

    fn ident<T, E: std::fmt::Display>(
        &mut self,
        field: &'static str,
        code: &'static str,
        v: Option<String>,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        let v = clean(v)?;
        match parse(&v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(field, code, e.to_string());
                None
            }
        }
    }
}

/// Pages like "12-34", "e123", "S1-S9", "xii-xx": anything short with a digit or a roman numeral.
fn pages_ok(p: &str) -> bool {
    p.chars().count() <= 50
        && (p.chars().any(|c| c.is_ascii_digit())
            || p.chars().any(|c| {
                matches!(
                    c.to_ascii_lowercase(),
                    'i' | 'v' | 'x' | 'l' | 'c' | 'd' | 'm'
                )
            }))
}

impl CitationInput {
    /// Check and convert; every bad field is reported, not just the first.
    pub fn validate(self, format: RequestFormat, today: Date) -> Result<Citation, Vec<FieldError>> {
        let mut c = Checker { errors: Vec::new() };
        let title = c.text("citation.title", self.title, MAX_TITLE);
        if title.is_none() && !c.errors.iter().any(|e| e.field == "citation.title") {
            let what = if format.is_copy() {
                "the article or chapter title"
            } else {
                "the title"
            };
            c.err("citation.title", "required", format!("{what} is required"));
        }
        let source_title = c.text("citation.source_title", self.source_title, MAX_TITLE);
        if format == RequestFormat::ArticleCopy
            && source_title.is_none()
            && !c.errors.iter().any(|e| e.field == "citation.source_title")
        {
            c.err(
                "citation.source_title",
                "required",
                "the journal title is required for an article copy".to_owned(),
            );
        }
        let year = c.text("citation.year", self.year, 20);
        if let Some(y) = &year {
            let max = today.year() + 1;
            match y.parse::<i32>() {
                Ok(n) if (1000..=max).contains(&n) => {}
                _ => c.err(
                    "citation.year",
                    "invalid_year",
                    format!("year {y:?} must be a year from 1000 to {max}"),
                ),
            }
        }
        let pages = c.text("citation.pages", self.pages, 50);
        if let Some(p) = pages.as_ref().filter(|p| !pages_ok(p)) {
            c.err(
                "citation.pages",
                "invalid_pages",
                format!("pages {p:?} should look like 12-34"),
            );
        }
        let need_by = match clean(self.need_by) {
            None => None,
            Some(d) => match Date::parse(
                &d,
                time::macros::format_description!("[year]-[month]-[day]"),
            ) {
                Ok(date) if date < today => {
                    c.err(
                        "citation.need_by",
                        "in_the_past",
                        format!("need-by date {d} is in the past"),
                    );
                    None
                }
                Ok(date) => Some(date),
                Err(_) => {
                    c.err(
                        "citation.need_by",
                        "invalid_date",
                        format!("need-by date {d:?} must be YYYY-MM-DD"),
                    );
                    None
                }
            },
        };
        let max_cost = match self.max_cost {
            None => None,
            Some(m) => match Currency::parse(&m.currency)
                .map_err(|e| e.to_string())
                .and_then(|cur| Money::parse_decimal(&m.amount, cur).map_err(|e| e.to_string()))
            {
                Ok(money) if money.minor < 0 => {
                    c.err(
                        "citation.max_cost",
                        "negative",
                        "the maximum cost cannot be negative".to_owned(),
                    );
                    None
                }
                Ok(money) => Some(money),
                Err(e) => {
                    c.err("citation.max_cost", "invalid_money", e);
                    None
                }
            },
        };
        let citation = Citation {
            author: c.text("citation.author", self.author, MAX_TEXT),
            volume: c.text("citation.volume", self.volume, 50),
            issue: c.text("citation.issue", self.issue, 50),
            edition: c.text("citation.edition", self.edition, 100),
            publisher: c.text("citation.publisher", self.publisher, MAX_TEXT),
            place_of_publication: c.text(
                "citation.place_of_publication",
                self.place_of_publication,
                MAX_TEXT,
            ),
            isbn: c.ident("citation.isbn", "invalid_isbn", self.isbn, Isbn::parse),
            issn: c.ident("citation.issn", "invalid_issn", self.issn, Issn::parse),
            doi: c.ident("citation.doi", "invalid_doi", self.doi, Doi::parse),
            pmid: c.ident("citation.pmid", "invalid_pmid", self.pmid, Pmid::parse),
            oclc_number: c.ident(
                "citation.oclc_number",
                "invalid_oclc_number",
                self.oclc_number,
                OclcNumber::parse,
            ),
            language: c.text("citation.language", self.language, 50),
            patron_note: c.text("citation.patron_note", self.patron_note, MAX_TEXT),
            copyright_declaration: self.copyright_declaration.unwrap_or(false),
            title,
            source_title,
            year,
            pages,
            need_by,
            max_cost,
        };
        if c.errors.is_empty() {
            Ok(citation)
        } else {
            Err(c.errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2026 - 11 - 23);

    fn input(title: &str) -> CitationInput {
        CitationInput {
            title: Some(title.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn three_bad_fields_give_three_errors() {
        let bad = CitationInput {
            title: Some("  ".into()),
            isbn: Some("978-0-306-40615-3".into()),
            year: Some("20x6".into()),
            ..Default::default()
        };
        let errs = bad.validate(RequestFormat::Loan, TODAY).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(fields.len(), 3, "{errs:?}");
        assert!(fields.contains(&("citation.title", "required")));
        assert!(fields.contains(&("citation.isbn", "invalid_isbn")));
        assert!(fields.contains(&("citation.year", "invalid_year")));
    }

    #[test]
    fn an_article_needs_its_journal() {
        let errs = input("An article")
            .validate(RequestFormat::ArticleCopy, TODAY)
            .unwrap_err();
        assert_eq!(errs[0].field, "citation.source_title");
        let ok = CitationInput {
            source_title: Some("Nature".into()),
            ..input("An article")
        };
        assert!(ok.validate(RequestFormat::ArticleCopy, TODAY).is_ok());
        assert!(
            input("A chapter")
                .validate(RequestFormat::ChapterCopy, TODAY)
                .is_ok()
        );
    }

    #[test]
    fn chinese_titles_count_characters_not_bytes() {
        let t = "书".repeat(1500);
        let c = input(&t).validate(RequestFormat::Loan, TODAY).unwrap();
        assert_eq!(c.title.unwrap().chars().count(), 1500);
        let long = "书".repeat(2001);
        assert_eq!(
            input(&long)
                .validate(RequestFormat::Loan, TODAY)
                .unwrap_err()[0]
                .code,
            "too_long"
        );
    }

    #[test]
    fn pages_dates_and_money() {
        for p in ["12-34", "e123", "S1-S9", "xii-xx"] {
            let c = CitationInput {
                pages: Some(p.into()),
                ..input("t")
            };
            assert!(c.validate(RequestFormat::Loan, TODAY).is_ok(), "{p}");
        }
        let c = CitationInput {
            pages: Some("---".into()),
            ..input("t")
        };
        assert!(c.validate(RequestFormat::Loan, TODAY).is_err());
        let c = CitationInput {
            need_by: Some("2026-11-01".into()),
            ..input("t")
        };
        assert_eq!(
            c.validate(RequestFormat::Loan, TODAY).unwrap_err()[0].code,
            "in_the_past"
        );
        let c = CitationInput {
            need_by: Some("2026-12-01".into()),
            ..input("t")
        };
        assert_eq!(
            c.validate(RequestFormat::Loan, TODAY).unwrap().need_by,
            Some(date!(2026 - 12 - 01))
        );
        let c = CitationInput {
            max_cost: Some(MoneyInput {
                amount: "30.00".into(),
                currency: "CNY".into(),
            }),
            ..input("t")
        };
        assert_eq!(
            c.validate(RequestFormat::Loan, TODAY)
                .unwrap()
                .max_cost
                .unwrap()
                .minor,
            3000
        );
        let c = CitationInput {
            max_cost: Some(MoneyInput {
                amount: "-1".into(),
                currency: "CNY".into(),
            }),
            ..input("t")
        };
        assert_eq!(
            c.validate(RequestFormat::Loan, TODAY).unwrap_err()[0].code,
            "negative"
        );
    }

    #[test]
    fn the_dedup_key_ignores_case_and_punctuation() {
        let a = input("The Book: A Story")
            .validate(RequestFormat::Loan, TODAY)
            .unwrap();
        let b = input("the book -- a story")
            .validate(RequestFormat::Loan, TODAY)
            .unwrap();
        assert_eq!(a.dedup_key(), b.dedup_key());
    }
}
