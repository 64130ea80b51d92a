//! A backend-neutral copy of a store's rows, for moving a deployment from one backend to another
//! (`palaver migrate-store`) with everything kept: the epoch and secrets, every id, `pos` and
//! `seq` as stored, so sync tokens, signed tokens and message ids stay valid.
//!
//! The rows mirror the tables every backend shares (see the SQLite and PostgreSQL schemas),
//! column for column. [`Dump`] holds every table but the events; the event stream, which grows
//! with the history, is read a page at a time through [`EventPages`]. This is deliberately not
//! part of `Store`: it is an offline tool between two concrete backends, not a use case.

use crate::Result;
use async_trait::async_trait;

/// A row of `meta`: the epoch (`epoch`) and the secrets (`secret:NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaRow {
    pub key: String,
    pub value: Vec<u8>,
}

/// A row of `users`, password hash included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub handle: String,
    pub display_name: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub avatar_url: Option<String>,
    pub status_text: Option<String>,
    pub created_at: i64,
}

/// A row of `sessions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A row of `conversations`, destroyed rooms included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationRow {
    pub id: i64,
    /// `channel`, `group` or `dm`.
    pub kind: String,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub owner_id: Option<i64>,
    pub dm_key: Option<String>,
    pub created_at: i64,
    pub last_seq: i64,
    pub last_activity: i64,
    pub destroyed_at: Option<i64>,
}

/// A row of `members`: a current membership and its read marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub conversation_id: i64,
    pub user_id: i64,
    pub last_read_seq: i64,
}

/// A row of `member_spans`: the positions of a conversation's events a user may replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanRow {
    pub user_id: i64,
    pub conversation_id: i64,
    pub from_pos: i64,
    pub to_pos: Option<i64>,
}

/// A row of `session_keys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionKeyRow {
    pub hash: String,
    pub user_id: i64,
    pub conversation_id: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A row of `events`, as stored: for a message `body` is its text and `seq` its number,
/// otherwise `body` is the event's JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub pos: i64,
    pub conversation_id: Option<i64>,
    pub kind: String,
    pub seq: Option<i64>,
    pub actor_id: i64,
    pub body: String,
    pub ts: i64,
    pub client_id: Option<String>,
}

/// Every table of a store but `events`, read from one snapshot, plus where its event stream
/// ends. The events of the same snapshot come from an [`EventPages`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dump {
    pub meta: Vec<MetaRow>,
    pub users: Vec<UserRow>,
    pub sessions: Vec<SessionRow>,
    pub conversations: Vec<ConversationRow>,
    pub members: Vec<MemberRow>,
    pub member_spans: Vec<SpanRow>,
    pub session_keys: Vec<SessionKeyRow>,
    /// The newest event position (0 without events): the target's stream head.
    pub head: i64,
}

impl Dump {
    /// The rows of every table this dump holds; `events` is left at 0.
    pub fn counts(&self) -> TableCounts {
        let n = |len: usize| len as u64;
        TableCounts {
            meta: n(self.meta.len()),
            users: n(self.users.len()),
            sessions: n(self.sessions.len()),
            conversations: n(self.conversations.len()),
            members: n(self.members.len()),
            member_spans: n(self.member_spans.len()),
            session_keys: n(self.session_keys.len()),
            events: 0,
            head: self.head,
        }
    }
}

/// The event stream of a snapshot, a page at a time.
#[async_trait]
pub trait EventPages: Send {
    /// Up to `limit` events with `pos > after`, ascending by `pos`; empty past the last one.
    async fn events_after(&mut self, after: i64, limit: u32) -> Result<Vec<EventRow>>;
}

/// How many rows each table holds, and the newest event position: what a copy must agree on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCounts {
    pub meta: u64,
    pub users: u64,
    pub sessions: u64,
    pub conversations: u64,
    pub members: u64,
    pub member_spans: u64,
    pub session_keys: u64,
    pub events: u64,
    pub head: i64,
}

impl TableCounts {
    /// `(table, rows)` for every table, in the order a copy writes them.
    pub fn tables(&self) -> [(&'static str, u64); 8] {
        [
            ("meta", self.meta),
            ("users", self.users),
            ("conversations", self.conversations),
            ("sessions", self.sessions),
            ("members", self.members),
            ("member_spans", self.member_spans),
            ("session_keys", self.session_keys),
            ("events", self.events),
        ]
    }
}
