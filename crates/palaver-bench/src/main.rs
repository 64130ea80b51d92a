//! `palaver-bench`: workloads that drive a running Palaver server (or a peer) over real
//! sockets. Each workload is a module with its own `Args` and `run`; `verify` is the
//! correctness verifier, the others are load workloads built on `load`.

mod dm;
mod fanout;
mod history;
mod idle;
mod load;
mod mixed;
mod setup;
mod storm;
mod table;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "palaver-bench",
    version,
    about = "Load generator and correctness verifier for Palaver"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate users who send, disconnect, resume with `sync` and retry; then check that
    /// every acknowledged message reached every member exactly once, in order, without gaps.
    /// Exits 1 on any violation.
    Verify(verify::Args),
    /// Hold N connections, each in a room; report the server's RSS per connection and its
    /// idle CPU.
    Idle(idle::Args),
    /// One sender, N members of a room, an open-loop rate sweep: delivered messages/s and
    /// delivery latency quantiles.
    Fanout(fanout::Args),
    /// Pairs of users exchanging durable direct messages: acknowledged messages/s, ack and
    /// end-to-end latency.
    Dm(dm::Args),
    /// Connect + authenticate + join as fast as possible: connections/s, time to joined.
    Storm(storm::Args),
    /// Concurrent history page fetches from a large database: fetches/s, latency.
    History(history::Args),
    /// Many connections in a personal conversation and a 10-member group: steady publishing
    /// with churn and some history reads.
    Mixed(mixed::Args),
    /// Create the native bench users (and rooms) once, ahead of the runs.
    Setup(setup::Args),
    /// Turn JSON lines of earlier runs into the Markdown comparison tables.
    Table(table::Args),
}

impl Command {
    fn pin(&self) -> Option<usize> {
        match self {
            Command::Verify(_) => None,
            Command::Idle(a) => a.common.pin,
            Command::Fanout(a) => a.common.pin,
            Command::Dm(a) => a.common.pin,
            Command::Storm(a) => a.common.pin,
            Command::History(a) => a.common.pin,
            Command::Mixed(a) => a.common.pin,
            Command::Setup(_) | Command::Table(_) => None,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(cpu) = cli.command.pin()
        && let Err(e) = load::sys::pin(cpu)
    {
        eprintln!("palaver-bench: {e:#}");
        return ExitCode::from(2);
    }
    // The verifier spreads over every core; load workloads stay on one thread so they cost
    // at most one core of the two the server shares.
    let runtime = match &cli.command {
        Command::Verify(_) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("palaver-bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let local = tokio::task::LocalSet::new();
    let outcome = match cli.command {
        Command::Verify(args) => runtime.block_on(verify::run(args)),
        Command::Idle(args) => local.block_on(&runtime, idle::run(args)),
        Command::Fanout(args) => local.block_on(&runtime, fanout::run(args)),
        Command::Dm(args) => local.block_on(&runtime, dm::run(args)),
        Command::Storm(args) => local.block_on(&runtime, storm::run(args)),
        Command::History(args) => local.block_on(&runtime, history::run(args)),
        Command::Mixed(args) => local.block_on(&runtime, mixed::run(args)),
        Command::Setup(args) => local.block_on(&runtime, setup::run(args)),
        Command::Table(args) => table::run(args),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("palaver-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}
