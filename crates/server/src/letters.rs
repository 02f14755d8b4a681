//! Letters to readers: bilingual templates (minijinja, strict about variables), queued in the
//! outbox in the transaction of the change they tell about, sent over SMTP by the outbox job
//! with its retries, parked for staff when the mail server refuses them.

use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use store::{NewOutbox, Tx};
use time::OffsetDateTime;

use crate::Config;
use crate::flow::FlowError;

/// The letters librelay sends readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterKind {
    /// Request received.
    RequestReceived,
    /// A loan arrived at the borrowing library: ready for pickup.
    ReadyForPickup,
    /// A copy was delivered: the reader's link.
    DocumentDelivered,
    /// No lender could fill the request.
    Unfilled,
    /// The request was cancelled.
    Cancelled,
}

impl LetterKind {
    pub const ALL: &'static [LetterKind] = &[
        LetterKind::RequestReceived,
        LetterKind::ReadyForPickup,
        LetterKind::DocumentDelivered,
        LetterKind::Unfilled,
        LetterKind::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LetterKind::RequestReceived => "request_received",
            LetterKind::ReadyForPickup => "ready_for_pickup",
            LetterKind::DocumentDelivered => "document_delivered",
            LetterKind::Unfilled => "unfilled",
            LetterKind::Cancelled => "cancelled",
        }
    }
}

/// The variables every letter may use; a template naming another is refused.
pub const VARIABLES: &[&str] = &[
    "reader_name",
    "library_name",
    "title",
    "request_id",
    "link",
    "expires",
    "views",
    "reason",
    "due_date",
];

/// The default (subject, body) of a letter in a language (`zh-CN` or `en`).
pub fn default_template(kind: LetterKind, lang: &str) -> (&'static str, &'static str) {
    let zh = lang.starts_with("zh");
    match (kind, zh) {
        (LetterKind::RequestReceived, true) => (
            "馆际互借申请已收到：{{ title }}",
            "{{ reader_name }}，您好：\n\n我们已收到您的馆际互借申请《{{ title }}》（编号 {{ request_id }}），将尽快为您办理。\n\n{{ library_name }}",
        ),
        (LetterKind::RequestReceived, false) => (
            "Your interlibrary loan request: {{ title }}",
            "Dear {{ reader_name }},\n\nwe have received your request for \"{{ title }}\" (number {{ request_id }}) and are working on it.\n\n{{ library_name }}",
        ),
        (LetterKind::ReadyForPickup, true) => (
            "您申请的图书已到馆：{{ title }}",
            "{{ reader_name }}，您好：\n\n您申请的《{{ title }}》已到馆，请持证到馆际互借处领取。{% if due_date %}归还期限：{{ due_date }}。{% endif %}\n\n{{ library_name }}",
        ),
        (LetterKind::ReadyForPickup, false) => (
            "Ready for pickup: {{ title }}",
            "Dear {{ reader_name }},\n\n\"{{ title }}\" has arrived and is ready for pickup at the interlibrary loan desk.{% if due_date %} It is due back by {{ due_date }}.{% endif %}\n\n{{ library_name }}",
        ),
        (LetterKind::DocumentDelivered, true) => (
            "您申请的文献已送达：{{ title }}",
            "{{ reader_name }}，您好：\n\n您申请的《{{ title }}》已送达，请通过以下链接查看（仅限本人使用{% if views %}，最多打开 {{ views }} 次{% endif %}，{{ expires }} 前有效）：\n\n{{ link }}\n\n本文献仅供个人学习研究使用，请遵守著作权法。\n\n{{ library_name }}",
        ),
        (LetterKind::DocumentDelivered, false) => (
            "Your copy has arrived: {{ title }}",
            "Dear {{ reader_name }},\n\nyour copy of \"{{ title }}\" is ready. Open it with this link (for you only{% if views %}, at most {{ views }} times{% endif %}, until {{ expires }}):\n\n{{ link }}\n\nThe copy is for your private study and research; copyright law applies.\n\n{{ library_name }}",
        ),
        (LetterKind::Unfilled, true) => (
            "很抱歉，未能为您借到：{{ title }}",
            "{{ reader_name }}，您好：\n\n很抱歉，合作馆均未能提供《{{ title }}》（编号 {{ request_id }}）。{% if reason %}原因：{{ reason }}。{% endif %}如有需要，请联系馆际互借处。\n\n{{ library_name }}",
        ),
        (LetterKind::Unfilled, false) => (
            "We could not obtain: {{ title }}",
            "Dear {{ reader_name }},\n\nwe are sorry: none of our partner libraries could supply \"{{ title }}\" (number {{ request_id }}).{% if reason %} Reason: {{ reason }}.{% endif %} Please contact the interlibrary loan desk if you need help.\n\n{{ library_name }}",
        ),
        (LetterKind::Cancelled, true) => (
            "馆际互借申请已取消：{{ title }}",
            "{{ reader_name }}，您好：\n\n您的申请《{{ title }}》（编号 {{ request_id }}）已取消。\n\n{{ library_name }}",
        ),
        (LetterKind::Cancelled, false) => (
            "Request cancelled: {{ title }}",
            "Dear {{ reader_name }},\n\nyour request for \"{{ title }}\" (number {{ request_id }}) has been cancelled.\n\n{{ library_name }}",
        ),
    }
}

/// Why a template cannot be used: a syntax error or a variable letters do not have.
pub fn check_template(source: &str) -> Result<(), String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template("t", source)
        .map_err(|e| format!("the template cannot be read: {e}"))?;
    let t = env
        .get_template("t")
        .map_err(|e| format!("the template cannot be read: {e}"))?;
    let unknown: BTreeSet<String> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !VARIABLES.contains(&v.as_str()))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unknown variables: {}; letters know {}",
            unknown.into_iter().collect::<Vec<_>>().join(", "),
            VARIABLES.join(", ")
        ))
    }
}

fn render(source: &str, vars: &serde_json::Value) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.render_str(source, vars).map_err(|e| e.to_string())
}

/// A letter as queued in the outbox (the payload, JSON): what to tell, about which request.
/// It is written out when sent, in the reader's language at that moment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Queued {
    pub kind: LetterKind,
    pub request_id: String,
    /// Variables besides those of the request (link, expires, views, reason).
    pub vars: serde_json::Value,
}

/// Which request a letter is about: its library, id and reader.
pub struct About<'a> {
    pub library_id: &'a str,
    pub request_id: &'a str,
    pub patron_id: &'a str,
}

impl<'a> From<&'a store::BorrowRequest> for About<'a> {
    fn from(r: &'a store::BorrowRequest) -> Self {
        About {
            library_id: &r.library_id,
            request_id: &r.request_id,
            patron_id: &r.patron_id,
        }
    }
}

/// Queue `kind` for the reader of a borrowing request, in the caller's transaction (so the
/// letter exists exactly when the change it tells about does).
pub async fn queue(
    tx: &mut Tx<'_>,
    kind: LetterKind,
    req: About<'_>,
    vars: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), FlowError> {
    let queued = Queued {
        kind,
        request_id: req.request_id.to_owned(),
        vars,
    };
    let payload = serde_json::to_string(&queued)
        .map_err(|e| FlowError::Store(store::StoreError::Corrupt(e.to_string())))?;
    let recipient = format!("reader:{}", req.patron_id);
    tx.insert_outbox(
        &NewOutbox {
            library_id: req.library_id,
            request_id: req.request_id,
            side: "borrow",
            kind: "email",
            recipient: &recipient,
            payload: &payload,
        },
        now,
    )
    .await?;
    Ok(())
}

/// A letter written out for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub to: String,
    pub lang: &'static str,
    pub subject: String,
    pub body: String,
}

/// Write out a queued letter: None when the reader has no address.
pub async fn write_out(
    store: &store::Store,
    config: &Config,
    queued: &Queued,
) -> Result<Option<Letter>, String> {
    let req = store
        .borrow_request(&queued.request_id)
        .await
        .map_err(|e| format!("request {}: {e}", queued.request_id))?;
    let reader = store
        .user(&req.patron_id)
        .await
        .map_err(|e| format!("reader {}: {e}", req.patron_id))?;
    let Some(to) = reader.email.clone().filter(|e| e.contains('@')) else {
        return Ok(None);
    };
    let library = store
        .library(&req.library_id)
        .await
        .map_err(|e| format!("library {}: {e}", req.library_id))?;
    let zh = !reader.locale.starts_with("en");
    let mut vars = serde_json::json!({
        "reader_name": reader.display_name,
        "library_name": if zh { &library.name_zh } else { &library.name_en },
        "title": req.title,
        "request_id": req.request_id,
        "due_date": req.due_date.map(|d| d.to_string()),
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (vars.as_object_mut(), &queued.vars) {
        obj.extend(more.clone());
    }
    if let Some(link) = vars
        .get("link")
        .and_then(|l| l.as_str())
        .filter(|l| l.starts_with('/'))
        .map(str::to_owned)
    {
        vars["link"] = serde_json::Value::String(format!("{}{link}", config.public_base()));
    }
    let lang = if zh { "zh-CN" } else { "en" };
    let (subject, body) = default_template(queued.kind, lang);
    Ok(Some(Letter {
        to,
        lang,
        subject: render(subject, &vars)?,
        body: render(body, &vars)?,
    }))
}

/// What became of one attempt to send a letter.
pub enum Mailed {
    Sent(String),
    /// Nothing to send (no mail server, no address): closed with the reason.
    Skipped(String),
    /// The server refused it for good (a 5xx answer): park it.
    Refused(String),
    /// Try again later.
    Failed(String),
}

/// Write out and send one queued letter over SMTP.
pub async fn send(store: &store::Store, config: &Config, payload: &str) -> Mailed {
    use lettre::message::header::{ContentTransferEncoding, ContentType};
    use lettre::message::{Body, Mailbox};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    if config.smtp_host.trim().is_empty() {
        return Mailed::Skipped("not sent: no mail server is configured (smtp_host)".to_owned());
    }
    let queued: Queued = match serde_json::from_str(payload) {
        Ok(q) => q,
        Err(e) => return Mailed::Refused(format!("the queued letter cannot be read: {e}")),
    };
    let letter = match write_out(store, config, &queued).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Mailed::Skipped("not sent: the reader has no e-mail address".to_owned());
        }
        Err(e) => return Mailed::Failed(format!("the letter cannot be written: {e}")),
    };
    let from: Mailbox = match config.mail_from.parse() {
        Ok(m) => m,
        Err(e) => return Mailed::Failed(format!("mail_from {:?}: {e}", config.mail_from)),
    };
    let to: Mailbox = match letter.to.parse() {
        Ok(m) => m,
        Err(e) => return Mailed::Refused(format!("address {:?}: {e}", letter.to)),
    };
    // Base64 keeps Chinese text intact through any mail server, 8BITMIME or not.
    let body = match Body::new_with_encoding(
        letter.body.clone().into_bytes(),
        ContentTransferEncoding::Base64,
    ) {
        Ok(b) => b,
        Err(_) => return Mailed::Refused("the letter body cannot be encoded".to_owned()),
    };
    let message = match Message::builder()
        .from(from)
        .to(to)
        .subject(letter.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(body)
    {
        Ok(m) => m,
        Err(e) => return Mailed::Refused(format!("the letter cannot be built: {e}")),
    };
    let host = config.smtp_host.trim();
    let builder = match config.smtp_tls.as_str() {
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        _ => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    };
    let mut builder = match builder {
        Ok(b) => b.port(config.smtp_port),
        Err(e) => return Mailed::Failed(format!("SMTP server {host}: {e}")),
    };
    if !config.smtp_username.is_empty() {
        builder = builder.credentials(Credentials::new(
            config.smtp_username.clone(),
            config.smtp_password.clone(),
        ));
    }
    let transport = builder
        .timeout(Some(std::time::Duration::from_secs(30)))
        .build();
    match transport.send(message).await {
        Ok(r) => Mailed::Sent(format!("{}", r.code())),
        Err(e) if e.is_permanent() => Mailed::Refused(format!("the mail server refused it: {e}")),
        Err(e) => Mailed::Failed(format!("sending mail failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_template_is_valid_in_both_languages() {
        for k in LetterKind::ALL {
            for lang in ["zh-CN", "en"] {
                let (s, b) = default_template(*k, lang);
                assert_eq!(check_template(s), Ok(()), "{k:?} {lang}");
                assert_eq!(check_template(b), Ok(()), "{k:?} {lang}");
            }
        }
    }

    #[test]
    fn unknown_variables_and_bad_syntax_are_refused() {
        let err = check_template("Hello {{ reader_nmae }}").unwrap_err();
        assert!(err.contains("reader_nmae"), "{err}");
        assert!(check_template("{% if %}").is_err());
    }

    #[test]
    fn letters_render_with_their_variables() {
        let (_, body) = default_template(LetterKind::DocumentDelivered, "en");
        let out = render(
            body,
            &serde_json::json!({"reader_name": "Ann", "title": "T", "link": "http://x/d/1",
                "expires": "2026-12-30", "views": 5, "library_name": "L"}),
        )
        .unwrap();
        assert!(
            out.contains("at most 5 times") && out.contains("http://x/d/1"),
            "{out}"
        );
    }
}
