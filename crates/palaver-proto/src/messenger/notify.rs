//! Notifications: `{"type","code","body"}` frames without a `jsonrpc` field, encoded for each
//! recipient (they name the receiver, and say nothing to a user about themselves).

use super::{UserInfo, split_name, tag};
use crate::dialect::{EventContext, Recipient};
use palaver_core::{Event, EventBody, User};
use serde::Serialize;

pub const NEW_MESSAGE: u16 = 3001;
pub const CONTACT_OFFLINE: u16 = 3100;
pub const CONTACT_ONLINE: u16 = 3101;
pub const CONTACT_PERSONAL_DATA_CHANGES: u16 = 3200;
pub const MESSAGE_WAS_READ: u16 = 3300;

/// What the hub queues for a messenger connection: the event as JSON `[pos, ts, body]`, for
/// the events that can become a notification. Not a wire format: [`decode_internal`] reads it
/// back. (Not `Event`'s own JSON, whose flattened body repeats a message's `ts`.)
pub fn encode_internal(event: &Event) -> Option<String> {
    match event.body {
        EventBody::Message(_)
        | EventBody::Read { .. }
        | EventBody::UserUpdated { .. }
        | EventBody::Presence { .. } => {
            serde_json::to_string(&(event.pos, event.ts, &event.body)).ok()
        }
        _ => None,
    }
}

pub fn decode_internal(frame: &str) -> Option<Event> {
    let (pos, ts, body) = serde_json::from_str(frame).ok()?;
    Some(Event { pos, ts, body })
}

/// The notification telling `to` about `event`, if the seed had one for it: a direct message
/// to its receiver, a read receipt to the other member, a contact's presence or profile change.
/// Room messages have no counterpart (the seed has no rooms). `ctx.users` names the two members
/// of a direct conversation; it is empty for rooms.
pub fn encode_event(event: &Event, ctx: &EventContext<'_>, to: &Recipient<'_>) -> Option<String> {
    let direct = ctx.room.is_none() && ctx.users.len() == 2;
    match &event.body {
        EventBody::Message(m) if direct && m.sender != to.user => Some(new_message(
            &tag(&m.sender_handle),
            &tag(to.handle),
            &m.text,
            m.ts,
        )),
        EventBody::Read { user, handle, .. }
            if direct && *user != to.user && !handle.is_empty() =>
        {
            Some(message_was_read(&tag(handle)))
        }
        EventBody::Presence {
            user,
            handle,
            online,
        } if *user != to.user => Some(contact_presence(&tag(handle), *online)),
        EventBody::UserUpdated { user, changed } if user.id != to.user => {
            personal_data_changes(user, changed)
        }
        _ => None,
    }
}

#[derive(Serialize)]
struct Frame<'a, B> {
    #[serde(rename = "type")]
    kind: &'a str,
    code: u16,
    body: B,
}

fn frame<B: Serialize>(kind: &str, code: u16, body: B) -> String {
    serde_json::to_string(&Frame { kind, code, body }).unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewMessageBody<'a> {
    sender_tag: &'a str,
    receiver_tag: &'a str,
    text: &'a str,
    date: i64,
}

/// `newMessage` (3001), for the receiver of a direct message.
pub fn new_message(sender_tag: &str, receiver_tag: &str, text: &str, date: i64) -> String {
    let body = NewMessageBody {
        sender_tag,
        receiver_tag,
        text,
        date,
    };
    frame("newMessage", NEW_MESSAGE, body)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OnlineBody<'a> {
    logged_in_user_tag: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OfflineBody<'a> {
    logged_out_user_tag: &'a str,
}

/// `contactOnline` (3101) or `contactOffline` (3100).
pub fn contact_presence(tag: &str, online: bool) -> String {
    if online {
        let body = OnlineBody {
            logged_in_user_tag: tag,
        };
        frame("contactOnline", CONTACT_ONLINE, body)
    } else {
        let body = OfflineBody {
            logged_out_user_tag: tag,
        };
        frame("contactOffline", CONTACT_OFFLINE, body)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReadBody<'a> {
    receiver_tag: &'a str,
}

/// `messageWasRead` (3300): `reader_tag` has read your messages.
pub fn message_was_read(reader_tag: &str) -> String {
    let body = ReadBody {
        receiver_tag: reader_tag,
    };
    frame("messageWasRead", MESSAGE_WAS_READ, body)
}

/// The profile fields a messenger client sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub first_name: String,
    pub last_name: String,
    pub img: String,
}

impl Profile {
    pub fn of(user: &User) -> Self {
        let (first_name, last_name) = split_name(&user.display_name);
        Self {
            first_name,
            last_name,
            img: UserInfo::of(user).img,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangesBody<'a> {
    tag: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    img: Option<&'a str>,
}

/// `contactPersonalDataChanges` (3200) with the fields the update changed: the names when the
/// display name changed, the image when the avatar did (all three when the update does not say
/// what changed); `None` when nothing the seed shows changed (a status text).
pub fn personal_data_changes(user: &User, changed: &[String]) -> Option<String> {
    let all = changed.is_empty();
    let has = |field: &str| all || changed.iter().any(|c| c == field);
    let (names, img) = (has("display_name"), has("avatar_url"));
    if !names && !img {
        return None;
    }
    let profile = Profile::of(user);
    let tag = tag(&user.handle);
    let body = ChangesBody {
        tag: &tag,
        first_name: names.then_some(profile.first_name.as_str()),
        last_name: names.then_some(profile.last_name.as_str()),
        img: img.then_some(profile.img.as_str()),
    };
    Some(frame(
        "contactPersonalDataChanges",
        CONTACT_PERSONAL_DATA_CHANGES,
        body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use palaver_core::{ConversationId, MessageId, UserId};

    #[test]
    fn frames() {
        assert_eq!(
            new_message("@alice", "@bob", "hi", 1795357803727),
            r#"{"type":"newMessage","code":3001,"body":{"senderTag":"@alice","receiverTag":"@bob","text":"hi","date":1795357803727}}"#
        );
        assert_eq!(
            contact_presence("@bob", false),
            r#"{"type":"contactOffline","code":3100,"body":{"loggedOutUserTag":"@bob"}}"#
        );
        assert_eq!(
            message_was_read("@bob"),
            r#"{"type":"messageWasRead","code":3300,"body":{"receiverTag":"@bob"}}"#
        );
        let bob = User {
            id: UserId(2),
            handle: "bob".into(),
            display_name: "Bob Ivanov".into(),
            avatar_url: None,
            status_text: None,
            created_at: 0,
        };
        assert_eq!(
            personal_data_changes(&bob, &["display_name".into()]).unwrap(),
            r#"{"type":"contactPersonalDataChanges","code":3200,"body":{"tag":"@bob","firstName":"Bob","lastName":"Ivanov"}}"#
        );
        assert!(
            personal_data_changes(&bob, &[])
                .unwrap()
                .contains(r#""img":"default.jpg""#)
        );
        assert_eq!(personal_data_changes(&bob, &["status_text".into()]), None);
    }

    #[test]
    fn only_the_receiver_hears_of_a_direct_message() {
        let event = Event {
            pos: Some(9),
            ts: 5,
            body: EventBody::Message(palaver_core::Message {
                id: MessageId(9),
                conversation: ConversationId(2),
                seq: 1,
                sender: UserId(1),
                sender_handle: "alice".into(),
                text: "hi".into(),
                ts: 5,
                client_id: None,
            }),
        };
        let pair = [UserId(1), UserId(2)];
        let direct = EventContext {
            room: None,
            users: &pair,
        };
        let bob = Recipient {
            user: UserId(2),
            handle: "bob",
            scope: None,
        };
        let alice = Recipient {
            user: UserId(1),
            handle: "alice",
            scope: None,
        };
        let frame = encode_event(&event, &direct, &bob).unwrap();
        assert!(frame.contains(r#""receiverTag":"@bob""#), "{frame}");
        assert_eq!(
            encode_event(&event, &direct, &alice),
            None,
            "not to the sender"
        );
        let room = EventContext {
            room: Some("main"),
            users: &[],
        };
        assert_eq!(
            encode_event(&event, &room, &bob),
            None,
            "rooms have no counterpart"
        );
    }
}
