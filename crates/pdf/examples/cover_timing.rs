//! How long putting a cover in front of a PDF takes: reading its structure once
//! (`stamp::plan`) and writing one view's update (`Plan::update`), against simply reading the
//! file. `cargo run --release -p pdf --example cover_timing -- FILE.pdf [ROUNDS [OUT.pdf]]`
//! (OUT.pdf: the file with its cover, to check with a PDF reader).

use std::time::Instant;

use pdf::{A4_PORTRAIT, Page};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: cover_timing FILE.pdf [ROUNDS]")?;
    let rounds: u32 = args.next().map_or(Ok(20), |r| r.parse())?;
    let out = args.next();
    let t = Instant::now();
    let bytes = std::fs::read(&path)?;
    let read = t.elapsed();
    let t = Instant::now();
    let mut plan = None;
    for _ in 0..rounds {
        plan = Some(pdf::stamp::plan(&bytes)?);
    }
    let planning = t.elapsed() / rounds;
    let plan = plan.ok_or("no rounds")?;
    let mut page = Page::new(A4_PORTRAIT);
    page.bold_text(56.0, 780.0, 18.0, "版权声明  Copyright notice");
    page.text(
        56.0,
        750.0,
        10.0,
        "第 2 次打开，共可打开 5 次 / opened 2 of 5 times",
    );
    let t = Instant::now();
    let mut len = 0;
    for _ in 0..rounds {
        len = plan.update(&page).len();
    }
    let update = t.elapsed() / rounds;
    println!(
        "{path}: {} bytes, {} pages, {} cross-reference section",
        bytes.len(),
        plan.page_count(),
        if plan.xref_stream { "stream" } else { "table" }
    );
    println!(
        "read the file:           {:>10.3} ms",
        read.as_secs_f64() * 1e3
    );
    println!(
        "plan (once per file):    {:>10.3} ms",
        planning.as_secs_f64() * 1e3
    );
    println!(
        "update (once per view):  {:>10.3} ms, {len} bytes appended",
        update.as_secs_f64() * 1e3
    );
    if let Some(out) = out {
        let mut stamped = bytes;
        stamped.extend_from_slice(&plan.update(&page));
        std::fs::write(&out, stamped)?;
        println!("written: {out}");
    }
    Ok(())
}
