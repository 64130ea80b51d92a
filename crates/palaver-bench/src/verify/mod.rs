//! `palaver-bench verify`: simulated users over real sockets, then a check of every delivery
//! guarantee of `docs/delivery.md` against what they saw.
//!
//! The run has three phases: `setup` (sign-ups, channels, joins, each user's first token),
//! `user::Sim::run` (every user sends its share, dropping and resuming connections, until all
//! of it is acknowledged), and `user::Sim::finish` (once nobody sends any more: a last
//! catch-up, the dialog list, the stored history). Then `check::check` judges the log.

mod check;
mod conn;
mod log;
mod setup;
mod summary;
mod user;

use anyhow::{Context, Result, bail};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use user::{Plan, Shared, Sim, Stats};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The server's base URL. For a cluster, give each node's (repeat `--url`, or separate
    /// them with commas): the users start spread over them, and a user who reconnects picks
    /// one at random.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    pub url: Vec<String>,
    /// Simulated users.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// New messages in the whole run (spread over the users).
    #[arg(long, default_value_t = 5000)]
    pub messages: usize,
    /// Channels every user joins.
    #[arg(long, default_value_t = 5)]
    pub rooms: usize,
    /// Chance per step that a user drops its connection.
    #[arg(long, default_value_t = 0.02)]
    pub disconnect_prob: f64,
    /// Share of new messages sent to a direct conversation instead of a channel.
    #[arg(long, default_value_t = 0.3)]
    pub dm_share: f64,
    /// Chance per step of a `messages.read`.
    #[arg(long, default_value_t = 0.05)]
    pub read_prob: f64,
    /// Chance per step of a catch-up `sync` while connected.
    #[arg(long, default_value_t = 0.02)]
    pub sync_prob: f64,
    /// Chance per step of resending an acknowledged message (must come back `duplicate`).
    #[arg(long, default_value_t = 0.01)]
    pub repeat_prob: f64,
    /// New messages per second over all users (default: as fast as the server answers).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seed of the users' random choices (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Handle and channel name prefix (default: derived from the seed and the clock, so runs
    /// against the same database do not collide).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Sign-ups and joins in flight at once during setup.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds a user keeps trying to reconnect to an unreachable server.
    #[arg(long, default_value_t = 60)]
    pub outage_secs: u64,
    /// Seconds the sending phase may take in all.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 1)]
    pub progress_secs: u64,
}

impl Args {
    fn validate(&self) -> Result<()> {
        if self.users < 2 {
            bail!("--users must be at least 2");
        }
        if self.url.is_empty() {
            bail!("--url needs at least one server");
        }
        if self.rooms < 1 {
            bail!("--rooms must be at least 1");
        }
        for (name, p) in [
            ("--disconnect-prob", self.disconnect_prob),
            ("--dm-share", self.dm_share),
            ("--read-prob", self.read_prob),
            ("--sync-prob", self.sync_prob),
            ("--repeat-prob", self.repeat_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                bail!("{name} must be between 0 and 1");
            }
        }
        if self.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
            bail!("--rate must be positive");
        }
        Ok(())
    }
}

/// Runs the verifier; `Ok(true)` when no guarantee was broken.
pub async fn run(args: Args) -> Result<bool> {
    args.validate()?;
    let started = Instant::now();
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let seed = args.seed.unwrap_or(clock);
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("v{:x}", (seed ^ clock) & 0xff_ffff));
    eprintln!(
        "verify: {} users, {} messages, {} rooms, seed {seed}, prefix {prefix}, server {}",
        args.users,
        args.messages,
        args.rooms,
        args.url.join(" ")
    );

    let world = setup::build(&args.url, &prefix, args.users, args.rooms, args.concurrency)
        .await
        .context("setup")?;
    let shared = Arc::new(Shared {
        ws_urls: args
            .url
            .iter()
            .map(|u| setup::ws_url(u))
            .collect::<Result<_>>()?,
        handles: world.handles,
        channels: world.channels,
        outage: Duration::from_secs(args.outage_secs),
        plan: Plan {
            disconnect: args.disconnect_prob,
            dm: args.dm_share,
            read: args.read_prob,
            sync: args.sync_prob,
            repeat: args.repeat_prob,
            send_interval: args
                .rate
                .map(|r| Duration::from_secs_f64(args.users as f64 / r)),
        },
        stats: Stats::default(),
    });
    let setup_took = started.elapsed();
    eprintln!("verify: setup done in {setup_took:.1?}; sending");

    let progress = tokio::spawn(progress(
        shared.clone(),
        args.messages,
        args.progress_secs,
        started,
    ));
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut running = Vec::new();
    for (ix, ready) in world.users.into_iter().enumerate() {
        let share = args.messages / args.users + usize::from(ix < args.messages % args.users);
        let sim = Sim::new(
            ix,
            shared.clone(),
            ready.token,
            ready.client,
            ready.sync_token,
            share,
            seed,
        );
        running.push(tokio::spawn(sim.run(deadline)));
    }
    let mut sims = Vec::new();
    for task in running {
        sims.push(task.await.context("a user task panicked")?);
    }
    let send_took = started.elapsed() - setup_took;
    eprintln!("verify: sending done in {send_took:.1?}; final catch-up");

    // Only now that nobody sends any more is every conversation's log final.
    let finishing: Vec<_> = sims.into_iter().map(|s| tokio::spawn(s.finish())).collect();
    let mut sims = Vec::new();
    for task in finishing {
        sims.push(task.await.context("a user task panicked")?);
    }
    progress.abort();

    let mut log = log::Log {
        users: args.users,
        channels: shared.channels.iter().map(|(id, _)| *id).collect(),
        ..log::Log::default()
    };
    for s in sims {
        log.acks.extend(s.acks);
        log.deliveries.push(s.deliveries);
        log.read_replies.push(s.read_replies);
        log.dialogs.push(s.dialogs);
        log.history.extend(s.history);
        log.unacked.extend(s.unacked);
        log.errors.extend(s.errors);
        log.warnings.extend(s.warnings);
    }
    let report = check::check(&log);
    summary::print(&summary::Run {
        args: &args,
        seed,
        prefix: &prefix,
        stats: &shared.stats,
        report: &report,
        elapsed: started.elapsed(),
        sending: send_took,
    });
    Ok(report.ok())
}

/// Prints a progress line every `every` seconds (for people, and for scripts that wait for
/// the run to be under way).
async fn progress(shared: Arc<Shared>, total: usize, every: u64, started: Instant) {
    if every == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(every));
    tick.tick().await;
    loop {
        tick.tick().await;
        let s = &shared.stats;
        eprintln!(
            "verify: progress acked={}/{total} connects={} lost={} resyncs={} elapsed={:.1}s",
            s.acked.load(Ordering::Relaxed),
            s.connects.load(Ordering::Relaxed),
            s.losses.load(Ordering::Relaxed),
            s.resyncs.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        );
    }
}
