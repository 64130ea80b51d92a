//! The pool of read-only connections.
//!
//! A point read (a session, a user, a membership, a page of history) takes tens of
//! microseconds on an indexed table, less than handing it to another thread and back, so it
//! runs in place on the calling task when a connection is idle ([`Readers::run`]). Reads whose
//! size the client picks (searches, member lists, event scans) always run on tokio's blocking
//! threads ([`Readers::run_blocking`]), as does a point read that finds every connection busy.
//! In WAL mode a reader never waits for the writer (its checkpoints are the automatic, passive
//! ones), so a read in place does not stall the task's thread behind a commit.

use crate::error::Result;
use crate::schema;
use palaver_store::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(crate) struct Readers {
    pool: Arc<Pool>,
    permits: Arc<Semaphore>,
}

struct Pool {
    idle: Mutex<Vec<Connection>>,
}

/// A connection borrowed from the pool, handed back even if the read panics.
struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Connection>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }
}

impl Readers {
    pub(crate) fn open(path: &Path, count: usize) -> Result<Self> {
        let count = count.max(1);
        let idle = (0..count)
            .map(|_| schema::open_reader(path))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            pool: Arc::new(Pool {
                idle: Mutex::new(idle),
            }),
            permits: Arc::new(Semaphore::new(count)),
        })
    }

    /// Runs a point read: in place when a connection is idle, else like
    /// [`Readers::run_blocking`].
    pub(crate) async fn run<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => lease_and_read(&self.pool, permit, read),
            Err(_) => self.run_blocking(read).await,
        }
    }

    /// Runs `read` on a blocking thread, waiting for an idle connection if all are busy.
    pub(crate) async fn run_blocking<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the read pool is closed".into()))?;
        let pool = Arc::clone(&self.pool);
        let joined = tokio::task::spawn_blocking(move || lease_and_read(&pool, permit, read)).await;
        joined.map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

/// Runs `read` on an idle connection; the permit guarantees there is one.
fn lease_and_read<T>(
    pool: &Pool,
    _permit: OwnedSemaphorePermit,
    read: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T, StoreError> {
    let conn = pool
        .idle
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop();
    let lease = Lease { pool, conn };
    let conn = lease
        .conn
        .as_ref()
        .ok_or_else(|| StoreError::Backend("no idle read connection".into()))?;
    read(conn).map_err(StoreError::from)
}
