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

    /// The number a store keeps for it.
    pub fn code(self) -> i64 {
        match self {
            Outcome::Filled => 0,
            Outcome::Unfilled => 1,
            Outcome::Cancelled => 2,
            Outcome::Open => 3,
        }
    }

    pub fn from_code(c: i64) -> Option<Self> {
        match c {
            0 => Some(Outcome::Filled),
            1 => Some(Outcome::Unfilled),
            2 => Some(Outcome::Cancelled),
            3 => Some(Outcome::Open),
            _ => None,
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

/// Where the value below which `p` of `n` values lie is in their sorted order (nearest rank).
fn rank_index(n: usize, p: f64) -> usize {
    let rank = (p * n as f64).ceil().max(1.0) as usize;
    rank.min(n).saturating_sub(1)
}

/// The median and 90th percentile of `v` (nearest rank), in hours. Each is found by selection,
/// not by sorting: a report over a million requests has millions of stage times, and sorting
/// them took most of its time. `v` is left in no particular order.
fn median_and_p90(v: &mut [i64]) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    let (m, p) = (rank_index(v.len(), 0.5), rank_index(v.len(), 0.9));
    let (_, median, above) = v.select_nth_unstable(m);
    let median = *median;
    // Everything after the median's place is at least the median, in no order.
    let p90 = match p.checked_sub(m + 1) {
        Some(k) => *above.select_nth_unstable(k).1,
        None => median,
    };
    let hours = |x: i64| Some(x as f64 / 60.0);
    (hours(median), hours(p90))
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

    fn add_bulk(
        &mut self,
        outcome: Outcome,
        reason: Option<&str>,
        count: usize,
        stages: &[Vec<i64>; STAGE_COUNT],
    ) {
        self.requests += count;
        match outcome {
            Outcome::Filled => self.filled += count,
            Outcome::Unfilled => self.unfilled += count,
            Outcome::Cancelled => self.cancelled += count,
            Outcome::Open => {}
        }
        if let Some(reason) = reason {
            *self.reasons.entry(reason.to_owned()).or_insert(0) += count;
        }
        for (v, w) in self.stages.iter_mut().zip(stages) {
            v.extend_from_slice(w);
        }
    }

    fn merge(&mut self, other: Acc) {
        self.requests += other.requests;
        self.filled += other.filled;
        self.unfilled += other.unfilled;
        self.cancelled += other.cancelled;
        for (reason, n) in other.reasons {
            *self.reasons.entry(reason).or_insert(0) += n;
        }
        for (v, w) in self.stages.iter_mut().zip(other.stages) {
            v.extend(w);
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
                    let (median_hours, p90_hours) = median_and_p90(&mut v);
                    StageStat {
                        stage: name,
                        n: v.len(),
                        median_hours,
                        p90_hours,
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

    /// `count` requests of one group with the same outcome and unfilled reason at once, with
    /// the stage times of those that went through each stage: the same as adding them one by
    /// one (a store that groups in SQL hands them over like this).
    pub fn add_bulk(
        &mut self,
        group: &str,
        outcome: Outcome,
        reason: Option<&str>,
        count: usize,
        stages: [Vec<i64>; STAGE_COUNT],
    ) {
        self.total.add_bulk(outcome, reason, count, &stages);
        match self.groups.get_mut(group) {
            Some(acc) => acc.add_bulk(outcome, reason, count, &stages),
            None => {
                let mut acc = Acc::default();
                acc.add_bulk(outcome, reason, count, &stages);
                self.groups.insert(group.to_owned(), acc);
            }
        }
    }

    /// The group keys seen so far, in no order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// Rename every group by `label` (keys it leaves out keep their name); groups given the
    /// same name become one, as if their requests had been added under it. A report can group
    /// by a narrow key (a reader's id) and show a wider one (the reader's name) without
    /// looking the wide one up for every request.
    pub fn relabel(self, label: &HashMap<String, String>) -> Aggregator {
        let mut groups: HashMap<String, Acc> = HashMap::with_capacity(self.groups.len());
        for (k, acc) in self.groups {
            let name = label.get(&k).cloned().unwrap_or(k);
            match groups.get_mut(&name) {
                Some(into) => into.merge(acc),
                None => {
                    groups.insert(name, acc);
                }
            }
        }
        Aggregator {
            groups,
            total: self.total,
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

/// The counts of one group whose unfilled reasons are numbers (see `KeyedAggregator`).
#[derive(Default)]
struct Tally {
    requests: usize,
    filled: usize,
    unfilled: usize,
    cancelled: usize,
    /// (reason, requests), in the order first seen: a group has a handful of reasons.
    reasons: Vec<(i64, usize)>,
    stages: [Vec<i64>; STAGE_COUNT],
}

impl Tally {
    fn count(&mut self, outcome: Outcome, reason: Option<i64>, n: usize) {
        self.requests += n;
        match outcome {
            Outcome::Filled => self.filled += n,
            Outcome::Unfilled => self.unfilled += n,
            Outcome::Cancelled => self.cancelled += n,
            Outcome::Open => {}
        }
        if let Some(reason) = reason {
            match self.reasons.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, m)) => *m += n,
                None => self.reasons.push((reason, n)),
            }
        }
    }

    fn into_acc(self, reason: &HashMap<i64, String>) -> Result<Acc, i64> {
        let mut reasons = BTreeMap::new();
        for (r, n) in self.reasons {
            let name = reason.get(&r).ok_or(r)?;
            *reasons.entry(name.clone()).or_insert(0) += n;
        }
        Ok(Acc {
            requests: self.requests,
            filled: self.filled,
            unfilled: self.unfilled,
            cancelled: self.cancelled,
            reasons,
            stages: self.stages,
        })
    }
}

/// Keys below this find their group by indexing a table, larger ones through a hash map. A
/// store's ids for texts are small and dense, and so is a YYYYMM month.
const DIRECT_KEYS: i64 = 1 << 22;

/// `Aggregator` for groups and unfilled reasons given as numbers (a store's ids for the
/// texts, a YYYYMM month): a report over a million requests spent most of its time hashing
/// and copying the texts of its keys. The numbers are named once, at the end (`named`), and
/// the result is what `Aggregator` gives for the named requests.
#[derive(Default)]
pub struct KeyedAggregator {
    /// The slot + 1 of each key below `DIRECT_KEYS` (0: not seen yet).
    direct: Vec<u32>,
    other: HashMap<i64, usize>,
    keys: Vec<i64>,
    groups: Vec<Tally>,
}

impl KeyedAggregator {
    fn slot(&mut self, key: i64) -> usize {
        let fresh = self.groups.len();
        if (0..DIRECT_KEYS).contains(&key) {
            let k = usize::try_from(key).unwrap_or_default();
            if k >= self.direct.len() {
                self.direct.resize(k + 1, 0);
            }
            match self.direct[k] {
                0 => {
                    self.direct[k] = u32::try_from(fresh + 1).unwrap_or(u32::MAX);
                }
                s => return s as usize - 1,
            }
        } else {
            match self.other.get(&key) {
                Some(s) => return *s,
                None => {
                    self.other.insert(key, fresh);
                }
            }
        }
        self.keys.push(key);
        self.groups.push(Tally::default());
        fresh
    }

    /// One summarised request of group `key`.
    pub fn add(
        &mut self,
        key: i64,
        outcome: Outcome,
        reason: Option<i64>,
        stages: [Option<i64>; STAGE_COUNT],
    ) {
        let slot = self.slot(key);
        let t = &mut self.groups[slot];
        t.count(outcome, reason, 1);
        for (v, m) in t.stages.iter_mut().zip(stages) {
            if let Some(m) = m {
                v.push(m);
            }
        }
    }

    /// `count` requests of group `key` with the same outcome and reason, with the stage times
    /// of those that went through each stage (see `Aggregator::add_bulk`).
    pub fn add_bulk(
        &mut self,
        key: i64,
        outcome: Outcome,
        reason: Option<i64>,
        count: usize,
        stages: [Vec<i64>; STAGE_COUNT],
    ) {
        let slot = self.slot(key);
        let t = &mut self.groups[slot];
        t.count(outcome, reason, count);
        for (v, w) in t.stages.iter_mut().zip(stages) {
            if v.is_empty() {
                *v = w;
            } else {
                v.extend(w);
            }
        }
    }

    /// The group keys seen, in the order first seen.
    pub fn keys(&self) -> &[i64] {
        &self.keys
    }

    /// The unfilled reasons seen, each once.
    pub fn reasons(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self
            .groups
            .iter()
            .flat_map(|t| t.reasons.iter().map(|(r, _)| *r))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The groups named by `group` and the reasons by `reason`, as an `Aggregator` that had
    /// been given the named requests (keys given the same name become one group). Fails with
    /// a key or reason that has no name.
    pub fn named(
        self,
        group: impl Fn(i64) -> Option<String>,
        reason: &HashMap<i64, String>,
    ) -> Result<Aggregator, i64> {
        let mut total = Tally::default();
        for t in &self.groups {
            total.requests += t.requests;
            total.filled += t.filled;
            total.unfilled += t.unfilled;
            total.cancelled += t.cancelled;
            for (r, n) in &t.reasons {
                match total.reasons.iter_mut().find(|(x, _)| x == r) {
                    Some((_, m)) => *m += n,
                    None => total.reasons.push((*r, *n)),
                }
            }
            for (v, w) in total.stages.iter_mut().zip(&t.stages) {
                v.extend_from_slice(w);
            }
        }
        let mut groups: HashMap<String, Acc> = HashMap::with_capacity(self.groups.len());
        for (key, t) in self.keys.into_iter().zip(self.groups) {
            let name = group(key).ok_or(key)?;
            let acc = t.into_acc(reason)?;
            match groups.get_mut(&name) {
                Some(into) => into.merge(acc),
                None => {
                    groups.insert(name, acc);
                }
            }
        }
        Ok(Aggregator {
            groups,
            total: total.into_acc(reason)?,
        })
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

    proptest::proptest! {
        /// Selection gives the values that sorting and taking the nearest rank gives.
        #[test]
        fn percentiles_by_selection_match_the_sorted_values(
            v in proptest::collection::vec(-5i64..5000, 0..300)
        ) {
            let mut sorted = v.clone();
            sorted.sort_unstable();
            let at = |p: f64| {
                (!sorted.is_empty()).then(|| sorted[rank_index(sorted.len(), p)] as f64 / 60.0)
            };
            let mut w = v;
            proptest::prop_assert_eq!(median_and_p90(&mut w), (at(0.5), at(0.9)));
        }
    }

    #[test]
    fn relabelled_groups_merge_as_if_added_under_the_new_name() {
        let t0 = datetime!(2026-03-02 08:00 UTC);
        let done = [
            ev("create", t0),
            ev("approve", t0 + time::Duration::hours(2)),
        ];
        let rows = vec![
            grouped("u1", "unfilled", &done),
            grouped("u2", "sent", &[ev("create", t0)]),
            grouped("u3", "cancelled", &done),
            grouped("x", "unfilled", &done),
        ];
        let mut agg = Aggregator::default();
        for r in rows.clone() {
            agg.add(r);
        }
        let label: HashMap<String, String> =
            [("u1", "Li (li)"), ("u3", "Li (li)"), ("u2", "Wang (w)")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect();
        let expected = aggregate(
            rows.into_iter().map(|mut r| {
                r.group = label.get(&r.group).cloned().unwrap_or(r.group);
                r
            }),
            None,
        );
        assert_eq!(agg.relabel(&label).finish(None), expected);
        assert_eq!(expected.len(), 4);
    }

    proptest::proptest! {
        /// Grouping by numbers and naming them at the end gives what grouping by the names
        /// gives, also when two numbers share a name.
        #[test]
        fn keyed_groups_match_named_groups(
            rows in proptest::collection::vec(
                (0i64..6, 0usize..4, proptest::option::of(0i64..3),
                 proptest::collection::vec(proptest::option::of(-3i64..500), 5)),
                0..200),
            top in proptest::option::of(1usize..4),
        ) {
            let name = |k: i64| match k {
                0 => "-".to_owned(),
                5 => "k1".to_owned(),
                k => format!("k{k}"),
            };
            let reasons: HashMap<i64, String> =
                (0..3).map(|r| (r, format!("reason {r}"))).collect();
            let outcomes = [Outcome::Filled, Outcome::Unfilled, Outcome::Cancelled, Outcome::Open];
            let mut keyed = KeyedAggregator::default();
            let mut plain = Aggregator::default();
            for (i, (k, o, r, st)) in rows.iter().enumerate() {
                let stages = [st[0], st[1], st[2], st[3], st[4]];
                let key = if i % 7 == 0 { k + DIRECT_KEYS } else { *k };
                keyed.add(key, outcomes[*o], *r, stages);
                plain.add_parts(&name(*k), outcomes[*o], r.map(|r| reasons[&r].as_str()), stages);
            }
            let keyed = keyed
                .named(|k| Some(name(k % DIRECT_KEYS)), &reasons)
                .map_err(|k| proptest::test_runner::TestCaseError::fail(format!("{k}")))?;
            proptest::prop_assert_eq!(keyed.finish(top), plain.finish(top));
        }
    }

    #[test]
    fn adding_in_bulk_is_adding_one_by_one() {
        let t0 = datetime!(2026-03-02 08:00 UTC);
        let steps = |h: i64| {
            vec![
                ev("create", t0),
                ev("approve", t0 + time::Duration::hours(h)),
            ]
        };
        let rows = vec![
            grouped("a", "unfilled", &steps(1)),
            grouped("a", "unfilled", &steps(3)),
            grouped("a", "sent", &[ev("create", t0)]),
            grouped("b", "cancelled", &steps(2)),
        ];
        let mut bulk = Aggregator::default();
        bulk.add_bulk(
            "a",
            Outcome::Unfilled,
            Some("no_lender"),
            2,
            [vec![180, 60], vec![], vec![], vec![], vec![]],
        );
        bulk.add_bulk("a", Outcome::Open, None, 1, Default::default());
        bulk.add_bulk(
            "b",
            Outcome::Cancelled,
            None,
            1,
            [vec![120], vec![], vec![], vec![], vec![]],
        );
        assert_eq!(bulk.finish(None), aggregate(rows, None));
    }
}
