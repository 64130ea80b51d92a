//! Conformance suite for `Bus` implementations: every backend must pass these.

use crate::{Bus, BusSink, Envelope, Recipients, Topic};
use palaver_core::{ConversationId, Event, EventBody, UserId};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A sink that records what it is given.
#[derive(Default)]
pub struct RecordingSink {
    pub seen: Mutex<Vec<Arc<Envelope>>>,
}

impl BusSink for RecordingSink {
    fn deliver(&self, envelope: Arc<Envelope>) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(envelope);
        }
    }
}

fn typing(conv: i64, n: i64) -> Arc<Envelope> {
    Arc::new(Envelope {
        id: n as u64 + 1,
        event: Event {
            pos: None,
            ts: n,
            body: EventBody::Typing {
                conversation: ConversationId(conv),
                user: UserId(1),
                handle: "a".into(),
            },
        },
        to: Recipients {
            conversations: vec![ConversationId(conv)],
            users: vec![UserId(2)],
            everyone: false,
        },
        room: Some("seven".into()),
    })
}

async fn wait_for(sink: &RecordingSink, n: usize) -> Vec<Arc<Envelope>> {
    for _ in 0..200 {
        let seen = sink.seen.lock().map(|s| s.clone()).unwrap_or_default();
        if seen.len() >= n {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sink.seen.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Two nodes sharing a bus: an event published by one reaches the other when it is interested,
/// in publish order, unchanged.
pub async fn delivers_in_order_to_interested_nodes(a: Arc<dyn Bus>, b: Arc<dyn Bus>) {
    let sink_a = Arc::new(RecordingSink::default());
    let sink_b = Arc::new(RecordingSink::default());
    a.attach(sink_a.clone());
    b.attach(sink_b.clone());
    let topic = Topic::Conversation(ConversationId(7));
    a.set_interest(topic, true);
    b.set_interest(topic, true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for n in 0..50 {
        a.publish(typing(7, n)).await.expect("publish");
    }
    let seen = wait_for(&sink_b, 50).await;
    let ts: Vec<i64> = seen.iter().map(|e| e.event.ts).collect();
    assert_eq!(
        ts,
        (0..50).collect::<Vec<_>>(),
        "node b sees every event, in order"
    );
    assert_eq!(*seen[0], *typing(7, 0), "events arrive unchanged");
}

/// A single node hears its own publications (its local users must get them too), in order.
pub async fn delivers_to_self_in_order(bus: Arc<dyn Bus>) {
    let sink = Arc::new(RecordingSink::default());
    bus.attach(sink.clone());
    let topic = Topic::Conversation(ConversationId(1));
    bus.set_interest(topic, true);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for n in 0..50 {
        bus.publish(typing(1, n)).await.expect("publish");
    }
    let ts: Vec<i64> = wait_for(&sink, 50)
        .await
        .iter()
        .map(|e| e.event.ts)
        .collect();
    assert_eq!(ts, (0..50).collect::<Vec<_>>());
}

/// An envelope for several topics a node is interested in reaches it once; a node interested
/// in none of its topics gets nothing.
pub async fn delivers_once_per_node_and_only_on_interest(
    a: Arc<dyn Bus>,
    b: Arc<dyn Bus>,
    c: Arc<dyn Bus>,
) {
    let (sa, sb, sc) = (
        Arc::new(RecordingSink::default()),
        Arc::new(RecordingSink::default()),
        Arc::new(RecordingSink::default()),
    );
    a.attach(sa.clone());
    b.attach(sb.clone());
    c.attach(sc.clone());
    // b wants both topics of the envelope; c wants neither.
    b.set_interest(Topic::Conversation(ConversationId(9)), true);
    b.set_interest(Topic::User(UserId(2)), true);
    c.set_interest(Topic::Conversation(ConversationId(10)), true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.publish(typing(9, 1)).await.expect("publish");
    a.publish(typing(9, 2)).await.expect("publish");
    let seen = wait_for(&sb, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen_b: Vec<i64> = sb
        .seen
        .lock()
        .map(|s| s.iter().map(|e| e.event.ts).collect())
        .unwrap_or_default();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen_b,
        vec![1, 2],
        "each envelope once, though it matched two topics"
    );
    assert!(
        sc.seen.lock().map(|s| s.is_empty()).unwrap_or(false),
        "no interest, no delivery"
    );
    // Dropping interest stops delivery.
    b.set_interest(Topic::Conversation(ConversationId(9)), false);
    b.set_interest(Topic::User(UserId(2)), false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.publish(typing(9, 3)).await.expect("publish");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        sb.seen.lock().map(|s| s.len()).unwrap_or(0),
        2,
        "interest withdrawn"
    );
}

/// A message envelope (the kind that matters most) arrives exactly as it was published.
pub async fn carries_a_message_unchanged(a: Arc<dyn Bus>, b: Arc<dyn Bus>) {
    let sink = Arc::new(RecordingSink::default());
    b.attach(sink.clone());
    if !Arc::ptr_eq(&a, &b) {
        a.attach(Arc::new(RecordingSink::default()));
    }
    b.set_interest(Topic::Conversation(ConversationId(11)), true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let message = palaver_core::Message {
        id: palaver_core::MessageId(41),
        conversation: ConversationId(11),
        seq: 7,
        sender: UserId(1),
        sender_handle: "alice".into(),
        text: "hello \u{1F600} \"quoted\"".into(),
        ts: 1_700_000_000_123,
        client_id: Some("c-1".into()),
    };
    let envelope = Arc::new(Envelope {
        id: 77,
        event: Event {
            pos: Some(41),
            ts: 1_700_000_000_124,
            body: EventBody::Message(message),
        },
        to: Recipients {
            conversations: vec![ConversationId(11)],
            users: vec![],
            everyone: false,
        },
        room: Some("main".into()),
    });
    a.publish(envelope.clone()).await.expect("publish");
    let seen = wait_for(&sink, 1).await;
    assert_eq!(seen.len(), 1, "the message arrived");
    assert_eq!(*seen[0], *envelope, "unchanged");
}
