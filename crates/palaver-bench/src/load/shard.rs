//! Multi-process runs (`--procs P`): the per-process descriptor limit (~20 000 here) caps one
//! generator's connections, so the parent re-executes itself P times with `--shard i/P`. Each
//! shard connects its share and talks to the parent in JSON lines: it reports (`{"ready":…}`,
//! `{"delivered":…}`, `{"snap":…}`) on stdout and takes one-word commands (`go`, `snap`,
//! `stop`) on stdin. Histograms travel as bucket counts and are merged exactly.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::Write;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, Stdin};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The parent's side: the shard processes and what they said.
pub struct Shards {
    _children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    rx: mpsc::UnboundedReceiver<(usize, Value)>,
    /// Messages received but not yet asked for.
    kept: VecDeque<(usize, Value)>,
    /// The latest `delivered` report of each shard.
    pub delivered: Vec<Vec<u64>>,
}

impl Shards {
    /// Starts `n` copies of this very command line with `--shard i/n` added.
    pub fn spawn(n: usize) -> Result<Self> {
        let exe = std::env::current_exe().context("finding this executable")?;
        let args: Vec<String> = std::env::args().skip(1).collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let (mut children, mut stdins) = (Vec::new(), Vec::new());
        for i in 0..n {
            let mut child = Command::new(&exe)
                .args(&args)
                .args(["--shard", &format!("{i}/{n}")])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("starting a shard")?;
            let stdout = child.stdout.take().context("shard stdout")?;
            stdins.push(child.stdin.take().context("shard stdin")?);
            let tx = tx.clone();
            tokio::task::spawn_local(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        let _ = tx.send((i, v));
                    }
                }
                let _ = tx.send((i, json!({"exited": true})));
            });
            children.push(child);
        }
        Ok(Self {
            _children: children,
            stdins,
            rx,
            kept: VecDeque::new(),
            delivered: vec![Vec::new(); n],
        })
    }

    pub fn len(&self) -> usize {
        self.stdins.len()
    }

    fn note(&mut self, i: usize, v: Value) -> Option<(usize, Value)> {
        if let Some(d) = v.get("delivered").and_then(Value::as_array) {
            self.delivered[i] = d.iter().filter_map(Value::as_u64).collect();
            return None;
        }
        Some((i, v))
    }

    /// Takes the `delivered` reports that arrived so far.
    pub fn poll(&mut self) {
        while let Ok((i, v)) = self.rx.try_recv() {
            if let Some(kept) = self.note(i, v) {
                self.kept.push_back(kept);
            }
        }
    }

    /// The sum over shards of `delivered[step]`.
    pub fn delivered_at(&mut self, step: usize) -> u64 {
        self.poll();
        self.delivered
            .iter()
            .map(|d| d.get(step).copied().unwrap_or(0))
            .sum()
    }

    /// Waits for every shard's `{key: …}`; returns the values in shard order.
    pub async fn gather(&mut self, key: &str) -> Result<Vec<Value>> {
        let mut got: Vec<Option<Value>> = vec![None; self.len()];
        let kept = std::mem::take(&mut self.kept);
        for (i, v) in kept {
            self.sort(i, v, key, &mut got)?;
        }
        while got.iter().any(Option::is_none) {
            let (i, v) = self.rx.recv().await.context("every shard exited")?;
            if let Some((i, v)) = self.note(i, v) {
                self.sort(i, v, key, &mut got)?;
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    fn sort(&mut self, i: usize, mut v: Value, key: &str, got: &mut [Option<Value>]) -> Result<()> {
        if v.get("exited").is_some() {
            bail!("shard {i} exited early");
        }
        if let Some(e) = v.get("error") {
            bail!("shard {i}: {}", e.as_str().unwrap_or_default());
        }
        match v.get_mut(key) {
            Some(x) if got[i].is_none() => got[i] = Some(x.take()),
            _ => self.kept.push_back((i, v)),
        }
        Ok(())
    }

    /// Sends a command line to every shard.
    pub async fn tell(&mut self, command: &str) -> Result<()> {
        for s in &mut self.stdins {
            s.write_all(format!("{command}\n").as_bytes())
                .await
                .context("talking to a shard")?;
            s.flush().await?;
        }
        Ok(())
    }
}

/// A shard's side: reports to and commands from the parent.
pub struct Link {
    lines: Lines<BufReader<Stdin>>,
}

impl Link {
    pub fn new() -> Self {
        Self {
            lines: BufReader::new(tokio::io::stdin()).lines(),
        }
    }

    /// The next command; `stop` when the parent is gone.
    pub async fn command(&mut self) -> String {
        match self.lines.next_line().await {
            Ok(Some(l)) => l.trim().to_owned(),
            _ => "stop".to_owned(),
        }
    }
}

/// Prints `{key: value}` for the parent.
pub fn report(key: &str, value: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", json!({ key: value }));
    let _ = out.flush();
}

/// The `[start, end)` share of `n` items of shard `i` of `p`.
pub fn share(n: usize, i: usize, p: usize) -> (usize, usize) {
    (n * i / p, n * (i + 1) / p)
}
