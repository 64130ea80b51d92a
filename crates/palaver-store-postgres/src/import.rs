//! Filling an empty database from another store's rows, for `palaver migrate-store`.
//!
//! Everything is copied as stored: ids, `pos`, `seq`, client ids and timestamps, the epoch and
//! the secrets, so sync tokens, signed session tokens and message ids stay valid. Afterwards the
//! `stream_head` counter stands at the newest position and the identity sequences of `users`
//! and `conversations` continue after the largest imported id. The whole copy is one
//! transaction: a failed import leaves the database as empty as it was.
//!
//! Rows go in with `INSERT … SELECT * FROM UNNEST($1::…[], …)`, one statement per batch of
//! rows, which costs one round trip per batch instead of one per row.

use crate::PgStore;
use crate::db;
use crate::error::{Error, Result};
use crate::schema;
use deadpool_postgres::{GenericClient, Transaction};
use palaver_core::CoreError;
use palaver_store::dump::EventRow;
use palaver_store::{Dump, EventPages, StoreError, TableCounts};

/// Inserts `$rows` in batches of `$batch`, one `UNNEST` statement per batch; each `$col` is an
/// array parameter gathered from the rows by `$get`, in the order of the statement's `$n`.
macro_rules! insert_batches {
    ($tx:expr, $batch:expr, $sql:expr, $rows:expr, $($col:ident: $get:expr),+ $(,)?) => {
        for chunk in $rows.chunks($batch) {
            $(let $col: Vec<_> = chunk.iter().map($get).collect();)+
            db::execute($tx, $sql, &[$(&$col),+]).await?;
        }
    };
}

impl PgStore {
    /// Copies `dump` and every event `events` yields (read `batch` at a time) into this
    /// database, which must be empty: no users, conversations, sessions or events, else
    /// `Conflict`. Its `meta` is replaced by the dump's (the epoch and the secrets). Returns
    /// how many rows went into each table.
    ///
    /// No server may use this database meanwhile: a node reads the epoch once, on connect.
    pub async fn import(
        &mut self,
        dump: &Dump,
        events: &mut dyn EventPages,
        batch: u32,
    ) -> Result<TableCounts, StoreError> {
        let batch = batch.max(1);
        let outcome = async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let copied = copy(&tx, dump, events, batch).await?;
            tx.commit().await?;
            // The fresh epoch made on connect was replaced; the imported one holds from now on.
            let epoch = schema::ensure_epoch(&client).await?;
            // Fresh statistics for the planner, rather than waiting for autovacuum.
            client.batch_execute("ANALYZE").await?;
            Ok::<_, Error>((copied, epoch))
        };
        let (copied, epoch) = outcome.await.map_err(StoreError::from)?;
        self.epoch = epoch;
        Ok(copied)
    }

    /// How many rows each table holds, and the stream head: for checking a copy.
    pub async fn table_counts(&self) -> Result<TableCounts, StoreError> {
        let counted = async {
            let client = self.pool.get().await?;
            counts(&client).await
        };
        counted.await.map_err(StoreError::from)
    }
}

async fn copy(
    tx: &Transaction<'_>,
    dump: &Dump,
    events: &mut dyn EventPages,
    batch: u32,
) -> Result<TableCounts> {
    // Writers wait until the copy commits; readers (a node starting up) may go on.
    tx.batch_execute(
        "LOCK TABLE users, conversations, sessions, members, member_spans, session_keys, \
         events, stream_head, meta IN EXCLUSIVE MODE",
    )
    .await?;
    let found = db::query_one(
        tx,
        "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM conversations) \
             OR EXISTS (SELECT 1 FROM sessions) OR EXISTS (SELECT 1 FROM events) \
             OR (SELECT pos FROM stream_head) <> 0",
        &[],
    )
    .await?;
    if found.try_get::<_, bool>(0)? {
        return Err(CoreError::conflict(
            "the target database is not empty: it already has users, rooms or events",
        )
        .into());
    }
    let rows = batch as usize;
    copy_tables(tx, dump, rows).await?;
    let (events, last) = copy_events(tx, events, batch).await?;
    if last != dump.head {
        return Err(StoreError::Backend(format!(
            "the source's events end at position {last}, but its head is {}",
            dump.head
        ))
        .into());
    }
    db::execute(tx, "UPDATE stream_head SET pos = $1", &[&dump.head]).await?;
    // Identity columns continue after the largest id taken (1 for an empty table).
    tx.batch_execute(
        "SELECT setval(pg_get_serial_sequence('users', 'id'), COALESCE(MAX(id), 0) + 1, false) \
             FROM users; \
         SELECT setval(pg_get_serial_sequence('conversations', 'id'), \
             COALESCE(MAX(id), 0) + 1, false) FROM conversations;",
    )
    .await?;
    Ok(TableCounts {
        events,
        ..dump.counts()
    })
}

async fn copy_tables(tx: &Transaction<'_>, dump: &Dump, rows: usize) -> Result<()> {
    tx.batch_execute("DELETE FROM meta").await?;
    insert_batches!(
        tx,
        rows,
        "INSERT INTO meta (key, value) SELECT * FROM UNNEST($1::text[], $2::bytea[])",
        dump.meta,
        key: |m| m.key.as_str(),
        value: |m| m.value.as_slice(),
    );
    insert_batches!(
        tx,
        rows,
        "INSERT INTO users (id, handle, display_name, email, password_hash, avatar_url, \
             status_text, created_at) OVERRIDING SYSTEM VALUE \
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::bigint[])",
        dump.users,
        id: |u| u.id,
        handle: |u| u.handle.as_str(),
        display_name: |u| u.display_name.as_str(),
        email: |u| u.email.as_deref(),
        password_hash: |u| u.password_hash.as_str(),
        avatar_url: |u| u.avatar_url.as_deref(),
        status_text: |u| u.status_text.as_deref(),
        created_at: |u| u.created_at,
    );
    insert_batches!(
        tx,
        rows,
        "INSERT INTO conversations (id, kind, name, topic, owner_id, dm_key, created_at, \
             last_seq, last_activity, destroyed_at) OVERRIDING SYSTEM VALUE \
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
             $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])",
        dump.conversations,
        id: |c| c.id,
        kind: |c| c.kind.as_str(),
        name: |c| c.name.as_deref(),
        topic: |c| c.topic.as_deref(),
        owner_id: |c| c.owner_id,
        dm_key: |c| c.dm_key.as_deref(),
        created_at: |c| c.created_at,
        last_seq: |c| c.last_seq,
        last_activity: |c| c.last_activity,
        destroyed_at: |c| c.destroyed_at,
    );
    insert_batches!(
        tx,
        rows,
        "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], \
             $5::bigint[])",
        dump.sessions,
        id: |s| s.id.as_str(),
        user_id: |s| s.user_id,
        created_at: |s| s.created_at,
        expires_at: |s| s.expires_at,
        revoked_at: |s| s.revoked_at,
    );
    insert_batches!(
        tx,
        rows,
        "INSERT INTO members (conversation_id, user_id, last_read_seq) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[])",
        dump.members,
        conversation_id: |m| m.conversation_id,
        user_id: |m| m.user_id,
        last_read_seq: |m| m.last_read_seq,
    );
    insert_batches!(
        tx,
        rows,
        "INSERT INTO member_spans (user_id, conversation_id, from_pos, to_pos) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])",
        dump.member_spans,
        user_id: |s| s.user_id,
        conversation_id: |s| s.conversation_id,
        from_pos: |s| s.from_pos,
        to_pos: |s| s.to_pos,
    );
    insert_batches!(
        tx,
        rows,
        "INSERT INTO session_keys (hash, user_id, conversation_id, created_at, revoked_at) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], \
             $5::bigint[])",
        dump.session_keys,
        hash: |k| k.hash.as_str(),
        user_id: |k| k.user_id,
        conversation_id: |k| k.conversation_id,
        created_at: |k| k.created_at,
        revoked_at: |k| k.revoked_at,
    );
    Ok(())
}

/// Copies the event stream a page at a time; returns how many events and the last position.
async fn copy_events(
    tx: &Transaction<'_>,
    events: &mut dyn EventPages,
    batch: u32,
) -> Result<(u64, i64)> {
    let (mut copied, mut last) = (0u64, 0i64);
    loop {
        let page = events.events_after(last, batch).await?;
        if page.is_empty() {
            return Ok((copied, last));
        }
        // A source that repeats or reorders positions would loop or collide: refuse it.
        for event in &page {
            if event.pos <= last {
                return Err(StoreError::Backend(format!(
                    "the source's events are out of order: {} after {last}",
                    event.pos
                ))
                .into());
            }
            last = event.pos;
        }
        insert_events(tx, &page).await?;
        copied += page.len() as u64;
    }
}

async fn insert_events(tx: &Transaction<'_>, page: &[EventRow]) -> Result<()> {
    insert_batches!(
        tx,
        page.len(),
        "INSERT INTO events (pos, conversation_id, kind, seq, actor_id, body, ts, client_id) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], \
             $5::bigint[], $6::text[], $7::bigint[], $8::text[])",
        page,
        pos: |e| e.pos,
        conversation_id: |e| e.conversation_id,
        kind: |e| e.kind.as_str(),
        seq: |e| e.seq,
        actor_id: |e| e.actor_id,
        body: |e| e.body.as_str(),
        ts: |e| e.ts,
        client_id: |e| e.client_id.as_deref(),
    );
    Ok(())
}

async fn counts<C: GenericClient>(c: &C) -> Result<TableCounts> {
    let row = db::query_one(
        c,
        "SELECT (SELECT COUNT(*) FROM meta), (SELECT COUNT(*) FROM users), \
             (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM conversations), \
             (SELECT COUNT(*) FROM members), (SELECT COUNT(*) FROM member_spans), \
             (SELECT COUNT(*) FROM session_keys), (SELECT COUNT(*) FROM events), \
             (SELECT pos FROM stream_head)",
        &[],
    )
    .await?;
    let n = |at: usize| -> Result<u64> {
        let count: i64 = row.try_get(at)?;
        u64::try_from(count).map_err(|_| StoreError::Backend("negative count".into()).into())
    };
    Ok(TableCounts {
        meta: n(0)?,
        users: n(1)?,
        sessions: n(2)?,
        conversations: n(3)?,
        members: n(4)?,
        member_spans: n(5)?,
        session_keys: n(6)?,
        events: n(7)?,
        head: row.try_get(8)?,
    })
}
