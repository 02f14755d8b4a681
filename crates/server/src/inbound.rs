//! The inbound SMTP endpoint inside `serve` (off unless `inbound_smtp_listen` is set): the
//! library's mail server hands it replies of e-mail partners and bounces of the mail we sent.
//! Each mail is filed on the borrowing request its address (`ill+ID@…`), subject
//! (`[ILL:ID]`), In-Reply-To / References (our Message-IDs name the request) or, for a
//! bounce, the returned headers name, as a history event in the same transaction; mail that
//! names no request is kept in the unmatched list for staff (the library's, when it was sent
//! to one of the library's own addresses). Only this node's mailboxes are taken: the reply
//! mailbox and `mail_from` (with their plus addresses), the libraries' own addresses and the
//! domains in `inbound_smtp_domains`; any other recipient is refused with 550, so the endpoint
//! relays nothing. With `inbound_smtp_tls_cert` and `inbound_smtp_tls_key` set, EHLO offers
//! STARTTLS (RFC 3207) through rustls, which the build already has for outgoing mail and
//! HTTPS. A small SMTP server of our own: receiving needs only the few commands below, and a
//! crate for it would pull a second TLS and I/O stack into the build for no gain.

use std::sync::Arc;
use std::time::Duration;

use store::{NewEvent, NewInboundMail};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::AppState;
use crate::flow::FlowError;
use crate::mime;

/// Sessions served at once; more are told to come back later.
const SESSIONS: usize = 32;
/// Recipients of one mail.
const MAX_RECIPIENTS: usize = 100;
/// How long a client may stay silent.
const IDLE: Duration = Duration::from_secs(300);
/// Longest command line (RFC 5321 says 512; some clients send long parameters).
const MAX_COMMAND: usize = 4096;
/// How long one session may last in all, however busy the client keeps it.
const SESSION_LIMIT: Duration = Duration::from_secs(30 * 60);
/// Commands one session may send (a mail takes a handful).
const MAX_COMMANDS: usize = 1000;
/// Request ids a mail is searched for at most: a crafted bounce full of ids costs no more.
const MAX_LOOKUPS: usize = 20;
/// Longest Message-ID and envelope kept with a mail (PostgreSQL's index entries are limited).
const MAX_ID_BYTES: usize = 500;

/// The mailbox replies go to: `mail_reply_to`, else the address in `mail_from`.
pub fn reply_mailbox(config: &crate::Config) -> String {
    let raw = if config.mail_reply_to.trim().is_empty() {
        config.mail_from.as_str()
    } else {
        config.mail_reply_to.as_str()
    };
    angle_address(raw).to_owned()
}

/// The domain of the reply mailbox (for Message-IDs).
pub fn reply_domain(config: &crate::Config) -> String {
    let m = reply_mailbox(config);
    match m.rsplit_once('@') {
        Some((_, d)) if !d.is_empty() => d.to_owned(),
        _ => "localhost".to_owned(),
    }
}

/// The reply address for a request: `local+ID@domain`.
pub fn reply_address(config: &crate::Config, id: &str) -> String {
    let m = reply_mailbox(config);
    match m.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local);
            format!("{local}+{id}@{domain}")
        }
        None => format!("ill+{id}@localhost"),
    }
}

/// The address of a mailbox written `Name <a@b>` or `a@b`, as written.
fn angle_address(raw: &str) -> &str {
    let raw = raw.trim();
    let addr = match (raw.rfind('<'), raw.rfind('>')) {
        (Some(a), Some(b)) if a < b => &raw[a + 1..b],
        _ => raw,
    };
    addr.trim()
}

/// The bare address of a mailbox written `Name <a@b>` or `a@b`, in lower case.
fn bare_address(raw: &str) -> String {
    angle_address(raw).to_lowercase()
}

/// `local+tag@domain` without its tag, in lower case: the mailbox the address belongs to.
fn mailbox_of(addr: &str) -> String {
    let addr = addr.trim().to_lowercase();
    match addr.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local);
            format!("{local}@{domain}")
        }
        None => addr,
    }
}

/// The mailboxes and domains this node takes mail for (besides the libraries' own addresses,
/// which are read from the store once per mail, so a library's change counts from the next).
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    mailboxes: Vec<String>,
    domains: Vec<String>,
}

impl Accepted {
    pub fn of(config: &crate::Config) -> Accepted {
        let mut mailboxes = vec![mailbox_of(&reply_mailbox(config))];
        let from = mailbox_of(&bare_address(&config.mail_from));
        if !mailboxes.contains(&from) {
            mailboxes.push(from);
        }
        let domains = config
            .inbound_smtp_domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        Accepted { mailboxes, domains }
    }

    /// Whether `addr` is one of the node's own mailboxes (the reply mailbox, `mail_from`, their
    /// plus addresses, any `postmaster`): its mail is the node's, never one library's.
    pub fn is_node_mailbox(&self, addr: &str) -> bool {
        let mailbox = mailbox_of(&bare_address(addr));
        let local = mailbox
            .rsplit_once('@')
            .map_or(mailbox.as_str(), |(l, _)| l);
        local == "postmaster" || self.mailboxes.contains(&mailbox)
    }

    /// Whether `addr` is in one of `inbound_smtp_domains`, whose every address reaches the node.
    pub fn in_node_domain(&self, addr: &str) -> bool {
        match bare_address(addr).rsplit_once('@') {
            Some((_, domain)) => self.domains.iter().any(|d| d == domain),
            None => false,
        }
    }

    /// Whether `addr` is this node's without asking the store.
    fn takes(&self, addr: &str) -> bool {
        let addr = addr.trim().to_lowercase();
        // RFC 5321 4.5.1: `postmaster` without a domain is always taken.
        if addr == "postmaster" {
            return true;
        }
        if self.mailboxes.contains(&mailbox_of(&addr)) {
            return true;
        }
        match addr.rsplit_once('@') {
            Some((_, domain)) => self.domains.iter().any(|d| d == domain),
            None => false,
        }
    }
}

/// The libraries' own addresses (see `LetterSettings::mail_addresses`) as read for one mail:
/// the store is asked at the first recipient that needs them, not at every one, and again
/// for the next mail, so a library's change counts from then on without a cache to keep.
#[derive(Debug, Default)]
struct Owners(Option<Vec<(String, Vec<String>)>>);

impl Owners {
    async fn list(&mut self, st: &AppState) -> Result<&[(String, Vec<String>)], FlowError> {
        if self.0.is_none() {
            self.0 = Some(st.store.library_mail_addresses().await?);
        }
        Ok(self.0.as_deref().unwrap_or_default())
    }

    /// The library whose own address `addr` is, or a plus address of; never for one of the
    /// node's own mailboxes, which no library may claim.
    async fn library_of(
        &mut self,
        st: &AppState,
        accepted: &Accepted,
        addr: &str,
    ) -> Result<Option<String>, FlowError> {
        let mailbox = mailbox_of(&bare_address(addr));
        if !mailbox.contains('@') || accepted.is_node_mailbox(&mailbox) {
            return Ok(None);
        }
        Ok(self
            .list(st)
            .await?
            .iter()
            .find(|(_, addresses)| addresses.contains(&mailbox))
            .map(|(library, _)| library.clone()))
    }
}

/// Whether a recipient is one of this node's mailboxes; the store's failure is the caller's
/// temporary failure.
async fn is_ours(
    st: &AppState,
    accepted: &Accepted,
    owners: &mut Owners,
    addr: &str,
) -> Result<bool, FlowError> {
    if accepted.takes(addr) {
        return Ok(true);
    }
    Ok(owners.library_of(st, accepted, addr).await?.is_some())
}

/// The endpoint's listener and, when a certificate is configured, its STARTTLS acceptor.
pub struct Inbound {
    pub listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

/// The STARTTLS acceptor from `inbound_smtp_tls_cert` / `inbound_smtp_tls_key` (PEM files);
/// None when neither is set. Each failure names the setting and the file.
pub fn tls_acceptor(config: &crate::Config) -> anyhow::Result<Option<TlsAcceptor>> {
    use anyhow::{Context, bail};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = (
        config.inbound_smtp_tls_cert.trim(),
        config.inbound_smtp_tls_key.trim(),
    );
    match (cert.is_empty(), key.is_empty()) {
        (true, true) => return Ok(None),
        (false, true) => bail!("inbound_smtp_tls_cert is set but inbound_smtp_tls_key is not"),
        (true, false) => bail!("inbound_smtp_tls_key is set but inbound_smtp_tls_cert is not"),
        (false, false) => {}
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading inbound_smtp_tls_cert {cert}"))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("inbound_smtp_tls_cert {cert}: not a PEM certificate chain"))?;
    if chain.is_empty() {
        bail!("inbound_smtp_tls_cert {cert}: no CERTIFICATE in the file");
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("inbound_smtp_tls_key {key}: no PEM private key read"))?;
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions for the inbound SMTP endpoint")?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("inbound_smtp_tls_cert and inbound_smtp_tls_key do not make a usable pair")?;
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

/// Bind the endpoint when configured (and read its certificate, when it has one).
pub async fn bind(config: &crate::Config) -> anyhow::Result<Option<Inbound>> {
    use anyhow::Context;
    let addr = config.inbound_smtp_listen.trim();
    if addr.is_empty() {
        return Ok(None);
    }
    let tls = tls_acceptor(config)?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for inbound mail on {addr} (inbound_smtp_listen)"))?;
    Ok(Some(Inbound { listener, tls }))
}

/// Serve SMTP sessions until `stop` turns true.
pub fn spawn(
    st: AppState,
    inbound: Inbound,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let Inbound { listener, tls } = inbound;
    let mailboxes = Arc::new(Accepted::of(&st.config));
    tokio::spawn(async move {
        let sessions = Arc::new(Semaphore::new(SESSIONS));
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.changed() => return,
            };
            let (mut stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "inbound mail: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = sessions.clone().try_acquire_owned() else {
                let _ = stream
                    .write_all(b"421 4.3.2 too many connections, try again later\r\n")
                    .await;
                continue;
            };
            let (st, tls, mailboxes) = (st.clone(), tls.clone(), mailboxes.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let served = session(&st, &mailboxes, stream, tls);
                match tokio::time::timeout(SESSION_LIMIT, served).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %peer, error = %e, "inbound mail session ended");
                    }
                    Err(_) => {
                        tracing::debug!(peer = %peer, "inbound mail session too long: closed")
                    }
                }
            });
        }
    })
}

/// Read one line (up to `limit` bytes) into `buf`, within the idle time. `Ok(0)`: closed.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<usize> {
    buf.clear();
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    match tokio::time::timeout(IDLE, (&mut *r).take(limit).read_until(b'\n', buf)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client idle",
        )),
    }
}

/// The address inside `FROM:<…>` / `TO:<…>`, with parameters after it.
fn path_of(arg: &str) -> Option<(String, &str)> {
    let arg = arg.trim_start();
    let (_, rest) = arg.split_once(':')?;
    let rest = rest.trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        return Some((inner[..end].trim().to_owned(), &inner[end + 1..]));
    }
    let (addr, params) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((addr.trim().to_owned(), params))
}

/// How a run of commands ended.
enum Ended {
    /// The client quit or the session must close.
    Closed,
    /// The client asked for TLS and was told to go ahead.
    StartTls,
}

/// One SMTP session: commands in the clear, then, after STARTTLS, the same over TLS with a
/// fresh state (RFC 3207: the client says EHLO again; nothing said before counts).
async fn session(
    st: &AppState,
    accepted: &Accepted,
    stream: tokio::net::TcpStream,
    tls: Option<TlsAcceptor>,
) -> std::io::Result<()> {
    let domain = reply_domain(&st.config);
    let mut plain = BufReader::new(stream);
    plain
        .write_all(format!("220 {domain} librelay ESMTP ready\r\n").as_bytes())
        .await?;
    let mut budget = MAX_COMMANDS;
    let offer = tls.is_some();
    match commands(st, accepted, &mut plain, offer, &mut budget).await? {
        Ended::Closed => Ok(()),
        Ended::StartTls => {
            let Some(acceptor) = tls else {
                return Ok(());
            };
            // A client that stalls in the handshake is let go like an idle one.
            let stream = tokio::time::timeout(IDLE, acceptor.accept(plain.into_inner()))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake stalled")
                })??;
            let mut secure = BufReader::new(stream);
            commands(st, accepted, &mut secure, false, &mut budget).await?;
            Ok(())
        }
    }
}

/// Serve commands on `io` until the client quits, asks for TLS (when `offer_tls`) or runs out
/// of its `budget` of commands.
async fn commands<S: AsyncRead + AsyncWrite + Unpin>(
    st: &AppState,
    accepted: &Accepted,
    io: &mut BufReader<S>,
    offer_tls: bool,
    budget: &mut usize,
) -> std::io::Result<Ended> {
    let max = st.config.inbound_smtp_max_bytes.max(1024);
    let domain = reply_domain(&st.config);
    let mut from: Option<String> = None;
    let mut rcpts: Vec<String> = Vec::new();
    let mut owners = Owners::default();
    let mut line = Vec::new();
    let mut close = false;
    while *budget > 0 {
        *budget -= 1;
        if read_line(io, &mut line, MAX_COMMAND).await? == 0 {
            return Ok(Ended::Closed);
        }
        if !line.ends_with(b"\n") {
            io.write_all(b"500 5.5.2 line too long\r\n").await?;
            io.flush().await?;
            return Ok(Ended::Closed);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let answer = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                let starttls = if offer_tls { "250-STARTTLS\r\n" } else { "" };
                format!(
                    "250-{domain}\r\n{starttls}250-8BITMIME\r\n250-SMTPUTF8\r\n250-PIPELINING\r\n250 SIZE {max}\r\n"
                )
            }
            "HELO" => format!("250 {domain}\r\n"),
            "STARTTLS" if offer_tls => {
                if !arg.trim().is_empty() {
                    "501 5.5.4 STARTTLS takes no parameters\r\n".to_owned()
                } else if !io.buffer().is_empty() {
                    // Commands sent behind STARTTLS before the handshake would be taken as
                    // if they came over TLS (RFC 3207 section 6): refused, session closed.
                    close = true;
                    "554 5.5.1 commands sent after STARTTLS before TLS began; closing\r\n"
                        .to_owned()
                } else {
                    io.write_all(b"220 2.0.0 ready to start TLS\r\n").await?;
                    io.flush().await?;
                    return Ok(Ended::StartTls);
                }
            }
            "STARTTLS" => "502 5.5.1 TLS is not offered here\r\n".to_owned(),
            "MAIL" => match path_of(arg) {
                Some((addr, params)) => {
                    let size = params
                        .split_whitespace()
                        .find_map(|p| {
                            p.to_ascii_uppercase()
                                .strip_prefix("SIZE=")
                                .and_then(|n| n.parse::<usize>().ok())
                        })
                        .unwrap_or(0);
                    if size > max {
                        "552 5.3.4 message too big\r\n".to_owned()
                    } else {
                        from = Some(addr);
                        rcpts.clear();
                        owners = Owners::default();
                        "250 2.1.0 OK\r\n".to_owned()
                    }
                }
                None => "501 5.5.4 MAIL FROM:<address>\r\n".to_owned(),
            },
            "RCPT" => match (&from, path_of(arg)) {
                (None, _) => "503 5.5.1 MAIL first\r\n".to_owned(),
                (_, None) => "501 5.5.4 RCPT TO:<address>\r\n".to_owned(),
                (Some(_), Some((addr, _))) if addr.is_empty() => {
                    "501 5.1.3 RCPT TO needs an address\r\n".to_owned()
                }
                (Some(_), Some(_)) if rcpts.len() >= MAX_RECIPIENTS => {
                    "452 4.5.3 too many recipients\r\n".to_owned()
                }
                (Some(_), Some((addr, _))) => match is_ours(st, accepted, &mut owners, &addr).await
                {
                    Ok(true) => {
                        rcpts.push(addr);
                        "250 2.1.5 OK\r\n".to_owned()
                    }
                    Ok(false) => {
                        let shown: String = addr.chars().take(200).collect();
                        format!(
                            "550 5.7.1 <{shown}> is not a mailbox of this interlibrary loan node; relaying is refused\r\n"
                        )
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "inbound mail: recipient check failed");
                        "451 4.3.0 cannot check the recipient now; try again later\r\n".to_owned()
                    }
                },
            },
            "DATA" => {
                if rcpts.is_empty() {
                    "503 5.5.1 RCPT first\r\n".to_owned()
                } else {
                    io.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    io.flush().await?;
                    let raw = read_data(io, max).await?;
                    let envelope_from = from.take().unwrap_or_default();
                    let to = std::mem::take(&mut rcpts);
                    let mut owners = std::mem::take(&mut owners);
                    match raw {
                        // The rest of the message is not read: the session ends here.
                        None => {
                            close = true;
                            "552 5.3.4 message too big, closing\r\n".to_owned()
                        }
                        Some(raw) => {
                            match accept(st, accepted, &mut owners, &envelope_from, &to, raw).await
                            {
                                Ok(filed) => format!("250 2.0.0 {filed}\r\n"),
                                Err(e) => {
                                    tracing::error!(error = %e, "inbound mail could not be stored");
                                    "451 4.3.0 could not store the message; try again later\r\n"
                                        .to_owned()
                                }
                            }
                        }
                    }
                }
            }
            "RSET" => {
                from = None;
                rcpts.clear();
                owners = Owners::default();
                "250 2.0.0 OK\r\n".to_owned()
            }
            "NOOP" => "250 2.0.0 OK\r\n".to_owned(),
            "VRFY" => "252 2.5.2 cannot verify, send it\r\n".to_owned(),
            "QUIT" => {
                io.write_all(b"221 2.0.0 bye\r\n").await?;
                io.flush().await?;
                return Ok(Ended::Closed);
            }
            _ => "502 5.5.2 command not implemented\r\n".to_owned(),
        };
        io.write_all(answer.as_bytes()).await?;
        io.flush().await?;
        if close {
            return Ok(Ended::Closed);
        }
    }
    io.write_all(b"421 4.7.0 too many commands, closing\r\n")
        .await?;
    io.flush().await?;
    Ok(Ended::Closed)
}

/// The message after DATA, up to the lone "."; dot-stuffing undone. None as soon as it is
/// larger than `max` (the rest is not read; the session is then closed).
async fn read_data<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut at_line_start = true;
    loop {
        if read_line(r, &mut line, 64 * 1024).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed inside DATA",
            ));
        }
        let mut chunk: &[u8] = &line;
        if at_line_start {
            if chunk == b".\r\n" || chunk == b".\n" {
                break;
            }
            if chunk.starts_with(b".") {
                chunk = &chunk[1..];
            }
        }
        at_line_start = line.ends_with(b"\n");
        if out.len() + chunk.len() > max {
            return Ok(None);
        }
        out.extend_from_slice(chunk);
    }
    Ok(Some(out))
}

/// Whether a mail is a bounce: a delivery report, a null sender, or a mailer daemon's notice.
fn is_bounce(envelope_from: &str, m: &mime::Mail) -> bool {
    let from = m.header("From").unwrap_or_default().to_ascii_lowercase();
    let subject = m.subject().to_ascii_lowercase();
    m.is_report
        || envelope_from.trim().is_empty()
        || from.contains("mailer-daemon")
        || from.contains("postmaster@")
        || [
            "delivery status notification",
            "undelivered mail",
            "undeliverable",
            "mail delivery failed",
            "returned mail",
            "delivery failure",
        ]
        .iter()
        .any(|p| subject.contains(p))
        || m.subject().contains("退信")
}

/// Request ids (UUIDs) written in `s`, in order.
fn uuids_in(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 36 <= b.len() {
        let w = &b[i..i + 36];
        let shaped = w.iter().enumerate().all(|(k, c)| match k {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
        let bounded = (i == 0 || !b[i - 1].is_ascii_hexdigit())
            && (i + 36 == b.len() || !b[i + 36].is_ascii_hexdigit());
        if shaped && bounded {
            let id = s[i..i + 36].to_ascii_lowercase();
            if !out.contains(&id) {
                out.push(id);
            }
            i += 36;
        } else {
            i += 1;
        }
    }
    out
}

/// The `TAG` of `local+TAG@domain` addresses in `s`.
fn plus_tags(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || matches!(c, ',' | '<' | '>' | ';' | '"'))
        .filter_map(|a| {
            let (local, _) = a.rsplit_once('@')?;
            let (_, tag) = local.split_once('+')?;
            (!tag.is_empty()).then(|| tag.to_owned())
        })
        .collect()
}

/// Where a mail belongs: a borrowing request (with its library), else a library, else none.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    library_id: Option<String>,
    request: Option<(String, String)>,
}

/// Find the request a mail names: first in its recipients' plus tags, then its subject's
/// `[ILL:…]`, then the Message-IDs it answers; for a bounce also in the returned headers, the
/// delivery report and the text. Each candidate must be a request of a library on this node.
async fn target_of(
    st: &AppState,
    accepted: &Accepted,
    owners: &mut Owners,
    envelope_to: &[String],
    m: &mime::Mail,
    bounce: bool,
) -> Result<Target, FlowError> {
    let mut places: Vec<String> = Vec::new();
    let mut tags: Vec<String> = envelope_to.iter().flat_map(|a| plus_tags(a)).collect();
    for h in ["To", "Cc", "Delivered-To", "X-Original-To"] {
        for (name, v) in &m.headers {
            if name.eq_ignore_ascii_case(h) {
                tags.extend(plus_tags(v));
            }
        }
    }
    places.extend(tags.iter().cloned());
    let subject = m.subject();
    if let Some(i) = subject.find("[ILL:") {
        places.push(subject[i..].chars().take(60).collect());
    }
    for h in ["In-Reply-To", "References"] {
        if let Some(v) = m.header(h) {
            places.push(v.to_owned());
        }
    }
    if bounce {
        places.extend(m.returned_headers.clone());
        places.extend(m.delivery_status.clone());
        places.push(m.text.clone());
    }
    let mut ids: Vec<String> = Vec::new();
    for id in places.iter().flat_map(|p| uuids_in(p)) {
        if !ids.contains(&id) {
            ids.push(id);
        }
        if ids.len() >= MAX_LOOKUPS {
            break;
        }
    }
    for id in ids {
        let req = match st.store.borrow_request(&id).await {
            Ok(r) => r,
            Err(store::StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        if st.store.peer(&req.library_id).await?.is_none() {
            return Ok(Target {
                library_id: Some(req.library_id.clone()),
                request: Some((req.library_id, req.request_id)),
            });
        }
    }
    // `ill+CODE@…`: mail for a library as a whole.
    for tag in &tags {
        let code = tag.to_uppercase();
        let lib = match st.store.library(&code).await {
            Ok(l) => l,
            Err(store::StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        if st.store.peer(&lib.library_id).await?.is_none() {
            return Ok(Target {
                library_id: Some(lib.library_id),
                request: None,
            });
        }
    }
    // Sent to a library's own address: the envelope's recipients first, then the headers'.
    let mut addressed: Vec<String> = envelope_to.to_vec();
    for h in ["To", "Cc", "Delivered-To", "X-Original-To"] {
        for (name, v) in &m.headers {
            if name.eq_ignore_ascii_case(h) {
                addressed.extend(v.split(',').map(bare_address).filter(|a| a.contains('@')));
            }
        }
    }
    // The node's own mailboxes are skipped: what reaches them unmatched is no library's.
    for a in &addressed {
        if let Some(library) = owners.library_of(st, accepted, a).await? {
            return Ok(Target {
                library_id: Some(library),
                request: None,
            });
        }
    }
    Ok(Target {
        library_id: None,
        request: None,
    })
}

/// The longest start of `s` of at most `max` bytes that ends on a character boundary.
fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What a bounce says went wrong, in one line: the failed recipient, status and diagnosis.
fn bounce_summary(m: &mime::Mail) -> String {
    let mut said = Vec::new();
    if let Some(ds) = &m.delivery_status {
        for line in ds.lines() {
            let l = line.trim();
            let lower = l.to_ascii_lowercase();
            if lower.starts_with("final-recipient:")
                || lower.starts_with("status:")
                || lower.starts_with("diagnostic-code:")
                || lower.starts_with("action:")
            {
                said.push(l.to_owned());
            }
        }
    }
    if said.is_empty() {
        said.push(m.subject().to_owned());
    }
    let text = said.join("; ");
    text.chars().take(500).collect()
}

/// Keep one received mail, filed on its request (with an event in the same transaction) or in
/// the unmatched list. Returns a word for the SMTP answer.
async fn accept(
    st: &AppState,
    accepted: &Accepted,
    owners: &mut Owners,
    envelope_from: &str,
    envelope_to: &[String],
    raw: Vec<u8>,
) -> Result<String, FlowError> {
    let m = mime::parse(&raw);
    let bounce = is_bounce(envelope_from, &m);
    let target = target_of(st, accepted, owners, envelope_to, &m, bounce).await?;
    let now = st.now();
    let kind = if bounce { "bounce" } else { "reply" };
    let from_header = m.header("From").unwrap_or_default().to_owned();
    let subject = m.subject().to_owned();
    let message_id = m
        .header("Message-ID")
        .map(|v| clip(v, MAX_ID_BYTES).to_owned());
    let summary = bounce.then(|| bounce_summary(&m));
    let body = m.text.clone();
    let (envelope_from, envelope_to) = (
        clip(envelope_from, MAX_ID_BYTES).to_owned(),
        clip(&envelope_to.join(", "), 2 * MAX_ID_BYTES).to_owned(),
    );
    let sender = if from_header.is_empty() {
        envelope_from.clone()
    } else {
        from_header.clone()
    };
    let moved = target.clone();
    let id = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let request_id = moved.request.as_ref().map(|(_, r)| r.as_str());
                let Some(id) = tx
                    .insert_inbound_mail(
                        &NewInboundMail {
                            library_id: moved.library_id.as_deref(),
                            request_id,
                            kind,
                            envelope_from: &envelope_from,
                            envelope_to: &envelope_to,
                            from_header: &from_header,
                            subject: &subject,
                            message_id: message_id.as_deref(),
                            body: &body,
                            raw: &raw,
                        },
                        now,
                    )
                    .await?
                else {
                    return Ok::<_, FlowError>(None);
                };
                if let Some((library_id, request_id)) = &moved.request {
                    let req = tx.borrow_request_for_update(request_id).await?;
                    let (note, note_zh) = match &summary {
                        Some(s) => (format!("bounce: {s}"), format!("退信：{s}")),
                        // The subject as the partner wrote it, in whatever language.
                        None => (subject.clone(), subject.clone()),
                    };
                    tx.insert_event(
                        &NewEvent {
                            library_id,
                            side: "borrow",
                            request_id,
                            actor_id: None,
                            actor: if bounce { "system" } else { "peer" },
                            action: if bounce {
                                "mail_bounced"
                            } else {
                                "mail_received"
                            },
                            from_state: Some(&req.state),
                            to_state: &req.state,
                            note: Some(&note),
                            message_id: None,
                            data: Some(serde_json::json!({
                                "inbound_mail_id": id,
                                "from": sender,
                                "kind": kind,
                                "note_zh": note_zh,
                            })),
                        },
                        now,
                    )
                    .await?;
                }
                Ok::<_, FlowError>(Some(id))
            })
        })
        .await?;
    let Some(id) = id else {
        return Ok("already received".to_owned());
    };
    let filed = if target.request.is_some() {
        "request"
    } else {
        "unmatched"
    };
    metrics::counter!("librelay_inbound_mail_total", "kind" => kind, "filed" => filed).increment(1);
    match &target.request {
        Some((_, request_id)) => {
            st.waiters.changed(request_id);
            Ok(format!("filed as mail {id} on request {request_id}"))
        }
        None => Ok(format!("kept as unmatched mail {id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tags_are_found_where_we_put_them() {
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(
            uuids_in(&format!("Re: x [ILL:{id}.2]")),
            vec![id.to_owned()]
        );
        assert_eq!(
            uuids_in(&format!("<letter.{id}.abc@x>")),
            vec![id.to_owned()]
        );
        assert!(uuids_in("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5bff").is_empty());
        assert_eq!(
            plus_tags(&format!("Ill <ill+{id}.1@lib.example>, other@x.example")),
            vec![format!("{id}.1")]
        );
        assert!(plus_tags("ill@lib.example").is_empty());
    }

    #[test]
    fn reply_addresses_carry_the_id() {
        let mut c = crate::Config {
            mail_from: "Interlibrary Loan <ill@bcu.example.edu>".into(),
            ..crate::Config::default()
        };
        assert_eq!(reply_address(&c, "r.1"), "ill+r.1@bcu.example.edu");
        c.mail_reply_to = "replies+x@mail.example".into();
        assert_eq!(reply_address(&c, "r.1"), "replies+r.1@mail.example");
        assert_eq!(reply_domain(&c), "mail.example");
        assert_eq!(
            path_of("FROM:<a@b.example> SIZE=10"),
            Some(("a@b.example".to_owned(), " SIZE=10"))
        );
        assert_eq!(path_of("FROM:<>"), Some((String::new(), "")));
    }

    #[test]
    fn only_this_nodes_mailboxes_and_domains_are_taken() {
        let c = crate::Config {
            mail_from: "Interlibrary Loan <ILL@bcu.example.edu>".into(),
            mail_reply_to: "replies@mail.example".into(),
            inbound_smtp_domains: vec!["@Lib.Example.org".into(), " ".into()],
            ..crate::Config::default()
        };
        let a = Accepted::of(&c);
        for ours in [
            "replies@mail.example",
            "replies+0190a1b2.1@MAIL.example",
            "ill@bcu.example.edu",
            "ill+BCU@bcu.example.edu",
            "anyone@lib.example.org",
            "Postmaster",
        ] {
            assert!(a.takes(ours), "{ours}");
        }
        for other in [
            "someone@bcu.example.edu",
            "replies@elsewhere.example",
            "victim@gmail.example",
            "anyone@sub.lib.example.org",
            "replies",
        ] {
            assert!(!a.takes(other), "{other}");
        }
        assert_eq!(mailbox_of("Ill+X.1@Lib.Example"), "ill@lib.example");
        assert_eq!(bare_address("Name <A@B.example>"), "a@b.example");
    }

    #[tokio::test]
    async fn data_is_read_to_the_lone_dot_with_stuffing_undone() {
        let input: &[u8] = b"Subject: x\r\n\r\n..leading dot\r\nline\r\n.\r\nQUIT\r\n";
        let mut r = BufReader::new(input);
        let got = read_data(&mut r, 1000).await.unwrap().unwrap();
        assert_eq!(got, b"Subject: x\r\n\r\n.leading dot\r\nline\r\n");
        let mut r = BufReader::new(input);
        assert_eq!(read_data(&mut r, 10).await.unwrap(), None);
    }
}
