//! The OCLC samples and hand-written messages read, and survive being written and read again.

use iso18626::*;

use crate::support::*;

#[test]
fn every_sample_parses_and_is_recognised_as_2017() {
    for (name, bytes) in samples() {
        let (message, version) = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(version, Version::V2017, "{name}");
        let expected_kind = if name.starts_with("RequestingAgency") {
            if name.contains("Confirmation") {
                "requestingAgencyMessageConfirmation"
            } else {
                "requestingAgencyMessage"
            }
        } else if name.starts_with("SupplyingAgency") {
            if name.contains("Confirmation") {
                "supplyingAgencyMessageConfirmation"
            } else {
                "supplyingAgencyMessage"
            }
        } else if name.contains("Confirmation") {
            "requestConfirmation"
        } else {
            "request"
        };
        assert_eq!(message.kind(), expected_kind, "{name}");
    }
}

#[test]
fn every_sample_survives_a_2017_round_trip() {
    for (name, bytes) in samples() {
        let (message, _) = parse(&bytes).expect("sample parses");
        let written = write(&message, Version::V2017);
        let (again, version) =
            parse(written.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}\n{written}"));
        assert_eq!(again, message, "{name}\n{written}");
        assert_eq!(version, Version::V2017, "{name}");
    }
}

#[test]
fn every_sample_survives_a_2021_round_trip_less_what_2021_cannot_carry() {
    for (name, bytes) in samples() {
        let (message, _) = parse(&bytes).expect("sample parses");
        let written = write(&message, Version::V2021);
        let (again, version) =
            parse(written.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}\n{written}"));
        assert_eq!(
            again,
            as_carried_by(&message, Version::V2021),
            "{name}\n{written}"
        );
        assert_eq!(version, Version::V2021, "{name}\n{written}");
    }
}

#[test]
fn messages_with_every_field_survive_round_trips_in_both_versions() {
    for message in full_messages() {
        for version in [Version::V2017, Version::V2021] {
            let written = write(&message, version);
            let (again, read_as) =
                parse(written.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{written}"));
            assert_eq!(
                again,
                as_carried_by(&message, version),
                "{version}\n{written}"
            );
            assert_eq!(read_as, version, "{written}");
        }
    }
}

#[test]
fn a_full_request_sample_reads_into_the_expected_fields() {
    let Message::Request(r) = sample("RequestSample1.xml") else {
        panic!("not a request")
    };
    assert_eq!(r.header.supplying_agency_id, agency("ISIL", "OCLC-ABCDE"));
    assert_eq!(
        r.header.multiple_item_request_id.as_deref(),
        Some("What is this?")
    );
    assert_eq!(r.header.timestamp, "2018-02-08T08:34:54Z");
    assert_eq!(
        r.bibliographic_info.title.as_deref(),
        Some("Something about elephants")
    );
    let service = r.service_info.expect("serviceInfo");
    assert_eq!(service.service_type, ServiceType::CopyOrLoan);
    assert_eq!(
        service.request_subtype,
        vec![RequestSubType::TransferRequest]
    );
    assert_eq!(service.preferred_format.as_deref(), Some("LargePrint"));
    assert_eq!(service.any_edition, Some(true));
    assert_eq!(r.supplier_info[0].sort_order, Some(2));
    assert_eq!(
        r.supplier_info[0].call_number.as_deref(),
        Some("CallNumber")
    );
    let Some(Address::Physical(p)) = &r.requested_delivery_info[0].address else {
        panic!("address")
    };
    assert_eq!(p.region.as_deref(), Some("US-OH"));
    assert_eq!(
        r.patron_info.expect("patronInfo").send_to_patron,
        Some(false)
    );
    let billing = r.billing_info.expect("billingInfo");
    assert_eq!(billing.maximum_costs, Some(costs("USD", "99.99")));
}

#[test]
fn an_empty_multiple_item_request_id_and_empty_edition_read_as_absent() {
    let Message::Request(r) = sample("NewRequest.xml") else {
        panic!("not a request")
    };
    assert_eq!(r.header.multiple_item_request_id, None);
    assert_eq!(r.bibliographic_info.edition, None);
    assert_eq!(
        r.bibliographic_info.author.as_deref(),
        Some("Rowling, J. K.; GrandPré, Mary")
    );
    assert_eq!(
        r.bibliographic_info.bibliographic_item_id,
        vec![BibliographicItemId {
            bibliographic_item_identifier_code: "ISBN".to_owned(),
            bibliographic_item_identifier: "9780439784542".to_owned(),
        }]
    );
}

#[test]
fn a_supplying_agency_sample_keeps_its_2017_retry_fields_in_message_info() {
    let Message::SupplyingAgencyMessage(m) = sample("SupplyingAgencyMessageSample1.xml") else {
        panic!("not a supplying agency message")
    };
    assert_eq!(
        m.message_info.reason_for_message,
        ReasonForMessage::RenewResponse
    );
    assert_eq!(m.message_info.answer_yes_no, Some(true));
    assert_eq!(m.message_info.offered_costs, Some(costs("USD", "99.99")));
    assert_eq!(
        m.message_info.retry_after.as_deref(),
        Some("2018-03-09T12:00:00Z")
    );
    assert_eq!(m.status_info.status, Status::LoanCompleted);
    let delivery = m.delivery_info.expect("deliveryInfo");
    assert_eq!(delivery.sent_via.as_deref(), Some("Mail"));
    assert_eq!(delivery.delivered_format.as_deref(), Some("LargePrint"));
    assert!(delivery.sent_to_patron);
    assert_eq!(m.retry_info, None);
    let auth = m
        .header
        .requesting_agency_authentication
        .expect("authentication");
    assert_eq!(auth.account_id.as_deref(), Some("Account-1234"));
}

#[test]
fn writing_2021_moves_retry_fields_into_retry_info_and_renames_delivery_fields() {
    let message = sample("SupplyingAgencyMessageSample1.xml");
    let written = write(&message, Version::V2021);
    let retry = &written[written.find("<retryInfo>").expect("retryInfo")..];
    assert!(retry.find("<offeredCosts>") < retry.find("<retryBefore>"));
    assert!(retry.find("<retryBefore>") < retry.find("<retryAfter>"));
    assert!(written.contains(">Mail</deliveryMethod>"));
    assert!(written.contains(">LargePrint</itemFormat>"));
    assert!(!written.contains("sentVia"));
    assert!(!written.contains("multipleItemRequestId"));
    assert!(!written.contains("requestingAgencyAuthentication"));
    assert!(written.contains(r#"ill:version="2021-2""#));
}

#[test]
fn writing_2017_puts_the_identifier_before_its_code_and_2021_after() {
    let message = full_request();
    let v2017 = write(&message, Version::V2017);
    let v2021 = write(&message, Version::V2021);
    let order = |xml: &str| {
        xml.find("<bibliographicItemIdentifier>") < xml.find("<bibliographicItemIdentifierCode>")
    };
    assert!(order(&v2017));
    assert!(!order(&v2021));
    assert!(v2017.contains(r#"<preferredFormat ill:scheme="urn:formats">PDF</preferredFormat>"#));
    assert!(v2021.contains(r#"<itemFormat ill:scheme="urn:formats">PDF</itemFormat>"#));
}

#[test]
fn the_error_confirmation_sample_reads_its_error_data() {
    let Message::RequestConfirmation(c) = sample("RequestConfirmationSampleError.xml") else {
        panic!("not a request confirmation")
    };
    assert_eq!(c.header.message_status, Some(MessageStatus::Error));
    assert_eq!(c.header.requesting_agency_request_id, "");
    assert_eq!(
        c.header.timestamp_received.as_deref(),
        Some("2018-02-08T08:44:54Z")
    );
    assert_eq!(
        c.header.error_data,
        Some(ErrorData {
            error_type: ErrorType::BadlyFormedMessage,
            error_value: "Some explanation of the error here".to_owned(),
        })
    );
}

#[test]
fn non_ascii_text_is_read_and_written_as_utf8() {
    let message = sample("SupplyingAgencyMessageLoaned.xml");
    let Message::SupplyingAgencyMessage(m) = &message else {
        panic!("not a SAM")
    };
    let address = m
        .return_info
        .as_ref()
        .and_then(|r| r.physical_address.as_ref())
        .expect("address");
    assert_eq!(address.locality.as_deref(), Some("Montréal"));
    assert!(write(&message, Version::V2017).contains("Montréal"));
}

const DEFAULT_NAMESPACE_RAM: &str = r#"<?xml version="1.0"?>
<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626" version="1.2">
  <requestingAgencyMessage>
    <header>
      <supplyingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>NL-0001</agencyIdValue></supplyingAgencyId>
      <requestingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>NL-0002</agencyIdValue></requestingAgencyId>
      <timestamp>2026-11-23T10:00:00Z</timestamp>
      <requestingAgencyRequestId>req-1</requestingAgencyRequestId>
    </header>
    <action>Received</action>
  </requestingAgencyMessage>
</ISO18626Message>"#;

#[test]
fn prefixed_and_default_namespace_documents_read_alike() {
    let prefixed = DEFAULT_NAMESPACE_RAM
        .replace("<ISO18626Message xmlns=", "<ill:ISO18626Message xmlns:ill=")
        .replace(" version=", " ill:version=")
        .replace("</ISO18626Message>", "</ill:ISO18626Message>")
        .replace("<requestingAgency", "<ill:requestingAgency")
        .replace("</requestingAgency", "</ill:requestingAgency")
        .replace("<header>", "<ill:header>")
        .replace("</header>", "</ill:header>");
    let (a, version_a) = parse(DEFAULT_NAMESPACE_RAM.as_bytes()).expect("default namespace");
    let (b, version_b) = parse(prefixed.as_bytes()).expect("prefixed");
    assert_eq!(a, b);
    assert_eq!((version_a, version_b), (Version::V2017, Version::V2017));
    let Message::RequestingAgencyMessage(m) = a else {
        panic!("not a RAM")
    };
    assert_eq!(m.action, Action::Received);
}

#[test]
fn the_version_attribute_decides_when_the_content_does_not() {
    let as_2021 = DEFAULT_NAMESPACE_RAM.replace("version=\"1.2\"", "version=\"2021-2\"");
    assert_eq!(parse(as_2021.as_bytes()).expect("parses").1, Version::V2021);
    let without = DEFAULT_NAMESPACE_RAM.replace(" version=\"1.2\"", "");
    assert_eq!(parse(without.as_bytes()).expect("parses").1, Version::V2017);
}

#[test]
fn content_only_2021_has_wins_over_a_2017_version_attribute() {
    let with_consortium = DEFAULT_NAMESPACE_RAM.replace(
        "<timestamp>",
        "<consortialId><agencyIdType>ISIL</agencyIdType><agencyIdValue>C</agencyIdValue></consortialId><timestamp>",
    );
    let (message, version) = parse(with_consortium.as_bytes()).expect("parses");
    assert_eq!(version, Version::V2021);
    assert_eq!(message.header().consortial_id, Some(agency("ISIL", "C")));
}

const SLOPPY_SAM: &str = r#"<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626">
  <supplyingAgencyMessage>
    <header>
      <requestingAgencyRequestId>  req-1
      </requestingAgencyRequestId>
      <timestamp>2026-11-23 10:00</timestamp>
      <requestingAgencyId><agencyIdValue>NL-0002</agencyIdValue><agencyIdType>isil</agencyIdType></requestingAgencyId>
      <supplyingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>NL-0001</agencyIdValue></supplyingAgencyId>
      <supplyingAgencyRequestId></supplyingAgencyRequestId>
      <vendorExtension><anything>at all</anything></vendorExtension>
    </header>
    <messageInfo>
      <reasonForMessage>statuschange</reasonForMessage>
      <answerYesNo/>
      <note></note>
      <reasonUnfilled>OurOwnReason</reasonUnfilled>
    </messageInfo>
    <statusInfo><status> loaned </status><lastChange>2026-11-23</lastChange></statusInfo>
    <deliveryInfo><dateSent>2026-11-23</dateSent><sentToPatron>1</sentToPatron><itemId/></deliveryInfo>
    <returnInfo/>
  </supplyingAgencyMessage>
</ISO18626Message>"#;

#[test]
fn sloppy_messages_are_read_leniently() {
    let (message, _) = parse(SLOPPY_SAM.as_bytes()).expect("parses");
    let Message::SupplyingAgencyMessage(m) = message else {
        panic!("not a SAM")
    };
    assert_eq!(m.header.requesting_agency_request_id, "req-1");
    assert_eq!(m.header.timestamp, "2026-11-23T10:00:00");
    assert_eq!(m.header.requesting_agency_id, agency("isil", "NL-0002"));
    assert_eq!(m.header.supplying_agency_request_id, None);
    assert_eq!(
        m.message_info.reason_for_message,
        ReasonForMessage::StatusChange
    );
    assert_eq!(m.message_info.answer_yes_no, None);
    assert_eq!(m.message_info.note, None);
    assert_eq!(
        m.message_info.reason_unfilled.as_deref(),
        Some("OurOwnReason")
    );
    assert_eq!(m.status_info.status, Status::Loaned);
    let delivery = m.delivery_info.expect("deliveryInfo");
    assert!(delivery.sent_to_patron);
    assert_eq!(delivery.item_id, None);
    assert_eq!(m.return_info, None);
}

#[test]
fn entities_and_character_references_are_resolved() {
    let xml = DEFAULT_NAMESPACE_RAM.replace(
        "<action>Received</action>",
        "<action>Received</action><note>a &amp; b &lt;c&gt; &#233;&#x20AC; <![CDATA[<raw> & ]]>end</note>",
    );
    let (message, _) = parse(xml.as_bytes()).expect("parses");
    let Message::RequestingAgencyMessage(m) = &message else {
        panic!("not a RAM")
    };
    assert_eq!(m.note.as_deref(), Some("a & b <c> é€ <raw> & end"));
    let again = parse(write(&message, Version::V2021).as_bytes())
        .expect("parses")
        .0;
    assert_eq!(again, message);
}

#[test]
fn a_byte_order_mark_and_a_latin1_declaration_are_accepted() {
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(DEFAULT_NAMESPACE_RAM.as_bytes());
    assert!(parse(&with_bom).is_ok());

    let latin1 = DEFAULT_NAMESPACE_RAM
        .replace(
            r#"<?xml version="1.0"?>"#,
            r#"<?xml version="1.0" encoding="ISO-8859-1"?>"#,
        )
        .replace(
            "<action>Received</action>",
            "<action>Received</action><note>Montr\u{e9}al</note>",
        );
    let bytes: Vec<u8> = latin1
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin1"))
        .collect();
    let Message::RequestingAgencyMessage(m) = parse(&bytes).expect("latin1 parses").0 else {
        panic!("not a RAM")
    };
    assert_eq!(m.note.as_deref(), Some("Montréal"));
}

#[test]
fn a_2021_message_with_repeated_elements_keeps_them_all() {
    let message = full_supplying();
    let written = write(&message, Version::V2021);
    assert_eq!(written.matches("<itemId>").count(), 2);
    assert_eq!(written.matches("<deliveryCosts>").count(), 2);
    assert_eq!(written.matches("<offeredCosts>").count(), 2);
    let written_2017 = write(&message, Version::V2017);
    assert_eq!(written_2017.matches("<itemId>").count(), 1);
    assert_eq!(written_2017.matches("<offeredCosts>").count(), 1);
    assert!(!written_2017.contains("retryInfo"));
    assert!(!written_2017.contains("shippingInfo"));
}

#[test]
fn a_confirmation_without_status_or_received_time_gets_them_from_the_rest() {
    let confirmation = Message::RequestConfirmation(Confirmation {
        header: Header {
            error_data: Some(ErrorData {
                error_type: ErrorType::UnrecognisedDataValue,
                error_value: "no such library".to_owned(),
            }),
            ..header()
        },
        ..Confirmation::default()
    });
    let written = write(&confirmation, Version::V2017);
    assert!(written.contains("<messageStatus>ERROR</messageStatus>"));
    assert!(written.contains("<timestampReceived>2026-11-23T10:00:00Z</timestampReceived>"));
    let blank = write(
        &Message::RequestConfirmation(Confirmation::default()),
        Version::V2021,
    );
    assert!(blank.contains("<messageStatus>OK</messageStatus>"));
    assert!(!blank.contains("AgencyId"));
}

#[test]
fn closed_lists_read_their_wire_values_in_any_case() {
    for status in Status::ALL {
        assert_eq!(status.as_str().parse::<Status>(), Ok(*status));
        assert_eq!(
            status.as_str().to_uppercase().parse::<Status>(),
            Ok(*status)
        );
    }
    assert_eq!("OK".parse::<MessageStatus>(), Ok(MessageStatus::Ok));
    assert_eq!("Error".parse::<MessageStatus>(), Ok(MessageStatus::Error));
    assert!("Shipped".parse::<Status>().is_err());
    assert_eq!("v1_2_2017".parse::<Version>(), Ok(Version::V2017));
    assert_eq!("2021-2".parse::<Version>(), Ok(Version::V2021));
    assert_eq!(Version::V2021.to_string(), "2021-2");
}

#[test]
fn a_request_without_a_supplier_survives_both_versions() {
    let Message::Request(mut r) = full_request() else {
        panic!("not a request")
    };
    r.header.supplying_agency_id = AgencyId::default();
    r.header
        .schemes
        .retain(|path| !path.starts_with("header/supplyingAgencyId"));
    let message = Message::Request(r);
    for version in [Version::V2017, Version::V2021] {
        let written = write(&message, version);
        let (again, _) = parse(written.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{written}"));
        assert_eq!(again, as_carried_by(&message, version), "{written}");
    }
}

#[test]
fn a_vendors_elements_are_never_taken_for_iso_elements_of_the_same_name() {
    let xml = r#"<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626"
        xmlns:v="urn:example:vendor" version="v1_2_2017">
  <v:envelope><v:id>7</v:id></v:envelope>
  <supplyingAgencyMessage>
    <header>
      <supplyingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>NL-0001</agencyIdValue></supplyingAgencyId>
      <requestingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>NL-0002</agencyIdValue></requestingAgencyId>
      <v:timestamp>yesterday</v:timestamp>
      <timestamp>2026-11-23T10:00+0100</timestamp>
      <requestingAgencyRequestId>req-1</requestingAgencyRequestId>
    </header>
    <messageInfo><v:note>internal only</v:note><reasonForMessage>Status_Change</reasonForMessage><note>for you</note></messageInfo>
    <statusInfo><v:status>Unfilled</v:status><status>Will Supply</status><lastChange>2026-11-23T10:00</lastChange></statusInfo>
    <v:retryInfo><v:anything/></v:retryInfo>
  </supplyingAgencyMessage>
</ISO18626Message>"#;
    let (message, version) = parse(xml.as_bytes()).expect("parses");
    assert_eq!(
        version,
        Version::V2017,
        "the vendor's retryInfo is no evidence of 2021"
    );
    let Message::SupplyingAgencyMessage(m) = message else {
        panic!("not a SAM")
    };
    // Read leniently, kept in xs:dateTime form.
    assert_eq!(m.header.timestamp, "2026-11-23T10:00:00+01:00");
    assert_eq!(m.message_info.note.as_deref(), Some("for you"));
    assert_eq!(
        m.message_info.reason_for_message,
        ReasonForMessage::StatusChange
    );
    assert_eq!(m.status_info.status, Status::WillSupply);
    assert_eq!(m.retry_info, None);
}

#[test]
fn codes_are_read_with_spaces_underscores_or_hyphens_between_their_words() {
    for status in Status::ALL {
        let spaced: String = status
            .as_str()
            .chars()
            .flat_map(|c| {
                let sep = c.is_ascii_uppercase().then_some('_');
                sep.into_iter()
                    .chain(std::iter::once(c.to_ascii_lowercase()))
            })
            .collect();
        assert_eq!(spaced.parse::<Status>(), Ok(*status), "{spaced}");
    }
    assert_eq!(
        "copy-or-loan".parse::<ServiceType>(),
        Ok(ServiceType::CopyOrLoan)
    );
    assert!("will supply it".parse::<Status>().is_err());
    assert!("Ship ped".parse::<Status>().is_err());
}

#[test]
fn an_unreadable_message_still_tells_what_it_was_and_from_whom() {
    let xml = r#"<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626" version="v1_2_2017">
  <requestingAgencyMessage>
    <header>
      <supplyingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>NL-0001</agencyIdValue></supplyingAgencyId>
      <requestingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>NL-0002</agencyIdValue></requestingAgencyId>
      <multipleItemRequestId/>
      <requestingAgencyRequestId>req-1</requestingAgencyRequestId>
    </header>
    <action>Renew</action>
  </requestingAgencyMessage>
</ISO18626Message>"#;
    let e = parse(xml.as_bytes()).expect_err("no timestamp");
    assert_eq!(
        e.to_string(),
        "missing element requestingAgencyMessage/header/timestamp"
    );
    let s = iso18626::sniff(xml.as_bytes()).expect("sniffed");
    assert_eq!(s.kind, "requestingAgencyMessage");
    assert_eq!(s.version, Version::V2017);
    assert_eq!(s.header.requesting_agency_request_id, "req-1");
    assert_eq!(s.header.supplying_agency_id, agency("ISIL", "NL-0001"));
    assert_eq!(s.action, Some(Action::Renew));
    assert_eq!(iso18626::sniff(b"not xml"), None);
    assert_eq!(
        iso18626::sniff(br#"<x xmlns="urn:other"><request/></x>"#),
        None
    );
}
