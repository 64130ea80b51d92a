//! One WebSocket connection: a reader that answers calls in order, and a writer task that
//! drains a bounded queue of already-encoded frames, coalescing everything queued into one
//! flush per wake-up, and pings the client.

use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_UNSUPPORTED: u16 = 1003;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_TOO_BIG: u16 = 1009;
pub const CLOSE_IDLE: u16 = 4000;
pub const CLOSE_TOO_SLOW: u16 = 4008;

/// Most frames written before one flush.
const MAX_FRAMES_PER_FLUSH: usize = 512;
/// How long a close frame may take to go out before the socket is just dropped.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Lets anyone holding it ask the connection to close with a given code.
#[derive(Default)]
pub struct ConnControl {
    /// Close now: stop reading and writing, send the close frame.
    cancel: CancellationToken,
    /// Close gracefully: stop reading new calls, answer the one in flight, write everything
    /// queued, then send the close frame.
    drain: CancellationToken,
    reason: OnceLock<(u16, &'static str)>,
}

impl ConnControl {
    /// Asks the connection to close at once; the first reason given wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        let _ = self.reason.set((code, reason));
        self.cancel.cancel();
    }

    /// Asks the connection to finish what it is doing, then close.
    pub fn drain(&self, code: u16, reason: &'static str) {
        let _ = self.reason.set((code, reason));
        self.drain.cancel();
    }

    fn reason(&self) -> (u16, &'static str) {
        self.reason.get().copied().unwrap_or((CLOSE_NORMAL, ""))
    }
}

/// What a protocol adapter does with a connection. The loop around it (bounded queue,
/// coalesced writes, pings, idle and expiry timeouts, close codes) is shared by every protocol.
#[async_trait::async_trait]
pub trait Protocol: Send {
    /// Runs once after the upgrade: greetings, sign-in from the handshake.
    async fn open(&mut self) {}
    /// Handles one text frame; returns the frames to send back, in order.
    async fn handle_text(&mut self, text: &str) -> Vec<String>;
    /// Handles frames that arrived together, in order; returns every frame to send back, in
    /// order. A protocol may overlap their work (the native protocol stores a burst of sends
    /// in one commit); by default they are handled one by one.
    async fn handle_texts(&mut self, texts: &[Utf8Bytes]) -> Vec<String> {
        let mut out = Vec::new();
        for text in texts {
            out.extend(self.handle_text(text.as_str()).await);
        }
        out
    }
    /// How often `tick` runs, for protocols with a timer of their own.
    fn tick_every(&self) -> Option<Duration> {
        None
    }
    /// Runs every `tick_every`; returns frames to send.
    async fn tick(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Time left before the session must end (its token expires), once signed in.
    fn expires_in(&self) -> Option<Duration> {
        None
    }
    /// Runs once when the connection ends.
    async fn end(&mut self) {}
}

/// What a protocol needs to talk back: the connection's queue and its close control.
#[derive(Clone)]
pub struct Link {
    pub tx: mpsc::Sender<Utf8Bytes>,
    pub control: Arc<ConnControl>,
}

/// Runs a connection to its end with the protocol `make` builds.
pub async fn run(
    socket: WebSocket,
    state: Arc<AppState>,
    make: impl FnOnce(Link) -> Box<dyn Protocol>,
) {
    let (sink, stream) = socket.split();
    let (tx, rx) = mpsc::channel::<Utf8Bytes>(state.settings.limits.outbound_queue);
    let control = Arc::new(ConnControl::default());
    let ping = Duration::from_secs(state.settings.ws.ping_interval_secs);
    let writer = tokio::spawn(write_loop(sink, rx, control.clone(), ping));

    let link = Link {
        tx: tx.clone(),
        control: control.clone(),
    };
    let mut protocol = make(link);
    protocol.open().await;
    read_loop(stream, protocol.as_mut(), &tx, &control, &state).await;
    protocol.end().await;
    drop(protocol);
    drop(tx);
    let _ = writer.await;
}

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    protocol: &mut dyn Protocol,
    tx: &mpsc::Sender<Utf8Bytes>,
    control: &ConnControl,
    state: &AppState,
) {
    let idle = Duration::from_secs(state.settings.ws.idle_timeout_secs);
    let burst = state.settings.limits.max_burst.max(1);
    let burst_bytes = state.settings.limits.max_frame_bytes.saturating_mul(4);
    let mut ticker = protocol.tick_every().map(|every| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let expiry = protocol.expires_in().unwrap_or(Duration::MAX);
        let tick = async {
            match ticker.as_mut() {
                Some(t) => t.tick().await,
                None => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            _ = control.cancel.cancelled() => return,
            _ = control.drain.cancelled() => return,
            _ = state.shutdown.cancelled() => {
                control.drain(CLOSE_GOING_AWAY, "service restart, reconnect");
                return;
            }
            _ = tokio::time::sleep(expiry) => {
                control.drain(CLOSE_POLICY, "session expired");
                return;
            }
            _ = tick => {
                for frame in protocol.tick().await {
                    if tx.send(Utf8Bytes::from(frame)).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            next = tokio::time::timeout(idle, stream.next()) => next,
        };
        let Ok(mut item) = next else {
            control.close(CLOSE_IDLE, "no heartbeat");
            return;
        };
        // Text frames that are already here are handled together (up to `limits.max_burst`
        // frames or 4 × `limits.max_frame_bytes`); a non-text item read after them is
        // handled next.
        let mut texts = Vec::new();
        let mut bytes = 0;
        let leftover = loop {
            match item {
                Some(Ok(Message::Text(text))) => {
                    bytes += text.len();
                    texts.push(text);
                    if texts.len() >= burst || bytes >= burst_bytes {
                        break None;
                    }
                    match stream.next().now_or_never() {
                        Some(more) => item = more,
                        None => break None,
                    }
                }
                other => break Some(other),
            }
        };
        if !texts.is_empty() {
            for reply in protocol.handle_texts(&texts).await {
                if tx.send(Utf8Bytes::from(reply)).await.is_err() {
                    return;
                }
            }
        }
        let Some(item) = leftover else { continue };
        let msg = match item {
            None => return,
            Some(Err(e)) => {
                if is_capacity_error(&e) {
                    control.close(CLOSE_TOO_BIG, "message too big");
                } else {
                    tracing::debug!(error = %e, "websocket read failed");
                }
                return;
            }
            Some(Ok(msg)) => msg,
        };
        match msg {
            Message::Text(_) => {} // handled above
            Message::Binary(_) => {
                control.close(CLOSE_UNSUPPORTED, "binary frames are not supported");
                return;
            }
            // Pings are answered by the WebSocket layer; a close is answered while we keep
            // reading until the stream ends.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => {}
        }
    }
}

/// An over-limit message gets a clean 1009; other read errors just end the connection
/// (tungstenite has already sent the right close code for protocol errors).
fn is_capacity_error(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tungstenite::Error::Capacity(_)) = err.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = err.source();
    }
    false
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Utf8Bytes>,
    control: Arc<ConnControl>,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    loop {
        tokio::select! {
            biased;
            _ = control.cancel.cancelled() => {
                let (code, reason) = control.reason();
                let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
                let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
                return;
            }
            next = rx.recv() => {
                let Some(first) = next else {
                    // Every sender is gone: the session ended. Say why, if we know.
                    if let Some(&(code, reason)) = control.reason.get() {
                        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
                        let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
                    }
                    return;
                };
                if sink.feed(Message::Text(first)).await.is_err() {
                    return;
                }
                let mut n = 1;
                while n < MAX_FRAMES_PER_FLUSH {
                    let Ok(frame) = rx.try_recv() else { break };
                    if sink.feed(Message::Text(frame)).await.is_err() {
                        return;
                    }
                    n += 1;
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}
