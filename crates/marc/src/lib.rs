//! MARC 21 records: a streaming ISO 2709 reader that never stops on a bad record, and the
//! mapping to the bibliographic fields librelay uses (`BibRecord`).
#![forbid(unsafe_code)]

mod bib;
mod iso2709;

pub use bib::BibRecord;
pub use iso2709::{Iso2709Reader, RecordError};

/// One MARC record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub leader: String,
    /// 00X fields: tag and value.
    pub control_fields: Vec<(String, String)>,
    pub data_fields: Vec<DataField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataField {
    pub tag: String,
    pub ind1: char,
    pub ind2: char,
    pub subfields: Vec<(char, String)>,
}

impl DataField {
    /// The first subfield `code`.
    pub fn subfield(&self, code: char) -> Option<&str> {
        self.subfields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    }

    pub fn subfields(&self, code: char) -> impl Iterator<Item = &str> {
        self.subfields
            .iter()
            .filter(move |(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    }
}

impl Record {
    pub fn control(&self, tag: &str) -> Option<&str> {
        self.control_fields
            .iter()
            .find(|(t, _)| t == tag)
            .map(|(_, v)| v.as_str())
    }

    /// 001, the control number.
    pub fn control_number(&self) -> Option<&str> {
        self.control("001")
    }

    pub fn field(&self, tag: &str) -> Option<&DataField> {
        self.data_fields.iter().find(|f| f.tag == tag)
    }

    pub fn fields<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a DataField> {
        self.data_fields.iter().filter(move |f| f.tag == tag)
    }

    pub fn subfield(&self, tag: &str, code: char) -> Option<&str> {
        self.field(tag).and_then(|f| f.subfield(code))
    }
}

/// What a file holds, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Iso2709,
    MarcXml,
}

pub fn detect(first_bytes: &[u8]) -> Format {
    let start = first_bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let rest = first_bytes.get(start..).unwrap_or_default();
    let rest = rest
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(rest);
    if rest.first() == Some(&b'<') {
        Format::MarcXml
    } else {
        Format::Iso2709
    }
}
