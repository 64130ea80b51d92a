//! Conformance checks: `events_since` membership windows and counting.

use super::*;

pub async fn sync_membership_windows(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let carol = signup(s, "carol").await;
    let dave = signup(s, "dave").await;
    let (c, created) = room(s, &alice, "c", ConversationKind::Channel, &[&dave]).await;
    send(s, c.id, &alice, "m1").await;
    s.add_members(c.id, &[bob.id], 3).await.expect("join");
    let m2 = send(s, c.id, &alice, "m2").await;
    s.remove_member(c.id, bob.id, 4).await.expect("leave");
    send(s, c.id, &alice, "m3").await;

    let all = s.events_since(alice.id, 0, 1000).await.expect("events");
    assert_ascending(&all);
    assert_eq!(
        tags(&all),
        [
            "created:c",
            "joined:dave",
            "message:alice:m1",
            "joined:bob",
            "message:alice:m2",
            "left:bob",
            "message:alice:m3"
        ]
    );
    let EventBody::Message(m) = &all[2].body else {
        panic!("expected a message, got {:?}", all[2])
    };
    assert_eq!((m.seq, m.sender, m.conversation), (1, alice.id, c.id));
    assert_eq!(all[2].pos, Some(m.id.0));
    // A member added at creation sees the room's creation and everything after.
    assert_eq!(since(s, &dave, 0).await, tags(&all));
    assert_eq!(created[0].pos, all[0].pos);
    // Bob sees from his join to his leave, both included.
    assert_eq!(
        since(s, &bob, 0).await,
        ["joined:bob", "message:alice:m2", "left:bob"]
    );
    assert!(since(s, &carol, 0).await.is_empty(), "never a member");
    assert_eq!(
        since(s, &alice, m2.pos).await,
        ["left:bob", "message:alice:m3"]
    );
    let page = s.events_since(alice.id, 0, 2).await.expect("events");
    assert_eq!(tags(&page), ["created:c", "joined:dave"]);
    assert_eq!(
        since(s, &alice, page[1].pos.expect("pos")).await.len(),
        5,
        "resumes after the page"
    );

    // Rejoining opens a new window; what was said while away stays unseen.
    s.add_members(c.id, &[bob.id], 5).await.expect("rejoin");
    send(s, c.id, &alice, "m4").await;
    let destroyed = s.destroy_room(c.id, alice.id, 6).await.expect("destroy");
    assert_eq!(
        since(s, &bob, 0).await,
        [
            "joined:bob",
            "message:alice:m2",
            "left:bob",
            "joined:bob",
            "message:alice:m4",
            "destroyed:c"
        ]
    );
    assert!(since(s, &bob, destroyed.pos.expect("pos")).await.is_empty());
}

pub async fn sync_counting(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let (c, _) = room(s, &alice, "c", ConversationKind::Group, &[]).await;
    let dm = s
        .direct_conversation(alice.id, bob.id, 2)
        .await
        .expect("dm");
    for i in 0..5 {
        send(s, c.id, &alice, &format!("c{i}")).await;
        send(s, dm.id, &bob, &format!("d{i}")).await;
    }
    let all = s.events_since(alice.id, 0, 1000).await.expect("events");
    assert_eq!(all.len(), 11, "creation and ten messages");
    assert_eq!(
        s.count_events_since(alice.id, 0, 1000)
            .await
            .expect("count"),
        11
    );
    assert_eq!(
        s.count_events_since(alice.id, 0, 4).await.expect("count"),
        4,
        "capped"
    );
    assert_eq!(
        s.count_events_since(bob.id, 0, 1000).await.expect("count"),
        5,
        "only the dm"
    );
    let head = s.head().await.expect("head");
    assert_eq!(
        s.count_events_since(alice.id, head, 1000)
            .await
            .expect("count"),
        0
    );
    let half = all[5].pos.expect("pos");
    assert_eq!(
        s.count_events_since(alice.id, half, 1000)
            .await
            .expect("count"),
        5
    );
    assert!(
        s.events_since(alice.id, 0, 0)
            .await
            .expect("events")
            .is_empty()
    );
}
