//! The `messenger` dialect (seed 003, siandreev/messenger-server): the README's exchanges and
//! what `shared/seed-protocols.md` says the seed's code does, replayed against Palaver, plus
//! the same users seen from the native protocol.

mod calls;
mod endpoints;
mod events;

pub use crate::harness::*;
use futures_util::{SinkExt, StreamExt};
use palaver_client::http;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const NO_AUTH_JWT: &str =
    r#"{"Error":{"name":"NoAuthJWTError","message":"Authorization data missing."}}"#;
const UNSPECIFIED: &str = r#"{"Error":{"name":"UnspecifiedError","message":"An undefined error occurred on the server."}}"#;

/// `http://host:port/compat/messenger`.
fn base(server: &Server) -> String {
    format!("{}/compat/messenger", server.base())
}

fn ws_url(base: &str) -> String {
    format!("{}/api", base.replacen("http://", "ws://", 1))
}

fn error_body(name: &str, message: &str) -> Value {
    json!({ "Error": { "name": name, "message": message } })
}

fn user_body(tag: &str, first: &str, last: &str, email: &str, password: &str) -> Value {
    json!({ "user": { "tag": tag, "firstName": first, "lastName": last, "email": email, "password": password } })
}

/// Signs up through `/signup`; returns the `auth` cookie's token.
async fn signup(base: &str, tag: &str, first: &str, last: &str) -> String {
    let email = format!("{}@example.com", &tag[1..]);
    let body = user_body(tag, first, last, &email, PASSWORD);
    let r = http::post_json(base, "/signup", &body, None).await.unwrap();
    assert_eq!((r.status, r.text.as_str()), (200, "Sign up successful"));
    r.cookie_value("auth").expect("auth cookie").to_owned()
}

/// A messenger WebSocket that keeps frames it was not asked for yet.
struct Ms {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pending: VecDeque<Value>,
    next_id: u64,
}

impl Ms {
    async fn open(base: &str, token: Option<&str>) -> Self {
        let mut request = ws_url(base).into_client_request().unwrap();
        if let Some(t) = token {
            let cookie = format!("theme=dark; auth={t}");
            request
                .headers_mut()
                .insert("cookie", cookie.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        Self {
            ws,
            pending: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Opens and makes one round trip, so the connection is surely registered.
    async fn connect(base: &str, token: &str) -> Self {
        let mut ms = Self::open(base, Some(token)).await;
        let me = ms.call("getSelfInfo", json!([])).await;
        assert!(me["result"]["tag"].is_string(), "{me}");
        ms
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next JSON text frame from the socket; `None` when nothing comes within `wait`.
    async fn read(&mut self, wait: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Some(serde_json::from_str(&t).unwrap_or_else(|_| panic!("{t}")));
                }
                Ok(Some(Ok(Message::Close(f)))) => panic!("closed: {f:?}"),
                Ok(None) | Ok(Some(Err(_))) => panic!("connection ended"),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// The first frame (kept or new) satisfying `pred`.
    async fn frame_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).unwrap();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(v) = self.read(left).await else {
                panic!("no {what} within {WAIT:?}; kept {:?}", self.pending)
            };
            if pred(&v) {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// Sends `text` and returns the reply with `id`.
    async fn raw_call(&mut self, text: &str, id: &Value) -> Value {
        self.send(text).await;
        let id = id.clone();
        self.frame_where("reply", move |v| {
            v.get("jsonrpc").is_some() && v["id"] == id
        })
        .await
    }

    /// Calls `method` with a fresh string id; returns the whole reply.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(format!("m{}", self.next_id));
        let req = json!({ "jsonrpc": "2.0", "method": method, "params": params, "id": id });
        let reply = self.raw_call(&req.to_string(), &id).await;
        assert_eq!(reply["jsonrpc"], "2.0", "{reply}");
        reply
    }

    /// The result of a call that must succeed.
    async fn ok(&mut self, method: &str, params: Value) -> Value {
        let reply = self.call(method, params).await;
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// The error code of a call that must fail.
    async fn err(&mut self, method: &str, params: Value) -> i64 {
        let reply = self.call(method, params).await;
        reply["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("{method} should fail: {reply}"))
    }

    async fn notification(&mut self, kind: &str) -> Value {
        let kind = kind.to_owned();
        let what = kind.clone();
        self.frame_where(&what, move |v| v["type"] == kind.as_str())
            .await
    }

    async fn no_notification(&mut self, kind: &str) {
        assert!(
            !self.pending.iter().any(|v| v["type"] == kind),
            "unexpected {kind}: {:?}",
            self.pending
        );
        let deadline = tokio::time::Instant::now() + QUIET;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                None => return,
                Some(v) if v["type"] == kind => panic!("unexpected {v}"),
                Some(v) => self.pending.push_back(v),
            }
        }
    }

    /// Waits for the server's close frame: (code, reason).
    async fn closed(mut self) -> (u16, String) {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(f))))) => {
                    return (u16::from(f.code), f.reason.to_string());
                }
                Ok(Some(Ok(Message::Close(None)))) => panic!("close without a code"),
                Ok(Some(Ok(_))) => {}
                other => panic!("no close frame: {other:?}"),
            }
        }
    }

    async fn close(mut self) {
        let _ = self.ws.close(None).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
    }
}

/// One raw HTTP/1.1 exchange; returns (status, headers, body).
async fn raw_http(server: &Server, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let authority = server.base().trim_start_matches("http://").to_owned();
    let mut tcp = TcpStream::connect(&authority).await.unwrap();
    let head = head.replace("{host}", &authority);
    tcp.write_all(head.as_bytes()).await.unwrap();
    let _ = tcp.write_all(body).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut raw)).await;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

/// `POST /compat/messenger/upload-image` with `data` as the `image` file named `filename`.
async fn upload(
    server: &Server,
    token: Option<&str>,
    filename: &str,
    data: &[u8],
) -> (u16, String) {
    let boundary = "----palaverTestBoundary7MA4YWxk";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let cookie = token
        .map(|t| format!("Cookie: auth={t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /compat/messenger/upload-image HTTP/1.1\r\nHost: {{host}}\r\nConnection: close\r\n{cookie}Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (status, _, body) = raw_http(server, &head, &body).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}
