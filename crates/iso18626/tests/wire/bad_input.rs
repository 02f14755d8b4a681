//! Input that must be refused, with the right error, error type and words.

use iso18626::*;

use crate::support::*;

fn sample_text(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("samples").join(name)).expect("sample")
}

fn refused(xml: &str) -> ParseError {
    match parse(xml.as_bytes()) {
        Ok((message, _)) => panic!("accepted: {message:?}"),
        Err(e) => e,
    }
}

const RAM: &str = r#"<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626" version="2021-2">
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
fn a_root_in_another_namespace_is_refused() {
    let e = refused(&RAM.replace("http://illtransactions.org/2013/iso18626", "urn:other"));
    assert_eq!(
        e,
        ParseError::WrongNamespace {
            found: "urn:other".to_owned()
        }
    );
    assert_eq!(e.error_type(), ErrorType::BadlyFormedMessage);
    assert!(e.to_string().contains("urn:other"), "{e}");
}

#[test]
fn a_root_without_namespace_is_refused() {
    let e = refused(&RAM.replace(r#" xmlns="http://illtransactions.org/2013/iso18626""#, ""));
    assert_eq!(
        e,
        ParseError::WrongNamespace {
            found: String::new()
        }
    );
    assert!(e.to_string().contains("no namespace"), "{e}");
}

#[test]
fn an_undeclared_root_prefix_is_badly_formed() {
    let e =
        refused(r#"<ill:ISO18626Message ill:version="1.2"><ill:request/></ill:ISO18626Message>"#);
    assert!(matches!(e, ParseError::BadlyFormed { .. }), "{e:?}");
}

#[test]
fn a_root_that_is_not_an_iso18626_message_is_refused() {
    let e = refused(r#"<request xmlns="http://illtransactions.org/2013/iso18626"/>"#);
    assert_eq!(
        e,
        ParseError::UnknownRoot {
            found: "request".to_owned()
        }
    );
    assert_eq!(e.error_type(), ErrorType::UnrecognisedDataElement);

    let e = refused(&RAM.replace("requestingAgencyMessage>", "requestingAgencyNote>"));
    assert_eq!(
        e,
        ParseError::UnknownRoot {
            found: "ISO18626Message/requestingAgencyNote".to_owned()
        }
    );

    let e = refused(r#"<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626"/>"#);
    assert!(matches!(e, ParseError::UnknownRoot { .. }), "{e:?}");
}

#[test]
fn a_missing_header_is_named_by_its_path() {
    let start = RAM.find("<header>").expect("header");
    let end = RAM.find("</header>").expect("header end") + "</header>".len();
    let e = refused(&format!("{}{}", &RAM[..start], &RAM[end..]));
    assert_eq!(
        e,
        ParseError::MissingElement {
            path: "requestingAgencyMessage/header".to_owned()
        }
    );
    assert_eq!(e.error_type(), ErrorType::BadlyFormedMessage);
    assert_eq!(
        e.to_string(),
        "missing element requestingAgencyMessage/header"
    );
}

#[test]
fn a_missing_or_empty_required_element_is_named_by_its_path() {
    let sample = sample_text("RequestSample1.xml");
    let start = sample.find("<ns1:supplyingAgencyId>").expect("supplier");
    let end =
        sample.find("</ns1:supplyingAgencyId>").expect("end") + "</ns1:supplyingAgencyId>".len();
    let without_supplier = format!("{}{}", &sample[..start], &sample[end..]);
    // Optional in 2021 requests.
    assert!(parse(without_supplier.as_bytes()).is_ok());

    let e = refused(&RAM.replace("<agencyIdValue>NL-0001</agencyIdValue>", "<agencyIdValue/>"));
    assert_eq!(
        e,
        ParseError::MissingElement {
            path: "requestingAgencyMessage/header/supplyingAgencyId/agencyIdValue".to_owned()
        }
    );

    let e = refused(&RAM.replace("<action>Received</action>", "<action> </action>"));
    assert_eq!(
        e,
        ParseError::MissingElement {
            path: "requestingAgencyMessage/action".to_owned()
        }
    );

    let sam = sample_text("SupplyingAgencyMessageLoaned.xml");
    let e = refused(&sam.replace("<ns1:status>Loaned</ns1:status>", ""));
    assert_eq!(
        e,
        ParseError::MissingElement {
            path: "supplyingAgencyMessage/statusInfo/status".to_owned()
        }
    );
}

#[test]
fn an_unknown_status_is_an_unrecognised_data_value() {
    let sam = sample_text("SupplyingAgencyMessageLoaned.xml");
    let e = refused(&sam.replace(
        "<ns1:status>Loaned</ns1:status>",
        "<ns1:status>Shipped</ns1:status>",
    ));
    let ParseError::BadValue {
        path,
        value,
        expected,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(path, "supplyingAgencyMessage/statusInfo/status");
    assert_eq!(value, "Shipped");
    assert!(
        expected.contains("RequestReceived") && expected.contains("Cancelled"),
        "{expected}"
    );
    assert_eq!(e.error_type(), ErrorType::UnrecognisedDataValue);
    assert!(
        e.to_string()
            .starts_with("supplyingAgencyMessage/statusInfo/status: \"Shipped\" is not one of"),
        "{e}"
    );
}

#[test]
fn a_date_that_cannot_be_read_is_refused_naming_its_element() {
    let e = refused(&RAM.replace(
        "<timestamp>2026-11-23T10:00:00Z</timestamp>",
        "<timestamp>yesterday at noon</timestamp>",
    ));
    assert_eq!(e.error_type(), ErrorType::UnrecognisedDataValue);
    assert!(
        e.to_string().starts_with(
            "requestingAgencyMessage/header/timestamp: \"yesterday at noon\" is not a date and time"
        ),
        "{e}"
    );
    for bad in [
        "2026-13-01T10:00:00Z",
        "2026-11-23T25:00:00Z",
        "2026-11-23T10:00:00+2500",
    ] {
        let e = refused(&RAM.replace("2026-11-23T10:00:00Z", bad));
        assert!(e.to_string().contains("header/timestamp"), "{bad}: {e}");
    }
}

#[test]
fn an_unknown_reason_for_message_is_an_unsupported_reason() {
    let sam = sample_text("SupplyingAgencyMessageLoaned.xml");
    let e = refused(&sam.replace(">RequestResponse<", ">JustSaying<"));
    assert_eq!(e.error_type(), ErrorType::UnsupportedReasonForMessageType);
}

#[test]
fn bad_booleans_numbers_and_amounts_are_bad_values() {
    let request = sample_text("RequestSample1.xml");
    let e = refused(&request.replace(
        "<ns1:anyEdition>Y</ns1:anyEdition>",
        "<ns1:anyEdition>maybe</ns1:anyEdition>",
    ));
    assert!(
        matches!(&e, ParseError::BadValue { path, expected, .. }
        if path == "request/serviceInfo/anyEdition" && expected == "Y or N"),
        "{e:?}"
    );

    let e = refused(&request.replace(
        "<ns1:sortOrder>2</ns1:sortOrder>",
        "<ns1:sortOrder>second</ns1:sortOrder>",
    ));
    assert!(
        matches!(&e, ParseError::BadValue { path, .. } if path == "request/supplierInfo/sortOrder"),
        "{e:?}"
    );

    let e = refused(&request.replace(
        "<ns1:monetaryValue>99.99</ns1:monetaryValue>",
        "<ns1:monetaryValue>99,99</ns1:monetaryValue>",
    ));
    assert!(
        matches!(&e, ParseError::BadValue { path, value, .. }
        if path == "request/billingInfo/maximumCosts/monetaryValue" && value == "99,99"),
        "{e:?}"
    );
    assert_eq!(e.error_type(), ErrorType::UnrecognisedDataValue);
}

#[test]
fn a_doctype_is_refused_before_any_entity_is_expanded() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626"><request>&lol3;</request></ISO18626Message>"#;
    let e = refused(laughs);
    let ParseError::BadlyFormed { detail, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(detail.contains("DOCTYPE"), "{detail}");
    assert_eq!(e.error_type(), ErrorType::BadlyFormedMessage);

    let external = r#"<!DOCTYPE x SYSTEM "file:///etc/passwd"><ISO18626Message xmlns="http://illtransactions.org/2013/iso18626"/>"#;
    assert!(matches!(refused(external), ParseError::BadlyFormed { .. }));
}

#[test]
fn an_undeclared_entity_is_badly_formed() {
    let e = refused(&RAM.replace(
        "<action>Received</action>",
        "<action>Received</action><note>&xxe;</note>",
    ));
    let ParseError::BadlyFormed { detail, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(detail.contains("&xxe;"), "{detail}");
}

#[test]
fn every_truncation_of_a_sample_is_refused_as_badly_formed() {
    let sample = sample_text("RequestSample1.xml");
    let end_of_root = sample.rfind("</ns1:ISO18626Message>").expect("root end");
    for cut in (0..end_of_root).filter(|i| sample.is_char_boundary(*i)) {
        match parse(&sample.as_bytes()[..cut]) {
            Err(ParseError::BadlyFormed { position, .. }) => {
                assert!(position <= cut as u64, "cut {cut}: position {position}");
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn a_truncated_document_says_where_it_ends() {
    let e = refused(&RAM[..RAM.find("<action>").expect("action")]);
    let ParseError::BadlyFormed { position, detail } = &e else {
        panic!("{e:?}")
    };
    assert!(detail.contains("requestingAgencyMessage"), "{detail}");
    assert!(*position > 0);
    assert!(
        e.to_string().starts_with("badly formed XML at byte "),
        "{e}"
    );
}

#[test]
fn mismatched_tags_trailing_content_and_bad_bytes_are_badly_formed() {
    for xml in [
        RAM.replace("</action>", "</note>"),
        format!("{RAM}<second/>"),
        format!("{RAM} trailing text"),
        String::new(),
        "   ".to_owned(),
        "not xml at all".to_owned(),
        RAM.replace("Received", "Rec & eived"),
        RAM.replace("<action>", "<action a=\"1\" a=\"2\">"),
    ] {
        let e = refused(&xml);
        assert!(matches!(e, ParseError::BadlyFormed { .. }), "{xml}: {e:?}");
    }
    let mut not_utf8 = RAM.as_bytes().to_vec();
    not_utf8.extend_from_slice(b"\xff\xfe");
    assert!(matches!(
        parse(&not_utf8),
        Err(ParseError::BadlyFormed { .. })
    ));
}

#[test]
fn nesting_deeper_than_any_message_needs_is_refused() {
    let depth = 10_000;
    let xml = format!(
        r#"<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626">{}{}</ISO18626Message>"#,
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let e = refused(&xml);
    let ParseError::BadlyFormed { detail, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(detail.contains("nested deeper"), "{detail}");
}

#[test]
fn a_huge_bad_value_is_cut_short_in_the_error() {
    let long = "x".repeat(10_000);
    let e = refused(&RAM.replace(
        "<action>Received</action>",
        &format!("<action>{long}</action>"),
    ));
    assert!(e.to_string().len() < 400, "{}", e.to_string().len());
}

#[test]
fn an_agency_id_with_only_empty_parts_counts_as_missing() {
    let empty =
        "<supplyingAgencyId><agencyIdType/><agencyIdValue> </agencyIdValue></supplyingAgencyId>";
    let start = RAM.find("<supplyingAgencyId>").expect("supplier");
    let end = RAM.find("</supplyingAgencyId>").expect("end") + "</supplyingAgencyId>".len();
    let e = refused(&format!("{}{empty}{}", &RAM[..start], &RAM[end..]));
    assert_eq!(
        e,
        ParseError::MissingElement {
            path: "requestingAgencyMessage/header/supplyingAgencyId".to_owned()
        }
    );
}
