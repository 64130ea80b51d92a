//! The single writer thread and its group commit: queued jobs share one transaction, each in
//! its own savepoint, and hear their result only after the commit.

use crate::error::duplicate;
use crate::schema;
use palaver_store::StoreError;
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// What the writer carries from job to job. Restored when a job rolls back; re-read from the
/// database when a commit fails.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriterState {
    /// The last `pos` handed out.
    pub(crate) head: i64,
    /// Counts batches (transactions) run; jobs of one batch see the same number.
    pub(crate) batch: u64,
}

type Work<T> = Box<dyn FnOnce(&Connection, &mut WriterState) -> Result<T, StoreError> + Send>;

/// A queued write, type-erased so one channel carries every kind.
trait Job: Send {
    /// Runs the work inside the batch's transaction; true when it succeeded.
    fn run(&mut self, conn: &Connection, state: &mut WriterState) -> bool;
    /// Reports the outcome; `batch_error` is set when the batch did not commit.
    fn finish(self: Box<Self>, batch_error: Option<&StoreError>);
}

struct Pending<T> {
    work: Option<Work<T>>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send> Job for Pending<T> {
    fn run(&mut self, conn: &Connection, state: &mut WriterState) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| work(conn, state)))
            .unwrap_or_else(|_| Err(StoreError::Backend("a write job panicked".into())));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, batch_error: Option<&StoreError>) {
        let result = match (self.outcome, batch_error) {
            // A job that failed on its own keeps its own error whatever became of the batch.
            (Some(Err(e)), _) => Err(e),
            (_, Some(e)) => Err(duplicate(e)),
            (Some(Ok(v)), None) => Ok(v),
            (None, None) => Err(StoreError::Backend("write job never ran".into())),
        };
        // The caller may have gone away; the write stands regardless.
        let _ = self.reply.send(result);
    }
}

/// The handle to the writer thread.
pub(crate) struct Writer {
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn spawn(conn: Connection, max_batch: usize) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 4);
        let state = WriterState {
            head: schema::head(&conn)?,
            batch: 0,
        };
        let max_batch = max_batch.max(1);
        let thread = std::thread::Builder::new()
            .name("palaver-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, state, max_batch))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Runs `work` in the writer's next batch and returns once that batch has committed.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut WriterState) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(work).await?.await
    }

    /// Queues `work` behind everything queued before it and returns at once with the future
    /// of its outcome (ready once its batch has committed). Jobs submitted one after another
    /// run in that order, usually in one batch.
    pub(crate) async fn submit<T, F>(
        &self,
        work: F,
    ) -> Result<impl Future<Output = Result<T, StoreError>> + use<T, F>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut WriterState) -> Result<T, StoreError> + Send + 'static,
    {
        let stopped = || StoreError::Unavailable("the sqlite writer has stopped".into());
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            work: Some(Box::new(work)),
            outcome: None,
            reply,
        };
        jobs.send(Box::new(job)).await.map_err(|_| stopped())?;
        Ok(async move { answer.await.map_err(|_| stopped())? })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue lets the thread finish what is queued and exit.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    mut state: WriterState,
    max_batch: usize,
) {
    let mut stale = false;
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = if stale {
            schema::head(&conn).map_err(StoreError::from).map(|h| {
                state.head = h;
                stale = false;
            })
        } else {
            Ok(())
        }
        .and_then(|()| execute(&conn, &mut state, &mut batch).map_err(StoreError::from));
        match outcome {
            Ok(()) => {
                for job in batch.drain(..) {
                    job.finish(None);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = batch.len(), "sqlite write batch failed");
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                match schema::head(&conn) {
                    Ok(h) => state.head = h,
                    Err(_) => stale = true,
                }
                for job in batch.drain(..) {
                    job.finish(Some(&e));
                }
            }
        }
    }
}

/// One transaction for the whole batch; a savepoint per job so a refused job undoes only
/// itself.
fn execute(
    conn: &Connection,
    state: &mut WriterState,
    batch: &mut [Box<dyn Job>],
) -> crate::error::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    state.batch += 1;
    for job in batch.iter_mut() {
        conn.execute_batch("SAVEPOINT job")?;
        let before = *state;
        let ok = job.run(conn, state);
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, out of memory, ...).
            return Err(StoreError::Unavailable("the write transaction was aborted".into()).into());
        }
        if ok {
            conn.execute_batch("RELEASE job")?;
        } else {
            *state = before;
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Deletes the test database even when the test panics.
    struct TempPath(std::path::PathBuf);

    impl Drop for TempPath {
        fn drop(&mut self) {
            crate::remove_database_files(&self.0);
        }
    }

    fn temp_writer(tag: &str) -> (Writer, TempPath) {
        let path = TempPath(std::env::temp_dir().join(format!(
            "palaver-writer-{tag}-{}-{:x}.sqlite3",
            std::process::id(),
            rand::random::<u64>()
        )));
        let options = crate::SqliteOptions::default();
        let (conn, _) = schema::open_writer(&path.0, &options).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER NOT NULL UNIQUE)")
            .unwrap();
        (Writer::spawn(conn, 64).unwrap(), path)
    }

    /// Jobs queued while the writer is busy commit together; a failing one undoes only itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_jobs_share_a_batch_and_fail_alone() {
        let (writer, _path) = temp_writer("batch");
        let writer = Arc::new(writer);
        let (started, running) = oneshot::channel::<()>();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let writer = Arc::clone(&writer);
            tokio::spawn(async move {
                writer
                    .run(move |_, state| {
                        started.send(()).unwrap();
                        gate.recv().unwrap();
                        Ok(state.batch)
                    })
                    .await
            })
        };
        // The writer is now inside the blocker's batch; everything sent next waits in the queue.
        running.await.unwrap();
        let jobs: Vec<_> = (0..10)
            .map(|i| {
                let writer = Arc::clone(&writer);
                tokio::spawn(async move {
                    writer
                        .run(move |conn, state| {
                            // Jobs 4 and 5 insert the same value: the later one must fail
                            // without harming the rest of its batch.
                            let n = if i == 5 { 4 } else { i };
                            conn.execute("INSERT INTO t (n) VALUES (?1)", [n])
                                .map_err(crate::error::map_sqlite)?;
                            Ok(state.batch)
                        })
                        .await
                })
            })
            .collect();
        let jobs_tx = writer.jobs.clone().unwrap();
        while jobs_tx.capacity() > jobs_tx.max_capacity() - 10 {
            tokio::task::yield_now().await;
        }
        drop(jobs_tx);
        release.send(()).unwrap();
        let first = blocker.await.unwrap().unwrap();
        let mut batches = Vec::new();
        for (i, job) in jobs.into_iter().enumerate() {
            match job.await.unwrap() {
                Ok(batch) => batches.push(batch),
                Err(e) => assert!(i == 5 || i == 4, "unexpected failure of job {i}: {e}"),
            }
        }
        assert_eq!(batches.len(), 9);
        assert!(
            batches.iter().all(|b| *b == first + 1),
            "one batch after the blocker's: {batches:?}"
        );
        let rows: i64 = writer
            .run(|conn, _| {
                conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                    .map_err(crate::error::map_sqlite)
            })
            .await
            .unwrap();
        assert_eq!(rows, 9, "the refused insert was rolled back alone");
    }
}
