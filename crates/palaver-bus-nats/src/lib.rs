//! The NATS bus: `NatsBus` implements `palaver_bus::Bus` over core NATS publish/subscribe, so
//! events published on one node reach every node whose users need them.
//!
//! Subjects are `<prefix>.conv.<id>`, `<prefix>.user.<id>` and `<prefix>.all` (the prefix is
//! `palaver` unless given). A node subscribes to a conversation or user subject while it is
//! interested in it (interest is reference-counted, see `interest.rs`) and to `<prefix>.all`
//! from the moment a sink is attached, so a node that is not interested in a topic gets
//! nothing for it. NATS echoes a connection's publications to its own subscriptions, which is
//! how a node's own users hear what it publishes. Envelopes travel as JSON, one message per
//! topic of the envelope; a node subscribed to several of them hands the envelope on once,
//! recognising copies by the envelope's id.
//!
//! Core NATS is at-most-once: a slow or disconnected node can miss messages. That is allowed,
//! since the bus is only a hint and nodes back-fill from the store. The client reconnects by
//! itself and re-establishes the subscriptions.

mod interest;

use async_trait::async_trait;
use futures_util::StreamExt;
use interest::Interest;
use palaver_bus::{Bus, BusError, BusSink, Envelope, Topic};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long a publication may wait for room in the client's outgoing buffer.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the first connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `Bus` on a NATS server (or cluster).
pub struct NatsBus {
    client: async_nats::Client,
    subjects: Subjects,
    /// Where received envelopes go; shared with the subscription readers.
    sink: Arc<OnceLock<Arc<dyn BusSink>>>,
    interest: Interest,
}

impl NatsBus {
    /// Connects to the NATS server at `url` (`nats://host:port`) as node `node_name`, with the
    /// subject prefix `palaver`.
    pub async fn connect(url: &str, node_name: &str) -> Result<Self, BusError> {
        Self::connect_with_prefix(url, node_name, "palaver").await
    }

    /// Like [`NatsBus::connect`] with another subject prefix, so that several deployments (or
    /// test runs) can share one NATS server without hearing each other. The prefix is one or
    /// more subject tokens (`a` or `a.b`), without wildcards or whitespace.
    pub async fn connect_with_prefix(
        url: &str,
        node_name: &str,
        prefix: &str,
    ) -> Result<Self, BusError> {
        let subjects = Subjects::new(prefix)?;
        let sink: Arc<OnceLock<Arc<dyn BusSink>>> = Arc::new(OnceLock::new());
        let (node, events_sink) = (node_name.to_owned(), Arc::clone(&sink));
        let client = async_nats::ConnectOptions::new()
            .name(format!("palaver {node_name}"))
            .connection_timeout(CONNECT_TIMEOUT)
            .event_callback(move |event| {
                let (node, sink) = (node.clone(), Arc::clone(&events_sink));
                async move { on_event(&node, sink.get(), event) }
            })
            .connect(url)
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot connect to NATS: {e}")))?;
        let interest = Interest::start(client.clone(), subjects.clone(), Arc::clone(&sink));
        tracing::info!(node = node_name, prefix, "connected to NATS");
        Ok(Self {
            client,
            subjects,
            sink,
            interest,
        })
    }

    /// Waits until every interest change this node made so far is in effect at the server:
    /// whatever any node publishes after this returns reaches this node if it is interested.
    /// For readiness checks and tests; publishing does not need it.
    pub async fn flush(&self) -> Result<(), BusError> {
        self.interest.settled(PUBLISH_TIMEOUT).await?;
        // The server handles one connection's commands in order, so once a message published
        // after the pending SUBs comes back, those SUBs are in effect. (The client's own
        // `flush` only empties its write buffer.)
        let round_trip = async {
            let inbox = self.client.new_inbox();
            let unavailable = |e: &dyn std::fmt::Display| {
                BusError::Unavailable(format!("NATS round trip failed: {e}"))
            };
            let mut echo = self
                .client
                .subscribe(inbox.clone())
                .await
                .map_err(|e| unavailable(&e))?;
            self.client
                .publish(inbox, bytes::Bytes::new())
                .await
                .map_err(|e| unavailable(&e))?;
            echo.next()
                .await
                .ok_or_else(|| unavailable(&"the connection closed"))?;
            let _ = echo.unsubscribe().await;
            Ok(())
        };
        tokio::time::timeout(PUBLISH_TIMEOUT, round_trip)
            .await
            .map_err(|_| BusError::Unavailable("NATS round trip timed out".into()))?
    }
}

/// Logs connection events. After a reconnect, or when the server or client dropped messages
/// for a slow subscriber, envelopes may have been lost: the sink is told to resync.
fn on_event(node: &str, sink: Option<&Arc<dyn BusSink>>, event: async_nats::Event) {
    let lost = match &event {
        async_nats::Event::Connected => {
            tracing::info!(node, "NATS connection (re)established");
            true
        }
        async_nats::Event::SlowConsumer(sid) => {
            tracing::warn!(node, sid, "NATS slow consumer: messages were dropped");
            true
        }
        other => {
            tracing::warn!(node, event = %other, "NATS connection event");
            false
        }
    };
    // The first connection happens before any sink is attached, so it triggers nothing.
    if lost && let Some(sink) = sink {
        sink.resync();
    }
}

#[async_trait]
impl Bus for NatsBus {
    fn attach(&self, sink: Arc<dyn BusSink>) {
        // A second attach is a wiring bug; the first sink stays.
        if self.sink.set(sink).is_ok() {
            self.interest.subscribe_everyone();
        }
    }

    async fn publish(&self, envelope: Arc<Envelope>) -> Result<(), BusError> {
        let topics = envelope.topics();
        if topics.is_empty() {
            return Ok(());
        }
        // Fail fast while disconnected: waiting would hold up the caller, and the store has
        // the event anyway.
        if self.client.connection_state() == async_nats::connection::State::Disconnected {
            return Err(BusError::Unavailable("not connected to NATS".into()));
        }
        let payload: bytes::Bytes = serde_json::to_vec(envelope.as_ref())
            .map_err(|e| BusError::Unavailable(format!("cannot encode an envelope: {e}")))?
            .into();
        // Interest this node declared before publishing is in place first, so it hears itself.
        self.interest.settled(PUBLISH_TIMEOUT).await?;
        // One message per topic; a node subscribed to several of them keeps the first copy.
        for topic in topics {
            let sent = self
                .client
                .publish(self.subjects.of(topic), payload.clone());
            match tokio::time::timeout(PUBLISH_TIMEOUT, sent).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(BusError::Unavailable(format!("NATS publish failed: {e}")));
                }
                Err(_) => return Err(BusError::Unavailable("NATS publish timed out".into())),
            }
        }
        Ok(())
    }

    fn set_interest(&self, topic: Topic, interested: bool) {
        self.interest.set(topic, interested);
    }
}

/// The subject of each topic under one prefix.
#[derive(Clone, Debug)]
pub(crate) struct Subjects {
    prefix: String,
}

impl Subjects {
    fn new(prefix: &str) -> Result<Self, BusError> {
        let valid = !prefix.is_empty()
            && prefix.split('.').all(|token| {
                !token.is_empty()
                    && !token
                        .chars()
                        .any(|c| c.is_whitespace() || c == '*' || c == '>')
            });
        if !valid {
            return Err(BusError::Unavailable(format!(
                "invalid NATS subject prefix {prefix:?}"
            )));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    pub(crate) fn of(&self, topic: Topic) -> String {
        match topic {
            Topic::Conversation(id) => format!("{}.conv.{id}", self.prefix),
            Topic::User(id) => format!("{}.user.{id}", self.prefix),
            Topic::Everyone => format!("{}.all", self.prefix),
        }
    }
}
