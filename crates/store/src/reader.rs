//! Point reads on SQLite without a thread hand-off: a few plain read-only connections, each
//! used synchronously by the task that takes it. Through the sqlx pool every read was a round
//! trip to the connection's worker thread (two thread switches), which cost more than the read
//! itself for the one-row reads every request step does. Long reads (reports, queues) stay on
//! the pool.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::OpenFlags;

use crate::{Result, StoreError};

/// Idle connections kept; more are opened when many tasks read at once, and closed after.
const KEEP: usize = 8;

pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl Readers {
    /// The database file.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub(crate) fn new(path: &str) -> Self {
        Readers {
            path: PathBuf::from(path),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Readers of a WAL database wait only in rare moments (recovery); a task must not hold
        // its runtime thread long.
        conn.busy_timeout(Duration::from_secs(1))?;
        conn.execute_batch("PRAGMA cache_size = -8000; PRAGMA query_only = ON;")?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(conn)
    }

    /// Run `f` on an idle connection (opened if none is idle), then put it back.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        let taken = self.idle.lock().map_err(|_| StoreError::Closed)?.pop();
        let conn = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP
        {
            idle.push(conn);
        }
        out
    }
}
