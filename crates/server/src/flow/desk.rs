//! The desk's own steps on a request, for either side: assign it to a staff member of the
//! library (or to oneself) and release it, with a note; and staff notes on a request, kept
//! internal or sent to the partner as an ISO 18626 Notification. Each change, its event and its
//! message or letter are one transaction. The lending queue's task filters and alerts are
//! derived here from the supplier machine, so that no state name is compared anywhere else.

use domain::Actor;
use domain::citation::RequestFormat;
use domain::machine::{CONDITION_MARKER, IsoAction, IsoReason, Machine};
use domain::supplier::{LendAction, LendContext, LendState, Supplier};
use store::{AlertStates, NewEvent, StoreError, UserRow};

use super::{Acting, FlowError, Touched};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::letters::{self, LetterKind};

/// The longest note an assignment or a staff note may carry, in characters.
pub const NOTE_MAX_CHARS: usize = 1000;

/// Which queue a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Borrow,
    Lend,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Borrow => "borrow",
            Side::Lend => "lend",
        }
    }

    /// The capacity a staff member needs to work this side's requests.
    pub fn capacity(self) -> Actor {
        match self {
            Side::Borrow => Actor::BorrowingStaff,
            Side::Lend => Actor::LendingStaff,
        }
    }
}

/// The desk's own events (assignments, staff notes) are for staff: a reader's view of the
/// history leaves them out.
pub fn staff_only(action: &str) -> bool {
    matches!(
        action,
        "assign"
            | "release"
            | "note"
            | "note_to_partner"
            | "slip_printed"
            | "thread_closed"
            | "mail_received"
            | "mail_bounced"
            | "mail_refused"
            | "partner_answer_recorded"
    )
}

/// A note as given: trimmed, empty as none, refused (naming `field`) past the limit.
pub fn check_note(field: &str, note: Option<&str>) -> ApiResult<Option<String>> {
    let Some(n) = note.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let chars = n.chars().count();
    if chars > NOTE_MAX_CHARS {
        return Err(ApiError::Bilingual(
            422,
            "note_too_long",
            format!("{field}: at most {NOTE_MAX_CHARS} characters, this one has {chars}"),
            format!("{field}（备注）：最多 {NOTE_MAX_CHARS} 个字符，当前为 {chars} 个"),
        ));
    }
    Ok(Some(n.to_owned()))
}

/// The request as the user may work it: their library's, and their role's side.
async fn load(st: &AppState, user: &CurrentUser, side: Side, id: &str) -> ApiResult<Loaded> {
    if user.is_patron() {
        return Err(ApiError::NotFound("request"));
    }
    let loaded = match side {
        Side::Lend => Loaded::from(super::lend::visible_lend(st, user, id).await?),
        Side::Borrow => Loaded::from(super::borrow::visible_borrow(st, user, id).await?),
    };
    if !user.can(side.capacity()) {
        return Err(ApiError::forbidden(
            format!("{} requests are worked by other staff", side.as_str()),
            match side {
                Side::Lend => "借出请求由其他馆员处理",
                Side::Borrow => "借入请求由其他馆员处理",
            },
        ));
    }
    Ok(loaded)
}

/// What the desk needs of a request of either side.
struct Loaded {
    library_id: String,
    title: String,
}

impl From<store::LendRequest> for Loaded {
    fn from(r: store::LendRequest) -> Self {
        Loaded {
            library_id: r.library_id,
            title: r.title,
        }
    }
}

impl From<store::BorrowRequest> for Loaded {
    fn from(r: store::BorrowRequest) -> Self {
        Loaded {
            library_id: r.library_id,
            title: r.title,
        }
    }
}

/// The staff member `who` names (a username or a user id), who must work `side` at `library`.
async fn assignee(st: &AppState, library: &str, side: Side, who: &str) -> ApiResult<UserRow> {
    let who = who.trim();
    let found = match st.store.user_by_username(who).await? {
        Some(u) => Some(u),
        None => match st.store.user(who).await {
            Ok(u) => Some(u),
            Err(store::StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
    };
    match found {
        Some(u) if u.library_id == library && works(&u, side) => Ok(u),
        _ => Err(ApiError::Bilingual(
            422,
            "assignee_not_staff",
            format!(
                "assignee: {who:?} is not an active staff member of {library} who works {} requests",
                side.as_str()
            ),
            format!(
                "assignee（负责人）：{who:?} 不是 {library} 负责{}的在职馆员",
                match side {
                    Side::Borrow => "借入请求",
                    Side::Lend => "借出请求",
                }
            ),
        )),
    }
}

/// Assign a request to `who` (a username or user id; `None`: the user themself), with an
/// optional note. The assignee gets the "assigned" letter unless they assigned it to
/// themselves. Assigning to the one who already has it, without a note, changes nothing.
pub async fn assign(
    st: &AppState,
    user: &CurrentUser,
    side: Side,
    request_id: &str,
    who: Option<&str>,
    note: Option<&str>,
) -> ApiResult<()> {
    let note = check_note("note", note)?;
    let req = load(st, user, side, request_id).await?;
    let to = match who.map(str::trim).filter(|w| !w.is_empty()) {
        Some(w) => assignee(st, &req.library_id, side, w).await?,
        None => assignee(st, &req.library_id, side, &user.user_id).await?,
    };
    let acting = Acting::user(user);
    let id = request_id.to_owned();
    let now = st.now();
    let title = req.title.clone();
    let touched = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let (previous, state, library_id) =
                    set_assignee(tx, side, &id, Some(&to.user_id), now).await?;
                if previous.as_deref() == Some(to.user_id.as_str()) && note.is_none() {
                    return Ok(Touched::default());
                }
                let data = serde_json::json!({
                    "assignee_id": to.user_id,
                    "assignee": to.username,
                    "previous_assignee_id": previous,
                });
                tx.insert_event(
                    &NewEvent {
                        library_id: &library_id,
                        side: side.as_str(),
                        request_id: &id,
                        actor_id: acting.user_id.as_deref(),
                        actor: acting.label,
                        action: "assign",
                        from_state: Some(&state),
                        to_state: &state,
                        note: note.as_deref(),
                        message_id: None,
                        data: Some(data),
                    },
                    now,
                )
                .await?;
                let mut messages = 0;
                if acting.user_id.as_deref() != Some(to.user_id.as_str()) {
                    letters::queue_to_user(
                        tx,
                        LetterKind::Assigned,
                        &library_id,
                        &to.user_id,
                        &id,
                        serde_json::json!({"title": title, "request_id": id, "note": note}),
                        now,
                    )
                    .await?;
                    messages = 1;
                }
                Ok::<_, ApiError>(Touched {
                    request_ids: vec![id.clone()],
                    messages,
                })
            })
        })
        .await?;
    touched.publish(st);
    Ok(())
}

/// Take the request off whoever has it, with an optional note; refused when nobody has it.
pub async fn release(
    st: &AppState,
    user: &CurrentUser,
    side: Side,
    request_id: &str,
    note: Option<&str>,
) -> ApiResult<()> {
    let note = check_note("note", note)?;
    load(st, user, side, request_id).await?;
    let acting = Acting::user(user);
    let id = request_id.to_owned();
    let now = st.now();
    let touched = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let (previous, state, library_id) = set_assignee(tx, side, &id, None, now).await?;
                let Some(previous) = previous else {
                    return Err(ApiError::Bilingual(
                        409,
                        "not_assigned",
                        "the request is not assigned to anyone: nothing to release".to_owned(),
                        "该请求尚未分配给任何人，无需释放".to_owned(),
                    ));
                };
                tx.insert_event(
                    &NewEvent {
                        library_id: &library_id,
                        side: side.as_str(),
                        request_id: &id,
                        actor_id: acting.user_id.as_deref(),
                        actor: acting.label,
                        action: "release",
                        from_state: Some(&state),
                        to_state: &state,
                        note: note.as_deref(),
                        message_id: None,
                        data: Some(serde_json::json!({"previous_assignee_id": previous})),
                    },
                    now,
                )
                .await?;
                Ok::<_, ApiError>(Touched {
                    request_ids: vec![id.clone()],
                    messages: 0,
                })
            })
        })
        .await?;
    touched.publish(st);
    Ok(())
}

/// Set the assignee inside the transaction: (the previous one, the state, the library).
async fn set_assignee(
    tx: &mut store::Tx<'_>,
    side: Side,
    id: &str,
    to: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<(Option<String>, String, String), FlowError> {
    let to = to.map(str::to_owned);
    Ok(match side {
        Side::Lend => {
            let mut r = tx.lend_request_for_update(id).await?;
            let previous = std::mem::replace(&mut r.assignee_id, to.clone());
            if previous != to {
                tx.update_lend_request(&r, now).await?;
            }
            (previous, r.state, r.library_id)
        }
        Side::Borrow => {
            let mut r = tx.borrow_request_for_update(id).await?;
            let previous = std::mem::replace(&mut r.assignee_id, to.clone());
            if previous != to {
                tx.update_borrow_request(&r, now).await?;
            }
            (previous, r.state, r.library_id)
        }
    })
}

/// The events that are messages of a request's communications log: staff notes, notes to
/// the partner, and the partner's own messages (ISO 18626 Notifications).
pub const MESSAGE_ACTIONS: [&str; 4] = [
    "note",
    "note_to_partner",
    "borrower_notification",
    "lender_notification",
];

/// The messages from the partner library, on each side.
pub fn from_partner(action: &str) -> bool {
    matches!(action, "borrower_notification" | "lender_notification")
}

/// The thread that a reply to message `event_id` of the request joins (its first message),
/// refused when that is no message of this request, or its thread is closed.
async fn thread_of(
    tx: &mut store::Tx<'_>,
    library_id: &str,
    request_id: &str,
    event_id: i64,
) -> ApiResult<i64> {
    let Some((action, reply_to)) = tx.event_of(library_id, request_id, event_id).await? else {
        return Err(ApiError::Bilingual(
            404,
            "message_not_found",
            format!("reply_to: this request has no message {event_id}"),
            format!("reply_to（回复）：该请求没有编号为 {event_id} 的消息"),
        ));
    };
    if !MESSAGE_ACTIONS.contains(&action.as_str()) && action != "thread_closed" {
        return Err(ApiError::Bilingual(
            422,
            "not_a_message",
            format!("reply_to: event {event_id} is a step of the request, not a message"),
            format!("reply_to（回复）：事件 {event_id} 是请求的处理步骤，不是消息"),
        ));
    }
    let root = reply_to.unwrap_or(event_id);
    if tx.thread_last_action(root).await?.as_deref() == Some("thread_closed") {
        return Err(ApiError::Bilingual(
            409,
            "thread_closed",
            format!("reply_to: the thread of message {root} is closed"),
            format!("reply_to（回复）：消息 {root} 所在的会话已关闭"),
        ));
    }
    Ok(root)
}

/// Close the communications thread that message `event_id` is in: an event in the request's
/// history; the thread then takes no more replies, and a partner's message in it no longer
/// counts as waiting for an answer.
pub async fn close_thread(
    st: &AppState,
    user: &CurrentUser,
    side: Side,
    request_id: &str,
    event_id: i64,
) -> ApiResult<()> {
    load(st, user, side, request_id).await?;
    let acting = Acting::user(user);
    let id = request_id.to_owned();
    let now = st.now();
    st.store
        .write(move |tx| {
            Box::pin(async move {
                let (library_id, state) = match side {
                    Side::Lend => {
                        let r = tx.lend_request_for_update(&id).await?;
                        (r.library_id, r.state)
                    }
                    Side::Borrow => {
                        let r = tx.borrow_request_for_update(&id).await?;
                        (r.library_id, r.state)
                    }
                };
                let root = thread_of(tx, &library_id, &id, event_id).await?;
                let closed = tx
                    .insert_event(
                        &NewEvent {
                            library_id: &library_id,
                            side: side.as_str(),
                            request_id: &id,
                            actor_id: acting.user_id.as_deref(),
                            actor: acting.label,
                            action: "thread_closed",
                            from_state: Some(&state),
                            to_state: &state,
                            note: None,
                            message_id: None,
                            data: None,
                        },
                        now,
                    )
                    .await?;
                tx.set_reply_to(closed, root).await?;
                Ok::<_, ApiError>(())
            })
        })
        .await
}

/// A staff note on a request: kept in its history, and with `to_partner` also sent to the
/// partner library as an ISO 18626 Notification (refused where there is no partner yet).
/// With `reply_to` (a message of the request) it answers that message's thread.
pub async fn add_note(
    st: &AppState,
    user: &CurrentUser,
    side: Side,
    request_id: &str,
    note: Option<&str>,
    to_partner: bool,
    reply_to: Option<i64>,
) -> ApiResult<()> {
    let Some(note) = check_note("note", note)? else {
        return Err(ApiError::Bilingual(
            422,
            "note_required",
            "note: write the note first".to_owned(),
            "note（备注）：请先填写备注内容".to_owned(),
        ));
    };
    if to_partner && note.starts_with(CONDITION_MARKER) {
        return Err(ApiError::Bilingual(
            422,
            "note_reserved",
            format!(
                "note: may not start with {CONDITION_MARKER}, which partners read as conditions"
            ),
            format!("note（备注）：不能以 {CONDITION_MARKER} 开头，合作馆会将其视为借阅条件"),
        ));
    }
    load(st, user, side, request_id).await?;
    let acting = Acting::user(user);
    let id = request_id.to_owned();
    let now = st.now();
    let touched = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let (library_id, state, message_id, mut ids) = match side {
                    Side::Lend => {
                        let r = tx.lend_request_for_update(&id).await?;
                        let message = if to_partner {
                            let status = LendState::parse(&r.state)
                                .ok_or_else(|| {
                                    ApiError::from(StoreError::Corrupt(format!(
                                        "lend state {}",
                                        r.state
                                    )))
                                })?
                                .iso_status();
                            Some(
                                super::lend::send_notification(
                                    tx,
                                    now,
                                    &r,
                                    IsoReason::Notification,
                                    status,
                                    note.clone(),
                                )
                                .await?,
                            )
                        } else {
                            None
                        };
                        let peer = super::borrow::parse_wire_id(&r.borrower_request_id)
                            .0
                            .to_owned();
                        (r.library_id, r.state, message, vec![peer])
                    }
                    Side::Borrow => {
                        let r = tx.borrow_request_for_update(&id).await?;
                        let message = if to_partner {
                            if r.lender_id.is_none() {
                                return Err(ApiError::Bilingual(
                                    409,
                                    "no_partner",
                                    "to_partner: the request has no lending library yet to send the note to".to_owned(),
                                    "to_partner（发给合作馆）：该请求尚无出借馆，无法发送备注".to_owned(),
                                ));
                            }
                            Some(
                                super::borrow::send_notification(
                                    tx,
                                    now,
                                    &r,
                                    IsoAction::Notification,
                                    note.clone(),
                                )
                                .await?,
                            )
                        } else {
                            None
                        };
                        (r.library_id, r.state, message, Vec::new())
                    }
                };
                let thread = match reply_to {
                    Some(r) => Some(thread_of(tx, &library_id, &id, r).await?),
                    None => None,
                };
                let event = tx.insert_event(
                    &NewEvent {
                        library_id: &library_id,
                        side: side.as_str(),
                        request_id: &id,
                        actor_id: acting.user_id.as_deref(),
                        actor: acting.label,
                        action: if to_partner { "note_to_partner" } else { "note" },
                        from_state: Some(&state),
                        to_state: &state,
                        note: Some(&note),
                        message_id,
                        data: Some(serde_json::json!({"to_partner": to_partner})),
                    },
                    now,
                )
                .await?;
                if let Some(root) = thread {
                    tx.set_reply_to(event, root).await?;
                }
                ids.push(id.clone());
                let touched = Touched {
                    request_ids: ids,
                    messages: usize::from(message_id.is_some()),
                };
                // A partner on this node has the note when this commits, like any message.
                Ok::<_, ApiError>(super::receive::deliver_here(tx, now, touched).await?)
            })
        })
        .await?;
    touched.publish(st);
    Ok(())
}

/// The request formats a lending request may have.
const FORMATS: [RequestFormat; 3] = [
    RequestFormat::Loan,
    RequestFormat::ArticleCopy,
    RequestFormat::ChapterCopy,
];

/// The lending states in which staff may take one of `actions`, for any format.
pub fn lend_states_allowing(actions: &[LendAction]) -> Vec<String> {
    LendState::ALL
        .iter()
        .filter(|s| {
            FORMATS.iter().any(|f| {
                [(false, false), (true, false), (false, true), (true, true)]
                    .into_iter()
                    .any(|(renew_pending, return_held)| {
                        let ctx = LendContext {
                            format: *f,
                            renew_pending,
                            return_held,
                            borrower_holds: false,
                        };
                        Supplier::allowed(**s, &ctx, &[Actor::LendingStaff, Actor::Manager])
                            .iter()
                            .any(|a| actions.contains(a))
                    })
            })
        })
        .map(|s| s.as_str().to_owned())
        .collect()
}

/// Where staff may record the item as located: with `already`, the states where that moves
/// nothing (it was found: it waits to be pulled and shipped); without, the states it moves on
/// (still to be found on the shelf).
pub fn lend_states_located(already: bool) -> Vec<String> {
    let ctx = |format| LendContext {
        format,
        renew_pending: false,
        return_held: false,
        borrower_holds: false,
    };
    LendState::ALL
        .iter()
        .filter(|s| {
            FORMATS.iter().any(|f| {
                Supplier::decide(**s, LendAction::Locate, &ctx(*f), &[Actor::LendingStaff])
                    .is_ok_and(|d| (d.to == **s) == already)
            })
        })
        .map(|s| s.as_str().to_owned())
        .collect()
}

/// The states each alert of the lending queue is made of, from the machine: overdue is its
/// own stage, or the stage from which a loan is marked overdue once its due date has passed.
pub fn lend_alert_states() -> AlertStates {
    AlertStates {
        overdue: vec![LendState::Overdue.as_str().to_owned()],
        on_loan: lend_states_allowing(&[LendAction::MarkOverdue]),
        conditional: vec![LendState::ConditionalPending.as_str().to_owned()],
    }
}

/// Still being worked (not closed).
pub fn lend_open_states() -> Vec<String> {
    LendState::ALL
        .iter()
        .filter(|s| !s.is_closed())
        .map(|s| s.as_str().to_owned())
        .collect()
}

pub fn lend_closed_states() -> Vec<String> {
    LendState::ALL
        .iter()
        .filter(|s| s.is_closed())
        .map(|s| s.as_str().to_owned())
        .collect()
}

/// The lending queue's predefined task filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// New requests whose item is still to be found on the shelf.
    ToLocate,
    /// Located and ready to go out.
    ToShipToday,
    Overdue,
    /// Conditions offered, no answer from the borrower yet.
    ConditionalAwaitingAnswer,
}

impl Task {
    pub const ALL: [Task; 4] = [
        Task::ToLocate,
        Task::ToShipToday,
        Task::Overdue,
        Task::ConditionalAwaitingAnswer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Task::ToLocate => "to_locate",
            Task::ToShipToday => "to_ship_today",
            Task::Overdue => "overdue",
            Task::ConditionalAwaitingAnswer => "conditional_awaiting_answer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Which part of the history the queue shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Still being worked (the default).
    Active,
    Completed,
    All,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Active, Scope::Completed, Scope::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Active => "active",
            Scope::Completed => "completed",
            Scope::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The lending queue's parameters as the API and the page take them (all optional).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LendQueueParams {
    /// `active` (default: still being worked), `completed` or `all`.
    pub scope: Option<String>,
    /// Comma-separated states, e.g. `request_received,will_supply`.
    pub state: Option<String>,
    /// The requesting library: its agency id (`ISIL:CN-XNU`) or code.
    pub partner: Option<String>,
    /// `loan`, `article_copy` or `chapter_copy`.
    pub format: Option<String>,
    /// Created `today`, `week` (2–7 days ago), `month` (8–30 days ago) or `older` (UTC days).
    pub created: Option<String>,
    /// Last changed: the same buckets as `created`.
    pub modified: Option<String>,
    /// Due back: `past`, `today`, `week` (next 7 days), `later` or `none`.
    pub due: Option<String>,
    /// The borrower's need-by date: the same buckets as `due`.
    pub needed_by: Option<String>,
    /// `unassigned`, `me`, or a staff member's username or user id.
    pub assignee: Option<String>,
    /// `overdue`, `conditional`, `message_error` or `renew_pending`.
    pub alert: Option<String>,
    /// `to_locate`, `to_ship_today`, `overdue` or `conditional_awaiting_answer`.
    pub task: Option<String>,
    /// `express` or `normal`: the service level the borrower asked for.
    pub service_level: Option<String>,
    /// How it went out: `physical`, `digital`, `non_returnable`, or `none` (not shipped yet).
    pub supplied_format: Option<String>,
    /// `yes` (a pick slip was printed) or `no`.
    pub printed: Option<String>,
    /// A label staff put on the request.
    pub label: Option<String>,
    /// Messages from the borrowing library: `waiting` (one waits for an answer) or
    /// `answered`.
    pub partner_notes: Option<String>,
    /// Words of the title, a request id (ours or the borrower's), a barcode, or the requesting
    /// library (code, agency id or name).
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn invalid(field: &'static str, code: &'static str, message: String) -> ApiError {
    ApiError::Invalid(vec![domain::citation::FieldError {
        message_zh: None,
        field,
        code,
        message,
    }])
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn one_of<T>(
    field: &'static str,
    v: &Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &[&str],
) -> ApiResult<Option<T>> {
    match given(v) {
        None => Ok(None),
        Some(s) => parse(s).map(Some).ok_or_else(|| {
            invalid(
                field,
                "unknown_value",
                format!("{field}: {s:?} is not one of {}", allowed.join(", ")),
            )
        }),
    }
}

/// `a` narrowed to the states also in `b` (`None` is every state).
fn narrow(a: Option<Vec<String>>, b: Vec<String>) -> Option<Vec<String>> {
    Some(match a {
        None => b,
        Some(a) => a.into_iter().filter(|s| b.contains(s)).collect(),
    })
}

impl LendQueueParams {
    pub fn scope(&self) -> ApiResult<Scope> {
        Ok(one_of(
            "scope",
            &self.scope,
            Scope::parse,
            &["active", "completed", "all"],
        )?
        .unwrap_or(Scope::Active))
    }

    pub fn task(&self) -> ApiResult<Option<Task>> {
        one_of(
            "task",
            &self.task,
            Task::parse,
            &Task::ALL.map(|t| t.as_str()),
        )
    }
}

/// The store's filter for the lending queue of `user`'s library: every parameter checked and
/// named when wrong; tasks and scopes turned into states by the supplier machine.
pub async fn lend_queue_filter(
    st: &AppState,
    user: &CurrentUser,
    p: &LendQueueParams,
) -> ApiResult<store::LendQueueFilter> {
    let mut f = store::LendQueueFilter::new(&user.library_id, st.now(), lend_alert_states());
    f.utc_offset = st.store.library(&user.library_id).await?.offset();
    let mut states = match p.scope()? {
        Scope::Active => Some(lend_open_states()),
        Scope::Completed => Some(lend_closed_states()),
        Scope::All => None,
    };
    let wanted = crate::api::requests::states_of(&p.state, |s| LendState::parse(s).is_some())?;
    if !wanted.is_empty() {
        states = narrow(states, wanted);
    }
    match p.task()? {
        None => {}
        Some(Task::ToLocate) => states = narrow(states, lend_states_located(false)),
        Some(Task::ToShipToday) => {
            let ship = lend_states_allowing(&[
                LendAction::ShipPhysical,
                LendAction::ShipDigital,
                LendAction::ShipNonReturnable,
            ]);
            let located = lend_states_located(true)
                .into_iter()
                .filter(|s| ship.contains(s))
                .collect();
            states = narrow(states, located);
        }
        Some(Task::Overdue) => f.alert = Some(store::LendAlert::Overdue),
        Some(Task::ConditionalAwaitingAnswer) => f.alert = Some(store::LendAlert::Conditional),
    }
    f.states = states;
    if let Some(partner) = given(&p.partner) {
        f.partner = Some(if partner.contains(':') {
            partner.to_owned()
        } else {
            let lib = st.store.library(partner).await.map_err(|e| match e {
                store::StoreError::NotFound => invalid(
                    "partner",
                    "unknown_library",
                    format!("partner: no library has the code {partner:?}"),
                ),
                other => other.into(),
            })?;
            format!("{}:{}", lib.agency_type, lib.agency_value)
        });
    }
    f.format = one_of(
        "format",
        &p.format,
        |s| RequestFormat::parse(s).map(|f| f.as_str().to_owned()),
        &["loan", "article_copy", "chapter_copy"],
    )?;
    let ages = store::AgeBucket::ALL.map(|b| b.as_str());
    let days = store::DayBucket::ALL.map(|b| b.as_str());
    f.created = one_of("created", &p.created, store::AgeBucket::parse, &ages)?;
    f.modified = one_of("modified", &p.modified, store::AgeBucket::parse, &ages)?;
    f.due = one_of("due", &p.due, store::DayBucket::parse, &days)?;
    f.needed_by = one_of("needed_by", &p.needed_by, store::DayBucket::parse, &days)?;
    let alerts = store::LendAlert::ALL.map(|a| a.as_str());
    if let Some(a) = one_of("alert", &p.alert, store::LendAlert::parse, &alerts)? {
        if f.alert.is_some_and(|t| t != a) {
            // A task's alert and another alert: nothing is both.
            f.states = Some(Vec::new());
        }
        f.alert = Some(a);
    }
    f.assignee = match given(&p.assignee) {
        None => None,
        Some("unassigned") => Some(store::AssigneeFilter::Unassigned),
        Some("me") => Some(store::AssigneeFilter::User(user.user_id.clone())),
        Some(who) => match st.store.user_by_username(who).await? {
            Some(u) if u.library_id == user.library_id => {
                Some(store::AssigneeFilter::User(u.user_id))
            }
            _ => Some(store::AssigneeFilter::User(who.to_owned())),
        },
    };
    f.partner_notes = one_of(
        "partner_notes",
        &p.partner_notes,
        store::PartnerNotes::parse,
        &["waiting", "answered"],
    )?;
    f.service_level = one_of(
        "service_level",
        &p.service_level,
        |s| domain::supplier::ServiceLevel::parse(s).map(|l| l.as_str().to_owned()),
        &["express", "normal"],
    )?;
    f.supplied_format = one_of(
        "supplied_format",
        &p.supplied_format,
        |s| {
            (s == "none" || domain::supplier::SuppliedFormat::parse(s).is_some())
                .then(|| s.to_owned())
        },
        &["physical", "digital", "non_returnable", "none"],
    )?;
    f.printed = one_of(
        "printed",
        &p.printed,
        |s| match s {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
        &["yes", "no"],
    )?;
    if let Some(l) = given(&p.label) {
        f.label = Some(label_of(l)?);
    }
    f.text = given(&p.q).map(str::to_owned);
    f.limit = p.limit.unwrap_or(50);
    f.offset = p.offset.unwrap_or(0);
    Ok(f)
}

/// The active staff of `library` who work `side`'s requests, for choosing an assignee.
pub async fn staff_of(st: &AppState, library: &str, side: Side) -> ApiResult<Vec<UserRow>> {
    Ok(st
        .store
        .users(library)
        .await?
        .into_iter()
        .filter(|u| works(u, side))
        .collect())
}

/// Whether `u` is an active staff account that works `side`.
pub fn works(u: &UserRow, side: Side) -> bool {
    u.kind == domain::people::UserKind::Staff.as_str()
        && u.status == domain::people::AccountStatus::Active.as_str()
        && domain::people::parse_roles(&u.roles)
            .map(|r| domain::people::capacities(&r).contains(&side.capacity()))
            .unwrap_or(false)
}

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 40;

/// A label as staff typed it: trimmed, 1 to 40 characters, no control characters.
pub fn label_of(raw: &str) -> ApiResult<String> {
    let l = raw.trim();
    if l.is_empty() || l.chars().count() > MAX_LABEL_CHARS || l.chars().any(char::is_control) {
        return Err(ApiError::Bilingual(
            422,
            "bad_label",
            format!(
                "label: 1 to {MAX_LABEL_CHARS} characters without control characters, {:?} given",
                raw.chars().take(60).collect::<String>()
            ),
            format!("label（标签）：须为 1 至 {MAX_LABEL_CHARS} 个字符，且不含控制字符"),
        ));
    }
    Ok(l.to_owned())
}

/// The labels of a lending request the user may work.
pub async fn labels(st: &AppState, user: &CurrentUser, id: &str) -> ApiResult<Vec<String>> {
    load(st, user, Side::Lend, id).await?;
    Ok(st
        .store
        .lend_labels(&[id.to_owned()])
        .await?
        .into_iter()
        .map(|(_, l)| l)
        .collect())
}

/// Put a label on a lending request (again: no change); returns its labels.
pub async fn add_label(
    st: &AppState,
    user: &CurrentUser,
    id: &str,
    raw: &str,
) -> ApiResult<Vec<String>> {
    let label = label_of(raw)?;
    let req = load(st, user, Side::Lend, id).await?;
    st.store
        .add_lend_label(&req.library_id, id, &label, &user.user_id, st.now())
        .await?
        .ok_or_else(|| {
            ApiError::Bilingual(
                409,
                "too_many_labels",
                format!(
                    "label: a request carries at most {} labels; remove one first",
                    store::MAX_LABELS
                ),
                format!(
                    "label（标签）：一个请求最多 {} 个标签，请先删除一个",
                    store::MAX_LABELS
                ),
            )
        })
}

/// Take a label off a lending request; returns its labels.
pub async fn remove_label(
    st: &AppState,
    user: &CurrentUser,
    id: &str,
    raw: &str,
) -> ApiResult<Vec<String>> {
    let req = load(st, user, Side::Lend, id).await?;
    if !st
        .store
        .remove_lend_label(&req.library_id, id, raw.trim())
        .await?
    {
        return Err(ApiError::Bilingual(
            404,
            "label_not_found",
            format!("label: the request has no label {:?}", raw.trim()),
            format!("label（标签）：该请求没有标签“{}”", raw.trim()),
        ));
    }
    labels(st, user, id).await
}
