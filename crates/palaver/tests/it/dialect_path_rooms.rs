//! The `path-rooms` dialect (seed 004): the path is the channel, guests claim nicknames,
//! heartbeats both ways, messages to everyone in the channel, and rooms shared with native
//! clients.

use crate::harness::*;
use crate::raw::{Next, RawWs};
use serde_json::{Value, json};
use std::time::Duration;

fn base(server: &Server) -> String {
    server.ws_url().trim_end_matches("/ws").to_owned()
}

/// Connects to a channel and checks the greeting.
async fn join(server: &Server, channel: &str) -> RawWs {
    let mut ws = RawWs::connect(
        &format!("{}/compat/path-rooms/{channel}", base(server)),
        &[],
    )
    .await;
    assert_eq!(
        ws.json(WAIT).await,
        json!({"type":"connection","id":channel})
    );
    ws
}

async fn identify(ws: &mut RawWs, name: &str) -> bool {
    ws.send_json(&json!({"type":"identity","user":name})).await;
    let v = ws.json_where(WAIT, |v| v["type"] == "identity").await;
    v["success"].as_bool().expect("success is a JSON boolean")
}

fn is_message(v: &Value) -> bool {
    v["type"] == "message"
}

#[tokio::test]
async fn identity_is_unique_per_channel_and_messages_reach_everyone() {
    let server = Server::start().await;
    let mut a = join(&server, "fishing").await;
    let mut b = join(&server, "fishing").await;
    let mut elsewhere = join(&server, "hunting").await;

    assert!(identify(&mut a, "fishing_beast_5000").await);
    assert!(
        !identify(&mut b, "fishing_beast_5000").await,
        "taken in this channel"
    );
    assert!(
        !identify(&mut a, "fishing_beast_5000").await,
        "taken even by yourself"
    );
    assert!(
        identify(&mut elsewhere, "fishing_beast_5000").await,
        "another channel is free"
    );
    assert!(identify(&mut b, "Trout Whisperer").await);

    a.send_json(
        &json!({"type":"message","text":"I heard you have the best luck fishing in the morning"}),
    )
    .await;
    for ws in [&mut a, &mut b] {
        let m = ws.json_where(WAIT, is_message).await;
        assert_eq!(
            m["text"],
            "I heard you have the best luck fishing in the morning"
        );
        assert_eq!(m["user"], "fishing_beast_5000");
        assert!(
            m["timestamp"].as_i64().unwrap() > 1_600_000_000_000,
            "milliseconds: {m}"
        );
    }
    b.send_json(&json!({"type":"message","text":"mornings, yes"}))
        .await;
    assert_eq!(
        a.json_where(WAIT, is_message).await["user"],
        "Trout Whisperer"
    );
    elsewhere.quiet_where(QUIET, is_message).await;

    // Anyone may talk without an identity.
    let mut anon = join(&server, "fishing").await;
    anon.send_json(&json!({"type":"message","text":"who am i"}))
        .await;
    let m = a.json_where(WAIT, |v| v["text"] == "who am i").await;
    assert_eq!(m["user"], "");
}

#[tokio::test]
async fn heartbeats_flow_and_silence_drops_the_identity() {
    let server = Server::start_with(
        Settings::default().env("PALAVER_DIALECTS__PATH_ROOMS_IDENTITY_TIMEOUT_SECS", 2),
    )
    .await;
    let mut quiet = join(&server, "pond").await;
    let mut chatty = join(&server, "pond").await;
    assert!(identify(&mut quiet, "quiet").await);
    assert!(identify(&mut chatty, "chatty").await);
    let mut quiet_beats = Vec::new();
    let mut chatty_beats = Vec::new();
    for _ in 0..4 {
        chatty.send_json(&json!({"type":"heartbeat"})).await;
        let q = quiet
            .json_where(Duration::from_secs(3), |v| v["type"] == "heartbeat")
            .await;
        quiet_beats.push(q["authenticated"].as_bool().unwrap());
        let c = chatty
            .json_where(Duration::from_secs(3), |v| v["type"] == "heartbeat")
            .await;
        chatty_beats.push(c["authenticated"].as_bool().unwrap());
    }
    assert!(quiet_beats[0], "identified at first: {quiet_beats:?}");
    assert!(
        !quiet_beats[3],
        "silent for over 2 s: identity dropped ({quiet_beats:?})"
    );
    assert!(
        chatty_beats.iter().all(|b| *b),
        "heartbeats keep it: {chatty_beats:?}"
    );
    // The socket stays open and the name is free again.
    let mut other = join(&server, "pond").await;
    assert!(identify(&mut other, "quiet").await);
    assert!(identify(&mut quiet, "quiet again").await);
}

#[tokio::test]
async fn bad_input_is_ignored_and_breaks_nothing() {
    let server = Server::start().await;
    let mut a = join(&server, "lake").await;
    let mut b = join(&server, "lake").await;
    for junk in [
        "{",
        "[1,2]",
        "null",
        r#"{"type":"dance"}"#,
        r#"{"type":"message"}"#,
        r#"{"type":"identity"}"#,
    ] {
        a.send_text(junk).await;
    }
    // The identity without a user was refused; everything else got no answer at all.
    let v = a.json_where(WAIT, |v| v["type"] == "identity").await;
    assert_eq!(v["success"], false);
    a.send_json(&json!({"type":"message","text":"still here"}))
        .await;
    assert_eq!(b.json_where(WAIT, is_message).await["text"], "still here");
    assert_healthy(&server).await;

    // A path that cannot name a room is refused with a policy close.
    let mut bad = RawWs::connect(&format!("{}/compat/path-rooms/x", base(&server)), &[]).await;
    match bad.next(WAIT).await {
        Next::Close(Some((code, _))) => assert_eq!(code, 1008),
        other => panic!("expected a 1008 close, got {other:?}"),
    }
}

#[tokio::test]
async fn path_rooms_share_the_room_with_native_clients_and_the_own_listener_uses_the_path() {
    let port = free_port();
    let server = Server::start_with(Settings::default().env(
        "PALAVER_DIALECTS__PATH_ROOMS__LISTEN",
        format!("127.0.0.1:{port}"),
    ))
    .await;
    // The seed's address: its own port, the channel as the whole path.
    let mut guest = RawWs::connect(&format!("ws://127.0.0.1:{port}/main"), &[]).await;
    assert_eq!(
        guest.json(WAIT).await,
        json!({"type":"connection","id":"main"})
    );
    assert!(identify(&mut guest, "wanderer").await);

    let (_alice, mut native) = user(&server, "alice").await;
    native
        .call("rooms.join", json!({"room":"#main"}))
        .await
        .expect("the channel exists");
    guest
        .send_json(&json!({"type":"message","text":"hello natives"}))
        .await;
    let n = native
        .notification_where("message", WAIT, |p| p["text"] == "hello natives")
        .await
        .unwrap();
    assert!(
        n.params["sender_handle"]
            .as_str()
            .unwrap()
            .starts_with("_g."),
        "{}",
        n.params
    );

    send(&mut native, "#main", "hello guest").await;
    let m = guest.json_where(WAIT, |v| v["text"] == "hello guest").await;
    assert_eq!(m["user"], "alice");
}
