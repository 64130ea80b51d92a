//! The embedded migrations, applied on connect, and the deployment epoch.

use crate::db;
use crate::error::Result;
use deadpool_postgres::Object;
use palaver_store::StoreError;

/// Every schema change, in order; the version of entry `i` is `i + 1`. Never edit a shipped
/// entry: append a new file and a new line.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_session_keys.sql"),
    include_str!("../migrations/0003_presence.sql"),
];

/// Serialises migrations of nodes starting at once (advisory locks are per database).
const MIGRATION_LOCK: i64 = 0x7061_6c61_7665_7201; // "palaver" + 1

/// Applies the migrations this database lacks, in one transaction.
pub(crate) async fn migrate(client: &mut Object) -> Result<()> {
    let tx = client.transaction().await?;
    db::execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS palaver_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let row = db::query_one(
        &tx,
        "SELECT COALESCE(MAX(version), 0) FROM palaver_migrations",
        &[],
    )
    .await?;
    let version: i32 = row.try_get(0)?;
    let known = MIGRATIONS.len() as i32;
    if version > known {
        return Err(StoreError::Backend(format!(
            "database schema version {version} is newer than this build ({known})"
        ))
        .into());
    }
    for (v, sql) in (1..).zip(MIGRATIONS).skip(version as usize) {
        tx.batch_execute(sql).await?;
        db::execute(
            &tx,
            "INSERT INTO palaver_migrations (version) VALUES ($1)",
            &[&v],
        )
        .await?;
        tracing::info!(version = v, "applied postgres migration");
    }
    tx.commit().await?;
    Ok(())
}

/// The deployment's epoch, created on first connect. The first node to store one wins.
pub(crate) async fn ensure_epoch(client: &Object) -> Result<String> {
    let bytes: [u8; 16] = rand::random();
    let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    db::execute(
        client,
        "INSERT INTO meta (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING",
        &[&fresh.as_bytes()],
    )
    .await?;
    let row = db::query_one(client, "SELECT value FROM meta WHERE key = 'epoch'", &[]).await?;
    let value: Vec<u8> = row.try_get(0)?;
    String::from_utf8(value).map_err(|_| StoreError::Backend("epoch is not UTF-8".into()).into())
}

/// The newest committed event position.
pub(crate) async fn head(client: &Object) -> Result<i64> {
    let row = db::query_one(client, "SELECT pos FROM stream_head", &[]).await?;
    Ok(row.try_get(0)?)
}
