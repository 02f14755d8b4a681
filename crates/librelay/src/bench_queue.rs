//! `librelay bench queue`: the lending queue with its facets, as the page asks for it, over a
//! store seeded with N lending requests of one library, against a plain `SELECT count(*)` of
//! the same table measured in the same run.

use std::time::Instant;

use anyhow::Context;
use server::flow::desk::{
    LendQueueParams, lend_closed_states, lend_open_states, lend_queue_filter,
};
use server::{App, Config};
use store::SeedLend;
use time::{Duration, OffsetDateTime};

/// Rows handed to the store per transaction (it writes them 500 to an INSERT).
const BATCH: usize = 10_000;

/// Words the seeded titles are made of, two to a title, so that a Chinese search finds some
/// titles and not others (one word: about 1 title in 20; two: 1 in 1,600).
const ZH_WORDS: [&str; 40] = [
    "经济", "历史", "文学", "哲学", "物理", "化学", "生物", "数学", "法律", "教育", "艺术", "音乐",
    "医学", "工程", "农业", "地理", "天文", "心理", "社会", "政治", "语言", "宗教", "建筑", "考古",
    "军事", "新闻", "体育", "环境", "能源", "材料", "海洋", "气候", "城市", "乡村", "交通", "金融",
    "管理", "统计", "计算", "信息",
];

pub async fn run(
    n: usize,
    active_percent: f64,
    iterations: usize,
    database: Option<String>,
    data_dir: Option<std::path::PathBuf>,
    reuse: bool,
) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = match &data_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let mut config = Config::for_tests(dir.clone());
    config.sqlite_synchronous = "normal".to_owned();
    config.sweep_interval_ms = 3_600_000;
    if let Some(db) = database {
        config.database_url = db;
    }
    let app = App::build(config).await?;
    let st = app.state();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stop_rx.await;
    }));
    let seed = server::demo::seed_directory(&st, &dir).await?.is_some();
    anyhow::ensure!(
        seed || reuse,
        "the bench store was not empty (give --reuse to measure what an earlier run seeded)"
    );
    let engine = st.store.engine();
    let driver = server::drive::Driver::new(st.clone());
    let lender = driver.user("xnu-lend").await?;
    let libraries: Vec<_> = st
        .store
        .libraries()
        .await?
        .into_iter()
        .filter(|l| l.library_id != lender.library_id)
        .collect();
    let partners: Vec<(String, String)> = libraries
        .iter()
        .map(|l| {
            (
                format!("{}:{}", l.agency_type, l.agency_value),
                l.library_id.clone(),
            )
        })
        .collect();
    let staff: Vec<String> =
        server::flow::desk::staff_of(&st, &lender.library_id, server::flow::desk::Side::Lend)
            .await?
            .into_iter()
            .map(|u| u.user_id)
            .collect();
    anyhow::ensure!(!partners.is_empty() && !staff.is_empty(), "demo directory");
    let open = lend_open_states();
    let closed = lend_closed_states();
    let now = OffsetDateTime::now_utc();
    let active_every = if active_percent <= 0.0 {
        usize::MAX
    } else {
        ((100.0 / active_percent).round() as usize).max(1)
    };

    let start = Instant::now();
    let n = if seed {
        eprintln!(
            "seeding {n} lending requests of {} ({engine})…",
            lender.library_id
        );
        seed_requests(
            &st,
            &lender.library_id,
            n,
            active_every,
            now,
            &SeedFrom {
                open: &open,
                closed: &closed,
                partners: &partners,
                staff: &staff,
            },
        )
        .await?;
        n
    } else {
        let n = usize::try_from(st.store.count_lend_requests().await?)?;
        eprintln!("reusing the {n} lending requests seeded by an earlier run ({engine})");
        n
    };
    // PostgreSQL: what the seed noted for the queue counts, folded in as the job does.
    st.store.fold_queue_counts().await?;
    let seed_secs = start.elapsed().as_secs_f64();
    st.store.analyze().await?;

    let iterations = iterations.max(1);
    let mut baseline = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        std::hint::black_box(st.store.count_lend_requests().await?);
        baseline.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // A row that is still active (every `active_every`-th one is), and one that is not.
    let active_row = (n / 2) / active_every * active_every;
    let closed_row = if active_every == 1 {
        active_row
    } else {
        active_row + 1
    };
    let (partner_agency, partner_code) = partners[0].clone();
    let partner_name = libraries[0].name_zh.clone();
    let search = |scope: Option<&str>, q: String| LendQueueParams {
        scope: scope.map(str::to_owned),
        q: Some(q),
        ..Default::default()
    };
    let all = Some("all");
    let cases: Vec<(&str, LendQueueParams)> = vec![
        (
            "active queue (the page's default view)",
            LendQueueParams::default(),
        ),
        (
            "task \"to locate\"",
            LendQueueParams {
                task: Some("to_locate".to_owned()),
                ..Default::default()
            },
        ),
        (
            "task \"overdue\"",
            LendQueueParams {
                task: Some("overdue".to_owned()),
                ..Default::default()
            },
        ),
        (
            "active, one partner (facet)",
            LendQueueParams {
                partner: Some(partner_code.clone()),
                ..Default::default()
            },
        ),
        (
            "active, format loan (facet)",
            LendQueueParams {
                format: Some("loan".to_owned()),
                ..Default::default()
            },
        ),
        (
            "active, unassigned (facet)",
            LendQueueParams {
                assignee: Some("unassigned".to_owned()),
                ..Default::default()
            },
        ),
        (
            "active, needed by this week (facet)",
            LendQueueParams {
                needed_by: Some("week".to_owned()),
                ..Default::default()
            },
        ),
        (
            "active, search by barcode",
            search(None, format!("BC{active_row:09}")),
        ),
        (
            "active, search by title words",
            search(None, format!("Benchmark book {}", n / 3)),
        ),
        (
            "active, search by request id",
            search(None, format!("bench-{active_row:09}")),
        ),
        (
            "active, search by Chinese title words (经济与历史)",
            search(None, "经济与历史".to_owned()),
        ),
        (
            "active, search by a Chinese title word (经济)",
            search(None, "经济".to_owned()),
        ),
        (
            "active, search by requester code",
            search(None, partner_code.clone()),
        ),
        (
            "active, search by requester agency id",
            search(None, partner_agency.clone()),
        ),
        (
            "active, search by requester name",
            search(None, partner_name.clone()),
        ),
        (
            "all history (scope=all)",
            LendQueueParams {
                scope: Some("all".to_owned()),
                ..Default::default()
            },
        ),
        (
            "all history, search by barcode",
            search(all, format!("BC{closed_row:09}")),
        ),
        (
            "all history, search by title words",
            search(all, format!("Benchmark book {}", n / 3 + 1)),
        ),
        (
            "all history, search by request id",
            search(all, format!("bench-{closed_row:09}")),
        ),
        (
            "all history, search by Chinese title words (经济与历史)",
            search(all, "经济与历史".to_owned()),
        ),
        (
            "all history, search by a Chinese title word (经济)",
            search(all, "经济".to_owned()),
        ),
        (
            "all history, search by requester code",
            search(all, partner_code.clone()),
        ),
        (
            "all history, search by requester name",
            search(all, partner_name.clone()),
        ),
    ];
    let seeded = if seed {
        format!(
            "seeded in {seed_secs:.1} s, {:.0} rows/s",
            n as f64 / seed_secs
        )
    } else {
        "seeded by an earlier run".to_owned()
    };
    println!(
        "librelay bench queue ({engine}, {n} lending requests of one library, {active_percent} % still active; {seeded})"
    );
    let b = summary(&mut baseline);
    println!(
        "  baseline SELECT count(*) FROM lend_request:  p50 {:.2} ms  p95 {:.2} ms",
        b.0, b.1
    );
    for (name, params) in cases {
        // What matches a large part of the whole history is slow by nature: a few runs tell
        // its figure.
        let broad = params.scope.is_some()
            && params
                .q
                .as_deref()
                .is_none_or(|q| q == partner_code || q == partner_name || q == "经济");
        let runs = if broad {
            iterations.min(10)
        } else {
            iterations
        };
        let mut times = Vec::with_capacity(runs);
        let mut total = 0;
        let mut facets = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let filter = lend_queue_filter(&st, &lender, &params)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let (rows, n, f) = st.store.lend_queue_page(&filter).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(rows);
            total = n;
            facets = f.len();
        }
        let s = summary(&mut times);
        println!(
            "  list + facets, {name}: {total} match, {facets} facet values, {runs} runs; p50 {:.2} ms  p95 {:.2} ms  (p95 {:.1} x baseline)",
            s.0,
            s.1,
            s.1 / b.1.max(1e-9)
        );
    }
    println!(
        "  target: <= 50 ms at p95 for the active queue with facets, and for each search of it"
    );
    let _ = stop_tx.send(());
    let _ = server.await;
    drop(temp);
    Ok(())
}

/// What the seeded requests are drawn from.
struct SeedFrom<'a> {
    open: &'a [String],
    closed: &'a [String],
    /// (agency id, library code) of each requesting library.
    partners: &'a [(String, String)],
    staff: &'a [String],
}

/// Write `n` generated lending requests of `library_id`, every `active_every`-th one still
/// being worked.
async fn seed_requests(
    st: &server::AppState,
    library_id: &str,
    n: usize,
    active_every: usize,
    now: OffsetDateTime,
    from: &SeedFrom<'_>,
) -> anyhow::Result<()> {
    let SeedFrom {
        open,
        closed,
        partners,
        staff,
    } = from;
    let formats = ["loan", "article_copy", "chapter_copy"];
    let start = Instant::now();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // xorshift64*: reproducible figures from run to run.
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut written = 0u64;
    let mut i = 0usize;
    while i < n {
        let mut rows = Vec::with_capacity(BATCH.min(n - i));
        for _ in 0..BATCH.min(n - i) {
            let r = next();
            let active = i.is_multiple_of(active_every);
            let state = if active {
                &open[(r % open.len() as u64) as usize]
            } else {
                &closed[(r % closed.len() as u64) as usize]
            };
            let (agency, code) = &partners[((r >> 8) % partners.len() as u64) as usize];
            let age_minutes = if active {
                (r >> 16) % (60 * 24 * 45)
            } else {
                (r >> 16) % (60 * 24 * 365 * 3)
            };
            let created = now - Duration::minutes(age_minutes as i64);
            let updated = created + Duration::minutes(((r >> 40) % 600) as i64);
            let (w1, w2) = (
                ZH_WORDS[((r >> 44) % 40) as usize],
                ZH_WORDS[((r >> 52) % 40) as usize],
            );
            let mut citation = domain::citation::Citation {
                title: Some(format!("{w1}与{w2}研究 Benchmark book {i}")),
                author: Some("Bench, B.".to_owned()),
                ..Default::default()
            };
            if r % 3 == 0 {
                citation.need_by = Some(now.date() + Duration::days(((r >> 20) % 40) as i64 - 10));
            }
            rows.push(SeedLend {
                request_id: format!("bench-{i:09}"),
                borrower_agency: agency.clone(),
                borrower_id: Some(code.clone()),
                format: formats[((r >> 4) % 3) as usize].to_owned(),
                state: state.clone(),
                citation,
                barcode: Some(format!("BC{i:09}")),
                due_date: (r % 4 == 0)
                    .then(|| now.date() + Duration::days(((r >> 24) % 60) as i64 - 20)),
                assignee_id: (r % 5 != 0)
                    .then(|| staff[((r >> 32) % staff.len() as u64) as usize].clone()),
                created_at: created,
                updated_at: updated.min(now),
            });
            i += 1;
        }
        written += st.store.seed_lend_requests(library_id, rows).await?;
        if written % 100_000 < BATCH as u64 {
            eprintln!(
                "  {written} rows, {:.0} rows/s",
                written as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// (p50, p95) of the timings, in ms.
fn summary(times: &mut [f64]) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let i = ((times.len() as f64 - 1.0) * p).round() as usize;
        times
            .get(i.min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    (at(0.5), at(0.95))
}
