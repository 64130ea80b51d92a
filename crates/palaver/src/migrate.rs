//! `palaver migrate-store --from sqlite://PATH --to postgres://…`: moves a single-node
//! deployment from its SQLite file to an empty PostgreSQL database with everything kept (the
//! epoch, so sync tokens stay valid; the signing key, so session tokens stay valid; every id,
//! position and sequence number), then checks that both sides agree.
//!
//! The copy reads one snapshot of the file, so a server still writing to it would lose whatever
//! it commits afterwards: stop the server first. The command notices a source that moved on
//! during the copy and says so.

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use palaver_store::{Store, TableCounts};
use palaver_store_postgres::{PgOptions, PgStore};
use palaver_store_sqlite::{SqliteOptions, SqliteStore};
use std::path::Path;
use std::time::Instant;

#[derive(Args)]
pub struct MigrateArgs {
    /// The SQLite database to copy: sqlite://PATH. Stop the server that uses it first.
    #[arg(long)]
    from: String,
    /// The empty PostgreSQL database to fill: postgres://USER:PASSWORD@HOST:PORT/DB. It must
    /// exist (a `palaver serve` on it may have created the schema) and hold no users or events.
    #[arg(long)]
    to: String,
    /// Rows written per statement, and events read per page.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
}

pub async fn run(args: MigrateArgs) -> Result<()> {
    let started = Instant::now();
    let path = args
        .from
        .strip_prefix("sqlite://")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| anyhow!("--from must be sqlite://PATH"))?;
    if !(args.to.starts_with("postgres://") || args.to.starts_with("postgresql://")) {
        bail!("--to must be a postgres://… URL");
    }
    // Opening creates a missing file; a typo must not silently copy an empty database.
    if !Path::new(path).is_file() {
        bail!("there is no SQLite database at {path}");
    }
    let source = SqliteStore::open(Path::new(path), SqliteOptions::default())
        .with_context(|| format!("opening SQLite database {path}"))?;
    let options = PgOptions {
        max_connections: 2,
        ..PgOptions::default()
    };
    let mut target = PgStore::connect(&args.to, options)
        .await
        .context("connecting to PostgreSQL")?;

    let mut export = source.export().context("reading the SQLite database")?;
    let dump = export.dump().await.context("reading the SQLite database")?;
    let expected = export.counts().await.context("counting the SQLite rows")?;
    let copied = target
        .import(&dump, &mut export, args.batch)
        .await
        .context("copying into PostgreSQL (the target was left as it was)")?;
    drop(export);
    let found = target
        .table_counts()
        .await
        .context("counting the PostgreSQL rows")?;

    println!("copied {} to PostgreSQL:", args.from);
    print_counts(&expected, &found);
    if copied != expected || found != expected {
        bail!("the copy does not match the source (see the table above)");
    }
    let (from_epoch, to_epoch) = (source.epoch().await?, target.epoch().await?);
    if from_epoch != to_epoch {
        bail!("the epoch differs after the copy ({from_epoch} != {to_epoch})");
    }
    let head_now = source.head().await.context("re-reading the SQLite head")?;
    if head_now != expected.head {
        bail!(
            "the SQLite database changed during the copy (its head moved from {} to {head_now}): \
             a server is still writing to it. Stop it, empty the PostgreSQL database and run \
             this again",
            expected.head
        );
    }
    println!(
        "verified: every table's row count, the stream head and the epoch match ({:.1?})",
        started.elapsed()
    );
    println!("now run: palaver serve --database <the postgres:// URL>");
    Ok(())
}

fn print_counts(expected: &TableCounts, found: &TableCounts) {
    println!("  {:<14} {:>12} {:>12}", "table", "sqlite", "postgres");
    for ((table, want), (_, got)) in expected.tables().into_iter().zip(found.tables()) {
        let mark = if want == got { "" } else { "  MISMATCH" };
        println!("  {table:<14} {want:>12} {got:>12}{mark}");
    }
    let mark = if expected.head == found.head {
        ""
    } else {
        "  MISMATCH"
    };
    println!(
        "  {:<14} {:>12} {:>12}{mark}",
        "stream head", expected.head, found.head
    );
}
