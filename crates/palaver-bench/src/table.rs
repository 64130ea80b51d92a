//! `palaver-bench table`: the JSON lines of earlier runs (`--json-out`) as Markdown tables,
//! one per workload, each cell the median over the runs of the same target and step.

use crate::load::common::Row;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Files of JSON lines.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Rows of one target and step across runs.
struct Group {
    order: usize,
    rows: Vec<Row>,
}

fn step_key(r: &Row) -> String {
    ["members", "rate", "conns", "pairs"]
        .iter()
        .filter_map(|k| r.get(*k).map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(",")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The median of a numeric column, the majority of a boolean one, else the first value.
fn cell(rows: &[Row], key: &str) -> String {
    let vals: Vec<&Value> = rows.iter().filter_map(|r| r.get(key)).collect();
    if vals.is_empty() {
        return "–".to_owned();
    }
    if vals.iter().all(|v| v.is_number()) {
        let m = median(vals.iter().filter_map(|v| v.as_f64()).collect());
        return fmt_num(m);
    }
    if vals.iter().all(|v| v.is_boolean()) {
        let yes = vals.iter().filter(|v| v.as_bool() == Some(true)).count();
        return if yes * 2 > vals.len() { "yes" } else { "no" }.to_owned();
    }
    match vals[0] {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

pub fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.1} k", x / 1e3)
    } else if a >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn columns(workload: &str) -> &'static [(&'static str, &'static str)] {
    match workload {
        "fanout" => crate::fanout::COLUMNS,
        "idle" => crate::idle::COLUMNS,
        "dm" => crate::dm::COLUMNS,
        "storm" => crate::storm::COLUMNS,
        "history" => crate::history::COLUMNS,
        "mixed" => crate::mixed::COLUMNS,
        _ => &[("target", "target")],
    }
}

pub fn run(args: Args) -> Result<bool> {
    // workload -> (target, step) -> rows
    let mut by: BTreeMap<String, BTreeMap<(String, String), Group>> = BTreeMap::new();
    let mut seq = 0;
    for f in &args.files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        for line in text.lines().filter(|l| l.starts_with('{')) {
            let Ok(Value::Object(r)) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let workload = r
                .get("workload")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            let target = r
                .get("target")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            let key = (target, step_key(&r));
            seq += 1;
            by.entry(workload)
                .or_default()
                .entry(key)
                .or_insert_with(|| Group {
                    order: seq,
                    rows: Vec::new(),
                })
                .rows
                .push(r);
        }
    }
    if let Some(groups) = by.get("fanout") {
        fanout_summary(groups);
    }
    for (workload, groups) in by {
        let cols = columns(&workload);
        println!("\n#### {workload}\n");
        let head: Vec<&str> = cols.iter().map(|(_, h)| *h).chain(["runs"]).collect();
        println!("| {} |", head.join(" | "));
        println!("|{}", "---|".repeat(head.len()));
        let mut groups: Vec<&Group> = groups.values().collect();
        groups.sort_by_key(|g| g.order);
        for g in groups {
            let cells: Vec<String> = cols
                .iter()
                .map(|(k, _)| cell(&g.rows, k))
                .chain([g.rows.len().to_string()])
                .collect();
            println!("| {} |", cells.join(" | "));
        }
    }
    Ok(true)
}

/// Per target: the highest step that was sustainable (median over runs), the p99 at the
/// 100 k/s step, and the first step that was not.
fn fanout_summary(groups: &BTreeMap<(String, String), Group>) {
    let mut targets: Vec<(usize, &str)> = Vec::new();
    for ((t, _), g) in groups {
        if !targets.iter().any(|(_, x)| x == t) {
            targets.push((g.order, t));
        }
    }
    targets.sort();
    println!("\n#### fanout summary\n");
    println!(
        "| target | N | max sustainable delivered/s | p50 / p99 ms there | p99 ms at 100 k/s | first step not sustainable: offered → delivered/s (p99 ms) | runs |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (_, t) in targets {
        let mut steps: Vec<&Group> = groups
            .iter()
            .filter(|((x, _), _)| x == t)
            .map(|(_, g)| g)
            .collect();
        let rate = |g: &Group| median(g.rows.iter().filter_map(|r| r["rate"].as_f64()).collect());
        steps.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
        let ok = |g: &Group| cell(&g.rows, "sustainable") == "yes";
        let best = steps.iter().rfind(|g| ok(g));
        let first_bad = steps.iter().find(|g| !ok(g));
        let at_100k = steps.iter().find(|g| rate(g) == 100_000.0);
        let runs = steps.first().map(|g| g.rows.len()).unwrap_or(0);
        let n = steps
            .first()
            .map(|g| cell(&g.rows, "members"))
            .unwrap_or_default();
        let best_s = best.map_or("none".to_owned(), |g| cell(&g.rows, "deliveries_per_s"));
        let best_lat = best.map_or("–".to_owned(), |g| {
            format!("{} / {}", cell(&g.rows, "p50_ms"), cell(&g.rows, "p99_ms"))
        });
        let p99_100k = at_100k.map_or("–".to_owned(), |g| cell(&g.rows, "p99_ms"));
        let bad = first_bad.map_or("none up to the last step".to_owned(), |g| {
            format!(
                "{} → {} ({})",
                fmt_num(rate(g)),
                cell(&g.rows, "deliveries_per_s"),
                cell(&g.rows, "p99_ms")
            )
        });
        println!("| {t} | {n} | {best_s} | {best_lat} | {p99_100k} | {bad} | {runs} |");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_number_format() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(fmt_num(6_400_000.0), "6.40 M");
        assert_eq!(fmt_num(100_000.0), "100.0 k");
        assert_eq!(fmt_num(2.5), "2.50");
        assert_eq!(fmt_num(250.0), "250");
    }
}
