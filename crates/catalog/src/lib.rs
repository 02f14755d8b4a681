//! The union catalog: MARC import into the store with clustering across libraries, and search
//! over the union records with tantivy (Chinese-aware, traditional and simplified folded
//! together, ISBN-10 and -13 alike). Kept apart from `server` so that tantivy's build does not
//! slow every other crate's.
#![forbid(unsafe_code)]

pub mod bib;
pub mod holdings;
pub mod import;
pub mod index;
pub mod text;

use std::path::PathBuf;

pub use import::{
    CollectRejections, ImportObserver, ImportOptions, ImportSummary, Rejection, import_files,
};
pub use index::{
    CatalogIndex, Display, Facets, Identifiers, NewUnion, QueryPart, SearchFields, SearchPage,
    query_parts,
};

/// Where the search index lives under a data directory.
pub fn index_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("catalog-index")
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("search index: {0}")]
    Index(String),
}
