//! From a MARC record to what the union catalog stores: the mapped fields (kept as JSON so the
//! index can be rebuilt from the store), normalised identifiers, the keys records cluster on,
//! and the holdings.

use domain::ident::{Isbn, Issn};
use marc::{BibRecord, Dialect, Record};
use serde::{Deserialize, Serialize};
use store::{ImportRecord, NewCatalogRecord, NewHolding};

/// One library's record as the catalog keeps it. Identifiers are normalised: ISBNs as 13
/// digits, ISSNs as NNNN-NNNC, OCLC numbers without prefixes or leading zeros.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bib {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_vernacular: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_vernacular: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher_vernacular: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub isbns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oclc_numbers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lccn: Option<String>,
}

/// Why a record that was read cannot go into the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("no title: 245 $a / $b (and its 880) are missing or empty (200 $a in CNMARC)")]
    NoTitle,
}

impl Unusable {
    pub fn code(&self) -> &'static str {
        match self {
            Unusable::NoTitle => "no_title",
        }
    }
}

impl Bib {
    pub fn from_marc(bib: &BibRecord) -> Result<Bib, Unusable> {
        let title = bib
            .title
            .clone()
            .or_else(|| bib.title_vernacular.clone())
            .ok_or(Unusable::NoTitle)?;
        let mut isbns: Vec<String> = Vec::new();
        for i in bib.isbns.iter().filter_map(|s| Isbn::parse(s).ok()) {
            let s = i.as_isbn13().to_owned();
            if !isbns.contains(&s) {
                isbns.push(s);
            }
        }
        let mut issns: Vec<String> = Vec::new();
        for i in bib.issns.iter().filter_map(|s| Issn::parse(s).ok()) {
            let s = i.to_string();
            if !issns.contains(&s) {
                issns.push(s);
            }
        }
        Ok(Bib {
            title,
            title_vernacular: bib.title_vernacular.clone(),
            author: bib.author.clone(),
            author_vernacular: bib.author_vernacular.clone(),
            publisher: bib.publisher.clone(),
            publisher_vernacular: bib.publisher_vernacular.clone(),
            year: bib.year.clone(),
            language: bib.language.clone(),
            subjects: bib.subjects.clone(),
            isbns,
            issns,
            oclc_numbers: bib.oclc_numbers.clone(),
            lccn: bib.lccn.clone(),
        })
    }

    /// The keys this record clusters on, strongest first: its ISBNs, ISSNs and OCLC numbers,
    /// then title + author + year normalised, when it has all three.
    pub fn cluster_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        keys.extend(self.isbns.iter().map(|i| format!("isbn:{i}")));
        keys.extend(self.issns.iter().map(|i| format!("issn:{i}")));
        keys.extend(self.oclc_numbers.iter().map(|o| format!("oclc:{o}")));
        if let Some(work) = self.work_key() {
            keys.push(work);
        }
        keys
    }

    /// "work:<title>|<author>|<year>", each part lower-cased and reduced to letters and digits,
    /// so punctuation, case and spacing do not split a work. The author is its first word (the
    /// surname in MARC's inverted form): catalogues disagree on dates and initials after it.
    pub fn work_key(&self) -> Option<String> {
        let title = normalise(&self.title);
        let author = normalise(self.author.as_deref()?);
        let author = author.split(' ').next().unwrap_or_default();
        let year = self.year.as_deref()?;
        (!title.is_empty() && !author.is_empty()).then(|| format!("work:{title}|{author}|{year}"))
    }
}

/// Lower case, letters and digits only, single spaces between words.
pub fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// Holdings from 852 ($b location, $h + $i call number, $p barcode); one holding without item
/// details when the record has no 852, with the LC call number (050) if there is one.
pub fn holdings(record: &Record) -> Vec<NewHolding> {
    let text = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let joined = |a: Option<&str>, b: Option<&str>| {
        let parts: Vec<&str> = [a, b]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    };
    let from_852: Vec<NewHolding> = record
        .fields("852")
        .map(|f| NewHolding {
            location: text(f.subfield('b')),
            call_number: joined(f.subfield('h'), f.subfield('i')),
            barcode: text(f.subfield('p')),
        })
        .collect();
    if !from_852.is_empty() {
        return from_852;
    }
    let call_number = record
        .field("050")
        .and_then(|f| joined(f.subfield('a'), f.subfield('b')));
    vec![NewHolding {
        location: None,
        call_number,
        barcode: None,
    }]
}

/// CNMARC holdings: 905 (the CALIS holdings field) with $b the accession number (the item's
/// barcode) and $d / $e the class and book number that make the call number ("I242.47/1");
/// one holding without item details when there is none, with the class number (690 $a, the
/// Chinese Library Classification) as its call number.
pub fn unimarc_holdings(record: &Record) -> Vec<NewHolding> {
    let text = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let from_905: Vec<NewHolding> = record
        .fields("905")
        .map(|f| {
            let call_number = match (text(f.subfield('d')), text(f.subfield('e'))) {
                (Some(d), Some(e)) => Some(format!("{d}/{e}")),
                (d, e) => d.or(e),
            };
            NewHolding {
                location: None,
                call_number,
                barcode: text(f.subfield('b')),
            }
        })
        .collect();
    if !from_905.is_empty() {
        return from_905;
    }
    vec![NewHolding {
        location: None,
        call_number: text(record.subfield("690", 'a')),
        barcode: None,
    }]
}

/// Everything the store needs for one record, or why it cannot be stored; the record's format
/// is told by its fields.
pub fn prepare(record: &Record) -> Result<ImportRecord, Unusable> {
    prepare_as(record, None)
}

/// As [`prepare`], for a record known to be in `dialect` (`None`: told by its fields).
pub fn prepare_as(record: &Record, dialect: Option<Dialect>) -> Result<ImportRecord, Unusable> {
    prepare_with_bib(record, dialect).map(|(r, _)| r)
}

/// As [`prepare_as`], with the mapped fields too: the importer indexes a new union record from
/// them rather than parsing back the JSON it stores.
pub fn prepare_with_bib(
    record: &Record,
    dialect: Option<Dialect>,
) -> Result<(ImportRecord, Bib), Unusable> {
    let dialect = dialect.unwrap_or_else(|| Dialect::detect(record));
    let mapped = BibRecord::from_record_as(record, dialect);
    let bib = Bib::from_marc(&mapped)?;
    let trimmed = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let control_number = trimmed(record.control_number());
    let system_number = trimmed(record.subfield("035", 'a'));
    let keys = bib.cluster_keys();
    let bib_json = serde_json::to_string(&bib).unwrap_or_default();
    let prepared = ImportRecord {
        control_number,
        system_number,
        isbn: bib.isbns.first().cloned(),
        record: NewCatalogRecord {
            record_id: String::new(),
            title: bib.title.clone(),
            author: bib.author.clone(),
            publisher: bib.publisher.clone(),
            year: bib.year.clone(),
            isbn: bib.isbns.first().cloned(),
            issn: bib.issns.first().cloned(),
            oclc_number: bib.oclc_numbers.first().cloned(),
            lccn: bib.lccn.clone(),
            language: bib.language.clone(),
            title_vernacular: bib.title_vernacular.clone(),
            author_vernacular: bib.author_vernacular.clone(),
        },
        keys,
        bib_json,
        holdings: match dialect {
            Dialect::Marc21 => holdings(record),
            Dialect::Unimarc => unimarc_holdings(record),
        },
        holdings_only: false,
    };
    Ok((prepared, bib))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_keys_ignore_case_punctuation_and_initials() {
        let a = Bib {
            title: "The Tale of Genji :  a novel".into(),
            author: Some("Murasaki Shikibu, b. 978?".into()),
            year: Some("1976".into()),
            ..Bib::default()
        };
        let b = Bib {
            title: "the tale of genji: A NOVEL".into(),
            author: Some("Murasaki, Shikibu".into()),
            year: Some("1976".into()),
            ..Bib::default()
        };
        assert_eq!(a.work_key(), b.work_key());
        assert_eq!(
            a.work_key().as_deref(),
            Some("work:the tale of genji a novel|murasaki|1976")
        );
    }

    #[test]
    fn isbn_10_and_13_give_one_cluster_key() {
        let mapped = BibRecord {
            title: Some("T".into()),
            isbns: vec![
                "0306406152".into(),
                "978-0-306-40615-7".into(),
                "bad".into(),
            ],
            ..BibRecord::default()
        };
        let bib = Bib::from_marc(&mapped).unwrap();
        assert_eq!(bib.isbns, vec!["9780306406157".to_owned()]);
        assert_eq!(bib.cluster_keys(), vec!["isbn:9780306406157".to_owned()]);
    }
}
