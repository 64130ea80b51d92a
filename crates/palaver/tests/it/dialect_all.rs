//! Every dialect in one room: a native client, a `channels` client, a `chat-client` client, a
//! `session-key` socket and a `path-rooms` guest all in `#main`, each sending, and each seeing
//! everybody's messages, in the same order. (`messenger` has no rooms in its protocol; its
//! cross-dialect direct messages are tested in `dialect_messenger`.)

use crate::harness::*;
use crate::raw::RawWs;
use palaver_client::http;
use serde_json::{Value, json};

const SENDERS: [&str; 5] = [
    "native",
    "channels",
    "chat-client",
    "session-key",
    "path-rooms",
];
const ROUNDS: usize = 3;

fn ws_base(server: &Server) -> String {
    server.ws_url().trim_end_matches("/ws").to_owned()
}

/// The message texts a dialect's client saw, in arrival order.
async fn texts(
    ws: &mut RawWs,
    field: &str,
    pick: impl Fn(&Value) -> Option<&Value>,
) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < SENDERS.len() * ROUNDS {
        let v = ws.json(WAIT).await;
        if let Some(m) = pick(&v).and_then(|m| m.get(field)).and_then(Value::as_str) {
            out.push(m.to_owned());
        }
    }
    out
}

#[tokio::test]
async fn every_dialect_sees_every_message_in_the_same_order() {
    let server =
        Server::start_with(Settings::default().env("PALAVER_AUTH__ADMINS", "[\"admin\"]")).await;
    let base = ws_base(&server);
    let (admin, _) = signup_user(&server, "admin").await;
    let (_n, mut native) = user(&server, "nat").await;
    let (tc, _) = signup_user(&server, "chan").await;
    let (tcc, _) = signup_user(&server, "cc").await;
    signup_user(&server, "sk").await;

    let main = native
        .call("rooms.create", json!({"name":"main","kind":"channel"}))
        .await
        .unwrap();
    let room_id = id_of(&main).to_string();

    // channels: joins with the README's command.
    let mut channels = RawWs::connect(&format!("{base}/compat/channels?token={tc}"), &[]).await;
    channels
        .send_json(&json!({"type":"command","action":"join","target":"#main"}))
        .await;
    channels.json_where(WAIT, |v| v["event"] == "join").await;

    // chat-client: authorizes, joins over native first (its protocol has no join).
    let mut cc_native = connect(&server, &tcc).await;
    cc_native
        .call("rooms.join", json!({"room":"#main"}))
        .await
        .unwrap();
    let mut chat_client = RawWs::connect(&format!("{base}/compat/chat-client"), &[]).await;
    chat_client
        .send_json(&json!({"type":"authorize","data":{"token":tcc},"id":1}))
        .await;
    assert!(chat_client.json(WAIT).await["error"].is_null());

    // session-key: a key for sk in #main from the admin API (which joins sk to the channel).
    let r = http::post_json(
        server.base(),
        "/api/v1/admin/session-keys",
        &json!({"user":"sk","room":"#main"}),
        Some(&admin),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.body["key"].as_str().unwrap();
    let mut session_key =
        RawWs::connect(&format!("{base}/compat/session-key?session_key={key}"), &[]).await;
    assert_eq!(session_key.json(WAIT).await, json!({"authenticated": true}));

    // path-rooms: a guest at the channel's path, with a nickname.
    let mut path_rooms = RawWs::connect(&format!("{base}/compat/path-rooms/main"), &[]).await;
    assert_eq!(path_rooms.json(WAIT).await["type"], "connection");
    path_rooms
        .send_json(&json!({"type":"identity","user":"guest"}))
        .await;
    path_rooms
        .json_where(WAIT, |v| v["type"] == "identity")
        .await;

    // Each client sends in turn, each waiting for its own message to come back stored.
    let mut sent = Vec::new();
    for round in 0..ROUNDS {
        for sender in SENDERS {
            let text = format!("{sender} {round}");
            match sender {
                "native" => {
                    send(&mut native, "#main", &text).await;
                }
                "channels" => {
                    channels
                        .send_json(&json!({"type":"message","target":"#main","message":text}))
                        .await;
                }
                "chat-client" => {
                    let req = json!({"type":"create","id":100 + sent.len(),
                        "data":{"to":room_id,"isGroup":true,"type":"text","value":text}});
                    chat_client.send_json(&req).await;
                }
                "session-key" => session_key.send_json(&json!({"message": text})).await,
                _ => {
                    path_rooms
                        .send_json(&json!({"type":"message","text":text}))
                        .await
                }
            }
            // The native member sees it stored before the next client speaks.
            native
                .notification_where("message", WAIT, |p| p["text"] == text.as_str())
                .await
                .unwrap_or_else(|e| panic!("{text} never arrived: {e}"));
            sent.push(text);
        }
    }

    // The order everyone must see: the store's (seq) order.
    let h = native
        .call(
            "messages.history",
            json!({"conversation":"#main","limit":50}),
        )
        .await
        .unwrap();
    let stored: Vec<String> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, sent, "stored once each, in sending order");

    let seen_channels = texts(&mut channels, "message", |v| {
        (v["type"] == "message").then_some(v)
    })
    .await;
    let seen_cc = texts(&mut chat_client, "value", |v| {
        (v["type"] == "chatMessage").then(|| &v["data"])
    })
    .await;
    let seen_sk = texts(&mut session_key, "message", |v| v.get("time").map(|_| v)).await;
    let seen_pr = texts(&mut path_rooms, "text", |v| {
        (v["type"] == "message").then_some(v)
    })
    .await;
    for (dialect, seen) in [
        ("channels", seen_channels),
        ("chat-client", seen_cc),
        ("session-key", seen_sk),
        ("path-rooms", seen_pr),
    ] {
        assert_eq!(seen, stored, "{dialect} saw every message once, in order");
    }
}
