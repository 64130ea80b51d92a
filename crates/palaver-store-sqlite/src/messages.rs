//! Write operations on messages and read markers: `seq` assignment, idempotency, `mark_read`.

use crate::error::Result;
use crate::journal;
use crate::rows::{self, EVENT_COLS};
use crate::writer::WriterState;
use palaver_core::policy::clamp_read_seq;
use palaver_core::{ConversationId, CoreError, Event, EventBody, Message, MessageId, UserId};
use palaver_store::{Appended, NewMessage};
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) fn append_message(
    conn: &Connection,
    state: &mut WriterState,
    message: NewMessage,
) -> Result<Appended> {
    // A retry returns what the first attempt stored, even if the conversation changed since.
    if let Some(client_id) = &message.client_id
        && let Some(original) = by_client_id(conn, message.sender, client_id)?
    {
        let pos = original.id.0;
        return Ok(Appended {
            message: original,
            pos,
            duplicate: true,
        });
    }
    if rows::live_conversation(conn, message.conversation)?.is_none() {
        return Err(CoreError::not_found("no such conversation").into());
    }
    if rows::read_marker(conn, message.conversation, message.sender)?.is_none() {
        return Err(CoreError::forbidden("not a member of this conversation").into());
    }
    // The single writer serialises this increment, so seqs are gap-free and unique; the
    // UPDATE and the INSERT commit (or roll back) together.
    let seq: i64 = conn
        .prepare_cached(
            "UPDATE conversations SET last_seq = last_seq + 1, last_activity = ?2 \
             WHERE id = ?1 AND destroyed_at IS NULL RETURNING last_seq",
        )?
        .query_row(params![message.conversation.0, message.ts], |r| r.get(0))?;
    let pos = journal::record_message(conn, state, &message, seq)?;
    conn.prepare_cached(
        "UPDATE members SET last_read_seq = MAX(last_read_seq, ?3) \
         WHERE conversation_id = ?1 AND user_id = ?2",
    )?
    .execute(params![message.conversation.0, message.sender.0, seq])?;
    let sender_handle: String = conn
        .prepare_cached("SELECT handle FROM users WHERE id = ?1")?
        .query_row([message.sender.0], |r| r.get(0))?;
    Ok(Appended {
        message: Message {
            id: MessageId(pos),
            conversation: message.conversation,
            seq,
            sender: message.sender,
            sender_handle,
            text: message.text,
            ts: message.ts,
            client_id: message.client_id,
        },
        pos,
        duplicate: false,
    })
}

fn by_client_id(conn: &Connection, sender: UserId, client_id: &str) -> Result<Option<Message>> {
    let sql = format!(
        "SELECT {EVENT_COLS} FROM events e JOIN users u ON u.id = e.actor_id \
         WHERE e.actor_id = ?1 AND e.client_id = ?2"
    );
    let row = conn
        .prepare_cached(&sql)?
        .query_row(params![sender.0, client_id], |r| rows::event_row(r, 0))
        .optional()?;
    Ok(row.and_then(rows::EventRow::into_message))
}

pub(crate) fn mark_read(
    conn: &Connection,
    state: &mut WriterState,
    id: ConversationId,
    user: UserId,
    seq: i64,
    ts: i64,
) -> Result<Option<Event>> {
    let conversation = rows::live_conversation(conn, id)?
        .ok_or_else(|| CoreError::not_found("no such conversation"))?;
    let current = rows::read_marker(conn, id, user)?
        .ok_or_else(|| CoreError::forbidden("not a member of this conversation"))?;
    let Some(target) = clamp_read_seq(current, seq, conversation.last_seq) else {
        return Ok(None);
    };
    conn.prepare_cached(
        "UPDATE members SET last_read_seq = ?3 WHERE conversation_id = ?1 AND user_id = ?2",
    )?
    .execute(params![id.0, user.0, target])?;
    let handle = rows::user_by_id(conn, user)?
        .map(|u| u.handle)
        .unwrap_or_default();
    let body = EventBody::Read {
        conversation: id,
        user,
        handle,
        seq: target,
    };
    Ok(Some(journal::record(conn, state, user, body, ts)?))
}
