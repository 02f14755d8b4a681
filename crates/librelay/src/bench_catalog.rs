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

/// How many times yaz-marcdump runs: one run's time varied by up to half between runs of one
/// sitting on the 2-core machine, so the baseline is the median of three.
const YAZ_RUNS: usize = 3;

/// The median time of `yaz-marcdump FILE > /dev/null` over `YAZ_RUNS` runs, with every run's
/// time, when yaz is installed.
fn yaz(file: &Path) -> Option<(f64, Vec<f64>)> {
    let mut runs = Vec::with_capacity(YAZ_RUNS);
    for _ in 0..YAZ_RUNS {
        runs.push(yaz_once(file)?);
    }
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    Some((sorted.get(YAZ_RUNS / 2).copied()?, runs))
}

/// One run of `yaz-marcdump FILE > /dev/null`.
fn yaz_once(file: &Path) -> Option<f64> {
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
    let yaz_secs = match yaz(file) {
        Some((median, runs)) => {
            let each: Vec<String> = runs.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "  yaz-marcdump > /dev/null:      {median:>7.2} s  (median of {} s)",
                each.join(", ")
            );
            Some(median)
        }
        None => {
            println!("  yaz-marcdump: not installed (Debian package yaz); no yaz baseline");
            None
        }
    };
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
    // As `librelay import marc` imports, batch size included.
    let mut options = ImportOptions::new("BENCH");
    options.batch_size = crate::import::MARC_BATCH;
    let s = catalog::import_files(&store, Some(&index), &files, &options, &mut quiet).await?;
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

    if let Some(report) = store::sql_profile_report() {
        println!("{report}");
    }

    // Queries drawn from every union record (a reservoir per kind, so the sample spreads over
    // the whole file), a quarter of each kind; the FTS5 table is filled in the same pass.
    let fts_path = dir.path().join("fts5.sqlite");
    let started = Instant::now();
    let (fts, qs, kinds) = build_fts_and_sample(&store, &fts_path, queries).await?;
    let fts_build = started.elapsed().as_secs_f64();
    println!(
        "  FTS5 table built in {fts_build:.1} s: columns title, author, subject, publisher, year, language, isbn, issn"
    );
    println!(
        "    FTS5 tokenizer: unicode61 over the catalog analyzer's own terms (traditional folded to simplified; jieba words, CJK bigrams and single characters; lower-cased, accents folded), so both engines match the same terms; ranked by bm25 with the index's field weights"
    );
    println!(
        "  search: {} queries ({} title words, {} names, {} ISBNs, {} Chinese), drawn from all {} union records",
        qs.len(),
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        kinds[4],
    );

    // The tantivy index as the API searches it: count, top 20 and three facets.
    let mut times: Vec<f64> = Vec::with_capacity(qs.len());
    let mut found = 0usize;
    let started = Instant::now();
    for q in &qs {
        let t = Instant::now();
        let page = index.search(q, 1, 20)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        found += usize::from(page.total > 0);
    }
    let tantivy = Latency::of(times, started.elapsed().as_secs_f64());
    println!(
        "  tantivy (count, top 20 with display, facets library/language/year): p50 {:.2} ms, p99 {:.2} ms, {:.0} queries/s, {found} with hits",
        tantivy.p50, tantivy.p99, tantivy.qps
    );

    // The same without facets: like for like with FTS5 below, which counts none.
    let mut times: Vec<f64> = Vec::with_capacity(qs.len());
    let started = Instant::now();
    for q in &qs {
        let t = Instant::now();
        let page = index.search_without_facets(q, 1, 20)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(page);
    }
    let bare = Latency::of(times, started.elapsed().as_secs_f64());
    println!(
        "  tantivy (count, top 20 with display, no facets):                     p50 {:.2} ms, p99 {:.2} ms, {:.0} queries/s ({} segments)",
        bare.p50,
        bare.p99,
        bare.qps,
        index.segments()
    );

    // SQLite FTS5 over the same fields and terms: count and top 20 with display.
    let mut times: Vec<f64> = Vec::with_capacity(qs.len());
    let mut found = 0usize;
    let started = Instant::now();
    for q in &qs {
        let t = Instant::now();
        let total = fts.search(q)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        found += usize::from(total > 0);
    }
    let sqlite = Latency::of(times, started.elapsed().as_secs_f64());
    println!(
        "  SQLite FTS5 (count, top 20 by bm25 with display, no facets):        p50 {:.2} ms, p99 {:.2} ms, {:.0} queries/s, {found} with hits",
        sqlite.p50, sqlite.p99, sqlite.qps
    );
    println!(
        "  tantivy : FTS5 throughput = {:.2}x with facets on tantivy's side only, {:.2}x both without facets (target >= 1); p99 target <= 10 ms",
        tantivy.qps / sqlite.qps.max(1e-9),
        bare.qps / sqlite.qps.max(1e-9)
    );
    drop(fts);
    Ok(())
}

/// Latency figures of one engine over the query set.
struct Latency {
    p50: f64,
    p99: f64,
    qps: f64,
}

impl Latency {
    fn of(mut millis: Vec<f64>, total_seconds: f64) -> Latency {
        millis.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            millis
                .get(((millis.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        Latency {
            p50: pct(0.5),
            p99: pct(0.99),
            qps: millis.len() as f64 / total_seconds.max(1e-9),
        }
    }
}

/// A fixed-size uniform sample of a stream (Algorithm R), with its own small deterministic
/// generator so runs draw the same queries.
struct Reservoir {
    cap: usize,
    seen: u64,
    items: Vec<String>,
}

impl Reservoir {
    fn new(cap: usize) -> Self {
        Reservoir {
            cap,
            seen: 0,
            items: Vec::with_capacity(cap),
        }
    }

    fn offer(&mut self, rng: &mut u64, item: impl FnOnce() -> Option<String>) {
        let Some(item) = item() else { return };
        self.seen += 1;
        if self.items.len() < self.cap {
            self.items.push(item);
            return;
        }
        // xorshift64
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let j = (*rng % self.seen) as usize;
        if let Some(slot) = self.items.get_mut(j) {
            *slot = item;
        }
    }
}

fn is_han(c: char) -> bool {
    matches!(u32::from(c), 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0x20000..=0x2FA1F)
}

/// The SQLite FTS5 baseline: a table in its own file, read on this thread.
struct Fts {
    conn: rusqlite::Connection,
}

const FTS_TEXT_COLUMNS: &str = "{title author subject publisher year language}";

impl Fts {
    fn create(path: &Path) -> anyhow::Result<Fts> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
             CREATE VIRTUAL TABLE fts USING fts5(
                 title, author, subject, publisher, year, language, isbn, issn, display UNINDEXED,
                 tokenize = 'unicode61 remove_diacritics 0');
             INSERT INTO fts (fts, rank) VALUES ('rank', 'bm25(2.0, 1.5, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.0)');",
        )
        .context("creating the FTS5 table (SQLite built without FTS5?)")?;
        Ok(Fts { conn })
    }

    fn insert_all(&mut self, rows: &[[String; 9]]) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO fts (title, author, subject, publisher, year, language, isbn, issn, display)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for r in rows {
                st.execute(rusqlite::params_from_iter(r.iter()))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn optimize(&self) -> anyhow::Result<()> {
        self.conn
            .execute_batch("INSERT INTO fts (fts) VALUES ('optimize');")?;
        Ok(())
    }

    /// `q` as an FTS5 expression with the index's reading of it: every analyzed term in some
    /// text field, ISBNs and ISSNs in their own column. `None`: nothing to match.
    fn expression(q: &str) -> Option<String> {
        let quote = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
        let mut must = Vec::new();
        let mut ids = Vec::new();
        for part in catalog::query_parts(q) {
            match part {
                catalog::QueryPart::Isbn(i) => ids.push(format!("isbn : {}", quote(&i))),
                catalog::QueryPart::Issn(i) => ids.push(format!("issn : {}", quote(&i))),
                catalog::QueryPart::Must(t) => must.push(quote(&t)),
                // Only ranking in the index; FTS5 has no optional terms inside an AND.
                catalog::QueryPart::Should(_) => {}
            }
        }
        if !must.is_empty() {
            ids.push(format!("{FTS_TEXT_COLUMNS} : ({})", must.join(" AND ")));
        }
        (!ids.is_empty()).then(|| ids.join(" AND "))
    }

    /// Count the matches and read the best 20 (with what a hit shows); returns the count.
    fn search(&self, q: &str) -> anyhow::Result<i64> {
        let Some(expr) = Fts::expression(q) else {
            return Ok(0);
        };
        let total: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM fts WHERE fts MATCH ?1")?
            .query_row([&expr], |r| r.get(0))?;
        let mut st = self
            .conn
            .prepare_cached("SELECT display FROM fts WHERE fts MATCH ?1 ORDER BY rank LIMIT 20")?;
        let mut rows = st.query([&expr])?;
        while let Some(row) = rows.next()? {
            let display: String = row.get(0)?;
            std::hint::black_box(serde_json::from_str::<catalog::Display>(&display).ok());
        }
        Ok(total)
    }
}

/// Fill the FTS5 table from every union record of `store` and draw the queries. Returns the
/// table, the queries, and the counts of each kind and of union records.
async fn build_fts_and_sample(
    store: &store::Store,
    path: &Path,
    queries: usize,
) -> anyhow::Result<(Fts, Vec<String>, [usize; 5])> {
    let mut fts = Fts::create(path)?;
    let per_kind = queries / 4 + 1;
    let mut kinds: [Reservoir; 4] = std::array::from_fn(|_| Reservoir::new(per_kind));
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut after = String::new();
    let mut records = 0usize;
    let joined = |values: &[String]| {
        values
            .iter()
            .flat_map(|v| catalog::text::terms(v))
            .collect::<Vec<_>>()
            .join(" ")
    };
    loop {
        let ids = store.union_record_ids(&after, 2000).await?;
        let Some(last) = ids.last() else { break };
        after = last.clone();
        let unions = store.union_records(&ids).await?;
        let mut rows: Vec<[String; 9]> = Vec::with_capacity(unions.len());
        for u in &unions {
            records += 1;
            let f = catalog::SearchFields::of(u);
            let [words, names, isbns, chinese] = &mut kinds;
            words.offer(&mut rng, || {
                f.titles
                    .first()?
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() > 3 && w.is_ascii())
                    .max_by_key(|w| w.len())
                    .map(str::to_owned)
            });
            names.offer(&mut rng, || {
                let a = f.display.author.as_deref()?.split(',').next()?.trim();
                (!a.is_empty()).then(|| a.to_owned())
            });
            isbns.offer(&mut rng, || f.display.identifiers.isbn.first().cloned());
            chinese.offer(&mut rng, || {
                let v = f.display.title_vernacular.as_deref()?;
                let run: String = v
                    .chars()
                    .skip_while(|c| !is_han(*c))
                    .take_while(|c| is_han(*c))
                    .take(4)
                    .collect();
                (run.chars().count() >= 2).then_some(run)
            });
            rows.push([
                joined(&f.titles),
                joined(&f.authors),
                joined(&f.subjects),
                joined(&f.publishers),
                f.years.join(" "),
                f.languages.join(" "),
                f.display.identifiers.isbn.join(" "),
                f.display.identifiers.issn.join(" "),
                serde_json::to_string(&f.display)?,
            ]);
        }
        fts.insert_all(&rows)?;
    }
    fts.optimize()?;
    let mut qs: Vec<String> = Vec::with_capacity(queries);
    let mut counts = [0, 0, 0, 0, records];
    let mut i = 0;
    while qs.len() < queries && kinds.iter().any(|k| i < k.items.len()) {
        for (kind, k) in kinds.iter().enumerate() {
            if let Some(q) = k.items.get(i).filter(|_| qs.len() < queries) {
                qs.push(q.clone());
                counts[kind] += 1;
            }
        }
        i += 1;
    }
    Ok((fts, qs, counts))
}
