//! `palaver-bench setup`: create the native bench users (and optionally their rooms, direct
//! conversations and groups) ahead of the runs, so the runs only connect. Idempotent: what the
//! state file records as done is skipped.

use crate::load::common::Common;
use crate::load::state::State;
use anyhow::Result;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Users to have.
    #[arg(long, default_value_t = 1001)]
    pub users: usize,
    /// Sign-ups in flight (the server hashes `auth.hash_concurrency` at a time).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Channels to create, `NAME:MEMBERS` (users 0..MEMBERS join).
    #[arg(long, value_delimiter = ',')]
    pub room: Vec<String>,
    /// Direct conversations of pairs (2p, 2p+1) to create.
    #[arg(long, default_value_t = 0)]
    pub dm_pairs: usize,
    /// Groups of 10 to create.
    #[arg(long, default_value_t = 0)]
    pub groups: usize,
}

pub async fn run(args: Args) -> Result<bool> {
    let c = &args.common;
    let target = c.target()?;
    let progress = c.progress("setup", 0);
    let mut state = State::load(&c.state)?;
    state
        .ensure_users(&target, args.users, args.concurrency, &progress)
        .await?;
    for spec in &args.room {
        let (name, members) = spec.split_once(':').unwrap_or((spec, "0"));
        let members = members.parse().unwrap_or(args.users).min(args.users);
        state
            .ensure_room(&target, name, 0, members, &progress)
            .await?;
    }
    state.ensure_dms(&target, args.dm_pairs, &progress).await?;
    state.ensure_groups(&target, args.groups, &progress).await?;
    progress.finish();
    eprintln!(
        "setup: {} users, {} rooms, {} direct conversations, {} groups in {}",
        state.users.len(),
        state.rooms.len(),
        state.dms.len(),
        state.groups.len(),
        c.state.display()
    );
    Ok(true)
}
