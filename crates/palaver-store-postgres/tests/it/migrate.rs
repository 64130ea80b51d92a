//! Moving a deployment from SQLite to PostgreSQL (`SqliteStore::export` into `PgStore::import`):
//! everything a user of the `Store` trait can observe is the same afterwards, and new writes
//! continue the ids, positions and sequence numbers instead of reusing them.

use palaver_core::{ConversationId, ConversationKind, User};
use palaver_store::testkit::{kind, send_at, signup};
use palaver_store::{
    HistoryQuery, Login, NewMessage, NewRoom, NewSession, NewSessionKey, NewUser, ProfilePatch,
    Store,
};
use palaver_store_postgres::{PgOptions, PgStore};
use palaver_store_sqlite::SqliteStore;

/// Rooms and people of the realistic deployment `populate` builds.
struct World {
    users: Vec<User>,
    conversations: Vec<ConversationId>,
    destroyed: ConversationId,
    general: ConversationId,
    direct: ConversationId,
}

async fn new_room(
    s: &dyn Store,
    owner: &User,
    name: &str,
    kind: ConversationKind,
    members: &[&User],
    ts: i64,
) -> ConversationId {
    let room = NewRoom {
        name: name.into(),
        kind,
        topic: Some(format!("all about {name}")),
        owner: owner.id,
        members: members.iter().map(|u| u.id).collect(),
        ts,
    };
    s.create_room(room).await.unwrap().0.id
}

async fn send_with_id(s: &dyn Store, c: ConversationId, from: &User, text: &str, id: &str) {
    let message = NewMessage {
        conversation: c,
        sender: from.id,
        text: text.into(),
        client_id: Some(id.into()),
        ts: 5_000,
    };
    s.append_message(message).await.unwrap();
}

/// Users, a channel with members, messages and read markers, a group, a destroyed room (and a
/// new room under its name), a DM, sessions, session keys, a profile change and a secret.
async fn populate(s: &dyn Store) -> World {
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let carol = signup(s, "carol").await;
    let dave = s
        .create_user(NewUser {
            handle: "dave".into(),
            display_name: "Dave Ünicode 🎈".into(),
            email: None,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: 1_700_000_000_000,
        })
        .await
        .unwrap();
    s.secret("jwt", b"signing-key-\x00\xff".to_vec())
        .await
        .unwrap();

    let general = new_room(
        s,
        &alice,
        "general",
        ConversationKind::Channel,
        &[&bob],
        100,
    )
    .await;
    s.add_members(general, &[carol.id, dave.id], 110)
        .await
        .unwrap();
    for i in 0..120 {
        let from = [&alice, &bob, &carol][i % 3];
        send_at(s, general, from, &format!("general {i}"), 200 + i as i64).await;
    }
    send_with_id(s, general, &bob, "with a client id", "bob-1").await;
    s.mark_read(general, carol.id, 40, 400).await.unwrap();
    s.mark_read(general, dave.id, 121, 401).await.unwrap();
    s.remove_member(general, dave.id, 402).await.unwrap();

    let team = new_room(s, &bob, "team", ConversationKind::Group, &[&carol], 500).await;
    send_at(s, team, &carol, "group message", 510).await;

    let old = new_room(s, &alice, "old", ConversationKind::Channel, &[&bob], 600).await;
    send_at(s, old, &bob, "soon gone", 610).await;
    s.destroy_room(old, alice.id, 620).await.unwrap();
    let reused = new_room(s, &carol, "old", ConversationKind::Channel, &[], 630).await;

    let direct = s
        .direct_conversation(alice.id, bob.id, 700)
        .await
        .unwrap()
        .id;
    send_at(s, direct, &alice, "hi bob", 710).await;
    send_with_id(s, direct, &bob, "hi alice", "bob-2").await;

    s.update_profile(
        alice.id,
        ProfilePatch {
            display_name: Some("Alice A.".into()),
            avatar_url: Some("https://example.org/a.png".into()),
            status_text: Some("moving house".into()),
        },
        800,
    )
    .await
    .unwrap();
    s.set_password_hash(bob.id, "bob-new-hash".into())
        .await
        .unwrap();
    for (id, user, revoke) in [("s-alice", &alice, false), ("s-bob", &bob, true)] {
        let session = NewSession {
            id: id.into(),
            user: user.id,
            created_at: 900,
            expires_at: i64::MAX / 2,
        };
        s.create_session(session).await.unwrap();
        if revoke {
            s.revoke_session(id, 901).await.unwrap();
        }
    }
    for (hash, revoke) in [("key-live", false), ("key-revoked", true)] {
        let key = NewSessionKey {
            hash: hash.into(),
            user: carol.id,
            conversation: general,
            created_at: 950,
        };
        s.create_session_key(key).await.unwrap();
        if revoke {
            assert!(s.revoke_session_key(hash, 951).await.unwrap());
        }
    }
    let users = vec![s.user(alice.id).await.unwrap().unwrap(), bob, carol, dave];
    World {
        users,
        conversations: vec![general, team, old, reused, direct],
        destroyed: old,
        general,
        direct,
    }
}

/// Everything `user` can observe through the trait, as one comparable text.
async fn view(s: &dyn Store, user: &User, w: &World) -> String {
    let mut out = Vec::new();
    out.push(format!("{:?}", s.user(user.id).await.unwrap()));
    out.push(format!(
        "{:?}",
        s.user_by_handle(&user.handle).await.unwrap()
    ));
    for login in [
        Login::Handle(user.handle.clone()),
        Login::Email(format!("{}@example.org", user.handle)),
    ] {
        let c = s.credentials(&login).await.unwrap();
        out.push(format!("{:?}", c.map(|c| (c.user, c.password_hash))));
    }
    out.push(format!("{:?}", s.dialogs(user.id).await.unwrap()));
    out.push(format!("{:?}", s.list_rooms(user.id).await.unwrap()));
    out.push(format!("{:?}", s.conversation_ids(user.id).await.unwrap()));
    out.push(format!(
        "{:?}",
        s.conversation_heads(user.id).await.unwrap()
    ));
    out.push(format!("{:?}", s.search_users("a", 10).await.unwrap()));
    for since in [0, 50, 130, 1_000] {
        out.push(format!(
            "{:?}",
            s.events_since(user.id, since, 1_000).await.unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.count_events_since(user.id, since, 50).await
        ));
    }
    for &c in &w.conversations {
        out.push(format!("{:?}", s.conversation(c).await.unwrap()));
        out.push(format!("{:?}", s.is_member(c, user.id).await.unwrap()));
        out.push(format!("{:?}", s.members(c).await.unwrap()));
        let q = HistoryQuery {
            conversation: c,
            before_seq: None,
            after_seq: Some(0),
            limit: 1_000,
        };
        out.push(format!("{:?}", s.history(q).await.unwrap()));
    }
    for other in &w.users {
        let found = s.find_direct_conversation(user.id, other.id).await.unwrap();
        out.push(format!("{found:?}"));
    }
    out.join("\n")
}

async fn pg(url: &str) -> PgStore {
    PgStore::connect_temporary(url, PgOptions::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_moves_to_postgres_with_everything_kept() {
    let Some(url) = crate::env::postgres_url() else {
        return;
    };
    let sqlite = SqliteStore::open_temporary().unwrap();
    let w = populate(&sqlite).await;
    let mut target = pg(&url).await;

    let mut export = sqlite.export().unwrap();
    let dump = export.dump().await.unwrap();
    let expected = export.counts().await.unwrap();
    // A small batch, so the events arrive in many pages.
    let copied = target.import(&dump, &mut export, 7).await.unwrap();
    assert_eq!(copied, expected);
    assert_eq!(target.table_counts().await.unwrap(), expected);
    assert_eq!(expected.users, 4);
    assert!(expected.events > 130, "{expected:?}");

    let (a, b): (&dyn Store, &dyn Store) = (&sqlite, &target);
    assert_eq!(b.epoch().await.unwrap(), a.epoch().await.unwrap());
    assert_eq!(b.head().await.unwrap(), a.head().await.unwrap());
    assert_eq!(b.head().await.unwrap(), expected.head);
    assert_eq!(
        b.secret("jwt", b"another".to_vec()).await.unwrap(),
        b"signing-key-\x00\xff"
    );
    for user in &w.users {
        assert_eq!(view(b, user, &w).await, view(a, user, &w).await, "{user:?}");
    }
    // The views compared above are not trivially empty.
    let carol_dialogs = b.dialogs(w.users[2].id).await.unwrap();
    let in_general = carol_dialogs
        .iter()
        .find(|d| d.conversation.id == w.general);
    let in_general = in_general.unwrap();
    assert_eq!((in_general.last_read_seq, in_general.unread), (120, 1));
    let alice_events = b.events_since(w.users[0].id, 0, 1_000).await.unwrap();
    assert!(alice_events.len() > 120, "{}", alice_events.len());
    let bob = Login::Handle("bob".into());
    let bob_hash = b.credentials(&bob).await.unwrap().unwrap().password_hash;
    assert_eq!(bob_hash, "bob-new-hash");
    assert!(b.session_active("s-alice", 1_000).await.unwrap());
    assert!(!b.session_active("s-bob", 1_000).await.unwrap());
    let carol = w.users[2].id;
    assert_eq!(
        b.session_key("key-live").await.unwrap(),
        Some((carol, w.general))
    );
    assert_eq!(b.session_key("key-revoked").await.unwrap(), None);
    assert_eq!(b.conversation(w.destroyed).await.unwrap(), None);
    let reused = b.room_by_name("old").await.unwrap().unwrap();
    assert_eq!(reused.owner, Some(carol));

    // New writes continue after the imported ones.
    let head = b.head().await.unwrap();
    let general = b.conversation(w.general).await.unwrap().unwrap();
    let alice = &w.users[0];
    let next = send_at(b, w.general, alice, "after the move", 2_000).await;
    assert_eq!(next.message.seq, general.last_seq + 1);
    assert_eq!((next.pos, next.message.id.0), (head + 1, head + 1));
    let again = NewMessage {
        conversation: w.direct,
        sender: w.users[1].id,
        text: "retry".into(),
        client_id: Some("bob-2".into()),
        ts: 2_001,
    };
    let again = b.append_message(again).await.unwrap();
    assert!(again.duplicate, "client ids are kept");
    assert_eq!(again.message.text, "hi alice");
    let erin = signup(b, "erin").await;
    let max_user = w.users.iter().map(|u| u.id.0).max().unwrap();
    assert_eq!(erin.id.0, max_user + 1);
    let max_conv = w.conversations.iter().map(|c| c.0).max().unwrap();
    let fresh = new_room(b, &erin, "fresh", ConversationKind::Channel, &[], 2_002).await;
    assert_eq!(fresh.0, max_conv + 1);
    let dm = b
        .direct_conversation(erin.id, alice.id, 2_003)
        .await
        .unwrap();
    assert_eq!(dm.id.0, max_conv + 2);
    let events = b.events_since(erin.id, head, 100).await.unwrap();
    assert!(
        events.iter().all(|e| e.pos.unwrap() > head + 1),
        "{events:?}"
    );
    assert!(b.head().await.unwrap() > head + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_a_database_that_is_not_empty() {
    let Some(url) = crate::env::postgres_url() else {
        return;
    };
    let sqlite = SqliteStore::open_temporary().unwrap();
    populate(&sqlite).await;
    let mut target = pg(&url).await;
    signup(&target, "zed").await;
    let before = target.table_counts().await.unwrap();

    let mut export = sqlite.export().unwrap();
    let dump = export.dump().await.unwrap();
    let refused = target.import(&dump, &mut export, 100).await;
    assert_eq!(kind(refused), palaver_core::ErrorKind::Conflict);
    assert_eq!(target.table_counts().await.unwrap(), before);
    let zed = Login::Handle("zed".into());
    assert!(target.credentials(&zed).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_keeps_nothing() {
    let Some(url) = crate::env::postgres_url() else {
        return;
    };
    let sqlite = SqliteStore::open_temporary().unwrap();
    populate(&sqlite).await;
    let mut target = pg(&url).await;
    let epoch = target.epoch().await.unwrap();
    let empty = target.table_counts().await.unwrap();

    let mut export = sqlite.export().unwrap();
    let mut dump = export.dump().await.unwrap();
    // An event whose actor is missing fails its foreign key, after every table went in.
    dump.users.retain(|u| u.handle != "carol");
    dump.members.retain(|m| m.user_id != 3);
    dump.member_spans.retain(|m| m.user_id != 3);
    dump.session_keys.clear();
    dump.conversations.iter_mut().for_each(|c| {
        if c.owner_id == Some(3) {
            c.owner_id = None;
        }
    });
    let failed = target.import(&dump, &mut export, 50).await.unwrap_err();
    assert!(
        failed.to_string().contains("events_actor_id_fkey"),
        "{failed}"
    );
    assert_eq!(target.table_counts().await.unwrap(), empty);
    assert_eq!(target.epoch().await.unwrap(), epoch);

    // And the same database takes a good copy afterwards.
    let mut export = sqlite.export().unwrap();
    let dump = export.dump().await.unwrap();
    let copied = target.import(&dump, &mut export, 50).await.unwrap();
    assert_eq!(copied, export.counts().await.unwrap());
    assert_eq!(target.epoch().await.unwrap(), sqlite.epoch().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_sqlite_store_copies_to_an_empty_database() {
    let Some(url) = crate::env::postgres_url() else {
        return;
    };
    let sqlite = SqliteStore::open_temporary().unwrap();
    let mut target = pg(&url).await;
    let mut export = sqlite.export().unwrap();
    let dump = export.dump().await.unwrap();
    let copied = target.import(&dump, &mut export, 10).await.unwrap();
    assert_eq!((copied.users, copied.events, copied.head), (0, 0, 0));
    assert_eq!(target.epoch().await.unwrap(), sqlite.epoch().await.unwrap());
    assert_eq!(signup(&target, "first").await.id.0, 1);
    let first = signup(&target, "second").await;
    let c = new_room(&target, &first, "one", ConversationKind::Group, &[], 1).await;
    assert_eq!(c.0, 1);
    assert_eq!(target.head().await.unwrap(), 1);
}
