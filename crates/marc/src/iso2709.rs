//! Streaming ISO 2709 ("binary MARC"): one record at a time in constant memory. A broken record
//! becomes an error naming its number, byte offset and what is wrong, and reading resumes at the
//! next record.
//!
//! Framing: the leader's record length says where a record ends, and the byte there must be the
//! record terminator (0x1D). When the length is garbage or does not land on a terminator, the
//! reader falls back to the terminator: a record with a wrong length costs that record only.

use std::borrow::Cow;
use std::io::{self, BufRead};

use crate::error::{Reason, RecordError};
use crate::record::{DataField, Leader, Record, Tag};

const FIELD_TERMINATOR: u8 = 0x1E;
const RECORD_TERMINATOR: u8 = 0x1D;
const SUBFIELD_DELIMITER: u8 = 0x1F;
const ESCAPE: u8 = 0x1B;
/// Leader, directory terminator, record terminator: the smallest possible record.
const MIN_RECORD: usize = 26;
/// The record length has five digits.
const MAX_RECORD: usize = 99_999;
/// How much to copy from the input at once: bounds memory when the input is one big slice.
const CHUNK: usize = 64 * 1024;

/// Reads ISO 2709 records from `input`, yielding each record or the reason it could not be
/// read. Never stops on a bad record; stops only at the end of input or on an I/O error (which
/// is yielded once).
pub struct Iso2709Reader<R> {
    input: R,
    /// Bytes read from `input` and not yet consumed live in `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    record_no: u64,
    /// Where the last record yielded started.
    last_offset: u64,
    eof: bool,
    failed: bool,
}

impl<R: BufRead> Iso2709Reader<R> {
    pub fn new(input: R) -> Self {
        Iso2709Reader {
            input,
            buf: Vec::with_capacity(2 * CHUNK),
            start: 0,
            offset: 0,
            record_no: 0,
            last_offset: 0,
            eof: false,
            failed: false,
        }
    }

    /// The 1-based number and byte offset of the record last yielded (good or bad): where a
    /// caller that refuses a well-formed record can say it is.
    pub fn position(&self) -> (u64, u64) {
        (self.record_no, self.last_offset)
    }

    fn available(&self) -> usize {
        self.buf.len() - self.start
    }

    fn window(&self, len: usize) -> &[u8] {
        let end = self.buf.len().min(self.start.saturating_add(len));
        self.buf.get(self.start..end).unwrap_or_default()
    }

    /// Make `n` bytes available unless the input ends first; returns how many are.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        while self.available() < n && !self.eof {
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let wanted = CHUNK.max(n - self.available());
            let chunk = match self.input.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                self.eof = true;
                break;
            }
            let take = chunk.len().min(wanted);
            self.buf
                .extend_from_slice(chunk.get(..take).unwrap_or_default());
            self.input.consume(take);
        }
        Ok(self.available())
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.available());
        self.start += n;
        self.offset += n as u64;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Discard bytes up to and including the next record terminator (or the end of input),
    /// without holding them: garbage costs no memory.
    fn skip_past_terminator(&mut self) -> io::Result<()> {
        loop {
            if self.fill(1)? == 0 {
                return Ok(());
            }
            let pending = self.window(usize::MAX);
            match pending.iter().position(|b| *b == RECORD_TERMINATOR) {
                Some(p) => {
                    self.consume(p + 1);
                    return Ok(());
                }
                None => {
                    let n = pending.len();
                    self.consume(n);
                }
            }
        }
    }

    /// Skip what some tools put between records: line breaks, spaces, NUL padding, DOS EOF.
    /// Returns false at the end of input.
    fn skip_separators(&mut self) -> io::Result<bool> {
        loop {
            if self.fill(1)? == 0 {
                return Ok(false);
            }
            let n = self
                .window(usize::MAX)
                .iter()
                .take_while(|b| matches!(b, b'\n' | b'\r' | b' ' | b'\t' | 0 | 0x1A))
                .count();
            if n == 0 {
                return Ok(true);
            }
            self.consume(n);
        }
    }

    /// The next record's start offset and outcome; `None` at the end of input.
    fn read_one(&mut self) -> io::Result<Option<(u64, Outcome)>> {
        if !self.skip_separators()? {
            return Ok(None);
        }
        let at = self.offset;
        self.fill(5)?;
        let head = self.window(5);
        let Some(len) = digits(head).filter(|l| (MIN_RECORD..=MAX_RECORD).contains(l)) else {
            let found = String::from_utf8_lossy(head).into_owned();
            self.skip_past_terminator()?;
            return Ok(Some((at, Err((Reason::BadRecordLength { found }, None)))));
        };
        let available = self.fill(len)?;
        let window = self.window(len);
        if available >= len && window.get(len - 1) == Some(&RECORD_TERMINATOR) {
            let outcome = parse_record(window).map_err(|reason| (reason, salvage_001(window)));
            self.consume(len);
            return Ok(Some((at, outcome)));
        }
        let terminator = window.iter().position(|b| *b == RECORD_TERMINATOR);
        let salvaged = {
            // The announced length is wrong, so look up to the first terminator instead.
            let pending = self.window(usize::MAX);
            let end = pending
                .iter()
                .position(|b| *b == RECORD_TERMINATOR)
                .map_or(pending.len(), |p| p + 1);
            salvage_001(pending.get(..end).unwrap_or_default())
        };
        let reason = match terminator {
            // Ends early: trust the terminator, the length is wrong.
            Some(p) => {
                self.consume(p + 1);
                Reason::LengthMismatch {
                    announced: len,
                    terminator_at: p,
                }
            }
            None if available < len => {
                self.consume(available);
                Reason::Truncated {
                    announced: len,
                    available,
                }
            }
            None => {
                // If a leader follows right away, only this record's terminator is missing:
                // resume there instead of swallowing the next record.
                self.fill(len + 24)?;
                let next_is_leader = self
                    .window(len + 24)
                    .get(len..)
                    .is_some_and(looks_like_leader);
                self.consume(len);
                if !next_is_leader {
                    self.skip_past_terminator()?;
                }
                Reason::MissingTerminator { announced: len }
            }
        };
        Ok(Some((at, Err((reason, salvaged)))))
    }
}

/// A record, or why not and its 001 if that could still be read.
type Outcome = Result<Record, (Reason, Option<String>)>;

impl<R: BufRead> Iterator for Iso2709Reader<R> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let (byte_offset, outcome) = match self.read_one() {
            Ok(None) => return None,
            Ok(Some(found)) => found,
            Err(e) => {
                self.failed = true;
                (
                    self.offset,
                    Err((
                        Reason::Io {
                            detail: e.to_string(),
                        },
                        None,
                    )),
                )
            }
        };
        self.record_no += 1;
        self.last_offset = byte_offset;
        let record_no = self.record_no;
        Some(outcome.map_err(|(reason, control_number)| RecordError {
            record_no,
            byte_offset,
            control_number,
            reason,
        }))
    }
}

/// A non-negative number written in ASCII digits only ("00720"); `None` for anything else.
fn digits(bytes: &[u8]) -> Option<usize> {
    if bytes.is_empty() || bytes.len() > 9 {
        return None;
    }
    bytes.iter().try_fold(0usize, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0'))
    })
}

/// Whether `bytes` start like a MARC leader: a record length, a base address and the entry map
/// ("45" at 20-21).
fn looks_like_leader(bytes: &[u8]) -> bool {
    bytes.len() >= 24
        && bytes.get(..5).and_then(digits).is_some()
        && bytes.get(12..17).and_then(digits).is_some()
        && bytes.get(20..22) == Some(b"45".as_slice())
}

/// The 001 of a broken record, if its directory gets that far: only for error reports.
fn salvage_001(frame: &[u8]) -> Option<String> {
    let base = frame.get(12..17).and_then(digits)?;
    let directory = frame.get(24..base.checked_sub(1)?)?;
    let entry = directory.chunks_exact(12).find(|e| e.starts_with(b"001"))?;
    let len = entry.get(3..7).and_then(digits)?;
    let start = entry.get(7..12).and_then(digits)?;
    let raw = frame.get(base + start..base + start + len)?;
    let raw = raw.strip_suffix(&[FIELD_TERMINATOR]).unwrap_or(raw);
    let text = std::str::from_utf8(raw).ok()?.trim();
    (!text.is_empty() && text.len() <= 64 && !text.contains(char::is_control))
        .then(|| text.to_owned())
}

/// The text of one field: UTF-8 when leader/09 is 'a', or when it is blank and the field is
/// valid UTF-8 (UNIMARC / CNMARC); otherwise MARC-8 when it is blank, decoded from
/// its default sets (ASCII and the ANSEL extended Latin set, with diacritics moved after their
/// letter and composed); a record that switches to another set (Greek, Cyrillic, CJK...) with
/// an escape is refused with that reason.
fn decode(raw: &[u8], coding: u8, tag: Tag) -> Result<Cow<'_, str>, Reason> {
    if coding == b'a' {
        return std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|_| Reason::InvalidUtf8 {
                tag: tag.to_string(),
            });
    }
    if raw.contains(&ESCAPE) {
        // ESC switches MARC-8 to another character set (Greek, Cyrillic, CJK...) in which the
        // same bytes mean other characters: reading them as Latin would be wrong.
        return Err(Reason::Marc8Escape {
            tag: tag.to_string(),
        });
    }
    if raw.is_ascii() {
        return std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|_| Reason::InvalidUtf8 {
                tag: tag.to_string(),
            });
    }
    if coding == b' '
        && let Ok(text) = std::str::from_utf8(raw)
    {
        // UNIMARC has no leader/09 (CNMARC exports say UTF-8 in 100 $a/26-29, or nowhere) and
        // is written in UTF-8 with it blank. MARC-8's extended Latin bytes (a diacritic before
        // its ASCII letter) practically never form valid multi-byte UTF-8, so text that is
        // valid UTF-8 is read as such; the rest is MARC-8.
        return Ok(Cow::Borrowed(text));
    }
    if coding != b' ' {
        return Err(Reason::UnknownEncoding {
            flag: char::from(coding),
            tag: tag.to_string(),
        });
    }
    ansel(raw, tag).map(Cow::Owned)
}

/// MARC-8 with ANSEL as the upper half. ANSEL writes a combining diacritic before its letter,
/// Unicode after it; the result is composed (NFC) so "e" + acute reads and indexes as "é".
fn ansel(raw: &[u8], tag: Tag) -> Result<String, Reason> {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(raw.len() + 8);
    let mut pending: Vec<char> = Vec::new();
    for &b in raw {
        if b < 0x20 {
            // Delimiters and terminators are never a diacritic's base.
            out.extend(pending.drain(..));
            out.push(char::from(b));
        } else if b < 0x80 {
            out.push(char::from(b));
            out.extend(pending.drain(..));
        } else {
            match ansel_char(b) {
                Some((c, false)) => {
                    out.push(c);
                    out.extend(pending.drain(..));
                }
                Some((c, true)) => pending.push(c),
                None => {
                    return Err(Reason::Marc8NonAscii {
                        tag: tag.to_string(),
                        byte: b,
                    });
                }
            }
        }
    }
    out.extend(pending);
    Ok(out.nfc().collect())
}

/// The ANSEL (ANSI/NISO Z39.47, MARC-8 extended Latin) character for byte `b`, and whether it
/// is a combining diacritic.
fn ansel_char(b: u8) -> Option<(char, bool)> {
    let spacing = match b {
        0xA1 => '\u{0141}',
        0xA2 => '\u{00D8}',
        0xA3 => '\u{0110}',
        0xA4 => '\u{00DE}',
        0xA5 => '\u{00C6}',
        0xA6 => '\u{0152}',
        0xA7 => '\u{02B9}',
        0xA8 => '\u{00B7}',
        0xA9 => '\u{266D}',
        0xAA => '\u{00AE}',
        0xAB => '\u{00B1}',
        0xAC => '\u{01A0}',
        0xAD => '\u{01AF}',
        0xAE => '\u{02BC}',
        0xB0 => '\u{02BB}',
        0xB1 => '\u{0142}',
        0xB2 => '\u{00F8}',
        0xB3 => '\u{0111}',
        0xB4 => '\u{00FE}',
        0xB5 => '\u{00E6}',
        0xB6 => '\u{0153}',
        0xB7 => '\u{02BA}',
        0xB8 => '\u{0131}',
        0xB9 => '\u{00A3}',
        0xBA => '\u{00F0}',
        0xBC => '\u{01A1}',
        0xBD => '\u{01B0}',
        0xC0 => '\u{00B0}',
        0xC1 => '\u{2113}',
        0xC2 => '\u{2117}',
        0xC3 => '\u{00A9}',
        0xC4 => '\u{266F}',
        0xC5 => '\u{00BF}',
        0xC6 => '\u{00A1}',
        0xC7 => '\u{00DF}',
        0xC8 => '\u{20AC}',
        _ => {
            let combining = match b {
                0xE0 => '\u{0309}',
                0xE1 => '\u{0300}',
                0xE2 => '\u{0301}',
                0xE3 => '\u{0302}',
                0xE4 => '\u{0303}',
                0xE5 => '\u{0304}',
                0xE6 => '\u{0306}',
                0xE7 => '\u{0307}',
                0xE8 => '\u{0308}',
                0xE9 => '\u{030C}',
                0xEA => '\u{030A}',
                0xEB => '\u{FE20}',
                0xEC => '\u{FE21}',
                0xED => '\u{0315}',
                0xEE => '\u{030B}',
                0xEF => '\u{0310}',
                0xF0 => '\u{0327}',
                0xF1 => '\u{0328}',
                0xF2 => '\u{0323}',
                0xF3 => '\u{0324}',
                0xF4 => '\u{0325}',
                0xF5 => '\u{0333}',
                0xF6 => '\u{0332}',
                0xF7 => '\u{0326}',
                0xF8 => '\u{031C}',
                0xF9 => '\u{032E}',
                0xFA => '\u{FE22}',
                0xFB => '\u{FE23}',
                0xFE => '\u{0313}',
                _ => return None,
            };
            return Some((combining, true));
        }
    };
    Some((spacing, false))
}

/// A data field from its text (terminator removed): two indicators, then subfields. Lenient on
/// shape, since the text is already known to be well encoded: missing indicators read as
/// blanks and empty subfields are dropped. Splits by hand rather than with `str::split`: fields
/// are short, and this loop is the reader's hottest.
fn data_field(tag: Tag, text: &str) -> DataField {
    let mut field = DataField {
        tag,
        ind1: ' ',
        ind2: ' ',
        subfields: Vec::new(),
    };
    let mut segment_start = 0;
    let mut first = true;
    let bytes = text.as_bytes();
    for end in (0..bytes.len())
        .filter(|i| bytes.get(*i) == Some(&SUBFIELD_DELIMITER))
        .chain(std::iter::once(bytes.len()))
    {
        let segment = text.get(segment_start..end).unwrap_or_default();
        segment_start = end + 1;
        let mut chars = segment.chars();
        if first {
            first = false;
            field.ind1 = chars.next().unwrap_or(' ');
            field.ind2 = chars.next().unwrap_or(' ');
        } else if let Some(code) = chars.next() {
            field.subfields.push((code, chars.as_str().to_owned()));
        }
    }
    field
}

/// Parse one ISO 2709 record, with or without its record terminator. Never panics, whatever
/// the bytes.
pub(crate) fn parse_record(bytes: &[u8]) -> Result<Record, Reason> {
    let body = bytes.strip_suffix(&[RECORD_TERMINATOR]).unwrap_or(bytes);
    let leader_bytes = body.get(..24).ok_or_else(|| Reason::BadLeader {
        found: String::from_utf8_lossy(body).into_owned(),
    })?;
    let leader = Leader::new(leader_bytes).ok_or_else(|| Reason::BadLeader {
        found: String::from_utf8_lossy(leader_bytes).into_owned(),
    })?;
    let base_field = leader_bytes.get(12..17).unwrap_or_default();
    let base = digits(base_field)
        .filter(|b| *b >= 25 && *b <= body.len())
        .ok_or_else(|| Reason::BadBaseAddress {
            found: String::from_utf8_lossy(base_field).into_owned(),
        })?;
    let directory = body.get(24..base - 1).unwrap_or_default();
    if directory.len() % 12 != 0 {
        return Err(Reason::DirectoryNotMultipleOf12 {
            length: directory.len(),
        });
    }
    if body.get(base - 1) != Some(&FIELD_TERMINATOR) {
        return Err(Reason::DirectoryNotTerminated);
    }
    let data = body.get(base..).unwrap_or_default();
    let coding = leader_bytes.get(9).copied().unwrap_or(b' ');
    // Validating all the data at once is much cheaper than field by field. When it fails,
    // fields are validated one by one so the error can name the field at fault; bytes outside
    // every field do not matter.
    let whole = if coding == b'a' {
        std::str::from_utf8(data).ok()
    } else {
        None
    };
    let entries = directory.len() / 12;
    let mut record = Record {
        leader,
        control_fields: Vec::with_capacity(entries.min(8)),
        data_fields: Vec::with_capacity(entries),
    };
    for (index, entry) in directory.chunks_exact(12).enumerate() {
        let parsed = (
            entry.get(..3).and_then(Tag::new),
            entry.get(3..7).and_then(digits),
            entry.get(7..12).and_then(digits),
        );
        let (Some(tag), Some(len), Some(start)) = parsed else {
            return Err(Reason::BadDirectoryEntry {
                index,
                entry: String::from_utf8_lossy(entry).into_owned(),
            });
        };
        let end = start + len;
        let raw = data
            .get(start..end)
            .ok_or_else(|| Reason::FieldOutOfBounds {
                tag: tag.to_string(),
                start,
                end,
                data_length: data.len(),
            })?;
        let raw = raw.strip_suffix(&[FIELD_TERMINATOR]).unwrap_or(raw);
        let text = match whole.and_then(|w| w.get(start..start + raw.len())) {
            Some(text) => Cow::Borrowed(text),
            None => decode(raw, coding, tag)?,
        };
        if tag.is_control() {
            record.control_fields.push((tag, text.into_owned()));
        } else {
            record.data_fields.push(data_field(tag, &text));
        }
    }
    Ok(record)
}

impl Record {
    /// One ISO 2709 record from its bytes (record terminator optional).
    pub fn from_iso2709(bytes: &[u8]) -> Result<Record, Reason> {
        parse_record(bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};

    use proptest::prelude::*;

    use super::*;
    use crate::testutil::{encode, record};

    fn book(id: &str, title: &str) -> Vec<u8> {
        encode(&record(
            &[
                ("001", id),
                ("008", "890831s1990    inu           000 0 eng  "),
            ],
            &[
                ("020", "  ", &[('a', "0253325528 (alk. paper)")]),
                ("245", "10", &[('a', title), ('c', "A. Author.")]),
            ],
        ))
    }

    fn read_all(bytes: &[u8]) -> Vec<Result<Record, RecordError>> {
        Iso2709Reader::new(bytes).collect()
    }

    /// The same stream through a tiny buffer, so records straddle every refill.
    fn read_all_in_small_chunks(bytes: &[u8], capacity: usize) -> Vec<Result<Record, RecordError>> {
        Iso2709Reader::new(BufReader::with_capacity(capacity, bytes)).collect()
    }

    #[test]
    fn a_hand_built_record_reads_back_field_by_field() {
        let bytes = book("426705", "Aristocrats of color :");
        let records = read_all(&bytes);
        assert_eq!(records.len(), 1);
        let r = records[0].as_ref().unwrap();
        assert_eq!(r.control_number(), Some("426705"));
        assert_eq!(r.leader.as_str(), &String::from_utf8_lossy(&bytes[..24]));
        assert_eq!(r.subfield("245", 'a'), Some("Aristocrats of color :"));
        let f245 = r.field("245").unwrap();
        assert_eq!((f245.ind1, f245.ind2), ('1', '0'));
        assert_eq!(f245.subfields.len(), 2);
        assert_eq!(r.fields("020").count(), 1);
        assert_eq!(r.field("999"), None);
    }

    #[test]
    fn a_broken_record_in_the_middle_does_not_stop_the_rest() {
        let good1 = book("one", "First");
        let mut bad = book("two", "Second");
        bad[12..17].copy_from_slice(b"9x999");
        let good2 = book("three", "书名");
        let all = [good1.clone(), bad.clone(), good2].concat();

        let out = read_all(&all);

        assert_eq!(out.len(), 3);
        assert_eq!(out[0].as_ref().unwrap().control_number(), Some("one"));
        let err = out[1].as_ref().unwrap_err();
        assert_eq!((err.record_no, err.byte_offset), (2, good1.len() as u64));
        assert_eq!(err.reason.code(), "bad_base_address");
        assert_eq!(out[2].as_ref().unwrap().subfield("245", 'a'), Some("书名"));
        assert_eq!(read_all_in_small_chunks(&all, 7), out);
    }

    #[test]
    fn a_garbage_record_length_resynchronises_at_the_next_terminator() {
        let good1 = book("one", "First");
        let mut bad = book("two", "Second");
        bad[..5].copy_from_slice(b"x0z12");
        let good2 = book("three", "Third");
        let all = [good1.clone(), bad.clone(), good2.clone()].concat();

        let out = read_all(&all);

        assert_eq!(out.len(), 3, "{out:?}");
        let err = out[1].as_ref().unwrap_err();
        assert_eq!((err.record_no, err.byte_offset), (2, good1.len() as u64));
        assert_eq!(
            err.reason,
            Reason::BadRecordLength {
                found: "x0z12".to_owned()
            }
        );
        assert_eq!(out[2].as_ref().unwrap().control_number(), Some("three"));
    }

    #[test]
    fn a_length_that_is_too_long_or_too_short_costs_only_its_record() {
        for wrong in [b"00099", b"00300", b"00030"] {
            let good1 = book("one", "First");
            let mut bad = book("two", "Second");
            bad[..5].copy_from_slice(wrong);
            let good2 = book("three", "Third");
            let good3 = book("four", "Fourth");
            let all = [good1, bad, good2, good3].concat();

            let out = read_all(&all);

            let ids: Vec<_> = out
                .iter()
                .map(|r| r.as_ref().ok().and_then(|r| r.control_number()))
                .collect();
            assert_eq!(
                ids,
                [Some("one"), None, Some("three"), Some("four")],
                "{wrong:?}"
            );
            let err = out[1].as_ref().unwrap_err();
            assert!(
                matches!(
                    err.reason,
                    Reason::LengthMismatch { .. } | Reason::MissingTerminator { .. }
                ),
                "{err}"
            );
            assert_eq!(err.control_number.as_deref(), Some("two"), "{err}");
        }
    }

    #[test]
    fn a_missing_record_terminator_costs_only_its_record() {
        let good1 = book("one", "First");
        let mut bad = book("two", "Second");
        *bad.last_mut().unwrap() = b'#';
        let good2 = book("three", "Third");
        let all = [good1, bad, good2].concat();

        let out = read_all(&all);

        assert_eq!(out.len(), 3);
        assert_eq!(
            out[1].as_ref().unwrap_err().reason.code(),
            "missing_terminator"
        );
        assert_eq!(out[2].as_ref().unwrap().control_number(), Some("three"));
    }

    #[test]
    fn a_truncated_last_record_is_an_error_and_the_end() {
        let good = book("one", "First");
        let cut = book("two", "Second");
        let all = [good.clone(), cut[..cut.len() - 10].to_vec()].concat();

        let out = read_all(&all);

        assert_eq!(out.len(), 2);
        let err = out[1].as_ref().unwrap_err();
        assert_eq!(err.byte_offset, good.len() as u64);
        assert!(matches!(err.reason, Reason::Truncated { .. }), "{err}");
    }

    #[test]
    fn line_breaks_between_records_are_skipped_and_offsets_stay_true() {
        let one = book("one", "First");
        let mut bad = book("two", "Second");
        bad[100] = 0xFF;
        let all = [one.clone(), b"\r\n".to_vec(), bad, b"\n\n".to_vec()].concat();

        let out = read_all(&all);

        assert_eq!(out.len(), 2);
        let err = out[1].as_ref().unwrap_err();
        assert_eq!(err.byte_offset, one.len() as u64 + 2);
    }

    #[test]
    fn structural_damage_is_named() {
        let good = book("one", "First");
        let base = digits(&good[12..17]).unwrap();

        let mut uneven = good.clone();
        uneven[12..17].copy_from_slice(format!("{:05}", base + 1).as_bytes());
        assert_eq!(
            parse_record(&uneven).unwrap_err().code(),
            "directory_not_multiple_of_12"
        );

        let mut out_of_bounds = good.clone();
        out_of_bounds[24 + 7..24 + 12].copy_from_slice(b"90000");
        let err = parse_record(&out_of_bounds).unwrap_err();
        assert!(
            matches!(err, Reason::FieldOutOfBounds { ref tag, .. } if tag == "001"),
            "{err}"
        );

        let mut bad_entry = good.clone();
        bad_entry[24 + 3] = b'x';
        assert_eq!(
            parse_record(&bad_entry).unwrap_err().code(),
            "bad_directory_entry"
        );

        let mut bad_leader = good.clone();
        bad_leader[5] = 0x01;
        assert_eq!(parse_record(&bad_leader).unwrap_err().code(), "bad_leader");

        assert_eq!(parse_record(b"short").unwrap_err().code(), "bad_leader");
    }

    #[test]
    fn invalid_utf8_is_reported_with_its_field_and_the_records_001() {
        let mut bytes = book("426705", "Title");
        let at = bytes.windows(5).position(|w| w == b"Title").unwrap();
        bytes[at] = 0xC3;

        let err = read_all(&bytes).remove(0).unwrap_err();

        assert_eq!(err.reason.to_string(), "invalid UTF-8 in field 245");
        assert_eq!(err.control_number.as_deref(), Some("426705"));
        assert_eq!(
            err.to_string(),
            "record 1 at byte 0 (001 426705): invalid UTF-8 in field 245"
        );
    }

    #[test]
    fn utf8_with_a_blank_leader_09_is_read_as_cnmarc_exports_write_it() {
        let mut cnmarc = book("CAL 0120001", "红楼梦");
        cnmarc[9] = b' ';
        assert_eq!(
            parse_record(&cnmarc).unwrap().subfield("245", 'a'),
            Some("红楼梦")
        );
    }

    #[test]
    fn marc8_is_read_when_plain_ascii_and_refused_clearly_otherwise() {
        let mut ascii = book("one", "Plain title");
        ascii[9] = b' ';
        assert_eq!(
            parse_record(&ascii).unwrap().subfield("245", 'a'),
            Some("Plain title")
        );

        // ANSEL: the acute (0xE2) comes before its letter; read as a composed "é".
        let mut accented = book("two", "Caf\u{1}e");
        accented[9] = b' ';
        let at = accented.iter().position(|b| *b == 1).unwrap();
        accented[at] = 0xE2;
        assert_eq!(
            parse_record(&accented).unwrap().subfield("245", 'a'),
            Some("Caf\u{e9}")
        );
        let mut polish = book("two", "\u{1}\u{2}ad");
        polish[9] = b' ';
        for (from, to) in [(1u8, 0xA1u8), (2, 0xF1)] {
            for b in polish.iter_mut().filter(|b| **b == from) {
                *b = to;
            }
        }
        assert_eq!(
            parse_record(&polish).unwrap().subfield("245", 'a'),
            Some("\u{141}\u{105}d")
        );

        // 0x90 is in no MARC-8 default set.
        let mut undefined = book("two", "Caf\u{1}");
        undefined[9] = b' ';
        let at = undefined.iter().position(|b| *b == 1).unwrap();
        undefined[at] = 0x90;
        assert_eq!(
            parse_record(&undefined).unwrap_err().to_string(),
            "MARC-8 record with byte 0x90 in field 245, which is in neither ASCII nor the ANSEL \
             Latin set"
        );

        // ESC ( N switches to Cyrillic: the ASCII bytes after it are not Latin letters.
        let mut escaped = book("three", "\u{1b}(NKNIGA\u{1b}(B");
        escaped[9] = b' ';
        assert_eq!(parse_record(&escaped).unwrap_err().code(), "marc8_escape");

        let mut unknown = book("four", "Caf\u{e9}");
        unknown[9] = b'z';
        assert_eq!(
            parse_record(&unknown).unwrap_err().code(),
            "unknown_encoding"
        );
    }

    #[test]
    fn an_input_error_is_reported_once_and_ends_the_stream() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = self.0.min(buf.len());
                buf[..n].fill(b'0');
                self.0 -= n;
                Ok(n)
            }
        }
        let out: Vec<_> = Iso2709Reader::new(BufReader::new(Failing(3))).collect();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_ref().unwrap_err().reason.code(), "io");
    }

    fn arb_text() -> impl Strategy<Value = String> {
        // Any characters but the three ISO 2709 delimiters.
        "[^\u{1D}\u{1E}\u{1F}]{0,30}"
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        let control = proptest::collection::vec(("00[1-9]", arb_text()), 0..4);
        let data = proptest::collection::vec(
            (
                "[0-9][1-9][0-9]|[A-Z]{3}",
                "[ 0-9]",
                "[ 0-9]",
                proptest::collection::vec(("[a-z0-9]", arb_text()), 0..5),
            ),
            0..8,
        );
        (control, data).prop_map(|(control, data)| {
            let mut r = record(&[], &[]);
            r.control_fields = control
                .into_iter()
                .map(|(t, v)| (Tag::new(t.as_bytes()).unwrap(), v))
                .collect();
            r.data_fields = data
                .into_iter()
                .map(|(t, i1, i2, subs)| DataField {
                    tag: Tag::new(t.as_bytes()).unwrap(),
                    ind1: i1.chars().next().unwrap(),
                    ind2: i2.chars().next().unwrap(),
                    subfields: subs
                        .into_iter()
                        .map(|(c, v)| (c.chars().next().unwrap(), v))
                        .collect(),
                })
                .collect();
            r
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let all = read_all(&bytes);
            let _ = parse_record(&bytes);
            // Framing must not depend on how the input arrives.
            prop_assert_eq!(read_all_in_small_chunks(&bytes, 5), all);
        }

        #[test]
        fn arbitrary_bytes_after_a_leader_never_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..300),
            len in 0usize..400,
            base in 0usize..400,
        ) {
            let mut bytes = format!("{len:05}nam a22{base:05}   4500").into_bytes();
            bytes.extend(tail);
            let _ = read_all(&bytes);
            let _ = parse_record(&bytes);
        }

        #[test]
        fn records_read_back_as_written(records in proptest::collection::vec(arb_record(), 1..5)) {
            let bytes: Vec<u8> = records.iter().flat_map(encode).collect();
            let out: Vec<Record> = read_all_in_small_chunks(&bytes, 64)
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
            prop_assert_eq!(out.len(), records.len());
            for (read, written) in out.iter().zip(&records) {
                let mut expected = written.clone();
                expected.leader = Leader::new(&encode(written)[..24]).unwrap();
                prop_assert_eq!(read, &expected);
            }
        }

        #[test]
        fn one_damaged_byte_costs_at_most_its_own_record(
            records in proptest::collection::vec(arb_record(), 3..6),
            which in 0usize..6,
            position in 0usize..400,
            byte in any::<u8>(),
        ) {
            let encoded: Vec<Vec<u8>> = records.iter().map(encode).collect();
            let which = which % encoded.len();
            let mut damaged = encoded.clone();
            let position = position % damaged[which].len();
            damaged[which][position] = byte;
            let bytes = damaged.concat();

            let out = read_all(&bytes);

            let good: Vec<Vec<u8>> = out
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .map(encode)
                .collect();
            let others: Vec<&Vec<u8>> =
                encoded.iter().enumerate().filter(|(i, _)| *i != which).map(|(_, e)| e).collect();
            // Every undamaged record comes out intact and in order (the damaged one may too).
            let mut found = good.iter();
            for expected in others {
                prop_assert!(found.any(|g| g == expected), "lost a good record: {out:?}");
            }
        }
    }
}
