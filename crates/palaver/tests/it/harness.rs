//! Spawns `palaver serve` on 127.0.0.1:0 with a database in a temporary directory of its own,
//! learns the address from the `palaver listening on http://…` line on stdout, and kills the
//! process on drop. Plus the small helpers every test module uses.

use palaver_client::{Client, ClientError, http};
use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long to wait for something that should happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long to wait when asserting that something does NOT happen.
pub const QUIET: Duration = Duration::from_millis(300);
/// How long the server may take to start listening.
const STARTUP: Duration = Duration::from_secs(30);
/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// The configuration keys the tests set. The names are not final; keep them here only.
mod keys {
    /// The largest WebSocket frame the server accepts, in bytes.
    pub const MAX_FRAME_BYTES: &str = "PALAVER_LIMITS__MAX_FRAME_BYTES";
}

/// Extra flags and environment for one server.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// `--database`; by default a SQLite file in the server's temporary directory.
    database: Option<String>,
}

impl Settings {
    /// Serves from this database URL (a cluster node's PostgreSQL) instead of a SQLite file.
    pub fn database(mut self, url: &str) -> Self {
        self.database = Some(url.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    #[allow(dead_code)]
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn max_frame_bytes(self, n: usize) -> Self {
        self.env(keys::MAX_FRAME_BYTES, n)
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "palaver-it-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `palaver serve`.
pub struct Server {
    child: Option<Child>,
    base: String,
    settings: Settings,
    // Dropped after the child is killed (see `Drop`), so the database is gone last.
    dir: TempDir,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(Settings::default()).await
    }

    pub async fn start_with(settings: Settings) -> Self {
        let mut server = Self {
            child: None,
            base: String::new(),
            settings,
            dir: TempDir::new(),
        };
        server.spawn().await;
        server
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `ws://127.0.0.1:PORT/ws`
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replacen("http://", "ws://", 1))
    }

    fn db_path(&self) -> PathBuf {
        self.dir.0.join("palaver.db")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.0.join("server.log")
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and starts it again on the same
    /// database. The port changes.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    /// Kills the server with SIGKILL: no drain, no goodbye to the cluster.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    async fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server log");
        let database = self
            .settings
            .database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.db_path().display()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_palaver"));
        // Settings from the developer's shell must not change the outcome; the log filter may.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("PALAVER_") && key != "PALAVER_LOG" {
                command.env_remove(key.as_ref());
            }
        }
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
            .args(&self.settings.args)
            .envs(self.settings.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = command.spawn().expect("spawn palaver");
        let stdout = child.stdout.take().expect("stdout is piped");
        self.child = Some(child);

        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            // Keep reading to the end so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.trim().strip_prefix("palaver listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().trim_end_matches('/').to_owned());
                }
            }
        });
        match tokio::time::timeout(STARTUP, rx).await {
            Ok(Ok(base)) => self.base = base,
            Ok(Err(_)) => panic!(
                "palaver exited without printing its address; log:\n{}",
                self.log_tail()
            ),
            Err(_) => panic!(
                "palaver printed no address within {STARTUP:?}; log:\n{}",
                self.log_tail()
            ),
        }
    }

    pub fn log_tail(&self) -> String {
        tail(&self.log_path(), 64_000)
    }
}

fn tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::from("(no log)");
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- server log (tail) ---\n{}", self.log_tail());
        }
    }
}

/// Signs `handle` up; returns its token and user object.
pub async fn signup_user(server: &Server, handle: &str) -> (String, Value) {
    let r = http::signup(server.base(), handle, PASSWORD, None)
        .await
        .expect("signup request");
    assert_eq!(r.status, 201, "signup {handle}: {}", r.text);
    let token = r.body["token"].as_str().expect("token").to_owned();
    (token, r.body["user"].clone())
}

/// A signed-in connection (token on the URL). One round trip makes sure the server has
/// registered it: live delivery is guaranteed from the reply to a connection's first call on
/// (docs/protocol.md, "Ordering and delivery").
pub async fn connect(server: &Server, token: &str) -> Client {
    let mut client = Client::connect_with_token(&server.ws_url(), token)
        .await
        .expect("connect");
    let pong = client.call("ping", serde_json::Value::Null).await;
    assert_eq!(pong.expect("ping after connect"), "pong");
    client
}

/// A test user: its token and id.
pub struct User {
    pub token: String,
    pub id: i64,
}

/// Signs a user up and connects it once.
pub async fn user(server: &Server, handle: &str) -> (User, Client) {
    let (token, user) = signup_user(server, handle).await;
    let client = connect(server, &token).await;
    let id = user["id"].as_i64().expect("user id");
    (User { token, id }, client)
}

/// Asserts that `result` is a JSON-RPC error with `code`; returns the error for more checks.
#[track_caller]
pub fn expect_rpc_err(result: Result<Value, ClientError>, code: i64) -> ClientError {
    match result {
        Err(e @ ClientError::Rpc { .. }) => {
            assert_eq!(e.rpc_code(), Some(code), "wrong error: {e:?}");
            e
        }
        other => panic!("expected rpc error {code}, got {other:?}"),
    }
}

/// Asserts that no notification named `method` (whose params satisfy `pred`) arrives soon.
pub async fn expect_no_notification(
    client: &mut Client,
    method: &str,
    pred: impl Fn(&Value) -> bool,
) {
    match client.notification_where(method, QUIET, pred).await {
        Err(ClientError::Timeout) => {}
        Ok(n) => panic!("unexpected {method} notification: {}", n.params),
        Err(e) => panic!("connection failed while waiting: {e}"),
    }
}

/// Sends `text` to `to`; returns the result object.
pub async fn send(client: &mut Client, to: impl Into<Value>, text: &str) -> Value {
    client
        .call("messages.send", json!({ "to": to.into(), "text": text }))
        .await
        .expect("messages.send")
}

/// The id of a conversation-ish value: an id, or an object with `id`.
pub fn id_of(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.get("id").and_then(Value::as_i64))
        .unwrap_or_else(|| panic!("no id in {v}"))
}

/// `GET /healthz` answers 200.
pub async fn assert_healthy(server: &Server) {
    let r = http::get(server.base(), "/healthz").await.expect("healthz");
    assert_eq!(r.status, 200, "healthz: {}", r.text);
}

/// A TCP port that was free a moment ago (for a dialect's own listener).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
