//! The supplier (lending) state machine: a partner's request from arrival to check-in, with
//! the ISO 18626 status each stage reports to the borrower.

use serde::Serialize;

use crate::citation::RequestFormat;
use crate::machine::{
    Actor, CONDITION_AGREED_MARKER, IsoAction, IsoStatus, Machine, Rule, To, go, rule,
};
use crate::people::string_enum;

string_enum!(
    LendState {
        /// Arrived; nobody has looked yet (or the automatic locate found nothing to decide).
        RequestReceived => "request_received",
        ExpectToSupply => "expect_to_supply",
        /// Located or promised: to be pulled from the shelf and shipped.
        WillSupply => "will_supply",
        PickSlipPrinted => "pick_slip_printed",
        /// We offered conditions and wait for the borrower's answer.
        ConditionalPending => "conditional_pending",
        /// On loan to the borrowing library.
        Shipped => "shipped",
        Overdue => "overdue",
        Recalled => "recalled",
        /// The borrower has sent it back; waiting to check it in.
        ReturnShipped => "return_shipped",
        Completed => "completed",
        CopyCompleted => "copy_completed",
        CompletedWithoutReturn => "completed_without_return",
        Unfilled => "unfilled",
        /// We answered RetryPossible: not as asked, but under the terms we offered. Closed on
        /// our side; a borrower who accepts sends a new request.
        RetryPossible => "retry_possible",
        /// We passed the request on to another supplier, which answers the borrower itself
        /// (ISO 18626 transfer request). Closed on our side.
        Forwarded => "forwarded",
        Cancelled => "cancelled",
    }
);

pub const LEND_STATES: &[LendState] = LendState::ALL;

string_enum!(
    /// How fast the borrower asked for it, as the lending queue shows it.
    ServiceLevel {
        Express => "express",
        Normal => "normal",
    }
);

impl ServiceLevel {
    /// ISO 18626 serviceLevel (an open list: Express, Rush, Urgent, Normal, Standard,
    /// SecondaryMail...): the hurried ones are express, anything else or nothing is normal.
    pub fn from_iso(level: Option<&str>) -> Self {
        match level.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
            Some("express" | "rush" | "urgent" | "priority") => ServiceLevel::Express,
            _ => ServiceLevel::Normal,
        }
    }
}

string_enum!(
    /// How the item went out.
    SuppliedFormat {
        Physical => "physical",
        Digital => "digital",
        NonReturnable => "non_returnable",
    }
);

impl SuppliedFormat {
    /// The format a shipping action sends; `None` for every other action.
    pub fn of_action(action: LendAction) -> Option<Self> {
        match action {
            LendAction::ShipPhysical => Some(SuppliedFormat::Physical),
            LendAction::ShipDigital => Some(SuppliedFormat::Digital),
            LendAction::ShipNonReturnable => Some(SuppliedFormat::NonReturnable),
            _ => None,
        }
    }
}

impl LendState {
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            LendState::Completed
                | LendState::CopyCompleted
                | LendState::CompletedWithoutReturn
                | LendState::Unfilled
                | LendState::RetryPossible
                | LendState::Forwarded
                | LendState::Cancelled
        )
    }

    /// The ISO 18626 status this stage reports to the borrower.
    pub fn iso_status(self) -> IsoStatus {
        use LendState::*;
        match self {
            RequestReceived => IsoStatus::RequestReceived,
            ExpectToSupply | ConditionalPending => IsoStatus::ExpectToSupply,
            WillSupply | PickSlipPrinted => IsoStatus::WillSupply,
            Shipped | ReturnShipped => IsoStatus::Loaned,
            Overdue => IsoStatus::Overdue,
            Recalled => IsoStatus::Recalled,
            Completed => IsoStatus::LoanCompleted,
            CopyCompleted => IsoStatus::CopyCompleted,
            CompletedWithoutReturn => IsoStatus::CompletedWithoutReturn,
            Unfilled => IsoStatus::Unfilled,
            RetryPossible => IsoStatus::RetryPossible,
            // Not ours to supply any more, but the chain still expects to: the supplier we
            // passed it to answers with its own status.
            Forwarded => IsoStatus::ExpectToSupply,
            Cancelled => IsoStatus::Cancelled,
        }
    }
}

string_enum!(
    LendAction {
        WillSupply => "will_supply",
        ExpectToSupply => "expect_to_supply",
        Conditional => "conditional",
        Locate => "locate",
        LocateFailed => "locate_failed",
        PrintPickSlip => "print_pick_slip",
        Reject => "reject",
        /// Answer RetryPossible with the terms under which we would supply.
        OfferRetry => "offer_retry",
        /// Pass the request on to another supplier, which then deals with the borrower.
        Forward => "forward",
        ShipPhysical => "ship_physical",
        ShipDigital => "ship_digital",
        ShipNonReturnable => "ship_non_returnable",
        AnswerRenewYes => "answer_renew_yes",
        AnswerRenewNo => "answer_renew_no",
        Recall => "recall",
        MarkOverdue => "mark_overdue",
        MarkLost => "mark_lost",
        CheckIn => "check_in",
        /// Ask the borrower not to send the item back until we release the hold (2021
        /// HoldReturn; to a 2017 borrower, a note saying so).
        HoldReturn => "hold_return",
        /// Tell the borrower the item may come back now (2021 ReleaseHoldReturn).
        ReleaseHoldReturn => "release_hold_return",
        Reactivate => "reactivate",
        BorrowerReceived => "borrower_received",
        BorrowerCancel => "borrower_cancel",
        BorrowerRenew => "borrower_renew",
        BorrowerShippedReturn => "borrower_shipped_return",
        BorrowerShippedForward => "borrower_shipped_forward",
        BorrowerAcceptsConditions => "borrower_accepts_conditions",
        BorrowerNotification => "borrower_notification",
        BorrowerStatusRequest => "borrower_status_request",
        /// The borrower keeps the item for now and will send it back later (2021).
        BorrowerHoldReturn => "borrower_hold_return",
        /// The borrower reports the item lost (2021 Lost).
        BorrowerLost => "borrower_lost",
        /// The supplier we passed the request on to refused it: the borrower, still waiting on
        /// us, is told that we cannot supply it.
        ForwardRefused => "forward_refused",
    }
);

pub const LEND_ACTIONS: &[LendAction] = LendAction::ALL;

impl LendAction {
    pub fn is_manual(self) -> bool {
        (self as usize) <= (LendAction::Reactivate as usize)
    }

    /// The action a requesting agency message stands for.
    pub fn from_borrower(action: IsoAction, note: &str) -> Self {
        match action {
            IsoAction::StatusRequest => LendAction::BorrowerStatusRequest,
            IsoAction::Received => LendAction::BorrowerReceived,
            IsoAction::Cancel => LendAction::BorrowerCancel,
            IsoAction::Renew => LendAction::BorrowerRenew,
            IsoAction::ShippedReturn => LendAction::BorrowerShippedReturn,
            IsoAction::ShippedForward => LendAction::BorrowerShippedForward,
            IsoAction::Notification if note.contains(CONDITION_AGREED_MARKER) => {
                LendAction::BorrowerAcceptsConditions
            }
            IsoAction::Notification => LendAction::BorrowerNotification,
            IsoAction::HoldReturn => LendAction::BorrowerHoldReturn,
            IsoAction::Lost => LendAction::BorrowerLost,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LendContext {
    pub format: RequestFormat,
    pub renew_pending: bool,
    /// We asked the borrower to hold the return and have not released it.
    pub return_held: bool,
    /// The borrower told us it keeps the item a while (2021 action HoldReturn) and has not
    /// shipped it back yet.
    pub borrower_holds: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LendGuard {
    Always,
    Loan,
    Copy,
    RenewPending,
    NoRenewPending,
    ReturnHeld,
    ReturnNotHeld,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LendEffect {
    /// Supplying agency message StatusChange (or RequestResponse for a first answer) with the
    /// new state's ISO status.
    SendStatus,
    /// The same, carrying the loan conditions in the note.
    SendConditional,
    /// Status Unfilled with the reason the staff gave.
    SendUnfilled,
    /// Status RetryPossible with the reason and the terms the staff gave (retryInfo).
    SendRetryPossible,
    /// The request to the supplier we pass it on to (on behalf of the borrower, as a transfer
    /// request), and a notification telling the borrower who has it now.
    SendForward,
    /// Status Loaned / CopyCompleted with delivery details (item, date sent, due date, URL).
    SendShipped,
    SendRenewYes,
    SendRenewNo,
    SendCancelYes,
    SendCancelNo,
    /// Answer to a status request: the current status, reasonForMessage StatusRequestResponse.
    SendStatusResponse,
    MarkRenewPending,
    ClearRenewPending,
    /// Compute the due date from the partner's loan period and our closed days.
    SetDueDate,
    /// Status HoldReturn (2021): do not send it back until we say so.
    SendHoldReturn,
    /// Status ReleaseHoldReturn (2021): it may come back now.
    SendReleaseHoldReturn,
    MarkReturnHeld,
    ClearReturnHeld,
    /// Remember that the borrower holds the return (shown to staff; the loan goes on).
    MarkBorrowerHolds,
    /// The borrower's hold is over (the item is on its way back, checked in or lost).
    ClearBorrowerHolds,
}

use LendAction as A;
use LendEffect as E;
use LendGuard as G;
use LendState as S;

const STAFF: &[Actor] = &[Actor::LendingStaff, Actor::Manager];
const STAFF_OR_SYSTEM: &[Actor] = &[Actor::LendingStaff, Actor::Manager, Actor::System];
const MANAGER: &[Actor] = &[Actor::Manager];
const PEER: &[Actor] = &[Actor::Peer];
const SYSTEM: &[Actor] = &[Actor::System];

const BEFORE_SHIPPING: &[S] = &[
    S::RequestReceived,
    S::ExpectToSupply,
    S::WillSupply,
    S::PickSlipPrinted,
];
const CANCELLABLE: &[S] = &[
    S::RequestReceived,
    S::ExpectToSupply,
    S::WillSupply,
    S::PickSlipPrinted,
    S::ConditionalPending,
];
const ON_LOAN: &[S] = &[S::Shipped, S::Overdue, S::Recalled];
const OUT: &[S] = &[
    S::Shipped,
    S::Overdue,
    S::Recalled,
    S::ReturnShipped,
    S::CopyCompleted,
];
const ALL: &[S] = LEND_STATES;

const STAY: To<S> = To::Stay;

/// The supplier transition table; the first matching row decides.
pub static LEND_RULES: &[Rule<S, A, G, E>] = &[
    rule(
        &[S::RequestReceived, S::ExpectToSupply],
        A::WillSupply,
        G::Always,
        go(S::WillSupply),
        STAFF,
        &[E::SendStatus],
    ),
    rule(
        &[S::RequestReceived],
        A::ExpectToSupply,
        G::Always,
        go(S::ExpectToSupply),
        STAFF,
        &[E::SendStatus],
    ),
    rule(
        BEFORE_SHIPPING,
        A::Conditional,
        G::Always,
        go(S::ConditionalPending),
        STAFF,
        &[E::SendConditional],
    ),
    rule(
        &[S::RequestReceived, S::ExpectToSupply],
        A::Locate,
        G::Always,
        go(S::WillSupply),
        STAFF_OR_SYSTEM,
        &[E::SendStatus],
    ),
    rule(
        &[S::WillSupply, S::PickSlipPrinted],
        A::Locate,
        G::Always,
        STAY,
        STAFF_OR_SYSTEM,
        &[],
    ),
    rule(
        BEFORE_SHIPPING,
        A::LocateFailed,
        G::Always,
        go(S::Unfilled),
        STAFF_OR_SYSTEM,
        &[E::SendUnfilled],
    ),
    rule(
        &[S::WillSupply, S::PickSlipPrinted],
        A::PrintPickSlip,
        G::Always,
        go(S::PickSlipPrinted),
        STAFF,
        &[],
    ),
    rule(
        CANCELLABLE,
        A::Reject,
        G::Always,
        go(S::Unfilled),
        STAFF,
        &[E::SendUnfilled],
    ),
    rule(
        CANCELLABLE,
        A::OfferRetry,
        G::Always,
        go(S::RetryPossible),
        STAFF,
        &[E::SendRetryPossible],
    ),
    rule(
        BEFORE_SHIPPING,
        A::Forward,
        G::Always,
        go(S::Forwarded),
        STAFF,
        &[E::SendForward],
    ),
    rule(
        BEFORE_SHIPPING,
        A::ShipPhysical,
        G::Loan,
        go(S::Shipped),
        STAFF,
        &[E::SetDueDate, E::SendShipped],
    ),
    rule(
        BEFORE_SHIPPING,
        A::ShipDigital,
        G::Copy,
        go(S::CopyCompleted),
        STAFF,
        &[E::SendShipped],
    ),
    rule(
        BEFORE_SHIPPING,
        A::ShipNonReturnable,
        G::Copy,
        go(S::CopyCompleted),
        STAFF,
        &[E::SendShipped],
    ),
    rule(
        ON_LOAN,
        A::AnswerRenewYes,
        G::RenewPending,
        go(S::Shipped),
        STAFF,
        &[E::ClearRenewPending, E::SetDueDate, E::SendRenewYes],
    ),
    rule(
        ON_LOAN,
        A::AnswerRenewNo,
        G::RenewPending,
        STAY,
        STAFF,
        &[E::ClearRenewPending, E::SendRenewNo],
    ),
    rule(
        &[S::Shipped, S::Overdue],
        A::Recall,
        G::Always,
        go(S::Recalled),
        STAFF,
        &[E::SendStatus],
    ),
    rule(
        &[S::Shipped],
        A::MarkOverdue,
        G::Always,
        go(S::Overdue),
        STAFF_OR_SYSTEM,
        &[E::SendStatus],
    ),
    rule(
        &[S::Shipped, S::Overdue, S::Recalled, S::ReturnShipped],
        A::MarkLost,
        G::Always,
        go(S::CompletedWithoutReturn),
        STAFF,
        &[E::ClearReturnHeld, E::ClearBorrowerHolds, E::SendStatus],
    ),
    rule(
        &[S::Shipped, S::Overdue, S::Recalled, S::ReturnShipped],
        A::CheckIn,
        G::Loan,
        go(S::Completed),
        STAFF,
        &[E::ClearReturnHeld, E::ClearBorrowerHolds, E::SendStatus],
    ),
    rule(
        ON_LOAN,
        A::HoldReturn,
        G::ReturnNotHeld,
        STAY,
        STAFF,
        &[E::MarkReturnHeld, E::SendHoldReturn],
    ),
    rule(
        ON_LOAN,
        A::ReleaseHoldReturn,
        G::ReturnHeld,
        STAY,
        STAFF,
        &[E::ClearReturnHeld, E::SendReleaseHoldReturn],
    ),
    rule(
        &[S::Unfilled, S::Cancelled],
        A::Reactivate,
        G::Always,
        go(S::RequestReceived),
        MANAGER,
        &[],
    ),
    // Messages from the borrower.
    rule(OUT, A::BorrowerReceived, G::Always, STAY, PEER, &[]),
    rule(
        CANCELLABLE,
        A::BorrowerCancel,
        G::Always,
        go(S::Cancelled),
        PEER,
        &[E::SendCancelYes],
    ),
    rule(
        &[S::Cancelled, S::Unfilled, S::RetryPossible],
        A::BorrowerCancel,
        G::Always,
        STAY,
        PEER,
        &[E::SendCancelYes],
    ),
    rule(
        &[
            S::Shipped,
            S::Overdue,
            S::Recalled,
            S::ReturnShipped,
            S::Completed,
            S::CopyCompleted,
            S::CompletedWithoutReturn,
            // Passed on: not ours to cancel; the borrower asks the library that has it now.
            S::Forwarded,
        ],
        A::BorrowerCancel,
        G::Always,
        STAY,
        PEER,
        &[E::SendCancelNo],
    ),
    rule(
        ON_LOAN,
        A::BorrowerRenew,
        G::NoRenewPending,
        STAY,
        PEER,
        &[E::MarkRenewPending],
    ),
    rule(
        ON_LOAN,
        A::BorrowerShippedReturn,
        G::Always,
        go(S::ReturnShipped),
        PEER,
        // On its way back whatever we asked: the hold is over.
        &[
            E::ClearRenewPending,
            E::ClearReturnHeld,
            E::ClearBorrowerHolds,
        ],
    ),
    // ISO 18626:2021. The borrower keeps the item a while longer: kept for staff to see (who
    // holds it, since when, why), the loan and its due date stay as they are.
    rule(
        ON_LOAN,
        A::BorrowerHoldReturn,
        G::Always,
        STAY,
        PEER,
        &[E::MarkBorrowerHolds],
    ),
    // The borrower lost the item: it will not come back. The request closes as completed
    // without return (what staff do when they mark it lost) and the borrower hears so.
    rule(
        &[S::Shipped, S::Overdue, S::Recalled, S::ReturnShipped],
        A::BorrowerLost,
        G::Always,
        go(S::CompletedWithoutReturn),
        PEER,
        &[
            E::ClearRenewPending,
            E::ClearReturnHeld,
            E::ClearBorrowerHolds,
            E::SendStatus,
        ],
    ),
    rule(
        ON_LOAN,
        A::BorrowerShippedForward,
        G::Always,
        STAY,
        PEER,
        &[],
    ),
    rule(
        &[S::ConditionalPending],
        A::BorrowerAcceptsConditions,
        G::Always,
        go(S::WillSupply),
        PEER,
        &[],
    ),
    rule(ALL, A::BorrowerNotification, G::Always, STAY, PEER, &[]),
    // The borrower follows the new supplier only once it answers; until then it waits on us.
    // If that supplier refuses the transfer request, nobody would answer: we do, Unfilled.
    rule(
        &[S::Forwarded],
        A::ForwardRefused,
        G::Always,
        go(S::Unfilled),
        SYSTEM,
        &[E::SendUnfilled],
    ),
    rule(
        ALL,
        A::BorrowerStatusRequest,
        G::Always,
        STAY,
        PEER,
        &[E::SendStatusResponse],
    ),
];

pub struct Supplier;

impl Machine for Supplier {
    type State = LendState;
    type Action = LendAction;
    type Guard = LendGuard;
    type Effect = LendEffect;
    type Context = LendContext;

    fn table() -> &'static [Rule<S, A, G, E>] {
        LEND_RULES
    }

    fn holds(guard: &G, ctx: &LendContext) -> bool {
        match guard {
            G::Always => true,
            G::Loan => !ctx.format.is_copy(),
            G::Copy => ctx.format.is_copy(),
            G::RenewPending => ctx.renew_pending,
            G::NoRenewPending => !ctx.renew_pending,
            G::ReturnHeld => ctx.return_held,
            G::ReturnNotHeld => !ctx.return_held,
        }
    }

    fn state_name(state: S) -> &'static str {
        state.as_str()
    }

    fn action_name(action: A) -> &'static str {
        action.as_str()
    }
}
