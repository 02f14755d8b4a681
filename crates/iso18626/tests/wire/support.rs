//! Fixtures and helpers shared by the test modules.

use std::path::PathBuf;

use iso18626::*;

pub fn fixtures() -> PathBuf {
    PathBuf::from(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests/fixtures")
}

/// The 29 OCLC samples as (file name, bytes), sorted by name.
pub fn samples() -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures().join("samples"))
        .expect("samples folder")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("sample"))
        })
        .filter(|(name, _)| name.ends_with(".xml"))
        .collect();
    all.sort();
    assert_eq!(all.len(), 29, "expected the 29 OCLC samples");
    all
}

pub fn sample(name: &str) -> Message {
    let bytes = std::fs::read(fixtures().join("samples").join(name)).expect("sample");
    parse(&bytes).expect("sample parses").0
}

/// What is left of `msg` after writing it in `version` and reading it back: the fields that
/// version cannot carry, cleared (the list in the `write` module docs).
pub fn as_carried_by(msg: &Message, version: Version) -> Message {
    let mut m = msg.clone();
    match version {
        Version::V2021 => {
            // 2021's region is a plain string.
            m.header_mut()
                .schemes
                .retain(|path| !path.ends_with("/region"));
            let is_request = matches!(m, Message::Request(_));
            let is_supplying = matches!(m, Message::SupplyingAgencyMessage(_));
            let h = m.header_mut();
            if !is_request {
                h.multiple_item_request_id = None;
            }
            if is_request {
                h.supplying_agency_request_id = None;
            }
            if is_supplying {
                h.requesting_agency_authentication = None;
                h.consortial_id = None;
            }
        }
        Version::V2017 => {
            let h = m.header_mut();
            h.consortial_id = None;
            h.additional_error_data.clear();
            match &mut m {
                Message::Request(r) => {
                    let b = &mut r.bibliographic_info;
                    b.author_id = None;
                    b.additional_volumes.clear();
                    if let Some(p) = &mut r.publication_info {
                        p.publisher_id = None;
                    }
                    if let Some(s) = &mut r.service_info {
                        s.preferred_edition = None;
                        s.loan_condition.clear();
                    }
                    for d in &mut r.requested_delivery_info {
                        d.delivery_method = None;
                        d.courier_name = None;
                    }
                }
                Message::SupplyingAgencyMessage(s) => {
                    s.retry_info = None;
                    s.shipping_info = None;
                    if let Some(d) = &mut s.delivery_info {
                        d.additional_item_ids.clear();
                        d.url = None;
                        d.address = None;
                        d.additional_loan_conditions.clear();
                        d.service_type = None;
                        d.additional_delivery_costs.clear();
                        d.payment_method = None;
                    }
                }
                _ => {}
            }
        }
    }
    m
}

pub const AGENCY_SCHEME: &str =
    "http://illtransactions.org/ISO18626/OpenCodeList/AgencyIdTypeList-V1.0";

pub fn schemes(pairs: &[(&str, &str)]) -> Schemes {
    let mut out = Schemes::default();
    for (path, scheme) in pairs {
        out.set(*path, *scheme);
    }
    out
}

pub fn agency(agency_type: &str, value: &str) -> AgencyId {
    AgencyId {
        agency_type: agency_type.to_owned(),
        value: value.to_owned(),
    }
}

pub fn costs(currency: &str, value: &str) -> Costs {
    Costs {
        currency_code: currency.to_owned(),
        monetary_value: value.to_owned(),
    }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

pub fn header() -> Header {
    Header {
        supplying_agency_id: agency("ISIL", "NL-0001"),
        requesting_agency_id: agency("ISIL", "NL-0002"),
        timestamp: "2026-11-23T10:00:00Z".to_owned(),
        requesting_agency_request_id: "req-1".to_owned(),
        supplying_agency_request_id: s("sup-1"),
        ..Header::default()
    }
}

pub fn physical() -> PhysicalAddress {
    PhysicalAddress {
        line1: s("Kerkstraat 1 & 2 <achter>"),
        line2: s("Postbus 12"),
        locality: s("Utrecht"),
        postal_code: s("3511 AA"),
        region: s("NL-UT"),
        country: s("NL"),
    }
}

fn email(address: &str) -> Address {
    Address::Electronic(ElectronicAddress {
        electronic_address_type: "Email".to_owned(),
        electronic_address_data: address.to_owned(),
    })
}

/// A request with every element of both schemas set.
pub fn full_request() -> Message {
    Message::Request(Request {
        header: Header {
            schemes: schemes(&[
                ("header/supplyingAgencyId/agencyIdType", AGENCY_SCHEME),
                ("header/requestingAgencyId/agencyIdType", AGENCY_SCHEME),
                (
                    "bibliographicInfo/bibliographicItemId[1]/bibliographicItemIdentifierCode",
                    "http://illtransactions.org/ISO18626/OpenCodeList/BibliographicItemIdCodeList-V1.0",
                ),
                ("serviceInfo/itemFormat", "urn:formats"),
                (
                    "requestedDeliveryInfo/address/physicalAddress/country",
                    "urn:iso:3166-1",
                ),
                (
                    "requestedDeliveryInfo/address/physicalAddress/region",
                    "urn:iso:3166-2",
                ),
                ("billingInfo/maximumCosts/currencyCode", "urn:iso:4217"),
            ]),
            multiple_item_request_id: s("multi-1"),
            consortial_id: Some(agency("ISIL", "NL-CONS")),
            requesting_agency_authentication: Some(Authentication {
                account_id: s("acct"),
                security_code: s("s3cret"),
            }),
            ..header()
        },
        bibliographic_info: BibliographicInfo {
            supplier_unique_record_id: s("rec-9"),
            title: s("Journal of \"Quoted\" Things"),
            author: s("Jansen, J."),
            author_id: s("0000000121032683"),
            subtitle: s("A subtitle"),
            series_title: s("Series"),
            edition: s("2nd"),
            title_of_component: s("An article"),
            author_of_component: s("Pietersen, P."),
            volume: s("12"),
            additional_volumes: strings(&["13", "14"]),
            issue: s("3"),
            pages_requested: s("10-20"),
            estimated_no_pages: s("11"),
            bibliographic_item_id: vec![
                BibliographicItemId {
                    bibliographic_item_identifier_code: "ISSN".to_owned(),
                    bibliographic_item_identifier: "1234-5679".to_owned(),
                },
                BibliographicItemId {
                    bibliographic_item_identifier_code: "DOI".to_owned(),
                    bibliographic_item_identifier: "10.1000/xyz<1>".to_owned(),
                },
            ],
            sponsor: s("Sponsor"),
            information_source: s("WorldCat"),
            bibliographic_record_id: vec![BibliographicRecordId {
                bibliographic_record_identifier_code: "OCLC".to_owned(),
                bibliographic_record_identifier: "57358293".to_owned(),
            }],
        },
        publication_info: Some(PublicationInfo {
            publisher: s("Publisher"),
            publisher_id: s("0000000404129597"),
            publication_type: s("Journal"),
            publication_date: s("2020"),
            place_of_publication: s("Amsterdam"),
        }),
        service_info: Some(ServiceInfo {
            request_type: Some(RequestType::New),
            request_subtype: vec![
                RequestSubType::PatronRequest,
                RequestSubType::BookingRequest,
            ],
            requesting_agency_previous_request_id: s("prev-1"),
            service_type: ServiceType::Copy,
            service_level: s("Express"),
            preferred_format: s("PDF"),
            need_before_date: s("2026-12-01T00:00:00Z"),
            copyright_compliance: s("NL-Auteurswet"),
            any_edition: Some(false),
            preferred_edition: Some(PreferredEdition::ThisEdition),
            loan_condition: strings(&["LibraryUseOnly"]),
            start_date: s("2026-11-24T00:00:00Z"),
            end_date: s("2026-11-30T00:00:00Z"),
            note: s("line one\nline two\r\nwith tab\t & 'quotes'"),
        }),
        supplier_info: vec![SupplierInfo {
            sort_order: Some(0),
            supplier_code: Some(agency("ISIL", "NL-0001")),
            supplier_description: s("Big library"),
            bibliographic_record_id: Some(BibliographicRecordId {
                bibliographic_record_identifier_code: "LCCN".to_owned(),
                bibliographic_record_identifier: "2001012345".to_owned(),
            }),
            call_number: s("QA 76"),
            summary_holdings: s("1990-"),
            availability_note: s("On shelf"),
        }],
        requested_delivery_info: vec![
            RequestedDeliveryInfo {
                sort_order: Some(1),
                address: Some(Address::Physical(physical())),
                delivery_method: s("Courier"),
                courier_name: s("PostNL"),
            },
            RequestedDeliveryInfo {
                sort_order: Some(2),
                address: Some(email("ill@example.org")),
                ..RequestedDeliveryInfo::default()
            },
        ],
        requesting_agency_info: Some(RequestingAgencyInfo {
            name: s("Small library"),
            contact_name: s("Ann"),
            address: vec![email("ann@example.org"), Address::Physical(physical())],
        }),
        patron_info: Some(PatronInfo {
            patron_id: s("p-1"),
            surname: s("Müller"),
            given_name: s("Zoë"),
            patron_type: s("Adult"),
            send_to_patron: Some(true),
            address: vec![email("zoe@example.org")],
        }),
        billing_info: Some(BillingInfo {
            payment_method: s("Invoice"),
            maximum_costs: Some(costs("EUR", "12.50")),
            billing_method: s("Account"),
            billing_name: s("ILL office"),
            address: Some(Address::Physical(physical())),
        }),
    })
}

/// A supplying agency message with every element of both schemas set.
pub fn full_supplying() -> Message {
    Message::SupplyingAgencyMessage(SupplyingAgencyMessage {
        header: Header {
            schemes: schemes(&[
                ("header/supplyingAgencyId/agencyIdType", AGENCY_SCHEME),
                ("messageInfo/reasonUnfilled", "urn:reasons"),
                ("retryInfo/offeredCosts/currencyCode", "urn:iso:4217"),
                ("deliveryInfo/deliveryMethod", "urn:methods"),
                ("deliveryInfo/itemFormat", "urn:formats"),
            ]),
            ..header()
        },
        message_info: MessageInfo {
            reason_for_message: ReasonForMessage::StatusChange,
            answer_yes_no: Some(true),
            note: s("Sent today"),
            reason_unfilled: s("NotOnShelf"),
            reason_retry: s("CostExceedsMaxCost"),
            offered_costs: Some(costs("EUR", "7.00")),
            retry_after: s("2026-12-01T00:00:00Z"),
            retry_before: s("2027-01-01T00:00:00Z"),
        },
        status_info: StatusInfo {
            status: Status::Loaned,
            expected_delivery_date: s("2026-11-25T00:00:00Z"),
            due_date: s("2026-12-23T23:59:59Z"),
            last_change: "2026-11-23T10:00:00Z".to_owned(),
        },
        retry_info: Some(RetryInfo {
            loan_condition: strings(&["LibraryUseOnly", "NoReproduction"]),
            edition: strings(&["1st"]),
            item_format: strings(&["Printed"]),
            volume: strings(&["2"]),
            service_type: Some(ServiceType::Loan),
            service_level: strings(&["Normal"]),
            delivery_method: strings(&["Mail"]),
            courier_name: strings(&["DHL"]),
            additional_offered_costs: vec![costs("USD", "8")],
            payment_method: strings(&["IFLAVoucher"]),
        }),
        delivery_info: Some(DeliveryInfo {
            date_sent: "2026-11-23T10:00:00Z".to_owned(),
            item_id: s("3900001"),
            additional_item_ids: strings(&["3900002"]),
            url: s("https://example.org/doc?a=1&b=2"),
            sent_via: s("Mail"),
            address: Some(Address::Physical(physical())),
            sent_to_patron: true,
            loan_condition: s("LibraryUseOnly"),
            additional_loan_conditions: strings(&["NoReproduction"]),
            delivered_format: s("Printed"),
            service_type: Some(ServiceType::Loan),
            delivery_costs: Some(costs("EUR", "3.5")),
            additional_delivery_costs: vec![costs("EUR", "-1.25")],
            payment_method: s("Invoice"),
        }),
        shipping_info: Some(ShippingInfo {
            courier_name: s("PostNL"),
            tracking_id: strings(&["3SABC", "3SDEF"]),
            insurance: Some(true),
            insurance_third_party: Some(false),
            third_party_name: s("Verzekeraar"),
            insurance_costs: vec![costs("EUR", "1.00")],
        }),
        return_info: Some(ReturnInfo {
            return_agency_id: Some(agency("ISIL", "NL-0001")),
            name: s("ILL dept"),
            physical_address: Some(physical()),
        }),
    })
}

pub fn full_requesting() -> Message {
    Message::RequestingAgencyMessage(RequestingAgencyMessage {
        header: Header {
            consortial_id: Some(agency("ISIL", "NL-CONS")),
            requesting_agency_authentication: Some(Authentication {
                account_id: s("acct"),
                security_code: None,
            }),
            ..header()
        },
        action: Action::ShippedReturn,
        note: s("Returned by mail"),
    })
}

pub fn full_confirmation() -> Message {
    Message::SupplyingAgencyMessageConfirmation(Confirmation {
        header: Header {
            supplying_agency_request_id: None,
            timestamp_received: s("2026-11-23T10:00:01Z"),
            message_status: Some(MessageStatus::Error),
            error_data: Some(ErrorData {
                error_type: ErrorType::UnrecognisedDataValue,
                error_value: "status: \"Shipped\" is not one of ...".to_owned(),
            }),
            additional_error_data: vec![ErrorData {
                error_type: ErrorType::BadlyFormedMessage,
                error_value: String::new(),
            }],
            ..header()
        },
        reason_for_message: Some(ReasonForMessage::Notification),
        action: None,
    })
}

/// One of each kind, with every field set.
pub fn full_messages() -> Vec<Message> {
    vec![
        full_request(),
        full_supplying(),
        full_requesting(),
        full_confirmation(),
    ]
}
