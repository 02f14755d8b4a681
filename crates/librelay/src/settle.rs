//! `librelay settle`: close a month's fees and write every library's statement; and
//! `librelay bench settle`: netting a month of generated fee transactions against a plain
//! `SUM … GROUP BY` over the same rows.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use domain::fees::{Month, SettlementMode};
use domain::money::{Currency, Money};
use server::settle::{Settlement, close_month, closed, statement};
use store::{FeeLoad, LibraryRow, NewFee, Store, StoreConfig};
use time::OffsetDateTime;

fn money(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(c) => Money::new(minor, c).to_decimal_string(),
        Err(_) => minor.to_string(),
    }
}

fn print(s: &Settlement) {
    println!(
        "{} closed ({} mode) at {} by {}: {} charges, {} corrections",
        s.month,
        s.mode,
        s.closed_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        s.closed_by,
        s.charges,
        s.corrections
    );
    println!(
        "{:<8} {:<14} {:<4} {:>14} {:>14} {:>14}",
        "library", "counterparty", "cur", "receivable", "payable", "net"
    );
    for p in &s.positions {
        println!(
            "{:<8} {:<14} {:<4} {:>14} {:>14} {:>14}",
            p.library,
            p.counterparty.as_deref().unwrap_or("(hub)"),
            p.currency,
            money(p.receivable, &p.currency),
            money(p.payable, &p.currency),
            money(p.net, &p.currency)
        );
    }
    for (cur, sum) in &s.balance {
        println!("sum of nets in {cur}: {}", money(*sum, cur));
    }
}

/// Close `month` (or give back the closed one) and, with `out`, write each library's
/// statement there as CSV, XLSX and PDF.
pub async fn settle(
    store: &Store,
    month: &str,
    mode: &str,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let m = Month::parse(month)
        .with_context(|| format!("--month {month:?}: write a month such as 2026-11"))?;
    let mode = SettlementMode::parse(mode)
        .with_context(|| format!("--mode {mode:?}: bilateral or hub"))?;
    let s = close_month(store, m, mode, "command line", OffsetDateTime::now_utc())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    print(&s);
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut written = 0;
        for lib in store.libraries().await? {
            let st = statement(store, m, &lib.library_id)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if st.positions.is_empty() && st.fees.is_empty() {
                continue;
            }
            let base = dir.join(format!("statement-{}-{m}", lib.library_id));
            std::fs::write(base.with_extension("csv"), st.to_csv())
                .with_context(|| format!("writing {}.csv", base.display()))?;
            let xlsx = st.to_xlsx().map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::write(base.with_extension("xlsx"), xlsx)
                .with_context(|| format!("writing {}.xlsx", base.display()))?;
            std::fs::write(base.with_extension("pdf"), st.to_pdf())
                .with_context(|| format!("writing {}.pdf", base.display()))?;
            written += 1;
        }
        println!(
            "statements of {written} libraries (CSV, XLSX and PDF) in {}",
            dir.display()
        );
    }
    Ok(())
}

/// Generate `n` fee transactions among `libraries` libraries in one month (and a tenth as many
/// in the month before, so the month filter has work to do) in a fresh store (SQLite, or the
/// empty PostgreSQL database `database`), then time closing the month (bilateral netting,
/// positions stored) against the plain SQL sum.
pub async fn bench(n: usize, libraries: usize, database: Option<String>) -> anyhow::Result<()> {
    let libraries = libraries.clamp(2, 1000);
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        url: database
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display())),
        sqlite_synchronous_full: false,
        max_connections: 4,
    };
    let store = Store::open(&config).await?;
    anyhow::ensure!(
        store.libraries().await?.is_empty(),
        "the bench store was not empty: give a fresh database"
    );
    let engine = store.engine();
    let now = OffsetDateTime::now_utc();
    let codes: Vec<String> = (0..libraries).map(|i| format!("L{i:04}")).collect();
    let rows = codes.clone();
    store
        .write(move |tx| {
            Box::pin(async move {
                for (i, c) in rows.iter().enumerate() {
                    tx.insert_library(&LibraryRow {
                        library_id: c.clone(),
                        agency_type: "ISIL".to_owned(),
                        agency_value: format!("XX-BENCH{i}"),
                        name_en: format!("Bench library {i}"),
                        name_zh: format!("测试馆 {i}"),
                        kind: "university".to_owned(),
                        region: String::new(),
                        address: String::new(),
                        hub_id: None,
                        closed_days: store::Json(Default::default()),
                        created_at: now,
                        latitude_e6: None,
                        longitude_e6: None,
                        utc_offset_minutes: domain::library::LibraryOffset::CHINA.minutes(),
                    })
                    .await?;
                }
                Ok::<_, store::StoreError>(())
            })
        })
        .await?;
    let month = Month::parse("2026-10").context("bench month")?;
    let before = Month::parse("2026-09").context("bench month")?;
    let total = n + n / 10;
    eprintln!("generating {total} fee transactions among {libraries} libraries ({engine})…");
    let start = Instant::now();
    // Loaded without the secondary indexes, which are built once afterwards: the same
    // indexes as the migrations', so what is timed below reads the same store.
    let indexes = store.drop_fee_indexes().await?;
    let mut seed: u64 = 42;
    let mut rnd = move |k: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % k
    };
    const CHUNK: usize = 200_000;
    let mut i = 0;
    while i < total {
        let end = (i + CHUNK).min(total);
        let mut batch = Vec::with_capacity(end - i);
        for k in i..end {
            let l = rnd(libraries as u64) as usize;
            let mut b = rnd(libraries as u64 - 1) as usize;
            if b >= l {
                b += 1;
            }
            let m = if k < n { month } else { before };
            batch.push(FeeLoad {
                fee: NewFee {
                    lender_id: codes[l].clone(),
                    borrower_id: codes[b].clone(),
                    lend_request_id: format!("l{k}"),
                    borrow_request_id: format!("b{k}"),
                    service: if k % 3 == 0 { "copy" } else { "loan" }.to_owned(),
                    amount_minor: 100 + rnd(5000) as i64,
                    currency: "CNY".to_owned(),
                    basis: "bench".to_owned(),
                    occurred_at: now,
                },
                month: m.to_string(),
                kind: "charge",
            });
        }
        store
            .write(move |tx| Box::pin(async move { tx.load_fees(&batch).await }))
            .await?;
        i = end;
    }
    let loaded = start.elapsed().as_secs_f64();
    let t = Instant::now();
    store.create_indexes(indexes).await?;
    store.analyze_fees().await?;
    eprintln!(
        "generated in {:.1} s ({loaded:.1} s loading, {:.1} s building the indexes)",
        start.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    let m = month.to_string();
    // Warm the page cache once so that neither measurement pays for the first read.
    store.bench_plain_fee_sum(&m).await?;
    let t = Instant::now();
    let groups = store.bench_plain_fee_sum(&m).await?;
    let plain = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let s = close_month(
        &store,
        month,
        SettlementMode::Bilateral,
        "bench",
        OffsetDateTime::now_utc(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let netting = t.elapsed().as_secs_f64();
    // Closing answers with the month as stored: this is the reading back alone.
    let t = Instant::now();
    let again = closed(&store, month)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let read_back = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        again.positions == s.positions,
        "the month read back differs"
    );
    let balanced = s.balance.values().all(|v| *v == 0);
    println!("librelay bench settle ({engine})");
    println!(
        "fee transactions in the month:   {n} (+{} in the month before)",
        n / 10
    );
    println!("plain SQL SUM … GROUP BY:        {plain:.3} s ({groups} lender/borrower groups)");
    println!(
        "close the month (bilateral):     {netting:.3} s ({} positions stored, sums balance: {balanced})",
        s.positions.len()
    );
    println!(
        "  of which reading it back:      {read_back:.3} s (the stored month, as closing answers)"
    );
    println!(
        "ratio netting / plain SQL:       {:.2}",
        netting / plain.max(1e-9)
    );
    Ok(())
}
