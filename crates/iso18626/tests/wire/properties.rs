//! Property tests: any bytes give a message or an error, never a panic; what reads, writes.

use std::sync::LazyLock;

use iso18626::*;
use proptest::prelude::*;

use crate::support::*;

/// Every sample, and every written form of the full messages, as seeds for mutation.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
        let mut all: Vec<Vec<u8>> = samples().into_iter().map(|(_, bytes)| bytes).collect();
        for message in full_messages() {
            all.push(write(&message, Version::V2017).into_bytes());
            all.push(write(&message, Version::V2021).into_bytes());
        }
        all
    });
    &SEEDS
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..8),
        Just(b"<".to_vec()),
        Just(b"</x>".to_vec()),
        Just(b"<!DOCTYPE a>".to_vec()),
        Just(b"&amp;".to_vec()),
        Just(b"&#0;".to_vec()),
        Just(b"&#x110000;".to_vec()),
        Just(b"<![CDATA[".to_vec()),
        Just(b"xmlns:ns1=\"urn:x\" ".to_vec()),
        Just("é€".as_bytes().to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip(at, byte)),
        (any::<usize>(), snippet).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Delete(at, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match m {
        Mutation::Flip(at, byte) => {
            if let Some(b) = bytes.get_mut(at % len) {
                *b = *byte;
            }
        }
        Mutation::Insert(at, new) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::Delete(at, n) => {
            let start = at % len;
            let end = (start + n).min(bytes.len());
            if start < end {
                bytes.drain(start..end);
            }
        }
        Mutation::Truncate(at) => bytes.truncate(at % len),
    }
}

/// Whatever reads must also write, in both versions, into something that reads again.
fn check_rewrites(bytes: &[u8]) {
    if let Ok((message, _)) = parse(bytes) {
        for version in [Version::V2017, Version::V2021] {
            let written = write(&message, version);
            let again = parse(written.as_bytes());
            assert!(again.is_ok(), "{again:?}\n{written}");
        }
    }
}

/// Text that survives a trip through XML unchanged: no surrounding whitespace (values are
/// trimmed when read), no characters XML 1.0 cannot carry.
fn wire_text() -> impl Strategy<Value = String> {
    "[^\\s\\p{Cc}\u{FFFE}\u{FFFF}]([^\\p{Cc}\u{FFFE}\u{FFFF}]|[\t\n\r]){0,30}[^\\s\\p{Cc}\u{FFFE}\u{FFFF}]|[^\\s\\p{Cc}\u{FFFE}\u{FFFF}]"
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=20000 for a longer hunt.

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn arbitrary_text_with_an_iso_root_never_panics(body in ".{0,400}") {
        let xml = format!(r#"<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626">{body}</ISO18626Message>"#);
        check_rewrites(xml.as_bytes());
    }

    #[test]
    fn mutated_samples_never_panic_and_what_reads_writes(
        seed in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = seed.get(seeds()).clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check_rewrites(&bytes);
    }

    #[test]
    fn any_text_in_any_field_survives_both_versions(
        title in wire_text(),
        note in wire_text(),
        id in wire_text(),
        agency_value in wire_text(),
    ) {
        let mut message = full_request();
        if let Message::Request(r) = &mut message {
            r.bibliographic_info.title = Some(title);
            r.header.requesting_agency_request_id = id;
            r.header.requesting_agency_id.value = agency_value;
            if let Some(s) = &mut r.service_info {
                s.note = Some(note);
            }
        }
        for version in [Version::V2017, Version::V2021] {
            let written = write(&message, version);
            let (again, _) = parse(written.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{written}")))?;
            prop_assert_eq!(again, as_carried_by(&message, version));
        }
    }
}
