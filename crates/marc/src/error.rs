//! Why a record could not be read, and where it was: enough for an import report to point a
//! cataloguer at the record without opening a hex editor.

use std::fmt;

/// One record that could not be read. Readers yield it in the record's place and go on with
/// the next record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RecordError {
    /// 1-based position of the record in its file, counting broken ones.
    pub record_no: u64,
    /// Byte offset of the record's first byte (ISO 2709) or of its `<record` tag (MARCXML).
    pub byte_offset: u64,
    /// The 001 when it could still be read: the cataloguer's handle on the record.
    pub control_number: Option<String>,
    pub reason: Reason,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {} at byte {}", self.record_no, self.byte_offset)?;
        if let Some(cn) = &self.control_number {
            write!(f, " (001 {})", cn.trim())?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What is wrong with a record. [`Reason::code`] gives a stable snake_case code for reports and
/// metrics; `Display` gives the sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    #[error("the leader's record length {found:?} is not a number from 26 to 99999")]
    BadRecordLength { found: String },

    #[error("the leader announces {announced} bytes but the input ends after {available}")]
    Truncated { announced: usize, available: usize },

    #[error(
        "the leader announces {announced} bytes but the record terminator (0x1D) is at byte \
         {terminator_at}"
    )]
    LengthMismatch {
        announced: usize,
        terminator_at: usize,
    },

    #[error(
        "the leader announces {announced} bytes but they do not end with a record terminator \
         (0x1D)"
    )]
    MissingTerminator { announced: usize },

    #[error("the leader is not 24 ASCII characters: {found:?}")]
    BadLeader { found: String },

    #[error("the leader's base address of data {found:?} is not a number inside the record")]
    BadBaseAddress { found: String },

    #[error("the directory is {length} bytes, not a multiple of 12")]
    DirectoryNotMultipleOf12 { length: usize },

    #[error("the directory does not end with a field terminator (0x1E) before the data")]
    DirectoryNotTerminated,

    #[error("directory entry {index} is malformed: {entry:?}")]
    BadDirectoryEntry { index: usize, entry: String },

    #[error(
        "field {tag} (bytes {start}..{end} of the data) is outside the record's {data_length} \
         bytes of data"
    )]
    FieldOutOfBounds {
        tag: String,
        start: usize,
        end: usize,
        data_length: usize,
    },

    #[error("invalid UTF-8 in field {tag}")]
    InvalidUtf8 { tag: String },

    #[error(
        "MARC-8 record with byte 0x{byte:02X} in field {tag}, which is in neither ASCII nor the \
         ANSEL Latin set"
    )]
    Marc8NonAscii { tag: String, byte: u8 },

    #[error(
        "MARC-8 record with a character set escape (ESC) in field {tag}: only the default Latin \
         sets (ASCII and ANSEL) are decoded, not Greek, Cyrillic, Arabic, Hebrew or CJK (EACC)"
    )]
    Marc8Escape { tag: String },

    #[error(
        "leader/09 is {flag:?}, neither 'a' (UTF-8) nor ' ' (MARC-8), and field {tag} has \
         non-ASCII bytes"
    )]
    UnknownEncoding { flag: char, tag: String },

    #[error("MARCXML: {detail}")]
    BadMarcXml { detail: String },

    #[error("MARCXML is not well-formed: {detail}")]
    XmlSyntax { detail: String },

    #[error("read error: {detail}")]
    Io { detail: String },
}

impl Reason {
    /// A stable snake_case code ("invalid_utf8") for reports, logs and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::BadRecordLength { .. } => "bad_record_length",
            Reason::Truncated { .. } => "truncated",
            Reason::LengthMismatch { .. } => "length_mismatch",
            Reason::MissingTerminator { .. } => "missing_terminator",
            Reason::BadLeader { .. } => "bad_leader",
            Reason::BadBaseAddress { .. } => "bad_base_address",
            Reason::DirectoryNotMultipleOf12 { .. } => "directory_not_multiple_of_12",
            Reason::DirectoryNotTerminated => "directory_not_terminated",
            Reason::BadDirectoryEntry { .. } => "bad_directory_entry",
            Reason::FieldOutOfBounds { .. } => "field_out_of_bounds",
            Reason::InvalidUtf8 { .. } => "invalid_utf8",
            Reason::Marc8NonAscii { .. } => "marc8_non_ascii",
            Reason::Marc8Escape { .. } => "marc8_escape",
            Reason::UnknownEncoding { .. } => "unknown_encoding",
            Reason::BadMarcXml { .. } => "bad_marcxml",
            Reason::XmlSyntax { .. } => "xml_syntax",
            Reason::Io { .. } => "io",
        }
    }
}
