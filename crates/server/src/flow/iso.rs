//! Between the domain and the wire: ISO 18626 messages built from our requests, and citations
//! and statuses read back out of them.

use domain::citation::{Citation, RequestFormat};
use domain::ident::{Doi, Isbn, Issn, OclcNumber, Pmid};
use domain::machine::{IsoAction, IsoReason, IsoStatus};
use iso18626 as iso;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use store::LibraryRow;

pub fn agency(lib: &LibraryRow) -> iso::AgencyId {
    iso::AgencyId {
        agency_type: lib.agency_type.clone(),
        value: lib.agency_value.clone(),
    }
}

pub fn agency_key(a: &iso::AgencyId) -> String {
    format!("{}:{}", a.agency_type.to_uppercase(), a.value)
}

pub fn parse_agency_key(key: &str) -> Option<iso::AgencyId> {
    let (t, v) = key.split_once(':')?;
    Some(iso::AgencyId {
        agency_type: t.to_owned(),
        value: v.to_owned(),
    })
}

pub fn timestamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn version_str(v: iso::Version) -> &'static str {
    match v {
        iso::Version::V2017 => "2017",
        iso::Version::V2021 => "2021",
    }
}

pub fn parse_version(s: &str) -> iso::Version {
    if s == "2017" {
        iso::Version::V2017
    } else {
        iso::Version::V2021
    }
}

pub fn header(
    requester: iso::AgencyId,
    supplier: iso::AgencyId,
    requester_request_id: &str,
    supplier_request_id: Option<&str>,
    now: OffsetDateTime,
) -> iso::Header {
    iso::Header {
        supplying_agency_id: supplier,
        requesting_agency_id: requester,
        timestamp: timestamp(now),
        requesting_agency_request_id: requester_request_id.to_owned(),
        supplying_agency_request_id: supplier_request_id.map(str::to_owned),
        ..Default::default()
    }
}

/// The ISO 18626 request for a citation. For copies the journal or book goes in `title` and the
/// article or chapter in `titleOfComponent`, as the standard lays it out.
pub fn request(
    header: iso::Header,
    format: RequestFormat,
    c: &Citation,
    note: Option<String>,
) -> iso::Request {
    let mut bib = iso::BibliographicInfo::default();
    if format.is_copy() {
        bib.title = c.source_title.clone();
        bib.title_of_component = c.title.clone();
        bib.author_of_component = c.author.clone();
    } else {
        bib.title = c.title.clone();
        bib.author = c.author.clone();
    }
    bib.edition = c.edition.clone();
    bib.volume = c.volume.clone();
    bib.issue = c.issue.clone();
    bib.pages_requested = c.pages.clone();
    let mut ids = Vec::new();
    if let Some(i) = &c.isbn {
        ids.push(("ISBN", i.to_string()));
    }
    if let Some(i) = &c.issn {
        ids.push(("ISSN", i.to_string()));
    }
    if let Some(i) = &c.doi {
        ids.push(("DOI", i.to_string()));
    }
    if let Some(i) = &c.pmid {
        ids.push(("PMID", i.to_string()));
    }
    bib.bibliographic_item_id = ids
        .into_iter()
        .map(|(code, value)| iso::BibliographicItemId {
            bibliographic_item_identifier_code: code.to_owned(),
            bibliographic_item_identifier: value,
        })
        .collect();
    if let Some(o) = &c.oclc_number {
        bib.bibliographic_record_id = vec![iso::BibliographicRecordId {
            bibliographic_record_identifier_code: "OCLC".to_owned(),
            bibliographic_record_identifier: o.to_string(),
        }];
    }
    let publication = iso::PublicationInfo {
        publisher: c.publisher.clone(),
        publication_date: c.year.clone(),
        place_of_publication: c.place_of_publication.clone(),
        publication_type: Some(
            if format.is_copy() && c.issn.is_some() {
                "Journal"
            } else {
                "Book"
            }
            .to_owned(),
        ),
        ..Default::default()
    };
    let service = iso::ServiceInfo {
        request_type: Some(iso::RequestType::New),
        service_type: if format.is_copy() {
            iso::ServiceType::Copy
        } else {
            iso::ServiceType::Loan
        },
        need_before_date: c.need_by.map(|d| format!("{d}T23:59:59Z")),
        service_level: c.express.then(|| "Express".to_owned()),
        note,
        ..Default::default()
    };
    iso::Request {
        header,
        bibliographic_info: bib,
        publication_info: Some(publication),
        service_info: Some(service),
        ..Default::default()
    }
}

/// Read a citation back out of a request, keeping what a partner sent even where it does not
/// pass our own checks (a lender must not refuse a request for a malformed ISBN).
pub fn citation_of(r: &iso::Request) -> (RequestFormat, Citation) {
    let b = &r.bibliographic_info;
    let copy = r
        .service_info
        .as_ref()
        .is_some_and(|s| s.service_type == iso::ServiceType::Copy);
    let mut c = Citation::default();
    let format = if copy {
        c.title = b.title_of_component.clone().or_else(|| b.title.clone());
        c.author = b.author_of_component.clone().or_else(|| b.author.clone());
        c.source_title = b.title.clone().filter(|_| b.title_of_component.is_some());
        if b.title_of_component.is_some() && c.pages.is_none() && b.pages_requested.is_none() {
            RequestFormat::ChapterCopy
        } else {
            RequestFormat::ArticleCopy
        }
    } else {
        c.title = b.title.clone();
        c.author = b.author.clone();
        RequestFormat::Loan
    };
    c.edition = b.edition.clone();
    c.volume = b.volume.clone();
    c.issue = b.issue.clone();
    c.pages = b.pages_requested.clone();
    for id in &b.bibliographic_item_id {
        let v = id.bibliographic_item_identifier.as_str();
        match id
            .bibliographic_item_identifier_code
            .to_uppercase()
            .as_str()
        {
            "ISBN" => c.isbn = c.isbn.take().or_else(|| Isbn::parse(v).ok()),
            "ISSN" => c.issn = c.issn.take().or_else(|| Issn::parse(v).ok()),
            "DOI" => c.doi = c.doi.take().or_else(|| Doi::parse(v).ok()),
            "PMID" => c.pmid = c.pmid.take().or_else(|| Pmid::parse(v).ok()),
            _ => {}
        }
    }
    for id in &b.bibliographic_record_id {
        if id
            .bibliographic_record_identifier_code
            .eq_ignore_ascii_case("OCLC")
        {
            c.oclc_number = OclcNumber::parse(&id.bibliographic_record_identifier).ok();
        }
    }
    if let Some(p) = &r.publication_info {
        c.publisher = p.publisher.clone();
        c.year = p
            .publication_date
            .as_ref()
            .map(|d| d.chars().take(4).collect());
        c.place_of_publication = p.place_of_publication.clone();
    }
    if let Some(s) = &r.service_info {
        c.need_by = s.need_before_date.as_deref().and_then(parse_date);
        c.express = domain::supplier::ServiceLevel::from_iso(s.service_level.as_deref())
            == domain::supplier::ServiceLevel::Express;
    }
    if c.title.is_none() {
        c.title = Some("(no title given)".to_owned());
    }
    (format, c)
}

/// The date part of an xs:date or xs:dateTime, however the peer wrote the rest.
pub fn parse_date(s: &str) -> Option<time::Date> {
    let d = s.get(..10)?;
    time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

pub fn due_date_text(d: time::Date) -> String {
    format!("{d}T23:59:59Z")
}

pub fn status_to_domain(s: iso::Status) -> IsoStatus {
    use iso::Status as W;
    match s {
        W::RequestReceived => IsoStatus::RequestReceived,
        W::ExpectToSupply => IsoStatus::ExpectToSupply,
        W::WillSupply => IsoStatus::WillSupply,
        W::Loaned => IsoStatus::Loaned,
        W::Overdue => IsoStatus::Overdue,
        W::Recalled => IsoStatus::Recalled,
        W::RetryPossible => IsoStatus::RetryPossible,
        W::Unfilled => IsoStatus::Unfilled,
        W::HoldReturn => IsoStatus::HoldReturn,
        W::ReleaseHoldReturn => IsoStatus::ReleaseHoldReturn,
        W::CopyCompleted => IsoStatus::CopyCompleted,
        W::LoanCompleted => IsoStatus::LoanCompleted,
        W::CompletedWithoutReturn => IsoStatus::CompletedWithoutReturn,
        W::Cancelled => IsoStatus::Cancelled,
    }
}

pub fn status_to_wire(s: IsoStatus) -> iso::Status {
    use iso::Status as W;
    match s {
        IsoStatus::RequestReceived => W::RequestReceived,
        IsoStatus::ExpectToSupply => W::ExpectToSupply,
        IsoStatus::WillSupply => W::WillSupply,
        IsoStatus::Loaned => W::Loaned,
        IsoStatus::Overdue => W::Overdue,
        IsoStatus::Recalled => W::Recalled,
        IsoStatus::RetryPossible => W::RetryPossible,
        IsoStatus::Unfilled => W::Unfilled,
        IsoStatus::HoldReturn => W::HoldReturn,
        IsoStatus::ReleaseHoldReturn => W::ReleaseHoldReturn,
        IsoStatus::CopyCompleted => W::CopyCompleted,
        IsoStatus::LoanCompleted => W::LoanCompleted,
        IsoStatus::CompletedWithoutReturn => W::CompletedWithoutReturn,
        IsoStatus::Cancelled => W::Cancelled,
    }
}

pub fn reason_to_domain(r: iso::ReasonForMessage) -> IsoReason {
    use iso::ReasonForMessage as W;
    match r {
        W::RequestResponse => IsoReason::RequestResponse,
        W::StatusRequestResponse => IsoReason::StatusRequestResponse,
        W::RenewResponse => IsoReason::RenewResponse,
        W::CancelResponse => IsoReason::CancelResponse,
        W::StatusChange => IsoReason::StatusChange,
        W::Notification => IsoReason::Notification,
    }
}

pub fn reason_to_wire(r: IsoReason) -> iso::ReasonForMessage {
    use iso::ReasonForMessage as W;
    match r {
        IsoReason::RequestResponse => W::RequestResponse,
        IsoReason::StatusRequestResponse => W::StatusRequestResponse,
        IsoReason::RenewResponse => W::RenewResponse,
        IsoReason::CancelResponse => W::CancelResponse,
        IsoReason::StatusChange => W::StatusChange,
        IsoReason::Notification => W::Notification,
    }
}

pub fn action_to_domain(a: iso::Action) -> IsoAction {
    use iso::Action as W;
    match a {
        W::StatusRequest => IsoAction::StatusRequest,
        W::Received => IsoAction::Received,
        W::Cancel => IsoAction::Cancel,
        W::Renew => IsoAction::Renew,
        W::HoldReturn => IsoAction::HoldReturn,
        W::ShippedReturn => IsoAction::ShippedReturn,
        W::ShippedForward => IsoAction::ShippedForward,
        W::Notification => IsoAction::Notification,
        W::Lost => IsoAction::Lost,
    }
}

pub fn action_to_wire(a: IsoAction) -> iso::Action {
    use iso::Action as W;
    match a {
        IsoAction::StatusRequest => W::StatusRequest,
        IsoAction::Received => W::Received,
        IsoAction::Cancel => W::Cancel,
        IsoAction::Renew => W::Renew,
        IsoAction::HoldReturn => W::HoldReturn,
        IsoAction::ShippedReturn => W::ShippedReturn,
        IsoAction::ShippedForward => W::ShippedForward,
        IsoAction::Notification => W::Notification,
        IsoAction::Lost => W::Lost,
    }
}

/// A confirmation for `msg`: OK, or ERROR with the standard error type and what was wrong.
pub fn confirmation(
    msg: &iso::Message,
    now: OffsetDateTime,
    error: Option<(iso::ErrorType, String)>,
) -> iso::Message {
    let mut header = msg.header().clone();
    header.timestamp = timestamp(now);
    header.timestamp_received = Some(timestamp(now));
    header.message_status = Some(if error.is_some() {
        iso::MessageStatus::Error
    } else {
        iso::MessageStatus::Ok
    });
    header.error_data = error.map(|(error_type, error_value)| iso::ErrorData {
        error_type,
        error_value,
    });
    match msg {
        iso::Message::Request(_) | iso::Message::RequestConfirmation(_) => {
            iso::Message::RequestConfirmation(iso::Confirmation {
                header,
                ..Default::default()
            })
        }
        iso::Message::SupplyingAgencyMessage(m) => {
            iso::Message::SupplyingAgencyMessageConfirmation(iso::Confirmation {
                header,
                reason_for_message: Some(m.message_info.reason_for_message),
                action: None,
            })
        }
        iso::Message::SupplyingAgencyMessageConfirmation(_) => {
            iso::Message::SupplyingAgencyMessageConfirmation(iso::Confirmation {
                header,
                ..Default::default()
            })
        }
        iso::Message::RequestingAgencyMessage(m) => {
            iso::Message::RequestingAgencyMessageConfirmation(iso::Confirmation {
                header,
                reason_for_message: None,
                action: Some(m.action),
            })
        }
        iso::Message::RequestingAgencyMessageConfirmation(_) => {
            iso::Message::RequestingAgencyMessageConfirmation(iso::Confirmation {
                header,
                ..Default::default()
            })
        }
    }
}

/// The terms of a RetryPossible answer, as the borrowing request keeps them. `lender` is the
/// library code of the sender and `previous` the requestingAgencyRequestId it answered.
pub fn retry_offer_of(
    m: &iso::SupplyingAgencyMessage,
    lender: &str,
    previous: &str,
) -> domain::retry::RetryOffer {
    use domain::money::{Currency, Money};
    let mi = &m.message_info;
    let r = m.retry_info.clone().unwrap_or_default();
    let (cost, cost_text) = match &mi.offered_costs {
        Some(c) => match Currency::parse(&c.currency_code)
            .and_then(|cur| Money::parse_decimal(&c.monetary_value, cur))
        {
            Ok(money) => (Some(money), None),
            Err(_) => (
                None,
                Some(format!("{} {}", c.monetary_value, c.currency_code)),
            ),
        },
        None => (None, None),
    };
    domain::retry::RetryOffer {
        lender: lender.to_owned(),
        previous_request_id: previous.to_owned(),
        reason: mi.reason_retry.clone(),
        retry_after: mi.retry_after.as_deref().and_then(parse_date),
        retry_before: mi.retry_before.as_deref().and_then(parse_date),
        cost,
        cost_text,
        loan_conditions: r.loan_condition,
        formats: r.item_format,
        editions: r.edition,
        volumes: r.volume,
        service_type: r.service_type.map(|s| s.as_str().to_owned()),
        service_levels: r.service_level,
        delivery_methods: r.delivery_method,
        payment_methods: r.payment_method,
        note: mi.note.clone().filter(|n| !n.trim().is_empty()),
    }
}

/// Make `request` the acceptance of a retry offer: requestType `Retry` referring to the request
/// the lender answered, with the terms it offered (the highest cost we now accept, the format,
/// edition, volume, service, delivery and payment it named, and its loan conditions accepted in
/// advance). The terms are also spelt out in the note, since the 2017 schema has no place for
/// some of them.
pub fn accept_retry(request: &mut iso::Request, offer: &domain::retry::RetryOffer) {
    let mut said = vec![format!(
        "Retry of {} accepting the terms offered",
        offer.previous_request_id
    )];
    if let Some(cost) = &offer.cost {
        said.push(format!(
            "cost {} {}",
            cost.to_decimal_string(),
            cost.currency.as_str()
        ));
        let billing = request.billing_info.get_or_insert_with(Default::default);
        billing.maximum_costs = Some(iso::Costs {
            currency_code: cost.currency.as_str().to_owned(),
            monetary_value: cost.to_decimal_string(),
        });
    }
    if !offer.loan_conditions.is_empty() {
        said.push(format!(
            "loan conditions {}",
            offer.loan_conditions.join(", ")
        ));
    }
    if let Some(p) = offer.payment_methods.first() {
        let billing = request.billing_info.get_or_insert_with(Default::default);
        billing.payment_method = Some(p.clone());
    }
    if let Some(e) = offer.editions.first() {
        request.bibliographic_info.edition = Some(e.clone());
    }
    if let Some(v) = offer.volumes.first() {
        request.bibliographic_info.volume = Some(v.clone());
    }
    if let Some(d) = offer.delivery_methods.first() {
        request
            .requested_delivery_info
            .push(iso::RequestedDeliveryInfo {
                sort_order: Some(1),
                delivery_method: Some(d.clone()),
                ..Default::default()
            });
    }
    let service = request.service_info.get_or_insert_with(Default::default);
    service.request_type = Some(iso::RequestType::Retry);
    service.requesting_agency_previous_request_id = Some(offer.previous_request_id.clone());
    if let Some(t) = offer.service_type.as_deref().and_then(|t| t.parse().ok()) {
        service.service_type = t;
    }
    if let Some(f) = offer.formats.first() {
        said.push(format!("format {f}"));
        service.preferred_format = Some(f.clone());
    }
    if let Some(l) = offer.service_levels.first() {
        service.service_level = Some(l.clone());
    }
    service.loan_condition = offer.loan_conditions.clone();
    let terms = said.join("; ");
    service.note = Some(match service.note.take() {
        Some(n) if !n.trim().is_empty() => format!("{terms}. {n}"),
        _ => terms,
    });
}

/// The retry fields of a RetryPossible answer from our lending staff: reasonRetry, the offered
/// cost, the dates and (2021 retryInfo) the loan condition and format.
#[derive(Debug, Clone, Default)]
pub struct RetryTerms {
    pub reason: String,
    pub cost: Option<domain::money::Money>,
    pub retry_after: Option<time::Date>,
    pub retry_before: Option<time::Date>,
    pub loan_condition: Option<String>,
    pub item_format: Option<String>,
}

impl RetryTerms {
    /// Put the terms into `m`, and into its note in words for peers whose schema has no place
    /// for some of them. The dates are days of the lender, whose time is `offset`: they go out
    /// as its midnight and its last second of the day, so that their date is its date.
    pub fn apply(
        &self,
        m: &mut iso::SupplyingAgencyMessage,
        offset: domain::library::LibraryOffset,
    ) {
        let mi = &mut m.message_info;
        mi.reason_retry = Some(self.reason.clone());
        mi.offered_costs = self.cost.as_ref().map(|c| iso::Costs {
            currency_code: c.currency.as_str().to_owned(),
            monetary_value: c.to_decimal_string(),
        });
        mi.retry_after = self.retry_after.map(|d| format!("{d}T00:00:00{offset}"));
        mi.retry_before = self.retry_before.map(|d| format!("{d}T23:59:59{offset}"));
        let mut said = vec![format!("Retry possible: {}", self.reason)];
        if let Some(c) = &self.cost {
            said.push(format!(
                "cost {} {}",
                c.to_decimal_string(),
                c.currency.as_str()
            ));
        }
        if let Some(d) = self.retry_after {
            said.push(format!("after {d}"));
        }
        if let Some(d) = self.retry_before {
            said.push(format!("until {d}"));
        }
        let mut retry = iso::RetryInfo::default();
        if let Some(l) = &self.loan_condition {
            said.push(format!("loan condition {l}"));
            retry.loan_condition.push(l.clone());
        }
        if let Some(f) = &self.item_format {
            said.push(format!("format {f}"));
            retry.item_format.push(f.clone());
        }
        m.retry_info = (!retry.is_empty()).then_some(retry);
        let terms = said.join("; ");
        mi.note = Some(match mi.note.take() {
            Some(n) if !n.trim().is_empty() => format!("{terms}. {n}"),
            _ => terms,
        });
    }
}
