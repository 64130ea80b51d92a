//! What others hold of a connection: its queue of frames to send ([`Outbox`]) and its close
//! requests ([`ConnControl`]). Both wake the connection's task.

use super::{MAX_FRAMES_PER_WRITE, advance, with_slices};
use crate::ws::Frame;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::task::{Poll, Waker};
use tokio::net::TcpStream;

pub(super) const OPEN: u8 = 0;
const DRAINING: u8 = 1;
pub(super) const CLOSING: u8 = 2;

/// Lets anyone holding it ask the connection to close with a given code.
#[derive(Default)]
pub struct ConnControl {
    /// OPEN, DRAINING (stop reading new calls, answer the one in flight, write everything
    /// queued, then send the close frame) or CLOSING (send the close frame now).
    state: AtomicU8,
    reason: OnceLock<(u16, &'static str)>,
    waker: AtomicWaker,
}

impl ConnControl {
    /// Asks the connection to close at once; the first reason given wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        let _ = self.reason.set((code, reason));
        self.state.fetch_max(CLOSING, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Asks the connection to finish what it is doing, then close.
    pub fn drain(&self, code: u16, reason: &'static str) {
        let _ = self.reason.set((code, reason));
        self.state.fetch_max(DRAINING, Ordering::AcqRel);
        self.waker.wake();
    }

    /// The state (OPEN, DRAINING, CLOSING); wakes `cx` when it changes.
    pub(super) fn poll_state(&self, cx: &mut std::task::Context<'_>) -> u8 {
        self.waker.register(cx.waker());
        self.state()
    }

    pub(super) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// The close code and reason asked for, if any.
    pub(super) fn reason(&self) -> Option<&(u16, &'static str)> {
        self.reason.get()
    }
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds `limits.outbound_queue` frames: the client is not reading.
    Full,
    /// The connection has ended.
    Closed,
}

/// What became of a queued frame.
#[must_use = "a frame queued for a parked connection goes out only when it is flushed"]
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The connection's task will write it (it was woken, or is running).
    Queued,
    /// The connection is parked on a plain socket: the caller must call [`Outbox::flush`]
    /// (after letting go of its own locks), which writes the frame without waking the task.
    Flush,
}

/// A connection's queue of frames to send. Empty, it holds no buffer.
///
/// When the connection's task has written everything and waits ("parked"), and the connection
/// runs on a plain TCP socket, whoever queues an event may write it to the socket itself
/// ([`Outbox::flush`]): one system call, and no task woken. Writing is exclusive: the outbox
/// writes only while the task is parked, under its lock, and the task leaves that state (under
/// the same lock) before it writes anything of its own. A write that stops short leaves the
/// rest queued, with how much of the first frame went out, and wakes the task.
pub struct Outbox {
    state: Mutex<OutboxState>,
    cap: usize,
}

#[derive(Default)]
struct OutboxState {
    frames: VecDeque<Frame>,
    /// Bytes of the first frame already written by a flush that stopped short.
    written: usize,
    waker: Option<Waker>,
    closed: bool,
    /// The task waits with nothing of its own to write: `flush` may write to `socket`.
    parked: bool,
    /// A flush has been asked for and not yet run.
    flush_asked: bool,
    /// The connection's socket, for `flush`; `None` on other transports and once closed.
    socket: Option<Arc<TcpStream>>,
}

impl Outbox {
    /// A queue whose frames only the connection's task writes.
    pub fn new(cap: usize) -> Self {
        Self::with_socket(cap, None)
    }

    /// A queue that may also write to `socket` while the connection's task is parked.
    pub fn with_socket(cap: usize, socket: Option<Arc<TcpStream>>) -> Self {
        Self {
            state: Mutex::new(OutboxState {
                socket,
                ..OutboxState::default()
            }),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame unless `limits.outbound_queue` frames are waiting already.
    pub fn push(&self, frame: Frame) -> Result<Pushed, PushError> {
        let s = self.lock();
        self.push_locked(s, frame)
    }

    /// `push`, unless the outbox is locked (a flush is writing to the socket): then the frame
    /// comes back, to be pushed after the other recipients. A fan-out that waited on each
    /// such lock would follow the flusher through the connections it is writing to, one
    /// write at a time.
    pub fn try_push(&self, frame: Frame) -> Result<Result<Pushed, PushError>, Frame> {
        match self.state.try_lock() {
            Ok(s) => Ok(self.push_locked(s, frame)),
            Err(TryLockError::Poisoned(p)) => Ok(self.push_locked(p.into_inner(), frame)),
            Err(TryLockError::WouldBlock) => Err(frame),
        }
    }

    fn push_locked(
        &self,
        mut s: MutexGuard<'_, OutboxState>,
        frame: Frame,
    ) -> Result<Pushed, PushError> {
        if s.closed {
            return Err(PushError::Closed);
        }
        if s.frames.len() >= self.cap {
            return Err(PushError::Full);
        }
        s.frames.push_back(frame);
        if s.parked {
            return Ok(if std::mem::replace(&mut s.flush_asked, true) {
                Pushed::Queued // someone will flush it already
            } else {
                Pushed::Flush
            });
        }
        let waker = s.waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(Pushed::Queued)
    }

    /// Queues a frame the connection produced itself (a reply, a greeting, a history page).
    /// Those are bounded by what the client sent, and the connection stops reading while its
    /// queue is full, so they are never refused for lack of room. Dropped once closed.
    pub fn push_reply(&self, frame: Frame) {
        let waker = {
            let mut s = self.lock();
            if s.closed {
                return;
            }
            s.frames.push_back(frame);
            s.parked = false;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Writes what is queued straight to the socket, if the connection's task is parked; what
    /// does not fit is left to the task, which is woken for it.
    pub fn flush(&self) {
        let waker = {
            let mut s = self.lock();
            s.flush_asked = false;
            if !s.parked || s.closed || s.frames.is_empty() {
                return;
            }
            let state = &*s;
            let Some(socket) = state.socket.as_deref() else {
                return;
            };
            let wrote = with_slices(&state.frames, state.written, |slices| {
                socket.try_write_vectored(slices)
            });
            // An error or a full socket: the task writes the rest, and sees the error itself.
            if let Ok(n) = wrote {
                let state = &mut *s;
                state.written = advance(&mut state.frames, state.written + n);
                if state.frames.is_empty() {
                    // Hold no buffer while idle.
                    state.frames = VecDeque::new();
                    return;
                }
            }
            s.parked = false;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Moves queued frames into `out` (empty) and returns how much of the first one is written
    /// already; the task writes them from here on. When there are none, remembers `waker` and
    /// returns `None`; with `park`, the task has nothing else to write and the outbox may
    /// write to the socket itself until the task takes frames again.
    pub(super) fn take(
        &self,
        out: &mut VecDeque<Frame>,
        waker: &Waker,
        park: bool,
    ) -> Option<usize> {
        let mut s = self.lock();
        if s.frames.is_empty() {
            if !s.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                s.waker = Some(waker.clone());
            }
            s.parked = park && s.socket.is_some();
            return None;
        }
        s.parked = false;
        if s.frames.len() <= MAX_FRAMES_PER_WRITE {
            std::mem::swap(out, &mut s.frames);
        } else {
            out.extend(s.frames.drain(..MAX_FRAMES_PER_WRITE));
        }
        Some(std::mem::take(&mut s.written))
    }

    pub(super) fn len(&self) -> usize {
        self.lock().frames.len()
    }

    /// Refuses further frames and moves those queued to the end of `out`; returns how much
    /// of the first one a flush wrote already (0 unless `out` was empty: the outbox writes
    /// only while the task holds no frames).
    pub(super) fn close_into(&self, out: &mut VecDeque<Frame>) -> usize {
        let mut s = self.lock();
        s.closed = true;
        s.parked = false;
        s.socket = None;
        out.extend(std::mem::take(&mut s.frames));
        std::mem::take(&mut s.written)
    }

    /// Refuses further frames; those queued can still be received.
    pub fn close(&self) {
        let waker = {
            let mut s = self.lock();
            s.closed = true;
            s.parked = false;
            s.socket = None;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Waits for the next frame; `None` once closed. For a task that passes frames on.
    pub async fn recv(&self) -> Option<Frame> {
        poll_fn(|cx| {
            let mut s = self.lock();
            if let Some(frame) = s.frames.pop_front() {
                return Poll::Ready(Some(frame));
            }
            if s.closed {
                return Poll::Ready(None);
            }
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;
    use tokio::io::AsyncReadExt;

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (count.clone(), Waker::from(count))
    }

    /// A connected pair: the server's side (shared, as a connection's is) and the client's.
    async fn pair() -> (Arc<TcpStream>, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (Arc::new(accepted.unwrap().0), client.unwrap())
    }

    async fn read_exactly(client: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        client.read_exact(&mut buf).await.unwrap();
        buf
    }

    fn wire_of(frames: &[Frame]) -> Vec<u8> {
        frames.iter().flat_map(|f| f.wire().to_vec()).collect()
    }

    #[tokio::test]
    async fn a_parked_connection_gets_its_frames_without_its_task_waking() {
        let (server, mut client) = pair().await;
        let outbox = Outbox::with_socket(16, Some(server));
        let (wakes, waker) = counting_waker();
        let mut taken = VecDeque::new();
        assert_eq!(outbox.take(&mut taken, &waker, true), None, "parks");

        let frames = [Frame::text("one"), Frame::text("two")];
        assert_eq!(outbox.push(frames[0].clone()), Ok(Pushed::Flush));
        assert_eq!(
            outbox.push(frames[1].clone()),
            Ok(Pushed::Queued),
            "one flush is asked for at a time"
        );
        outbox.flush();

        let want = wire_of(&frames);
        assert_eq!(read_exactly(&mut client, want.len()).await, want);
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            0,
            "the task slept through it"
        );
        assert_eq!(outbox.len(), 0);
        // Still parked: the next frame goes the same way.
        assert_eq!(outbox.push(Frame::text("three")), Ok(Pushed::Flush));
        outbox.flush();
        let want = Frame::text("three").wire().to_vec();
        assert_eq!(read_exactly(&mut client, want.len()).await, want);
    }

    #[tokio::test]
    async fn a_flush_that_stops_short_leaves_the_rest_to_the_task() {
        let (server, mut client) = pair().await;
        let outbox = Outbox::with_socket(64, Some(server.clone()));
        let (wakes, waker) = counting_waker();
        let mut taken = VecDeque::new();
        assert_eq!(outbox.take(&mut taken, &waker, true), None);

        // More than the kernel buffers hold, while the client reads nothing.
        let frames: Vec<Frame> = (0..40)
            .map(|i| Frame::text(&format!("{i:02}").repeat(100_000)))
            .collect();
        let mut asked = 0;
        for frame in &frames {
            if outbox.push(frame.clone()) == Ok(Pushed::Flush) {
                asked += 1;
            }
        }
        assert_eq!(asked, 1);
        outbox.flush();
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "the task is woken for the rest"
        );

        // The task takes over where the flush stopped, part-way into a frame.
        let written = outbox.take(&mut taken, &waker, true).expect("frames left");
        let sent_by_flush = frames.len() - taken.len();
        assert!(
            written > 0 || sent_by_flush > 0,
            "the flush wrote something"
        );
        let everything = wire_of(&frames);
        let reader = tokio::spawn(async move { read_exactly(&mut client, everything.len()).await });
        let mut rest = taken[0].wire()[written..].to_vec();
        rest.extend(wire_of(&taken.iter().skip(1).cloned().collect::<Vec<_>>()));
        let mut off = 0;
        while off < rest.len() {
            server.writable().await.unwrap();
            match server.try_write(&rest[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("write failed: {e}"),
            }
        }
        assert!(
            reader.await.unwrap() == wire_of(&frames),
            "every frame arrives whole, in order"
        );
    }

    #[tokio::test]
    async fn a_task_that_is_busy_or_has_bytes_of_its_own_is_woken_instead() {
        let (server, _client) = pair().await;
        let outbox = Outbox::with_socket(16, Some(server));
        let (wakes, waker) = counting_waker();
        let mut taken = VecDeque::new();
        // Control bytes to write: the task does not park.
        assert_eq!(outbox.take(&mut taken, &waker, false), None);
        assert_eq!(outbox.push(Frame::text("a")), Ok(Pushed::Queued));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        outbox.flush();
        assert_eq!(
            outbox.len(),
            1,
            "a flush leaves an unparked task's frames alone"
        );

        // A reply of the task's own unparks it too.
        assert_eq!(outbox.take(&mut taken, &waker, true), Some(0));
        taken.clear();
        assert_eq!(outbox.take(&mut taken, &waker, true), None);
        outbox.push_reply(Frame::text("reply"));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
        assert_eq!(outbox.push(Frame::text("b")), Ok(Pushed::Queued));
    }

    #[test]
    fn a_push_that_would_wait_for_a_flush_gives_the_frame_back() {
        let outbox = Outbox::new(16);
        let held = outbox.lock(); // as a flush writing to the socket holds it
        let frame = Frame::text("a");
        let back = outbox.try_push(frame.clone()).expect_err("busy");
        assert_eq!(back.wire(), frame.wire());
        drop(held);
        assert!(matches!(outbox.try_push(back), Ok(Ok(Pushed::Queued))));
        assert_eq!(outbox.len(), 1);
    }

    #[tokio::test]
    async fn without_a_socket_or_once_closed_nothing_is_written_by_the_outbox() {
        let outbox = Outbox::new(16);
        let (wakes, waker) = counting_waker();
        let mut taken = VecDeque::new();
        assert_eq!(outbox.take(&mut taken, &waker, true), None);
        assert_eq!(outbox.push(Frame::text("a")), Ok(Pushed::Queued));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);

        let (server, _client) = pair().await;
        let outbox = Outbox::with_socket(16, Some(server.clone()));
        assert_eq!(outbox.take(&mut taken, &waker, true), None);
        outbox.close();
        assert_eq!(outbox.push(Frame::text("a")), Err(PushError::Closed));
        assert_eq!(
            Arc::strong_count(&server),
            1,
            "the outbox let go of the socket"
        );
    }
}
