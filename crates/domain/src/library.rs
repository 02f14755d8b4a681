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
    /// The hour of the day (0 to 23, in the library's time, see [`LibraryOffset`]) when the
    /// daily digest goes out; letters held after it wait for the next day's.
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

/// A library's time: a fixed offset from UTC, e.g. `+08:00` (China Standard Time, the default),
/// `+09:00`, `-05:00`. Only an offset, no named zone: a library where clocks change for
/// daylight saving sets its offset again when they do. Dates a person reads (cover pages,
/// "valid until", letters), the hour the digest goes out and the day closed days and need-by
/// dates are read against are in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LibraryOffset {
    minutes: i16,
}

/// Offsets in use run from UTC-12:00 to UTC+14:00.
const MIN_OFFSET_MINUTES: i64 = -12 * 60;
const MAX_OFFSET_MINUTES: i64 = 14 * 60;

/// Why a text is not an offset, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{en}")]
pub struct OffsetError {
    pub en: String,
    pub zh: String,
}

impl LibraryOffset {
    /// UTC+08:00, China Standard Time: every library's until it sets its own.
    pub const CHINA: LibraryOffset = LibraryOffset { minutes: 8 * 60 };

    /// UTC itself.
    pub const UTC: LibraryOffset = LibraryOffset { minutes: 0 };

    /// UTC+14:00, the farthest east any library can be: its date is the latest date any
    /// library is on, which bounds what a sweep over every library has to look at.
    pub const FARTHEST_EAST: LibraryOffset = LibraryOffset { minutes: 14 * 60 };

    /// The offset of `minutes` east of UTC; refused outside -12:00..=+14:00 or when not a
    /// whole quarter of an hour.
    pub fn from_minutes(minutes: i64) -> Result<LibraryOffset, OffsetError> {
        if !(MIN_OFFSET_MINUTES..=MAX_OFFSET_MINUTES).contains(&minutes) || minutes % 15 != 0 {
            return Err(OffsetError {
                en: format!(
                    "{minutes} minutes is not a UTC offset: offsets run from -12:00 to +14:00 in quarters of an hour"
                ),
                zh: format!(
                    "{minutes} 分钟不是有效的 UTC 时差：时差应在 -12:00 至 +14:00 之间，以一刻钟为单位"
                ),
            });
        }
        Ok(LibraryOffset {
            minutes: minutes as i16,
        })
    }

    /// `+08:00`, `-05:00`, `+05:30`; also `+8`, `+0800`, `UTC+8`, `GMT-5`, `Z` / `UTC` for 0.
    pub fn parse(text: &str) -> Result<LibraryOffset, OffsetError> {
        let bad = || OffsetError {
            en: format!(
                "{text:?} is not a UTC offset; write it as +08:00, +09:00 or -05:00 (a sign, hours and minutes)"
            ),
            zh: format!(
                "“{text}”不是有效的 UTC 时差，请写成 +08:00、+09:00 或 -05:00（正负号、小时和分钟）"
            ),
        };
        let t = text.trim();
        let upper = t.to_ascii_uppercase();
        let rest = upper
            .strip_prefix("UTC")
            .or_else(|| upper.strip_prefix("GMT"))
            .unwrap_or(&upper)
            .trim();
        if rest.is_empty() || rest == "Z" {
            return if t.is_empty() {
                Err(bad())
            } else {
                Ok(LibraryOffset { minutes: 0 })
            };
        }
        let (sign, digits) = match rest.as_bytes()[0] {
            b'+' => (1, &rest[1..]),
            b'-' => (-1, &rest[1..]),
            _ => return Err(bad()),
        };
        let (hours, mins) = match digits.split_once(':') {
            Some((h, m)) => (h, m),
            // Four ASCII digits (0800); anything else falls to the digit check below.
            None if digits.len() == 4 && digits.is_ascii() => digits.split_at(2),
            None => (digits, "0"),
        };
        let all_digits =
            |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(hours) || !all_digits(mins) {
            return Err(bad());
        }
        let (h, m): (i64, i64) = match (hours.parse(), mins.parse()) {
            (Ok(h), Ok(m)) if m < 60 => (h, m),
            _ => return Err(bad()),
        };
        LibraryOffset::from_minutes(sign * (h * 60 + m))
    }

    /// Minutes east of UTC.
    pub fn minutes(self) -> i64 {
        i64::from(self.minutes)
    }

    pub fn utc_offset(self) -> time::UtcOffset {
        time::UtcOffset::from_whole_seconds(i32::from(self.minutes) * 60)
            .unwrap_or(time::UtcOffset::UTC)
    }

    /// The day `t` falls on in this time.
    pub fn date(self, t: time::OffsetDateTime) -> time::Date {
        t.to_offset(self.utc_offset()).date()
    }

    /// The first moment of `day` here (its midnight).
    pub fn start_of(self, day: time::Date) -> time::OffsetDateTime {
        day.midnight().assume_offset(self.utc_offset())
    }

    /// The last second of `day` here (23:59:59): a deadline "within the day" a person reads.
    pub fn end_of(self, day: time::Date) -> time::OffsetDateTime {
        day.with_time(time::Time::MIDNIGHT)
            .assume_offset(self.utc_offset())
            .saturating_add(time::Duration::seconds(86_399))
    }

    /// `t` as a date and time here, e.g. `2026-12-30 08:15 (UTC+8)`, `… (UTC-5)`,
    /// `… (UTC+5:30)`.
    pub fn time_label(self, t: time::OffsetDateTime) -> String {
        let local = t.to_offset(self.utc_offset());
        format!(
            "{} {:02}:{:02} ({})",
            local.date(),
            local.hour(),
            local.minute(),
            self.short_label()
        )
    }

    /// `UTC+8`, `UTC-5`, `UTC+5:30`, `UTC`.
    pub fn short_label(self) -> String {
        let m = self.minutes();
        if m == 0 {
            return "UTC".to_owned();
        }
        let sign = if m < 0 { '-' } else { '+' };
        match m.abs() % 60 {
            0 => format!("UTC{sign}{}", m.abs() / 60),
            r => format!("UTC{sign}{}:{r:02}", m.abs() / 60),
        }
    }
}

impl Default for LibraryOffset {
    fn default() -> Self {
        LibraryOffset::CHINA
    }
}

/// `+08:00`, `-05:00`: how it is stored in settings and shown in forms.
impl std::fmt::Display for LibraryOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.minutes();
        let sign = if m < 0 { '-' } else { '+' };
        write!(f, "{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60)
    }
}

impl TryFrom<String> for LibraryOffset {
    type Error = OffsetError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        LibraryOffset::parse(&s)
    }
}

impl From<LibraryOffset> for String {
    fn from(o: LibraryOffset) -> String {
        o.to_string()
    }
}

#[cfg(test)]
mod offset_tests {
    use super::*;

    #[test]
    fn offsets_are_read_in_the_usual_ways_and_refused_with_a_reason() {
        for (text, minutes) in [
            ("+08:00", 480),
            ("+09:00", 540),
            ("-05:00", -300),
            ("+05:30", 330),
            ("+0545", 345),
            ("UTC+8", 480),
            ("GMT-5", -300),
            (" +8 ", 480),
            ("Z", 0),
            ("UTC", 0),
            ("+14:00", 840),
            ("-12:00", -720),
        ] {
            assert_eq!(
                LibraryOffset::parse(text).map(|o| o.minutes()),
                Ok(minutes),
                "{text}"
            );
        }
        for text in [
            "",
            "8",
            "+15:00",
            "-13:00",
            "+08:61",
            "+08:10",
            "Asia/Shanghai",
            "+a",
            "+123:00",
            "++8",
            "+1€",
            "-€1",
            "+８００",
        ] {
            let e = LibraryOffset::parse(text).unwrap_err();
            assert!(!e.en.is_empty() && !e.zh.is_empty(), "{text}");
        }
    }

    proptest::proptest! {
        /// Whatever a form or a caller sends, the answer is an offset or a refusal.
        #[test]
        fn reading_an_offset_never_panics(text in "\\PC{0,8}") {
            let _ = LibraryOffset::parse(&text);
        }
    }

    #[test]
    fn an_offset_shows_and_reads_back_the_same() {
        for m in (-720..=840).step_by(15) {
            let o = LibraryOffset::from_minutes(m).unwrap();
            assert_eq!(LibraryOffset::parse(&o.to_string()), Ok(o));
            assert_eq!(LibraryOffset::parse(&o.short_label()), Ok(o));
        }
        assert_eq!(LibraryOffset::default().to_string(), "+08:00");
        assert_eq!(LibraryOffset::CHINA.short_label(), "UTC+8");
    }

    #[test]
    fn a_day_starts_at_its_own_midnight_and_ends_a_second_before_the_next() {
        let d = time::macros::date!(2026 - 12 - 01);
        let east = LibraryOffset::CHINA;
        assert_eq!(
            east.start_of(d),
            time::macros::datetime!(2026-11-30 16:00 UTC)
        );
        assert_eq!(
            east.end_of(d),
            time::macros::datetime!(2026-12-01 15:59:59 UTC)
        );
        let west = LibraryOffset::from_minutes(-300).unwrap();
        assert_eq!(
            west.start_of(d),
            time::macros::datetime!(2026-12-01 05:00 UTC)
        );
        assert_eq!(
            west.end_of(d),
            time::macros::datetime!(2026-12-02 04:59:59 UTC)
        );
    }

    #[test]
    fn no_library_is_on_a_later_date_than_the_farthest_east() {
        let t = time::macros::datetime!(2026-12-30 10:15 UTC);
        assert_eq!(LibraryOffset::FARTHEST_EAST.to_string(), "+14:00");
        assert_eq!(
            LibraryOffset::FARTHEST_EAST.date(t).to_string(),
            "2026-12-31"
        );
        for m in (-720..=840).step_by(15) {
            let o = LibraryOffset::from_minutes(m).unwrap();
            assert!(o.date(t) <= LibraryOffset::FARTHEST_EAST.date(t), "{o}");
        }
    }

    #[test]
    fn dates_and_labels_are_in_the_library_s_time() {
        let t = time::macros::datetime!(2026-12-30 20:15 UTC);
        let tokyo = LibraryOffset::parse("+09:00").unwrap();
        let new_york = LibraryOffset::parse("-05:00").unwrap();
        assert_eq!(tokyo.date(t).to_string(), "2026-12-31");
        assert_eq!(new_york.date(t).to_string(), "2026-12-30");
        assert_eq!(tokyo.time_label(t), "2026-12-31 05:15 (UTC+9)");
        assert_eq!(new_york.time_label(t), "2026-12-30 15:15 (UTC-5)");
        assert_eq!(
            LibraryOffset::CHINA.time_label(t),
            "2026-12-31 04:15 (UTC+8)"
        );
    }
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
    /// digest hour (in the library's time, `offset`) when it has passed, else yesterday's.
    pub fn last_digest_due(
        &self,
        now: time::OffsetDateTime,
        offset: LibraryOffset,
    ) -> time::OffsetDateTime {
        let local = now.to_offset(offset.utc_offset());
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
            s.last_digest_due(datetime!(2026-11-30 09:30 UTC), LibraryOffset::CHINA),
            datetime!(2026-11-30 09:00 UTC)
        );
        assert_eq!(
            s.last_digest_due(datetime!(2026-11-30 08:59 UTC), LibraryOffset::CHINA),
            datetime!(2026-11-29 09:00 UTC)
        );
        // The default, 08:00 in China, is midnight UTC.
        assert_eq!(
            LetterSettings::default()
                .last_digest_due(datetime!(2026-11-30 23:59 UTC), LibraryOffset::CHINA),
            datetime!(2026-11-30 00:00 UTC)
        );
        // A library at UTC-5: 17:00 there is 22:00 UTC.
        let new_york = LibraryOffset::parse("-05:00").unwrap();
        assert_eq!(
            s.last_digest_due(datetime!(2026-11-30 21:59 UTC), new_york),
            datetime!(2026-11-29 22:00 UTC)
        );
        assert_eq!(
            s.last_digest_due(datetime!(2026-11-30 22:00 UTC), new_york),
            datetime!(2026-11-30 22:00 UTC)
        );
    }
}
