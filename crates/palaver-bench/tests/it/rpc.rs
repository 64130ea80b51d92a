//! The native request/response workloads at tiny N: `dm`, `storm`, `history`, `mixed`, and
//! `table` over their JSON lines.

use crate::{Server, TempDir, bench, num, rows};
use std::process::Command;

#[test]
fn dm_storm_history_and_mixed_against_palaver() {
    let server = Server::start();
    let dir = TempDir::new("rpc");
    let state = dir.0.join("state.json").display().to_string();
    let out = dir.0.join("rows.jsonl").display().to_string();
    let pid = server.pid().to_string();
    let common = |w: &'static str| -> Vec<String> {
        [
            w,
            "--url",
            &server.base,
            "--state",
            &state,
            "--json-out",
            &out,
            "--server-pid",
            &pid,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |mut args: Vec<String>, more: &[&str]| {
        args.extend(more.iter().map(|s| s.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        rows(&bench(&a))
    };

    let dm = run(
        common("dm"),
        &["--pairs", "3", "--rates", "60", "--secs", "0.5"],
    );
    let r = &dm[0];
    assert_eq!(num(r, "errors"), 0.0, "{r}");
    assert!(num(r, "sent") > 0.0, "{r}");
    assert_eq!(num(r, "acked"), num(r, "sent"), "{r}");
    // Each message reaches the other member of its pair once.
    assert_eq!(num(r, "delivered"), num(r, "sent"), "{r}");
    assert!(
        num(r, "ack_p99_ms") > 0.0 && num(r, "e2e_p99_ms") > 0.0,
        "{r}"
    );

    let storm = run(common("storm"), &["--conns", "8"]);
    assert_eq!(num(&storm[0], "connected"), 8.0, "{storm:?}");
    assert_eq!(num(&storm[0], "count"), 8.0, "{storm:?}");

    // The newest pages, then pages at a random depth (seqs 51 to 120 of each room).
    for pages in ["newest", "older"] {
        let mut args = vec![
            "--rooms",
            "2",
            "--messages",
            "120",
            "--concurrency",
            "3",
            "--rate",
            "60",
            "--secs",
            "0.5",
        ];
        if pages == "older" {
            args.push("--older");
        }
        let history = run(common("history"), &args);
        let h = &history[0];
        assert_eq!(num(h, "errors"), 0.0, "{h}");
        assert!(num(h, "fetched") > 0.0 && num(h, "p99_ms") > 0.0, "{h}");
        assert_eq!(num(h, "rows"), 240.0, "{h}");
        assert_eq!(h["pages"], pages, "{h}");
    }

    let mixed = run(
        common("mixed"),
        &[
            "--conns",
            "20",
            "--rate",
            "100",
            "--churn",
            "4",
            "--secs",
            "1",
            "--history-share",
            "0.1",
        ],
    );
    let m = &mixed[0];
    assert_eq!(num(m, "errors"), 0.0, "{m}");
    assert!(
        num(m, "acked") > 0.0 && num(m, "delivered") >= num(m, "acked"),
        "{m}"
    );
    assert!(num(m, "e2e_p99_ms") > 0.0, "{m}");

    let table = Command::new(env!("CARGO_BIN_EXE_palaver-bench"))
        .args(["table", &out])
        .output()
        .unwrap();
    assert!(table.status.success());
    let md = String::from_utf8_lossy(&table.stdout);
    for w in ["#### dm", "#### storm", "#### history", "#### mixed"] {
        assert!(md.contains(w), "{md}");
    }
}
