//! One WebSocket connection, run by one task. The task reads frames and answers calls in
//! order; whenever it waits, it writes what is queued for the connection (events from the hub,
//! its own replies) with one vectored write per wake-up, straight from the shared payloads. It
//! pings the client and enforces the idle and expiry timeouts with a single timer.
//!
//! Others reach a connection through its [`Link`]: the [`Outbox`] (a bounded queue of frames)
//! and the [`ConnControl`] (close now, or close after writing what is queued).

use crate::AppState;
use crate::ws::{Frame, Incoming, OP_PING, ReadError, Socket};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tungstenite::Utf8Bytes;

mod outbox;

use outbox::{CLOSING, OPEN};
pub use outbox::{ConnControl, Outbox, PushError, Pushed};

pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_PROTOCOL: u16 = 1002;
pub const CLOSE_UNSUPPORTED: u16 = 1003;
pub const CLOSE_INVALID_DATA: u16 = 1007;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_TOO_BIG: u16 = 1009;
pub const CLOSE_IDLE: u16 = 4000;
pub const CLOSE_TOO_SLOW: u16 = 4008;

/// Most frames in one vectored write (a slice each; Linux takes up to 1024).
const MAX_FRAMES_PER_WRITE: usize = 256;
/// Most writes in one wake-up before the task lets others run.
const MAX_WRITES_PER_POLL: usize = 8;
/// How long a close frame may take to go out before the socket is just dropped.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a connection that is closing gracefully may take to write what is queued.
const DRAIN_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

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
    pub tx: Arc<Outbox>,
    pub control: Arc<ConnControl>,
}

/// What the connection's task woke up for.
enum Next {
    /// Text frames that arrived together.
    Texts(Vec<Utf8Bytes>),
    /// Anything else the reader gave: another message, an error, or the end (`None`).
    Item(Option<Result<Incoming, ReadError>>),
    /// The protocol's own timer.
    Tick,
    /// Stop reading: a close was asked for, or writing failed.
    Stop,
}

/// The connection's state between wake-ups.
struct Conn {
    socket: Socket,
    outbox: Arc<Outbox>,
    control: Arc<ConnControl>,
    /// Frames taken from the outbox and being written; `written` bytes of the first are out.
    sending: VecDeque<Frame>,
    written: usize,
    /// A non-text item read after a burst of text frames, handled next.
    leftover: Option<Option<Result<Incoming, ReadError>>>,
    write_failed: bool,
    // Limits.
    cap: usize,
    burst: usize,
    burst_bytes: usize,
    idle: Duration,
    ping_every: Duration,
    tick_every: Option<Duration>,
    // Deadlines, all served by one timer.
    last_read: Instant,
    next_ping: Instant,
    next_tick: Option<Instant>,
    expires_at: Option<Instant>,
    tick_due: bool,
}

/// Runs a connection to its end with the protocol `make` builds.
///
/// The connection's state is built here, before the future, and moved into it once: every
/// connection's task is about as large as that state (a value moved into an `async` block
/// keeps its old slot too, so building it inside would make every task larger).
pub fn run(
    socket: Socket,
    state: Arc<AppState>,
    make: impl FnOnce(Link) -> Box<dyn Protocol>,
) -> impl Future<Output = ()> + Send {
    let settings = &state.settings;
    let outbox = Arc::new(Outbox::with_socket(
        settings.limits.outbound_queue,
        socket.get_ref().tcp(),
    ));
    let control = Arc::new(ConnControl::default());
    let protocol = make(Link {
        tx: outbox.clone(),
        control: control.clone(),
    });
    let now = Instant::now();
    let ping_every = Duration::from_secs(settings.ws.ping_interval_secs.max(1));
    let tick_every = protocol.tick_every();
    let conn = Conn {
        socket,
        outbox,
        control,
        sending: VecDeque::new(),
        written: 0,
        leftover: None,
        write_failed: false,
        cap: settings.limits.outbound_queue.max(1),
        burst: settings.limits.max_burst.max(1),
        burst_bytes: settings.limits.max_frame_bytes.saturating_mul(4),
        idle: Duration::from_secs(settings.ws.idle_timeout_secs),
        ping_every,
        tick_every,
        last_read: now,
        next_ping: now + ping_every,
        next_tick: tick_every.map(|every| now + every),
        expires_at: None,
        tick_due: false,
    };
    let mut parts = (conn, protocol);
    async move {
        let (conn, protocol) = &mut parts;
        protocol.open().await;
        conn.serve(protocol.as_mut(), &state).await;
        protocol.end().await;
        conn.finish().await;
    }
}

impl Conn {
    async fn serve(&mut self, protocol: &mut dyn Protocol, state: &AppState) {
        let shutdown = state.shutdown.cancelled();
        tokio::pin!(shutdown);
        self.expires_at = deadline_in(protocol.expires_in());
        let timer = tokio::time::sleep_until(self.next_deadline());
        tokio::pin!(timer);
        loop {
            let next = poll_fn(|cx| self.poll_next(cx, shutdown.as_mut(), timer.as_mut())).await;
            let replies = match next {
                Next::Stop => return,
                Next::Tick => protocol.tick().await,
                Next::Texts(texts) => {
                    let replies = protocol.handle_texts(&texts).await;
                    // A call may have signed the connection in (or out).
                    self.expires_at = deadline_in(protocol.expires_in());
                    self.last_read = Instant::now();
                    replies
                }
                Next::Item(item) => {
                    match item {
                        None => return,
                        Some(Err(ReadError::TooBig)) => {
                            self.control.close(CLOSE_TOO_BIG, "message too big");
                            return;
                        }
                        Some(Err(ReadError::Protocol(why))) => {
                            self.control.close(CLOSE_PROTOCOL, why);
                            return;
                        }
                        Some(Err(ReadError::Utf8)) => {
                            self.control.close(CLOSE_INVALID_DATA, "text is not UTF-8");
                            return;
                        }
                        Some(Err(ReadError::Io(e))) => {
                            tracing::debug!(error = %e, "websocket read failed");
                            return;
                        }
                        Some(Ok(Incoming::Binary(_))) => {
                            self.control
                                .close(CLOSE_UNSUPPORTED, "binary frames are not supported");
                            return;
                        }
                        // Pings are answered by the reader; after a close (answered too),
                        // reading ends.
                        Some(Ok(Incoming::Text(_) | Incoming::Ping | Incoming::Pong)) => {}
                        Some(Ok(Incoming::Close)) => return,
                    }
                    Vec::new()
                }
            };
            for reply in replies {
                self.outbox.push_reply(Frame::from(reply));
            }
            let next = self.next_deadline();
            if next < timer.deadline() {
                timer.as_mut().reset(next);
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        let mut next = self.next_ping.min(self.last_read + self.idle);
        if let Some(t) = self.next_tick {
            next = next.min(t);
        }
        if let Some(t) = self.expires_at {
            next = next.min(t);
        }
        next
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        shutdown: Pin<&mut impl Future<Output = ()>>,
        mut timer: Pin<&mut Sleep>,
    ) -> Poll<Next> {
        if self.control.poll_state(cx) != OPEN {
            return Poll::Ready(Next::Stop);
        }
        if shutdown.poll(cx).is_ready() {
            self.control
                .drain(CLOSE_GOING_AWAY, "service restart, reconnect");
            return Poll::Ready(Next::Stop);
        }
        while timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            if self.expires_at.is_some_and(|t| t <= now) {
                self.control.drain(CLOSE_POLICY, "session expired");
                return Poll::Ready(Next::Stop);
            }
            if self.last_read + self.idle <= now {
                self.control.close(CLOSE_IDLE, "no heartbeat");
                return Poll::Ready(Next::Stop);
            }
            if self.next_ping <= now {
                self.socket
                    .get_mut()
                    .control
                    .extend_from_slice(&[0x80 | OP_PING, 0]);
                self.next_ping = now + self.ping_every;
            }
            if let (Some(t), Some(every)) = (self.next_tick, self.tick_every)
                && t <= now
            {
                self.tick_due = true;
                self.next_tick = Some(now + every);
            }
            timer.as_mut().reset(self.next_deadline());
        }

        // Write first: what goes out decides whether there is room to read more calls.
        if self.poll_send_once(cx) {
            return Poll::Ready(Next::Stop);
        }
        let mut next = None;
        if let Some(item) = self.leftover.take() {
            next = Some(Next::Item(item));
        } else if self.outbox.len() + self.sending.len() >= self.cap {
            // The client is not reading what we send: read no more of its calls until it
            // does (the write above waits for the socket to drain). That is not idleness.
            self.last_read = Instant::now();
        } else {
            next = self.poll_read(cx);
            // Reading may have produced a pong or a close reply.
            if !self.socket.get_ref().control.is_empty() && self.poll_send_once(cx) {
                return Poll::Ready(Next::Stop);
            }
        }
        if self.tick_due && !matches!(next, Some(Next::Texts(_))) {
            self.tick_due = false;
            if let Some(Next::Item(item)) = next {
                self.leftover = Some(item);
            }
            return Poll::Ready(Next::Tick);
        }
        match next {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
    }

    /// Writes what it can; true when writing failed (the connection is lost).
    fn poll_send_once(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.write_failed
            && let Poll::Ready(Err(e)) = self.poll_send(cx)
        {
            tracing::debug!(error = %e, "websocket write failed");
            self.write_failed = true;
        }
        self.write_failed
    }

    /// Reads what has arrived: a burst of text frames (up to `limits.max_burst` frames or
    /// 4 × `limits.max_frame_bytes`), or one other item.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Option<Next> {
        let first = match self.socket.poll_message(cx) {
            Poll::Pending => return None,
            Poll::Ready(item) => item,
        };
        self.last_read = Instant::now();
        let Some(Ok(Incoming::Text(text))) = first else {
            return Some(Next::Item(first));
        };
        let mut bytes = text.len();
        let mut texts = vec![text];
        while texts.len() < self.burst && bytes < self.burst_bytes {
            match self.socket.poll_message(cx) {
                Poll::Ready(Some(Ok(Incoming::Text(text)))) => {
                    bytes += text.len();
                    texts.push(text);
                }
                Poll::Ready(other) => {
                    self.leftover = Some(other);
                    break;
                }
                Poll::Pending => break,
            }
        }
        Some(Next::Texts(texts))
    }

    /// Writes control frames and queued frames until all are out (`Ready(Ok)`) or the socket
    /// is full (`Pending`; the task wakes when it drains).
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        for _ in 0..MAX_WRITES_PER_POLL {
            if self.sending.is_empty() {
                // With nothing of its own to write, the task parks: the outbox may then write
                // events itself. Taking frames (or having control bytes) ends that.
                let idle = self.socket.get_ref().control.is_empty();
                match self.outbox.take(&mut self.sending, cx.waker(), idle) {
                    Some(written) => self.written = written,
                    None if idle => {
                        // Nothing left: hold no buffer while idle.
                        self.sending = VecDeque::new();
                        return Poll::Ready(Ok(()));
                    }
                    None => {}
                }
            }
            // Control frames go out between text frames, never inside one.
            if self.written == 0 && !self.socket.get_ref().control.is_empty() {
                std::task::ready!(self.socket.get_mut().poll_write_control(cx))?;
                continue;
            }
            let n = std::task::ready!(self.write_frames(cx))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written = advance(&mut self.sending, self.written + n);
        }
        // A long queue: let other tasks run, and come back for the rest.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// One vectored write of the frames in `sending`, from `written` bytes into the first.
    fn write_frames(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let socket = self.socket.get_mut();
        with_slices(&self.sending, self.written, |slices| {
            socket.poll_write_vectored(cx, slices)
        })
    }

    /// After the session: writes what is left (all of it when draining or when the client
    /// went away; only the frame in flight when closing at once), then the close frame if a
    /// reason was given, and lets the socket go.
    async fn finish(&mut self) {
        let had_frames = !self.sending.is_empty();
        let written = self.outbox.close_into(&mut self.sending);
        if !had_frames {
            self.written = written;
        }
        // After the client's close (answered already), or ours, no new frame may start.
        let closed = self.socket.peer_closed();
        if self.control.state() == CLOSING || closed {
            // Finish the frame in flight, so the close frame starts at a boundary.
            if self.written == 0 {
                self.sending.clear();
            } else {
                self.sending.truncate(1);
            }
        }
        let limit = if self.control.state() == CLOSING {
            CLOSE_WRITE_TIMEOUT
        } else {
            DRAIN_WRITE_TIMEOUT
        };
        if self.write_failed {
            return;
        }
        let flushed = tokio::time::timeout(limit, poll_fn(|cx| self.poll_flush(cx))).await;
        if !matches!(flushed, Ok(Ok(()))) {
            return;
        }
        if let Some(&(code, reason)) = self.control.reason()
            && !closed
        {
            self.socket.queue_close(code, reason);
            let _ =
                tokio::time::timeout(CLOSE_WRITE_TIMEOUT, poll_fn(|cx| self.poll_flush(cx))).await;
        }
    }

    /// Writes everything held (`sending` and control bytes), without taking more.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.written == 0 && !self.socket.get_ref().control.is_empty() {
                std::task::ready!(self.socket.get_mut().poll_write_control(cx))?;
                continue;
            }
            if self.sending.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let n = std::task::ready!(self.write_frames(cx))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written = advance(&mut self.sending, self.written + n);
        }
    }
}

impl Drop for Conn {
    /// However the task ends, the outbox stops taking frames and lets go of the socket.
    fn drop(&mut self) {
        self.outbox.close();
    }
}

/// Calls `write` with a slice for each of `frames` (at most `MAX_FRAMES_PER_WRITE`; every frame
/// carries its header), from `written` bytes into the first: the one vectored write of the
/// task's own writes and of the outbox's flushes.
fn with_slices<R>(
    frames: &VecDeque<Frame>,
    written: usize,
    write: impl FnOnce(&[IoSlice<'_>]) -> R,
) -> R {
    // The slices live on the stack, sized for the batch: most writes carry a frame or two,
    // and zeroing room for the largest batch each time costs more than the write.
    if frames.len() <= 4 {
        with_slices_n::<4, R>(frames, written, write)
    } else {
        with_slices_n::<MAX_FRAMES_PER_WRITE, R>(frames, written, write)
    }
}

fn with_slices_n<const N: usize, R>(
    frames: &VecDeque<Frame>,
    written: usize,
    write: impl FnOnce(&[IoSlice<'_>]) -> R,
) -> R {
    let mut slices = [IoSlice::new(&[]); N];
    let mut used = 0;
    for (slot, frame) in slices.iter_mut().zip(frames.iter()) {
        let bytes = frame.wire();
        *slot = IoSlice::new(if used == 0 { &bytes[written..] } else { bytes });
        used += 1;
    }
    write(&slices[..used])
}

/// Drops from `frames` those the first `done` bytes cover; returns how far into the next
/// one they reach.
fn advance(frames: &mut VecDeque<Frame>, mut done: usize) -> usize {
    while let Some(frame) = frames.front() {
        let size = frame.wire().len();
        if done < size {
            break;
        }
        done -= size;
        frames.pop_front();
    }
    done
}

fn deadline_in(d: Option<Duration>) -> Option<Instant> {
    d.and_then(|d| Instant::now().checked_add(d))
}

/// Opens, then closes with `code` and `reason` and waits up to `linger` for the client's
/// close frame: a connection refused after the upgrade, as some seeds do.
pub async fn refuse(mut socket: Socket, code: u16, reason: &'static str, linger: Duration) {
    socket.queue_close(code, reason);
    let flushed = poll_fn(|cx| socket.get_mut().poll_write_control(cx));
    if tokio::time::timeout(CLOSE_WRITE_TIMEOUT, flushed)
        .await
        .is_err()
    {
        return;
    }
    let drain = async { while let Some(Ok(_)) = socket.next().await {} };
    let _ = tokio::time::timeout(linger, drain).await;
}
