//! `palaver-bench idle`: hold N connections, each a member of a room (native: authenticated
//! users joining `#{room}-{i / room_size}`), then measure the server while nothing happens:
//! RSS per connection (from `/proc/PID/status`, against the RSS before the first connect) and
//! CPU over `--measure-secs` (from `/proc/PID/stat`). Connections answer pings and keep-alives
//! all along, as a real idle client does.

use crate::load::common::{self, Common};
use crate::load::dialect::Target;
use crate::load::hist::round;
use crate::load::seen::{Seen, receive};
use crate::load::shard::{self, Shards};
use crate::load::state::{self, State};
use crate::load::sys;
use crate::load::wire::Ws;
use anyhow::{Result, bail};
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Connections to hold.
    #[arg(long, default_value_t = 10_000)]
    pub conns: usize,
    /// Members per room.
    #[arg(long, default_value_t = 100)]
    pub room_size: usize,
    /// Room name prefix (rooms are `{room}-{k}`).
    #[arg(long, default_value = "bench-idle")]
    pub room: String,
    /// Seconds to let the server settle after the last connect.
    #[arg(long, default_value_t = 3.0)]
    pub settle_secs: f64,
    /// Seconds over which idle CPU is measured.
    #[arg(long, default_value_t = 10.0)]
    pub measure_secs: f64,
}

pub async fn run(args: Args) -> Result<bool> {
    let c = &args.common;
    let target = Rc::new(c.target()?);
    let room_size = args.room_size.max(1);
    let room = |i: usize| format!("{}-{}", args.room, i / room_size);
    let progress = c.progress("connecting", args.conns as u64);
    let mut state = State::default();
    if state::needs_state(c.proto) {
        state = State::load(&c.state)?;
        state
            .ensure_users(&target, args.conns, 4, &progress)
            .await?;
        for k in 0..args.conns.div_ceil(room_size) {
            let (from, to) = (k * room_size, ((k + 1) * room_size).min(args.conns));
            state
                .ensure_room(&target, &room(from), from, to, &progress)
                .await?;
        }
    }
    if c.shard.is_some() {
        let (i, p) = c.shard()?;
        let (from, to) = shard::share(args.conns, i, p);
        let conns = common::connect_all(
            &target,
            to - from,
            from,
            c.source_ips,
            c.connect_concurrency,
            2048,
            |k| room(from + k),
            |k| state.token(from + k),
            &progress,
        )
        .await;
        let seen = hold(
            &target,
            conns.conns.into_iter().flatten().map(|(ws, _)| ws),
            to - from - conns.failures,
        );
        shard::report(
            "ready",
            json!({"connected": to - from - conns.failures, "failures": conns.failures,
                   "wall": conns.wall.as_secs_f64(), "first_error": conns.first_error}),
        );
        let mut link = shard::Link::new();
        while link.command().await == "snap" {
            shard::report(
                "snap",
                json!({"lost": seen.borrow().lost, "cpu": sys::own_cpu_secs()}),
            );
        }
        return Ok(true);
    }
    let watch = c.watch();
    let started = Instant::now();
    let base = watch.sample(started);
    progress.phase("connecting", args.conns as u64);
    let (connected, failures, wall, first_error, mut children, seen) = if c.procs > 1 {
        let mut shards = Shards::spawn(c.procs)?;
        let ready = shards.gather("ready").await?;
        let sum = |k: &str| ready.iter().filter_map(|r| r[k].as_u64()).sum::<u64>() as usize;
        let wall = ready
            .iter()
            .filter_map(|r| r["wall"].as_f64())
            .fold(0.0, f64::max);
        let first = ready
            .iter()
            .find_map(|r| r["first_error"].as_str().map(str::to_owned));
        let (connected, failures) = (sum("connected"), sum("failures"));
        (connected, failures, wall, first, Some(shards), None)
    } else {
        let conns = common::connect_all(
            &target,
            args.conns,
            0,
            c.source_ips,
            c.connect_concurrency,
            2048,
            room,
            |i| state.token(i),
            &progress,
        )
        .await;
        let connected = args.conns - conns.failures;
        let seen = hold(
            &target,
            conns.conns.into_iter().flatten().map(|(ws, _)| ws),
            connected,
        );
        (
            connected,
            conns.failures,
            conns.wall.as_secs_f64(),
            conns.first_error,
            None,
            Some(seen),
        )
    };
    progress.finish();
    if connected == 0 {
        bail!("no connection came up: {}", first_error.unwrap_or_default());
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
    let mut before = watch.sample(started);
    let shard_cpu = async |shards: &mut Shards| -> Result<(f64, usize)> {
        shards.tell("snap").await?;
        let snaps = shards.gather("snap").await?;
        let cpu = snaps.iter().filter_map(|s| s["cpu"].as_f64()).sum();
        let lost = snaps.iter().filter_map(|s| s["lost"].as_u64()).sum::<u64>() as usize;
        Ok((cpu, lost))
    };
    if let Some(shards) = children.as_mut() {
        before.own_cpu += shard_cpu(shards).await?.0;
    }
    tokio::time::sleep(Duration::from_secs_f64(args.measure_secs)).await;
    let mut after = watch.sample(started);
    let lost = match children.as_mut() {
        Some(shards) => {
            let (cpu, lost) = shard_cpu(shards).await?;
            after.own_cpu += cpu;
            shards.tell("stop").await?;
            lost
        }
        None => seen.map(|s| s.borrow().lost).unwrap_or(0),
    };

    let mut row = common::base_row("idle", c);
    row.insert("conns".into(), json!(args.conns));
    row.insert("procs".into(), json!(c.procs));
    row.insert("connected".into(), json!(connected));
    row.insert("failures".into(), json!(failures));
    if let Some(e) = &first_error {
        row.insert("first_error".into(), json!(e));
    }
    row.insert("connect_secs".into(), json!(round(wall)));
    row.insert(
        "connects_per_s".into(),
        json!((connected as f64 / wall.max(1e-9)).round()),
    );
    row.insert("dropped_while_idle".into(), json!(lost));
    if let (Some(b), Some(a)) = (base.server_rss_kib, after.server_rss_kib) {
        row.insert("base_rss_kib".into(), json!(b));
        let per = (a as f64 - b as f64) / connected as f64;
        row.insert("rss_per_conn_kib".into(), json!(round(per)));
    }
    common::add_cpu(&mut row, &before, &after);
    row.insert("measure_secs".into(), json!(args.measure_secs));
    common::emit(c, COLUMNS, &[row])?;
    Ok(failures == 0)
}

/// Keeps connections open, answering pings and keep-alives, counting the ones lost.
fn hold(target: &Rc<Target>, conns: impl Iterator<Item = Ws>, n: usize) -> Rc<RefCell<Seen>> {
    let seen = Rc::new(RefCell::new(Seen::default()));
    seen.borrow_mut().alive = n;
    for ws in conns {
        tokio::task::spawn_local(receive(ws, target.clone(), seen.clone()));
    }
    seen
}

pub const COLUMNS: &[(&str, &str)] = &[
    ("target", "target"),
    ("connected", "conns"),
    ("failures", "failed"),
    ("base_rss_kib", "base RSS KiB"),
    ("server_rss_kib", "RSS KiB"),
    ("rss_per_conn_kib", "KiB/conn"),
    ("server_cpu_pct", "idle cpu%"),
    ("connects_per_s", "conn/s"),
    ("gen_cpu_pct", "gen cpu%"),
];
