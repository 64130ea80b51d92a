//! Write operations on conversations and membership: rooms, direct conversations, joins and
//! leaves, each recorded as events with their membership spans.

use crate::error::Result;
use crate::journal::{self, close_all_spans, close_span, open_span};
use crate::rows::{self, CONV_COLS};
use crate::writer::WriterState;
use palaver_core::{
    Conversation, ConversationId, ConversationKind, CoreError, Event, EventBody, User, UserId,
};
use palaver_store::NewRoom;
use rusqlite::{Connection, OptionalExtension, params};

fn existing_user(conn: &Connection, id: UserId) -> Result<User> {
    Ok(rows::user_by_id(conn, id)?.ok_or_else(|| CoreError::not_found(format!("no user {id}")))?)
}

fn live_room(conn: &Connection, id: ConversationId) -> Result<Conversation> {
    match rows::live_conversation(conn, id)? {
        Some(c) if c.kind != ConversationKind::Dm => Ok(c),
        _ => Err(CoreError::not_found("no such room").into()),
    }
}

fn insert_member(conn: &Connection, id: ConversationId, user: UserId) -> Result<()> {
    conn.prepare_cached("INSERT INTO members (conversation_id, user_id) VALUES (?1, ?2)")?
        .execute(params![id.0, user.0])?;
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

pub(crate) fn create_room(
    conn: &Connection,
    state: &mut WriterState,
    room: NewRoom,
) -> Result<(Conversation, Vec<Event>)> {
    if room.kind == ConversationKind::Dm {
        return Err(CoreError::invalid("a room is a channel or a group").into());
    }
    let name_taken = conn
        .prepare_cached("SELECT 1 FROM conversations WHERE name = ?1 AND destroyed_at IS NULL")?
        .query_row([&room.name], |_| Ok(()))
        .optional()?
        .is_some();
    if name_taken {
        return Err(CoreError::conflict(format!("#{} already exists", room.name)).into());
    }
    existing_user(conn, room.owner)?;
    let added = distinct(&room.members, Some(room.owner))
        .into_iter()
        .map(|id| existing_user(conn, id))
        .collect::<Result<Vec<_>>>()?;

    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO conversations (kind, name, topic, owner_id, created_at, last_activity) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
        )?
        .query_row(
            params![
                room.kind.as_str(),
                room.name,
                room.topic,
                room.owner.0,
                room.ts
            ],
            |r| r.get(0),
        )?;
    let id = ConversationId(id);
    let conversation = Conversation {
        id,
        kind: room.kind,
        name: Some(room.name),
        topic: room.topic,
        owner: Some(room.owner),
        created_at: room.ts,
        last_seq: 0,
    };
    let created = journal::record(
        conn,
        state,
        room.owner,
        EventBody::RoomCreated {
            room: conversation.clone(),
        },
        room.ts,
    )?;
    let created_pos = state.head;
    insert_member(conn, id, room.owner)?;
    open_span(conn, id, room.owner, created_pos)?;
    let mut events = vec![created];
    for user in added {
        insert_member(conn, id, user.id)?;
        // Members added at creation hear of the room as the owner does, from `RoomCreated`.
        open_span(conn, id, user.id, created_pos)?;
        let body = EventBody::MemberJoined {
            conversation: id,
            user: user.id,
            handle: user.handle,
        };
        events.push(journal::record(conn, state, user.id, body, room.ts)?);
    }
    Ok((conversation, events))
}

pub(crate) fn destroy_room(
    conn: &Connection,
    state: &mut WriterState,
    id: ConversationId,
    by: UserId,
    ts: i64,
) -> Result<Event> {
    let room = live_room(conn, id)?;
    let body = EventBody::RoomDestroyed {
        conversation: id,
        name: room.name,
        by,
    };
    let event = journal::record(conn, state, by, body, ts)?;
    conn.prepare_cached("UPDATE conversations SET destroyed_at = ?2 WHERE id = ?1")?
        .execute(params![id.0, ts])?;
    close_all_spans(conn, id, state.head)?;
    conn.prepare_cached("DELETE FROM members WHERE conversation_id = ?1")?
        .execute([id.0])?;
    Ok(event)
}

pub(crate) fn add_members(
    conn: &Connection,
    state: &mut WriterState,
    id: ConversationId,
    users: &[UserId],
    ts: i64,
) -> Result<Vec<Event>> {
    live_room(conn, id)?;
    let mut events = Vec::new();
    for user in distinct(users, None) {
        let user = existing_user(conn, user)?;
        if rows::read_marker(conn, id, user.id)?.is_some() {
            continue;
        }
        insert_member(conn, id, user.id)?;
        let body = EventBody::MemberJoined {
            conversation: id,
            user: user.id,
            handle: user.handle,
        };
        let event = journal::record(conn, state, user.id, body, ts)?;
        open_span(conn, id, user.id, state.head)?;
        events.push(event);
    }
    Ok(events)
}

pub(crate) fn remove_member(
    conn: &Connection,
    state: &mut WriterState,
    id: ConversationId,
    user: UserId,
    ts: i64,
) -> Result<Option<Event>> {
    live_room(conn, id)?;
    if rows::read_marker(conn, id, user)?.is_none() {
        return Ok(None);
    }
    let handle = existing_user(conn, user)?.handle;
    conn.prepare_cached("DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2")?
        .execute(params![id.0, user.0])?;
    let body = EventBody::MemberLeft {
        conversation: id,
        user,
        handle,
    };
    let event = journal::record(conn, state, user, body, ts)?;
    close_span(conn, id, user, state.head)?;
    Ok(Some(event))
}

pub(crate) fn direct_conversation(
    conn: &Connection,
    a: UserId,
    b: UserId,
    ts: i64,
) -> Result<Conversation> {
    if a == b {
        return Err(CoreError::invalid("cannot start a direct conversation with yourself").into());
    }
    if let Some(found) = find_direct(conn, a, b)? {
        return Ok(found);
    }
    existing_user(conn, a)?;
    existing_user(conn, b)?;
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO conversations (kind, dm_key, created_at, last_activity) \
             VALUES ('dm', ?1, ?2, ?2) RETURNING id",
        )?
        .query_row(params![dm_key(a, b), ts], |r| r.get(0))?;
    let id = ConversationId(id);
    for user in [a, b] {
        insert_member(conn, id, user)?;
        // A direct conversation has no joining event: both see it from the start.
        open_span(conn, id, user, 0)?;
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

/// The direct conversation of two users, if it exists; used by readers and the writer.
pub(crate) fn find_direct(conn: &Connection, a: UserId, b: UserId) -> Result<Option<Conversation>> {
    let sql = format!(
        "SELECT {CONV_COLS} FROM conversations c WHERE c.dm_key = ?1 AND c.destroyed_at IS NULL"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([dm_key(a, b)], |r| rows::conversation(r, 0))
        .optional()?)
}
