//! NATS specifics: interest reference counting, the always-on `all` subject, hearing oneself
//! right after declaring interest, and an unreachable server.

use palaver_bus::testkit::RecordingSink;
use palaver_bus::{Bus, BusError, Envelope, Recipients, Topic};
use palaver_bus_nats::NatsBus;
use palaver_core::{ConversationId, Event, EventBody, UserId};
use std::sync::Arc;
use std::time::Duration;

fn typing(id: u64, to: Recipients) -> Arc<Envelope> {
    Arc::new(Envelope {
        id,
        event: Event {
            pos: None,
            ts: id as i64,
            body: EventBody::Typing {
                conversation: ConversationId(1),
                user: UserId(1),
                handle: "a".into(),
            },
        },
        to,
        room: None,
    })
}

fn to_conversation(id: i64) -> Recipients {
    Recipients {
        conversations: vec![ConversationId(id)],
        ..Recipients::default()
    }
}

fn to_everyone() -> Recipients {
    Recipients {
        everyone: true,
        ..Recipients::default()
    }
}

fn ids(sink: &RecordingSink) -> Vec<u64> {
    sink.seen.lock().unwrap().iter().map(|e| e.id).collect()
}

/// Waits (up to 5 s) until the sink has seen the envelope `id`.
async fn wait_for(sink: &RecordingSink, id: u64) {
    for _ in 0..500 {
        if ids(sink).contains(&id) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("envelope {id} never arrived; saw {:?}", ids(sink));
}

/// Publishes `probe` (for everyone) from `from` and waits until `to` has it: everything `from`
/// published before it has then reached `to`, if it was going to.
async fn barrier(from: &NatsBus, to: &RecordingSink, probe: u64) {
    from.publish(typing(probe, to_everyone())).await.unwrap();
    wait_for(to, probe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_interest_gets_nothing_but_everyone() {
    let Some(url) = crate::env::nats_url() else {
        return;
    };
    let [a, b] = crate::nodes(&url).await;
    let (sink_a, sink_b) = (
        Arc::new(RecordingSink::default()),
        Arc::new(RecordingSink::default()),
    );
    a.attach(sink_a.clone());
    b.attach(sink_b.clone());
    a.set_interest(Topic::Conversation(ConversationId(5)), true);
    // b has never declared interest, and never needs to for `all`.
    b.flush().await.unwrap();
    barrier(&a, &sink_b, 100).await;
    a.publish(typing(1, to_conversation(5))).await.unwrap();
    barrier(&a, &sink_b, 101).await;
    assert_eq!(ids(&sink_b), [100, 101], "only the envelopes for everyone");
    wait_for(&sink_a, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interest_is_reference_counted() {
    let Some(url) = crate::env::nats_url() else {
        return;
    };
    let [a, b] = crate::nodes(&url).await;
    let sink = Arc::new(RecordingSink::default());
    a.attach(Arc::new(RecordingSink::default()));
    b.attach(sink.clone());
    let topic = Topic::Conversation(ConversationId(3));
    // Two users of node b need the conversation; one leaves.
    b.set_interest(topic, true);
    b.set_interest(topic, true);
    b.set_interest(topic, false);
    barrier(&b, &sink, 100).await;
    a.publish(typing(1, to_conversation(3))).await.unwrap();
    wait_for(&sink, 1).await;
    // The second leaves too: no more.
    b.set_interest(topic, false);
    barrier(&b, &sink, 101).await;
    a.publish(typing(2, to_conversation(3))).await.unwrap();
    barrier(&a, &sink, 102).await;
    // A withdrawal without a declaration is ignored, not counted below zero.
    b.set_interest(topic, false);
    b.set_interest(topic, true);
    barrier(&b, &sink, 103).await;
    a.publish(typing(3, to_conversation(3))).await.unwrap();
    wait_for(&sink, 3).await;
    assert_eq!(ids(&sink), [100, 1, 101, 102, 103, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_hears_itself_right_after_declaring_interest() {
    let Some(url) = crate::env::nats_url() else {
        return;
    };
    let [node] = crate::nodes(&url).await;
    let sink = Arc::new(RecordingSink::default());
    node.attach(sink.clone());
    for conv in 0..20 {
        // No pause between declaring interest and publishing.
        node.set_interest(Topic::Conversation(ConversationId(conv)), true);
        node.publish(typing(conv as u64 + 1, to_conversation(conv)))
            .await
            .unwrap();
    }
    for id in 1..=20 {
        wait_for(&sink, id).await;
    }
    // Each conversation is its own subscription: order holds per topic, not across topics.
    let mut seen = ids(&sink);
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<_>>(), "each exactly once");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // Nothing listens on port 1 of the loopback address: the connection is refused.
    let result = NatsBus::connect("nats://127.0.0.1:1", "node").await;
    assert!(matches!(result, Err(BusError::Unavailable(_))));
}

#[tokio::test]
async fn a_bad_prefix_is_refused() {
    // Checked before connecting, so no server is needed.
    for prefix in ["", "a..b", "a.*", "a b", ">"] {
        let result = NatsBus::connect_with_prefix("nats://127.0.0.1:1", "node", prefix).await;
        assert!(
            matches!(result, Err(BusError::Unavailable(_))),
            "{prefix:?}"
        );
    }
}
