//! `palaver session create|revoke`: session keys of the `session-key` dialect, written
//! straight to the database (the server may be running or not).

use crate::config::{self, ServeArgs};
use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use palaver_store::Store;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum SessionCommand {
    /// Issue a session key for a user in a room they are a member of; prints the key alone
    /// on the last line. Connect with `/compat/session-key?session_key=KEY`.
    Create {
        /// The user's handle (`@` optional).
        #[arg(long)]
        user: String,
        /// The room: `#name`, its name, or its id.
        #[arg(long)]
        room: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke a session key: no new connection can use it. (Connections already open stay
    /// open; `DELETE /api/v1/admin/session-keys/KEY` closes them too.)
    Revoke {
        #[arg(long)]
        key: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// Where the database is: the same flag, environment and file as `palaver serve`.
#[derive(Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://PATH [default: sqlite://palaver.db].
    #[arg(long)]
    database: Option<String>,
    /// A TOML configuration file (see `palaver config example`).
    #[arg(long, env = "PALAVER_CONFIG")]
    config: Option<PathBuf>,
}

impl DatabaseArgs {
    async fn open(&self) -> Result<Arc<dyn Store>> {
        let args = ServeArgs {
            database: self.database.clone(),
            config: self.config.clone(),
            ..ServeArgs::default()
        };
        let settings = config::load(&args)?;
        crate::open_store(&settings.database, &settings.sqlite).await
    }
}

pub async fn run(command: SessionCommand) -> Result<()> {
    let now = now_ms();
    match command {
        SessionCommand::Create { user, room, db } => {
            let store = db.open().await?;
            let issued =
                palaver_server::issue_session_key(store.as_ref(), &user, &room, false, now)
                    .await
                    .map_err(|e| anyhow!("cannot issue a session key: {}", e.message))?;
            let name = issued.room.name.as_deref().unwrap_or("");
            println!(
                "session key for @{} in #{name} (room {}); it is shown only once:",
                issued.user.handle, issued.room.id
            );
            println!("{}", issued.key);
            Ok(())
        }
        SessionCommand::Revoke { key, db } => {
            let store = db.open().await?;
            let revoked = palaver_server::revoke_session_key(store.as_ref(), &key, now)
                .await
                .map_err(|e| anyhow!("cannot revoke the session key: {}", e.message))?;
            if !revoked {
                bail!("no such session key (or it was already revoked)");
            }
            println!("revoked");
            Ok(())
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
