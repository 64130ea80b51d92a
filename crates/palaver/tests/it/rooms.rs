//! Channels and groups: create, list, members, join/leave, add members, destroy, and the
//! notifications each of those sends.

use crate::harness::*;
use serde_json::{Value, json};

fn find_room<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array()
        .expect("rooms.list returns an array")
        .iter()
        .find(|r| r["name"] == name)
}

fn member_ids(members: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = members
        .as_array()
        .expect("an array of users")
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn create_a_channel_and_everyone_sees_it() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;

    let room = a
        .call(
            "rooms.create",
            json!({ "name": "General", "kind": "channel", "topic": "everything" }),
        )
        .await
        .unwrap();
    assert_eq!(room["kind"], "channel");
    assert_eq!(room["name"], "general", "room names are case-insensitive");
    assert_eq!(room["topic"], "everything");
    assert_eq!(room["owner"], alice.id);
    assert_eq!(room["last_seq"], 0);
    assert!(room["id"].is_i64() && room["created_at"].is_i64(), "{room}");

    let n = b.notification_named("room.created", WAIT).await.unwrap();
    assert_eq!(n.params["room"]["id"], room["id"]);
    assert_eq!(n.params["room"]["name"], "general");

    let listed = b.call("rooms.list", json!(null)).await.unwrap();
    let entry = find_room(&listed, "general").expect("bob sees the channel");
    assert_eq!(entry["joined"], false);
    assert_eq!(entry["member_count"], 1);
    assert_eq!(entry["id"], room["id"]);
    let listed = a.call("rooms.list", json!(null)).await.unwrap();
    assert_eq!(find_room(&listed, "general").unwrap()["joined"], true);

    let e = expect_rpc_err(
        b.call(
            "rooms.create",
            json!({ "name": "GENERAL", "kind": "channel" }),
        )
        .await,
        -32009,
    );
    assert_eq!(e.data_code(), Some("conflict"));
    expect_rpc_err(
        a.call(
            "rooms.create",
            json!({ "name": "#bad name", "kind": "channel" }),
        )
        .await,
        -32602,
    );
    expect_rpc_err(
        a.call("rooms.create", json!({ "name": "fine", "kind": "dm" }))
            .await,
        -32602,
    );
}

#[tokio::test]
async fn a_group_is_private_to_its_members() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (bob, mut b) = user(&server, "bob").await;
    let (_carol, mut c) = user(&server, "carol").await;

    let group = a
        .call(
            "rooms.create",
            json!({ "name": "secret", "kind": "group", "members": ["@bob"] }),
        )
        .await
        .unwrap();
    assert_eq!(group["kind"], "group");
    let gid = group["id"].as_i64().unwrap();

    let n = b.notification_named("room.created", WAIT).await.unwrap();
    assert_eq!(
        n.params["room"]["id"], gid,
        "a member hears of the new group"
    );
    expect_no_notification(&mut c, "room.created", |_| true).await;

    let members = b
        .call("rooms.members", json!({ "room": "#secret" }))
        .await
        .unwrap();
    let mut expected = vec![alice.id, bob.id];
    expected.sort_unstable();
    assert_eq!(member_ids(&members), expected);
    for m in members.as_array().unwrap() {
        assert_eq!(m["online"], true, "both members are connected: {m}");
    }

    let listed = b.call("rooms.list", json!(null)).await.unwrap();
    let entry = find_room(&listed, "secret").expect("bob lists his group");
    assert_eq!(entry["joined"], true);
    assert_eq!(entry["member_count"], 2);
    let listed = c.call("rooms.list", json!(null)).await.unwrap();
    assert!(
        find_room(&listed, "secret").is_none(),
        "carol must not see the group"
    );

    let e = expect_rpc_err(
        c.call("rooms.join", json!({ "room": "#secret" })).await,
        -32004,
    );
    assert_eq!(e.data_code(), Some("not_found"));
    expect_rpc_err(c.call("rooms.join", json!({ "room": gid })).await, -32004);
    expect_rpc_err(
        c.call("rooms.members", json!({ "room": gid })).await,
        -32004,
    );
    expect_rpc_err(
        c.call(
            "messages.send",
            json!({ "to": "#secret", "text": "let me in" }),
        )
        .await,
        -32004,
    );
}

#[tokio::test]
async fn join_and_leave_tell_the_members() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    let (bob, mut b) = user(&server, "bob").await;
    let room = a
        .call(
            "rooms.create",
            json!({ "name": "lobby", "kind": "channel" }),
        )
        .await
        .unwrap();
    let rid = room["id"].as_i64().unwrap();

    // A stranger may not look at the members of a channel.
    expect_rpc_err(
        b.call("rooms.members", json!({ "room": "#lobby" })).await,
        -32003,
    );

    let joined = b
        .call("rooms.join", json!({ "room": "#lobby" }))
        .await
        .unwrap();
    assert_eq!(joined["id"], rid);
    assert_eq!(joined["kind"], "channel");
    let n = a.notification_named("member.joined", WAIT).await.unwrap();
    assert_eq!(
        n.params,
        json!({ "conversation": rid, "user": bob.id, "handle": "bob" })
    );

    let members = a
        .call("rooms.members", json!({ "room": rid }))
        .await
        .unwrap();
    assert!(member_ids(&members).contains(&bob.id));
    let listed = b.call("rooms.list", json!(null)).await.unwrap();
    let entry = find_room(&listed, "lobby").unwrap();
    assert_eq!(entry["joined"], true);
    assert_eq!(entry["member_count"], 2);

    // Bob now gets the room's messages.
    send(&mut a, "#lobby", "welcome").await;
    let m = b.notification_named("message", WAIT).await.unwrap();
    assert_eq!(m.params["text"], "welcome");

    let left = b
        .call("rooms.leave", json!({ "room": "#lobby" }))
        .await
        .unwrap();
    assert_eq!(left, json!({ "left": rid }));
    let n = a.notification_named("member.left", WAIT).await.unwrap();
    assert_eq!(
        n.params,
        json!({ "conversation": rid, "user": bob.id, "handle": "bob" })
    );

    let listed = b.call("rooms.list", json!(null)).await.unwrap();
    let entry = find_room(&listed, "lobby").unwrap();
    assert_eq!(entry["joined"], false);
    assert_eq!(entry["member_count"], 1);

    send(&mut a, "#lobby", "after bob left").await;
    expect_no_notification(&mut b, "message", |_| true).await;
    expect_rpc_err(
        b.call("rooms.leave", json!({ "room": "#lobby" })).await,
        -32003,
    );
    expect_rpc_err(
        b.call("rooms.join", json!({ "room": "#nowhere" })).await,
        -32004,
    );
}

#[tokio::test]
async fn only_the_owner_destroys_a_room() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    let room = a
        .call(
            "rooms.create",
            json!({ "name": "doomed", "kind": "channel" }),
        )
        .await
        .unwrap();
    let rid = room["id"].as_i64().unwrap();
    b.call("rooms.join", json!({ "room": "#doomed" }))
        .await
        .unwrap();

    let e = expect_rpc_err(
        b.call("rooms.destroy", json!({ "room": "#doomed" })).await,
        -32003,
    );
    assert_eq!(e.data_code(), Some("forbidden"));

    let r = a
        .call("rooms.destroy", json!({ "room": rid }))
        .await
        .unwrap();
    assert_eq!(r, json!({ "destroyed": rid }));
    let n = b.notification_named("room.destroyed", WAIT).await.unwrap();
    assert_eq!(n.params["conversation"], rid);
    assert_eq!(n.params["name"], "doomed");
    assert_eq!(n.params["by"], alice.id);

    let listed = b.call("rooms.list", json!(null)).await.unwrap();
    assert!(find_room(&listed, "doomed").is_none());
    expect_rpc_err(
        b.call(
            "messages.send",
            json!({ "to": "#doomed", "text": "anyone?" }),
        )
        .await,
        -32004,
    );
    expect_rpc_err(
        a.call("rooms.destroy", json!({ "room": rid })).await,
        -32004,
    );
    // The name is free again.
    a.call(
        "rooms.create",
        json!({ "name": "doomed", "kind": "channel" }),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_owner_adds_members_to_a_group() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    let (bob, mut b) = user(&server, "bob").await;
    let (carol, mut c) = user(&server, "carol").await;
    let group = a
        .call("rooms.create", json!({ "name": "club", "kind": "group" }))
        .await
        .unwrap();
    let gid = group["id"].as_i64().unwrap();

    let added = a
        .call(
            "rooms.add_members",
            json!({ "room": "#club", "members": ["@bob", bob.id] }),
        )
        .await
        .unwrap();
    let added_ids: Vec<i64> = added["added"]
        .as_array()
        .expect("{added: [User]}")
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert!(added_ids.contains(&bob.id), "{added}");

    // Bob is a member now: he reads, writes and gets messages.
    b.call("messages.history", json!({ "conversation": gid }))
        .await
        .unwrap();
    send(&mut a, gid, "hi club").await;
    let m = b
        .notification_where("message", WAIT, |p| p["conversation"] == gid)
        .await
        .unwrap();
    assert_eq!(m.params["text"], "hi club");

    let e = expect_rpc_err(
        b.call(
            "rooms.add_members",
            json!({ "room": gid, "members": [carol.id] }),
        )
        .await,
        -32003,
    );
    assert_eq!(e.data_code(), Some("forbidden"));
    expect_rpc_err(
        c.call("messages.history", json!({ "conversation": gid }))
            .await,
        -32004,
    );
    expect_rpc_err(
        a.call(
            "rooms.add_members",
            json!({ "room": gid, "members": ["@nobody"] }),
        )
        .await,
        -32004,
    );
}
