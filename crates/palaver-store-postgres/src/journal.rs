//! Writing the event stream: assigning `pos`, storing events, and the membership spans that
//! decide which events `events_since` shows to whom.
//!
//! # Why positions follow commit order
//!
//! A sync token is a position, and a client that has seen position N never asks for anything
//! at or below N again. So once any reader can see N, every position below N must already be
//! visible. A PostgreSQL sequence does not give that: two transactions may take N and N+1 and
//! commit in the opposite order, and a reader between the two commits sees N+1 but not N.
//!
//! Here every durable write takes its positions from the single `stream_head` row
//! (`UPDATE stream_head SET pos = pos + k RETURNING pos`) as the *last* lock it acquires, then
//! stores its events and commits. The row lock is held until commit, so the next writer gets
//! its positions only after this one is visible, and positions become visible in order. Gaps are
//! impossible too: a rolled-back write rolls its increment back.
//!
//! The price is that durable writes are serialised across the deployment for the time between
//! taking the lock and committing (one statement round trip plus the commit's flush). Writes
//! still prepare in parallel (validation, `seq` assignment on their own conversation row), and
//! reads are unaffected. A first version accepts this; the way past it is to let positions be
//! assigned out of order and have readers stop below the oldest in-flight one.
//!
//! Deadlock freedom relies on two rules every write follows: `stream_head` is the last row it
//! locks, and after taking it the write only inserts events and touches `member_spans`, which
//! only writes holding `stream_head` do. Row locks on conversations use `FOR NO KEY UPDATE`, so
//! they never conflict with the key-share locks that inserting an event's foreign keys takes.

use crate::db;
use crate::error::Result;
use crate::rows::MESSAGE_KIND;
use deadpool_postgres::Transaction;
use palaver_core::{ConversationId, Event, EventBody, UserId};
use palaver_store::NewMessage;

const INSERT_EVENT: &str = "INSERT INTO events \
     (pos, conversation_id, kind, seq, actor_id, body, ts, client_id) \
     VALUES ($1, $2, $3, NULL, $4, $5, $6, NULL)";

/// Takes the stream lock and reserves `count` consecutive positions; returns the first.
async fn reserve(tx: &Transaction<'_>, count: i64) -> Result<i64> {
    let row = db::query_one(
        tx,
        "UPDATE stream_head SET pos = pos + $1 RETURNING pos",
        &[&count],
    )
    .await?;
    let last: i64 = row.try_get(0)?;
    Ok(last - count + 1)
}

/// Stores one non-message event at the next position: the write's final step before its span
/// bookkeeping and commit. Takes the stream lock and inserts in one statement.
pub(crate) async fn record(
    tx: &Transaction<'_>,
    actor: UserId,
    body: EventBody,
    ts: i64,
) -> Result<Event> {
    const SQL: &str = "WITH head AS (UPDATE stream_head SET pos = pos + 1 RETURNING pos) \
         INSERT INTO events (pos, conversation_id, kind, seq, actor_id, body, ts, client_id) \
         VALUES ((SELECT pos FROM head), $1, $2, NULL, $3, $4, $5, NULL) RETURNING pos";
    let json = serde_json::to_string(&body)?;
    let conversation = body.conversation().map(|c| c.0);
    let row = db::query_one(
        tx,
        SQL,
        &[&conversation, &body.name(), &actor.0, &json, &ts],
    )
    .await?;
    Ok(Event {
        pos: Some(row.try_get(0)?),
        ts,
        body,
    })
}

/// Stores several events (all by `actor`s given with them) at consecutive positions.
pub(crate) async fn record_many(
    tx: &Transaction<'_>,
    events: Vec<(UserId, EventBody)>,
    ts: i64,
) -> Result<Vec<Event>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let first = reserve(tx, events.len() as i64).await?;
    let mut stored = Vec::with_capacity(events.len());
    for (pos, (actor, body)) in (first..).zip(events) {
        let json = serde_json::to_string(&body)?;
        let conversation = body.conversation().map(|c| c.0);
        db::execute(
            tx,
            INSERT_EVENT,
            &[&pos, &conversation, &body.name(), &actor.0, &json, &ts],
        )
        .await?;
        stored.push(Event {
            pos: Some(pos),
            ts,
            body,
        });
    }
    Ok(stored)
}

/// Stores a message at the next position and returns that position (its MessageId).
/// A `(sender, client_id)` stored meanwhile by a concurrent attempt is `Error::ClientIdTaken`.
pub(crate) async fn record_message(
    tx: &Transaction<'_>,
    message: &NewMessage,
    seq: i64,
) -> Result<i64> {
    const SQL: &str = "WITH head AS (UPDATE stream_head SET pos = pos + 1 RETURNING pos) \
         INSERT INTO events (pos, conversation_id, kind, seq, actor_id, body, ts, client_id) \
         VALUES ((SELECT pos FROM head), $1, $2, $3, $4, $5, $6, $7) RETURNING pos";
    let row = db::query_one(
        tx,
        SQL,
        &[
            &message.conversation.0,
            &MESSAGE_KIND,
            &seq,
            &message.sender.0,
            &message.text,
            &message.ts,
            &message.client_id,
        ],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// Starts a membership: the user sees the conversation's events from `from_pos` on.
pub(crate) async fn open_span(
    tx: &Transaction<'_>,
    id: ConversationId,
    user: UserId,
    from_pos: i64,
) -> Result<()> {
    db::execute(
        tx,
        "INSERT INTO member_spans (user_id, conversation_id, from_pos, to_pos) \
         VALUES ($1, $2, $3, NULL) ON CONFLICT DO NOTHING",
        &[&user.0, &id.0, &from_pos],
    )
    .await?;
    Ok(())
}

/// Ends the user's open membership at `to_pos` (inclusive, so they see their own leaving).
pub(crate) async fn close_span(
    tx: &Transaction<'_>,
    id: ConversationId,
    user: UserId,
    to_pos: i64,
) -> Result<()> {
    db::execute(
        tx,
        "UPDATE member_spans SET to_pos = $3 \
         WHERE user_id = $1 AND conversation_id = $2 AND to_pos IS NULL",
        &[&user.0, &id.0, &to_pos],
    )
    .await?;
    Ok(())
}

/// Ends every open membership of a conversation at `to_pos`.
pub(crate) async fn close_all_spans(
    tx: &Transaction<'_>,
    id: ConversationId,
    to_pos: i64,
) -> Result<()> {
    db::execute(
        tx,
        "UPDATE member_spans SET to_pos = $2 WHERE conversation_id = $1 AND to_pos IS NULL",
        &[&id.0, &to_pos],
    )
    .await?;
    Ok(())
}
