//! The embedded SQLite store: `SqliteStore` implements `palaver_store::Store` on one file.
//!
//! One writer thread owns the only write connection and commits queued writes in groups (one
//! transaction, a savepoint per write), so `pos` and every conversation's `seq` are assigned
//! in commit order without gaps. Reads run on a small pool of read-only connections, which WAL
//! mode lets proceed while the writer commits.

mod accounts;
mod error;
mod export;
mod journal;
mod messages;
mod presence;
mod readers;
mod reads;
mod rooms;
mod rows;
mod schema;
mod store;
mod sync;
mod writer;

pub use export::SqliteExport;
use palaver_store::StoreError;
use readers::Readers;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use writer::Writer;

/// Tuning of a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// `synchronous = FULL` (true: a commit survives power loss) or `NORMAL` (false: the last
    /// commits may be lost on power loss, never corrupted).
    pub synchronous_full: bool,
    /// How many read-only connections serve reads concurrently.
    pub read_connections: usize,
    /// The most writes committed together in one transaction. A batch holds what queued
    /// while the previous one committed, so the cap matters only under load.
    pub max_batch: usize,
    /// Page size of a database this store creates (512 to 65536, a power of two); an
    /// existing database keeps its own. A commit writes every page it changed whole to the
    /// WAL, so smaller pages write less per stored message and read more per history page.
    pub page_size: u32,
    /// The writer connection's page cache, in KiB.
    pub writer_cache_kib: u32,
    /// WAL pages after which a commit also checkpoints (`wal_autocheckpoint`; SQLite's
    /// default is 1000). The checkpoint runs inside that commit, so it sets how long the
    /// occasional slow acknowledgement takes.
    pub checkpoint_pages: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous_full: true,
            read_connections: 4,
            max_batch: 4096,
            page_size: 4096,
            writer_cache_kib: 32 * 1024,
            checkpoint_pages: 1000,
        }
    }
}

/// A `Store` on one SQLite database file.
pub struct SqliteStore {
    // Field order is drop order: the writer thread finishes its queue before files go.
    writer: Writer,
    readers: Readers,
    epoch: String,
    path: PathBuf,
    /// A temporary store deletes its files on drop.
    temporary: bool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self, StoreError> {
        let (conn, epoch) = schema::open_writer(path, &options)?;
        // Readers open after the writer, which has created the file and switched it to WAL.
        let readers = Readers::open(path, options.read_connections)?;
        let writer = Writer::spawn(conn, options.max_batch)?;
        Ok(Self {
            writer,
            readers,
            epoch,
            path: path.to_owned(),
            temporary: false,
        })
    }

    /// A fresh store in a new file under the system temporary directory, deleted when the
    /// store is dropped. For tests: a file rather than `:memory:` because the writer and the
    /// readers are separate connections.
    pub fn open_temporary() -> Result<Self, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "palaver-{}-{}-{:016x}.sqlite3",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u64>()
        );
        let path = std::env::temp_dir().join(name);
        let options = SqliteOptions {
            synchronous_full: false,
            ..SqliteOptions::default()
        };
        let mut store = Self::open(&path, options).inspect_err(|_| remove_database_files(&path))?;
        store.temporary = true;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if self.temporary {
            // Unix lets open files be unlinked; the connections close right after.
            remove_database_files(&self.path);
        }
    }
}

/// Deletes a database file and its WAL and shared-memory companions.
pub fn remove_database_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(file));
    }
}
