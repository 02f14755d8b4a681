//! JSON shapes of requests, events and lists as the API returns them.

use serde::Serialize;
use store::{BorrowRequest, EventRow, LendRequest};
use time::OffsetDateTime;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BorrowView {
    pub id: String,
    pub library: String,
    pub patron_id: String,
    pub format: String,
    pub state: String,
    pub title: String,
    #[schema(value_type = Object)]
    pub citation: serde_json::Value,
    /// Lenders in order, with the reason for each and what each answered.
    #[schema(value_type = Object)]
    pub rota: serde_json::Value,
    pub lender: Option<String>,
    pub lender_request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lender_deadline: Option<OffsetDateTime>,
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<String>,
    pub cancel_pending: bool,
    pub renew_pending: bool,
    pub overdue: bool,
    pub recalled: bool,
    /// In `retry_offered`: the terms the lender would supply under (reason, cost, dates,
    /// loan conditions, formats...), to `accept_retry` or `decline_retry`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub retry_offer: Option<serde_json::Value>,
    /// The staff member working the request, if someone took it.
    pub assignee_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// What the caller may do now (in detail views).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<&'static str>>,
    /// Article copies: the journal, the copies counted this year and whether copyright
    /// clearance is needed before sending (in detail views).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub copyright: Option<serde_json::Value>,
    /// In detail views, for a loan on hold: since when the lender has asked for the item not
    /// to be sent back until it releases the hold (ISO 18626:2021 HoldReturn).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub return_held_since: Option<OffsetDateTime>,
    /// In detail views, every open hold on the return of the loan (the lender's and ours):
    /// who holds it, since when, who set it and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub return_holds: Vec<ReturnHoldView>,
    /// The earlier request of the library this one repeats, and whether its delivered copy
    /// can fill this one at once (in detail views).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub duplicate: Option<serde_json::Value>,
    /// Where the text was found available when the request was placed (`licensed`,
    /// `open_access`), with the link and the reasons; `status` `unchecked` when the
    /// open-access service could not be asked (in detail views).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub availability: Option<serde_json::Value>,
}

impl BorrowView {
    pub fn new(r: BorrowRequest, allowed: Option<Vec<&'static str>>) -> Self {
        BorrowView {
            citation: serde_json::to_value(&r.citation.0).unwrap_or_default(),
            rota: serde_json::to_value(&r.rota.0).unwrap_or_default(),
            id: r.request_id,
            library: r.library_id,
            patron_id: r.patron_id,
            assignee_id: r.assignee_id,
            format: r.format,
            state: r.state,
            title: r.title,
            lender: r.lender_id,
            lender_request_id: r.lender_request_id,
            lender_deadline: r.lender_deadline,
            due_date: r.due_date.map(|d| d.to_string()),
            cancel_pending: r.cancel_pending,
            renew_pending: r.renew_pending,
            overdue: r.overdue,
            recalled: r.recalled,
            retry_offer: r
                .retry_offer
                .as_ref()
                .and_then(|o| serde_json::to_value(&o.0).ok()),
            created_at: r.created_at,
            updated_at: r.updated_at,
            allowed_actions: allowed,
            copyright: None,
            duplicate: None,
            availability: None,
            return_held_since: None,
            return_holds: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LendView {
    pub id: String,
    pub library: String,
    /// The borrowing library's agency id, TYPE:VALUE.
    pub borrower_agency: String,
    pub borrower: Option<String>,
    pub borrower_request_id: String,
    pub format: String,
    pub state: String,
    pub title: String,
    #[schema(value_type = Object)]
    pub citation: serde_json::Value,
    pub call_number: Option<String>,
    pub barcode: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<String>,
    pub renew_pending: bool,
    pub assignee_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<&'static str>>,
    /// In detail views, for a loan on hold: since when we have asked the borrower for the item not
    /// to be sent back until we release the hold (ISO 18626:2021 HoldReturn).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub return_held_since: Option<OffsetDateTime>,
    /// In detail views, every open hold on the return of the loan (ours and the borrower's):
    /// who holds it, since when, who set it and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub return_holds: Vec<ReturnHoldView>,
}

/// An open hold on the return of a loan (ISO 18626:2021 HoldReturn).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnHoldView {
    /// `lender` (asked for the item not to be sent back until it releases the hold) or
    /// `borrower` (keeps the item a while before sending it back).
    pub held_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub since: OffsetDateTime,
    /// Who set it: a staff member's user name, or the partner's agency (TYPE:VALUE).
    pub by: Option<String>,
    /// The reason given with it.
    pub note: Option<String>,
}

impl ReturnHoldView {
    pub fn of(holds: Vec<store::ReturnHold>) -> Vec<Self> {
        holds
            .into_iter()
            .map(|h| ReturnHoldView {
                held_by: h.held_by,
                since: h.held_at,
                by: h.actor,
                note: h.note,
            })
            .collect()
    }
}

impl LendView {
    pub fn new(r: LendRequest, allowed: Option<Vec<&'static str>>) -> Self {
        LendView {
            citation: serde_json::to_value(&r.citation.0).unwrap_or_default(),
            id: r.request_id,
            library: r.library_id,
            borrower_agency: r.borrower_agency,
            borrower: r.borrower_id,
            borrower_request_id: r.borrower_request_id,
            format: r.format,
            state: r.state,
            title: r.title,
            call_number: r.call_number,
            barcode: r.barcode,
            due_date: r.due_date.map(|d| d.to_string()),
            renew_pending: r.renew_pending,
            assignee_id: r.assignee_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            allowed_actions: allowed,
            return_held_since: None,
            return_holds: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// `patron`, `staff`, `peer` or `system`.
    pub actor: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub note: Option<String>,
    pub message_id: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// A message of the communications log: the first message of the thread it answers or
    /// (`thread_closed`) closes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
}

impl From<EventRow> for EventView {
    fn from(e: EventRow) -> Self {
        EventView {
            id: e.event_id,
            at: e.at,
            actor: e.actor,
            actor_id: e.actor_id,
            action: e.action,
            from_state: e.from_state,
            to_state: e.to_state,
            note: e.note,
            message_id: e.message_id,
            data: e.data.map(|d| d.0),
            reply_to: e.reply_to,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T: utoipa::ToSchema> {
    pub total: i64,
    pub items: Vec<T>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionsView {
    pub state: String,
    pub allowed: Vec<&'static str>,
}
