//! The cross-node seam: `trait Bus`, the in-process bus for a single node, and (feature
//! `testkit`) the conformance suite every bus runs.
//!
//! The bus is a hint, not the truth: it tells nodes that something durable was committed (or
//! carries ephemeral events such as typing). A node that misses bus traffic back-fills from
//! the store by sequence number, so a bus may drop messages without losing any.

#[cfg(feature = "testkit")]
pub mod testkit;

use async_trait::async_trait;
use palaver_core::{ConversationId, Event, UserId};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use thiserror::Error;

/// Where an event is published, and what a node subscribes to for its connected users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    Conversation(ConversationId),
    User(UserId),
    Everyone,
}

/// Who an event is for, resolved by the publishing node: the connections of every member of
/// `conversations`, of every user in `users`, or of everyone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipients {
    pub conversations: Vec<ConversationId>,
    pub users: Vec<UserId>,
    pub everyone: bool,
}

/// What travels on the bus: an event and its recipients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique per publication (random), so a node that gets one envelope on several of its
    /// topics hands it on once.
    #[serde(default)]
    pub id: u64,
    pub event: Event,
    pub to: Recipients,
    /// The name (without `#`) of the room the event belongs to, when it is in one; protocols
    /// that address rooms by name need it and the event carries only the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

impl Envelope {
    /// The topics this envelope is published on: every node interested in one of them must
    /// get it, once.
    pub fn topics(&self) -> Vec<Topic> {
        if self.to.everyone {
            return vec![Topic::Everyone];
        }
        let convs = self
            .to
            .conversations
            .iter()
            .map(|c| Topic::Conversation(*c));
        convs
            .chain(self.to.users.iter().map(|u| Topic::User(*u)))
            .collect()
    }
}

#[derive(Debug, Error)]
pub enum BusError {
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// Receives what the bus delivers. Must not block: it hands events to connection queues.
pub trait BusSink: Send + Sync + 'static {
    fn deliver(&self, envelope: Arc<Envelope>);
    /// The bus may have lost envelopes (it reconnected, or the broker dropped some for being
    /// slow): the node should check its conversations against the store.
    fn resync(&self) {}
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sets the one sink this node's events go to. Called once, before any publish.
    fn attach(&self, sink: Arc<dyn BusSink>);
    /// Publishes an envelope to every node interested in any of `envelope.topics()`, this one
    /// included, at most once per node.
    async fn publish(&self, envelope: Arc<Envelope>) -> Result<(), BusError>;
    /// Says whether this node wants events of `topic` (it has users who need them).
    /// Buses that deliver everything everywhere may ignore it.
    fn set_interest(&self, topic: Topic, interested: bool);
}

/// The single-node bus: publishing hands the event straight to this node's sink.
#[derive(Default)]
pub struct LocalBus {
    sink: OnceLock<Arc<dyn BusSink>>,
}

impl LocalBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn attach(&self, sink: Arc<dyn BusSink>) {
        // A second attach is a wiring bug; the first sink stays.
        let _ = self.sink.set(sink);
    }

    async fn publish(&self, envelope: Arc<Envelope>) -> Result<(), BusError> {
        match self.sink.get() {
            Some(sink) => {
                sink.deliver(envelope);
                Ok(())
            }
            None => Err(BusError::Unavailable("no sink attached".into())),
        }
    }

    fn set_interest(&self, _topic: Topic, _interested: bool) {}
}
