//! The requester (borrowing) state machine: a reader's request from review to completion,
//! moving through the rota of lenders by itself when one says no or does not answer in time.

use serde::Serialize;

use crate::citation::RequestFormat;
use crate::machine::{Actor, CONDITION_MARKER, IsoReason, IsoStatus, Machine, Rule, To, go, rule};
use crate::people::string_enum;

string_enum!(
    /// Where a borrowing request stands. Local stages (review, on loan to the reader...) and the
    /// lender's ISO 18626 answers both live here; `cancel_pending` and `renew_pending` are flags on
    /// the request because they run alongside the stage rather than replace it.
    BorrowState {
        /// Submitted; borrowing staff check it and approve the lender string.
        PendingReview => "pending_review",
        /// The ISO 18626 request is with the current lender, not answered yet.
        Sent => "sent",
        ExpectToSupply => "expect_to_supply",
        WillSupply => "will_supply",
        /// The lender offers to supply under conditions; we must accept or refuse.
        ConditionalPending => "conditional_pending",
        /// The lender answered RetryPossible: it would supply under other terms (cost, date,
        /// format...). Staff accept (a new request to it) or decline (the next lender).
        RetryOffered => "retry_offered",
        /// The lender has shipped (a loan) or delivered (a copy).
        Shipped => "shipped",
        Received => "received",
        OnLoanToPatron => "on_loan_to_patron",
        ReturnedByPatron => "returned_by_patron",
        ReturnShipped => "return_shipped",
        Lost => "lost",
        Completed => "completed",
        Unfilled => "unfilled",
        Cancelled => "cancelled",
    }
);

pub const BORROW_STATES: &[BorrowState] = BorrowState::ALL;

impl BorrowState {
    /// Closed: nothing but a manager's reactivation moves it again.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            BorrowState::Completed | BorrowState::Unfilled | BorrowState::Cancelled
        )
    }

    /// Not shipped and not closed: the reader's charge, recorded at shipment, is still to come.
    pub fn is_before_shipment(self) -> bool {
        matches!(self, BorrowState::PendingReview | BorrowState::RetryOffered)
            || self.is_awaiting_lender()
    }

    /// Still with a lender and not yet shipped: a deadline runs, the patron may cancel.
    pub fn is_awaiting_lender(self) -> bool {
        matches!(
            self,
            BorrowState::Sent
                | BorrowState::ExpectToSupply
                | BorrowState::WillSupply
                | BorrowState::ConditionalPending
        )
    }
}

string_enum!(
    /// Everything that can happen to a borrowing request: staff and patron actions, answers from
    /// the lender (as ISO 18626 supplying agency messages) and the clock.
    BorrowAction {
        Approve => "approve",
        EditRota => "edit_rota",
        Cancel => "cancel",
        AcceptConditions => "accept_conditions",
        RejectConditions => "reject_conditions",
        /// Take the lender's retry terms: a new request to the same lender with them.
        AcceptRetry => "accept_retry",
        /// Decline the lender's retry terms: the next lender in the rota is asked.
        DeclineRetry => "decline_retry",
        Receive => "receive",
        LendToPatron => "lend_to_patron",
        DeliverToPatron => "deliver_to_patron",
        PatronReturn => "patron_return",
        ShipReturn => "ship_return",
        Renew => "renew",
        MarkLost => "mark_lost",
        /// Tell the lender we keep the item a while before sending it back (ISO 18626:2021
        /// action HoldReturn; to a 2017 lender, a Notification saying so). Shipping the return
        /// ends it.
        HoldReturn => "hold_return",
        /// Staff fill a copy request from a copy the library already delivered for an earlier
        /// request it repeats: the reader gets a link at once and no lender is asked.
        FillFromCopy => "fill_from_copy",
        /// Staff fill a copy request from where it is available already (the library's
        /// licensed e-resource or open access): the reader is given that link, no lender asked.
        FillFromLink => "fill_from_link",
        Reactivate => "reactivate",
        LenderRequestReceived => "lender_request_received",
        LenderExpectToSupply => "lender_expect_to_supply",
        LenderWillSupply => "lender_will_supply",
        LenderConditional => "lender_conditional",
        LenderRetryPossible => "lender_retry_possible",
        LenderLoaned => "lender_loaned",
        LenderCopyCompleted => "lender_copy_completed",
        LenderUnfilled => "lender_unfilled",
        LenderCancelled => "lender_cancelled",
        LenderCancelRefused => "lender_cancel_refused",
        LenderOverdue => "lender_overdue",
        LenderRecalled => "lender_recalled",
        LenderRenewYes => "lender_renew_yes",
        LenderRenewNo => "lender_renew_no",
        LenderLoanCompleted => "lender_loan_completed",
        LenderCompletedWithoutReturn => "lender_completed_without_return",
        LenderNotification => "lender_notification",
        /// The lender asks us not to send the item back until it releases the hold (2021).
        LenderHoldReturn => "lender_hold_return",
        /// The lender's hold on the return is over: the item may go back (2021).
        LenderReleaseHoldReturn => "lender_release_hold_return",
        LenderDeadlinePassed => "lender_deadline_passed",
    }
);

pub const BORROW_ACTIONS: &[BorrowAction] = BorrowAction::ALL;

impl BorrowAction {
    /// Actions a person takes (as opposed to peer messages and the clock).
    pub fn is_manual(self) -> bool {
        (self as usize) <= (BorrowAction::Reactivate as usize)
    }

    /// The action an answer from the lender stands for. `conditional` is true when the note
    /// carries a loan condition.
    pub fn from_lender(
        reason: IsoReason,
        status: IsoStatus,
        answer_yes: Option<bool>,
        note: &str,
    ) -> Self {
        use BorrowAction::*;
        match (reason, status) {
            (IsoReason::RenewResponse, _) => {
                if answer_yes == Some(true) {
                    LenderRenewYes
                } else {
                    LenderRenewNo
                }
            }
            (IsoReason::CancelResponse, _) if answer_yes == Some(false) => LenderCancelRefused,
            (IsoReason::CancelResponse, _) => LenderCancelled,
            // Whatever reason a peer gives, these are news about the return, not a message.
            (_, IsoStatus::HoldReturn) => LenderHoldReturn,
            (_, IsoStatus::ReleaseHoldReturn) => LenderReleaseHoldReturn,
            (_, IsoStatus::ExpectToSupply | IsoStatus::WillSupply)
                if note.contains(CONDITION_MARKER) =>
            {
                LenderConditional
            }
            (IsoReason::Notification, _) => LenderNotification,
            (_, IsoStatus::RequestReceived) => LenderRequestReceived,
            (_, IsoStatus::ExpectToSupply) => LenderExpectToSupply,
            (_, IsoStatus::WillSupply) => LenderWillSupply,
            (_, IsoStatus::Loaned) => LenderLoaned,
            (_, IsoStatus::Overdue) => LenderOverdue,
            (_, IsoStatus::Recalled) => LenderRecalled,
            (_, IsoStatus::RetryPossible) => LenderRetryPossible,
            (_, IsoStatus::Unfilled) => LenderUnfilled,
            (_, IsoStatus::CopyCompleted) => LenderCopyCompleted,
            (_, IsoStatus::LoanCompleted) => LenderLoanCompleted,
            (_, IsoStatus::CompletedWithoutReturn) => LenderCompletedWithoutReturn,
            (_, IsoStatus::Cancelled) => LenderCancelled,
        }
    }
}

/// What a guard looks at: facts about the request that are not its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BorrowContext {
    pub format: RequestFormat,
    /// The rota has a lender after the current one (or, before sending, any lender).
    pub has_next_lender: bool,
    pub cancel_pending: bool,
    pub renew_pending: bool,
    /// The lender asked us to hold the return (ISO 18626:2021 HoldReturn) and has not released
    /// the hold yet.
    pub return_held: bool,
    /// We told the lender we hold the return ourselves (2021 action HoldReturn) and have not
    /// shipped it yet.
    pub holding_return: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BorrowGuard {
    Always,
    Loan,
    Copy,
    /// Another lender is there to try and the reader has not asked to cancel.
    NextLender,
    /// No lender left (and no cancel asked): the request is unfilled.
    NoNextLender,
    CancelPending,
    NoCancelPending,
    RenewableLoan,
    RenewPending,
    /// A loan whose lender has not asked us to hold the return.
    ReturnableLoan,
    /// A loan whose return nobody holds yet: we may tell the lender we keep it a while.
    HoldableLoan,
}

/// What must happen besides the state change, in this order, in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BorrowEffect {
    /// The current lender is done with (the action says why); the next one becomes current.
    AdvanceRota,
    /// Send the ISO 18626 request to the current lender and start its answer deadline.
    SendRequest,
    /// Keep the lender's retry offer on the request for staff to answer.
    KeepRetryOffer,
    /// Send a new request to the same lender with the terms of its retry offer, referring to
    /// the request it answered (ISO 18626 requestType Retry), and forget the offer.
    SendRetryRequest,
    /// Forget the retry offer (declined, or the request ended).
    DropRetryOffer,
    /// Forget the current lender and position: the rota starts again (reactivation).
    ResetRota,
    /// Requesting agency message Cancel to the current lender.
    CancelAtLender,
    MarkCancelPending,
    ClearCancelPending,
    ClearLenderDeadline,
    SendReceived,
    SendRenew,
    MarkRenewPending,
    /// The renewal was answered: clear the flag (a yes brings a new due date).
    RenewAnswered,
    SendShippedReturn,
    SendConditionsAccepted,
    /// Requesting agency message Lost with the staff's note (to a 2017 lender, a Notification
    /// saying so).
    SendLost,
    /// The lender asked to hold the return: remember it, so the item is not sent back.
    MarkReturnHeld,
    /// The lender's hold on the return is over.
    ClearReturnHeld,
    /// Requesting agency message HoldReturn with the staff's note (to a 2017 lender, a
    /// Notification saying so).
    SendHoldReturn,
    /// Remember that we hold the return ourselves.
    MarkHoldingReturn,
    /// Our own hold on the return is over (it is shipped, lost or the loan is done).
    ClearHoldingReturn,
    /// Take the due date the lender sent.
    TakeDueDate,
    MarkOverdue,
    MarkRecalled,
}

use BorrowAction as A;
use BorrowEffect as E;
use BorrowGuard as G;
use BorrowState as S;

const STAFF: &[Actor] = &[Actor::BorrowingStaff, Actor::Manager];
const PATRON_OR_STAFF: &[Actor] = &[Actor::Patron, Actor::BorrowingStaff, Actor::Manager];
const MANAGER: &[Actor] = &[Actor::Manager];
const PEER: &[Actor] = &[Actor::Peer];
const SYSTEM: &[Actor] = &[Actor::System];

const WITH_LENDER: &[S] = &[
    S::Sent,
    S::ExpectToSupply,
    S::WillSupply,
    S::ConditionalPending,
];
const ITEM_HERE: &[S] = &[
    S::Shipped,
    S::Received,
    S::OnLoanToPatron,
    S::ReturnedByPatron,
];
const OPEN: &[S] = &[
    S::PendingReview,
    S::Sent,
    S::ExpectToSupply,
    S::WillSupply,
    S::ConditionalPending,
    S::RetryOffered,
    S::Shipped,
    S::Received,
    S::OnLoanToPatron,
    S::ReturnedByPatron,
    S::ReturnShipped,
    S::Lost,
];

const STAY: To<S> = To::Stay;

/// The requester transition table. Read top to bottom: the first row whose state, action and
/// guard match decides.
pub static BORROW_RULES: &[Rule<S, A, G, E>] = &[
    rule(
        &[S::PendingReview],
        A::Approve,
        G::NextLender,
        go(S::Sent),
        STAFF,
        &[E::AdvanceRota, E::SendRequest],
    ),
    rule(
        &[
            S::PendingReview,
            S::Sent,
            S::ExpectToSupply,
            S::WillSupply,
            S::ConditionalPending,
            S::RetryOffered,
        ],
        A::EditRota,
        G::Always,
        STAY,
        STAFF,
        &[],
    ),
    rule(
        &[S::PendingReview],
        A::Cancel,
        G::Always,
        go(S::Cancelled),
        PATRON_OR_STAFF,
        &[],
    ),
    rule(
        WITH_LENDER,
        A::Cancel,
        G::NoCancelPending,
        STAY,
        PATRON_OR_STAFF,
        &[E::MarkCancelPending, E::CancelAtLender],
    ),
    // The lender has closed its side with RetryPossible: nothing to cancel there.
    rule(
        &[S::RetryOffered],
        A::Cancel,
        G::Always,
        go(S::Cancelled),
        PATRON_OR_STAFF,
        &[E::DropRetryOffer],
    ),
    rule(
        &[S::RetryOffered],
        A::AcceptRetry,
        G::Always,
        go(S::Sent),
        STAFF,
        &[E::SendRetryRequest],
    ),
    rule(
        &[S::RetryOffered],
        A::DeclineRetry,
        G::NextLender,
        go(S::Sent),
        STAFF,
        &[E::DropRetryOffer, E::AdvanceRota, E::SendRequest],
    ),
    rule(
        &[S::RetryOffered],
        A::DeclineRetry,
        G::NoNextLender,
        go(S::Unfilled),
        STAFF,
        &[E::DropRetryOffer, E::AdvanceRota, E::ClearLenderDeadline],
    ),
    rule(
        &[S::ConditionalPending],
        A::AcceptConditions,
        G::NoCancelPending,
        go(S::WillSupply),
        STAFF,
        &[E::SendConditionsAccepted],
    ),
    rule(
        &[S::ConditionalPending],
        A::RejectConditions,
        G::NextLender,
        go(S::Sent),
        STAFF,
        &[E::CancelAtLender, E::AdvanceRota, E::SendRequest],
    ),
    rule(
        &[S::ConditionalPending],
        A::RejectConditions,
        G::NoNextLender,
        go(S::Unfilled),
        STAFF,
        &[E::CancelAtLender, E::AdvanceRota],
    ),
    // Staff receive what arrives, even before the lender's Loaned message (peers are late).
    rule(
        &[S::Shipped, S::WillSupply, S::ExpectToSupply],
        A::Receive,
        G::NoCancelPending,
        go(S::Received),
        STAFF,
        &[E::ClearLenderDeadline, E::SendReceived],
    ),
    rule(
        &[S::Received],
        A::LendToPatron,
        G::Loan,
        go(S::OnLoanToPatron),
        STAFF,
        &[],
    ),
    rule(
        &[S::PendingReview],
        A::FillFromCopy,
        G::Copy,
        go(S::Completed),
        STAFF,
        &[],
    ),
    rule(
        &[S::PendingReview],
        A::FillFromLink,
        G::Copy,
        go(S::Completed),
        STAFF,
        &[],
    ),
    rule(
        &[S::Received],
        A::DeliverToPatron,
        G::Copy,
        go(S::Completed),
        STAFF,
        &[],
    ),
    rule(
        &[S::OnLoanToPatron],
        A::PatronReturn,
        G::Always,
        go(S::ReturnedByPatron),
        STAFF,
        &[],
    ),
    rule(
        &[S::ReturnedByPatron, S::Received],
        A::ShipReturn,
        G::ReturnableLoan,
        go(S::ReturnShipped),
        STAFF,
        &[E::SendShippedReturn, E::ClearHoldingReturn],
    ),
    // ISO 18626:2021: we tell the lender we keep the item a while (the library is closing,
    // the reader still needs it ...); sending the return ends it. Not while the lender holds
    // the return itself: then it is waiting anyway.
    rule(
        &[S::Received, S::OnLoanToPatron, S::ReturnedByPatron],
        A::HoldReturn,
        G::HoldableLoan,
        STAY,
        STAFF,
        &[E::MarkHoldingReturn, E::SendHoldReturn],
    ),
    rule(
        &[S::Received, S::OnLoanToPatron],
        A::Renew,
        G::RenewableLoan,
        STAY,
        PATRON_OR_STAFF,
        &[E::MarkRenewPending, E::SendRenew],
    ),
    // Lost on its way here (shipped, never received) as well as after: from `shipped` and
    // `received` the reader never had it, and their charge is given back (see
    // `reader_fees::charge_refunded_on`).
    rule(
        &[
            S::Shipped,
            S::Received,
            S::OnLoanToPatron,
            S::ReturnedByPatron,
            S::ReturnShipped,
        ],
        A::MarkLost,
        G::Loan,
        go(S::Lost),
        STAFF,
        &[E::SendLost, E::ClearReturnHeld, E::ClearHoldingReturn],
    ),
    rule(
        &[S::Unfilled, S::Cancelled],
        A::Reactivate,
        G::Always,
        go(S::PendingReview),
        MANAGER,
        &[E::ResetRota],
    ),
    // Answers from the current lender.
    rule(
        &[S::Sent],
        A::LenderRequestReceived,
        G::Always,
        STAY,
        PEER,
        &[],
    ),
    rule(
        &[S::Sent, S::ExpectToSupply],
        A::LenderExpectToSupply,
        G::Always,
        go(S::ExpectToSupply),
        PEER,
        &[],
    ),
    rule(
        &[S::Sent, S::ExpectToSupply, S::WillSupply],
        A::LenderWillSupply,
        G::Always,
        go(S::WillSupply),
        PEER,
        &[E::ClearLenderDeadline],
    ),
    rule(
        &[S::Sent, S::ExpectToSupply, S::WillSupply],
        A::LenderConditional,
        G::NoCancelPending,
        go(S::ConditionalPending),
        PEER,
        &[E::ClearLenderDeadline],
    ),
    rule(
        &[S::ConditionalPending],
        A::LenderWillSupply,
        G::Always,
        go(S::WillSupply),
        PEER,
        &[],
    ),
    rule(
        WITH_LENDER,
        A::LenderLoaned,
        G::Always,
        go(S::Shipped),
        PEER,
        &[
            E::ClearCancelPending,
            E::ClearLenderDeadline,
            E::TakeDueDate,
        ],
    ),
    rule(
        WITH_LENDER,
        A::LenderCopyCompleted,
        G::Always,
        go(S::Shipped),
        PEER,
        &[E::ClearCancelPending, E::ClearLenderDeadline],
    ),
    rule(
        WITH_LENDER,
        A::LenderUnfilled,
        G::CancelPending,
        go(S::Cancelled),
        PEER,
        &[E::ClearCancelPending, E::ClearLenderDeadline],
    ),
    rule(
        WITH_LENDER,
        A::LenderUnfilled,
        G::NextLender,
        go(S::Sent),
        PEER,
        &[E::AdvanceRota, E::SendRequest],
    ),
    rule(
        WITH_LENDER,
        A::LenderUnfilled,
        G::NoNextLender,
        go(S::Unfilled),
        PEER,
        &[E::AdvanceRota, E::ClearLenderDeadline],
    ),
    // RetryPossible: the lender would supply under other terms. A reader who asked to cancel
    // meanwhile has their answer; otherwise staff decide on the terms.
    rule(
        WITH_LENDER,
        A::LenderRetryPossible,
        G::CancelPending,
        go(S::Cancelled),
        PEER,
        &[E::ClearCancelPending, E::ClearLenderDeadline],
    ),
    rule(
        WITH_LENDER,
        A::LenderRetryPossible,
        G::NoCancelPending,
        go(S::RetryOffered),
        PEER,
        &[E::ClearLenderDeadline, E::KeepRetryOffer],
    ),
    rule(
        WITH_LENDER,
        A::LenderCancelled,
        G::CancelPending,
        go(S::Cancelled),
        PEER,
        &[E::ClearCancelPending, E::ClearLenderDeadline],
    ),
    rule(
        WITH_LENDER,
        A::LenderCancelled,
        G::NextLender,
        go(S::Sent),
        PEER,
        &[E::AdvanceRota, E::SendRequest],
    ),
    rule(
        WITH_LENDER,
        A::LenderCancelled,
        G::NoNextLender,
        go(S::Unfilled),
        PEER,
        &[E::AdvanceRota, E::ClearLenderDeadline],
    ),
    rule(
        OPEN,
        A::LenderCancelRefused,
        G::Always,
        STAY,
        PEER,
        &[E::ClearCancelPending],
    ),
    rule(
        ITEM_HERE,
        A::LenderOverdue,
        G::Always,
        STAY,
        PEER,
        &[E::MarkOverdue],
    ),
    rule(
        ITEM_HERE,
        A::LenderRecalled,
        G::Always,
        STAY,
        PEER,
        &[E::MarkRecalled, E::TakeDueDate],
    ),
    rule(
        ITEM_HERE,
        A::LenderRenewYes,
        G::RenewPending,
        STAY,
        PEER,
        &[E::RenewAnswered, E::TakeDueDate],
    ),
    rule(
        ITEM_HERE,
        A::LenderRenewNo,
        G::RenewPending,
        STAY,
        PEER,
        &[E::RenewAnswered],
    ),
    rule(
        &[
            S::Shipped,
            S::Received,
            S::OnLoanToPatron,
            S::ReturnedByPatron,
            S::ReturnShipped,
            S::Lost,
        ],
        A::LenderLoanCompleted,
        G::Loan,
        go(S::Completed),
        PEER,
        &[E::ClearReturnHeld, E::ClearHoldingReturn],
    ),
    rule(
        &[
            S::Shipped,
            S::Received,
            S::OnLoanToPatron,
            S::ReturnedByPatron,
            S::ReturnShipped,
            S::Lost,
        ],
        A::LenderCompletedWithoutReturn,
        G::Always,
        go(S::Completed),
        PEER,
        &[E::ClearReturnHeld, E::ClearHoldingReturn],
    ),
    rule(OPEN, A::LenderNotification, G::Always, STAY, PEER, &[]),
    // ISO 18626:2021: the lender asks us to keep the item until it says it may come back
    // (it is closed, moving ...): sending it back waits; the loan otherwise goes on.
    rule(
        ITEM_HERE,
        A::LenderHoldReturn,
        G::Always,
        STAY,
        PEER,
        &[E::MarkReturnHeld],
    ),
    rule(
        &[
            S::Shipped,
            S::Received,
            S::OnLoanToPatron,
            S::ReturnedByPatron,
            S::ReturnShipped,
            S::Lost,
        ],
        A::LenderReleaseHoldReturn,
        G::Always,
        STAY,
        PEER,
        &[E::ClearReturnHeld],
    ),
    // The clock: a lender that has not committed by its deadline is passed over.
    rule(
        &[S::Sent, S::ExpectToSupply],
        A::LenderDeadlinePassed,
        G::CancelPending,
        go(S::Cancelled),
        SYSTEM,
        &[E::ClearCancelPending, E::ClearLenderDeadline],
    ),
    rule(
        &[S::Sent, S::ExpectToSupply],
        A::LenderDeadlinePassed,
        G::NextLender,
        go(S::Sent),
        SYSTEM,
        &[E::CancelAtLender, E::AdvanceRota, E::SendRequest],
    ),
    rule(
        &[S::Sent, S::ExpectToSupply],
        A::LenderDeadlinePassed,
        G::NoNextLender,
        go(S::Unfilled),
        SYSTEM,
        &[E::CancelAtLender, E::AdvanceRota, E::ClearLenderDeadline],
    ),
    // A retry offer whose last day has passed unanswered is declined by the clock: the lender
    // has closed its side already, so there is nothing to cancel there.
    rule(
        &[S::RetryOffered],
        A::LenderDeadlinePassed,
        G::NextLender,
        go(S::Sent),
        SYSTEM,
        &[E::DropRetryOffer, E::AdvanceRota, E::SendRequest],
    ),
    rule(
        &[S::RetryOffered],
        A::LenderDeadlinePassed,
        G::NoNextLender,
        go(S::Unfilled),
        SYSTEM,
        &[E::DropRetryOffer, E::AdvanceRota, E::ClearLenderDeadline],
    ),
];

/// The requester machine.
pub struct Requester;

impl Machine for Requester {
    type State = BorrowState;
    type Action = BorrowAction;
    type Guard = BorrowGuard;
    type Effect = BorrowEffect;
    type Context = BorrowContext;

    fn table() -> &'static [Rule<S, A, G, E>] {
        BORROW_RULES
    }

    fn holds(guard: &G, ctx: &BorrowContext) -> bool {
        match guard {
            G::Always => true,
            G::Loan => !ctx.format.is_copy(),
            G::Copy => ctx.format.is_copy(),
            G::NextLender => ctx.has_next_lender && !ctx.cancel_pending,
            G::NoNextLender => !ctx.has_next_lender && !ctx.cancel_pending,
            G::CancelPending => ctx.cancel_pending,
            G::NoCancelPending => !ctx.cancel_pending,
            G::RenewableLoan => !ctx.format.is_copy() && !ctx.renew_pending,
            G::RenewPending => ctx.renew_pending,
            G::ReturnableLoan => !ctx.format.is_copy() && !ctx.return_held,
            G::HoldableLoan => !ctx.format.is_copy() && !ctx.return_held && !ctx.holding_return,
        }
    }

    fn state_name(state: S) -> &'static str {
        state.as_str()
    }

    fn action_name(action: A) -> &'static str {
        action.as_str()
    }
}
