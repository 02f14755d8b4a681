//! The ISO 18626 messages as Rust values: one model for both schema versions.
//!
//! The model follows ISO 18626:2017 (schema v1.2) and carries the 2021 additions as extra fields.
//! Where 2021 made an element repeatable that 2017 allows once (`volume`, `itemId`,
//! `loanCondition`, `deliveryCosts`, `offeredCosts`, `errorData`), the first occurrence stays in
//! the 2017 field and the rest go in an `additional_*` vector, so that code written against the
//! 2017 shape keeps reading the value it expects. Fields the chosen version cannot carry are left
//! out when writing; `crate::write` lists them.
//!
//! Strings hold values as they were on the wire (trimmed): dates (`xs:dateTime`), amounts
//! (`xs:decimal`) and the open code lists (agency id types, formats, loan conditions ...), since
//! partners send values outside the published lists and a lender must not refuse a request for
//! that. Closed lists are enums. An empty string in a required `String` field means "not given".

use std::fmt;
use std::str::FromStr;

/// The XML namespace of every ISO 18626 element, in both versions.
pub const NAMESPACE: &str = "http://illtransactions.org/2013/iso18626";

/// Which schema shape a message was read in, or is to be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// ISO 18626:2017, schema "Version 1.2 November 2017".
    V2017,
    /// ISO 18626:2021, schema "Version 2021-2 June 2022".
    V2021,
}

impl Version {
    /// The value written in the root's `ill:version` attribute.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V2017 => "v1_2_2017",
            Self::V2021 => "2021-2",
        }
    }

    /// Reads a `version` attribute as peers write it: `v1_2_2017`, `1.2`, `2017`, `2021-2`,
    /// `2021`, `1.3` ... The 2014 versions (1.0, 1.1) are read as 2017, the closest shape.
    pub fn from_attribute(value: &str) -> Option<Self> {
        let v = value
            .trim()
            .trim_start_matches(['v', 'V'])
            .replace('_', ".");
        if v.contains("2021") || v.starts_with("1.3") {
            Some(Self::V2021)
        } else if v.contains("2017") || v.contains("2014") || v.starts_with('1') {
            Some(Self::V2017)
        } else {
            None
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Version {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_attribute(s).ok_or_else(|| UnknownValue {
            type_name: "Version",
            value: s.to_owned(),
        })
    }
}

/// A value that is not one of the wire values of a closed list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {type_name}")]
pub struct UnknownValue {
    /// The Rust type asked for, e.g. `Status`.
    pub type_name: &'static str,
    /// The value as given.
    pub value: String,
}

/// Declares a closed code list: the enum, its wire values, `as_str`, `FromStr` and `Display`.
/// Reading is case-insensitive because partners capitalise freely, and ignores spaces,
/// underscores and hyphens between the words (`will_supply`, `Will Supply`), where no two
/// values of a list can be confused; writing uses the exact value.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order of the schema.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The value on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                Self::ALL
                    .iter()
                    .find(|v| v.as_str() == s)
                    .or_else(|| Self::ALL.iter().find(|v| v.as_str().eq_ignore_ascii_case(s)))
                    .or_else(|| {
                        let words = |t: &str| -> String {
                            t.chars()
                                .filter(|c| !matches!(c, ' ' | '_' | '-'))
                                .flat_map(char::to_lowercase)
                                .collect()
                        };
                        let wanted = words(s);
                        Self::ALL.iter().find(|v| words(v.as_str()) == wanted)
                    })
                    .copied()
                    .ok_or_else(|| UnknownValue { type_name: stringify!($name), value: s.to_owned() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// `type_status`: where the supplying agency is with a request.
    ///
    /// `HoldReturn` and `ReleaseHoldReturn` exist in 2021 only; see [`Status::in_2017`] for how
    /// they travel to a 2017 peer.
    Status {
        RequestReceived => "RequestReceived",
        ExpectToSupply => "ExpectToSupply",
        WillSupply => "WillSupply",
        Loaned => "Loaned",
        Overdue => "Overdue",
        Recalled => "Recalled",
        RetryPossible => "RetryPossible",
        Unfilled => "Unfilled",
        /// 2021: the supplier asks the requester not to send the item back until told (the
        /// supplier is closed, moving ...). The loan goes on.
        HoldReturn => "HoldReturn",
        /// 2021: the hold is over; the item may be sent back.
        ReleaseHoldReturn => "ReleaseHoldReturn",
        CopyCompleted => "CopyCompleted",
        LoanCompleted => "LoanCompleted",
        CompletedWithoutReturn => "CompletedWithoutReturn",
        Cancelled => "Cancelled",
    }
}

wire_enum! {
    /// `type_reasonForMessage` of a supplying agency message.
    ReasonForMessage {
        RequestResponse => "RequestResponse",
        StatusRequestResponse => "StatusRequestResponse",
        RenewResponse => "RenewResponse",
        CancelResponse => "CancelResponse",
        StatusChange => "StatusChange",
        Notification => "Notification",
    }
}

wire_enum! {
    /// `type_action` of a requesting agency message.
    ///
    /// `HoldReturn` and `Lost` exist in 2021 only; see [`Action::in_2017`] for how they travel
    /// to a 2017 peer.
    Action {
        StatusRequest => "StatusRequest",
        Received => "Received",
        Cancel => "Cancel",
        Renew => "Renew",
        /// 2021: the requester keeps the item for now and will return it later (its own
        /// closure, the reader still needs it ...).
        HoldReturn => "HoldReturn",
        ShippedReturn => "ShippedReturn",
        ShippedForward => "ShippedForward",
        Notification => "Notification",
        /// 2021: the item is lost at the requester's end; it will not come back.
        Lost => "Lost",
    }
}

/// The note marker that carries a 2021-only status or action to a 2017 peer, e.g.
/// `#HoldReturn#`, in the style of the markers ReShare puts in notes. A person at the 2017
/// peer reads the value in the note; a reader of this crate turns it back into the value.
pub fn marker_2021(value: &str) -> String {
    format!("#{value}#")
}

impl Status {
    /// Whether only the 2021 schema has this value.
    pub const fn is_2021_only(self) -> bool {
        matches!(self, Self::HoldReturn | Self::ReleaseHoldReturn)
    }

    /// What a 2017 message says instead: the item is still on loan, and the note starts with
    /// [`marker_2021`] of the 2021 value.
    pub const fn in_2017(self) -> Self {
        if self.is_2021_only() {
            Self::Loaned
        } else {
            self
        }
    }
}

impl Action {
    /// Whether only the 2021 schema has this value.
    pub const fn is_2021_only(self) -> bool {
        matches!(self, Self::HoldReturn | Self::Lost)
    }

    /// What a 2017 message says instead: a `Notification` whose note starts with
    /// [`marker_2021`] of the 2021 value.
    pub const fn in_2017(self) -> Self {
        if self.is_2021_only() {
            Self::Notification
        } else {
            self
        }
    }
}

/// Declares a closed code list whose readers keep values outside it: `Other` holds them as
/// sent. Such a value cannot be written into the element (the schema would refuse it), so the
/// writer leaves it out; callers see it and decide.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value outside the list, as sent (trimmed).
            Other(String),
        }

        impl $name {
            /// Every listed value, in the order of the schema.
            pub const KNOWN: &'static [Self] = &[$(Self::$variant,)+];

            /// The value as written on the wire, or as it was sent for `Other`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(s) => s,
                }
            }

            /// Whether the value is one of the list (so it may be written).
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;

            /// Listed values are matched like [`wire_enum!`] lists; anything else is `Other`.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                let words = |t: &str| -> String {
                    t.chars()
                        .filter(|c| !matches!(c, ' ' | '_' | '-'))
                        .flat_map(char::to_lowercase)
                        .collect()
                };
                let wanted = words(s);
                Ok(Self::KNOWN
                    .iter()
                    .find(|v| words(v.as_str()) == wanted)
                    .cloned()
                    .unwrap_or_else(|| Self::Other(s.to_owned())))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum! {
    /// `type_requestType`.
    RequestType {
        New => "New",
        Retry => "Retry",
        Reminder => "Reminder",
    }
}

open_enum! {
    /// `type_requestSubType`.
    RequestSubType {
        BookingRequest => "BookingRequest",
        MultipleItemRequest => "MultipleItemRequest",
        PatronRequest => "PatronRequest",
        TransferRequest => "TransferRequest",
        SupplyingLibrarysChoice => "SupplyingLibrarysChoice",
    }
}

open_enum! {
    /// 2021 `type_preferredEdition`.
    PreferredEdition {
        MostRecentEdition => "MostRecentEdition",
        ThisEdition => "ThisEdition",
        AnyEdition => "AnyEdition",
    }
}

/// The `scheme` attributes of a message's scheme/value pairs (`agencyIdType`, `currencyCode`,
/// `loanCondition` ...): which code list a value comes from, e.g.
/// `http://illtransactions.org/ISO18626/OpenCodeList/AgencyIdTypeList-V1.0`.
///
/// They are kept beside the values rather than in them, so that the many string fields stay
/// plain strings for the code that reads them; no decision here depends on a scheme, but a
/// message passed on (a hub relay) or echoed must keep them. The key is the element's path
/// below the message element in the 2021 names (`header/supplyingAgencyId/agencyIdType`,
/// `deliveryInfo/deliveryMethod`, `retryInfo/offeredCosts/currencyCode`), with `[n]` after
/// the n-th (from 0) of repeated elements when n > 0:
/// `bibliographicInfo/bibliographicItemId[1]/bibliographicItemIdentifierCode`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schemes(std::collections::BTreeMap<String, String>);

impl Schemes {
    /// The scheme of the element at `path`.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.0.get(path).map(String::as_str)
    }

    /// Sets (or, with an empty `scheme`, removes) the scheme of the element at `path`.
    pub fn set(&mut self, path: impl Into<String>, scheme: impl Into<String>) {
        let (path, scheme) = (path.into(), scheme.into());
        if scheme.trim().is_empty() {
            self.0.remove(&path);
        } else {
            self.0.insert(path, scheme);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (path, scheme) pairs in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Keeps only the entries for which `keep(path)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.0.retain(|k, _| keep(k));
    }
}

/// The elements of type `type_schemeValuePair` in either schema (`region` only in 2017), by
/// local name: the ones whose `scheme` attribute is kept.
pub const SCHEME_VALUE_ELEMENTS: &[&str] = &[
    "agencyIdType",
    "bibliographicItemIdentifierCode",
    "bibliographicRecordIdentifierCode",
    "billingMethod",
    "copyrightCompliance",
    "country",
    "courierName",
    "currencyCode",
    "deliveredFormat",
    "deliveryMethod",
    "electronicAddressType",
    "itemFormat",
    "loanCondition",
    "patronType",
    "paymentMethod",
    "preferredFormat",
    "publicationType",
    "reasonRetry",
    "reasonUnfilled",
    "region",
    "sentVia",
    "serviceLevel",
];

/// The 2021 name of an element that 2017 names otherwise (`sentVia`, `deliveredFormat`,
/// `preferredFormat`, `confirmationHeader`), for [`Schemes`] paths.
pub(crate) fn canonical_name(name: &str) -> &str {
    match name {
        "sentVia" => "deliveryMethod",
        "deliveredFormat" | "preferredFormat" => "itemFormat",
        "confirmationHeader" => "header",
        other => other,
    }
}

/// The [`Schemes`] path of the `index`-th element called `name` (any version's name) under the
/// element at `parent` ("" for the message element).
pub(crate) fn scheme_path(parent: &str, name: &str, index: usize) -> String {
    // 2017 keeps offeredCosts in messageInfo (once), 2021 in retryInfo: one key for both.
    let parent = if parent == "messageInfo" && name == "offeredCosts" {
        "retryInfo"
    } else {
        parent
    };
    let name = canonical_name(name);
    let mut path = String::with_capacity(parent.len() + name.len() + 4);
    if !parent.is_empty() {
        path.push_str(parent);
        path.push('/');
    }
    path.push_str(name);
    if index > 0 {
        path.push_str(&format!("[{index}]"));
    }
    path
}

wire_enum! {
    /// `type_serviceType`.
    ServiceType {
        Copy => "Copy",
        Loan => "Loan",
        CopyOrLoan => "CopyOrLoan",
    }
}

wire_enum! {
    /// `type_messageStatus` of a confirmation.
    MessageStatus {
        Ok => "OK",
        Error => "ERROR",
    }
}

wire_enum! {
    /// `type_errorType`: why a message was refused.
    ErrorType {
        UnsupportedActionType => "UnsupportedActionType",
        UnsupportedReasonForMessageType => "UnsupportedReasonForMessageType",
        UnrecognisedDataElement => "UnrecognisedDataElement",
        UnrecognisedDataValue => "UnrecognisedDataValue",
        BadlyFormedMessage => "BadlyFormedMessage",
    }
}

/// One ISO 18626 message: the single child of `ISO18626Message`.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    RequestConfirmation(Confirmation),
    SupplyingAgencyMessage(SupplyingAgencyMessage),
    SupplyingAgencyMessageConfirmation(Confirmation),
    RequestingAgencyMessage(RequestingAgencyMessage),
    RequestingAgencyMessageConfirmation(Confirmation),
}

impl Message {
    /// The header (for confirmations, the confirmation header with its error data).
    pub fn header(&self) -> &Header {
        match self {
            Self::Request(m) => &m.header,
            Self::SupplyingAgencyMessage(m) => &m.header,
            Self::RequestingAgencyMessage(m) => &m.header,
            Self::RequestConfirmation(c)
            | Self::SupplyingAgencyMessageConfirmation(c)
            | Self::RequestingAgencyMessageConfirmation(c) => &c.header,
        }
    }

    /// The header, to change it in place.
    pub fn header_mut(&mut self) -> &mut Header {
        match self {
            Self::Request(m) => &mut m.header,
            Self::SupplyingAgencyMessage(m) => &mut m.header,
            Self::RequestingAgencyMessage(m) => &mut m.header,
            Self::RequestConfirmation(c)
            | Self::SupplyingAgencyMessageConfirmation(c)
            | Self::RequestingAgencyMessageConfirmation(c) => &mut c.header,
        }
    }

    /// The element name of the message, e.g. `supplyingAgencyMessage`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Request(_) => "request",
            Self::RequestConfirmation(_) => "requestConfirmation",
            Self::SupplyingAgencyMessage(_) => "supplyingAgencyMessage",
            Self::SupplyingAgencyMessageConfirmation(_) => "supplyingAgencyMessageConfirmation",
            Self::RequestingAgencyMessage(_) => "requestingAgencyMessage",
            Self::RequestingAgencyMessageConfirmation(_) => "requestingAgencyMessageConfirmation",
        }
    }

    /// Whether this is one of the three confirmations.
    pub fn is_confirmation(&self) -> bool {
        matches!(
            self,
            Self::RequestConfirmation(_)
                | Self::SupplyingAgencyMessageConfirmation(_)
                | Self::RequestingAgencyMessageConfirmation(_)
        )
    }
}

/// `type_agencyId`: an agency identifier with its type (`ISIL`, `OCLC`, `DNUCNI` ...).
/// Both parts empty means "not given" where the element is optional.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AgencyId {
    pub agency_type: String,
    pub value: String,
}

impl AgencyId {
    pub fn is_empty(&self) -> bool {
        self.agency_type.is_empty() && self.value.is_empty()
    }
}

/// The union of the message headers of both versions and of the confirmation header.
///
/// Request, supplying agency message and requesting agency message headers have the same shape
/// in 2017; 2021 gave each its own (see `crate::write` for what each can carry). A confirmation
/// header has only the agency ids, `timestamp`, `requestingAgencyRequestId`,
/// (2017) `multipleItemRequestId`, `timestampReceived` and `messageStatus`; the error data that
/// follows it in a confirmation is kept here too.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// Optional in 2021 requests (transfer requests without a supplier) and in confirmations:
    /// empty there means absent.
    pub supplying_agency_id: AgencyId,
    pub requesting_agency_id: AgencyId,
    /// Required (possibly empty) in 2017 headers; 2021 keeps it only in request headers.
    pub multiple_item_request_id: Option<String>,
    /// `xs:dateTime` as sent, e.g. `2026-11-23T10:00:00Z`.
    pub timestamp: String,
    pub requesting_agency_request_id: String,
    pub supplying_agency_request_id: Option<String>,
    pub requesting_agency_authentication: Option<Authentication>,
    /// 2021 request and requesting agency message headers only.
    pub consortial_id: Option<AgencyId>,
    /// Confirmations only.
    pub timestamp_received: Option<String>,
    /// Confirmations only.
    pub message_status: Option<MessageStatus>,
    /// Confirmations only: the (first) `errorData`.
    pub error_data: Option<ErrorData>,
    /// Confirmations only: further `errorData`, which 2021 allows.
    pub additional_error_data: Vec<ErrorData>,
    /// The `scheme` attributes of the whole message (not only of the header: every message
    /// has a header, so this is where they live).
    pub schemes: Schemes,
}

/// `requestingAgencyAuthentication`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authentication {
    pub account_id: Option<String>,
    pub security_code: Option<String>,
}

/// `errorData` of a confirmation. An empty `error_value` is not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorData {
    pub error_type: ErrorType,
    pub error_value: String,
}

/// The three confirmations. `reason_for_message` belongs to a supplying agency message
/// confirmation and `action` to a requesting agency message confirmation; each is ignored
/// when writing the other kinds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Confirmation {
    pub header: Header,
    pub reason_for_message: Option<ReasonForMessage>,
    pub action: Option<Action>,
}

/// `request`: a requesting agency asks a supplying agency for an item.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    pub header: Header,
    pub bibliographic_info: BibliographicInfo,
    pub publication_info: Option<PublicationInfo>,
    /// Required by the 2021 schema, optional in 2017.
    pub service_info: Option<ServiceInfo>,
    pub supplier_info: Vec<SupplierInfo>,
    pub requested_delivery_info: Vec<RequestedDeliveryInfo>,
    pub requesting_agency_info: Option<RequestingAgencyInfo>,
    pub patron_info: Option<PatronInfo>,
    pub billing_info: Option<BillingInfo>,
}

/// `bibliographicInfo`: what is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BibliographicInfo {
    pub supplier_unique_record_id: Option<String>,
    pub title: Option<String>,
    pub author: Option<String>,
    /// 2021: an ISNI (ISO 27729) of the author.
    pub author_id: Option<String>,
    pub subtitle: Option<String>,
    pub series_title: Option<String>,
    pub edition: Option<String>,
    pub title_of_component: Option<String>,
    pub author_of_component: Option<String>,
    pub volume: Option<String>,
    /// 2021: further `volume` elements.
    pub additional_volumes: Vec<String>,
    pub issue: Option<String>,
    pub pages_requested: Option<String>,
    pub estimated_no_pages: Option<String>,
    pub bibliographic_item_id: Vec<BibliographicItemId>,
    pub sponsor: Option<String>,
    pub information_source: Option<String>,
    pub bibliographic_record_id: Vec<BibliographicRecordId>,
}

/// `bibliographicItemId`: an identifier of the item, e.g. code `ISBN`, `ISSN`, `DOI`, `PMID`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BibliographicItemId {
    pub bibliographic_item_identifier_code: String,
    pub bibliographic_item_identifier: String,
}

/// `bibliographicRecordId`: an identifier of a catalogue record, e.g. code `OCLC`, `LCCN`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BibliographicRecordId {
    pub bibliographic_record_identifier_code: String,
    pub bibliographic_record_identifier: String,
}

/// `publicationInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublicationInfo {
    pub publisher: Option<String>,
    /// 2021: an ISNI (ISO 27729) of the publisher.
    pub publisher_id: Option<String>,
    pub publication_type: Option<String>,
    pub publication_date: Option<String>,
    pub place_of_publication: Option<String>,
}

/// `serviceInfo`: what kind of service is asked for.
///
/// `Default` gives `service_type: Loan` only so that callers can write
/// `ServiceInfo { service_type, ..Default::default() }`; the standard has no default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub request_type: Option<RequestType>,
    /// At most 3 in 2017 (the first 3 listed values are written).
    pub request_subtype: Vec<RequestSubType>,
    pub requesting_agency_previous_request_id: Option<String>,
    pub service_type: ServiceType,
    pub service_level: Option<String>,
    /// `preferredFormat` in 2017, `itemFormat` in 2021.
    pub preferred_format: Option<String>,
    pub need_before_date: Option<String>,
    pub copyright_compliance: Option<String>,
    /// `anyEdition` (Y/N); deprecated in 2021 in favour of `preferred_edition`.
    pub any_edition: Option<bool>,
    /// 2021. Written to 2017 peers as `anyEdition` when that is not given.
    pub preferred_edition: Option<PreferredEdition>,
    /// 2021: loan conditions the requester accepts in advance.
    pub loan_condition: Vec<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub note: Option<String>,
}

impl Default for ServiceInfo {
    fn default() -> Self {
        Self {
            request_type: None,
            request_subtype: Vec::new(),
            requesting_agency_previous_request_id: None,
            service_type: ServiceType::Loan,
            service_level: None,
            preferred_format: None,
            need_before_date: None,
            copyright_compliance: None,
            any_edition: None,
            preferred_edition: None,
            loan_condition: Vec::new(),
            start_date: None,
            end_date: None,
            note: None,
        }
    }
}

/// `supplierInfo`: a possible supplier and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SupplierInfo {
    /// `xs:integer` in 2017 (negative allowed), 0 or more in 2021 (a negative is written as 0).
    pub sort_order: Option<i64>,
    pub supplier_code: Option<AgencyId>,
    pub supplier_description: Option<String>,
    pub bibliographic_record_id: Option<BibliographicRecordId>,
    pub call_number: Option<String>,
    pub summary_holdings: Option<String>,
    pub availability_note: Option<String>,
}

/// `requestedDeliveryInfo`: where (and in 2021 how) the item should be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestedDeliveryInfo {
    /// As [`SupplierInfo::sort_order`].
    pub sort_order: Option<i64>,
    pub address: Option<Address>,
    /// 2021.
    pub delivery_method: Option<String>,
    /// 2021.
    pub courier_name: Option<String>,
}

/// `address`: either electronic or physical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Electronic(ElectronicAddress),
    Physical(PhysicalAddress),
}

/// `electronicAddress`, e.g. type `Email` with data `ill@example.org`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElectronicAddress {
    pub electronic_address_type: String,
    pub electronic_address_data: String,
}

/// `physicalAddress`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhysicalAddress {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub locality: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-2 code, e.g. `US-OH` (a scheme/value pair in 2017, a plain string in 2021).
    pub region: Option<String>,
    /// ISO 3166-1 code, e.g. `NL`.
    pub country: Option<String>,
}

/// `requestingAgencyInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestingAgencyInfo {
    pub name: Option<String>,
    pub contact_name: Option<String>,
    pub address: Vec<Address>,
}

/// `patronInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PatronInfo {
    pub patron_id: Option<String>,
    pub surname: Option<String>,
    pub given_name: Option<String>,
    pub patron_type: Option<String>,
    /// `sendToPatron` (Y/N).
    pub send_to_patron: Option<bool>,
    pub address: Vec<Address>,
}

/// `billingInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BillingInfo {
    pub payment_method: Option<String>,
    pub maximum_costs: Option<Costs>,
    pub billing_method: Option<String>,
    pub billing_name: Option<String>,
    pub address: Option<Address>,
}

/// `type_costs`: an amount in a currency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Costs {
    /// ISO 4217, e.g. `EUR`.
    pub currency_code: String,
    /// `xs:decimal` text as on the wire, e.g. `12.50`.
    pub monetary_value: String,
}

/// `supplyingAgencyMessage`: the supplier's answer or news about a request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SupplyingAgencyMessage {
    pub header: Header,
    pub message_info: MessageInfo,
    pub status_info: StatusInfo,
    /// 2021: the conditions of a retry beyond those kept in `message_info`.
    pub retry_info: Option<RetryInfo>,
    pub delivery_info: Option<DeliveryInfo>,
    /// 2021.
    pub shipping_info: Option<ShippingInfo>,
    pub return_info: Option<ReturnInfo>,
}

/// `messageInfo`. `offered_costs`, `retry_after` and `retry_before` are in `messageInfo` in 2017
/// and in `retryInfo` in 2021; they live here whichever version was read.
///
/// `Default` gives `reason_for_message: RequestResponse` only to allow `..Default::default()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    pub reason_for_message: ReasonForMessage,
    /// `answerYesNo` (Y/N), the answer to a cancel or renew request.
    pub answer_yes_no: Option<bool>,
    pub note: Option<String>,
    pub reason_unfilled: Option<String>,
    pub reason_retry: Option<String>,
    pub offered_costs: Option<Costs>,
    pub retry_after: Option<String>,
    pub retry_before: Option<String>,
}

impl Default for MessageInfo {
    fn default() -> Self {
        Self {
            reason_for_message: ReasonForMessage::RequestResponse,
            answer_yes_no: None,
            note: None,
            reason_unfilled: None,
            reason_retry: None,
            offered_costs: None,
            retry_after: None,
            retry_before: None,
        }
    }
}

/// 2021 `retryInfo`, without the parts kept in [`MessageInfo`]: the conditions under which the
/// supplier would fill a retried request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetryInfo {
    pub loan_condition: Vec<String>,
    pub edition: Vec<String>,
    pub item_format: Vec<String>,
    pub volume: Vec<String>,
    pub service_type: Option<ServiceType>,
    pub service_level: Vec<String>,
    pub delivery_method: Vec<String>,
    pub courier_name: Vec<String>,
    /// `offeredCosts` after the first (which is `MessageInfo::offered_costs`).
    pub additional_offered_costs: Vec<Costs>,
    pub payment_method: Vec<String>,
}

impl RetryInfo {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `statusInfo`.
///
/// `Default` gives `status: RequestReceived` only to allow `..Default::default()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    pub status: Status,
    pub expected_delivery_date: Option<String>,
    pub due_date: Option<String>,
    pub last_change: String,
}

impl Default for StatusInfo {
    fn default() -> Self {
        Self {
            status: Status::RequestReceived,
            expected_delivery_date: None,
            due_date: None,
            last_change: String::new(),
        }
    }
}

/// `deliveryInfo`: how the item was sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryInfo {
    pub date_sent: String,
    pub item_id: Option<String>,
    /// 2021: further `itemId` elements.
    pub additional_item_ids: Vec<String>,
    /// 2021 `URL`.
    pub url: Option<String>,
    /// `sentVia` in 2017, `deliveryMethod` in 2021.
    pub sent_via: Option<String>,
    /// 2021.
    pub address: Option<Address>,
    /// `xs:boolean`; written always (absent reads as `false`).
    pub sent_to_patron: bool,
    pub loan_condition: Option<String>,
    /// 2021: further `loanCondition` elements.
    pub additional_loan_conditions: Vec<String>,
    /// `deliveredFormat` in 2017, `itemFormat` in 2021.
    pub delivered_format: Option<String>,
    /// 2021.
    pub service_type: Option<ServiceType>,
    pub delivery_costs: Option<Costs>,
    /// 2021: further `deliveryCosts` elements.
    pub additional_delivery_costs: Vec<Costs>,
    /// 2021.
    pub payment_method: Option<String>,
}

/// 2021 `shippingInfo`: courier, tracking and insurance of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShippingInfo {
    pub courier_name: Option<String>,
    pub tracking_id: Vec<String>,
    /// `insurance` (Y/N).
    pub insurance: Option<bool>,
    /// `insuranceThirdParty` (Y/N).
    pub insurance_third_party: Option<bool>,
    pub third_party_name: Option<String>,
    pub insurance_costs: Vec<Costs>,
}

/// `returnInfo`: where a loan goes back to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReturnInfo {
    pub return_agency_id: Option<AgencyId>,
    pub name: Option<String>,
    pub physical_address: Option<PhysicalAddress>,
}

/// `requestingAgencyMessage`: the requester acts on a request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestingAgencyMessage {
    pub header: Header,
    pub action: Action,
    pub note: Option<String>,
}
