//! Conformance checks: rooms, membership, listings and direct conversations.

use super::*;

pub async fn rooms_create_conflict_destroy_reuse(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let (main, events) = room(
        s,
        &alice,
        "main",
        ConversationKind::Channel,
        &[&bob, &alice],
    )
    .await;
    assert_eq!(main.kind, ConversationKind::Channel);
    assert_eq!(main.name.as_deref(), Some("main"));
    assert_eq!(main.owner, Some(alice.id));
    assert_eq!(main.last_seq, 0);
    assert_eq!(tags(&events), ["created:main", "joined:bob"]);
    assert_ascending(&events);
    assert_eq!(
        events[0].body,
        EventBody::RoomCreated { room: main.clone() }
    );
    assert_eq!(s.head().await.expect("head"), events[1].pos.expect("pos"));
    assert!(s.is_member(main.id, alice.id).await.expect("member"));
    assert!(s.is_member(main.id, bob.id).await.expect("member"));

    let taken = s
        .create_room(NewRoom {
            name: "main".into(),
            kind: ConversationKind::Group,
            topic: None,
            owner: bob.id,
            members: vec![],
            ts: 3,
        })
        .await;
    assert_eq!(kind(taken), ErrorKind::Conflict);
    assert_eq!(
        s.room_by_name("main").await.expect("by name"),
        Some(main.clone())
    );
    assert_eq!(
        s.conversation(main.id).await.expect("conversation"),
        Some(main.clone())
    );

    let destroyed = s.destroy_room(main.id, alice.id, 5).await.expect("destroy");
    let expected = EventBody::RoomDestroyed {
        conversation: main.id,
        name: Some("main".into()),
        by: alice.id,
    };
    assert_eq!(destroyed.body, expected);
    assert!(destroyed.pos > events[1].pos);
    assert_eq!(s.conversation(main.id).await.expect("conversation"), None);
    assert_eq!(s.room_by_name("main").await.expect("by name"), None);
    assert!(!s.is_member(main.id, bob.id).await.expect("member"));
    assert_eq!(
        kind(s.destroy_room(main.id, alice.id, 6).await),
        ErrorKind::NotFound
    );

    let (reborn, _) = room(s, &bob, "main", ConversationKind::Channel, &[]).await;
    assert_ne!(reborn.id, main.id, "a destroyed room's name can be reused");
    assert_eq!(s.conversation_ids(bob.id).await.expect("ids"), [reborn.id]);
    assert!(s.conversation_ids(alice.id).await.expect("ids").is_empty());
}

pub async fn rooms_unknown_member(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let head = s.head().await.expect("head");
    let r = s
        .create_room(NewRoom {
            name: "main".into(),
            kind: ConversationKind::Group,
            topic: Some("t".into()),
            owner: alice.id,
            members: vec![UserId(987_654_321)],
            ts: 2,
        })
        .await;
    assert_eq!(kind(r), ErrorKind::NotFound);
    assert_eq!(
        s.room_by_name("main").await.expect("by name"),
        None,
        "nothing was created"
    );
    assert_eq!(s.head().await.expect("head"), head, "nothing was recorded");
}

pub async fn membership_join_leave(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let carol = signup(s, "carol").await;
    let (team, _) = room(s, &alice, "team", ConversationKind::Group, &[]).await;

    let joined = s
        .add_members(team.id, &[bob.id, carol.id, bob.id, alice.id], 3)
        .await
        .expect("add");
    assert_eq!(
        tags(&joined),
        ["joined:bob", "joined:carol"],
        "existing members and repeats skipped"
    );
    assert_eq!(
        joined[0].body,
        EventBody::MemberJoined {
            conversation: team.id,
            user: bob.id,
            handle: "bob".into()
        }
    );
    assert!(
        s.add_members(team.id, &[bob.id], 4)
            .await
            .expect("add")
            .is_empty()
    );
    let members: Vec<String> = s
        .members(team.id)
        .await
        .expect("members")
        .into_iter()
        .map(|u| u.handle)
        .collect();
    assert_eq!(members, ["alice", "bob", "carol"]);
    let team_size = |heads: Vec<Head>| {
        heads
            .iter()
            .find(|h| h.conversation == team.id)
            .map(|h| h.members)
    };
    assert_eq!(
        team_size(s.conversation_heads(carol.id).await.expect("heads")),
        Some(3),
        "a head counts the members"
    );

    let left = s
        .remove_member(team.id, bob.id, 5)
        .await
        .expect("remove")
        .expect("was a member");
    assert_eq!(
        left.body,
        EventBody::MemberLeft {
            conversation: team.id,
            user: bob.id,
            handle: "bob".into()
        }
    );
    assert!(left.pos.is_some());
    assert_eq!(
        s.remove_member(team.id, bob.id, 6).await.expect("remove"),
        None
    );
    assert!(!s.is_member(team.id, bob.id).await.expect("member"));
    assert!(s.is_member(team.id, carol.id).await.expect("member"));
    assert_eq!(
        team_size(s.conversation_heads(alice.id).await.expect("heads")),
        Some(2),
        "a leave is counted once, a repeated leave not at all"
    );
    assert_eq!(
        kind(s.add_members(ConversationId(987_654), &[bob.id], 7).await),
        ErrorKind::NotFound
    );
}

pub async fn room_listings(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let carol = signup(s, "carol").await;
    let (alpha, _) = room(s, &alice, "alpha", ConversationKind::Channel, &[&bob]).await;
    let (beta, _) = room(s, &alice, "beta", ConversationKind::Group, &[]).await;
    let (gamma, _) = room(s, &carol, "gamma", ConversationKind::Channel, &[]).await;
    let (gone, _) = room(s, &carol, "aaa-gone", ConversationKind::Channel, &[&bob]).await;
    s.destroy_room(gone.id, carol.id, 3).await.expect("destroy");

    let view = |l: Vec<crate::RoomListing>| -> Vec<(String, i64, bool)> {
        l.into_iter()
            .map(|r| (r.room.name.unwrap_or_default(), r.member_count, r.joined))
            .collect()
    };
    let bobs = view(s.list_rooms(bob.id).await.expect("list"));
    assert_eq!(
        bobs,
        [("alpha".into(), 2, true), ("gamma".into(), 1, false)]
    );
    let alices = view(s.list_rooms(alice.id).await.expect("list"));
    assert_eq!(
        alices,
        [
            ("alpha".into(), 2, true),
            ("beta".into(), 1, true),
            ("gamma".into(), 1, false)
        ]
    );
    assert_eq!(s.conversation_ids(bob.id).await.expect("ids"), [alpha.id]);
    let mut ids = s.conversation_ids(alice.id).await.expect("ids");
    ids.sort();
    assert_eq!(ids, [alpha.id, beta.id]);
    assert_eq!(
        s.room_by_name("gamma")
            .await
            .expect("by name")
            .map(|c| c.id),
        Some(gamma.id)
    );
}

pub async fn direct_get_or_create(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let dm = s
        .direct_conversation(alice.id, bob.id, 5)
        .await
        .expect("dm");
    assert_eq!(dm.kind, ConversationKind::Dm);
    assert_eq!((dm.name.clone(), dm.owner), (None, None));
    assert_eq!(
        s.direct_conversation(bob.id, alice.id, 6)
            .await
            .expect("dm"),
        dm,
        "same both ways"
    );
    assert!(s.is_member(dm.id, alice.id).await.expect("member"));
    assert!(s.is_member(dm.id, bob.id).await.expect("member"));
    assert_eq!(
        kind(s.direct_conversation(alice.id, alice.id, 7).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(s.direct_conversation(alice.id, UserId(987_654), 7).await),
        ErrorKind::NotFound
    );

    send(s, dm.id, &alice, "one").await;
    send(s, dm.id, &bob, "two").await;
    assert_eq!(
        s.conversation_heads(bob.id).await.expect("heads"),
        [Head {
            conversation: dm.id,
            last_seq: 2,
            members: 2
        }]
    );
    assert_eq!(
        s.conversation(dm.id)
            .await
            .expect("conversation")
            .map(|c| c.last_seq),
        Some(2)
    );
}
