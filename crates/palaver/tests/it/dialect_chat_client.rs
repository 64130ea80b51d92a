//! The `chat-client` dialect (seed 001, ido-ofir/node-chat-server + npm `chat-client`):
//! `{type,data,id}` requests, `{id,error,data}` replies, `chatMessage` pushes, DMs by user id,
//! groups by `isGroup`, newest-first history, `read`, the custom `getUsersAndGroups`, and the
//! seed's error and close behaviour.

use crate::harness::*;
use crate::raw::{Next, RawWs};
use serde_json::{Value, json};

const MISSING_TO: &str = "node-chat-server: a chat message must contain a 'to' property which should be a valid id of a user or a group.";

fn url(server: &Server) -> String {
    format!(
        "{}/compat/chat-client",
        server.ws_url().trim_end_matches("/ws")
    )
}

fn is_push(v: &Value) -> bool {
    v["type"] == "chatMessage"
}

/// A chat-client connection that has authorized with `token`.
async fn authorized(server: &Server, token: &str) -> RawWs {
    let mut ws = RawWs::connect(&url(server), &[]).await;
    ws.send_json(&json!({"type":"authorize","data":{"token":token},"id":1}))
        .await;
    let reply = ws.json(WAIT).await;
    assert_eq!(reply["id"], 1);
    assert!(reply["error"].is_null(), "{reply}");
    ws
}

/// Sends a request and returns the reply with its id (skipping pushes).
async fn call(ws: &mut RawWs, id: i64, kind: &str, data: Value) -> Value {
    ws.send_json(&json!({"type":kind,"data":data,"id":id}))
        .await;
    let reply = ws.json_where(WAIT, |v| v.get("type").is_none()).await;
    assert_eq!(reply["id"], id, "{reply}");
    reply
}

#[tokio::test]
async fn authorize_echoes_the_user_and_a_failure_keeps_the_socket() {
    let server = Server::start().await;
    let (token, user) = signup_user(&server, "alice").await;
    let id = user["id"].as_i64().unwrap().to_string();
    let mut ws = RawWs::connect(&url(&server), &[]).await;

    // Frames the seed ignores: malformed JSON, no `type`. Nothing comes back; the socket stays.
    ws.send_text("{not json").await;
    ws.send_json(&json!({"data":{},"id":9})).await;
    ws.send_json(&json!({"type":"authorize","data":{"token":"garbage"},"id":1}))
        .await;
    assert_eq!(
        ws.json(WAIT).await,
        json!({"id":1,"error":"authorizationFailed"}),
        "no type, no data on a failure"
    );
    ws.send_json(&json!({"type":"authorize","id":2})).await;
    assert_eq!(
        ws.json(WAIT).await,
        json!({"id":2,"error":"authorizationFailed"})
    );

    ws.send_json(&json!({"type":"authorize","data":{"token":token},"id":3}))
        .await;
    let reply = ws.json(WAIT).await;
    assert!(
        reply.get("type").is_none(),
        "replies carry no type: {reply}"
    );
    assert_eq!(reply["id"], 3);
    assert!(reply["error"].is_null());
    let me = &reply["data"];
    assert_eq!(me["_id"], id.as_str());
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["handle"], "alice");
    assert_eq!(me["name"], "alice");
    assert_eq!(me["token"], token.as_str());

    // Unknown actions are not answered, and do not close an authorized socket.
    ws.send_json(&json!({"type":"noSuchAction","data":{},"id":4}))
        .await;
    ws.quiet_where(QUIET, |_| true).await;
    let again = call(&mut ws, 5, "authorize", json!({"token": token})).await;
    assert_eq!(again["data"]["_id"], id.as_str());
}

#[tokio::test]
async fn an_unauthorized_socket_asking_for_anything_else_is_closed_with_1000() {
    let server = Server::start().await;
    let mut ws = RawWs::connect(&url(&server), &[]).await;
    ws.send_json(&json!({"type":"getMessages","data":{"with":"1"},"id":1}))
        .await;
    match ws.next(WAIT).await {
        Next::Close(Some((code, reason))) => assert_eq!((code, reason.as_str()), (1000, "")),
        other => panic!("expected a 1000 close, got {other:?}"),
    }
}

#[tokio::test]
async fn direct_messages_push_to_both_then_reply_and_authorizing_twice_does_not_duplicate() {
    let server = Server::start().await;
    let (ta, ua) = signup_user(&server, "alice").await;
    let (tb, ub) = signup_user(&server, "bob").await;
    let (a_id, b_id) = (ua["id"].to_string(), ub["id"].to_string());
    let mut alice = authorized(&server, &ta).await;
    // The seed registered a socket once per authorize and delivered everything twice.
    call(&mut alice, 2, "authorize", json!({"token": ta})).await;
    let mut bob = authorized(&server, &tb).await;

    let missing = call(&mut alice, 3, "create", json!({"type":"text","value":"x"})).await;
    assert_eq!(missing, json!({"id":3,"error":MISSING_TO}));

    alice
        .send_json(&json!({"type":"create","id":4,
            "data":{"to":b_id,"type":"text","value":"Hi bob!"}}))
        .await;
    let pushed = bob.json(WAIT).await;
    assert_eq!(pushed["type"], "chatMessage");
    let m = &pushed["data"];
    assert_eq!(m["to"], b_id.as_str());
    assert_eq!(m["from"], a_id.as_str());
    assert_eq!(m["type"], "text");
    assert_eq!(m["value"], "Hi bob!");
    assert!(m.get("isGroup").is_none());
    let created = m["createdAt"].as_str().unwrap();
    assert!(
        created.len() == 24 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "ISO 8601 with ms: {created}"
    );
    let msg_id = m["_id"].as_str().unwrap().to_owned();
    assert!(msg_id.parse::<i64>().is_ok());

    // The sender: its own push first, then the reply, which holds the same message.
    let own = alice.json(WAIT).await;
    assert_eq!(own, pushed, "the sender's copy is the same frame");
    let reply = alice.json(WAIT).await;
    assert_eq!(reply["id"], 4);
    assert!(reply["error"].is_null());
    for key in ["_id", "to", "from", "createdAt", "type", "value"] {
        assert_eq!(reply["data"][key], m[key], "{key}");
    }
    alice.quiet_where(QUIET, is_push).await;
    bob.quiet_where(QUIET, is_push).await;

    // A reply to bob, addressed by user id as a number.
    let back = call(
        &mut bob,
        2,
        "create",
        json!({"to": ua["id"], "value": "Hi alice"}),
    )
    .await;
    assert_eq!(back["data"]["to"], a_id.as_str());
    assert_eq!(alice.json(WAIT).await["data"]["value"], "Hi alice");
    call(
        &mut alice,
        5,
        "create",
        json!({"to": b_id, "value": "third"}),
    )
    .await;

    // getMessages: newest first, limit defaults to 10, skip and limit page.
    let all = call(&mut bob, 3, "getMessages", json!({"with": a_id})).await;
    let values: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["third", "Hi alice", "Hi bob!"]);
    assert_eq!(all["data"][1]["to"], a_id.as_str());
    assert_eq!(all["data"][1]["from"], b_id.as_str());
    let page = call(
        &mut bob,
        4,
        "getMessages",
        json!({"with": a_id, "skip": 1, "limit": 1}),
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["value"], "Hi alice");
    let none = call(&mut bob, 5, "getMessages", json!({"with": b_id})).await;
    assert_eq!(none["data"], json!([]), "no conversation with oneself yet");

    // read {id} and the README's bare string.
    let read = call(&mut bob, 6, "read", json!({"id": msg_id})).await;
    assert!(read["error"].is_null(), "{read}");
    assert_eq!(read["data"]["ok"], 1);
    assert_eq!(read["data"]["value"]["_id"], msg_id.as_str());
    assert_eq!(read["data"]["value"]["read"], true);
    let newest = all["data"][0]["_id"].as_str().unwrap();
    let read = call(&mut bob, 7, "read", json!(newest)).await;
    assert_eq!(read["data"]["unread"], 0, "{read}");
    let unknown = call(&mut bob, 8, "read", json!({"id": "999999"})).await;
    assert!(unknown["error"].as_str().unwrap().starts_with("not_found"));
}

#[tokio::test]
async fn group_messages_reach_every_member_and_native_clients() {
    let server = Server::start().await;
    let (alice, mut native_a) = user(&server, "alice").await;
    let (tb, ub) = signup_user(&server, "bob").await;
    let (tc, _) = signup_user(&server, "carol").await;
    let group = native_a
        .call(
            "rooms.create",
            json!({"name":"team","kind":"group","members":["@bob"]}),
        )
        .await
        .unwrap();
    let gid = id_of(&group).to_string();
    let mut bob = authorized(&server, &tb).await;
    let mut carol = authorized(&server, &tc).await;

    let reply = call(
        &mut bob,
        2,
        "create",
        json!({"to": gid, "isGroup": true, "type": "text", "value": "hello team"}),
    )
    .await;
    assert!(reply["error"].is_null(), "{reply}");
    assert_eq!(reply["data"]["isGroup"], true);
    let n = native_a
        .notification_where("message", WAIT, |p| p["text"] == "hello team")
        .await
        .unwrap();
    assert_eq!(n.params["sender"], ub["id"]);
    carol.quiet_where(QUIET, is_push).await;

    send(&mut native_a, group["id"].clone(), "from native").await;
    let pushed = bob
        .json_where(WAIT, |v| is_push(v) && v["data"]["value"] == "from native")
        .await;
    assert_eq!(pushed["data"]["to"], gid.as_str());
    assert_eq!(pushed["data"]["isGroup"], true);
    assert_eq!(pushed["data"]["from"], alice.id.to_string());

    let history = call(
        &mut bob,
        3,
        "getMessages",
        json!({"with": gid, "isGroup": true}),
    )
    .await;
    let values: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["from native", "hello team"]);
    let refused = call(
        &mut carol,
        2,
        "create",
        json!({"to": gid, "isGroup": true, "value": "let me in"}),
    )
    .await;
    assert!(
        refused["error"].as_str().unwrap().starts_with("not_found"),
        "a private group does not admit it exists: {refused}"
    );

    let listing = call(&mut bob, 4, "getUsersAndGroups", json!({})).await;
    let users = listing["data"]["users"].as_array().unwrap();
    assert_eq!(users.len(), 3, "every user");
    let groups = listing["data"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["_id"], gid.as_str());
    assert_eq!(groups[0]["name"], "team");
    let members = groups[0]["users"].as_array().unwrap();
    assert!(members.contains(&json!(ub["id"].to_string())));
    let carols = call(&mut carol, 3, "getUsersAndGroups", Value::Null).await;
    assert_eq!(carols["data"]["groups"], json!([]), "groups containing me");
}

#[tokio::test]
async fn direct_messages_cross_to_native_clients_both_ways() {
    let server = Server::start().await;
    let (ta, ua) = signup_user(&server, "alice").await;
    let (bob, mut native_b) = user(&server, "bob").await;
    let mut alice = authorized(&server, &ta).await;

    let reply = call(
        &mut alice,
        2,
        "create",
        json!({"to": bob.id.to_string(), "value": "to a native client"}),
    )
    .await;
    assert!(reply["error"].is_null(), "{reply}");
    let n = native_b
        .notification_where("message", WAIT, |p| p["text"] == "to a native client")
        .await
        .unwrap();
    assert_eq!(n.params["sender"], ua["id"]);
    assert_eq!(n.params["sender_handle"], "alice");

    send(&mut native_b, "@alice", "native reply").await;
    let pushed = alice.json_where(WAIT, is_push).await;
    assert_eq!(pushed["data"]["value"], "native reply");
    assert_eq!(pushed["data"]["from"], bob.id.to_string());
    assert_eq!(pushed["data"]["to"], ua["id"].to_string());
}

/// A port that was free a moment ago, for a dialect's own listener.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

#[tokio::test]
async fn its_own_listener_accepts_any_path() {
    let port = free_port();
    let server = Server::start_with(Settings::default().env(
        "PALAVER_DIALECTS__CHAT_CLIENT__LISTEN",
        format!("127.0.0.1:{port}"),
    ))
    .await;
    let (token, _) = signup_user(&server, "alice").await;
    for path in ["/", "/any/path?x=1"] {
        let mut ws = RawWs::connect(&format!("ws://127.0.0.1:{port}{path}"), &[]).await;
        let reply = call(&mut ws, 1, "authorize", json!({"token": token})).await;
        assert_eq!(reply["data"]["handle"], "alice", "{path}: {reply}");
    }
}
