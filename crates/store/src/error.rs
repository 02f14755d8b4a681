//! Store errors: what went wrong, with unique-constraint violations told apart so the API can
//! answer 409 instead of 500.

use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the row (the constraint's name says which).
    #[error("conflict on {0}")]
    Conflict(String),
    /// Stored data that the domain refuses (a state name no machine knows, bad JSON).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("the store is closed")]
    Closed,
    /// A commit was written but could not be flushed to the disk (fsync failed): it may not
    /// survive a crash of the machine.
    #[error("the commit could not be made durable: {0}")]
    NotDurable(String),
    #[error("database: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    #[error("database: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    #[error("migration: {0}")]
    Migrate(#[source] Arc<sqlx::migrate::MigrateError>),
    /// A sum or difference that does not fit in 64 bits (SQLite would store a float).
    #[error("a sum does not fit in 64 bits: {0}")]
    NumericOverflow(String),
}

impl StoreError {
    /// A number too large for its column or for 64-bit arithmetic, on either engine: the
    /// caller's data, not a fault of the store.
    pub fn is_numeric_overflow(&self) -> bool {
        match self {
            StoreError::NumericOverflow(_) => true,
            // numeric_value_out_of_range
            StoreError::Database(e) => match e.as_ref() {
                sqlx::Error::Database(db) => db.code().as_deref() == Some("22003"),
                _ => false,
            },
            StoreError::Sqlite(e) => e.to_string().contains("integer overflow"),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or("unique").to_owned())
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Database(Arc::new(e)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(Arc::new(e))
    }
}
