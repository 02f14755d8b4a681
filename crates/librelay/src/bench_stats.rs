//! `librelay bench stats`: every statistics report over a store seeded with N borrowing
//! requests and their events (a year of generated traffic), each timed as the API runs it
//! (bring the summaries up to date with the events, then group), against a plain
//! `SELECT count(*)` of the requests measured in the same run.

use std::time::Instant;

use anyhow::Context;
use domain::stats::GroupStats;
use server::{App, Config};
use store::{StatKey, StatScope};
use time::{Duration, OffsetDateTime};

pub async fn run(
    n: usize,
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
    let engine = st.store.engine();
    let now = OffsetDateTime::now_utc();
    let seeded = server::demo::seed_directory(&st, &dir).await?.is_some();
    let seed_secs = if seeded {
        eprintln!("seeding {n} borrowing requests with their events ({engine})…");
        let start = Instant::now();
        let mut last = 0;
        server::traffic::generate(&st, n, now, false, "bench", |done, secs| {
            if done - last >= 100_000 || done == n {
                last = done;
                eprintln!("  {done} requests, {:.0} a second", done as f64 / secs);
            }
        })
        .await?;
        start.elapsed().as_secs_f64()
    } else {
        anyhow::ensure!(
            reuse,
            "the bench store was not empty (give --reuse to measure what an earlier run seeded)"
        );
        eprintln!("reusing the requests seeded by an earlier run ({engine})");
        0.0
    };
    st.store.analyze().await?;
    let events = st.store.count_borrow_events().await?;

    // The first report summarises every request from its events; later ones only what changed.
    let t = Instant::now();
    let summarised = st.store.refresh_request_facts(now).await?;
    let first_secs = t.elapsed().as_secs_f64();
    st.store.analyze().await?;

    let iterations = iterations.max(1);
    let mut baseline = Vec::with_capacity(iterations);
    let mut count = 0;
    for _ in 0..iterations {
        let t = Instant::now();
        count = std::hint::black_box(st.store.count_borrow_requests().await?);
        baseline.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "librelay bench stats ({engine}, {count} borrowing requests with {events} events over a year; seeded in {seed_secs:.1} s)"
    );
    println!(
        "  first summary of every request from its events: {summarised} requests in {first_secs:.1} s (once; later reports summarise only requests with new events)"
    );
    let b = median(&mut baseline);
    println!(
        "  baseline SELECT count(*) FROM borrow_request: median {b:.1} ms ({iterations} runs)"
    );
    let hub = StatScope {
        library_id: None,
        members: false,
        from: now - Duration::days(366),
        to: now + Duration::days(1),
    };
    let one = StatScope {
        members: false,
        library_id: Some("BCU".to_owned()),
        ..hub.clone()
    };
    // What a hub admin's view counts: the hub and its members.
    let members = StatScope {
        members: true,
        library_id: Some("HUB".to_owned()),
        ..hub.clone()
    };
    let scopes = [
        ("every library", &hub),
        ("hub view (HUB)", &members),
        ("one library (BCU)", &one),
    ];
    // First as every report was read before blocks: from the summaries' rows.
    let unpacked = st.store.unpack_stat_blocks().await?;
    println!("  from the summaries' rows ({unpacked} packed months set aside):");
    let (rows_worst, from_rows) = reports(&st, &scopes, iterations, b).await?;
    // Then each library's months packed into blocks, as the job does once they settle.
    let t = Instant::now();
    let packed = st.store.build_all_stat_blocks().await?;
    let pack_secs = t.elapsed().as_secs_f64();
    println!(
        "  from blocks ({packed} library months packed in {pack_secs:.1} s; once, then a month again after it changed):"
    );
    let (worst, from_blocks) = reports(&st, &scopes, iterations, b).await?;
    if from_blocks != from_rows {
        anyhow::bail!("the reports from blocks differ from the reports from rows");
    }
    println!(
        "  slowest report: {worst:.0} ms from blocks, {rows_worst:.0} ms from rows ({:.1}x faster; the same figures); target: <= 1000 ms per report",
        rows_worst / worst.max(1e-9)
    );
    let _ = stop_tx.send(());
    let _ = server.await;
    drop(temp);
    Ok(())
}

/// Every report of every scope, `iterations` times each (a refresh of the summaries first, as
/// a report request does); prints each median. Returns the slowest median and each report.
async fn reports(
    st: &server::AppState,
    scopes: &[(&str, &StatScope)],
    iterations: usize,
    baseline_ms: f64,
) -> anyhow::Result<(f64, Vec<Vec<GroupStats>>)> {
    let mut worst: f64 = 0.0;
    let mut out = Vec::new();
    for (scope_name, scope) in scopes {
        for key in StatKey::ALL {
            let top = (*key == StatKey::Journal).then_some(10);
            let mut times = Vec::with_capacity(iterations);
            let mut report = Vec::new();
            for _ in 0..iterations {
                let t = Instant::now();
                st.store
                    .refresh_request_facts(OffsetDateTime::now_utc())
                    .await?;
                report = st.store.stat_report(scope, *key, top).await?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let groups = report.len().saturating_sub(1);
            let requests = report.last().map_or(0, |g| g.requests);
            let m = median(&mut times);
            worst = worst.max(m);
            println!(
                "    by {:<12} {scope_name}: {requests} requests in {groups} groups; median {m:.0} ms ({:.1} x baseline)",
                key.as_str(),
                m / baseline_ms.max(1e-9)
            );
            out.push(report);
        }
    }
    Ok((worst, out))
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}
