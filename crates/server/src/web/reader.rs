//! Pages for readers: the request form (also filled in from an OpenURL link), "my requests",
//! and one request with its timeline and the actions the requester machine allows now.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use domain::citation::{CitationInput, MoneyInput};
use serde::Deserialize;
use store::BorrowFilter;

use super::catalog::Msg;
use super::staff::{ActForm, actions_html, borrow_action_forms};
use super::{Chrome, Ctx, QueryIn, WebError, WebResult, percent_encode, query, see_other};
use crate::error::ApiError;
use crate::flow::CreateRequest;
use crate::flow::borrow::{borrow_action, visible_borrow};

/// The request form as typed: every field loose text, as the citation's validation wants it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub source_title: Option<String>,
    #[serde(default)]
    pub volume: Option<String>,
    #[serde(default)]
    pub issue: Option<String>,
    #[serde(default)]
    pub year: Option<String>,
    #[serde(default)]
    pub pages: Option<String>,
    #[serde(default)]
    pub edition: Option<String>,
    #[serde(default)]
    pub publisher: Option<String>,
    #[serde(default)]
    pub isbn: Option<String>,
    #[serde(default)]
    pub issn: Option<String>,
    #[serde(default)]
    pub doi: Option<String>,
    #[serde(default)]
    pub pmid: Option<String>,
    #[serde(default)]
    pub oclc_number: Option<String>,
    #[serde(default)]
    pub need_by: Option<String>,
    #[serde(default)]
    pub max_cost: Option<String>,
    #[serde(default)]
    pub patron_note: Option<String>,
    #[serde(default)]
    pub copyright: Option<String>,
    /// The express box, ticked.
    #[serde(default)]
    pub express: Option<String>,
    /// Borrowing staff asking for a reader: the reader's username.
    #[serde(default)]
    pub patron: Option<String>,
    /// How the form was filled in: `form`, `openurl` or `lookup` (kept for statistics).
    #[serde(default)]
    pub via: Option<String>,
}

impl RequestForm {
    fn citation(&self) -> CitationInput {
        CitationInput {
            title: self.title.clone(),
            author: self.author.clone(),
            source_title: self.source_title.clone(),
            volume: self.volume.clone(),
            issue: self.issue.clone(),
            year: self.year.clone(),
            pages: self.pages.clone(),
            edition: self.edition.clone(),
            publisher: self.publisher.clone(),
            isbn: self.isbn.clone(),
            issn: self.issn.clone(),
            doi: self.doi.clone(),
            pmid: self.pmid.clone(),
            oclc_number: self.oclc_number.clone(),
            need_by: self.need_by.clone(),
            max_cost: self.max_cost.clone().map(|amount| MoneyInput {
                amount,
                currency: "CNY".to_owned(),
            }),
            patron_note: self.patron_note.clone(),
            copyright_declaration: Some(self.copyright.is_some()),
            express: Some(self.express.is_some()),
            ..CitationInput::default()
        }
    }
}

/// One input of the form, with its label, value, hint and error.
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    pub kind: &'static str,
    pub hint: Option<&'static str>,
    pub error: Option<String>,
    pub required: bool,
    pub autocomplete: &'static str,
    /// ids of the hint and the error, for aria-describedby.
    pub described_by: String,
}

pub struct Section {
    pub title: &'static str,
    pub fields: Vec<FieldView>,
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

pub struct ErrorLink {
    pub field: String,
    pub message: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "request_form.html")]
pub struct FormPage {
    pub m: &'static Msg,
    pub ch: Chrome,
    pub prefilled: bool,
    pub formats: Vec<Choice>,
    pub format_error: Option<String>,
    pub sections: Vec<Section>,
    pub copyright: bool,
    pub express: bool,
    /// That a near need-by date makes the request express, with the library's days; empty
    /// when the library turned that off.
    pub express_by_date: String,
    pub errors: Vec<ErrorLink>,
    /// Where the form posts: the reader's own route, or the staff one.
    pub action: &'static str,
    /// What was typed into the DOI / PMID / ISBN lookup, and why it found nothing.
    pub lookup_value: String,
    pub lookup_error: Option<&'static str>,
    /// Where a lookup filled the form in from.
    pub found: Option<&'static str>,
    /// The copyright declaration the reader accepts: the library's own, in the page's language.
    pub declaration: String,
    /// How the form was filled in, posted back with it (see `RequestForm::via`).
    pub via: &'static str,
}

/// (field name, message) pairs in the reader's language.
type FieldErrors = Vec<(String, String)>;

fn form_page(ctx: &Ctx, form: &RequestForm, errors: FieldErrors, prefilled: bool) -> FormPage {
    let staff = ctx.user.as_ref().is_some_and(|u| !u.is_patron());
    let m = ctx.m;
    let err = |name: &str| {
        errors
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, msg)| msg.clone())
    };
    let field = |name: &'static str,
                 label: &'static str,
                 value: &Option<String>,
                 kind: &'static str,
                 hint: Option<&'static str>,
                 required: bool,
                 autocomplete: &'static str| {
        let error = err(name);
        let mut described = Vec::new();
        if hint.is_some() {
            described.push(format!("h-{name}"));
        }
        if error.is_some() {
            described.push(format!("e-{name}"));
        }
        FieldView {
            name,
            label,
            value: value.clone().unwrap_or_default(),
            kind,
            hint,
            error,
            required,
            autocomplete,
            described_by: described.join(" "),
        }
    };
    let f = form;
    let format = f.format.as_deref().unwrap_or("loan");
    let mut sections = Vec::new();
    if staff {
        sections.push(Section {
            title: m.section_reader,
            fields: vec![field(
                "patron",
                m.f_patron,
                &f.patron,
                "text",
                Some(m.hint_patron),
                true,
                "off",
            )],
        });
    }
    sections.extend([
        Section {
            title: m.section_item,
            fields: vec![
                field("title", m.f_title, &f.title, "text", None, true, "off"),
                field("author", m.f_author, &f.author, "text", None, false, "off"),
                field(
                    "source_title",
                    m.f_source_title,
                    &f.source_title,
                    "text",
                    Some(m.hint_source_title),
                    false,
                    "off",
                ),
                field("volume", m.f_volume, &f.volume, "text", None, false, "off"),
                field("issue", m.f_issue, &f.issue, "text", None, false, "off"),
                field("year", m.f_year, &f.year, "text", None, false, "off"),
                field(
                    "pages",
                    m.f_pages,
                    &f.pages,
                    "text",
                    Some(m.hint_pages),
                    false,
                    "off",
                ),
                field(
                    "edition",
                    m.f_edition,
                    &f.edition,
                    "text",
                    None,
                    false,
                    "off",
                ),
                field(
                    "publisher",
                    m.f_publisher,
                    &f.publisher,
                    "text",
                    None,
                    false,
                    "off",
                ),
            ],
        },
        Section {
            title: m.section_ids,
            fields: vec![
                field("isbn", m.f_isbn, &f.isbn, "text", None, false, "off"),
                field("issn", m.f_issn, &f.issn, "text", None, false, "off"),
                field("doi", m.f_doi, &f.doi, "text", None, false, "off"),
                field("pmid", m.f_pmid, &f.pmid, "text", None, false, "off"),
            ],
        },
        Section {
            title: m.section_needs,
            fields: vec![
                field(
                    "need_by",
                    m.f_need_by,
                    &f.need_by,
                    "date",
                    Some(m.hint_date),
                    false,
                    "off",
                ),
                field(
                    "max_cost",
                    m.f_max_cost,
                    &f.max_cost,
                    "text",
                    None,
                    false,
                    "off",
                ),
                field(
                    "patron_note",
                    m.f_note,
                    &f.patron_note,
                    "textarea",
                    None,
                    false,
                    "off",
                ),
            ],
        },
    ]);
    let formats = [
        ("loan", m.format_loan),
        ("article_copy", m.format_article_copy),
        ("chapter_copy", m.format_chapter_copy),
    ]
    .into_iter()
    .map(|(value, label)| Choice {
        value,
        label,
        checked: value == format,
    })
    .collect();
    FormPage {
        m,
        ch: ctx.chrome(),
        prefilled,
        formats,
        format_error: err("format"),
        sections,
        copyright: f.copyright.is_some(),
        express: f.express.is_some(),
        express_by_date: String::new(),
        action: if staff {
            "/staff/borrowing/new"
        } else {
            "/my/requests/new"
        },
        errors: errors
            .iter()
            .map(|(field, message)| ErrorLink {
                field: field.clone(),
                message: message.clone(),
            })
            .collect(),
        lookup_value: String::new(),
        lookup_error: None,
        found: None,
        declaration: m.f_copyright.to_owned(),
        via: web_source(form.via.as_deref()).as_str(),
    }
}

/// The form page with the declaration of the user's library (its copyright settings, in the
/// page's language) instead of the built-in wording.
async fn form_page_for(
    ctx: &Ctx,
    form: &RequestForm,
    errors: FieldErrors,
    prefilled: bool,
) -> WebResult<FormPage> {
    let mut page = form_page(ctx, form, errors, prefilled);
    let user = ctx.user()?;
    let terms = ctx.st.store.copyright_settings(&user.library_id).await?;
    let text = if ctx.m.lang == "zh-CN" {
        terms.declaration_zh
    } else {
        terms.declaration_en
    };
    if !text.trim().is_empty() {
        page.declaration = text.trim().to_owned();
    }
    let days = crate::flow::route::settings(&ctx.st, &user.library_id)
        .await?
        .express_within_days();
    if days > 0 {
        page.express_by_date = ctx.m.express_by_date(days);
    }
    Ok(page)
}

/// `?lookup=…` on the form: what the reader typed.
#[derive(Debug, Default, Deserialize)]
pub struct LookupParam {
    #[serde(default)]
    pub lookup: Option<String>,
}

/// How a posted form was filled in; anything but the web's own ways counts as typed in.
fn web_source(via: Option<&str>) -> domain::stats::Source {
    use domain::stats::Source;
    match via.and_then(Source::parse) {
        Some(s @ (Source::OpenUrl | Source::Lookup)) => s,
        _ => Source::Form,
    }
}

/// The form filled in from what a lookup found.
fn form_from_found(found: &crate::lookup::Found) -> RequestForm {
    let c = &found.citation;
    RequestForm {
        format: Some(found.format.as_str().to_owned()),
        title: c.title.clone(),
        author: c.author.clone(),
        source_title: c.source_title.clone(),
        volume: c.volume.clone(),
        issue: c.issue.clone(),
        year: c.year.clone(),
        pages: c.pages.clone(),
        edition: c.edition.clone(),
        publisher: c.publisher.clone(),
        isbn: c.isbn.clone(),
        issn: c.issn.clone(),
        doi: c.doi.clone(),
        pmid: c.pmid.clone(),
        oclc_number: c.oclc_number.clone(),
        ..RequestForm::default()
    }
}

/// Readers ask for themselves; staff have the queues.
fn reader(ctx: &Ctx) -> WebResult<&crate::auth::CurrentUser> {
    let u = ctx.user()?;
    if u.is_patron() {
        Ok(u)
    } else {
        Err(WebError::Api(ApiError::Forbidden(
            "this page is for readers".to_owned(),
        )))
    }
}

/// Who may use the request form: readers for themselves, borrowing staff for a reader.
fn requester(ctx: &Ctx) -> WebResult<&crate::auth::CurrentUser> {
    let u = ctx.user()?;
    if u.is_patron() || u.can(domain::Actor::BorrowingStaff) {
        Ok(u)
    } else {
        Err(WebError::Api(ApiError::Forbidden(
            "the request form is for readers and borrowing staff".to_owned(),
        )))
    }
}

/// The reader staff named, as a user id of their library, or the error to show by the field.
async fn named_reader(
    ctx: &Ctx,
    staff: &crate::auth::CurrentUser,
    username: Option<&str>,
) -> WebResult<Result<String, (String, String)>> {
    let m = ctx.m;
    let name = username.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Ok(Err(("patron".to_owned(), m.err_patron_required.to_owned())));
    }
    let found = ctx.st.store.user_by_username(name).await?;
    Ok(match found {
        Some(u) if u.library_id == staff.library_id && u.kind == "patron" => Ok(u.user_id),
        _ => Err((
            "patron".to_owned(),
            format!("{} {name}", m.err_patron_unknown),
        )),
    })
}

/// The empty form; with `?lookup=DOI|PMID|ISBN`, filled in from what the lookup found, or
/// with the reason it found nothing next to the lookup field.
pub async fn new_form(ctx: Ctx, q: QueryIn<LookupParam>) -> Response {
    let r = async {
        requester(&ctx)?;
        let typed = query(q)?.lookup.unwrap_or_default();
        if typed.trim().is_empty() {
            let page = form_page_for(&ctx, &RequestForm::default(), Vec::new(), false).await?;
            return Ok(ctx.page(page));
        }
        let m = ctx.m;
        let mut page = match crate::lookup::lookup(&ctx.st, &typed).await {
            Ok(found) => {
                let mut page =
                    form_page_for(&ctx, &form_from_found(&found), Vec::new(), false).await?;
                page.via = domain::stats::Source::Lookup.as_str();
                page.found = Some(match found.source {
                    "catalog" => m.lookup_from_catalog,
                    "pubmed" => m.lookup_from_pubmed,
                    _ => m.lookup_from_crossref,
                });
                page
            }
            Err(e) => {
                use crate::lookup::LookupError;
                if let LookupError::Service { .. } = &e {
                    tracing::warn!(error = %e, "identifier lookup failed");
                }
                let mut page =
                    form_page_for(&ctx, &RequestForm::default(), Vec::new(), false).await?;
                page.lookup_error = Some(match e {
                    LookupError::Unrecognised(_) => m.lookup_unrecognised,
                    LookupError::NotFound { .. } => m.lookup_not_found,
                    LookupError::Service { .. } => m.lookup_failed,
                });
                page
            }
        };
        page.lookup_value = typed.trim().to_owned();
        Ok(ctx.page(page))
    }
    .await;
    ctx.finish(r)
}

/// `GET /openurl?…`: the form, filled in from the link a discovery system sent the reader.
pub async fn openurl(ctx: Ctx, q: QueryIn<Vec<(String, String)>>) -> Response {
    let r = openurl_form(&ctx, q).await;
    ctx.finish(r)
}

async fn openurl_form(ctx: &Ctx, q: QueryIn<Vec<(String, String)>>) -> WebResult<Response> {
    requester(ctx)?;
    let Query(pairs) = q.map_err(|e| WebError::Bad(|m| m.err_bad_address, Some(e.body_text())))?;
    let form = super::openurl::form_from_openurl(&pairs);
    let mut page = form_page_for(ctx, &form, Vec::new(), true).await?;
    page.via = domain::stats::Source::OpenUrl.as_str();
    Ok(ctx.page(page))
}

/// Place the request; on bad input the form comes back with each error next to its field.
#[tracing::instrument(skip_all)]
pub async fn create(ctx: Ctx, form: Result<Form<RequestForm>, FormRejection>) -> Response {
    let r = async {
        let user = requester(&ctx)?;
        let Form(form) =
            form.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        let field_errors = |fields: Vec<domain::citation::FieldError>| -> FieldErrors {
            fields
                .iter()
                .map(|f| {
                    (
                        f.field.trim_start_matches("citation.").to_owned(),
                        ctx.m.field_error_of(f),
                    )
                })
                .collect()
        };
        let format = form.format.clone().unwrap_or_default();
        let patron_id = if user.is_patron() {
            None
        } else {
            match named_reader(&ctx, user, form.patron.as_deref()).await? {
                Ok(id) => Some(id),
                Err(patron_error) => {
                    // Show the citation's errors with it, so the form is fixed in one go.
                    let mut errors = vec![patron_error];
                    // "Today" for the need-by date is the library's day, as when it is placed.
                    let today = ctx
                        .st
                        .store
                        .library(&user.library_id)
                        .await?
                        .offset()
                        .date(ctx.st.now());
                    if let Some(f) = domain::citation::RequestFormat::parse(&format)
                        && let Err(fields) = form.citation().validate(f, today)
                    {
                        errors.extend(field_errors(fields));
                    }
                    let page = form_page_for(&ctx, &form, errors, false).await?;
                    return Ok(ctx.respond(StatusCode::UNPROCESSABLE_ENTITY, page));
                }
            }
        };
        let body = CreateRequest {
            format,
            citation: form.citation(),
            patron_id,
            rota: None,
        };
        let source = web_source(form.via.as_deref());
        match crate::flow::create_borrow_request(&ctx.st, user, body, source).await {
            Ok(req) => {
                metrics::counter!("librelay_requests_created_total").increment(1);
                let to = format!("/requests/{}?sent=1", percent_encode(&req.request_id));
                Ok(see_other(&to))
            }
            Err(ApiError::Invalid(fields)) => {
                let page = form_page_for(&ctx, &form, field_errors(fields), false).await?;
                Ok(ctx.respond(StatusCode::UNPROCESSABLE_ENTITY, page))
            }
            Err(e) => Err(WebError::Api(e)),
        }
    }
    .await;
    ctx.finish(r)
}

pub struct RequestRow {
    pub id: String,
    pub href: String,
    pub title: String,
    pub format: String,
    pub state: String,
    pub updated: String,
    /// What the reader pays for it and who pays, once the lender shipped.
    pub charge: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "my_requests.html")]
pub struct MyRequestsPage {
    pub m: &'static Msg,
    pub ch: Chrome,
    pub rows: Vec<RequestRow>,
    /// The reader's deposit balances, e.g. "50.00 CNY"; empty without a deposit.
    pub balance: String,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    pub offset: Option<i64>,
}

pub const PAGE_SIZE: i64 = 50;

/// `/…?offset=N` links to the pages before and after this one.
pub fn paging(
    base: &str,
    offset: i64,
    shown: usize,
    total: i64,
) -> (Option<String>, Option<String>) {
    let sep = if base.contains('?') { '&' } else { '?' };
    let prev = (offset > 0).then(|| format!("{base}{sep}offset={}", (offset - PAGE_SIZE).max(0)));
    let end = offset + i64::try_from(shown).unwrap_or(PAGE_SIZE);
    let next = (end < total).then(|| format!("{base}{sep}offset={end}"));
    (prev, next)
}

/// The open holds on the return of a loan, for staff: who holds it, since when, who set it
/// (a colleague's user name or the partner's agency) and why. `lend` is the lending side's
/// page (the lender is us there).
pub fn hold_facts(facts: &mut Facts, m: &'static Msg, holds: &[store::ReturnHold], lend: bool) {
    for h in holds {
        let by_lender = h.held_by == store::HELD_BY_LENDER;
        let label = match (lend, by_lender) {
            (false, true) => m.hold_by_lender_borrow,
            (false, false) => m.hold_by_us_borrow,
            (true, true) => m.hold_by_us_lend,
            (true, false) => m.hold_by_borrower_lend,
        };
        let mut value = format!("{} {} UTC", m.hold_since, when(h.held_at));
        if let Some(by) = h.actor.as_deref().filter(|b| !b.is_empty()) {
            value.push_str(&format!("; {} {by}", m.hold_set_by));
        }
        if let Some(note) = h.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            value.push_str(&format!(" — {note}"));
        }
        facts.add(label, Some(value));
    }
}

pub fn when(t: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

pub async fn my_requests(ctx: Ctx, q: QueryIn<PageQuery>) -> Response {
    let r = async {
        let user = reader(&ctx)?;
        let offset = query(q)?.offset.unwrap_or(0).max(0);
        let filter = BorrowFilter {
            library_id: user.library_id.clone(),
            patron_id: Some(user.user_id.clone()),
            states: Vec::new(),
            text: None,
            limit: PAGE_SIZE,
            offset,
        };
        let (rows, total) = ctx.st.store.borrow_requests(&filter).await?;
        let (prev, next) = paging("/my/requests", offset, rows.len(), total);
        let m = ctx.m;
        let mine = crate::api::reader_fees::my_charges_of(&ctx.st, user).await?;
        let balance = mine
            .deposit
            .balances
            .iter()
            .map(|b| format!("{} {}", b.text, b.currency))
            .collect::<Vec<_>>()
            .join(", ");
        let charge_of = |id: &str| {
            mine.charges
                .iter()
                .find(|c| c.request_id == id)
                .map(|c| {
                    let who = if m.is_zh() {
                        &c.payer_text_zh
                    } else {
                        &c.payer_text
                    };
                    let refunded = if m.is_zh() {
                        &c.refunded_text_zh
                    } else {
                        &c.refunded_text
                    };
                    match refunded {
                        Some(r) => format!("{} {} · {who} · {r}", c.amount.text, c.amount.currency),
                        None => format!("{} {} · {who}", c.amount.text, c.amount.currency),
                    }
                })
                .unwrap_or_default()
        };
        let rows = rows
            .into_iter()
            .map(|r| RequestRow {
                charge: charge_of(&r.request_id),
                href: format!("/requests/{}", percent_encode(&r.request_id)),
                title: r.title,
                format: m.format(&r.format).to_owned(),
                state: m.borrow_state(&r.state).to_owned(),
                updated: when(r.updated_at),
                id: r.request_id,
            })
            .collect();
        Ok(ctx.page(MyRequestsPage {
            m,
            ch: ctx.chrome(),
            rows,
            balance,
            total,
            prev,
            next,
        }))
    }
    .await;
    ctx.finish(r)
}

pub struct EventLine {
    pub at: String,
    pub what: String,
    pub by: String,
    pub state: String,
    pub note: Option<String>,
}

/// An event's note in the page's language: a Chinese page shows the Chinese text kept with a
/// note written by librelay itself (`note_zh` in the event's data) where there is one.
pub fn event_note(m: &Msg, e: &store::EventRow) -> Option<String> {
    if m.lang == "zh-CN"
        && let Some(zh) = e
            .data
            .as_ref()
            .and_then(|d| d.0.get("note_zh"))
            .and_then(serde_json::Value::as_str)
    {
        return Some(zh.to_owned());
    }
    e.note.clone()
}

pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

/// The labelled facts of a request's page, leaving out what is empty.
#[derive(Default)]
pub struct Facts(pub Vec<Fact>);

impl Facts {
    pub fn add(&mut self, label: &'static str, v: Option<String>) {
        if let Some(value) = v.filter(|v| !v.is_empty()) {
            self.0.push(Fact { label, value });
        }
    }

    /// The bibliographic fields but the title (the page's heading), the same for both sides;
    /// the reader's cost limit and note stay with the borrowing library.
    pub fn citation(&mut self, m: &Msg, c: &domain::citation::Citation) {
        self.add(m.f_author, c.author.clone());
        self.add(m.f_source_title, c.source_title.clone());
        self.add(m.f_volume, c.volume.clone());
        self.add(m.f_issue, c.issue.clone());
        self.add(m.f_year, c.year.clone());
        self.add(m.f_pages, c.pages.clone());
        self.add(m.f_edition, c.edition.clone());
        self.add(m.f_publisher, c.publisher.clone());
        self.add(m.f_isbn, c.isbn.as_ref().map(|v| v.to_string()));
        self.add(m.f_issn, c.issn.as_ref().map(|v| v.to_string()));
        self.add(m.f_doi, c.doi.as_ref().map(|v| v.to_string()));
        self.add(m.f_pmid, c.pmid.as_ref().map(|v| v.to_string()));
        self.add(m.f_need_by, c.need_by.map(|d| d.to_string()));
        if c.express {
            self.add(m.f_express, Some(m.pick("Express", "加急").to_owned()));
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "request_detail.html")]
pub struct DetailPage {
    pub m: &'static Msg,
    pub ch: Chrome,
    pub id: String,
    pub title: String,
    pub format: String,
    pub state: String,
    pub facts: Vec<Fact>,
    pub flags: Vec<&'static str>,
    pub events: Vec<EventLine>,
    pub actions_empty: bool,
    pub actions_html: String,
    pub back: String,
    pub back_label: &'static str,
    pub notice: Option<&'static str>,
    /// A further page of this request (the lending side's pick slip), with its label.
    pub extra_link: Option<(String, &'static str)>,
    /// Borrowing staff: the lender string with the reason for each place, and who was left out.
    pub lenders: Vec<LenderLine>,
    pub excluded: Vec<LenderLine>,
    /// Borrowing staff: copyright standing with the clearance form, the earlier request this
    /// one repeats, the fees recorded (rendered blocks, see `forms::blocks_html`).
    pub review_html: String,
    /// Staff: the assignment and notes forms, already rendered.
    pub desk_html: String,
}

/// One lender of the string (or one left out) as the staff page shows it.
#[derive(Debug)]
pub struct LenderLine {
    pub library: String,
    pub name: String,
    pub reason: String,
    /// What it answered, or that it has the request now.
    pub status: Option<String>,
}

/// The lender string and the holders left out, in the page's language.
async fn lender_lines(
    st: &crate::AppState,
    m: &'static Msg,
    rota: &domain::rota::Rota,
) -> (Vec<LenderLine>, Vec<LenderLine>) {
    let zh = m.lang == "zh-CN";
    let name = |l: Option<store::LibraryRow>, code: &str| match l {
        Some(l) if zh => l.name_zh,
        Some(l) => l.name_en,
        None => code.to_owned(),
    };
    let mut lenders = Vec::new();
    for (i, e) in rota.entries.iter().enumerate() {
        let lib = st.store.library(e.library.as_str()).await.ok();
        let reason = if zh && !e.reason_zh.is_empty() {
            e.reason_zh.clone()
        } else {
            e.reason.clone()
        };
        let status = match e.outcome {
            Some(o) => Some(match &e.note {
                Some(n) => format!("{}: {n}", m.rota_outcome(o)),
                None => m.rota_outcome(o).to_owned(),
            }),
            None if rota.current == Some(i) => Some(m.lender_now.to_owned()),
            None => None,
        };
        lenders.push(LenderLine {
            name: name(lib, e.library.as_str()),
            library: e.library.to_string(),
            reason,
            status,
        });
    }
    let mut excluded = Vec::new();
    for x in &rota.excluded {
        let lib = st.store.library(x.library.as_str()).await.ok();
        excluded.push(LenderLine {
            name: name(lib, x.library.as_str()),
            library: x.library.to_string(),
            reason: if zh {
                x.reason_zh.clone()
            } else {
                x.reason.clone()
            },
            status: None,
        });
    }
    (lenders, excluded)
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    pub sent: Option<String>,
    #[serde(default)]
    pub done: Option<String>,
}

/// One borrowing request: for its reader, or for the library's borrowing staff.
pub async fn detail(ctx: Ctx, Path(id): Path<String>, q: QueryIn<DetailQuery>) -> Response {
    let r = async {
        let q = query(q)?;
        detail_page(&ctx, &id, &q, None).await
    }
    .await;
    ctx.finish(r)
}

/// The page of one borrowing request; `review` is a staff form sent back with its refusal
/// (the fields as typed and what was wrong), shown again on the page with 422.
pub(crate) async fn detail_page(
    ctx: &Ctx,
    id: &str,
    q: &DetailQuery,
    review: Option<(super::accounts::Pairs, ApiError)>,
) -> WebResult<Response> {
    {
        let user = ctx.user()?;
        let req = visible_borrow(&ctx.st, user, id).await?;
        let failed = review.is_some();
        let allowed = crate::flow::borrow::allowed_actions_now(&ctx.st.store, &req, user)
            .await
            .map_err(ApiError::from)?;
        let holds = if user.is_patron() {
            Vec::new()
        } else {
            ctx.st.store.return_holds(&req.request_id).await?
        };
        let events = ctx
            .st
            .store
            .events(&req.library_id, &req.request_id)
            .await?;
        let m = ctx.m;
        let c = &req.citation.0;
        let mut facts = Facts::default();
        facts.citation(m, c);
        facts.add(m.f_max_cost, c.max_cost.as_ref().map(|v| v.to_string()));
        facts.add(m.f_note, c.patron_note.clone());
        facts.add(m.col_due, req.due_date.map(|d| d.to_string()));
        // A refused form comes back to the block it belongs to.
        let (review, answer) = match review {
            Some((p, e)) if super::accounts::value(&p, "form") == super::mail::FORM_TAG => {
                (None, Some((p, e)))
            }
            other => (other, None),
        };
        let mut blocks = super::licences::blocks(ctx, user, &req).await?;
        if user.is_patron() {
            blocks.extend(super::review::reader_charge_blocks(&ctx.st, m, &req).await?);
        } else {
            blocks.extend(super::review::blocks(ctx, &req, review).await?);
            blocks.extend(super::mail::blocks(ctx, &req, answer).await?);
        }
        let review_html = if blocks.is_empty() {
            String::new()
        } else {
            super::forms::blocks_html(m, &blocks)
        };
        let (lenders, excluded) = if user.is_patron() {
            (Vec::new(), Vec::new())
        } else {
            facts.add(m.col_lender, req.lender_id.clone());
            facts.add(m.lenders_in_order, Some(m.rota_line(&req.rota.0)));
            hold_facts(&mut facts, m, &holds, false);
            if let Some(offer) = &req.retry_offer {
                let o = &offer.0;
                facts.add(m.retry_reason, o.reason.clone());
                facts.add(
                    m.retry_cost,
                    o.cost
                        .as_ref()
                        .map(|c| format!("{} {}", c.to_decimal_string(), c.currency.as_str()))
                        .or_else(|| o.cost_text.clone()),
                );
                facts.add(m.retry_after_label, o.retry_after.map(|d| d.to_string()));
                facts.add(m.retry_before_label, o.retry_before.map(|d| d.to_string()));
                facts.add(m.retry_conditions, Some(o.loan_conditions.join(", ")));
                facts.add(m.retry_formats, Some(o.formats.join(", ")));
                facts.add(m.retry_lender_note, o.note.clone());
            }
            lender_lines(&ctx.st, m, &req.rota.0).await
        };
        let mut flags = Vec::new();
        if req.cancel_pending {
            flags.push(m.cancel_pending);
        }
        if req.renew_pending {
            flags.push(m.renew_pending);
        }
        if req.overdue {
            flags.push(m.overdue_flag);
        }
        if req.recalled {
            flags.push(m.recalled_flag);
        }
        let patron = user.is_patron();
        let threads = if patron {
            Vec::new()
        } else {
            super::staff::threads(m, &events)
        };
        let events = events
            .into_iter()
            .filter(|e| !(patron && crate::flow::desk::staff_only(&e.action)))
            .map(|e| EventLine {
                at: when(e.at),
                what: m.borrow_event(&e.action).to_owned(),
                by: m.actor(&e.actor).to_owned(),
                state: m.borrow_state(&e.to_state).to_owned(),
                // Staff notes may be internal: a reader sees only what they wrote themselves.
                note: event_note(m, &e).filter(|_| !patron || e.actor == "patron"),
            })
            .collect();
        let notice = if q.sent.is_some() {
            Some(m.request_sent)
        } else if q.done.is_some() {
            Some(m.action_done)
        } else {
            None
        };
        let (back, back_label) = if patron {
            ("/my/requests".to_owned(), m.back_to_list)
        } else {
            ("/staff/borrowing".to_owned(), m.nav_borrowing)
        };
        // Borrowing staff: who has the request, and its notes.
        let desk_html = if !patron && user.can(domain::Actor::BorrowingStaff) {
            super::staff::desk_html(
                ctx,
                user,
                crate::flow::desk::Side::Borrow,
                &format!("/staff/borrowing/{}", percent_encode(&req.request_id)),
                req.assignee_id.as_deref(),
                req.lender_id.is_some(),
                super::staff::DeskLog {
                    labels: None,
                    threads,
                },
            )
            .await?
        } else {
            String::new()
        };
        let forms = borrow_action_forms(m, &allowed);
        let act_url = format!("/requests/{}/act", percent_encode(&req.request_id));
        let actions_html = actions_html(&forms, &act_url, &back, false, "detail")?;
        // A delivered copy: the reader (and staff) open it from here while the reader's link
        // lives.
        let has_copy = ctx
            .st
            .store
            .delivery_link_of(&req.request_id)
            .await
            .map_err(|e| WebError::Api(e.into()))?
            .is_some();
        let extra_link = has_copy.then(|| {
            (
                format!("/requests/{}/copy", percent_encode(&req.request_id)),
                m.open_copy,
            )
        });
        let status = if failed {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        Ok(ctx.respond(
            status,
            DetailPage {
                m,
                ch: ctx.chrome(),
                actions_empty: forms.is_empty(),
                actions_html,
                id: req.request_id.clone(),
                title: req.title.clone(),
                format: m.format(&req.format).to_owned(),
                state: m.borrow_state(&req.state).to_owned(),
                facts: facts.0,
                flags,
                events,
                back,
                back_label,
                notice,
                extra_link,
                lenders,
                excluded,
                review_html,
                desk_html,
            },
        ))
    }
}

/// An action from the detail page, through the same flow as the JSON API.
#[tracing::instrument(skip_all, fields(request = %id))]
pub async fn act(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<ActForm>, FormRejection>,
) -> Response {
    let r = async {
        let user = ctx.user()?;
        let Form(form) =
            form.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        let input = form.input()?;
        let action = input.action.clone();
        borrow_action(&ctx.st, user, &id, input).await?;
        let to = format!(
            "/requests/{}?done={}",
            percent_encode(&id),
            percent_encode(&action)
        );
        Ok(see_other(&to))
    }
    .await;
    ctx.finish(r)
}

/// Open the copy delivered for a request (a reader's view is counted, with the same limits as
/// the API).
pub async fn copy(ctx: Ctx, Path(id): Path<String>) -> Response {
    let r = async {
        let user = ctx.user()?;
        crate::api::files::open_copy(&ctx.st, user, &id)
            .await
            .map_err(WebError::Api)
    }
    .await;
    ctx.finish(r)
}
