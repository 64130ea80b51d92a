//! The verifier's output: a summary for people, then one JSON line for scripts.

use super::Args;
use super::check::Report;
use super::user::Stats;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct Run<'a> {
    pub args: &'a Args,
    pub seed: u64,
    pub prefix: &'a str,
    pub stats: &'a Stats,
    pub report: &'a Report,
    pub elapsed: Duration,
    pub sending: Duration,
}

fn n(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

pub fn print(run: &Run<'_>) {
    let (s, r) = (run.stats, run.report);
    let reconnects = n(&s.connects);
    println!("palaver-bench verify");
    println!(
        "  users {}, rooms {}, seed {}, prefix {}",
        run.args.users, run.args.rooms, run.seed, run.prefix
    );
    println!(
        "  messages acked {} (distinct in the log {}), resent on purpose {}, retried after a lost reply {} ({} had been stored)",
        n(&s.acked),
        r.messages,
        n(&s.repeats),
        n(&s.retried),
        n(&s.retried_stored)
    );
    println!(
        "  deliveries checked {} (member x message), messages received {} (live + sync + history)",
        r.deliveries_checked, r.received
    );
    println!(
        "  reconnects {reconnects} (dropped on purpose {}, {} of them with a send in flight; lost {}), catch-ups {}, resyncs {}, read markers moved {}, transient errors {}",
        n(&s.disconnects),
        n(&s.in_flight_drops),
        n(&s.losses),
        n(&s.catch_ups),
        n(&s.resyncs),
        n(&s.reads),
        n(&s.transient)
    );
    println!(
        "  time {:.1}s (sending {:.1}s, {:.0} messages/s)",
        run.elapsed.as_secs_f64(),
        run.sending.as_secs_f64(),
        n(&s.acked) as f64 / run.sending.as_secs_f64().max(0.001)
    );
    if r.ok() {
        println!("  violations: 0");
    } else {
        println!("  violations: {}", r.total());
        for (kind, found) in &r.violations {
            println!("    {kind}: {}", found.count);
            for e in &found.examples {
                println!("      {e}");
            }
        }
    }
    for (kind, found) in &r.warnings {
        println!(
            "  warning {kind}: {} (not a delivery violation; see docs/delivery.md)",
            found.count
        );
        for e in &found.examples {
            println!("      {e}");
        }
    }
    let warnings: Map<String, Value> = r
        .warnings
        .iter()
        .map(|(k, f)| ((*k).to_owned(), json!(f.count)))
        .collect();
    let violations: Map<String, Value> = r
        .violations
        .iter()
        .map(|(k, f)| (k.name().to_owned(), json!(f.count)))
        .collect();
    let line = json!({
        "ok": r.ok(),
        "users": run.args.users,
        "rooms": run.args.rooms,
        "seed": run.seed,
        "messages_acked": n(&s.acked),
        "messages_in_log": r.messages,
        "deliveries_checked": r.deliveries_checked,
        "received": r.received,
        "connects": reconnects,
        "disconnects": n(&s.disconnects),
        "in_flight_drops": n(&s.in_flight_drops),
        "lost": n(&s.losses),
        "catch_ups": n(&s.catch_ups),
        "resyncs": n(&s.resyncs),
        "retried": n(&s.retried),
        "retried_stored": n(&s.retried_stored),
        "repeats": n(&s.repeats),
        "reads": n(&s.reads),
        "elapsed_secs": (run.elapsed.as_secs_f64() * 10.0).round() / 10.0,
        "violations": violations,
        "warnings": warnings,
    });
    println!("{line}");
}
