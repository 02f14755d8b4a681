//! The search index over union records: one tantivy document per union record, holding every
//! member's titles, authors, subjects and identifiers. Derived data: `rebuild` makes it again
//! from the store. It lives in the data directory whatever the store's engine; one process
//! writes it (import, reindex), servers read it and see commits within a second.

use std::path::Path;
use std::sync::Mutex;

use domain::ident::{Isbn, Issn};
use serde::{Deserialize, Serialize};
use store::{CatalogRecord, Store, UnionRecord};
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::fastfield::FacetReader;
use tantivy::indexer::UserOperation;
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Facet, FacetOptions, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{
    DocId, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Score, SegmentOrdinal,
    SegmentReader, TantivyDocument, Term,
};

use crate::CatalogError;
use crate::bib::Bib;
use crate::text::{self, Run};

/// Documents handed to the index writer at a time. Its queue holds 10,000 hand-overs
/// (tantivy's `PIPELINE_MAX_SIZE_IN_DOCS`), so one document at a time let an import's batch
/// (20,000) fill it: the importer waited for the indexing thread to take half the batch
/// before it could hand the store's writer its next one. In groups of 3 the queue holds up to
/// 30,000 documents, a batch and a half: the importer hands a batch over and goes on, and the
/// memory they take stays bounded.
const GROUP: usize = 3;

/// Memory for the index writer's buffers: big enough that a 250k import flushes a few
/// segments, not hundreds; small enough that they are flushed as the import goes. A segment
/// is written out on the indexing thread when the buffers are full, and whatever is in them
/// when the import ends is written after the store is done, with the other core idle. At
/// 128 MB the 250,000 LoC records fitted in one segment, all written at the end (about 1.7 s
/// of one core under `perf`); at 64 MB they make three, the first two written while the store
/// still works. `librelay bench catalog` in one sitting: import 10.42 s against 11.42 s;
/// searches with facets 4,027 against 4,917 queries/s, still 1.55x FTS5's, p99 1.24 ms.
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    author: Field,
    subject: Field,
    publisher: Field,
    year: Field,
    language: Field,
    isbn: Field,
    issn: Field,
    display: Field,
    f_library: Field,
    f_language: Field,
    f_year: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(text::ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", text.clone()),
        author: b.add_text_field("author", text.clone()),
        subject: b.add_text_field("subject", text.clone()),
        publisher: b.add_text_field("publisher", text),
        year: b.add_text_field("year", STRING),
        language: b.add_text_field("language", STRING),
        isbn: b.add_text_field("isbn", STRING),
        issn: b.add_text_field("issn", STRING),
        display: b.add_text_field("display", STORED),
        f_library: b.add_facet_field("library", FacetOptions::default()),
        f_language: b.add_facet_field("lang", FacetOptions::default()),
        f_year: b.add_facet_field("pubyear", FacetOptions::default()),
    };
    (b.build(), fields)
}

/// The settings of a new index (an existing one keeps those it was made with). The stored
/// part holds only what a hit shows, a few hundred bytes a record, and every search reads 20
/// of them from blocks all over the store: uncompressed, a hit costs a copy rather than a
/// block's decompression.
fn settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: tantivy::store::Compressor::None,
        ..IndexSettings::default()
    }
}

/// The identifiers a hit shows, normalised; ISBNs in both forms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifiers {
    #[serde(default)]
    pub isbn: Vec<String>,
    #[serde(default)]
    pub issn: Vec<String>,
    #[serde(default)]
    pub oclc: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lccn: Option<String>,
}

/// What a hit shows, stored in the index so a page of hits costs no store reads but holdings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Display {
    pub record_id: String,
    pub title: String,
    #[serde(default)]
    pub title_vernacular: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub author_vernacular: Option<String>,
    #[serde(default)]
    pub year: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    pub identifiers: Identifiers,
}

/// One page of a search.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    pub total: usize,
    pub hits: Vec<Display>,
    pub facets: Facets,
}

/// Counts per value over all matches (not just the page), most frequent first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facets {
    pub library: Vec<(String, u64)>,
    pub language: Vec<(String, u64)>,
    pub year: Vec<(String, u64)>,
}

pub struct CatalogIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// Opened on first write: servers that only search never take the writer lock.
    writer: Mutex<Option<IndexWriter>>,
}

impl std::fmt::Debug for CatalogIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogIndex").finish_non_exhaustive()
    }
}

impl CatalogIndex {
    /// Open the index in `dir`, creating it (and `dir`) if there is none.
    pub fn open(dir: &Path) -> Result<CatalogIndex, CatalogError> {
        let (schema, fields) = schema();
        std::fs::create_dir_all(dir)
            .map_err(|e| CatalogError::Index(format!("creating {}: {e}", dir.display())))?;
        let mmap = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| CatalogError::Index(format!("opening {}: {e}", dir.display())))?;
        let index = Index::builder()
            .schema(schema)
            .settings(settings())
            .open_or_create(mmap)
            .map_err(|e| {
                CatalogError::Index(format!(
                    "{}: {e} (an index of another version? `librelay reindex` rebuilds it)",
                    dir.display()
                ))
            })?;
        Self::finish(index, fields)
    }

    /// An index in memory, for tests.
    pub fn in_memory() -> Result<CatalogIndex, CatalogError> {
        let (schema, fields) = schema();
        let index = Index::builder()
            .schema(schema)
            .settings(settings())
            .create_in_ram()
            .map_err(index_error)?;
        Self::finish(index, fields)
    }

    fn finish(index: Index, fields: Fields) -> Result<CatalogIndex, CatalogError> {
        index
            .tokenizers()
            .register(text::ANALYZER, text::analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(index_error)?;
        Ok(CatalogIndex {
            index,
            reader,
            fields,
            writer: Mutex::new(None),
        })
    }

    fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut IndexWriter) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| CatalogError::Index("the index writer lock is poisoned".into()))?;
        if guard.is_none() {
            // One indexing thread: the store's writer and the importer take the other core,
            // and one thread's budget makes half as many segments as two threads' (searches
            // with facets over the 250,000 LoC records, `librelay bench catalog`: 6,200-7,200
            // queries/s on 2 segments, 3,545 in the one 200-query run on 4).
            let w = self
                .index
                .writer_with_num_threads(1, WRITER_MEMORY)
                .map_err(|e| {
                    CatalogError::Index(format!(
                        "{e} (is another import or reindex running on this data directory?)"
                    ))
                })?;
            *guard = Some(w);
        }
        match guard.as_mut() {
            Some(w) => f(w),
            None => Err(CatalogError::Index("no index writer".into())),
        }
    }

    /// Replace the documents of `records` (added when new).
    pub fn upsert(&self, records: &[UnionRecord]) -> Result<(), CatalogError> {
        let id = self.fields.id;
        let ops = records.iter().flat_map(|r| {
            [
                UserOperation::Delete(Term::from_field_text(id, &r.record.record_id)),
                UserOperation::Add(self.document(r)),
            ]
        });
        self.run_in_groups(ops.collect())
    }

    /// Add the documents of union records new to the index (just created in the store): no
    /// earlier document to replace, so no delete to apply at the next commit.
    pub fn add_new(&self, records: &[UnionRecord]) -> Result<(), CatalogError> {
        let docs: Vec<TantivyDocument> = records.iter().map(|r| self.document(r)).collect();
        self.add_documents(docs)
    }

    /// As [`CatalogIndex::add_new`], from the members' mapped fields in hand (an import's new
    /// union records): the same documents without parsing back the JSON the store keeps.
    pub fn add_new_unions(&self, unions: &[NewUnion]) -> Result<(), CatalogError> {
        let docs: Vec<TantivyDocument> = unions
            .iter()
            .map(|u| self.document_of(&u.record, &u.members, &u.libraries))
            .collect();
        self.add_documents(docs)
    }

    fn add_documents(&self, docs: Vec<TantivyDocument>) -> Result<(), CatalogError> {
        self.run_in_groups(docs.into_iter().map(UserOperation::Add).collect())
    }

    /// Hand `ops` to the index writer `GROUP` at a time, in order (a delete before the add
    /// that replaces its document keeps its place: the writer orders them by their stamps).
    fn run_in_groups(&self, ops: Vec<UserOperation>) -> Result<(), CatalogError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.with_writer(|w| {
            let mut ops = ops.into_iter();
            loop {
                let group: Vec<UserOperation> = ops.by_ref().take(GROUP).collect();
                if group.is_empty() {
                    return Ok(());
                }
                w.run(group).map_err(index_error)?;
            }
        })
    }

    /// Drop the documents of union records `ids` (merged into another).
    pub fn remove(&self, ids: &[String]) -> Result<(), CatalogError> {
        if ids.is_empty() {
            return Ok(());
        }
        let id = self.fields.id;
        self.with_writer(|w| {
            for record_id in ids {
                w.delete_term(Term::from_field_text(id, record_id));
            }
            Ok(())
        })
    }

    /// Make what was written visible to searches (here at once; in other processes within a
    /// second).
    pub fn commit(&self) -> Result<(), CatalogError> {
        let committed = {
            let mut guard = self
                .writer
                .lock()
                .map_err(|_| CatalogError::Index("the index writer lock is poisoned".into()))?;
            match guard.as_mut() {
                Some(w) => {
                    w.commit().map_err(index_error)?;
                    true
                }
                None => false,
            }
        };
        if committed {
            self.reader.reload().map_err(index_error)?;
        }
        Ok(())
    }

    /// Commit and give up the writer (and its lock on the directory), so that another process
    /// (an import next to a running server) can write.
    pub fn finish_writing(&self) -> Result<(), CatalogError> {
        self.commit()?;
        let writer = self
            .writer
            .lock()
            .map_err(|_| CatalogError::Index("the index writer lock is poisoned".into()))?
            .take();
        if let Some(w) = writer {
            w.wait_merging_threads().map_err(index_error)?;
        }
        Ok(())
    }

    /// How many segments searches go through (for benchmarks: each costs every query a
    /// dictionary lookup per term and field).
    pub fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// See other processes' commits now rather than within a second.
    pub fn refresh(&self) -> Result<(), CatalogError> {
        self.reader.reload().map_err(index_error)
    }

    /// Empty the index and index every union record of `store` again. Returns how many.
    pub async fn rebuild(
        &self,
        store: &Store,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, CatalogError> {
        self.with_writer(|w| w.delete_all_documents().map(|_| ()).map_err(index_error))?;
        let mut after = String::new();
        let mut done = 0u64;
        loop {
            let ids = store.union_record_ids(&after, 2000).await?;
            let Some(last) = ids.last() else { break };
            after = last.clone();
            let unions = store.union_records(&ids).await?;
            self.upsert(&unions)?;
            done += unions.len() as u64;
            progress(done);
        }
        self.finish_writing()?;
        Ok(done)
    }

    fn document(&self, u: &UnionRecord) -> TantivyDocument {
        self.document_of(&u.record, &members_of(u), &u.libraries)
    }

    fn document_of(
        &self,
        record: &CatalogRecord,
        members: &[Bib],
        libraries: &[String],
    ) -> TantivyDocument {
        let f = self.fields;
        let fields = SearchFields::from_members(record, members);
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &record.record_id);
        for (field, values) in [
            (f.title, &fields.titles),
            (f.author, &fields.authors),
            (f.subject, &fields.subjects),
            (f.publisher, &fields.publishers),
        ] {
            for v in values {
                doc.add_text(field, v);
            }
        }
        // A query's ISBN is looked up in its 13-digit form whichever form it was typed in
        // (`query_parts`), so only that form is indexed. The 10-digit forms, shown with a hit,
        // were a second unique term per book for the index writer to sort and serialize.
        for i in fields
            .display
            .identifiers
            .isbn
            .iter()
            .filter(|i| i.len() == 13)
        {
            doc.add_text(f.isbn, i);
        }
        for i in &fields.display.identifiers.issn {
            doc.add_text(f.issn, i);
        }
        for l in &fields.languages {
            doc.add_text(f.language, l);
            doc.add_facet(f.f_language, Facet::from_path([l.as_str()]));
        }
        for y in &fields.years {
            doc.add_text(f.year, y);
            doc.add_facet(f.f_year, Facet::from_path([y.as_str()]));
        }
        for lib in libraries {
            doc.add_facet(f.f_library, Facet::from_path([lib.as_str()]));
        }
        doc.add_text(
            f.display,
            serde_json::to_string(&fields.display).unwrap_or_default(),
        );
        doc
    }

    /// Page `page` (1-based) of `per_page` hits for `q`, best first, with facet counts over all
    /// matches. An empty query matches everything.
    pub fn search(
        &self,
        q: &str,
        page: usize,
        per_page: usize,
    ) -> Result<SearchPage, CatalogError> {
        self.search_page(q, page, per_page, true)
    }

    /// As [`CatalogIndex::search`] without the facet counts (left empty): what a caller that
    /// shows none needs, and the like-for-like figure against an engine that has none.
    pub fn search_without_facets(
        &self,
        q: &str,
        page: usize,
        per_page: usize,
    ) -> Result<SearchPage, CatalogError> {
        self.search_page(q, page, per_page, false)
    }

    fn search_page(
        &self,
        q: &str,
        page: usize,
        per_page: usize,
        facets: bool,
    ) -> Result<SearchPage, CatalogError> {
        let query = self.query(q);
        let searcher = self.reader.searcher();
        let offset = page.saturating_sub(1).saturating_mul(per_page);
        let top = TopDocs::with_limit(per_page.max(1))
            .and_offset(offset)
            .order_by_score();
        let (total, top, tally) = searcher
            .search(&query, &(Count, top, facets.then_some(FacetTally)))
            .map_err(index_error)?;
        let mut hits = Vec::with_capacity(top.len());
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(index_error)?;
            let display = doc
                .get_first(self.fields.display)
                .and_then(|v| v.as_str())
                .and_then(|s| serde_json::from_str::<Display>(s).ok());
            if let Some(d) = display {
                hits.push(d);
            }
        }
        let [lib, lang, year] = tally.unwrap_or_default();
        Ok(SearchPage {
            total,
            hits,
            facets: Facets {
                library: top_counts(lib, 50),
                language: top_counts(lang, 20),
                year: top_counts(year, 20),
            },
        })
    }

    /// Each word must match: an ISBN (either form) or ISSN its identifier field, other words
    /// any text field (see [`query_parts`]).
    fn query(&self, q: &str) -> Box<dyn Query> {
        let f = self.fields;
        let term_in_fields = |t: &str| -> Box<dyn Query> {
            let fields = [
                (f.title, 2.0),
                (f.author, 1.5),
                (f.subject, 1.0),
                (f.publisher, 0.5),
                (f.year, 1.0),
                (f.language, 1.0),
            ];
            let any: Vec<(Occur, Box<dyn Query>)> = fields
                .iter()
                .map(|(field, boost)| {
                    let tq: Box<dyn Query> = Box::new(TermQuery::new(
                        Term::from_field_text(*field, t),
                        IndexRecordOption::WithFreqs,
                    ));
                    let q: Box<dyn Query> = Box::new(BoostQuery::new(tq, *boost));
                    (Occur::Should, q)
                })
                .collect();
            Box::new(BooleanQuery::new(any))
        };
        let clauses: Vec<(Occur, Box<dyn Query>)> = query_parts(q)
            .into_iter()
            .map(|part| -> (Occur, Box<dyn Query>) {
                match part {
                    QueryPart::Isbn(i) => (
                        Occur::Must,
                        Box::new(TermQuery::new(
                            Term::from_field_text(f.isbn, &i),
                            IndexRecordOption::Basic,
                        )),
                    ),
                    QueryPart::Issn(i) => (
                        Occur::Must,
                        Box::new(TermQuery::new(
                            Term::from_field_text(f.issn, &i),
                            IndexRecordOption::Basic,
                        )),
                    ),
                    QueryPart::Must(t) => (Occur::Must, term_in_fields(&t)),
                    QueryPart::Should(t) => (Occur::Should, term_in_fields(&t)),
                }
            })
            .collect();
        if clauses.is_empty() {
            if q.trim().is_empty() {
                return Box::new(AllQuery);
            }
            // Only punctuation: nothing can match it.
            return Box::new(BooleanQuery::new(Vec::new()));
        }
        Box::new(BooleanQuery::new(clauses))
    }
}

/// What a union record offers to search, the same for the index and for any other engine
/// measured against it (the benchmark's SQLite FTS5 table): each text field's distinct values
/// over all members, raw (the analyzer makes the terms), identifiers normalised.
#[derive(Debug, Clone, Default)]
pub struct SearchFields {
    pub titles: Vec<String>,
    pub authors: Vec<String>,
    pub subjects: Vec<String>,
    pub publishers: Vec<String>,
    pub years: Vec<String>,
    pub languages: Vec<String>,
    /// What a hit shows; its identifiers are the ones searched (ISBNs in both forms).
    pub display: Display,
}

impl SearchFields {
    pub fn of(u: &UnionRecord) -> SearchFields {
        SearchFields::from_members(&u.record, &members_of(u))
    }

    /// From a union record's own fields and its members' mapped fields.
    pub fn from_members(r: &CatalogRecord, members: &[Bib]) -> SearchFields {
        let mut ids = Identifiers {
            lccn: r.lccn.clone(),
            ..Identifiers::default()
        };
        let add_isbn = |ids: &mut Identifiers, s: &str| {
            if let Ok(i) = Isbn::parse(s) {
                let i13 = i.as_isbn13().to_owned();
                if !ids.isbn.contains(&i13) {
                    ids.isbn.push(i13);
                    if let Some(i10) = i.as_isbn10() {
                        ids.isbn.push(i10);
                    }
                }
            }
        };
        let texts = |values: &mut Vec<String>, v: Option<&str>| {
            if let Some(v) = v.filter(|v| !v.is_empty())
                && !values.iter().any(|x| x == v)
            {
                values.push(v.to_owned());
            }
        };
        let (mut titles, mut authors, mut subjects, mut publishers) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        texts(&mut titles, Some(&r.title));
        texts(&mut titles, r.title_vernacular.as_deref());
        texts(&mut authors, r.author.as_deref());
        texts(&mut authors, r.author_vernacular.as_deref());
        texts(&mut publishers, r.publisher.as_deref());
        let mut languages: Vec<String> = r.language.iter().cloned().collect();
        let mut years: Vec<String> = r.year.iter().cloned().collect();
        if let Some(i) = &r.isbn {
            add_isbn(&mut ids, i);
        }
        ids.issn.extend(r.issn.iter().cloned());
        ids.oclc.extend(r.oclc_number.iter().cloned());
        for m in members {
            texts(&mut titles, Some(&m.title));
            texts(&mut titles, m.title_vernacular.as_deref());
            texts(&mut authors, m.author.as_deref());
            texts(&mut authors, m.author_vernacular.as_deref());
            texts(&mut publishers, m.publisher.as_deref());
            texts(&mut publishers, m.publisher_vernacular.as_deref());
            for s in &m.subjects {
                texts(&mut subjects, Some(s));
            }
            for i in &m.isbns {
                add_isbn(&mut ids, i);
            }
            for i in &m.issns {
                if !ids.issn.contains(i) {
                    ids.issn.push(i.clone());
                }
            }
            for o in &m.oclc_numbers {
                if !ids.oclc.contains(o) {
                    ids.oclc.push(o.clone());
                }
            }
            for (list, v) in [(&mut languages, &m.language), (&mut years, &m.year)] {
                if let Some(v) = v
                    && !list.contains(v)
                {
                    list.push(v.clone());
                }
            }
        }
        SearchFields {
            titles,
            authors,
            subjects,
            publishers,
            years,
            languages,
            display: Display {
                record_id: r.record_id.clone(),
                title: r.title.clone(),
                title_vernacular: r.title_vernacular.clone(),
                author: r.author.clone(),
                author_vernacular: r.author_vernacular.clone(),
                year: r.year.clone(),
                language: r.language.clone(),
                identifiers: ids,
            },
        }
    }
}

/// A union record an import has just created, with its members' mapped fields as the importer
/// holds them (what [`UnionRecord`] keeps as JSON).
#[derive(Debug, Clone)]
pub struct NewUnion {
    pub record: CatalogRecord,
    pub members: Vec<Bib>,
    pub libraries: Vec<String>,
}

/// The members' mapped fields of a union record read from the store; a member whose JSON does
/// not read (never written so by the importer) adds nothing to search.
fn members_of(u: &UnionRecord) -> Vec<Bib> {
    u.member_bibs
        .iter()
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect()
}

/// One part of a parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryPart {
    /// An ISBN, as 13 digits: must match the ISBN field.
    Isbn(String),
    /// An ISSN (NNNN-NNNC): must match the ISSN field.
    Issn(String),
    /// An analyzed term that must match some text field.
    Must(String),
    /// An analyzed term that only raises the score (jieba's words of a Chinese run).
    Should(String),
}

/// A query as the index reads it: an ISBN (either form) or ISSN word matches its identifier
/// field; other words are analyzed like the records and each term must match. Chinese runs
/// must contain every bigram of the query run (so any substring of a title finds it); jieba's
/// words only raise the score.
pub fn query_parts(q: &str) -> Vec<QueryPart> {
    let mut parts = Vec::new();
    let mut analyzer = text::analyzer();
    for word in q.split_whitespace() {
        if let Ok(isbn) = Isbn::parse(word) {
            parts.push(QueryPart::Isbn(isbn.as_isbn13().to_owned()));
            continue;
        }
        if word.contains('-')
            && let Ok(issn) = Issn::parse(word)
        {
            parts.push(QueryPart::Issn(issn.to_string()));
            continue;
        }
        let folded = text::fold(word);
        for run in text::runs(&folded) {
            match run {
                Run::Word(w) => {
                    let mut stream = analyzer.token_stream(w);
                    while tantivy::tokenizer::TokenStream::advance(&mut stream) {
                        let t = tantivy::tokenizer::TokenStream::token(&stream).text.clone();
                        parts.push(QueryPart::Must(t));
                    }
                }
                Run::Cjk(c) => {
                    parts.extend(text::bigrams(c).into_iter().map(QueryPart::Must));
                    parts.extend(text::jieba_words(c).into_iter().map(QueryPart::Should));
                }
            }
        }
    }
    parts
}

/// The facet fields counted for every search, in the order of [`FacetTally`]'s counts.
const FACET_FIELDS: [&str; 3] = ["library", "lang", "pubyear"];

/// Counts of each value of the three facet fields over all matches, done in one pass: each
/// segment counts by the facet's ordinal in that segment, and only the values counted are
/// named (tantivy's `FacetCollector` walks every facet of the field in each segment for each
/// search first, which cost more than the search itself for small result sets). All facets
/// here are one level deep ("/eng").
struct FacetTally;

struct SegmentTally {
    readers: Vec<FacetReader>,
    counts: Vec<Vec<u64>>,
}

/// Per facet field: value and count.
type Tally = [std::collections::HashMap<String, u64>; 3];

impl Collector for FacetTally {
    type Fruit = Tally;
    type Child = SegmentTally;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentTally> {
        let mut readers = Vec::with_capacity(FACET_FIELDS.len());
        let mut counts = Vec::with_capacity(FACET_FIELDS.len());
        for name in FACET_FIELDS {
            let r = reader.facet_reader(name)?;
            counts.push(vec![0u64; r.num_facets()]);
            readers.push(r);
        }
        Ok(SegmentTally { readers, counts })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Tally>) -> tantivy::Result<Tally> {
        let mut out = Tally::default();
        for fruit in fruits {
            for (all, one) in out.iter_mut().zip(fruit) {
                for (value, n) in one {
                    *all.entry(value).or_insert(0) += n;
                }
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for SegmentTally {
    type Fruit = Tally;

    fn collect(&mut self, doc: DocId, _: Score) {
        for (reader, counts) in self.readers.iter().zip(self.counts.iter_mut()) {
            let mut previous = u64::MAX;
            for ord in reader.facet_ords(doc) {
                // A document's ordinals come sorted: a value given twice counts once.
                if ord != previous
                    && let Some(c) = usize::try_from(ord).ok().and_then(|i| counts.get_mut(i))
                {
                    *c += 1;
                }
                previous = ord;
            }
        }
    }

    fn harvest(self) -> Tally {
        let mut out = Tally::default();
        let mut facet = Facet::root();
        for ((reader, counts), named) in self.readers.iter().zip(&self.counts).zip(out.iter_mut()) {
            for (ord, &n) in counts.iter().enumerate() {
                if n == 0 || reader.facet_from_ord(ord as u64, &mut facet).is_err() {
                    continue;
                }
                if let Some(value) = facet.to_path().last() {
                    *named.entry((*value).to_owned()).or_insert(0) += n;
                }
            }
        }
        out
    }
}

/// The `k` most frequent values, most frequent first, then by value (as tantivy's
/// `FacetCounts::top_k` orders them).
fn top_counts(counts: std::collections::HashMap<String, u64>, k: usize) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = counts.into_iter().collect();
    all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn index_error(e: impl std::fmt::Display) -> CatalogError {
    CatalogError::Index(e.to_string())
}

#[cfg(test)]
mod tests {
    use tantivy::schema::document::Document;

    use super::*;

    #[test]
    fn a_new_union_record_indexes_the_same_from_its_fields_as_from_the_store() {
        let index = CatalogIndex::in_memory().unwrap();
        let members = vec![
            Bib {
                title: "中國歷史: a survey".into(),
                title_vernacular: Some("中國歷史".into()),
                author: Some("Wang, Xiaobo".into()),
                publisher: Some("Zhonghua shu ju".into()),
                year: Some("1990".into()),
                language: Some("chi".into()),
                subjects: vec!["China -- History".into(), "History".into()],
                isbns: vec!["9780306406157".into()],
                issns: vec!["0317-8471".into()],
                oclc_numbers: vec!["12345".into()],
                ..Bib::default()
            },
            Bib {
                title: "Another member".into(),
                author: Some("Wang, X.".into()),
                year: Some("1991".into()),
                language: Some("eng".into()),
                isbns: vec!["9780306406157".into()],
                ..Bib::default()
            },
        ];
        let record = CatalogRecord {
            record_id: "r1".into(),
            title: "中國歷史: a survey".into(),
            author: Some("Wang, Xiaobo".into()),
            publisher: Some("Zhonghua shu ju".into()),
            year: Some("1990".into()),
            isbn: Some("9780306406157".into()),
            issn: Some("0317-8471".into()),
            oclc_number: Some("12345".into()),
            lccn: Some("  90123456".into()),
            language: Some("chi".into()),
            title_vernacular: Some("中國歷史".into()),
            author_vernacular: None,
        };
        let libraries = vec!["LIB".to_owned()];
        let stored = UnionRecord {
            record: record.clone(),
            member_bibs: members
                .iter()
                .map(|m| serde_json::to_string(m).unwrap())
                .collect(),
            libraries: libraries.clone(),
        };
        let schema = index.index.schema();
        assert_eq!(
            index
                .document_of(&record, &members, &libraries)
                .to_json(&schema),
            index.document(&stored).to_json(&schema)
        );
    }

    #[test]
    fn documents_handed_over_in_groups_are_all_indexed_and_searchable_by_either_isbn_form() {
        // Two full groups and a partial one.
        let n = GROUP * 2 + 1;
        let index = CatalogIndex::in_memory().unwrap();
        let unions: Vec<NewUnion> = (0..n)
            .map(|i| NewUnion {
                record: CatalogRecord {
                    record_id: format!("r{i}"),
                    title: format!("Grouped record {i}"),
                    author: None,
                    publisher: None,
                    year: None,
                    isbn: None,
                    issn: None,
                    oclc_number: None,
                    lccn: None,
                    language: None,
                    title_vernacular: None,
                    author_vernacular: None,
                },
                members: vec![Bib {
                    title: format!("Grouped record {i}"),
                    isbns: if i == 0 {
                        vec!["9780306406157".into()]
                    } else {
                        Vec::new()
                    },
                    ..Bib::default()
                }],
                libraries: vec!["LIB".into()],
            })
            .collect();
        index.add_new_unions(&unions).unwrap();
        index.commit().unwrap();
        assert_eq!(index.search("grouped", 1, 20).unwrap().total, n);
        for q in [
            "0306406152",
            "0-306-40615-2",
            "9780306406157",
            "978-0-306-40615-7",
        ] {
            let page = index.search(q, 1, 20).unwrap();
            assert_eq!(page.total, 1, "{q}");
            // The hit still shows both forms.
            assert_eq!(
                page.hits[0].identifiers.isbn,
                ["9780306406157", "0306406152"],
                "{q}"
            );
        }
    }
}
