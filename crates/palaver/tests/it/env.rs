//! The switches for the cluster tests: which PostgreSQL server to use, whether NATS tests run,
//! and where the `nats-server`, `initdb` and `pg_ctl` binaries are. Each answer is either a
//! value or a loud skip (a failure under `PALAVER_TEST_STRICT=1`).

use std::io::Write;
use std::path::Path;

fn strict() -> bool {
    std::env::var("PALAVER_TEST_STRICT").as_deref() == Ok("1")
}

/// Prints a skip notice straight to the stderr handle (the test harness captures `eprintln!`
/// of passing tests, and this must be seen), or panics under `PALAVER_TEST_STRICT=1`.
pub fn skip(why: &str) {
    assert!(!strict(), "{why}, which PALAVER_TEST_STRICT=1 requires");
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!! SKIPPED: {why}, so a cluster test did NOT run. \
         PALAVER_TEST_STRICT=1 turns this skip into a failure. !!!!!\n"
    );
}

fn var(name: &str, example: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Some(value),
        _ => {
            skip(&format!("{name} is not set (e.g. {example})"));
            None
        }
    }
}

/// The PostgreSQL server of `PALAVER_TEST_POSTGRES_URL`; each cluster makes a database of its
/// own there and drops it afterwards.
pub fn postgres_url() -> Option<String> {
    var(
        "PALAVER_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

/// `PALAVER_TEST_NATS_URL` switches the NATS tests on. The clusters do not use that server:
/// the binary publishes under one fixed subject prefix, so two clusters on one NATS server
/// would hear each other; each cluster starts a private `nats-server` instead.
pub fn nats_enabled() -> bool {
    var("PALAVER_TEST_NATS_URL", "nats://127.0.0.1:4222").is_some()
}

fn first_existing(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| (*p).to_owned())
}

/// The `nats-server` binary: `PALAVER_TEST_NATS_SERVER`, else the usual places.
pub fn nats_server_binary() -> Option<String> {
    if let Ok(path) = std::env::var("PALAVER_TEST_NATS_SERVER") {
        return Some(path);
    }
    let found = first_existing(&[
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]);
    if found.is_none() {
        skip("no nats-server binary was found (set PALAVER_TEST_NATS_SERVER)");
    }
    found
}

/// The directory holding PostgreSQL's `initdb` and `pg_ctl`: `PALAVER_TEST_PG_BIN`, else
/// Debian's places.
pub fn pg_bin_dir() -> Option<String> {
    if let Ok(path) = std::env::var("PALAVER_TEST_PG_BIN") {
        return Some(path);
    }
    let found = first_existing(&[
        "/usr/lib/postgresql/17/bin",
        "/usr/lib/postgresql/16/bin",
        "/usr/lib/postgresql/15/bin",
    ]);
    if found.is_none() {
        skip("no PostgreSQL server binaries were found (set PALAVER_TEST_PG_BIN)");
    }
    found
}
