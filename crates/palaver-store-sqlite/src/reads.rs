//! Queries that run on the read pool: accounts, conversations, listings and history.

use crate::error::Result;
use crate::rows::{self, CONV_COLS, CONV_WIDTH, EVENT_COLS, USER_COLS, USER_WIDTH};
use palaver_core::{Conversation, ConversationId, ConversationKind, Message, User, UserId};
use palaver_store::{Credentials, Dialog, Head, HistoryQuery, Login, RoomListing};
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) fn credentials(conn: &Connection, login: &Login) -> Result<Option<Credentials>> {
    let (column, value) = match login {
        Login::Handle(h) => ("handle", h),
        Login::Email(e) => ("email", e),
    };
    let sql = format!("SELECT {USER_COLS}, u.password_hash FROM users u WHERE u.{column} = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([value], |r| {
            Ok(Credentials {
                user: rows::user(r, 0)?,
                password_hash: r.get(USER_WIDTH)?,
            })
        })
        .optional()?)
}

pub(crate) fn user_by_handle(conn: &Connection, handle: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.handle = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([handle], |r| rows::user(r, 0))
        .optional()?)
}

/// Case-insensitive substring match on handle or display name. `instr` rather than LIKE, so
/// there are no wildcards to escape.
pub(crate) fn search_users(conn: &Connection, query: &str, limit: u32) -> Result<Vec<User>> {
    let needle = query.to_lowercase();
    // SQLite's lower() folds ASCII only, so it may narrow the scan only for an ASCII query;
    // the Rust check below decides in every case.
    let filter = if needle.is_ascii() {
        "instr(u.handle, ?1) > 0 OR instr(lower(u.display_name), ?1) > 0"
    } else {
        "?1 IS NOT NULL"
    };
    let sql = format!("SELECT {USER_COLS} FROM users u WHERE {filter} ORDER BY u.handle");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut found = Vec::new();
    let mut rows = stmt.query([&needle])?;
    while let Some(row) = rows.next()? {
        if found.len() >= limit as usize {
            break;
        }
        let user = rows::user(row, 0)?;
        if user.handle.contains(&needle) || user.display_name.to_lowercase().contains(&needle) {
            found.push(user);
        }
    }
    Ok(found)
}

pub(crate) fn session_active(conn: &Connection, id: &str, now: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM sessions WHERE id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
        )?
        .query_row(params![id, now], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(crate) fn session_key(
    conn: &Connection,
    hash: &str,
) -> Result<Option<(UserId, ConversationId)>> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id, conversation_id FROM session_keys \
             WHERE hash = ?1 AND revoked_at IS NULL",
        )?
        .query_row([hash], |r| {
            Ok((UserId(r.get(0)?), ConversationId(r.get(1)?)))
        })
        .optional()?)
}

pub(crate) fn room_by_name(conn: &Connection, name: &str) -> Result<Option<Conversation>> {
    let sql = format!(
        "SELECT {CONV_COLS} FROM conversations c \
         WHERE c.name = ?1 AND c.destroyed_at IS NULL AND c.kind != 'dm'"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([name], |r| rows::conversation(r, 0))
        .optional()?)
}

pub(crate) fn members(conn: &Connection, id: ConversationId) -> Result<Vec<User>> {
    let sql = format!(
        "SELECT {USER_COLS} FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.conversation_id = ?1 ORDER BY u.handle"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let users = stmt.query_map([id.0], |r| rows::user(r, 0))?;
    Ok(users.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn conversation_ids(conn: &Connection, user: UserId) -> Result<Vec<ConversationId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.conversation_id FROM members m JOIN conversations c ON c.id = m.conversation_id \
         WHERE m.user_id = ?1 AND c.destroyed_at IS NULL ORDER BY m.conversation_id",
    )?;
    let ids = stmt.query_map([user.0], |r| Ok(ConversationId(r.get(0)?)))?;
    Ok(ids.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn conversation_heads(conn: &Connection, user: UserId) -> Result<Vec<Head>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.last_seq, \
           COALESCE((SELECT n.n FROM member_counts n WHERE n.conversation_id = c.id), 0) \
         FROM members m JOIN conversations c ON c.id = m.conversation_id \
         WHERE m.user_id = ?1 AND c.destroyed_at IS NULL ORDER BY c.id",
    )?;
    let heads = stmt.query_map([user.0], |r| {
        Ok(Head {
            conversation: ConversationId(r.get(0)?),
            last_seq: r.get(1)?,
            members: r.get(2)?,
        })
    })?;
    Ok(heads.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn list_rooms(conn: &Connection, user: UserId) -> Result<Vec<RoomListing>> {
    let sql = format!(
        "SELECT {CONV_COLS}, \
           COALESCE((SELECT n.n FROM member_counts n WHERE n.conversation_id = c.id), 0), \
           EXISTS (SELECT 1 FROM members j WHERE j.conversation_id = c.id AND j.user_id = ?1) \
         FROM conversations c \
         WHERE c.destroyed_at IS NULL AND (c.kind = 'channel' OR (c.kind = 'group' AND \
           EXISTS (SELECT 1 FROM members g WHERE g.conversation_id = c.id AND g.user_id = ?1))) \
         ORDER BY c.name"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rooms = stmt.query_map([user.0], |r| {
        Ok(RoomListing {
            room: rows::conversation(r, 0)?,
            member_count: r.get(CONV_WIDTH)?,
            joined: r.get(CONV_WIDTH + 1)?,
        })
    })?;
    Ok(rooms.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn dialogs(conn: &Connection, user: UserId) -> Result<Vec<Dialog>> {
    let sql = format!(
        "SELECT {CONV_COLS}, m.last_read_seq, c.last_activity, {EVENT_COLS} \
         FROM members m JOIN conversations c ON c.id = m.conversation_id \
         LEFT JOIN events e ON e.conversation_id = c.id AND e.seq = c.last_seq \
         LEFT JOIN users u ON u.id = e.actor_id \
         WHERE m.user_id = ?1 AND c.destroyed_at IS NULL \
         ORDER BY c.last_activity DESC, c.id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt.query_map([user.0], |r| {
        let conversation = rows::conversation(r, 0)?;
        let last_read_seq: i64 = r.get(CONV_WIDTH)?;
        let last_activity: i64 = r.get(CONV_WIDTH + 1)?;
        let has_message = r.get::<_, Option<i64>>(CONV_WIDTH + 2)?.is_some();
        let last_message = if has_message {
            rows::event_row(r, CONV_WIDTH + 2)?.into_message()
        } else {
            None
        };
        Ok(Dialog {
            unread: (conversation.last_seq - last_read_seq).max(0),
            conversation,
            peer: None,
            last_message,
            last_read_seq,
            last_activity,
        })
    })?;
    let mut dialogs = found.collect::<rusqlite::Result<Vec<_>>>()?;
    for dialog in &mut dialogs {
        if dialog.conversation.kind == ConversationKind::Dm {
            dialog.peer = peer(conn, dialog.conversation.id, user)?;
        }
    }
    Ok(dialogs)
}

fn peer(conn: &Connection, id: ConversationId, user: UserId) -> Result<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLS} FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.conversation_id = ?1 AND m.user_id != ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id.0, user.0], |r| rows::user(r, 0))
        .optional()?)
}

pub(crate) fn history(conn: &Connection, q: HistoryQuery) -> Result<Vec<Message>> {
    let before = q.before_seq.unwrap_or(i64::MAX);
    let (sql, lower) = match q.after_seq {
        Some(after) => (format!("{HISTORY} ORDER BY e.seq ASC LIMIT ?4"), after),
        None => (format!("{HISTORY} ORDER BY e.seq DESC LIMIT ?4"), 0),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt.query_map(params![q.conversation.0, lower, before, q.limit], |r| {
        rows::event_row(r, 0)
    })?;
    let mut messages: Vec<Message> = found
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter_map(rows::EventRow::into_message)
        .collect();
    if q.after_seq.is_none() {
        messages.reverse();
    }
    Ok(messages)
}

const HISTORY: &str = "SELECT e.pos, e.conversation_id, e.kind, e.seq, e.actor_id, u.handle, \
     e.body, e.ts, e.client_id FROM events e JOIN users u ON u.id = e.actor_id \
     WHERE e.conversation_id = ?1 AND e.seq > ?2 AND e.seq < ?3";
