//! The WebSocket layer itself, as a client sees it: pings answered, frames of every length
//! encoding intact, and a client that stops reading getting everything, in order, once it reads
//! again (the server's writes then stop half-way through frames and resume).

use crate::harness::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A native connection for `token` over a socket with a small receive buffer, so that the
/// server's writes fill it quickly.
async fn small_window_ws(server: &Server, token: &str) -> WebSocketStream<TcpStream> {
    let url = format!("{}?token={token}", server.ws_url());
    let addr = server
        .base()
        .trim_start_matches("http://")
        .parse()
        .expect("host:port");
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.expect("tcp connect");
    let request = url.into_client_request().unwrap();
    let (ws, _) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("websocket upgrade");
    ws
}

/// The next text frame as JSON (pings and pongs skipped).
async fn next_json(ws: &mut WebSocketStream<TcpStream>) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
            .expect("a valid frame");
        match frame {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_ping_gets_a_pong_with_its_payload() {
    let server = Server::start().await;
    let (alice, _a) = user(&server, "alice").await;
    let mut ws = small_window_ws(&server, &alice.token).await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Pong(p))) => break p,
            Some(Ok(_)) => {}
            other => panic!("no pong: {other:?}"),
        }
    };
    assert_eq!(&pong[..], b"are you there");
    // The connection still answers calls.
    ws.send(Message::text(
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["result"], "pong");
}

#[tokio::test]
async fn frames_of_every_length_arrive_whole() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    a.call(
        "rooms.create",
        json!({ "name": "sizes", "kind": "channel" }),
    )
    .await
    .unwrap();
    // A frame's length takes 7 bits below 126 bytes, 16 bits below 64 KiB, 64 bits above.
    let texts: Vec<String> = [1, 90, 125, 126, 127, 1000, 16 * 1024 - 100]
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i}:{}", "é".repeat(*n / 2)))
        .collect();
    for t in &texts {
        send(&mut a, "#sizes", t).await;
    }
    // Ten copies of the largest make a history page above 64 KiB.
    for _ in 0..9 {
        send(&mut a, "#sizes", &texts[6]).await;
    }
    let page = a
        .call(
            "messages.history",
            json!({ "conversation": "#sizes", "limit": 50 }),
        )
        .await
        .unwrap();
    assert!(
        page.to_string().len() > 160 * 1024,
        "the page is large enough to need a 64-bit length"
    );
    let mut got: Vec<String> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut want = texts.clone();
    want.extend(std::iter::repeat_n(texts[6].clone(), 9));
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_client_that_stops_reading_gets_everything_in_order_when_it_reads_again() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    a.call(
        "rooms.create",
        json!({ "name": "flood", "kind": "channel" }),
    )
    .await
    .unwrap();
    b.call("rooms.join", json!({ "room": "#flood" }))
        .await
        .unwrap();

    // Alice's second connection: signed in, then not read while 10.8 MB are sent to it, more
    // than the kernel buffers (4 MB at most for the server's side here): the rest waits in
    // the connection's queue, and writes stop part-way through a frame.
    let mut slow = small_window_ws(&server, &alice.token).await;
    slow.send(Message::text(
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut slow).await["result"], "pong");

    const N: i64 = 900;
    let body = "x".repeat(12_000);
    for i in 1..=N {
        send(&mut b, "#flood", &format!("{i} {body}")).await;
    }
    // Now read: every message once, in seq order, intact.
    let mut expected_seq = None;
    let mut count = 0;
    while count < N {
        let frame = next_json(&mut slow).await;
        if frame["method"] != "message" {
            continue;
        }
        let m = &frame["params"];
        let seq = m["seq"].as_i64().unwrap();
        if let Some(want) = expected_seq {
            assert_eq!(seq, want, "in order, none missing");
        }
        expected_seq = Some(seq + 1);
        count += 1;
        assert_eq!(
            m["text"].as_str().unwrap(),
            format!("{count} {body}"),
            "message {count} intact"
        );
    }
    // And the connection still works both ways.
    slow.send(Message::text(
        json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string(),
    ))
    .await
    .unwrap();
    let reply = loop {
        let v = next_json(&mut slow).await;
        if v.get("id").is_some() {
            break v;
        }
    };
    assert_eq!(reply["result"], "pong");
}
