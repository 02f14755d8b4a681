//! Pages for staff: the borrowing and lending queues as tables with state facets and a search,
//! each row offering only the actions its state machine allows, posted to the same flow
//! functions as the JSON API. Plain forms and links; htmx swaps just the queue when present.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::FormRejection;
use axum::extract::{Multipart, Path, Query};
use axum::http::Uri;
use axum::response::Response;
use domain::Actor;
use domain::requester::BorrowState;
use domain::supplier::LendState;
use serde::Deserialize;
use store::BorrowFilter;

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
    /// `text`, `url`, `textarea`, `select` or `file`.
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

impl ActionForm {
    /// The form sends a file (multipart, to the request's `ship-file` route).
    pub fn sends_file(&self) -> bool {
        self.fields.iter().any(|f| f.kind == "file")
    }
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
                // Why and until when, for the lender's staff.
                "hold_return" => vec![note(m, false)],
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
                // Why and until when, for the borrower's staff.
                "hold_return" => vec![note(m, false)],
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
                // An address, or the file itself (the file last: the text is read first).
                "ship_digital" => vec![
                    ActionField {
                        name: "url",
                        label: m.url_label,
                        kind: "url",
                        options: Vec::new(),
                        required: false,
                    },
                    ActionField {
                        name: "file",
                        label: m.copy_file_label,
                        kind: "file",
                        options: Vec::new(),
                        required: false,
                    },
                ],
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
    /// Where a form that sends a file posts (`…/ship-file` beside `…/act`).
    file_url: &'a str,
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
    let file_url = match act_url.strip_suffix("/act") {
        Some(base) => format!("{base}/ship-file"),
        None => act_url.to_owned(),
    };
    ActionForms {
        actions,
        act_url,
        file_url: &file_url,
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
    /// Who has the request.
    pub assignee: String,
    /// Lending: the labels staff put on it, and where to post a label.
    pub labels: Vec<String>,
    pub labels_url: String,
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
    pub search_label: &'static str,
    /// Lending: active / completed / all.
    pub scopes: Vec<Tab>,
    /// Lending: the predefined task filters.
    pub tasks: Vec<Tab>,
    /// Lending: the facets of the selection, each with its values and counts.
    pub groups: Vec<FacetGroup>,
    /// The filters in force, each linking to the queue without it.
    pub chips: Vec<Tab>,
    /// The filters the search form keeps.
    pub hidden: Vec<(String, String)>,
    /// Lending: whom the selected rows may be assigned to (value, name).
    pub assignees: Vec<(String, String)>,
    /// Lending: the assignee column, bulk assignment and pick slips.
    pub lending: bool,
}

/// A link that narrows or widens the queue.
pub struct Tab {
    pub label: String,
    pub href: String,
    pub current: bool,
}

pub struct FacetGroup {
    pub title: &'static str,
    pub facets: Vec<Facet>,
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
    // The lending queue has its own view (`lend_queue_view`): this one is the borrowing side's.
    let users = st.store.users(&user.library_id).await?;
    let person = |id: &str| {
        users
            .iter()
            .find(|u| u.user_id == id)
            .map(|u| u.display_name.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    let (counts, rows, total) = {
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
                assignee: r.assignee_id.as_deref().map(&person).unwrap_or_default(),
                labels: Vec::new(),
                labels_url: String::new(),
                id: r.request_id,
            });
        }
        let counts = in_machine_order(BorrowState::ALL.iter().map(|s| s.as_str()), &counts, |s| {
            m.borrow_state(s).to_owned()
        });
        (counts, rows, total)
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
    let hidden = if state.is_empty() {
        Vec::new()
    } else {
        vec![("state".to_owned(), state.clone())]
    };
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
        search_label: m.search_label,
        scopes: Vec::new(),
        tasks: Vec::new(),
        groups: Vec::new(),
        chips: Vec::new(),
        hidden,
        // Borrowing staff assign and release in bulk too (a plain form post, no script needed).
        assignees: {
            let mut a = vec![("me".to_owned(), m.assigned_to_me.to_owned())];
            a.extend(
                users
                    .iter()
                    .filter(|u| {
                        u.user_id != user.user_id
                            && crate::flow::desk::works(u, crate::flow::desk::Side::Borrow)
                    })
                    .map(|u| (u.username.clone(), u.display_name.clone())),
            );
            a
        },
        lending: false,
        bulk_actions: match side {
            Side::Borrowing => [
                BulkChoice {
                    value: "assign",
                    label: m.bulk_assign,
                },
                BulkChoice {
                    value: "release",
                    label: m.bulk_release,
                },
            ]
            .into_iter()
            .chain(BORROW_BULK.iter().map(|&value| BulkChoice {
                value,
                label: m.borrow_action(value),
            }))
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
    Some(bulk_sentence(m, q.bulk_done?, q.bulk_refused.unwrap_or(0)))
}

fn bulk_sentence(m: &'static Msg, done: usize, refused: usize) -> String {
    if done == 0 && refused == 0 {
        m.bulk_none.to_owned()
    } else {
        format!("{} {done}; {} {refused}", m.bulk_done, m.bulk_refused)
    }
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

pub async fn lending(ctx: Ctx, q: QueryIn<Vec<(String, String)>>) -> Response {
    let r = async {
        let user = ctx.user()?;
        Side::Lending.staff(user)?;
        let pairs = query(q)?;
        let v = lend_queue_view(&ctx, user, &pairs).await?;
        Ok(render(&ctx, v))
    }
    .await;
    ctx.finish(r)
}

/// The queue at `back` (a path and query on this side), as htmx swaps it in after a change.
async fn view_at(
    ctx: &Ctx,
    side: Side,
    user: &CurrentUser,
    uri: &Uri,
    bulk: Option<(usize, usize)>,
) -> WebResult<QueueView> {
    match side {
        Side::Borrowing => {
            let mut query = Query::<QueueQuery>::try_from_uri(uri)
                .map(|Query(q)| q)
                .unwrap_or_default();
            if let Some((done, refused)) = bulk {
                query.bulk_done = Some(done);
                query.bulk_refused = Some(refused);
            }
            queue_view(ctx, side, user, &query).await
        }
        Side::Lending => {
            let mut pairs = Query::<Vec<(String, String)>>::try_from_uri(uri)
                .map(|Query(q)| q)
                .unwrap_or_default();
            if let Some((done, refused)) = bulk {
                pairs.push(("bulk_done".to_owned(), done.to_string()));
                pairs.push(("bulk_refused".to_owned(), refused.to_string()));
            }
            lend_queue_view(ctx, user, &pairs).await
        }
    }
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
        let input = form.input()?;
        let done = match side {
            Side::Borrowing => borrow_action(&ctx.st, user, &id, input).await.map(|_| ()),
            Side::Lending => lend_action(&ctx.st, user, &id, input).await.map(|_| ()),
        };
        after_act(&ctx, side, user, &form, done).await
    }
    .await;
    ctx.finish(r)
}

/// After a row's action: back to the queue page the form came from (after a redirect without
/// JavaScript), or the queue alone for htmx with the notice or the refusal in it.
async fn after_act(
    ctx: &Ctx,
    side: Side,
    user: &CurrentUser,
    form: &ActForm,
    done: Result<(), ApiError>,
) -> WebResult<Response> {
    let back = form
        .back
        .as_deref()
        .and_then(local_path)
        .filter(|b| b.starts_with(side.base()))
        .unwrap_or(side.base())
        .to_owned();
    if !ctx.htmx {
        done?;
        let sep = if back.contains('?') { '&' } else { '?' };
        let to = format!("{back}{sep}done={}", percent_encode(form.action.trim()));
        return Ok(see_other(&to));
    }
    let uri: Uri = back
        .parse()
        .map_err(|_| WebError::Bad(|m| m.err_bad_back, None))?;
    let mut v = view_at(ctx, side, user, &uri, None).await?;
    match done {
        Ok(()) => v.notice = Some(ctx.m.action_done.to_owned()),
        Err(e @ ApiError::Internal(_)) => return Err(WebError::Api(e)),
        Err(e) => v.error = Some(refusal_text(ctx.m, &e)),
    }
    Ok(render(ctx, v))
}

/// `POST /staff/lending/{id}/ship-file`: `ship_digital` from the browser with the copy chosen
/// in the form's file field, streamed into the store as the API's upload does (checked by
/// content, held to the size limit, nothing kept of a refused one), then shipped; or with the
/// address typed in when no file was chosen. The text fields come before the file in the form,
/// so they are read first.
pub async fn lending_ship_file(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let r = async {
        let user = ctx.user()?;
        Side::Lending.staff(user)?;
        let mut parts = form.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        let bad = |e: axum::extract::multipart::MultipartError| {
            WebError::Bad(|m| m.err_bad_form, Some(e.body_text()))
        };
        let mut form = ActForm {
            action: "ship_digital".to_owned(),
            ..ActForm::default()
        };
        let mut stored: Option<Result<String, ApiError>> = None;
        while let Some(mut field) = parts.next_field().await.map_err(bad)? {
            let name = field.name().unwrap_or_default().to_owned();
            match name.as_str() {
                "file" => {
                    // A form sent with no file chosen still has the part, nameless and empty.
                    let filename = field.file_name().unwrap_or_default().to_owned();
                    if filename.is_empty() || stored.is_some() {
                        while field.chunk().await.map_err(bad)?.is_some() {}
                        continue;
                    }
                    // Only stored when it can be shipped now: a refused action keeps nothing.
                    let req = visible_lend(&ctx.st, user, &id).await?;
                    let allowed = crate::flow::lend::allowed_actions_now(&ctx.st.store, &req, user)
                        .await
                        .map_err(ApiError::from)?;
                    if !allowed.contains(&"ship_digital") {
                        stored = Some(Err(ApiError::Bilingual(
                            409,
                            "action_not_allowed",
                            format!(
                                "a copy cannot be shipped while the request is {}",
                                req.state
                            ),
                            format!("请求处于 {} 状态，不能发送复制件", req.state),
                        )));
                        break;
                    }
                    stored = Some(
                        crate::api::files::store_copy(
                            &ctx.st, user, &id, &filename, None, &mut field,
                        )
                        .await
                        .map(|f| f.file_id),
                    );
                    if matches!(stored, Some(Err(_))) {
                        // Refused (too large, not a copy's type, broken off): answer now rather
                        // than read the rest of a body that may be far over the limit.
                        break;
                    }
                }
                "back" | "note" | "url" => {
                    let text = field.text().await.map_err(bad)?;
                    match name.as_str() {
                        "back" => form.back = Some(text),
                        "note" => form.note = Some(text),
                        _ => form.url = Some(text),
                    }
                }
                _ => while field.chunk().await.map_err(bad)?.is_some() {},
            }
        }
        let done = match stored {
            Some(Err(e)) => Err(e),
            Some(Ok(file_id)) => {
                let mut input = form.input()?;
                input.url = None;
                input.file_id = Some(file_id);
                lend_action(&ctx.st, user, &id, input).await.map(|_| ())
            }
            None => {
                let input = form.input()?;
                if input.url.is_none() {
                    Err(ApiError::Bilingual(
                        400,
                        "no_copy",
                        "choose the copy's file, or give the address where it can be fetched"
                            .to_owned(),
                        "请选择复制件文件，或填写可获取复制件的网址".to_owned(),
                    ))
                } else {
                    lend_action(&ctx.st, user, &id, input).await.map(|_| ())
                }
            }
        };
        after_act(&ctx, Side::Lending, user, &form, done).await
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
            .map(|f| m.field_error_of(f))
            .collect::<Vec<_>>()
            .join("; "),
        ApiError::Internal(_) | ApiError::Unauthenticated | ApiError::BadCredentials => {
            m.error_title.to_owned()
        }
        ApiError::Forbidden(_) => m.err_forbidden.to_owned(),
        ApiError::Gone(_, msg) | ApiError::Unacceptable(_, _, msg) => {
            format!("{} {msg}", m.err_bad_request)
        }
        ApiError::Bilingual(status, _, en, zh) => {
            let kind = match status {
                403 => m.err_forbidden,
                404 => m.err_not_found,
                409 => m.err_not_allowed,
                _ => m.err_bad_request,
            };
            format!("{kind} {}", if m.lang == "en" { en } else { zh })
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
        let allowed = crate::flow::lend::allowed_actions_now(&ctx.st.store, &req, user)
            .await
            .map_err(ApiError::from)?;
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
        let holds = ctx.st.store.return_holds(&req.request_id).await?;
        super::reader::hold_facts(&mut facts, m, &holds, true);
        let mut flags = Vec::new();
        if req.renew_pending {
            flags.push(m.renew_pending);
        }
        let threads = threads(m, &events);
        let events = events
            .into_iter()
            .map(|e| EventLine {
                at: when(e.at),
                what: match assigned_to(&e) {
                    Some(who) => format!("{}: {who}", m.lend_event(&e.action)),
                    None => m.lend_event(&e.action).to_owned(),
                },
                by: m.actor(&e.actor).to_owned(),
                state: m.lend_state(&e.to_state).to_owned(),
                note: super::reader::event_note(m, &e),
            })
            .collect();
        let here = format!("/staff/lending/{}", percent_encode(&req.request_id));
        let forms = lend_action_forms(m, &allowed);
        let act_url = format!("{here}/act");
        let actions_html = actions_html(&forms, &act_url, &here, false, "detail")?;
        let labels = ctx
            .st
            .store
            .lend_labels(std::slice::from_ref(&req.request_id))
            .await?
            .into_iter()
            .map(|(_, label)| label)
            .collect();
        let desk_html = desk_html(
            &ctx,
            user,
            crate::flow::desk::Side::Lend,
            &here,
            req.assignee_id.as_deref(),
            true,
            DeskLog {
                labels: Some(labels),
                threads,
            },
        )
        .await?;
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
            desk_html,
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
        let ids_all: Vec<String> = pairs
            .iter()
            .filter(|(k, v)| k == "ids" && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect();
        let desk_step = matches!(action.as_str(), "assign" | "release");
        let offered = match side {
            Side::Borrowing => BORROW_BULK,
            Side::Lending => LEND_BULK,
        };
        if !desk_step && !offered.contains(&action.as_str()) {
            return Err(WebError::Bad(|m| m.err_not_bulk, None));
        }
        let ids: Vec<&str> = pairs
            .iter()
            .filter(|(k, v)| k == "ids" && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
            .take(usize::try_from(PAGE_SIZE).unwrap_or(50))
            .collect();
        let (mut done, mut refused) = (0usize, 0usize);
        if desk_step {
            let assignee = value("assignee");
            let assignee = match assignee.as_str() {
                "" | "me" => None,
                who => Some(who),
            };
            let note = value("note");
            let desk_side = match side {
                Side::Borrowing => crate::flow::desk::Side::Borrow,
                Side::Lending => crate::flow::desk::Side::Lend,
            };
            let result = crate::api::lending::bulk(
                &ctx.st,
                user,
                desk_side,
                &ids_all,
                action == "release",
                assignee,
                Some(note.as_str()),
            )
            .await?;
            done = result.done;
            refused = result.refused.len();
        }
        for id in ids.into_iter().filter(|_| !desk_step) {
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
        let v = view_at(&ctx, side, user, &uri, Some((done, refused))).await?;
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
    /// When the slip was marked printed, if it was.
    pub printed: Option<String>,
    pub mark_url: String,
    pub notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SlipQuery {
    #[serde(default)]
    pub done: Option<String>,
}

/// `POST /staff/lending/{id}/slip/printed`: the slip was printed; the request counts as
/// printed in the queue from now.
pub async fn lend_slip_printed(ctx: Ctx, Path(id): Path<String>) -> Response {
    let r = async {
        let user = ctx.user()?;
        Side::Lending.staff(user)?;
        let req = visible_lend(&ctx.st, user, &id).await?;
        ctx.st
            .store
            .mark_slips_printed(
                &user.library_id,
                std::slice::from_ref(&req.request_id),
                Some(&user.user_id),
                crate::flow::Acting::user(user).label,
                ctx.st.now(),
            )
            .await?;
        Ok(see_other(&format!(
            "/staff/lending/{}/slip?done=printed",
            percent_encode(&req.request_id)
        )))
    }
    .await;
    ctx.finish(r)
}

/// A lending request's pick slip: what the shelver needs to find the item and where it goes,
/// on a page that prints as the slip alone. Opening it changes nothing; the button on it
/// marks it printed.
pub async fn lend_slip(ctx: Ctx, Path(id): Path<String>, q: QueryIn<SlipQuery>) -> Response {
    let r = async {
        let done = query(q)?.done;
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
        let here = format!("/staff/lending/{}", percent_encode(&req.request_id));
        Ok(ctx.page(SlipPage {
            m,
            ch: ctx.chrome(),
            title: req.title.clone(),
            facts: facts.0,
            mark_url: format!("{here}/slip/printed"),
            back: here,
            printed: req.slip_printed_at.map(when),
            notice: (done.as_deref() == Some("printed")).then_some(m.slip_marked),
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

/// The lending queue's parameters that a link carries, in the order links write them.
const LEND_KEYS: [&str; 17] = [
    "scope",
    "task",
    "state",
    "partner",
    "format",
    "assignee",
    "created",
    "modified",
    "due",
    "needed_by",
    "alert",
    "service_level",
    "supplied_format",
    "printed",
    "label",
    "partner_notes",
    "q",
];

/// The lending queue's address with the filters `cur`, `key` set to `value` (or removed).
fn lend_link(cur: &[(&'static str, String)], key: &str, value: Option<&str>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for k in LEND_KEYS {
        let v = if k == key {
            value.map(str::to_owned)
        } else {
            cur.iter().find(|(c, _)| *c == k).map(|(_, v)| v.clone())
        };
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", percent_encode(&v)));
        }
    }
    if parts.is_empty() {
        "/staff/lending".to_owned()
    } else {
        format!("/staff/lending?{}", parts.join("&"))
    }
}

fn pair<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The lending queue for the page's query: scope tabs, task filters, the facets of the
/// selection with their counts (from the store's grouped SQL), the filters in force, the rows.
async fn lend_queue_view(
    ctx: &Ctx,
    user: &CurrentUser,
    pairs: &[(String, String)],
) -> WebResult<QueueView> {
    use crate::flow::desk::{self, LendQueueParams, Scope, Task};
    let m = ctx.m;
    let st = &ctx.st;
    let get = |k: &str| pair(pairs, k).map(str::to_owned);
    let params = LendQueueParams {
        scope: get("scope"),
        state: get("state"),
        partner: get("partner"),
        format: get("format"),
        created: get("created"),
        modified: get("modified"),
        due: get("due"),
        needed_by: get("needed_by"),
        assignee: get("assignee"),
        alert: get("alert"),
        task: get("task"),
        service_level: get("service_level"),
        supplied_format: get("supplied_format"),
        printed: get("printed"),
        label: get("label"),
        partner_notes: get("partner_notes"),
        q: get("q"),
        limit: Some(PAGE_SIZE),
        offset: match pair(pairs, "offset") {
            None => None,
            Some(o) => Some(
                o.parse::<i64>()
                    .map_err(|_| WebError::Bad(|m| m.err_bad_address, Some(format!("offset={o}"))))?
                    .max(0),
            ),
        },
    };
    let filter = desk::lend_queue_filter(st, user, &params).await?;
    let (reqs, total, counts) = st.store.lend_queue_page(&filter).await?;
    let scope = params.scope()?;
    let task = params.task()?;
    let cur: Vec<(&'static str, String)> = LEND_KEYS
        .iter()
        .filter_map(|k| get(k).map(|v| (*k, v)))
        .filter(|(k, v)| !(*k == "scope" && v == Scope::Active.as_str()))
        .collect();
    let offset = params.offset.unwrap_or(0);
    let here = {
        let link = lend_link(&cur, "", None);
        if offset > 0 {
            let sep = if link.contains('?') { '&' } else { '?' };
            format!("{link}{sep}offset={offset}")
        } else {
            link
        }
    };
    let libraries = st.store.libraries().await?;
    let zh = m.lang != "en";
    let partner_label = |agency: &str| {
        libraries
            .iter()
            .find(|l| format!("{}:{}", l.agency_type, l.agency_value) == agency)
            .map(|l| {
                format!(
                    "{} {}",
                    l.library_id,
                    if zh { &l.name_zh } else { &l.name_en }
                )
            })
            .unwrap_or_else(|| agency.to_owned())
    };
    let users = st.store.users(&user.library_id).await?;
    let staff: Vec<_> = users
        .iter()
        .filter(|u| desk::works(u, desk::Side::Lend))
        .cloned()
        .collect();
    let person = |id: &str| {
        users
            .iter()
            .find(|u| u.user_id == id)
            .map(|u| u.display_name.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    // Facets: each facet's values, in the order that reads best (the machine's for states, the
    // buckets' own), each linking to the selection narrowed by it.
    let mut groups = Vec::new();
    for facet in [
        "alert",
        "state",
        "partner",
        "format",
        "assignee",
        "created",
        "modified",
        "due",
        "needed_by",
        "service_level",
        "supplied_format",
        "printed",
        "label",
        "partner_notes",
    ] {
        let mut values: Vec<(Option<String>, i64)> = counts
            .iter()
            .filter(|c| c.facet == facet && c.count > 0)
            .map(|c| (c.value.clone(), c.count))
            .collect();
        let order = |v: &Option<String>| -> usize {
            let v = v.as_deref().unwrap_or_default();
            match facet {
                "state" => LendState::ALL.iter().position(|s| s.as_str() == v),
                "created" | "modified" => {
                    store::AgeBucket::ALL.iter().position(|b| b.as_str() == v)
                }
                "due" | "needed_by" => store::DayBucket::ALL.iter().position(|b| b.as_str() == v),
                "alert" => store::LendAlert::ALL.iter().position(|a| a.as_str() == v),
                _ => None,
            }
            .unwrap_or(usize::MAX)
        };
        values.sort_by(|a, b| order(&a.0).cmp(&order(&b.0)).then(b.1.cmp(&a.1)));
        if values.is_empty() {
            continue;
        }
        let facets = values
            .into_iter()
            .map(|(value, count)| {
                let param = match (facet, &value) {
                    ("assignee", None) => "unassigned".to_owned(),
                    ("supplied_format", None) => "none".to_owned(),
                    (_, v) => v.clone().unwrap_or_default(),
                };
                let label = match facet {
                    "state" => m.lend_state(&param).to_owned(),
                    "partner" => partner_label(&param),
                    "format" => m.format(&param).to_owned(),
                    "assignee" if value.is_none() => m.unassigned.to_owned(),
                    "assignee" => person(&param),
                    "label" => param.clone(),
                    _ => m.bucket(facet, &param).unwrap_or(param.as_str()).to_owned(),
                };
                let current = get(facet).as_deref() == Some(param.as_str());
                Facet {
                    href: lend_link(&cur, facet, Some(&param)),
                    label,
                    count,
                    current,
                }
            })
            .collect();
        groups.push(FacetGroup {
            title: m.facet_title(facet),
            facets,
        });
    }
    let scopes = Scope::ALL
        .iter()
        .map(|s| Tab {
            label: m.bucket("scope", s.as_str()).unwrap_or_default().to_owned(),
            href: lend_link(&cur, "scope", (*s != Scope::Active).then_some(s.as_str())),
            current: *s == scope,
        })
        .collect();
    let tasks = Task::ALL
        .iter()
        .map(|t| Tab {
            label: m.bucket("task", t.as_str()).unwrap_or_default().to_owned(),
            href: lend_link(&cur, "task", Some(t.as_str())),
            current: Some(*t) == task,
        })
        .collect();
    let chips = cur
        .iter()
        .filter(|(k, _)| *k != "scope")
        .map(|(k, v)| {
            let value = match *k {
                "state" => m.lend_state(v).to_owned(),
                "partner" if v.contains(':') => partner_label(v),
                "format" => m.format(v).to_owned(),
                "assignee" if v == "unassigned" => m.unassigned.to_owned(),
                "assignee" if v == "me" => m.assigned_to_me.to_owned(),
                "assignee" => person(v),
                _ => m.bucket(k, v).map_or_else(|| v.clone(), str::to_owned),
            };
            Tab {
                label: format!("{}: {value}", m.facet_title(k)),
                href: lend_link(&cur, k, None),
                current: false,
            }
        })
        .collect();
    let ids: Vec<String> = reqs.iter().map(|r| r.request_id.clone()).collect();
    let labels = st.store.lend_labels(&ids).await?;
    let mut rows = Vec::new();
    for r in reqs {
        let labels = labels
            .iter()
            .filter(|(id, _)| *id == r.request_id)
            .map(|(_, l)| l.clone())
            .collect();
        let allowed = lend_allowed(&r, user).map_err(ApiError::from)?;
        let act_url = format!("/staff/lending/{}/act", percent_encode(&r.request_id));
        let forms = lend_action_forms(m, &allowed);
        rows.push(QueueRow {
            actions_html: actions_html(&forms, &act_url, &here, true, &r.request_id)?,
            short_id: short(&r.request_id),
            href: Some(format!("/staff/lending/{}", percent_encode(&r.request_id))),
            title: r.title.clone(),
            format: m.format(&r.format).to_owned(),
            party: r
                .borrower_id
                .clone()
                .unwrap_or_else(|| r.borrower_agency.clone()),
            state: m.lend_state(&r.state).to_owned(),
            due: r.due_date.map(|d| d.to_string()).unwrap_or_default(),
            updated: when(r.updated_at),
            assignee: r.assignee_id.as_deref().map(&person).unwrap_or_default(),
            labels,
            labels_url: format!("/staff/lending/{}/labels", percent_encode(&r.request_id)),
            id: r.request_id,
        });
    }
    let (prev, next) = paging(&lend_link(&cur, "", None), offset, rows.len(), total);
    let bulk = bulk_counts(pairs);
    let mut assignees = vec![("me".to_owned(), m.assigned_to_me.to_owned())];
    assignees.extend(
        staff
            .iter()
            .filter(|u| u.user_id != user.user_id)
            .map(|u| (u.username.clone(), u.display_name.clone())),
    );
    let mut bulk_actions: Vec<BulkChoice> = vec![
        BulkChoice {
            value: "assign",
            label: m.bulk_assign,
        },
        BulkChoice {
            value: "release",
            label: m.bulk_release,
        },
    ];
    bulk_actions.extend(LEND_BULK.iter().map(|&value| BulkChoice {
        value,
        label: m.lend_action(value),
    }));
    Ok(QueueView {
        base: "/staff/lending",
        title: m.lending_title,
        party_label: m.col_borrower,
        here,
        q: get("q").unwrap_or_default(),
        state: get("state").unwrap_or_default(),
        facets: Vec::new(),
        rows,
        total,
        prev,
        next,
        notice: bulk
            .map(|(done, refused)| bulk_sentence(m, done, refused))
            .or_else(|| pair(pairs, "done").map(|_| m.action_done.to_owned())),
        error: None,
        bulk_actions,
        search_label: m.search_label_lending,
        scopes,
        tasks,
        groups,
        chips,
        hidden: cur
            .iter()
            .filter(|(k, _)| *k != "q")
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        assignees,
        lending: true,
    })
}

/// After a bulk action: (moved, refused) from the query.
fn bulk_counts(pairs: &[(String, String)]) -> Option<(usize, usize)> {
    let done = pair(pairs, "bulk_done")?.parse().ok()?;
    let refused = pair(pairs, "bulk_refused")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    Some((done, refused))
}

/// The assignment and notes forms of one request's page.
#[derive(Template)]
#[template(path = "desk_forms.html")]
struct DeskForms<'a> {
    m: &'static Msg,
    base: &'a str,
    assignee: String,
    assigned: bool,
    /// (value, name, currently assigned)
    staff: Vec<(String, String, bool)>,
    partner: bool,
    /// Lending: the request's labels, with the forms to add and remove them.
    labels: Option<Vec<String>>,
    /// The communications log in threads, oldest first.
    threads: Vec<ThreadView>,
}

/// What the desk forms show of the request besides its assignee.
pub struct DeskLog {
    /// Lending: the request's labels.
    pub labels: Option<Vec<String>>,
    /// The communications log in threads.
    pub threads: Vec<ThreadView>,
}

/// One thread of a request's communications log as the page shows it.
pub struct ThreadView {
    /// Its first message's event id.
    pub id: i64,
    pub lines: Vec<ThreadLine>,
    pub closed: bool,
    /// The partner's message is the last word: it waits for an answer.
    pub waiting: bool,
}

pub struct ThreadLine {
    pub at: String,
    /// From the partner, to the partner, staff response, closed.
    pub kind: &'static str,
    pub by: String,
    pub text: String,
}

/// The messages of a request's history (`events`, oldest first) in threads: each message that
/// answers none starts one; replies, responses and the closing join the thread they name.
pub fn threads(m: &'static Msg, events: &[store::EventRow]) -> Vec<ThreadView> {
    use crate::flow::desk::{MESSAGE_ACTIONS, from_partner};
    let mut out: Vec<ThreadView> = Vec::new();
    for e in events {
        let message = MESSAGE_ACTIONS.contains(&e.action.as_str());
        let closing = e.action == "thread_closed";
        if !message && !closing {
            continue;
        }
        let line = ThreadLine {
            at: super::reader::when(e.at),
            kind: m.thread_kind(&e.action),
            by: m.actor(&e.actor).to_owned(),
            text: super::reader::event_note(m, e).unwrap_or_default(),
        };
        match e.reply_to.and_then(|r| out.iter_mut().find(|t| t.id == r)) {
            Some(t) => {
                t.closed = closing;
                t.waiting = from_partner(&e.action);
                t.lines.push(line);
            }
            None if message => out.push(ThreadView {
                id: e.event_id,
                lines: vec![line],
                closed: false,
                waiting: from_partner(&e.action),
            }),
            None => {}
        }
    }
    out
}

/// The desk forms for a request at `base` (its page's address).
pub async fn desk_html(
    ctx: &Ctx,
    user: &CurrentUser,
    side: crate::flow::desk::Side,
    base: &str,
    assignee_id: Option<&str>,
    partner: bool,
    log: DeskLog,
) -> WebResult<String> {
    let DeskLog { labels, threads } = log;
    let m = ctx.m;
    let staff = crate::flow::desk::staff_of(&ctx.st, &user.library_id, side).await?;
    let assignee = assignee_id
        .map(|a| {
            staff
                .iter()
                .find(|u| u.user_id == a)
                .map_or_else(|| a.to_owned(), |u| u.display_name.clone())
        })
        .unwrap_or_else(|| m.nobody.to_owned());
    let mut choices = vec![(
        user.username.clone(),
        format!("{} ({})", m.assigned_to_me, user.username),
        assignee_id == Some(user.user_id.as_str()),
    )];
    choices.extend(staff.iter().filter(|u| u.user_id != user.user_id).map(|u| {
        (
            u.username.clone(),
            u.display_name.clone(),
            assignee_id == Some(u.user_id.as_str()),
        )
    }));
    DeskForms {
        m,
        base,
        assignee,
        assigned: assignee_id.is_some(),
        staff: choices,
        partner,
        labels,
        threads,
    }
    .render()
    .map_err(|e| WebError::Api(ApiError::internal(e)))
}

/// The assignment and note forms as they post.
#[derive(Debug, Default, Deserialize)]
pub struct DeskForm {
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub to_partner: Option<String>,
    /// A note: the thread (its first message's id) it answers.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Closing: the thread to close.
    #[serde(default)]
    pub thread: Option<String>,
}

/// A thread id as posted: empty is none, anything but a number is a bad form.
fn thread_id(v: Option<&str>) -> WebResult<Option<i64>> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| WebError::Bad(|m| m.err_bad_form, Some(format!("thread {v:?}")))),
    }
}

/// Assign, release or add a note on the request's page, then show the page again.
async fn desk_post(
    ctx: Ctx,
    side: Side,
    id: String,
    what: &'static str,
    form: Result<Form<DeskForm>, FormRejection>,
) -> Response {
    use crate::flow::desk::{self, Side as DeskSide};
    let r = async {
        let user = ctx.user()?;
        side.staff(user)?;
        let Form(form) =
            form.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        let (desk_side, page) = match side {
            Side::Lending => (
                DeskSide::Lend,
                format!("/staff/lending/{}", percent_encode(&id)),
            ),
            Side::Borrowing => (
                DeskSide::Borrow,
                format!("/requests/{}", percent_encode(&id)),
            ),
        };
        match what {
            "assign" => {
                desk::assign(
                    &ctx.st,
                    user,
                    desk_side,
                    &id,
                    form.assignee.as_deref(),
                    form.note.as_deref(),
                )
                .await?
            }
            "release" => desk::release(&ctx.st, user, desk_side, &id, form.note.as_deref()).await?,
            "close" => {
                let Some(thread) = thread_id(form.thread.as_deref())? else {
                    return Err(WebError::Bad(|m| m.err_bad_form, Some("thread".to_owned())));
                };
                desk::close_thread(&ctx.st, user, desk_side, &id, thread).await?
            }
            _ => {
                desk::add_note(
                    &ctx.st,
                    user,
                    desk_side,
                    &id,
                    form.note.as_deref(),
                    form.to_partner.as_deref() == Some("true"),
                    thread_id(form.reply_to.as_deref())?,
                )
                .await?
            }
        }
        Ok(see_other(&format!("{page}?done={what}")))
    }
    .await;
    ctx.finish(r)
}

#[derive(serde::Deserialize)]
pub struct LabelForm {
    /// `add` or `remove`.
    #[serde(default)]
    pub op: String,
    #[serde(default)]
    pub label: String,
    /// The queue address to go back to.
    #[serde(default)]
    pub back: String,
}

/// Add or remove a label from the lending queue (a plain form post), then back to the queue.
pub async fn lending_label(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<LabelForm>, FormRejection>,
) -> Response {
    use crate::flow::desk;
    let r = async {
        let user = ctx.user()?;
        Side::Lending.staff(user)?;
        let Form(form) =
            form.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        match form.op.as_str() {
            "add" => desk::add_label(&ctx.st, user, &id, &form.label).await?,
            "remove" => desk::remove_label(&ctx.st, user, &id, &form.label).await?,
            other => {
                return Err(WebError::Bad(
                    |m| m.err_bad_form,
                    Some(format!("op={other}")),
                ));
            }
        };
        let back = local_path(&form.back)
            .filter(|b| b.starts_with("/staff/lending"))
            .unwrap_or("/staff/lending")
            .to_owned();
        Ok(see_other(&back))
    }
    .await;
    ctx.finish(r)
}

pub async fn lending_assign(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<DeskForm>, FormRejection>,
) -> Response {
    desk_post(ctx, Side::Lending, id, "assign", form).await
}

pub async fn lending_release(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<DeskForm>, FormRejection>,
) -> Response {
    desk_post(ctx, Side::Lending, id, "release", form).await
}

pub async fn lending_note(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<DeskForm>, FormRejection>,
) -> Response {
    desk_post(ctx, Side::Lending, id, "note", form).await
}

pub async fn lending_close(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<DeskForm>, FormRejection>,
) -> Response {
    desk_post(ctx, Side::Lending, id, "close", form).await
}

pub async fn borrowing_close(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<DeskForm>, FormRejection>,
) -> Response {
    desk_post(ctx, Side::Borrowing, id, "close", form).await
}

pub async fn borrowing_assign(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<DeskForm>, FormRejection>,
) -> Response {
    desk_post(ctx, Side::Borrowing, id, "assign", form).await
}

pub async fn borrowing_release(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<DeskForm>, FormRejection>,
) -> Response {
    desk_post(ctx, Side::Borrowing, id, "release", form).await
}

pub async fn borrowing_note(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<DeskForm>, FormRejection>,
) -> Response {
    desk_post(ctx, Side::Borrowing, id, "note", form).await
}

/// Pick slips of the rows ticked in the queue (a form post), or of `ids` in the address. With
/// htmx the browser is sent to the address form, so that it downloads the file.
pub async fn lending_slips(
    ctx: Ctx,
    method: axum::http::Method,
    body: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let r = async {
        let user = ctx.user()?;
        Side::Lending.staff(user)?;
        // A form on GET is read from the address.
        let Form(pairs) =
            body.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        let ids: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "ids")
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let format = pair(&pairs, "format").map(str::to_owned);
        let post = method == axum::http::Method::POST;
        if ctx.htmx && post {
            // Counted as printed now: the address the browser is sent to only reads.
            crate::slips::mark(&ctx.st, user, &ids).await?;
            let to = format!(
                "/staff/lending/slips?format={}&ids={}",
                percent_encode(format.as_deref().unwrap_or("xlsx")),
                percent_encode(&ids.join(","))
            );
            let mut resp = see_other(&to);
            *resp.status_mut() = axum::http::StatusCode::OK;
            if let Ok(v) = axum::http::HeaderValue::from_str(&to) {
                resp.headers_mut().insert("hx-redirect", v);
            }
            return Ok(resp);
        }
        // The queue's form posts: those slips are printed. The address form only reads.
        let mark = if post {
            crate::slips::MarkPrinted::Yes
        } else {
            crate::slips::MarkPrinted::No
        };
        Ok(crate::slips::response(&ctx.st, user, ctx.m, &ids, format.as_deref(), mark).await?)
    }
    .await;
    ctx.finish(r)
}

/// Whom an `assign` event gave the request to (their username).
fn assigned_to(e: &store::EventRow) -> Option<String> {
    if e.action != "assign" {
        return None;
    }
    e.data
        .as_ref()
        .and_then(|d| d.0.get("assignee"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}
