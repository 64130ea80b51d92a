//! The scale-out PostgreSQL store: `PgStore` implements `palaver_store::Store` on a connection
//! pool, so any number of nodes can share one database.
//!
//! Every conversation's `seq` is assigned under that conversation's row lock, in the transaction
//! that stores the message; the deployment-wide `pos` comes from one counter row locked as the
//! last step of every durable write, so positions become visible in order (see `journal.rs` for
//! why, and what it costs). Migrations are embedded and applied on connect.
//!
//! The driver is tokio-postgres with a deadpool pool rather than sqlx: sqlx's optional SQLite
//! driver pins `libsqlite3-sys` to versions that cannot coexist with the SQLite store's
//! rusqlite in one workspace (Cargo checks `links` conflicts for optional dependencies too).

mod accounts;
mod db;
mod error;
mod import;
mod journal;
mod messages;
mod presence;
mod reads;
mod rooms;
mod rows;
mod schema;
mod store;
mod sync;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use palaver_store::StoreError;
use std::time::Duration;
use tokio_postgres::{Config, NoTls};

/// Tuning of a [`PgStore`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// The most connections the pool opens.
    pub max_connections: usize,
    /// How long a call waits for a connection (free, new or checked) before failing with
    /// `StoreError::Unavailable`; also the connect timeout unless the URL sets one.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A `Store` on a PostgreSQL database.
pub struct PgStore {
    pool: Pool,
    epoch: String,
    /// Set for a store made by [`PgStore::connect_temporary`]: its database is dropped on drop.
    temporary: Option<Temporary>,
}

struct Temporary {
    /// Where the database was created from (and is dropped from).
    admin: Config,
    name: String,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db?...`),
    /// applies pending migrations and reads (or creates) the deployment epoch.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        Self::connect_config(parse(url)?, options).await
    }

    /// A store on a fresh database created for it on the server at `url`, and dropped (with
    /// any connections left to it) when the store is dropped. For tests.
    pub async fn connect_temporary(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let admin = parse(url)?;
        let name = format!("palaver_t_{:016x}", rand::random::<u64>());
        admin_command(&admin, &format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| StoreError::from(error::Error::from(e)))?;
        let mut config = admin.clone();
        config.dbname(&name);
        let temporary = Temporary { admin, name };
        match Self::connect_config(config, options).await {
            Ok(mut store) => {
                store.temporary = Some(temporary);
                Ok(store)
            }
            Err(e) => {
                drop_database(temporary);
                Err(e)
            }
        }
    }

    /// The database of a store from [`PgStore::connect_temporary`].
    pub fn temporary_database(&self) -> Option<&str> {
        self.temporary.as_ref().map(|t| t.name.as_str())
    }

    async fn connect_config(mut config: Config, options: PgOptions) -> Result<Self, StoreError> {
        let timeout = options.acquire_timeout;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(timeout);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection whose socket closed (a server restart) is replaced on checkout;
                // one that dies unnoticed fails its next call with `Unavailable` and is replaced.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))?;
        let mut client = pool.get().await.map_err(error::Error::from)?;
        schema::migrate(&mut client).await?;
        let epoch = schema::ensure_epoch(&client).await?;
        drop(client);
        Ok(Self {
            pool,
            epoch,
            temporary: None,
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(temporary) = self.temporary.take() {
            self.pool.close();
            drop_database(temporary);
        }
    }
}

fn parse(url: &str) -> Result<Config, StoreError> {
    // The error never echoes the URL, which may hold a password.
    url.parse()
        .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))
}

/// Runs one statement on a connection of its own (CREATE/DROP DATABASE cannot run in a
/// transaction, nor on a connection to the database concerned).
async fn admin_command(admin: &Config, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = admin.connect(NoTls).await?;
    let driver = tokio::spawn(connection);
    let outcome = client.batch_execute(sql).await;
    drop(client);
    let _ = driver.await;
    outcome
}

/// Drops a temporary database, blocking until done: `Drop` cannot await, so this runs on a
/// thread with a runtime of its own.
fn drop_database(temporary: Temporary) {
    let Temporary { admin, name } = temporary;
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let worker = std::thread::spawn(move || -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(admin_command(&admin, &sql))
            .map_err(|e| error::map_pg(&e).to_string())
    });
    match worker.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(database = %name, error = %e, "cannot drop temporary database")
        }
        Err(_) => tracing::warn!(database = %name, "dropping a temporary database panicked"),
    }
}
