//! Read markers and the conversation list: ordering by activity, last message, unread counts.

use crate::harness::*;
use palaver_client::Client;
use serde_json::{Value, json};

async fn conversations(c: &mut Client) -> Vec<Value> {
    c.call("conversations.list", json!(null))
        .await
        .expect("conversations.list")
        .as_array()
        .expect("an array")
        .clone()
}

fn entry_for(list: &[Value], conversation: i64) -> &Value {
    list.iter()
        .find(|e| id_of(&e["conversation"]) == conversation)
        .unwrap_or_else(|| panic!("conversation {conversation} missing from {list:?}"))
}

#[tokio::test]
async fn reading_tells_the_other_member_and_my_other_connections() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (bob, mut b1) = user(&server, "bob").await;
    let mut b2 = connect(&server, &bob.token).await;
    let dm = send(&mut a, "@bob", "one").await["conversation"]
        .as_i64()
        .unwrap();
    send(&mut a, dm, "two").await;
    send(&mut a, dm, "three").await;

    let r = b1
        .call("messages.read", json!({ "conversation": dm, "seq": 2 }))
        .await
        .unwrap();
    assert_eq!(
        r,
        json!({ "conversation": dm, "last_read_seq": 2, "unread": 1 })
    );

    let expected = json!({ "conversation": dm, "user": bob.id, "handle": "bob", "seq": 2 });
    let n = a.notification_named("read", WAIT).await.unwrap();
    assert_eq!(n.params, expected, "the other member hears of the read");
    let n = b2.notification_named("read", WAIT).await.unwrap();
    assert_eq!(
        n.params, expected,
        "the reader's other connection hears of it"
    );

    // Read markers move forward only and stop at the newest message.
    let r = b1
        .call(
            "messages.read",
            json!({ "conversation": "@alice", "seq": 1 }),
        )
        .await
        .unwrap();
    assert_eq!(r["last_read_seq"], 2);
    let r = b1
        .call("messages.read", json!({ "conversation": dm, "seq": 99 }))
        .await
        .unwrap();
    assert_eq!(r["last_read_seq"], 3);
    assert_eq!(r["unread"], 0);

    let (_carol, mut c) = user(&server, "carol").await;
    expect_rpc_err(
        c.call("messages.read", json!({ "conversation": dm, "seq": 1 }))
            .await,
        -32004,
    );
    let _ = alice;
}

#[tokio::test]
async fn the_conversation_list_follows_activity_and_unread_counts() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (bob, mut b) = user(&server, "bob").await;
    let (carol, mut c) = user(&server, "carol").await;

    let with_bob = send(&mut b, "@alice", "hi alice").await["conversation"]
        .as_i64()
        .unwrap();
    send(&mut b, with_bob, "are you there?").await;
    let with_carol = send(&mut c, "@alice", "hey").await["conversation"]
        .as_i64()
        .unwrap();

    let list = conversations(&mut a).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(
        id_of(&list[0]["conversation"]),
        with_carol,
        "most recent activity first"
    );
    assert_eq!(id_of(&list[1]["conversation"]), with_bob);
    let bob_entry = entry_for(&list, with_bob);
    assert_eq!(bob_entry["unread"], 2);
    assert_eq!(bob_entry["last_read_seq"], 0);
    assert_eq!(bob_entry["last_message"]["text"], "are you there?");
    assert_eq!(bob_entry["last_message"]["seq"], 2);
    assert_eq!(id_of(&bob_entry["peer"]), bob.id);
    assert!(bob_entry["last_activity"].is_i64(), "{bob_entry}");
    let carol_entry = entry_for(&list, with_carol);
    assert_eq!(carol_entry["unread"], 1);
    assert_eq!(id_of(&carol_entry["peer"]), carol.id);

    // Bob writes again: his dialog moves to the top.
    send(&mut b, with_bob, "hello??").await;
    let list = conversations(&mut a).await;
    assert_eq!(id_of(&list[0]["conversation"]), with_bob, "{list:?}");
    assert_eq!(entry_for(&list, with_bob)["unread"], 3);

    // Alice reads: the unread count follows the read marker.
    a.call(
        "messages.read",
        json!({ "conversation": with_bob, "seq": 2 }),
    )
    .await
    .unwrap();
    let list = conversations(&mut a).await;
    assert_eq!(entry_for(&list, with_bob)["unread"], 1);
    assert_eq!(entry_for(&list, with_bob)["last_read_seq"], 2);
    a.call(
        "messages.read",
        json!({ "conversation": with_bob, "seq": 3 }),
    )
    .await
    .unwrap();
    let list = conversations(&mut a).await;
    assert_eq!(entry_for(&list, with_bob)["unread"], 0);
    assert_eq!(
        entry_for(&list, with_carol)["unread"],
        1,
        "other dialogs are untouched"
    );

    // Alice answers: bob sees one unread, and alice's own message is not unread for her.
    send(&mut a, with_bob, "here!").await;
    let list = conversations(&mut b).await;
    let entry = entry_for(&list, with_bob);
    assert_eq!(entry["unread"], 1, "{entry}");
    assert_eq!(entry["last_message"]["text"], "here!");
    assert_eq!(entry["last_message"]["sender"], alice.id);
    assert_eq!(id_of(&entry["peer"]), alice.id);
    let list = conversations(&mut a).await;
    assert_eq!(
        entry_for(&list, with_bob)["unread"],
        0,
        "own messages are not unread"
    );
}

#[tokio::test]
async fn rooms_appear_in_the_conversation_list() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    let room = a
        .call("rooms.create", json!({ "name": "team", "kind": "channel" }))
        .await
        .unwrap();
    let rid = room["id"].as_i64().unwrap();
    b.call("rooms.join", json!({ "room": rid })).await.unwrap();
    send(&mut a, "#team", "standup").await;
    let list = conversations(&mut b).await;
    let entry = entry_for(&list, rid);
    assert_eq!(entry["unread"], 1);
    assert_eq!(entry["last_message"]["text"], "standup");
}
