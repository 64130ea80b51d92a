//! The `palaver` binary: reads configuration, picks the store and bus backends by URL scheme,
//! sets up logging and signals, and runs the server. The only composition root.

mod config;
mod migrate;
mod session;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use palaver_bus::{Bus, LocalBus};
use palaver_bus_nats::NatsBus;
use palaver_server::{Settings, SqliteSettings};
use palaver_store::Store;
use palaver_store_postgres::{PgOptions, PgStore};
use palaver_store_sqlite::{SqliteOptions, SqliteStore};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// mimalloc in place of the system allocator: in profiles of sign-in storms and history reads
/// glibc's malloc took 10–20 % of the server's CPU (arena locks, `malloc_consolidate`). It costs
/// about 26 MiB more base RSS (docs/benchmarks.md, run 4b). Without the `mimalloc` feature the
/// system allocator is used (for a small server, and for heap profilers that hook malloc).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "palaver", version, about = "A real-time chat server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(config::ServeArgs),
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Session keys of the `session-key` dialect.
    Session {
        #[command(subcommand)]
        command: session::SessionCommand,
    },
    /// Copy a SQLite deployment into an empty PostgreSQL database, everything kept. Stop the
    /// server first.
    MigrateStore(migrate::MigrateArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration file with every setting and its default.
    Example,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", config::example());
            Ok(())
        }
        Command::Session { command } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(session::run(command))
        }
        Command::MigrateStore(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(migrate::run(args))
        }
        Command::Serve(args) => {
            let settings = config::load(&args)?;
            init_tracing();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(serve(settings))
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PALAVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

/// The store a database URL names: `sqlite://PATH` or `postgres://…`.
pub(crate) async fn open_store(url: &str, sqlite: &SqliteSettings) -> Result<Arc<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            bail!("`database` needs a path: sqlite://PATH");
        }
        let store = SqliteStore::open(&PathBuf::from(path), sqlite_options(sqlite))
            .with_context(|| format!("opening SQLite database {path}"))?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgStore::connect(url, PgOptions::default())
            .await
            .context("connecting to PostgreSQL")?;
        return Ok(Arc::new(store));
    }
    bail!("unsupported database URL `{url}`: expected sqlite://PATH or postgres://…")
}

/// The `[sqlite]` settings as the store's options. The settings live in palaver-server, which
/// names no backend, so both sides have defaults; a test keeps them equal.
fn sqlite_options(sqlite: &SqliteSettings) -> SqliteOptions {
    SqliteOptions {
        synchronous_full: sqlite.synchronous_full,
        read_connections: sqlite.read_connections,
        max_batch: sqlite.max_batch,
        page_size: sqlite.page_size,
        writer_cache_kib: sqlite.writer_cache_kib,
        checkpoint_pages: sqlite.checkpoint_pages,
    }
}

/// The bus a URL names: none (this node alone) or `nats://…`.
async fn open_bus(url: Option<&str>, node: Option<&str>) -> Result<Arc<dyn Bus>> {
    let Some(url) = url else {
        return Ok(Arc::new(LocalBus::new()));
    };
    if url.starts_with("nats://") {
        let name = node.unwrap_or("palaver");
        let bus = NatsBus::connect(url, name)
            .await
            .context("connecting to NATS")?;
        return Ok(Arc::new(bus));
    }
    bail!("unsupported bus URL `{url}`: expected nats://HOST:PORT")
}

async fn serve(settings: Settings) -> Result<()> {
    let store = open_store(&settings.database, &settings.sqlite).await?;
    let bus = open_bus(settings.bus.as_deref(), settings.node_name.as_deref()).await?;
    let listener = palaver_server::bind(settings.listen, settings.listen_backlog)
        .with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    tokio::spawn(on_signal(shutdown.clone()));
    let database = settings.database.clone();
    let ready = move || {
        tracing::info!(%addr, %database, "palaver serving");
        // Scripts and tests wait for this line on stdout.
        println!("palaver listening on http://{addr}");
    };
    palaver_server::serve(listener, settings, store, bus, shutdown, ready).await?;
    tracing::info!("palaver stopped");
    Ok(())
}

async fn on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("could not install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    shutdown.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_settings_default_to_the_stores_defaults() {
        assert_eq!(
            format!("{:?}", sqlite_options(&SqliteSettings::default())),
            format!("{:?}", SqliteOptions::default())
        );
    }
}
