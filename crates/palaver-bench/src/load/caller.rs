//! A native connection that makes calls open-loop and records what comes back: the reply to
//! each call (calls of a connection are answered in order, so replies pair with a queue of
//! intended send times) and every stamped `message` it receives. `dm` and `mixed` run many of
//! these under one shared plan.

use super::dialect::Target;
use super::hist::Hist;
use super::stamp;
use super::wire::Ws;
use anyhow::Result;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

/// Steps in a sweep at most (the step travels in a stamp byte, with a parity bit).
pub const MAX_STEPS: usize = 100;

/// What a connection should do now: send `per_conn` calls spaced `interval_ns` from `t0`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Plan {
    pub step: u8,
    pub t0: u64,
    pub interval_ns: f64,
    pub per_conn: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Send,
    /// A page of 50: the newest, or with `before_seq` when not 0.
    History {
        before: i64,
    },
}

/// Per-step results.
#[derive(Default)]
pub struct StepStats {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub ack: Hist,
    pub delivered: u64,
    pub e2e: Hist,
    pub fetched: u64,
    pub fetch: Hist,
    pub last_ns: u64,
}

#[derive(Default)]
pub struct Stats {
    pub steps: Vec<StepStats>,
    pub reconnects: u64,
    pub reconnect: Hist,
    pub lost: u64,
    pub first_error: Option<String>,
}

impl Stats {
    pub fn new() -> Self {
        Self {
            steps: (0..MAX_STEPS).map(|_| StepStats::default()).collect(),
            ..Self::default()
        }
    }
}

/// The phase of connection `i`: golden-ratio steps spread any number of connections evenly.
pub fn phase(i: usize) -> f64 {
    (i as f64 * 0.618_033_988_75).fract()
}

/// One connection's identity and what it sends.
pub struct Caller {
    pub target: Rc<Target>,
    pub token: String,
    pub src: Option<Ipv4Addr>,
    /// 0 or 1: deliveries stamped with the same parity are this connection's own (`dm` skips
    /// them); `None` counts every delivery.
    pub parity: Option<u8>,
    /// Picks call `k`: its kind and the conversation id.
    pub pick: Box<dyn Fn(u64) -> (Kind, i64)>,
    pub size: usize,
    /// Where in its sending interval this connection's calls fall (0..1): spreads the calls
    /// of many connections evenly instead of sending them all at the same instants.
    pub phase: f64,
    /// Set from outside to make the connection drop and reconnect (churn).
    pub churn: Rc<Cell<bool>>,
}

/// Runs until `stop` is set.
pub async fn run(
    c: Caller,
    mut ws: Ws,
    plan: Rc<Cell<Option<Plan>>>,
    stats: Rc<RefCell<Stats>>,
    stop: Rc<Cell<bool>>,
) {
    let mut pending: VecDeque<(u64, u8, Kind)> = VecDeque::new();
    let (mut k, mut id) = (0u64, 0u64);
    let mut current: Option<(u8, u64)> = None;
    let (mut pbuf, mut mbuf) = (Vec::new(), Vec::new());
    while !stop.get() {
        if c.churn.replace(false) {
            drop(ws);
            let t = stamp::now_ns();
            match c.target.join(c.src, "", Some(&c.token), 4096).await {
                Ok((w, _)) => {
                    ws = w;
                    let mut s = stats.borrow_mut();
                    s.reconnects += 1;
                    s.reconnect.record_ns(stamp::now_ns() - t);
                }
                Err(e) => return lose(&stats, e),
            }
            pending.clear();
        }
        let p = plan.get();
        if let Some(p) = p {
            if current != Some((p.step, p.t0)) {
                current = Some((p.step, p.t0));
                k = 0;
            }
            let now = stamp::now_ns();
            let elapsed = now.saturating_sub(p.t0) as f64 / p.interval_ns - c.phase;
            let due = if elapsed < 0.0 {
                0
            } else {
                (elapsed as u64 + 1).min(p.per_conn)
            };
            let mut s = stats.borrow_mut();
            while k < due {
                let at = p.t0 + ((k as f64 + c.phase) * p.interval_ns) as u64;
                let (kind, conv) = (c.pick)(k);
                mbuf.clear();
                id += 1;
                match kind {
                    Kind::Send => {
                        pbuf.clear();
                        let tag = p.step * 2 + c.parity.unwrap_or(0);
                        stamp::payload(at, tag, c.size, &mut pbuf);
                        c.target.message(&conv.to_string(), &pbuf, id, &mut mbuf);
                        s.steps[usize::from(p.step)].sent += 1;
                    }
                    Kind::History { before } => {
                        use std::io::Write;
                        let _ = write!(
                            mbuf,
                            r#"{{"jsonrpc":"2.0","method":"messages.history","params":{{"conversation":{conv},"limit":50"#
                        );
                        if before > 0 {
                            let _ = write!(mbuf, r#","before_seq":{before}"#);
                        }
                        let _ = write!(mbuf, r#"}},"id":{id}}}"#);
                    }
                }
                ws.queue_text(&mbuf);
                pending.push_back((at, p.step, kind));
                k += 1;
            }
        }
        if let Err(e) = ws.try_flush() {
            return lose(&stats, e);
        }
        let wait = match p {
            Some(p) if k < p.per_conn => Duration::from_nanos(
                (p.t0 + ((k as f64 + c.phase) * p.interval_ns) as u64)
                    .saturating_sub(stamp::now_ns()),
            )
            .min(Duration::from_millis(50)),
            _ => Duration::from_millis(50),
        };
        let blocked = ws.pending_out() > 0;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = ws.fill_or_writable(blocked) => {
                if let Err(e) = r {
                    return lose(&stats, e);
                }
                if let Err(e) = absorb(&mut ws, &c, &mut pending, &stats) {
                    return lose(&stats, e);
                }
            }
        }
    }
}

fn lose(stats: &RefCell<Stats>, e: anyhow::Error) {
    let mut s = stats.borrow_mut();
    s.lost += 1;
    s.first_error.get_or_insert_with(|| format!("{e:#}"));
}

/// Records every complete frame received: replies pair with `pending`, stamps are deliveries.
fn absorb(
    ws: &mut Ws,
    c: &Caller,
    pending: &mut VecDeque<(u64, u8, Kind)>,
    stats: &RefCell<Stats>,
) -> Result<()> {
    let now = stamp::now_ns();
    let mut s = stats.borrow_mut();
    while let Some(f) = ws.try_frame()? {
        let p = ws.payload(&f);
        if p.starts_with(b"{\"id\"") || p.starts_with(b"{\"error\"") {
            let Some((at, step, kind)) = pending.pop_front() else {
                continue;
            };
            let st = &mut s.steps[usize::from(step)];
            let lat = now.saturating_sub(at);
            if p.starts_with(b"{\"error\"") {
                st.errors += 1;
            } else if kind == Kind::Send {
                st.acked += 1;
                st.ack.record_ns(lat);
            } else {
                st.fetched += 1;
                st.fetch.record_ns(lat);
            }
            st.last_ns = now;
            continue;
        }
        stamp::scan(p, |sent, tag| {
            let (step, parity) = (usize::from(tag / 2), tag % 2);
            if c.parity.is_some_and(|own| own == parity) || step >= MAX_STEPS {
                return;
            }
            let st = &mut s.steps[step];
            st.delivered += 1;
            st.e2e.record_ns(now.saturating_sub(sent));
            st.last_ns = st.last_ns.max(now);
        });
    }
    Ok(())
}
