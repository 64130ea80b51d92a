//! Write operations on messages and read markers: `seq` assignment, idempotency, `mark_read`.

use crate::db;
use crate::error::Result;
use crate::journal;
use crate::rows::{self, event_cols};
use deadpool_postgres::{GenericClient, Transaction};
use palaver_core::policy::clamp_read_seq;
use palaver_core::{ConversationId, CoreError, Event, EventBody, Message, MessageId, UserId};
use palaver_store::{Appended, NewMessage};

/// One attempt at storing a message; the caller commits. `Error::ClientIdTaken` when a
/// concurrent attempt with the same client id committed first (the caller retries, and the
/// retry finds it).
pub(crate) async fn append_message(tx: &Transaction<'_>, message: &NewMessage) -> Result<Appended> {
    // A retry returns what the first attempt stored, even if the conversation changed since.
    if let Some(client_id) = &message.client_id
        && let Some(original) = by_client_id(tx, message.sender, client_id).await?
    {
        let pos = original.id.0;
        return Ok(Appended {
            message: original,
            pos,
            duplicate: true,
        });
    }
    // The conversation's row lock, held to commit, serialises writers of one conversation: seqs
    // are gap-free and unique, and a rollback returns the number. Other conversations proceed in
    // parallel.
    let seq: i64 = db::query_opt(
        tx,
        "UPDATE conversations SET last_seq = last_seq + 1, last_activity = $2 \
         WHERE id = $1 AND destroyed_at IS NULL RETURNING last_seq",
        &[&message.conversation.0, &message.ts],
    )
    .await?
    .ok_or_else(|| CoreError::not_found("no such conversation"))?
    .try_get(0)?;
    // Membership is checked under that lock, so a concurrent removal cannot slip in between.
    let sender_handle: String = db::query_opt(
        tx,
        "UPDATE members m SET last_read_seq = GREATEST(m.last_read_seq, $3) FROM users u \
         WHERE m.conversation_id = $1 AND m.user_id = $2 AND u.id = m.user_id RETURNING u.handle",
        &[&message.conversation.0, &message.sender.0, &seq],
    )
    .await?
    .ok_or_else(|| CoreError::forbidden("not a member of this conversation"))?
    .try_get(0)?;
    let pos = journal::record_message(tx, message, seq).await?;
    Ok(Appended {
        message: Message {
            id: MessageId(pos),
            conversation: message.conversation,
            seq,
            sender: message.sender,
            sender_handle,
            text: message.text.clone(),
            ts: message.ts,
            client_id: message.client_id.clone(),
        },
        pos,
        duplicate: false,
    })
}

async fn by_client_id<C: GenericClient>(
    c: &C,
    sender: UserId,
    client_id: &str,
) -> Result<Option<Message>> {
    const SQL: &str = concat!(
        "SELECT ",
        event_cols!(),
        " FROM events e JOIN users u ON u.id = e.actor_id \
         WHERE e.actor_id = $1 AND e.client_id = $2"
    );
    let Some(row) = db::query_opt(c, SQL, &[&sender.0, &client_id]).await? else {
        return Ok(None);
    };
    Ok(rows::event_row(&row, 0)?.into_message())
}

pub(crate) async fn mark_read(
    tx: &Transaction<'_>,
    id: ConversationId,
    user: UserId,
    seq: i64,
    ts: i64,
) -> Result<Option<Event>> {
    let conversation = rows::live_conversation(tx, id)
        .await?
        .ok_or_else(|| CoreError::not_found("no such conversation"))?;
    // The member row's lock makes two concurrent moves of one marker apply one after the other.
    let current: i64 = db::query_opt(
        tx,
        "SELECT last_read_seq FROM members WHERE conversation_id = $1 AND user_id = $2 \
         FOR NO KEY UPDATE",
        &[&id.0, &user.0],
    )
    .await?
    .ok_or_else(|| CoreError::forbidden("not a member of this conversation"))?
    .try_get(0)?;
    let Some(target) = clamp_read_seq(current, seq, conversation.last_seq) else {
        return Ok(None);
    };
    db::execute(
        tx,
        "UPDATE members SET last_read_seq = $3 WHERE conversation_id = $1 AND user_id = $2",
        &[&id.0, &user.0, &target],
    )
    .await?;
    let handle = rows::user_by_id(tx, user)
        .await?
        .map(|u| u.handle)
        .unwrap_or_default();
    let body = EventBody::Read {
        conversation: id,
        user,
        handle,
        seq: target,
    };
    Ok(Some(journal::record(tx, user, body, ts).await?))
}
