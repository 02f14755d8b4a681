//! Peer profiles: how a partner on another system (or another librelay node) is reached over
//! ISO 18626, and the habits of its software that the messages we send must respect.
//!
//! A profile belongs to a partner library that is not served by this node. Built-in presets
//! carry what is known of each system; admins edit every field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::citation::FieldError;
use crate::people::string_enum;

string_enum!(
    /// The software a peer runs; picks the preset a new profile starts from.
    PeerSystem {
        Librelay => "librelay",
        /// Project ReShare (mod-rs) and CrossLink hubs built on it.
        #[serde(rename = "reshare")]
        ReShare => "reshare",
        /// Ex Libris Alma resource sharing.
        Alma => "alma",
        /// OCLC WorldShare ILL / Tipasa.
        #[serde(rename = "worldshare")]
        WorldShare => "worldshare",
        Other => "other",
        /// A partner that works by e-mail only: messages to it go as readable letters in both
        /// languages to the `mailto:` address in `endpoint`; staff record its answers.
        Email => "email",
    }
);

string_enum!(
    /// The ISO 18626 schema a peer reads and writes.
    SchemaVersion {
        #[serde(rename = "2017")]
        V2017 => "2017",
        #[serde(rename = "2021")]
        V2021 => "2021",
    }
);

string_enum!(
    /// How a refusal of the peer's message is answered: an ERROR confirmation with HTTP 200
    /// (what most peers expect) or the same confirmation with HTTP 400.
    ErrorStyle {
        Confirmation => "confirmation",
        #[serde(rename = "http_400")]
        Http400 => "http_400",
    }
);

/// Credentials sent with (or expected on) every message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerAuth {
    #[default]
    None,
    /// A shared secret in a header, e.g. `X-Api-Key: …`.
    Header { name: String, value: String },
    /// HTTP basic authentication.
    Basic { username: String, password: String },
}

impl PeerAuth {
    fn validate(&self, field: &'static str, out: &mut Vec<FieldError>) {
        match self {
            PeerAuth::None => {}
            PeerAuth::Header { name, value } => {
                let token_char =
                    |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
                if name.is_empty() || !name.chars().all(token_char) {
                    out.push(FieldError::new(
                        field,
                        "invalid_header_name",
                        format!("{name:?} is not an HTTP header name"),
                    ));
                }
                if value.is_empty() || value.chars().any(|c| c.is_control()) {
                    out.push(FieldError::new(
                        field,
                        "invalid_header_value",
                        "the header value must be non-empty and without control characters",
                    ));
                }
            }
            PeerAuth::Basic { username, password } => {
                if username.is_empty() || username.contains(':') || password.is_empty() {
                    out.push(FieldError::new(
                        field,
                        "invalid_basic_auth",
                        "basic authentication needs a user name without ':' and a password",
                    ));
                }
            }
        }
    }
}

/// Everything librelay needs to exchange messages with one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerProfile {
    pub system: PeerSystem,
    /// Where the peer takes ISO 18626 messages (http or https URL).
    pub endpoint: String,
    pub version: SchemaVersion,
    /// What we send to prove who we are.
    #[serde(default)]
    pub auth: PeerAuth,
    /// What the peer must send on messages to us; `none` takes any message that names a local
    /// library and this peer.
    #[serde(default)]
    pub inbound_auth: PeerAuth,
    pub error_style: ErrorStyle,
    /// Alma does not take the ExpectToSupply status: such messages are then not sent.
    pub accepts_expect_to_supply: bool,
    /// Our wire status → the peer's, where its software uses other values.
    #[serde(default)]
    pub status_map: BTreeMap<String, String>,
    /// Our reasonForMessage → the peer's.
    #[serde(default)]
    pub reason_map: BTreeMap<String, String>,
    /// Messages in flight to this peer at once.
    pub max_in_flight: u32,
    /// Seconds to wait for the peer's confirmation before the attempt counts as failed.
    pub timeout_secs: u32,
}

/// The ISO 18626 status values of both schemas; the targets of `status_map` must be one of
/// them.
pub const WIRE_STATUSES: &[&str] = &[
    "RequestReceived",
    "ExpectToSupply",
    "WillSupply",
    "Loaned",
    "Overdue",
    "Recalled",
    "RetryPossible",
    "Unfilled",
    // 2021 only: written to a 2017 peer as Loaned with the value in the note.
    "HoldReturn",
    "ReleaseHoldReturn",
    "CopyCompleted",
    "LoanCompleted",
    "CompletedWithoutReturn",
    "Cancelled",
];

/// The ISO 18626 reasonForMessage values.
pub const WIRE_REASONS: &[&str] = &[
    "RequestResponse",
    "StatusRequestResponse",
    "RenewResponse",
    "CancelResponse",
    "StatusChange",
    "Notification",
];

impl PeerProfile {
    /// The defaults known for `system`, sending to `endpoint`.
    pub fn preset(system: PeerSystem, endpoint: impl Into<String>) -> PeerProfile {
        let (version, accepts_expect_to_supply) = match system {
            PeerSystem::Librelay | PeerSystem::Other | PeerSystem::Email => {
                (SchemaVersion::V2021, true)
            }
            PeerSystem::ReShare => (SchemaVersion::V2017, true),
            PeerSystem::Alma => (SchemaVersion::V2017, false),
            PeerSystem::WorldShare => (SchemaVersion::V2017, true),
        };
        PeerProfile {
            system,
            endpoint: endpoint.into(),
            version,
            auth: PeerAuth::None,
            inbound_auth: PeerAuth::None,
            error_style: ErrorStyle::Confirmation,
            accepts_expect_to_supply,
            status_map: BTreeMap::new(),
            reason_map: BTreeMap::new(),
            // Another librelay node takes many messages at once; other systems are not pushed
            // harder than their operators would expect.
            max_in_flight: if system == PeerSystem::Librelay {
                64
            } else {
                8
            },
            timeout_secs: 20,
        }
    }

    /// The partner's mail address, for an e-mail partner (`mailto:ADDRESS` or a bare address
    /// in `endpoint`).
    pub fn mail_address(&self) -> Option<&str> {
        if self.system != PeerSystem::Email {
            return None;
        }
        let e = self.endpoint.trim();
        let a = e.strip_prefix("mailto:").unwrap_or(e).trim();
        is_mail_address(a).then_some(a)
    }

    /// Every problem with the profile, each naming its field.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let e = self.endpoint.trim();
        if self.system == PeerSystem::Email {
            if self.mail_address().is_none() {
                out.push(FieldError::new(
                    "endpoint",
                    "invalid_mail_address",
                    format!("{e:?} is not a mail address (mailto:ill@library.example)"),
                ));
            }
        } else {
            let rest = e
                .strip_prefix("https://")
                .or_else(|| e.strip_prefix("http://"));
            match rest {
                Some(r)
                    if !r.is_empty() && !r.starts_with('/') && !e.contains(char::is_whitespace) => {
                }
                _ => out.push(FieldError::new(
                    "endpoint",
                    "invalid_url",
                    format!("{e:?} is not an http:// or https:// address"),
                )),
            }
        }
        self.auth.validate("auth", &mut out);
        self.inbound_auth.validate("inbound_auth", &mut out);
        for (from, to) in &self.status_map {
            if !WIRE_STATUSES.contains(&from.as_str()) || !WIRE_STATUSES.contains(&to.as_str()) {
                out.push(FieldError::new(
                    "status_map",
                    "unknown_status",
                    format!("{from} → {to}: both sides must be ISO 18626 status values"),
                ));
            }
        }
        for (from, to) in &self.reason_map {
            if !WIRE_REASONS.contains(&from.as_str()) || !WIRE_REASONS.contains(&to.as_str()) {
                out.push(FieldError::new(
                    "reason_map",
                    "unknown_reason",
                    format!("{from} → {to}: both sides must be ISO 18626 reasonForMessage values"),
                ));
            }
        }
        if !(1..=256).contains(&self.max_in_flight) {
            out.push(FieldError::new(
                "max_in_flight",
                "out_of_range",
                "between 1 and 256 messages in flight",
            ));
        }
        if !(1..=120).contains(&self.timeout_secs) {
            out.push(FieldError::new(
                "timeout_secs",
                "out_of_range",
                "between 1 and 120 seconds",
            ));
        }
        out
    }

    /// The status to put on the wire for our `status`, or None when the peer does not take it.
    pub fn outgoing_status<'a>(&'a self, status: &'a str) -> Option<&'a str> {
        if status == "ExpectToSupply" && !self.accepts_expect_to_supply {
            return None;
        }
        Some(self.status_map.get(status).map_or(status, String::as_str))
    }

    pub fn outgoing_reason<'a>(&'a self, reason: &'a str) -> &'a str {
        self.reason_map.get(reason).map_or(reason, String::as_str)
    }
}

/// A plain `local@domain` address: one `@`, a non-empty local part, a dotted domain, no
/// spaces, angle brackets or commas (one recipient only).
pub fn is_mail_address(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;:\"()[]".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_alma_skips_expect_to_supply() {
        for s in PeerSystem::ALL {
            let endpoint = if *s == PeerSystem::Email {
                "mailto:ill@peer.example"
            } else {
                "https://peer.example/iso18626"
            };
            let p = PeerProfile::preset(*s, endpoint);
            assert!(p.validate().is_empty(), "{s}: {:?}", p.validate());
        }
        let alma = PeerProfile::preset(PeerSystem::Alma, "https://x.example/");
        assert_eq!(alma.outgoing_status("ExpectToSupply"), None);
        assert_eq!(alma.outgoing_status("Loaned"), Some("Loaned"));
    }

    #[test]
    fn validation_names_each_bad_field() {
        let mut p = PeerProfile::preset(PeerSystem::Other, "ftp://x");
        p.auth = PeerAuth::Header {
            name: "X Bad".into(),
            value: String::new(),
        };
        p.status_map.insert("Loaned".into(), "Lent".into());
        p.max_in_flight = 0;
        let fields: Vec<_> = p.validate().iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["endpoint", "auth", "auth", "status_map", "max_in_flight"]
        );
    }

    #[test]
    fn an_email_partner_needs_a_mail_address() {
        let p = PeerProfile::preset(PeerSystem::Email, "mailto:ill@subito.example.de");
        assert_eq!(p.mail_address(), Some("ill@subito.example.de"));
        assert!(p.validate().is_empty());
        for bad in [
            "https://x.example/iso",
            "mailto:",
            "ill@localhost",
            "a b@x.example",
            "<a@x.example>",
        ] {
            let p = PeerProfile::preset(PeerSystem::Email, bad);
            assert_eq!(p.validate()[0].code, "invalid_mail_address", "{bad}");
        }
        let http = PeerProfile::preset(PeerSystem::Other, "mailto:ill@x.example");
        assert_eq!(http.validate()[0].field, "endpoint");
        assert_eq!(http.mail_address(), None);
    }

    #[test]
    fn json_names_are_the_wire_names() {
        for s in PeerSystem::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for v in SchemaVersion::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
        for e in ErrorStyle::ALL {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
    }

    #[test]
    fn profile_round_trips_as_json() {
        let mut p = PeerProfile::preset(PeerSystem::ReShare, "http://127.0.0.1:9/iso18626");
        p.auth = PeerAuth::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let json = serde_json::to_string(&p).unwrap();
        let back: PeerProfile = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        assert!(json.contains("\"type\":\"basic\""));
    }
}
