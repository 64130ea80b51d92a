//! Plain data passed into and out of a `Store`.

use palaver_core::{Conversation, ConversationId, ConversationKind, Message, User, UserId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug)]
pub struct NewUser {
    /// Already validated and lower-cased.
    pub handle: String,
    pub display_name: String,
    /// Already validated and lower-cased.
    pub email: Option<String>,
    /// A PHC string.
    pub password_hash: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    Handle(String),
    Email(String),
}

#[derive(Clone, Debug)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// A profile change; `None` leaves a field alone, `Some("")` clears an optional field.
#[derive(Clone, Debug, Default)]
pub struct ProfilePatch {
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub status_text: Option<String>,
}

impl ProfilePatch {
    /// Applies the patch to `user` and names the fields whose value changed.
    pub fn apply(self, user: &mut User) -> Vec<String> {
        let mut changed = Vec::new();
        let clearable = |v: String| (!v.is_empty()).then_some(v);
        if let Some(name) = self.display_name
            && name != user.display_name
        {
            user.display_name = name;
            changed.push("display_name".to_owned());
        }
        if let Some(url) = self.avatar_url.map(clearable)
            && url != user.avatar_url
        {
            user.avatar_url = url;
            changed.push("avatar_url".to_owned());
        }
        if let Some(status) = self.status_text.map(clearable)
            && status != user.status_text
        {
            user.status_text = status;
            changed.push("status_text".to_owned());
        }
        changed
    }
}

#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: String,
    pub user: UserId,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug)]
pub struct NewRoom {
    /// Already validated and lower-cased.
    pub name: String,
    /// `Channel` or `Group`.
    pub kind: ConversationKind,
    pub topic: Option<String>,
    pub owner: UserId,
    pub members: Vec<UserId>,
    pub ts: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomListing {
    #[serde(flatten)]
    pub room: Conversation,
    pub member_count: i64,
    pub joined: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dialog {
    pub conversation: Conversation,
    /// For a direct conversation, the other member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<User>,
    pub last_message: Option<Message>,
    pub unread: i64,
    pub last_read_seq: i64,
    /// Milliseconds since the epoch of the newest message, or of creation.
    pub last_activity: i64,
}

#[derive(Clone, Debug)]
pub struct NewMessage {
    pub conversation: ConversationId,
    pub sender: UserId,
    pub text: String,
    pub client_id: Option<String>,
    pub ts: i64,
}

/// A conversation a user is a member of, as a newly connected user's routes need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub conversation: ConversationId,
    /// Its newest `seq`: where live delivery starts.
    pub last_seq: i64,
    /// How many members it has (presence is announced only in small rooms).
    pub members: i64,
}

#[derive(Clone, Debug)]
pub struct Appended {
    pub message: Message,
    /// The `pos` of the message's event.
    pub pos: i64,
    /// True when `client_id` matched an earlier message, which is returned instead.
    pub duplicate: bool,
}

/// A window of history. With `after_seq`, the oldest `limit` messages after it; otherwise the
/// newest `limit` messages before `before_seq` (or before the end). Always ascending by seq.
#[derive(Clone, Copy, Debug)]
pub struct HistoryQuery {
    pub conversation: ConversationId,
    pub before_seq: Option<i64>,
    pub after_seq: Option<i64>,
    pub limit: u32,
}

/// A session key of the `session-key` dialect: it signs its holder in as `user`, bound to
/// `conversation`. Only the key's SHA-256 (hex) is stored.
#[derive(Clone, Debug)]
pub struct NewSessionKey {
    pub hash: String,
    pub user: UserId,
    pub conversation: ConversationId,
    pub created_at: i64,
}
