//! Borrowing statistics from the history of requests: counts, fill rate and turnaround per
//! stage (median and 90th percentile), grouped by whatever key the caller chose (reader type,
//! department, lender, month …). Pure: the caller reads the events.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

/// One request: the group it counts in, its current state and its events (action, time),
/// oldest first.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub group: String,
    pub state: String,
    pub events: Vec<(String, OffsetDateTime)>,
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

const FILLED: &[&str] = &["lender_loaned", "lender_copy_completed"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageStat {
    pub stage: &'static str,
    /// Requests that went through the stage.
    pub n: usize,
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStats {
    pub group: String,
    pub requests: usize,
    /// Supplied by a lender (shipped or delivered at least once).
    pub filled: usize,
    pub unfilled: usize,
    pub cancelled: usize,
    /// filled / (filled + unfilled); none while nothing is decided.
    pub fill_rate: Option<f64>,
    pub stages: Vec<StageStat>,
}

fn first_at(events: &[(String, OffsetDateTime)], actions: &[&str]) -> Option<OffsetDateTime> {
    events
        .iter()
        .find(|(a, _)| actions.contains(&a.as_str()))
        .map(|(_, t)| *t)
}

/// The value below which `p` of the sorted values lie (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// Group and summarise, groups in key order, plus a total named `all` at the end.
pub fn summarise(facts: impl IntoIterator<Item = RequestFacts>) -> Vec<GroupStats> {
    #[derive(Default)]
    struct Acc {
        requests: usize,
        filled: usize,
        unfilled: usize,
        cancelled: usize,
        stages: Vec<Vec<f64>>,
    }
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    for f in facts {
        for acc in [groups.entry(f.group.clone()).or_default(), &mut total] {
            if acc.stages.is_empty() {
                acc.stages = vec![Vec::new(); STAGES.len()];
            }
            acc.requests += 1;
            if first_at(&f.events, FILLED).is_some() {
                acc.filled += 1;
            }
            match f.state.as_str() {
                "unfilled" => acc.unfilled += 1,
                "cancelled" => acc.cancelled += 1,
                _ => {}
            }
            for (i, (_, from, to)) in STAGES.iter().enumerate() {
                if let (Some(a), Some(b)) = (first_at(&f.events, from), first_at(&f.events, to))
                    && b >= a
                {
                    acc.stages[i].push((b - a).as_seconds_f64() / 3600.0);
                }
            }
        }
    }
    let finish = |group: String, mut acc: Acc| {
        let decided = acc.filled + acc.unfilled;
        if acc.stages.is_empty() {
            acc.stages = vec![Vec::new(); STAGES.len()];
        }
        GroupStats {
            group,
            requests: acc.requests,
            filled: acc.filled,
            unfilled: acc.unfilled,
            cancelled: acc.cancelled,
            fill_rate: (decided > 0).then(|| acc.filled as f64 / decided as f64),
            stages: STAGES
                .iter()
                .zip(acc.stages.iter_mut())
                .map(|((name, _, _), v)| {
                    v.sort_by(f64::total_cmp);
                    StageStat {
                        stage: name,
                        n: v.len(),
                        median_hours: percentile(v, 0.5),
                        p90_hours: percentile(v, 0.9),
                    }
                })
                .collect(),
        }
    };
    let mut out: Vec<GroupStats> = groups.into_iter().map(|(k, a)| finish(k, a)).collect();
    out.push(finish("all".to_owned(), total));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ev(a: &str, t: OffsetDateTime) -> (String, OffsetDateTime) {
        (a.to_owned(), t)
    }

    #[test]
    fn counts_fill_rate_and_stage_times() {
        let t0 = datetime!(2026-03-02 08:00 UTC);
        let h = time::Duration::hours;
        let facts = vec![
            RequestFacts {
                group: "phd".into(),
                state: "completed".into(),
                events: vec![
                    ev("create", t0),
                    ev("approve", t0 + h(2)),
                    ev("lender_loaned", t0 + h(26)),
                    ev("receive", t0 + h(50)),
                    ev("lend_to_patron", t0 + h(51)),
                ],
            },
            RequestFacts {
                group: "phd".into(),
                state: "unfilled".into(),
                events: vec![ev("create", t0), ev("approve", t0 + h(4))],
            },
            RequestFacts {
                group: "faculty".into(),
                state: "cancelled".into(),
                events: vec![ev("create", t0)],
            },
        ];
        let s = summarise(facts);
        let names: Vec<_> = s.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["faculty", "phd", "all"]);
        let phd = &s[1];
        assert_eq!((phd.requests, phd.filled, phd.unfilled), (2, 1, 1));
        assert_eq!(phd.fill_rate, Some(0.5));
        assert_eq!(phd.stages[0].n, 2);
        assert_eq!(phd.stages[0].median_hours, Some(2.0));
        assert_eq!(phd.stages[0].p90_hours, Some(4.0));
        assert_eq!(phd.stages[1].median_hours, Some(24.0));
        assert_eq!(phd.stages[3].median_hours, Some(1.0));
        assert_eq!(s[0].fill_rate, None);
        assert_eq!(s[2].requests, 3);
        assert_eq!(s[2].cancelled, 1);
    }
}
