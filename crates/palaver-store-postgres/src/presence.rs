//! Presence across nodes: leases, the users each node holds, and reaping lapsed nodes.

use crate::db;
use crate::error::Result;
use deadpool_postgres::GenericClient;
use palaver_core::UserId;
use std::collections::BTreeSet;

pub(crate) async fn renew_lease<C: GenericClient>(
    c: &C,
    node: &str,
    expires_at: i64,
) -> Result<()> {
    db::execute(
        c,
        "INSERT INTO nodes (name, expires_at) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET expires_at = EXCLUDED.expires_at",
        &[&node, &expires_at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn set_presence<C: GenericClient>(
    c: &C,
    node: &str,
    user: UserId,
    online: bool,
) -> Result<()> {
    let sql = if online {
        "INSERT INTO presence (node, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM presence WHERE node = $1 AND user_id = $2"
    };
    db::execute(c, sql, &[&node, &user.0]).await?;
    Ok(())
}

pub(crate) async fn online_users<C: GenericClient>(
    c: &C,
    users: &[UserId],
    now: i64,
) -> Result<Vec<UserId>> {
    let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
    let rows = db::query(
        c,
        "SELECT DISTINCT p.user_id FROM presence p JOIN nodes n ON n.name = p.node \
         WHERE n.expires_at >= $1 AND p.user_id = ANY($2)",
        &[&now, &ids],
    )
    .await?;
    Ok(rows.iter().map(|r| UserId(r.get(0))).collect())
}

/// In one transaction: deletes the lapsed nodes (row locks make concurrent reapers take
/// disjoint sets), then their presence, and returns the users no live node holds.
pub(crate) async fn reap_expired_nodes<C: GenericClient>(c: &C, now: i64) -> Result<Vec<UserId>> {
    let dead: Vec<String> = db::query(
        c,
        "DELETE FROM nodes WHERE expires_at < $1 RETURNING name",
        &[&now],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    if dead.is_empty() {
        return Ok(Vec::new());
    }
    let held: BTreeSet<i64> = db::query(
        c,
        "DELETE FROM presence WHERE node = ANY($1) RETURNING user_id",
        &[&dead],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let candidates: Vec<UserId> = held.into_iter().map(UserId).collect();
    let still: BTreeSet<UserId> = online_users(c, &candidates, now)
        .await?
        .into_iter()
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|u| !still.contains(u))
        .collect())
}
