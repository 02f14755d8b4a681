//! Streaming MARCXML (MARC 21 slim): `collection`/`record`, or a lone `record`, with or without a
//! namespace prefix. Elements are matched by local name, so `marc:record`, `ns0:record` and a
//! default-namespace `record` all read the same; the namespace itself is not checked, because
//! real exports omit or misspell it more often than they mean anything else.
//!
//! A record with a bad leader, tag or subfield code is an error for that record and reading goes
//! on; XML that is not well-formed ends the stream with one error, since after a syntax error
//! nothing reliably says where the next record starts.

use std::io::BufRead;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::error::{Reason, RecordError};
use crate::record::{DataField, Leader, Record, Tag};

/// Reads MARCXML records from `input`, one `<record>` in memory at a time.
pub struct MarcXmlReader<R> {
    reader: quick_xml::Reader<R>,
    buf: Vec<u8>,
    record_no: u64,
    /// Where the last record yielded started.
    last_offset: u64,
    done: bool,
}

/// The element whose text is being gathered.
enum Gathering {
    Nothing,
    Leader,
    Control(Tag),
    Subfield(char),
}

/// A record being read, and the first thing found wrong with it.
struct Partial {
    leader: Option<Leader>,
    record: Record,
    field: Option<DataField>,
    gathering: Gathering,
    text: String,
    problem: Option<Reason>,
}

impl Partial {
    fn new() -> Self {
        Partial {
            leader: None,
            record: Record::default(),
            field: None,
            gathering: Gathering::Nothing,
            text: String::new(),
            problem: None,
        }
    }

    fn fail(&mut self, detail: String) {
        if self.problem.is_none() {
            self.problem = Some(Reason::BadMarcXml { detail });
        }
    }

    fn open(&mut self, start: &BytesStart<'_>) {
        let name = start.local_name();
        if matches!(name.as_ref(), "leader" | "controlfield" | "subfield") {
            self.text.clear();
        }
        match name.as_ref() {
            "leader" => self.gathering = Gathering::Leader,
            "controlfield" => match self.tag(start, "controlfield") {
                Some(tag) => self.gathering = Gathering::Control(tag),
                None => self.gathering = Gathering::Nothing,
            },
            "datafield" => {
                let tag = self.tag(start, "datafield");
                let ind1 = self.indicator(start, "ind1");
                let ind2 = self.indicator(start, "ind2");
                self.field = tag.map(|tag| DataField {
                    tag,
                    ind1,
                    ind2,
                    subfields: Vec::new(),
                });
            }
            "subfield" => match attribute(start, "code") {
                Ok(Some(code)) => {
                    let mut chars = code.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => self.gathering = Gathering::Subfield(c),
                        _ => self.fail(format!("subfield code {code:?} is not one character")),
                    }
                }
                Ok(None) => self.fail("a subfield has no code".to_owned()),
                Err(e) => self.fail(e),
            },
            _ => {}
        }
    }

    /// Elements other than MARC's (an `<i>` inside a subfield, say) change nothing: their text
    /// stays part of the subfield.
    fn close(&mut self, local_name: &str) {
        match local_name {
            "leader" | "controlfield" | "subfield" => {}
            "datafield" => {
                if let Some(field) = self.field.take() {
                    self.record.data_fields.push(field);
                }
                return;
            }
            _ => return,
        }
        let text = std::mem::take(&mut self.text);
        match (
            local_name,
            std::mem::replace(&mut self.gathering, Gathering::Nothing),
        ) {
            ("leader", Gathering::Leader) => match Leader::new(text.as_bytes()) {
                Some(leader) => self.leader = Some(leader),
                None => {
                    if self.problem.is_none() {
                        self.problem = Some(Reason::BadLeader { found: text });
                    }
                }
            },
            ("controlfield", Gathering::Control(tag)) => {
                self.record.control_fields.push((tag, text));
            }
            ("subfield", Gathering::Subfield(code)) => {
                if let Some(field) = &mut self.field {
                    field.subfields.push((code, text));
                }
            }
            _ => {}
        }
    }

    fn tag(&mut self, start: &BytesStart<'_>, element: &str) -> Option<Tag> {
        match attribute(start, "tag") {
            Ok(Some(tag)) => {
                let parsed = Tag::new(tag.as_bytes());
                if parsed.is_none() {
                    self.fail(format!(
                        "{element} tag {tag:?} is not three ASCII characters"
                    ));
                }
                parsed
            }
            Ok(None) => {
                self.fail(format!("a {element} has no tag"));
                None
            }
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn indicator(&mut self, start: &BytesStart<'_>, name: &str) -> char {
        match attribute(start, name) {
            Ok(value) => value.and_then(|v| v.chars().next()).unwrap_or(' '),
            Err(e) => {
                self.fail(e);
                ' '
            }
        }
    }

    fn push_text(&mut self, text: &str) {
        if !matches!(self.gathering, Gathering::Nothing) {
            self.text.push_str(text);
        }
    }

    fn push_reference(&mut self, reference: &BytesRef<'_>) {
        if matches!(self.gathering, Gathering::Nothing) {
            return;
        }
        let resolved = match reference.resolve_char_ref() {
            Ok(Some(c)) => Some(c),
            Ok(None) => match quick_xml::escape::resolve_predefined_entity(reference) {
                Some(s) => {
                    self.text.push_str(s);
                    return;
                }
                None => None,
            },
            Err(_) => None,
        };
        match resolved {
            Some(c) => self.text.push(c),
            None => self.fail(format!("unknown reference &{};", &**reference)),
        }
    }

    fn finish(self) -> Result<Record, (Reason, Option<String>)> {
        let control_number = || self.record.control_number().map(|c| c.trim().to_owned());
        if let Some(problem) = self.problem.clone() {
            return Err((problem, control_number()));
        }
        match self.leader {
            Some(leader) => Ok(Record {
                leader,
                ..self.record
            }),
            None => Err((
                Reason::BadMarcXml {
                    detail: "the record has no leader".to_owned(),
                },
                control_number(),
            )),
        }
    }
}

/// The value of attribute `name` (by local name), entities resolved.
fn attribute(start: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("bad attribute: {e}"))?;
        if attribute.key.local_name().as_ref() == name {
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| format!("bad attribute {name}: {e}"))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

impl<R: BufRead> MarcXmlReader<R> {
    pub fn new(input: R) -> Self {
        MarcXmlReader {
            reader: quick_xml::Reader::from_reader(input),
            buf: Vec::with_capacity(4096),
            record_no: 0,
            last_offset: 0,
            done: false,
        }
    }

    /// The 1-based number and byte offset of the record last yielded (good or bad): where a
    /// caller that refuses a well-formed record can say it is.
    pub fn position(&self) -> (u64, u64) {
        (self.record_no, self.last_offset)
    }

    /// A syntax error ends the stream: says where, since the record's offset is only its start.
    fn syntax_error(&mut self, e: &quick_xml::Error) -> (u64, Reason) {
        self.done = true;
        let at = self.reader.error_position();
        (
            at,
            Reason::XmlSyntax {
                detail: format!("at byte {at}: {e}"),
            },
        )
    }

    /// Read the rest of a record whose start tag has been read.
    fn read_record(&mut self) -> Result<Record, (Reason, Option<String>)> {
        let mut partial = Partial::new();
        loop {
            self.buf.clear();
            match self.reader.read_event_into(&mut self.buf) {
                Ok(Event::Start(start)) => partial.open(&start),
                Ok(Event::Empty(start)) => {
                    partial.open(&start);
                    let name = start.local_name();
                    partial.close(name.as_ref());
                }
                Ok(Event::End(end)) => {
                    let name = end.local_name();
                    if name.as_ref() == "record" {
                        return partial.finish();
                    }
                    partial.close(name.as_ref());
                }
                Ok(Event::Text(text)) => partial.push_text(&text.xml10_content()),
                Ok(Event::CData(text)) => partial.push_text(&text.xml10_content()),
                Ok(Event::GeneralRef(reference)) => partial.push_reference(&reference),
                Ok(Event::Eof) => {
                    self.done = true;
                    let reason = Reason::XmlSyntax {
                        detail: "the input ends inside a <record>".to_owned(),
                    };
                    return Err((reason, partial.record.control_number().map(str::to_owned)));
                }
                Ok(Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_)) => {}
                Err(e) => {
                    let (_, reason) = self.syntax_error(&e);
                    return Err((reason, partial.record.control_number().map(str::to_owned)));
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for MarcXmlReader<R> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let before = self.reader.buffer_position();
            self.buf.clear();
            let (is_record, empty) = match self.reader.read_event_into(&mut self.buf) {
                Ok(Event::Start(start)) => (start.local_name().as_ref() == "record", false),
                Ok(Event::Empty(start)) => (start.local_name().as_ref() == "record", true),
                Ok(Event::Eof) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => continue,
                Err(e) => {
                    let (at, reason) = self.syntax_error(&e);
                    self.record_no += 1;
                    return Some(Err(RecordError {
                        record_no: self.record_no,
                        byte_offset: at,
                        control_number: None,
                        reason,
                    }));
                }
            };
            if !is_record {
                continue;
            }
            self.record_no += 1;
            self.last_offset = before;
            let outcome = if empty {
                Partial::new().finish()
            } else {
                self.read_record()
            };
            return Some(outcome.map_err(|(reason, control_number)| RecordError {
                record_no: self.record_no,
                byte_offset: before,
                control_number,
                reason,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn read_all(xml: &str) -> Vec<Result<Record, RecordError>> {
        MarcXmlReader::new(xml.as_bytes()).collect()
    }

    const PREFIXED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by hand -->
<marc:collection xmlns:marc="http://www.loc.gov/MARC21/slim">
  <marc:record>
    <marc:leader>00925njm  22002777a 4500</marc:leader>
    <marc:controlfield tag="001">5637241</marc:controlfield>
    <marc:datafield tag="245" ind1="0" ind2="4">
      <marc:subfield code="a">The &amp; Co. &#x4E66; book :</marc:subfield>
      <marc:subfield code="b"><![CDATA[<a subtitle>]]> /</marc:subfield>
      <marc:subfield code="c"/>
    </marc:datafield>
    <marc:datafield tag="650" ind1=" " ind2="0"><marc:subfield code="a">Jazz.</marc:subfield></marc:datafield>
  </marc:record>
  <marc:record>
    <marc:leader>00000cam a2200000   4500</marc:leader>
    <marc:controlfield tag="001">second</marc:controlfield>
  </marc:record>
</marc:collection>"#;

    #[test]
    fn a_prefixed_collection_reads_with_entities_and_cdata() {
        let out = read_all(PREFIXED);
        assert_eq!(out.len(), 2);
        let r = out[0].as_ref().unwrap();
        assert_eq!(r.leader.as_str(), "00925njm  22002777a 4500");
        assert_eq!(r.control_number(), Some("5637241"));
        let f245 = r.field("245").unwrap();
        assert_eq!((f245.ind1, f245.ind2), ('0', '4'));
        assert_eq!(f245.subfield('a'), Some("The & Co. 书 book :"));
        assert_eq!(f245.subfield('b'), Some("<a subtitle> /"));
        assert_eq!(f245.subfield('c'), Some(""));
        assert_eq!(r.subfield("650", 'a'), Some("Jazz."));
        assert_eq!(out[1].as_ref().unwrap().control_number(), Some("second"));
    }

    #[test]
    fn unprefixed_and_lone_records_read_the_same() {
        let default_ns = PREFIXED
            .replace("marc:", "")
            .replace("xmlns:marc=", "xmlns=");
        let out = read_all(&default_ns);
        assert_eq!(out, read_all(PREFIXED));

        let lone = r#"<record><leader>00000cam a2200000   4500</leader>
            <controlfield tag="001">x</controlfield></record>"#;
        assert_eq!(
            read_all(lone)[0].as_ref().unwrap().control_number(),
            Some("x")
        );
    }

    #[test]
    fn a_bad_record_in_the_middle_is_an_error_and_reading_goes_on() {
        let xml = r#"<collection>
<record><leader>00000cam a2200000   4500</leader><controlfield tag="001">one</controlfield></record>
<record><leader>      Z   22 4500</leader><controlfield tag="001">two</controlfield></record>
<record><leader>00000cam a2200000   4500</leader><datafield tag="42" ind1=" " ind2=" "/></record>
<record><leader>00000cam a2200000   4500</leader><controlfield tag="001">four</controlfield></record>
</collection>"#;
        let out = read_all(xml);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].as_ref().unwrap().control_number(), Some("one"));
        let err = out[1].as_ref().unwrap_err();
        assert_eq!(err.record_no, 2);
        assert_eq!(
            err.byte_offset as usize,
            xml.find("<record><leader>      Z").unwrap()
        );
        assert_eq!(err.reason.code(), "bad_leader");
        assert_eq!(err.control_number.as_deref(), Some("two"));
        let err = out[2].as_ref().unwrap_err();
        assert!(err.reason.to_string().contains("\"42\""), "{err}");
        assert_eq!(out[3].as_ref().unwrap().control_number(), Some("four"));
    }

    #[test]
    fn malformed_xml_ends_the_stream_with_one_error() {
        let xml = r#"<collection>
<record><leader>00000cam a2200000   4500</leader></record>
<record><leader>00000cam a2200000   4500</leader><controlfield tag="001">x</wrong></record>
<record><leader>00000cam a2200000   4500</leader></record>
</collection>"#;
        let out = read_all(xml);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].is_ok());
        let err = out[1].as_ref().unwrap_err();
        assert_eq!(err.reason.code(), "xml_syntax");
        assert_eq!(err.record_no, 2);

        let cut = &PREFIXED[..PREFIXED.find("</marc:record>").unwrap()];
        let out = read_all(cut);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_ref().unwrap_err().reason.code(), "xml_syntax");
    }

    #[test]
    fn markup_inside_a_subfield_keeps_its_text() {
        let xml = r#"<record><leader>00000cam a2200000   4500</leader>
            <datafield tag="245" ind1="0" ind2="0"><subfield code="a">A <i>fine</i> book</subfield>
            </datafield></record>"#;
        let out = read_all(xml);
        assert_eq!(
            out[0].as_ref().unwrap().subfield("245", 'a'),
            Some("A fine book")
        );
    }

    #[test]
    fn records_without_a_leader_or_with_unknown_entities_are_refused() {
        let xml = r#"<collection><record/><record><leader>00000cam a2200000   4500</leader>
            <datafield tag="245" ind1="0" ind2="0"><subfield code="a">&nbsp;</subfield></datafield>
            </record></collection>"#;
        let out = read_all(xml);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_ref().unwrap_err().reason.code(), "bad_marcxml");
        assert!(out[1].is_err(), "{out:?}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            for r in MarcXmlReader::new(bytes.as_slice()) {
                let _ = r;
            }
        }

        #[test]
        fn arbitrary_marcxml_like_text_never_panics(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("<record>".to_owned()),
                    Just("</record>".to_owned()),
                    Just("<leader>".to_owned()),
                    Just("</leader>".to_owned()),
                    Just("<datafield tag=\"245\" ind1=\"1\" ind2=\"0\">".to_owned()),
                    Just("</datafield>".to_owned()),
                    Just("<subfield code=\"a\">".to_owned()),
                    Just("</subfield>".to_owned()),
                    Just("<controlfield tag=\"001\">".to_owned()),
                    Just("</controlfield>".to_owned()),
                    Just("&amp;".to_owned()),
                    Just("&#0;".to_owned()),
                    "[ -~]{0,30}",
                ],
                0..30,
            )
        ) {
            let xml = parts.concat();
            for r in MarcXmlReader::new(xml.as_bytes()) {
                let _ = r;
            }
        }
    }
}
