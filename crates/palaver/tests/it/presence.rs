//! Presence aggregated over connections, presence.get, and typing.

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn presence_follows_the_first_and_last_connection() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    let (bob_token, bob) = signup_user(&server, "bob").await;
    let bob_id = bob["id"].as_i64().unwrap();
    let (_carol, mut c) = user(&server, "carol").await;
    // Alice and bob share a dialog; carol shares nothing with bob.
    send(&mut a, "@bob", "ping me when you are on").await;
    let is_bob = move |p: &serde_json::Value| p["user"] == bob_id;

    let b1 = connect(&server, &bob_token).await;
    let n = a
        .notification_where("presence", WAIT, is_bob)
        .await
        .unwrap();
    assert_eq!(
        n.params,
        json!({ "user": bob_id, "handle": "bob", "online": true })
    );
    expect_no_notification(&mut c, "presence", is_bob).await;

    let online = a
        .call("presence.get", json!({ "users": [bob_id, "@bob"] }))
        .await
        .unwrap();
    let online = online.as_array().expect("an array");
    assert_eq!(online.len(), 2, "{online:?}");
    for p in online {
        assert_eq!(p["user"], bob_id);
        assert_eq!(p["handle"], "bob");
        assert_eq!(p["online"], true);
    }

    let b2 = connect(&server, &bob_token).await;
    expect_no_notification(&mut a, "presence", is_bob).await;
    b1.close().await.unwrap();
    expect_no_notification(&mut a, "presence", is_bob).await;
    let p = a
        .call("presence.get", json!({ "users": ["@bob"] }))
        .await
        .unwrap();
    assert_eq!(p[0]["online"], true, "one connection is still open");

    b2.close().await.unwrap();
    let n = a
        .notification_where("presence", WAIT, is_bob)
        .await
        .unwrap();
    assert_eq!(
        n.params,
        json!({ "user": bob_id, "handle": "bob", "online": false })
    );
    let p = a
        .call("presence.get", json!({ "users": [bob_id] }))
        .await
        .unwrap();
    assert_eq!(
        p,
        json!([{ "user": bob_id, "handle": "bob", "online": false }])
    );

    expect_rpc_err(
        a.call("presence.get", json!({ "users": ["@nobody"] }))
            .await,
        -32004,
    );
}

#[tokio::test]
async fn dropping_the_socket_without_a_close_frame_also_goes_offline() {
    let server = Server::start().await;
    let (_alice, mut a) = user(&server, "alice").await;
    let (bob, b) = user(&server, "bob").await;
    send(&mut a, "@bob", "hi").await;
    drop(b);
    let n = a
        .notification_where("presence", WAIT, |p| {
            p["user"] == bob.id && p["online"] == false
        })
        .await
        .unwrap();
    assert_eq!(n.params["handle"], "bob");
}

#[tokio::test]
async fn typing_reaches_the_other_member_and_is_not_stored() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    let (_carol, mut c) = user(&server, "carol").await;
    let room = a
        .call(
            "rooms.create",
            json!({ "name": "quiet", "kind": "channel" }),
        )
        .await
        .unwrap();
    let rid = room["id"].as_i64().unwrap();
    b.call("rooms.join", json!({ "room": "#quiet" }))
        .await
        .unwrap();

    let r = a
        .call("typing", json!({ "conversation": "#quiet" }))
        .await
        .unwrap();
    assert_eq!(r, json!({}));
    let n = b.notification_named("typing", WAIT).await.unwrap();
    assert_eq!(
        n.params,
        json!({ "conversation": rid, "user": alice.id, "handle": "alice" })
    );
    expect_no_notification(&mut c, "typing", |_| true).await;

    let h = b
        .call("messages.history", json!({ "conversation": rid }))
        .await
        .unwrap();
    assert_eq!(h["messages"], json!([]), "typing is not a message");
    let listed = b.call("rooms.list", json!(null)).await.unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == rid)
        .unwrap();
    assert_eq!(entry["last_seq"], 0);

    expect_rpc_err(
        c.call("typing", json!({ "conversation": rid })).await,
        -32003,
    );
}

/// Presence is announced in direct conversations and small rooms only: in a room over
/// `limits.presence_max_room_members`, members ask with `presence.get` instead (announcing
/// every arrival to every member costs the square of the room's size).
#[tokio::test]
async fn presence_is_not_announced_in_rooms_over_the_limit() {
    let server =
        Server::start_with(Settings::default().env("PALAVER_LIMITS__PRESENCE_MAX_ROOM_MEMBERS", 3))
            .await;
    let (_alice, mut a) = user(&server, "alice").await;
    let (bob_token, bob) = signup_user(&server, "bob").await;
    let bob_id = bob["id"].as_i64().unwrap();
    let (carol_token, carol) = signup_user(&server, "carol").await;
    let carol_id = carol["id"].as_i64().unwrap();
    let (_dave, _d) = user(&server, "dave").await;
    // A group of two with bob (within the limit), a group of four (over it) with carol.
    a.call(
        "rooms.create",
        json!({ "name": "small", "kind": "group", "members": ["@bob"] }),
    )
    .await
    .unwrap();
    a.call(
        "rooms.create",
        json!({ "name": "big", "kind": "group", "members": ["@bob", "@carol", "@dave"] }),
    )
    .await
    .unwrap();

    let _b = connect(&server, &bob_token).await;
    a.notification_where("presence", WAIT, |p| p["user"] == bob_id)
        .await
        .expect("bob shares a small room with alice");
    let c = connect(&server, &carol_token).await;
    expect_no_notification(&mut a, "presence", |p| p["user"] == carol_id).await;
    let online = a
        .call("presence.get", json!({ "users": ["@carol"] }))
        .await
        .unwrap();
    assert_eq!(online[0]["online"], true, "presence.get still answers");
    let members = a
        .call("rooms.members", json!({ "room": "#big" }))
        .await
        .unwrap();
    let carol_entry = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == carol_id)
        .cloned()
        .unwrap();
    assert_eq!(carol_entry["online"], true, "{members}");
    c.close().await.unwrap();
    expect_no_notification(&mut a, "presence", |p| p["user"] == carol_id).await;
}

/// A join made on this node counts once toward the room's size, though the node routes it
/// both when it commits it and when the bus brings it back: a room at the limit still
/// announces presence.
#[tokio::test]
async fn a_join_counts_once_toward_the_presence_limit() {
    let server =
        Server::start_with(Settings::default().env("PALAVER_LIMITS__PRESENCE_MAX_ROOM_MEMBERS", 3))
            .await;
    let (alice_token, _) = signup_user(&server, "alice").await;
    let (bob_token, bob) = signup_user(&server, "bob").await;
    let bob_id = bob["id"].as_i64().unwrap();
    let (_carol, mut c) = user(&server, "carol").await;
    {
        let mut a = connect(&server, &alice_token).await;
        a.call("rooms.create", json!({ "name": "edge", "kind": "channel" }))
            .await
            .unwrap();
        let mut b = connect(&server, &bob_token).await;
        b.call("rooms.join", json!({ "room": "#edge" }))
            .await
            .unwrap();
        a.close().await.unwrap();
        b.close().await.unwrap();
    }
    // Signed in again, the node knows the room from the store: 2 members.
    let mut a = connect(&server, &alice_token).await;
    let b = connect(&server, &bob_token).await;
    // Carol's join makes 3, the limit.
    c.call("rooms.join", json!({ "room": "#edge" }))
        .await
        .unwrap();
    a.notification_where("member.joined", WAIT, |_| true)
        .await
        .expect("alice hears carol join");
    b.close().await.unwrap();
    a.notification_where("presence", WAIT, |p| {
        p["user"] == bob_id && p["online"] == false
    })
    .await
    .expect("a room of 3 still announces presence");
}
