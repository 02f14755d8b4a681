//! Generated borrowing traffic over the past year, written in bulk: requests of every member's
//! readers with their whole histories (filled, unfilled with the lender's reason or a missed
//! deadline, cancelled, still open), spread over the journals, sources and lenders of the
//! directory. For the statistics benchmark and for the demo, so that statistics, charts,
//! partner evaluation and routing have something to show. Reproducible: the same seed gives
//! the same traffic.

use std::time::Instant;

use anyhow::Context;
use domain::citation::Citation;
use domain::ident::LibraryCode;
use domain::library::LibraryKind;
use domain::rota::{Rota, RotaEntry, RotaOutcome};
use serde_json::json;
use store::{SeedBorrow, SeedEvent};
use time::{Duration, OffsetDateTime};

use crate::AppState;

/// Requests handed to the store per transaction.
const BATCH: usize = 5_000;

/// Journals articles are asked from, the most asked for first (picked with a skew).
const JOURNALS: &[&str] = &[
    "Nature",
    "中国图书馆学报",
    "Science",
    "The Lancet",
    "大学图书馆学报",
    "Cell",
    "计算机学报",
    "Journal of the American Chemical Society",
    "物理学报",
    "中华医学杂志",
    "Physical Review Letters",
    "图书情报工作",
    "New England Journal of Medicine",
    "经济研究",
    "IEEE Transactions on Pattern Analysis and Machine Intelligence",
    "管理世界",
    "Angewandte Chemie",
    "化学学报",
    "Journal of Documentation",
    "College & Research Libraries",
    "中国社会科学",
    "Proceedings of the National Academy of Sciences",
    "Library Hi Tech",
    "数学学报",
];

const REASONS: &[&str] = &[
    "NotOnShelf",
    "NotHeld",
    "InUse",
    "NonCirculating",
    "PolicyProblem",
    "Damaged",
];

const SOURCES: &[(&str, u64)] = &[("form", 45), ("openurl", 30), ("lookup", 15), ("api", 10)];

/// xorshift64*: the same figures from run to run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Minutes between `lo` and `hi` hours, skewed towards `lo` (most steps are quick, a few
    /// take long).
    fn hours(&mut self, lo: f64, hi: f64) -> Duration {
        let u = (self.next() % 10_000) as f64 / 10_000.0;
        Duration::minutes(((lo + (hi - lo) * u * u) * 60.0) as i64)
    }

    /// Skewed index: small ones far more often.
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

/// What the generator draws from.
struct Directory {
    /// (library, reader user id) of every active reader.
    readers: Vec<(String, String)>,
    /// Libraries that lend.
    lenders: Vec<String>,
}

async fn directory(st: &AppState) -> anyhow::Result<Directory> {
    let libraries = st.store.libraries().await?;
    let lenders: Vec<String> = libraries
        .iter()
        .filter(|l| LibraryKind::parse(&l.kind) != Some(LibraryKind::Hub))
        .map(|l| l.library_id.clone())
        .collect();
    let mut readers = Vec::new();
    for l in &libraries {
        for u in st.store.users(&l.library_id).await? {
            if u.kind == "patron" && u.status == "active" {
                readers.push((l.library_id.clone(), u.user_id));
            }
        }
    }
    anyhow::ensure!(
        !readers.is_empty() && lenders.len() >= 2,
        "the directory has no readers or too few lenders to generate traffic"
    );
    Ok(Directory { readers, lenders })
}

fn ev(
    action: &'static str,
    actor: &'static str,
    from: Option<&'static str>,
    to: &'static str,
    at: OffsetDateTime,
    data: serde_json::Value,
) -> SeedEvent {
    SeedEvent {
        action,
        actor,
        from_state: from,
        to_state: to,
        at,
        data: Some(data),
    }
}

/// One request and its history up to `now`. With `settled`, it was made at least 60 days ago,
/// long enough for every story to have ended.
fn request(
    rng: &mut Rng,
    d: &Directory,
    i: usize,
    now: OffsetDateTime,
    settled: bool,
    prefix: &str,
) -> SeedBorrow {
    let (library, patron) = d.readers[rng.below(d.readers.len())].clone();
    let span: i64 = if settled { 305 } else { 365 };
    let created = now
        - Duration::days(365 - span)
        - Duration::minutes(rng.below((span * 24 * 60) as usize) as i64);
    let format = match rng.below(10) {
        0..=4 => "loan",
        5..=8 => "article_copy",
        _ => "chapter_copy",
    };
    let source = {
        let mut r = rng.below(100) as u64;
        SOURCES
            .iter()
            .find(|(_, w)| {
                let hit = r < *w;
                r = r.saturating_sub(*w);
                hit
            })
            .map_or("form", |(s, _)| *s)
    };
    let mut citation = Citation {
        title: Some(format!("Generated request {i}")),
        author: Some("Generated, G.".to_owned()),
        ..Default::default()
    };
    if format != "loan" {
        citation.source_title = Some(JOURNALS[rng.skewed(JOURNALS.len())].to_owned());
    }
    // Two or three lenders, never the borrower.
    let mut rota: Vec<String> = Vec::new();
    while rota.len() < 2 + rng.below(2) {
        let l = &d.lenders[rng.below(d.lenders.len())];
        if *l != library && !rota.contains(l) {
            rota.push(l.clone());
        }
        if d.lenders.len() <= rota.len() + 1 {
            break;
        }
    }
    let roll = rng.below(100);
    let mut events = vec![ev(
        "create",
        "patron",
        None,
        "pending_review",
        created,
        json!({"source": source, "rota": rota}),
    )];
    let mut t = created;
    let mut state = "pending_review";
    let mut lender_id = None;
    let mut outcomes: Vec<Option<RotaOutcome>> = vec![None; rota.len()];
    let push = |events: &mut Vec<SeedEvent>,
                t: OffsetDateTime,
                action: &'static str,
                actor: &'static str,
                from: &'static str,
                to: &'static str,
                data: serde_json::Value|
     -> bool {
        if t > now {
            return false;
        }
        events.push(ev(action, actor, Some(from), to, t, data));
        true
    };
    'story: {
        if roll < 4 {
            t += rng.hours(0.1, 12.0);
            if push(
                &mut events,
                t,
                "cancel",
                "patron",
                state,
                "cancelled",
                json!({}),
            ) {
                state = "cancelled";
            }
            break 'story;
        }
        t += rng.hours(0.2, 30.0);
        if !push(
            &mut events,
            t,
            "approve",
            "borrowing_staff",
            state,
            "sent",
            json!({"lender": rota[0]}),
        ) {
            break 'story;
        }
        state = "sent";
        lender_id = Some(rota[0].clone());
        // Unfilled: each lender says no (or lets the deadline pass) in turn.
        let unfilled = roll < 18;
        // Filled by a later lender after the first said no.
        let second = (18..28).contains(&roll);
        let refusals = if unfilled {
            rota.len()
        } else if second {
            1
        } else {
            0
        };
        for (k, slot) in outcomes.iter_mut().enumerate().take(refusals) {
            let missed = rng.below(5) == 0;
            t += if missed {
                Duration::days(3)
            } else {
                rng.hours(2.0, 72.0)
            };
            let next = rota.get(k + 1).cloned();
            let (action, data, outcome) = if missed {
                (
                    "lender_deadline_passed",
                    json!({"lender": next}),
                    RotaOutcome::NoAnswer,
                )
            } else {
                (
                    "lender_unfilled",
                    json!({"lender": next, "reason_unfilled": REASONS[rng.skewed(REASONS.len())]}),
                    RotaOutcome::Unfilled,
                )
            };
            let to = if next.is_some() { "sent" } else { "unfilled" };
            if !push(
                &mut events,
                t,
                action,
                if missed { "system" } else { "peer" },
                state,
                to,
                data,
            ) {
                break 'story;
            }
            *slot = Some(outcome);
            state = to;
            lender_id = next;
        }
        if state == "unfilled" {
            break 'story;
        }
        let Some(lender) = lender_id.clone() else {
            break 'story;
        };
        let data = json!({"lender": lender});
        // Some lenders are slower than others, always.
        let slow = 1.0 + (lender.bytes().map(u32::from).sum::<u32>() % 4) as f64;
        t += rng.hours(1.0, 10.0 * slow);
        if !push(
            &mut events,
            t,
            "lender_will_supply",
            "peer",
            state,
            "will_supply",
            data.clone(),
        ) {
            break 'story;
        }
        state = "will_supply";
        t += rng.hours(2.0, 30.0 * slow);
        let shipped = if format == "loan" {
            "lender_loaned"
        } else {
            "lender_copy_completed"
        };
        if !push(
            &mut events,
            t,
            shipped,
            "peer",
            state,
            "shipped",
            data.clone(),
        ) {
            break 'story;
        }
        state = "shipped";
        t += if format == "loan" {
            rng.hours(20.0, 120.0)
        } else {
            rng.hours(0.1, 6.0)
        };
        if !push(
            &mut events,
            t,
            "receive",
            "borrowing_staff",
            state,
            "received",
            data.clone(),
        ) {
            break 'story;
        }
        state = "received";
        t += rng.hours(0.2, 30.0);
        if format != "loan" {
            if push(
                &mut events,
                t,
                "deliver_to_patron",
                "borrowing_staff",
                state,
                "completed",
                data.clone(),
            ) {
                state = "completed";
            }
            break 'story;
        }
        if !push(
            &mut events,
            t,
            "lend_to_patron",
            "borrowing_staff",
            state,
            "on_loan_to_patron",
            data.clone(),
        ) {
            break 'story;
        }
        state = "on_loan_to_patron";
        t += rng.hours(24.0 * 7.0, 24.0 * 30.0);
        if !push(
            &mut events,
            t,
            "patron_return",
            "borrowing_staff",
            state,
            "returned_by_patron",
            data.clone(),
        ) {
            break 'story;
        }
        state = "returned_by_patron";
        t += rng.hours(1.0, 48.0);
        if !push(
            &mut events,
            t,
            "ship_return",
            "borrowing_staff",
            state,
            "return_shipped",
            data.clone(),
        ) {
            break 'story;
        }
        state = "return_shipped";
        t += rng.hours(20.0, 120.0);
        if push(
            &mut events,
            t,
            "lender_loan_completed",
            "peer",
            state,
            "completed",
            data,
        ) {
            state = "completed";
        }
    }
    let entries = rota
        .iter()
        .zip(outcomes)
        .filter_map(|(l, outcome)| {
            Some(RotaEntry {
                library: LibraryCode::parse(l).ok()?,
                reason: String::new(),
                reason_zh: String::new(),
                fee: None,
                outcome,
                note: None,
            })
        })
        .collect();
    let updated = events.last().map_or(created, |e| e.at);
    SeedBorrow {
        request_id: format!("{prefix}-{i:08}"),
        library_id: library,
        patron_id: patron,
        format: format.to_owned(),
        state: state.to_owned(),
        citation,
        rota: Rota::new(entries),
        lender_id: if matches!(state, "unfilled" | "cancelled" | "pending_review") {
            None
        } else {
            lender_id
        },
        created_at: created,
        updated_at: updated,
        events,
    }
}

/// Write `n` generated requests created over the year before `now`, with ids
/// `PREFIX-00000001`…; `progress` is told how many are written so far. `settled`: only
/// requests whose story has ended (made over 60 days ago), none left waiting at a lender
/// that never heard of it (the demo); otherwise the recent ones are still open (benchmarks).
pub async fn generate(
    st: &AppState,
    n: usize,
    now: OffsetDateTime,
    settled: bool,
    prefix: &str,
    mut progress: impl FnMut(usize, f64),
) -> anyhow::Result<u64> {
    let d = directory(st).await?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    let mut written = 0u64;
    let mut i = 0usize;
    while i < n {
        let take = BATCH.min(n - i);
        let rows: Vec<SeedBorrow> = (i..i + take)
            .map(|k| request(&mut rng, &d, k + 1, now, settled, prefix))
            .collect();
        written += st
            .store
            .seed_borrow_history(rows)
            .await
            .context("writing generated requests")?;
        i += take;
        progress(i, start.elapsed().as_secs_f64());
    }
    Ok(written)
}
