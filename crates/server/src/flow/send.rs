//! Messages to libraries served elsewhere: rewritten in the schema version and habits of the
//! peer's profile, posted over HTTP with its credentials, and the confirmation read back. The
//! outbox calls this after the request's transaction has committed, so a slow peer never holds
//! a transaction open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::peer::{PeerAuth, PeerProfile, SchemaVersion};
use tokio::sync::Semaphore;

use ::iso18626 as wire;

/// What became of one attempt to send.
#[derive(Debug)]
pub enum Sent {
    /// The peer confirmed it; its confirmation.
    Confirmed(String),
    /// The profile says the peer does not take this message; why.
    Skipped(String),
    /// The peer refused it, or it can never be sent as it is: sending again would not help.
    Refused { why: String, confirmation: String },
    /// Not delivered now (network, timeout, HTTP 5xx / 429): try again later.
    Failed(String),
}

/// The HTTP client and the per-peer limits on messages in flight, shared by every worker.
pub struct PeerLinks {
    client: reqwest::Client,
    limits: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

impl PeerLinks {
    pub fn new() -> Result<PeerLinks, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("librelay/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(PeerLinks {
            client,
            limits: Mutex::new(HashMap::new()),
        })
    }

    /// The semaphore that bounds messages in flight to `library`; re-made when the profile's
    /// limit changes.
    fn limit(&self, library: &str, max: u32) -> Arc<Semaphore> {
        let max = max.max(1);
        let Ok(mut map) = self.limits.lock() else {
            return Arc::new(Semaphore::new(max as usize));
        };
        match map.get(library) {
            Some((m, s)) if *m == max => s.clone(),
            _ => {
                let s = Arc::new(Semaphore::new(max as usize));
                map.insert(library.to_owned(), (max, s.clone()));
                s
            }
        }
    }

    /// GET a file a peer offers (a shipped copy), with the peer timeout.
    pub async fn get(&self, url: &str) -> Result<reqwest::Response, reqwest::Error> {
        self.client
            .get(url)
            .timeout(Duration::from_secs(120))
            .send()
            .await
    }

    /// Send `payload` (as stored in the outbox) to the peer `library` described by `profile`.
    pub async fn send(&self, library: &str, profile: &PeerProfile, payload: &str) -> Sent {
        let body = match adapt(payload, profile) {
            Ok(Some(body)) => body,
            Ok(None) => {
                return Sent::Skipped(format!(
                    "not sent: the {} profile of {library} does not take this status",
                    profile.system
                ));
            }
            Err(why) => {
                return Sent::Refused {
                    why,
                    confirmation: String::new(),
                };
            }
        };
        let permits = self.limit(library, profile.max_in_flight);
        let Ok(_permit) = permits.acquire().await else {
            return Sent::Failed("the sender is shutting down".to_owned());
        };
        let req = self
            .client
            .post(profile.endpoint.trim())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/xml; charset=utf-8",
            )
            .timeout(Duration::from_secs(u64::from(profile.timeout_secs.max(1))))
            .body(body);
        let req = match &profile.auth {
            PeerAuth::None => req,
            PeerAuth::Header { name, value } => req.header(name.as_str(), value.as_str()),
            PeerAuth::Basic { username, password } => req.basic_auth(username, Some(password)),
        };
        let started = std::time::Instant::now();
        let response = match req.send().await {
            Ok(r) => r,
            Err(e) => return Sent::Failed(describe_http_error(&e, &profile.endpoint)),
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Sent::Failed(describe_http_error(&e, &profile.endpoint)),
        };
        metrics::histogram!("librelay_peer_send_seconds").record(started.elapsed().as_secs_f64());
        judge(status.as_u16(), &text)
    }
}

/// Rewrite a stored message for the peer: its schema version, its status and reason values.
/// `Ok(None)`: the peer does not take this message at all.
pub fn adapt(payload: &str, profile: &PeerProfile) -> Result<Option<String>, String> {
    let (mut msg, _) = wire::parse(payload.as_bytes())
        .map_err(|e| format!("the stored message cannot be read: {e}"))?;
    if let wire::Message::SupplyingAgencyMessage(m) = &mut msg {
        let ours = m.status_info.status.as_str();
        let Some(theirs) = profile.outgoing_status(ours) else {
            return Ok(None);
        };
        m.status_info.status = theirs
            .parse()
            .map_err(|_| format!("status_map: {ours} → {theirs} is not a status"))?;
        let ours = m.message_info.reason_for_message.as_str();
        let theirs = profile.outgoing_reason(ours);
        m.message_info.reason_for_message = theirs
            .parse()
            .map_err(|_| format!("reason_map: {ours} → {theirs} is not a reasonForMessage"))?;
    }
    let version = match profile.version {
        SchemaVersion::V2017 => wire::Version::V2017,
        SchemaVersion::V2021 => wire::Version::V2021,
    };
    Ok(Some(wire::write(&msg, version)))
}

/// Read the peer's answer: a confirmation OK, an ERROR confirmation, or an HTTP failure.
fn judge(status: u16, text: &str) -> Sent {
    let confirmation = wire::parse(text.as_bytes())
        .ok()
        .and_then(|(m, _)| match m {
            wire::Message::RequestConfirmation(c)
            | wire::Message::SupplyingAgencyMessageConfirmation(c)
            | wire::Message::RequestingAgencyMessageConfirmation(c) => Some(c),
            _ => None,
        });
    if status == 429 || status == 408 || status >= 500 {
        return Sent::Failed(format!("HTTP {status}{}", snippet(text)));
    }
    match confirmation {
        Some(c) if c.header.message_status == Some(wire::MessageStatus::Error) => {
            let what = c.header.error_data.as_ref().map_or_else(
                || "no errorData".to_owned(),
                |e| format!("{}: {}", e.error_type.as_str(), e.error_value),
            );
            Sent::Refused {
                why: format!("the peer refused it (HTTP {status}): {what}"),
                confirmation: text.to_owned(),
            }
        }
        Some(_) if (200..300).contains(&status) => Sent::Confirmed(text.to_owned()),
        Some(_) => Sent::Refused {
            why: format!("HTTP {status} with a confirmation that is not ERROR"),
            confirmation: text.to_owned(),
        },
        None if (200..300).contains(&status) => Sent::Failed(format!(
            "HTTP {status} but the answer is not an ISO 18626 confirmation{}",
            snippet(text)
        )),
        None => {
            let hint = match status {
                401 | 403 => ": check the credentials in the peer profile",
                404 => ": check the endpoint in the peer profile",
                _ => "",
            };
            Sent::Refused {
                why: format!("HTTP {status}{hint}{}", snippet(text)),
                confirmation: String::new(),
            }
        }
    }
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return String::new();
    }
    let cut: String = t.chars().take(200).collect();
    format!(": {cut}")
}

fn describe_http_error(e: &reqwest::Error, endpoint: &str) -> String {
    if e.is_timeout() {
        format!("no answer from {endpoint} in time")
    } else if e.is_connect() {
        format!("cannot connect to {endpoint}")
    } else {
        format!("sending to {endpoint} failed: {e}")
    }
}

/// Whether the headers of an incoming message carry the credentials `auth` asks for.
pub fn credentials_ok(auth: &PeerAuth, headers: &axum::http::HeaderMap) -> bool {
    use base64::Engine;
    match auth {
        PeerAuth::None => true,
        PeerAuth::Header { name, value } => headers
            .get(name.as_str())
            .is_some_and(|v| constant_time_eq(v.as_bytes(), value.as_bytes())),
        PeerAuth::Basic { username, password } => {
            let expected =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .is_some_and(|v| constant_time_eq(v.trim().as_bytes(), expected.as_bytes()))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF_OK: &str = r#"<?xml version="1.0"?><ISO18626Message xmlns="http://illtransactions.org/2013/iso18626" version="2021-2"><requestConfirmation><confirmationHeader><requestingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>A</agencyIdValue></requestingAgencyId><timestamp>2026-01-01T00:00:00Z</timestamp><requestingAgencyRequestId>r1</requestingAgencyRequestId><messageStatus>OK</messageStatus></confirmationHeader></requestConfirmation></ISO18626Message>"#;

    #[test]
    fn answers_are_judged_by_status_and_confirmation() {
        assert!(matches!(judge(200, CONF_OK), Sent::Confirmed(_)));
        assert!(matches!(judge(503, "busy"), Sent::Failed(_)));
        assert!(matches!(judge(200, "<html/>"), Sent::Failed(_)));
        assert!(matches!(judge(401, ""), Sent::Refused { .. }));
        let err = CONF_OK
            .replace("<messageStatus>OK</messageStatus>", "<messageStatus>ERROR</messageStatus>")
            .replace(
                "</confirmationHeader>",
                "</confirmationHeader><errorData><errorType>UnrecognisedDataValue</errorType><errorValue>bad</errorValue></errorData>",
            );
        match judge(400, &err) {
            Sent::Refused { why, .. } => {
                assert!(why.contains("UnrecognisedDataValue: bad"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    fn status_message(status: wire::Status) -> String {
        let msg = wire::Message::SupplyingAgencyMessage(wire::SupplyingAgencyMessage {
            header: wire::Header {
                supplying_agency_id: wire::AgencyId {
                    agency_type: "ISIL".into(),
                    value: "CN-XNU".into(),
                },
                requesting_agency_id: wire::AgencyId {
                    agency_type: "ISIL".into(),
                    value: "US-ALMA".into(),
                },
                timestamp: "2026-11-30T08:00:00Z".into(),
                requesting_agency_request_id: "r-1".into(),
                ..Default::default()
            },
            status_info: wire::StatusInfo {
                status,
                last_change: "2026-11-30T08:00:00Z".into(),
                ..Default::default()
            },
            ..Default::default()
        });
        wire::write(&msg, wire::Version::V2021)
    }

    #[test]
    fn messages_are_rewritten_for_the_peer() {
        use domain::peer::PeerSystem;
        let alma = PeerProfile::preset(PeerSystem::Alma, "https://alma.example/iso");
        let ets = status_message(wire::Status::ExpectToSupply);
        assert_eq!(adapt(&ets, &alma), Ok(None), "Alma takes no ExpectToSupply");
        let loaned = adapt(&status_message(wire::Status::Loaned), &alma)
            .unwrap()
            .unwrap();
        assert_eq!(
            wire::parse(loaned.as_bytes()).unwrap().1,
            wire::Version::V2017
        );
        let mut other = PeerProfile::preset(PeerSystem::Other, "https://x.example/iso");
        other
            .status_map
            .insert("WillSupply".into(), "ExpectToSupply".into());
        let mapped = adapt(&status_message(wire::Status::WillSupply), &other)
            .unwrap()
            .unwrap();
        assert!(mapped.contains("ExpectToSupply"), "{mapped}");
        assert!(adapt("<not-iso/>", &other).is_err());
    }

    #[test]
    fn credentials_are_checked() {
        let mut h = axum::http::HeaderMap::new();
        let auth = PeerAuth::Header {
            name: "X-Api-Key".into(),
            value: "s3cret".into(),
        };
        assert!(!credentials_ok(&auth, &h));
        h.insert("x-api-key", "s3cret".parse().unwrap());
        assert!(credentials_ok(&auth, &h));
        let basic = PeerAuth::Basic {
            username: "a".into(),
            password: "b".into(),
        };
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Basic YTpi".parse().unwrap(),
        );
        assert!(credentials_ok(&basic, &h));
        assert!(credentials_ok(&PeerAuth::None, &h));
    }
}
