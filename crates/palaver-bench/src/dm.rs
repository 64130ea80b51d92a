//! `palaver-bench dm`: P pairs of users, each pair in its direct conversation, both sides
//! sending durable messages open-loop. Per step: acknowledged messages/s, ack latency (reply
//! time − intended send time: the server acks after commit) and end-to-end delivery latency
//! to the peer. Native protocol only (the peers have no durable direct messages).

use crate::load::caller::{self, Caller, Kind, MAX_STEPS, Plan, Stats};
use crate::load::common::{self, Common, Row, parse_rate};
use crate::load::dialect::{Proto, Target};
use crate::load::hist::round;
use crate::load::progress::Progress;
use crate::load::stamp;
use crate::load::state::State;
use crate::load::sys::Watch;
use crate::load::wire;
use anyhow::{Result, bail};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Pairs of users (2 connections each).
    #[arg(long, default_value_t = 1000)]
    pub pairs: usize,
    /// Messages per second over all connections, step by step.
    #[arg(long, value_delimiter = ',', value_parser = parse_rate,
          default_value = "1k,2k,5k,10k,20k")]
    pub rates: Vec<f64>,
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
    /// Seconds of unmeasured sending at the first rate before the sweep: the first message of
    /// a conversation after a server start is slower (the hub builds its state).
    #[arg(long, default_value_t = 3.0)]
    pub warmup_secs: f64,
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// The p99 ack bound (ms) for a step to count as sustainable.
    #[arg(long, default_value_t = 5.0)]
    pub p99_ms: f64,
    #[arg(long)]
    pub keep_going: bool,
}

/// Connects one caller per `(token, pick)` and returns their shared plan, stats and stop flag.
pub async fn start_callers(
    target: &Rc<Target>,
    c: &Common,
    callers: Vec<Caller>,
    progress: &Progress,
) -> Result<(Rc<Cell<Option<Plan>>>, Rc<RefCell<Stats>>, Rc<Cell<bool>>)> {
    let n = callers.len();
    progress.phase("connecting", n as u64);
    let tokens: Vec<String> = callers.iter().map(|k| k.token.clone()).collect();
    let conns = common::connect_all(
        target,
        n,
        0,
        c.source_ips,
        c.connect_concurrency,
        4096,
        |_| String::new(),
        |i| tokens.get(i).cloned(),
        progress,
    )
    .await;
    progress.finish();
    if conns.failures > 0 {
        bail!(
            "{} of {n} connections failed: {}",
            conns.failures,
            conns.first_error.unwrap_or_default()
        );
    }
    let plan = Rc::new(Cell::new(None));
    let stats = Rc::new(RefCell::new(Stats::new()));
    let stop = Rc::new(Cell::new(false));
    for (caller, conn) in callers.into_iter().zip(conns.conns) {
        if let Some((ws, _)) = conn {
            tokio::task::spawn_local(caller::run(
                caller,
                ws,
                plan.clone(),
                stats.clone(),
                stop.clone(),
            ));
        }
    }
    Ok((plan, stats, stop))
}

/// Runs one step at `rate` calls/s spread over `conns` connections; returns the step's
/// window in seconds (once everything sent was answered or `drain` passed) and the rate
/// actually offered (every connection sends a whole number of calls).
#[allow(clippy::too_many_arguments)]
pub async fn step(
    s: u8,
    rate: f64,
    secs: f64,
    drain: f64,
    conns: usize,
    plan: &Cell<Option<Plan>>,
    stats: &RefCell<Stats>,
    progress: &Progress,
) -> (f64, f64) {
    let per_conn_rate = rate / conns as f64;
    let per_conn = (secs * per_conn_rate).round().max(1.0) as u64;
    let t0 = stamp::now_ns();
    progress.phase(&format!("step {rate}/s"), per_conn * conns as u64);
    plan.set(Some(Plan {
        step: s,
        t0,
        interval_ns: 1e9 / per_conn_rate,
        per_conn,
    }));
    let answered = |st: &Stats| {
        let x = &st.steps[usize::from(s)];
        x.acked + x.errors + x.fetched
    };
    let end_send = Instant::now() + Duration::from_secs_f64(secs);
    let end = end_send + Duration::from_secs_f64(drain);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let st = stats.borrow();
        let done = answered(&st);
        progress.set(done);
        let now = Instant::now();
        if (now >= end_send && done >= st.steps[usize::from(s)].sent) || now >= end {
            break;
        }
    }
    plan.set(None);
    // Deliveries trail the acks slightly.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let st = stats.borrow();
    let window = (st.steps[usize::from(s)].last_ns.saturating_sub(t0) as f64 / 1e9).max(secs);
    (window, (per_conn * conns as u64) as f64 / secs)
}

/// The common part of a `dm`/`mixed` step row.
pub fn step_row(workload: &str, c: &Common, stats: &Stats, s: u8, rate: f64, window: f64) -> Row {
    let st = &stats.steps[usize::from(s)];
    let mut row = common::base_row(workload, c);
    row.insert("rate".into(), json!(rate));
    row.insert("sent".into(), json!(st.sent));
    row.insert("acked".into(), json!(st.acked));
    row.insert("errors".into(), json!(st.errors));
    row.insert(
        "acked_per_s".into(),
        json!((st.acked as f64 / window).round()),
    );
    row.insert("ack_p50_ms".into(), json!(round(st.ack.ms(0.5))));
    row.insert("ack_p99_ms".into(), json!(round(st.ack.ms(0.99))));
    row.insert("ack_max_ms".into(), json!(round(st.ack.max_ms())));
    row.insert("delivered".into(), json!(st.delivered));
    row.insert(
        "deliveries_per_s".into(),
        json!((st.delivered as f64 / window).round()),
    );
    row.insert("e2e_p50_ms".into(), json!(round(st.e2e.ms(0.5))));
    row.insert("e2e_p99_ms".into(), json!(round(st.e2e.ms(0.99))));
    row.insert("e2e_max_ms".into(), json!(round(st.e2e.max_ms())));
    row.insert("lost_conns".into(), json!(stats.lost));
    row
}

pub async fn run(args: Args) -> Result<bool> {
    let c = &args.common;
    if c.proto != Proto::Native {
        bail!("dm speaks the native protocol only");
    }
    if args.pairs == 0 || args.rates.is_empty() || args.rates.len() >= MAX_STEPS {
        bail!("need --pairs > 0 and 1 to 99 --rates");
    }
    let target = Rc::new(c.target()?);
    let progress = c.progress("setup", 0);
    let mut state = State::load(&c.state)?;
    state
        .ensure_users(&target, 2 * args.pairs, 4, &progress)
        .await?;
    state.ensure_dms(&target, args.pairs, &progress).await?;
    let callers: Vec<Caller> = (0..2 * args.pairs)
        .map(|i| {
            let conv = state.dms[i / 2];
            Caller {
                target: target.clone(),
                token: state.token(i).unwrap_or_default(),
                src: wire::source_ip(i, c.source_ips),
                parity: Some((i % 2) as u8),
                pick: Box::new(move |_| (Kind::Send, conv)),
                size: args.size,
                phase: caller::phase(i),
                churn: Rc::new(Cell::new(false)),
            }
        })
        .collect();
    let (plan, stats, stop) = start_callers(&target, c, callers, &progress).await?;
    let watch: Watch = c.watch();
    let started = Instant::now();
    let mut rows = Vec::new();
    if args.warmup_secs > 0.0 {
        let conns = 2 * args.pairs;
        step(
            0,
            args.rates[0],
            args.warmup_secs,
            args.drain_secs,
            conns,
            &plan,
            &stats,
            &progress,
        )
        .await;
    }
    for (i, &rate) in args.rates.iter().enumerate() {
        let s = (i + 1) as u8;
        let before = watch.sample(started);
        let (window, offered) = step(
            s,
            rate,
            args.secs,
            args.drain_secs,
            2 * args.pairs,
            &plan,
            &stats,
            &progress,
        )
        .await;
        let after = watch.sample(started);
        let st = stats.borrow();
        let mut row = step_row("dm", c, &st, s, offered, window);
        row.insert("pairs".into(), json!(args.pairs));
        let x = &st.steps[usize::from(s)];
        let ok = x.errors == 0 && x.acked == x.sent && x.ack.ms(0.99) <= args.p99_ms;
        row.insert("sustainable".into(), json!(ok));
        common::add_cpu(&mut row, &before, &after);
        let overloaded = x.acked < x.sent * 99 / 100 || x.ack.ms(0.99) > 10.0 * args.p99_ms;
        rows.push(row);
        if overloaded && !args.keep_going {
            break;
        }
    }
    stop.set(true);
    progress.finish();
    common::emit(c, COLUMNS, &rows)?;
    Ok(true)
}

pub const COLUMNS: &[(&str, &str)] = &[
    ("target", "target"),
    ("pairs", "pairs"),
    ("rate", "offered/s"),
    ("acked_per_s", "acked/s"),
    ("errors", "errors"),
    ("ack_p50_ms", "ack p50"),
    ("ack_p99_ms", "ack p99"),
    ("e2e_p50_ms", "e2e p50"),
    ("e2e_p99_ms", "e2e p99"),
    ("server_cpu_pct", "srv cpu%"),
    ("gen_cpu_pct", "gen cpu%"),
    ("sustainable", "ok"),
];
