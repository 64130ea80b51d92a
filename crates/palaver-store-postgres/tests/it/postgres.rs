//! PostgreSQL specifics: several nodes on one database, positions visible in commit order,
//! concurrent retries, temporary databases and an unreachable server.

use palaver_core::ConversationKind;
use palaver_store::testkit::{room, send, signup};
use palaver_store::{NewMessage, Store, StoreError};
use palaver_store_postgres::{PgOptions, PgStore};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

async fn temporary(url: &str) -> PgStore {
    PgStore::connect_temporary(url, PgOptions::default())
        .await
        .unwrap()
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority..].find('/') {
        Some(i) => &base[..authority + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_database() {
    let Some(url) = crate::env::postgres_url() else {
        return;
    };
    let first = temporary(&url).await;
    let db = first.temporary_database().unwrap().to_owned();
    let second = PgStore::connect(&with_database(&url, &db), PgOptions::default())
        .await
        .unwrap();
    let (a, b): (&dyn Store, &dyn Store) = (&first, &second);
    assert_eq!(a.epoch().await.unwrap(), b.epoch().await.unwrap());

    let alice = signup(a, "alice").await;
    let bob = signup(b, "bob").await;
    let (c, _) = room(a, &alice, "main", ConversationKind::Channel, &[&bob]).await;
    let one = send(b, c.id, &bob, "one").await;
    let two = send(a, c.id, &alice, "two").await;
    assert_eq!((one.message.seq, two.message.seq), (1, 2));
    assert_eq!(b.head().await.unwrap(), two.pos);
    assert_eq!(b.secret("jwt", b"k1".to_vec()).await.unwrap(), b"k1");
    assert_eq!(a.secret("jwt", b"k2".to_vec()).await.unwrap(), b"k1");

    // Both nodes append to one conversation at once: still gap-free.
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) = (Arc::new(first), Arc::new(second));
    let mut tasks = Vec::new();
    for (node, who) in [(a.clone(), alice.clone()), (b.clone(), bob.clone())] {
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                send(node.as_ref(), c.id, &who, &format!("m{i}")).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let conv = b.conversation(c.id).await.unwrap().unwrap();
    assert_eq!(conv.last_seq, 82);
    let events = a.events_since(alice.id, 0, 1000).await.unwrap();
    let positions: Vec<i64> = events.iter().map(|e| e.pos.unwrap()).collect();
    let head = a.head().await.unwrap();
    assert_eq!(
        positions,
        (1..=head).collect::<Vec<_>>(),
        "no gaps, no dups"
    );
    // The second node goes first, so the temporary database is dropped last.
    drop(b);
}

/// Writers on many conversations at once, and a reader checking all along that whenever it can
/// see the head, it can see every position below it (what sync tokens rely on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_become_visible_in_order() {
    const WRITERS: usize = 6;
    const EACH: usize = 40;
    let Some(url) = crate::env::postgres_url() else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(temporary(&url).await);
    let s = store.as_ref();
    let watcher = signup(s, "watcher").await;
    let mut rooms = Vec::new();
    for i in 0..WRITERS {
        let writer = signup(s, &format!("writer{i}")).await;
        let (c, _) = room(
            s,
            &writer,
            &format!("r{i}"),
            ConversationKind::Group,
            &[&watcher],
        )
        .await;
        rooms.push((writer, c));
    }
    let done = Arc::new(AtomicBool::new(false));
    let checker = {
        let (store, done, watcher) = (store.clone(), done.clone(), watcher.clone());
        tokio::spawn(async move {
            let mut checks = 0;
            while !done.load(Ordering::Acquire) || checks == 0 {
                let head = store.head().await.unwrap();
                let seen: BTreeSet<i64> = store
                    .events_since(watcher.id, 0, 100_000)
                    .await
                    .unwrap()
                    .iter()
                    .filter_map(|e| e.pos)
                    .filter(|&p| p <= head)
                    .collect();
                assert_eq!(
                    seen,
                    (1..=head).collect::<BTreeSet<_>>(),
                    "head {head} is visible, so everything below it must be"
                );
                checks += 1;
            }
            checks
        })
    };
    let mut writers = Vec::new();
    for (writer, c) in rooms {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..EACH {
                send(store.as_ref(), c.id, &writer, &format!("{n}")).await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::Release);
    let checks = checker.await.unwrap();
    assert!(checks > 0);
    let total = store
        .count_events_since(watcher.id, 0, 10_000)
        .await
        .unwrap();
    assert_eq!(i64::from(total), store.head().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_store_one_message() {
    let Some(url) = crate::env::postgres_url() else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(temporary(&url).await);
    let alice = signup(store.as_ref(), "alice").await;
    let (c, _) = room(
        store.as_ref(),
        &alice,
        "main",
        ConversationKind::Channel,
        &[],
    )
    .await;
    let head = store.head().await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let message = NewMessage {
                    conversation: c.id,
                    sender: alice.id,
                    text: format!("attempt {i}"),
                    client_id: Some("same".into()),
                    ts: 10,
                };
                store.append_message(message).await.unwrap()
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(results.iter().filter(|a| !a.duplicate).count(), 1);
    assert!(results.iter().all(|a| a.message == results[0].message));
    assert_eq!(store.head().await.unwrap(), head + 1);
    let conv = store.conversation(c.id).await.unwrap().unwrap();
    assert_eq!(conv.last_seq, 1, "no seq was lost to a retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_database_is_dropped() {
    let Some(url) = crate::env::postgres_url() else {
        return;
    };
    let store = temporary(&url).await;
    let name = store.temporary_database().unwrap().to_owned();
    signup(&store, "alice").await;
    let exists = |url: String, name: String| async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .unwrap()
            .is_some()
    };
    assert!(exists(url.clone(), name.clone()).await);
    drop(store);
    assert!(!exists(url, name).await);
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let options = PgOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(2),
    };
    // Nothing listens on port 1 of the loopback address: the connection is refused.
    let result = PgStore::connect("postgres://postgres@127.0.0.1:1/none", options).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {:?}",
        result.err()
    );
}

/// What a server restart looks like to the pool, without restarting the shared server: every
/// connection to the store's database is terminated. Calls may fail as `Unavailable` (never as
/// a backend failure) until the pool has replaced its connections, then work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_recovers_when_connections_are_killed() {
    let Some(url) = crate::env::postgres_url() else {
        return;
    };
    let store = temporary(&url).await;
    let db = store.temporary_database().unwrap().to_owned();
    let alice = signup(&store, "alice").await;
    // Several pooled connections, all to be killed.
    let reads: Vec<_> = (0..4).map(|_| store.user(alice.id)).collect();
    for r in futures_util::future::join_all(reads).await {
        assert!(r.unwrap().is_some());
    }
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .await
        .unwrap();
    assert!(!killed.is_empty());
    let mut failures = 0;
    loop {
        match store.user(alice.id).await {
            Ok(found) => {
                assert_eq!(found, Some(alice.clone()));
                break;
            }
            Err(StoreError::Unavailable(_)) if failures < 10 => failures += 1,
            Err(e) => panic!("after {failures} retries: {e:?}"),
        }
    }
    // Writes work too.
    let (c, _) = room(&store, &alice, "after", ConversationKind::Channel, &[]).await;
    assert_eq!(send(&store, c.id, &alice, "hi").await.message.seq, 1);
}
