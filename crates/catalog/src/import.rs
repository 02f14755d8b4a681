//! `librelay import marc`: stream MARC files into the store and the search index. Three things
//! overlap: a reader thread parses and maps records, the store writes a batch (on SQLite the
//! next one is already queued at the writer), and the index takes the batch stored before it.
//! New union records (nearly all of a first import) are indexed from the records in hand; only
//! those that existed before are read back. Memory stays bounded by the batch size whatever
//! the file size.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{CatalogRecord, ImportRecord, Imported, Store, StoreError, Stored};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::CatalogError;
use crate::bib::{self, Bib};
use crate::index::{CatalogIndex, NewUnion};

/// One record that did not go into the catalog, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub file: PathBuf,
    /// 1-based position in its file, counting broken records.
    pub record_no: u64,
    /// Byte offset of the record in its file (of its `<record` tag for MARCXML).
    pub byte_offset: u64,
    pub control_number: Option<String>,
    /// Stable snake_case code ("invalid_utf8", "no_title").
    pub code: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: record {} at byte {}",
            self.file.display(),
            self.record_no,
            self.byte_offset
        )?;
        if let Some(cn) = &self.control_number {
            write!(f, " (001 {cn})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Counts so far (and at the end).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImportSummary {
    /// Records read, good or bad.
    pub read: u64,
    /// New records stored.
    pub stored: u64,
    /// Records that replaced this library's earlier copy.
    pub updated: u64,
    pub rejected: u64,
    pub seconds: f64,
}

impl ImportSummary {
    pub fn per_second(&self) -> f64 {
        self.read as f64 / self.seconds.max(1e-9)
    }
}

/// Told what happens while an import runs (the CLI prints; tests collect).
pub trait ImportObserver: Send {
    fn rejected(&mut self, rejection: &Rejection);
    /// After each stored batch.
    fn progress(&mut self, so_far: &ImportSummary) {
        let _ = so_far;
    }
}

/// Collects rejections in memory: for tests and small files.
#[derive(Debug, Default)]
pub struct CollectRejections(pub Vec<Rejection>);

impl ImportObserver for CollectRejections {
    fn rejected(&mut self, rejection: &Rejection) {
        self.0.push(rejection.clone());
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The library the records and holdings belong to (its code, as stored).
    pub library_id: String,
    /// Records per store transaction.
    pub batch_size: usize,
    /// The records' format when the source is known (`--format cnmarc`); `None`: told by each
    /// record's fields.
    pub dialect: Option<marc::Dialect>,
}

impl ImportOptions {
    pub fn new(library_id: &str) -> Self {
        ImportOptions {
            library_id: library_id.to_owned(),
            batch_size: 2000,
            dialect: None,
        }
    }
}

/// How often a long import commits the index: each commit costs a flush of the writer's
/// buffers, so not too often.
const COMMIT_EVERY: Duration = Duration::from_secs(30);

enum Item {
    /// A record ready to store, with its mapped fields for the index.
    Ok(Box<(ImportRecord, Bib)>),
    Rejected(Rejection),
}

/// Import `files` in order for one library: store every record that can be read, index the
/// union records it touched, and report every one that cannot. Stops only when a file cannot
/// be opened or the store or index fails, never on a bad record.
pub async fn import_files(
    store: &Store,
    index: Option<&CatalogIndex>,
    files: &[PathBuf],
    options: &ImportOptions,
    observer: &mut dyn ImportObserver,
) -> Result<ImportSummary, CatalogError> {
    let started = Instant::now();
    let mut summary = ImportSummary::default();
    for file in files {
        import_file(store, index, file, options, observer, &mut summary, started).await?;
    }
    if let Some(index) = index {
        index.finish_writing()?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    observer.progress(&summary);
    Ok(summary)
}

async fn import_file(
    store: &Store,
    index: Option<&CatalogIndex>,
    path: &Path,
    options: &ImportOptions,
    observer: &mut dyn ImportObserver,
    summary: &mut ImportSummary,
    started: Instant,
) -> Result<(), CatalogError> {
    let file = File::open(path).map_err(|e| CatalogError::Open {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    let batch_size = options.batch_size.max(1);
    // Two batches in flight: one being parsed, one being written.
    let (tx, mut rx) = mpsc::channel::<Vec<Item>>(2);
    let owned_path = path.to_owned();
    let dialect = options.dialect;
    let reader = std::thread::spawn(move || -> Result<(), String> {
        let input = BufReader::with_capacity(256 * 1024, file);
        let mut records = marc::Records::detect(input).map_err(|e| e.to_string())?;
        // The first batches are small and double up to `batch_size`: the store's writer starts
        // on the first records at once, and the index on the first ones stored, rather than
        // both waiting for a whole batch to be parsed and then written.
        let mut size = (batch_size / 16).max(1);
        let mut batch = Vec::with_capacity(size);
        while let Some(record) = records.next() {
            let item = match record {
                Ok(record) => match bib::prepare_with_bib(&record, dialect) {
                    Ok(r) => Item::Ok(Box::new(r)),
                    Err(unusable) => Item::Rejected(Rejection {
                        file: owned_path.clone(),
                        record_no: records.position().0,
                        byte_offset: records.position().1,
                        control_number: record.control_number().map(|c| c.trim().to_owned()),
                        code: unusable.code(),
                        reason: unusable.to_string(),
                    }),
                },
                Err(e) => Item::Rejected(Rejection {
                    file: owned_path.clone(),
                    record_no: e.record_no,
                    byte_offset: e.byte_offset,
                    control_number: e.control_number.clone(),
                    code: e.reason.code(),
                    reason: e.reason.to_string(),
                }),
            };
            batch.push(item);
            if batch.len() >= size {
                size = (size * 2).min(batch_size);
                let full = std::mem::replace(&mut batch, Vec::with_capacity(size));
                if tx.blocking_send(full).is_err() {
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        Ok(())
    });
    let mut last_progress = Instant::now();
    let mut last_commit = Instant::now();
    let mut analyzed_at = 0u64;
    let mut result = Ok(());
    // With one writer (SQLite), batches are written in the order they are handed over, so the
    // next batch is queued at the writer before the last one is indexed: the writer works on
    // it meanwhile, and while the last one's commit reaches the disk. On PostgreSQL each write
    // takes a connection of its own and two could interleave, so a batch is stored only once
    // the one before it is (its look-ups must see that one's rows), while that one is indexed.
    let in_order = store.writes_in_order();
    let mut last: Option<InFlight<'_>> = None;
    while let Some(batch) = rx.recv().await {
        let mut next = InFlight::submit(store, options, batch, observer, summary);
        let previous = last.take();
        let step = if in_order {
            if let Some(n) = next.as_mut() {
                n.enqueue().await;
            }
            match previous {
                Some(p) => p.index(store, index, options, summary).await,
                None => Ok(()),
            }
        } else {
            let ((), indexed) = tokio::join!(
                async {
                    if let Some(n) = next.as_mut() {
                        n.wait().await;
                    }
                },
                async {
                    // Let the store's write start first.
                    tokio::task::yield_now().await;
                    match previous {
                        Some(p) => p.index(store, index, options, summary).await,
                        None => Ok(()),
                    }
                }
            );
            indexed
        };
        if let Err(e) = step {
            result = Err(e);
            break;
        }
        if next.is_some() {
            last = next;
        }
        let written = summary.stored + summary.updated;
        if written >= analyzed_at.saturating_mul(2).max(2000) {
            // Each time the catalog doubles: a handful of times per import.
            if let Err(e) = store.analyze_catalog().await {
                result = Err(e.into());
                break;
            }
            analyzed_at = written;
        }
        if let Some(index) = index
            && last_commit.elapsed() >= COMMIT_EVERY
        {
            // Searches (a server on the same data directory) see a long import as it goes.
            if let Err(e) = index.commit() {
                result = Err(e);
                break;
            }
            last_commit = Instant::now();
        }
        if last_progress.elapsed() >= Duration::from_millis(200) {
            summary.seconds = started.elapsed().as_secs_f64();
            observer.progress(summary);
            last_progress = Instant::now();
        }
    }
    if result.is_ok()
        && let Some(l) = last.take()
    {
        result = l.index(store, index, options, summary).await;
    }
    drop(rx);
    match reader.join() {
        Ok(Ok(())) => {}
        Ok(Err(detail)) => {
            return Err(CatalogError::Open {
                path: path.to_owned(),
                detail,
            });
        }
        Err(_) => {
            return Err(CatalogError::Open {
                path: path.to_owned(),
                detail: "the reader thread failed".to_owned(),
            });
        }
    }
    result
}

/// What a stored batch leaves for the search index.
struct ToIndex {
    /// Union records merged into others: their documents go.
    remove: Vec<String>,
    /// Union records made wholly of this batch's new records, built from them.
    built: Vec<NewUnion>,
    /// Other union records the batch touched, read back from the store.
    read: Vec<String>,
}

impl ToIndex {
    /// From a batch's records and what the store did with them. The records are taken, not
    /// borrowed: a new union record's fields move into its document.
    fn of(
        library_id: &str,
        records: Vec<ImportRecord>,
        bibs: Vec<Bib>,
        imported: Imported,
    ) -> ToIndex {
        type Fast = foldhash::fast::RandomState;
        let created: HashSet<&str, Fast> = imported.created.iter().map(String::as_str).collect();
        // Sized for the batch at once: grown step by step, the map was rehashed a dozen times
        // per batch, into fresh memory each time (7 % of the importing thread's samples).
        let mut built: HashMap<&str, NewUnion, Fast> =
            HashMap::with_capacity_and_hasher(created.len(), Fast::default());
        let mut read: Vec<String> = Vec::new();
        for ((r, bib), o) in records.into_iter().zip(bibs).zip(&imported.stored) {
            let id = o.record_id();
            if !created.contains(id) {
                read.push(id.to_owned());
                continue;
            }
            let holds = !r.holdings.is_empty();
            let u = built.entry(id).or_insert_with(|| {
                let n = r.record;
                NewUnion {
                    record: CatalogRecord {
                        record_id: id.to_owned(),
                        title: n.title,
                        author: n.author,
                        publisher: n.publisher,
                        year: n.year,
                        isbn: n.isbn,
                        issn: n.issn,
                        oclc_number: n.oclc_number,
                        lccn: n.lccn,
                        language: n.language,
                        title_vernacular: n.title_vernacular,
                        author_vernacular: n.author_vernacular,
                    },
                    members: Vec::new(),
                    libraries: Vec::new(),
                }
            });
            u.members.push(bib);
            if holds && u.libraries.is_empty() {
                u.libraries.push(library_id.to_owned());
            }
        }
        read.sort_unstable();
        read.dedup();
        ToIndex {
            remove: imported.merged,
            built: built.into_values().collect(),
            read,
        }
    }

    async fn run(self, store: &Store, index: &CatalogIndex) -> Result<(), CatalogError> {
        index.remove(&self.remove)?;
        index.add_new_unions(&self.built)?;
        if !self.read.is_empty() {
            let unions = store.union_records(&self.read).await?;
            index.upsert(&unions)?;
        }
        Ok(())
    }
}

/// A batch handed to the store and not yet indexed.
struct InFlight<'s> {
    writing: std::pin::Pin<Box<dyn Future<Output = Result<Imported, StoreError>> + Send + 's>>,
    /// The store's answer, once it came.
    stored: Option<Result<Imported, StoreError>>,
    records: Arc<Vec<ImportRecord>>,
    bibs: Vec<Bib>,
}

impl<'s> InFlight<'s> {
    /// Count the batch's records and report its rejections; the write of the rest, not yet
    /// started (`None` when nothing in the batch can be stored).
    fn submit(
        store: &'s Store,
        options: &ImportOptions,
        batch: Vec<Item>,
        observer: &mut dyn ImportObserver,
        summary: &mut ImportSummary,
    ) -> Option<Self> {
        let mut records = Vec::with_capacity(batch.len());
        let mut bibs = Vec::with_capacity(batch.len());
        for item in batch {
            summary.read += 1;
            match item {
                Item::Ok(r) => {
                    let (r, bib) = *r;
                    records.push(r);
                    bibs.push(bib);
                }
                Item::Rejected(r) => {
                    summary.rejected += 1;
                    observer.rejected(&r);
                }
            }
        }
        if records.is_empty() {
            return None;
        }
        let library_id = options.library_id.clone();
        let now = OffsetDateTime::now_utc();
        let records = Arc::new(records);
        let writing = Arc::clone(&records);
        Some(InFlight {
            writing: Box::pin(store.write(move |tx| {
                Box::pin(async move { tx.import_catalog_records(&library_id, &writing, now).await })
            })),
            stored: None,
            records,
            bibs,
        })
    }

    /// Start the write: polled once, it is queued at the store's writer (or done already).
    async fn enqueue(&mut self) {
        if self.stored.is_none() {
            tokio::select! {
                biased;
                out = &mut self.writing => self.stored = Some(out),
                () = std::future::ready(()) => {}
            }
        }
    }

    /// Wait until the store has answered.
    async fn wait(&mut self) {
        if self.stored.is_none() {
            self.stored = Some((&mut self.writing).await);
        }
    }

    /// Once stored: count what was stored and updated, and index it.
    async fn index(
        self,
        store: &Store,
        index: Option<&CatalogIndex>,
        options: &ImportOptions,
        summary: &mut ImportSummary,
    ) -> Result<(), CatalogError> {
        let InFlight {
            writing,
            stored,
            records,
            bibs,
        } = self;
        let imported = match stored {
            Some(out) => out,
            None => writing.await,
        }
        .map_err(CatalogError::Store)?;
        for o in &imported.stored {
            match o {
                Stored::Inserted { .. } => summary.stored += 1,
                Stored::Updated { .. } => summary.updated += 1,
            }
        }
        match index {
            Some(index) => {
                // The store's writer drops its copy before it answers, so this takes the
                // records without copying them (were it still held, they would be copied).
                let records = Arc::unwrap_or_clone(records);
                ToIndex::of(&options.library_id, records, bibs, imported)
                    .run(store, index)
                    .await
            }
            None => Ok(()),
        }
    }
}
