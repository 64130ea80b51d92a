//! The protocols Palaver speaks, and the one place an event becomes a frame for each.
//!
//! Adding a dialect means a module here, an arm in `encode_event`, and one route in the server.

use crate::native;
use palaver_core::{ConversationId, Event, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// JSON-RPC 2.0 (`docs/protocol.md`).
    Native,
    /// Seed 000, alersrt/node-chat-server.
    Channels,
    /// Seed 001, ido-ofir/node-chat-server (npm `chat-client`).
    ChatClient,
    /// Seed 002, michael-redman/nodejschat.
    SessionKey,
    /// Seed 003, siandreev/messenger-server.
    Messenger,
    /// Seed 004, TylerCorkill/ws-chat-server.
    PathRooms,
}

impl Dialect {
    pub const COUNT: usize = 6;

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Channels => "channels",
            Self::ChatClient => "chat-client",
            Self::SessionKey => "session-key",
            Self::Messenger => "messenger",
            Self::PathRooms => "path-rooms",
        }
    }

    /// Whether a frame depends on who receives it (then it is encoded per recipient instead
    /// of once for everyone).
    pub fn per_recipient(self) -> bool {
        // Messenger frames name their receiver and are never about the recipient themselves.
        self == Self::Messenger
    }
}

/// The connection an event is being encoded for.
#[derive(Clone, Copy, Debug)]
pub struct Recipient<'a> {
    pub user: UserId,
    pub handle: &'a str,
    /// The one conversation a room-bound connection (session key, path room) lives in.
    pub scope: Option<ConversationId>,
}

/// What the publishing node knew about an event beyond the event itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventContext<'a> {
    /// The name (without `#`) of the room the event belongs to; `None` for direct
    /// conversations and events outside a conversation.
    pub room: Option<&'a str>,
    /// The users the publisher addressed besides the conversation's members: for a message of
    /// a direct conversation, its two members (so dialects that address direct messages by
    /// user know the other party); empty for messages of rooms.
    pub users: &'a [UserId],
}

/// The frame telling `to` about `event` in `dialect`, or `None` when that dialect has nothing
/// to say about it (or nothing for that recipient).
pub fn encode_event(
    dialect: Dialect,
    event: &Event,
    ctx: &EventContext<'_>,
    to: &Recipient<'_>,
) -> Option<String> {
    match dialect {
        Dialect::Native => Some(native::encode_event(event)),
        Dialect::Channels => crate::channels::encode_event(event, ctx),
        Dialect::PathRooms => crate::path_rooms::encode_event(event),
        Dialect::ChatClient => crate::chat_client::encode_event(event, ctx),
        Dialect::SessionKey => crate::session_key::encode_event(event),
        Dialect::Messenger => crate::messenger::encode_event(event, ctx, to),
    }
}
