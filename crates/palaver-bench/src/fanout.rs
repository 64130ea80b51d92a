//! `palaver-bench fanout`: one sender, N members of one room, an open-loop rate sweep.
//!
//! Each step sends at `rate / N` messages per second for `--secs`; every message carries its
//! intended send time, so a server (or generator) that falls behind shows up as latency, never
//! as a slower send rate (no coordinated omission). After the sending window the step waits up
//! to `--drain-secs` for the deliveries still in flight. Delivered messages/s and the latency
//! quantiles are per step; the sweep stops after the first step that loses deliveries or whose
//! p99 exceeds ten times `--p99-ms` (unless `--keep-going`).

use crate::load::common::{self, Common, parse_rate};
use crate::load::dialect::{Proto, Target};
use crate::load::hist::round;
use crate::load::seen::{Seen, receive};
use crate::load::shard::{self, Shards};
use crate::load::stamp;
use crate::load::state::{self, State};
use crate::load::wire::Ws;
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Members of the room (receiving connections).
    #[arg(long, default_value_t = 1000)]
    pub members: usize,
    /// Deliveries per second to offer, step by step (`100k`, `1.6M`, …).
    #[arg(long, value_delimiter = ',', value_parser = parse_rate,
          default_value = "100k,200k,400k,800k,1.6M,3.2M")]
    pub rates: Vec<f64>,
    /// Seconds each step sends.
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
    /// Seconds of unmeasured sending before the sweep (at the first rate).
    #[arg(long, default_value_t = 1.0)]
    pub warmup_secs: f64,
    /// Seconds a step waits for deliveries still in flight.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    /// Payload bytes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// The room (channel) name.
    #[arg(long, default_value = "bench-fanout")]
    pub room: String,
    /// The p99 bound (ms) for a step to count as sustainable.
    #[arg(long, default_value_t = 50.0)]
    pub p99_ms: f64,
    /// Run every step even after one overloads.
    #[arg(long)]
    pub keep_going: bool,
}

/// Where the members live: in this process, or in shard processes.
enum Members {
    Local(Rc<RefCell<Seen>>),
    Remote {
        shards: Shards,
        steps: usize,
        alive: usize,
    },
}

impl Members {
    fn delivered(&mut self, s: usize) -> u64 {
        match self {
            Members::Local(seen) => seen.borrow().delivered[s],
            Members::Remote { shards, .. } => shards.delivered_at(s),
        }
    }

    fn alive(&self) -> usize {
        match self {
            Members::Local(seen) => seen.borrow().alive,
            Members::Remote { alive, .. } => *alive,
        }
    }

    async fn snapshot(&mut self) -> Result<Seen> {
        match self {
            Members::Local(seen) => {
                let s = seen.borrow();
                Ok(Seen {
                    delivered: s.delivered.clone(),
                    hist: s.hist.clone(),
                    last_ns: s.last_ns.clone(),
                    alive: s.alive,
                    lost: s.lost,
                    first_loss: s.first_loss.clone(),
                })
            }
            Members::Remote {
                shards,
                steps,
                alive,
            } => {
                shards.tell("snap").await?;
                let mut all = Seen::new(*steps);
                for v in shards.gather("snap").await? {
                    all.merge_json(&v)?;
                }
                *alive = all.alive;
                Ok(all)
            }
        }
    }
}

/// A shard of a multi-process run: connects its share of the members, reports, obeys.
async fn run_shard(
    args: &Args,
    target: Rc<Target>,
    state: &State,
    i: usize,
    p: usize,
) -> Result<bool> {
    let c = &args.common;
    let (from, to) = shard::share(args.members, i, p);
    let conns = common::connect_all(
        &target,
        to - from,
        1 + from,
        c.source_ips,
        c.connect_concurrency,
        16 * 1024,
        |_| args.room.clone(),
        |k| state.token(from + k + 1),
        &c.progress("", 0),
    )
    .await;
    if conns.failures > 0 {
        let e = conns.first_error.unwrap_or_default();
        shard::report(
            "error",
            json!(format!("{} members failed to connect: {e}", conns.failures)),
        );
        return Ok(false);
    }
    let seen = Rc::new(RefCell::new(Seen::new(args.rates.len() + 1)));
    seen.borrow_mut().alive = to - from;
    for (ws, _) in conns.conns.into_iter().flatten() {
        tokio::task::spawn_local(receive(ws, target.clone(), seen.clone()));
    }
    shard::report("ready", json!(to - from));
    {
        let seen = seen.clone();
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                shard::report("delivered", json!(seen.borrow().delivered));
            }
        });
    }
    let mut link = shard::Link::new();
    while link.command().await == "snap" {
        shard::report("snap", seen.borrow().to_json());
    }
    Ok(true)
}

/// A sending window for the sender task.
struct Step {
    step: u8,
    msgs_per_s: f64,
    secs: f64,
    done: oneshot::Sender<Result<Sent>>,
}

#[derive(Clone, Copy, Default, Debug)]
pub struct Sent {
    pub sent: u64,
    pub started_ns: u64,
    /// Native: error replies to `messages.send`.
    pub errors: u64,
}

/// The sender: idles reading its own socket (the server echoes to it too) and runs each step
/// open-loop, never waiting on the server to pace itself.
async fn sender(
    mut ws: Ws,
    target: Rc<Target>,
    to: String,
    size: usize,
    mut steps: mpsc::UnboundedReceiver<Step>,
) -> Result<()> {
    let mut errors = 0u64;
    let mut id = 0u64;
    let (mut pbuf, mut mbuf) = (Vec::with_capacity(size), Vec::with_capacity(size + 128));
    loop {
        let cmd = tokio::select! {
            c = steps.recv() => match c { Some(c) => c, None => return Ok(()) },
            r = ws.fill() => { r?; errors += drain(&mut ws, &target)?; continue; }
        };
        let interval = 1e9 / cmd.msgs_per_s;
        let total = (cmd.secs * cmd.msgs_per_s).round().max(1.0) as u64;
        let t0 = stamp::now_ns();
        let mut k = 0u64;
        let result = loop {
            let now = stamp::now_ns();
            let due = (((now - t0) as f64 / interval) as u64 + 1).min(total);
            while k < due {
                let at = t0 + (k as f64 * interval) as u64;
                pbuf.clear();
                stamp::payload(at, cmd.step, size, &mut pbuf);
                mbuf.clear();
                id += 1;
                target.message(&to, &pbuf, id, &mut mbuf);
                ws.queue_text(&mbuf);
                k += 1;
            }
            if let Err(e) = ws.try_flush() {
                break Err(e);
            }
            if k >= total && ws.pending_out() == 0 {
                break Ok(());
            }
            let next = t0 + (k as f64 * interval) as u64;
            let wait = Duration::from_nanos(next.saturating_sub(stamp::now_ns()));
            let blocked = ws.pending_out() > 0;
            tokio::select! {
                _ = tokio::time::sleep(wait), if k < total => {}
                r = ws.fill_or_writable(blocked) => {
                    match r.and_then(|()| drain(&mut ws, &target)) {
                        Ok(n) => errors += n,
                        Err(e) => break Err(e),
                    }
                }
            }
        };
        let _ = cmd.done.send(result.map(|()| Sent {
            sent: total,
            started_ns: t0,
            errors,
        }));
    }
}

/// Consumes the sender's received frames; counts native error replies.
fn drain(ws: &mut Ws, target: &Target) -> Result<u64> {
    let mut errors = 0;
    let mut reply = None;
    while let Some(f) = ws.try_frame()? {
        let p = ws.payload(&f);
        if target.proto == Proto::Native && memchr::memmem::find(p, b"\"error\"").is_some() {
            errors += 1;
        }
        reply = reply.or_else(|| target.keepalive(p));
    }
    if let Some(r) = reply {
        ws.queue_text(r);
    }
    Ok(errors)
}

pub async fn run(args: Args) -> Result<bool> {
    let c = &args.common;
    if args.members == 0 || args.rates.is_empty() || args.rates.len() > 250 {
        bail!("need --members > 0 and 1 to 250 --rates");
    }
    if args.size < stamp::STAMP_LEN {
        bail!("--size must be at least {} (the stamp)", stamp::STAMP_LEN);
    }
    let target = Rc::new(c.target()?);
    let progress = c.progress("connecting", args.members as u64);
    let mut state = State::default();
    let mut to = String::new();
    if state::needs_state(c.proto) {
        state = State::load(&c.state)?;
        state
            .ensure_users(&target, args.members + 1, 4, &progress)
            .await?;
        let id = state
            .ensure_room(&target, &args.room, 0, args.members + 1, &progress)
            .await?;
        to = id.to_string();
    }
    let steps = args.rates.len() + 1;
    let mut members = if let Some((i, p)) = c.shard.as_ref().map(|_| c.shard()).transpose()? {
        return run_shard(&args, target, &state, i, p).await;
    } else if c.procs > 1 {
        let mut shards = Shards::spawn(c.procs)?;
        let ready = shards.gather("ready").await?;
        let alive = ready
            .iter()
            .filter_map(serde_json::Value::as_u64)
            .sum::<u64>() as usize;
        Members::Remote {
            shards,
            steps,
            alive,
        }
    } else {
        progress.phase("connecting", args.members as u64);
        // Member i is user i + 1; the sender is user 0.
        let conns = common::connect_all(
            &target,
            args.members,
            1,
            c.source_ips,
            c.connect_concurrency,
            16 * 1024,
            |_| args.room.clone(),
            |i| state.token(i + 1),
            &progress,
        )
        .await;
        progress.finish();
        if conns.failures > 0 {
            bail!(
                "{} of {} members failed to connect: {}",
                conns.failures,
                args.members,
                conns.first_error.unwrap_or_default()
            );
        }
        let seen = Rc::new(RefCell::new(Seen::new(steps)));
        seen.borrow_mut().alive = args.members;
        for (ws, _) in conns.conns.into_iter().flatten() {
            tokio::task::spawn_local(receive(ws, target.clone(), seen.clone()));
        }
        Members::Local(seen)
    };
    let (sws, _) = target
        .join(None, &args.room, state.token(0).as_deref(), 16 * 1024)
        .await
        .context("connecting the sender")?;
    let (tx, rx) = mpsc::unbounded_channel();
    let sending = tokio::task::spawn_local(sender(sws, target.clone(), to, args.size, rx));

    let watch = c.watch();
    let started = Instant::now();
    let mut rows = Vec::new();
    let rates = std::iter::once(args.rates[0]).chain(args.rates.iter().copied());
    for (s, rate) in rates.enumerate() {
        let warmup = s == 0;
        let alive = members.alive();
        if alive == 0 {
            bail!("every member was disconnected");
        }
        let msgs_per_s = rate / args.members as f64;
        let secs = if warmup { args.warmup_secs } else { args.secs };
        let what = if warmup { "warm-up" } else { "step" };
        let expected_max = (secs * msgs_per_s).round().max(1.0) as u64 * alive as u64;
        progress.phase(&format!("{what} {rate}/s"), expected_max);
        let before = watch.sample(started);
        let (done_tx, mut done_rx) = oneshot::channel();
        let step = Step {
            step: s as u8,
            msgs_per_s,
            secs,
            done: done_tx,
        };
        tx.send(step)
            .map_err(|_| anyhow::anyhow!("the sender stopped"))?;
        let sent = loop {
            tokio::select! {
                r = &mut done_rx => break r.map_err(|_| anyhow::anyhow!("the sender stopped"))??,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    progress.set(members.delivered(s));
                }
            }
        };
        let expected = sent.sent * alive as u64;
        let drain_until = Instant::now() + Duration::from_secs_f64(args.drain_secs);
        while members.delivered(s) < expected && Instant::now() < drain_until {
            tokio::time::sleep(Duration::from_millis(20)).await;
            progress.set(members.delivered(s));
        }
        let after = watch.sample(started);
        if warmup {
            continue;
        }
        let seen_now = members.snapshot().await?;
        let delivered = seen_now.delivered[s];
        let h = &seen_now.hist[s];
        let window = (seen_now.last_ns[s].saturating_sub(sent.started_ns) as f64 / 1e9).max(secs);
        let pct = delivered as f64 * 100.0 / expected.max(1) as f64;
        let sustainable = pct >= 99.9 && h.ms(0.99) <= args.p99_ms;
        let mut row = common::base_row("fanout", c);
        row.insert("members".into(), json!(alive));
        row.insert("procs".into(), json!(c.procs));
        row.insert("rate".into(), json!(rate));
        row.insert("msgs_per_s".into(), json!(round(msgs_per_s)));
        row.insert("sent".into(), json!(sent.sent));
        row.insert("send_errors".into(), json!(sent.errors));
        row.insert("expected".into(), json!(expected));
        row.insert("delivered".into(), json!(delivered));
        row.insert("delivered_pct".into(), json!(round(pct)));
        row.insert(
            "deliveries_per_s".into(),
            json!((delivered as f64 / window).round()),
        );
        for (k, v) in h.summary().as_object().into_iter().flatten() {
            row.insert(k.clone(), v.clone());
        }
        row.insert("lost_conns".into(), json!(seen_now.lost));
        row.insert("sustainable".into(), json!(sustainable));
        row.insert("latency_hist".into(), h.to_json());
        common::add_cpu(&mut row, &before, &after);
        let overloaded = pct < 99.0 || h.ms(0.99) > 10.0 * args.p99_ms || seen_now.lost > 0;
        rows.push(row);
        if overloaded && !args.keep_going {
            break;
        }
    }
    progress.finish();
    drop(tx);
    let _ = sending.await;
    if let Members::Remote { shards, .. } = &mut members {
        shards.tell("stop").await?;
    }
    common::emit(c, COLUMNS, &rows)?;
    Ok(true)
}

/// The table's columns: (JSON key, header).
pub const COLUMNS: &[(&str, &str)] = &[
    ("target", "target"),
    ("members", "N"),
    ("rate", "offered/s"),
    ("deliveries_per_s", "delivered/s"),
    ("delivered_pct", "deliv%"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("p999_ms", "p99.9 ms"),
    ("max_ms", "max ms"),
    ("server_cpu_pct", "srv cpu%"),
    ("gen_cpu_pct", "gen cpu%"),
    ("sustainable", "ok"),
];
