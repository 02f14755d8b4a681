//! Bytes to a small element tree: the only place that talks to the XML parser.
//!
//! Reading into a tree first keeps the mapping to the model (`read.rs`) free of parser details
//! and lets it look elements up by name in any order, as sloppy partners require. The tree keeps
//! local names only; the namespace is checked on the root, and elements of other namespaces
//! (vendor extensions) are kept apart so that they are never taken for ISO 18626 elements of
//! the same local name. Everything an attacker could use
//! to make us do unbounded work is refused here: DTDs (so no entity expansion at all), undeclared
//! entities and nesting deeper than [`MAX_DEPTH`].

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::error::ParseError;

/// The deepest element nesting accepted. ISO 18626 needs 6 levels
/// (`ISO18626Message/request/requestedDeliveryInfo/address/physicalAddress/country`).
pub(crate) const MAX_DEPTH: usize = 32;

/// An element with its local name, attributes (local name, value), direct text and children.
#[derive(Debug, Default)]
pub(crate) struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
    /// Whether neither it nor any descendant holds text; set when the element is closed.
    empty: bool,
    /// In a namespace other than ISO 18626's (a vendor extension): skipped by every lookup.
    /// Elements without a namespace, or with an undeclared prefix, are not foreign: sloppy
    /// peers write them and mean ISO 18626.
    foreign: bool,
}

impl Element {
    /// Children with this local name, in document order.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children
            .iter()
            .filter(move |c| !c.foreign && c.name == name)
    }

    /// The children that are ISO 18626 elements, in document order.
    pub fn own_children(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter(|c| !c.foreign)
    }

    /// The first child with this local name that is not empty.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| !c.foreign && c.name == name && !c.is_empty())
    }

    /// The first child element in the ISO 18626 namespace, whatever its name.
    pub fn first_child(&self) -> Option<&Element> {
        self.own_children().next()
    }

    /// Element text with surrounding whitespace removed; partners pretty-print values too.
    pub fn value(&self) -> &str {
        self.text.trim()
    }

    /// No text other than whitespace, in it or in any descendant: `<x/>`, `<x> </x>`, and
    /// `<supplyingAgencyId><agencyIdType/><agencyIdValue/></supplyingAgencyId>` as well.
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    pub fn attribute(&self, local_name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == local_name)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed document: its root element and the namespace the root is in ("" for none).
#[derive(Debug)]
pub(crate) struct Document {
    pub root: Element,
    pub root_namespace: String,
}

/// Parses `xml` into a tree, refusing what is not well-formed or not allowed (see module docs).
pub(crate) fn parse_document(xml: &[u8]) -> Result<Document, ParseError> {
    let (text, offset) = decode(xml)?;
    let mut reader = NsReader::from_str(&text);
    let at = |position: u64, detail: String| ParseError::badly_formed(position + offset, detail);

    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut root_namespace = String::new();
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(at(reader.error_position(), e.to_string())),
        };
        let here = reader.buffer_position();
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if open.len() >= MAX_DEPTH {
                    return Err(at(
                        here,
                        format!("elements nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let (namespace, _) = reader.resolver().resolve_element(start.name());
                let foreign = match &namespace {
                    ResolveResult::Bound(ns) => ns.into_inner() != crate::model::NAMESPACE,
                    ResolveResult::Unbound | ResolveResult::Unknown(_) => false,
                };
                if open.is_empty() {
                    if root.is_some() {
                        return Err(at(here, "a second root element".to_owned()));
                    }
                    root_namespace = match namespace {
                        ResolveResult::Bound(ns) => ns.into_inner().to_owned(),
                        ResolveResult::Unbound => String::new(),
                        ResolveResult::Unknown(prefix) => {
                            return Err(at(
                                here,
                                format!("undeclared namespace prefix {prefix:?}"),
                            ));
                        }
                    };
                }
                let mut element = element(start).map_err(|detail| at(here, detail))?;
                element.foreign = foreign && !open.is_empty();
                if matches!(event, Event::Start(_)) {
                    open.push(element);
                } else {
                    close(element, &mut open, &mut root);
                }
            }
            Event::End(_) => match open.pop() {
                Some(element) => close(element, &mut open, &mut root),
                None => return Err(at(here, "an end tag without a start tag".to_owned())),
            },
            Event::Text(t) => {
                append_text(&mut open, &t.xml10_content()).map_err(|d| at(here, d))?
            }
            Event::CData(t) => {
                append_text(&mut open, &t.xml10_content()).map_err(|d| at(here, d))?
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) | Err(_) => {
                            return Err(at(here, format!("bad character reference &{};", &*r)));
                        }
                    }
                } else {
                    match predefined_entity(&r) {
                        Some(s) => s.to_owned(),
                        None => return Err(at(here, format!("undeclared entity &{};", &*r))),
                    }
                };
                append_text(&mut open, &resolved).map_err(|d| at(here, d))?;
            }
            Event::DocType(_) => {
                return Err(at(
                    here,
                    "a DOCTYPE is not allowed in an ISO 18626 message".to_owned(),
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(unclosed) = open.last() {
        let end = text.len() as u64;
        return Err(at(
            end,
            format!("the document ends inside <{}>", unclosed.name),
        ));
    }
    match root {
        Some(root) => Ok(Document {
            root,
            root_namespace,
        }),
        None => Err(at(0, "no root element".to_owned())),
    }
}

/// The text as UTF-8 and the offset of where it starts in `xml` (after a byte order mark and
/// line breaks). UTF-8 is read as it is. Other text is read in the encoding its XML declaration
/// names (GBK, GB18030, Big5, ISO-8859-1 / windows-1252 ...: older and national systems still
/// send them), or as UTF-16 when it starts with a UTF-16 byte order mark; anything else is
/// refused, saying where the first byte that is not UTF-8 is.
fn decode(xml: &[u8]) -> Result<(Cow<'_, str>, u64), ParseError> {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(xml)
        && encoding != encoding_rs::UTF_8
    {
        let text = encoding
            .decode_without_bom_handling_and_without_replacement(&xml[bom..])
            .ok_or_else(|| {
                ParseError::badly_formed(
                    bom as u64,
                    format!(
                        "not valid {} text after its byte order mark",
                        encoding.name()
                    ),
                )
            })?;
        let text = text.trim_start();
        return Ok((Cow::Owned(text.to_owned()), bom as u64));
    }
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let (body, offset) = match xml.strip_prefix(BOM) {
        Some(rest) => (rest, BOM.len() as u64),
        None => (xml, 0),
    };
    // Whitespace before the XML declaration is not allowed, but peers' templates and proxies
    // add line breaks there; nothing is lost by skipping it.
    let trimmed = body.trim_ascii_start();
    let offset = offset + (body.len() - trimmed.len()) as u64;
    let body = trimmed;
    match std::str::from_utf8(body) {
        Ok(s) => Ok((Cow::Borrowed(s), offset)),
        Err(e) => match declared_encoding(body).filter(|enc| *enc != encoding_rs::UTF_8) {
            Some(encoding) => encoding
                .decode_without_bom_handling_and_without_replacement(body)
                .map(|text| (Cow::Owned(text.into_owned()), offset))
                .ok_or_else(|| {
                    ParseError::badly_formed(
                        offset,
                        format!(
                            "not valid {} text, the encoding it declares",
                            encoding.name()
                        ),
                    )
                }),
            None => Err(ParseError::badly_formed(
                e.valid_up_to() as u64 + offset,
                "not UTF-8 text, and no other encoding is declared",
            )),
        },
    }
}

/// The encoding the XML declaration names (`<?xml version="1.0" encoding="GBK"?>`), if it is
/// one known by its label (`ISO-8859-1`, `latin1`, `GB2312`, `Big5` ...).
fn declared_encoding(body: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let decl = body.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).position(|w| w == b"?>")?;
    let decl = &decl[..end];
    let at = decl
        .windows(8)
        .position(|w| w.eq_ignore_ascii_case(b"encoding"))?;
    let rest = decl[at + 8..]
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let label = &rest[1..];
    let label = &label[..label.iter().position(|b| *b == quote)?];
    encoding_rs::Encoding::for_label(label)
}

fn element(start: &BytesStart<'_>) -> Result<Element, String> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = attribute.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        attributes.push((key.local_name().into_inner().to_owned(), value.into_owned()));
    }
    Ok(Element {
        name: start.local_name().into_inner().to_owned(),
        attributes,
        ..Element::default()
    })
}

/// Puts a finished element into its parent, or makes it the root.
fn close(mut element: Element, open: &mut [Element], root: &mut Option<Element>) {
    element.empty =
        element.value().is_empty() && element.children.iter().all(|c| c.foreign || c.is_empty());
    match open.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn append_text(open: &mut [Element], text: &str) -> Result<(), String> {
    match open.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err("text outside the root element".to_owned()),
    }
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    match name {
        "lt" => Some("<"),
        "gt" => Some(">"),
        "amp" => Some("&"),
        "apos" => Some("'"),
        "quot" => Some("\""),
        _ => None,
    }
}
