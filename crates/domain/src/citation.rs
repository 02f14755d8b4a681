//! What a reader asks for: the request format and the citation, parsed from loose input into
//! checked types, with every bad field reported at once so a form can mark them all.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::ident::{Doi, IdentError, Isbn, Issn, OclcNumber, Pmid};
use crate::money::{Currency, Money};

/// What kind of supply is asked for: the item itself, or a copy of part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestFormat {
    Loan,
    ArticleCopy,
    ChapterCopy,
}

impl RequestFormat {
    /// Copies are kept by the reader; only loans come back.
    pub fn is_copy(self) -> bool {
        !matches!(self, RequestFormat::Loan)
    }

    /// The serde name: "loan", "article_copy", "chapter_copy".
    pub fn as_str(self) -> &'static str {
        match self {
            RequestFormat::Loan => "loan",
            RequestFormat::ArticleCopy => "article_copy",
            RequestFormat::ChapterCopy => "chapter_copy",
        }
    }

    /// The format named by its serde name, surrounding spaces ignored.
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

impl fmt::Display for RequestFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// need_by is written "YYYY-MM-DD" whatever serde features `time` is built with: without
// `serde-human-readable` it would otherwise become a (year, ordinal) pair.
time::serde::format_description!(ymd, Date, "[year]-[month]-[day]");

/// A checked citation: identifiers are parsed, text is trimmed and within limits. Made by
/// [`CitationInput::validate`], or read back from storage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// For a copy, the article's or chapter's title.
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
    #[serde(default, with = "ymd::option", skip_serializing_if = "Option::is_none")]
    pub need_by: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patron_note: Option<String>,
    /// The reader declared the copy is for private study (copyright law asks for this).
    #[serde(default)]
    pub copyright_declaration: bool,
    /// The borrower asked for express service: sent to the lender as ISO 18626
    /// serviceLevel `Express` (a lender may charge its express fee).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub express: bool,
}

/// How much of the normalised title goes into the dedup key: enough to tell works apart,
/// short enough that a differing subtitle far down does not hide a duplicate.
const DEDUP_TITLE_CHARS: usize = 64;

/// Full-width ASCII ("ＡＢＣ１２３", common in Chinese input) as its ordinary form, so both
/// spellings of one title give the same key.
fn fold_width(c: char) -> char {
    if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
        char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)
    } else {
        c
    }
}

impl Citation {
    /// Normalised title (lower case, letters and digits only, first 64 characters), '|' and
    /// the year, for spotting the same work asked for twice.
    pub fn dedup_key(&self) -> String {
        let title: String = self
            .title
            .as_deref()
            .unwrap_or_default()
            .chars()
            .map(fold_width)
            .flat_map(char::to_lowercase)
            .filter(|c| c.is_alphanumeric())
            .take(DEDUP_TITLE_CHARS)
            .collect();
        format!("{title}|{}", self.year.as_deref().unwrap_or_default())
    }
}

/// One thing wrong with the input, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// e.g. `citation.isbn`
    pub field: &'static str,
    /// Stable, e.g. `required`, `invalid_isbn`, `too_long`; translations key on it.
    pub code: &'static str,
    /// Plain English, for the caller who has no translation of `code`.
    pub message: String,
    /// Chinese text for this one error, when it names particulars (an address, a library)
    /// that the translation keyed on `code` alone cannot; it then wins over that translation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_zh: Option<String>,
}

impl FieldError {
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            code,
            message: message.into(),
            message_zh: None,
        }
    }

    /// The same error with its own Chinese text (see `message_zh`).
    pub fn with_zh(mut self, zh: impl Into<String>) -> Self {
        self.message_zh = Some(zh.into());
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A maximum cost as typed: "30.00" and "CNY".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyInput {
    pub amount: String,
    pub currency: String,
}

/// A citation as it arrives (JSON form, OpenURL): every field loose text. Unknown fields are
/// refused so that a misspelt field name is an error, not a silently lost value.
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
    /// Ask the lender for express service (ISO 18626 serviceLevel `Express`).
    #[serde(default)]
    pub express: Option<bool>,
}

/// Limits in characters, not bytes: a Chinese title is three bytes a character in UTF-8 and
/// must not get a third of the room an English one gets.
const MAX_TEXT: usize = 1000;
const MAX_TITLE: usize = 2000;
const MAX_PAGES: usize = 50;

/// Trimmed, without control characters, empty as absent. Control characters are dropped, not
/// refused: they arrive invisibly from copy and paste, and PostgreSQL refuses NUL in text and
/// JSONB. Newlines and tabs stay, since a note may have lines.
fn clean(v: Option<String>) -> Option<String> {
    let v = v?;
    let kept: String = v
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    let t = kept.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Collects errors while the fields are checked one by one, in the order a form shows them.
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn err(&mut self, field: &'static str, code: &'static str, message: String) {
        self.errors.push(FieldError {
            field,
            code,
            message,
            message_zh: None,
        });
    }

    fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }

    /// Clean text of at most `max` characters.
    fn text(&mut self, field: &'static str, v: Option<String>, max: usize) -> Option<String> {
        let v = clean(v)?;
        let len = v.chars().count();
        if len > max {
            let name = field.trim_start_matches("citation.");
            self.err(
                field,
                "too_long",
                format!("{name} has {len} characters; at most {max} are allowed"),
            );
            return None;
        }
        Some(v)
    }

    /// Text that must be there; `what` names it in the message.
    fn required(
        &mut self,
        field: &'static str,
        v: Option<String>,
        max: usize,
        what: &str,
    ) -> Option<String> {
        let v = self.text(field, v, max);
        if v.is_none() && !self.has_error(field) {
            self.err(field, "required", format!("{what} is required"));
        }
        v
    }

    /// An identifier through its parser; the error's own code and message are passed on.
    fn ident<T>(
        &mut self,
        field: &'static str,
        v: Option<String>,
        parse: impl Fn(&str) -> Result<T, IdentError>,
    ) -> Option<T> {
        let v = clean(v)?;
        match parse(&v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(field, e.code(), e.to_string());
                None
            }
        }
    }

    fn year(&mut self, v: Option<String>, today: Date) -> Option<String> {
        const FIELD: &str = "citation.year";
        let y = clean(v)?;
        let max = today.year() + 1;
        // Digits only: "c1999", "1999-2001" and "+1999" are not a year we can compare.
        let n = (y.len() <= 4 && y.chars().all(|c| c.is_ascii_digit()))
            .then(|| y.parse::<i32>().ok())
            .flatten();
        match n {
            Some(n) if (1000..=max).contains(&n) => Some(y),
            _ => {
                self.err(
                    FIELD,
                    "invalid_year",
                    format!("year {:?} must be a year from 1000 to {max}", shown(&y)),
                );
                None
            }
        }
    }

    fn pages(&mut self, v: Option<String>) -> Option<String> {
        let p = self.text("citation.pages", v, MAX_PAGES)?;
        if pages_ok(&p) {
            Some(p)
        } else {
            self.err(
                "citation.pages",
                "invalid_pages",
                format!("pages {p:?} should be page numbers such as 12-34, e123 or xii-xx"),
            );
            None
        }
    }

    fn need_by(&mut self, v: Option<String>, today: Date) -> Option<Date> {
        const FIELD: &str = "citation.need_by";
        let d = clean(v)?;
        match Date::parse(
            &d,
            time::macros::format_description!("[year]-[month]-[day]"),
        ) {
            Ok(date) if date < today => {
                self.err(
                    FIELD,
                    "in_the_past",
                    format!("need-by date {d} is in the past (today is {today})"),
                );
                None
            }
            Ok(date) => Some(date),
            Err(_) => {
                self.err(
                    FIELD,
                    "invalid_date",
                    format!(
                        "need-by date {:?} must be a date written YYYY-MM-DD",
                        shown(&d)
                    ),
                );
                None
            }
        }
    }

    fn max_cost(&mut self, v: Option<MoneyInput>) -> Option<Money> {
        const FIELD: &str = "citation.max_cost";
        let m = v?;
        // A form sends an empty amount (with its currency preselected) for "no limit".
        let amount = clean(Some(m.amount))?;
        let parsed =
            Currency::parse(&m.currency).and_then(|cur| Money::parse_decimal(&amount, cur));
        match parsed {
            Ok(money) if money.is_negative() => {
                self.err(
                    FIELD,
                    "negative",
                    format!("maximum cost {money} cannot be negative"),
                );
                None
            }
            Ok(money) => Some(money),
            Err(e) => {
                self.err(FIELD, "invalid_money", format!("maximum cost: {e}"));
                None
            }
        }
    }
}

/// At most this much of a bad value is quoted back.
fn shown(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut short: String = s.chars().take(MAX).collect();
        short.push('…');
        short
    }
}

fn roman_digit(c: char) -> Option<u32> {
    Some(match c.to_ascii_lowercase() {
        'i' => 1,
        'v' => 5,
        'x' => 10,
        'l' => 50,
        'c' => 100,
        'd' => 500,
        'm' => 1000,
        _ => return None,
    })
}

/// A roman numeral in its usual form ("xii", "XLIV"), as front matter is paged. Checked by
/// writing its value back out: "mild" has roman letters but is no numeral, "mcdxlix" would be.
fn is_roman(token: &str) -> bool {
    let Some(values) = token.chars().map(roman_digit).collect::<Option<Vec<u32>>>() else {
        return false;
    };
    if values.is_empty() || values.len() > 15 {
        return false;
    }
    let mut total: i64 = 0;
    for (i, v) in values.iter().enumerate() {
        let v = i64::from(*v);
        if values.get(i + 1).is_some_and(|next| i64::from(*next) > v) {
            total -= v;
        } else {
            total += v;
        }
    }
    if !(1..4000).contains(&total) {
        return false;
    }
    const TABLE: [(i64, &str); 13] = [
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    ];
    let mut canonical = String::new();
    for (value, letters) in TABLE {
        while total >= value {
            canonical.push_str(letters);
            total -= value;
        }
    }
    canonical == token.to_ascii_lowercase()
}

/// Pages are cited every which way ("12-34", "e123", "S1-S9", "xii-xx", "pp. 5, 9"), so only
/// text with no page number in it at all is refused: no digit and no roman numeral.
fn pages_ok(p: &str) -> bool {
    p.chars().any(|c| c.is_ascii_digit()) || p.split(|c: char| !c.is_alphabetic()).any(is_roman)
}

impl CitationInput {
    /// Check and convert, trimming text and treating empty as absent. Every bad field is
    /// reported, not just the first, in the order of the fields. `today` is passed in (the
    /// library's local date) so that this stays a pure function.
    pub fn validate(self, format: RequestFormat, today: Date) -> Result<Citation, Vec<FieldError>> {
        let mut c = Checker { errors: Vec::new() };
        let title_what = match format {
            RequestFormat::Loan => "the title",
            RequestFormat::ArticleCopy => "the article title",
            RequestFormat::ChapterCopy => "the chapter title",
        };
        let title = c.required("citation.title", self.title, MAX_TITLE, title_what);
        let author = c.text("citation.author", self.author, MAX_TEXT);
        // A journal title is a title too, and as long-winded as a book's.
        let source_title = if format == RequestFormat::ArticleCopy {
            c.required(
                "citation.source_title",
                self.source_title,
                MAX_TITLE,
                "the journal title (for an article copy)",
            )
        } else {
            c.text("citation.source_title", self.source_title, MAX_TITLE)
        };
        let citation = Citation {
            title,
            author,
            source_title,
            volume: c.text("citation.volume", self.volume, MAX_TEXT),
            issue: c.text("citation.issue", self.issue, MAX_TEXT),
            year: c.year(self.year, today),
            pages: c.pages(self.pages),
            edition: c.text("citation.edition", self.edition, MAX_TEXT),
            publisher: c.text("citation.publisher", self.publisher, MAX_TEXT),
            place_of_publication: c.text(
                "citation.place_of_publication",
                self.place_of_publication,
                MAX_TEXT,
            ),
            isbn: c.ident("citation.isbn", self.isbn, Isbn::parse),
            issn: c.ident("citation.issn", self.issn, Issn::parse),
            doi: c.ident("citation.doi", self.doi, Doi::parse),
            pmid: c.ident("citation.pmid", self.pmid, Pmid::parse),
            oclc_number: c.ident("citation.oclc_number", self.oclc_number, OclcNumber::parse),
            language: c.text("citation.language", self.language, MAX_TEXT),
            need_by: c.need_by(self.need_by, today),
            max_cost: c.max_cost(self.max_cost),
            patron_note: c.text("citation.patron_note", self.patron_note, MAX_TEXT),
            copyright_declaration: self.copyright_declaration.unwrap_or(false),
            express: self.express.unwrap_or(false),
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
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2026 - 11 - 23);

    fn input(title: &str) -> CitationInput {
        CitationInput {
            title: Some(title.to_owned()),
            ..Default::default()
        }
    }

    fn ok(i: CitationInput) -> Citation {
        i.validate(RequestFormat::Loan, TODAY).unwrap()
    }

    /// The (field, code) pairs of a refused input.
    fn refused(i: CitationInput, format: RequestFormat) -> Vec<(&'static str, &'static str)> {
        i.validate(format, TODAY)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    fn loan_refused(i: CitationInput) -> Vec<(&'static str, &'static str)> {
        refused(i, RequestFormat::Loan)
    }

    #[test]
    fn request_formats_are_snake_case() {
        assert_eq!(
            serde_json::to_string(&RequestFormat::ArticleCopy).unwrap(),
            "\"article_copy\""
        );
        let f: RequestFormat = serde_json::from_str("\"chapter_copy\"").unwrap();
        assert_eq!(f, RequestFormat::ChapterCopy);
        assert!(serde_json::from_str::<RequestFormat>("\"ArticleCopy\"").is_err());
        assert_eq!(RequestFormat::parse(" loan "), Some(RequestFormat::Loan));
        assert_eq!(RequestFormat::parse("microfilm"), None);
        assert_eq!(RequestFormat::ChapterCopy.to_string(), "chapter_copy");
        assert!(!RequestFormat::Loan.is_copy());
        assert!(RequestFormat::ArticleCopy.is_copy());
        assert!(RequestFormat::ChapterCopy.is_copy());
    }

    #[test]
    fn three_bad_fields_give_three_errors_in_field_order() {
        let bad = CitationInput {
            title: Some("  ".into()),
            isbn: Some("978-0-306-40615-3".into()),
            year: Some("20x6".into()),
            ..Default::default()
        };
        assert_eq!(
            loan_refused(bad),
            [
                ("citation.title", "required"),
                ("citation.year", "invalid_year"),
                ("citation.isbn", "invalid_isbn"),
            ]
        );
    }

    #[test]
    fn messages_say_what_is_wrong_in_plain_words() {
        let bad = CitationInput {
            isbn: Some("978-0-306-40615-3".into()),
            ..input("t")
        };
        let errs = bad.validate(RequestFormat::Loan, TODAY).unwrap_err();
        assert_eq!(
            errs[0].message,
            "ISBN \"978-0-306-40615-3\": check digit is 3, expected 7"
        );
        assert_eq!(
            serde_json::to_value(&errs[0]).unwrap(),
            serde_json::json!({
                "field": "citation.isbn",
                "code": "invalid_isbn",
                "message": "ISBN \"978-0-306-40615-3\": check digit is 3, expected 7",
            })
        );
    }

    #[test]
    fn a_title_is_required_and_named_for_the_format() {
        let errs = CitationInput::default()
            .validate(RequestFormat::ChapterCopy, TODAY)
            .unwrap_err();
        assert_eq!(
            (errs[0].field, errs[0].code),
            ("citation.title", "required")
        );
        assert_eq!(errs[0].message, "the chapter title is required");
        assert_eq!(
            loan_refused(input(" \t\n ")),
            [("citation.title", "required")]
        );
    }

    #[test]
    fn an_article_needs_its_journal_and_a_chapter_does_not() {
        assert_eq!(
            refused(input("An article"), RequestFormat::ArticleCopy),
            [("citation.source_title", "required")]
        );
        let with_journal = CitationInput {
            source_title: Some("Nature".into()),
            ..input("An article")
        };
        let c = with_journal
            .validate(RequestFormat::ArticleCopy, TODAY)
            .unwrap();
        assert_eq!(c.source_title.as_deref(), Some("Nature"));
        assert!(
            input("A chapter")
                .validate(RequestFormat::ChapterCopy, TODAY)
                .is_ok()
        );
    }

    #[test]
    fn text_is_trimmed_and_empty_text_is_absent() {
        let c = ok(CitationInput {
            author: Some("  Lu Xun \n".into()),
            publisher: Some("   ".into()),
            volume: Some(String::new()),
            ..input("  Call to Arms  ")
        });
        assert_eq!(c.title.as_deref(), Some("Call to Arms"));
        assert_eq!(c.author.as_deref(), Some("Lu Xun"));
        assert_eq!((c.publisher, c.volume), (None, None));
    }

    #[test]
    fn control_characters_are_dropped_but_lines_kept() {
        let c = ok(CitationInput {
            patron_note: Some("first line\nsecond\u{0} line".into()),
            ..input("A\u{0}B\u{7}C")
        });
        assert_eq!(c.title.as_deref(), Some("ABC"));
        assert_eq!(c.patron_note.as_deref(), Some("first line\nsecond line"));
        assert_eq!(
            loan_refused(input("\u{0}\u{1b}")),
            [("citation.title", "required")]
        );
    }

    #[test]
    fn a_chinese_title_is_accepted_and_counted_in_characters() {
        let c = ok(input("书名"));
        assert_eq!(c.title.as_deref(), Some("书名"));
        // 2000 characters are 6000 bytes: still within the limit.
        let t = "书".repeat(MAX_TITLE);
        assert_eq!(ok(input(&t)).title.unwrap().chars().count(), MAX_TITLE);
        let long = "书".repeat(MAX_TITLE + 1);
        let errs = input(&long)
            .validate(RequestFormat::Loan, TODAY)
            .unwrap_err();
        assert_eq!(
            (errs[0].field, errs[0].code),
            ("citation.title", "too_long")
        );
        assert_eq!(
            errs[0].message,
            "title has 2001 characters; at most 2000 are allowed"
        );
    }

    #[test]
    fn other_text_fields_are_limited_to_1000_characters() {
        let at_limit = "a".repeat(MAX_TEXT);
        let over = "名".repeat(MAX_TEXT + 1);
        assert!(
            ok(CitationInput {
                author: Some(at_limit.clone()),
                patron_note: Some(at_limit),
                ..input("t")
            })
            .author
            .is_some()
        );
        let errs = loan_refused(CitationInput {
            author: Some(over.clone()),
            publisher: Some(over.clone()),
            patron_note: Some(over),
            ..input("t")
        });
        assert_eq!(
            errs,
            [
                ("citation.author", "too_long"),
                ("citation.publisher", "too_long"),
                ("citation.patron_note", "too_long"),
            ]
        );
    }

    #[test]
    fn years_run_from_1000_to_next_year() {
        for y in ["1000", "1999", "2026", "2027", " 2020 "] {
            let c = ok(CitationInput {
                year: Some(y.into()),
                ..input("t")
            });
            assert_eq!(c.year.as_deref(), Some(y.trim()));
        }
        for y in [
            "999",
            "0999",
            "2028",
            "20x6",
            "+2020",
            "c1999",
            "1999-2001",
            "99999999999",
        ] {
            let errs = loan_refused(CitationInput {
                year: Some(y.into()),
                ..input("t")
            });
            assert_eq!(errs, [("citation.year", "invalid_year")], "{y}");
        }
        let errs = CitationInput {
            year: Some("2028".into()),
            ..input("t")
        }
        .validate(RequestFormat::Loan, TODAY)
        .unwrap_err();
        assert_eq!(
            errs[0].message,
            "year \"2028\" must be a year from 1000 to 2027"
        );
    }

    #[test]
    fn pages_are_refused_only_when_there_is_no_page_number() {
        for p in [
            "12-34", "e123", "S1-S9", "xii-xx", "XIV", "pp. 5, 9", "12–34", "p. iv",
        ] {
            let c = ok(CitationInput {
                pages: Some(p.into()),
                ..input("t")
            });
            assert_eq!(c.pages.as_deref(), Some(p), "{p}");
        }
        for p in ["---", "hello", "passim", "mild", "iiii"] {
            let errs = loan_refused(CitationInput {
                pages: Some(p.into()),
                ..input("t")
            });
            assert_eq!(errs, [("citation.pages", "invalid_pages")], "{p}");
        }
        let errs = loan_refused(CitationInput {
            pages: Some("1-".repeat(26)),
            ..input("t")
        });
        assert_eq!(errs, [("citation.pages", "too_long")]);
    }

    #[test]
    fn need_by_is_a_date_not_in_the_past() {
        let on = |d: &str| CitationInput {
            need_by: Some(d.into()),
            ..input("t")
        };
        assert_eq!(ok(on("2026-12-01")).need_by, Some(date!(2026 - 12 - 01)));
        assert_eq!(ok(on("2026-11-23")).need_by, Some(TODAY));
        assert_eq!(
            loan_refused(on("2026-11-22")),
            [("citation.need_by", "in_the_past")]
        );
        for d in [
            "2026-13-01",
            "2026-02-30",
            "01/12/2026",
            "2026-12-1",
            "tomorrow",
        ] {
            assert_eq!(
                loan_refused(on(d)),
                [("citation.need_by", "invalid_date")],
                "{d}"
            );
        }
    }

    #[test]
    fn max_cost_is_money_and_not_negative() {
        let cost = |amount: &str, currency: &str| CitationInput {
            max_cost: Some(MoneyInput {
                amount: amount.into(),
                currency: currency.into(),
            }),
            ..input("t")
        };
        let m = ok(cost("30.00", "CNY")).max_cost.unwrap();
        assert_eq!((m.minor, m.currency.as_str()), (3000, "CNY"));
        assert_eq!(ok(cost("0", "cny")).max_cost.unwrap().minor, 0);
        assert_eq!(ok(cost("  ", "CNY")).max_cost, None);
        assert_eq!(
            loan_refused(cost("-1", "CNY")),
            [("citation.max_cost", "negative")]
        );
        for (a, c) in [
            ("30.001", "CNY"),
            ("abc", "CNY"),
            ("30", ""),
            ("30", "RMB¥"),
        ] {
            assert_eq!(
                loan_refused(cost(a, c)),
                [("citation.max_cost", "invalid_money")],
                "{a} {c}"
            );
        }
    }

    #[test]
    fn identifiers_are_parsed_and_normalised() {
        let c = ok(CitationInput {
            isbn: Some("0-306-40615-2".into()),
            issn: Some("00280836".into()),
            doi: Some("https://doi.org/10.1038/NATURE12373".into()),
            pmid: Some("0012345".into()),
            oclc_number: Some("(OCoLC)ocm00012345".into()),
            ..input("t")
        });
        assert_eq!(c.isbn.unwrap().as_str(), "9780306406157");
        assert_eq!(c.issn.unwrap().as_str(), "0028-0836");
        assert_eq!(c.doi.unwrap().as_str(), "10.1038/nature12373");
        assert_eq!(c.pmid.unwrap().as_str(), "12345");
        assert_eq!(c.oclc_number.unwrap().as_str(), "12345");
        let errs = loan_refused(CitationInput {
            isbn: Some("123".into()),
            issn: Some("0028-0837".into()),
            doi: Some("nature12373".into()),
            pmid: Some("123456789".into()),
            oclc_number: Some("ocm".into()),
            ..input("t")
        });
        assert_eq!(
            errs,
            [
                ("citation.isbn", "invalid_isbn"),
                ("citation.issn", "invalid_issn"),
                ("citation.doi", "invalid_doi"),
                ("citation.pmid", "invalid_pmid"),
                ("citation.oclc_number", "invalid_oclc_number"),
            ]
        );
    }

    #[test]
    fn the_copyright_declaration_defaults_to_false() {
        assert!(!ok(input("t")).copyright_declaration);
        assert!(
            ok(CitationInput {
                copyright_declaration: Some(true),
                ..input("t")
            })
            .copyright_declaration
        );
    }

    #[test]
    fn citation_json_skips_absent_fields_and_writes_dates_as_text() {
        let c = ok(CitationInput {
            isbn: Some("0306406152".into()),
            need_by: Some("2026-12-01".into()),
            max_cost: Some(MoneyInput {
                amount: "12.5".into(),
                currency: "CNY".into(),
            }),
            ..input("书名")
        });
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "title": "书名",
                "isbn": "9780306406157",
                "need_by": "2026-12-01",
                "max_cost": {"minor": 1250, "currency": "CNY"},
                "copyright_declaration": false,
            })
        );
        let back: Citation = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        let minimal: Citation = serde_json::from_str("{}").unwrap();
        assert_eq!(minimal, Citation::default());
        assert!(serde_json::from_str::<Citation>(r#"{"isbn": "123"}"#).is_err());
        assert!(serde_json::from_str::<Citation>(r#"{"need_by": "1/12/2026"}"#).is_err());
    }

    #[test]
    fn citation_input_json_refuses_unknown_fields() {
        let i: CitationInput = serde_json::from_str(
            r#"{"title": "t", "max_cost": {"amount": "5", "currency": "CNY"},
                "copyright_declaration": true}"#,
        )
        .unwrap();
        assert!(i.validate(RequestFormat::Loan, TODAY).is_ok());
        assert!(serde_json::from_str::<CitationInput>(r#"{"titel": "t"}"#).is_err());
    }

    #[test]
    fn the_dedup_key_ignores_case_punctuation_and_width() {
        let key = |t: &str, y: Option<&str>| {
            ok(CitationInput {
                year: y.map(str::to_owned),
                ..input(t)
            })
            .dedup_key()
        };
        assert_eq!(key("The Book: A Story", Some("2020")), "thebookastory|2020");
        assert_eq!(
            key("The Book: A Story", Some("2020")),
            key("the book -- a story", Some("2020"))
        );
        assert_ne!(key("The Book", Some("2020")), key("The Book", Some("2021")));
        assert_eq!(key("Ｃ＋＋ 程序设计", None), key("C++程序设计", None));
        assert_eq!(key("呐喊：小说集", None), "呐喊小说集|");
        let long = key(&"ab ".repeat(100), None);
        assert_eq!(long.chars().count(), DEDUP_TITLE_CHARS + 1);
    }

    fn loose() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof![any::<String>(), "[ 0-9a-zA-Z.:/-]{0,12}"])
    }

    proptest! {
        #[test]
        fn any_input_gives_a_citation_or_field_errors_never_a_panic(
            (title, author, year, pages) in (loose(), loose(), loose(), loose()),
            (isbn, issn) in (loose(), loose()),
            (doi, need_by, amount, currency) in (loose(), loose(), loose(), loose()),
            format in prop_oneof![
                Just(RequestFormat::Loan),
                Just(RequestFormat::ArticleCopy),
                Just(RequestFormat::ChapterCopy),
            ],
        ) {
            let input = CitationInput {
                title, author, year, pages, isbn, issn, doi, need_by,
                max_cost: amount.map(|amount| MoneyInput {
                    amount,
                    currency: currency.unwrap_or_default(),
                }),
                ..Default::default()
            };
            match input.validate(format, TODAY) {
                Ok(c) => {
                    // What passes is trimmed and within its limits.
                    let title = c.title.unwrap_or_default();
                    prop_assert!(!title.is_empty() && title.trim() == title);
                    prop_assert!(title.chars().count() <= MAX_TITLE);
                }
                Err(errs) => {
                    prop_assert!(!errs.is_empty());
                    for e in &errs {
                        prop_assert!(e.field.starts_with("citation."));
                        prop_assert!(!e.message.is_empty());
                    }
                }
            }
        }
    }
}
