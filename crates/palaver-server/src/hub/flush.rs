//! Flushers: tasks that write queued events straight to the sockets of parked connections
//! ([`Outbox::flush`]), so that an event to N idle connections costs N writes and a few
//! wake-ups rather than N task wake-ups.
//!
//! Connections to flush wait in one queue, oldest first. There is one flusher per runtime
//! worker, and each takes a chunk at a time, so a worker that shares its core with something
//! else does less of the work rather than holding back a fixed share of it. A connection
//! queued while flushers work waits its turn and collects further events meanwhile: the
//! busier the server, the more frames each write carries.

use crate::conn::Outbox;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Fan-outs this small are flushed by the publishing task itself: a direct message reaches
/// its recipient without waiting for a flusher's wake-up.
const INLINE_MAX: usize = 4;
/// How many connections a flusher takes at a time (a millisecond or two of writes), before
/// it lets other tasks on its worker run.
const CHUNK: usize = 128;

pub(super) struct Flushers {
    shared: Option<Arc<Shared>>,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<VecDeque<Arc<Outbox>>>,
    notify: Notify,
    /// The hub is gone: the flushers end.
    stopped: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Outbox>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(self: Arc<Self>) {
        loop {
            self.notify.notified().await;
            if self.stopped.load(Ordering::Acquire) {
                // Pass the wake-up on to the next flusher, then end.
                self.notify.notify_one();
                return;
            }
            loop {
                let (chunk, more): (Vec<_>, bool) = {
                    let mut pending = self.lock();
                    let n = pending.len().min(CHUNK);
                    let chunk = pending.drain(..n).collect();
                    (chunk, !pending.is_empty())
                };
                if chunk.is_empty() {
                    break;
                }
                if more {
                    // Let another flusher take the next chunk meanwhile.
                    self.notify.notify_one();
                }
                for outbox in chunk {
                    outbox.flush();
                }
                tokio::task::yield_now().await;
            }
        }
    }
}

impl Flushers {
    /// Starts one flusher per worker of the current runtime. Outside a runtime there are
    /// none, and every flush happens in place.
    pub(super) fn start() -> Self {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return Self { shared: None };
        };
        let shared = Arc::new(Shared::default());
        for _ in 0..rt.metrics().num_workers().max(1) {
            rt.spawn(shared.clone().run());
        }
        Self {
            shared: Some(shared),
        }
    }

    /// Flushes each outbox: small fan-outs at once, larger ones by the flushers.
    pub(super) fn flush(&self, outboxes: Vec<Arc<Outbox>>) {
        let shared = match &self.shared {
            Some(shared) if outboxes.len() > INLINE_MAX => shared,
            _ => {
                for outbox in outboxes {
                    outbox.flush();
                }
                return;
            }
        };
        let was_idle = {
            let mut pending = shared.lock();
            let was_idle = pending.is_empty();
            pending.extend(outboxes);
            was_idle
        };
        // A busy flusher comes back for more when done; an idle one needs waking (a wake-up
        // sent while none waits is kept for the next wait).
        if was_idle {
            shared.notify.notify_one();
        }
    }
}

impl Drop for Flushers {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.stopped.store(true, Ordering::Release);
            shared.notify.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_flushers_end_with_their_hub() {
        let flushers = Flushers::start();
        let shared = Arc::downgrade(flushers.shared.as_ref().expect("in a runtime"));
        drop(flushers);
        let ended = async {
            while shared.strong_count() > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), ended)
            .await
            .expect("every flusher task ended");
    }
}
