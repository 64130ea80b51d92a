//! `fanout`, `idle` and `storm` at tiny N: against Palaver (native and path-rooms) and against
//! a broadcast peer in the test (raw mode). Every sent message reaches every member, the
//! histogram holds every delivery, the server readings are there.

use crate::{Server, TempDir, bench, num, rows};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// A broadcast peer like `shared/peers/naive-rust`: every frame goes to every connection.
/// Returns its `ws://` URL; runs on its own thread until the test process ends.
fn broadcast_peer() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (tx, _) = broadcast::channel::<Message>(4096);
            loop {
                let Ok((s, _)) = listener.accept().await else { continue };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let Ok(ws) = tokio_tungstenite::accept_async(s).await else { return };
                    let (mut w, mut r) = ws.split();
                    let mut rx = tx.subscribe();
                    loop {
                        tokio::select! {
                            m = r.next() => match m {
                                Some(Ok(m)) if m.is_text() || m.is_binary() => { let _ = tx.send(m); }
                                Some(Ok(_)) => {}
                                _ => break,
                            },
                            m = rx.recv() => match m {
                                Ok(m) => if w.send(m).await.is_err() { break },
                                Err(broadcast::error::RecvError::Lagged(_)) => {}
                                Err(_) => break,
                            },
                        }
                    }
                });
            }
        });
    });
    url
}

fn server_pid(server: &Server) -> String {
    server.pid().to_string()
}

/// Checks a fan-out step row: every message reached every member and was timed.
fn check_fanout(row: &Value, members: f64) {
    assert_eq!(row["workload"], "fanout", "{row}");
    let sent = num(row, "sent");
    assert!(sent >= 1.0, "{row}");
    assert_eq!(num(row, "expected"), sent * members, "{row}");
    assert_eq!(num(row, "delivered"), num(row, "expected"), "{row}");
    assert_eq!(num(row, "count"), num(row, "delivered"), "{row}");
    assert!(
        num(row, "p50_ms") > 0.0 && num(row, "max_ms") >= num(row, "p99_ms"),
        "{row}"
    );
    assert_eq!(num(row, "lost_conns"), 0.0, "{row}");
    assert!(
        row["latency_hist"]
            .as_array()
            .is_some_and(|h| !h.is_empty()),
        "{row}"
    );
}

fn fanout_args<'a>(url: &'a str, proto: &'a str, state: &'a str, members: &'a str) -> Vec<&'a str> {
    vec![
        "fanout",
        "--url",
        url,
        "--proto",
        proto,
        "--state",
        state,
        "--members",
        members,
        "--rates",
        "200,400",
        "--secs",
        "0.5",
        "--warmup-secs",
        "0.2",
        "--drain-secs",
        "10",
        "--keep-going",
    ]
}

#[test]
fn fanout_and_idle_against_palaver_native_and_path_rooms() {
    let server = Server::start();
    let dir = TempDir::new("load");
    let state = dir.0.join("state.json").display().to_string();
    let pid = server_pid(&server);
    for proto in ["native", "path-rooms"] {
        let mut args = fanout_args(&server.base, proto, &state, "4");
        args.extend(["--server-pid", &pid]);
        let rows = rows(&bench(&args));
        assert_eq!(rows.len(), 2, "{rows:?}");
        for row in &rows {
            check_fanout(row, 4.0);
            assert!(row["server_cpu_pct"].is_number(), "{row}");
        }
        let idle = rows_of(&[
            "idle",
            "--url",
            &server.base,
            "--proto",
            proto,
            "--state",
            &state,
            "--conns",
            "6",
            "--room-size",
            "3",
            "--settle-secs",
            "0.2",
            "--measure-secs",
            "0.5",
            "--server-pid",
            &pid,
        ]);
        assert_eq!(num(&idle[0], "connected"), 6.0, "{idle:?}");
        assert_eq!(num(&idle[0], "failures"), 0.0, "{idle:?}");
        assert!(idle[0]["rss_per_conn_kib"].is_number(), "{idle:?}");
        assert!(idle[0]["server_cpu_pct"].is_number(), "{idle:?}");
    }
    // The native users were created once and are reused.
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("state.json")).unwrap()).unwrap();
    assert_eq!(saved["users"].as_array().unwrap().len(), 6);
}

fn rows_of(args: &[&str]) -> Vec<Value> {
    rows(&bench(args))
}

#[test]
fn fanout_idle_and_storm_against_a_raw_broadcast_peer() {
    let url = broadcast_peer();
    let dir = TempDir::new("raw");
    let state = dir.0.join("state.json").display().to_string();
    let rows = rows_of(&fanout_args(&url, "raw", &state, "4"));
    for row in &rows {
        check_fanout(row, 4.0);
    }
    let idle = rows_of(&[
        "idle",
        "--url",
        &url,
        "--proto",
        "raw",
        "--conns",
        "5",
        "--settle-secs",
        "0",
        "--measure-secs",
        "0.2",
    ]);
    assert_eq!(num(&idle[0], "connected"), 5.0, "{idle:?}");
    // Two shard processes: the parent merges their counts and histograms.
    let mut args = fanout_args(&url, "raw", &state, "6");
    args.extend(["--procs", "2"]);
    for row in rows_of(&args) {
        check_fanout(&row, 6.0);
        assert_eq!(num(&row, "procs"), 2.0, "{row}");
    }
    let idle = rows_of(&[
        "idle",
        "--url",
        &url,
        "--proto",
        "raw",
        "--conns",
        "7",
        "--settle-secs",
        "0",
        "--measure-secs",
        "0.2",
        "--procs",
        "2",
    ]);
    assert_eq!(num(&idle[0], "connected"), 7.0, "{idle:?}");
    assert_eq!(num(&idle[0], "dropped_while_idle"), 0.0, "{idle:?}");
    let storm = rows_of(&["storm", "--url", &url, "--proto", "raw", "--conns", "50"]);
    assert_eq!(num(&storm[0], "connected"), 50.0, "{storm:?}");
    assert_eq!(num(&storm[0], "count"), 50.0, "{storm:?}");
    assert!(num(&storm[0], "conns_per_s") > 0.0, "{storm:?}");
    assert!(
        !dir.0.join("state.json").exists(),
        "raw mode needs no users"
    );
}

#[test]
fn a_refused_connection_is_a_failure_not_a_result() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = bench(&[
        "fanout",
        "--url",
        &format!("ws://127.0.0.1:{port}"),
        "--proto",
        "raw",
        "--members",
        "2",
    ]);
    assert!(!out.status.success());
}
