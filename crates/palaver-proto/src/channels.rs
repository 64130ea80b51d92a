//! The `channels` dialect (seed 000, alersrt/node-chat-server): the protocol its README
//! describes, which its code never implemented. Commands create/destroy/join/leave a `#channel`,
//! messages go to `#channel` or `@user`, and the server reports `event` frames.

use crate::dialect::EventContext;
use palaver_core::{ConversationKind, Event, EventBody};
use serde::Deserialize;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Destroy,
    Join,
    Leave,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "create" => Self::Create,
            "destroy" => Self::Destroy,
            "join" => Self::Join,
            "leave" => Self::Leave,
            _ => return None,
        })
    }
}

/// A client frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Command { action: Action, target: String },
    Message { target: String, message: String },
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    action: Option<String>,
    target: Option<String>,
    message: Option<String>,
}

/// Decodes a client frame, or returns the error frame to answer with.
pub fn decode(text: &str) -> Result<Incoming, String> {
    let raw: Raw = serde_json::from_str(text)
        .map_err(|_| error_frame(None, "malformed frame: expected a JSON command or message"))?;
    let target = raw
        .target
        .ok_or_else(|| error_frame(None, "missing `target`"))?;
    match raw.kind.as_deref() {
        Some("command") => match raw.action.as_deref().and_then(Action::parse) {
            Some(action) => Ok(Incoming::Command { action, target }),
            None => Err(error_frame(
                Some(&target),
                "`action` must be create, destroy, join or leave",
            )),
        },
        // The seed's only working code ignored `type`, so a frame with a message is one.
        Some("message") | None => match raw.message {
            Some(message) => Ok(Incoming::Message { target, message }),
            None => Err(error_frame(Some(&target), "missing `message`")),
        },
        Some(_) => Err(error_frame(
            Some(&target),
            "`type` must be command or message",
        )),
    }
}

/// The dialect's error report: an `event` frame from the server (the README defines none).
pub fn error_frame(target: Option<&str>, message: &str) -> String {
    json!({
        "type": "event",
        "emitter": "server",
        "identifier": target,
        "event": "error",
        "message": message,
    })
    .to_string()
}

fn event_frame(emitter: &str, identifier: &str, event: &str) -> String {
    json!({ "type": "event", "emitter": emitter, "identifier": identifier, "event": event })
        .to_string()
}

/// The frame for a core event, the same for every recipient.
pub fn encode_event(event: &Event, ctx: &EventContext<'_>) -> Option<String> {
    match &event.body {
        EventBody::RoomCreated { room } if room.kind == ConversationKind::Channel => {
            let name = room.name.as_deref()?;
            Some(event_frame("channel", &format!("#{name}"), "create"))
        }
        EventBody::RoomDestroyed {
            name: Some(name), ..
        } => Some(event_frame("channel", &format!("#{name}"), "destroy")),
        EventBody::MemberJoined { user, .. } => {
            Some(event_frame("participant", &user.to_string(), "join"))
        }
        EventBody::MemberLeft { user, .. } => {
            Some(event_frame("participant", &user.to_string(), "left"))
        }
        EventBody::Message(m) => {
            // A room message names the room; a direct one names its sender.
            let target = match ctx.room {
                Some(room) => format!("#{room}"),
                None => format!("@{}", m.sender_handle),
            };
            Some(
                json!({
                    "type": "message",
                    "emitter": "participant",
                    "target": target,
                    "identifier": m.sender.to_string(),
                    "message": m.text,
                })
                .to_string(),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palaver_core::{ConversationId, Message, MessageId, UserId};
    use serde_json::Value;

    #[test]
    fn decodes_the_readme_frames() {
        let c = decode(r##"{"type":"command","action":"create","target":"#main"}"##).unwrap();
        assert_eq!(
            c,
            Incoming::Command {
                action: Action::Create,
                target: "#main".into()
            }
        );
        let m = decode(r##"{"type":"message","target":"#main","message":"Hello guys!"}"##).unwrap();
        assert_eq!(
            m,
            Incoming::Message {
                target: "#main".into(),
                message: "Hello guys!".into()
            }
        );
        for bad in [
            "nope",
            "{}",
            r##"{"type":"command","target":"#a","action":"fly"}"##,
        ] {
            let e: Value = serde_json::from_str(&decode(bad).unwrap_err()).unwrap();
            assert_eq!(e["event"], "error");
        }
    }

    #[test]
    fn encodes_a_room_message_as_the_readme_shows() {
        let m = Message {
            id: MessageId(1),
            conversation: ConversationId(2),
            seq: 1,
            sender: UserId(7),
            sender_handle: "alice".into(),
            text: "Hello guys!".into(),
            ts: 0,
            client_id: None,
        };
        let ev = Event {
            pos: Some(1),
            ts: 0,
            body: EventBody::Message(m),
        };
        let frame = encode_event(
            &ev,
            &EventContext {
                room: Some("main"),
                ..Default::default()
            },
        )
        .unwrap();
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            v,
            json!({"type":"message","emitter":"participant","target":"#main","identifier":"7","message":"Hello guys!"})
        );
        let dm = encode_event(
            &ev,
            &EventContext {
                room: None,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(dm.contains(r#""target":"@alice""#));
    }
}
