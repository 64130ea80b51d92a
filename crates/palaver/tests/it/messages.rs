//! Sending messages to rooms, handles and conversation ids; fan-out; idempotency; history.

use crate::harness::*;
use palaver_client::Client;
use serde_json::{Value, json};

fn seqs(history: &Value) -> Vec<i64> {
    let mut s: Vec<i64> = history["messages"]
        .as_array()
        .expect("{messages: [...]}")
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    // The protocol does not fix the order within a page; the set is what counts here.
    s.sort_unstable();
    s
}

async fn history(c: &mut Client, params: Value) -> Value {
    c.call("messages.history", params)
        .await
        .expect("messages.history")
}

#[tokio::test]
async fn send_to_a_room_reaches_every_connection_of_every_member() {
    let server = Server::start().await;
    let (alice, mut a1) = user(&server, "alice").await;
    let mut a2 = connect(&server, &alice.token).await;
    let (bob, mut b1) = user(&server, "bob").await;
    let mut b2 = connect(&server, &bob.token).await;
    let room = a1
        .call(
            "rooms.create",
            json!({ "name": "general", "kind": "channel" }),
        )
        .await
        .unwrap();
    let rid = room["id"].as_i64().unwrap();
    b1.call("rooms.join", json!({ "room": "#general" }))
        .await
        .unwrap();

    let sent = send(&mut a1, "#general", "hello, world").await;
    assert_eq!(sent["conversation"], rid);
    assert_eq!(sent["seq"], 1);
    assert_eq!(sent["duplicate"], false);
    assert!(sent["id"].is_i64() && sent["ts"].is_i64(), "{sent}");

    for (who, c) in [
        ("alice's other", &mut a2),
        ("bob 1", &mut b1),
        ("bob 2", &mut b2),
    ] {
        let n = c
            .notification_named("message", WAIT)
            .await
            .unwrap_or_else(|e| panic!("{who} connection: {e}"));
        let m = &n.params;
        assert_eq!(m["id"], sent["id"], "{who}");
        assert_eq!(m["conversation"], rid, "{who}");
        assert_eq!(m["seq"], 1, "{who}");
        assert_eq!(m["sender"], alice.id, "{who}");
        assert_eq!(m["sender_handle"], "alice", "{who}");
        assert_eq!(m["text"], "hello, world", "{who}");
        assert_eq!(m["ts"], sent["ts"], "{who}");
    }

    let h = history(&mut b1, json!({ "conversation": "#general" })).await;
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["text"], "hello, world");
    assert_eq!(msgs[0]["id"], sent["id"]);
    assert_eq!(h["has_more"], false);

    let second = send(&mut b2, rid, "hi alice").await;
    assert_eq!(second["seq"], 2);
    // a1 may have had its own first message too; look for bob's.
    let n = a1
        .notification_where("message", WAIT, |m| m["seq"] == 2)
        .await
        .unwrap();
    assert_eq!(n.params["text"], "hi alice");
    assert_eq!(n.params["sender"], bob.id);
}

#[tokio::test]
async fn the_first_message_to_a_handle_creates_the_dialog() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (bob, mut b) = user(&server, "bob").await;

    let first = send(&mut a, "@Bob", "psst").await;
    let dm = first["conversation"].as_i64().unwrap();
    assert_eq!(first["seq"], 1);
    let n = b.notification_named("message", WAIT).await.unwrap();
    assert_eq!(n.params["conversation"], dm);
    assert_eq!(n.params["sender"], alice.id);
    assert_eq!(n.params["text"], "psst");

    // Both sides address the same conversation, by handle, by id and by numeric string.
    let reply = send(&mut b, "@alice", "what?").await;
    assert_eq!(reply["conversation"], dm);
    assert_eq!(reply["seq"], 2);
    let third = send(&mut a, dm, "by id").await;
    assert_eq!(
        (third["conversation"].as_i64(), third["seq"].as_i64()),
        (Some(dm), Some(3))
    );
    let fourth = send(&mut a, dm.to_string(), "by string id").await;
    assert_eq!(
        (fourth["conversation"].as_i64(), fourth["seq"].as_i64()),
        (Some(dm), Some(4))
    );

    let h = history(&mut b, json!({ "conversation": "@alice" })).await;
    assert_eq!(seqs(&h), [1, 2, 3, 4]);
    let h = history(&mut a, json!({ "conversation": dm })).await;
    assert_eq!(seqs(&h), [1, 2, 3, 4]);

    let list = b.call("conversations.list", json!(null)).await.unwrap();
    let entries = list.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{list}");
    assert_eq!(id_of(&entries[0]["conversation"]), dm);
    assert_eq!(id_of(&entries[0]["peer"]), alice.id, "{list}");

    expect_rpc_err(
        a.call("messages.send", json!({ "to": "@nobody", "text": "x" }))
            .await,
        -32004,
    );
    let _ = bob;
}

#[tokio::test]
async fn the_same_client_id_is_stored_once() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    let params = json!({ "to": "@bob", "text": "only once", "client_id": "k-1" });

    let first = a.call("messages.send", params.clone()).await.unwrap();
    assert_eq!(first["duplicate"], false);
    let again = a.call("messages.send", params).await.unwrap();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again["conversation"], first["conversation"]);

    let n = b.notification_named("message", WAIT).await.unwrap();
    assert_eq!(n.params["client_id"], "k-1");
    expect_no_notification(&mut b, "message", |_| true).await;

    let h = history(&mut b, json!({ "conversation": first["conversation"] })).await;
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{h}");
    assert_eq!(msgs[0]["client_id"], "k-1");

    let other = a
        .call(
            "messages.send",
            json!({ "to": "@bob", "text": "another", "client_id": "k-2" }),
        )
        .await
        .unwrap();
    assert_eq!(other["seq"], 2);
    assert_eq!(other["duplicate"], false);
}

#[tokio::test]
async fn history_pages_by_seq() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    a.call("rooms.create", json!({ "name": "log", "kind": "channel" }))
        .await
        .unwrap();
    for i in 1..=10 {
        send(&mut a, "#log", &format!("m{i}")).await;
    }
    let h = |p: Value| {
        let mut p = p;
        p["conversation"] = json!("#log");
        p
    };

    let all = history(&mut a, h(json!({}))).await;
    assert_eq!(seqs(&all), (1..=10).collect::<Vec<_>>());
    assert_eq!(all["has_more"], false);
    for m in all["messages"].as_array().unwrap() {
        assert_eq!(m["text"], format!("m{}", m["seq"]));
    }

    let newest = history(&mut a, h(json!({ "limit": 3 }))).await;
    assert_eq!(
        seqs(&newest),
        [8, 9, 10],
        "without a cursor the newest page comes"
    );
    assert_eq!(newest["has_more"], true);

    let before = history(&mut a, h(json!({ "before_seq": 8, "limit": 3 }))).await;
    assert_eq!(seqs(&before), [5, 6, 7]);
    assert_eq!(before["has_more"], true);
    let oldest = history(&mut a, h(json!({ "before_seq": 3, "limit": 3 }))).await;
    assert_eq!(seqs(&oldest), [1, 2]);
    assert_eq!(oldest["has_more"], false);

    let after = history(&mut a, h(json!({ "after_seq": 2, "limit": 3 }))).await;
    assert_eq!(
        seqs(&after),
        [3, 4, 5],
        "after_seq pages forward from the cursor"
    );
    assert_eq!(after["has_more"], true);
    let tail = history(&mut a, h(json!({ "after_seq": 7, "limit": 3 }))).await;
    assert_eq!(seqs(&tail), [8, 9, 10]);
    assert_eq!(tail["has_more"], false);
    let none = history(&mut a, h(json!({ "after_seq": 10 }))).await;
    assert_eq!(none["messages"], json!([]));
    assert_eq!(none["has_more"], false);

    expect_rpc_err(
        a.call("messages.history", h(json!({ "limit": 0 }))).await,
        -32602,
    );
    expect_rpc_err(
        a.call("messages.history", h(json!({ "limit": 201 }))).await,
        -32602,
    );
    expect_rpc_err(
        a.call("messages.history", json!({ "conversation": "#nowhere" }))
            .await,
        -32004,
    );
}

/// The newest page and the pages around it of `room`, which holds messages `1..=sent` with
/// texts `room-seq`, as two members read them.
async fn check_pages(a: &mut Client, b: &mut Client, room: &str, sent: i64) {
    let conv = json!(format!("#{room}"));
    let want = |lo: i64, hi: i64| (lo.max(1)..=hi).collect::<Vec<_>>();
    let newest = history(a, json!({ "conversation": conv, "limit": 4 })).await;
    assert_eq!(seqs(&newest), want(sent - 3, sent), "{room} with {sent}");
    assert_eq!(newest["has_more"], sent > 4);
    for m in newest["messages"].as_array().unwrap() {
        assert_eq!(m["text"], format!("{room}-{}", m["seq"]));
    }
    // The other member, just after: the same page.
    let again = history(b, json!({ "conversation": conv, "limit": 4 })).await;
    assert_eq!(again["messages"], newest["messages"]);
    if sent > 3 {
        let before = history(
            b,
            json!({ "conversation": conv, "before_seq": sent - 2, "limit": 5 }),
        )
        .await;
        assert_eq!(
            seqs(&before),
            want(sent - 7, sent - 3),
            "{room} with {sent}"
        );
        let after = history(
            a,
            json!({ "conversation": conv, "after_seq": sent - 3, "limit": 2 }),
        )
        .await;
        assert_eq!(seqs(&after), want(sent - 2, sent - 1), "{room} with {sent}");
        assert_eq!(after["has_more"], true);
    }
}

/// Pages are served from memory when they are among a conversation's newest messages; they
/// must be whole and current whatever was read before: new messages after a cached page, more
/// new ones than the cache holds, pages older than it, more rooms than it holds.
#[tokio::test]
async fn history_is_whole_and_current_around_the_cache_of_recent_messages() {
    let server = Server::start_with(
        Settings::default()
            .env("PALAVER_LIMITS__HISTORY_CACHE_CONVERSATIONS", 2)
            .env("PALAVER_LIMITS__HISTORY_CACHE_DEPTH", 6),
    )
    .await;
    let (_alice, mut a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    let rooms = ["r0", "r1", "r2"];
    for room in rooms {
        a.call("rooms.create", json!({ "name": room, "kind": "channel" }))
            .await
            .unwrap();
        b.call("rooms.join", json!({ "room": format!("#{room}") }))
            .await
            .unwrap();
    }
    let mut sent = [0i64; 3];
    let mut send_some = async |a: &mut Client, b: &mut Client, r: usize, count: usize| {
        for _ in 0..count {
            sent[r] += 1;
            let who = if sent[r] % 2 == 0 { &mut *a } else { &mut *b };
            let room = rooms[r];
            send(who, format!("#{room}"), &format!("{room}-{}", sent[r])).await;
        }
        sent[r]
    };
    // Two rooms, as many as the cache holds. Rounds send a few messages, or more than the
    // cache holds, from either member.
    for count in [0, 1, 3, 7, 2, 9] {
        for (r, room) in rooms.iter().enumerate().take(2) {
            let n = send_some(&mut a, &mut b, r, count).await;
            check_pages(&mut a, &mut b, room, n).await;
        }
    }
    // A third room pushes one out.
    let n = send_some(&mut a, &mut b, 2, 5).await;
    check_pages(&mut a, &mut b, "r2", n).await;
    for (r, room) in rooms.iter().enumerate().take(2) {
        let n = send_some(&mut a, &mut b, r, 1).await;
        check_pages(&mut a, &mut b, room, n).await;
    }
    // A page larger than the cache holds comes whole from the store.
    let all = history(&mut a, json!({ "conversation": "#r0", "limit": 200 })).await;
    let n = send_some(&mut a, &mut b, 0, 0).await;
    assert_eq!(seqs(&all), (1..=n).collect::<Vec<_>>());
    assert_eq!(all["has_more"], false);
}

#[tokio::test]
async fn strangers_cannot_read_or_write() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    let (_carol, mut c) = user(&server, "carol").await;
    let channel = a
        .call("rooms.create", json!({ "name": "open", "kind": "channel" }))
        .await
        .unwrap();
    let group = a
        .call("rooms.create", json!({ "name": "closed", "kind": "group" }))
        .await
        .unwrap();
    send(&mut a, "#open", "public").await;
    send(&mut a, "#closed", "private").await;
    let dm = send(&mut a, "@bob", "between us").await;

    let e = expect_rpc_err(
        c.call("messages.history", json!({ "conversation": channel["id"] }))
            .await,
        -32003,
    );
    assert_eq!(e.data_code(), Some("forbidden"));
    let e = expect_rpc_err(
        c.call("messages.history", json!({ "conversation": group["id"] }))
            .await,
        -32004,
    );
    assert_eq!(e.data_code(), Some("not_found"));
    expect_rpc_err(
        c.call(
            "messages.history",
            json!({ "conversation": dm["conversation"] }),
        )
        .await,
        -32004,
    );
    expect_rpc_err(
        c.call(
            "messages.send",
            json!({ "to": "#open", "text": "not joined" }),
        )
        .await,
        -32003,
    );
    expect_rpc_err(
        c.call(
            "messages.send",
            json!({ "to": dm["conversation"], "text": "intrude" }),
        )
        .await,
        -32004,
    );
    expect_no_notification(&mut b, "message", |p| p["text"] == "intrude").await;
}

#[tokio::test]
async fn bad_messages_are_invalid_params() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    signup_user(&server, "bob").await;
    for params in [
        json!({ "to": "@bob", "text": "   " }),
        json!({ "to": "@bob", "text": "" }),
        json!({ "to": "@bob" }),
        json!({ "to": "bob", "text": "no sigil" }),
        json!({ "to": "@bob", "text": "x", "client_id": "has space" }),
        json!({ "to": "@bob", "text": 5 }),
    ] {
        let e = expect_rpc_err(a.call("messages.send", params.clone()).await, -32602);
        assert_eq!(e.data_code(), Some("invalid_input"), "{params}");
    }
    expect_rpc_err(
        a.call("messages.send", json!({ "to": "#nowhere", "text": "x" }))
            .await,
        -32004,
    );
}

/// Frames written back to back are answered in order, each on its own merits: a burst of
/// sends is stored in order (gap-free seqs), a bad one or one to a room the sender is not in
/// costs only itself, a notification gets no reply, and a call after the sends sees them.
#[tokio::test]
async fn pipelined_frames_are_answered_in_order_each_on_its_own() {
    let server = Server::start().await;
    let (alice, _a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    let (_carol, mut c) = user(&server, "carol").await;
    let secret = id_of(
        &c.call("rooms.create", json!({ "name": "secret", "kind": "group" }))
            .await
            .unwrap(),
    );
    let url = format!("{}?token={}", server.ws_url(), alice.token);
    let mut ws = crate::raw::RawWs::connect(&url, &[]).await;
    let call = |id: i64, method: &str, params: Value| {
        json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string()
    };
    let mut frames = Vec::new();
    for i in 1..=20 {
        frames.push(call(
            i,
            "messages.send",
            json!({ "to": "@bob", "text": format!("m{i}") }),
        ));
    }
    frames.push(call(
        21,
        "messages.send",
        json!({ "to": "@bob", "text": "" }),
    ));
    frames.push(call(
        22,
        "messages.send",
        json!({ "to": secret, "text": "let me in" }),
    ));
    frames.push(
        json!({ "jsonrpc": "2.0", "method": "messages.send", "params": { "to": "@bob", "text": "m21" } })
            .to_string(),
    );
    frames.push(call(
        23,
        "messages.send",
        json!({ "to": "@bob", "text": "m22", "client_id": "k" }),
    ));
    frames.push(call(
        24,
        "messages.send",
        json!({ "to": "@bob", "text": "m22 again", "client_id": "k" }),
    ));
    frames.push(call(25, "messages.send", json!({ "to": "@bob" })));
    frames.push(call(26, "conversations.list", Value::Null));
    ws.send_all(&frames).await;

    let mut replies = Vec::new();
    while replies.len() < 26 {
        let v = ws.json(WAIT).await;
        if v.get("id").is_some() {
            replies.push(v);
        }
    }
    let ids: Vec<i64> = replies.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=26).collect::<Vec<_>>(),
        "replies in the order of the frames"
    );
    for (i, r) in replies[..20].iter().enumerate() {
        assert_eq!(r["result"]["seq"], i as i64 + 1, "{r}");
    }
    assert_eq!(
        replies[20]["error"]["code"], -32602,
        "empty text: {}",
        replies[20]
    );
    assert!(
        replies[21]["error"].is_object(),
        "not a member: {}",
        replies[21]
    );
    // The notification (seq 21) was stored between them.
    assert_eq!(replies[22]["result"]["seq"], 22, "{}", replies[22]);
    assert_eq!(replies[23]["result"]["duplicate"], true, "{}", replies[23]);
    assert_eq!(replies[23]["result"]["seq"], 22);
    assert_eq!(
        replies[24]["error"]["code"], -32602,
        "no text: {}",
        replies[24]
    );
    let dialogs = replies[25]["result"].as_array().unwrap();
    assert_eq!(dialogs[0]["last_message"]["text"], "m22", "{}", replies[25]);

    // Bob got every stored message once, in order.
    for seq in 1..=22 {
        let n = b.notification_named("message", WAIT).await.unwrap();
        assert_eq!(n.params["seq"], seq, "{}", n.params);
    }
    expect_no_notification(&mut b, "message", |_| true).await;
}
