//! Property tests of the two machines together: a borrower, its rota of lenders and the
//! messages between them, driven by random choices. Any sequence keeps the invariants: only
//! table transitions, closed states reopen only by a manager, every state is reachable, and
//! once no message is in flight both sides agree.

use std::collections::{HashSet, VecDeque};

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use crate::citation::RequestFormat;
use crate::ident::LibraryCode;
use crate::machine::{Actor, IsoAction, IsoReason, IsoStatus, Machine, To};
use crate::requester::{
    BORROW_ACTIONS, BORROW_RULES, BORROW_STATES, BorrowAction, BorrowContext, BorrowEffect,
    BorrowState, Requester,
};
use crate::rota::{Rota, RotaEntry, RotaOutcome};
use crate::supplier::{
    LEND_ACTIONS, LEND_RULES, LEND_STATES, LendAction, LendContext, LendEffect, LendState, Supplier,
};

#[derive(Debug, Clone)]
enum Msg {
    /// Borrower -> lender `to`.
    Request { to: usize, seq: u32 },
    Ram {
        to: usize,
        seq: u32,
        action: IsoAction,
        note: &'static str,
    },
    /// Lender `from` -> borrower. `seq` says which send of the request it answers: each send
    /// has its own requestingAgencyRequestId, so answers to an earlier send are told apart.
    Sam {
        from: usize,
        seq: u32,
        reason: IsoReason,
        status: IsoStatus,
        yes: Option<bool>,
        note: &'static str,
    },
}

#[derive(Debug, Clone)]
struct Lender {
    state: LendState,
    renew_pending: bool,
    return_held: bool,
    /// The borrower told us it holds the return.
    borrower_holds: bool,
    seq: u32,
}

struct World {
    format: RequestFormat,
    state: BorrowState,
    rota: Rota,
    cancel_pending: bool,
    renew_pending: bool,
    return_held: bool,
    /// We told the lender we hold the return ourselves.
    holding_return: bool,
    /// How many times the request has been sent (the current send's number).
    seq: u32,
    lenders: Vec<Option<Lender>>,
    queue: VecDeque<Msg>,
    seen_borrow: HashSet<BorrowState>,
    seen_lend: HashSet<LendState>,
    /// What happened, for the failure message.
    trace: Vec<String>,
}

const BORROWER_PEOPLE: &[Actor] = &[Actor::Patron, Actor::BorrowingStaff, Actor::Manager];
const LENDER_PEOPLE: &[Actor] = &[Actor::LendingStaff];

impl World {
    fn new(format: RequestFormat, lenders: usize) -> Self {
        let entries = (0..lenders)
            .map(|i| RotaEntry {
                library: LibraryCode::parse(&format!("L{i}")).unwrap(),
                reason: String::new(),
                reason_zh: String::new(),
                fee: None,
                outcome: None,
                note: None,
            })
            .collect();
        World {
            format,
            state: BorrowState::PendingReview,
            rota: Rota::new(entries),
            cancel_pending: false,
            renew_pending: false,
            return_held: false,
            holding_return: false,
            seq: 0,
            lenders: vec![None; lenders],
            queue: VecDeque::new(),
            seen_borrow: HashSet::from([BorrowState::PendingReview]),
            seen_lend: HashSet::new(),
            trace: Vec::new(),
        }
    }

    fn bctx(&self) -> BorrowContext {
        BorrowContext {
            format: self.format,
            has_next_lender: self.rota.has_next(),
            cancel_pending: self.cancel_pending,
            renew_pending: self.renew_pending,
            return_held: self.return_held,
            holding_return: self.holding_return,
        }
    }

    fn current(&self) -> Option<usize> {
        self.rota.current.filter(|i| *i < self.lenders.len())
    }

    fn lender_shipped(&self) -> bool {
        use LendState as L;
        self.current()
            .and_then(|i| self.lenders[i].as_ref())
            .is_some_and(|l| {
                matches!(
                    l.state,
                    L::Shipped
                        | L::Overdue
                        | L::Recalled
                        | L::ReturnShipped
                        | L::CopyCompleted
                        | L::Completed
                        | L::CompletedWithoutReturn
                )
            })
    }

    /// Every step possible now: borrower actions, lender actions, the clock, or a delivery.
    fn steps(&self) -> Vec<Step> {
        let mut out = Vec::new();
        for a in Requester::allowed(self.state, &self.bctx(), BORROWER_PEOPLE) {
            // Staff can only receive what has physically been sent.
            if a == BorrowAction::Receive && !self.lender_shipped() {
                continue;
            }
            // Editing the rota changes nothing the machines see; it only dilutes the walk.
            if a == BorrowAction::EditRota {
                continue;
            }
            out.push(Step::Borrow(a, Actor::Manager));
        }
        // Deadlines are days, messages seconds: the clock fires only with nothing in flight.
        if self.queue.is_empty()
            && Requester::decide(
                self.state,
                BorrowAction::LenderDeadlinePassed,
                &self.bctx(),
                &[Actor::System],
            )
            .is_ok()
        {
            out.push(Step::Borrow(
                BorrowAction::LenderDeadlinePassed,
                Actor::System,
            ));
        }
        for (i, l) in self.lenders.iter().enumerate() {
            if let Some(l) = l {
                let ctx = LendContext {
                    format: self.format,
                    renew_pending: l.renew_pending,
                    return_held: l.return_held,
                    borrower_holds: l.borrower_holds,
                };
                for a in Supplier::allowed(l.state, &ctx, LENDER_PEOPLE) {
                    // Forwarding brings in a supplier outside the rota; the federation tests
                    // follow it between nodes.
                    if a == LendAction::Forward {
                        continue;
                    }
                    out.push(Step::Lend(i, a));
                }
            }
        }
        if !self.queue.is_empty() {
            out.push(Step::Deliver);
        }
        out
    }

    fn apply(&mut self, step: Step) {
        self.trace.push(format!("{step:?}"));
        match step {
            Step::Borrow(a, actor) => self.borrow(a, &[actor], ""),
            Step::Lend(i, a) => self.lend(i, a, &[Actor::LendingStaff]),
            Step::Deliver => {
                if let Some(msg) = self.queue.pop_front() {
                    self.deliver(msg);
                }
            }
        }
    }

    fn borrow(&mut self, action: BorrowAction, actors: &[Actor], note: &str) {
        let before = self.state;
        let Ok(d) = Requester::decide(self.state, action, &self.bctx(), actors) else {
            return; // a message that does not apply is recorded and otherwise ignored
        };
        if before.is_closed() && d.to != before {
            assert_eq!(
                action,
                BorrowAction::Reactivate,
                "closed {before:?} left by {action:?}"
            );
            assert!(actors.contains(&Actor::Manager));
        }
        assert!(
            table_has_borrow(before, action, d.to),
            "{before:?} -{action:?}-> {:?}",
            d.to
        );
        self.state = d.to;
        self.seen_borrow.insert(d.to);
        let outcome = match action {
            BorrowAction::LenderDeadlinePassed => RotaOutcome::NoAnswer,
            BorrowAction::RejectConditions => RotaOutcome::ConditionsRefused,
            BorrowAction::LenderCancelled => RotaOutcome::Cancelled,
            _ => RotaOutcome::Unfilled,
        };
        for e in d.effects {
            let cur = self.current();
            match e {
                BorrowEffect::AdvanceRota => {
                    self.rota.advance(outcome, Some(note.to_owned()));
                }
                BorrowEffect::SendRequest | BorrowEffect::SendRetryRequest => {
                    let to = self.current().unwrap();
                    self.seq += 1;
                    self.queue.push_back(Msg::Request { to, seq: self.seq });
                }
                BorrowEffect::ResetRota => {
                    self.rota.reset();
                    self.cancel_pending = false;
                    self.renew_pending = false;
                    self.return_held = false;
                    self.holding_return = false;
                }
                BorrowEffect::CancelAtLender => self.ram(cur, IsoAction::Cancel, ""),
                BorrowEffect::MarkCancelPending => self.cancel_pending = true,
                BorrowEffect::ClearCancelPending => self.cancel_pending = false,
                BorrowEffect::SendReceived => self.ram(cur, IsoAction::Received, ""),
                BorrowEffect::SendRenew => self.ram(cur, IsoAction::Renew, ""),
                BorrowEffect::MarkRenewPending => self.renew_pending = true,
                BorrowEffect::RenewAnswered => self.renew_pending = false,
                BorrowEffect::SendShippedReturn => self.ram(cur, IsoAction::ShippedReturn, ""),
                BorrowEffect::SendConditionsAccepted => self.ram(
                    cur,
                    IsoAction::Notification,
                    crate::machine::CONDITION_AGREED_MARKER,
                ),
                BorrowEffect::SendLost => self.ram(cur, IsoAction::Lost, "water damage"),
                BorrowEffect::MarkReturnHeld => self.return_held = true,
                BorrowEffect::ClearReturnHeld => self.return_held = false,
                BorrowEffect::SendHoldReturn => self.ram(cur, IsoAction::HoldReturn, "closing"),
                BorrowEffect::MarkHoldingReturn => self.holding_return = true,
                BorrowEffect::ClearHoldingReturn => self.holding_return = false,
                BorrowEffect::ClearLenderDeadline
                | BorrowEffect::KeepRetryOffer
                | BorrowEffect::DropRetryOffer
                | BorrowEffect::TakeDueDate
                | BorrowEffect::MarkOverdue
                | BorrowEffect::MarkRecalled => {}
            }
        }
    }

    fn ram(&mut self, to: Option<usize>, action: IsoAction, note: &'static str) {
        if let Some(to) = to {
            self.queue.push_back(Msg::Ram {
                to,
                seq: self.seq,
                action,
                note,
            });
        }
    }

    fn lend(&mut self, i: usize, action: LendAction, actors: &[Actor]) {
        let Some(l) = self.lenders[i].as_mut() else {
            return;
        };
        let before = l.state;
        let ctx = LendContext {
            format: self.format,
            renew_pending: l.renew_pending,
            return_held: l.return_held,
            borrower_holds: l.borrower_holds,
        };
        let Ok(d) = Supplier::decide(before, action, &ctx, actors) else {
            return;
        };
        if before.is_closed() && d.to != before {
            assert_eq!(action, LendAction::Reactivate);
        }
        assert!(table_has_lend(before, action, d.to));
        l.state = d.to;
        self.seen_lend.insert(d.to);
        let status = d.to.iso_status();
        let seq = l.seq;
        let mut out = Vec::new();
        for e in d.effects {
            let sam = |reason, yes, note| Msg::Sam {
                from: i,
                seq,
                reason,
                status,
                yes,
                note,
            };
            match e {
                LendEffect::SendStatus
                | LendEffect::SendShipped
                | LendEffect::SendUnfilled
                | LendEffect::SendRetryPossible => out.push(sam(IsoReason::StatusChange, None, "")),
                LendEffect::SendConditional => out.push(sam(
                    IsoReason::Notification,
                    None,
                    crate::machine::CONDITION_MARKER,
                )),
                LendEffect::SendRenewYes => out.push(sam(IsoReason::RenewResponse, Some(true), "")),
                LendEffect::SendRenewNo => out.push(sam(IsoReason::RenewResponse, Some(false), "")),
                LendEffect::SendCancelYes => {
                    out.push(sam(IsoReason::CancelResponse, Some(true), ""))
                }
                LendEffect::SendCancelNo => {
                    out.push(sam(IsoReason::CancelResponse, Some(false), ""))
                }
                LendEffect::SendStatusResponse => {
                    out.push(sam(IsoReason::StatusRequestResponse, None, ""))
                }
                LendEffect::SendForward => out.push(sam(IsoReason::Notification, None, "")),
                LendEffect::SendHoldReturn | LendEffect::SendReleaseHoldReturn => {
                    let status = if *e == LendEffect::SendHoldReturn {
                        IsoStatus::HoldReturn
                    } else {
                        IsoStatus::ReleaseHoldReturn
                    };
                    out.push(Msg::Sam {
                        from: i,
                        seq,
                        reason: IsoReason::StatusChange,
                        status,
                        yes: None,
                        note: "",
                    });
                }
                LendEffect::MarkReturnHeld => l.return_held = true,
                LendEffect::ClearReturnHeld => l.return_held = false,
                LendEffect::MarkBorrowerHolds => l.borrower_holds = true,
                LendEffect::ClearBorrowerHolds => l.borrower_holds = false,
                LendEffect::MarkRenewPending => l.renew_pending = true,
                LendEffect::ClearRenewPending => l.renew_pending = false,
                LendEffect::SetDueDate => {}
            }
        }
        self.queue.extend(out);
    }

    fn deliver(&mut self, msg: Msg) {
        self.trace.push(format!("  deliver {msg:?}"));
        match msg {
            Msg::Request { to, seq } => {
                self.lenders[to] = Some(Lender {
                    state: LendState::RequestReceived,
                    renew_pending: false,
                    return_held: false,
                    borrower_holds: false,
                    seq,
                });
                self.seen_lend.insert(LendState::RequestReceived);
                self.queue.push_back(Msg::Sam {
                    from: to,
                    seq,
                    reason: IsoReason::RequestResponse,
                    status: IsoStatus::RequestReceived,
                    yes: None,
                    note: "",
                });
            }
            Msg::Ram {
                to,
                seq,
                action,
                note,
            } => {
                // A message about an earlier send finds no request at the lender.
                if self.lenders[to].as_ref().is_some_and(|l| l.seq == seq) {
                    self.lend(to, LendAction::from_borrower(action, note), &[Actor::Peer])
                }
            }
            Msg::Sam {
                from,
                seq,
                reason,
                status,
                yes,
                note,
            } => {
                // Answers from a lender that no longer has the request, or about an earlier
                // send, change nothing.
                if self.current() == Some(from) && seq == self.seq {
                    let a = BorrowAction::from_lender(reason, status, yes, note);
                    self.borrow(a, &[Actor::Peer], note);
                }
            }
        }
    }

    /// With nothing in flight, the current lender's stage must match ours.
    fn check_agreement(&self) {
        use BorrowState as B;
        use LendState as L;
        if !self.queue.is_empty() {
            return;
        }
        let lender = self
            .current()
            .and_then(|i| self.lenders[i].as_ref())
            .map(|l| l.state);
        let copy = self.format.is_copy();
        let ok = match (self.state, lender) {
            (B::PendingReview, _) => true, // a reactivated request may still show old lenders
            (B::Sent, Some(l)) => l == L::RequestReceived,
            (B::ExpectToSupply, Some(l)) => l == L::ExpectToSupply,
            (B::ConditionalPending, Some(l)) => l == L::ConditionalPending,
            (B::RetryOffered, Some(l)) => l == L::RetryPossible,
            (B::WillSupply, Some(l)) => matches!(l, L::WillSupply | L::PickSlipPrinted),
            (B::Shipped | B::Received, Some(l)) if copy => l == L::CopyCompleted,
            (B::Shipped | B::Received | B::OnLoanToPatron | B::ReturnedByPatron, Some(l)) => {
                matches!(l, L::Shipped | L::Overdue | L::Recalled)
            }
            (B::ReturnShipped, Some(l)) => l == L::ReturnShipped,
            (B::Lost, Some(l)) => {
                matches!(l, L::Shipped | L::Overdue | L::Recalled | L::ReturnShipped)
            }
            // Filled at once from a copy the library had already delivered: no lender asked.
            (B::Completed, None) if copy => true,
            (B::Completed, Some(l)) => {
                matches!(
                    l,
                    L::Completed | L::CopyCompleted | L::CompletedWithoutReturn
                )
            }
            (B::Cancelled, l) => matches!(
                l,
                None | Some(L::Cancelled | L::Unfilled | L::RetryPossible)
            ),
            (B::Unfilled, None) => self.rota.current.is_some(),
            (B::Unfilled, Some(_)) => false,
            _ => false,
        };
        // While the item is out on loan, both know whether its return is held, and by whom.
        let lender_held = self
            .current()
            .and_then(|i| self.lenders[i].as_ref())
            .filter(|l| matches!(l.state, L::Shipped | L::Overdue | L::Recalled))
            .map(|l| (l.return_held, l.borrower_holds));
        if let Some((held, borrower_holds)) = lender_held
            && matches!(
                self.state,
                B::Shipped | B::Received | B::OnLoanToPatron | B::ReturnedByPatron
            )
        {
            assert_eq!(
                self.return_held,
                held,
                "borrower and lender disagree on the hold of the return\n{}",
                self.trace.join("\n")
            );
            assert_eq!(
                self.holding_return,
                borrower_holds,
                "borrower and lender disagree on the borrower's hold of the return\n{}",
                self.trace.join("\n")
            );
        }
        assert!(
            ok,
            "borrower {:?} but lender {:?} ({:?})\n{}",
            self.state,
            lender,
            self.format,
            self.trace.join("\n")
        );
        // No former lender is still working on a request we gave up on. One may have shipped
        // before our cancel reached it (the cancel crossed its shipment): that is closed for it
        // and reported to the borrowing staff, not a disagreement.
        for (i, l) in self.lenders.iter().enumerate() {
            let Some(l) = l else { continue };
            if Some(i) == self.current() && !matches!(self.state, B::Unfilled | B::Cancelled) {
                continue;
            }
            let working = matches!(
                l.state,
                L::RequestReceived
                    | L::ExpectToSupply
                    | L::WillSupply
                    | L::PickSlipPrinted
                    | L::ConditionalPending
            );
            assert!(
                !working || self.state == B::PendingReview,
                "borrower {:?} but former lender {i} still {:?}\n{}",
                self.state,
                l.state,
                self.trace.join("\n")
            );
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Borrow(BorrowAction, Actor),
    Lend(usize, LendAction),
    Deliver,
}

fn table_has_borrow(from: BorrowState, action: BorrowAction, to: BorrowState) -> bool {
    BORROW_RULES.iter().any(|r| {
        r.action == action
            && r.from.contains(&from)
            && match r.to {
                To::State(s) => s == to,
                To::Stay => from == to,
            }
    })
}

fn table_has_lend(from: LendState, action: LendAction, to: LendState) -> bool {
    LEND_RULES.iter().any(|r| {
        r.action == action
            && r.from.contains(&from)
            && match r.to {
                To::State(s) => s == to,
                To::Stay => from == to,
            }
    })
}

fn run(format: RequestFormat, lenders: usize, choices: &[u16]) -> World {
    let mut w = World::new(format, lenders);
    for c in choices {
        let steps = w.steps();
        if steps.is_empty() {
            break;
        }
        // Messages usually arrive before the next person acts; sometimes they cross.
        let step = if !w.queue.is_empty() && c % 3 != 0 {
            Step::Deliver
        } else {
            steps[usize::from(*c / 3) % steps.len()]
        };
        w.apply(step);
        w.check_agreement();
    }
    // Drain what is in flight, then the two sides must agree.
    while let Some(m) = w.queue.pop_front() {
        w.deliver(m);
    }
    w.check_agreement();
    w
}

fn formats() -> impl Strategy<Value = RequestFormat> {
    prop_oneof![
        Just(RequestFormat::Loan),
        Just(RequestFormat::ArticleCopy),
        Just(RequestFormat::ChapterCopy)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_sequence_of_actions_keeps_the_invariants(
        format in formats(),
        lenders in 1usize..4,
        choices in proptest::collection::vec(any::<u16>(), 0..80),
    ) {
        run(format, lenders, &choices);
    }
}

#[test]
fn every_state_is_reachable_in_simulation() {
    let mut borrow = HashSet::new();
    let mut lend = HashSet::new();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (
        formats(),
        1usize..4,
        proptest::collection::vec(any::<u16>(), 0..200),
    );
    for _ in 0..6000 {
        let (format, n, choices) = strategy.new_tree(&mut runner).unwrap().current();
        let w = run(format, n, &choices);
        borrow.extend(w.seen_borrow);
        lend.extend(w.seen_lend);
    }
    for s in BORROW_STATES {
        assert!(borrow.contains(s), "borrow state {s:?} never reached");
    }
    // Forwarded is left out of the walk (see `steps`).
    for s in LEND_STATES.iter().filter(|s| **s != LendState::Forwarded) {
        assert!(lend.contains(s), "lend state {s:?} never reached");
    }
}

#[test]
fn every_action_appears_in_its_table_and_names_round_trip() {
    for a in BORROW_ACTIONS {
        assert!(
            BORROW_RULES.iter().any(|r| r.action == *a),
            "{a:?} has no rule"
        );
        assert_eq!(BorrowAction::parse(a.as_str()), Some(*a));
    }
    for a in LEND_ACTIONS {
        assert!(
            LEND_RULES.iter().any(|r| r.action == *a),
            "{a:?} has no rule"
        );
        assert_eq!(LendAction::parse(a.as_str()), Some(*a));
    }
    for s in BORROW_STATES {
        assert_eq!(BorrowState::parse(s.as_str()), Some(*s));
    }
    for s in LEND_STATES {
        assert_eq!(LendState::parse(s.as_str()), Some(*s));
    }
}

#[test]
fn a_refused_action_names_the_state_and_what_is_allowed() {
    let ctx = BorrowContext {
        format: RequestFormat::Loan,
        has_next_lender: true,
        cancel_pending: false,
        renew_pending: false,
        return_held: false,
        holding_return: false,
    };
    let err = Requester::decide(
        BorrowState::PendingReview,
        BorrowAction::Receive,
        &ctx,
        &[Actor::BorrowingStaff],
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("pending_review") && text.contains("approve"),
        "{text}"
    );
    let err = Requester::decide(
        BorrowState::PendingReview,
        BorrowAction::Approve,
        &ctx,
        &[Actor::Patron],
    )
    .unwrap_err();
    assert!(matches!(err, crate::Refusal::Forbidden { .. }));
}

#[test]
fn a_loan_goes_round_trip_between_the_machines() {
    let mut w = World::new(RequestFormat::Loan, 2);
    w.apply(Step::Borrow(BorrowAction::Approve, Actor::Manager));
    while let Some(m) = w.queue.pop_front() {
        w.deliver(m);
    }
    w.apply(Step::Lend(0, LendAction::ShipPhysical));
    while let Some(m) = w.queue.pop_front() {
        w.deliver(m);
    }
    assert_eq!(w.state, BorrowState::Shipped, "{}", w.trace.join("\n"));
    for a in [
        BorrowAction::Receive,
        BorrowAction::LendToPatron,
        BorrowAction::PatronReturn,
        BorrowAction::ShipReturn,
    ] {
        w.apply(Step::Borrow(a, Actor::Manager));
    }
    while let Some(m) = w.queue.pop_front() {
        w.deliver(m);
    }
    assert_eq!(
        w.lenders[0].as_ref().unwrap().state,
        LendState::ReturnShipped,
        "{}",
        w.trace.join("\n")
    );
    w.check_agreement();
    w.apply(Step::Lend(0, LendAction::CheckIn));
    while let Some(m) = w.queue.pop_front() {
        w.deliver(m);
    }
    assert_eq!(w.state, BorrowState::Completed);
    w.check_agreement();
}

fn drain(w: &mut World) {
    while let Some(m) = w.queue.pop_front() {
        w.deliver(m);
    }
}

#[test]
fn a_borrowers_hold_on_the_return_is_known_to_the_lender_until_the_return_ships() {
    let mut w = World::new(RequestFormat::Loan, 1);
    w.apply(Step::Borrow(BorrowAction::Approve, Actor::Manager));
    drain(&mut w);
    w.apply(Step::Lend(0, LendAction::ShipPhysical));
    drain(&mut w);
    let before = Requester::decide(
        w.state,
        BorrowAction::HoldReturn,
        &w.bctx(),
        &[Actor::BorrowingStaff],
    );
    assert!(before.is_err(), "not before the item is here");
    for a in [BorrowAction::Receive, BorrowAction::LendToPatron] {
        w.apply(Step::Borrow(a, Actor::Manager));
    }
    let patron = Requester::decide(
        w.state,
        BorrowAction::HoldReturn,
        &w.bctx(),
        &[Actor::Patron],
    );
    assert!(patron.is_err(), "staff hold a return, not the reader");
    w.apply(Step::Borrow(BorrowAction::HoldReturn, Actor::Manager));
    drain(&mut w);
    assert!(w.holding_return, "{}", w.trace.join("\n"));
    assert!(w.lenders[0].as_ref().unwrap().borrower_holds);
    w.check_agreement();
    let again = Requester::decide(
        w.state,
        BorrowAction::HoldReturn,
        &w.bctx(),
        &[Actor::BorrowingStaff],
    );
    assert!(again.is_err(), "held once");
    // Our own hold does not stop us sending it back: shipping it ends the hold on both sides.
    w.apply(Step::Borrow(BorrowAction::PatronReturn, Actor::Manager));
    w.apply(Step::Borrow(BorrowAction::ShipReturn, Actor::Manager));
    drain(&mut w);
    assert_eq!(
        w.state,
        BorrowState::ReturnShipped,
        "{}",
        w.trace.join("\n")
    );
    assert!(!w.holding_return);
    assert!(!w.lenders[0].as_ref().unwrap().borrower_holds);
    w.check_agreement();
}

#[test]
fn a_held_return_waits_for_the_lenders_release() {
    let mut w = World::new(RequestFormat::Loan, 1);
    w.apply(Step::Borrow(BorrowAction::Approve, Actor::Manager));
    drain(&mut w);
    w.apply(Step::Lend(0, LendAction::ShipPhysical));
    drain(&mut w);
    for a in [BorrowAction::Receive, BorrowAction::LendToPatron] {
        w.apply(Step::Borrow(a, Actor::Manager));
    }
    w.apply(Step::Lend(0, LendAction::HoldReturn));
    drain(&mut w);
    assert!(w.return_held, "{}", w.trace.join("\n"));
    w.apply(Step::Borrow(BorrowAction::PatronReturn, Actor::Manager));
    let refused = Requester::decide(
        w.state,
        BorrowAction::ShipReturn,
        &w.bctx(),
        &[Actor::BorrowingStaff],
    );
    assert!(refused.is_err(), "no return while the lender holds it");
    w.apply(Step::Lend(0, LendAction::ReleaseHoldReturn));
    drain(&mut w);
    assert!(!w.return_held);
    w.apply(Step::Borrow(BorrowAction::ShipReturn, Actor::Manager));
    drain(&mut w);
    assert_eq!(w.state, BorrowState::ReturnShipped);
    w.check_agreement();
}

#[test]
fn an_item_lost_at_the_borrower_closes_both_sides() {
    let mut w = World::new(RequestFormat::Loan, 1);
    w.apply(Step::Borrow(BorrowAction::Approve, Actor::Manager));
    drain(&mut w);
    w.apply(Step::Lend(0, LendAction::ShipPhysical));
    drain(&mut w);
    for a in [
        BorrowAction::Receive,
        BorrowAction::LendToPatron,
        BorrowAction::MarkLost,
    ] {
        w.apply(Step::Borrow(a, Actor::Manager));
    }
    assert_eq!(w.state, BorrowState::Lost);
    drain(&mut w);
    assert_eq!(
        w.lenders[0].as_ref().unwrap().state,
        LendState::CompletedWithoutReturn,
        "{}",
        w.trace.join("\n")
    );
    assert_eq!(w.state, BorrowState::Completed);
    w.check_agreement();
}
