//! Write operations on accounts, sessions and deployment secrets.

use crate::error::Result;
use crate::journal;
use crate::rows;
use crate::writer::WriterState;
use palaver_core::{CoreError, Event, EventBody, User, UserId};
use palaver_store::{NewSession, NewSessionKey, NewUser, ProfilePatch};
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) fn create_user(conn: &Connection, user: NewUser) -> Result<User> {
    let taken = |sql: &str, value: &str| -> Result<bool> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row([value], |_| Ok(()))
            .optional()?
            .is_some())
    };
    if taken("SELECT 1 FROM users WHERE handle = ?1", &user.handle)? {
        return Err(CoreError::conflict("that handle is already taken").into());
    }
    if let Some(email) = &user.email
        && taken("SELECT 1 FROM users WHERE email = ?1", email)?
    {
        return Err(CoreError::conflict("that e-mail address is already registered").into());
    }
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO users (handle, display_name, email, password_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )?
        .query_row(
            params![
                user.handle,
                user.display_name,
                user.email,
                user.password_hash,
                user.created_at
            ],
            |r| r.get(0),
        )?;
    Ok(User {
        id: UserId(id),
        handle: user.handle,
        display_name: user.display_name,
        avatar_url: None,
        status_text: None,
        created_at: user.created_at,
    })
}

pub(crate) fn set_password_hash(conn: &Connection, user: UserId, hash: &str) -> Result<()> {
    let changed = conn
        .prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")?
        .execute(params![user.0, hash])?;
    if changed == 0 {
        return Err(CoreError::not_found("no such user").into());
    }
    Ok(())
}

pub(crate) fn update_profile(
    conn: &Connection,
    state: &mut WriterState,
    id: UserId,
    patch: ProfilePatch,
    ts: i64,
) -> Result<Event> {
    let mut user =
        rows::user_by_id(conn, id)?.ok_or_else(|| CoreError::not_found("no such user"))?;
    let changed = patch.apply(&mut user);
    conn.prepare_cached(
        "UPDATE users SET display_name = ?2, avatar_url = ?3, status_text = ?4 WHERE id = ?1",
    )?
    .execute(params![
        id.0,
        user.display_name,
        user.avatar_url,
        user.status_text
    ])?;
    journal::record(
        conn,
        state,
        id,
        EventBody::UserUpdated { user, changed },
        ts,
    )
}

pub(crate) fn create_session(conn: &Connection, session: NewSession) -> Result<()> {
    if rows::user_by_id(conn, session.user)?.is_none() {
        return Err(CoreError::not_found("no such user").into());
    }
    conn.prepare_cached(
        "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        session.id,
        session.user.0,
        session.created_at,
        session.expires_at
    ])?;
    Ok(())
}

pub(crate) fn revoke_session(conn: &Connection, id: &str, now: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
    )?
    .execute(params![id, now])?;
    Ok(())
}

pub(crate) fn create_session_key(conn: &Connection, key: NewSessionKey) -> Result<()> {
    if rows::user_by_id(conn, key.user)?.is_none() {
        return Err(CoreError::not_found("no such user").into());
    }
    if rows::live_conversation(conn, key.conversation)?.is_none() {
        return Err(CoreError::not_found("no such conversation").into());
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO session_keys (hash, user_id, conversation_id, created_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hash) DO NOTHING",
        )?
        .execute(params![
            key.hash,
            key.user.0,
            key.conversation.0,
            key.created_at
        ])?;
    if inserted == 0 {
        return Err(CoreError::conflict("that session key already exists").into());
    }
    Ok(())
}

pub(crate) fn revoke_session_key(conn: &Connection, hash: &str, now: i64) -> Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE session_keys SET revoked_at = ?2 WHERE hash = ?1 AND revoked_at IS NULL",
        )?
        .execute(params![hash, now])?;
    Ok(changed > 0)
}

/// Insert-if-absent, then whatever is stored: the first caller's candidate wins for good.
pub(crate) fn secret(conn: &Connection, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>> {
    let key = format!("secret:{name}");
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
    )?
    .execute(params![key, candidate])?;
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))?)
}
