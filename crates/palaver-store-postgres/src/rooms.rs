//! Write operations on conversations and membership: rooms, direct conversations, joins and
//! leaves, each recorded as events with their membership spans.
//!
//! Membership changes lock the room's row (`FOR NO KEY UPDATE`) first, so they serialise with
//! each other, with destruction and with appends to that room, and never act on a room that
//! was destroyed meanwhile.

use crate::db;
use crate::error::Result;
use crate::journal::{self, close_all_spans, close_span, open_span};
use crate::rows::{self, conv_cols};
use deadpool_postgres::{GenericClient, Transaction};
use palaver_core::{
    Conversation, ConversationId, ConversationKind, CoreError, Event, EventBody, User, UserId,
};
use palaver_store::NewRoom;

async fn existing_user(tx: &Transaction<'_>, id: UserId) -> Result<User> {
    rows::user_by_id(tx, id)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("no user {id}")).into())
}

/// The live room `id`, locked until the transaction ends.
async fn lock_live_room(tx: &Transaction<'_>, id: ConversationId) -> Result<Conversation> {
    const SQL: &str = concat!(
        "SELECT ",
        conv_cols!(),
        " FROM conversations c WHERE c.id = $1 AND c.destroyed_at IS NULL AND c.kind <> 'dm' \
         FOR NO KEY UPDATE"
    );
    let row = db::query_opt(tx, SQL, &[&id.0])
        .await?
        .ok_or_else(|| CoreError::not_found("no such room"))?;
    rows::conversation(&row, 0)
}

async fn insert_members(tx: &Transaction<'_>, id: ConversationId, users: &[UserId]) -> Result<()> {
    let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
    db::execute(
        tx,
        "INSERT INTO members (conversation_id, user_id) SELECT $1, unnest($2::bigint[])",
        &[&id.0, &ids],
    )
    .await?;
    Ok(())
}

/// `ids` without repeats and without `skip`, in first-seen order.
fn distinct(ids: &[UserId], skip: Option<UserId>) -> Vec<UserId> {
    let mut out: Vec<UserId> = Vec::with_capacity(ids.len());
    for &id in ids {
        if Some(id) != skip && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

pub(crate) async fn create_room(
    tx: &Transaction<'_>,
    room: NewRoom,
) -> Result<(Conversation, Vec<Event>)> {
    if room.kind == ConversationKind::Dm {
        return Err(CoreError::invalid("a room is a channel or a group").into());
    }
    let taken = db::exists(
        tx,
        "SELECT 1 FROM conversations WHERE name = $1 AND destroyed_at IS NULL",
        &[&room.name],
    )
    .await?;
    if taken {
        return Err(CoreError::conflict(format!("#{} already exists", room.name)).into());
    }
    existing_user(tx, room.owner).await?;
    let mut added = Vec::new();
    for id in distinct(&room.members, Some(room.owner)) {
        added.push(existing_user(tx, id).await?);
    }
    // A concurrent creation of the same name fails here, on the unique index, as a conflict.
    let row = db::query_one(
        tx,
        "INSERT INTO conversations (kind, name, topic, owner_id, created_at, last_activity) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        &[
            &room.kind.as_str(),
            &room.name,
            &room.topic,
            &room.owner.0,
            &room.ts,
        ],
    )
    .await?;
    let id = ConversationId(row.try_get(0)?);
    let mut everyone = vec![room.owner];
    everyone.extend(added.iter().map(|u| u.id));
    insert_members(tx, id, &everyone).await?;
    let conversation = Conversation {
        id,
        kind: room.kind,
        name: Some(room.name),
        topic: room.topic,
        owner: Some(room.owner),
        created_at: room.ts,
        last_seq: 0,
    };
    let mut bodies = vec![(
        room.owner,
        EventBody::RoomCreated {
            room: conversation.clone(),
        },
    )];
    bodies.extend(added.into_iter().map(|user| {
        (
            user.id,
            EventBody::MemberJoined {
                conversation: id,
                user: user.id,
                handle: user.handle,
            },
        )
    }));
    let events = journal::record_many(tx, bodies, room.ts).await?;
    let created_pos = events.first().and_then(|e| e.pos).unwrap_or_default();
    // Members added at creation hear of the room as the owner does, from `RoomCreated`.
    for user in everyone {
        open_span(tx, id, user, created_pos).await?;
    }
    Ok((conversation, events))
}

pub(crate) async fn destroy_room(
    tx: &Transaction<'_>,
    id: ConversationId,
    by: UserId,
    ts: i64,
) -> Result<Event> {
    let room = lock_live_room(tx, id).await?;
    db::execute(
        tx,
        "UPDATE conversations SET destroyed_at = $2 WHERE id = $1",
        &[&id.0, &ts],
    )
    .await?;
    db::execute(
        tx,
        "DELETE FROM members WHERE conversation_id = $1",
        &[&id.0],
    )
    .await?;
    let body = EventBody::RoomDestroyed {
        conversation: id,
        name: room.name,
        by,
    };
    let event = journal::record(tx, by, body, ts).await?;
    close_all_spans(tx, id, event.pos.unwrap_or_default()).await?;
    Ok(event)
}

pub(crate) async fn add_members(
    tx: &Transaction<'_>,
    id: ConversationId,
    users: &[UserId],
    ts: i64,
) -> Result<Vec<Event>> {
    lock_live_room(tx, id).await?;
    let mut joining = Vec::new();
    for user in distinct(users, None) {
        let user = existing_user(tx, user).await?;
        if rows::read_marker(tx, id, user.id).await?.is_none() {
            joining.push(user);
        }
    }
    let ids: Vec<UserId> = joining.iter().map(|u| u.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    insert_members(tx, id, &ids).await?;
    let bodies = joining
        .into_iter()
        .map(|user| {
            (
                user.id,
                EventBody::MemberJoined {
                    conversation: id,
                    user: user.id,
                    handle: user.handle,
                },
            )
        })
        .collect();
    let events = journal::record_many(tx, bodies, ts).await?;
    for (user, event) in ids.iter().zip(&events) {
        open_span(tx, id, *user, event.pos.unwrap_or_default()).await?;
    }
    Ok(events)
}

pub(crate) async fn remove_member(
    tx: &Transaction<'_>,
    id: ConversationId,
    user: UserId,
    ts: i64,
) -> Result<Option<Event>> {
    lock_live_room(tx, id).await?;
    if rows::read_marker(tx, id, user).await?.is_none() {
        return Ok(None);
    }
    let handle = existing_user(tx, user).await?.handle;
    db::execute(
        tx,
        "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2",
        &[&id.0, &user.0],
    )
    .await?;
    let body = EventBody::MemberLeft {
        conversation: id,
        user,
        handle,
    };
    let event = journal::record(tx, user, body, ts).await?;
    close_span(tx, id, user, event.pos.unwrap_or_default()).await?;
    Ok(Some(event))
}

pub(crate) async fn direct_conversation(
    tx: &Transaction<'_>,
    a: UserId,
    b: UserId,
    ts: i64,
) -> Result<Conversation> {
    if a == b {
        return Err(CoreError::invalid("cannot start a direct conversation with yourself").into());
    }
    if let Some(found) = find_direct(tx, a, b).await? {
        return Ok(found);
    }
    existing_user(tx, a).await?;
    existing_user(tx, b).await?;
    // Two first messages at once: the loser waits for the winner's commit, inserts nothing and
    // reads the winner's conversation.
    let inserted = db::query_opt(
        tx,
        "INSERT INTO conversations (kind, dm_key, created_at, last_activity) \
         VALUES ('dm', $1, $2, $2) ON CONFLICT (dm_key) DO NOTHING RETURNING id",
        &[&dm_key(a, b), &ts],
    )
    .await?;
    let Some(row) = inserted else {
        return find_direct(tx, a, b)
            .await?
            .ok_or_else(|| CoreError::not_found("the direct conversation was destroyed").into());
    };
    let id = ConversationId(row.try_get(0)?);
    insert_members(tx, id, &[a, b]).await?;
    for user in [a, b] {
        // A direct conversation has no joining event: both see it from the start. These span
        // rows belong to a conversation no other transaction can see yet, so writing them
        // without the stream lock cannot deadlock.
        open_span(tx, id, user, 0).await?;
    }
    Ok(Conversation {
        id,
        kind: ConversationKind::Dm,
        name: None,
        topic: None,
        owner: None,
        created_at: ts,
        last_seq: 0,
    })
}

fn dm_key(a: UserId, b: UserId) -> String {
    format!("{}:{}", a.0.min(b.0), a.0.max(b.0))
}

/// The direct conversation of two users, if it exists.
pub(crate) async fn find_direct<C: GenericClient>(
    c: &C,
    a: UserId,
    b: UserId,
) -> Result<Option<Conversation>> {
    const SQL: &str = concat!(
        "SELECT ",
        conv_cols!(),
        " FROM conversations c WHERE c.dm_key = $1 AND c.destroyed_at IS NULL"
    );
    db::query_opt(c, SQL, &[&dm_key(a, b)])
        .await?
        .map(|r| rows::conversation(&r, 0))
        .transpose()
}
