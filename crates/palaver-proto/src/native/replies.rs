//! Result shapes of native calls and the encoding of core events as notifications.

use palaver_core::{ConversationId, Event, EventBody, Message, User, UserId};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub struct SendResult {
    pub id: i64,
    pub conversation: ConversationId,
    pub seq: i64,
    pub ts: i64,
    pub duplicate: bool,
}

#[derive(Debug, Serialize)]
pub struct HistoryResult {
    pub messages: Vec<Arc<Message>>,
    pub has_more: bool,
}

#[derive(Debug, Serialize)]
pub struct ReadResult {
    pub conversation: ConversationId,
    pub last_read_seq: i64,
    pub unread: i64,
}

#[derive(Debug, Serialize)]
pub struct MemberEntry {
    #[serde(flatten)]
    pub user: User,
    pub online: bool,
}

#[derive(Debug, Serialize)]
pub struct PresenceEntry {
    pub user: UserId,
    pub handle: String,
    pub online: bool,
}

#[derive(Debug, Serialize)]
pub struct SyncResult {
    pub events: Vec<Value>,
    pub next: String,
    pub has_more: bool,
}

/// Serialises a result straight to JSON text (no intermediate `Value` tree); failures (which
/// only a bug could cause) become `null`.
pub fn to_result<T: Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// The `params` of an event's notification: its fields without the internal `type` tag.
pub fn event_params(body: &EventBody) -> Value {
    let mut v = serde_json::to_value(body).unwrap_or(Value::Null);
    if let Value::Object(obj) = &mut v {
        obj.remove("type");
    }
    v
}

/// A durable event as `sync` returns it: `{"type": <notification name>, "pos", "ts", ...params}`.
pub fn sync_event(event: &Event) -> Value {
    let mut v = event_params(&event.body);
    if let Value::Object(obj) = &mut v {
        obj.insert("type".into(), Value::String(event.body.name().into()));
        if let Some(pos) = event.pos {
            obj.insert("pos".into(), Value::from(pos));
        }
        obj.entry("ts").or_insert(Value::from(event.ts));
    }
    v
}

/// Encodes an event as a notification frame. Called once per event, shared by all recipients.
pub fn encode_event(event: &Event) -> String {
    let params = event_params(&event.body);
    match RawValue::from_string(params.to_string()) {
        Ok(raw) => super::encode_notification_raw(event.body.name(), &raw),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_shape() {
        let ev = Event {
            pos: Some(3),
            ts: 10,
            body: EventBody::Read {
                conversation: ConversationId(4),
                user: UserId(2),
                handle: "bob".into(),
                seq: 9,
            },
        };
        let v: Value = serde_json::from_str(&encode_event(&ev)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc":"2.0","method":"read","params":{"conversation":4,"user":2,"handle":"bob","seq":9}})
        );
        assert_eq!(sync_event(&ev)["type"], "read");
    }
}
