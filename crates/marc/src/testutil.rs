//! Test helpers: build records in ISO 2709 so tests can say what they feed the reader.

use crate::record::{DataField, Leader, Record, Tag};

pub(crate) fn tag(t: &str) -> Tag {
    Tag::new(t.as_bytes()).unwrap()
}

/// A data field as (tag, indicators, subfields).
pub(crate) type Field<'a> = (&'a str, &'a str, &'a [(char, &'a str)]);

/// A record from control fields and data fields given as ("245", "10", [('a', "Title")]).
pub(crate) fn record(control: &[(&str, &str)], data: &[Field<'_>]) -> Record {
    Record {
        leader: Leader::new(b"00000nam a2200000   4500").unwrap(),
        control_fields: control
            .iter()
            .map(|(t, v)| (tag(t), (*v).to_owned()))
            .collect(),
        data_fields: data
            .iter()
            .map(|(t, ind, subs)| {
                let mut ind = ind.chars();
                DataField {
                    tag: tag(t),
                    ind1: ind.next().unwrap(),
                    ind2: ind.next().unwrap(),
                    subfields: subs.iter().map(|(c, v)| (*c, (*v).to_owned())).collect(),
                }
            })
            .collect(),
    }
}

/// ISO 2709 bytes for `r`, with the leader's length and base address filled in.
pub(crate) fn encode(r: &Record) -> Vec<u8> {
    let mut directory = Vec::new();
    let mut data = Vec::new();
    let mut push = |tag: &Tag, bytes: &[u8]| {
        let start = data.len();
        data.extend_from_slice(bytes);
        data.push(0x1E);
        directory.extend_from_slice(tag.as_bytes());
        directory.extend_from_slice(format!("{:04}{:05}", data.len() - start, start).as_bytes());
    };
    for (tag, value) in &r.control_fields {
        push(tag, value.as_bytes());
    }
    for field in &r.data_fields {
        let mut bytes = format!("{}{}", field.ind1, field.ind2).into_bytes();
        for (code, value) in &field.subfields {
            bytes.push(0x1F);
            bytes.extend_from_slice(code.to_string().as_bytes());
            bytes.extend_from_slice(value.as_bytes());
        }
        push(&field.tag, &bytes);
    }
    directory.push(0x1E);
    let base = 24 + directory.len();
    let total = base + data.len() + 1;
    let mut out = r.leader.as_bytes().to_vec();
    out[..5].copy_from_slice(format!("{total:05}").as_bytes());
    out[12..17].copy_from_slice(format!("{base:05}").as_bytes());
    out.extend(directory);
    out.extend(data);
    out.push(0x1D);
    out
}
