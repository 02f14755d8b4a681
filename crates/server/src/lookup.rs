//! Filling in a request from an identifier the reader typed: an ISBN from the union catalog
//! first, then from a Crossref-style service; a DOI from the Crossref-style service; a PMID from
//! a PubMed (E-utilities esummary) style service. The services' base URLs are settings
//! (`crossref_url`, `pubmed_url`; empty turns one off), so a library can point them at a
//! mirror or a proxy, and tests at a local fake.

use std::sync::OnceLock;
use std::time::Duration;

use domain::citation::{CitationInput, RequestFormat};
use domain::ident::{Doi, Isbn, Pmid};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;

/// An identifier recognised in what was typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    Doi(Doi),
    Pmid(Pmid),
    Isbn(Isbn),
}

impl Identifier {
    /// `doi`, `pmid` or `isbn`.
    pub fn kind(&self) -> &'static str {
        match self {
            Identifier::Doi(_) => "doi",
            Identifier::Pmid(_) => "pmid",
            Identifier::Isbn(_) => "isbn",
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Identifier::Doi(d) => d.as_str(),
            Identifier::Pmid(p) => p.as_str(),
            Identifier::Isbn(i) => i.as_str(),
        }
    }
}

/// Strips `prefix` from the start of `s`, ignoring ASCII case.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s[prefix.len()..].trim_start())
}

/// What the reader typed, as a DOI, PMID or ISBN. Accepts the forms people paste: a DOI link
/// (`https://doi.org/10.…`), `doi:10.…`, `PMID: 123`, `ISBN 978-…`, or the bare identifier
/// (a DOI starts with `10.`; ten or thirteen digits with a valid check digit are an ISBN; up to
/// nine digits a PMID).
pub fn recognise(text: &str) -> Result<Identifier, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("type a DOI, a PMID or an ISBN".to_owned());
    }
    for prefix in [
        "https://doi.org/",
        "http://doi.org/",
        "https://dx.doi.org/",
        "http://dx.doi.org/",
        "doi.org/",
        "doi:",
        "doi ",
    ] {
        if let Some(rest) = strip_prefix_ci(t, prefix) {
            return Doi::parse(rest)
                .map(Identifier::Doi)
                .map_err(|e| format!("{rest:?} is not a DOI: {e}"));
        }
    }
    for prefix in ["pmid:", "pmid "] {
        if let Some(rest) = strip_prefix_ci(t, prefix) {
            return Pmid::parse(rest)
                .map(Identifier::Pmid)
                .map_err(|e| format!("{rest:?} is not a PMID: {e}"));
        }
    }
    for prefix in ["isbn:", "isbn "] {
        if let Some(rest) = strip_prefix_ci(t, prefix) {
            return Isbn::parse(rest)
                .map(Identifier::Isbn)
                .map_err(|e| format!("{rest:?} is not an ISBN: {e}"));
        }
    }
    if t.starts_with("10.") {
        return Doi::parse(t)
            .map(Identifier::Doi)
            .map_err(|e| format!("{t:?} looks like a DOI but is not one: {e}"));
    }
    let digits: String = t
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{2010}'..='\u{2015}'))
        .collect();
    if (digits.len() == 10 || digits.len() == 13)
        && let Ok(isbn) = Isbn::parse(&digits)
    {
        return Ok(Identifier::Isbn(isbn));
    }
    if !digits.is_empty() && digits.len() <= 9 && digits.chars().all(|c| c.is_ascii_digit()) {
        return Pmid::parse(&digits)
            .map(Identifier::Pmid)
            .map_err(|e| format!("{t:?} is not a PMID: {e}"));
    }
    Err(format!(
        "{t:?} is neither a DOI (10.…), a PMID (digits) nor an ISBN (10 or 13 digits with a valid check digit)"
    ))
}

/// A citation found for an identifier, and where it was found.
#[derive(Debug, Clone)]
pub struct Found {
    pub identifier: Identifier,
    /// `catalog`, `crossref` or `pubmed`.
    pub source: &'static str,
    pub format: RequestFormat,
    pub citation: CitationInput,
}

/// Why nothing could be filled in.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LookupError {
    #[error("{0}")]
    Unrecognised(String),
    #[error("no record of {kind} {id} was found ({searched})")]
    NotFound {
        kind: &'static str,
        id: String,
        /// Where we looked, e.g. "union catalog, Crossref".
        searched: String,
    },
    #[error("{service} could not be asked about {id}: {detail}")]
    Service {
        service: &'static str,
        id: String,
        detail: String,
    },
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        let (status, code) = match &e {
            LookupError::Unrecognised(_) => (400, "unrecognised_identifier"),
            LookupError::NotFound { .. } => (404, "identifier_not_found"),
            LookupError::Service { .. } => (502, "lookup_service_failed"),
        };
        ApiError::Unacceptable(status, code, e.to_string())
    }
}

/// The shared client for outside services (bibliographic lookups, open access); a request
/// that needs a shorter wait sets its own timeout.
pub(crate) fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(8))
        .connect_timeout(Duration::from_secs(4))
        .user_agent(concat!("librelay/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(CLIENT.get_or_init(|| c))
}

/// Look `text` up: recognise it, then ask the sources in order.
pub async fn lookup(st: &AppState, text: &str) -> Result<Found, LookupError> {
    let id = recognise(text).map_err(LookupError::Unrecognised)?;
    let crossref = st
        .config
        .crossref_url
        .trim()
        .trim_end_matches('/')
        .to_owned();
    let pubmed = st.config.pubmed_url.trim().trim_end_matches('/').to_owned();
    let mut searched = Vec::new();
    match &id {
        Identifier::Isbn(isbn) => {
            searched.push("union catalog");
            if let Some(found) = from_catalog(st, isbn).await? {
                return Ok(found);
            }
            if !crossref.is_empty() {
                searched.push("Crossref");
                let url = format!("{crossref}/works?rows=1&filter=isbn:{}", isbn.as_isbn13());
                let body = get_json("Crossref", &id, &url).await?;
                let item = body
                    .pointer("/message/items/0")
                    .filter(|v| v.is_object())
                    .cloned();
                if let Some(item) = item {
                    return Ok(from_crossref(id.clone(), &item));
                }
            }
        }
        Identifier::Doi(doi) => {
            if !crossref.is_empty() {
                searched.push("Crossref");
                let url = format!("{crossref}/works/{}", encode_path(doi.as_str()));
                let body = get_json("Crossref", &id, &url).await?;
                if let Some(item) = body.get("message").filter(|v| v.is_object()) {
                    return Ok(from_crossref(id.clone(), item));
                }
            }
        }
        Identifier::Pmid(pmid) => {
            if !pubmed.is_empty() {
                searched.push("PubMed");
                let url = format!(
                    "{pubmed}/esummary.fcgi?db=pubmed&retmode=json&id={}",
                    pmid.as_str()
                );
                let body = get_json("PubMed", &id, &url).await?;
                if let Some(found) = from_pubmed(id.clone(), &body) {
                    return Ok(found);
                }
            }
        }
    }
    Err(LookupError::NotFound {
        kind: id.kind(),
        id: id.as_str().to_owned(),
        searched: if searched.is_empty() {
            "no lookup service is configured for it".to_owned()
        } else {
            format!("searched: {}", searched.join(", "))
        },
    })
}

/// Percent-encodes what a path segment may not hold (DOIs contain `/`, `<`, `#`, …).
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:;()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GET `url` as JSON. 404 is "not there" (an empty object), anything else unexpected an error.
async fn get_json(service: &'static str, id: &Identifier, url: &str) -> Result<Value, LookupError> {
    let fail = |detail: String| LookupError::Service {
        service,
        id: id.as_str().to_owned(),
        detail,
    };
    let client = client().map_err(fail)?;
    let resp = client
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| fail(format!("no answer ({e})")))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    if !status.is_success() {
        return Err(fail(format!("it answered HTTP {}", status.as_u16())));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| fail(format!("the answer broke off ({e})")))?;
    if bytes.len() > 4 * 1024 * 1024 {
        return Err(fail("the answer is larger than 4 MiB".to_owned()));
    }
    serde_json::from_slice(&bytes).map_err(|e| fail(format!("the answer is not JSON ({e})")))
}

async fn from_catalog(st: &AppState, isbn: &Isbn) -> Result<Option<Found>, LookupError> {
    let index = st.catalog.clone();
    let q = isbn.as_isbn13().to_owned();
    // A broken index is logged and the next source asked, rather than the lookup failing.
    let page = match tokio::task::spawn_blocking(move || index.search(&q, 1, 1)).await {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "union catalog search failed during an ISBN lookup");
            return Ok(None);
        }
        Err(e) => {
            tracing::warn!(error = %e, "union catalog search task failed during an ISBN lookup");
            return Ok(None);
        }
    };
    let Some(hit) = page.hits.into_iter().next() else {
        return Ok(None);
    };
    let records = st
        .store
        .union_records(std::slice::from_ref(&hit.record_id))
        .await
        .map_err(|e| LookupError::Service {
            service: "the union catalog",
            id: isbn.as_str().to_owned(),
            detail: e.to_string(),
        })?;
    let Some(u) = records.into_iter().next() else {
        return Ok(None);
    };
    let r = u.record;
    let citation = CitationInput {
        title: Some(r.title_vernacular.clone().unwrap_or(r.title)),
        author: r.author_vernacular.clone().or(r.author),
        publisher: r.publisher,
        year: r.year,
        isbn: Some(isbn.as_str().to_owned()),
        oclc_number: r.oclc_number,
        language: r.language,
        ..CitationInput::default()
    };
    Ok(Some(Found {
        identifier: Identifier::Isbn(isbn.clone()),
        source: "catalog",
        format: RequestFormat::Loan,
        citation,
    }))
}

/// Text without markup (Crossref titles carry JATS tags such as `<i>`), spaces collapsed.
fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn text(v: &Value, key: &str) -> Option<String> {
    let s = match v.get(key)? {
        Value::String(s) => plain(s),
        Value::Array(a) => plain(a.iter().find_map(Value::as_str)?),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// How many authors a citation names before "et al.".
const MAX_AUTHORS: usize = 5;

fn from_crossref(identifier: Identifier, m: &Value) -> Found {
    let format = match m.get("type").and_then(Value::as_str).unwrap_or_default() {
        "book" | "monograph" | "edited-book" | "reference-book" | "book-set" => RequestFormat::Loan,
        "book-chapter" | "book-section" | "book-part" | "reference-entry" => {
            RequestFormat::ChapterCopy
        }
        _ => RequestFormat::ArticleCopy,
    };
    let authors: Vec<String> = m
        .get("author")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(
                    |p| match (text(p, "family"), text(p, "given"), text(p, "name")) {
                        (Some(f), Some(g), _) => Some(format!("{f}, {g}")),
                        (Some(f), None, _) => Some(f),
                        (None, _, Some(n)) => Some(n),
                        _ => None,
                    },
                )
                .collect()
        })
        .unwrap_or_default();
    let year = ["published-print", "published-online", "issued", "published"]
        .iter()
        .find_map(|k| m.pointer(&format!("/{k}/date-parts/0/0"))?.as_i64())
        .map(|y| y.to_string());
    let mut citation = CitationInput {
        title: text(m, "title"),
        author: join_authors(&authors),
        source_title: text(m, "container-title"),
        volume: text(m, "volume"),
        issue: text(m, "issue"),
        pages: text(m, "page"),
        year,
        publisher: text(m, "publisher"),
        issn: text(m, "ISSN"),
        isbn: text(m, "ISBN"),
        doi: text(m, "DOI"),
        ..CitationInput::default()
    };
    if let Identifier::Doi(d) = &identifier {
        citation.doi = Some(d.as_str().to_owned());
    }
    if let Identifier::Isbn(i) = &identifier {
        citation.isbn = Some(i.as_str().to_owned());
    }
    if format == RequestFormat::Loan {
        // A book's "container" is its series; the book itself is the title.
        citation.source_title = None;
    }
    Found {
        identifier,
        source: "crossref",
        format,
        citation,
    }
}

fn join_authors(authors: &[String]) -> Option<String> {
    match authors.len() {
        0 => None,
        n if n > MAX_AUTHORS => Some(format!("{} et al.", authors[..MAX_AUTHORS].join("; "))),
        _ => Some(authors.join("; ")),
    }
}

fn from_pubmed(identifier: Identifier, body: &Value) -> Option<Found> {
    let uid = identifier.as_str().to_owned();
    let m = body.pointer(&format!("/result/{uid}"))?;
    if m.get("error").is_some() || text(m, "title").is_none() {
        return None;
    }
    let authors: Vec<String> = m
        .get("authors")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|p| text(p, "name")).collect())
        .unwrap_or_default();
    let year = text(m, "pubdate")
        .or_else(|| text(m, "epubdate"))
        .and_then(|d| d.get(..4).map(str::to_owned))
        .filter(|y| y.chars().all(|c| c.is_ascii_digit()));
    let doi = m
        .get("articleids")
        .and_then(Value::as_array)
        .and_then(|ids| {
            ids.iter()
                .find(|i| i.get("idtype").and_then(Value::as_str) == Some("doi"))
        })
        .and_then(|i| text(i, "value"));
    let citation = CitationInput {
        title: text(m, "title").map(|t| t.trim_end_matches('.').to_owned()),
        author: join_authors(&authors),
        source_title: text(m, "fulljournalname").or_else(|| text(m, "source")),
        volume: text(m, "volume"),
        issue: text(m, "issue"),
        pages: text(m, "pages"),
        year,
        issn: text(m, "issn").or_else(|| text(m, "essn")),
        doi,
        pmid: Some(uid),
        ..CitationInput::default()
    };
    Some(Found {
        identifier,
        source: "pubmed",
        format: RequestFormat::ArticleCopy,
        citation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_identifiers_are_recognised() {
        let kind = |s: &str| recognise(s).map(|i| i.kind());
        assert_eq!(kind("10.1038/nature12373"), Ok("doi"));
        assert_eq!(kind("https://doi.org/10.1038/nature12373"), Ok("doi"));
        assert_eq!(kind("doi:10.1038/nature12373"), Ok("doi"));
        assert_eq!(kind("DOI: 10.1038/nature12373"), Ok("doi"));
        assert_eq!(kind("PMID: 23903748"), Ok("pmid"));
        assert_eq!(kind("23903748"), Ok("pmid"));
        assert_eq!(kind("978-7-02-000220-7"), Ok("isbn"));
        assert_eq!(kind("ISBN 0-306-40615-2"), Ok("isbn"));
        assert_eq!(kind("0306406152"), Ok("isbn"));
        // Wrong check digit: not an ISBN, too long for a PMID.
        assert!(recognise("0306406153").is_err());
        assert!(recognise("").is_err());
        assert!(recognise("hello").is_err());
    }

    #[test]
    fn crossref_records_become_citations() {
        let m: Value = serde_json::json!({
            "DOI": "10.1000/xyz123", "type": "journal-article",
            "title": ["On <i>Drosophila</i>  wings"],
            "author": [{"given": "Ada", "family": "Lovelace"}, {"name": "The Consortium"}],
            "container-title": ["Journal of Things"], "volume": "12", "issue": "3",
            "page": "45-67", "ISSN": ["1234-5679"], "publisher": "Pub",
            "issued": {"date-parts": [[2019, 4]]},
            "published-print": {"date-parts": [[2020]]}
        });
        let id = recognise("10.1000/xyz123").unwrap();
        let f = from_crossref(id, &m);
        assert_eq!(f.format, RequestFormat::ArticleCopy);
        assert_eq!(f.citation.title.as_deref(), Some("On Drosophila wings"));
        assert_eq!(
            f.citation.author.as_deref(),
            Some("Lovelace, Ada; The Consortium")
        );
        assert_eq!(f.citation.year.as_deref(), Some("2020"));
        assert_eq!(f.citation.pages.as_deref(), Some("45-67"));
        assert_eq!(f.citation.issn.as_deref(), Some("1234-5679"));
    }

    #[test]
    fn pubmed_summaries_become_citations_and_errors_are_not_found() {
        let body: Value = serde_json::json!({"result": {"uids": ["123"], "123": {
            "title": "A study.", "authors": [{"name": "Smith J"}, {"name": "Li W"}],
            "source": "J Biol", "fulljournalname": "Journal of Biology",
            "volume": "5", "issue": "", "pages": "1-9", "pubdate": "2021 May 3",
            "issn": "", "essn": "1234-5679",
            "articleids": [{"idtype": "pubmed", "value": "123"}, {"idtype": "doi", "value": "10.1/abc"}]
        }}});
        let f = from_pubmed(recognise("123").unwrap(), &body).unwrap();
        assert_eq!(f.citation.title.as_deref(), Some("A study"));
        assert_eq!(f.citation.author.as_deref(), Some("Smith J; Li W"));
        assert_eq!(f.citation.year.as_deref(), Some("2021"));
        assert_eq!(f.citation.issue, None);
        assert_eq!(f.citation.issn.as_deref(), Some("1234-5679"));
        assert_eq!(f.citation.doi.as_deref(), Some("10.1/abc"));
        let missing: Value = serde_json::json!({"result": {"uids": ["9"], "9": {"uid": "9", "error": "cannot get document summary"}}});
        assert!(from_pubmed(recognise("9").unwrap(), &missing).is_none());
    }
}
