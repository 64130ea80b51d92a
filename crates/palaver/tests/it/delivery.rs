//! Delivery guarantees: resuming with `sync`, the resync error, the slow-consumer close,
//! idempotent retries across a restart, heartbeats, and the graceful drain.

use crate::harness::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn events(page: &Value) -> &Vec<Value> {
    page["events"].as_array().expect("{events}")
}

/// Pages through `sync` from `since` until `has_more` is false; returns events and the token.
async fn sync_all(
    client: &mut palaver_client::Client,
    since: &str,
    limit: u32,
) -> (Vec<Value>, String) {
    let mut token = since.to_owned();
    let mut all = Vec::new();
    loop {
        let page = client
            .call("sync", json!({ "since": token, "limit": limit }))
            .await
            .expect("sync");
        all.extend(events(&page).iter().cloned());
        token = page["next"].as_str().expect("next").to_owned();
        if !page["has_more"].as_bool().expect("has_more") {
            return (all, token);
        }
    }
}

#[tokio::test]
async fn sync_returns_what_was_missed_in_order_across_pages() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    let (_carol, mut c) = user(&server, "carol").await;
    a.call("rooms.create", json!({ "name": "main", "kind": "channel" }))
        .await
        .unwrap();
    b.call("rooms.join", json!({ "room": "#main" }))
        .await
        .unwrap();
    c.call("rooms.join", json!({ "room": "#main" }))
        .await
        .unwrap();
    let token = a.call("sync", json!({})).await.unwrap()["next"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(a);

    // While alice is away: messages, a read marker, a member leaving, a profile change.
    for i in 1..=12 {
        send(&mut b, "#main", &format!("m{i}")).await;
    }
    c.call(
        "messages.read",
        json!({ "conversation": "#main", "seq": 12 }),
    )
    .await
    .unwrap();
    b.call("rooms.leave", json!({ "room": "#main" }))
        .await
        .unwrap();
    c.call("me.update", json!({ "display_name": "Caroline" }))
        .await
        .unwrap();

    let mut a = connect(&server, &alice.token).await;
    let (evs, next) = sync_all(&mut a, &token, 5).await;
    let kinds: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let texts: Vec<&str> = evs
        .iter()
        .filter(|e| e["type"] == "message")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        (1..=12).map(|i| format!("m{i}")).collect::<Vec<_>>(),
        "every message once, in order"
    );
    let tail: Vec<&str> = kinds[12..].to_vec();
    assert_eq!(
        tail,
        ["read", "member.left", "user.updated"],
        "then the rest, in commit order"
    );
    let seqs: Vec<i64> = evs.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(&seqs[..12], (1..=12).collect::<Vec<_>>().as_slice());

    // The final token is caught up: nothing more.
    let again = a.call("sync", json!({ "since": next })).await.unwrap();
    assert!(events(&again).is_empty());
    assert_eq!(again["has_more"], false);

    // A token survives a second connection and keeps working after more traffic.
    send(&mut a, "#main", "after").await;
    let page = a.call("sync", json!({ "since": next })).await.unwrap();
    assert_eq!(events(&page).len(), 1);
    assert_eq!(events(&page)[0]["text"], "after");
}

#[tokio::test]
async fn a_bad_or_foreign_token_gets_the_resync_error() {
    let server = Server::start().await;
    let other = Server::start().await;
    let (_u, mut a) = user(&server, "alice").await;
    let (_v, mut o) = user(&other, "olga").await;
    let foreign = o.call("sync", json!({})).await.unwrap()["next"]
        .as_str()
        .unwrap()
        .to_owned();
    for bad in ["garbage", foreign.as_str()] {
        let e = expect_rpc_err(a.call("sync", json!({ "since": bad })).await, -32010);
        assert_eq!(e.data_code(), Some("resync_required"));
    }
    // After the resync error, a fresh sync works.
    let fresh = a.call("sync", json!({})).await.unwrap();
    assert!(fresh["next"].is_string());
}

#[tokio::test]
async fn the_backlog_limit_turns_into_resync() {
    let server =
        Server::start_with(Settings::default().env("PALAVER_LIMITS__SYNC_MAX_BACKLOG", 5)).await;
    let (alice, mut a) = user(&server, "alice").await;
    a.call("rooms.create", json!({ "name": "main", "kind": "channel" }))
        .await
        .unwrap();
    let token = a.call("sync", json!({})).await.unwrap()["next"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..6 {
        send(&mut a, "#main", &format!("m{i}")).await;
    }
    let mut a2 = connect(&server, &alice.token).await;
    expect_rpc_err(a2.call("sync", json!({ "since": token })).await, -32010);
}

#[tokio::test]
async fn a_retried_send_is_stored_once_even_across_a_restart() {
    let mut server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    a.call("rooms.create", json!({ "name": "main", "kind": "channel" }))
        .await
        .unwrap();
    let first = a
        .call(
            "messages.send",
            json!({ "to": "#main", "text": "once", "client_id": "k-1" }),
        )
        .await
        .unwrap();
    assert_eq!(first["duplicate"], false);
    drop(a);
    server.restart().await;
    let mut a = connect(&server, &alice.token).await;
    let again = a
        .call(
            "messages.send",
            json!({ "to": "#main", "text": "once", "client_id": "k-1" }),
        )
        .await
        .unwrap();
    assert_eq!(
        (again["id"].clone(), again["seq"].clone()),
        (first["id"].clone(), first["seq"].clone())
    );
    assert_eq!(again["duplicate"], true);
    let h = a
        .call("messages.history", json!({ "conversation": "#main" }))
        .await
        .unwrap();
    assert_eq!(h["messages"].as_array().unwrap().len(), 1);
}

/// A raw WebSocket whose receive buffer is tiny, so the server's writes back up quickly.
async fn sluggish_socket(
    server: &Server,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let addr: std::net::SocketAddr = server.base().trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let url = format!("{}?token={token}", server.ws_url());
    let (ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    ws
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_resumes_with_sync() {
    let server =
        Server::start_with(Settings::default().env("PALAVER_LIMITS__OUTBOUND_QUEUE", 8)).await;
    let (slow_user, mut slow) = user(&server, "slow").await;
    let (_f, mut fast) = user(&server, "fast").await;
    let (_s, mut sender) = user(&server, "sender").await;
    sender
        .call(
            "rooms.create",
            json!({ "name": "flood", "kind": "channel" }),
        )
        .await
        .unwrap();
    for c in [&mut slow, &mut fast] {
        c.call("rooms.join", json!({ "room": "#flood" }))
            .await
            .unwrap();
    }
    let token = slow.call("sync", json!({})).await.unwrap()["next"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(slow);
    let mut stuck = sluggish_socket(&server, &slow_user.token).await;

    // Enough to overflow both kernels' socket buffers as well as the 8-frame queue.
    let big = "x".repeat(15_000);
    let total = 700;
    for i in 0..total {
        sender
            .call(
                "messages.send",
                json!({ "to": "#flood", "text": format!("{i} {big}") }),
            )
            .await
            .expect("the sender is never held up by a slow member");
    }
    // The member who reads keeps up and gets everything.
    let mut got = 0;
    while got < total {
        let n = fast
            .notification_named("message", WAIT)
            .await
            .expect("fast member gets every message");
        assert!(
            n.params["text"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{got} "))
        );
        got += 1;
    }

    // The stuck one was cut off: reading what is buffered ends in a close, short of the total.
    let mut frames = 0;
    let mut close_code = None;
    loop {
        match tokio::time::timeout(WAIT, stuck.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => frames += 1,
            Ok(Some(Ok(Message::Close(frame)))) => {
                close_code = frame.map(|f| f.code);
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => break,
            Err(_) => panic!("the slow connection was not closed"),
        }
    }
    assert!(
        frames < total,
        "a stalled reader cannot have been sent everything ({frames})"
    );
    if let Some(code) = close_code {
        assert_eq!(code, CloseCode::from(4008), "too-slow close code");
    }

    // It resumes with sync and misses nothing.
    let mut again = connect(&server, &slow_user.token).await;
    let (evs, _) = sync_all(&mut again, &token, 100).await;
    let texts: Vec<String> = evs
        .iter()
        .filter(|e| e["type"] == "message")
        .map(|e| {
            e["text"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts, (0..total).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start_with(
        Settings::default()
            .env("PALAVER_WS__PING_INTERVAL_SECS", 1)
            .env("PALAVER_WS__IDLE_TIMEOUT_SECS", 2),
    )
    .await;
    let (u, mut live) = user(&server, "alice").await;
    // A raw socket that never reads never answers pings.
    let mut silent = sluggish_socket(&server, &u.token).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // The answering client (it reads, so it pongs) is still fine.
    assert_eq!(live.call("ping", json!(null)).await.unwrap(), "pong");
    let mut closed = false;
    while let Ok(Some(frame)) = tokio::time::timeout(WAIT, silent.next()).await {
        match frame {
            Ok(Message::Close(f)) => {
                assert_eq!(f.map(|f| f.code), Some(CloseCode::from(4000)));
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "the silent connection was closed");
}

#[tokio::test]
async fn sigterm_drains_connections_with_a_reconnect_code() {
    let mut server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    a.call("rooms.create", json!({ "name": "main", "kind": "channel" }))
        .await
        .unwrap();
    a.send_raw_text(r##"{"jsonrpc":"2.0","id":99,"method":"messages.send","params":{"to":"#main","text":"last words","client_id":"lw"}}"##)
        .await
        .unwrap();
    server.stop(); // SIGTERM, waits for the process to exit
    // Whatever the server said is in our socket buffer: maybe the reply, then the close.
    let mut acked = false;
    let close = loop {
        match a.recv_raw(WAIT).await {
            Ok(palaver_client::RawFrame::Text(t)) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["id"] == 99 {
                    assert!(
                        v["result"]["seq"].is_i64(),
                        "the call in flight was answered: {v}"
                    );
                    acked = true;
                }
            }
            Ok(palaver_client::RawFrame::Close(info)) => break info,
            Ok(palaver_client::RawFrame::Ended(e)) => panic!("ended without a close frame: {e:?}"),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e:?}"),
        }
    };
    let info = close.expect("a close frame with a code");
    assert_eq!(info.code, 1001);
    assert!(info.reason.contains("reconnect"), "reason: {}", info.reason);

    // Restart: an acknowledged message is there; retrying the send cannot duplicate it.
    server.restart().await;
    let mut a = connect(&server, &alice.token).await;
    let r = a
        .call(
            "messages.send",
            json!({ "to": "#main", "text": "last words", "client_id": "lw" }),
        )
        .await
        .unwrap();
    assert_eq!(
        r["duplicate"], acked,
        "acked before shutdown means stored before shutdown"
    );
    let h = a
        .call("messages.history", json!({ "conversation": "#main" }))
        .await
        .unwrap();
    assert_eq!(h["messages"].as_array().unwrap().len(), 1);
}
