//! `librelay bench catalog`: import and search figures with baselines from the same run.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use catalog::{CatalogIndex, ImportObserver, ImportOptions, ImportSummary, Rejection};
use server::Config;

struct Quiet {
    rejected: u64,
}

impl ImportObserver for Quiet {
    fn rejected(&mut self, _: &Rejection) {
        self.rejected += 1;
    }

    fn progress(&mut self, s: &ImportSummary) {
        eprint!(
            "\r  importing: {} read, {:.0} records/s   ",
            s.read,
            s.per_second()
        );
    }
}

/// Parse (and map) every record with the marc crate: the floor any import stands on.
fn parse_only(file: &Path) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let input = BufReader::with_capacity(256 * 1024, File::open(file)?);
    let mut n = 0u64;
    for record in marc::Records::detect(input)? {
        n += 1;
        if let Ok(r) = record {
            std::hint::black_box(marc::BibRecord::from_record(&r));
        }
    }
    Ok((n, started.elapsed().as_secs_f64()))
}

/// `yaz-marcdump FILE > /dev/null`, when yaz is installed.
fn yaz(file: &Path) -> Option<f64> {
    let started = Instant::now();
    let status = std::process::Command::new("yaz-marcdump")
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    status.success().then(|| started.elapsed().as_secs_f64())
}

pub async fn run(
    file: &Path,
    queries: usize,
    sync: &str,
    database: Option<String>,
) -> anyhow::Result<()> {
    let megabytes = std::fs::metadata(file)
        .with_context(|| format!("{}", file.display()))?
        .len() as f64
        / 1e6;
    println!(
        "librelay bench catalog: {} ({megabytes:.1} MB)",
        file.display()
    );
    let yaz_secs = yaz(file);
    match yaz_secs {
        Some(s) => println!("  yaz-marcdump > /dev/null:      {s:>7.2} s"),
        None => println!("  yaz-marcdump: not installed (Debian package yaz); no yaz baseline"),
    }
    let (n, parse_secs) = parse_only(file)?;
    println!(
        "  parse + map (marc crate):      {parse_secs:>7.2} s  {:>8.0} records/s",
        n as f64 / parse_secs
    );

    let dir = tempfile::tempdir()?;
    let mut config = Config::for_tests(dir.path().to_path_buf());
    config.sqlite_synchronous = sync.to_owned();
    if let Some(db) = database {
        config.database_url = db;
    }
    let store = store::Store::open(&config.store_config()).await?;
    let lib = server::admin::NewLibrary {
        code: "BENCH".to_owned(),
        agency: "ISIL:XX-BENCH".to_owned(),
        name_en: "Bench".to_owned(),
        name_zh: "测试".to_owned(),
        kind: "university".to_owned(),
        region: String::new(),
        hub: None,
    };
    server::admin::add_library(&store, lib, time::OffsetDateTime::now_utc()).await?;
    let index = CatalogIndex::open(&catalog::index_dir(dir.path()))?;
    let mut quiet = Quiet { rejected: 0 };
    let files = [file.to_path_buf()];
    let s = catalog::import_files(
        &store,
        Some(&index),
        &files,
        &ImportOptions::new("BENCH"),
        &mut quiet,
    )
    .await?;
    eprintln!();
    println!(
        "  import (store {} + index):  {:>7.2} s  {:>8.0} records/s  ({} stored, {} rejected)",
        store.engine(),
        s.seconds,
        s.per_second(),
        s.stored,
        s.rejected
    );
    println!(
        "  import : parse time = {:.1}x{}",
        s.seconds / parse_secs,
        yaz_secs
            .map(|y| format!(
                "; parse : yaz = {:.2}x; import : yaz = {:.1}x (target <= 8x)",
                parse_secs / y,
                s.seconds / y
            ))
            .unwrap_or_default()
    );

    // Queries from the records themselves, a quarter of each kind.
    let sample = store.catalog_sample(queries.max(4) as i64 * 40).await?;
    let mut qs: Vec<String> = Vec::with_capacity(queries);
    let longest_word = |t: &str| {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 3 && w.is_ascii())
            .max_by_key(|w| w.len())
            .map(str::to_owned)
    };
    let (mut words, mut names, mut isbns, mut chinese) = (vec![], vec![], vec![], vec![]);
    for r in &sample {
        if let Some(w) = longest_word(&r.title) {
            words.push(w);
        }
        if let Some(a) = r.author.as_deref().and_then(|a| a.split(',').next()) {
            names.push(a.trim().to_owned());
        }
        if let Some(i) = &r.isbn {
            isbns.push(i.clone());
        }
        if let Some(v) = &r.title_vernacular {
            let run: String = v
                .chars()
                .filter(|c| catalog::text::is_cjk(*c))
                .take(4)
                .collect();
            if run.chars().count() >= 2 {
                chinese.push(run);
            }
        }
    }
    let kinds = [&words, &names, &isbns, &chinese];
    let mut i = 0;
    while qs.len() < queries && kinds.iter().any(|k| !k.is_empty()) {
        for k in kinds {
            if let Some(q) = k.get(i % k.len().max(1)).filter(|_| qs.len() < queries) {
                qs.push(q.clone());
            }
        }
        i += 1;
    }
    let mut times: Vec<f64> = Vec::with_capacity(qs.len());
    let mut found = 0usize;
    let started = Instant::now();
    for q in &qs {
        let t = Instant::now();
        let page = index.search(q, 1, 20)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        found += usize::from(page.total > 0);
    }
    let total = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        times
            .get(((times.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "  search: {} queries ({} title words, {} names, {} ISBNs, {} Chinese), {found} with hits",
        qs.len(),
        words.len().min(qs.len() / 4 + 1),
        names.len().min(qs.len() / 4 + 1),
        isbns.len().min(qs.len() / 4 + 1),
        chinese.len().min(qs.len() / 4 + 1),
    );
    println!(
        "  search latency: p50 {:.2} ms, p99 {:.2} ms, {:.0} queries/s (one thread, with facets)",
        pct(0.5),
        pct(0.99),
        qs.len() as f64 / total
    );
    println!("  (p99 target <= 10 ms)");
    Ok(())
}
