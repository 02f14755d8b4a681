//! MARC 21 and UNIMARC (CNMARC) records for librelay: streaming ISO 2709 and MARCXML readers that
//! never stop on a bad record, and the mapping to the bibliographic fields the catalog uses
//! ([`BibRecord`], per [`Dialect`]).
//!
//! ```
//! let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/demo/loc-demo.mrc"))?;
//! for record in marc::Records::detect(bytes.as_slice())? {
//!     match record {
//!         Ok(record) => {
//!             let bib = marc::BibRecord::from_record(&record);
//!             assert!(bib.title.is_some());
//!         }
//!         Err(e) => eprintln!("skipped {e}"),
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
#![forbid(unsafe_code)]

mod bib;
mod error;
mod iso2709;
mod marcxml;
mod record;
#[cfg(test)]
mod testutil;

use std::io::BufRead;

pub use bib::{BibRecord, Dialect};
pub use error::{Reason, RecordError};
pub use iso2709::Iso2709Reader;
pub use marcxml::MarcXmlReader;
pub use record::{DataField, Leader, Record, Tag};

/// A serialisation of MARC records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ISO 2709, "binary MARC" (.mrc, .dat).
    Iso2709,
    /// MARCXML (MARC 21 slim).
    MarcXml,
}

/// Tell the format by a file's first bytes: XML starts with `<` after an optional byte order
/// mark and whitespace; anything else is taken for ISO 2709, whose reader then reports what is
/// wrong record by record.
pub fn detect(first_bytes: &[u8]) -> Format {
    let rest = first_bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(first_bytes);
    match rest.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Format::MarcXml,
        _ => Format::Iso2709,
    }
}

/// Records from either format, chosen by [`detect`] on the input's first bytes.
pub enum Records<R> {
    Iso2709(Iso2709Reader<R>),
    MarcXml(MarcXmlReader<R>),
}

impl<R: BufRead> Records<R> {
    /// Peek at `input` (without consuming it) and read it in the format found.
    pub fn detect(mut input: R) -> std::io::Result<Self> {
        let format = detect(input.fill_buf()?);
        Ok(Records::new(input, format))
    }

    pub fn new(input: R, format: Format) -> Self {
        match format {
            Format::Iso2709 => Records::Iso2709(Iso2709Reader::new(input)),
            Format::MarcXml => Records::MarcXml(MarcXmlReader::new(input)),
        }
    }

    /// The 1-based number and byte offset of the record last yielded.
    pub fn position(&self) -> (u64, u64) {
        match self {
            Records::Iso2709(reader) => reader.position(),
            Records::MarcXml(reader) => reader.position(),
        }
    }

    pub fn format(&self) -> Format {
        match self {
            Records::Iso2709(_) => Format::Iso2709,
            Records::MarcXml(_) => Format::MarcXml,
        }
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Records::Iso2709(reader) => reader.next(),
            Records::MarcXml(reader) => reader.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_told_by_the_first_bytes() {
        assert_eq!(detect(b"00720cam a2200205"), Format::Iso2709);
        assert_eq!(detect(b"<?xml version=\"1.0\"?>"), Format::MarcXml);
        assert_eq!(detect(b"\xEF\xBB\xBF\n  <marc:collection"), Format::MarcXml);
        assert_eq!(detect(b""), Format::Iso2709);
    }
}
