//! Writing the event stream: assigning `pos`, storing events, and the membership spans that
//! decide which of them `events_since` shows to whom.

use crate::error::Result;
use crate::writer::WriterState;
use palaver_core::{ConversationId, Event, EventBody, UserId};
use palaver_store::NewMessage;
use rusqlite::{Connection, params};

/// Stores a non-message event at the next position.
pub(crate) fn record(
    conn: &Connection,
    state: &mut WriterState,
    actor: UserId,
    body: EventBody,
    ts: i64,
) -> Result<Event> {
    let pos = state.head + 1;
    let json = serde_json::to_string(&body)?;
    conn.prepare_cached(
        "INSERT INTO events (pos, conversation_id, kind, seq, actor_id, body, ts, client_id) \
         VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, NULL)",
    )?
    .execute(params![
        pos,
        body.conversation().map(|c| c.0),
        body.name(),
        actor.0,
        json,
        ts
    ])?;
    state.head = pos;
    Ok(Event {
        pos: Some(pos),
        ts,
        body,
    })
}

/// Stores a message at the next position and returns that position (its MessageId).
pub(crate) fn record_message(
    conn: &Connection,
    state: &mut WriterState,
    message: &NewMessage,
    seq: i64,
) -> Result<i64> {
    let pos = state.head + 1;
    conn.prepare_cached(
        "INSERT INTO events (pos, conversation_id, kind, seq, actor_id, body, ts, client_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        pos,
        message.conversation.0,
        crate::rows::MESSAGE_KIND,
        seq,
        message.sender.0,
        message.text,
        message.ts,
        message.client_id
    ])?;
    state.head = pos;
    Ok(pos)
}

/// Starts a membership: the user sees the conversation's events from `from_pos` on.
pub(crate) fn open_span(
    conn: &Connection,
    id: ConversationId,
    user: UserId,
    from_pos: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO member_spans (user_id, conversation_id, from_pos, to_pos) \
         VALUES (?1, ?2, ?3, NULL) ON CONFLICT DO NOTHING",
    )?
    .execute(params![user.0, id.0, from_pos])?;
    Ok(())
}

/// Ends the user's open membership at `to_pos` (inclusive, so they see their own leaving).
pub(crate) fn close_span(
    conn: &Connection,
    id: ConversationId,
    user: UserId,
    to_pos: i64,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE member_spans SET to_pos = ?3 \
         WHERE user_id = ?1 AND conversation_id = ?2 AND to_pos IS NULL",
    )?
    .execute(params![user.0, id.0, to_pos])?;
    Ok(())
}

/// Ends every open membership of a conversation at `to_pos`.
pub(crate) fn close_all_spans(conn: &Connection, id: ConversationId, to_pos: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE member_spans SET to_pos = ?2 WHERE conversation_id = ?1 AND to_pos IS NULL",
    )?
    .execute(params![id.0, to_pos])?;
    Ok(())
}
