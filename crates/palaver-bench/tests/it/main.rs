//! End-to-end: `palaver-bench` against a real `palaver serve` on a fresh database (and, for
//! the raw broadcast mode, against a tiny broadcast peer in the test), one module per workload
//! family. Small N and short windows: they check that the reports add up, never timings.
//!
//! The server binary belongs to another crate, so Cargo does not hand us its path; it is
//! looked up next to this test's own executable (`target/<profile>/palaver`). `cargo test
//! --workspace` builds every binary of the workspace before running tests; when testing this
//! crate alone, run `cargo build -p palaver` first.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod load;
mod rpc;
mod verify;

const STARTUP: Duration = Duration::from_secs(30);

fn palaver_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-<hash> → target/<profile>/palaver
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin = dir.join(format!("palaver{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "the palaver server binary is not at {}: build it first with `cargo build -p palaver` \
         (`cargo test --workspace` does)",
        bin.display()
    );
    bin
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "palaver-bench-it-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `palaver serve` on 127.0.0.1:0, killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    _dir: TempDir,
}

impl Server {
    pub fn start() -> Self {
        let dir = TempDir::new("server");
        let database = format!("sqlite://{}", dir.0.join("palaver.db").display());
        let mut command = Command::new(palaver_binary());
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("PALAVER_") && key != "PALAVER_LOG" {
                command.env_remove(key.as_ref());
            }
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.trim().strip_prefix("palaver listening on ") {
                    let _ = tx.send(addr.trim().trim_end_matches('/').to_owned());
                }
            }
        });
        let base = rx
            .recv_timeout(STARTUP)
            .expect("palaver did not print its address");
        Self {
            child,
            base,
            _dir: dir,
        }
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `palaver-bench <args>` (no progress bar).
pub fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palaver-bench"))
        .args(args)
        .arg("--no-progress")
        .output()
        .unwrap()
}

pub fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The JSON lines a successful run printed.
pub fn rows(output: &Output) -> Vec<Value> {
    let all = text(output);
    assert!(output.status.success(), "run failed:\n{all}");
    let rows: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty(), "no JSON line:\n{all}");
    rows
}

pub fn num(row: &Value, key: &str) -> f64 {
    row[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {row}"))
}
