//! Libraries (tenants), the hub that groups them, and the policies a lender applies to a
//! borrowing partner.

use serde::{Deserialize, Serialize};

use crate::calendar::ClosedDays;
use crate::citation::RequestFormat;
use crate::money::Money;
use crate::people::string_enum;

string_enum!(
    /// What kind of member a library is; drives the demo, statistics and default policies.
    LibraryKind {
        University => "university",
        Public => "public",
        Research => "research",
        /// A commercial or national document supplier that charges for every copy (NSTL-like).
        Supplier => "supplier",
        /// The consortium centre itself.
        Hub => "hub",
    }
);

string_enum!(
    /// The two services of interlibrary loan.
    Service { Loan => "loan", Copy => "copy" }
);

impl Service {
    pub fn for_format(format: RequestFormat) -> Self {
        if format.is_copy() {
            Service::Copy
        } else {
            Service::Loan
        }
    }
}

/// A lender's terms for one borrowing partner (or its default for everybody).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerPolicy {
    pub services: Vec<Service>,
    /// Loan period in calendar days (e.g. 30 inside the region, 14 nationally).
    pub loan_days: u32,
    /// Opening days the lender has to answer a request before it is passed over.
    pub answer_days: u32,
    pub loan_fee: Option<Money>,
    pub copy_fee: Option<Money>,
    pub delivery_methods: Vec<String>,
    pub payment_methods: Vec<String>,
    pub active: bool,
}

impl PartnerPolicy {
    pub fn offers(&self, service: Service) -> bool {
        self.active && self.services.contains(&service)
    }

    pub fn fee_for(&self, service: Service) -> Option<&Money> {
        match service {
            Service::Loan => self.loan_fee.as_ref(),
            Service::Copy => self.copy_fee.as_ref(),
        }
    }
}

/// How a library is closed and when, plus what it calls itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryProfile {
    pub name_en: String,
    pub name_zh: String,
    pub kind: LibraryKind,
    pub region: String,
    pub closed: ClosedDays,
}

/// The most partners one library may trust to deliver straight to its readers.
pub const MAX_TRUSTED_SENDERS: usize = 200;

/// What each library decides for itself about delivered copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    /// Times a reader may open a delivered copy: 1 to 10, or none for no limit.
    pub max_views: Option<u32>,
    /// Days a reader's link works: 1 to 60.
    pub days: u32,
    /// Partners (library codes) whose delivered copies go straight to the reader, with no
    /// staff step between. Left out of the JSON while empty, so the terms read as before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_senders: Vec<String>,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            max_views: Some(5),
            days: 30,
            trusted_senders: Vec::new(),
        }
    }
}

impl DeliverySettings {
    pub fn validate(&self) -> Vec<crate::citation::FieldError> {
        use crate::citation::FieldError;
        let mut out = Vec::new();
        if self.max_views.is_some_and(|v| !(1..=10).contains(&v)) {
            out.push(FieldError::new(
                "max_views",
                "out_of_range",
                "1 to 10 views, or null for no limit",
            ));
        }
        if !(1..=60).contains(&self.days) {
            out.push(FieldError::new("days", "out_of_range", "1 to 60 days"));
        }
        if self.trusted_senders.len() > MAX_TRUSTED_SENDERS {
            out.push(FieldError::new(
                "trusted_senders",
                "too_many",
                format!("at most {MAX_TRUSTED_SENDERS} trusted senders"),
            ));
        }
        for (i, code) in self.trusted_senders.iter().enumerate() {
            if let Err(e) = crate::ident::LibraryCode::parse(code) {
                out.push(FieldError::new(
                    "trusted_senders",
                    "invalid_library_code",
                    format!("trusted_senders[{i}]: {e}"),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod delivery_tests {
    use super::*;

    #[test]
    fn delivery_settings_are_bounded() {
        assert!(DeliverySettings::default().validate().is_empty());
        let bad = DeliverySettings {
            max_views: Some(11),
            days: 0,
            trusted_senders: vec!["not a code!".into()],
        };
        let fields: Vec<_> = bad.validate().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["max_views", "days", "trusted_senders"]);
        let unlimited = DeliverySettings {
            max_views: None,
            days: 60,
            trusted_senders: vec!["CPL".into()],
        };
        assert!(unlimited.validate().is_empty());
    }
}

/// What each library decides for itself about letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LetterSettings {
    /// Days before the due date when the "due soon" reminder goes out: 1 to 30.
    pub due_soon_days: u32,
    /// Whether readers and staff may turn a kind of letter off ("never"); letters that must
    /// always arrive (password reset) are sent regardless.
    pub allow_never: bool,
    /// The hour of the day (0 to 23, China Standard Time, UTC+8) when the daily digest goes
    /// out; letters held after it wait for the next day's.
    pub digest_hour: u32,
    /// The library's own interlibrary loan mailboxes (e.g. `ill@library.example.edu`) whose
    /// mail its mail server hands to this node's inbound endpoint: mail to one of them (or to
    /// its plus addresses) that names no request is listed for the library's staff. At most
    /// 10, stored in lower case.
    pub mail_addresses: Vec<String>,
}

/// Whether `a` is a plain mailbox `local@domain`: one `@`, a dotted domain, no spaces or
/// angle brackets, at most 254 characters.
pub fn is_mailbox(a: &str) -> bool {
    let a = a.trim();
    match a.split_once('@') {
        Some((local, domain)) => {
            a.len() <= 254
                && !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !a.contains(|c: char| {
                    c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"')
                })
        }
        None => false,
    }
}

/// Libraries keep China Standard Time (UTC+8, no daylight saving) for the hours they set.
pub const LIBRARY_UTC_OFFSET_HOURS: i8 = 8;

/// The libraries' time (see [`LIBRARY_UTC_OFFSET_HOURS`]): dates a person reads are in it.
pub fn library_offset() -> time::UtcOffset {
    time::UtcOffset::from_hms(LIBRARY_UTC_OFFSET_HOURS, 0, 0).unwrap_or(time::UtcOffset::UTC)
}

/// The day `t` falls on in library time.
pub fn library_date(t: time::OffsetDateTime) -> time::Date {
    t.to_offset(library_offset()).date()
}

/// `t` as a date and time in library time, e.g. `2026-12-30 08:15 (UTC+8)`.
pub fn library_time_label(t: time::OffsetDateTime) -> String {
    let local = t.to_offset(library_offset());
    format!(
        "{} {:02}:{:02} (UTC{:+})",
        local.date(),
        local.hour(),
        local.minute(),
        LIBRARY_UTC_OFFSET_HOURS
    )
}

impl Default for LetterSettings {
    fn default() -> Self {
        LetterSettings {
            due_soon_days: 3,
            allow_never: true,
            // 08:00 in China: midnight UTC, when digests went out before libraries chose.
            digest_hour: 8,
            mail_addresses: Vec::new(),
        }
    }
}

impl LetterSettings {
    pub fn validate(&self) -> Vec<crate::citation::FieldError> {
        let mut out = Vec::new();
        if !(1..=30).contains(&self.due_soon_days) {
            out.push(crate::citation::FieldError::new(
                "due_soon_days",
                "out_of_range",
                "1 to 30 days",
            ));
        }
        if self.digest_hour > 23 {
            out.push(crate::citation::FieldError::new(
                "digest_hour",
                "out_of_range",
                "an hour of the day, 0 to 23",
            ));
        }
        if self.mail_addresses.len() > 10 {
            out.push(crate::citation::FieldError::new(
                "mail_addresses",
                "too_many_addresses",
                "at most 10 mail addresses",
            ));
        }
        if let Some(bad) = self.mail_addresses.iter().find(|a| !is_mailbox(a)) {
            out.push(crate::citation::FieldError::new(
                "mail_addresses",
                "invalid_address",
                format!("{bad:?} is not a mail address such as ill@library.example.edu"),
            ));
        }
        out
    }

    /// The settings as kept: mail addresses trimmed, in lower case, without repeats.
    pub fn normalised(mut self) -> Self {
        let mut seen: Vec<String> = Vec::new();
        for a in &self.mail_addresses {
            let a = a.trim().to_lowercase();
            if !a.is_empty() && !seen.contains(&a) {
                seen.push(a);
            }
        }
        self.mail_addresses = seen;
        self
    }

    /// The latest moment at or before `now` when this library's digest was due: today's
    /// digest hour (China Standard Time) when it has passed, else yesterday's.
    pub fn last_digest_due(&self, now: time::OffsetDateTime) -> time::OffsetDateTime {
        let offset = time::UtcOffset::from_hms(LIBRARY_UTC_OFFSET_HOURS, 0, 0)
            .unwrap_or(time::UtcOffset::UTC);
        let local = now.to_offset(offset);
        let hour = u8::try_from(self.digest_hour.min(23)).unwrap_or(0);
        let today = local
            .replace_time(time::Time::MIDNIGHT)
            .replace_hour(hour)
            .unwrap_or(local);
        let due = if today <= local {
            today
        } else {
            today - time::Duration::days(1)
        };
        due.to_offset(time::UtcOffset::UTC)
    }
}

#[cfg(test)]
mod letter_settings_tests {
    use super::*;

    #[test]
    fn letter_settings_are_bounded() {
        assert!(LetterSettings::default().validate().is_empty());
        assert_eq!(LetterSettings::default().due_soon_days, 3);
        for bad in [0, 31] {
            let s = LetterSettings {
                due_soon_days: bad,
                allow_never: false,
                digest_hour: 8,
                mail_addresses: Vec::new(),
            };
            assert_eq!(s.validate()[0].field, "due_soon_days");
        }
        let late = LetterSettings {
            digest_hour: 24,
            ..LetterSettings::default()
        };
        assert_eq!(late.validate()[0].field, "digest_hour");
        let addresses = LetterSettings {
            mail_addresses: vec![" ILL@Lib.Example.edu ".into(), "ill@lib.example.edu".into()],
            ..LetterSettings::default()
        }
        .normalised();
        assert!(addresses.validate().is_empty());
        assert_eq!(addresses.mail_addresses, ["ill@lib.example.edu"]);
        for bad in [
            "ill",
            "ill@localhost",
            "a b@x.example",
            "<ill@x.example>",
            "@x.example",
        ] {
            let s = LetterSettings {
                mail_addresses: vec![bad.into()],
                ..LetterSettings::default()
            };
            let e = s.validate();
            assert_eq!(e[0].field, "mail_addresses", "{bad}");
            assert!(e[0].message.contains(bad.trim()), "{bad}: {}", e[0].message);
        }
    }

    #[test]
    fn the_digest_is_due_at_the_librarys_hour_in_china_time() {
        use time::macros::datetime;
        let s = LetterSettings {
            digest_hour: 17,
            ..LetterSettings::default()
        };
        // 17:00 in China is 09:00 UTC.
        assert_eq!(
            s.last_digest_due(datetime!(2026-11-30 09:30 UTC)),
            datetime!(2026-11-30 09:00 UTC)
        );
        assert_eq!(
            s.last_digest_due(datetime!(2026-11-30 08:59 UTC)),
            datetime!(2026-11-29 09:00 UTC)
        );
        // The default, 08:00 in China, is midnight UTC.
        assert_eq!(
            LetterSettings::default().last_digest_due(datetime!(2026-11-30 23:59 UTC)),
            datetime!(2026-11-30 00:00 UTC)
        );
    }
}
