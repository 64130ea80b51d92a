//! Conformance checks: appending (including concurrently), history, read markers, dialogs.

use super::*;

pub async fn messages_seq(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let (main, _) = room(s, &alice, "main", ConversationKind::Channel, &[&bob]).await;
    let sent = [
        send(s, main.id, &alice, "a").await,
        send(s, main.id, &bob, "b").await,
        send(s, main.id, &alice, "c").await,
    ];
    let seqs: Vec<i64> = sent.iter().map(|a| a.message.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert!(sent.windows(2).all(|w| w[0].pos < w[1].pos));
    for a in &sent {
        assert!(!a.duplicate);
        assert_eq!(
            a.message.id.0, a.pos,
            "a message's id is its event position"
        );
        assert_eq!(a.message.conversation, main.id);
    }
    assert_eq!(sent[1].message.sender, bob.id);
    assert_eq!(sent[1].message.sender_handle, "bob");
    assert_eq!(sent[1].message.text, "b");
    assert_eq!(
        s.conversation(main.id)
            .await
            .expect("conv")
            .map(|c| c.last_seq),
        Some(3)
    );
    assert_eq!(s.head().await.expect("head"), sent[2].pos);
    assert_eq!(texts(s, main.id).await, ["a", "b", "c"]);
}

pub async fn messages_idempotent(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let (main, _) = room(s, &alice, "main", ConversationKind::Channel, &[&bob]).await;
    let keyed = |sender: &User, text: &str| NewMessage {
        conversation: main.id,
        sender: sender.id,
        text: text.into(),
        client_id: Some("k1".into()),
        ts: 10,
    };
    let first = s
        .append_message(keyed(&alice, "hello"))
        .await
        .expect("first");
    assert!(!first.duplicate);
    assert_eq!(first.message.client_id.as_deref(), Some("k1"));
    let head = s.head().await.expect("head");
    let retry = s
        .append_message(keyed(&alice, "hello again"))
        .await
        .expect("retry");
    assert!(retry.duplicate);
    assert_eq!(retry.message, first.message, "the original comes back");
    assert_eq!(retry.pos, first.pos);
    assert_eq!(s.head().await.expect("head"), head, "nothing stored");
    assert_eq!(
        s.conversation(main.id)
            .await
            .expect("conv")
            .map(|c| c.last_seq),
        Some(1)
    );
    // The key is the sender's own: another sender may use it.
    let other = s.append_message(keyed(&bob, "mine")).await.expect("bob");
    assert!(!other.duplicate);
    assert_eq!(other.message.seq, 2);
    assert_eq!(seqs(s, window(main.id, None, None, 10)).await, [1, 2]);
}

/// `append_messages`: in order, each with its own outcome, a refusal or a duplicate in the
/// middle costing only itself.
pub async fn messages_appended_together(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let carol = signup(s, "carol").await;
    let (main, _) = room(s, &alice, "main", ConversationKind::Channel, &[]).await;
    let (other, _) = room(s, &carol, "other", ConversationKind::Group, &[]).await;
    let msg = |c: ConversationId, text: &str, key: Option<&str>| NewMessage {
        conversation: c,
        sender: alice.id,
        text: text.into(),
        client_id: key.map(str::to_owned),
        ts: 10,
    };
    let out = s
        .append_messages(vec![
            msg(main.id, "one", Some("k1")),
            msg(other.id, "not a member", None),
            msg(main.id, "two", None),
            msg(main.id, "one again", Some("k1")),
            msg(main.id, "three", None),
        ])
        .await;
    assert_eq!(out.len(), 5);
    let ok: Vec<&Appended> = out.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(ok.len(), 4, "{out:?}");
    match &out[1] {
        Err(StoreError::Domain(e)) => assert_eq!(e.kind, ErrorKind::Forbidden),
        other => panic!("expected forbidden, got {other:?}"),
    }
    let seqs_out: Vec<(i64, bool)> = ok.iter().map(|a| (a.message.seq, a.duplicate)).collect();
    assert_eq!(seqs_out, [(1, false), (2, false), (1, true), (3, false)]);
    assert!(ok[0].pos < ok[1].pos && ok[1].pos < ok[3].pos);
    assert_eq!(texts(s, main.id).await, ["one", "two", "three"]);
    assert!(s.append_messages(Vec::new()).await.is_empty());
}

pub async fn messages_refused(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let carol = signup(s, "carol").await;
    let (main, _) = room(s, &alice, "main", ConversationKind::Channel, &[]).await;
    let msg = |c: ConversationId, u: &User| NewMessage {
        conversation: c,
        sender: u.id,
        text: "x".into(),
        client_id: None,
        ts: 10,
    };
    assert_eq!(
        kind(s.append_message(msg(main.id, &carol)).await),
        ErrorKind::Forbidden
    );
    assert_eq!(
        kind(s.append_message(msg(ConversationId(987_654), &alice)).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        s.conversation(main.id)
            .await
            .expect("conv")
            .map(|c| c.last_seq),
        Some(0)
    );
    send(s, main.id, &alice, "before").await;
    s.destroy_room(main.id, alice.id, 20)
        .await
        .expect("destroy");
    assert_eq!(
        kind(s.append_message(msg(main.id, &alice)).await),
        ErrorKind::NotFound
    );
}

pub async fn history_windows(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let (main, _) = room(s, &alice, "main", ConversationKind::Channel, &[]).await;
    let (other, _) = room(s, &alice, "other", ConversationKind::Channel, &[]).await;
    for i in 1..=10 {
        send(s, main.id, &alice, &format!("m{i}")).await;
        send(s, other.id, &alice, "elsewhere").await;
    }
    let c = main.id;
    assert_eq!(
        seqs(s, window(c, None, None, 3)).await,
        [8, 9, 10],
        "newest page"
    );
    assert_eq!(seqs(s, window(c, Some(8), None, 3)).await, [5, 6, 7]);
    assert_eq!(seqs(s, window(c, Some(3), None, 5)).await, [1, 2]);
    assert_eq!(
        seqs(s, window(c, Some(1), None, 5)).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        seqs(s, window(c, None, Some(0), 4)).await,
        [1, 2, 3, 4],
        "oldest after"
    );
    assert_eq!(seqs(s, window(c, None, Some(8), 5)).await, [9, 10]);
    assert_eq!(
        seqs(s, window(c, None, Some(10), 5)).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        seqs(s, window(c, None, None, 100)).await,
        (1..=10).collect::<Vec<_>>()
    );
    let page = s
        .history(window(c, Some(5), None, 1))
        .await
        .expect("history");
    assert_eq!(page.len(), 1);
    assert_eq!(
        (page[0].text.as_str(), page[0].sender_handle.as_str()),
        ("m4", "alice")
    );
    assert_eq!(page[0].sender, alice.id);
}

pub async fn mark_read_forward_only(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let carol = signup(s, "carol").await;
    let (main, _) = room(s, &alice, "main", ConversationKind::Channel, &[&bob]).await;
    for i in 1..=5 {
        send(s, main.id, &alice, &format!("m{i}")).await;
    }
    let moved = s
        .mark_read(main.id, bob.id, 3, 20)
        .await
        .expect("read")
        .expect("moved");
    assert_eq!(
        moved.body,
        EventBody::Read {
            conversation: main.id,
            user: bob.id,
            handle: "bob".into(),
            seq: 3
        }
    );
    assert!(moved.pos.is_some());
    assert_eq!(moved.ts, 20);
    assert_eq!(
        s.mark_read(main.id, bob.id, 2, 21).await.expect("read"),
        None,
        "never back"
    );
    assert_eq!(
        s.mark_read(main.id, bob.id, 3, 21).await.expect("read"),
        None,
        "not moved"
    );
    let clamped = s
        .mark_read(main.id, bob.id, 99, 22)
        .await
        .expect("read")
        .expect("moved");
    assert_eq!(
        tag(&clamped),
        format!("read:{}:5", bob.id),
        "clamped to the newest message"
    );
    assert_eq!(
        s.mark_read(main.id, bob.id, 6, 23).await.expect("read"),
        None
    );
    assert!(
        s.mark_read(main.id, carol.id, 1, 24).await.is_err(),
        "not a member"
    );
    let replay = since(s, &bob, 0).await;
    let reads: Vec<&String> = replay.iter().filter(|t| t.starts_with("read:")).collect();
    assert_eq!(
        reads,
        [&format!("read:{}:3", bob.id), &format!("read:{}:5", bob.id)],
        "read events are replayed"
    );
}

pub async fn dialogs_order_and_unread(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let carol = signup(s, "carol").await;
    let (r1, _) = room(s, &alice, "r1", ConversationKind::Channel, &[&bob]).await;
    let (quiet, _) = room(s, &alice, "quiet", ConversationKind::Group, &[]).await;
    let (gone, _) = room(s, &alice, "gone", ConversationKind::Group, &[]).await;
    s.destroy_room(gone.id, alice.id, 3).await.expect("destroy");
    let dm = s
        .direct_conversation(alice.id, carol.id, 2)
        .await
        .expect("dm");
    send_at(s, r1.id, &bob, "hi from bob", 10).await;
    send_at(s, dm.id, &carol, "hi from carol", 20).await;

    let list = s.dialogs(alice.id).await.expect("dialogs");
    let order: Vec<ConversationId> = list.iter().map(|d| d.conversation.id).collect();
    assert_eq!(
        order,
        [dm.id, r1.id, quiet.id],
        "most recent activity first, live only"
    );
    assert_eq!(list[0].peer.as_ref().map(|p| p.id), Some(carol.id));
    assert_eq!(list[0].unread, 1);
    assert_eq!(list[0].last_activity, 20);
    assert_eq!(
        list[0].last_message.as_ref().map(|m| m.text.as_str()),
        Some("hi from carol")
    );
    assert_eq!(list[1].peer, None);
    assert_eq!((list[1].unread, list[1].last_read_seq), (1, 0));
    assert_eq!(
        (
            list[2].last_message.clone(),
            list[2].unread,
            list[2].last_activity
        ),
        (None, 0, 2)
    );

    send_at(s, r1.id, &alice, "mine", 30).await;
    let list = s.dialogs(alice.id).await.expect("dialogs");
    assert_eq!(list[0].conversation.id, r1.id, "new activity moves it up");
    assert_eq!(
        (list[0].unread, list[0].last_read_seq),
        (0, 2),
        "own message marks read"
    );
    assert_eq!(list[0].conversation.last_seq, 2);
    let last = list[0].last_message.clone().expect("last message");
    assert_eq!(
        (last.seq, last.sender_handle.as_str(), last.text.as_str()),
        (2, "alice", "mine")
    );

    send_at(s, r1.id, &bob, "b3", 40).await;
    send_at(s, r1.id, &bob, "b4", 41).await;
    let unread = |l: &[crate::Dialog], c: ConversationId| {
        l.iter().find(|d| d.conversation.id == c).map(|d| d.unread)
    };
    assert_eq!(
        unread(&s.dialogs(alice.id).await.expect("dialogs"), r1.id),
        Some(2)
    );
    s.mark_read(r1.id, alice.id, 3, 50).await.expect("read");
    assert_eq!(
        unread(&s.dialogs(alice.id).await.expect("dialogs"), r1.id),
        Some(1)
    );
    let bobs = s.dialogs(bob.id).await.expect("dialogs");
    assert_eq!(bobs.len(), 1);
    assert_eq!(
        bobs[0].unread, 0,
        "sending b4 marked everything up to it read"
    );
}

// --- concurrency -----------------------------------------------------------------------------

/// 8 senders, 50 messages each, all at once: seqs are exactly 1..=400 and `pos` follows `seq`.
pub async fn concurrent_appends_gap_free(store: Arc<dyn Store>) {
    const TASKS: usize = 8;
    const EACH: usize = 50;
    let s = store.as_ref();
    let owner = signup(s, "owner").await;
    let mut senders = Vec::new();
    for i in 0..TASKS {
        senders.push(signup(s, &format!("sender{i}")).await);
    }
    let refs: Vec<&User> = senders.iter().collect();
    let (c, _) = room(s, &owner, "busy", ConversationKind::Channel, &refs).await;
    let mut tasks = Vec::new();
    for sender in senders {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(EACH);
            for n in 0..EACH {
                mine.push(
                    send(
                        store.as_ref(),
                        c.id,
                        &sender,
                        &format!("{} {n}", sender.handle),
                    )
                    .await,
                );
            }
            mine
        }));
    }
    let mut all: Vec<Appended> = Vec::new();
    for task in tasks {
        let mine = task.await.expect("sender task");
        assert!(
            mine.windows(2).all(|w| w[0].message.seq < w[1].message.seq),
            "one sender's messages keep their order"
        );
        all.extend(mine);
    }
    all.sort_by_key(|a| a.message.seq);
    let total = (TASKS * EACH) as i64;
    assert_eq!(
        all.iter().map(|a| a.message.seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    assert!(
        all.windows(2).all(|w| w[0].pos < w[1].pos),
        "pos strictly increases with seq"
    );
    assert_eq!(
        s.conversation(c.id)
            .await
            .expect("conv")
            .map(|c| c.last_seq),
        Some(total)
    );
    assert_eq!(
        seqs(s, window(c.id, None, None, 1000)).await,
        (1..=total).collect::<Vec<_>>()
    );
}
