//! What survives a restart, and ordering under concurrent senders.

use crate::harness::*;
use palaver_client::{Client, http};
use serde_json::{Value, json};
use std::collections::HashMap;

fn seqs_of(history: &Value) -> Vec<i64> {
    history["messages"]
        .as_array()
        .expect("{messages}")
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_restart_keeps_accounts_rooms_dialogs_and_history() {
    let mut server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (bob, mut b) = user(&server, "bob").await;
    let channel = a
        .call(
            "rooms.create",
            json!({ "name": "keep", "kind": "channel", "topic": "kept" }),
        )
        .await
        .unwrap();
    let group = a
        .call(
            "rooms.create",
            json!({ "name": "inner", "kind": "group", "members": ["@bob"] }),
        )
        .await
        .unwrap();
    b.call("rooms.join", json!({ "room": "#keep" }))
        .await
        .unwrap();
    for i in 1..=3 {
        send(&mut a, "#keep", &format!("keep {i}")).await;
    }
    send(&mut b, "#inner", "inner 1").await;
    let dm = send(&mut a, "@bob", "dm 1").await["conversation"]
        .as_i64()
        .unwrap();
    send(&mut b, dm, "dm 2").await;
    b.call("messages.read", json!({ "conversation": dm, "seq": 1 }))
        .await
        .unwrap();
    drop((a, b));

    server.restart().await;

    // Old tokens are still valid.
    let mut a = connect(&server, &alice.token).await;
    let mut b = connect(&server, &bob.token).await;
    assert_eq!(a.call("me.get", json!(null)).await.unwrap()["id"], alice.id);
    let r = http::login(server.base(), "bob", PASSWORD).await.unwrap();
    assert_eq!(r.status, 200, "the password still works: {}", r.text);

    let h = b
        .call("messages.history", json!({ "conversation": "#keep" }))
        .await
        .unwrap();
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let mut sorted = texts.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["keep 1", "keep 2", "keep 3"]);

    let rooms = b.call("rooms.list", json!(null)).await.unwrap();
    let find = |name: &str| {
        rooms
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("#{name} lost: {rooms}"))
    };
    let keep = find("keep");
    assert_eq!(keep["id"], channel["id"]);
    assert_eq!(keep["topic"], "kept");
    assert_eq!(keep["joined"], true);
    assert_eq!(keep["member_count"], 2);
    assert_eq!(keep["last_seq"], 3);
    assert_eq!(find("inner")["id"], group["id"]);

    let list = b.call("conversations.list", json!(null)).await.unwrap();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| id_of(&e["conversation"]) == dm)
        .unwrap_or_else(|| panic!("dialog lost: {list}"));
    assert_eq!(entry["last_message"]["text"], "dm 2");
    assert!(
        entry["last_read_seq"].as_i64().unwrap_or(0) >= 1,
        "the read marker was lost: {entry}"
    );

    // Sequence numbers continue where they were.
    assert_eq!(send(&mut a, "#keep", "keep 4").await["seq"], 4);
    assert_eq!(send(&mut a, "@bob", "dm 3").await["seq"], 3);
    assert_eq!(send(&mut a, group["id"].clone(), "inner 2").await["seq"], 2);
    let n = b
        .notification_where("message", WAIT, |p| p["text"] == "keep 4")
        .await
        .unwrap();
    assert_eq!(n.params["seq"], 4);
    let h = b
        .call("messages.history", json!({ "conversation": dm }))
        .await
        .unwrap();
    let mut s = seqs_of(&h);
    s.sort_unstable();
    assert_eq!(s, [1, 2, 3]);
}

const SENDERS: usize = 10;
const PER_SENDER: usize = 30;
const TOTAL: i64 = (SENDERS * PER_SENDER) as i64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_get_gap_free_ordered_seqs() {
    let server = Server::start().await;
    let (_owner, mut observer) = user(&server, "observer").await;
    observer
        .call("rooms.create", json!({ "name": "busy", "kind": "channel" }))
        .await
        .unwrap();

    let mut senders: Vec<(i64, Client)> = Vec::new();
    for i in 0..SENDERS {
        let (u, mut c) = user(&server, &format!("sender{i}")).await;
        c.call("rooms.join", json!({ "room": "#busy" }))
            .await
            .unwrap();
        senders.push((u.id, c));
    }
    // Forget the join notifications; only messages count below.
    let _ = observer.drain_notifications();

    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, (id, mut c))| {
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for j in 0..PER_SENDER {
                    let r = c
                        .call(
                            "messages.send",
                            json!({ "to": "#busy", "text": format!("{i}:{j}") }),
                        )
                        .await
                        .unwrap_or_else(|e| panic!("sender {i} message {j}: {e}"));
                    seqs.push(r["seq"].as_i64().unwrap());
                }
                (id, seqs, c)
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("sender task"));
    }

    for (id, seqs, _) in &results {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "sender {id}'s own messages are not in send order: {seqs:?}"
        );
    }
    let mut all: Vec<i64> = results.iter().flat_map(|(_, s, _)| s.clone()).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=TOTAL).collect::<Vec<_>>(),
        "send results: gaps or duplicates"
    );

    // The observer got every message exactly once, in seq order.
    let mut seen = Vec::new();
    while seen.len() < TOTAL as usize {
        let n = observer
            .notification_named("message", WAIT)
            .await
            .unwrap_or_else(|e| panic!("after {} of {TOTAL} messages: {e}", seen.len()));
        seen.push(n.params["seq"].as_i64().unwrap());
    }
    assert_eq!(
        seen,
        (1..=TOTAL).collect::<Vec<_>>(),
        "notifications out of order or repeated"
    );
    expect_no_notification(&mut observer, "message", |_| true).await;

    // A sender got them all too (its own included).
    let (_, _, mut sender) = results.pop().unwrap();
    let mut got: Vec<i64> = Vec::new();
    while got.len() < TOTAL as usize {
        let n = sender
            .notification_named("message", WAIT)
            .await
            .unwrap_or_else(|e| panic!("sender saw {} of {TOTAL}: {e}", got.len()));
        got.push(n.params["seq"].as_i64().unwrap());
    }
    assert_eq!(got, (1..=TOTAL).collect::<Vec<_>>());

    // History agrees: seq 1..=300, no gaps or duplicates, each text once.
    let mut history: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let page = observer
            .call(
                "messages.history",
                json!({ "conversation": "#busy", "after_seq": after, "limit": 200 }),
            )
            .await
            .unwrap();
        let msgs = page["messages"].as_array().unwrap().clone();
        if msgs.is_empty() {
            break;
        }
        after = msgs
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .max()
            .unwrap();
        history.extend(msgs);
        if page["has_more"] == false {
            break;
        }
    }
    let mut seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=TOTAL).collect::<Vec<_>>(),
        "history has gaps or duplicates"
    );
    let mut texts: HashMap<String, usize> = HashMap::new();
    for m in &history {
        *texts
            .entry(m["text"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(texts.len(), TOTAL as usize);
    assert!(texts.values().all(|&n| n == 1));
}
