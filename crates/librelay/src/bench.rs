//! `librelay bench`: throughput figures printed with a baseline measured in the same run.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use server::drive::{Driver, action};
use server::flow::{ActionInput, CreateRequest};
use server::{App, Config};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Closing a month of N generated fee transactions (bilateral netting, positions stored)
    /// against a plain SQL `SUM … GROUP BY` over the same rows.
    Settle {
        /// Fee transactions in the month.
        #[arg(long, default_value_t = 1_000_000)]
        n: usize,
        /// Libraries trading with each other.
        #[arg(long, default_value_t = 100)]
        libraries: usize,
        /// postgres://… to measure PostgreSQL instead (a fresh, empty database).
        #[arg(long)]
        database: Option<String>,
    },
    /// Full loan lifecycles (create, send, will supply, ship, receive, lend, return, ship
    /// return, check in, complete: events and outbox included) against the raw commit rate of
    /// single-row transactions on the same store.
    Lifecycle {
        /// Number of lifecycles.
        #[arg(long, default_value_t = 2000)]
        n: usize,
        /// Lifecycles in flight at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Single-row transactions for the baseline.
        #[arg(long, default_value_t = 2000)]
        baseline: u32,
        /// SQLite durability: full (fsync every commit, the default) or normal.
        #[arg(long, default_value = "full")]
        sync: String,
        /// postgres://… to measure PostgreSQL instead (a fresh, empty database).
        #[arg(long)]
        database: Option<String>,
        /// Citations: `real` (titles, authors and years of the demo's Library of Congress
        /// records, cycled, so some requests repeat earlier ones as in a library) or
        /// `numbered` ("Benchmark book N": every title a near-duplicate of every other, the
        /// worst case for the duplicate check).
        #[arg(long, default_value = "real")]
        titles: String,
    },
    /// Loan lifecycles between two nodes on loopback: every ISO 18626 message goes over HTTP
    /// (six messages and six confirmations a loan), against the same node's `/healthz`
    /// requests per second as the baseline.
    Federation {
        /// Number of lifecycles.
        #[arg(long, default_value_t = 500)]
        n: usize,
        /// Lifecycles in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// SQLite durability on both nodes: full or normal.
        #[arg(long, default_value = "full")]
        sync: String,
        /// Offer ISO 18626 messages at this rate (loans are started at a sixth of it) instead
        /// of as fast as the nodes take them, to read the latency at a given load.
        #[arg(long)]
        rate: Option<f64>,
        /// Citations: `real` (titles, authors and years of the demo's Library of Congress
        /// records, cycled, so some requests repeat earlier ones as in a library) or
        /// `numbered` ("Benchmark book N": every title a near-duplicate of every other, the
        /// worst case for the duplicate check).
        #[arg(long, default_value = "real")]
        titles: String,
    },
    /// MARC import (store + index) against parsing alone with the marc crate and, when
    /// installed, `yaz-marcdump FILE > /dev/null`; then search latency over mixed queries
    /// (title words, authors, ISBNs, Chinese words) drawn from the imported records.
    Catalog {
        /// The MARC file to import (ISO 2709 or MARCXML).
        file: std::path::PathBuf,
        /// Number of search queries.
        #[arg(long, default_value_t = 1000)]
        queries: usize,
        /// SQLite durability: full (the default) or normal.
        #[arg(long, default_value = "full")]
        sync: String,
        /// postgres://… to measure PostgreSQL instead (a fresh, empty database).
        #[arg(long)]
        database: Option<String>,
    },
    /// The lending queue with its facets (what the page asks for) over N seeded lending
    /// requests of one library, p50 / p95 against a plain `SELECT count(*)` of the table.
    Queue {
        /// Lending requests to seed.
        #[arg(long, default_value_t = 1_000_000)]
        n: usize,
        /// Percentage still being worked (the rest is history: completed, unfilled, cancelled).
        #[arg(long, default_value_t = 2.0)]
        active_percent: f64,
        /// Timed runs of each query.
        #[arg(long, default_value_t = 50)]
        iterations: usize,
        /// postgres://… to measure PostgreSQL instead (a fresh, empty database, or one
        /// this bench seeded before, with `--reuse`).
        #[arg(long)]
        database: Option<String>,
        /// Keep the SQLite store in this directory instead of a temporary one.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Measure the requests a previous run of this bench left in the store (`--data-dir`
        /// or `--database`) instead of seeding: seeding a million takes many minutes. Give
        /// the same `--active-percent` as the run that seeded it.
        #[arg(long)]
        reuse: bool,
    },
    /// Every statistics report (by reader type, department, reader, source, journal,
    /// partner, library, format, month, year; the hub's view and one library's) over N
    /// generated borrowing requests with their events, against a plain `SELECT count(*)`.
    Stats {
        /// Borrowing requests to seed (each with its whole history of events).
        #[arg(long, default_value_t = 1_000_000)]
        n: usize,
        /// Timed runs of each report.
        #[arg(long, default_value_t = 5)]
        iterations: usize,
        /// postgres://… to measure PostgreSQL instead (a fresh, empty database, or one
        /// this bench seeded before, with `--reuse`).
        #[arg(long)]
        database: Option<String>,
        /// Keep the SQLite store in this directory instead of a temporary one.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Measure the requests a previous run of this bench left in the store (`--data-dir`
        /// or `--database`) instead of seeding: seeding a million takes many minutes.
        #[arg(long)]
        reuse: bool,
    },
    /// Duplicate detection: precision and recall on a labelled set of near-duplicate
    /// citations built from real MARC records (true duplicates by realistic rewriting, hard
    /// negatives), and lookup by key against a full scan.
    Duplicates {
        /// The MARC file (ISO 2709 or MARCXML), e.g. fixtures/demo/loc-demo.mrc.
        file: std::path::PathBuf,
        /// Records to read at most.
        #[arg(long, default_value_t = 100_000)]
        limit: usize,
    },
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Duplicates { file, limit } => crate::bench_duplicates::run(&file, limit),
        BenchCommand::Settle {
            n,
            libraries,
            database,
        } => crate::settle::bench(n, libraries, database).await,
        BenchCommand::Queue {
            n,
            active_percent,
            iterations,
            database,
            data_dir,
            reuse,
        } => {
            crate::bench_queue::run(n, active_percent, iterations, database, data_dir, reuse).await
        }
        BenchCommand::Stats {
            n,
            iterations,
            database,
            data_dir,
            reuse,
        } => crate::bench_stats::run(n, iterations, database, data_dir, reuse).await,
        BenchCommand::Federation {
            n,
            concurrency,
            sync,
            rate,
            titles,
        } => federation(n, concurrency, &sync, rate, &titles).await,
        BenchCommand::Lifecycle {
            n,
            concurrency,
            baseline,
            sync,
            database,
            titles,
        } => lifecycle(n, concurrency, baseline, &sync, database, &titles).await,
        BenchCommand::Catalog {
            file,
            queries,
            sync,
            database,
        } => crate::bench_catalog::run(&file, queries, &sync, database).await,
    }
}

async fn lifecycle(
    n: usize,
    concurrency: usize,
    baseline: u32,
    sync: &str,
    database: Option<String>,
    titles: &str,
) -> anyhow::Result<()> {
    let citations = Arc::new(Citations::new(titles)?);
    let dir = tempfile::tempdir()?;
    let mut config = Config::for_tests(dir.path().to_path_buf());
    config.sqlite_synchronous = sync.to_owned();
    config.sweep_interval_ms = 60_000;
    if let Some(db) = database {
        config.database_url = db;
    }
    let app = App::build(config).await?;
    let st = app.state();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stop_rx.await;
    }));
    server::demo::seed_directory(&st, dir.path())
        .await?
        .context("the bench store was not empty")?;
    let engine = st.store.engine();

    let raw = st.store.bench_single_row_commits(baseline).await?;

    let d = Arc::new(Driver::new(st.clone()));
    let staff = d.user("bcu-borrow").await?;
    let patron = d.user("bcu-faculty").await?;
    let lender = d.user("xnu-lend").await?;
    let start = Instant::now();
    // Each lifecycle is its own task, so the runtime spreads them over every core (polled
    // inside one future they would all run on one thread).
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = limit.clone().acquire_owned().await?;
        let d = d.clone();
        let (staff, patron, lender) = (staff.clone(), patron.clone(), lender.clone());
        let citation = citations.get(i, "Benchmark book");
        tasks.spawn(async move {
            let r = one_lifecycle(&d, &staff, &patron.user_id, &lender, i, citation).await;
            drop(permit);
            r
        });
    }
    let mut results = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        results.push(r.map_err(anyhow::Error::from).and_then(|r| r));
    }
    let secs = start.elapsed().as_secs_f64();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("first failure: {e:#}");
    }
    let rate = (n - failed) as f64 / secs;
    println!(
        "librelay bench lifecycle ({engine}, synchronous={sync}, {concurrency} in flight, {titles} titles)"
    );
    println!("  lifecycles:            {n} ({failed} failed) in {secs:.2} s");
    println!("  lifecycles per second: {rate:.0}");
    let baseline = if engine == "sqlite" {
        "a plain SQLite connection to the same file, same durability"
    } else {
        "the same store"
    };
    println!("  raw single-row commits per second (baseline: {baseline}): {raw:.0}");
    println!(
        "  ratio lifecycles/s : raw commits/s = {:.2} ({:.0} %)",
        rate / raw,
        100.0 * rate / raw
    );
    println!("  targets: >= 1000 lifecycles/s and >= 25 % of the raw commit rate");
    if let Some(report) = store::sql_profile_report() {
        println!("{report}");
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    if failed > 0 {
        anyhow::bail!("{failed} lifecycles failed");
    }
    Ok(())
}

/// The citations the benches request, by `--titles`.
struct Citations(Vec<serde_json::Value>);

impl Citations {
    fn new(titles: &str) -> anyhow::Result<Self> {
        Ok(Citations(match titles {
            "real" => server::demo::demo_citations()
                .into_iter()
                .map(|(title, author, year)| {
                    serde_json::json!({ "title": title, "author": author, "year": year })
                })
                .collect(),
            "numbered" => Vec::new(),
            other => anyhow::bail!("--titles {other:?}: use real or numbered"),
        }))
    }

    /// The `i`th request's citation: the real ones cycled, or "`numbered` i".
    fn get(&self, i: usize, numbered: &str) -> serde_json::Value {
        match self.0.get(i % self.0.len().max(1)) {
            Some(c) => c.clone(),
            None => {
                serde_json::json!({ "title": format!("{numbered} {i}"), "author": "Bench, B." })
            }
        }
    }
}

async fn one_lifecycle(
    d: &Driver,
    staff: &server::auth::CurrentUser,
    patron_id: &str,
    lender: &server::auth::CurrentUser,
    i: usize,
    citation: serde_json::Value,
) -> anyhow::Result<()> {
    let body = CreateRequest {
        format: "loan".to_owned(),
        citation: serde_json::from_value(citation)?,
        patron_id: Some(patron_id.to_owned()),
        rota: Some(vec!["XNU".to_owned()]),
    };
    let req = d
        .create(staff, body)
        .await
        .map_err(|e| anyhow::anyhow!("create: {e}"))?;
    let id = req.request_id;
    let step = |e: server::error::ApiError| anyhow::anyhow!("{id}: {e:?}");
    d.borrow(staff, &id, action("approve"))
        .await
        .map_err(step)?;
    let lend = d
        .until_lend_state(&id, "XNU", "request_received")
        .await
        .map_err(step)?;
    d.lend(lender, &lend.request_id, action("will_supply"))
        .await
        .map_err(step)?;
    let ship = ActionInput {
        barcode: Some(format!("B{i:08}")),
        ..action("ship_physical")
    };
    d.lend(lender, &lend.request_id, ship).await.map_err(step)?;
    d.until_borrow_state(&id, "shipped").await.map_err(step)?;
    for a in ["receive", "lend_to_patron", "patron_return", "ship_return"] {
        d.borrow(staff, &id, action(a)).await.map_err(step)?;
    }
    d.until_lend_state(&id, "XNU", "return_shipped")
        .await
        .map_err(step)?;
    d.lend(lender, &lend.request_id, action("check_in"))
        .await
        .map_err(step)?;
    d.until_borrow_state(&id, "completed").await.map_err(step)?;
    Ok(())
}

/// One node of the federation bench: the app running, its store seeded with the demo, the
/// libraries in `remote` reached at `peer`'s endpoint.
struct Node {
    st: server::AppState,
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start_node(sync: &str) -> anyhow::Result<(App, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::for_tests(dir.path().to_path_buf());
    config.sqlite_synchronous = sync.to_owned();
    config.sweep_interval_ms = 60_000;
    Ok((App::build(config).await?, dir))
}

fn run_node(app: App, dir: tempfile::TempDir) -> Node {
    let st = app.state();
    let base = format!("http://{}", app.address());
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stop_rx.await;
    }));
    Node {
        st,
        base,
        stop,
        server,
        _dir: dir,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn federation(
    n: usize,
    concurrency: usize,
    sync: &str,
    offered_rate: Option<f64>,
    titles: &str,
) -> anyhow::Result<()> {
    let citations = Citations::new(titles)?;
    let (app_a, dir_a) = start_node(sync).await?;
    let (app_b, dir_b) = start_node(sync).await?;
    let a = run_node(app_a, dir_a);
    let b = run_node(app_b, dir_b);
    let remote = |codes: &[&str], node: &Node| -> Vec<(String, String)> {
        codes
            .iter()
            .map(|c| ((*c).to_owned(), format!("{}/iso18626", node.base)))
            .collect()
    };
    server::demo::seed_directory_split(&a.st, a._dir.path(), &remote(&["HTU", "CPL", "NSD"], &b))
        .await?
        .context("node A's store was not empty")?;
    server::demo::seed_directory_split(&b.st, b._dir.path(), &remote(&["HUB", "BCU", "XNU"], &a))
        .await?
        .context("node B's store was not empty")?;

    // Baseline: plain HTTP round trips to the same node, as many in flight.
    let client = reqwest::Client::new();
    let probes = (n * 12).max(2000);
    let start = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..probes {
        let permit = limit.clone().acquire_owned().await?;
        let (client, url) = (client.clone(), format!("{}/healthz", b.base));
        tasks.spawn(async move {
            let ok = client
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            drop(permit);
            ok
        });
    }
    let mut healthz_failed = 0;
    while let Some(r) = tasks.join_next().await {
        if !r.unwrap_or(false) {
            healthz_failed += 1;
        }
    }
    let healthz_rate = probes as f64 / start.elapsed().as_secs_f64();

    let da = Arc::new(Driver::new(a.st.clone()));
    let db = Arc::new(Driver::new(b.st.clone()));
    let staff = da.user("bcu-borrow").await?;
    let patron = da.user("bcu-faculty").await?;
    let lender = db.user("htu-lend").await?;
    // Paced: a loan every 6/rate seconds (six messages a loan), however long loans take.
    let mut pace = offered_rate.filter(|r| *r > 0.0).map(|r| {
        let mut t = tokio::time::interval(std::time::Duration::from_secs_f64(6.0 / r));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        if let Some(t) = pace.as_mut() {
            t.tick().await;
        }
        let permit = limit.clone().acquire_owned().await?;
        let (da, db) = (da.clone(), db.clone());
        let (staff, patron, lender) = (staff.clone(), patron.clone(), lender.clone());
        let citation = citations.get(i, "Federated benchmark book");
        tasks.spawn(async move {
            let r =
                one_remote_lifecycle(&da, &db, &staff, &patron.user_id, &lender, i, citation).await;
            drop(permit);
            r
        });
    }
    let mut failed = 0;
    let mut first_error = None;
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
            failed += 1;
            first_error.get_or_insert(e);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(e) = &first_error {
        eprintln!("first failure: {e:#}");
    }
    let mut lat = a.st.store.delivery_latencies().await?;
    lat.extend(b.st.store.delivery_latencies().await?);
    lat.sort_by(f64::total_cmp);
    let messages = lat.len();
    let rate = messages as f64 / secs;
    let offered = match offered_rate {
        Some(r) => format!("messages offered at {r:.0}/s, at most {concurrency} loans in flight"),
        None => format!("{concurrency} loans in flight"),
    };
    println!(
        "librelay bench federation (two nodes on loopback, {} store, synchronous={sync}, {offered}, {titles} titles)",
        a.st.store.engine()
    );
    println!("  loans:                      {n} ({failed} failed) in {secs:.2} s");
    println!("  ISO 18626 messages sent:    {messages} (each answered by a confirmation)");
    println!(
        "  messages per second:        {rate:.0} ({:.0} HTTP exchanges/s counting confirmations)",
        2.0 * rate
    );
    println!(
        "  message latency, queued to confirmed: p50 {:.1} ms, p99 {:.1} ms",
        1000.0 * percentile(&lat, 0.5),
        1000.0 * percentile(&lat, 0.99)
    );
    println!(
        "  baseline GET /healthz per second (same node, same concurrency): {healthz_rate:.0} ({healthz_failed} failed)"
    );
    println!(
        "  ratio messages/s : healthz/s = {:.3}",
        rate / healthz_rate
    );
    println!("  targets: >= 2000 messages/s; p99 <= 20 ms at 1000 messages/s");
    if let Some(report) = store::sql_profile_report() {
        println!("{report}");
    }
    for node in [a, b] {
        let _ = node.stop.send(());
        let _ = node.server.await;
    }
    if failed > 0 {
        anyhow::bail!("{failed} lifecycles failed");
    }
    Ok(())
}

async fn one_remote_lifecycle(
    da: &Driver,
    db: &Driver,
    staff: &server::auth::CurrentUser,
    patron_id: &str,
    lender: &server::auth::CurrentUser,
    i: usize,
    citation: serde_json::Value,
) -> anyhow::Result<()> {
    let body = CreateRequest {
        format: "loan".to_owned(),
        citation: serde_json::from_value(citation)?,
        patron_id: Some(patron_id.to_owned()),
        rota: Some(vec!["HTU".to_owned()]),
    };
    let req = da
        .create(staff, body)
        .await
        .map_err(|e| anyhow::anyhow!("create: {e}"))?;
    let id = req.request_id;
    let step = |e: server::error::ApiError| anyhow::anyhow!("{id}: {e:?}");
    let sent = da
        .borrow(staff, &id, action("approve"))
        .await
        .map_err(step)?;
    let wire = server::flow::borrow::wire_id(&sent);
    let lend = db
        .until_lend_state_wire(&id, &wire, "HTU", "request_received")
        .await
        .map_err(step)?;
    db.lend(lender, &lend.request_id, action("will_supply"))
        .await
        .map_err(step)?;
    let ship = ActionInput {
        barcode: Some(format!("F{i:08}")),
        ..action("ship_physical")
    };
    db.lend(lender, &lend.request_id, ship)
        .await
        .map_err(step)?;
    da.until_borrow_state(&id, "shipped").await.map_err(step)?;
    for a in ["receive", "lend_to_patron", "patron_return", "ship_return"] {
        da.borrow(staff, &id, action(a)).await.map_err(step)?;
    }
    db.until_lend_state_wire(&id, &wire, "HTU", "return_shipped")
        .await
        .map_err(step)?;
    db.lend(lender, &lend.request_id, action("check_in"))
        .await
        .map_err(step)?;
    da.until_borrow_state(&id, "completed")
        .await
        .map_err(step)?;
    Ok(())
}
