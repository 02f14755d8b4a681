//! Reading received mail (RFC 5322 with MIME): headers with RFC 2047 encoded words, multipart
//! bodies, quoted-printable and base64, and the charsets Chinese mail comes in (GB2312, GBK,
//! GB18030, Big5) as well as UTF-8. Pure: bytes in, text out. Any byte string gives a value,
//! never a panic; what cannot be decoded is shown with replacement characters.

use base64::Engine;

/// Parts deeper than this are not opened (a crafted mail cannot recurse without end).
const MAX_DEPTH: usize = 8;
/// Parts beyond this many are not read.
const MAX_PARTS: usize = 200;

/// One received mail, as far as librelay needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mail {
    /// Headers in order, names as written, values unfolded and decoded.
    pub headers: Vec<(String, String)>,
    /// The readable text: the first text/plain part, else the first text/html part made plain.
    pub text: String,
    /// `multipart/report` (RFC 6522), as bounces are sent.
    pub is_report: bool,
    /// The `message/delivery-status` part of a report (RFC 3464), decoded.
    pub delivery_status: Option<String>,
    /// Headers of the message a bounce returns (`text/rfc822-headers` or `message/rfc822`).
    pub returned_headers: Option<String>,
}

impl Mail {
    /// The first header called `name` (case does not matter).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn subject(&self) -> &str {
        self.header("Subject").unwrap_or_default()
    }
}

/// Read a mail.
pub fn parse(raw: &[u8]) -> Mail {
    let mut mail = Mail::default();
    let (head, body) = split_head(raw);
    mail.headers = headers(head);
    let mut parts = 0;
    walk(&mail.headers.clone(), body, 0, &mut parts, &mut mail);
    mail
}

/// Headers and body: the first empty line ends the headers.
fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"\r\n\r\n") {
            return (&raw[..i], &raw[i + 4..]);
        }
        if raw[i..].starts_with(b"\n\n") {
            return (&raw[..i], &raw[i + 2..]);
        }
        // A mail that starts with the empty line has no headers.
        if i == 0 && (raw.starts_with(b"\r\n") || raw.starts_with(b"\n")) {
            let skip = if raw.starts_with(b"\r\n") { 2 } else { 1 };
            return (&raw[..0], &raw[skip..]);
        }
        i += 1;
    }
    (raw, &raw[raw.len()..])
}

/// Unfolded, decoded headers. Raw 8-bit header bytes (not allowed, but sent) are read as
/// UTF-8 when they are, else as GB18030, the usual case in Chinese mail.
fn headers(head: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let text = bytes_to_text(line);
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, v)) = out.last_mut() {
                v.push_str(&text);
            }
            continue;
        }
        if let Some((name, value)) = text.split_once(':') {
            out.push((name.trim().to_owned(), value.trim_start().to_owned()));
        }
    }
    for (_, v) in &mut out {
        *v = decode_words(v.trim());
    }
    out
}

fn bytes_to_text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::GB18030
            .decode_without_bom_handling(b)
            .0
            .into_owned(),
    }
}

/// Text in a named charset; an unknown charset is read as UTF-8 (lossy). GB2312 and GBK are
/// read as GB18030, their superset, since mailers label GBK text GB2312 all the time.
pub fn decode_charset(bytes: &[u8], charset: &str) -> String {
    let label = charset.trim().trim_matches('"').to_ascii_lowercase();
    let encoding = match label.as_str() {
        "gb2312" | "gbk" | "gb18030" | "x-gbk" | "cp936" | "euc-cn" => Some(encoding_rs::GB18030),
        "" | "us-ascii" | "ascii" => Some(encoding_rs::UTF_8),
        other => encoding_rs::Encoding::for_label(other.as_bytes()),
    };
    match encoding {
        Some(e) => e.decode(bytes).0.into_owned(),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// RFC 2047: `=?charset?B|Q?text?=` words decoded; white space between two encoded words is
/// dropped, any other kept.
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    loop {
        let Some(start) = rest.find("=?") else {
            out.push_str(rest);
            break;
        };
        let (before, from) = rest.split_at(start);
        match encoded_word(from) {
            Some((decoded, used)) => {
                if !(last_was_word && before.chars().all(char::is_whitespace)) {
                    out.push_str(before);
                }
                out.push_str(&decoded);
                rest = &from[used..];
                last_was_word = true;
            }
            None => {
                // Not an encoded word: "=?" is text.
                out.push_str(before);
                out.push_str("=?");
                rest = &from[2..];
                last_was_word = false;
            }
        }
    }
    out
}

/// One encoded word at the start of `s`: its text and how many bytes it took.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, rest) = inner.split_once('?')?;
    let (enc, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if charset.is_empty() || charset.contains(char::is_whitespace) || text.contains(' ') {
        return None;
    }
    let used = 2 + charset.len() + 1 + enc.len() + 1 + end + 2;
    // RFC 2231 language suffix: `utf-8*zh-CN`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let bytes = match enc {
        "B" | "b" => lenient_base64(text.as_bytes()),
        "Q" | "q" => quoted_printable(text.replace('_', " ").as_bytes()),
        _ => return None,
    };
    Some((decode_charset(&bytes, charset), used))
}

/// Base64 that skips anything outside its alphabet (line breaks, spaces) and copes with
/// missing padding.
fn lenient_base64(input: &[u8]) -> Vec<u8> {
    let mut clean: Vec<u8> = input
        .iter()
        .copied()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    // A dangling single character carries no whole byte.
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&clean)
        .unwrap_or_default()
}

/// Quoted-printable, leniently: soft line breaks joined, a bad `=XY` kept as written.
fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let hex = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c != b'=' {
            out.push(c);
            i += 1;
            continue;
        }
        let rest = &input[i + 1..];
        if rest.starts_with(b"\r\n") {
            i += 3;
        } else if rest.starts_with(b"\n") {
            i += 2;
        } else if let (Some(a), Some(b)) = (
            rest.first().copied().and_then(hex),
            rest.get(1).copied().and_then(hex),
        ) {
            out.push(a * 16 + b);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// A Content-Type: the lower-case `type/subtype` and its parameters (names lower case).
fn content_type(value: Option<&str>) -> (String, Vec<(String, String)>) {
    let value = value.unwrap_or("text/plain");
    let mut pieces = split_params(value).into_iter();
    let kind = pieces
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let params = pieces
        .filter_map(|p| {
            let (n, v) = p.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((n.trim().to_ascii_lowercase(), v.replace("\\\"", "\"")))
        })
        .collect();
    let kind = if kind.contains('/') {
        kind
    } else {
        "text/plain".to_owned()
    };
    (kind, params)
}

/// Split at `;` outside quotes.
fn split_params(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The body bytes after its Content-Transfer-Encoding.
fn transfer_decoded(headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let cte = header_of(headers, "Content-Transfer-Encoding")
        .unwrap_or("7bit")
        .trim()
        .to_ascii_lowercase();
    match cte.as_str() {
        "base64" => lenient_base64(body),
        "quoted-printable" => quoted_printable(body),
        _ => body.to_vec(),
    }
}

/// Visit a part: keep the first readable text, note reports and their parts.
fn walk(
    headers: &[(String, String)],
    body: &[u8],
    depth: usize,
    parts: &mut usize,
    mail: &mut Mail,
) {
    *parts += 1;
    if depth > MAX_DEPTH || *parts > MAX_PARTS {
        return;
    }
    let (kind, params) = content_type(header_of(headers, "Content-Type"));
    let charset = param(&params, "charset").unwrap_or("utf-8").to_owned();
    if let Some(sub) = kind.strip_prefix("multipart/") {
        if sub == "report" {
            mail.is_report = true;
        }
        let Some(boundary) = param(&params, "boundary") else {
            return;
        };
        let children = split_multipart(body, boundary.as_bytes());
        // multipart/alternative lists the same text in rising fidelity: plain comes first.
        for child in children {
            let (h, b) = split_head(child);
            let h = self::headers(h);
            walk(&h, b, depth + 1, parts, mail);
        }
        return;
    }
    let disposition = header_of(headers, "Content-Disposition")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let attachment = disposition.starts_with("attachment");
    match kind.as_str() {
        "message/delivery-status" | "message/global-delivery-status" => {
            let text = decode_charset(&transfer_decoded(headers, body), "utf-8");
            mail.delivery_status.get_or_insert(text);
        }
        "text/rfc822-headers" | "message/rfc822-headers" => {
            let text = decode_charset(&transfer_decoded(headers, body), &charset);
            mail.returned_headers.get_or_insert(text);
        }
        "message/rfc822" | "message/global" => {
            let inner = transfer_decoded(headers, body);
            let (h, _) = split_head(&inner);
            mail.returned_headers
                .get_or_insert_with(|| bytes_to_text(h));
        }
        "text/plain" if !attachment && mail.text.is_empty() => {
            mail.text = decode_charset(&transfer_decoded(headers, body), &charset);
        }
        "text/html" if !attachment && mail.text.is_empty() => {
            let html = decode_charset(&transfer_decoded(headers, body), &charset);
            mail.text = html_to_text(&html);
        }
        _ => {}
    }
}

/// The parts between `--boundary` lines, up to the closing `--boundary--`.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    while pos <= body.len() {
        let line_end = body[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(body.len(), |i| pos + i);
        let line = &body[pos..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(&delimiter) {
            let tail = &line[delimiter.len()..];
            if let Some(s) = start {
                // The line break before the delimiter belongs to it.
                let mut end = pos;
                if end > s && body[end - 1] == b'\n' {
                    end -= 1;
                    if end > s && body[end - 1] == b'\r' {
                        end -= 1;
                    }
                }
                out.push(&body[s..end]);
                if out.len() >= MAX_PARTS {
                    return out;
                }
            }
            if tail.starts_with(b"--") {
                return out;
            }
            start = Some((line_end + 1).min(body.len()));
        }
        if line_end >= body.len() {
            break;
        }
        pos = line_end + 1;
    }
    // No closing delimiter: what was open is still a part.
    if let Some(s) = start
        && s < body.len()
    {
        out.push(&body[s..]);
    }
    out
}

/// HTML as plain text: tags dropped, line breaks for blocks, the common entities read.
fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let mut tag = String::new();
    let mut skip = false;
    for c in html.chars() {
        if in_tag {
            if c == '>' {
                in_tag = false;
                let t = tag.trim().to_ascii_lowercase();
                let name = t
                    .trim_start_matches('/')
                    .split_whitespace()
                    .next()
                    .unwrap_or("");
                if matches!(name, "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3") {
                    out.push('\n');
                }
                if name == "style" || name == "script" {
                    skip = !t.starts_with('/');
                }
                tag.clear();
            } else {
                tag.push(c);
            }
        } else if c == '<' {
            in_tag = true;
        } else if !skip {
            out.push(c);
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_in_utf8_and_gb2312_are_read() {
        assert_eq!(
            decode_words("=?UTF-8?B?5Zue5aSN77ya?= =?UTF-8?B?57qi5qW85qKm?= [ILL:x]"),
            "回复：红楼梦 [ILL:x]"
        );
        // "回复" in GB2312, base64 and Q.
        let gb = encoding_rs::GB18030.encode("回复").0.into_owned();
        let b = base64::engine::general_purpose::STANDARD.encode(&gb);
        assert_eq!(decode_words(&format!("=?gb2312?B?{b}?= Re")), "回复 Re");
        let q: String = gb.iter().map(|c| format!("={c:02X}")).collect();
        assert_eq!(decode_words(&format!("Re: =?GBK?Q?{q}?=")), "Re: 回复");
        assert_eq!(
            decode_words("=?iso-8859-1?q?caf=E9_au_lait?="),
            "café au lait"
        );
        assert_eq!(decode_words("plain =? text"), "plain =? text");
    }

    #[test]
    fn a_multipart_mail_in_gbk_quoted_printable_is_read() {
        let text = encoding_rs::GB18030
            .encode("可以提供，已寄出。")
            .0
            .into_owned();
        let qp: String = text.iter().map(|c| format!("={c:02X}")).collect();
        let raw = format!(
            "From: a@b.example\r\nSubject: =?GB2312?B?{}?=\r\nContent-Type: multipart/alternative; boundary=\"xx\"\r\n\r\npreamble\r\n--xx\r\nContent-Type: text/plain; charset=GB2312\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp}\r\n--xx\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--xx--\r\n",
            base64::engine::general_purpose::STANDARD.encode(encoding_rs::GB18030.encode("答复").0)
        );
        let m = parse(raw.as_bytes());
        assert_eq!(m.subject(), "答复");
        assert_eq!(m.text, "可以提供，已寄出。");
    }

    #[test]
    fn a_bounce_report_gives_its_status_and_returned_headers() {
        let raw = "From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nI'm sorry.\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; ill@gone.example\r\nStatus: 5.1.1\r\n--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: x [ILL:abc.1]\r\n--b1--\r\n";
        let m = parse(raw.as_bytes());
        assert!(m.is_report);
        assert_eq!(m.text, "I'm sorry.");
        assert!(m.delivery_status.unwrap().contains("5.1.1"));
        assert!(m.returned_headers.unwrap().contains("[ILL:abc.1]"));
    }

    #[test]
    fn base64_html_and_missing_headers_are_handled() {
        let html =
            base64::engine::general_purpose::STANDARD.encode("<div>Hello<br>world &amp; co</div>");
        let raw = format!(
            "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{html}\n"
        );
        assert_eq!(parse(raw.as_bytes()).text.trim(), "Hello\nworld & co");
        assert_eq!(parse(b"").text, "");
        assert_eq!(parse(b"no header line at all").headers.len(), 0);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_mail(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = parse(&raw);
        }

        #[test]
        fn any_header_text_decodes(s in "(=\\?[a-zA-Z0-9*-]{0,8}\\?[bBqQx]?\\?[ -~]{0,20}\\?=| |[ -~]{0,10}){0,6}") {
            let _ = decode_words(&s);
        }
    }
}
