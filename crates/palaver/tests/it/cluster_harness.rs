//! A cluster for the multi-node tests: N `palaver serve` processes (the single-node harness's
//! `Server`, pointed at PostgreSQL and NATS) on one temporary PostgreSQL database and a private
//! `nats-server`, each with its own `--node-name` and a short presence lease. Also a private
//! PostgreSQL server for the restart test. Everything is stopped and removed on drop.

use crate::env;
use crate::harness::{Server, Settings};
use palaver_store_postgres::{PgOptions, PgStore};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The presence lease of every test node: a dead node's users go offline within about
/// `LEASE_SECS + LEASE_SECS / 3` (the smallest lease the server accepts is 3 s).
pub const LEASE_SECS: u64 = 3;

/// A TCP port on loopback that was free a moment ago.
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe");
    probe.local_addr().expect("probe address").port()
}

/// Waits until something accepts TCP connections on `port`.
fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A private `nats-server` on a loopback port of its own, killed on drop. It can be stopped
/// and started again on the same port (the nodes reconnect by themselves).
pub struct Nats {
    binary: String,
    port: u16,
    child: Option<Child>,
}

impl Nats {
    pub fn start(binary: String) -> Self {
        let mut nats = Self {
            binary,
            port: free_port(),
            child: None,
        };
        nats.resume();
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (the nodes see their connection drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "nats-server is already running");
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server");
        self.child = Some(child);
        wait_for_port(self.port, "nats-server");
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
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

/// Nodes sharing one database and one bus. Fields drop in order: the nodes first, then the
/// bus, then the temporary database (dropped with any connection left to it).
pub struct Cluster {
    nodes: Vec<Server>,
    pub nats: Nats,
    _database: PgStore,
}

impl Cluster {
    /// `n` nodes on a temporary database of `PALAVER_TEST_POSTGRES_URL`'s server and a private
    /// NATS server; `None` (after a loud notice) when the environment does not allow it.
    pub async fn start(n: usize) -> Option<Self> {
        let postgres = env::postgres_url()?;
        Self::start_on(&postgres, n).await
    }

    /// `n` nodes on a temporary database of the PostgreSQL server at `postgres`.
    pub async fn start_on(postgres: &str, n: usize) -> Option<Self> {
        if !env::nats_enabled() {
            return None;
        }
        let nats = Nats::start(env::nats_server_binary()?);
        let database = PgStore::connect_temporary(postgres, PgOptions::default())
            .await
            .expect("create a temporary database");
        let name = database.temporary_database().expect("temporary").to_owned();
        let url = with_database(postgres, &name);
        let mut nodes = Vec::new();
        // One after another: each applies the (already applied) migrations on start.
        for i in 0..n {
            let settings = Settings::default()
                .database(&url)
                .arg("--bus")
                .arg(&nats.url())
                .arg("--node-name")
                .arg(&format!("n{i}"))
                .env("PALAVER_PRESENCE_LEASE_SECS", LEASE_SECS);
            nodes.push(Server::start_with(settings).await);
        }
        Some(Self {
            nodes,
            nats,
            _database: database,
        })
    }

    pub fn node(&self, i: usize) -> &Server {
        &self.nodes[i]
    }

    /// SIGKILLs node `i`.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again (after `kill`), with the same name and settings; its port changes.
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].restart().await;
    }
}

/// Runs `program` as the `postgres` user when this process is root (PostgreSQL refuses to run
/// as root), as this user otherwise.
fn as_postgres(program: &str, root: bool) -> Command {
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", program]);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private PostgreSQL server (initdb in a temporary directory, trust authentication, a
/// loopback port of its own) that a test may stop and start; removed on drop.
pub struct PrivatePostgres {
    bin: String,
    root: bool,
    dir: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    /// Initialises and starts one; `None` (after a loud notice) when that cannot be done here.
    pub fn start() -> Option<Self> {
        let bin = env::pg_bin_dir()?;
        let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0);
        let root = root.expect("who am I");
        let dir = std::env::temp_dir().join(format!(
            "palaver-pg-{}-{:x}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL directory");
        if root {
            // initdb refuses to run as root: the directory goes to the postgres user.
            let owner = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status();
            if !owner.is_ok_and(|s| s.success()) {
                let _ = std::fs::remove_dir_all(&dir);
                env::skip("running as root without a `postgres` user to run initdb as");
                return None;
            }
        }
        let pg = Self {
            bin,
            root,
            dir,
            port: free_port(),
        };
        let mut initdb = pg.tool("initdb");
        initdb
            .args(["--no-sync", "--auth=trust", "-U", "postgres", "-D"])
            .arg(pg.data());
        run(initdb, "initdb");
        pg.ctl(&["start", "-w", "-t", "30"]);
        Some(pg)
    }

    fn tool(&self, name: &str) -> Command {
        as_postgres(&format!("{}/{name}", self.bin), self.root)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `pg_ctl ARGS` on this server, with its port, socket directory and log.
    fn ctl(&self, args: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let mut ctl = self.tool("pg_ctl");
        ctl.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-o", &options])
            .args(args);
        run(ctl, &format!("pg_ctl {}", args.join(" ")));
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server: `fast` (clients are told) or `immediate` (as if it crashed).
    pub fn stop(&self, mode: &str) {
        self.ctl(&["stop", "-w", "-m", mode]);
    }

    /// Starts it again on the same port and data.
    pub fn resume(&self) {
        self.ctl(&["start", "-w", "-t", "30"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut ctl = self.tool("pg_ctl");
        ctl.arg("-D")
            .arg(self.data())
            .args(["stop", "-m", "immediate"]);
        let _ = ctl.stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
