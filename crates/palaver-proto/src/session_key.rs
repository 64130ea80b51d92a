//! The `session-key` dialect (seed 002, michael-redman/nodejschat): a WebSocket bound to one room
//! by `?session_key=`, `{"authenticated":true}` first, then the room's recent history and live
//! messages as `{"time","user","message"}`; the client sends `{"message": text}`.
//! See `docs/dialects.md`, section `session-key`.

use palaver_core::{Event, EventBody, Message};
use serde_json::{Value, json};

/// The first frame of an authenticated connection.
pub const AUTHENTICATED: &str = r#"{"authenticated":true}"#;

/// What a client frame asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// Say this text in the room.
    Say(String),
    /// Valid JSON without a usable `message` (absent or `null`): the seed's NOT NULL
    /// violation, which closes the connection with 1000.
    Missing,
    /// Not JSON at all, or a blank message: ignored, the connection stays (the seed crashed).
    Ignore,
}

/// Decodes a client frame. A number (the seed's test client sends `Math.random()`) or a
/// boolean is stored as its JSON text, as PostgreSQL's cast to text did; an object or array
/// as its JSON text.
pub fn decode(text: &str) -> Incoming {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Incoming::Ignore;
    };
    let said = match value.get("message") {
        None | Some(Value::Null) => return Incoming::Missing,
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if said.trim().is_empty() {
        return Incoming::Ignore;
    }
    Incoming::Say(said)
}

/// A message as the seed's clients read it. `user` is the sender's handle. `id` (the Palaver
/// message id) is an addition the seed's clients ignore; the server uses it to splice history
/// and live delivery without a gap or a repeat.
pub fn encode_message(m: &Message) -> String {
    json!({
        "time": iso8601_ms(m.ts),
        "user": m.sender_handle,
        "message": m.text,
        "id": m.id.0,
    })
    .to_string()
}

/// The frame for a core event: messages only; this dialect has no other frames.
pub fn encode_event(event: &Event) -> Option<String> {
    match &event.body {
        EventBody::Message(m) => Some(encode_message(m)),
        _ => None,
    }
}

/// The message id of a frame made by [`encode_message`].
pub fn message_id(frame: &str) -> Option<i64> {
    serde_json::from_str::<Value>(frame)
        .ok()?
        .get("id")?
        .as_i64()
}

/// Milliseconds since the Unix epoch as ISO 8601 in UTC with milliseconds, as JavaScript's
/// `Date.prototype.toJSON` writes it: `2016-08-08T17:20:32.421Z`.
pub fn iso8601_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palaver_core::{ConversationId, MessageId, UserId};

    #[test]
    fn times_like_javascript() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_470_676_832_421), "2016-08-08T17:20:32.421Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso8601_ms(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn decodes_what_the_seed_clients_send() {
        assert_eq!(
            decode(r#"{"message":"hi","session_key":"k"}"#),
            Incoming::Say("hi".into())
        );
        assert_eq!(decode(r#"{"message":0.25}"#), Incoming::Say("0.25".into()));
        assert_eq!(decode(r#"{"message":true}"#), Incoming::Say("true".into()));
        assert_eq!(decode(r#"{"text":"x"}"#), Incoming::Missing);
        assert_eq!(decode(r#"{"message":null}"#), Incoming::Missing);
        assert_eq!(decode("42"), Incoming::Missing);
        assert_eq!(decode("{nope"), Incoming::Ignore);
        assert_eq!(decode(r#"{"message":"  "}"#), Incoming::Ignore);
    }

    #[test]
    fn message_frame() {
        let m = Message {
            id: MessageId(9),
            conversation: ConversationId(1),
            seq: 3,
            sender: UserId(2),
            sender_handle: "bob".into(),
            text: "Hello room 0".into(),
            ts: 1_470_676_832_421,
            client_id: None,
        };
        let frame = encode_message(&m);
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            v,
            json!({"time":"2016-08-08T17:20:32.421Z","user":"bob","message":"Hello room 0","id":9})
        );
        assert_eq!(message_id(&frame), Some(9));
        assert_eq!(message_id(AUTHENTICATED), None);
    }
}
