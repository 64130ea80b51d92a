//! `palaver-bench mixed` (Centrifugo-like): N connections, each user in a personal
//! conversation (the direct conversation with its pair) and a 10-member group. A steady
//! publish rate spread over every connection: most messages go to the group (10 deliveries,
//! the sender's own echo included), `--dm-share` to the direct conversation (2 deliveries),
//! `--history-share` of the calls are `messages.history` pages instead; `--churn`
//! connections per second drop and reconnect. Deliveries/s, delivery and ack latency,
//! reconnect time and server CPU.

use crate::load::caller::{self, Caller, Kind};
use crate::load::common::{self, Common, parse_rate};
use crate::load::dialect::Proto;
use crate::load::hist::round;
use crate::load::state::State;
use crate::load::wire;
use anyhow::{Result, bail};
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Connections (users); rounded up to a multiple of 10.
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,
    /// Publishes per second over all connections.
    #[arg(long, value_parser = parse_rate, default_value = "2k")]
    pub rate: f64,
    /// Share of publishes that go to the direct conversation.
    #[arg(long, default_value_t = 0.1)]
    pub dm_share: f64,
    /// Share of calls that are history fetches.
    #[arg(long, default_value_t = 0.01)]
    pub history_share: f64,
    /// Connections per second that drop and reconnect.
    #[arg(long, value_parser = parse_rate, default_value = "20")]
    pub churn: f64,
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Seconds of unmeasured publishing before the measured window (warms every
    /// conversation's state in the hub).
    #[arg(long, default_value_t = 3.0)]
    pub warmup_secs: f64,
    #[arg(long, default_value_t = 64)]
    pub size: usize,
}

pub async fn run(args: Args) -> Result<bool> {
    let c = &args.common;
    if c.proto != Proto::Native {
        bail!("mixed speaks the native protocol only");
    }
    let n = args.conns.div_ceil(10).max(1) * 10;
    let target = Rc::new(c.target()?);
    let progress = c.progress("setup", 0);
    let mut state = State::load(&c.state)?;
    state.ensure_users(&target, n, 4, &progress).await?;
    state.ensure_dms(&target, n / 2, &progress).await?;
    state.ensure_groups(&target, n / 10, &progress).await?;
    let churn_flags: Vec<Rc<Cell<bool>>> = (0..n).map(|_| Rc::new(Cell::new(false))).collect();
    let callers: Vec<Caller> = (0..n)
        .map(|i| {
            let (group, dm) = (state.groups[i / 10], state.dms[i / 2]);
            let rng =
                Cell::new(0x2545_f491_4f6c_dd1du64 ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9));
            let (dm_share, hist_share) = (args.dm_share, args.history_share);
            Caller {
                target: target.clone(),
                token: state.token(i).unwrap_or_default(),
                src: wire::source_ip(i, c.source_ips),
                parity: None,
                pick: Box::new(move |_| {
                    let mut x = rng.get();
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    rng.set(x);
                    let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                    if u < hist_share {
                        (Kind::History { before: 0 }, group)
                    } else if u < hist_share + dm_share {
                        (Kind::Send, dm)
                    } else {
                        (Kind::Send, group)
                    }
                }),
                size: args.size,
                phase: caller::phase(i),
                churn: churn_flags[i].clone(),
            }
        })
        .collect();
    let (plan, stats, stop) = crate::dm::start_callers(&target, c, callers, &progress).await?;
    let churning = Rc::new(Cell::new(true));
    {
        let (churning, flags, every) = (churning.clone(), churn_flags.clone(), 1.0 / args.churn);
        tokio::task::spawn_local(async move {
            let mut x = 0x1234_5678_9abc_def1u64;
            while churning.get() {
                tokio::time::sleep(Duration::from_secs_f64(every)).await;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                flags[(x % flags.len() as u64) as usize].set(true);
            }
        });
    }
    if args.warmup_secs > 0.0 {
        crate::dm::step(
            0,
            args.rate,
            args.warmup_secs,
            10.0,
            n,
            &plan,
            &stats,
            &progress,
        )
        .await;
    }
    let watch = c.watch();
    let started = Instant::now();
    let before = watch.sample(started);
    let (window, offered) =
        crate::dm::step(1, args.rate, args.secs, 10.0, n, &plan, &stats, &progress).await;
    let after = watch.sample(started);
    churning.set(false);
    stop.set(true);
    progress.finish();
    let st = stats.borrow();
    let mut row = crate::dm::step_row("mixed", c, &st, 1, offered, window);
    let x = &st.steps[1];
    row.insert("conns".into(), json!(n));
    row.insert("churn_per_s".into(), json!(args.churn));
    row.insert("reconnects".into(), json!(st.reconnects));
    row.insert(
        "reconnect_p99_ms".into(),
        json!(round(st.reconnect.ms(0.99))),
    );
    row.insert("fetched".into(), json!(x.fetched));
    row.insert("fetch_p99_ms".into(), json!(round(x.fetch.ms(0.99))));
    common::add_cpu(&mut row, &before, &after);
    common::emit(c, COLUMNS, &[row])?;
    Ok(true)
}

pub const COLUMNS: &[(&str, &str)] = &[
    ("target", "target"),
    ("conns", "conns"),
    ("rate", "publish/s"),
    ("acked_per_s", "acked/s"),
    ("deliveries_per_s", "deliv/s"),
    ("e2e_p50_ms", "e2e p50"),
    ("e2e_p99_ms", "e2e p99"),
    ("ack_p99_ms", "ack p99"),
    ("reconnects", "reconn"),
    ("fetch_p99_ms", "hist p99"),
    ("lost_conns", "lost"),
    ("server_cpu_pct", "srv cpu%"),
    ("gen_cpu_pct", "gen cpu%"),
];
