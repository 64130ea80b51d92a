//! `verify` against a real server: no violation on a small run, an error when unreachable.

use crate::{Server, text};
use std::process::{Command, Output};

fn verify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palaver-bench"))
        .arg("verify")
        .args(args)
        .args(["--progress-secs", "0"])
        .output()
        .unwrap()
}

#[test]
fn a_small_run_against_a_real_server_finds_no_violation() {
    let server = Server::start();
    let output = verify(&[
        "--url",
        &server.base,
        "--users",
        "5",
        "--messages",
        "200",
        "--rooms",
        "2",
        "--disconnect-prob",
        "0.05",
        "--seed",
        "7",
    ]);
    let all = text(&output);
    assert!(output.status.success(), "verify failed:\n{all}");
    let json_line = String::from_utf8_lossy(&output.stdout)
        .lines()
        .rfind(|l| l.starts_with('{'))
        .map(str::to_owned)
        .unwrap_or_default();
    let summary: serde_json::Value = serde_json::from_str(&json_line).unwrap();
    assert_eq!(summary["ok"], true, "{all}");
    assert_eq!(summary["messages_acked"], 200, "{all}");
    assert_eq!(summary["violations"], serde_json::json!({}), "{all}");
    // Every acknowledged message was checked for every member of its conversation.
    assert!(
        summary["deliveries_checked"].as_u64().unwrap() >= 200,
        "{all}"
    );

    // A second run against the same database does not collide with the first.
    let again = verify(&[
        "--url",
        &server.base,
        "--users",
        "3",
        "--messages",
        "30",
        "--seed",
        "7",
    ]);
    assert!(again.status.success(), "second run:\n{}", text(&again));
}

#[test]
fn an_unreachable_server_is_an_error_not_a_pass() {
    // A port nothing listens on: bind one, learn it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = verify(&["--url", &format!("http://127.0.0.1:{port}"), "--users", "2"]);
    assert!(!output.status.success(), "{}", text(&output));
}

#[test]
fn several_urls_spread_the_users_over_them() {
    // One server under two URLs (and both ways of giving them): what a cluster's nodes look
    // like to the verifier. scripts/verify-cluster runs it against three real nodes.
    let server = Server::start();
    let other = server.base.replace("127.0.0.1", "localhost");
    let both = format!("{},{other}", server.base);
    let output = verify(&[
        "--url",
        &both,
        "--url",
        &server.base,
        "--users",
        "4",
        "--messages",
        "60",
        "--disconnect-prob",
        "0.1",
        "--seed",
        "11",
    ]);
    let all = text(&output);
    assert!(output.status.success(), "verify failed:\n{all}");
    assert!(all.contains(&other), "the run names every server:\n{all}");
}
