//! `librelay import marc`, `librelay import holdings` and `librelay reindex`: progress on standard error as one line that
//! rewrites itself, rejections one per line as they happen, the summary on standard output.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use catalog::{CatalogIndex, ImportObserver, ImportOptions, ImportSummary, Rejection};

/// Prints to standard error. On a terminal the progress line rewrites itself; otherwise (a log
/// file) a line every few seconds.
struct Printer {
    tty: bool,
    last_line: std::time::Instant,
    line_open: bool,
}

impl Printer {
    fn new() -> Self {
        Printer {
            tty: std::io::stderr().is_terminal(),
            last_line: std::time::Instant::now(),
            line_open: false,
        }
    }

    fn end_line(&mut self) {
        if self.line_open {
            eprintln!();
            self.line_open = false;
        }
    }
}

impl ImportObserver for Printer {
    fn rejected(&mut self, r: &Rejection) {
        self.end_line();
        eprintln!("rejected {r}");
    }

    fn progress(&mut self, s: &ImportSummary) {
        let line = format!(
            "{} read, {} stored, {} updated, {} rejected, {:.0} records/s",
            s.read,
            s.stored,
            s.updated,
            s.rejected,
            s.per_second()
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
            self.line_open = true;
        } else if self.last_line.elapsed().as_secs() >= 5 {
            let _ = writeln!(err, "{line}");
            self.last_line = std::time::Instant::now();
        }
    }
}

/// Records per store transaction of `librelay import marc` (and of `librelay bench catalog`,
/// which measures the command). Each commit writes every page the batch changed, and the
/// catalog's indexes on keys and titles take new entries all over: in bigger batches a page
/// takes more entries per write. On the 250,000 LoC records (`librelay bench catalog`, one
/// build with only this changed), 20,000 a batch imported in 9.2-9.9 s against 10.4-11.2 s
/// with 8,000 (8,000 had cost a tenth less CPU than 2,000 on 50,000 records). Memory stays
/// bounded by the batch size: with a few batches in flight, the writer's page cache and the
/// index's buffers, the whole process peaked at 0.63-0.67 GB on a first import of that file
/// and 0.88-0.91 GB on importing it again (a first import took 0.95 GB with the writer's page
/// cache at 256 MB and the index's buffers at 128 MB, as they were before); `--batch` lowers
/// it. The first batches are smaller (see `catalog::import_files`).
pub const MARC_BATCH: usize = 20000;

pub async fn marc(
    st: &store::Store,
    data_dir: &Path,
    files: &[PathBuf],
    library: &str,
    batch: usize,
    dialect: Option<marc::Dialect>,
) -> anyhow::Result<()> {
    let code = library.trim().to_uppercase();
    st.library(&code).await.with_context(|| {
        format!("library {code:?}: no such library on this node (librelay library add)")
    })?;
    let index = CatalogIndex::open(&catalog::index_dir(data_dir))?;
    let mut options = ImportOptions::new(&code);
    options.batch_size = batch;
    options.dialect = dialect;
    let mut printer = Printer::new();
    let summary = catalog::import_files(st, Some(&index), files, &options, &mut printer).await;
    printer.end_line();
    let s = summary?;
    println!(
        "{} read, {} stored, {} updated, {} rejected in {:.1} s ({:.0} records/s)",
        s.read,
        s.stored,
        s.updated,
        s.rejected,
        s.seconds,
        s.per_second()
    );
    Ok(())
}

pub async fn holdings(
    st: &store::Store,
    data_dir: &Path,
    file: &Path,
    library: &str,
) -> anyhow::Result<()> {
    let code = library.trim().to_uppercase();
    st.library(&code).await.with_context(|| {
        format!("library {code:?}: no such library on this node (librelay library add)")
    })?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading {} (UTF-8 text)", file.display()))?;
    let index = CatalogIndex::open(&catalog::index_dir(data_dir))?;
    match catalog::holdings::import_holdings(st, Some(&index), &code, &text).await? {
        Ok(s) => {
            for e in &s.errors {
                eprintln!(
                    "{}: {} ({}): {} | {}",
                    file.display(),
                    e.field,
                    e.code,
                    e.message,
                    e.message_zh
                );
            }
            println!(
                "holdings: {} rows read, {} holdings stored, {} new records, {} rows rejected",
                s.read, s.holdings, s.new_records, s.rejected
            );
            Ok(())
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {} | {}", file.display(), e.message, e.message_zh);
            }
            anyhow::bail!("{} was not imported", file.display())
        }
    }
}

pub async fn kbart(
    st: &store::Store,
    file: &Path,
    library: &str,
    package: Option<&str>,
) -> anyhow::Result<()> {
    let code = library.trim().to_uppercase();
    st.library(&code).await.with_context(|| {
        format!("library {code:?}: no such library on this node (librelay library add)")
    })?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading {} (UTF-8 text)", file.display()))?;
    let package = match package {
        Some(p) => p.to_owned(),
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let now = time::OffsetDateTime::now_utc();
    match server::licences::import_kbart(st, &code, &package, &text, None, now).await {
        Ok(s) => {
            for e in &s.errors {
                eprintln!(
                    "{}: {} ({}) | {}",
                    file.display(),
                    e.message,
                    e.code,
                    e.message_zh
                );
            }
            println!(
                "kbart: package {:?} of {}: {} lines read, {} titles stored ({} replaced), {} lines rejected",
                s.package, s.library, s.read, s.titles, s.replaced, s.rejected
            );
            Ok(())
        }
        Err(server::licences::KbartRefused::Invalid(errors)) => {
            for e in &errors {
                eprintln!("{}: {} | {}", file.display(), e.message, e.message_zh);
            }
            anyhow::bail!("{} was not imported", file.display())
        }
        Err(server::licences::KbartRefused::Store(e)) => {
            Err(e).with_context(|| format!("storing {}", file.display()))
        }
    }
}

pub async fn reindex(st: &store::Store, data_dir: &Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let index = CatalogIndex::open(&catalog::index_dir(data_dir))?;
    let tty = std::io::stderr().is_terminal();
    let n = index
        .rebuild(st, |done| {
            if tty {
                eprint!("\r\x1b[2K{done} records indexed");
            }
        })
        .await?;
    if tty {
        eprintln!();
    }
    println!(
        "{n} union records indexed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
