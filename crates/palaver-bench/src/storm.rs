//! `palaver-bench storm`: connect + authenticate + join as fast as possible, `--connect-
//! concurrency` attempts in flight. Connections/s and time to joined (from the start of the
//! TCP connect to the server's confirmation that the connection is in the room).
//! Connections stay open until the end, as in a reconnect storm.

use crate::load::common::{self, Common};
use crate::load::hist::{Hist, round};
use crate::load::state::{self, State};
use anyhow::Result;
use serde_json::json;
use std::time::Instant;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Connections to open.
    #[arg(long, default_value_t = 5000)]
    pub conns: usize,
    /// The room every connection joins.
    #[arg(long, default_value = "bench-storm")]
    pub room: String,
}

pub async fn run(args: Args) -> Result<bool> {
    let c = &args.common;
    let target = c.target()?;
    let progress = c.progress("setup", 0);
    let mut state = State::default();
    if state::needs_state(c.proto) {
        state = State::load(&c.state)?;
        state
            .ensure_users(&target, args.conns, 4, &progress)
            .await?;
        state
            .ensure_room(&target, &args.room, 0, args.conns, &progress)
            .await?;
    }
    let watch = c.watch();
    let started = Instant::now();
    let before = watch.sample(started);
    progress.phase("storm", args.conns as u64);
    let conns = common::connect_all(
        &target,
        args.conns,
        0,
        c.source_ips,
        c.connect_concurrency,
        2048,
        |_| args.room.clone(),
        |i| state.token(i),
        &progress,
    )
    .await;
    let after = watch.sample(started);
    progress.finish();
    let mut h = Hist::new();
    for t in &conns.times {
        h.record_ns((t * 1e9) as u64);
    }
    let connected = args.conns - conns.failures;
    let mut row = common::base_row("storm", c);
    row.insert("conns".into(), json!(args.conns));
    row.insert("in_flight".into(), json!(c.connect_concurrency));
    row.insert("connected".into(), json!(connected));
    row.insert("failures".into(), json!(conns.failures));
    if let Some(e) = &conns.first_error {
        row.insert("first_error".into(), json!(e));
    }
    row.insert("wall_s".into(), json!(round(conns.wall.as_secs_f64())));
    row.insert(
        "conns_per_s".into(),
        json!((connected as f64 / conns.wall.as_secs_f64().max(1e-9)).round()),
    );
    for (k, v) in h.summary().as_object().into_iter().flatten() {
        row.insert(k.clone(), v.clone());
    }
    common::add_cpu(&mut row, &before, &after);
    drop(conns.conns);
    common::emit(c, COLUMNS, &[row])?;
    Ok(conns.failures == 0)
}

pub const COLUMNS: &[(&str, &str)] = &[
    ("target", "target"),
    ("conns", "conns"),
    ("in_flight", "in flight"),
    ("failures", "failed"),
    ("conns_per_s", "conn/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("server_cpu_pct", "srv cpu%"),
    ("gen_cpu_pct", "gen cpu%"),
];
