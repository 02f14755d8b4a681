//! The element tree to the model, accepting both schema versions and the usual sloppiness.
//!
//! Elements are found by local name wherever they are among their siblings, so both versions'
//! child orders read alike, and each renamed or moved element is looked for under both names
//! (`sentVia`/`deliveryMethod`, `offeredCosts` in `messageInfo` or `retryInfo` ...). Empty
//! elements count as absent. Unknown elements are skipped: the standard's open lists grow and
//! partners add their own elements, and neither should stop a loan. What the model needs and
//! cannot do without is required (`MissingElement`); values of closed lists, booleans, numbers
//! and amounts must be valid (`BadValue`).

use std::str::FromStr;

use crate::error::ParseError;
use crate::model::*;
use crate::tree::{Element, parse_document};

/// Reads one ISO 18626 message and tells which schema version it was written in.
///
/// The version is judged by content (elements and child orders only one version has), then by
/// the root's `version` attribute, and is 2017 when neither tells, as most deployed peers speak
/// 2017.
pub fn parse(xml: &[u8]) -> Result<(Message, Version), ParseError> {
    let document = parse_document(xml)?;
    let root = &document.root;
    if document.root_namespace != NAMESPACE {
        return Err(ParseError::WrongNamespace {
            found: document.root_namespace,
        });
    }
    if root.name != "ISO18626Message" {
        return Err(ParseError::UnknownRoot {
            found: root.name.clone(),
        });
    }
    let Some(element) = root.first_child() else {
        return Err(ParseError::UnknownRoot {
            found: "an empty ISO18626Message".to_owned(),
        });
    };
    let node = Node {
        element,
        path: element.name.clone(),
    };
    let message = match element.name.as_str() {
        "request" => Message::Request(request(&node)?),
        "requestConfirmation" => Message::RequestConfirmation(confirmation(&node, None)?),
        "supplyingAgencyMessage" => Message::SupplyingAgencyMessage(supplying(&node)?),
        "supplyingAgencyMessageConfirmation" => Message::SupplyingAgencyMessageConfirmation(
            confirmation(&node, Some("reasonForMessage"))?,
        ),
        "requestingAgencyMessage" => Message::RequestingAgencyMessage(requesting(&node)?),
        "requestingAgencyMessageConfirmation" => {
            Message::RequestingAgencyMessageConfirmation(confirmation(&node, Some("action"))?)
        }
        other => {
            return Err(ParseError::UnknownRoot {
                found: format!("ISO18626Message/{other}"),
            });
        }
    };
    let mut message = message;
    restore_2021_values(&mut message);
    message.header_mut().schemes = schemes_of(element);
    Ok((message, detect_version(root, element)))
}

/// A 2017 message that carries a 2021-only status or action as [`marker_2021`] at the start of
/// its note (as `crate::write` writes them for 2017 peers) gets that value back, and its note
/// without the marker.
fn restore_2021_values(message: &mut Message) {
    fn take_marker<T: Copy>(
        note: &mut Option<String>,
        values: &[T],
        name: fn(T) -> &'static str,
    ) -> Option<T> {
        let text = note.as_deref()?;
        let (value, rest) = values.iter().find_map(|v| {
            text.strip_prefix(&marker_2021(name(*v)))
                .map(|rest| (*v, rest.trim_start().to_owned()))
        })?;
        *note = (!rest.is_empty()).then_some(rest);
        Some(value)
    }
    match message {
        Message::SupplyingAgencyMessage(m) if m.status_info.status == Status::Loaned => {
            let only_2021 = [Status::HoldReturn, Status::ReleaseHoldReturn];
            if let Some(status) = take_marker(&mut m.message_info.note, &only_2021, Status::as_str)
            {
                m.status_info.status = status;
            }
        }
        Message::RequestingAgencyMessage(m) if m.action == Action::Notification => {
            let only_2021 = [Action::HoldReturn, Action::Lost];
            if let Some(action) = take_marker(&mut m.note, &only_2021, Action::as_str) {
                m.action = action;
            }
        }
        _ => {}
    }
}

/// The `scheme` attributes of the scheme/value pairs under `message`, by [`Schemes`] path.
fn schemes_of(message: &Element) -> Schemes {
    fn walk(element: &Element, path: &str, out: &mut Schemes) {
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for child in element.own_children().filter(|c| !c.is_empty()) {
            let name = canonical_name(&child.name);
            let index = match seen.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    seen.push((name, 0));
                    0
                }
            };
            let child_path = scheme_path(path, &child.name, index);
            if SCHEME_VALUE_ELEMENTS.contains(&child.name.as_str())
                && let Some(scheme) = child.attribute("scheme")
            {
                out.set(child_path.clone(), scheme.trim());
            }
            walk(child, &child_path, out);
        }
    }
    let mut out = Schemes::default();
    walk(message, "", &mut out);
    out
}

/// What could be made out of a message that [`parse`] refused: which message it is, in which
/// version, and as much of its header as is there, so that the ERROR confirmation can be of the
/// right kind, in the sender's version, and name the request it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Sniffed {
    /// `request`, `supplyingAgencyMessage` or `requestingAgencyMessage`.
    pub kind: &'static str,
    pub version: Version,
    /// Whatever header fields could be read; missing ones are empty.
    pub header: Header,
    pub reason_for_message: Option<ReasonForMessage>,
    pub action: Option<Action>,
}

/// Reads what it can of a message that may be incomplete or carry bad values: `None` when it is
/// not well-formed XML, not in the ISO 18626 namespace, or not one of the three messages a
/// partner sends (request, supplying and requesting agency message).
pub fn sniff(xml: &[u8]) -> Option<Sniffed> {
    let document = parse_document(xml).ok()?;
    if document.root_namespace != NAMESPACE || document.root.name != "ISO18626Message" {
        return None;
    }
    let element = document.root.first_child()?;
    let kind = match element.name.as_str() {
        "request" => "request",
        "supplyingAgencyMessage" => "supplyingAgencyMessage",
        "requestingAgencyMessage" => "requestingAgencyMessage",
        _ => return None,
    };
    let node = Node {
        element,
        path: element.name.clone(),
    };
    let lenient_agency = |h: &Node<'_>, name: &str| {
        h.child(name)
            .map(|n| AgencyId {
                agency_type: n.text("agencyIdType").unwrap_or_default(),
                value: n.text("agencyIdValue").unwrap_or_default(),
            })
            .unwrap_or_default()
    };
    let header = match node.child("header") {
        Some(h) => Header {
            supplying_agency_id: lenient_agency(&h, "supplyingAgencyId"),
            requesting_agency_id: lenient_agency(&h, "requestingAgencyId"),
            timestamp: h.text("timestamp").unwrap_or_default(),
            requesting_agency_request_id: h.text("requestingAgencyRequestId").unwrap_or_default(),
            supplying_agency_request_id: h.text("supplyingAgencyRequestId"),
            multiple_item_request_id: h.text("multipleItemRequestId"),
            ..Header::default()
        },
        None => Header::default(),
    };
    let reason_for_message = node
        .child("messageInfo")
        .and_then(|m| m.text("reasonForMessage"))
        .and_then(|r| r.parse().ok());
    let action = node.text("action").and_then(|a| a.parse().ok());
    Some(Sniffed {
        kind,
        version: detect_version(&document.root, element),
        header,
        reason_for_message,
        action,
    })
}

/// An element together with its path from the message element, for error messages.
struct Node<'a> {
    element: &'a Element,
    path: String,
}

impl<'a> Node<'a> {
    /// The first non-empty child called `name`.
    fn child(&self, name: &str) -> Option<Node<'a>> {
        self.element.child(name).map(|element| self.node(element))
    }

    /// The first non-empty child called any of `names` (an element renamed between versions).
    fn child_of(&self, names: &[&str]) -> Option<Node<'a>> {
        names.iter().find_map(|name| self.child(name))
    }

    /// The non-empty children called `name`.
    fn children(&self, name: &'a str) -> impl Iterator<Item = Node<'a>> + '_ {
        let element: &'a Element = self.element;
        element
            .children(name)
            .filter(|e| !e.is_empty())
            .map(move |e| self.node(e))
    }

    fn required(&self, name: &str) -> Result<Node<'a>, ParseError> {
        self.child(name)
            .ok_or_else(|| ParseError::missing(format!("{}/{name}", self.path)))
    }

    fn node(&self, element: &'a Element) -> Node<'a> {
        Node {
            element,
            path: format!("{}/{}", self.path, element.name),
        }
    }

    fn value(&self) -> String {
        self.element.value().to_owned()
    }

    fn text(&self, name: &str) -> Option<String> {
        self.child(name).map(|n| n.value())
    }

    fn text_of(&self, names: &[&str]) -> Option<String> {
        self.child_of(names).map(|n| n.value())
    }

    fn texts(&self, name: &'a str) -> Vec<String> {
        self.children(name).map(|n| n.value()).collect()
    }

    fn required_text(&self, name: &str) -> Result<String, ParseError> {
        self.required(name).map(|n| n.value())
    }

    /// A value of a closed list.
    fn code<T: FromStr>(&self, all: &[&str]) -> Result<T, ParseError> {
        let value = self.element.value();
        value.parse().map_err(|_| {
            ParseError::bad_value(&self.path, value, format!("one of {}", all.join(", ")))
        })
    }

    fn optional_code<T: FromStr>(&self, name: &str, all: &[&str]) -> Result<Option<T>, ParseError> {
        self.child(name).map(|n| n.code(all)).transpose()
    }

    /// `type_yesNo` (Y/N); the `xs:boolean` spellings are accepted too.
    fn yes_no(&self, name: &str) -> Result<Option<bool>, ParseError> {
        self.child(name).map(|n| n.boolean("Y or N")).transpose()
    }

    /// `xs:boolean` (true/false/1/0); Y/N are accepted too.
    fn xs_boolean(&self, name: &str) -> Result<Option<bool>, ParseError> {
        self.child(name)
            .map(|n| n.boolean("true or false"))
            .transpose()
    }

    fn boolean(&self, expected: &str) -> Result<bool, ParseError> {
        let value = self.element.value();
        match value.to_ascii_lowercase().as_str() {
            "y" | "yes" | "true" | "1" => Ok(true),
            "n" | "no" | "false" | "0" => Ok(false),
            _ => Err(ParseError::bad_value(&self.path, value, expected)),
        }
    }

    /// `xs:integer` (2017 allows negatives; 2021 does not, but a reader need not care).
    fn sort_order(&self) -> Result<Option<i64>, ParseError> {
        self.child("sortOrder")
            .map(|n| {
                let value = n.element.value();
                value
                    .strip_prefix('+')
                    .unwrap_or(value)
                    .parse()
                    .map_err(|_| ParseError::bad_value(&n.path, value, "a whole number"))
            })
            .transpose()
    }

    /// An `xs:dateTime`, read leniently (see [`lenient_date_time`]) and kept in its valid
    /// lexical form, so that what is read can be written again.
    fn date_time(&self, name: &str) -> Result<Option<String>, ParseError> {
        self.child(name).map(|n| n.date_time_value()).transpose()
    }

    fn required_date_time(&self, name: &str) -> Result<String, ParseError> {
        self.required(name)?.date_time_value()
    }

    fn date_time_value(&self) -> Result<String, ParseError> {
        let value = self.element.value();
        lenient_date_time(value).ok_or_else(|| {
            ParseError::bad_value(
                &self.path,
                value,
                "a date and time such as 2026-11-23T10:00:00Z (xs:dateTime)",
            )
        })
    }
}

fn names<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().copied().map(as_str).collect()
}

fn status_names() -> Vec<&'static str> {
    names(Status::ALL, Status::as_str)
}
fn reason_names() -> Vec<&'static str> {
    names(ReasonForMessage::ALL, ReasonForMessage::as_str)
}
fn action_names() -> Vec<&'static str> {
    names(Action::ALL, Action::as_str)
}
fn service_type_names() -> Vec<&'static str> {
    names(ServiceType::ALL, ServiceType::as_str)
}
fn message_status_names() -> Vec<&'static str> {
    names(MessageStatus::ALL, MessageStatus::as_str)
}
fn error_type_names() -> Vec<&'static str> {
    names(ErrorType::ALL, ErrorType::as_str)
}

/// A value of a closed list that keeps values outside it ([`RequestType`] ...).
fn open_value<T: FromStr<Err = std::convert::Infallible>>(value: String) -> T {
    match value.parse() {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

/// Reads the date-time forms real peers send and gives the `xs:dateTime` lexical form.
/// `2026-11-23T10:00:00Z` stays as it is; a space or `t` for the `T`, a lower-case `z`, an
/// offset without its colon (`+0800`) or minutes (`+08`), a time without seconds, and a date
/// alone (midnight, with its zone if it has one) are repaired. None for anything else.
pub(crate) fn lenient_date_time(text: &str) -> Option<String> {
    let text = text.trim();
    let date = text.get(..10)?;
    let rest = text.get(10..)?;
    if !valid_date(date) {
        return None;
    }
    let (time, zone) = match rest.chars().next() {
        None => ("00:00:00".to_owned(), String::new()),
        Some('Z' | 'z' | '+' | '-') => ("00:00:00".to_owned(), zone_of(rest)?),
        Some('T' | 't' | ' ') => {
            let rest = rest[1..].trim_start();
            let at = rest
                .find(|c: char| matches!(c, 'Z' | 'z' | '+' | '-') || c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            let (time, zone) = rest.split_at(at);
            (time_of(time.trim_end())?, zone_of(zone)?)
        }
        Some(_) => return None,
    };
    Some(format!("{date}T{time}{zone}"))
}

fn digits(s: &str, len: usize, max: u32) -> Option<u32> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| *n <= max)
}

fn valid_date(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(&d[..4], 4, 9999).is_some()
        && digits(&d[5..7], 2, 12).is_some_and(|m| m >= 1)
        && digits(&d[8..], 2, 31).is_some_and(|day| day >= 1)
}

/// `hh:mm`, `hh:mm:ss` or `hh:mm:ss.fff` to `hh:mm:ss[.fff]`.
fn time_of(t: &str) -> Option<String> {
    let (hms, fraction) = match t.split_once('.') {
        Some((hms, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (hms, Some(f)),
        Some(_) => return None,
        None => (t, None),
    };
    let mut parts = hms.split(':');
    let h = digits(parts.next()?, 2, 24)?;
    let m = digits(parts.next()?, 2, 59)?;
    let s = match parts.next() {
        Some(s) => digits(s, 2, 60)?,
        None if fraction.is_none() => 0,
        None => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    let mut out = format!("{h:02}:{m:02}:{s:02}");
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    Some(out)
}

/// ``, `Z`, `z`, `+hh:mm`, `+hhmm` or `+hh` (or `-`) to ``, `Z` or `+hh:mm`.
fn zone_of(z: &str) -> Option<String> {
    let z = z.trim();
    if z.is_empty() {
        return Some(String::new());
    }
    if ["z", "utc", "gmt"]
        .iter()
        .any(|u| z.eq_ignore_ascii_case(u))
    {
        return Some("Z".to_owned());
    }
    let sign = z.get(..1)?;
    let rest = z.get(1..)?;
    let (h, m) = match rest.len() {
        2 => (rest, "00"),
        4 => (rest.get(..2)?, rest.get(2..)?),
        5 if rest.as_bytes()[2] == b':' => (rest.get(..2)?, rest.get(3..)?),
        _ => return None,
    };
    let h = digits(h, 2, 14)?;
    let m = digits(m, 2, 59)?;
    Some(format!("{sign}{h:02}:{m:02}"))
}

// ---------------------------------------------------------------------------------------------
// Headers

/// `header` of a request, supplying or requesting agency message, in either version.
fn header(message: &Node<'_>, supplier_required: bool) -> Result<Header, ParseError> {
    let h = message.required("header")?;
    let supplying_agency_id = match h.child("supplyingAgencyId") {
        Some(n) => agency_id(&n)?,
        None if supplier_required => {
            return Err(ParseError::missing(format!("{}/supplyingAgencyId", h.path)));
        }
        None => AgencyId::default(),
    };
    Ok(Header {
        supplying_agency_id,
        requesting_agency_id: agency_id(&h.required("requestingAgencyId")?)?,
        consortial_id: h.child("consortialId").map(|n| agency_id(&n)).transpose()?,
        multiple_item_request_id: h.text("multipleItemRequestId"),
        timestamp: h.required_date_time("timestamp")?,
        requesting_agency_request_id: h.required_text("requestingAgencyRequestId")?,
        supplying_agency_request_id: h.text("supplyingAgencyRequestId"),
        requesting_agency_authentication: h.child("requestingAgencyAuthentication").map(|a| {
            Authentication {
                account_id: a.text("accountId"),
                security_code: a.text("securityCode"),
            }
        }),
        ..Header::default()
    })
}

/// One of the three confirmations; `answers` is the element naming what is confirmed, if that
/// kind has one (`reasonForMessage` or `action`).
fn confirmation(message: &Node<'_>, answers: Option<&str>) -> Result<Confirmation, ParseError> {
    let h = message.required("confirmationHeader")?;
    let mut errors = message
        .children("errorData")
        .map(|e| {
            Ok(ErrorData {
                error_type: e.required("errorType")?.code(&error_type_names())?,
                error_value: e.text("errorValue").unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, ParseError>>()?
        .into_iter();
    let header = Header {
        supplying_agency_id: h
            .child("supplyingAgencyId")
            .map(|n| agency_id(&n))
            .transpose()?
            .unwrap_or_default(),
        requesting_agency_id: h
            .child("requestingAgencyId")
            .map(|n| agency_id(&n))
            .transpose()?
            .unwrap_or_default(),
        timestamp: h.required_date_time("timestamp")?,
        requesting_agency_request_id: h.text("requestingAgencyRequestId").unwrap_or_default(),
        multiple_item_request_id: h.text("multipleItemRequestId"),
        timestamp_received: h.date_time("timestampReceived")?,
        message_status: Some(h.required("messageStatus")?.code(&message_status_names())?),
        error_data: errors.next(),
        additional_error_data: errors.collect(),
        ..Header::default()
    };
    Ok(Confirmation {
        header,
        reason_for_message: match answers {
            Some("reasonForMessage") => {
                message.optional_code("reasonForMessage", &reason_names())?
            }
            _ => None,
        },
        action: match answers {
            Some("action") => message.optional_code("action", &action_names())?,
            _ => None,
        },
    })
}

fn agency_id(n: &Node<'_>) -> Result<AgencyId, ParseError> {
    Ok(AgencyId {
        agency_type: n.required_text("agencyIdType")?,
        value: n.required_text("agencyIdValue")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Request

fn request(message: &Node<'_>) -> Result<Request, ParseError> {
    let header = header(message, false)?;
    // Required, but an empty one is a request without details rather than a broken message.
    let bibliographic = message
        .element
        .children("bibliographicInfo")
        .next()
        .map(|e| message.node(e))
        .ok_or_else(|| ParseError::missing(format!("{}/bibliographicInfo", message.path)))?;
    Ok(Request {
        header,
        bibliographic_info: bibliographic_info(&bibliographic)?,
        publication_info: message.child("publicationInfo").map(|p| PublicationInfo {
            publisher: p.text("publisher"),
            publisher_id: p.text("publisherId"),
            publication_type: p.text("publicationType"),
            publication_date: p.text("publicationDate"),
            place_of_publication: p.text("placeOfPublication"),
        }),
        service_info: message
            .child("serviceInfo")
            .map(|s| service_info(&s))
            .transpose()?,
        supplier_info: message
            .children("supplierInfo")
            .map(|s| supplier_info(&s))
            .collect::<Result<_, _>>()?,
        requested_delivery_info: message
            .children("requestedDeliveryInfo")
            .map(|d| {
                Ok(RequestedDeliveryInfo {
                    sort_order: d.sort_order()?,
                    address: address(&d)?,
                    delivery_method: d.text("deliveryMethod"),
                    courier_name: d.text("courierName"),
                })
            })
            .collect::<Result<_, ParseError>>()?,
        requesting_agency_info: message
            .child("requestingAgencyInfo")
            .map(|r| {
                Ok(RequestingAgencyInfo {
                    name: r.text("name"),
                    contact_name: r.text("contactName"),
                    address: addresses(&r)?,
                })
            })
            .transpose()?,
        patron_info: message
            .child("patronInfo")
            .map(|p| {
                Ok(PatronInfo {
                    patron_id: p.text("patronId"),
                    surname: p.text("surname"),
                    given_name: p.text("givenName"),
                    patron_type: p.text("patronType"),
                    send_to_patron: p.yes_no("sendToPatron")?,
                    address: addresses(&p)?,
                })
            })
            .transpose()?,
        billing_info: message
            .child("billingInfo")
            .map(|b| {
                Ok(BillingInfo {
                    payment_method: b.text("paymentMethod"),
                    maximum_costs: b.child("maximumCosts").map(|c| costs(&c)).transpose()?,
                    billing_method: b.text("billingMethod"),
                    billing_name: b.text("billingName"),
                    address: address(&b)?,
                })
            })
            .transpose()?,
    })
}

fn bibliographic_info(b: &Node<'_>) -> Result<BibliographicInfo, ParseError> {
    let mut volumes = b.texts("volume").into_iter();
    Ok(BibliographicInfo {
        supplier_unique_record_id: b.text("supplierUniqueRecordId"),
        title: b.text("title"),
        author: b.text("author"),
        author_id: b.text("authorId"),
        subtitle: b.text("subtitle"),
        series_title: b.text("seriesTitle"),
        edition: b.text("edition"),
        title_of_component: b.text("titleOfComponent"),
        author_of_component: b.text("authorOfComponent"),
        volume: volumes.next(),
        additional_volumes: volumes.collect(),
        issue: b.text("issue"),
        pages_requested: b.text("pagesRequested"),
        estimated_no_pages: b.text("estimatedNoPages"),
        bibliographic_item_id: b
            .children("bibliographicItemId")
            .map(|i| {
                Ok(BibliographicItemId {
                    bibliographic_item_identifier_code: i
                        .required_text("bibliographicItemIdentifierCode")?,
                    bibliographic_item_identifier: i
                        .required_text("bibliographicItemIdentifier")?,
                })
            })
            .collect::<Result<_, ParseError>>()?,
        sponsor: b.text("sponsor"),
        information_source: b.text("informationSource"),
        bibliographic_record_id: b
            .children("bibliographicRecordId")
            .map(|r| record_id(&r))
            .collect::<Result<_, _>>()?,
    })
}

fn record_id(r: &Node<'_>) -> Result<BibliographicRecordId, ParseError> {
    Ok(BibliographicRecordId {
        bibliographic_record_identifier_code: r
            .required_text("bibliographicRecordIdentifierCode")?,
        bibliographic_record_identifier: r.required_text("bibliographicRecordIdentifier")?,
    })
}

fn service_info(s: &Node<'_>) -> Result<ServiceInfo, ParseError> {
    Ok(ServiceInfo {
        request_type: s.text("requestType").map(open_value),
        request_subtype: s
            .texts("requestSubType")
            .into_iter()
            .map(open_value)
            .collect(),
        requesting_agency_previous_request_id: s.text("requestingAgencyPreviousRequestId"),
        service_type: s.required("serviceType")?.code(&service_type_names())?,
        service_level: s.text("serviceLevel"),
        preferred_format: s.text_of(&["preferredFormat", "itemFormat"]),
        need_before_date: s.date_time("needBeforeDate")?,
        copyright_compliance: s.text("copyrightCompliance"),
        any_edition: s.yes_no("anyEdition")?,
        preferred_edition: s.text("preferredEdition").map(open_value),
        loan_condition: s.texts("loanCondition"),
        start_date: s.date_time("startDate")?,
        end_date: s.date_time("endDate")?,
        note: s.text("note"),
    })
}

fn supplier_info(s: &Node<'_>) -> Result<SupplierInfo, ParseError> {
    Ok(SupplierInfo {
        sort_order: s.sort_order()?,
        supplier_code: s.child("supplierCode").map(|n| agency_id(&n)).transpose()?,
        supplier_description: s.text("supplierDescription"),
        bibliographic_record_id: s
            .child("bibliographicRecordId")
            .map(|r| record_id(&r))
            .transpose()?,
        call_number: s.text("callNumber"),
        summary_holdings: s.text("summaryHoldings"),
        availability_note: s.text("availabilityNote"),
    })
}

/// The `address` child of `parent`, if it holds an electronic or physical address.
fn address(parent: &Node<'_>) -> Result<Option<Address>, ParseError> {
    parent
        .child("address")
        .map(|a| address_in(&a))
        .transpose()
        .map(Option::flatten)
}

fn addresses(parent: &Node<'_>) -> Result<Vec<Address>, ParseError> {
    let mut all = Vec::new();
    for a in parent.children("address") {
        all.extend(address_in(&a)?);
    }
    Ok(all)
}

fn address_in(a: &Node<'_>) -> Result<Option<Address>, ParseError> {
    if let Some(e) = a.child("electronicAddress") {
        return Ok(Some(Address::Electronic(ElectronicAddress {
            electronic_address_type: e.required_text("electronicAddressType")?,
            electronic_address_data: e.required_text("electronicAddressData")?,
        })));
    }
    Ok(a.child("physicalAddress")
        .map(|p| Address::Physical(physical_address(&p))))
}

fn physical_address(p: &Node<'_>) -> PhysicalAddress {
    PhysicalAddress {
        line1: p.text("line1"),
        line2: p.text("line2"),
        locality: p.text("locality"),
        postal_code: p.text("postalCode"),
        region: p.text("region"),
        country: p.text("country"),
    }
}

fn costs(c: &Node<'_>) -> Result<Costs, ParseError> {
    let amount = c.required("monetaryValue")?;
    // No leniency for money: "1,000" may be a thousand or one, so a comma is refused.
    let monetary_value = amount.value();
    if !is_decimal(&monetary_value) {
        return Err(ParseError::bad_value(
            &amount.path,
            &monetary_value,
            "a decimal number such as 12.50",
        ));
    }
    Ok(Costs {
        currency_code: c.required_text("currencyCode")?,
        monetary_value,
    })
}

/// The lexical form of `xs:decimal`: an optional sign, digits, an optional point, digits.
fn is_decimal(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    !(whole.is_empty() && fraction.is_empty()) && digits(whole) && digits(fraction)
}

// ---------------------------------------------------------------------------------------------
// Supplying and requesting agency messages

fn supplying(message: &Node<'_>) -> Result<SupplyingAgencyMessage, ParseError> {
    let header = header(message, true)?;
    let m = message.required("messageInfo")?;
    let retry = message.child("retryInfo");
    // 2017 keeps these in messageInfo, 2021 in retryInfo; read both places.
    let mut offered = m
        .children("offeredCosts")
        .chain(retry.iter().flat_map(|r| r.children("offeredCosts")));
    let offered_costs = offered.next().map(|c| costs(&c)).transpose()?;
    let additional_offered_costs = offered.map(|c| costs(&c)).collect::<Result<Vec<_>, _>>()?;
    let in_either = |name: &str| match m.date_time(name)? {
        Some(date) => Ok(Some(date)),
        None => retry.as_ref().map_or(Ok(None), |r| r.date_time(name)),
    };

    let message_info = MessageInfo {
        reason_for_message: m.required("reasonForMessage")?.code(&reason_names())?,
        answer_yes_no: m.yes_no("answerYesNo")?,
        note: m.text("note"),
        reason_unfilled: m.text("reasonUnfilled"),
        reason_retry: m.text("reasonRetry"),
        offered_costs,
        retry_after: in_either("retryAfter")?,
        retry_before: in_either("retryBefore")?,
    };
    let retry_info = match &retry {
        Some(r) => RetryInfo {
            loan_condition: r.texts("loanCondition"),
            edition: r.texts("edition"),
            item_format: r.texts("itemFormat"),
            volume: r.texts("volume"),
            service_type: r.optional_code("serviceType", &service_type_names())?,
            service_level: r.texts("serviceLevel"),
            delivery_method: r.texts("deliveryMethod"),
            courier_name: r.texts("courierName"),
            additional_offered_costs,
            payment_method: r.texts("paymentMethod"),
        },
        None => RetryInfo {
            additional_offered_costs,
            ..RetryInfo::default()
        },
    };

    let s = message.required("statusInfo")?;
    let status_info = StatusInfo {
        status: s.required("status")?.code(&status_names())?,
        expected_delivery_date: s.date_time("expectedDeliveryDate")?,
        due_date: s.date_time("dueDate")?,
        last_change: s.required_date_time("lastChange")?,
    };
    Ok(SupplyingAgencyMessage {
        header,
        message_info,
        status_info,
        retry_info: (!retry_info.is_empty()).then_some(retry_info),
        delivery_info: message
            .child("deliveryInfo")
            .map(|d| delivery_info(&d))
            .transpose()?,
        shipping_info: message
            .child("shippingInfo")
            .map(|s| {
                Ok(ShippingInfo {
                    courier_name: s.text("courierName"),
                    tracking_id: s.texts("trackingId"),
                    insurance: s.yes_no("insurance")?,
                    insurance_third_party: s.yes_no("insuranceThirdParty")?,
                    third_party_name: s.text("thirdPartyName"),
                    insurance_costs: s
                        .children("insuranceCosts")
                        .map(|c| costs(&c))
                        .collect::<Result<_, _>>()?,
                })
            })
            .transpose()?,
        return_info: message
            .child("returnInfo")
            .map(|r| {
                Ok(ReturnInfo {
                    return_agency_id: r
                        .child("returnAgencyId")
                        .map(|n| agency_id(&n))
                        .transpose()?,
                    name: r.text("name"),
                    physical_address: r.child("physicalAddress").map(|p| physical_address(&p)),
                })
            })
            .transpose()?,
    })
}

fn delivery_info(d: &Node<'_>) -> Result<DeliveryInfo, ParseError> {
    let mut item_ids = d.texts("itemId").into_iter();
    let mut loan_conditions = d.texts("loanCondition").into_iter();
    let mut delivery_costs = d
        .children("deliveryCosts")
        .map(|c| costs(&c))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    Ok(DeliveryInfo {
        date_sent: d.required_date_time("dateSent")?,
        item_id: item_ids.next(),
        additional_item_ids: item_ids.collect(),
        url: d.text("URL"),
        sent_via: d.text_of(&["sentVia", "deliveryMethod"]),
        address: address(d)?,
        sent_to_patron: d.xs_boolean("sentToPatron")?.unwrap_or(false),
        loan_condition: loan_conditions.next(),
        additional_loan_conditions: loan_conditions.collect(),
        delivered_format: d.text_of(&["deliveredFormat", "itemFormat"]),
        service_type: d.optional_code("serviceType", &service_type_names())?,
        delivery_costs: delivery_costs.next(),
        additional_delivery_costs: delivery_costs.collect(),
        payment_method: d.text("paymentMethod"),
    })
}

fn requesting(message: &Node<'_>) -> Result<RequestingAgencyMessage, ParseError> {
    Ok(RequestingAgencyMessage {
        header: header(message, true)?,
        action: message.required("action")?.code(&action_names())?,
        note: message.text("note"),
    })
}

// ---------------------------------------------------------------------------------------------
// Version detection

/// Counts of elements (or child orders) that only one version has.
#[derive(Default)]
struct Evidence {
    v2017: u32,
    v2021: u32,
}

fn detect_version(root: &Element, message: &Element) -> Version {
    let mut evidence = Evidence::default();
    let is_request = message.name == "request";
    weigh(message, "", is_request, &mut evidence);
    if message.children("errorData").count() > 1 {
        evidence.v2021 += 1;
    }
    if evidence.v2021 != evidence.v2017 {
        return if evidence.v2021 > evidence.v2017 {
            Version::V2021
        } else {
            Version::V2017
        };
    }
    root.attribute("version")
        .and_then(Version::from_attribute)
        .unwrap_or(Version::V2017)
}

fn weigh(element: &Element, parent: &str, is_request: bool, evidence: &mut Evidence) {
    let name = element.name.as_str();
    let only_2021 = match (parent, name) {
        (_, "retryInfo" | "shippingInfo" | "consortialId" | "deliveryMethod" | "itemFormat")
        | (_, "URL" | "courierName" | "publisherId" | "authorId" | "preferredEdition")
        | ("deliveryInfo", "serviceType" | "address" | "paymentMethod")
        | ("serviceInfo", "loanCondition") => true,
        (_, "bibliographicItemId") => element
            .first_child()
            .is_some_and(|c| c.name == "bibliographicItemIdentifierCode"),
        _ => false,
    };
    let only_2017 = match (parent, name) {
        (_, "sentVia" | "deliveredFormat" | "preferredFormat")
        | ("messageInfo", "offeredCosts" | "retryAfter" | "retryBefore") => true,
        // 2021 dropped it from every header but the request's.
        ("header" | "confirmationHeader", "multipleItemRequestId") => !is_request,
        ("physicalAddress", "region") => element.attribute("scheme").is_some(),
        (_, "bibliographicItemId") => element
            .first_child()
            .is_some_and(|c| c.name == "bibliographicItemIdentifier"),
        _ => false,
    };
    evidence.v2021 += u32::from(only_2021);
    evidence.v2017 += u32::from(only_2017);
    for child in element.own_children() {
        weigh(child, name, is_request, evidence);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::lenient_date_time;

    proptest! {
        #[test]
        fn any_text_read_as_a_date_gives_a_value_or_none_never_a_panic(s in "\\PC{0,40}") {
            let _ = lenient_date_time(&s);
        }

        #[test]
        fn a_date_read_leniently_reads_again_as_itself(
            date in "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9])",
            sep in "[Tt ]",
            time in "([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,7})?)?",
            zone in "(|Z|z|UTC|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)",
        ) {
            let text = format!("{date}{sep}{time}{zone}");
            let read = lenient_date_time(&text);
            prop_assert!(read.is_some(), "{text}");
            let read = read.unwrap_or_default();
            prop_assert_eq!(lenient_date_time(&read), Some(read.clone()), "{}", text);
        }
    }

    #[test]
    fn dates_that_are_not_dates_are_none() {
        for bad in [
            "",
            "2026-02",
            "26-11-30",
            "2026-11-30T",
            "2026-11-30T10",
            "2026-11-30X10:00",
            "2026-11-30T10:00+5",
            "2026-11-30T10:00:00+08:0",
            "2026-11-30T10:00:00 CET",
            "２０２６-11-30",
        ] {
            assert_eq!(lenient_date_time(bad), None, "{bad}");
        }
    }
}
