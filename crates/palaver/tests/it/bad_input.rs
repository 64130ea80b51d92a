//! Malformed and hostile input: JSON-RPC error replies, batches, and frames that close only
//! the connection that sent them. The server keeps serving everyone else.

use crate::harness::*;
use palaver_client::{Client, CloseInfo};
use serde_json::{Value, json};

fn error_code(reply: &Value) -> Option<i64> {
    reply["error"]["code"].as_i64()
}

#[tokio::test]
async fn malformed_json_is_a_parse_error_with_a_null_id() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    for junk in ["{not json", "", "[1, 2", "\"jsonrpc\": }"] {
        a.send_raw_text(junk).await.unwrap();
        let reply = a.recv_reply(WAIT).await.unwrap();
        assert_eq!(error_code(&reply), Some(-32700), "{junk:?}: {reply}");
        assert_eq!(reply["jsonrpc"], "2.0");
        assert!(
            reply.get("id").is_some_and(Value::is_null),
            "id must be null: {reply}"
        );
    }
    // The connection is still usable.
    assert_eq!(a.call("ping", json!(null)).await.unwrap(), "pong");
}

#[tokio::test]
async fn unknown_methods_and_wrong_params() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;

    a.send_raw_text(r#"{"jsonrpc":"2.0","id":"x1","method":"no.such.method"}"#)
        .await
        .unwrap();
    let reply = a.recv_reply(WAIT).await.unwrap();
    assert_eq!(error_code(&reply), Some(-32601), "{reply}");
    assert_eq!(reply["id"], "x1", "the id is echoed");

    for (method, params) in [
        ("messages.send", json!({ "to": 5, "text": ["not", "text"] })),
        ("users.get", json!({})),
        (
            "rooms.create",
            json!({ "name": "ok-name", "kind": "castle" }),
        ),
        (
            "messages.history",
            json!({ "conversation": "#x", "limit": "many" }),
        ),
        ("auth", json!({})),
    ] {
        let e = expect_rpc_err(a.call(method, params.clone()).await, -32602);
        assert_eq!(e.data_code(), Some("invalid_input"), "{method} {params}");
    }
}

#[tokio::test]
async fn invalid_requests() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    for bad in [
        r#"{"id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"1.0","id":2,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":42}"#,
        r#"42"#,
        r#""ping""#,
        // JSON-RPC 2.0 wants params to be an object or an array.
        r#"{"jsonrpc":"2.0","id":4,"method":"ping","params":"not structured"}"#,
    ] {
        a.send_raw_text(bad).await.unwrap();
        let reply = a.recv_reply(WAIT).await.unwrap();
        assert_eq!(error_code(&reply), Some(-32600), "{bad}: {reply}");
    }
}

#[tokio::test]
async fn a_batch_gets_an_array_of_responses() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let batch = json!([
        { "jsonrpc": "2.0", "id": "p", "method": "ping" },
        { "jsonrpc": "2.0", "id": "m", "method": "me.get" },
        { "jsonrpc": "2.0", "method": "ping" },
        { "jsonrpc": "2.0", "id": "u", "method": "no.such" },
    ]);
    a.send_raw_text(&batch.to_string()).await.unwrap();
    let reply = a.recv_reply(WAIT).await.unwrap();
    let replies = reply
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {reply}"));
    assert_eq!(
        replies.len(),
        3,
        "one response per request, none for the notification"
    );
    let by_id = |id: &str| {
        replies
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no response {id}: {reply}"))
    };
    assert_eq!(by_id("p")["result"], "pong");
    assert_eq!(by_id("m")["result"]["id"], alice.id);
    assert_eq!(error_code(by_id("u")), Some(-32601));

    a.send_raw_text("[]").await.unwrap();
    let reply = a.recv_reply(WAIT).await.unwrap();
    assert_eq!(error_code(&reply), Some(-32600), "empty batch: {reply}");

    // A batch of notifications only gets no reply at all.
    a.send_raw_text(r#"[{"jsonrpc":"2.0","method":"ping"}]"#)
        .await
        .unwrap();
    a.send_raw_text(r#"{"jsonrpc":"2.0","id":"after","method":"ping"}"#)
        .await
        .unwrap();
    let reply = a.recv_reply(WAIT).await.unwrap();
    assert_eq!(reply["id"], "after", "{reply}");
}

#[tokio::test]
async fn a_notification_never_gets_a_reply_even_on_error() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    for n in [
        r#"{"jsonrpc":"2.0","method":"no.such"}"#,
        r#"{"jsonrpc":"2.0","method":"messages.send","params":{}}"#,
        r#"{"jsonrpc":"2.0","method":"ping"}"#,
    ] {
        a.send_raw_text(n).await.unwrap();
    }
    a.send_raw_text(r#"{"jsonrpc":"2.0","id":"probe","method":"ping"}"#)
        .await
        .unwrap();
    let reply = a.recv_reply(WAIT).await.unwrap();
    assert_eq!(reply["id"], "probe", "a notification was answered: {reply}");
    assert_eq!(reply["result"], "pong");
}

/// Alice's other connection and bob still send and receive after alice's first connection
/// was closed for bad input.
async fn neighbours_still_work(a2: &mut Client, b: &mut Client) {
    send(a2, "@bob", "still here").await;
    let n = b.notification_named("message", WAIT).await.unwrap();
    assert_eq!(n.params["text"], "still here");
    send(b, "@alice", "me too").await;
    // a2 also hears its own "still here" (every connection of the sender gets it); skip that.
    let n = a2
        .notification_where("message", WAIT, |p| p["text"] == "me too")
        .await
        .unwrap();
    assert_eq!(n.params["sender_handle"], "bob");
}

#[tokio::test]
async fn a_binary_frame_closes_only_that_connection() {
    let server = Server::start().await;
    let (alice, mut a1) = user(&server, "alice").await;
    let mut a2 = connect(&server, &alice.token).await;
    let (_bob, mut b) = user(&server, "bob").await;

    a1.send_binary(b"\x00\x01binary").await.unwrap();
    let close = a1.recv_close(WAIT).await.unwrap();
    assert_eq!(
        close.map(|c: CloseInfo| c.code),
        Some(1003),
        "close code for a binary frame"
    );

    neighbours_still_work(&mut a2, &mut b).await;
    assert_healthy(&server).await;
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let server = Server::start_with(Settings::default().max_frame_bytes(1024)).await;
    let (alice, mut a1) = user(&server, "alice").await;
    let mut a2 = connect(&server, &alice.token).await;
    let (_bob, mut b) = user(&server, "bob").await;

    // A frame well under the limit is fine.
    send(&mut a1, "@bob", "small").await;
    b.notification_named("message", WAIT).await.unwrap();

    let big = json!({
        "jsonrpc": "2.0", "id": 1, "method": "messages.send",
        "params": { "to": "@bob", "text": "x".repeat(4096) },
    });
    a1.send_raw_text(&big.to_string()).await.unwrap();
    let close = a1.recv_close(WAIT).await.unwrap();
    assert_eq!(
        close.map(|c| c.code),
        Some(1009),
        "close code for a frame too big"
    );
    expect_no_notification(&mut b, "message", |_| true).await;

    neighbours_still_work(&mut a2, &mut b).await;
    assert_healthy(&server).await;
}

#[tokio::test]
async fn garbage_does_not_hurt_the_server() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let junk = [
        "\u{0}\u{1}",
        "null",
        "{}",
        r#"{"jsonrpc":"2.0","id":{"nested":true},"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1e400,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":9,"method":"messages.send","params":{"to":"@alice","text":"\ud800"}}"#,
        deep.as_str(),
    ];
    for j in junk {
        // Whatever the reply (or close), the server must survive.
        if a.send_raw_text(j).await.is_err() {
            break;
        }
    }
    // Whatever happened to that connection, new ones work.
    let (_bob, mut b) = user(&server, "bob").await;
    assert_eq!(b.call("ping", json!(null)).await.unwrap(), "pong");
    assert_healthy(&server).await;
}
