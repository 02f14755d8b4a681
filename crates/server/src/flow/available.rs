//! "Available already?" before a copy request goes to a lender: the library's licensed
//! e-resources (imported from KBART) and open access (an Unpaywall-style service asked by
//! DOI). What is found is kept with the request as a review flag with its reasons; the reader
//! sees the link on their request, and staff fill the request from it or send it on. Also the
//! trusted sender: a copy from a partner the library trusts goes straight to the reader.

use std::time::Duration;

use domain::citation::{Citation, RequestFormat};
use domain::kbart::{self, Said, Wanted};
use domain::requester::{BorrowAction, BorrowState};
use serde::Deserialize;
use store::{Availability, BorrowRequest, Json, NewEvent, Tx};
use time::{Date, OffsetDateTime};

use super::borrow::{Extra, apply_borrow, visible_borrow};
use super::copyright::Creator;
use super::{Acting, FlowError, Touched};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::letters::LetterKind;

/// A place a new request was found available (or could not be checked), before it is stored.
#[derive(Debug, Clone)]
pub struct Flag {
    /// `licensed` or `open_access`.
    pub source: &'static str,
    /// `available`, `unchecked`, or `embargoed` (licensed, but the article is under the
    /// title's moving wall until `facts.embargo_until`).
    pub status: &'static str,
    pub url: Option<String>,
    pub reasons: Vec<Said>,
    /// What was matched (package, title, licence, version…).
    pub facts: serde_json::Value,
}

impl Flag {
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }
}

/// Run both checks for a new request. Neither fails the request: a store error reading the
/// licences or an unreachable open-access service is logged, and the latter flagged.
pub async fn check(
    st: &AppState,
    library_id: &str,
    format: RequestFormat,
    c: &Citation,
) -> Vec<Flag> {
    if !format.is_copy() {
        return Vec::new();
    }
    let mut out = Vec::new();
    // A licence's dates and an embargo's end are read against the library's own day.
    let today = match st.store.library(library_id).await {
        Ok(l) => l.offset().date(st.now()),
        Err(e) => {
            tracing::warn!(error = %e, library_id, "the library's time could not be read");
            return out;
        }
    };
    match licensed(st, library_id, format, c, today).await {
        Ok(Some(f)) => out.push(f),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, library_id, "licensed e-resources could not be read"),
    }
    if let Some(f) = open_access(st, c).await {
        out.push(f);
    }
    out
}

/// The library's licensed title that covers the article or chapter, if any: matched by ISSN
/// or eISSN (ISBN for a chapter), else by normalised journal title; its dates, volumes and
/// embargo must cover the citation's year and volume.
pub async fn licensed(
    st: &AppState,
    library_id: &str,
    format: RequestFormat,
    c: &Citation,
    today: Date,
) -> Result<Option<Flag>, store::StoreError> {
    let mut ids = Vec::new();
    if let Some(issn) = &c.issn {
        ids.push(issn.to_string());
    }
    if format == RequestFormat::ChapterCopy
        && let Some(isbn) = &c.isbn
    {
        ids.push(isbn.as_isbn13().to_owned());
    }
    let key = c
        .source_title
        .as_deref()
        .map(kbart::title_key)
        .filter(|k| !k.is_empty());
    let matches = st
        .store
        .licensed_titles_for(library_id, &ids, key.as_deref())
        .await?;
    let wanted = Wanted {
        year: domain::copyright::publication_year(c),
        volume: c.volume.as_deref(),
    };
    // A licensed title that would cover the article but for its embargo: said (with the day it
    // lifts) when no other title covers it.
    let mut embargoed: Option<Flag> = None;
    for m in matches {
        let t = &m.coverage.0;
        let by_id = ids
            .iter()
            .find(|id| t.print_id.as_ref() == Some(*id) || t.online_id.as_ref() == Some(*id));
        let matched = match by_id {
            Some(id) => Said {
                en: format!("{id} is licensed as “{}” in package {}", t.title, m.package),
                zh: format!("{id} 对应本馆资源包 {} 中的《{}》", m.package, t.title),
            },
            None => Said {
                en: format!(
                    "the journal title matches “{}” in package {} (no ISSN match)",
                    t.title, m.package
                ),
                zh: format!(
                    "刊名与本馆资源包 {} 中的《{}》一致（ISSN 未匹配）",
                    m.package, t.title
                ),
            },
        };
        match kbart::covers(t, wanted, today) {
            Ok(reasons) => {
                let mut all = vec![matched];
                all.extend(reasons);
                return Ok(Some(Flag {
                    source: "licensed",
                    status: "available",
                    url: Some(t.url.clone()),
                    reasons: all,
                    facts: serde_json::json!({
                        "package": m.package, "title": t.title, "line": t.line,
                        "print_id": t.print_id, "online_id": t.online_id,
                        "embargo": t.embargo, "matched_by": if by_id.is_some() { "issn" } else { "title" },
                    }),
                }));
            }
            Err(why) => {
                tracing::debug!(package = %m.package, title = %t.title, why = %why.en, "licensed title does not cover the citation");
                if embargoed.is_none()
                    && let Some(until) = kbart::embargo_lifts(t, wanted, today)
                {
                    embargoed = Some(Flag {
                        source: "licensed",
                        status: "embargoed",
                        url: Some(t.url.clone()),
                        reasons: vec![
                            matched,
                            why,
                            Said {
                                en: format!("licensed, but under embargo until {until}"),
                                zh: format!("本馆已订购，但该文处于封锁期，{until} 起可获取"),
                            },
                        ],
                        facts: serde_json::json!({
                            "package": m.package, "title": t.title, "line": t.line,
                            "print_id": t.print_id, "online_id": t.online_id,
                            "embargo": t.embargo, "embargo_until": until.to_string(),
                            "matched_by": if by_id.is_some() { "issn" } else { "title" },
                        }),
                    });
                }
            }
        }
    }
    Ok(embargoed)
}

/// A DOI as a path of the service's URL: its `/` kept, everything but unreserved characters
/// percent-encoded.
fn doi_path(doi: &str) -> String {
    let mut out = String::new();
    for b in doi.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/;:()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the open-access service answered, as far as it concerns us.
#[derive(Debug, Deserialize)]
struct OaAnswer {
    #[serde(default)]
    is_oa: Option<bool>,
    #[serde(default)]
    best_oa_location: Option<OaLocation>,
}

#[derive(Debug, Deserialize)]
struct OaLocation {
    #[serde(default)]
    url_for_pdf: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    host_type: Option<String>,
}

fn unchecked(doi: &str, detail: String) -> Flag {
    tracing::warn!(doi, detail = %detail, "open access could not be checked");
    Flag {
        source: "open_access",
        status: "unchecked",
        url: None,
        reasons: vec![Said {
            en: format!("the open-access service could not be asked about DOI {doi}: {detail}"),
            zh: format!("未能向开放获取服务查询 DOI {doi}：{detail}"),
        }],
        facts: serde_json::json!({ "doi": doi }),
    }
}

/// Ask the open-access service (`open_access_url`; off when empty) about the citation's DOI:
/// `GET {url}/{doi}?email={open_access_email}`, answered in Unpaywall's shape. A free copy is
/// a flag with its link; no free copy, or a DOI the service does not know, is none; a service
/// that fails or is slower than `open_access_timeout_ms` is an `unchecked` flag.
pub async fn open_access(st: &AppState, c: &Citation) -> Option<Flag> {
    let base = st.config.open_access_url.trim().trim_end_matches('/');
    let doi = c.doi.as_ref()?.as_str();
    if base.is_empty() {
        return None;
    }
    let client = match crate::lookup::client() {
        Ok(c) => c,
        Err(e) => return Some(unchecked(doi, format!("no HTTP client ({e})"))),
    };
    let mut url = format!("{base}/{}", doi_path(doi));
    let email = st.config.open_access_email.trim();
    if !email.is_empty() {
        url.push_str("?email=");
        url.push_str(&doi_path(email).replace('/', "%2F"));
    }
    let timeout = Duration::from_millis(st.config.open_access_timeout_ms.clamp(100, 30_000));
    let resp = match client.get(&url).timeout(timeout).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Some(unchecked(
                doi,
                format!("no answer within {} ms", timeout.as_millis()),
            ));
        }
        Err(e) => return Some(unchecked(doi, format!("request failed ({e})"))),
    };
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    if !status.is_success() {
        return Some(unchecked(doi, format!("HTTP status {}", status.as_u16())));
    }
    let answer: OaAnswer = match tokio::time::timeout(timeout, resp.json()).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return Some(unchecked(doi, format!("unreadable answer ({e})"))),
        Err(_) => {
            return Some(unchecked(
                doi,
                format!("no answer within {} ms", timeout.as_millis()),
            ));
        }
    };
    let loc = answer.best_oa_location?;
    let link = loc
        .url_for_pdf
        .clone()
        .or(loc.url.clone())
        .map(|u| u.trim().to_owned())
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))?;
    if answer.is_oa == Some(false) {
        return None;
    }
    let licence = loc.license.clone().unwrap_or_default();
    let version = loc.version.clone().unwrap_or_default();
    let mut reasons = vec![Said {
        en: format!(
            "DOI {doi} has a free copy{}",
            loc.host_type
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default()
        ),
        zh: format!(
            "DOI {doi} 有可免费获取的版本{}",
            loc.host_type
                .as_deref()
                .map(|h| format!("（{h}）"))
                .unwrap_or_default()
        ),
    }];
    if !version.is_empty() {
        let zh = match version.as_str() {
            "publishedVersion" => "出版社正式版",
            "acceptedVersion" => "录用稿（作者终稿）",
            "submittedVersion" => "投稿稿（预印本）",
            other => other,
        };
        reasons.push(Said {
            en: format!("version: {version}"),
            zh: format!("版本：{zh}"),
        });
    }
    if !licence.is_empty() {
        reasons.push(Said {
            en: format!("licence: {licence}"),
            zh: format!("许可协议：{licence}"),
        });
    }
    Some(Flag {
        source: "open_access",
        status: "available",
        url: Some(link),
        reasons,
        facts: serde_json::json!({
            "doi": doi, "license": loc.license, "version": loc.version,
            "host_type": loc.host_type, "url_for_pdf": loc.url_for_pdf, "url": loc.url,
        }),
    })
}

/// Keep the flags of a request just inserted, each with its event, in its transaction.
pub async fn record(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    library_id: &str,
    request_id: &str,
    flags: &[Flag],
    by: &Creator<'_>,
) -> Result<(), FlowError> {
    let state = BorrowState::PendingReview.as_str();
    for f in flags {
        let detail = serde_json::json!({
            "reasons_en": f.reasons.iter().map(|r| r.en.as_str()).collect::<Vec<_>>(),
            "reasons_zh": f.reasons.iter().map(|r| r.zh.as_str()).collect::<Vec<_>>(),
            "facts": f.facts,
        });
        tx.insert_availability(&Availability {
            request_id: request_id.to_owned(),
            source: f.source.to_owned(),
            library_id: library_id.to_owned(),
            status: f.status.to_owned(),
            url: f.url.clone(),
            detail: Json(detail.clone()),
            created_at: now,
        })
        .await?;
        let action = match (f.source, f.status) {
            ("licensed", "embargoed") => "licensed_embargoed",
            ("licensed", _) => "licensed_available",
            (_, "available") => "open_access_available",
            _ => "open_access_unchecked",
        };
        let note = f
            .reasons
            .iter()
            .map(|r| r.en.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let note_zh = f
            .reasons
            .iter()
            .map(|r| r.zh.as_str())
            .collect::<Vec<_>>()
            .join("；");
        tx.insert_event(
            &NewEvent {
                library_id,
                side: "borrow",
                request_id,
                actor_id: Some(by.user_id),
                actor: by.label,
                action,
                from_state: Some(state),
                to_state: state,
                note: Some(&note),
                message_id: None,
                data: Some(
                    serde_json::json!({ "url": f.url, "detail": detail, "note_zh": note_zh }),
                ),
            },
            now,
        )
        .await?;
    }
    Ok(())
}

/// The link a request can be filled from: `source` if given, else the licence before open
/// access.
fn pick<'a>(rows: &'a [Availability], source: Option<&str>) -> Option<&'a Availability> {
    let usable = |a: &&Availability| a.status == "available" && a.url.is_some();
    match source {
        Some(s) => rows.iter().filter(usable).find(|a| a.source == s),
        None => rows
            .iter()
            .filter(usable)
            .find(|a| a.source == "licensed")
            .or_else(|| rows.iter().find(|a| usable(a))),
    }
}

/// Whether staff could fill `req` from a link now (for showing the action).
pub async fn can_fill_from_link(st: &AppState, req: &BorrowRequest) -> bool {
    BorrowState::parse(&req.state) == Some(BorrowState::PendingReview)
        && matches!(st.store.availability_of(&req.request_id).await, Ok(rows) if pick(&rows, None).is_some())
}

/// Which link staff fill a request from.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FillFromLink {
    /// `licensed` or `open_access`; absent: the library's licence if it has one, else open
    /// access.
    #[serde(default)]
    pub source: Option<String>,
}

/// Fill a copy request from where it is available already: the request is completed, the
/// reader is given the link on their request page and by letter, and no lender is asked.
pub async fn fill_from_link(
    st: &AppState,
    user: &CurrentUser,
    request_id: &str,
    input: FillFromLink,
) -> ApiResult<BorrowRequest> {
    let req = visible_borrow(st, user, request_id).await?;
    if !user.can(domain::Actor::BorrowingStaff) {
        return Err(ApiError::forbidden(
            "filling a request from a link is for borrowing staff",
            "用链接满足请求须由借入馆员操作",
        ));
    }
    let source = match input.source.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s @ ("licensed" | "open_access")) => Some(s.to_owned()),
        Some(other) => {
            return Err(ApiError::Invalid(vec![domain::citation::FieldError::new(
                "source",
                "invalid_source",
                format!("source must be licensed or open_access, not {other:?}"),
            )]));
        }
    };
    let (now, acting, id) = (st.now(), Acting::user(user), req.request_id.clone());
    let touched = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut req = tx.borrow_request_for_update(&id).await?;
                let rows = tx.availability_of(&id).await?;
                let Some(found) = pick(&rows, source.as_deref()) else {
                    return Err(FlowError::BadInput {
                        status: 409,
                        code: "not_available",
                        en: match &source {
                            Some(s) => format!("this request was not found available through {s}: send it to a lender instead"),
                            None => "this request was not found available through the library's licences or open access: send it to a lender instead".to_owned(),
                        },
                        zh: "未发现该请求可通过本馆订购资源或开放获取取得：请发往出借馆".to_owned(),
                    });
                };
                let url = found.url.clone().unwrap_or_default();
                let extra = Extra {
                    internal_note: Some(format!("filled from the {} link {url}", found.source)),
                    data: Some(serde_json::json!({
                        "source": found.source, "url": url,
                        "note_zh": format!(
                            "已用{}链接满足：{url}",
                            if found.source == "licensed" { "本馆订购资源的" } else { "开放获取的" }
                        ),
                    })),
                    ..Extra::default()
                };
                let touched =
                    apply_borrow(tx, now, &mut req, BorrowAction::FillFromLink, &acting, &extra)
                        .await?;
                crate::letters::queue(
                    tx,
                    LetterKind::AvailableNow,
                    (&req).into(),
                    serde_json::json!({ "link": url, "source": found.source }),
                    now,
                )
                .await?;
                Ok::<_, FlowError>(touched)
            })
        })
        .await?;
    touched.publish(st);
    Ok(st.store.borrow_request(request_id).await?)
}

/// After the lender's "copy completed" was applied: when the copy is stored here and the
/// library trusts that lender, receive it and deliver it to the reader at once, in the same
/// transaction, with the history saying why. Returns what that touched.
pub async fn trusted_delivery(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    request_id: &str,
) -> Result<Option<Touched>, FlowError> {
    let mut req = tx.borrow_request_for_update(request_id).await?;
    let Some(lender) = req.lender_id.clone() else {
        return Ok(None);
    };
    if BorrowState::parse(&req.state) != Some(BorrowState::Shipped)
        || !RequestFormat::parse(&req.format).is_some_and(RequestFormat::is_copy)
        || req.cancel_pending
    {
        return Ok(None);
    }
    let Some(settings) = tx.delivery_settings(&req.library_id).await? else {
        return Ok(None);
    };
    if !settings.trusted_senders.iter().any(|s| s == &lender) {
        return Ok(None);
    }
    if tx.borrow_document(&req.request_id).await?.1.is_none() {
        // Stored on another node: `jobs::deliver_trusted_remote` fetches it, then comes back.
        return Ok(None);
    }
    let note = format!("{lender} is a trusted sender: the copy went straight to the reader");
    let note_zh = format!("{lender} 为可信发送方：复制件已直接交付读者");
    let extra = Extra {
        internal_note: Some(note.clone()),
        data: Some(serde_json::json!({ "trusted_sender": lender, "note_zh": note_zh })),
        ..Extra::default()
    };
    let acting = Acting::rule();
    let mut touched =
        apply_borrow(tx, now, &mut req, BorrowAction::Receive, &acting, &extra).await?;
    let mut req = tx.borrow_request_for_update(request_id).await?;
    touched.merge(
        apply_borrow(
            tx,
            now,
            &mut req,
            BorrowAction::DeliverToPatron,
            &acting,
            &extra,
        )
        .await?,
    );
    if let Some(link) = crate::api::files::issue_link_with(tx, &settings, &req, now).await? {
        let vars = serde_json::json!({
            "link": link.link,
            "expires": tx.library(&req.library_id).await?.offset().date(link.expires_at).to_string(),
            "views": link.max_views,
        });
        crate::letters::queue(tx, LetterKind::DocumentDelivered, (&req).into(), vars, now).await?;
        touched.messages += 1;
    }
    tx.insert_event(
        &NewEvent {
            library_id: &req.library_id,
            side: "borrow",
            request_id: &req.request_id,
            actor_id: None,
            actor: "system",
            action: "trusted_sender",
            from_state: Some(&req.state),
            to_state: &req.state,
            note: Some(&note),
            message_id: None,
            data: Some(serde_json::json!({ "lender": lender, "note_zh": note_zh })),
        },
        now,
    )
    .await?;
    Ok(Some(touched))
}
