//! Reconnection, against a private `nats-server` this test starts and restarts (the shared
//! server is left alone): subscriptions survive, the sink is told to resync, and publishing
//! while disconnected fails fast.

use palaver_bus::{Bus, BusError, BusSink, Envelope, Recipients, Topic};
use palaver_bus_nats::NatsBus;
use palaver_core::{ConversationId, Event, EventBody, UserId};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `nats-server` child process on a fixed loopback port, killed on drop.
struct Server {
    child: Child,
}

impl Server {
    fn start(binary: &str, port: u16) -> Self {
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self { child }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `nats-server` binary: `PALAVER_TEST_NATS_SERVER`, else the usual places.
fn server_binary() -> Option<String> {
    if let Ok(path) = std::env::var("PALAVER_TEST_NATS_SERVER") {
        return Some(path);
    }
    [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .map(str::to_owned)
}

#[derive(Default)]
struct Sink {
    seen: Mutex<Vec<u64>>,
    resyncs: AtomicUsize,
}

impl BusSink for Sink {
    fn deliver(&self, envelope: Arc<Envelope>) {
        self.seen.lock().unwrap().push(envelope.id);
    }
    fn resync(&self) {
        self.resyncs.fetch_add(1, Ordering::SeqCst);
    }
}

fn envelope(id: u64) -> Arc<Envelope> {
    Arc::new(Envelope {
        id,
        event: Event {
            pos: None,
            ts: 0,
            body: EventBody::Typing {
                conversation: ConversationId(1),
                user: UserId(1),
                handle: "a".into(),
            },
        },
        to: Recipients {
            conversations: vec![ConversationId(1)],
            ..Recipients::default()
        },
        room: None,
    })
}

/// Polls `check` every 20 ms for up to 20 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_survive_a_server_restart() {
    // Runs where the NATS tests run; needs the server binary as well.
    if crate::env::nats_url().is_none() {
        return;
    }
    let Some(binary) = server_binary() else {
        assert!(
            std::env::var("PALAVER_TEST_STRICT").as_deref() != Ok("1"),
            "nats-server is required under PALAVER_TEST_STRICT"
        );
        eprintln!("SKIPPED: no nats-server binary (set PALAVER_TEST_NATS_SERVER)");
        return;
    };
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let url = format!("nats://127.0.0.1:{port}");
    let server = Server::start(&binary, port);
    let mut a = None;
    eventually("the private server accepts connections", async || {
        a = NatsBus::connect(&url, "a").await.ok();
        a.is_some()
    })
    .await;
    let a = a.unwrap();
    let b = NatsBus::connect(&url, "b").await.unwrap();
    let sink = Arc::new(Sink::default());
    a.attach(Arc::new(Sink::default()));
    b.attach(sink.clone());
    b.set_interest(Topic::Conversation(ConversationId(1)), true);
    let delivered = |id: u64| sink.seen.lock().unwrap().contains(&id);
    let mut next = 1;
    // Delivery is asynchronous: give each envelope a moment before looking for it (checking
    // at once only passes when delivery happens to beat the check).
    eventually("b hears a", async || {
        next += 1;
        a.publish(envelope(next)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        delivered(next)
    })
    .await;
    let resyncs_before = sink.resyncs.load(Ordering::SeqCst);

    drop(server);
    eventually("publishing fails while disconnected", async || {
        matches!(
            a.publish(envelope(1_000)).await,
            Err(BusError::Unavailable(_))
        )
    })
    .await;

    let _server = Server::start(&binary, port);
    eventually("b resyncs after reconnecting", async || {
        sink.resyncs.load(Ordering::SeqCst) > resyncs_before
    })
    .await;
    eventually(
        "b hears a again, without declaring interest anew",
        async || {
            next += 1;
            a.publish(envelope(next)).await.is_ok() && {
                tokio::time::sleep(Duration::from_millis(50)).await;
                delivered(next)
            }
        },
    )
    .await;
}
