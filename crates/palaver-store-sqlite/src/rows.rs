//! Column lists and row decoders shared by reads and writes.

use crate::error::Result;
use palaver_core::{
    Conversation, ConversationId, ConversationKind, Event, EventBody, Message, MessageId, User,
    UserId,
};
use palaver_store::StoreError;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

/// `users u`, decoded by [`user`].
pub(crate) const USER_COLS: &str =
    "u.id, u.handle, u.display_name, u.avatar_url, u.status_text, u.created_at";
pub(crate) const USER_WIDTH: usize = 6;

/// `conversations c`, decoded by [`conversation`].
pub(crate) const CONV_COLS: &str =
    "c.id, c.kind, c.name, c.topic, c.owner_id, c.created_at, c.last_seq";
pub(crate) const CONV_WIDTH: usize = 7;

/// `events e JOIN users u ON u.id = e.actor_id`, decoded by [`event_row`].
pub(crate) const EVENT_COLS: &str =
    "e.pos, e.conversation_id, e.kind, e.seq, e.actor_id, u.handle, e.body, e.ts, e.client_id";

pub(crate) fn user(row: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId(row.get(at)?),
        handle: row.get(at + 1)?,
        display_name: row.get(at + 2)?,
        avatar_url: row.get(at + 3)?,
        status_text: row.get(at + 4)?,
        created_at: row.get(at + 5)?,
    })
}

pub(crate) fn conversation(row: &Row<'_>, at: usize) -> rusqlite::Result<Conversation> {
    let kind: String = row.get(at + 1)?;
    let kind = ConversationKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            at + 1,
            Type::Text,
            format!("unknown conversation kind {kind:?}").into(),
        )
    })?;
    Ok(Conversation {
        id: ConversationId(row.get(at)?),
        kind,
        name: row.get(at + 2)?,
        topic: row.get(at + 3)?,
        owner: row.get::<_, Option<i64>>(at + 4)?.map(UserId),
        created_at: row.get(at + 5)?,
        last_seq: row.get(at + 6)?,
    })
}

/// An `events` row before its body is decoded (decoding JSON is not a rusqlite error).
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

pub(crate) fn event_row(row: &Row<'_>, at: usize) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        pos: row.get(at)?,
        conversation: row.get(at + 1)?,
        kind: row.get(at + 2)?,
        seq: row.get(at + 3)?,
        actor: row.get(at + 4)?,
        actor_handle: row.get(at + 5)?,
        body: row.get(at + 6)?,
        ts: row.get(at + 7)?,
        client_id: row.get(at + 8)?,
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

/// The `kind` of message rows (the event's notification name).
pub(crate) const MESSAGE_KIND: &str = "message";

/// A live (not destroyed) conversation.
pub(crate) fn live_conversation(
    conn: &Connection,
    id: ConversationId,
) -> Result<Option<Conversation>> {
    let sql = format!(
        "SELECT {CONV_COLS} FROM conversations c WHERE c.id = ?1 AND c.destroyed_at IS NULL"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id.0], |r| conversation(r, 0))
        .optional()?)
}

pub(crate) fn user_by_id(conn: &Connection, id: UserId) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id.0], |r| user(r, 0))
        .optional()?)
}

/// The last-read marker, or `None` when `user` is not a member.
pub(crate) fn read_marker(
    conn: &Connection,
    id: ConversationId,
    user: UserId,
) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT last_read_seq FROM members WHERE conversation_id = ?1 AND user_id = ?2",
        )?
        .query_row(params![id.0, user.0], |r| r.get(0))
        .optional()?)
}
