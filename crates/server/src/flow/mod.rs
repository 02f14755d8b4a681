//! The one flow: patron requests become borrowing requests, actions go through the state
//! machines, and every change writes its state, its event and its outgoing ISO 18626 messages
//! in one transaction. The API, the protocol endpoint, the jobs and the demo all come here.

pub mod available;
pub mod borrow;
pub mod copyright;
pub mod desk;
pub mod email;
pub mod fees;
pub mod iso;
pub mod lend;
pub mod reader_fees;
pub mod receive;
pub mod route;
pub mod send;

use serde::Deserialize;
use store::StoreError;
use time::Date;

pub use borrow::{CreateRequest, create_borrow_request};
pub use receive::receive;

/// Who is acting, as recorded in the event.
#[derive(Debug, Clone)]
pub struct Acting {
    pub user_id: Option<String>,
    /// The person's user name, for what staff pages show as "by whom".
    pub username: Option<String>,
    pub actors: Vec<domain::Actor>,
    /// `patron`, `staff`, `peer` or `system`.
    pub label: &'static str,
}

impl Acting {
    pub fn user(u: &crate::auth::CurrentUser) -> Self {
        Acting {
            user_id: Some(u.user_id.clone()),
            username: Some(u.username.clone()),
            actors: u.actors(),
            label: if u.is_patron() { "patron" } else { "staff" },
        }
    }

    pub fn peer() -> Self {
        Acting {
            user_id: None,
            username: None,
            actors: vec![domain::Actor::Peer],
            label: "peer",
        }
    }

    /// The library's own routing rule, acting for its borrowing staff (an unmediated send).
    pub fn rule() -> Self {
        Acting {
            user_id: None,
            username: None,
            actors: vec![domain::Actor::BorrowingStaff],
            label: "system",
        }
    }

    pub fn system() -> Self {
        Acting {
            user_id: None,
            username: None,
            actors: vec![domain::Actor::System],
            label: "system",
        }
    }
}

/// Details an action may carry, for either side. Each action reads what it needs.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// The action's name, e.g. `approve`, `will_supply`, `ship_physical`.
    pub action: String,
    /// Shown to the partner where the action sends a message.
    #[serde(default)]
    pub note: Option<String>,
    /// Kept in our own history only.
    #[serde(default)]
    pub internal_note: Option<String>,
    /// `edit_rota`: library codes of the lenders still to try, in order.
    #[serde(default)]
    pub rota: Option<Vec<String>>,
    /// `reject` / `locate_failed`: ISO 18626 reasonUnfilled, e.g. `NotHeld`, `NotOnShelf`.
    #[serde(default)]
    pub reason: Option<String>,
    /// `ship_physical`, `answer_renew_yes`: due date; computed from the partner's loan period
    /// and the library's closed days when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<Date>,
    /// `conditional`: the date the borrower must answer by.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub reply_by: Option<Date>,
    /// `ship_physical`, `locate`: the item barcode.
    #[serde(default)]
    pub barcode: Option<String>,
    #[serde(default)]
    pub call_number: Option<String>,
    /// `ship_digital`: where the copy can be fetched.
    #[serde(default)]
    pub url: Option<String>,
    /// `ship_digital`: a copy uploaded for this request (instead of `url`).
    #[serde(default)]
    pub file_id: Option<String>,
    /// Deprecated: the request's service level decides the express surcharge. When given, it
    /// must agree with it (`true` for an express request), else the action is refused.
    #[serde(default)]
    pub express: Option<bool>,
    /// `offer_retry`: the day from which the borrower may ask again (e.g. back from loan).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub retry_after: Option<Date>,
    /// `offer_retry`: the last day the offer holds.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub retry_before: Option<Date>,
    /// `offer_retry`: what we would charge, in minor units of `currency` (fen for CNY).
    #[serde(default)]
    pub cost_minor: Option<i64>,
    /// `offer_retry`: ISO 4217 code of `cost_minor`, e.g. `CNY`.
    #[serde(default)]
    pub currency: Option<String>,
    /// `offer_retry`: a loan condition under which we would lend, e.g. `LibraryUseOnly`.
    #[serde(default)]
    pub loan_condition: Option<String>,
    /// `offer_retry`: a format we could supply instead, e.g. `PDF`, `Printed`.
    #[serde(default)]
    pub item_format: Option<String>,
    /// `forward`: the code of the library to pass the request on to.
    #[serde(default)]
    pub forward_to: Option<String>,
}

/// Why a flow step failed: a refusal the caller can act on, bad input, or the store.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Refused(#[from] domain::Refusal),
    /// The caller's mistake, said in English and Chinese.
    #[error("{en}")]
    BadInput {
        status: u16,
        code: &'static str,
        en: String,
        zh: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl FlowError {
    /// A request the caller must change (HTTP 400), in both languages.
    pub fn bad(en: impl Into<String>, zh: impl Into<String>) -> Self {
        FlowError::BadInput {
            status: 400,
            code: "bad_request",
            en: en.into(),
            zh: zh.into(),
        }
    }
}

impl From<FlowError> for crate::error::ApiError {
    fn from(e: FlowError) -> Self {
        use crate::error::ApiError;
        match e {
            FlowError::Refused(r) => ApiError::Refused(r),
            FlowError::BadInput {
                status,
                code,
                en,
                zh,
            } => ApiError::Bilingual(status, code, en, zh),
            FlowError::NotFound(what) => ApiError::NotFound(what),
            FlowError::Store(s) => ApiError::from(s),
            FlowError::Internal(m) => ApiError::internal(anyhow::anyhow!(m)),
        }
    }
}

/// What a committed change touched, so the caller can wake waiters and the outbox.
#[derive(Debug, Default)]
pub struct Touched {
    pub request_ids: Vec<String>,
    pub messages: usize,
}

impl Touched {
    /// Add what another change in the same transaction touched.
    pub fn merge(&mut self, other: Touched) {
        for id in other.request_ids {
            if !self.request_ids.contains(&id) {
                self.request_ids.push(id);
            }
        }
        self.messages += other.messages;
    }

    pub fn publish(&self, st: &crate::AppState) {
        for id in &self.request_ids {
            st.waiters.changed(id);
        }
        if self.messages > 0 {
            st.store.notify_outbox();
        }
    }
}

/// The ISO 18626 reasonUnfilled values (open list: others are passed on as given).
pub const REASONS_UNFILLED: &[&str] = &[
    "NotHeld",
    "NotAvailableForILL",
    "NotOnShelf",
    "OnLoan",
    "InProcess",
    "Lost",
    "NonCirculating",
    "NotFoundAsCited",
    "PolicyProblem",
    "PoorCondition",
    "Charges",
    "OnOrder",
    "AtBindery",
    "InUse",
    "Missing",
    "OtherReason",
];
