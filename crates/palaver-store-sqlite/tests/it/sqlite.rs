//! SQLite-specific behaviour: durability across reopen, group commit under load, options.

use palaver_core::{ConversationKind, EventBody};
use palaver_store::testkit::{room, send, signup};
use palaver_store::{HistoryQuery, Store};
use palaver_store_sqlite::{SqliteOptions, SqliteStore, remove_database_files};
use std::path::PathBuf;
use std::sync::Arc;

/// A unique database path that is cleaned up (with its WAL files) when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("palaver-it-{tag}-{}-{nanos}.sqlite3", std::process::id());
        Self(std::env::temp_dir().join(name))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        remove_database_files(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_everything() {
    let path = TempPath::new("reopen");
    let (epoch, conv, alice, head) = {
        let store = SqliteStore::open(&path.0, SqliteOptions::default()).unwrap();
        let s: &dyn Store = &store;
        let alice = signup(s, "alice").await;
        let (c, _) = room(s, &alice, "main", ConversationKind::Channel, &[]).await;
        send(s, c.id, &alice, "one").await;
        send(s, c.id, &alice, "two").await;
        assert_eq!(s.secret("jwt", b"k1".to_vec()).await.unwrap(), b"k1");
        (s.epoch().await.unwrap(), c, alice, s.head().await.unwrap())
    };

    let store = SqliteStore::open(&path.0, SqliteOptions::default()).unwrap();
    let s: &dyn Store = &store;
    assert_eq!(s.epoch().await.unwrap(), epoch, "the epoch survives");
    assert_eq!(s.head().await.unwrap(), head, "head is read back");
    assert_eq!(s.secret("jwt", b"k2".to_vec()).await.unwrap(), b"k1");
    assert_eq!(
        s.user_by_handle("alice").await.unwrap(),
        Some(alice.clone())
    );
    let q = HistoryQuery {
        conversation: conv.id,
        before_seq: None,
        after_seq: None,
        limit: 10,
    };
    let texts: Vec<String> = s
        .history(q)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["one", "two"]);
    let three = send(s, conv.id, &alice, "three").await;
    assert_eq!(three.message.seq, 3, "seq continues");
    assert_eq!(three.pos, head + 1, "pos continues without a gap");
    let replay = s.events_since(alice.id, 0, 100).await.unwrap();
    assert_eq!(replay.len(), 4);
    assert!(matches!(&replay[3].body, EventBody::Message(m) if m.text == "three"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_appends_commit() {
    let path = TempPath::new("burst");
    let options = SqliteOptions {
        synchronous_full: false,
        read_connections: 2,
        max_batch: 64,
        ..SqliteOptions::default()
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path.0, options).unwrap());
    let alice = signup(store.as_ref(), "alice").await;
    let (c, _) = room(
        store.as_ref(),
        &alice,
        "main",
        ConversationKind::Channel,
        &[],
    )
    .await;
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let store = Arc::clone(&store);
            let alice = alice.clone();
            tokio::spawn(async move { send(store.as_ref(), c.id, &alice, &format!("m{i}")).await })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().message.seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=500).collect::<Vec<_>>());
    let head = store.head().await.unwrap();
    assert_eq!(
        store.count_events_since(alice.id, 0, 1000).await.unwrap() as i64,
        head
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_does_not_disturb_its_batch() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_temporary().unwrap());
    let alice = signup(store.as_ref(), "alice").await;
    let bob = signup(store.as_ref(), "bob").await;
    let (c, _) = room(
        store.as_ref(),
        &alice,
        "main",
        ConversationKind::Channel,
        &[],
    )
    .await;
    // Interleave refused appends (bob is not a member) with accepted ones, all at once, so
    // they share batches; the accepted ones still get consecutive seqs and positions.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = Arc::clone(&store);
            let sender = if i % 2 == 0 {
                alice.clone()
            } else {
                bob.clone()
            };
            tokio::spawn(async move {
                let msg = palaver_store::NewMessage {
                    conversation: c.id,
                    sender: sender.id,
                    text: format!("m{i}"),
                    client_id: None,
                    ts: 10,
                };
                store.append_message(msg).await
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(a) => accepted.push((a.message.seq, a.pos)),
            Err(e) => assert_eq!(e.into_core().kind, palaver_core::ErrorKind::Forbidden),
        }
    }
    accepted.sort_unstable();
    assert_eq!(accepted.len(), 50);
    let first_pos = accepted[0].1;
    for (i, (seq, pos)) in accepted.iter().enumerate() {
        assert_eq!(*seq, i as i64 + 1);
        assert_eq!(
            *pos,
            first_pos + i as i64,
            "no position was lost to a refused write"
        );
    }
}

#[tokio::test]
async fn temporary_store_removes_its_files() {
    let store = SqliteStore::open_temporary().unwrap();
    let path = store.path().to_owned();
    let alice = signup(&store, "alice").await;
    assert_eq!(store.user(alice.id).await.unwrap(), Some(alice));
    assert!(path.exists());
    drop(store);
    assert!(!path.exists());
}
