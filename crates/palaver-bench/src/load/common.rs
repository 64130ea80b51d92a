//! What every load workload shares: the common flags, rate parsing, connecting many clients
//! with bounded concurrency, and the report (a table for people, JSON lines for machines).

use super::dialect::{Proto, Target};
use super::progress::Progress;
use super::sys::{Sample, Watch};
use super::wire::{self, Ws};
use anyhow::{Context, Result};
use futures_util::stream::{self, StreamExt};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args, Clone, Debug)]
pub struct Common {
    /// The server: `http://host:port` for Palaver, `ws://host:port[/path]` for a peer.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The protocol to speak.
    #[arg(long, value_enum, default_value = "native")]
    pub proto: Proto,
    /// The target's name in reports (default: the protocol's name).
    #[arg(long)]
    pub label: Option<String>,
    /// The server's process id: its RSS and CPU time are read from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Pin the generator to this CPU.
    #[arg(long)]
    pub pin: Option<usize>,
    /// Loopback source addresses to spread connections over (127.1.0.1, …); 0: the default.
    #[arg(long, default_value_t = 1000)]
    pub source_ips: usize,
    /// Connection attempts in flight at once while connecting.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Append the JSON lines to this file too.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// No progress bar on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// Native mode: the file caching the bench users' tokens (see `palaver-bench setup`).
    #[arg(long, default_value = "palaver-bench-state.json")]
    pub state: PathBuf,
    /// Run as this many processes (each under the per-process descriptor limit); the parent
    /// merges their histograms.
    #[arg(long, default_value_t = 1)]
    pub procs: usize,
    /// Internal: this process is shard `i/n` of a multi-process run.
    #[arg(long, hide = true)]
    pub shard: Option<String>,
}

impl Common {
    pub fn target(&self) -> Result<Target> {
        Target::parse(&self.url, self.proto)
    }

    pub fn label(&self) -> String {
        self.label
            .clone()
            .unwrap_or_else(|| self.proto.name().to_owned())
    }

    pub fn watch(&self) -> Watch {
        Watch {
            pid: self.server_pid,
        }
    }

    pub fn progress(&self, what: &str, total: u64) -> Progress {
        Progress::new(what, total, !self.no_progress && self.shard.is_none())
    }

    /// `(index, count)` of this shard; `(0, 1)` for a single process.
    pub fn shard(&self) -> Result<(usize, usize)> {
        match &self.shard {
            None => Ok((0, 1)),
            Some(s) => {
                let (i, n) = s.split_once('/').context("--shard i/n")?;
                Ok((i.parse()?, n.parse()?))
            }
        }
    }
}

/// A rate such as `100k`, `1.6M` or `2500`.
pub fn parse_rate(s: &str) -> std::result::Result<f64, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("bad rate {s}"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v * mul)
    } else {
        Err(format!("rate must be positive: {s}"))
    }
}

/// What `connect_all` produced.
pub struct Connected {
    /// Connection `i` of the request, if it came up, with its conversation id (native).
    pub conns: Vec<Option<(Ws, Option<i64>)>>,
    /// Seconds from the start of each successful attempt to "joined".
    pub times: Vec<f64>,
    pub failures: usize,
    pub first_error: Option<String>,
    pub wall: Duration,
}

/// Connects `n` clients; client `i` joins `room(i)` with `token(i)`, from source address
/// `src_base + i`, at most `concurrency` attempts at once.
#[allow(clippy::too_many_arguments)]
pub async fn connect_all(
    target: &Target,
    n: usize,
    src_base: usize,
    source_ips: usize,
    concurrency: usize,
    chunk: usize,
    room: impl Fn(usize) -> String,
    token: impl Fn(usize) -> Option<String>,
    progress: &Progress,
) -> Connected {
    let started = Instant::now();
    let attempts = (0..n).map(|i| {
        let (room, token) = (room(i), token(i));
        let src = wire::source_ip(src_base + i, source_ips);
        async move {
            let t = Instant::now();
            let r = target.join(src, &room, token.as_deref(), chunk).await;
            progress.add(1);
            (i, r, t.elapsed().as_secs_f64())
        }
    });
    let mut out = Connected {
        conns: (0..n).map(|_| None).collect(),
        times: Vec::with_capacity(n),
        failures: 0,
        first_error: None,
        wall: Duration::ZERO,
    };
    let mut results = stream::iter(attempts).buffer_unordered(concurrency.max(1));
    while let Some((i, r, took)) = results.next().await {
        match r {
            Ok(c) => {
                out.conns[i] = Some(c);
                out.times.push(took);
            }
            Err(e) => {
                out.failures += 1;
                out.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    out.wall = started.elapsed();
    out
}

/// A report row: one JSON object, printed as a table line and as a JSON line.
pub type Row = Map<String, Value>;

/// The fields every row carries.
pub fn base_row(workload: &str, c: &Common) -> Row {
    let mut r = Map::new();
    r.insert("workload".into(), json!(workload));
    r.insert("target".into(), json!(c.label()));
    r.insert("proto".into(), json!(c.proto.name()));
    r.insert("url".into(), json!(c.url));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    r.insert("unix_time".into(), json!(now));
    r
}

/// Adds generator and server CPU between two samples (percent of one core) and the server's
/// RSS at the later one.
pub fn add_cpu(row: &mut Row, before: &Sample, after: &Sample) {
    let (own, server) = before_after(before, after);
    row.insert("gen_cpu_pct".into(), json!(super::hist::round(own)));
    row.insert(
        "gen_cpu_s".into(),
        json!(super::hist::round(after.own_cpu - before.own_cpu)),
    );
    if let Some(s) = server {
        row.insert("server_cpu_pct".into(), json!(super::hist::round(s)));
    }
    if let Some(rss) = after.server_rss_kib {
        row.insert("server_rss_kib".into(), json!(rss));
    }
}

fn before_after(before: &Sample, after: &Sample) -> (f64, Option<f64>) {
    after.cpu_pct_since(before)
}

/// Prints `rows` as a table (columns: `(key, header)`) and as JSON lines on stdout, and
/// appends the JSON lines to `--json-out`. A shard prints only its JSON lines.
pub fn emit(c: &Common, columns: &[(&str, &str)], rows: &[Row]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if c.shard.is_none() {
        let cell = |r: &Row, k: &str| match r.get(k) {
            None | Some(Value::Null) => "-".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(v) => v.to_string(),
        };
        let widths: Vec<usize> = columns
            .iter()
            .map(|(k, h)| {
                rows.iter()
                    .map(|r| cell(r, k).len())
                    .fold(h.len(), usize::max)
            })
            .collect();
        let line = |cells: Vec<String>| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        writeln!(
            out,
            "{}",
            line(columns.iter().map(|(_, h)| (*h).to_owned()).collect())
        )?;
        for r in rows {
            writeln!(
                out,
                "{}",
                line(columns.iter().map(|(k, _)| cell(r, k)).collect())
            )?;
        }
    }
    let mut file = match &c.json_out {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?,
        ),
        None => None,
    };
    for r in rows {
        let text = serde_json::to_string(r)?;
        writeln!(out, "{text}")?;
        if let Some(f) = file.as_mut() {
            writeln!(f, "{text}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rates_parse_with_suffixes() {
        assert_eq!(parse_rate("100k").unwrap(), 100_000.0);
        assert_eq!(parse_rate("1.6M").unwrap(), 1_600_000.0);
        assert_eq!(parse_rate("250").unwrap(), 250.0);
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("x").is_err());
    }
}
