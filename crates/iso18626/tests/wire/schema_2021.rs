//! What the 2021 schema added (HoldReturn, ReleaseHoldReturn, Lost), the `scheme` attributes,
//! the closed lists that keep unknown values, and the leniency real peers need: each read, and
//! written valid against the schema of either version (xmllint, when installed).

use iso18626::*;

use crate::schema::{invalidity, xmllint_available};
use crate::support::*;

/// Writes `message` in `version`, checks it against that version's schema (when xmllint is
/// there) and reads it back.
fn written_valid_and_read(message: &Message, version: Version) -> (String, Message) {
    let xml = write(message, version);
    if xmllint_available()
        && let Some(errors) = invalidity(&xml, version)
    {
        panic!("written as {version:?} is not valid:\n{errors}\n{xml}");
    }
    let (again, _) = parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    (xml, again)
}

fn supplying(status: Status, note: Option<&str>) -> Message {
    Message::SupplyingAgencyMessage(SupplyingAgencyMessage {
        header: header(),
        message_info: MessageInfo {
            reason_for_message: ReasonForMessage::StatusChange,
            note: note.map(str::to_owned),
            ..MessageInfo::default()
        },
        status_info: StatusInfo {
            status,
            due_date: Some("2026-12-23T23:59:59Z".to_owned()),
            last_change: "2026-11-23T10:00:00Z".to_owned(),
            ..StatusInfo::default()
        },
        ..SupplyingAgencyMessage::default()
    })
}

fn requesting(action: Action, note: Option<&str>) -> Message {
    Message::RequestingAgencyMessage(RequestingAgencyMessage {
        header: header(),
        action,
        note: note.map(str::to_owned),
    })
}

#[test]
fn hold_return_and_release_are_read_and_written_in_2021() {
    for status in [Status::HoldReturn, Status::ReleaseHoldReturn] {
        let message = supplying(status, Some("Library closed until 5 January"));
        let (xml, again) = written_valid_and_read(&message, Version::V2021);
        assert!(
            xml.contains(&format!("<status>{}</status>", status.as_str())),
            "{xml}"
        );
        assert_eq!(again, message);
    }
}

#[test]
fn a_2021_only_status_goes_to_a_2017_peer_as_loaned_named_in_the_note_and_comes_back() {
    for (status, note) in [
        (Status::HoldReturn, Some("Library closed until 5 January")),
        (Status::ReleaseHoldReturn, None),
    ] {
        let message = supplying(status, note);
        let (xml, again) = written_valid_and_read(&message, Version::V2017);
        assert!(xml.contains("<status>Loaned</status>"), "{xml}");
        let marker = format!("<note>#{}#", status.as_str());
        assert!(xml.contains(&marker), "{xml}");
        assert_eq!(again, message, "the marker turns back into the status");
    }
}

#[test]
fn hold_return_and_lost_actions_are_read_and_written_in_2021() {
    for action in [Action::HoldReturn, Action::Lost] {
        let message = requesting(action, Some("Water damage"));
        let (xml, again) = written_valid_and_read(&message, Version::V2021);
        assert!(
            xml.contains(&format!("<action>{}</action>", action.as_str())),
            "{xml}"
        );
        assert_eq!(again, message);
    }
}

#[test]
fn a_2021_only_action_goes_to_a_2017_peer_as_a_notification_and_comes_back() {
    for (action, note) in [
        (Action::Lost, Some("Water damage")),
        (Action::HoldReturn, None),
    ] {
        let message = requesting(action, note);
        let (xml, again) = written_valid_and_read(&message, Version::V2017);
        assert!(xml.contains("<action>Notification</action>"), "{xml}");
        assert!(
            xml.contains(&format!("<note>#{}#", action.as_str())),
            "{xml}"
        );
        assert_eq!(again, message);
    }
}

#[test]
fn a_confirmation_of_a_2021_only_action_is_valid_in_both_versions() {
    let confirmation = Message::RequestingAgencyMessageConfirmation(Confirmation {
        header: Header {
            timestamp_received: Some("2026-11-23T10:00:01Z".to_owned()),
            message_status: Some(MessageStatus::Ok),
            ..header()
        },
        reason_for_message: None,
        action: Some(Action::Lost),
    });
    let (xml, _) = written_valid_and_read(&confirmation, Version::V2017);
    assert!(xml.contains("<action>Notification</action>"), "{xml}");
    let (xml, again) = written_valid_and_read(&confirmation, Version::V2021);
    assert!(xml.contains("<action>Lost</action>"), "{xml}");
    let Message::RequestingAgencyMessageConfirmation(c) = again else {
        panic!("not a confirmation")
    };
    assert_eq!(c.action, Some(Action::Lost));
}

#[test]
fn the_samples_keep_their_scheme_attributes_in_both_versions() {
    let message = sample("NewRequest.xml");
    let schemes = &message.header().schemes;
    assert_eq!(
        schemes.get("bibliographicInfo/bibliographicItemId/bibliographicItemIdentifierCode"),
        Some("http://illtransactions.org/ISO18626/OpenCodeList/BibliographicItemIdCodeList-V1.0")
    );
    assert_eq!(
        schemes.get("requestedDeliveryInfo[1]/address/electronicAddress/electronicAddressType"),
        Some("http://illtransactions.org/ISO18626/OpenCodeList/ElectronicAddressType-V1.0"),
        "{schemes:?}"
    );
    assert_eq!(
        schemes.get("requestedDeliveryInfo/address/physicalAddress/country"),
        Some("https://www.iso.org/iso-3166-country-codes.html"),
        "{schemes:?}"
    );
    for version in [Version::V2017, Version::V2021] {
        let (xml, again) = written_valid_and_read(&message, version);
        assert!(
            xml.contains(
                r#"<publicationType ill:scheme="http://illtransactions.org/ISO18626/OpenCodeList/PublicationTypeList-V1.0">Book</publicationType>"#
            ),
            "{xml}"
        );
        assert_eq!(again.header().schemes, *schemes, "{version:?}");
    }
}

#[test]
fn a_region_keeps_its_scheme_in_2017_and_drops_it_in_2021_where_it_is_a_plain_string() {
    let message = sample("SupplyingAgencyMessageLoaned.xml");
    let path = "returnInfo/physicalAddress/region";
    assert!(message.header().schemes.get(path).is_some());
    let (_, v2017) = written_valid_and_read(&message, Version::V2017);
    assert_eq!(
        v2017.header().schemes.get(path),
        message.header().schemes.get(path)
    );
    let (xml, v2021) = written_valid_and_read(&message, Version::V2021);
    assert!(xml.contains("<region>CA-QC</region>"), "{xml}");
    assert_eq!(v2021.header().schemes.get(path), None);
}

#[test]
fn a_scheme_written_unqualified_by_a_peer_is_read_too() {
    let xml = sample_text_of("RequestingAgencyMessageCancel.xml").replace("ns1:scheme=", "scheme=");
    let (message, _) = parse(xml.as_bytes()).expect("parses");
    assert_eq!(
        message
            .header()
            .schemes
            .get("header/requestingAgencyId/agencyIdType"),
        Some(AGENCY_SCHEME)
    );
}

fn request_with(service: ServiceInfo) -> Message {
    let Message::Request(mut r) = full_request() else {
        panic!("not a request")
    };
    r.service_info = Some(service);
    Message::Request(r)
}

#[test]
fn request_types_outside_the_closed_lists_are_kept_when_read_and_left_out_when_written() {
    let xml = sample_text_of("NewRequest.xml").replace(
        "<ns1:requestType>New</ns1:requestType>",
        "<ns1:requestType>Urgent</ns1:requestType><ns1:requestSubType>patron request</ns1:requestSubType><ns1:requestSubType>HubRequest</ns1:requestSubType>",
    );
    let (message, _) = parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let Message::Request(r) = &message else {
        panic!("not a request")
    };
    let service = r.service_info.as_ref().expect("serviceInfo");
    assert_eq!(
        service.request_type,
        Some(RequestType::Other("Urgent".to_owned()))
    );
    assert_eq!(
        service.request_subtype,
        vec![
            RequestSubType::PatronRequest,
            RequestSubType::Other("HubRequest".to_owned())
        ]
    );
    for version in [Version::V2017, Version::V2021] {
        let (xml, _) = written_valid_and_read(&message, version);
        assert!(
            !xml.contains("Urgent") && !xml.contains("HubRequest"),
            "{xml}"
        );
        assert!(xml.contains("<requestSubType>PatronRequest</requestSubType>"));
    }
}

#[test]
fn a_2017_peer_gets_at_most_three_request_sub_types_and_any_edition_from_the_preferred_one() {
    let message = request_with(ServiceInfo {
        request_type: Some(RequestType::Reminder),
        request_subtype: vec![
            RequestSubType::BookingRequest,
            RequestSubType::MultipleItemRequest,
            RequestSubType::PatronRequest,
            RequestSubType::TransferRequest,
        ],
        preferred_edition: Some(PreferredEdition::AnyEdition),
        ..ServiceInfo::default()
    });
    let (xml, again) = written_valid_and_read(&message, Version::V2017);
    assert_eq!(xml.matches("<requestSubType>").count(), 3, "{xml}");
    assert!(xml.contains("<anyEdition>Y</anyEdition>"), "{xml}");
    let Message::Request(r) = again else { panic!() };
    assert_eq!(r.service_info.and_then(|s| s.any_edition), Some(true));
    let (xml, again) = written_valid_and_read(&message, Version::V2021);
    assert_eq!(xml.matches("<requestSubType>").count(), 4, "{xml}");
    assert!(xml.contains("<preferredEdition>AnyEdition</preferredEdition>"));
    assert!(!xml.contains("anyEdition>"), "not made up in 2021: {xml}");
    let (Message::Request(a), Message::Request(b)) = (again, message) else {
        panic!()
    };
    assert_eq!(a.service_info, b.service_info);
}

#[test]
fn a_negative_sort_order_of_2017_is_read_and_written_as_0_in_2021() {
    let xml = sample_text_of("NewRequest.xml").replacen(
        "<ns1:sortOrder>1</ns1:sortOrder>",
        "<ns1:sortOrder>-1</ns1:sortOrder>",
        1,
    );
    let (message, _) = parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let Message::Request(r) = &message else {
        panic!()
    };
    assert_eq!(r.requested_delivery_info[0].sort_order, Some(-1));
    let (xml, _) = written_valid_and_read(&message, Version::V2017);
    assert!(xml.contains("<sortOrder>-1</sortOrder>"), "{xml}");
    let (xml, _) = written_valid_and_read(&message, Version::V2021);
    assert!(!xml.contains("<sortOrder>-1</sortOrder>"), "{xml}");
    assert!(xml.contains("<sortOrder>0</sortOrder>"), "{xml}");
}

fn sample_text_of(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("samples").join(name)).expect("sample")
}

/// A supplying agency message from a sloppy peer, with the timestamp and due date as given.
fn with_dates(timestamp: &str, due: &str) -> String {
    sample_text_of("SupplyingAgencyMessageLoaned.xml")
        .replace(
            "<ns1:timestamp>2021-02-09T11:24:24Z</ns1:timestamp>",
            &format!("<ns1:timestamp>{timestamp}</ns1:timestamp>"),
        )
        .replace(
            "<ns1:dueDate>2021-03-11T05:00:00Z</ns1:dueDate>",
            &format!("<ns1:dueDate>{due}</ns1:dueDate>"),
        )
}

#[test]
fn dates_as_real_peers_write_them_are_read_and_written_back_valid() {
    for (sent, read) in [
        ("2026-11-23T10:00:00+0800", "2026-11-23T10:00:00+08:00"),
        ("2026-11-23T10:00:00+08", "2026-11-23T10:00:00+08:00"),
        ("2026-11-23T10:00:00-05:00", "2026-11-23T10:00:00-05:00"),
        ("2026-11-23 10:00:00", "2026-11-23T10:00:00"),
        ("2026-11-23t10:00z", "2026-11-23T10:00:00Z"),
        ("2026-11-23T10:00:00.123Z", "2026-11-23T10:00:00.123Z"),
        ("  2026-11-23T10:00:00Z\n", "2026-11-23T10:00:00Z"),
        ("2026-11-23", "2026-11-23T00:00:00"),
        ("2026-11-23Z", "2026-11-23T00:00:00Z"),
    ] {
        let xml = with_dates(sent, sent);
        let (message, _) = parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{sent}: {e}"));
        let Message::SupplyingAgencyMessage(m) = &message else {
            panic!()
        };
        assert_eq!(m.header.timestamp, read, "{sent}");
        assert_eq!(m.status_info.due_date.as_deref(), Some(read), "{sent}");
        for version in [Version::V2017, Version::V2021] {
            written_valid_and_read(&message, version);
        }
    }
}

#[test]
fn empty_elements_and_whitespace_around_values_are_read_as_absent_or_trimmed() {
    let xml = sample_text_of("SupplyingAgencyMessageLoaned.xml")
        .replace(
            "<ns1:status>Loaned</ns1:status>",
            "<ns1:status>\n   Loaned\t</ns1:status>",
        )
        .replace(
            "<ns1:reasonForMessage>",
            "<ns1:answerYesNo/><ns1:reasonForMessage>  ",
        )
        .replace(
            "</ns1:messageInfo>",
            "<ns1:reasonUnfilled>  </ns1:reasonUnfilled></ns1:messageInfo>",
        );
    let (message, _) = parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let Message::SupplyingAgencyMessage(m) = &message else {
        panic!()
    };
    assert_eq!(m.status_info.status, Status::Loaned);
    assert_eq!(m.message_info.reason_unfilled, None);
    assert_eq!(m.message_info.answer_yes_no, None);
    for version in [Version::V2017, Version::V2021] {
        written_valid_and_read(&message, version);
    }
}

#[test]
fn a_byte_order_mark_and_line_breaks_before_the_declaration_are_skipped() {
    let text = sample_text_of("RequestingAgencyMessageCancel.xml");
    for prefix in ["\u{feff}", "\r\n", "\u{feff}\n  \n"] {
        let xml = format!("{prefix}{text}");
        let (message, _) = parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{prefix:?}: {e}"));
        assert_eq!(message, sample("RequestingAgencyMessageCancel.xml"));
    }
}

#[test]
fn any_namespace_prefix_reads_alike() {
    let text = sample_text_of("SupplyingAgencyMessageLoaned.xml");
    let prefixed = text
        .replace("ns1:", "iso18626_x:")
        .replace("xmlns:ns1", "xmlns:iso18626_x");
    let default = text
        .replace("ns1:", "")
        .replace("xmlns:ns1", "xmlns")
        .replace(
            " version=",
            " xmlns:v=\"http://illtransactions.org/2013/iso18626\" v:version=",
        );
    let expected = sample("SupplyingAgencyMessageLoaned.xml");
    for xml in [prefixed, default] {
        let (message, _) = parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert_eq!(message, expected, "{xml}");
    }
}

/// A requesting agency message with `note`, declaring `encoding`.
fn note_in(encoding: &str, note: &str) -> String {
    sample_text_of("RequestingAgencyMessageCancel.xml")
        .replacen("encoding=\"UTF-8\"", &format!("encoding=\"{encoding}\""), 1)
        .replace(
            "</ns1:action>",
            &format!("</ns1:action><ns1:note>{note}</ns1:note>"),
        )
}

fn note_of(bytes: &[u8]) -> Option<String> {
    match parse(bytes).unwrap_or_else(|e| panic!("{e}")).0 {
        Message::RequestingAgencyMessage(m) => m.note,
        other => panic!("{other:?}"),
    }
}

#[test]
fn text_in_the_encoding_its_declaration_names_is_read() {
    assert!(sample_text_of("RequestingAgencyMessageCancel.xml").contains("encoding=\"UTF-8\""));
    let title = "图书馆间互借：请于一月五日前归还";
    for (label, encoding) in [
        ("GBK", encoding_rs::GBK),
        ("GB18030", encoding_rs::GB18030),
        ("Big5", encoding_rs::BIG5),
    ] {
        let text = note_in(
            label,
            if label == "Big5" {
                "圖書館間互借"
            } else {
                title
            },
        );
        let (bytes, _, unmappable) = encoding.encode(&text);
        assert!(!unmappable, "{label}");
        let expected = if label == "Big5" {
            "圖書館間互借"
        } else {
            title
        };
        assert_eq!(note_of(&bytes).as_deref(), Some(expected), "{label}");
    }
    let text = note_in("windows-1252", "“Quoted” – 12 €");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    assert_eq!(note_of(&bytes).as_deref(), Some("“Quoted” – 12 €"));
}

#[test]
fn utf16_with_its_byte_order_mark_is_read() {
    let text = note_in("UTF-16", "Zoë, 北京");
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    assert_eq!(note_of(&bytes).as_deref(), Some("Zoë, 北京"));
}

#[test]
fn text_that_is_not_in_its_declared_encoding_is_refused_as_badly_formed() {
    let text = note_in("UTF-8", "Montr\u{e9}al");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    let e = parse(&bytes).unwrap_err();
    assert_eq!(e.error_type(), ErrorType::BadlyFormedMessage);
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

#[test]
fn a_time_in_utc_spelt_out_is_read() {
    let xml = sample_text_of("SupplyingAgencyMessageSample1.xml").replace(
        "<ns1:timestamp>2018-02-08T08:34:54Z</ns1:timestamp>",
        "<ns1:timestamp>2026-11-30T10:00:00 UTC</ns1:timestamp>",
    );
    let (message, _) = parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let Message::SupplyingAgencyMessage(m) = &message else {
        panic!()
    };
    assert_eq!(m.header.timestamp, "2026-11-30T10:00:00Z");
    for version in [Version::V2017, Version::V2021] {
        written_valid_and_read(&message, version);
    }
}
