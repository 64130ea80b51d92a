//! Result shapes, in the seed's field order. Ids (`_id`) are Palaver's numeric ids as strings,
//! where the seed had MongoDB object ids.

use super::{img_of, iso, split_name, tag};
use palaver_core::{Message, User};
use serde::Serialize;

/// `getSelfInfo`, and what `setSelfInfo` returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    #[serde(rename = "_id")]
    pub id: String,
    pub tag: String,
    pub first_name: String,
    pub last_name: String,
    pub img: String,
}

impl UserInfo {
    pub fn of(user: &User) -> Self {
        let (first_name, last_name) = split_name(&user.display_name);
        Self {
            id: user.id.0.to_string(),
            tag: tag(&user.handle),
            first_name,
            last_name,
            img: img_of(user),
        }
    }
}

/// A user with `isOnline` (`findUsersByTag`, `userInfo` of a dialog).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserOnline {
    #[serde(flatten)]
    pub user: UserInfo,
    pub is_online: bool,
}

/// `{"status":"OK"}`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub status: &'static str,
}

pub const OK: Status = Status { status: "OK" };

/// The message inside `sendMessageToUser`'s result: `date` in milliseconds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    #[serde(rename = "_id")]
    pub id: String,
    pub sender_tag: String,
    pub receiver_tag: String,
    pub text: String,
    pub date: i64,
    pub is_read: bool,
}

/// `sendMessageToUser`'s result.
#[derive(Debug, Serialize)]
pub struct Sent {
    pub status: &'static str,
    pub message: SentMessage,
}

impl Sent {
    pub fn of(m: &Message, receiver_handle: &str) -> Self {
        Self {
            status: "OK",
            message: SentMessage {
                id: m.id.0.to_string(),
                sender_tag: tag(&m.sender_handle),
                receiver_tag: tag(receiver_handle),
                text: m.text.clone(),
                date: m.ts,
                is_read: false,
            },
        }
    }
}

/// One message of `getMessagesWithUser`: `date` as an ISO string.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryMessage {
    #[serde(rename = "_id")]
    pub id: String,
    pub sender_tag: String,
    pub receiver_tag: String,
    pub text: String,
    pub date: String,
    pub is_read: bool,
}

impl HistoryMessage {
    /// `receiver_handle` is the member who did not send it; `is_read` whether their read
    /// marker covers it.
    pub fn of(m: &Message, receiver_handle: &str, is_read: bool) -> Self {
        Self {
            id: m.id.0.to_string(),
            sender_tag: tag(&m.sender_handle),
            receiver_tag: tag(receiver_handle),
            text: m.text.clone(),
            date: iso(m.ts),
            is_read,
        }
    }
}

/// One entry of `getDialogsList`: the newest message of a direct conversation and the peer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DialogEntry {
    #[serde(rename = "_id")]
    pub id: String,
    pub sender_tag: String,
    pub receiver_tag: String,
    pub date: String,
    pub text: String,
    pub unread_count: i64,
    pub user_info: UserOnline,
}
