//! `palaver-bench history`: concurrent `messages.history` page fetches (50 messages) from
//! random rooms of a large database. Setup seeds `--rooms` channels with `--messages` each
//! (once: the state file remembers), sending JSON-RPC batches from several connections so the
//! store's group commit takes many at once. Then `--concurrency` connections fetch at
//! `--rate` in all (open-loop: each fetch timed from when it was due) for `--secs`:
//! fetches/s and latency. Each fetch asks for the newest page of a random room, or with
//! `--older` a page at a random depth.

use crate::load::caller::{self, Caller, Kind};
use crate::load::common::{self, Common};
use crate::load::dialect::Proto;
use crate::load::hist::round;
use crate::load::state::{State, call};
use crate::load::wire;
use anyhow::{Result, bail};
use futures_util::stream::{self, StreamExt};
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Rooms to fetch from.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Messages seeded in each room.
    #[arg(long, default_value_t = 2000)]
    pub messages: usize,
    /// Connections fetching at once.
    #[arg(long, default_value_t = 100)]
    pub concurrency: usize,
    /// Fetches per second over all connections (open-loop).
    #[arg(long, value_parser = common::parse_rate, default_value = "5k")]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Message text bytes when seeding (~100 B messages).
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Fetch pages at a random depth of each room (`before_seq`) instead of the newest page,
    /// which a server may keep in memory.
    #[arg(long)]
    pub older: bool,
}

/// Seeds room `id` up to `want` messages (user `u` sends, 32 calls per batch, 8 batches in
/// flight).
async fn seed(
    state: &State,
    target: &crate::load::dialect::Target,
    u: usize,
    id: i64,
    want: usize,
    size: usize,
) -> Result<()> {
    let mut ws = state.connect(target, u).await?;
    let last = call(
        &mut ws,
        "h",
        "messages.history",
        json!({"conversation": id, "limit": 1}),
    )
    .await?;
    let have = last["messages"][0]["seq"].as_u64().unwrap_or(0) as usize;
    let text = "h".repeat(size);
    let mut left = want.saturating_sub(have);
    let mut in_flight = 0usize;
    while left > 0 || in_flight > 0 {
        while left > 0 && in_flight < 8 {
            let n = left.min(32);
            let batch: Vec<_> = (0..n)
                .map(|k| json!({"jsonrpc":"2.0","method":"messages.send","params":{"to": id, "text": text},"id": k}))
                .collect();
            ws.queue_text(serde_json::Value::Array(batch).to_string().as_bytes());
            left -= n;
            in_flight += 1;
        }
        let f = ws.recv().await?;
        if ws.payload(&f).starts_with(b"[") {
            if memchr::memmem::find(ws.payload(&f), b"\"error\"").is_some() {
                bail!("seeding: {}", String::from_utf8_lossy(ws.payload(&f)));
            }
            in_flight -= 1;
        }
    }
    Ok(())
}

pub async fn run(args: Args) -> Result<bool> {
    let c = &args.common;
    if c.proto != Proto::Native {
        bail!("history speaks the native protocol only");
    }
    let target = Rc::new(c.target()?);
    let progress = c.progress("setup", 0);
    let mut state = State::load(&c.state)?;
    state
        .ensure_users(&target, args.concurrency.max(8), 4, &progress)
        .await?;
    let mut ids = Vec::new();
    for r in 0..args.rooms {
        let name = format!("bench-hist-{r}");
        ids.push(
            state
                .ensure_room(&target, &name, 0, args.concurrency.max(8), &progress)
                .await?,
        );
    }
    let seeded_key = format!("bench-hist-seeded-{}", args.messages);
    if !state.rooms.contains_key(&seeded_key) {
        progress.phase("seeding", args.rooms as u64);
        let st = &state;
        let t = &target;
        let progress = &progress;
        let jobs = ids.iter().enumerate().map(|(r, &id)| async move {
            let r2 = seed(st, t, r % 8, id, args.messages, args.size).await;
            progress.add(1);
            r2
        });
        let results: Vec<Result<()>> = stream::iter(jobs).buffer_unordered(8).collect().await;
        for r in results {
            r?;
        }
        progress.finish();
        state.rooms.insert(seeded_key, (0, 0, args.rooms));
        state.save()?;
    }
    let ids = Rc::new(ids);
    let callers: Vec<Caller> = (0..args.concurrency)
        .map(|i| {
            let ids = ids.clone();
            let (older, messages) = (args.older, args.messages as u64);
            let rng =
                Cell::new(0x9e37_79b9_7f4a_7c15u64 ^ (i as u64 + 1).wrapping_mul(0x2545_f491));
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
                    let room = ids[(x % ids.len() as u64) as usize];
                    // A seq in 51..=messages: a full page below it.
                    let before = if older {
                        51 + ((x >> 32) % (messages.saturating_sub(50).max(1))) as i64
                    } else {
                        0
                    };
                    (Kind::History { before }, room)
                }),
                size: args.size,
                phase: caller::phase(i),
                churn: Rc::new(Cell::new(false)),
            }
        })
        .collect();
    let (plan, stats, stop) = crate::dm::start_callers(&target, c, callers, &progress).await?;
    let watch = c.watch();
    let started = Instant::now();
    let before = watch.sample(started);
    let (window, offered) = crate::dm::step(
        1,
        args.rate,
        args.secs,
        10.0,
        args.concurrency,
        &plan,
        &stats,
        &progress,
    )
    .await;
    let after = watch.sample(started);
    stop.set(true);
    progress.finish();
    let st = stats.borrow();
    let x = &st.steps[1];
    let mut row = common::base_row("history", c);
    row.insert("rooms".into(), json!(args.rooms));
    row.insert("rows".into(), json!(args.rooms * args.messages));
    row.insert("concurrency".into(), json!(args.concurrency));
    row.insert(
        "pages".into(),
        json!(if args.older { "older" } else { "newest" }),
    );
    row.insert("rate".into(), json!(offered));
    row.insert("fetched".into(), json!(x.fetched));
    row.insert("errors".into(), json!(x.errors));
    row.insert(
        "fetches_per_s".into(),
        json!((x.fetched as f64 / window).round()),
    );
    row.insert("p50_ms".into(), json!(round(x.fetch.ms(0.5))));
    row.insert("p99_ms".into(), json!(round(x.fetch.ms(0.99))));
    row.insert("max_ms".into(), json!(round(x.fetch.max_ms())));
    common::add_cpu(&mut row, &before, &after);
    common::emit(c, COLUMNS, &[row])?;
    Ok(x.errors == 0)
}

pub const COLUMNS: &[(&str, &str)] = &[
    ("target", "target"),
    ("rows", "rows"),
    ("concurrency", "conns"),
    ("pages", "pages"),
    ("rate", "offered/s"),
    ("fetches_per_s", "fetches/s"),
    ("errors", "errors"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("server_cpu_pct", "srv cpu%"),
    ("gen_cpu_pct", "gen cpu%"),
];
