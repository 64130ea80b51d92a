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
    pub messages: Vec<Arc<EncodedMessage>>,
    pub has_more: bool,
}

/// A message with its native JSON, encoded the first time it is serialised and reused after
/// (the server's cache of recent messages holds these, so a page of 50 is copied, not
/// encoded). It serialises exactly as the message does.
#[derive(Debug)]
pub struct EncodedMessage {
    message: Message,
    json: std::sync::OnceLock<Option<Box<RawValue>>>,
}

impl EncodedMessage {
    pub fn new(message: Message) -> Self {
        Self {
            message,
            json: std::sync::OnceLock::new(),
        }
    }
}

impl std::ops::Deref for EncodedMessage {
    type Target = Message;

    fn deref(&self) -> &Message {
        &self.message
    }
}

impl AsRef<Message> for EncodedMessage {
    fn as_ref(&self) -> &Message {
        &self.message
    }
}

impl Serialize for EncodedMessage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let json = self
            .json
            .get_or_init(|| serde_json::value::to_raw_value(&self.message).ok());
        match json {
            Some(raw) => raw.serialize(s),
            None => self.message.serialize(s),
        }
    }
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

    #[test]
    fn an_encoded_message_serialises_as_the_message_does() {
        let m = Message {
            id: palaver_core::MessageId(12),
            conversation: ConversationId(3),
            seq: 7,
            sender: UserId(2),
            sender_handle: "bob".into(),
            text: "a \"quoted\" line\nand é".into(),
            ts: 1_700_000_000_000,
            client_id: Some("c-1".into()),
        };
        let plain = serde_json::to_string(&m).unwrap();
        let encoded = Arc::new(EncodedMessage::new(m));
        // Twice: the second time from the kept encoding.
        for _ in 0..2 {
            let page = HistoryResult {
                messages: vec![encoded.clone(), encoded.clone()],
                has_more: false,
            };
            assert_eq!(
                to_result(&page).get(),
                format!(r#"{{"messages":[{plain},{plain}],"has_more":false}}"#)
            );
            assert_eq!(serde_json::to_string(&encoded).unwrap(), plain);
        }
        assert_eq!(encoded.seq, 7, "it reads as the message");
    }
}
