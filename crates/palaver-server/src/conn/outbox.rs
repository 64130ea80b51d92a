//! What others hold of a connection: its queue of frames to send ([`Outbox`]) and its close
//! requests ([`ConnControl`]). Both wake the connection's task.

use super::MAX_FRAMES_PER_WRITE;
use crate::ws::Frame;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Poll, Waker};

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

/// A connection's queue of frames to send. Empty, it holds no buffer.
pub struct Outbox {
    state: Mutex<OutboxState>,
    cap: usize,
}

#[derive(Default)]
struct OutboxState {
    frames: VecDeque<Frame>,
    waker: Option<Waker>,
    closed: bool,
}

impl Outbox {
    pub fn new(cap: usize) -> Self {
        Self {
            state: Mutex::new(OutboxState::default()),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame unless `limits.outbound_queue` frames are waiting already.
    pub fn push(&self, frame: Frame) -> Result<(), PushError> {
        self.push_inner(frame, true)
    }

    /// Queues a frame the connection produced itself (a reply, a greeting, a history page).
    /// Those are bounded by what the client sent, and the connection stops reading while its
    /// queue is full, so they are never refused for lack of room. Dropped once closed.
    pub fn push_reply(&self, frame: Frame) {
        let _ = self.push_inner(frame, false);
    }

    fn push_inner(&self, frame: Frame, bounded: bool) -> Result<(), PushError> {
        let waker = {
            let mut s = self.lock();
            if s.closed {
                return Err(PushError::Closed);
            }
            if bounded && s.frames.len() >= self.cap {
                return Err(PushError::Full);
            }
            s.frames.push_back(frame);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Moves queued frames into `out` (empty); when there are none, remembers `waker` and
    /// returns false.
    pub(super) fn take(&self, out: &mut VecDeque<Frame>, waker: &Waker) -> bool {
        let mut s = self.lock();
        if s.frames.is_empty() {
            if !s.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                s.waker = Some(waker.clone());
            }
            return false;
        }
        if s.frames.len() <= MAX_FRAMES_PER_WRITE {
            std::mem::swap(out, &mut s.frames);
        } else {
            out.extend(s.frames.drain(..MAX_FRAMES_PER_WRITE));
        }
        true
    }

    pub(super) fn len(&self) -> usize {
        self.lock().frames.len()
    }

    /// Refuses further frames and moves those queued to the end of `out`.
    pub(super) fn close_into(&self, out: &mut VecDeque<Frame>) {
        let mut s = self.lock();
        s.closed = true;
        out.extend(std::mem::take(&mut s.frames));
    }

    /// Refuses further frames; those queued can still be received.
    pub fn close(&self) {
        let waker = {
            let mut s = self.lock();
            s.closed = true;
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
