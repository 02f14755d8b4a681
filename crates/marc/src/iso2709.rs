//! Streaming ISO 2709: one record at a time in constant memory. A broken record becomes an
//! error naming its number, byte offset and what is wrong, and reading goes on with the next.

use std::io::BufRead;

use crate::{DataField, Record};

const FIELD_TERMINATOR: u8 = 0x1E;
const RECORD_TERMINATOR: u8 = 0x1D;
const SUBFIELD_DELIMITER: u8 = 0x1F;
/// Longer than any real record (the length field has five digits).
const MAX_RECORD: usize = 99_999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {record_no} at byte {byte_offset}: {reason}")]
pub struct RecordError {
    /// 1-based position in the file.
    pub record_no: u64,
    pub byte_offset: u64,
    pub reason: String,
}

pub struct Iso2709Reader<R> {
    input: R,
    record_no: u64,
    offset: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Iso2709Reader<R> {
    pub fn new(input: R) -> Self {
        Iso2709Reader {
            input,
            record_no: 0,
            offset: 0,
            buf: Vec::with_capacity(4096),
            done: false,
        }
    }

    /// Read up to and including the next record terminator. The terminator, not the leader's
    /// length, delimits records: a wrong length then spoils one record, not the rest.
    fn next_raw(&mut self) -> Option<std::io::Result<(u64, Vec<u8>)>> {
        if self.done {
            return None;
        }
        self.buf.clear();
        let start = self.offset;
        match self.input.read_until(RECORD_TERMINATOR, &mut self.buf) {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(n) => {
                self.offset += n as u64;
                // Skip line breaks some tools put between records.
                let trimmed: Vec<u8> = {
                    let lead = self
                        .buf
                        .iter()
                        .take_while(|b| matches!(b, b'\n' | b'\r'))
                        .count();
                    self.buf[lead..].to_vec()
                };
                if trimmed.iter().all(|b| b.is_ascii_whitespace()) {
                    self.done = true;
                    return None;
                }
                Some(Ok((start, trimmed)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: BufRead> Iterator for Iso2709Reader<R> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = self.next_raw()?;
        self.record_no += 1;
        let record_no = self.record_no;
        Some(match raw {
            Ok((offset, bytes)) => parse(&bytes).map_err(|reason| RecordError {
                record_no,
                byte_offset: offset,
                reason,
            }),
            Err(e) => Err(RecordError {
                record_no,
                byte_offset: self.offset,
                reason: format!("read error: {e}"),
            }),
        })
    }
}

fn digits(bytes: &[u8]) -> Option<usize> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Parse one record (terminator included or not).
pub fn parse(bytes: &[u8]) -> Result<Record, String> {
    if bytes.len() > MAX_RECORD + 1 {
        return Err(format!(
            "record is {} bytes, longer than ISO 2709 allows",
            bytes.len()
        ));
    }
    if bytes.len() < 25 {
        return Err(format!(
            "record is only {} bytes, shorter than a leader",
            bytes.len()
        ));
    }
    let leader = &bytes[..24];
    if !leader.is_ascii() {
        return Err("leader has non-ASCII bytes".to_owned());
    }
    let base =
        digits(&leader[12..17]).ok_or("leader base address (positions 12-16) is not a number")?;
    let unicode = leader[9] == b'a';
    if base < 25 || base > bytes.len() {
        return Err(format!(
            "base address {base} is outside the record ({} bytes)",
            bytes.len()
        ));
    }
    let directory = &bytes[24..base - 1];
    if !directory.len().is_multiple_of(12) {
        return Err(format!(
            "directory is {} bytes, not a multiple of 12",
            directory.len()
        ));
    }
    let data = &bytes[base..];
    let mut rec = Record {
        leader: String::from_utf8_lossy(leader).into_owned(),
        ..Record::default()
    };
    for entry in directory.chunks_exact(12) {
        let tag = std::str::from_utf8(&entry[..3])
            .map_err(|_| "directory tag is not ASCII".to_owned())?;
        let len =
            digits(&entry[3..7]).ok_or_else(|| format!("field {tag}: length is not a number"))?;
        let start =
            digits(&entry[7..12]).ok_or_else(|| format!("field {tag}: start is not a number"))?;
        let raw = data.get(start..start + len).ok_or_else(|| {
            format!(
                "field {tag}: bytes {start}..{} are outside the record",
                start + len
            )
        })?;
        let raw = raw.strip_suffix(&[FIELD_TERMINATOR]).unwrap_or(raw);
        let text = |b: &[u8]| -> Result<String, String> {
            match std::str::from_utf8(b) {
                Ok(s) => Ok(s.to_owned()),
                Err(_) if unicode => Err(format!("field {tag} is not valid UTF-8")),
                Err(_) => Err(format!(
                    "MARC-8 record with non-ASCII bytes in field {tag}; MARC-8 decoding is not supported yet"
                )),
            }
        };
        if !unicode && !raw.is_ascii() {
            return Err(format!(
                "MARC-8 record with non-ASCII bytes in field {tag}; MARC-8 decoding is not supported yet"
            ));
        }
        if tag.starts_with("00") {
            rec.control_fields.push((tag.to_owned(), text(raw)?));
            continue;
        }
        let mut parts = raw.split(|b| *b == SUBFIELD_DELIMITER);
        let indicators = parts.next().unwrap_or_default();
        let ind = |i: usize| indicators.get(i).map_or(' ', |b| char::from(*b));
        let mut field = DataField {
            tag: tag.to_owned(),
            ind1: ind(0),
            ind2: ind(1),
            subfields: Vec::new(),
        };
        for sub in parts {
            let Some((&code, value)) = sub.split_first() else {
                continue;
            };
            field.subfields.push((char::from(code), text(value)?));
        }
        rec.data_fields.push(field);
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Build a record from (tag, field bytes) pairs.
    pub(crate) fn build(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut dir = Vec::new();
        let mut data = Vec::new();
        for (tag, value) in fields {
            let start = data.len();
            data.extend_from_slice(value.as_bytes());
            data.push(FIELD_TERMINATOR);
            dir.extend_from_slice(format!("{tag}{:04}{:05}", data.len() - start, start).as_bytes());
        }
        dir.push(FIELD_TERMINATOR);
        let base = 24 + dir.len();
        let total = base + data.len() + 1;
        let mut rec = format!("{total:05}nam a22{base:05}   4500").into_bytes();
        rec.extend(dir);
        rec.extend(data);
        rec.push(RECORD_TERMINATOR);
        rec
    }

    #[test]
    fn a_broken_record_in_the_middle_does_not_stop_the_rest() {
        let good1 = build(&[("001", "one"), ("245", "10\u{1F}aFirst /\u{1F}cA.")]);
        let mut bad = build(&[("001", "two"), ("245", "10\u{1F}aSecond")]);
        bad[12..17].copy_from_slice(b"9x999");
        let good2 = build(&[("001", "three"), ("245", "10\u{1F}a书名")]);
        let all = [good1.clone(), bad.clone(), good2].concat();
        let out: Vec<_> = Iso2709Reader::new(all.as_slice()).collect();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].as_ref().unwrap().control_number(), Some("one"));
        let err = out[1].as_ref().unwrap_err();
        assert_eq!((err.record_no, err.byte_offset), (2, good1.len() as u64));
        assert!(err.reason.contains("base address"), "{err}");
        assert_eq!(out[2].as_ref().unwrap().subfield("245", 'a'), Some("书名"));
    }

    #[test]
    fn marc8_with_non_ascii_is_refused_clearly() {
        let mut rec = build(&[("245", "10\u{1F}aCaf\u{e9}")]);
        rec[9] = b' ';
        let err = parse(&rec).unwrap_err();
        assert!(err.contains("MARC-8"), "{err}");
        let mut ascii = build(&[("245", "10\u{1F}aPlain")]);
        ascii[9] = b' ';
        assert_eq!(parse(&ascii).unwrap().subfield("245", 'a'), Some("Plain"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            for r in Iso2709Reader::new(bytes.as_slice()) {
                let _ = r;
            }
        }

        #[test]
        fn a_mutated_record_never_panics(pos in 0usize..60, b in any::<u8>()) {
            let mut rec = build(&[("001", "x"), ("245", "10\u{1F}aTitle"), ("020", "  \u{1F}a0306406152")]);
            if pos < rec.len() {
                rec[pos] = b;
            }
            let _ = parse(&rec);
        }
    }
}
