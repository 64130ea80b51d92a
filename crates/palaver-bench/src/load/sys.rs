//! What the generator learns about processes: the server's RSS and CPU time from `/proc`, its
//! own CPU time (`getrusage`), and pinning itself to one CPU (`sched_setaffinity`).

use anyhow::{Context, Result};
use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::resource::{UsageWho, getrusage};
use nix::unistd::Pid;

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ: 100 on every Linux build here).
const TICKS: f64 = 100.0;

/// Pins the calling thread (the whole current-thread runtime) to `cpu`.
pub fn pin(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu)
        .with_context(|| format!("--pin {cpu}: no such CPU"))?;
    sched_setaffinity(Pid::from_raw(0), &set).with_context(|| format!("--pin {cpu}"))?;
    Ok(())
}

/// CPU seconds (user + system) this process has used.
pub fn own_cpu_secs() -> f64 {
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        }
        Err(_) => 0.0,
    }
}

/// A process's resident set in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// A process's CPU seconds (user + system, its threads included) from `/proc/PID/stat`.
pub fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may hold spaces; fields after it are plain.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .context("bad /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After ")": state is field 3 of the man page, utime 14, stime 15.
    let num = |i: usize| -> Result<f64> {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .context("bad /proc stat field")
    };
    Ok((num(14)? + num(15)?) / TICKS)
}

/// A server process to watch, if `--server-pid` was given.
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    pub pid: Option<u32>,
}

/// CPU and memory readings at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub at: f64,
    pub own_cpu: f64,
    pub server_cpu: Option<f64>,
    pub server_rss_kib: Option<u64>,
}

impl Watch {
    pub fn sample(&self, started: std::time::Instant) -> Sample {
        Sample {
            at: started.elapsed().as_secs_f64(),
            own_cpu: own_cpu_secs(),
            server_cpu: self.pid.and_then(|p| cpu_secs(p).ok()),
            server_rss_kib: self.pid.and_then(|p| rss_kib(p).ok()),
        }
    }
}

impl Sample {
    /// CPU use between two samples, as a percentage of one core: (generator, server).
    pub fn cpu_pct_since(&self, before: &Sample) -> (f64, Option<f64>) {
        let dt = (self.at - before.at).max(1e-9);
        let own = (self.own_cpu - before.own_cpu) / dt * 100.0;
        let server = match (self.server_cpu, before.server_cpu) {
            (Some(a), Some(b)) => Some((a - b) / dt * 100.0),
            _ => None,
        };
        (own, server)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_secs(me).unwrap() >= 0.0);
        assert!(own_cpu_secs() >= 0.0);
    }
}
