//! The chat-client authorize hook (the seed's `authorize(data, cb)` callback as an HTTP
//! endpoint): data that is neither a Palaver token nor a session key is POSTed to the hook,
//! whose answer names the user (created on first use, without a password), names nobody
//! (`authorizationFailed`, the socket stays open) or is broken (`authorizationUnavailable`).

use crate::harness::*;
use crate::raw::RawWs;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request the hook received.
#[derive(Debug, Clone)]
struct Asked {
    head: String,
    body: Value,
}

/// A hook endpoint on a loopback port: it answers by the `token` (or `username`) of the data.
struct Hook {
    url: String,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl Hook {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/authorize", listener.local_addr().unwrap());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(answer(tcp, log.clone()));
            }
        });
        Self { url, asked }
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request and answers it.
async fn answer(mut tcp: TcpStream, log: Arc<Mutex<Vec<Asked>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body) = loop {
        let n = tcp.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            break (head, buf[end + 4..end + 4 + length].to_vec());
        }
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = body["token"]
        .as_str()
        .or(body["username"].as_str())
        .unwrap_or("")
        .to_owned();
    log.lock().unwrap().push(Asked { head, body });
    let (status, reply) = match key.as_str() {
        "t-alice" | "alice" => (
            "200 OK",
            json!({"_id": "mongo-1", "handle": "Alice", "name": "Alice Liddell", "team": "red"})
                .to_string(),
        ),
        "t-nobody" => ("200 OK", "null".to_owned()),
        "t-revoked" => ("401 Unauthorized", String::new()),
        "t-bad-handle" => ("200 OK", json!({"handle": "not a handle"}).to_string()),
        "t-slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        _ => ("500 Internal Server Error", "boom".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = tcp.write_all(response.as_bytes()).await;
}

fn url(server: &Server) -> String {
    format!(
        "{}/compat/chat-client",
        server.ws_url().trim_end_matches("/ws")
    )
}

async fn authorize(ws: &mut RawWs, id: i64, data: Value) -> Value {
    ws.send_json(&json!({"type": "authorize", "data": data, "id": id}))
        .await;
    let reply = ws.json_where(WAIT, |v| v.get("type").is_none()).await;
    assert_eq!(reply["id"], id, "{reply}");
    reply
}

async fn server_with(hook: &Hook) -> Server {
    Server::start_with(
        Settings::default()
            .env("PALAVER_DIALECTS__CHAT_CLIENT_AUTHORIZE_HOOK", &hook.url)
            .env(
                "PALAVER_DIALECTS__CHAT_CLIENT_AUTHORIZE_HOOK_TIMEOUT_MS",
                500,
            ),
    )
    .await
}

#[tokio::test]
async fn the_hook_names_the_user_who_then_chats_with_native_users() {
    let hook = Hook::start().await;
    let server = server_with(&hook).await;
    let (bob, mut b) = user(&server, "bob").await;

    let mut ws = RawWs::connect(&url(&server), &[]).await;
    let reply = authorize(&mut ws, 1, json!({"token": "t-alice"})).await;
    assert!(reply["error"].is_null(), "{reply}");
    let me = &reply["data"];
    // The hook's object is echoed, under Palaver's id, handle and name.
    let alice = me["_id"].as_str().unwrap().to_owned();
    assert!(alice.parse::<i64>().is_ok(), "a Palaver id: {me}");
    assert_eq!(me["id"], alice.as_str());
    assert_eq!(me["handle"], "alice");
    assert_eq!(me["name"], "Alice Liddell");
    assert_eq!(me["team"], "red");
    assert_eq!(me["token"], "t-alice");

    let asked = hook.asked();
    assert_eq!(asked.len(), 1);
    assert!(
        asked[0].head.starts_with("POST /hooks/authorize HTTP/1.1"),
        "{}",
        asked[0].head
    );
    assert!(
        asked[0]
            .head
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        asked[0].head
    );
    assert_eq!(asked[0].body, json!({"token": "t-alice"}));

    // The user it made is a real Palaver user: a DM reaches bob on the native protocol.
    ws.send_json(
        &json!({"type": "create", "data": {"to": bob.id.to_string(), "text": "hi bob"}, "id": 2}),
    )
    .await;
    let created = ws.json_where(WAIT, |v| v["id"] == 2).await;
    assert!(created["error"].is_null(), "{created}");
    let n = b
        .notification_named("message", WAIT)
        .await
        .expect("bob hears alice");
    assert_eq!(n.params["text"], "hi bob");
    assert_eq!(n.params["sender"], alice.parse::<i64>().unwrap());

    // Other data shapes go to the hook as they are, and name the same user again.
    let mut again = RawWs::connect(&url(&server), &[]).await;
    let data = json!({"username": "alice", "password": "hunter2"});
    let reply = authorize(&mut again, 1, data.clone()).await;
    assert_eq!(reply["data"]["_id"], alice.as_str(), "{reply}");
    assert!(reply["data"].get("token").is_none(), "{reply}");
    assert_eq!(hook.asked().last().unwrap().body, data);

    // A Palaver token never reaches the hook.
    let before = hook.asked().len();
    let mut native = RawWs::connect(&url(&server), &[]).await;
    let reply = authorize(&mut native, 1, json!({"token": bob.token})).await;
    assert_eq!(reply["data"]["handle"], "bob", "{reply}");
    assert_eq!(hook.asked().len(), before);

    // Nobody can sign in as a hook user with a password.
    let r = palaver_client::http::login(server.base(), "alice", "!hook")
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.text);
}

#[tokio::test]
async fn refusals_and_a_broken_hook_keep_the_socket_open() {
    let hook = Hook::start().await;
    let server = server_with(&hook).await;
    let mut ws = RawWs::connect(&url(&server), &[]).await;

    for (id, token, error) in [
        (1, "t-nobody", "authorizationFailed"),
        (2, "t-revoked", "authorizationFailed"),
        (3, "t-broken", "authorizationUnavailable"),
        (4, "t-bad-handle", "authorizationUnavailable"),
        (5, "t-slow", "authorizationUnavailable"),
    ] {
        let reply = authorize(&mut ws, id, json!({ "token": token })).await;
        assert_eq!(reply, json!({"id": id, "error": error}), "{token}");
    }
    // The same socket still authorizes.
    let reply = authorize(&mut ws, 6, json!({"token": "t-alice"})).await;
    assert_eq!(reply["data"]["handle"], "alice", "{reply}");
    assert_healthy(&server).await;
}

#[tokio::test]
async fn without_a_hook_unknown_data_is_refused() {
    let server = Server::start().await;
    let mut ws = RawWs::connect(&url(&server), &[]).await;
    let reply = authorize(&mut ws, 1, json!({"username": "alice", "password": "x"})).await;
    assert_eq!(reply, json!({"id": 1, "error": "authorizationFailed"}));
}

#[tokio::test]
async fn a_hook_url_that_is_not_http_stops_the_server_with_a_clear_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palaver"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "sqlite://:memory:",
        ])
        .env(
            "PALAVER_DIALECTS__CHAT_CLIENT_AUTHORIZE_HOOK",
            "https://auth.example/",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("chat_client_authorize_hook"),
        "the error names the setting: {stderr}"
    );
}
