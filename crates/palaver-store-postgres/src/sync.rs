//! `events_since` and its count: which stored events a user may replay.
//!
//! One statement, so one snapshot: each of the user's membership spans is read through the
//! `(conversation_id, pos)` index, at most `limit` positions each, merged with the profile
//! changes the user may see, and only the first `limit` rows are loaded.

use crate::db;
use crate::error::Result;
use crate::rows::{self, event_cols};
use deadpool_postgres::Object;
use palaver_core::{Event, UserId};

/// The positions of the first `$3` events after `$2` that user `$1` may see, as `page(pos)`.
macro_rules! visible_page {
    () => {
        "WITH spans AS ( \
           SELECT conversation_id, GREATEST(from_pos - 1, $2) AS after_pos, \
                  COALESCE(to_pos, 9223372036854775807) AS upto \
           FROM member_spans WHERE user_id = $1 AND (to_pos IS NULL OR to_pos > $2) \
         ), visible AS ( \
           SELECT v.pos FROM spans s CROSS JOIN LATERAL ( \
             SELECT e.pos FROM events e WHERE e.conversation_id = s.conversation_id \
               AND e.pos > s.after_pos AND e.pos <= s.upto ORDER BY e.pos LIMIT $3 \
           ) v \
           UNION \
           (SELECT e.pos FROM events e WHERE e.conversation_id IS NULL AND e.pos > $2 \
              AND (e.actor_id = $1 OR e.actor_id IN (SELECT o.user_id FROM members m \
                   JOIN members o ON o.conversation_id = m.conversation_id \
                   WHERE m.user_id = $1)) \
            ORDER BY e.pos LIMIT $3) \
         ), page AS (SELECT pos FROM visible ORDER BY pos LIMIT $3) "
    };
}

pub(crate) async fn events_since(
    c: &Object,
    user: UserId,
    since: i64,
    limit: u32,
) -> Result<Vec<Event>> {
    const SQL: &str = concat!(
        visible_page!(),
        "SELECT ",
        event_cols!(),
        " FROM page JOIN events e ON e.pos = page.pos JOIN users u ON u.id = e.actor_id \
         ORDER BY e.pos"
    );
    if limit == 0 {
        return Ok(Vec::new());
    }
    db::query(c, SQL, &[&user.0, &since, &i64::from(limit)])
        .await?
        .iter()
        .map(|r| rows::event_row(r, 0)?.into_event())
        .collect()
}

pub(crate) async fn count_events_since(
    c: &Object,
    user: UserId,
    since: i64,
    cap: u32,
) -> Result<u32> {
    const SQL: &str = concat!(visible_page!(), "SELECT COUNT(*) FROM page");
    if cap == 0 {
        return Ok(0);
    }
    let row = db::query_one(c, SQL, &[&user.0, &since, &i64::from(cap)]).await?;
    let count: i64 = row.try_get(0)?;
    Ok(u32::try_from(count).unwrap_or(cap))
}
