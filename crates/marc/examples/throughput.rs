//! Reads a MARC file (ISO 2709 or MARCXML, told by its first bytes) twice: once only parsing,
//! once parsing and mapping every record to a `BibRecord`. Prints records per second for each,
//! the ratio, and the refused records by reason. A measurement to print, not a test: run it in
//! release mode on the file you care about.
//!
//!     cargo run --release -p marc --example throughput -- FILE.mrc

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use marc::{BibRecord, Format, Records};

struct Pass {
    seconds: f64,
    ok: u64,
    titled: u64,
    vernacular: u64,
    errors: BTreeMap<&'static str, (u64, String)>,
}

impl Pass {
    fn total(&self) -> u64 {
        self.ok + self.errors.values().map(|(n, _)| n).sum::<u64>()
    }

    fn per_second(&self) -> f64 {
        self.total() as f64 / self.seconds
    }
}

fn pass(path: &str, map: bool) -> std::io::Result<(Format, Pass)> {
    let started = Instant::now();
    let records = Records::detect(BufReader::with_capacity(256 * 1024, File::open(path)?))?;
    let format = records.format();
    let mut p = Pass {
        seconds: 0.0,
        ok: 0,
        titled: 0,
        vernacular: 0,
        errors: BTreeMap::new(),
    };
    for record in records {
        match record {
            Ok(record) => {
                p.ok += 1;
                if map {
                    let bib = BibRecord::from_record(&record);
                    p.titled += u64::from(bib.title.is_some());
                    p.vernacular += u64::from(bib.title_vernacular.is_some());
                }
            }
            Err(e) => {
                p.errors
                    .entry(e.reason.code())
                    .or_insert((0, e.to_string()))
                    .0 += 1;
            }
        }
    }
    p.seconds = started.elapsed().as_secs_f64();
    Ok((format, p))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: throughput FILE");
        std::process::exit(2);
    };
    let megabytes = std::fs::metadata(&path)?.len() as f64 / 1e6;
    let (format, parse) = pass(&path, false)?;
    let (_, both) = pass(&path, true)?;
    println!("{path} ({format:?}, {megabytes:.1} MB)");
    println!(
        "parse only:      {:>8.0} records/s ({:.1} MB/s)",
        parse.per_second(),
        megabytes / parse.seconds
    );
    println!(
        "parse + map:     {:>8.0} records/s ({:.1} MB/s); mapping costs {:.0}% of the time",
        both.per_second(),
        megabytes / both.seconds,
        100.0 * (both.seconds - parse.seconds).max(0.0) / both.seconds
    );
    println!(
        "{} records read, {} refused; {} with a title, {} with a vernacular (880) title",
        both.ok,
        both.total() - both.ok,
        both.titled,
        both.vernacular
    );
    for (code, (n, example)) in &both.errors {
        println!("  {n:>7} {code}: e.g. {example}");
    }
    Ok(())
}
