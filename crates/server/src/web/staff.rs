//! Pages for staff: the borrowing and lending queues as tables with state facets and a search,
//! each row offering only the actions its state machine allows, posted to the same flow
//! functions as the JSON API. Plain forms and links; htmx swaps just the queue when present.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query};
use axum::http::Uri;
use axum::response::Response;
use domain::Actor;
use domain::requester::BorrowState;
use domain::supplier::LendState;
use serde::Deserialize;
use store::{BorrowFilter, LendFilter};

use super::catalog::Msg;
use super::reader::{DetailPage, EventLine, Fact, Facts, PAGE_SIZE, paging, when};
use super::{
    Chrome, Ctx, QueryIn, WebError, WebResult, local_path, percent_encode, query, see_other,
};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::flow::borrow::{allowed_actions as borrow_allowed, borrow_action};
use crate::flow::lend::{allowed_actions as lend_allowed, lend_action, visible_lend};
use crate::flow::{ActionInput, REASONS_UNFILLED};

/// An input an action needs (or may take).
pub struct ActionField {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `url`, `textarea` or `select`.
    pub kind: &'static str,
    pub options: Vec<&'static str>,
    pub required: bool,
}

/// One action button, with the inputs it needs shown before it.
pub struct ActionForm {
    pub action: &'static str,
    pub label: &'static str,
    pub fields: Vec<ActionField>,
}

fn note(m: &'static Msg, required: bool) -> ActionField {
    ActionField {
        name: "note",
        label: if required {
            m.note_to_partner
        } else {
            m.note_optional
        },
        kind: "textarea",
        options: Vec::new(),
        required,
    }
}

/// The forms for the actions the requester machine allows now.
pub fn borrow_action_forms(m: &'static Msg, allowed: &[&'static str]) -> Vec<ActionForm> {
    allowed
        .iter()
        .map(|&action| ActionForm {
            action,
            label: m.borrow_action(action),
            fields: match action {
                "edit_rota" => vec![ActionField {
                    name: "rota",
                    label: m.rota_label,
                    kind: "text",
                    options: Vec::new(),
                    required: true,
                }],
                _ => Vec::new(),
            },
        })
        .collect()
}

/// The forms for the actions the supplier machine allows now.
pub fn lend_action_forms(m: &'static Msg, allowed: &[&'static str]) -> Vec<ActionForm> {
    allowed
        .iter()
        .map(|&action| ActionForm {
            action,
            label: m.lend_action(action),
            fields: match action {
                "reject" | "locate_failed" => vec![
                    ActionField {
                        name: "reason",
                        label: m.reason_label,
                        kind: "select",
                        options: REASONS_UNFILLED.to_vec(),
                        required: true,
                    },
                    note(m, false),
                ],
                "conditional" => vec![note(m, true)],
                "forward" => vec![
                    ActionField {
                        name: "forward_to",
                        label: m.forward_to_label,
                        kind: "text",
                        options: Vec::new(),
                        required: true,
                    },
                    note(m, false),
                ],
                "offer_retry" => vec![
                    ActionField {
                        name: "reason",
                        label: m.reason_label,
                        kind: "select",
                        options: domain::retry::REASONS_RETRY.to_vec(),
                        required: true,
                    },
                    ActionField {
                        name: "cost",
                        label: m.retry_cost_label,
                        kind: "text",
                        options: Vec::new(),
                        required: false,
                    },
                    ActionField {
                        name: "retry_after",
                        label: m.retry_after_label,
                        kind: "date",
                        options: Vec::new(),
                        required: false,
                    },
                    ActionField {
                        name: "retry_before",
                        label: m.retry_before_label,
                        kind: "date",
                        options: Vec::new(),
                        required: false,
                    },
                    ActionField {
                        name: "loan_condition",
                        label: m.loan_condition_label,
                        kind: "text",
                        options: Vec::new(),
                        required: false,
                    },
                    note(m, false),
                ],
                "ship_digital" => vec![ActionField {
                    name: "url",
                    label: m.url_label,
                    kind: "url",
                    options: Vec::new(),
                    required: true,
                }],
                "ship_physical" => vec![ActionField {
                    name: "barcode",
                    label: m.barcode_label,
                    kind: "text",
                    options: Vec::new(),
                    required: false,
                }],
                _ => Vec::new(),
            },
        })
        .collect()
}

/// The forms of one request's actions, rendered once and placed in a page or a queue row.
#[derive(Template)]
#[template(path = "action_forms.html")]
struct ActionForms<'a> {
    actions: &'a [ActionForm],
    act_url: &'a str,
    back: &'a str,
    htmx_target: bool,
    form_id: &'a str,
}

/// HTML of the action forms; `htmx_target` makes them swap the queue in place.
pub fn actions_html(
    actions: &[ActionForm],
    act_url: &str,
    back: &str,
    htmx_target: bool,
    form_id: &str,
) -> Result<String, ApiError> {
    ActionForms {
        actions,
        act_url,
        back,
        htmx_target,
        form_id,
    }
    .render()
    .map_err(ApiError::internal)
}

/// An action as a form posts it.
#[derive(Debug, Default, Deserialize)]
pub struct ActForm {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub internal_note: Option<String>,
    #[serde(default)]
    pub rota: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub barcode: Option<String>,
    /// `offer_retry`: "25.00 CNY".
    #[serde(default)]
    pub cost: Option<String>,
    #[serde(default)]
    pub retry_after: Option<String>,
    #[serde(default)]
    pub retry_before: Option<String>,
    #[serde(default)]
    pub loan_condition: Option<String>,
    #[serde(default)]
    pub forward_to: Option<String>,
    /// The queue page (path and query) to return to.
    #[serde(default)]
    pub back: Option<String>,
}

/// A form date (YYYY-MM-DD); empty is absent.
fn date(v: &Option<String>) -> Result<Option<time::Date>, WebError> {
    match filled(v) {
        None => Ok(None),
        Some(d) => time::Date::parse(
            &d,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(Some)
        .map_err(|_| WebError::Bad(|m| m.err_bad_date, None)),
    }
}

fn filled(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl ActForm {
    pub fn input(&self) -> Result<ActionInput, WebError> {
        let action = self.action.trim();
        if action.is_empty() {
            return Err(WebError::Bad(|m| m.err_no_action, None));
        }
        // "25.00 CNY" (or "CNY 25.00") into minor units and a currency.
        let cost = match filled(&self.cost) {
            None => None,
            Some(text) => {
                let parts: Vec<&str> = text.split_whitespace().collect();
                let parsed = match parts.as_slice() {
                    [a, b] => domain::money::Currency::parse(b)
                        .and_then(|c| domain::money::Money::parse_decimal(a, c))
                        .or_else(|_| {
                            domain::money::Currency::parse(a)
                                .and_then(|c| domain::money::Money::parse_decimal(b, c))
                        })
                        .ok(),
                    _ => None,
                };
                Some(parsed.ok_or(WebError::Bad(|m| m.err_bad_cost, None))?)
            }
        };
        Ok(ActionInput {
            action: action.to_owned(),
            note: filled(&self.note),
            internal_note: filled(&self.internal_note),
            rota: filled(&self.rota).map(|r| {
                r.split([',', ' ', '，', '、'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            reason: filled(&self.reason),
            url: filled(&self.url),
            barcode: filled(&self.barcode),
            cost_minor: cost.as_ref().map(|c| c.minor),
            currency: cost.map(|c| c.currency.as_str().to_owned()),
            retry_after: date(&self.retry_after)?,
            retry_before: date(&self.retry_before)?,
            loan_condition: filled(&self.loan_condition),
            forward_to: filled(&self.forward_to),
            ..ActionInput::default()
        })
    }
}

pub struct Facet {
    pub label: String,
    pub count: i64,
    pub href: String,
    pub current: bool,
}

pub struct QueueRow {
    pub id: String,
    pub short_id: String,
    pub href: Option<String>,
    pub title: String,
    pub format: String,
    pub party: String,
    pub state: String,
    pub due: String,
    pub updated: String,
    /// The row's action forms, already rendered (see [`actions_html`]).
    pub actions_html: String,
}

/// The queue itself: facets, search, table. Rendered inside the page, or alone for htmx.
pub struct QueueView {
    pub base: &'static str,
    pub title: &'static str,
    pub party_label: &'static str,
    pub here: String,
    pub q: String,
    pub state: String,
    pub facets: Vec<Facet>,
    pub rows: Vec<QueueRow>,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// Actions that need no details, offered for the selected rows at once.
    pub bulk_actions: Vec<BulkChoice>,
}

pub struct BulkChoice {
    pub value: &'static str,
    pub label: &'static str,
}

/// Actions staff may apply to many rows at once: those that need no details. Each row still
/// goes through its machine, which refuses the rows whose stage does not allow it.
const BORROW_BULK: &[&str] = &[
    "approve",
    "receive",
    "lend_to_patron",
    "deliver_to_patron",
    "patron_return",
    "ship_return",
];
const LEND_BULK: &[&str] = &[
    "will_supply",
    "expect_to_supply",
    "locate",
    "print_pick_slip",
    "ship_non_returnable",
    "mark_overdue",
    "recall",
    "check_in",
];

#[derive(Template, WebTemplate)]
#[template(path = "queue.html")]
pub struct QueuePage {
    pub m: &'static Msg,
    pub ch: Chrome,
    pub v: QueueView,
}

#[derive(Template, WebTemplate)]
#[template(path = "queue_partial.html")]
pub struct QueuePartial {
    pub m: &'static Msg,
    pub v: QueueView,
}

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub done: Option<String>,
    /// After a bulk action: how many requests it moved and how many refused it.
    #[serde(default)]
    pub bulk_done: Option<usize>,
    #[serde(default)]
    pub bulk_refused: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Borrowing,
    Lending,
}

/// The facet of every state that is not closed: what is still to be worked.
const OPEN: &str = "open";

impl Side {
    /// The states of this side's machine in which a request is still being worked.
    fn open_states(self) -> Vec<&'static str> {
        match self {
            Side::Borrowing => BorrowState::ALL
                .iter()
                .filter(|s| !s.is_closed())
                .map(|s| s.as_str())
                .collect(),
            Side::Lending => LendState::ALL
                .iter()
                .filter(|s| !s.is_closed())
                .map(|s| s.as_str())
                .collect(),
        }
    }

    fn base(self) -> &'static str {
        match self {
            Side::Borrowing => "/staff/borrowing",
            Side::Lending => "/staff/lending",
        }
    }

    fn staff(self, user: &CurrentUser) -> WebResult<()> {
        let capacity = match self {
            Side::Borrowing => Actor::BorrowingStaff,
            Side::Lending => Actor::LendingStaff,
        };
        if user.can(capacity) {
            Ok(())
        } else {
            Err(WebError::Api(ApiError::Forbidden(
                "this queue is for another role".to_owned(),
            )))
        }
    }
}

fn query_link(base: &str, state: &str, q: &str) -> String {
    let mut parts = Vec::new();
    if !state.is_empty() {
        parts.push(format!("state={}", percent_encode(state)));
    }
    if !q.is_empty() {
        parts.push(format!("q={}", percent_encode(q)));
    }
    if parts.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", parts.join("&"))
    }
}

/// Build the queue for `query`: the facet counts, the page of rows and each row's actions.
async fn queue_view(
    ctx: &Ctx,
    side: Side,
    user: &CurrentUser,
    query: &QueueQuery,
) -> WebResult<QueueView> {
    let m = ctx.m;
    let st = &ctx.st;
    let state = query.state.clone().unwrap_or_default().trim().to_owned();
    let q = query.q.clone().unwrap_or_default().trim().to_owned();
    let offset = query.offset.unwrap_or(0).max(0);
    let open_states = side.open_states();
    let known = match side {
        Side::Borrowing => BorrowState::parse(&state).is_some(),
        Side::Lending => LendState::parse(&state).is_some(),
    };
    if !state.is_empty() && state != OPEN && !known {
        return Err(WebError::Bad(|m| m.err_bad_state, Some(state)));
    }
    let states = if state.is_empty() {
        Vec::new()
    } else if state == OPEN {
        open_states.iter().map(|s| (*s).to_owned()).collect()
    } else {
        vec![state.clone()]
    };
    let text = (!q.is_empty()).then(|| q.clone());
    let base = side.base();
    let here = {
        let link = query_link(base, &state, &q);
        if offset > 0 {
            let sep = if link.contains('?') { '&' } else { '?' };
            format!("{link}{sep}offset={offset}")
        } else {
            link
        }
    };
    let (counts, rows, total) = match side {
        Side::Borrowing => {
            let counts = st.store.borrow_state_counts(&user.library_id).await?;
            let filter = BorrowFilter {
                library_id: user.library_id.clone(),
                patron_id: None,
                states,
                text,
                limit: PAGE_SIZE,
                offset,
            };
            let (reqs, total) = st.store.borrow_requests(&filter).await?;
            let mut rows = Vec::new();
            for r in reqs {
                let allowed = borrow_allowed(&r, user).map_err(ApiError::from)?;
                let act_url = format!("{base}/{}/act", percent_encode(&r.request_id));
                let forms = borrow_action_forms(m, &allowed);
                rows.push(QueueRow {
                    actions_html: actions_html(&forms, &act_url, &here, true, &r.request_id)?,
                    short_id: short(&r.request_id),
                    href: Some(format!("/requests/{}", percent_encode(&r.request_id))),
                    title: r.title.clone(),
                    format: m.format(&r.format).to_owned(),
                    party: r.lender_id.clone().unwrap_or_default(),
                    state: m.borrow_state(&r.state).to_owned(),
                    due: r.due_date.map(|d| d.to_string()).unwrap_or_default(),
                    updated: when(r.updated_at),
                    id: r.request_id,
                });
            }
            let counts =
                in_machine_order(BorrowState::ALL.iter().map(|s| s.as_str()), &counts, |s| {
                    m.borrow_state(s).to_owned()
                });
            (counts, rows, total)
        }
        Side::Lending => {
            let counts = st.store.lend_state_counts(&user.library_id).await?;
            let filter = LendFilter {
                library_id: user.library_id.clone(),
                states,
                borrower_id: None,
                text,
                limit: PAGE_SIZE,
                offset,
            };
            let (reqs, total) = st.store.lend_requests(&filter).await?;
            let mut rows = Vec::new();
            for r in reqs {
                let allowed = lend_allowed(&r, user).map_err(ApiError::from)?;
                let act_url = format!("{base}/{}/act", percent_encode(&r.request_id));
                let forms = lend_action_forms(m, &allowed);
                rows.push(QueueRow {
                    actions_html: actions_html(&forms, &act_url, &here, true, &r.request_id)?,
                    short_id: short(&r.request_id),
                    href: Some(format!("{base}/{}", percent_encode(&r.request_id))),
                    title: r.title.clone(),
                    format: m.format(&r.format).to_owned(),
                    party: r
                        .borrower_id
                        .clone()
                        .unwrap_or_else(|| r.borrower_agency.clone()),
                    state: m.lend_state(&r.state).to_owned(),
                    due: r.due_date.map(|d| d.to_string()).unwrap_or_default(),
                    updated: when(r.updated_at),
                    id: r.request_id,
                });
            }
            let counts =
                in_machine_order(LendState::ALL.iter().map(|s| s.as_str()), &counts, |s| {
                    m.lend_state(s).to_owned()
                });
            (counts, rows, total)
        }
    };
    let all: i64 = counts.iter().map(|(_, _, c)| c).sum();
    let open: i64 = counts
        .iter()
        .filter(|(name, _, _)| open_states.contains(&name.as_str()))
        .map(|(_, _, c)| c)
        .sum();
    let mut facets = vec![
        Facet {
            label: m.facet_all.to_owned(),
            count: all,
            href: query_link(base, "", &q),
            current: state.is_empty(),
        },
        Facet {
            label: m.facet_open.to_owned(),
            count: open,
            href: query_link(base, OPEN, &q),
            current: state == OPEN,
        },
    ];
    facets.extend(counts.into_iter().map(|(name, label, count)| Facet {
        href: query_link(base, &name, &q),
        current: name == state,
        label,
        count,
    }));
    let (prev, next) = paging(&query_link(base, &state, &q), offset, rows.len(), total);
    Ok(QueueView {
        base,
        title: match side {
            Side::Borrowing => m.borrowing_title,
            Side::Lending => m.lending_title,
        },
        party_label: match side {
            Side::Borrowing => m.col_lender,
            Side::Lending => m.col_borrower,
        },
        here,
        q,
        state,
        facets,
        rows,
        total,
        prev,
        next,
        notice: bulk_notice(m, query)
            .or_else(|| query.done.as_ref().map(|_| m.action_done.to_owned())),
        error: None,
        bulk_actions: match side {
            Side::Borrowing => BORROW_BULK
                .iter()
                .map(|&value| BulkChoice {
                    value,
                    label: m.borrow_action(value),
                })
                .collect(),
            Side::Lending => LEND_BULK
                .iter()
                .map(|&value| BulkChoice {
                    value,
                    label: m.lend_action(value),
                })
                .collect(),
        },
    })
}

/// What a bulk action did, in a sentence.
fn bulk_notice(m: &'static Msg, q: &QueueQuery) -> Option<String> {
    let done = q.bulk_done?;
    let refused = q.bulk_refused.unwrap_or(0);
    Some(if done == 0 && refused == 0 {
        m.bulk_none.to_owned()
    } else {
        format!("{} {done}; {} {refused}", m.bulk_done, m.bulk_refused)
    })
}

/// The last eight characters tell rows apart by eye (a v7 uuid starts with its timestamp, so
/// requests made together share their first ones); the full id is in the cell's title.
fn short(id: &str) -> String {
    let n = id.chars().count();
    id.chars().skip(n.saturating_sub(8)).collect()
}

fn render(ctx: &Ctx, v: QueueView) -> Response {
    if ctx.htmx {
        ctx.page(QueuePartial { m: ctx.m, v })
    } else {
        ctx.page(QueuePage {
            m: ctx.m,
            ch: ctx.chrome(),
            v,
        })
    }
}

async fn queue(ctx: Ctx, side: Side, q: QueryIn<QueueQuery>) -> Response {
    let r = async {
        let user = ctx.user()?;
        side.staff(user)?;
        let q = query(q)?;
        let v = queue_view(&ctx, side, user, &q).await?;
        Ok(render(&ctx, v))
    }
    .await;
    ctx.finish(r)
}

pub async fn borrowing(ctx: Ctx, q: QueryIn<QueueQuery>) -> Response {
    queue(ctx, Side::Borrowing, q).await
}

pub async fn lending(ctx: Ctx, q: QueryIn<QueueQuery>) -> Response {
    queue(ctx, Side::Lending, q).await
}

/// Do a row's action, then show the queue again: the whole page after a redirect without
/// JavaScript, or just the queue for htmx (with the refusal in it, if there was one).
async fn queue_act(
    ctx: Ctx,
    side: Side,
    id: String,
    form: Result<Form<ActForm>, FormRejection>,
) -> Response {
    let r = async {
        let user = ctx.user()?;
        side.staff(user)?;
        let Form(form) =
            form.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        let back = form
            .back
            .as_deref()
            .and_then(local_path)
            .filter(|b| b.starts_with(side.base()))
            .unwrap_or(side.base())
            .to_owned();
        let input = form.input()?;
        let done = match side {
            Side::Borrowing => borrow_action(&ctx.st, user, &id, input).await.map(|_| ()),
            Side::Lending => lend_action(&ctx.st, user, &id, input).await.map(|_| ()),
        };
        if !ctx.htmx {
            done?;
            let sep = if back.contains('?') { '&' } else { '?' };
            let to = format!("{back}{sep}done={}", percent_encode(form.action.trim()));
            return Ok(see_other(&to));
        }
        let uri: Uri = back
            .parse()
            .map_err(|_| WebError::Bad(|m| m.err_bad_back, None))?;
        let query = Query::<QueueQuery>::try_from_uri(&uri)
            .map(|Query(q)| q)
            .unwrap_or_default();
        let mut v = queue_view(&ctx, side, user, &query).await?;
        match done {
            Ok(()) => v.notice = Some(ctx.m.action_done.to_owned()),
            Err(e @ ApiError::Internal(_)) => return Err(WebError::Api(e)),
            Err(e) => v.error = Some(refusal_text(ctx.m, &e)),
        }
        Ok(render(&ctx, v))
    }
    .await;
    ctx.finish(r)
}

/// A refused action in a sentence, for the message above the queue.
pub(crate) fn refusal_text(m: &'static Msg, e: &ApiError) -> String {
    match e {
        ApiError::Refused(domain::Refusal::NotAllowed { .. }) => m.err_not_allowed.to_owned(),
        ApiError::Refused(domain::Refusal::Forbidden { .. }) => m.err_action_forbidden.to_owned(),
        ApiError::Conflict(_) => m.err_conflict.to_owned(),
        ApiError::NotFound(_) => m.err_not_found.to_owned(),
        ApiError::BadRequest(msg) => format!("{} {msg}", m.err_bad_request),
        ApiError::Invalid(fields) => fields
            .iter()
            .map(|f| m.field_error(f.field, f.code, &f.message))
            .collect::<Vec<_>>()
            .join("; "),
        ApiError::Internal(_) | ApiError::Unauthenticated | ApiError::BadCredentials => {
            m.error_title.to_owned()
        }
        ApiError::Forbidden(_) => m.err_forbidden.to_owned(),
        ApiError::Gone(_, msg) | ApiError::Unacceptable(_, _, msg) => {
            format!("{} {msg}", m.err_bad_request)
        }
        ApiError::Bilingual(_, _, en, zh) => {
            format!(
                "{} {}",
                m.err_bad_request,
                if m.lang == "en" { en } else { zh }
            )
        }
    }
}

pub async fn borrowing_act(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<ActForm>, FormRejection>,
) -> Response {
    queue_act(ctx, Side::Borrowing, id, form).await
}

pub async fn lending_act(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<ActForm>, FormRejection>,
) -> Response {
    queue_act(ctx, Side::Lending, id, form).await
}

/// One lending request for the lending staff: the citation, its history and the actions the
/// supplier machine allows now (posted through the queue's action route, coming back here).
pub async fn lend_detail(
    ctx: Ctx,
    Path(id): Path<String>,
    q: QueryIn<super::reader::DetailQuery>,
) -> Response {
    let r = async {
        let user = ctx.user()?;
        Side::Lending.staff(user)?;
        let q = query(q)?;
        let req = visible_lend(&ctx.st, user, &id).await?;
        let allowed = lend_allowed(&req, user).map_err(ApiError::from)?;
        let events = ctx
            .st
            .store
            .events(&req.library_id, &req.request_id)
            .await?;
        let m = ctx.m;
        let c = &req.citation.0;
        let mut facts = Facts::default();
        facts.add(m.col_borrower, req.borrower_id.clone());
        facts.citation(m, c);
        facts.add(m.barcode_label, req.barcode.clone());
        facts.add(m.col_due, req.due_date.map(|d| d.to_string()));
        let mut flags = Vec::new();
        if req.renew_pending {
            flags.push(m.renew_pending);
        }
        let events = events
            .into_iter()
            .map(|e| EventLine {
                at: when(e.at),
                what: m.lend_event(&e.action).to_owned(),
                by: m.actor(&e.actor).to_owned(),
                state: m.lend_state(&e.to_state).to_owned(),
                note: e.note,
            })
            .collect();
        let here = format!("/staff/lending/{}", percent_encode(&req.request_id));
        let forms = lend_action_forms(m, &allowed);
        let act_url = format!("{here}/act");
        let actions_html = actions_html(&forms, &act_url, &here, false, "detail")?;
        Ok(ctx.page(DetailPage {
            m,
            ch: ctx.chrome(),
            id: req.request_id.clone(),
            title: req.title.clone(),
            format: m.format(&req.format).to_owned(),
            state: m.lend_state(&req.state).to_owned(),
            facts: facts.0,
            flags,
            events,
            actions_empty: forms.is_empty(),
            actions_html,
            back: "/staff/lending".to_owned(),
            back_label: m.nav_lending,
            notice: q.done.as_ref().map(|_| m.action_done),
            extra_link: Some((format!("{here}/slip"), m.slip_link)),
            lenders: Vec::new(),
            excluded: Vec::new(),
            review_html: String::new(),
        }))
    }
    .await;
    ctx.finish(r)
}

/// Apply one action to every selected row, each through its machine; say how many it moved and
/// how many refused it (their stage did not allow it, or someone changed them meanwhile).
async fn queue_bulk(
    ctx: Ctx,
    side: Side,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let r = async {
        let user = ctx.user()?;
        side.staff(user)?;
        let Form(pairs) =
            form.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        let value = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let action = value("action");
        let offered = match side {
            Side::Borrowing => BORROW_BULK,
            Side::Lending => LEND_BULK,
        };
        if !offered.contains(&action.as_str()) {
            return Err(WebError::Bad(|m| m.err_not_bulk, None));
        }
        let ids: Vec<&str> = pairs
            .iter()
            .filter(|(k, v)| k == "ids" && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
            .take(usize::try_from(PAGE_SIZE).unwrap_or(50))
            .collect();
        let (mut done, mut refused) = (0usize, 0usize);
        for id in ids {
            let input = ActionInput {
                action: action.clone(),
                ..ActionInput::default()
            };
            let result = match side {
                Side::Borrowing => borrow_action(&ctx.st, user, id, input).await.map(|_| ()),
                Side::Lending => lend_action(&ctx.st, user, id, input).await.map(|_| ()),
            };
            match result {
                Ok(()) => done += 1,
                Err(e @ ApiError::Internal(_)) => return Err(WebError::Api(e)),
                Err(_) => refused += 1,
            }
        }
        let back = local_path(&value("back"))
            .filter(|b| b.starts_with(side.base()))
            .unwrap_or(side.base())
            .to_owned();
        if !ctx.htmx {
            let sep = if back.contains('?') { '&' } else { '?' };
            return Ok(see_other(&format!(
                "{back}{sep}bulk_done={done}&bulk_refused={refused}"
            )));
        }
        let uri: Uri = back
            .parse()
            .map_err(|_| WebError::Bad(|m| m.err_bad_back, None))?;
        let mut query = Query::<QueueQuery>::try_from_uri(&uri)
            .map(|Query(q)| q)
            .unwrap_or_default();
        query.bulk_done = Some(done);
        query.bulk_refused = Some(refused);
        let v = queue_view(&ctx, side, user, &query).await?;
        Ok(render(&ctx, v))
    }
    .await;
    ctx.finish(r)
}

pub async fn borrowing_bulk(
    ctx: Ctx,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    queue_bulk(ctx, Side::Borrowing, form).await
}

pub async fn lending_bulk(
    ctx: Ctx,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    queue_bulk(ctx, Side::Lending, form).await
}

#[derive(Template, WebTemplate)]
#[template(path = "slip.html")]
pub struct SlipPage {
    pub m: &'static Msg,
    pub ch: Chrome,
    pub title: String,
    pub facts: Vec<Fact>,
    pub back: String,
}

/// A lending request's pick slip: what the shelver needs to find the item and where it goes,
/// on a page that prints as the slip alone.
pub async fn lend_slip(ctx: Ctx, Path(id): Path<String>) -> Response {
    let r = async {
        let user = ctx.user()?;
        Side::Lending.staff(user)?;
        let req = visible_lend(&ctx.st, user, &id).await?;
        let m = ctx.m;
        let c = &req.citation.0;
        let mut facts = Facts::default();
        let mut fact = |label: &'static str, v: Option<String>| facts.add(label, v);
        fact(m.call_number, req.call_number.clone());
        fact(m.barcode_label, req.barcode.clone());
        fact(m.f_author, c.author.clone());
        fact(m.f_source_title, c.source_title.clone());
        fact(m.f_volume, c.volume.clone());
        fact(m.f_issue, c.issue.clone());
        fact(m.f_year, c.year.clone());
        fact(m.f_pages, c.pages.clone());
        fact(m.f_isbn, c.isbn.as_ref().map(|v| v.to_string()));
        fact(m.f_issn, c.issn.as_ref().map(|v| v.to_string()));
        fact(m.col_format, Some(m.format(&req.format).to_owned()));
        fact(
            m.col_borrower,
            req.borrower_id
                .clone()
                .or_else(|| Some(req.borrower_agency.clone())),
        );
        fact(m.borrower_request_id, Some(req.borrower_request_id.clone()));
        fact(m.col_id, Some(req.request_id.clone()));
        fact(m.f_need_by, c.need_by.map(|d| d.to_string()));
        fact(m.received_at, Some(when(req.created_at)));
        Ok(ctx.page(SlipPage {
            m,
            ch: ctx.chrome(),
            title: req.title.clone(),
            facts: facts.0,
            back: format!("/staff/lending/{}", percent_encode(&req.request_id)),
        }))
    }
    .await;
    ctx.finish(r)
}

/// The per-state counts in the order of the state machine, each with its label; states with
/// no request are left out.
fn in_machine_order<'a>(
    states: impl Iterator<Item = &'a str>,
    counts: &[(String, i64)],
    label: impl Fn(&str) -> String,
) -> Vec<(String, String, i64)> {
    states
        .filter_map(|s| {
            counts
                .iter()
                .find(|(n, _)| n == s)
                .map(|(_, c)| (s.to_owned(), label(s), *c))
        })
        .collect()
}
