//! `palaver migrate-store` end to end: a real server on SQLite is used, then stopped with
//! SIGTERM; its file is copied into a fresh PostgreSQL database; a real server on that database
//! then accepts the old session token and the old sync token, and has the whole history.
//!
//! Needs a PostgreSQL server: `PALAVER_TEST_POSTGRES_URL` (skipped loudly without it, a
//! failure under `PALAVER_TEST_STRICT=1`).

use crate::harness::{PASSWORD, WAIT, id_of, send};
use palaver_client::{Client, http};
use palaver_store_postgres::{PgOptions, PgStore};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The server from `PALAVER_TEST_POSTGRES_URL`, or a loud skip (a failure when strict).
fn postgres_url() -> Option<String> {
    const VAR: &str = "PALAVER_TEST_POSTGRES_URL";
    match std::env::var(VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("PALAVER_TEST_STRICT").as_deref() == Ok("1") => {
            panic!("{VAR} is required under PALAVER_TEST_STRICT")
        }
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! SKIPPED: {VAR} is not set, so the migrate-store test did NOT run. !!!!!\n"
            );
            None
        }
    }
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority..].find('/') {
        Some(i) => &base[..authority + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "palaver-migrate-{}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `palaver ARGS` with the developer's `PALAVER_*` settings removed.
fn palaver(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_palaver"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("PALAVER_") && key != "PALAVER_LOG" {
            command.env_remove(key.as_ref());
        }
    }
    command.args(args).current_dir(dir).stdin(Stdio::null());
    command
}

/// A running `palaver serve`, killed on drop unless stopped.
struct Server {
    child: Option<Child>,
    base: String,
}

impl Server {
    async fn start(dir: &Path, database: &str) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        let args = ["serve", "--listen", "127.0.0.1:0", "--database", database];
        let mut child = palaver(dir, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.trim().strip_prefix("palaver listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().trim_end_matches('/').to_owned());
                }
            }
        });
        let base = match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(base)) => base,
            _ => panic!(
                "palaver serve did not start; log:\n{}",
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            ),
        };
        Self {
            child: Some(child),
            base,
        }
    }

    fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replacen("http://", "ws://", 1))
    }

    async fn connect(&self, token: &str) -> Client {
        let mut client = Client::connect_with_token(&self.ws_url(), token)
            .await
            .unwrap();
        assert_eq!(client.call("ping", Value::Null).await.unwrap(), "pong");
        client
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..100 {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "palaver serve exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        panic!("palaver serve did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn signup(server: &Server, handle: &str) -> (String, i64) {
    let r = http::signup(&server.base, handle, PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "signup {handle}: {}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    (token, r.body["user"]["id"].as_i64().unwrap())
}

fn texts(history: &Value) -> Vec<(i64, String)> {
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["seq"].as_i64().unwrap(),
                m["text"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_deployment_moves_to_postgres() {
    let Some(url) = postgres_url() else {
        return;
    };
    let dir = TempDir::new();
    let sqlite = format!("sqlite://{}", dir.0.join("palaver.db").display());

    // A deployment on SQLite: accounts, a channel, a DM, a read marker, a sync token.
    let mut before = Server::start(&dir.0, &sqlite).await;
    let (alice, alice_id) = signup(&before, "alice").await;
    let (bob, _) = signup(&before, "bob").await;
    let (mut a, mut b) = (before.connect(&alice).await, before.connect(&bob).await);
    let room = a
        .call("rooms.create", json!({ "name": "main", "kind": "channel" }))
        .await
        .unwrap();
    b.call("rooms.join", json!({ "room": "#main" }))
        .await
        .unwrap();
    for i in 1..=5 {
        send(&mut a, "#main", &format!("m{i}")).await;
    }
    let dm = id_of(&send(&mut a, "@bob", "dm 1").await["conversation"]);
    b.call("messages.read", json!({ "conversation": dm, "seq": 1 }))
        .await
        .unwrap();
    let token = a.call("sync", json!({})).await.unwrap()["next"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&mut b, "#main", "m6").await;
    drop((a, b));
    before.stop();

    let target = PgStore::connect_temporary(&url, PgOptions::default())
        .await
        .unwrap();
    let postgres = with_database(&url, target.temporary_database().unwrap());

    // A missing source is refused rather than created empty.
    let missing = format!("sqlite://{}", dir.0.join("nope.db").display());
    let out = palaver(
        &dir.0,
        &["migrate-store", "--from", &missing, "--to", &postgres],
    )
    .output()
    .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!dir.0.join("nope.db").exists());

    let migrate = ["migrate-store", "--from", &sqlite, "--to", &postgres];
    let out = palaver(&dir.0, &migrate).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verified"), "{}", text(&out));
    assert!(!stdout.contains("MISMATCH"), "{}", text(&out));
    // A second copy into the now filled database is refused.
    let out = palaver(&dir.0, &migrate).output().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not empty"), "{}", text(&out));

    // The same deployment on PostgreSQL.
    let after = Server::start(&dir.0, &postgres).await;
    let mut a = after.connect(&alice).await;
    assert_eq!(a.call("me.get", json!(null)).await.unwrap()["id"], alice_id);
    let login = http::login(&after.base, "bob", PASSWORD).await.unwrap();
    assert_eq!(
        login.status, 200,
        "the password still works: {}",
        login.text
    );
    let history = a
        .call("messages.history", json!({ "conversation": "#main" }))
        .await
        .unwrap();
    let want: Vec<(i64, String)> = (1..=6).map(|i| (i, format!("m{i}"))).collect();
    assert_eq!(texts(&history), want);
    let page = a.call("sync", json!({ "since": token })).await.unwrap();
    let synced: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(synced, ["m6"], "the old sync token resumes: {page}");

    // New writes continue the numbering.
    let mut b = after.connect(&bob).await;
    assert_eq!(send(&mut a, "#main", "m7").await["seq"], 7);
    let n = b
        .notification_where("message", WAIT, |p| p["text"] == "m7")
        .await
        .unwrap();
    assert_eq!(n.params["conversation"], room["id"]);
    let list = b.call("conversations.list", json!(null)).await.unwrap();
    let direct = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| id_of(&e["conversation"]) == dm)
        .unwrap_or_else(|| panic!("the DM was lost: {list}"));
    assert_eq!(direct["last_read_seq"], 1);
    assert_eq!(direct["last_message"]["text"], "dm 1");
    let (_carol, carol_id) = signup(&after, "carol").await;
    assert_eq!(carol_id, alice_id + 2, "user ids continue");
    drop((a, b));
    drop(after);
    drop(target);
}
