//! Presence across nodes: leases, the users each node holds, and reaping lapsed nodes.

use crate::error::Result;
use palaver_core::UserId;
use rusqlite::{Connection, params, params_from_iter};
use std::collections::BTreeSet;

pub(crate) fn renew_lease(conn: &Connection, node: &str, expires_at: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO nodes (name, expires_at) VALUES (?1, ?2) \
         ON CONFLICT(name) DO UPDATE SET expires_at = excluded.expires_at",
    )?
    .execute(params![node, expires_at])?;
    Ok(())
}

pub(crate) fn set_presence(
    conn: &Connection,
    node: &str,
    user: UserId,
    online: bool,
) -> Result<()> {
    let sql = if online {
        "INSERT OR IGNORE INTO presence (node, user_id) VALUES (?1, ?2)"
    } else {
        "DELETE FROM presence WHERE node = ?1 AND user_id = ?2"
    };
    conn.prepare_cached(sql)?.execute(params![node, user.0])?;
    Ok(())
}

/// Which of `users` (at most a few hundred at a time) a live node holds.
pub(crate) fn online_users(conn: &Connection, users: &[UserId], now: i64) -> Result<Vec<UserId>> {
    let mut online = Vec::new();
    for chunk in users.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        let sql = format!(
            "SELECT DISTINCT p.user_id FROM presence p JOIN nodes n ON n.name = p.node \
             WHERE n.expires_at >= ?1 AND p.user_id IN ({marks})"
        );
        let mut stmt = conn.prepare(&sql)?;
        let args = std::iter::once(now).chain(chunk.iter().map(|u| u.0));
        let rows = stmt.query_map(params_from_iter(args), |r| r.get::<_, i64>(0))?;
        for id in rows {
            online.push(UserId(id?));
        }
    }
    Ok(online)
}

/// Deletes nodes whose lease lapsed before `now` and their presence; returns the users no live
/// node holds any more. Runs on the single writer, so concurrent callers cannot overlap.
pub(crate) fn reap_expired_nodes(conn: &Connection, now: i64) -> Result<Vec<UserId>> {
    let held: BTreeSet<i64> = conn
        .prepare_cached(
            "SELECT DISTINCT p.user_id FROM presence p JOIN nodes n ON n.name = p.node \
             WHERE n.expires_at < ?1",
        )?
        .query_map(params![now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    conn.prepare_cached(
        "DELETE FROM presence WHERE node IN (SELECT name FROM nodes WHERE expires_at < ?1)",
    )?
    .execute(params![now])?;
    conn.prepare_cached("DELETE FROM nodes WHERE expires_at < ?1")?
        .execute(params![now])?;
    let candidates: Vec<UserId> = held.into_iter().map(UserId).collect();
    let still: BTreeSet<UserId> = online_users(conn, &candidates, now)?.into_iter().collect();
    Ok(candidates
        .into_iter()
        .filter(|u| !still.contains(u))
        .collect())
}
