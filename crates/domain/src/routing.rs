//! Routing: which partners a borrowing request asks, in which order, and why. The order follows
//! the practice of CALIS and NSTL: partners the library put in its own priority tiers first,
//! then lenders that can meet the reader's date, then free (reciprocal) partners, the cheapest
//! paying ones, commercial suppliers last; at the same cost, lenders open today before closed
//! ones (the sooner they reopen the better) and before ones closing in the next days; within
//! that, lenders whose delivery and payment methods are known to suit us, nearer ones (by
//! distance when both libraries have coordinates, else by region), proven fill rate, light load
//! and quick turnaround. Lenders whose methods we do not accept are left out. Every place
//! carries its reasons in English and Chinese, and every lender left out says why. Pure: the
//! server gathers the facts.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::calendar::ClosedDays;
use crate::citation::FieldError;
use crate::geo::GeoPoint;
use crate::ident::LibraryCode;
use crate::library::{PartnerPolicy, Service};
use crate::money::{Currency, Money};
use crate::people::PatronType;
use crate::rota::RotaEntry;

/// What the request needs of a lender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub service: Service,
    /// The most the reader will pay; lenders charging more are left out.
    pub max_cost: Option<Money>,
    /// Whole days from today to the reader's need-by date.
    pub days_left: Option<i64>,
    /// The borrower's currency: fees in it compare directly; "0 CNY" is written in it.
    pub currency: Currency,
    /// The borrower's date today (library time): closed days are read from it.
    pub today: Date,
    /// Where the borrower is, when its directory entry says.
    pub borrower_at: Option<GeoPoint>,
}

/// What was measured of a lender from the request history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LenderRecord {
    /// Requests sent to it.
    pub asked: u32,
    pub filled: u32,
    /// Said no, or let the deadline pass.
    pub unfilled: u32,
    /// Median time from our request to its shipment, in minutes.
    pub median_minutes: Option<i64>,
    /// Requests its library sent out as a borrower.
    pub borrowed: u32,
    /// Times it answered a request before its deadline (said yes, no, or shipped).
    pub on_time: u32,
    /// Times it let the deadline pass without an answer.
    pub late: u32,
    /// Requests waiting for its answer now (its current load).
    pub open_now: u32,
}

/// What a partner is worth as a lender, from its record: a score out of 100 and the parts
/// it is made of, each out of 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capability {
    /// 40 % fill rate, 25 % speed, 20 % reliability, 15 % load.
    pub score: u32,
    /// The fill rate, drawn towards 80 % while there is little history.
    pub fill: u32,
    /// 100 for a median of a day or less from request to shipment, falling to 0 at 15 days;
    /// 50 while nothing was shipped.
    pub speed: u32,
    /// Share of requests answered before the deadline, drawn towards 90 % while there is
    /// little history.
    pub reliability: u32,
    /// 100 with nothing waiting for it, 50 at 10 open requests, less the more it has.
    pub load: u32,
}

/// How the capability score is made, for admins.
pub const CAPABILITY_EXPLAINED: &str = "The capability score (0 to 100) weighs four things measured from the last year of requests on this node: fill rate 40 % (supplied out of answered; a partner with little history counts as about 80 %), speed 25 % (median time from our request to its shipment: full marks for a day or less, none at 15 days or more), reliability 20 % (answered before the deadline, rather than letting it pass) and load 15 % (requests waiting for its answer now: full marks with none, half at 10). Routing ranks partners of the same priority tier, cost and region by this score, in steps of 5 points.";

/// How the capability score is made, in Chinese.
pub const CAPABILITY_EXPLAINED_ZH: &str = "能力评分（0–100）由本节点近一年的请求记录计算，包括四项：满足率占 40%（已答复请求中提供的比例；记录较少的馆按约 80% 计）、速度占 25%（从发出请求到对方寄出的中位时间：一天以内满分，15 天及以上为零）、可靠性占 20%（在期限内答复而非逾期）、负载占 15%（当前等待其答复的请求数：为零时满分，10 件时一半）。在优先级、费用和地区相同的馆之间，路由按此评分排序，每 5 分为一档。";

impl LenderRecord {
    /// Fill rate in per mille, when anything was decided.
    pub fn fill_per_mille(&self) -> Option<i64> {
        let decided = i64::from(self.filled) + i64::from(self.unfilled);
        (decided > 0).then(|| i64::from(self.filled) * 1000 / decided)
    }

    /// Fill rate smoothed towards 80 % while there is little history, so one early "no" does
    /// not sink a lender below one never asked.
    fn smoothed_fill(&self) -> i64 {
        let decided = i64::from(self.filled) + i64::from(self.unfilled);
        (i64::from(self.filled) * 1000 + 800 * 2) / (decided + 2)
    }

    /// Requests waiting for it now, in steps of five: the tie-break after the score.
    fn load_band(&self) -> u32 {
        (self.open_now / 5).min(20)
    }

    /// Answered before the deadline, in per mille, drawn towards 90 % like the fill rate.
    fn smoothed_reliability(&self) -> i64 {
        let n = i64::from(self.on_time) + i64::from(self.late);
        (i64::from(self.on_time) * 1000 + 900 * 2) / (n + 2)
    }

    /// The capability score and its parts.
    pub fn capability(&self) -> Capability {
        let fill = (self.smoothed_fill() / 10).clamp(0, 100);
        let speed = match self.median_minutes {
            None => 50,
            Some(m) => (100 - (m - 1440).max(0) * 100 / (14 * 1440)).clamp(0, 100),
        };
        let reliability = (self.smoothed_reliability() / 10).clamp(0, 100);
        let load = 1000 / (10 + i64::from(self.open_now));
        let load = load.clamp(0, 100);
        let score = (40 * fill + 25 * speed + 20 * reliability + 15 * load) / 100;
        let part = |v: i64| u32::try_from(v).unwrap_or(0);
        Capability {
            score: part(score),
            fill: part(fill),
            speed: part(speed),
            reliability: part(reliability),
            load: part(load),
        }
    }

    /// Answered before the deadline, in per mille, when any answer was due.
    pub fn reliability_per_mille(&self) -> Option<i64> {
        let n = i64::from(self.on_time) + i64::from(self.late);
        (n > 0).then(|| i64::from(self.on_time) * 1000 / n)
    }
}

/// Everything the ranking knows of one possible lender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LenderFacts {
    pub library: LibraryCode,
    /// A commercial or national document supplier (charges for everything).
    pub supplier: bool,
    pub copies: u32,
    pub same_region: bool,
    /// Where it is, when its directory entry says.
    pub location: Option<GeoPoint>,
    /// Its closed weekdays and dates.
    pub closed: ClosedDays,
    /// Its terms for the borrower; `None` when it has none.
    pub policy: Option<PartnerPolicy>,
    /// What its fee schedule charges the borrower for this request, when it keeps one here:
    /// `Some(None)` is free (reciprocal, or nothing charged). Takes the place of the flat fee
    /// in its terms; `None` when it keeps no schedule.
    pub schedule_fee: Option<Option<Money>>,
    pub record: LenderRecord,
}

/// A library's own routing choices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    /// Named groups of lenders with a priority tier (1 is asked first). Lenders in no group
    /// come after every tier.
    pub groups: Vec<LenderGroup>,
    /// When any rule matches, a new request goes to its first lender at once, without staff
    /// review.
    pub unmediated: Vec<SendRule>,
    /// Delivery methods we accept (e.g. `courier`, `mail`, `url`), compared without regard to
    /// case; empty: any. A lender that names only others is left out; one that names none is
    /// asked after those known to suit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delivery_methods: Vec<String>,
    /// Payment methods we accept (e.g. `hub_clearing`, `invoice`), the same way.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub payment_methods: Vec<String>,
    /// A need-by date this many days away or sooner makes a new request express: lenders'
    /// normal turnaround is longer. `None`: `DEFAULT_EXPRESS_WITHIN_DAYS`; 0: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub express_within_days: Option<u32>,
}

/// Days within which a need-by date makes a request express, when the library set none: a
/// loan at normal speed takes about a week between libraries.
pub const DEFAULT_EXPRESS_WITHIN_DAYS: u32 = 5;

/// The most days a library may set for `express_within_days`.
pub const MAX_EXPRESS_WITHIN_DAYS: u32 = 60;

/// The most methods of one kind a library lists, and the longest name.
const MAX_METHODS: usize = 20;
const MAX_METHOD_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LenderGroup {
    pub name: String,
    pub tier: u32,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SendRule {
    /// Readers this rule is for; empty: every reader.
    pub patron_types: Vec<PatronType>,
    /// Loan or copy; empty: both.
    pub services: Vec<Service>,
    /// Only when the first lender charges nothing.
    pub first_lender_free: bool,
}

impl RoutingSettings {
    /// Days within which a need-by date makes a request express (0: never).
    pub fn express_within_days(&self) -> u32 {
        self.express_within_days
            .unwrap_or(DEFAULT_EXPRESS_WITHIN_DAYS)
    }

    /// Whether a request needed in `days_left` days (from today, library time) goes express.
    pub fn need_by_makes_express(&self, days_left: Option<i64>) -> bool {
        let within = i64::from(self.express_within_days());
        within > 0 && days_left.is_some_and(|d| d <= within)
    }

    /// Every problem, named by field.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        if let Some(d) = self.express_within_days
            && d > MAX_EXPRESS_WITHIN_DAYS
        {
            out.push(FieldError::new(
                "express_within_days",
                "out_of_range",
                format!("express_within_days must be 0 to {MAX_EXPRESS_WITHIN_DAYS}, not {d}"),
            ));
        }
        let mut names = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let name = g.name.trim();
            if name.is_empty() || name.chars().count() > 64 {
                out.push(FieldError::new(
                    "groups.name",
                    "invalid_name",
                    format!("groups[{i}].name must be 1 to 64 characters"),
                ));
            } else if names.contains(&name) {
                out.push(FieldError::new(
                    "groups.name",
                    "duplicate_name",
                    format!("groups[{i}].name {name:?} is used twice"),
                ));
            }
            names.push(name);
            if !(1..=9).contains(&g.tier) {
                out.push(FieldError::new(
                    "groups.tier",
                    "out_of_range",
                    format!("groups[{i}].tier must be 1 to 9, not {}", g.tier),
                ));
            }
            for (j, m) in g.members.iter().enumerate() {
                if LibraryCode::parse(m).is_err() {
                    out.push(FieldError::new(
                        "groups.members",
                        "invalid_library_code",
                        format!("groups[{i}].members[{j}] {m:?} is not a library code"),
                    ));
                }
            }
        }
        for (field, list) in [
            ("delivery_methods", &self.delivery_methods),
            ("payment_methods", &self.payment_methods),
        ] {
            if list.len() > MAX_METHODS {
                out.push(FieldError::new(
                    field,
                    "too_many",
                    format!("{field}: at most {MAX_METHODS} methods"),
                ));
            }
            for (i, m) in list.iter().enumerate() {
                let n = m.trim().chars().count();
                if n == 0 || n > MAX_METHOD_CHARS {
                    out.push(FieldError::new(
                        field,
                        "invalid_method_name",
                        format!("{field}[{i}] must be 1 to {MAX_METHOD_CHARS} characters"),
                    ));
                }
            }
        }
        out
    }

    /// The best (lowest) tier of a lender and the group that gives it.
    pub fn tier_of(&self, lender: &LibraryCode) -> Option<(u32, &str)> {
        self.groups
            .iter()
            .filter(|g| {
                g.members
                    .iter()
                    .any(|m| m.trim().eq_ignore_ascii_case(lender.as_str()))
            })
            .map(|g| (g.tier, g.name.as_str()))
            .min_by_key(|(t, _)| *t)
    }

    /// Whether a new request goes out at once: some rule matches the reader and service, and
    /// there is a first lender (free, when the rule asks for it).
    pub fn sends_at_once(
        &self,
        patron_type: Option<PatronType>,
        service: Service,
        first: Option<&RotaEntry>,
    ) -> bool {
        let Some(first) = first else { return false };
        let free = first.fee.as_ref().is_none_or(|f| f.minor == 0);
        self.unmediated.iter().any(|r| {
            (r.patron_types.is_empty() || patron_type.is_some_and(|p| r.patron_types.contains(&p)))
                && (r.services.is_empty() || r.services.contains(&service))
                && (!r.first_lender_free || free)
        })
    }
}

/// Why a lender is not in the string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excluded {
    pub library: LibraryCode,
    /// Stable: `no_terms`, `inactive`, `service_not_offered`, `over_max_cost`,
    /// `currency_differs`, `delivery_not_accepted`, `payment_not_accepted`.
    pub code: String,
    pub reason: String,
    pub reason_zh: String,
}

/// The ranked lender string and the lenders left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranking {
    pub entries: Vec<RotaEntry>,
    pub excluded: Vec<Excluded>,
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn days(minutes: i64) -> String {
    // One decimal without floating point: tenths of a day, rounded half up.
    let tenths = (minutes * 10 + 720) / 1440;
    format!("{}.{}", tenths / 10, tenths % 10)
}

fn percent(per_mille: i64) -> i64 {
    (per_mille + 5) / 10
}

/// How many days after today a closure still demotes a lender open today: a request sent now
/// waits through it before anyone reads it.
const CLOSURE_LOOKAHEAD_DAYS: i64 = 2;

/// A lender's calendar as seen from the borrower's today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    Open,
    /// Open today, closed from `from` through `to` within the next days.
    ClosingSoon {
        from: Date,
        to: Date,
    },
    /// Closed today; opens again on `reopens` (`None`: its calendar has no open day).
    ClosedNow {
        reopens: Option<Date>,
    },
}

impl Opening {
    fn of(closed: &ClosedDays, today: Date) -> Opening {
        if closed.is_closed(today) {
            let reopens = closed.next_open(today);
            return Opening::ClosedNow {
                reopens: (reopens != today).then_some(reopens),
            };
        }
        let mut d = today;
        for _ in 0..CLOSURE_LOOKAHEAD_DAYS {
            let Some(n) = d.next_day() else { break };
            d = n;
            if closed.is_closed(d) {
                let to = closed.next_open(d).previous_day().unwrap_or(d).max(d);
                return Opening::ClosingSoon { from: d, to };
            }
        }
        Opening::Open
    }

    /// Whole days until the lender can read a request sent now.
    fn wait_days(&self, today: Date) -> i64 {
        match self {
            Opening::ClosedNow { reopens: Some(r) } => (*r - today).whole_days(),
            // Closed on every day its calendar knows: as good as never.
            Opening::ClosedNow { reopens: None } => 366,
            _ => 0,
        }
    }
}

/// "3 Dec" and "12月3日".
fn day_en(d: Date) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS
        .get(usize::from(u8::from(d.month())) - 1)
        .copied()
        .unwrap_or("");
    format!("{} {m}", d.day())
}

fn day_zh(d: Date) -> String {
    format!("{}月{}日", u8::from(d.month()), d.day())
}

/// How near a lender is, coarsely, so that capability still decides between lenders at much
/// the same distance: 0 within 50 km (the same city), 1 within 300 km (or the same region when
/// either library has no coordinates), 2 within 1,000 km, 3 farther (or another region).
fn proximity(l: &LenderFacts, needs: &Needs) -> (u8, Option<u32>) {
    match (&needs.borrower_at, &l.location) {
        (Some(a), Some(b)) => {
            let km = a.distance_km(b);
            let band = match km {
                0..=50 => 0,
                51..=300 => 1,
                301..=1000 => 2,
                _ => 3,
            };
            (band, Some(km))
        }
        _ => (if l.same_region { 1 } else { 3 }, None),
    }
}

/// Whether a lender's methods of one kind suit the borrower's list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fit {
    /// We accept any, or it named none we could check.
    Any,
    /// These of its methods are ones we accept.
    Matches(Vec<String>),
    /// It names none: asked after those known to suit.
    Unstated,
}

fn fit(accepted: &[String], offered: &[String]) -> Result<Fit, ()> {
    if accepted.is_empty() {
        return Ok(Fit::Any);
    }
    let offered: Vec<&str> = offered
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .collect();
    if offered.is_empty() {
        return Ok(Fit::Unstated);
    }
    let ok: Vec<String> = offered
        .iter()
        .filter(|m| accepted.iter().any(|a| a.trim().eq_ignore_ascii_case(m)))
        .map(|m| (*m).to_owned())
        .collect();
    if ok.is_empty() {
        Err(())
    } else {
        Ok(Fit::Matches(ok))
    }
}

/// What the ranking decided about a lender that stays in.
struct Kept {
    facts: LenderFacts,
    fee: Option<Money>,
    /// Over the reader's maximum cost: asked last.
    over: bool,
    delivery: Fit,
    payment: Fit,
    opening: Opening,
    band: u8,
    km: Option<u32>,
}

/// Rank `lenders` for `needs` under the library's `settings`.
pub fn rank(lenders: Vec<LenderFacts>, needs: &Needs, settings: &RoutingSettings) -> Ranking {
    let mut excluded = Vec::new();
    let mut kept = Vec::new();
    for l in lenders {
        match check(&l, needs, settings) {
            Ok((fee, over, delivery, payment)) => {
                let opening = Opening::of(&l.closed, needs.today);
                let (band, km) = proximity(&l, needs);
                kept.push(Kept {
                    facts: l,
                    fee,
                    over,
                    delivery,
                    payment,
                    opening,
                    band,
                    km,
                });
            }
            Err((code, en, zh)) => excluded.push(Excluded {
                library: l.library,
                code: code.to_owned(),
                reason: en,
                reason_zh: zh,
            }),
        }
    }
    excluded.sort_by(|a, b| a.library.cmp(&b.library));
    // Late when the days it stays closed plus its median turnaround run past the need-by date.
    let late = |k: &Kept| {
        let Some(left) = needs.days_left else {
            return false;
        };
        let wait = k.opening.wait_days(needs.today) * 1440;
        match k.facts.record.median_minutes {
            Some(m) => wait + m > left.max(0) * 1440,
            None => wait > left.max(0) * 1440,
        }
    };
    let class = |l: &LenderFacts, fee: &Option<Money>| {
        if l.supplier {
            2
        } else if fee.as_ref().is_some_and(|f| f.minor > 0) {
            1
        } else {
            0
        }
    };
    kept.sort_by_cached_key(|k| {
        let l = &k.facts;
        let tier = settings.tier_of(&l.library).map_or(u32::MAX, |(t, _)| t);
        let foreign = k.fee.as_ref().is_some_and(|f| f.currency != needs.currency);
        let amount = k.fee.as_ref().map_or(0, |f| f.minor);
        let unstated = u8::from(k.delivery == Fit::Unstated) + u8::from(k.payment == Fit::Unstated);
        // Nested: a tuple orders at most 12 parts.
        // Closure only decides between lenders of the same cost: a free partner that reopens
        // in time stays ahead of an open paying lender.
        (
            // Over the reader's limit: asked only when every other lender said no.
            (k.over, tier, late(k)),
            (class(l, &k.fee), foreign, amount),
            (
                k.opening.wait_days(needs.today),
                matches!(k.opening, Opening::ClosingSoon { .. }),
            ),
            (unstated, k.band),
            -i64::from(l.record.capability().score / 5),
            l.record.load_band(),
            k.km.unwrap_or(u32::MAX),
            l.record.median_minutes.unwrap_or(3 * 1440),
            -i64::from(l.policy.as_ref().map_or(0, |p| p.loan_days)),
            -i64::from(l.copies),
            l.library.clone(),
        )
    });
    let entries = kept
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            let mut en = Vec::new();
            let mut zh = Vec::new();
            let zero = Money::zero(needs.currency.clone());
            let shown = k.fee.clone().unwrap_or(zero);
            en.push(shown.to_string());
            zh.push(if shown.minor == 0 {
                "免费".to_owned()
            } else {
                format!("费用 {shown}")
            });
            let is_late = late(&k);
            let Kept {
                facts: l,
                fee,
                over,
                delivery,
                payment,
                opening,
                km,
                ..
            } = k;
            if over && let Some(max) = &needs.max_cost {
                en.push(format!("over the reader's limit {max}: asked last"));
                zh.push(format!("超出读者可接受的最高费用 {max}：排在最后"));
            }
            if l.schedule_fee.is_some() {
                en.push("fee from its fee schedule".to_owned());
                zh.push("费用按其收费标准".to_owned());
            }
            if let Some((t, g)) = settings.tier_of(&l.library) {
                en.push(format!("tier {t} ({g})"));
                zh.push(format!("第 {t} 优先级（{g}）"));
            }
            match opening {
                Opening::Open => {}
                Opening::ClosedNow { reopens: Some(r) } => {
                    en.push(format!("closed until {}", day_en(r)));
                    zh.push(format!("闭馆至{}开馆", day_zh(r)));
                }
                Opening::ClosedNow { reopens: None } => {
                    en.push("closed, no opening day set".to_owned());
                    zh.push("闭馆，未设开馆日".to_owned());
                }
                Opening::ClosingSoon { from, to } if from == to => {
                    en.push(format!("closed {}", day_en(from)));
                    zh.push(format!("{}闭馆", day_zh(from)));
                }
                Opening::ClosingSoon { from, to } => {
                    en.push(format!("closed {} – {}", day_en(from), day_en(to)));
                    zh.push(format!("{}至{}闭馆", day_zh(from), day_zh(to)));
                }
            }
            match class(&l, &fee) {
                0 => {
                    en.push("free partner".to_owned());
                    zh.push("互惠馆".to_owned());
                }
                2 => {
                    en.push("commercial supplier".to_owned());
                    zh.push("商业文献供应方".to_owned());
                }
                _ => {}
            }
            if l.same_region {
                en.push("same region".to_owned());
                zh.push("同地区".to_owned());
            }
            if let Some(km) = km {
                en.push(format!("{km} km"));
                zh.push(format!("{km} 公里"));
            }
            for (f, en_kind, zh_kind) in [
                (&delivery, "delivery", "递送"),
                (&payment, "payment", "付款"),
            ] {
                match f {
                    Fit::Any => {}
                    Fit::Matches(m) => {
                        en.push(format!("{en_kind} by {}", m.join(" or ")));
                        zh.push(format!("{zh_kind}方式 {}", m.join("/")));
                    }
                    Fit::Unstated => {
                        en.push(format!("{en_kind} methods not stated"));
                        zh.push(format!("未说明{zh_kind}方式"));
                    }
                }
            }
            match (l.record.fill_per_mille(), l.record.median_minutes) {
                (None, _) => {
                    en.push("no history yet".to_owned());
                    zh.push("暂无历史记录".to_owned());
                }
                (Some(f), m) => {
                    en.push(format!("fill rate {} %", percent(f)));
                    zh.push(format!("满足率 {}%", percent(f)));
                    if let Some(m) = m {
                        en.push(format!("median {} days", days(m)));
                        zh.push(format!("中位周期 {} 天", days(m)));
                    }
                }
            }
            if is_late {
                let left = needs.days_left.unwrap_or(0).max(0);
                en.push(format!("may miss the need-by date ({left} days left)"));
                zh.push(format!("可能赶不上需要日期（剩 {left} 天）"));
            }
            if let Some(r) = l.record.reliability_per_mille()
                && l.record.late > 0
            {
                en.push(format!("answers in time {} %", percent(r)));
                zh.push(format!("按期答复率 {}%", percent(r)));
            }
            if l.record.load_band() >= 2 {
                en.push(format!("busy lender ({} open requests)", l.record.open_now));
                zh.push(format!("出借负担重（待处理 {} 件）", l.record.open_now));
            }
            if needs.service == Service::Loan
                && let Some(p) = &l.policy
            {
                en.push(format!("loan {} days", p.loan_days));
                zh.push(format!("借期 {} 天", p.loan_days));
            }
            en.push(format!("holds {}", l.copies));
            zh.push(format!("馆藏 {} 册", l.copies));
            RotaEntry {
                library: l.library,
                reason: format!("{}: {}", ordinal(i + 1), en.join(", ")),
                reason_zh: format!("第 {} 位：{}", i + 1, zh.join("，")),
                fee,
                outcome: None,
                note: None,
            }
        })
        .collect();
    Ranking { entries, excluded }
}

type Refused = (&'static str, String, String);

/// The fee the lender asks (`None`: free), whether it is over the reader's limit, and how its
/// delivery and payment methods suit us, or why it is left out.
fn check(
    l: &LenderFacts,
    needs: &Needs,
    settings: &RoutingSettings,
) -> Result<(Option<Money>, bool, Fit, Fit), Refused> {
    let Some(p) = &l.policy else {
        return Err((
            "no_terms",
            "has no lending terms for us".to_owned(),
            "未对本馆设置出借条件".to_owned(),
        ));
    };
    if !p.active {
        return Err((
            "inactive",
            "is not lending at present".to_owned(),
            "暂停出借".to_owned(),
        ));
    }
    if !p.services.contains(&needs.service) {
        let (en, zh) = match needs.service {
            Service::Loan => ("does not lend books", "不提供借书服务"),
            Service::Copy => ("does not supply copies", "不提供文献复制服务"),
        };
        return Err(("service_not_offered", en.to_owned(), zh.to_owned()));
    }
    let fee = match &l.schedule_fee {
        Some(scheduled) => scheduled.clone(),
        None => p.fee_for(needs.service).cloned(),
    }
    .filter(|f| f.minor > 0);
    let mut over = false;
    if let (Some(f), Some(max)) = (&fee, &needs.max_cost) {
        if f.currency != max.currency {
            return Err((
                "currency_differs",
                format!("fee {f} cannot be checked against the reader's limit {max}"),
                format!("费用 {f} 与读者的最高费用 {max} 币种不同，无法比较"),
            ));
        }
        over = f.minor > max.minor;
    }
    let delivery = fit(&settings.delivery_methods, &p.delivery_methods).map_err(|()| {
        (
            "delivery_not_accepted",
            format!(
                "delivers only by {}, which we do not accept (we accept {})",
                p.delivery_methods.join(", "),
                settings.delivery_methods.join(", ")
            ),
            format!(
                "仅以 {} 递送，本馆不接受（本馆接受 {}）",
                p.delivery_methods.join("、"),
                settings.delivery_methods.join("、")
            ),
        )
    })?;
    let payment = fit(&settings.payment_methods, &p.payment_methods).map_err(|()| {
        (
            "payment_not_accepted",
            format!(
                "takes payment only by {}, which we do not use (we pay by {})",
                p.payment_methods.join(", "),
                settings.payment_methods.join(", ")
            ),
            format!(
                "仅接受 {} 付款，本馆不使用（本馆付款方式 {}）",
                p.payment_methods.join("、"),
                settings.payment_methods.join("、")
            ),
        )
    })?;
    Ok((fee, over, delivery, payment))
}

/// One step of a borrowing request's history, in event order.
#[derive(Debug, Clone)]
pub struct HistoryStep {
    pub request_id: String,
    /// The borrowing library.
    pub borrower: String,
    /// The request's state now.
    pub state: String,
    pub action: String,
    pub at: OffsetDateTime,
    /// The lender that had the request after this step; empty when none had it.
    pub lender: String,
}

const FILLED: &[&str] = &["lender_loaned", "lender_copy_completed"];

/// A lender's answers: whatever it said, it said before its deadline.
const ANSWERS: &[&str] = &[
    "lender_expect_to_supply",
    "lender_will_supply",
    "lender_conditional",
    "lender_retry_possible",
    "lender_loaned",
    "lender_copy_completed",
    "lender_unfilled",
];

const DEADLINE_PASSED: &str = "lender_deadline_passed";

/// Per-library figures from history steps grouped by request (steps of one request together,
/// in order). A lender "said no" when the request moved on from it, or ended unfilled with it;
/// turnaround runs from the first step that named it to its shipment.
pub fn measure(steps: &[HistoryStep]) -> HashMap<String, LenderRecord> {
    let mut out: HashMap<String, LenderRecord> = HashMap::new();
    let mut minutes: HashMap<String, Vec<i64>> = HashMap::new();
    let mut i = 0;
    while i < steps.len() {
        let rid = &steps[i].request_id;
        let end = steps[i..]
            .iter()
            .position(|s| &s.request_id != rid)
            .map_or(steps.len(), |n| i + n);
        let group = &steps[i..end];
        i = end;
        let Some(first) = group.first() else { continue };
        out.entry(first.borrower.clone()).or_default().borrowed += 1;
        struct Visit<'a> {
            lender: &'a str,
            since: OffsetDateTime,
            filled: bool,
            answered: bool,
        }
        let mut current: Option<Visit> = None;
        for s in group {
            let action = s.action.as_str();
            let answer = ANSWERS.contains(&action);
            if s.lender.is_empty() {
                // No lender has it after this step: the last one's answer (or silence) still
                // counts for its reliability; whether it filled is told by the request's end.
                if let Some(v) = &mut current
                    && !v.answered
                    && (answer || action == DEADLINE_PASSED)
                {
                    v.answered = true;
                    let rec = out.entry(v.lender.to_owned()).or_default();
                    if answer {
                        rec.on_time += 1;
                    } else {
                        rec.late += 1;
                    }
                }
                continue;
            }
            let mut moved = false;
            if let Some(v) = &current
                && v.lender != s.lender
            {
                // The step that moved the request on is about the lender it left.
                let rec = out.entry(v.lender.to_owned()).or_default();
                if !v.answered {
                    if action == DEADLINE_PASSED {
                        rec.late += 1;
                    } else if answer {
                        rec.on_time += 1;
                    }
                }
                if !v.filled {
                    rec.unfilled += 1;
                }
                current = None;
                moved = true;
            }
            let v = current.get_or_insert_with(|| {
                out.entry(s.lender.clone()).or_default().asked += 1;
                Visit {
                    lender: s.lender.as_str(),
                    since: s.at,
                    filled: false,
                    answered: false,
                }
            });
            if !moved && !v.answered && (answer || action == DEADLINE_PASSED) {
                v.answered = true;
                let rec = out.entry(v.lender.to_owned()).or_default();
                if answer {
                    rec.on_time += 1;
                } else {
                    rec.late += 1;
                }
            }
            if !v.filled && FILLED.contains(&action) {
                v.filled = true;
                out.entry(v.lender.to_owned()).or_default().filled += 1;
                minutes
                    .entry(v.lender.to_owned())
                    .or_default()
                    .push((s.at - v.since).whole_minutes());
            }
        }
        if let Some(v) = current
            && !v.filled
            && first.state == "unfilled"
        {
            out.entry(v.lender.to_owned()).or_default().unfilled += 1;
        }
    }
    for (l, mut v) in minutes {
        v.sort_unstable();
        let median = v.get((v.len().saturating_sub(1)) / 2).copied();
        out.entry(l).or_default().median_minutes = median;
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;
    use crate::calendar::WeekdayName;

    fn cny(minor: i64) -> Money {
        Money::new(minor, Currency::parse("CNY").unwrap())
    }

    fn policy(loan: Option<i64>, copy: Option<i64>) -> PartnerPolicy {
        PartnerPolicy {
            services: vec![Service::Loan, Service::Copy],
            loan_days: 30,
            answer_days: 3,
            loan_fee: loan.map(cny),
            copy_fee: copy.map(cny),
            delivery_methods: vec![],
            payment_methods: vec![],
            active: true,
        }
    }

    fn lender(code: &str, fee: Option<i64>, region: bool) -> LenderFacts {
        LenderFacts {
            library: LibraryCode::parse(code).unwrap(),
            supplier: false,
            copies: 1,
            same_region: region,
            location: None,
            closed: ClosedDays::default(),
            policy: Some(policy(fee, fee)),
            schedule_fee: None,
            record: LenderRecord::default(),
        }
    }

    fn needs(max: Option<i64>) -> Needs {
        Needs {
            service: Service::Copy,
            max_cost: max.map(cny),
            days_left: None,
            currency: Currency::parse("CNY").unwrap(),
            // A Monday.
            today: time::macros::date!(2026 - 11 - 30),
            borrower_at: None,
        }
    }

    fn codes(r: &Ranking) -> Vec<&str> {
        r.entries.iter().map(|e| e.library.as_str()).collect()
    }

    #[test]
    fn free_partners_come_first_then_cheapest_then_suppliers() {
        let mut sup = lender("NSD", Some(500), true);
        sup.supplier = true;
        let r = rank(
            vec![
                sup,
                lender("PAY2", Some(1500), true),
                lender("PAY1", Some(800), false),
                lender("FREEFAR", None, false),
                lender("FREENEAR", None, true),
            ],
            &needs(None),
            &RoutingSettings::default(),
        );
        assert_eq!(codes(&r), ["FREENEAR", "FREEFAR", "PAY1", "PAY2", "NSD"]);
        assert!(
            r.entries[0]
                .reason
                .starts_with("1st: 0.00 CNY, free partner, same region")
        );
        assert!(
            r.entries[0]
                .reason_zh
                .starts_with("第 1 位：免费，互惠馆，同地区")
        );
        assert!(r.entries[4].reason.contains("commercial supplier"));
    }

    #[test]
    fn over_max_cost_goes_to_the_end_with_the_reason() {
        let mut tiered = lender("DEAR", Some(3000), true);
        tiered.policy = Some(policy(Some(3000), Some(3000)));
        let r = rank(
            vec![
                tiered,
                lender("CHEAP", Some(1000), false),
                lender("FAR", Some(1500), false),
            ],
            &needs(Some(2000)),
            &RoutingSettings {
                groups: vec![LenderGroup {
                    name: "first".into(),
                    tier: 1,
                    members: vec!["DEAR".into()],
                }],
                ..RoutingSettings::default()
            },
        );
        // Even a first-tier lender goes after every lender within the limit.
        assert_eq!(codes(&r), ["CHEAP", "FAR", "DEAR"]);
        assert!(r.excluded.is_empty());
        assert!(
            r.entries[2]
                .reason
                .contains("over the reader's limit 20.00 CNY: asked last"),
            "{}",
            r.entries[2].reason
        );
        assert!(r.entries[2].reason_zh.contains("超出读者可接受的最高费用"));
        assert!(!r.entries[0].reason.contains("limit"));
    }

    #[test]
    fn the_fee_schedule_takes_the_place_of_the_terms_fee() {
        // Terms say free, the schedule charges over the limit: the schedule counts.
        let mut scheduled = lender("SCHED", None, true);
        scheduled.schedule_fee = Some(Some(cny(2500)));
        // Terms charge over the limit, the schedule makes it free (reciprocal).
        let mut reciprocal = lender("RECIP", Some(5000), false);
        reciprocal.schedule_fee = Some(None);
        let r = rank(
            vec![scheduled, reciprocal, lender("TERMS", Some(1000), false)],
            &needs(Some(2000)),
            &RoutingSettings::default(),
        );
        assert_eq!(codes(&r), ["RECIP", "TERMS", "SCHED"]);
        assert_eq!(r.entries[0].fee, None);
        assert_eq!(r.entries[2].fee, Some(cny(2500)));
        assert!(r.entries[2].reason.contains("fee from its fee schedule"));
        assert!(r.entries[2].reason.contains("asked last"));
    }

    #[test]
    fn tiers_come_before_cost_and_history_shows_in_the_reason() {
        let mut good = lender("GOOD", None, true);
        good.record = LenderRecord {
            asked: 14,
            filled: 13,
            unfilled: 1,
            median_minutes: Some(3024),
            borrowed: 10,
            ..LenderRecord::default()
        };
        let mut poor = lender("POOR", None, true);
        poor.record = LenderRecord {
            asked: 10,
            filled: 2,
            unfilled: 8,
            median_minutes: Some(1440),
            borrowed: 10,
            ..LenderRecord::default()
        };
        let settings = RoutingSettings {
            groups: vec![LenderGroup {
                name: "Consortium".into(),
                tier: 1,
                members: vec!["paid".into()],
            }],
            unmediated: vec![],
            ..RoutingSettings::default()
        };
        let r = rank(
            vec![poor, good, lender("PAID", Some(500), false)],
            &needs(None),
            &settings,
        );
        assert_eq!(codes(&r), ["PAID", "GOOD", "POOR"]);
        assert!(r.entries[0].reason.contains("tier 1 (Consortium)"));
        assert_eq!(
            r.entries[1].reason,
            "2nd: 0.00 CNY, free partner, same region, fill rate 93 %, median 2.1 days, holds 1"
        );
        assert!(
            r.entries[1]
                .reason_zh
                .contains("满足率 93%，中位周期 2.1 天")
        );
    }

    #[test]
    fn a_lender_too_slow_for_the_need_by_date_goes_last() {
        let mut slow = lender("SLOW", None, true);
        slow.record.median_minutes = Some(6 * 1440);
        slow.record.filled = 5;
        let mut n = needs(None);
        n.days_left = Some(3);
        let r = rank(
            vec![slow, lender("FAST", Some(100), false)],
            &n,
            &RoutingSettings::default(),
        );
        assert_eq!(codes(&r), ["FAST", "SLOW"]);
        assert!(r.entries[1].reason.contains("may miss the need-by date"));
    }

    #[test]
    fn of_two_like_lenders_the_one_with_fewer_open_requests_comes_first() {
        let mut busy = lender("BUSY", None, true);
        busy.record.open_now = 40;
        let r = rank(
            vec![busy, lender("IDLE", None, true)],
            &needs(None),
            &RoutingSettings::default(),
        );
        assert_eq!(codes(&r), ["IDLE", "BUSY"]);
        assert!(
            r.entries[1]
                .reason
                .contains("busy lender (40 open requests)")
        );
        assert!(r.entries[1].reason_zh.contains("待处理 40 件"));
    }

    #[test]
    fn send_rules_match_reader_service_and_free_first_lender() {
        let rules = RoutingSettings {
            groups: vec![],
            unmediated: vec![SendRule {
                patron_types: vec![PatronType::Faculty],
                services: vec![],
                first_lender_free: true,
            }],
            ..RoutingSettings::default()
        };
        let r = rank(vec![lender("AA", None, true)], &needs(None), &rules);
        let first = r.entries.first();
        assert!(rules.sends_at_once(Some(PatronType::Faculty), Service::Copy, first));
        assert!(!rules.sends_at_once(Some(PatronType::Undergraduate), Service::Copy, first));
        let paid = rank(vec![lender("BB", Some(100), true)], &needs(None), &rules);
        assert!(!rules.sends_at_once(
            Some(PatronType::Faculty),
            Service::Copy,
            paid.entries.first()
        ));
        assert!(!rules.sends_at_once(Some(PatronType::Faculty), Service::Copy, None));
    }

    #[test]
    fn history_gives_fill_rate_turnaround_and_load() {
        let t = datetime!(2026-03-02 08:00 UTC);
        let h = time::Duration::hours;
        let step = |rid: &str, state: &str, action: &str, at, lender: &str| HistoryStep {
            request_id: rid.into(),
            borrower: "BCU".into(),
            state: state.into(),
            action: action.into(),
            at,
            lender: lender.into(),
        };
        let steps = vec![
            // XNU says no, HTU ships two days later.
            step("r1", "completed", "approve", t, "XNU"),
            step("r1", "completed", "lender_unfilled", t + h(5), "HTU"),
            step("r1", "completed", "lender_loaned", t + h(53), "HTU"),
            step("r1", "completed", "receive", t + h(70), "HTU"),
            // HTU is the last lender and says no: nobody has the request after that.
            step("r2", "unfilled", "create", t, ""),
            step("r2", "unfilled", "approve", t, "HTU"),
            step("r2", "unfilled", "lender_unfilled", t + h(3), ""),
            // Still waiting at XNU: not decided.
            step("r3", "sent", "approve", t, "XNU"),
        ];
        let m = measure(&steps);
        let htu = &m["HTU"];
        assert_eq!((htu.asked, htu.filled, htu.unfilled), (2, 1, 1));
        assert_eq!(htu.median_minutes, Some(48 * 60));
        let xnu = &m["XNU"];
        assert_eq!((xnu.asked, xnu.filled, xnu.unfilled), (2, 0, 1));
        assert_eq!(m["BCU"].borrowed, 3);
        // XNU answered r1 in time, HTU r1 and r2; nobody let a deadline pass.
        assert_eq!((xnu.on_time, xnu.late, htu.on_time, htu.late), (1, 0, 2, 0));
    }

    #[test]
    fn a_deadline_let_pass_counts_against_reliability() {
        let t = datetime!(2026-03-02 08:00 UTC);
        let step = |action: &str, lender: &str| HistoryStep {
            request_id: "r1".into(),
            borrower: "BCU".into(),
            state: "sent".into(),
            action: action.into(),
            at: t,
            lender: lender.into(),
        };
        let m = measure(&[
            step("approve", "SLOW"),
            step("lender_deadline_passed", "NEXT"),
            step("lender_will_supply", "NEXT"),
        ]);
        assert_eq!(
            (m["SLOW"].on_time, m["SLOW"].late, m["SLOW"].unfilled),
            (0, 1, 1)
        );
        assert_eq!((m["NEXT"].on_time, m["NEXT"].late), (1, 0));
        assert_eq!(m["SLOW"].reliability_per_mille(), Some(0));
        let slow = m["SLOW"].capability();
        let next = m["NEXT"].capability();
        assert!(slow.score < next.score, "{slow:?} {next:?}");
    }

    #[test]
    fn capability_weighs_fill_speed_reliability_and_load() {
        let proven = LenderRecord {
            asked: 50,
            filled: 45,
            unfilled: 5,
            median_minutes: Some(1440),
            on_time: 50,
            late: 0,
            ..LenderRecord::default()
        };
        let c = proven.capability();
        assert_eq!((c.fill, c.speed, c.reliability, c.load), (89, 100, 99, 100));
        assert_eq!(c.score, (40 * 89 + 25 * 100 + 20 * 99 + 15 * 100) / 100);
        let busy = LenderRecord {
            open_now: 10,
            ..proven.clone()
        };
        assert_eq!(busy.capability().load, 50);
        assert!(busy.capability().score < c.score);
        let unknown = LenderRecord::default().capability();
        assert_eq!(
            (unknown.fill, unknown.speed, unknown.reliability),
            (80, 50, 90)
        );
    }

    fn at(lat: &str, lon: &str) -> Option<GeoPoint> {
        GeoPoint::parse(lat, lon).unwrap()
    }

    #[test]
    fn nearer_lenders_come_first_and_say_how_far() {
        // The borrower in Beijing; one lender across town, one in Tianjin (another region but
        // 110 km), one in Shanghai, one with no coordinates in the same region.
        let mut n = needs(None);
        n.borrower_at = at("39.9929", "116.3059");
        let mut town = lender("TOWN", None, true);
        town.location = at("39.9990", "116.3260");
        let mut tianjin = lender("TJU", None, false);
        tianjin.location = at("39.1070", "117.1700");
        let mut shanghai = lender("FUDAN", None, false);
        shanghai.location = at("31.2984", "121.5015");
        let unknown = lender("NOWHERE", None, true);
        let r = rank(
            vec![shanghai, unknown, tianjin, town],
            &n,
            &RoutingSettings::default(),
        );
        // Within 300 km TJU's distance beats NOWHERE, which counts as "same region" only.
        assert_eq!(codes(&r), ["TOWN", "TJU", "NOWHERE", "FUDAN"]);
        assert_eq!(
            r.entries[0].reason,
            "1st: 0.00 CNY, free partner, same region, 2 km, no history yet, holds 1"
        );
        assert!(
            r.entries[1].reason.contains(", 123 km,"),
            "{}",
            r.entries[1].reason
        );
        assert!(r.entries[0].reason_zh.contains("同地区，2 公里"));
        assert!(!r.entries[2].reason.contains("km"));
    }

    #[test]
    fn a_lender_closed_today_goes_below_open_ones_and_says_until_when() {
        // Today is Monday 30 Nov; SHUT is closed from 28 Nov to 2 Dec, SUNDAY only on Sundays.
        let mut shut = lender("SHUT", None, true);
        shut.closed = ClosedDays {
            weekdays: vec![],
            dates: (28..=30)
                .map(|d| time::Date::from_calendar_date(2026, time::Month::November, d).unwrap())
                .chain([
                    time::macros::date!(2026 - 12 - 01),
                    time::macros::date!(2026 - 12 - 02),
                ])
                .collect(),
        };
        let mut sunday = lender("SUNDAY", None, true);
        sunday.closed.weekdays = vec![WeekdayName::Sunday];
        let paid = lender("PAID", Some(500), false);
        let r = rank(
            vec![shut.clone(), paid, sunday],
            &needs(None),
            &RoutingSettings::default(),
        );
        // Closed today goes below an open free partner but, with time enough, stays above a
        // paying lender; a weekly Sunday closure does not matter on a Monday.
        assert_eq!(codes(&r), ["SUNDAY", "SHUT", "PAID"]);
        assert!(
            r.entries[1].reason.contains("closed until 3 Dec"),
            "{}",
            r.entries[1].reason
        );
        assert!(r.entries[1].reason_zh.contains("闭馆至12月3日开馆"));
        assert!(!r.entries[1].reason.contains("may miss"));
        // With weeks to go, a free partner closed over a long holiday still comes before an open
        // paying lender and an open commercial supplier.
        let mut holiday = lender("HOLIDAY", None, true);
        holiday.closed.dates =
            (30..=30)
                .map(|d| time::Date::from_calendar_date(2026, time::Month::November, d).unwrap())
                .chain((1..=10).map(|d| {
                    time::Date::from_calendar_date(2026, time::Month::December, d).unwrap()
                }))
                .collect();
        let mut supplier = lender("SUPPLY", Some(900), false);
        supplier.supplier = true;
        let mut n = needs(None);
        n.days_left = Some(30);
        let r = rank(
            vec![supplier, lender("PAID", Some(500), false), holiday],
            &n,
            &RoutingSettings::default(),
        );
        assert_eq!(codes(&r), ["HOLIDAY", "PAID", "SUPPLY"]);
        assert!(r.entries[0].reason.contains("closed until 11 Dec"));
        // Open today but closed tomorrow and the day after: after an open twin, before a payer.
        let mut soon = shut.clone();
        soon.library = LibraryCode::parse("SOON").unwrap();
        soon.closed
            .dates
            .retain(|d| *d > time::macros::date!(2026 - 11 - 30));
        let r = rank(
            vec![
                soon,
                lender("OPEN", None, true),
                lender("PAID", Some(500), true),
            ],
            &needs(None),
            &RoutingSettings::default(),
        );
        assert_eq!(codes(&r), ["OPEN", "SOON", "PAID"]);
        assert!(r.entries[1].reason.contains("closed 1 Dec – 2 Dec"));
        assert!(r.entries[1].reason_zh.contains("12月1日至12月2日闭馆"));
        // A closure longer than the reader can wait makes the lender late too.
        let mut n = needs(None);
        n.days_left = Some(2);
        let r = rank(
            vec![shut, lender("PAID", Some(500), false)],
            &n,
            &RoutingSettings::default(),
        );
        assert!(
            r.entries[1]
                .reason
                .contains("may miss the need-by date (2 days left)")
        );
    }

    #[test]
    fn lenders_with_methods_we_do_not_accept_are_left_out_or_asked_later() {
        let settings = RoutingSettings {
            delivery_methods: vec!["Courier".into(), "URL".into()],
            payment_methods: vec!["hub_clearing".into()],
            ..RoutingSettings::default()
        };
        let with = |code: &str, delivery: &[&str], payment: &[&str]| {
            let mut l = lender(code, None, true);
            if let Some(p) = &mut l.policy {
                p.delivery_methods = delivery.iter().map(|s| s.to_string()).collect();
                p.payment_methods = payment.iter().map(|s| s.to_string()).collect();
            }
            l
        };
        let r = rank(
            vec![
                with("MAILONLY", &["mail"], &["hub_clearing"]),
                with("CASH", &["courier"], &["cash"]),
                with("QUIET", &[], &[]),
                with("GOOD", &["mail", "courier"], &["hub_clearing", "invoice"]),
            ],
            &needs(None),
            &settings,
        );
        assert_eq!(codes(&r), ["GOOD", "QUIET"]);
        assert!(
            r.entries[0]
                .reason
                .contains("delivery by courier, payment by hub_clearing")
        );
        assert!(
            r.entries[0]
                .reason_zh
                .contains("递送方式 courier，付款方式 hub_clearing")
        );
        assert!(
            r.entries[1]
                .reason
                .contains("delivery methods not stated, payment methods not stated")
        );
        assert!(r.entries[1].reason_zh.contains("未说明递送方式"));
        let ex: Vec<_> = r
            .excluded
            .iter()
            .map(|e| (e.library.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            ex,
            [
                ("CASH", "payment_not_accepted"),
                ("MAILONLY", "delivery_not_accepted")
            ]
        );
        assert_eq!(
            r.excluded[1].reason,
            "delivers only by mail, which we do not accept (we accept Courier, URL)"
        );
        assert!(r.excluded[1].reason_zh.contains("本馆不接受"));
        // Accepting anything (the default) checks nothing.
        let r = rank(
            vec![with("MAILONLY", &["mail"], &["cash"])],
            &needs(None),
            &RoutingSettings::default(),
        );
        assert_eq!(codes(&r), ["MAILONLY"]);
        assert!(!r.entries[0].reason.contains("delivery"));
    }

    #[test]
    fn method_lists_are_checked() {
        let s = RoutingSettings {
            delivery_methods: vec![" ".into()],
            payment_methods: (0..21).map(|i| format!("m{i}")).collect(),
            ..RoutingSettings::default()
        };
        let fields: Vec<_> = s.validate().iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            fields,
            [
                ("delivery_methods", "invalid_method_name"),
                ("payment_methods", "too_many")
            ]
        );
    }

    #[test]
    fn ordinals() {
        let got: Vec<_> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal).to_vec();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"
            ]
        );
    }

    proptest! {
        /// Whatever the lenders, each one is either ranked or excluded, exactly once; lenders
        /// over the reader's limit come after every other, saying so; and free partners never
        /// follow paying ones
        /// without a tier saying so.
        #[test]
        fn every_lender_is_ranked_or_excluded_once(
            fees in proptest::collection::vec((proptest::option::of(0i64..5000), any::<bool>(), any::<bool>(), 0u32..20, 0u32..20), 0..12),
            max in proptest::option::of(0i64..5000),
        ) {
            let lenders: Vec<_> = fees.iter().enumerate().map(|(i, (fee, region, supplier, filled, unfilled))| {
                let mut l = lender(&format!("L{i:02}"), *fee, *region);
                l.supplier = *supplier;
                l.record.filled = *filled;
                l.record.unfilled = *unfilled;
                l.record.asked = filled + unfilled;
                l
            }).collect();
            let n = lenders.len();
            let r = rank(lenders, &needs(max), &RoutingSettings::default());
            prop_assert_eq!(r.entries.len() + r.excluded.len(), n);
            let mut all: Vec<_> = r.entries.iter().map(|e| e.library.clone())
                .chain(r.excluded.iter().map(|e| e.library.clone())).collect();
            all.sort();
            all.dedup();
            prop_assert_eq!(all.len(), n);
            let over = |e: &RotaEntry| matches!((&e.fee, max), (Some(f), Some(m)) if f.minor > m);
            for (i, e) in r.entries.iter().enumerate() {
                if over(e) {
                    prop_assert!(e.reason.contains("asked last"), "{}", e.reason);
                    prop_assert!(r.entries[i..].iter().all(over), "within the limit after one over it");
                }
                prop_assert!(!e.reason.is_empty() && !e.reason_zh.is_empty());
            }
            let paid_seen = r.entries.iter().position(|e| e.fee.is_some());
            if let Some(p) = paid_seen {
                let supplier_free_after = r.entries[p..].iter().all(|e| e.fee.is_some() || e.reason.contains("commercial supplier"));
                prop_assert!(supplier_free_after);
            }
        }
    }

    #[test]
    fn a_near_need_by_date_makes_a_request_express() {
        let default = RoutingSettings::default();
        assert_eq!(default.express_within_days(), DEFAULT_EXPRESS_WITHIN_DAYS);
        assert!(default.need_by_makes_express(Some(0)));
        assert!(default.need_by_makes_express(Some(5)));
        assert!(!default.need_by_makes_express(Some(6)));
        assert!(!default.need_by_makes_express(None));
        let never = RoutingSettings {
            express_within_days: Some(0),
            ..Default::default()
        };
        assert!(!never.need_by_makes_express(Some(0)));
        let bad = RoutingSettings {
            express_within_days: Some(MAX_EXPRESS_WITHIN_DAYS + 1),
            ..Default::default()
        };
        assert_eq!(bad.validate()[0].field, "express_within_days");
    }
}
