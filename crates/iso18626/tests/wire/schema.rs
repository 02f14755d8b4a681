//! What we write validates against the schema of the version written, checked with xmllint when
//! it is installed (`apt-get install libxml2-utils`); without it these tests say so and pass.

use std::io::Write;
use std::process::{Command, Stdio};

use iso18626::*;

use crate::support::*;

fn schema(version: Version) -> std::path::PathBuf {
    let file = match version {
        Version::V2017 => "ISO-18626-v1_2.xsd",
        Version::V2021 => "ISO-18626-2021-2.xsd",
    };
    fixtures().join("xsd").join(file)
}

pub fn xmllint_available() -> bool {
    let found = Command::new("xmllint")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIPPED: xmllint is not installed, so schema validation was not run");
    }
    found
}

/// xmllint's complaints about `xml` against the schema of `version`, or None when it is valid.
pub fn invalidity(xml: &str, version: Version) -> Option<String> {
    let mut child = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(schema(version))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xmllint runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(xml.as_bytes())
        .expect("write to xmllint");
    let output = child.wait_with_output().expect("xmllint finishes");
    (!output.status.success()).then(|| String::from_utf8_lossy(&output.stderr).into_owned())
}

fn assert_valid(what: &str, message: &Message, version: Version) {
    let xml = write(message, version);
    if let Some(errors) = invalidity(&xml, version) {
        panic!("{what} written as {version:?} is not valid:\n{errors}\n{xml}");
    }
}

#[test]
fn every_sample_written_as_2017_validates_against_the_v1_2_schema() {
    if !xmllint_available() {
        return;
    }
    for (name, bytes) in samples() {
        assert_valid(
            &name,
            &parse(&bytes).expect("sample parses").0,
            Version::V2017,
        );
    }
}

#[test]
fn every_sample_written_as_2021_validates_against_the_2021_2_schema() {
    if !xmllint_available() {
        return;
    }
    for (name, bytes) in samples() {
        assert_valid(
            &name,
            &parse(&bytes).expect("sample parses").0,
            Version::V2021,
        );
    }
}

#[test]
fn messages_with_every_field_validate_in_both_versions() {
    if !xmllint_available() {
        return;
    }
    for message in full_messages() {
        assert_valid(message.kind(), &message, Version::V2017);
        assert_valid(message.kind(), &message, Version::V2021);
    }
}

#[test]
fn minimal_messages_built_from_defaults_validate_in_both_versions() {
    if !xmllint_available() {
        return;
    }
    let minimal = [
        Message::Request(Request {
            header: header(),
            service_info: Some(ServiceInfo::default()),
            ..Request::default()
        }),
        Message::SupplyingAgencyMessage(SupplyingAgencyMessage {
            header: header(),
            status_info: StatusInfo {
                last_change: "2026-11-23T10:00:00Z".to_owned(),
                ..StatusInfo::default()
            },
            ..SupplyingAgencyMessage::default()
        }),
        Message::RequestConfirmation(Confirmation {
            header: Header {
                timestamp: "2026-11-23T10:00:00Z".to_owned(),
                ..Header::default()
            },
            ..Confirmation::default()
        }),
        Message::RequestingAgencyMessageConfirmation(Confirmation {
            header: Header {
                timestamp: "2026-11-23T10:00:00Z".to_owned(),
                ..header()
            },
            action: Some(Action::Cancel),
            ..Confirmation::default()
        }),
    ];
    for message in &minimal {
        assert_valid(message.kind(), message, Version::V2017);
        assert_valid(message.kind(), message, Version::V2021);
    }
}

#[test]
fn the_original_samples_fail_the_2021_schema_so_the_versions_really_differ() {
    if !xmllint_available() {
        return;
    }
    let sam = std::fs::read_to_string(fixtures().join("samples/SupplyingAgencyMessageSample1.xml"))
        .expect("sample");
    assert!(invalidity(&sam, Version::V2021).is_some());
    assert_eq!(invalidity(&sam, Version::V2017), None);
}
