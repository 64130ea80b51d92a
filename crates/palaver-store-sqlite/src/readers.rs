//! The pool of read-only connections; reads run on tokio's blocking threads.

use crate::error::Result;
use crate::schema;
use palaver_store::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Semaphore;

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

    /// Runs `read` on an idle connection, waiting for one if all are busy.
    pub(crate) async fn run<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the read pool is closed".into()))?;
        let pool = Arc::clone(&self.pool);
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let lease = Lease { pool: &pool, conn };
            let conn = lease
                .conn
                .as_ref()
                .ok_or_else(|| StoreError::Backend("no idle read connection".into()))?;
            read(conn).map_err(StoreError::from)
        })
        .await;
        joined.map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}
