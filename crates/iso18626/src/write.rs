//! The model to XML, in the element order and shape of the chosen schema version.
//!
//! What a version cannot carry is left out, so that the output validates against that version's
//! schema:
//! - 2017 gets a 2021-only status as `Loaned` and a 2021-only action as `Notification`, each
//!   named by its marker at the start of the note (`crate::marker_2021`), which `crate::parse`
//!   turns back into the value. It gets `anyEdition` from `preferred_edition` when that is not
//!   given, at most 3 `requestSubType`, and a negative `sortOrder` as it is (2021: as 0).
//! - Values outside the closed lists `requestType`, `requestSubType` and `preferredEdition`
//!   are left out in both versions (the schemas would refuse them).
//! - Every scheme/value pair is written with the `ill:scheme` it was read with
//!   (`Header::schemes`), except 2021's `region`, a plain string there.
//! - 2017 drops `consortial_id`, `author_id`, `publisher_id`, `preferred_edition`,
//!   `ServiceInfo::loan_condition`, the 2021 parts of `RequestedDeliveryInfo` and
//!   `DeliveryInfo`, `retry_info`, `shipping_info` and every `additional_*` list. A missing
//!   `multipleItemRequestId`, required in 2017 headers, is written empty.
//! - 2021 drops `multipleItemRequestId` outside request headers, `supplyingAgencyRequestId` from
//!   request headers, and `requestingAgencyAuthentication` from supplying agency message headers.
//!   An empty supplying agency id is left out of a request header (optional in 2021).
//!
//! In confirmations, empty agency ids and an empty `requestingAgencyRequestId` are left out, a
//! missing `timestampReceived` is the `timestamp`, and a missing `messageStatus` is `ERROR` when
//! there is error data and `OK` otherwise. Empty optional strings count as absent everywhere.

use crate::model::*;

/// Writes `msg` as a complete document in the shape of `version`: the XML declaration, then
/// `<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626" ill:version="...">`.
pub fn write(msg: &Message, version: Version) -> String {
    let mut x = Xml {
        out: String::with_capacity(4096),
        depth: 0,
        version,
        schemes: &msg.header().schemes,
        path: vec![Level::default()],
    };
    x.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.out.push_str(&format!(
        "<ISO18626Message xmlns=\"{NAMESPACE}\" xmlns:ill=\"{NAMESPACE}\" ill:version=\"{}\">\n",
        version.as_str()
    ));
    x.depth = 1;
    match msg {
        Message::Request(r) => request(&mut x, r),
        Message::RequestConfirmation(c) => confirmation(&mut x, "requestConfirmation", c),
        Message::SupplyingAgencyMessage(m) => supplying(&mut x, m),
        Message::SupplyingAgencyMessageConfirmation(c) => {
            confirmation(&mut x, "supplyingAgencyMessageConfirmation", c);
        }
        Message::RequestingAgencyMessage(m) => requesting(&mut x, m),
        Message::RequestingAgencyMessageConfirmation(c) => {
            confirmation(&mut x, "requestingAgencyMessageConfirmation", c);
        }
    }
    x.out.push_str("</ISO18626Message>\n");
    x.out
}

/// An indenting XML text builder. Indentation is only whitespace between elements, which both
/// schemas ignore (no element has mixed content). It keeps the [`Schemes`] path of where it
/// is, so that every scheme/value pair gets the `scheme` it was read with.
struct Xml<'a> {
    out: String,
    depth: usize,
    version: Version,
    schemes: &'a Schemes,
    /// The open elements below the message element, each with how many children of each name
    /// it has had so far; the first entry is the message element itself.
    path: Vec<Level>,
}

/// One open element: its [`Schemes`] path and its children so far, by name.
#[derive(Default)]
struct Level {
    path: String,
    children: Vec<(String, usize)>,
}

impl Xml<'_> {
    /// The [`Schemes`] path of the next child called `name` of the open element, counted.
    fn next_path(&mut self, name: &str) -> String {
        let canonical = canonical_name(name);
        let Some(level) = self.path.last_mut() else {
            return String::new();
        };
        let index = match level.children.iter_mut().find(|(n, _)| n == canonical) {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                level.children.push((canonical.to_owned(), 0));
                0
            }
        };
        scheme_path(&level.path, name, index)
    }

    /// ` ill:scheme="..."` for the scheme/value pair at `path`, if it was read with one and the
    /// version lets the element carry it (2021 made `region` a plain string).
    fn scheme_attribute(&self, name: &str, path: &str) -> String {
        if !SCHEME_VALUE_ELEMENTS.contains(&name) || (self.is_2021() && name == "region") {
            return String::new();
        }
        match self.schemes.get(path) {
            Some(scheme) => {
                let mut out = String::from(" ill:scheme=\"");
                escape_into(&mut out, scheme);
                out.push('"');
                out
            }
            None => String::new(),
        }
    }

    fn is_2021(&self) -> bool {
        self.version == Version::V2021
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    /// `<name>` children `</name>`.
    fn element(&mut self, name: &str, children: impl FnOnce(&mut Self)) {
        // Paths start below the message element.
        let path = if self.path.len() == 1 {
            String::new()
        } else {
            self.next_path(name)
        };
        self.indent();
        self.out.push_str(&format!("<{name}>\n"));
        self.depth += 1;
        self.path.push(Level {
            path,
            children: Vec::new(),
        });
        children(self);
        self.path.pop();
        self.depth -= 1;
        self.indent();
        self.out.push_str(&format!("</{name}>\n"));
    }

    /// A simple element, written even when `value` is empty (for required elements).
    fn leaf(&mut self, name: &str, value: &str) {
        self.indent();
        if value.is_empty() {
            self.out.push_str(&format!("<{name}/>\n"));
        } else {
            let path = self.next_path(name);
            let scheme = self.scheme_attribute(name, &path);
            self.out.push_str(&format!("<{name}{scheme}>"));
            escape_into(&mut self.out, value);
            self.out.push_str(&format!("</{name}>\n"));
        }
    }

    /// An optional simple element: nothing when absent or empty.
    fn opt(&mut self, name: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.nonempty(name, v);
        }
    }

    /// A simple element that is left out when empty.
    fn nonempty(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.leaf(name, value);
        }
    }

    fn each(&mut self, name: &str, values: &[String]) {
        for v in values {
            self.nonempty(name, v);
        }
    }

    fn opt_code(&mut self, name: &str, value: Option<&'static str>) {
        if let Some(v) = value {
            self.leaf(name, v);
        }
    }

    /// `type_yesNo`.
    fn yes_no(&mut self, name: &str, value: Option<bool>) {
        self.opt_code(name, value.map(|yes| if yes { "Y" } else { "N" }));
    }
}

/// Escapes markup characters, keeps carriage returns (which a reader would otherwise turn into
/// line feeds) and drops characters XML 1.0 cannot carry at all, so the output is always
/// well-formed whatever a string holds.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if c < '\u{20}' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Headers

#[derive(Clone, Copy, PartialEq, Eq)]
enum HeaderKind {
    Request,
    Supplying,
    Requesting,
}

fn header(x: &mut Xml, h: &Header, kind: HeaderKind) {
    x.element("header", |x| {
        if x.is_2021() {
            if kind != HeaderKind::Request || !h.supplying_agency_id.is_empty() {
                agency_id(x, "supplyingAgencyId", &h.supplying_agency_id);
            }
            agency_id(x, "requestingAgencyId", &h.requesting_agency_id);
            if let Some(c) = h
                .consortial_id
                .as_ref()
                .filter(|_| kind != HeaderKind::Supplying)
            {
                agency_id(x, "consortialId", c);
            }
            if kind == HeaderKind::Request {
                x.opt("multipleItemRequestId", &h.multiple_item_request_id);
            }
            x.leaf("timestamp", &h.timestamp);
            x.leaf("requestingAgencyRequestId", &h.requesting_agency_request_id);
            if kind != HeaderKind::Request {
                x.opt("supplyingAgencyRequestId", &h.supplying_agency_request_id);
            }
            if kind != HeaderKind::Supplying {
                authentication(x, &h.requesting_agency_authentication);
            }
        } else {
            agency_id(x, "supplyingAgencyId", &h.supplying_agency_id);
            agency_id(x, "requestingAgencyId", &h.requesting_agency_id);
            x.leaf(
                "multipleItemRequestId",
                h.multiple_item_request_id.as_deref().unwrap_or(""),
            );
            x.leaf("timestamp", &h.timestamp);
            x.leaf("requestingAgencyRequestId", &h.requesting_agency_request_id);
            x.opt("supplyingAgencyRequestId", &h.supplying_agency_request_id);
            authentication(x, &h.requesting_agency_authentication);
        }
    });
}

fn authentication(x: &mut Xml, auth: &Option<Authentication>) {
    if let Some(a) = auth {
        x.element("requestingAgencyAuthentication", |x| {
            x.opt("accountId", &a.account_id);
            x.opt("securityCode", &a.security_code);
        });
    }
}

fn agency_id(x: &mut Xml, name: &str, id: &AgencyId) {
    x.element(name, |x| {
        x.leaf("agencyIdType", &id.agency_type);
        x.leaf("agencyIdValue", &id.value);
    });
}

fn confirmation(x: &mut Xml, name: &str, c: &Confirmation) {
    let h = &c.header;
    let errors: Vec<&ErrorData> = h
        .error_data
        .iter()
        .chain(&h.additional_error_data)
        .collect();
    x.element(name, |x| {
        x.element("confirmationHeader", |x| {
            if !h.supplying_agency_id.is_empty() {
                agency_id(x, "supplyingAgencyId", &h.supplying_agency_id);
            }
            if !h.requesting_agency_id.is_empty() {
                agency_id(x, "requestingAgencyId", &h.requesting_agency_id);
            }
            x.leaf("timestamp", &h.timestamp);
            x.nonempty("requestingAgencyRequestId", &h.requesting_agency_request_id);
            if !x.is_2021() {
                x.opt("multipleItemRequestId", &h.multiple_item_request_id);
            }
            x.leaf(
                "timestampReceived",
                h.timestamp_received.as_deref().unwrap_or(&h.timestamp),
            );
            let status = h.message_status.unwrap_or(if errors.is_empty() {
                MessageStatus::Ok
            } else {
                MessageStatus::Error
            });
            x.leaf("messageStatus", status.as_str());
        });
        match name {
            "supplyingAgencyMessageConfirmation" => {
                x.opt_code(
                    "reasonForMessage",
                    c.reason_for_message.map(ReasonForMessage::as_str),
                );
            }
            "requestingAgencyMessageConfirmation" => {
                let action = c.action.map(|a| if x.is_2021() { a } else { a.in_2017() });
                x.opt_code("action", action.map(Action::as_str));
            }
            _ => {}
        }
        let allowed = if x.is_2021() { errors.len() } else { 1 };
        for e in errors.iter().take(allowed) {
            x.element("errorData", |x| {
                x.leaf("errorType", e.error_type.as_str());
                x.nonempty("errorValue", &e.error_value);
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Request

fn request(x: &mut Xml, r: &Request) {
    x.element("request", |x| {
        header(x, &r.header, HeaderKind::Request);
        bibliographic_info(x, &r.bibliographic_info);
        if let Some(p) = &r.publication_info {
            x.element("publicationInfo", |x| {
                x.opt("publisher", &p.publisher);
                if x.is_2021() {
                    x.opt("publisherId", &p.publisher_id);
                }
                x.opt("publicationType", &p.publication_type);
                x.opt("publicationDate", &p.publication_date);
                x.opt("placeOfPublication", &p.place_of_publication);
            });
        }
        if let Some(s) = &r.service_info {
            service_info(x, s);
        }
        for s in &r.supplier_info {
            supplier_info(x, s);
        }
        for d in &r.requested_delivery_info {
            x.element("requestedDeliveryInfo", |x| {
                sort_order(x, d.sort_order);
                if let Some(a) = &d.address {
                    address(x, a);
                }
                if x.is_2021() {
                    x.opt("deliveryMethod", &d.delivery_method);
                    x.opt("courierName", &d.courier_name);
                }
            });
        }
        if let Some(a) = &r.requesting_agency_info {
            x.element("requestingAgencyInfo", |x| {
                x.opt("name", &a.name);
                x.opt("contactName", &a.contact_name);
                for address_ in &a.address {
                    address(x, address_);
                }
            });
        }
        if let Some(p) = &r.patron_info {
            x.element("patronInfo", |x| {
                x.opt("patronId", &p.patron_id);
                x.opt("surname", &p.surname);
                x.opt("givenName", &p.given_name);
                x.opt("patronType", &p.patron_type);
                x.yes_no("sendToPatron", p.send_to_patron);
                for address_ in &p.address {
                    address(x, address_);
                }
            });
        }
        if let Some(b) = &r.billing_info {
            x.element("billingInfo", |x| {
                x.opt("paymentMethod", &b.payment_method);
                if let Some(c) = &b.maximum_costs {
                    costs(x, "maximumCosts", c);
                }
                x.opt("billingMethod", &b.billing_method);
                x.opt("billingName", &b.billing_name);
                if let Some(a) = &b.address {
                    address(x, a);
                }
            });
        }
    });
}

fn bibliographic_info(x: &mut Xml, b: &BibliographicInfo) {
    x.element("bibliographicInfo", |x| {
        x.opt("supplierUniqueRecordId", &b.supplier_unique_record_id);
        x.opt("title", &b.title);
        x.opt("author", &b.author);
        if x.is_2021() {
            x.opt("authorId", &b.author_id);
        }
        x.opt("subtitle", &b.subtitle);
        x.opt("seriesTitle", &b.series_title);
        x.opt("edition", &b.edition);
        x.opt("titleOfComponent", &b.title_of_component);
        x.opt("authorOfComponent", &b.author_of_component);
        x.opt("volume", &b.volume);
        if x.is_2021() {
            x.each("volume", &b.additional_volumes);
        }
        x.opt("issue", &b.issue);
        x.opt("pagesRequested", &b.pages_requested);
        x.opt("estimatedNoPages", &b.estimated_no_pages);
        for id in &b.bibliographic_item_id {
            // 2021 swapped the two children.
            x.element("bibliographicItemId", |x| {
                if x.is_2021() {
                    x.leaf(
                        "bibliographicItemIdentifierCode",
                        &id.bibliographic_item_identifier_code,
                    );
                    x.leaf(
                        "bibliographicItemIdentifier",
                        &id.bibliographic_item_identifier,
                    );
                } else {
                    x.leaf(
                        "bibliographicItemIdentifier",
                        &id.bibliographic_item_identifier,
                    );
                    x.leaf(
                        "bibliographicItemIdentifierCode",
                        &id.bibliographic_item_identifier_code,
                    );
                }
            });
        }
        x.opt("sponsor", &b.sponsor);
        x.opt("informationSource", &b.information_source);
        for id in &b.bibliographic_record_id {
            record_id(x, id);
        }
    });
}

fn record_id(x: &mut Xml, id: &BibliographicRecordId) {
    x.element("bibliographicRecordId", |x| {
        x.leaf(
            "bibliographicRecordIdentifierCode",
            &id.bibliographic_record_identifier_code,
        );
        x.leaf(
            "bibliographicRecordIdentifier",
            &id.bibliographic_record_identifier,
        );
    });
}

fn service_info(x: &mut Xml, s: &ServiceInfo) {
    x.element("serviceInfo", |x| {
        // Values outside these closed lists cannot be written; they are left out.
        if let Some(t) = s.request_type.as_ref().filter(|t| t.is_known()) {
            x.leaf("requestType", t.as_str());
        }
        let most = if x.is_2021() { usize::MAX } else { 3 };
        for t in s.request_subtype.iter().filter(|t| t.is_known()).take(most) {
            x.leaf("requestSubType", t.as_str());
        }
        x.opt(
            "requestingAgencyPreviousRequestId",
            &s.requesting_agency_previous_request_id,
        );
        x.leaf("serviceType", s.service_type.as_str());
        x.opt("serviceLevel", &s.service_level);
        let format = if x.is_2021() {
            "itemFormat"
        } else {
            "preferredFormat"
        };
        x.opt(format, &s.preferred_format);
        x.opt("needBeforeDate", &s.need_before_date);
        x.opt("copyrightCompliance", &s.copyright_compliance);
        let edition = s.preferred_edition.as_ref().filter(|e| e.is_known());
        if x.is_2021() {
            x.yes_no("anyEdition", s.any_edition);
        } else {
            // 2017 has only anyEdition: the preferred edition says it when that is not given.
            let any = s
                .any_edition
                .or_else(|| edition.map(|e| matches!(e, PreferredEdition::AnyEdition)));
            x.yes_no("anyEdition", any);
        }
        if x.is_2021() {
            if let Some(e) = edition {
                x.leaf("preferredEdition", e.as_str());
            }
            x.each("loanCondition", &s.loan_condition);
        }
        x.opt("startDate", &s.start_date);
        x.opt("endDate", &s.end_date);
        x.opt("note", &s.note);
    });
}

fn supplier_info(x: &mut Xml, s: &SupplierInfo) {
    x.element("supplierInfo", |x| {
        sort_order(x, s.sort_order);
        if let Some(code) = &s.supplier_code {
            agency_id(x, "supplierCode", code);
        }
        x.opt("supplierDescription", &s.supplier_description);
        if let Some(id) = &s.bibliographic_record_id {
            record_id(x, id);
        }
        x.opt("callNumber", &s.call_number);
        x.opt("summaryHoldings", &s.summary_holdings);
        x.opt("availabilityNote", &s.availability_note);
    });
}

fn sort_order(x: &mut Xml, value: Option<i64>) {
    if let Some(n) = value {
        // 2021 allows no negative sort order; 0 still sorts such an entry first.
        let n = if x.is_2021() { n.max(0) } else { n };
        x.leaf("sortOrder", &n.to_string());
    }
}

fn address(x: &mut Xml, a: &Address) {
    x.element("address", |x| match a {
        Address::Electronic(e) => x.element("electronicAddress", |x| {
            x.leaf("electronicAddressType", &e.electronic_address_type);
            x.leaf("electronicAddressData", &e.electronic_address_data);
        }),
        Address::Physical(p) => physical_address(x, p),
    });
}

fn physical_address(x: &mut Xml, p: &PhysicalAddress) {
    x.element("physicalAddress", |x| {
        x.opt("line1", &p.line1);
        x.opt("line2", &p.line2);
        x.opt("locality", &p.locality);
        x.opt("postalCode", &p.postal_code);
        x.opt("region", &p.region);
        x.opt("country", &p.country);
    });
}

fn costs(x: &mut Xml, name: &str, c: &Costs) {
    x.element(name, |x| {
        x.leaf("currencyCode", &c.currency_code);
        x.leaf("monetaryValue", &c.monetary_value);
    });
}

// ---------------------------------------------------------------------------------------------
// Supplying and requesting agency messages

fn supplying(x: &mut Xml, m: &SupplyingAgencyMessage) {
    let mi = &m.message_info;
    let status = m.status_info.status;
    // A 2021-only status goes to a 2017 peer as the status it stands for, named in the note.
    let (status, note) = if x.is_2021() || !status.is_2021_only() {
        (status, mi.note.clone())
    } else {
        (
            status.in_2017(),
            Some(with_marker(status.as_str(), &mi.note)),
        )
    };
    x.element("supplyingAgencyMessage", |x| {
        header(x, &m.header, HeaderKind::Supplying);
        x.element("messageInfo", |x| {
            x.leaf("reasonForMessage", mi.reason_for_message.as_str());
            x.yes_no("answerYesNo", mi.answer_yes_no);
            x.opt("note", &note);
            x.opt("reasonUnfilled", &mi.reason_unfilled);
            x.opt("reasonRetry", &mi.reason_retry);
            if !x.is_2021() {
                if let Some(c) = &mi.offered_costs {
                    costs(x, "offeredCosts", c);
                }
                x.opt("retryAfter", &mi.retry_after);
                x.opt("retryBefore", &mi.retry_before);
            }
        });
        let s = &m.status_info;
        x.element("statusInfo", |x| {
            x.leaf("status", status.as_str());
            x.opt("expectedDeliveryDate", &s.expected_delivery_date);
            x.opt("dueDate", &s.due_date);
            x.leaf("lastChange", &s.last_change);
        });
        if x.is_2021() {
            retry_info(x, mi, m.retry_info.as_ref());
        }
        if let Some(d) = &m.delivery_info {
            delivery_info(x, d);
        }
        if let Some(s) = m.shipping_info.as_ref().filter(|_| x.is_2021()) {
            shipping_info(x, s);
        }
        if let Some(r) = &m.return_info {
            x.element("returnInfo", |x| {
                if let Some(id) = &r.return_agency_id {
                    agency_id(x, "returnAgencyId", id);
                }
                x.opt("name", &r.name);
                if let Some(p) = &r.physical_address {
                    physical_address(x, p);
                }
            });
        }
    });
}

/// 2021 `retryInfo`, from the retry parts of `messageInfo` and the rest in [`RetryInfo`].
fn retry_info(x: &mut Xml, mi: &MessageInfo, retry: Option<&RetryInfo>) {
    let empty = RetryInfo::default();
    let r = retry.unwrap_or(&empty);
    let offered: Vec<&Costs> = mi
        .offered_costs
        .iter()
        .chain(&r.additional_offered_costs)
        .collect();
    let has_dates = [&mi.retry_after, &mi.retry_before]
        .iter()
        .any(|d| d.as_deref().is_some_and(|d| !d.is_empty()));
    if r.is_empty() && offered.is_empty() && !has_dates {
        return;
    }
    x.element("retryInfo", |x| {
        x.each("loanCondition", &r.loan_condition);
        x.each("edition", &r.edition);
        x.each("itemFormat", &r.item_format);
        x.each("volume", &r.volume);
        x.opt_code("serviceType", r.service_type.map(ServiceType::as_str));
        x.each("serviceLevel", &r.service_level);
        x.each("deliveryMethod", &r.delivery_method);
        x.each("courierName", &r.courier_name);
        for c in offered {
            costs(x, "offeredCosts", c);
        }
        x.each("paymentMethod", &r.payment_method);
        // 2021 also swapped these two.
        x.opt("retryBefore", &mi.retry_before);
        x.opt("retryAfter", &mi.retry_after);
    });
}

fn delivery_info(x: &mut Xml, d: &DeliveryInfo) {
    x.element("deliveryInfo", |x| {
        x.leaf("dateSent", &d.date_sent);
        x.opt("itemId", &d.item_id);
        if x.is_2021() {
            x.each("itemId", &d.additional_item_ids);
            x.opt("URL", &d.url);
            x.opt("deliveryMethod", &d.sent_via);
            if let Some(a) = &d.address {
                address(x, a);
            }
        } else {
            x.opt("sentVia", &d.sent_via);
        }
        x.leaf(
            "sentToPatron",
            if d.sent_to_patron { "true" } else { "false" },
        );
        x.opt("loanCondition", &d.loan_condition);
        if x.is_2021() {
            x.each("loanCondition", &d.additional_loan_conditions);
            x.opt("itemFormat", &d.delivered_format);
            x.opt_code("serviceType", d.service_type.map(ServiceType::as_str));
        } else {
            x.opt("deliveredFormat", &d.delivered_format);
        }
        if let Some(c) = &d.delivery_costs {
            costs(x, "deliveryCosts", c);
        }
        if x.is_2021() {
            for c in &d.additional_delivery_costs {
                costs(x, "deliveryCosts", c);
            }
            x.opt("paymentMethod", &d.payment_method);
        }
    });
}

fn shipping_info(x: &mut Xml, s: &ShippingInfo) {
    x.element("shippingInfo", |x| {
        x.opt("courierName", &s.courier_name);
        x.each("trackingId", &s.tracking_id);
        x.yes_no("insurance", s.insurance);
        x.yes_no("insuranceThirdParty", s.insurance_third_party);
        x.opt("thirdPartyName", &s.third_party_name);
        for c in &s.insurance_costs {
            costs(x, "insuranceCosts", c);
        }
    });
}

fn requesting(x: &mut Xml, m: &RequestingAgencyMessage) {
    // A 2021-only action goes to a 2017 peer as a Notification, named in the note.
    let (action, note) = if x.is_2021() || !m.action.is_2021_only() {
        (m.action, m.note.clone())
    } else {
        (
            m.action.in_2017(),
            Some(with_marker(m.action.as_str(), &m.note)),
        )
    };
    x.element("requestingAgencyMessage", |x| {
        header(x, &m.header, HeaderKind::Requesting);
        x.leaf("action", action.as_str());
        x.opt("note", &note);
    });
}

/// `note` after the [`marker_2021`] of a 2021-only `value`.
fn with_marker(value: &str, note: &Option<String>) -> String {
    match note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("{} {n}", marker_2021(value)),
        None => marker_2021(value),
    }
}
