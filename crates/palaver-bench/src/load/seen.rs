//! What the members of a room received: per-step delivery counts, latency histograms and
//! lost connections, recorded by one reader task per connection, and the JSON form in which a
//! shard process hands them to its parent. `fanout` and `idle` share it.

use super::dialect::Target;
use super::hist::Hist;
use super::stamp;
use super::wire::Ws;
use anyhow::Result;
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;

/// What the receivers saw, per step (step 0 is the warm-up).
#[derive(Default)]
pub struct Seen {
    pub delivered: Vec<u64>,
    pub hist: Vec<Hist>,
    pub last_ns: Vec<u64>,
    pub alive: usize,
    pub lost: usize,
    pub first_loss: Option<String>,
}

impl Seen {
    pub fn new(steps: usize) -> Self {
        Self {
            delivered: vec![0; steps],
            hist: (0..steps).map(|_| Hist::new()).collect(),
            last_ns: vec![0; steps],
            ..Self::default()
        }
    }
}

impl Seen {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "delivered": self.delivered,
            "last_ns": self.last_ns,
            "hist": self.hist.iter().map(Hist::to_json).collect::<Vec<_>>(),
            "alive": self.alive,
            "lost": self.lost,
            "first_loss": self.first_loss,
        })
    }

    /// Adds a shard's snapshot to this one.
    pub fn merge_json(&mut self, v: &serde_json::Value) -> Result<()> {
        let nums = |k: &str| -> Vec<u64> {
            v[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_u64)
                .collect()
        };
        for (i, d) in nums("delivered")
            .into_iter()
            .enumerate()
            .take(self.delivered.len())
        {
            self.delivered[i] += d;
        }
        for (i, t) in nums("last_ns")
            .into_iter()
            .enumerate()
            .take(self.last_ns.len())
        {
            self.last_ns[i] = self.last_ns[i].max(t);
        }
        for (i, h) in v["hist"].as_array().into_iter().flatten().enumerate() {
            if let Some(mine) = self.hist.get_mut(i) {
                mine.merge(&Hist::from_json(h)?);
            }
        }
        self.alive += v["alive"].as_u64().unwrap_or(0) as usize;
        self.lost += v["lost"].as_u64().unwrap_or(0) as usize;
        if self.first_loss.is_none() {
            self.first_loss = v["first_loss"].as_str().map(str::to_owned);
        }
        Ok(())
    }
}

/// Reads everything a member receives and records each stamped delivery.
pub async fn receive(mut ws: Ws, target: Rc<Target>, seen: Rc<RefCell<Seen>>) {
    let end = loop {
        if let Err(e) = ws.fill().await {
            break e;
        }
        match record(&mut ws, &target, &mut seen.borrow_mut()) {
            Ok(Some(reply)) => ws.queue_text(reply),
            Ok(None) => {}
            Err(e) => break e,
        }
        if ws.pending_out() > 0
            && let Err(e) = ws.flush().await
        {
            break e;
        }
    };
    let mut s = seen.borrow_mut();
    s.alive -= 1;
    s.lost += 1;
    s.first_loss.get_or_insert_with(|| format!("{end:#}"));
}

/// Records the stamps of every complete frame received; returns a keep-alive answer if one
/// is due.
fn record(ws: &mut Ws, target: &Target, s: &mut Seen) -> Result<Option<&'static [u8]>> {
    let now = stamp::now_ns();
    let mut reply = None;
    while let Some(f) = ws.try_frame()? {
        let p = ws.payload(&f);
        stamp::scan(p, |sent, step| {
            let step = usize::from(step);
            if step < s.delivered.len() {
                s.delivered[step] += 1;
                s.hist[step].record_ns(now.saturating_sub(sent));
                s.last_ns[step] = now;
            }
        });
        reply = reply.or_else(|| target.keepalive(p));
    }
    Ok(reply)
}
