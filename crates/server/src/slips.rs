//! Pick slips for a selection of lending requests, as a spreadsheet (XLSX) and as XML: what the
//! shelver needs to find each item and where it goes. The API and the queue page both come here.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use store::LendRequest;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::web::catalog::Msg;

/// The most requests one file carries.
pub const MAX_SLIPS: usize = 500;

/// One slip: its fields in column order, each with its machine name (XML) and label (XLSX).
pub struct Slip {
    pub fields: Vec<(&'static str, &'static str, String)>,
}

/// The format of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlipFormat {
    Xlsx,
    Xml,
}

impl SlipFormat {
    pub fn parse(s: Option<&str>) -> ApiResult<SlipFormat> {
        match s.map(str::trim).filter(|s| !s.is_empty()) {
            None | Some("xlsx") => Ok(SlipFormat::Xlsx),
            Some("xml") => Ok(SlipFormat::Xml),
            Some(other) => Err(ApiError::Bilingual(
                422,
                "unknown_format",
                format!("format: {other:?} is not xlsx or xml"),
                format!("format（格式）：{other:?} 不是 xlsx 或 xml"),
            )),
        }
    }
}

/// The lending requests `ids` names, each of the user's library; the first that is not is
/// named in the error.
pub async fn load(
    st: &AppState,
    user: &CurrentUser,
    ids: &[String],
) -> ApiResult<Vec<LendRequest>> {
    if ids.is_empty() {
        return Err(ApiError::Bilingual(
            422,
            "no_ids",
            "ids: select at least one lending request".to_owned(),
            "ids（请求编号）：请至少选择一个借出请求".to_owned(),
        ));
    }
    if ids.len() > MAX_SLIPS {
        return Err(ApiError::Bilingual(
            422,
            "too_many_ids",
            format!("ids: at most {MAX_SLIPS} at once, {} given", ids.len()),
            format!(
                "ids（请求编号）：一次最多 {MAX_SLIPS} 个，收到 {} 个",
                ids.len()
            ),
        ));
    }
    if user.is_patron() {
        return Err(ApiError::NotFound("request"));
    }
    // One read for the whole selection, then in the order asked (a repeated id once).
    let mut found: std::collections::HashMap<String, LendRequest> = st
        .store
        .lend_requests_of(&user.library_id, ids)
        .await?
        .into_iter()
        .map(|r| (r.request_id.clone(), r))
        .collect();
    let mut out: Vec<LendRequest> = Vec::with_capacity(found.len());
    for id in ids {
        if out.iter().any(|r| &r.request_id == id) {
            continue;
        }
        match found.remove(id) {
            Some(r) => out.push(r),
            None => {
                return Err(ApiError::Bilingual(
                    404,
                    "not_found",
                    format!("ids: {id:?} is not a lending request of your library"),
                    format!("ids（请求编号）：{id:?} 不是本馆的借出请求"),
                ));
            }
        }
    }
    Ok(out)
}

/// The slips of `reqs`, with the requesting library's name in `m`'s language.
pub async fn slips(st: &AppState, m: &'static Msg, reqs: &[LendRequest]) -> ApiResult<Vec<Slip>> {
    let libraries = st.store.libraries().await?;
    let zh = m.lang != "en";
    Ok(reqs
        .iter()
        .map(|r| {
            let c = &r.citation.0;
            let partner = libraries
                .iter()
                .find(|l| Some(&l.library_id) == r.borrower_id.as_ref())
                .map(|l| {
                    let name = if zh { &l.name_zh } else { &l.name_en };
                    format!("{} {name}", l.library_id)
                })
                .unwrap_or_else(|| r.borrower_agency.clone());
            let s = |v: &Option<String>| v.clone().unwrap_or_default();
            Slip {
                fields: vec![
                    ("requestId", m.col_id, r.request_id.clone()),
                    ("title", m.col_title, r.title.clone()),
                    ("author", m.f_author, s(&c.author)),
                    ("callNumber", m.call_number, s(&r.call_number)),
                    ("barcode", m.barcode_label, s(&r.barcode)),
                    ("format", m.col_format, m.format(&r.format).to_owned()),
                    ("sourceTitle", m.f_source_title, s(&c.source_title)),
                    ("volume", m.f_volume, s(&c.volume)),
                    ("issue", m.f_issue, s(&c.issue)),
                    ("year", m.f_year, s(&c.year)),
                    ("pages", m.f_pages, s(&c.pages)),
                    (
                        "isbn",
                        m.f_isbn,
                        c.isbn.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                    ),
                    (
                        "issn",
                        m.f_issn,
                        c.issn.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                    ),
                    ("requestingLibrary", m.col_borrower, partner),
                    (
                        "borrowerRequestId",
                        m.borrower_request_id,
                        r.borrower_request_id.clone(),
                    ),
                    (
                        "neededBy",
                        m.f_need_by,
                        r.needed_by.map(|d| d.to_string()).unwrap_or_default(),
                    ),
                    (
                        "received",
                        m.received_at,
                        crate::web::reader::when(r.created_at),
                    ),
                ],
            }
        })
        .collect())
}

/// The slips as a workbook: one sheet, a header row in `m`'s language, a row per request.
pub fn to_xlsx(m: &'static Msg, slips: &[Slip]) -> ApiResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let x = |e: rust_xlsxwriter::XlsxError| ApiError::internal(anyhow::anyhow!("pick slips: {e}"));
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name(m.slip_sheet).map_err(x)?;
    if let Some(first) = slips.first() {
        for (c, (_, label, _)) in first.fields.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            ws.write_string_with_format(0, c, *label, &bold)
                .map_err(x)?;
        }
    }
    for (r, slip) in slips.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, (_, _, value)) in slip.fields.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            ws.write_string(r, c, value).map_err(x)?;
        }
    }
    ws.set_freeze_panes(1, 0).map_err(x)?;
    wb.save_to_buffer().map_err(x)
}

/// Text for XML content and attributes: the five special characters escaped, and characters
/// XML 1.0 cannot carry at all (most control characters) left out.
fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if u32::from(c) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The slips as an XML document (UTF-8), one `slip` element per request.
pub fn to_xml(library: &str, slips: &[Slip]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<pickSlips library=\"{}\" count=\"{}\">\n",
        xml_text(library),
        slips.len()
    ));
    for slip in slips {
        out.push_str("  <slip>\n");
        for (name, _, value) in &slip.fields {
            if !value.is_empty() {
                out.push_str(&format!("    <{name}>{}</{name}>\n", xml_text(value)));
            }
        }
        out.push_str("  </slip>\n");
    }
    out.push_str("</pickSlips>\n");
    out
}

/// Whether producing the file counts the requests as printed (the queue's "printed" facet).
/// A download asked for by a POST does; reading one with a GET changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkPrinted {
    Yes,
    No,
}

/// Count the requests `ids` names as printed (each must be the user's library's).
pub async fn mark(st: &AppState, user: &CurrentUser, ids: &[String]) -> ApiResult<()> {
    if !user.can(domain::Actor::LendingStaff) {
        return Err(ApiError::forbidden(
            "pick slips are for lending staff",
            "取书单仅供借出馆员使用",
        ));
    }
    let reqs = load(st, user, ids).await?;
    let printed: Vec<String> = reqs.into_iter().map(|r| r.request_id).collect();
    st.store
        .mark_slips_printed(
            &user.library_id,
            &printed,
            Some(&user.user_id),
            crate::flow::Acting::user(user).label,
            st.now(),
        )
        .await?;
    Ok(())
}

/// The file for `ids` in `format`, as a download.
pub async fn response(
    st: &AppState,
    user: &CurrentUser,
    m: &'static Msg,
    ids: &[String],
    format: Option<&str>,
    mark: MarkPrinted,
) -> ApiResult<Response> {
    let format = SlipFormat::parse(format)?;
    if !user.can(domain::Actor::LendingStaff) {
        return Err(ApiError::forbidden(
            "pick slips are for lending staff",
            "取书单仅供借出馆员使用",
        ));
    }
    let reqs = load(st, user, ids).await?;
    let slips = slips(st, m, &reqs).await?;
    if mark == MarkPrinted::Yes {
        // The queue's "printed" facet: these requests have a slip now.
        let printed: Vec<String> = reqs.iter().map(|r| r.request_id.clone()).collect();
        st.store
            .mark_slips_printed(
                &user.library_id,
                &printed,
                Some(&user.user_id),
                crate::flow::Acting::user(user).label,
                st.now(),
            )
            .await?;
    }
    let stamp = st.now().unix_timestamp();
    let (body, content_type, name) = match format {
        SlipFormat::Xlsx => (
            to_xlsx(m, &slips)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            format!("pick-slips-{}-{stamp}.xlsx", user.library_id),
        ),
        SlipFormat::Xml => (
            to_xml(&user.library_id, &slips).into_bytes(),
            "application/xml; charset=utf-8",
            format!("pick-slips-{}-{stamp}.xml", user.library_id),
        ),
    };
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
