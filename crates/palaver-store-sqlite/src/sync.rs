//! `events_since` and its count: which stored events a user may replay.
//!
//! Rather than scanning the whole stream after `since` and filtering, each of the user's
//! membership spans is read through the `(conversation_id, pos)` index, at most `limit`
//! positions each, and the positions merged; only the first `limit` rows are then loaded.

use crate::error::Result;
use crate::rows::{self, EVENT_COLS};
use palaver_core::{Event, UserId};
use rusqlite::{Connection, params};

/// The positions of the first `limit` events after `since` that `user` may see, ascending.
fn visible_positions(conn: &Connection, user: UserId, since: i64, limit: u32) -> Result<Vec<i64>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut spans_stmt = conn.prepare_cached(
        "SELECT conversation_id, from_pos, to_pos FROM member_spans \
         WHERE user_id = ?1 AND (to_pos IS NULL OR to_pos > ?2)",
    )?;
    let spans = spans_stmt
        .query_map(params![user.0, since], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let mut positions = Vec::new();
    let mut in_span = conn.prepare_cached(
        "SELECT pos FROM events WHERE conversation_id = ?1 AND pos > ?2 AND pos <= ?3 \
         ORDER BY pos LIMIT ?4",
    )?;
    for (conversation, from, to) in spans {
        let after = since.max(from - 1);
        let upto = to.unwrap_or(i64::MAX);
        let found = in_span.query_map(params![conversation, after, upto, limit], |r| r.get(0))?;
        for pos in found {
            positions.push(pos?);
        }
    }
    // Profile changes of the user and of everyone sharing a live conversation with them.
    let mut profiles = conn.prepare_cached(
        "SELECT e.pos FROM events e WHERE e.conversation_id IS NULL AND e.pos > ?2 \
         AND (e.actor_id = ?1 OR e.actor_id IN (SELECT o.user_id FROM members m \
              JOIN members o ON o.conversation_id = m.conversation_id WHERE m.user_id = ?1)) \
         ORDER BY e.pos LIMIT ?3",
    )?;
    for pos in profiles.query_map(params![user.0, since, limit], |r| r.get(0))? {
        positions.push(pos?);
    }
    positions.sort_unstable();
    positions.dedup();
    positions.truncate(limit as usize);
    Ok(positions)
}

pub(crate) fn events_since(
    conn: &Connection,
    user: UserId,
    since: i64,
    limit: u32,
) -> Result<Vec<Event>> {
    // One snapshot for the positions and the rows they name.
    let tx = conn.unchecked_transaction()?;
    let positions = visible_positions(&tx, user, since, limit)?;
    let sql = format!(
        "SELECT {EVENT_COLS} FROM events e JOIN users u ON u.id = e.actor_id WHERE e.pos = ?1"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut events = Vec::with_capacity(positions.len());
    for pos in positions {
        events.push(
            stmt.query_row([pos], |r| rows::event_row(r, 0))?
                .into_event()?,
        );
    }
    Ok(events)
}

pub(crate) fn count_events_since(
    conn: &Connection,
    user: UserId,
    since: i64,
    cap: u32,
) -> Result<u32> {
    let tx = conn.unchecked_transaction()?;
    let count = visible_positions(&tx, user, since, cap)?.len();
    Ok(u32::try_from(count).unwrap_or(cap))
}
