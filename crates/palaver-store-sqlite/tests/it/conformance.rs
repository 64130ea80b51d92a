//! Runs the backend-agnostic `Store` conformance suite against `SqliteStore`.

use palaver_store::Store;
use palaver_store_sqlite::SqliteStore;
use std::sync::Arc;

/// A fresh store in its own temporary file, deleted when the store is dropped.
async fn fresh() -> Arc<dyn Store> {
    Arc::new(SqliteStore::open_temporary().unwrap())
}

palaver_store::store_conformance_tests!(fresh());
