//! The WebSocket layer itself, as a client sees it: pings answered, frames of every length
//! encoding intact, a client that stops reading getting everything, in order, once it reads
//! again (the server's writes then stop half-way through frames and resume), and the server's
//! reading of frames a client library would never send: fragments, frames cut into single
//! bytes, protocol violations and invalid UTF-8, each with its close code.

use crate::harness::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    // Three connections in the room: the publishing task writes to the parked ones itself.
    slow_reader_gets_everything(0).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_in_a_larger_room_gets_everything_in_order() {
    // Eleven: the flushers write to the parked ones.
    slow_reader_gets_everything(8).await;
}

/// A connection that is not read while more than the kernel buffers are sent to it, in a room
/// with `extra` more connections (which read), then reads.
async fn slow_reader_gets_everything(extra: usize) {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (bob, mut b) = user(&server, "bob").await;
    a.call(
        "rooms.create",
        json!({ "name": "flood", "kind": "channel" }),
    )
    .await
    .unwrap();
    b.call("rooms.join", json!({ "room": "#flood" }))
        .await
        .unwrap();
    let mut listeners = Vec::new();
    for _ in 0..extra {
        listeners.push(connect(&server, &bob.token).await);
    }

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
    drop(listeners);
}

/// A native connection for `token` as a bare TCP stream, after the upgrade: frames are written
/// and read by hand.
async fn raw_ws(server: &Server, token: &str) -> TcpStream {
    let host = server.base().trim_start_matches("http://").to_owned();
    let mut tcp = TcpStream::connect(&host).await.expect("tcp connect");
    let request = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte)
            .await
            .expect("the upgrade response");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "the accept key of RFC 6455's example: {head}"
    );
    tcp
}

const MASK: [u8; 4] = [0xA1, 0x02, 0x7F, 0x10];

/// A client frame (masked): `b0` is FIN, RSV and opcode.
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 65_535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// The next server frame: its opcode and payload (server frames are never masked).
async fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let read = async {
        let mut h = [0u8; 2];
        tcp.read_exact(&mut h).await?;
        assert_eq!(h[0] & 0x80, 0x80, "server frames are whole (FIN)");
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let len = match h[1] & 0x7F {
            126 => tcp.read_u16().await? as usize,
            127 => tcp.read_u64().await? as usize,
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await?;
        std::io::Result::Ok((h[0] & 0x0F, payload))
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("a frame in time")
        .expect("a frame")
}

/// The next text frame's JSON, skipping pings.
async fn read_json(tcp: &mut TcpStream) -> Value {
    loop {
        match read_frame(tcp).await {
            (0x1, text) => return serde_json::from_slice(&text).expect("JSON"),
            (0x9, _) => {}
            (op, payload) => panic!("unexpected frame {op:#x} {payload:?}"),
        }
    }
}

/// Reads until the server's close frame; returns its code, then checks the server ends the
/// TCP connection.
async fn expect_close(tcp: &mut TcpStream) -> u16 {
    let code = loop {
        match read_frame(tcp).await {
            (0x8, body) => break u16::from_be_bytes([body[0], body[1]]),
            (0x9, _) => {}
            (op, payload) => panic!("unexpected frame {op:#x} {payload:?}"),
        }
    };
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut rest))
        .await
        .expect("the server ends the connection")
        .ok();
    assert!(rest.is_empty(), "nothing after the close frame: {rest:?}");
    code
}

fn ping_call(id: u64) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": "ping"})
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn fragments_and_frames_cut_into_bytes_are_read_whole() {
    let server = Server::start().await;
    let (alice, _a) = user(&server, "alice").await;
    let mut tcp = raw_ws(&server, &alice.token).await;

    // A call in three fragments, with a ping between two of them.
    let call = ping_call(1);
    let (one, rest) = call.split_at(5);
    let (two, three) = rest.split_at(10);
    let mut bytes = client_frame(0x01, one);
    bytes.extend(client_frame(0x89, b"between"));
    bytes.extend(client_frame(0x00, two));
    bytes.extend(client_frame(0x80, three));
    tcp.write_all(&bytes).await.unwrap();
    assert_eq!(read_frame(&mut tcp).await, (0xA, b"between".to_vec()));
    let reply = read_json(&mut tcp).await;
    assert_eq!(
        (reply["id"].clone(), reply["result"].clone()),
        (json!(1), json!("pong"))
    );

    // A call written one byte at a time.
    for byte in client_frame(0x81, &ping_call(2)) {
        tcp.write_all(&[byte]).await.unwrap();
        tcp.flush().await.unwrap();
    }
    assert_eq!(read_json(&mut tcp).await["id"], 2);

    // A call of 40 000 bytes (a 16-bit length, more than one read) is read whole, and the
    // connection goes on.
    let big =
        json!({"jsonrpc": "2.0", "id": 3, "method": "ping", "params": {"pad": "x".repeat(40_000)}});
    tcp.write_all(&client_frame(0x81, big.to_string().as_bytes()))
        .await
        .unwrap();
    let reply = read_json(&mut tcp).await;
    assert_eq!(reply["id"], 3, "{reply}");
    tcp.write_all(&client_frame(0x81, &ping_call(4)))
        .await
        .unwrap();
    assert_eq!(read_json(&mut tcp).await["result"], "pong");

    // Three calls in one write are answered in order.
    let three: Vec<u8> = (5..8)
        .flat_map(|id| client_frame(0x81, &ping_call(id)))
        .collect();
    tcp.write_all(&three).await.unwrap();
    for id in 5..8 {
        assert_eq!(read_json(&mut tcp).await["id"], id);
    }

    // The client closes: the server echoes the code and ends the connection.
    tcp.write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    assert_eq!(expect_close(&mut tcp).await, 1000);
    assert_healthy(&server).await;
}

#[tokio::test]
async fn frames_that_break_the_protocol_are_closed_with_their_code() {
    let server = Server::start().await;
    let (alice, _a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    let unmasked = {
        let call = ping_call(1);
        let mut f = vec![0x81, call.len() as u8];
        f.extend(call);
        f
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("an unmasked frame", unmasked, 1002),
        ("reserved bits", client_frame(0xC1, &ping_call(1)), 1002),
        ("an unknown opcode", client_frame(0x83, b"x"), 1002),
        ("a fragmented ping", client_frame(0x09, b"x"), 1002),
        (
            "a continuation out of nowhere",
            client_frame(0x80, b"x"),
            1002,
        ),
        (
            "a new message inside a fragmented one",
            [client_frame(0x01, b"{"), client_frame(0x81, b"{}")].concat(),
            1002,
        ),
        (
            "an invalid close code",
            client_frame(0x88, &1005u16.to_be_bytes()),
            1002,
        ),
        (
            "text that is not UTF-8",
            client_frame(0x81, &[b'"', 0xC3, b'"']),
            1007,
        ),
        ("a binary frame", client_frame(0x82, &[1, 2, 3]), 1003),
    ];
    for (what, bytes, code) in cases {
        let mut tcp = raw_ws(&server, &alice.token).await;
        tcp.write_all(&bytes).await.unwrap();
        assert_eq!(expect_close(&mut tcp).await, code, "{what}");
    }
    // Neighbours never noticed.
    b.call("ping", json!({})).await.unwrap();
    assert_healthy(&server).await;
}
