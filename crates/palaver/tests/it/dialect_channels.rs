//! The `channels` dialect (seed 000): the README's commands, messages and event frames, its
//! errors, its own listener, and its sharing of rooms with native clients.

use crate::harness::*;
use crate::raw::{Next, RawWs};
use serde_json::{Value, json};

fn url(server: &Server, token: &str) -> String {
    format!(
        "{}/compat/channels?token={token}",
        server.ws_url().trim_end_matches("/ws")
    )
}

async fn channels_user(server: &Server, handle: &str) -> (User, RawWs) {
    let (token, user) = signup_user(server, handle).await;
    let ws = RawWs::connect(&url(server, &token), &[]).await;
    let id = user["id"].as_i64().unwrap();
    (User { token, id }, ws)
}

fn command(action: &str, target: &str) -> Value {
    json!({ "type": "command", "action": action, "target": target })
}

fn is_event(v: &Value, emitter: &str, event: &str) -> bool {
    v["type"] == "event" && v["emitter"] == emitter && v["event"] == event
}

#[tokio::test]
async fn the_readme_flow_create_join_message_leave_destroy() {
    let server = Server::start().await;
    let (alice, mut a) = channels_user(&server, "alice").await;
    let (bob, mut b) = channels_user(&server, "bob").await;
    // Registration happens right after the upgrade; a bad frame's reply proves we are in.
    for ws in [&mut a, &mut b] {
        ws.send_text("{}").await;
        ws.json_where(WAIT, |v| v["event"] == "error").await;
    }

    // 1. Create: every client hears of the new channel.
    a.send_json(&command("create", "#main")).await;
    let expected =
        json!({"type":"event","emitter":"channel","identifier":"#main","event":"create"});
    assert_eq!(
        a.json_where(WAIT, |v| is_event(v, "channel", "create"))
            .await,
        expected
    );
    assert_eq!(
        b.json_where(WAIT, |v| is_event(v, "channel", "create"))
            .await,
        expected
    );

    // 2. Join: the channel's participants hear of it.
    b.send_json(&command("join", "#main")).await;
    let join = json!({"type":"event","emitter":"participant","identifier":bob.id.to_string(),"event":"join"});
    assert_eq!(
        a.json_where(WAIT, |v| is_event(v, "participant", "join"))
            .await,
        join
    );
    assert_eq!(
        b.json_where(WAIT, |v| is_event(v, "participant", "join"))
            .await,
        join
    );

    // 3. A message reaches every participant, the sender included.
    a.send_json(&json!({"type":"message","target":"#main","message":"Hello guys!"}))
        .await;
    let msg = json!({"type":"message","emitter":"participant","target":"#main",
                     "identifier":alice.id.to_string(),"message":"Hello guys!"});
    assert_eq!(a.json_where(WAIT, |v| v["type"] == "message").await, msg);
    assert_eq!(b.json_where(WAIT, |v| v["type"] == "message").await, msg);

    // 4. Leave: the others hear of it.
    b.send_json(&command("leave", "#main")).await;
    let left = json!({"type":"event","emitter":"participant","identifier":bob.id.to_string(),"event":"left"});
    assert_eq!(
        a.json_where(WAIT, |v| is_event(v, "participant", "left"))
            .await,
        left
    );

    // 5. Destroy (by its creator): every connected client hears of it, bob included.
    a.send_json(&command("destroy", "#main")).await;
    let destroyed =
        json!({"type":"event","emitter":"channel","identifier":"#main","event":"destroy"});
    assert_eq!(
        a.json_where(WAIT, |v| is_event(v, "channel", "destroy"))
            .await,
        destroyed
    );
    assert_eq!(
        b.json_where(WAIT, |v| is_event(v, "channel", "destroy"))
            .await,
        destroyed
    );
}

#[tokio::test]
async fn private_messages_to_a_user() {
    let server = Server::start().await;
    let (alice, mut a) = channels_user(&server, "alice").await;
    let (_bob, mut b) = channels_user(&server, "bob").await;
    b.send_text("{}").await;
    b.json_where(WAIT, |v| v["event"] == "error").await;
    a.send_json(&json!({"type":"message","target":"@bob","message":"psst"}))
        .await;
    let got = b.json_where(WAIT, |v| v["type"] == "message").await;
    assert_eq!(
        got,
        json!({"type":"message","emitter":"participant","target":"@alice",
               "identifier":alice.id.to_string(),"message":"psst"})
    );
}

#[tokio::test]
async fn mistakes_get_error_events_and_the_connection_stays() {
    let server = Server::start().await;
    let (_alice, mut a) = channels_user(&server, "alice").await;
    for (frame, target) in [
        (
            json!({"type":"message","target":"#nowhere","message":"hi"}),
            Some("#nowhere"),
        ),
        (
            json!({"type":"message","target":"@nobody","message":"hi"}),
            Some("@nobody"),
        ),
        (command("join", "#ghost"), Some("#ghost")),
        (command("destroy", "#ghost"), Some("#ghost")),
        (command("fly", "#main"), Some("#main")),
        (json!({"type":"message","message":"no target"}), None),
    ] {
        a.send_json(&frame).await;
        let e = a.json(WAIT).await;
        assert_eq!(e["type"], "event", "{frame} -> {e}");
        assert_eq!(e["emitter"], "server");
        assert_eq!(e["event"], "error");
        assert_eq!(e["identifier"].as_str(), target, "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    a.send_text("this is not json").await;
    assert_eq!(a.json(WAIT).await["event"], "error");
    // Someone else's channel cannot be destroyed.
    let (_bob, mut b) = channels_user(&server, "bob").await;
    b.send_json(&command("create", "#bobs")).await;
    b.json_where(WAIT, |v| is_event(v, "channel", "create"))
        .await;
    a.send_json(&command("destroy", "#bobs")).await;
    let e = a.json_where(WAIT, |v| v["event"] == "error").await;
    assert_eq!(e["identifier"], "#bobs");
    // Still alive.
    a.send_json(&command("create", "#alive")).await;
    a.json_where(WAIT, |v| v["identifier"] == "#alive").await;
    assert_healthy(&server).await;
}

#[tokio::test]
async fn a_token_is_required() {
    let server = Server::start().await;
    let base = server.ws_url().trim_end_matches("/ws").to_owned();
    assert_eq!(
        RawWs::try_connect(&format!("{base}/compat/channels"), &[])
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        RawWs::try_connect(&format!("{base}/compat/channels?token=nope"), &[])
            .await
            .err(),
        Some(401)
    );
    let (token, _) = signup_user(&server, "carol").await;
    let bearer = format!("Bearer {token}");
    let mut ws = RawWs::connect(
        &format!("{base}/compat/channels"),
        &[("authorization", &bearer)],
    )
    .await;
    ws.send_json(&command("create", "#bearer")).await;
    ws.json_where(WAIT, |v| v["identifier"] == "#bearer").await;
}

#[tokio::test]
async fn channels_share_rooms_with_native_clients_and_have_their_own_listener() {
    let port = free_port();
    let server = Server::start_with(Settings::default().env(
        "PALAVER_DIALECTS__CHANNELS__LISTEN",
        format!("127.0.0.1:{port}"),
    ))
    .await;
    let (token, _) = signup_user(&server, "alice").await;
    // The seed's address: its own port, path /chat.
    let mut a = RawWs::connect(&format!("ws://127.0.0.1:{port}/chat?token={token}"), &[]).await;
    let (_bob, mut native) = user(&server, "bob").await;
    a.send_json(&command("create", "#main")).await;
    a.json_where(WAIT, |v| is_event(v, "channel", "create"))
        .await;
    native
        .call("rooms.join", json!({"room":"#main"}))
        .await
        .unwrap();
    a.json_where(WAIT, |v| is_event(v, "participant", "join"))
        .await;

    a.send_json(&json!({"type":"message","target":"#main","message":"from channels"}))
        .await;
    let n = native.notification_named("message", WAIT).await.unwrap();
    assert_eq!(n.params["text"], "from channels");
    send(&mut native, "#main", "from native").await;
    let m = a.json_where(WAIT, |v| v["message"] == "from native").await;
    assert_eq!(m["target"], "#main");
    let h = native
        .call("messages.history", json!({"conversation":"#main"}))
        .await
        .unwrap();
    assert_eq!(
        h["messages"].as_array().unwrap().len(),
        2,
        "both are stored"
    );
    match a.next(QUIET).await {
        Next::Quiet | Next::Text(_) => {}
        other => panic!("connection ended: {other:?}"),
    }
}
