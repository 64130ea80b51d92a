//! Three `palaver serve` processes on one PostgreSQL database and one NATS server, users spread
//! over them: direct messages, rooms, read markers, typing and presence cross nodes exactly as
//! they do on one node. The failure tests (a node killed, NATS and PostgreSQL restarted) are in
//! `cluster_faults.rs`.
//!
//! Needs `PALAVER_TEST_POSTGRES_URL` and `PALAVER_TEST_NATS_URL` (see `env.rs`).

use crate::cluster_harness::Cluster;
use crate::harness::*;
use palaver_client::Client;
use serde_json::{Value, json};

/// Waits for the `message` notification of `conversation` with `seq`.
pub async fn message(client: &mut Client, who: &str, conversation: i64, seq: i64) -> Value {
    client
        .notification_where("message", WAIT, |m| {
            m["conversation"] == conversation && m["seq"] == seq
        })
        .await
        .unwrap_or_else(|e| panic!("{who}: no message {conversation}/{seq}: {e}"))
        .params
}

/// Waits for a notification `method` about `user` in `conversation`.
async fn about(client: &mut Client, who: &str, method: &str, conversation: i64, user: i64) {
    client
        .notification_where(method, WAIT, |p| {
            p["conversation"] == conversation && p["user"] == user
        })
        .await
        .unwrap_or_else(|e| panic!("{who}: no {method} of {user} in {conversation}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_and_rooms_cross_nodes() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let (n0, n1, n2) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let (alice, mut a0) = user(n0, "alice").await;
    let mut a2 = connect(n2, &alice.token).await;
    let (bob, mut b1) = user(n1, "bob").await;
    let (carol, mut c2) = user(n2, "carol").await;

    // A direct message from node 0 reaches bob on node 1 and alice's other connection on
    // node 2; the reply comes back to both of alice's.
    let sent = send(&mut a0, "@bob", "hi bob, from node 0").await;
    let dm = sent["conversation"].as_i64().unwrap();
    for (who, c) in [("bob on n1", &mut b1), ("alice on n2", &mut a2)] {
        let m = message(c, who, dm, 1).await;
        assert_eq!(m["id"], sent["id"], "{who}");
        assert_eq!(m["sender"], alice.id, "{who}");
        assert_eq!(m["text"], "hi bob, from node 0", "{who}");
    }
    let reply = send(&mut b1, "@alice", "hello alice, from node 1").await;
    assert_eq!(
        (reply["conversation"].as_i64(), reply["seq"].as_i64()),
        (Some(dm), Some(2))
    );
    for (who, c) in [("alice on n0", &mut a0), ("alice on n2", &mut a2)] {
        let m = message(c, who, dm, 2).await;
        assert_eq!(m["sender"], bob.id, "{who}");
        assert_eq!(m["text"], "hello alice, from node 1", "{who}");
    }
    expect_no_notification(&mut c2, "message", |_| true).await;

    // A channel made on node 0, joined from nodes 1 and 2: every member hears every join.
    let room = a0
        .call(
            "rooms.create",
            json!({ "name": "lobby", "kind": "channel" }),
        )
        .await
        .unwrap();
    let rid = id_of(&room);
    b1.call("rooms.join", json!({ "room": "#lobby" }))
        .await
        .unwrap();
    about(&mut a0, "alice on n0", "member.joined", rid, bob.id).await;
    about(&mut a2, "alice on n2", "member.joined", rid, bob.id).await;
    c2.call("rooms.join", json!({ "room": rid })).await.unwrap();
    for (who, c) in [("alice on n0", &mut a0), ("bob on n1", &mut b1)] {
        about(c, who, "member.joined", rid, carol.id).await;
    }

    // Messages from each node reach every member's connections on the others, in order.
    let senders: [(&str, &mut Client); 3] = [("a0", &mut a0), ("b1", &mut b1), ("c2", &mut c2)];
    let mut texts = Vec::new();
    for (who, c) in senders {
        let text = format!("lobby message from {who}");
        let r = send(c, "#lobby", &text).await;
        texts.push((r["seq"].as_i64().unwrap(), text));
    }
    assert_eq!(texts.iter().map(|t| t.0).collect::<Vec<_>>(), [1, 2, 3]);
    for (who, c) in [
        ("alice on n0", &mut a0),
        ("alice on n2", &mut a2),
        ("bob on n1", &mut b1),
        ("carol on n2", &mut c2),
    ] {
        for (seq, text) in &texts {
            let m = message(c, who, rid, *seq).await;
            assert_eq!(&m["text"], text, "{who}");
        }
    }

    // Carol leaves on node 2: the others hear it, and she no longer gets the room's messages.
    c2.call("rooms.leave", json!({ "room": "#lobby" }))
        .await
        .unwrap();
    for (who, c) in [("alice on n0", &mut a0), ("bob on n1", &mut b1)] {
        about(c, who, "member.left", rid, carol.id).await;
    }
    about(&mut c2, "carol on n2", "member.left", rid, carol.id).await;
    send(&mut b1, "#lobby", "after carol left").await;
    message(&mut a0, "alice on n0", rid, 4).await;
    message(&mut a2, "alice on n2", rid, 4).await;
    expect_no_notification(&mut c2, "message", |m| m["conversation"] == rid).await;

    // Everything is in one store: history is the same from every node, also once each node
    // keeps the page it served in memory and another node stores a message.
    for last in [4, 5] {
        if last == 5 {
            send(&mut b1, "#lobby", "after the history").await;
        }
        for node in [n0, n1, n2] {
            let mut c = connect(node, &bob.token).await;
            let h = c
                .call("messages.history", json!({ "conversation": rid }))
                .await
                .unwrap();
            let seqs: Vec<i64> = h["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["seq"].as_i64().unwrap())
                .collect();
            assert_eq!(
                seqs,
                (1..=last).collect::<Vec<_>>(),
                "history from {}",
                node.base()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_markers_typing_and_presence_cross_nodes() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let (n0, n1, n2) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let (alice, mut a0) = user(n0, "alice").await;
    let (bob, mut b1) = user(n1, "bob").await;
    let (carol_token, carol) = signup_user(n2, "carol").await;
    let carol_id = carol["id"].as_i64().unwrap();

    // A read marker moved on node 1 reaches the other member on node 0.
    let dm = id_of(&send(&mut a0, "@bob", "one").await["conversation"]);
    send(&mut a0, "@bob", "two").await;
    message(&mut b1, "bob on n1", dm, 2).await;
    let r = b1
        .call("messages.read", json!({ "conversation": dm, "seq": 2 }))
        .await
        .unwrap();
    assert_eq!(r["last_read_seq"], 2, "{r}");
    let n = a0
        .notification_where("read", WAIT, |p| p["user"] == bob.id)
        .await
        .expect("alice hears bob's read marker");
    let p = &n.params;
    assert_eq!(
        (&p["conversation"], &p["seq"]),
        (&json!(dm), &json!(2)),
        "{p}"
    );

    // Typing on node 1 reaches node 0.
    b1.call("typing", json!({ "conversation": dm }))
        .await
        .unwrap();
    let n = a0.notification_named("typing", WAIT).await.unwrap();
    assert_eq!(
        n.params,
        json!({ "conversation": dm, "user": bob.id, "handle": "bob" })
    );

    // Presence: carol (a contact of alice) comes online on node 1, opens a second connection
    // on node 2, closes the first: alice on node 0 hears "online" once and no "offline" until
    // the last connection, on another node than the first, closes.
    send(&mut a0, "@carol", "ping me when you are on").await;
    let is_carol = move |p: &Value| p["user"] == carol_id;
    let c1 = connect(n1, &carol_token).await;
    let n = a0
        .notification_where("presence", WAIT, is_carol)
        .await
        .expect("alice hears carol come online");
    assert_eq!(
        n.params,
        json!({ "user": carol_id, "handle": "carol", "online": true })
    );
    let online = |v: &Value| v[0]["online"].as_bool().unwrap();
    let p = a0
        .call("presence.get", json!({ "users": ["@carol", "@bob"] }))
        .await
        .unwrap();
    assert_eq!(p.as_array().map(Vec::len), Some(2), "{p}");
    assert!(online(&p), "presence.get on n0 sees carol on n1: {p}");
    assert_eq!(p[1]["online"], true, "and bob on n1: {p}");

    let c2 = connect(n2, &carol_token).await;
    expect_no_notification(&mut a0, "presence", is_carol).await;
    c1.close().await.unwrap();
    expect_no_notification(&mut a0, "presence", is_carol).await;
    let p = a0
        .call("presence.get", json!({ "users": [carol_id] }))
        .await
        .unwrap();
    assert!(online(&p), "carol is still connected on n2: {p}");

    c2.close().await.unwrap();
    let n = a0
        .notification_where("presence", WAIT, is_carol)
        .await
        .expect("alice hears carol go offline");
    assert_eq!(n.params["online"], false, "{}", n.params);
    let p = a0
        .call("presence.get", json!({ "users": [carol_id] }))
        .await
        .unwrap();
    assert!(!online(&p), "carol closed both: {p}");
    // Bob, a third node's view: carol is offline there too.
    let p = b1
        .call("presence.get", json!({ "users": [carol_id, alice.id] }))
        .await
        .unwrap();
    assert_eq!(p[0]["online"], false, "{p}");
    assert_eq!(p[1]["online"], true, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_gets_every_message_after_the_join_whatever_order_the_nodes_hear_them() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let (n0, n1, n2) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let (_alice, mut a0) = user(n0, "alice").await;
    let (_bob, mut b1) = user(n1, "bob").await;
    let (_carol, mut c2) = user(n2, "carol").await;
    // Bob joins rooms nobody has written in yet, on a node where he is their only member:
    // that node learns of each room from his join. Then alice (node 0) and carol (node 2)
    // write the first two messages of each at once, so node 1 may hear the second first.
    let mut rooms = Vec::new();
    for i in 0..20 {
        let name = format!("race{i}");
        let room = a0
            .call("rooms.create", json!({ "name": name, "kind": "channel" }))
            .await
            .unwrap();
        c2.call("rooms.join", json!({ "room": id_of(&room) }))
            .await
            .unwrap();
        b1.call("rooms.join", json!({ "room": id_of(&room) }))
            .await
            .unwrap();
        rooms.push(id_of(&room));
    }
    for &rid in &rooms {
        let (x, y) = tokio::join!(
            a0.call("messages.send", json!({ "to": rid, "text": "from alice" })),
            c2.call("messages.send", json!({ "to": rid, "text": "from carol" })),
        );
        x.unwrap();
        y.unwrap();
    }
    for &rid in &rooms {
        for seq in [1, 2] {
            message(&mut b1, "bob on n1", rid, seq).await;
        }
    }
    let late = b1.drain_notifications();
    assert!(
        late.iter().all(|n| n.method != "message"),
        "messages once each: {late:?}"
    );
}
