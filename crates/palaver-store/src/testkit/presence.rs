//! Conformance checks: presence across nodes (leases renewed by each node, users online while
//! any live node holds them, a lapsed node reaped exactly once).

use super::*;

fn ids(mut users: Vec<UserId>) -> Vec<UserId> {
    users.sort();
    users
}

pub async fn presence_leases(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let carol = signup(s, "carol").await;
    let all = [alice.id, bob.id, carol.id];

    s.renew_lease("n1", 1_000).await.expect("lease n1");
    s.renew_lease("n2", 1_000).await.expect("lease n2");
    s.set_presence("n1", alice.id, true)
        .await
        .expect("alice on n1");
    s.set_presence("n1", bob.id, true).await.expect("bob on n1");
    s.set_presence("n2", bob.id, true)
        .await
        .expect("bob on n2 too");
    s.set_presence("n2", bob.id, true)
        .await
        .expect("idempotent");
    assert_eq!(
        ids(s.online_users(&all, 500).await.expect("online")),
        vec![alice.id, bob.id]
    );

    // Leaving one node keeps a user online if another holds them.
    s.set_presence("n1", bob.id, false)
        .await
        .expect("bob leaves n1");
    assert_eq!(
        ids(s.online_users(&all, 500).await.expect("online")),
        vec![alice.id, bob.id]
    );
    s.set_presence("n1", bob.id, false)
        .await
        .expect("leaving twice is harmless");

    // n1 keeps renewing, n2 lapses: bob goes offline with it, reaped once.
    s.renew_lease("n1", 3_000).await.expect("renew n1");
    assert_eq!(
        ids(s.online_users(&all, 2_000).await.expect("online")),
        vec![alice.id],
        "a lapsed lease hides its users even before it is reaped"
    );
    assert_eq!(
        s.reap_expired_nodes(2_000).await.expect("reap"),
        vec![bob.id]
    );
    assert!(
        s.reap_expired_nodes(2_000)
            .await
            .expect("reap again")
            .is_empty(),
        "exactly once"
    );

    // A user on a dead node and a live one is not reported offline.
    s.renew_lease("n3", 2_500).await.expect("lease n3");
    s.set_presence("n3", alice.id, true)
        .await
        .expect("alice on n3");
    s.set_presence("n3", carol.id, true)
        .await
        .expect("carol on n3");
    assert_eq!(
        ids(s.reap_expired_nodes(2_600).await.expect("reap n3")),
        vec![carol.id]
    );
    assert_eq!(
        ids(s.online_users(&all, 2_600).await.expect("online")),
        vec![alice.id]
    );

    // A reaped node that comes back starts clean.
    s.renew_lease("n2", 9_000).await.expect("n2 returns");
    assert_eq!(
        ids(s.online_users(&all, 2_600).await.expect("online")),
        vec![alice.id]
    );
}

pub async fn presence_reaping_is_exactly_once_under_concurrency(store: Arc<dyn Store>) {
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(signup(store.as_ref(), &format!("u{i:02}")).await);
    }
    store.renew_lease("dead", 100).await.expect("lease");
    for u in &users {
        store
            .set_presence("dead", u.id, true)
            .await
            .expect("online");
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = store.clone();
        tasks.push(tokio::spawn(
            async move { s.reap_expired_nodes(1_000).await },
        ));
    }
    let mut reaped = Vec::new();
    for t in tasks {
        reaped.extend(t.await.expect("task").expect("reap"));
    }
    let want: Vec<UserId> = users.iter().map(|u| u.id).collect();
    assert_eq!(
        ids(reaped),
        ids(want),
        "every user once, across concurrent reapers"
    );
}
