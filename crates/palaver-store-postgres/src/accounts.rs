//! Operations on accounts, sessions and deployment secrets.

use crate::db;
use crate::error::Result;
use crate::journal;
use crate::rows::{self, user_cols};
use deadpool_postgres::{Object, Transaction};
use palaver_core::{ConversationId, CoreError, Event, EventBody, User, UserId};
use palaver_store::{Credentials, Login, NewSession, NewSessionKey, NewUser, ProfilePatch};

pub(crate) async fn create_user(c: &Object, user: NewUser) -> Result<User> {
    // Checked first for a clear message; the unique constraints catch a concurrent signup.
    if db::exists(c, "SELECT 1 FROM users WHERE handle = $1", &[&user.handle]).await? {
        return Err(CoreError::conflict("that handle is already taken").into());
    }
    if let Some(email) = &user.email
        && db::exists(c, "SELECT 1 FROM users WHERE email = $1", &[email]).await?
    {
        return Err(CoreError::conflict("that e-mail address is already registered").into());
    }
    let row = db::query_one(
        c,
        "INSERT INTO users (handle, display_name, email, password_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[
            &user.handle,
            &user.display_name,
            &user.email,
            &user.password_hash,
            &user.created_at,
        ],
    )
    .await?;
    Ok(User {
        id: UserId(row.try_get(0)?),
        handle: user.handle,
        display_name: user.display_name,
        avatar_url: None,
        status_text: None,
        created_at: user.created_at,
    })
}

pub(crate) async fn credentials(c: &Object, login: &Login) -> Result<Option<Credentials>> {
    const BY_HANDLE: &str = concat!(
        "SELECT ",
        user_cols!(),
        ", u.password_hash FROM users u WHERE u.handle = $1"
    );
    const BY_EMAIL: &str = concat!(
        "SELECT ",
        user_cols!(),
        ", u.password_hash FROM users u WHERE u.email = $1"
    );
    let (sql, value) = match login {
        Login::Handle(h) => (BY_HANDLE, h),
        Login::Email(e) => (BY_EMAIL, e),
    };
    let Some(row) = db::query_opt(c, sql, &[value]).await? else {
        return Ok(None);
    };
    Ok(Some(Credentials {
        user: rows::user(&row, 0)?,
        password_hash: row.try_get(rows::USER_WIDTH)?,
    }))
}

pub(crate) async fn set_password_hash(c: &Object, user: UserId, hash: &str) -> Result<()> {
    let changed = db::execute(
        c,
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        &[&user.0, &hash],
    )
    .await?;
    if changed == 0 {
        return Err(CoreError::not_found("no such user").into());
    }
    Ok(())
}

pub(crate) async fn update_profile(
    tx: &Transaction<'_>,
    id: UserId,
    patch: ProfilePatch,
    ts: i64,
) -> Result<Event> {
    const LOCKED: &str = concat!(
        "SELECT ",
        user_cols!(),
        " FROM users u WHERE u.id = $1 FOR NO KEY UPDATE"
    );
    let row = db::query_opt(tx, LOCKED, &[&id.0])
        .await?
        .ok_or_else(|| CoreError::not_found("no such user"))?;
    let mut user = rows::user(&row, 0)?;
    let changed = patch.apply(&mut user);
    db::execute(
        tx,
        "UPDATE users SET display_name = $2, avatar_url = $3, status_text = $4 WHERE id = $1",
        &[
            &id.0,
            &user.display_name,
            &user.avatar_url,
            &user.status_text,
        ],
    )
    .await?;
    journal::record(tx, id, EventBody::UserUpdated { user, changed }, ts).await
}

pub(crate) async fn create_session(c: &Object, session: NewSession) -> Result<()> {
    if rows::user_by_id(c, session.user).await?.is_none() {
        return Err(CoreError::not_found("no such user").into());
    }
    db::execute(
        c,
        "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        &[
            &session.id,
            &session.user.0,
            &session.created_at,
            &session.expires_at,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn session_active(c: &Object, id: &str, now: i64) -> Result<bool> {
    db::exists(
        c,
        "SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
        &[&id, &now],
    )
    .await
}

pub(crate) async fn revoke_session(c: &Object, id: &str, now: i64) -> Result<()> {
    db::execute(
        c,
        "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        &[&id, &now],
    )
    .await?;
    Ok(())
}

pub(crate) async fn create_session_key(c: &Object, key: NewSessionKey) -> Result<()> {
    if rows::user_by_id(c, key.user).await?.is_none() {
        return Err(CoreError::not_found("no such user").into());
    }
    if rows::live_conversation(c, key.conversation)
        .await?
        .is_none()
    {
        return Err(CoreError::not_found("no such conversation").into());
    }
    let inserted = db::execute(
        c,
        "INSERT INTO session_keys (hash, user_id, conversation_id, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING",
        &[&key.hash, &key.user.0, &key.conversation.0, &key.created_at],
    )
    .await?;
    if inserted == 0 {
        return Err(CoreError::conflict("that session key already exists").into());
    }
    Ok(())
}

pub(crate) async fn session_key(
    c: &Object,
    hash: &str,
) -> Result<Option<(UserId, ConversationId)>> {
    let row = db::query_opt(
        c,
        "SELECT user_id, conversation_id FROM session_keys \
         WHERE hash = $1 AND revoked_at IS NULL",
        &[&hash],
    )
    .await?;
    match row {
        Some(r) => Ok(Some((UserId(r.try_get(0)?), ConversationId(r.try_get(1)?)))),
        None => Ok(None),
    }
}

pub(crate) async fn revoke_session_key(c: &Object, hash: &str, now: i64) -> Result<bool> {
    let changed = db::execute(
        c,
        "UPDATE session_keys SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL",
        &[&hash, &now],
    )
    .await?;
    Ok(changed > 0)
}

/// Insert-if-absent, then whatever is stored: the first caller's candidate wins for good.
pub(crate) async fn secret(c: &Object, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>> {
    let key = format!("secret:{name}");
    db::execute(
        c,
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        &[&key, &candidate],
    )
    .await?;
    let row = db::query_one(c, "SELECT value FROM meta WHERE key = $1", &[&key]).await?;
    Ok(row.try_get(0)?)
}

/// Users whose handle or display name contains `query`, case-insensitively, by handle.
pub(crate) async fn search_users(c: &Object, query: &str, limit: u32) -> Result<Vec<User>> {
    // strpos rather than LIKE, so there are no wildcards to escape. The database's lower()
    // depends on its locale, so SQL only narrows the scan (for an ASCII query, where ASCII
    // folding suffices) and the Unicode check in Rust decides in every case.
    const ASCII: &str = concat!(
        "SELECT ",
        user_cols!(),
        " FROM users u WHERE strpos(lower(u.handle), $1) > 0 \
           OR strpos(lower(u.display_name), $1) > 0 ORDER BY u.handle"
    );
    const ALL: &str = concat!(
        "SELECT ",
        user_cols!(),
        " FROM users u WHERE $1::text IS NOT NULL ORDER BY u.handle"
    );
    let needle = query.to_lowercase();
    let sql = if needle.is_ascii() { ASCII } else { ALL };
    let mut found = Vec::new();
    for row in db::query(c, sql, &[&needle]).await? {
        if found.len() >= limit as usize {
            break;
        }
        let user = rows::user(&row, 0)?;
        if user.handle.contains(&needle) || user.display_name.to_lowercase().contains(&needle) {
            found.push(user);
        }
    }
    Ok(found)
}
