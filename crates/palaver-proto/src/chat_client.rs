//! The `chat-client` dialect (seed 001, ido-ofir/node-chat-server and its npm client
//! `chat-client`): requests `{type,data,id}`, replies `{id,error,data}` (no `type`, which is how
//! the client tells them from pushes), pushes `{type:"chatMessage",data}`. Ids are strings on
//! this side: a user's or a message's id is the Palaver id written as a string.
//! See `docs/dialects.md`, section `chat-client`.

use crate::dialect::EventContext;
use crate::session_key::iso8601_ms;
use palaver_core::{Conversation, CoreError, Event, EventBody, Message, User, UserId};
use serde_json::{Map, Value, json};

/// The error of a failed `authorize` (the socket stays open for another try).
pub const AUTHORIZATION_FAILED: &str = "authorizationFailed";

/// The seed's exact error for a `create` without `to`.
pub const MISSING_TO: &str = "node-chat-server: a chat message must contain a 'to' property which should be a valid id of a user or a group.";

/// The push type of a chat message.
pub const CHAT_MESSAGE: &str = "chatMessage";

/// A decoded request frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The action: `authorize`, `create`, `getMessages`, `read` or a custom one.
    pub action: String,
    /// `null` when absent.
    pub data: Value,
    /// Echoed in the reply; a request without one gets a reply without one.
    pub id: Option<Value>,
}

/// Decodes a frame; `None` for anything that is not a JSON object with a string `type` (the
/// seed logs those and answers nothing).
pub fn decode(text: &str) -> Option<Request> {
    let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let Some(Value::String(action)) = o.remove("type") else {
        return None;
    };
    Some(Request {
        action,
        data: o.remove("data").unwrap_or(Value::Null),
        id: o.remove("id"),
    })
}

/// A reply: `{"id","error":null,"data"}` on success, `{"id","error"}` on failure.
pub fn reply(id: &Option<Value>, result: Result<Value, String>) -> String {
    let mut o = Map::new();
    if let Some(id) = id {
        o.insert("id".into(), id.clone());
    }
    match result {
        Ok(data) => {
            o.insert("error".into(), Value::Null);
            o.insert("data".into(), data);
        }
        Err(e) => {
            o.insert("error".into(), Value::String(e));
        }
    }
    Value::Object(o).to_string()
}

/// The error value of a failed request: `"<code>: <message>"`, the code being the stable
/// Palaver error code (`invalid_input`, `forbidden`, `not_found`, …).
pub fn error_text(e: &CoreError) -> String {
    format!("{}: {}", e.kind.code(), e.message)
}

/// A push frame `{"type","data"}`.
pub fn push(kind: &str, data: Value) -> String {
    json!({ "type": kind, "data": data }).to_string()
}

/// The token of an `authorize` request: `data.token` (a string or a number, as in the README's
/// `{ token: 123 }`), or `data` itself when it is a bare string.
pub fn token(data: &Value) -> Option<String> {
    let t = match data {
        Value::Object(o) => o.get("token")?,
        other => other,
    };
    match t {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A `create` request: the message object the client sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    /// `to` as a string: a user id, or with `is_group` a conversation id.
    pub to: String,
    pub is_group: bool,
    /// The durable text: `value` if a string, else `text` if a string, else `value` as JSON.
    pub text: String,
    /// Everything the client sent, echoed in the reply under the fields the server sets.
    pub fields: Map<String, Value>,
}

/// Checks a `create` request; the error is the reply's error value.
pub fn parse_create(data: &Value) -> Result<Create, String> {
    let Value::Object(fields) = data else {
        return Err(MISSING_TO.into());
    };
    let to = match fields.get("to") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(MISSING_TO.into()),
    };
    let text = match (fields.get("value"), fields.get("text")) {
        (Some(Value::String(s)), _) => s.clone(),
        (_, Some(Value::String(s))) => s.clone(),
        (Some(v), _) if !v.is_null() => v.to_string(),
        _ => {
            return Err(error_text(&CoreError::invalid(
                "a chat message needs a `value` (or `text`)",
            )));
        }
    };
    Ok(Create {
        to,
        is_group: truthy(fields.get("isGroup")),
        text,
        fields: fields.clone(),
    })
}

/// JavaScript truthiness, for flags such as `isGroup`.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// A `getMessages` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagesQuery {
    /// The other user's id, or with `is_group` the group's id; `None` when missing.
    pub with: Option<String>,
    pub is_group: bool,
    /// Defaults to 10 (a falsy limit counts as absent, as in the seed).
    pub limit: u32,
    pub skip: u32,
}

pub fn parse_get_messages(data: &Value) -> MessagesQuery {
    let count = |key: &str| -> Option<u32> {
        let v = data.get(key)?;
        let n = match v {
            Value::Number(n) => n.as_f64()?,
            Value::String(s) => s.trim().parse::<f64>().ok()?,
            _ => return None,
        };
        (n.is_finite() && n >= 0.0).then(|| n.min(f64::from(u32::MAX)) as u32)
    };
    let with = match data.get("with") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    MessagesQuery {
        with,
        is_group: truthy(data.get("isGroup")),
        limit: count("limit").filter(|n| *n > 0).unwrap_or(10),
        skip: count("skip").unwrap_or(0),
    }
}

/// The message id of a `read` request: `data.id`, or `data` itself (the chat-client README
/// calls `read(msg._id)` with a bare string).
pub fn read_id(data: &Value) -> Option<i64> {
    let v = match data {
        Value::Object(o) => o.get("id").or_else(|| o.get("_id"))?,
        other => other,
    };
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// A stored message as this dialect's clients see it: `_id`, `from` (the sender's id),
/// `to` (the other user's id, or the group's id with `isGroup: true`), `createdAt`,
/// `type: "text"` and `value` (the text).
pub fn message_object(m: &Message, to: Option<String>, is_group: bool) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("_id".into(), Value::String(m.id.to_string()));
    o.insert("from".into(), Value::String(m.sender.to_string()));
    if let Some(to) = to {
        o.insert("to".into(), Value::String(to));
    }
    if is_group {
        o.insert("isGroup".into(), Value::Bool(true));
    }
    o.insert("createdAt".into(), Value::String(iso8601_ms(m.ts)));
    o.insert("type".into(), Value::String("text".into()));
    o.insert("value".into(), Value::String(m.text.clone()));
    o
}

/// The reply to `create`: the client's own object with the server's fields set over it.
pub fn created_object(sent: &Create, m: &Message, to: String) -> Value {
    let mut o = sent.fields.clone();
    for (k, v) in message_object(m, Some(to), sent.is_group) {
        // The client's own `type` and `value` stay as sent; the push carries the stored text.
        if (k == "type" || k == "value") && o.contains_key(&k) {
            continue;
        }
        o.insert(k, v);
    }
    Value::Object(o)
}

/// A user as this dialect's clients see it (`_id` and `id` both the id as a string).
pub fn user_object(u: &User) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("_id".into(), Value::String(u.id.to_string()));
    o.insert("id".into(), Value::String(u.id.to_string()));
    o.insert("name".into(), Value::String(u.display_name.clone()));
    o.insert("handle".into(), Value::String(u.handle.clone()));
    if let Some(a) = &u.avatar_url {
        o.insert("avatar".into(), Value::String(a.clone()));
    }
    o
}

/// The reply to `authorize`: the user object with the token it was authorized with. A user
/// the authorize hook named is echoed as the hook sent it, under Palaver's own fields (the
/// seed echoes whatever its `authorize` callback returned).
pub fn authorized_object(
    u: &User,
    token: Option<&str>,
    hooked: Option<Map<String, Value>>,
) -> Value {
    let mut o = hooked.unwrap_or_default();
    o.extend(user_object(u));
    if let Some(token) = token {
        o.insert("token".into(), Value::String(token.to_owned()));
    }
    Value::Object(o)
}

/// A group (a Palaver channel or group) with its members' ids, as the seed's `groups`
/// collection stored them: `{_id, id, name, kind, users: [id…]}`.
pub fn group_object(c: &Conversation, members: &[UserId]) -> Value {
    json!({
        "_id": c.id.to_string(),
        "id": c.id.to_string(),
        "name": c.name.clone().unwrap_or_default(),
        "kind": c.kind.as_str(),
        "users": members.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
    })
}

/// The `chatMessage` push for a core event; messages only. A message of a room is addressed
/// to the room (`isGroup: true`); one of a direct conversation to the member who did not send
/// it (from `ctx.users`; when a node lacks them, which only happens for a message fetched to
/// fill a gap, `to` is left out).
pub fn encode_event(event: &Event, ctx: &EventContext<'_>) -> Option<String> {
    let EventBody::Message(m) = &event.body else {
        return None;
    };
    let (to, is_group) = match ctx.room {
        Some(_) => (Some(m.conversation.to_string()), true),
        None => (dm_peer(m.sender, ctx.users).map(|u| u.to_string()), false),
    };
    Some(push(
        CHAT_MESSAGE,
        Value::Object(message_object(m, to, is_group)),
    ))
}

/// The member of a direct conversation who is not `sender` (the sender, for a note to self).
fn dm_peer(sender: UserId, users: &[UserId]) -> Option<UserId> {
    match users {
        [a, b] if *a == sender => Some(*b),
        [a, b] if *b == sender => Some(*a),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palaver_core::{ConversationId, MessageId};

    fn msg() -> Message {
        Message {
            id: MessageId(7),
            conversation: ConversationId(3),
            seq: 1,
            sender: UserId(1),
            sender_handle: "alice".into(),
            text: "Hi bob!".into(),
            ts: 1_795_357_592_699,
            client_id: None,
        }
    }

    #[test]
    fn requests_and_replies() {
        let r = decode(r#"{"type":"authorize","data":{"token":"t1"},"id":1}"#).unwrap();
        assert_eq!(r.action, "authorize");
        assert_eq!(token(&r.data).as_deref(), Some("t1"));
        assert_eq!(token(&json!({"token": 123})).as_deref(), Some("123"));
        assert_eq!(token(&json!({})), None);
        assert!(decode("{nope").is_none());
        assert!(decode(r#"{"data":{}}"#).is_none());
        assert!(decode(r#"[1]"#).is_none());
        let ok: Value = serde_json::from_str(&reply(&r.id, Ok(json!([])))).unwrap();
        assert_eq!(ok, json!({"id":1,"error":null,"data":[]}));
        let err: Value =
            serde_json::from_str(&reply(&r.id, Err(AUTHORIZATION_FAILED.into()))).unwrap();
        assert_eq!(err, json!({"id":1,"error":"authorizationFailed"}));
        let anonymous: Value = serde_json::from_str(&reply(&None, Ok(json!(1)))).unwrap();
        assert_eq!(anonymous, json!({"error":null,"data":1}));
    }

    #[test]
    fn create_and_queries() {
        let c = parse_create(&json!({"to":"2","type":"text","value":"Hi bob!"})).unwrap();
        assert_eq!(
            (c.to.as_str(), c.is_group, c.text.as_str()),
            ("2", false, "Hi bob!")
        );
        let g = parse_create(&json!({"to":5,"isGroup":true,"text":"hey"})).unwrap();
        assert_eq!(
            (g.to.as_str(), g.is_group, g.text.as_str()),
            ("5", true, "hey")
        );
        let n = parse_create(&json!({"to":"2","value":42})).unwrap();
        assert_eq!(n.text, "42");
        assert_eq!(parse_create(&json!({"value":"x"})).unwrap_err(), MISSING_TO);
        assert_eq!(parse_create(&json!(null)).unwrap_err(), MISSING_TO);
        assert!(
            parse_create(&json!({"to":"2"}))
                .unwrap_err()
                .starts_with("invalid_input")
        );

        let q = parse_get_messages(&json!({"with":"2"}));
        assert_eq!((q.limit, q.skip, q.is_group), (10, 0, false));
        let q = parse_get_messages(&json!({"with":4,"limit":0,"skip":"3","isGroup":true}));
        assert_eq!((q.with.as_deref(), q.limit, q.skip), (Some("4"), 10, 3));
        assert!(q.is_group);
        assert_eq!(read_id(&json!({"id":"12"})), Some(12));
        assert_eq!(read_id(&json!("12")), Some(12));
        assert_eq!(read_id(&json!({"id":"x"})), None);
    }

    #[test]
    fn pushes_address_direct_messages_by_user() {
        let ev = Event {
            pos: Some(7),
            ts: 0,
            body: EventBody::Message(msg()),
        };
        let users = [UserId(1), UserId(2)];
        let ctx = EventContext {
            room: None,
            users: &users,
        };
        let v: Value = serde_json::from_str(&encode_event(&ev, &ctx).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"type":"chatMessage","data":{"_id":"7","from":"1","to":"2",
                "createdAt":"2026-11-22T14:26:32.699Z","type":"text","value":"Hi bob!"}})
        );
        let room = EventContext {
            room: Some("team"),
            users: &[],
        };
        let v: Value = serde_json::from_str(&encode_event(&ev, &room).unwrap()).unwrap();
        assert_eq!(v["data"]["to"], "3");
        assert_eq!(v["data"]["isGroup"], true);
    }

    #[test]
    fn created_reply_keeps_the_clients_fields() {
        let sent =
            parse_create(&json!({"to":"2","type":"image","value":"x.png","extra":1})).unwrap();
        let v = created_object(&sent, &msg(), "2".into());
        assert_eq!(v["type"], "image");
        assert_eq!(v["extra"], 1);
        assert_eq!(v["_id"], "7");
        assert_eq!(v["from"], "1");
    }
}
