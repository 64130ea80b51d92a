//! Column lists and row decoders shared by reads and writes, and the small lookups several
//! operations need.

use crate::db;
use crate::error::Result;
use deadpool_postgres::GenericClient;
use palaver_core::{
    Conversation, ConversationId, ConversationKind, Event, EventBody, Message, MessageId, User,
    UserId,
};
use palaver_store::StoreError;
use tokio_postgres::Row;

/// `users u`, decoded by [`user`] (6 columns).
macro_rules! user_cols {
    () => {
        "u.id, u.handle, u.display_name, u.avatar_url, u.status_text, u.created_at"
    };
}
/// `conversations c`, decoded by [`conversation`] (7 columns).
macro_rules! conv_cols {
    () => {
        "c.id, c.kind, c.name, c.topic, c.owner_id, c.created_at, c.last_seq"
    };
}
/// `events e JOIN users u ON u.id = e.actor_id`, decoded by [`event_row`] (9 columns).
macro_rules! event_cols {
    () => {
        "e.pos, e.conversation_id, e.kind, e.seq, e.actor_id, u.handle, e.body, e.ts, e.client_id"
    };
}
pub(crate) use {conv_cols, event_cols, user_cols};

pub(crate) const USER_WIDTH: usize = 6;
pub(crate) const CONV_WIDTH: usize = 7;

/// The `kind` of message rows (the event's notification name).
pub(crate) const MESSAGE_KIND: &str = "message";

pub(crate) fn user(row: &Row, at: usize) -> Result<User> {
    Ok(User {
        id: UserId(row.try_get(at)?),
        handle: row.try_get(at + 1)?,
        display_name: row.try_get(at + 2)?,
        avatar_url: row.try_get(at + 3)?,
        status_text: row.try_get(at + 4)?,
        created_at: row.try_get(at + 5)?,
    })
}

pub(crate) fn conversation(row: &Row, at: usize) -> Result<Conversation> {
    let kind: String = row.try_get(at + 1)?;
    let kind = ConversationKind::parse(&kind)
        .ok_or_else(|| StoreError::Backend(format!("unknown conversation kind {kind:?}")))?;
    Ok(Conversation {
        id: ConversationId(row.try_get(at)?),
        kind,
        name: row.try_get(at + 2)?,
        topic: row.try_get(at + 3)?,
        owner: row.try_get::<_, Option<i64>>(at + 4)?.map(UserId),
        created_at: row.try_get(at + 5)?,
        last_seq: row.try_get(at + 6)?,
    })
}

/// An `events` row before its body is decoded.
pub(crate) struct EventRow {
    pos: i64,
    conversation: Option<i64>,
    kind: String,
    seq: Option<i64>,
    actor: i64,
    actor_handle: String,
    body: String,
    ts: i64,
    client_id: Option<String>,
}

pub(crate) fn event_row(row: &Row, at: usize) -> Result<EventRow> {
    Ok(EventRow {
        pos: row.try_get(at)?,
        conversation: row.try_get(at + 1)?,
        kind: row.try_get(at + 2)?,
        seq: row.try_get(at + 3)?,
        actor: row.try_get(at + 4)?,
        actor_handle: row.try_get(at + 5)?,
        body: row.try_get(at + 6)?,
        ts: row.try_get(at + 7)?,
        client_id: row.try_get(at + 8)?,
    })
}

impl EventRow {
    /// The message this row stores; `None` when it is another kind of event.
    pub(crate) fn into_message(self) -> Option<Message> {
        let (Some(conversation), Some(seq), true) =
            (self.conversation, self.seq, self.kind == MESSAGE_KIND)
        else {
            return None;
        };
        Some(Message {
            id: MessageId(self.pos),
            conversation: ConversationId(conversation),
            seq,
            sender: UserId(self.actor),
            sender_handle: self.actor_handle,
            text: self.body,
            ts: self.ts,
            client_id: self.client_id,
        })
    }

    pub(crate) fn into_event(self) -> Result<Event> {
        let (pos, ts) = (self.pos, self.ts);
        let body = if self.kind == MESSAGE_KIND {
            let message = self.into_message().ok_or_else(|| {
                StoreError::Backend(format!("message event {pos} lacks a conversation or seq"))
            })?;
            EventBody::Message(message)
        } else {
            serde_json::from_str(&self.body)?
        };
        Ok(Event {
            pos: Some(pos),
            ts,
            body,
        })
    }
}

/// A live (not destroyed) conversation.
pub(crate) async fn live_conversation<C: GenericClient>(
    c: &C,
    id: ConversationId,
) -> Result<Option<Conversation>> {
    const SQL: &str = concat!(
        "SELECT ",
        conv_cols!(),
        " FROM conversations c WHERE c.id = $1 AND c.destroyed_at IS NULL"
    );
    db::query_opt(c, SQL, &[&id.0])
        .await?
        .map(|r| conversation(&r, 0))
        .transpose()
}

pub(crate) async fn user_by_id<C: GenericClient>(c: &C, id: UserId) -> Result<Option<User>> {
    const SQL: &str = concat!("SELECT ", user_cols!(), " FROM users u WHERE u.id = $1");
    db::query_opt(c, SQL, &[&id.0])
        .await?
        .map(|r| user(&r, 0))
        .transpose()
}

/// The last-read marker, or `None` when `user` is not a member.
pub(crate) async fn read_marker<C: GenericClient>(
    c: &C,
    id: ConversationId,
    user: UserId,
) -> Result<Option<i64>> {
    const SQL: &str =
        "SELECT last_read_seq FROM members WHERE conversation_id = $1 AND user_id = $2";
    db::query_opt(c, SQL, &[&id.0, &user.0])
        .await?
        .map(|r| Ok(r.try_get(0)?))
        .transpose()
}
