//! Events: what happened, as told to clients, to other nodes and to `sync`.
//!
//! Durable events are stored before anyone hears of them and carry the store-assigned stream
//! position `pos`; ephemeral ones (presence, typing) are never stored and carry none.

use crate::ids::{ConversationId, UserId};
use crate::model::{Conversation, ConversationKind, Message, User};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the deployment's durable event stream; `None` for ephemeral events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<i64>,
    /// Milliseconds since the Unix epoch.
    pub ts: i64,
    /// Nested, not flattened: a message body has a `ts` of its own.
    pub body: EventBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    Message(Message),
    Read {
        conversation: ConversationId,
        user: UserId,
        /// The reader's handle (events stored before it was recorded have none).
        #[serde(default)]
        handle: String,
        seq: i64,
    },
    RoomCreated {
        room: Conversation,
    },
    RoomDestroyed {
        conversation: ConversationId,
        name: Option<String>,
        by: UserId,
    },
    MemberJoined {
        conversation: ConversationId,
        user: UserId,
        handle: String,
    },
    MemberLeft {
        conversation: ConversationId,
        user: UserId,
        handle: String,
    },
    UserUpdated {
        user: User,
        /// The profile fields the update changed (`display_name`, `avatar_url`,
        /// `status_text`); empty when unknown.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changed: Vec<String>,
    },
    Presence {
        user: UserId,
        handle: String,
        online: bool,
    },
    Typing {
        conversation: ConversationId,
        user: UserId,
        handle: String,
    },
}

/// Who must hear of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every connection of every member of the conversation.
    Conversation(ConversationId),
    /// The members of the conversation, plus this user (who has just joined or left it).
    ConversationAndUser(ConversationId, UserId),
    /// The user and everyone who shares a conversation with them.
    Contacts(UserId),
    /// Every connected user (a new public channel).
    Everyone,
}

impl EventBody {
    /// Whether the event is stored and replayed by `sync` (true) or fire-and-forget (false).
    pub fn is_durable(&self) -> bool {
        !matches!(self, Self::Presence { .. } | Self::Typing { .. })
    }

    /// The conversation the event belongs to, if any.
    pub fn conversation(&self) -> Option<ConversationId> {
        match self {
            Self::Message(m) => Some(m.conversation),
            Self::Read { conversation, .. }
            | Self::RoomDestroyed { conversation, .. }
            | Self::MemberJoined { conversation, .. }
            | Self::MemberLeft { conversation, .. }
            | Self::Typing { conversation, .. } => Some(*conversation),
            Self::RoomCreated { room } => Some(room.id),
            Self::UserUpdated { .. } | Self::Presence { .. } => None,
        }
    }

    pub fn audience(&self) -> Audience {
        match self {
            Self::RoomCreated { room } if room.kind == ConversationKind::Channel => {
                Audience::Everyone
            }
            // The joiner's or leaver's own node may not follow the conversation (yet, or any
            // more): address them directly too.
            Self::MemberJoined {
                conversation, user, ..
            }
            | Self::MemberLeft {
                conversation, user, ..
            } => Audience::ConversationAndUser(*conversation, *user),
            Self::UserUpdated { user, .. } => Audience::Contacts(user.id),
            Self::Presence { user, .. } => Audience::Contacts(*user),
            other => match other.conversation() {
                Some(c) => Audience::Conversation(c),
                None => Audience::Everyone,
            },
        }
    }

    /// The stable notification name clients see.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Read { .. } => "read",
            Self::RoomCreated { .. } => "room.created",
            Self::RoomDestroyed { .. } => "room.destroyed",
            Self::MemberJoined { .. } => "member.joined",
            Self::MemberLeft { .. } => "member.left",
            Self::UserUpdated { .. } => "user.updated",
            Self::Presence { .. } => "presence",
            Self::Typing { .. } => "typing",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(kind: ConversationKind) -> Conversation {
        Conversation {
            id: ConversationId(7),
            kind,
            name: Some("x".into()),
            topic: None,
            owner: Some(UserId(1)),
            created_at: 0,
            last_seq: 0,
        }
    }

    fn user() -> User {
        User {
            id: UserId(2),
            handle: "b".into(),
            display_name: "B".into(),
            avatar_url: None,
            status_text: Some("hi".into()),
            created_at: 1,
        }
    }

    /// Events cross the bus as JSON: every kind must come back as it left.
    #[test]
    fn every_event_round_trips_through_json() {
        let c = ConversationId(7);
        let u = UserId(2);
        let bodies = vec![
            EventBody::Message(crate::Message {
                id: crate::MessageId(9),
                conversation: c,
                seq: 3,
                sender: u,
                sender_handle: "b".into(),
                text: "hello".into(),
                ts: 123,
                client_id: Some("k".into()),
            }),
            EventBody::Read {
                conversation: c,
                user: u,
                handle: "b".into(),
                seq: 3,
            },
            EventBody::RoomCreated {
                room: room(ConversationKind::Group),
            },
            EventBody::RoomDestroyed {
                conversation: c,
                name: Some("x".into()),
                by: u,
            },
            EventBody::MemberJoined {
                conversation: c,
                user: u,
                handle: "b".into(),
            },
            EventBody::MemberLeft {
                conversation: c,
                user: u,
                handle: "b".into(),
            },
            EventBody::UserUpdated {
                user: user(),
                changed: vec!["status_text".into()],
            },
            EventBody::Presence {
                user: u,
                handle: "b".into(),
                online: true,
            },
            EventBody::Typing {
                conversation: c,
                user: u,
                handle: "b".into(),
            },
        ];
        for body in bodies {
            let event = Event {
                pos: Some(5),
                ts: 456,
                body,
            };
            let json = serde_json::to_string(&event).expect("serialise");
            let back: Event = serde_json::from_str(&json).expect(&json);
            assert_eq!(back, event);
        }
    }

    #[test]
    fn audiences() {
        let public = EventBody::RoomCreated {
            room: room(ConversationKind::Channel),
        };
        assert_eq!(public.audience(), Audience::Everyone);
        let private = EventBody::RoomCreated {
            room: room(ConversationKind::Group),
        };
        assert_eq!(
            private.audience(),
            Audience::Conversation(ConversationId(7))
        );
        let left = EventBody::MemberLeft {
            conversation: ConversationId(7),
            user: UserId(2),
            handle: "b".into(),
        };
        assert_eq!(
            left.audience(),
            Audience::ConversationAndUser(ConversationId(7), UserId(2))
        );
        let typing = EventBody::Typing {
            conversation: ConversationId(7),
            user: UserId(2),
            handle: "b".into(),
        };
        assert!(!typing.is_durable());
        assert!(left.is_durable());
    }
}
