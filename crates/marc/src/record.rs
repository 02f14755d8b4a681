//! The MARC record as read from any serialisation: a leader, control fields and data fields.

use std::fmt;

/// A field tag: three ASCII characters, usually digits ("245") but letters occur in local
/// fields ("CAT", "FMT"). Kept as bytes so a record of 40 fields costs no allocation for tags.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag([u8; 3]);

impl Tag {
    /// A tag from three ASCII graphic characters or spaces; anything else is refused.
    pub fn new(bytes: &[u8]) -> Option<Tag> {
        match bytes {
            [a, b, c]
                if [a, b, c]
                    .iter()
                    .all(|x| x.is_ascii_graphic() || **x == b' ') =>
            {
                Some(Tag([*a, *b, *c]))
            }
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> &[u8; 3] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // The constructor admits ASCII only, so this cannot fail; no panic path either way.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// MARC 21 control fields are 001-009: no indicators, no subfields.
    pub fn is_control(&self) -> bool {
        self.0[0] == b'0' && self.0[1] == b'0' && self.0[2].is_ascii_digit()
    }

    /// Whether this is `tag` ("245"); false for anything not three bytes long.
    pub fn is(&self, tag: &str) -> bool {
        self.0.as_slice() == tag.as_bytes()
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.as_str())
    }
}

impl PartialEq<str> for Tag {
    fn eq(&self, other: &str) -> bool {
        self.is(other)
    }
}

impl PartialEq<&str> for Tag {
    fn eq(&self, other: &&str) -> bool {
        self.is(other)
    }
}

/// The 24-character leader, always ASCII. Positions are 0-based as in the MARC 21 documentation
/// ("leader/09").
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Leader([u8; 24]);

impl Leader {
    /// A leader from exactly 24 ASCII bytes (control characters refused).
    pub fn new(bytes: &[u8]) -> Option<Leader> {
        let array: [u8; 24] = bytes.try_into().ok()?;
        array
            .iter()
            .all(|b| b.is_ascii_graphic() || *b == b' ')
            .then_some(Leader(array))
    }

    pub fn as_bytes(&self) -> &[u8; 24] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // ASCII by construction.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Byte `position` (0-23) as a character.
    pub fn at(&self, position: usize) -> char {
        self.0.get(position).map_or(' ', |b| char::from(*b))
    }

    /// Leader/06, type of record ('a' language material, 'm' computer file, ...).
    pub fn record_type(&self) -> char {
        self.at(6)
    }

    /// Leader/07, bibliographic level ('m' monograph, 's' serial, ...).
    pub fn bibliographic_level(&self) -> char {
        self.at(7)
    }

    /// Leader/09: 'a' for UCS/Unicode (UTF-8), ' ' for MARC-8.
    pub fn is_unicode(&self) -> bool {
        self.0[9] == b'a'
    }
}

impl Default for Leader {
    /// An empty book record's leader, as written when there is none to copy.
    fn default() -> Self {
        Leader(*b"00000nam a2200000   4500")
    }
}

impl fmt::Debug for Leader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Leader({:?})", self.as_str())
    }
}

impl fmt::Display for Leader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One MARC record, whatever it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub leader: Leader,
    /// Control fields (001-009) in record order.
    pub control_fields: Vec<(Tag, String)>,
    /// Data fields (010 and up, and local alphabetic tags) in record order.
    pub data_fields: Vec<DataField>,
}

/// A data field: tag, two indicators, subfields in order (codes may repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataField {
    pub tag: Tag,
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

    /// Every subfield `code`, in order.
    pub fn subfields(&self, code: char) -> impl Iterator<Item = &str> {
        self.subfields
            .iter()
            .filter(move |(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    }
}

impl Record {
    /// The first control field `tag` ("008").
    pub fn control(&self, tag: &str) -> Option<&str> {
        self.control_fields
            .iter()
            .find(|(t, _)| t.is(tag))
            .map(|(_, v)| v.as_str())
    }

    /// 001, the control number.
    pub fn control_number(&self) -> Option<&str> {
        self.control("001")
    }

    /// The first data field `tag`.
    pub fn field(&self, tag: &str) -> Option<&DataField> {
        self.data_fields.iter().find(|f| f.tag.is(tag))
    }

    /// Every data field `tag`, in order.
    pub fn fields<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a DataField> {
        self.data_fields.iter().filter(move |f| f.tag.is(tag))
    }

    /// Subfield `code` of the first field `tag` ("245", 'a').
    pub fn subfield(&self, tag: &str, code: char) -> Option<&str> {
        self.field(tag).and_then(|f| f.subfield(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_three_ascii_characters() {
        assert_eq!(
            Tag::new(b"245").map(|t| t.to_string()),
            Some("245".to_owned())
        );
        assert!(Tag::new(b"CAT").is_some());
        assert!(Tag::new(b"24").is_none());
        assert!(Tag::new("2é".as_bytes()).is_none());
        assert!(Tag::new(b"001").is_some_and(|t| t.is_control()));
        assert!(Tag::new(b"010").is_some_and(|t| !t.is_control()));
        assert!(Tag::new(b"00A").is_some_and(|t| !t.is_control()));
    }

    #[test]
    fn a_leader_is_exactly_24_ascii_characters() {
        let leader = Leader::new(b"00720cam a22002051  4500").unwrap();
        assert!(leader.is_unicode());
        assert_eq!(
            (leader.record_type(), leader.bibliographic_level()),
            ('a', 'm')
        );
        assert!(Leader::new(b"00720cam a22002051  450").is_none());
        assert!(Leader::new("00720cam a22002051  450é".as_bytes()).is_none());
    }
}
