//! The client against small scripted servers on real sockets: response matching, buffering of
//! notifications, error mapping, close codes, refused upgrades, and the HTTP helpers.

// `result_large_err`: the handshake callback signature is tungstenite's, not ours.
#![allow(clippy::unwrap_used, clippy::result_large_err)]

use futures_util::{SinkExt, StreamExt};
use palaver_client::{Client, ClientError, RawFrame, http};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const WAIT: Duration = Duration::from_secs(5);

fn notification(method: &str, params: Value) -> Message {
    Message::text(json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string())
}

/// A WebSocket server that answers by a script: `noisy` sends two notifications before its
/// response, `fail` answers an error, `close` closes with 1009, a binary frame closes with
/// 1003, `whoami` returns the upgrade's Authorization header, anything else echoes params.
async fn scripted_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut auth = String::new();
                let callback = |req: &Request, resp: Response| {
                    if req.uri().query() == Some("token=bad") {
                        let mut refusal = ErrorResponse::new(Some("no".into()));
                        *refusal.status_mut() = 401.try_into().unwrap();
                        return Err(refusal);
                    }
                    auth = req
                        .headers()
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    let req: Value = match msg {
                        Message::Text(t) => serde_json::from_str(&t).unwrap(),
                        Message::Binary(_) => {
                            let frame = CloseFrame {
                                code: CloseCode::Unsupported,
                                reason: "binary".into(),
                            };
                            let _ = ws.send(Message::Close(Some(frame))).await;
                            continue;
                        }
                        _ => continue,
                    };
                    let id = req["id"].clone();
                    let reply = match req["method"].as_str().unwrap() {
                        "noisy" => {
                            ws.send(notification("noise", json!({ "n": 1 })))
                                .await
                                .unwrap();
                            ws.send(notification("tick", json!({ "n": 2 })))
                                .await
                                .unwrap();
                            json!({ "jsonrpc": "2.0", "id": id, "result": req["params"] })
                        }
                        "fail" => json!({ "jsonrpc": "2.0", "id": id, "error": {
                            "code": -32602, "message": "bad", "data": { "code": "invalid_input" }
                        }}),
                        "close" => {
                            let frame = CloseFrame {
                                code: CloseCode::Size,
                                reason: "too big".into(),
                            };
                            let _ = ws.send(Message::Close(Some(frame))).await;
                            continue;
                        }
                        "whoami" => json!({ "jsonrpc": "2.0", "id": id, "result": auth }),
                        _ if id.is_null() => continue,
                        _ => json!({ "jsonrpc": "2.0", "id": id, "result": req["params"] }),
                    };
                    ws.send(Message::text(reply.to_string())).await.unwrap();
                }
            });
        }
    });
    format!("ws://{addr}/ws")
}

#[tokio::test]
async fn notifications_that_arrive_during_a_call_are_kept_in_order() {
    let url = scripted_server().await;
    let mut c = Client::connect(&url).await.unwrap();
    assert_eq!(
        c.call("noisy", json!({ "a": 1 })).await.unwrap(),
        json!({ "a": 1 })
    );
    assert_eq!(
        c.call("noisy", json!({ "a": 2 })).await.unwrap(),
        json!({ "a": 2 })
    );

    // notification_named skips, and keeps, the others.
    let tick = c.notification_named("tick", WAIT).await.unwrap();
    assert_eq!(tick.params, json!({ "n": 2 }));
    let n = c.next_notification(WAIT).await.unwrap();
    assert_eq!((n.method.as_str(), n.params), ("noise", json!({ "n": 1 })));
    let rest: Vec<String> = c
        .drain_notifications()
        .into_iter()
        .map(|n| n.method)
        .collect();
    assert_eq!(rest, ["noise", "tick"]);
    assert!(matches!(
        c.next_notification(Duration::from_millis(50)).await,
        Err(ClientError::Timeout)
    ));
}

#[tokio::test]
async fn rpc_errors_and_raw_replies() {
    let url = scripted_server().await;
    let mut c = Client::connect(&url).await.unwrap();
    let e = c.call("fail", json!(null)).await.unwrap_err();
    assert_eq!(e.rpc_code(), Some(-32602));
    assert_eq!(e.data_code(), Some("invalid_input"));

    c.send_raw_text(r#"{"jsonrpc":"2.0","id":"raw","method":"noisy","params":[1]}"#)
        .await
        .unwrap();
    let reply = c.recv_reply(WAIT).await.unwrap();
    assert_eq!(reply["id"], "raw");
    assert_eq!(reply["result"], json!([1]));
    // The raw frames left are the two notifications.
    assert!(matches!(c.recv_raw(WAIT).await.unwrap(), RawFrame::Text(t) if t.contains("noise")));
    assert!(matches!(c.recv_raw(WAIT).await.unwrap(), RawFrame::Text(t) if t.contains("tick")));
}

#[tokio::test]
async fn a_close_from_the_server_ends_the_call_and_is_reported() {
    let url = scripted_server().await;
    let mut c = Client::connect(&url).await.unwrap();
    match c.call("close", json!(null)).await {
        Err(ClientError::Closed(Some(info))) => assert_eq!(info.code, 1009),
        other => panic!("expected a close, got {other:?}"),
    }
    let info = c.recv_close(WAIT).await.unwrap().unwrap();
    assert_eq!((info.code, info.reason.as_str()), (1009, "too big"));
    assert!(matches!(
        c.call("ping", json!(null)).await,
        Err(ClientError::Closed(_) | ClientError::WebSocket(_))
    ));

    let mut c = Client::connect(&url).await.unwrap();
    c.send_binary(b"\x00").await.unwrap();
    assert_eq!(c.recv_close(WAIT).await.unwrap().unwrap().code, 1003);
}

#[tokio::test]
async fn upgrade_headers_and_refusals() {
    let url = scripted_server().await;
    let mut c = Client::connect_with_headers(&url, &[("Authorization", "Bearer t0k")])
        .await
        .unwrap();
    assert_eq!(c.call("whoami", json!(null)).await.unwrap(), "Bearer t0k");
    c.close().await.unwrap();
    match Client::connect_with_token(&url, "bad").await {
        Err(ClientError::Rejected { status, .. }) => assert_eq!(status, 401),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn http_post_sends_json_and_reads_the_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = vec![0; 4096];
        let mut got = Vec::new();
        // Read until the whole body (announced by Content-Length) is in.
        loop {
            let n = tcp.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if body.len() >= len {
                    assert!(head.starts_with("POST /api/v1/login HTTP/1.1"), "{head}");
                    assert!(head.contains("Authorization: Bearer tk"), "{head}");
                    let echoed = format!("{{\"got\":{body}}}");
                    let resp = format!(
                        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{echoed}",
                        echoed.len()
                    );
                    tcp.write_all(resp.as_bytes()).await.unwrap();
                    return;
                }
            }
        }
    });
    let r = http::post_json(
        &base,
        "/api/v1/login",
        &json!({ "handle": "a" }),
        Some("tk"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.body, json!({ "got": { "handle": "a" } }));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
}
