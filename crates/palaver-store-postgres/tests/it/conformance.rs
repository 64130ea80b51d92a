//! Runs the backend-agnostic `Store` conformance suite against `PgStore`.

use palaver_store::Store;
use palaver_store_postgres::{PgOptions, PgStore};
use std::sync::Arc;

/// A store on a fresh database of its own, dropped with the store; `None` to skip.
async fn fresh() -> Option<Arc<dyn Store>> {
    let url = crate::env::postgres_url()?;
    let options = PgOptions {
        max_connections: 10,
        ..PgOptions::default()
    };
    let store = PgStore::connect_temporary(&url, options).await.unwrap();
    Some(Arc::new(store))
}

// Without a server each test returns (passes) right after the skip notice.
palaver_store::store_conformance_tests!(match fresh().await {
    Some(store) => std::future::ready(store),
    None => return,
});
