//! What the two state machines share: who may act, guards, the transition-table row, the
//! ISO 18626 value lists the machines speak in, and the refusal every caller (UI, API,
//! protocol) gets when an action is not allowed.

use serde::{Deserialize, Serialize};

/// The capacity in which somebody acts on a request. A user's roles grant capacities
/// (`people::Role::capacities`); the protocol and the clock act as `Peer` and `System`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The reader who owns the request.
    Patron,
    /// Staff of the borrowing library.
    BorrowingStaff,
    /// Staff of the lending library.
    LendingStaff,
    /// A resource-sharing manager or library admin: may also reactivate and override.
    Manager,
    /// The partner library, through an ISO 18626 message.
    Peer,
    /// librelay itself: deadlines and sweeps.
    System,
}

/// Why an action was refused. The API maps `NotAllowed` to 409 `action_not_allowed` and
/// `Forbidden` to 403; both say what *is* allowed so the caller can recover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "action {action} is not allowed in state {state}; allowed now: {}",
        list(allowed)
    )]
    NotAllowed {
        state: &'static str,
        action: String,
        allowed: Vec<&'static str>,
    },
    #[error("action {action} in state {state} is for {}", who.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(", "))]
    Forbidden {
        state: &'static str,
        action: &'static str,
        who: Vec<Actor>,
    },
}

fn list(items: &[&'static str]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Where a rule leads: a named state, or the state the request is already in (an action that
/// records something without moving, such as a renewal answer or a note).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To<S> {
    State(S),
    Stay,
}

/// One row of a transition table: in any of `from`, `action` by one of `who`, when `guard`
/// holds, moves `to` with `effects`. Plain data, so the UI, the API, the protocol and the tests
/// all read the same thing.
#[derive(Debug)]
pub struct Rule<S: 'static, A: 'static, G: 'static, E: 'static> {
    pub from: &'static [S],
    pub action: A,
    pub guard: G,
    pub to: To<S>,
    pub who: &'static [Actor],
    pub effects: &'static [E],
}

/// A table row, for the tables' own readability.
pub const fn rule<S, A, G, E>(
    from: &'static [S],
    action: A,
    guard: G,
    to: To<S>,
    who: &'static [Actor],
    effects: &'static [E],
) -> Rule<S, A, G, E> {
    Rule {
        from,
        action,
        guard,
        to,
        who,
        effects,
    }
}

/// Rows that move to state `s`.
pub const fn go<S>(s: S) -> To<S> {
    To::State(s)
}

/// The outcome of an allowed action: the next state and what must happen with it (an outgoing
/// message, a rota step...). The caller writes state, event and effects in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<S: 'static, E: 'static> {
    pub from: S,
    pub to: S,
    pub effects: &'static [E],
}

/// A transition table of machine `M`.
pub type Table<M> = &'static [Rule<
    <M as Machine>::State,
    <M as Machine>::Action,
    <M as Machine>::Guard,
    <M as Machine>::Effect,
>];

/// A state machine given as a table. Implemented by the requester and the supplier machines.
pub trait Machine {
    type State: Copy + PartialEq + std::fmt::Debug + 'static;
    type Action: Copy + PartialEq + std::fmt::Debug + 'static;
    type Guard: 'static;
    type Effect: std::fmt::Debug + 'static;
    type Context;

    fn table() -> Table<Self>;
    fn holds(guard: &Self::Guard, ctx: &Self::Context) -> bool;
    fn state_name(state: Self::State) -> &'static str;
    fn action_name(action: Self::Action) -> &'static str;

    /// Decide `action` in `state` for somebody acting in `actors`.
    fn decide(
        state: Self::State,
        action: Self::Action,
        ctx: &Self::Context,
        actors: &[Actor],
    ) -> Result<Decision<Self::State, Self::Effect>, Refusal> {
        let mut forbidden = None;
        for rule in Self::table() {
            if rule.action != action
                || !rule.from.contains(&state)
                || !Self::holds(&rule.guard, ctx)
            {
                continue;
            }
            if rule.who.iter().any(|w| actors.contains(w)) {
                let to = match rule.to {
                    To::State(s) => s,
                    To::Stay => state,
                };
                return Ok(Decision {
                    from: state,
                    to,
                    effects: rule.effects,
                });
            }
            forbidden
                .get_or_insert_with(Vec::new)
                .extend(rule.who.iter().copied());
        }
        let state_name = Self::state_name(state);
        if let Some(who) = forbidden {
            return Err(Refusal::Forbidden {
                state: state_name,
                action: Self::action_name(action),
                who,
            });
        }
        let allowed = Self::allowed(state, ctx, actors)
            .into_iter()
            .map(Self::action_name)
            .collect();
        Err(Refusal::NotAllowed {
            state: state_name,
            action: Self::action_name(action).to_owned(),
            allowed,
        })
    }

    /// Actions allowed now for these actors, in table order, without duplicates.
    fn allowed(state: Self::State, ctx: &Self::Context, actors: &[Actor]) -> Vec<Self::Action> {
        let mut out: Vec<Self::Action> = Vec::new();
        for rule in Self::table() {
            if rule.from.contains(&state)
                && Self::holds(&rule.guard, ctx)
                && rule.who.iter().any(|w| actors.contains(w))
                && !out.contains(&rule.action)
            {
                out.push(rule.action);
            }
        }
        out
    }
}

/// The ISO 18626 status values (supplying agency's view of a request). The machines speak in
/// these; the `iso18626` crate maps them to and from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IsoStatus {
    RequestReceived,
    ExpectToSupply,
    WillSupply,
    Loaned,
    Overdue,
    Recalled,
    RetryPossible,
    Unfilled,
    /// 2021: the lender asks for the item not to be sent back until it says so.
    HoldReturn,
    /// 2021: the lender's hold on the return is over.
    ReleaseHoldReturn,
    CopyCompleted,
    LoanCompleted,
    CompletedWithoutReturn,
    Cancelled,
}

/// ISO 18626 reasonForMessage of a supplying agency message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IsoReason {
    RequestResponse,
    StatusRequestResponse,
    RenewResponse,
    CancelResponse,
    StatusChange,
    Notification,
}

/// ISO 18626 action of a requesting agency message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IsoAction {
    StatusRequest,
    Received,
    Cancel,
    Renew,
    /// 2021: the borrower keeps the item for now and will send it back later.
    HoldReturn,
    ShippedReturn,
    ShippedForward,
    Notification,
    /// 2021: the item is lost at the borrower's end.
    Lost,
}

/// Notes carrying a loan condition and its acceptance, as ReShare marks them; peers that do not
/// know the marker still read a plain note.
pub const CONDITION_MARKER: &str = "#ReShareAddLoanCondition#";
pub const CONDITION_AGREED_MARKER: &str = "#ReShareLoanConditionAgreeResponse#";
