//! Reference-counted interest, and the task that turns it into NATS subscriptions.
//!
//! `set_interest` is synchronous and may be called several times for one topic (once per
//! connection that needs it, say), so each topic has a count: the first `true` subscribes, the
//! `false` that brings it back to zero unsubscribes, and the calls in between only count. The
//! subscribe and unsubscribe commands go, in the order they were decided, to one task that
//! owns the subscriptions; each subscription has a reader task feeding the sink, so events of
//! one topic reach the sink in the order NATS delivered them. Events of different topics may
//! be handed on in another order than they were published (the hub orders by `seq` anyway).
//!
//! An envelope published on several topics arrives once per matching subscription. The readers
//! share one [`Delivery`], which hands on the first copy and drops the others; it calls the sink
//! under its lock, so when one copy is dropped the first has already been handed on, and two
//! envelopes that share a topic reach the sink in that topic's order.

use crate::Subjects;
use futures_util::StreamExt;
use palaver_bus::{BusError, BusSink, Envelope, Topic};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

type SharedSink = Arc<OnceLock<Arc<dyn BusSink>>>;

/// How many recent envelope ids a node remembers to drop copies. Copies of one publication
/// arrive back to back on one connection, so this only has to outlast a lagging reader.
const REMEMBERED: usize = 4096;

pub(crate) struct Interest {
    state: Mutex<State>,
    commands: mpsc::UnboundedSender<Command>,
    /// How many commands the subscription task has carried out.
    applied: watch::Receiver<u64>,
}

#[derive(Default)]
struct State {
    counts: HashMap<Topic, usize>,
    /// How many commands were sent.
    requested: u64,
}

#[derive(Debug)]
enum Command {
    Subscribe(Topic),
    Unsubscribe(Topic),
}

impl Interest {
    /// Starts the subscription task; it ends when this `Interest` is dropped, and its readers
    /// unsubscribe and end with it.
    pub(crate) fn start(client: async_nats::Client, subjects: Subjects, sink: SharedSink) -> Self {
        let (commands, received) = mpsc::unbounded_channel();
        let (done, applied) = watch::channel(0);
        tokio::spawn(run(client, subjects, sink, received, done));
        Self {
            state: Mutex::default(),
            commands,
            applied,
        }
    }

    pub(crate) fn set(&self, topic: Topic, interested: bool) {
        if topic == Topic::Everyone {
            // Always subscribed once a sink is attached.
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let count = state.counts.get(&topic).copied().unwrap_or(0);
        let (count, command) = match (interested, count) {
            (true, 0) => (1, Some(Command::Subscribe(topic))),
            (true, n) => (n + 1, None),
            (false, 0) => {
                tracing::debug!(?topic, "interest withdrawn that was never declared");
                (0, None)
            }
            (false, 1) => (0, Some(Command::Unsubscribe(topic))),
            (false, n) => (n - 1, None),
        };
        if count == 0 {
            state.counts.remove(&topic);
        } else {
            state.counts.insert(topic, count);
        }
        // Sent under the lock, so commands for one topic are queued in the order decided.
        if let Some(command) = command {
            self.send(&mut state, command);
        }
    }

    pub(crate) fn subscribe_everyone(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.send(&mut state, Command::Subscribe(Topic::Everyone));
    }

    fn send(&self, state: &mut State, command: Command) {
        if self.commands.send(command).is_ok() {
            state.requested += 1;
        }
    }

    /// Waits until every interest change made so far is in place on the connection: a
    /// publication made after it then reaches this node's own new subscriptions too.
    pub(crate) async fn settled(&self, timeout: Duration) -> Result<(), BusError> {
        let wanted = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .requested;
        if *self.applied.borrow() >= wanted {
            return Ok(());
        }
        let mut applied = self.applied.clone();
        match tokio::time::timeout(timeout, applied.wait_for(|&n| n >= wanted)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(BusError::Unavailable("the subscription task ended".into())),
            Err(_) => Err(BusError::Unavailable(
                "timed out waiting for NATS subscriptions".into(),
            )),
        }
    }
}

/// Carries out the commands in order. A subscription's reader runs until its stop sender
/// (kept here) is dropped.
async fn run(
    client: async_nats::Client,
    subjects: Subjects,
    sink: SharedSink,
    mut commands: mpsc::UnboundedReceiver<Command>,
    applied: watch::Sender<u64>,
) {
    let delivery = Arc::new(Delivery {
        sink,
        recent: Mutex::default(),
    });
    let mut readers: HashMap<Topic, oneshot::Sender<()>> = HashMap::new();
    let mut done = 0;
    while let Some(command) = commands.recv().await {
        match command {
            Command::Subscribe(topic) => {
                let subject = subjects.of(topic);
                // Returns once the SUB is queued on the connection, ahead of later publications.
                match client.subscribe(subject.clone()).await {
                    Ok(subscriber) => {
                        tracing::debug!(subject, "subscribed");
                        let (stop, stopped) = oneshot::channel();
                        tokio::spawn(read(subscriber, stopped, Arc::clone(&delivery), subject));
                        readers.insert(topic, stop);
                    }
                    Err(e) => tracing::warn!(subject, error = %e, "cannot subscribe"),
                }
            }
            Command::Unsubscribe(topic) => {
                tracing::debug!(?topic, "unsubscribing");
                readers.remove(&topic);
            }
        }
        done += 1;
        applied.send_replace(done);
    }
}

/// Feeds one subscription's envelopes to the sink until stopped, then unsubscribes.
async fn read(
    mut subscriber: async_nats::Subscriber,
    mut stopped: oneshot::Receiver<()>,
    delivery: Arc<Delivery>,
    subject: String,
) {
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            message = subscriber.next() => match message {
                Some(message) => delivery.deliver(&subject, &message.payload),
                None => return,
            },
        }
    }
    if let Err(e) = subscriber.unsubscribe().await {
        tracing::debug!(subject, error = %e, "cannot unsubscribe");
    }
}

/// Hands envelopes to the sink, each publication once.
struct Delivery {
    sink: SharedSink,
    recent: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    ids: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Delivery {
    fn deliver(&self, subject: &str, payload: &[u8]) {
        let Some(sink) = self.sink.get() else {
            tracing::debug!(subject, "no sink attached yet: event dropped");
            return;
        };
        let envelope = match serde_json::from_slice::<Envelope>(payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(subject, error = %e, "undecodable envelope dropped");
                return;
            }
        };
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        // Id 0 is an envelope from a publisher that sets none: never a copy.
        if envelope.id != 0 {
            if !recent.ids.insert(envelope.id) {
                return;
            }
            recent.order.push_back(envelope.id);
            if recent.order.len() > REMEMBERED
                && let Some(oldest) = recent.order.pop_front()
            {
                recent.ids.remove(&oldest);
            }
        }
        // Under the lock (the sink never blocks): see the module comment.
        sink.deliver(Arc::new(envelope));
    }
}
