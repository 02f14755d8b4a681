//! Borrowing statistics from the history of requests. Two steps, both pure: each request's
//! events are summarised once (outcome, why it went unfilled, minutes spent in each stage),
//! and summaries are grouped by whatever key the caller chose (reader type, department,
//! journal, partner, month …) into counts, fill rate, unfilled reasons and turnaround per
//! stage (median and 90th percentile). The store keeps the summaries, so a report reads one
//! narrow row per request instead of all its events.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use time::OffsetDateTime;

use crate::requester::BorrowState;

/// How a request came in, kept in its first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Typed into the web form.
    Form,
    /// The web form filled in from an OpenURL link (a discovery system, a database).
    OpenUrl,
    /// The web form filled in from a DOI, PMID or ISBN lookup.
    Lookup,
    /// Sent to the JSON API by another program.
    Api,
}

impl Source {
    pub const ALL: &'static [Source] =
        &[Source::Form, Source::OpenUrl, Source::Lookup, Source::Api];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Form => "form",
            Source::OpenUrl => "openurl",
            Source::Lookup => "lookup",
            Source::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

/// One event of a borrowing request, as statistics need it.
#[derive(Debug, Clone)]
pub struct StatEvent {
    pub action: String,
    pub at: OffsetDateTime,
    /// The lender's ISO 18626 reasonUnfilled, on its "unfilled" answers.
    pub reason_unfilled: Option<String>,
}

/// The stages of a request whose duration is measured: (name, from actions, to actions). The
/// first event of either list marks the moment.
pub const STAGES: &[(&str, &[&str], &[&str])] = &[
    ("request_to_sent", &["create"], &["approve"]),
    (
        "sent_to_shipped",
        &["approve"],
        &["lender_loaned", "lender_copy_completed"],
    ),
    (
        "shipped_to_received",
        &["lender_loaned", "lender_copy_completed"],
        &["receive"],
    ),
    (
        "received_to_reader",
        &["receive"],
        &["lend_to_patron", "deliver_to_patron"],
    ),
    (
        "returned_to_checked_in",
        &["ship_return"],
        &["lender_loan_completed"],
    ),
];

/// Number of measured stages.
pub const STAGE_COUNT: usize = 5;

const FILLED: &[&str] = &["lender_loaned", "lender_copy_completed"];

/// How a request ended, or that it has not yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Supplied by a lender (shipped or delivered at least once).
    Filled,
    Unfilled,
    Cancelled,
    Open,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Filled => "filled",
            Outcome::Unfilled => "unfilled",
            Outcome::Cancelled => "cancelled",
            Outcome::Open => "open",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Outcome::Filled,
            Outcome::Unfilled,
            Outcome::Cancelled,
            Outcome::Open,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// What one request's history says, for statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub outcome: Outcome,
    /// Why it went unfilled: the last lender's reasonUnfilled, `deadline_passed` when the
    /// last lender let its deadline pass, `not_given`, or `no_lender` when nobody was asked.
    pub unfilled_reason: Option<String>,
    /// Minutes spent in each stage of `STAGES`, for the stages it went through.
    pub stage_minutes: [Option<i64>; STAGE_COUNT],
}

fn first_at(events: &[StatEvent], actions: &[&str]) -> Option<OffsetDateTime> {
    events
        .iter()
        .find(|e| actions.contains(&e.action.as_str()))
        .map(|e| e.at)
}

/// Summarise a request in `state` from its events, oldest first.
pub fn summarise_request(state: &str, events: &[StatEvent]) -> Summary {
    let state = BorrowState::parse(state);
    let outcome = if first_at(events, FILLED).is_some() {
        Outcome::Filled
    } else {
        match state {
            Some(BorrowState::Unfilled) => Outcome::Unfilled,
            Some(BorrowState::Cancelled) => Outcome::Cancelled,
            _ => Outcome::Open,
        }
    };
    let unfilled_reason = (outcome == Outcome::Unfilled).then(|| {
        let last = events
            .iter()
            .rev()
            .find(|e| e.action == "lender_unfilled" || e.action == "lender_deadline_passed");
        match last {
            Some(e) if e.action == "lender_deadline_passed" => "deadline_passed".to_owned(),
            Some(e) => e
                .reason_unfilled
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .unwrap_or("not_given")
                .to_owned(),
            None => "no_lender".to_owned(),
        }
    });
    let mut stage_minutes = [None; STAGE_COUNT];
    for (slot, (_, from, to)) in stage_minutes.iter_mut().zip(STAGES) {
        if let (Some(a), Some(b)) = (first_at(events, from), first_at(events, to))
            && b >= a
        {
            *slot = Some((b - a).whole_minutes());
        }
    }
    Summary {
        outcome,
        unfilled_reason,
        stage_minutes,
    }
}

/// One summarised request in the group it counts in.
#[derive(Debug, Clone)]
pub struct Grouped {
    pub group: String,
    pub outcome: Outcome,
    pub unfilled_reason: Option<String>,
    pub stage_minutes: [Option<i64>; STAGE_COUNT],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageStat {
    /// request_to_sent, sent_to_shipped, shipped_to_received, received_to_reader or
    /// returned_to_checked_in.
    pub stage: &'static str,
    /// Requests that went through the stage.
    pub n: usize,
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStats {
    /// The group's key; `all` is the total, `-` requests without one.
    pub group: String,
    pub requests: usize,
    /// Supplied by a lender (shipped or delivered at least once).
    pub filled: usize,
    pub unfilled: usize,
    pub cancelled: usize,
    /// filled / (filled + unfilled); none while nothing is decided.
    pub fill_rate: Option<f64>,
    /// Unfilled requests by reason (the lender's ISO 18626 reasonUnfilled, `deadline_passed`,
    /// `not_given`, `no_lender`).
    pub unfilled_reasons: BTreeMap<String, usize>,
    pub stages: Vec<StageStat>,
}

/// The value below which `p` of the sorted values lie (nearest rank).
fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted
        .get(rank.min(sorted.len()) - 1)
        .map(|m| *m as f64 / 60.0)
}

#[derive(Default)]
struct Acc {
    requests: usize,
    filled: usize,
    unfilled: usize,
    cancelled: usize,
    reasons: BTreeMap<String, usize>,
    stages: [Vec<i64>; STAGE_COUNT],
}

impl Acc {
    fn add(&mut self, outcome: Outcome, reason: Option<&str>, stages: [Option<i64>; STAGE_COUNT]) {
        self.requests += 1;
        match outcome {
            Outcome::Filled => self.filled += 1,
            Outcome::Unfilled => self.unfilled += 1,
            Outcome::Cancelled => self.cancelled += 1,
            Outcome::Open => {}
        }
        if let Some(reason) = reason {
            match self.reasons.get_mut(reason) {
                Some(n) => *n += 1,
                None => {
                    self.reasons.insert(reason.to_owned(), 1);
                }
            }
        }
        for (v, m) in self.stages.iter_mut().zip(stages) {
            if let Some(m) = m {
                v.push(m);
            }
        }
    }

    fn finish(self, group: String) -> GroupStats {
        let decided = self.filled + self.unfilled;
        GroupStats {
            group,
            requests: self.requests,
            filled: self.filled,
            unfilled: self.unfilled,
            cancelled: self.cancelled,
            fill_rate: (decided > 0).then(|| self.filled as f64 / decided as f64),
            unfilled_reasons: self.reasons,
            stages: STAGES
                .iter()
                .zip(self.stages)
                .map(|((name, _, _), mut v)| {
                    v.sort_unstable();
                    StageStat {
                        stage: name,
                        n: v.len(),
                        median_hours: percentile(&v, 0.5),
                        p90_hours: percentile(&v, 0.9),
                    }
                })
                .collect(),
        }
    }
}

/// Groups summarised requests one at a time (a report streams them from the store).
#[derive(Default)]
pub struct Aggregator {
    groups: HashMap<String, Acc>,
    total: Acc,
}

impl Aggregator {
    pub fn add(&mut self, r: Grouped) {
        self.add_parts(
            &r.group,
            r.outcome,
            r.unfilled_reason.as_deref(),
            r.stage_minutes,
        );
    }

    /// `add` without owning the parts: a group's key is copied only the first time.
    pub fn add_parts(
        &mut self,
        group: &str,
        outcome: Outcome,
        reason: Option<&str>,
        stages: [Option<i64>; STAGE_COUNT],
    ) {
        self.total.add(outcome, reason, stages);
        match self.groups.get_mut(group) {
            Some(acc) => acc.add(outcome, reason, stages),
            None => {
                let mut acc = Acc::default();
                acc.add(outcome, reason, stages);
                self.groups.insert(group.to_owned(), acc);
            }
        }
    }

    /// Groups in key order (or, with `top`, the `top` groups with most requests, most first,
    /// leaving out requests without a key), plus a total named `all` at the end over every
    /// request.
    pub fn finish(self, top: Option<usize>) -> Vec<GroupStats> {
        let mut out: Vec<GroupStats> = match top {
            None => {
                let sorted: BTreeMap<String, Acc> = self.groups.into_iter().collect();
                sorted.into_iter().map(|(k, a)| a.finish(k)).collect()
            }
            Some(n) => {
                let mut v: Vec<(String, Acc)> =
                    self.groups.into_iter().filter(|(k, _)| k != "-").collect();
                v.sort_by(|(ka, a), (kb, b)| b.requests.cmp(&a.requests).then_with(|| ka.cmp(kb)));
                v.truncate(n);
                v.into_iter().map(|(k, a)| a.finish(k)).collect()
            }
        };
        out.push(self.total.finish("all".to_owned()));
        out
    }
}

/// Group and summarise: see `Aggregator::finish`.
pub fn aggregate(rows: impl IntoIterator<Item = Grouped>, top: Option<usize>) -> Vec<GroupStats> {
    let mut agg = Aggregator::default();
    for r in rows {
        agg.add(r);
    }
    agg.finish(top)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn ev(a: &str, t: OffsetDateTime) -> StatEvent {
        StatEvent {
            action: a.to_owned(),
            at: t,
            reason_unfilled: None,
        }
    }

    fn grouped(group: &str, state: &str, events: &[StatEvent]) -> Grouped {
        let s = summarise_request(state, events);
        Grouped {
            group: group.to_owned(),
            outcome: s.outcome,
            unfilled_reason: s.unfilled_reason,
            stage_minutes: s.stage_minutes,
        }
    }

    #[test]
    fn counts_fill_rate_reasons_and_stage_times() {
        let t0 = datetime!(2026-03-02 08:00 UTC);
        let h = time::Duration::hours;
        let mut no = ev("lender_unfilled", t0 + h(5));
        no.reason_unfilled = Some("NotOnShelf".into());
        let rows = vec![
            grouped(
                "phd",
                "completed",
                &[
                    ev("create", t0),
                    ev("approve", t0 + h(2)),
                    ev("lender_loaned", t0 + h(26)),
                    ev("receive", t0 + h(50)),
                    ev("lend_to_patron", t0 + h(51)),
                ],
            ),
            grouped(
                "phd",
                "unfilled",
                &[ev("create", t0), ev("approve", t0 + h(4)), no],
            ),
            grouped("faculty", "cancelled", &[ev("create", t0)]),
            grouped(
                "faculty",
                "unfilled",
                &[ev("create", t0), ev("lender_deadline_passed", t0 + h(80))],
            ),
        ];
        let s = aggregate(rows.clone(), None);
        let names: Vec<_> = s.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["faculty", "phd", "all"]);
        let phd = &s[1];
        assert_eq!((phd.requests, phd.filled, phd.unfilled), (2, 1, 1));
        assert_eq!(phd.fill_rate, Some(0.5));
        assert_eq!(phd.unfilled_reasons["NotOnShelf"], 1);
        assert_eq!(phd.stages[0].n, 2);
        assert_eq!(phd.stages[0].median_hours, Some(2.0));
        assert_eq!(phd.stages[0].p90_hours, Some(4.0));
        assert_eq!(phd.stages[1].median_hours, Some(24.0));
        assert_eq!(phd.stages[3].median_hours, Some(1.0));
        assert_eq!(s[0].fill_rate, Some(0.0));
        assert_eq!(s[0].unfilled_reasons["deadline_passed"], 1);
        assert_eq!(s[2].requests, 4);
        assert_eq!(s[2].cancelled, 1);

        let top = aggregate(rows, Some(1));
        let names: Vec<_> = top.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["faculty", "all"]);
    }

    #[test]
    fn an_open_request_is_neither_filled_nor_unfilled() {
        let t0 = datetime!(2026-03-02 08:00 UTC);
        let s = summarise_request("sent", &[ev("create", t0)]);
        assert_eq!((s.outcome, s.unfilled_reason), (Outcome::Open, None));
        assert_eq!(Outcome::parse("open"), Some(Outcome::Open));
        let s = summarise_request("unfilled", &[ev("create", t0)]);
        assert_eq!(s.unfilled_reason.as_deref(), Some("no_lender"));
    }
}
