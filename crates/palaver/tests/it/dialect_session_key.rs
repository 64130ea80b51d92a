//! The `session-key` dialect (seed 002, michael-redman/nodejschat): `?session_key=` issued by
//! the CLI or the admin API, `{"authenticated":true}`, the room's recent history, live
//! `{"time","user","message"}` from every dialect, the seed's 1000 closes, and no crash on bad
//! input.

use crate::harness::*;
use crate::raw::{Next, RawWs};
use palaver_client::http;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const ADMINS: &str = "PALAVER_AUTH__ADMINS";

fn url(base: &str, key: &str) -> String {
    format!(
        "{}/compat/session-key?session_key={key}",
        base.replacen("http://", "ws://", 1)
    )
}

#[track_caller]
fn assert_closed_1000(next: Next) {
    match next {
        Next::Close(Some((code, reason))) => assert_eq!((code, reason.as_str()), (1000, "")),
        other => panic!("expected a 1000 close, got {other:?}"),
    }
}

/// `{"time","user","message"}` with the time as JavaScript writes it.
#[track_caller]
fn assert_message(v: &Value, user: &str, message: &str) {
    assert_eq!(v["user"], user, "{v}");
    assert_eq!(v["message"], message, "{v}");
    let time = v["time"]
        .as_str()
        .unwrap_or_else(|| panic!("no time in {v}"));
    let b = time.as_bytes();
    assert!(
        time.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && b[23] == b'Z',
        "time {time}"
    );
}

/// Issues a key through the admin API as `admin`.
async fn issue(server: &Server, admin: &str, user: &str, room: Value) -> http::Response {
    http::post_json(
        server.base(),
        "/api/v1/admin/session-keys",
        &json!({"user": user, "room": room}),
        Some(admin),
    )
    .await
    .unwrap()
}

async fn key_for(server: &Server, admin: &str, user: &str, room: &str) -> String {
    let r = issue(server, admin, user, json!(room)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["key"].as_str().unwrap().to_owned()
}

async fn connect(base: &str, key: &str) -> RawWs {
    let mut ws = RawWs::connect(&url(base, key), &[]).await;
    assert_eq!(ws.json(WAIT).await, json!({"authenticated": true}));
    ws
}

#[tokio::test]
async fn a_bad_or_missing_key_is_closed_with_1000_after_the_upgrade() {
    let server = Server::start().await;
    let base = server.ws_url().trim_end_matches("/ws").to_owned();
    let mut ws = RawWs::connect(&format!("{base}/compat/session-key"), &[]).await;
    assert_closed_1000(ws.next(WAIT).await);
    let mut ws = RawWs::connect(&url(server.base(), "nope"), &[]).await;
    assert_closed_1000(ws.next(WAIT).await);
}

#[tokio::test]
async fn history_then_live_messages_from_every_dialect() {
    let server = Server::start_with(
        Settings::default()
            .env(ADMINS, "[\"root\"]")
            .env("PALAVER_DIALECTS__SESSION_KEY_HISTORY", 2),
    )
    .await;
    let (root, _) = signup_user(&server, "root").await;
    let (_alice, mut a) = user(&server, "alice").await;
    a.call("rooms.create", json!({"name":"main","kind":"channel"}))
        .await
        .unwrap();
    a.call("rooms.create", json!({"name":"other","kind":"channel"}))
        .await
        .unwrap();
    for text in ["one", "two", "three"] {
        send(&mut a, "#main", text).await;
    }
    // bob is not in #main: the admin API joins him to the channel.
    let (_bob, mut b) = user(&server, "bob").await;
    let key = key_for(&server, &root, "bob", "#main").await;
    b.call("rooms.join", json!({"room":"#other"}))
        .await
        .unwrap();

    let mut ws = connect(server.base(), &key).await;
    assert_message(&ws.json(WAIT).await, "alice", "two");
    assert_message(&ws.json(WAIT).await, "alice", "three");

    send(&mut a, "#main", "live from native").await;
    assert_message(&ws.json(WAIT).await, "alice", "live from native");

    // The connection is bound to its room: bob's other rooms stay out of it.
    send(&mut a, "#other", "elsewhere").await;
    ws.quiet_where(QUIET, |_| true).await;

    ws.send_json(&json!({"message":"hello room", "session_key": key}))
        .await;
    assert_message(&ws.json(WAIT).await, "bob", "hello room");
    let n = a
        .notification_where("message", WAIT, |p| p["text"] == "hello room")
        .await
        .unwrap();
    assert_eq!(n.params["sender_handle"], "bob");

    // The seed's test client sends numbers; they come back as text.
    ws.send_text(r#"{"message":0.5}"#).await;
    assert_message(&ws.json(WAIT).await, "bob", "0.5");

    // Malformed JSON crashed the seed's worker; here it is ignored and the socket stays.
    ws.send_text("{not json").await;
    ws.send_text(r#"{"message":"still here"}"#).await;
    assert_message(&ws.json(WAIT).await, "bob", "still here");

    // A second client of the room hears everything too.
    let mut again = connect(server.base(), &key).await;
    assert_message(&again.json(WAIT).await, "bob", "0.5");
    assert_message(&again.json(WAIT).await, "bob", "still here");

    // No `message`: the seed's NOT NULL violation, which closed the socket with 1000.
    ws.send_text(r#"{"text":"wrong field"}"#).await;
    assert_closed_1000(ws.next(WAIT).await);
    again.quiet_where(QUIET, |_| true).await;
}

#[tokio::test]
async fn the_admin_api_issues_and_revokes_keys() {
    let server = Server::start_with(Settings::default().env(ADMINS, "[\"root\"]")).await;
    let (root, _) = signup_user(&server, "root").await;
    let (alice, mut a) = user(&server, "alice").await;
    a.call(
        "rooms.create",
        json!({"name":"secret","kind":"group","members":[]}),
    )
    .await
    .unwrap();
    let room = a
        .call("rooms.create", json!({"name":"main","kind":"channel"}))
        .await
        .unwrap();
    signup_user(&server, "bob").await;

    let none = http::post_json(
        server.base(),
        "/api/v1/admin/session-keys",
        &json!({"user":"alice","room":"#main"}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(none.status, 401);
    let not_admin = issue(&server, &alice.token, "alice", json!("#main")).await;
    assert_eq!(not_admin.status, 403, "{}", not_admin.text);
    assert_eq!(not_admin.body["error"]["code"], "forbidden");
    assert_eq!(
        issue(&server, &root, "nobody", json!("#main")).await.status,
        404
    );
    assert_eq!(
        issue(&server, &root, "alice", json!("#nowhere"))
            .await
            .status,
        404
    );
    let private = issue(&server, &root, "bob", json!("#secret")).await;
    assert_eq!(
        private.status, 404,
        "a group needs membership first, and does not admit it exists"
    );

    // By room id too; a key is 32 random bytes in hex.
    let r = issue(&server, &root, "@alice", room["id"].clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.body["key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    let mut ws = connect(server.base(), &key).await;

    let revoke = |k: &str| {
        let path = format!("/api/v1/admin/session-keys/{k}");
        let auth = format!("Bearer {root}");
        let base = server.base().to_owned();
        async move {
            http::request(&base, "DELETE", &path, &[("Authorization", &auth)], None)
                .await
                .unwrap()
        }
    };
    assert_eq!(revoke(&key).await.status, 200);
    match ws.next(WAIT).await {
        Next::Close(Some((code, _))) => assert_eq!(code, 1008, "revoking closes the key's sockets"),
        other => panic!("expected a close, got {other:?}"),
    }
    assert_eq!(revoke(&key).await.status, 404);
    let mut refused = RawWs::connect(&url(server.base(), &key), &[]).await;
    assert_closed_1000(refused.next(WAIT).await);
}

#[tokio::test]
async fn admins_default_to_nobody() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    a.call("rooms.create", json!({"name":"main","kind":"channel"}))
        .await
        .unwrap();
    assert_eq!(
        issue(&server, &alice.token, "alice", json!("#main"))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn chat_client_authorize_accepts_a_session_key_bound_to_its_room() {
    let server = Server::start_with(Settings::default().env(ADMINS, "[\"root\"]")).await;
    let (root, _) = signup_user(&server, "root").await;
    let (alice, mut a) = user(&server, "alice").await;
    let room = a
        .call("rooms.create", json!({"name":"main","kind":"channel"}))
        .await
        .unwrap();
    let key = key_for(&server, &root, "alice", "#main").await;
    let base = server.ws_url().trim_end_matches("/ws").to_owned();
    let mut cc = RawWs::connect(&format!("{base}/compat/chat-client"), &[]).await;
    cc.send_json(&json!({"type":"authorize","data":{"token":key},"id":1}))
        .await;
    let reply = cc.json(WAIT).await;
    assert_eq!(reply["data"]["_id"], alice.id.to_string(), "{reply}");
    let gid = room["id"].to_string();
    cc.send_json(&json!({"type":"create","id":2,"data":{"to":gid,"isGroup":true,"value":"hi"}}))
        .await;
    let reply = cc.json_where(WAIT, |v| v["id"] == 2).await;
    assert!(reply["error"].is_null(), "{reply}");
    cc.send_json(&json!({"type":"create","id":3,"data":{"to":"1","value":"dm"}}))
        .await;
    let reply = cc.json_where(WAIT, |v| v["id"] == 3).await;
    assert!(
        reply["error"].as_str().unwrap().starts_with("forbidden"),
        "{reply}"
    );
}

/// A `palaver serve` on a database this test chooses, so the CLI can share it.
struct OwnServer {
    child: Child,
    base: String,
}

impl OwnServer {
    fn start(database: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_palaver"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .env_remove("PALAVER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().expect("palaver printed its address").unwrap();
            if let Some(addr) = line.trim().strip_prefix("palaver listening on ") {
                break addr.trim().trim_end_matches('/').to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, base }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_palaver"))
        .args(args)
        .env_remove("PALAVER_CONFIG")
        .env_remove("PALAVER_DATABASE")
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_cli_issues_a_key_for_a_member_and_revokes_it() {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "palaver-it-cli-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let database = format!("sqlite://{}", dir.join("palaver.db").display());
    let server = OwnServer::start(&database);
    let (token, _) = {
        let r = http::signup(&server.base, "alice", PASSWORD, None)
            .await
            .unwrap();
        assert_eq!(r.status, 201);
        (r.body["token"].as_str().unwrap().to_owned(), ())
    };
    http::signup(&server.base, "bob", PASSWORD, None)
        .await
        .unwrap();
    let ws_url = format!("{}/ws", server.base.replacen("http://", "ws://", 1));
    let mut a = palaver_client::Client::connect_with_token(&ws_url, &token)
        .await
        .unwrap();
    a.call("rooms.create", json!({"name":"main","kind":"channel"}))
        .await
        .unwrap();
    send(&mut a, "#main", "before the key").await;

    // bob is not a member: the CLI never joins anyone (only the server writes events).
    let out = cli(&[
        "session",
        "create",
        "--user",
        "bob",
        "--room",
        "#main",
        "--database",
        &database,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a member"));

    // While the server runs on the same database.
    let out = cli(&[
        "session",
        "create",
        "--user",
        "@alice",
        "--room",
        "main",
        "--database",
        &database,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap().trim().to_owned();
    assert_eq!(key.len(), 64, "the key alone on the last line: {stdout}");

    let mut ws = connect(&server.base, &key).await;
    assert_message(&ws.json(WAIT).await, "alice", "before the key");
    send(&mut a, "#main", "after").await;
    assert_message(&ws.json(WAIT).await, "alice", "after");

    let out = cli(&["session", "revoke", "--key", &key, "--database", &database]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["session", "revoke", "--key", &key, "--database", &database]);
    assert!(!out.status.success(), "revoked already");
    let mut refused = RawWs::connect(&url(&server.base, &key), &[]).await;
    assert_closed_1000(refused.next(WAIT).await);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn its_own_listener_accepts_any_path() {
    let port = crate::dialect_chat_client::free_port();
    let server = Server::start_with(Settings::default().env(ADMINS, "[\"root\"]").env(
        "PALAVER_DIALECTS__SESSION_KEY__LISTEN",
        format!("127.0.0.1:{port}"),
    ))
    .await;
    let (root, _) = signup_user(&server, "root").await;
    let (_alice, mut a) = user(&server, "alice").await;
    a.call("rooms.create", json!({"name":"main","kind":"channel"}))
        .await
        .unwrap();
    let key = key_for(&server, &root, "alice", "#main").await;
    for path in ["/", "/chat/anything"] {
        let mut ws = RawWs::connect(
            &format!("ws://127.0.0.1:{port}{path}?session_key={key}"),
            &[],
        )
        .await;
        assert_eq!(
            ws.json(WAIT).await,
            json!({"authenticated": true}),
            "{path}"
        );
    }
}
