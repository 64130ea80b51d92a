//! Reading a whole database out, for `palaver migrate-store`: a connection of its own holding
//! one read transaction, so the tables and every page of events come from the same snapshot
//! (WAL mode keeps that snapshot while the writer goes on).
//!
//! Writes committed after the snapshot are not in it, so a copy is only complete when nothing
//! writes to the file meanwhile: stop the server first.

use crate::SqliteStore;
use crate::error::Result;
use crate::schema;
use async_trait::async_trait;
use palaver_store::dump::{
    ConversationRow, EventRow, MemberRow, MetaRow, SessionKeyRow, SessionRow, SpanRow, UserRow,
};
use palaver_store::{Dump, EventPages, StoreError, TableCounts};
use rusqlite::types::{Type, ValueRef};
use rusqlite::{Connection, Row, params};
use std::sync::{Arc, Mutex, PoisonError};

/// The schema version (`user_version`) the rows below were written for. A new migration must
/// be reflected here and in `palaver_store::dump`, or the export refuses rather than drop data.
/// Not copied on purpose: `nodes` and `presence` (version 3), which say who is online through
/// which running node; they are rebuilt by the nodes serving the new database. Nor
/// `member_counts` (version 4): triggers derive it from `members`, and PostgreSQL counts.
const EXPORTED_SCHEMA_VERSION: i64 = 4;

/// A consistent snapshot of a SQLite store, read a table (or a page of events) at a time.
pub struct SqliteExport {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens a snapshot of the whole database as it is now, for copying to another backend.
    pub fn export(&self) -> Result<SqliteExport, StoreError> {
        let open = || -> Result<Connection> {
            let conn = schema::open_reader(&self.path)?;
            // A deferred transaction fixes its snapshot at its first read, so read at once.
            conn.execute_batch("BEGIN")?;
            conn.query_row("SELECT COUNT(*) FROM meta", [], |r| r.get::<_, i64>(0))?;
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version != EXPORTED_SCHEMA_VERSION {
                return Err(StoreError::Backend(format!(
                    "the export covers SQLite schema version {EXPORTED_SCHEMA_VERSION}, \
                     but the database is at version {version}"
                ))
                .into());
            }
            Ok(conn)
        };
        Ok(SqliteExport {
            conn: Arc::new(Mutex::new(open()?)),
        })
    }
}

impl SqliteExport {
    /// Every table but `events`, and the newest event position.
    pub async fn dump(&self) -> Result<Dump, StoreError> {
        self.run(read_dump).await
    }

    /// How many rows each table of the snapshot holds.
    pub async fn counts(&self) -> Result<TableCounts, StoreError> {
        self.run(read_counts).await
    }

    async fn run<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let joined = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            read(&conn).map_err(StoreError::from)
        })
        .await;
        joined.map_err(|e| StoreError::Backend(format!("export task failed: {e}")))?
    }
}

#[async_trait]
impl EventPages for SqliteExport {
    async fn events_after(&mut self, after: i64, limit: u32) -> Result<Vec<EventRow>, StoreError> {
        self.run(move |c| read_events(c, after, limit)).await
    }
}

/// Every row `sql` selects, decoded by `decode`.
fn all<T>(
    conn: &Connection,
    sql: &str,
    decode: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt
        .query_map([], decode)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// `meta.value` is declared BLOB, but SQLite keeps what it was given: the epoch is TEXT.
fn bytes(row: &Row<'_>, at: usize) -> rusqlite::Result<Vec<u8>> {
    match row.get_ref(at)? {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b.to_vec()),
        other => Err(rusqlite::Error::InvalidColumnType(
            at,
            "value".into(),
            other.data_type(),
        )),
    }
}

fn read_dump(c: &Connection) -> Result<Dump> {
    let meta = all(c, "SELECT key, value FROM meta ORDER BY key", |r| {
        Ok(MetaRow {
            key: r.get(0)?,
            value: bytes(r, 1)?,
        })
    })?;
    let users = all(
        c,
        "SELECT id, handle, display_name, email, password_hash, avatar_url, status_text, \
         created_at FROM users ORDER BY id",
        |r| {
            Ok(UserRow {
                id: r.get(0)?,
                handle: r.get(1)?,
                display_name: r.get(2)?,
                email: r.get(3)?,
                password_hash: r.get(4)?,
                avatar_url: r.get(5)?,
                status_text: r.get(6)?,
                created_at: r.get(7)?,
            })
        },
    )?;
    let sessions = all(
        c,
        "SELECT id, user_id, created_at, expires_at, revoked_at FROM sessions ORDER BY id",
        |r| {
            Ok(SessionRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                created_at: r.get(2)?,
                expires_at: r.get(3)?,
                revoked_at: r.get(4)?,
            })
        },
    )?;
    let conversations = all(
        c,
        "SELECT id, kind, name, topic, owner_id, dm_key, created_at, last_seq, last_activity, \
         destroyed_at FROM conversations ORDER BY id",
        |r| {
            Ok(ConversationRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                name: r.get(2)?,
                topic: r.get(3)?,
                owner_id: r.get(4)?,
                dm_key: r.get(5)?,
                created_at: r.get(6)?,
                last_seq: r.get(7)?,
                last_activity: r.get(8)?,
                destroyed_at: r.get(9)?,
            })
        },
    )?;
    let members = all(
        c,
        "SELECT conversation_id, user_id, last_read_seq FROM members \
         ORDER BY conversation_id, user_id",
        |r| {
            Ok(MemberRow {
                conversation_id: r.get(0)?,
                user_id: r.get(1)?,
                last_read_seq: r.get(2)?,
            })
        },
    )?;
    let member_spans = all(
        c,
        "SELECT user_id, conversation_id, from_pos, to_pos FROM member_spans \
         ORDER BY user_id, conversation_id, from_pos",
        |r| {
            Ok(SpanRow {
                user_id: r.get(0)?,
                conversation_id: r.get(1)?,
                from_pos: r.get(2)?,
                to_pos: r.get(3)?,
            })
        },
    )?;
    let session_keys = all(
        c,
        "SELECT hash, user_id, conversation_id, created_at, revoked_at FROM session_keys \
         ORDER BY hash",
        |r| {
            Ok(SessionKeyRow {
                hash: r.get(0)?,
                user_id: r.get(1)?,
                conversation_id: r.get(2)?,
                created_at: r.get(3)?,
                revoked_at: r.get(4)?,
            })
        },
    )?;
    Ok(Dump {
        meta,
        users,
        sessions,
        conversations,
        members,
        member_spans,
        session_keys,
        head: schema::head(c)?,
    })
}

fn read_events(c: &Connection, after: i64, limit: u32) -> Result<Vec<EventRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT pos, conversation_id, kind, seq, actor_id, body, ts, client_id FROM events \
         WHERE pos > ?1 ORDER BY pos LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![after, limit], |r| {
            Ok(EventRow {
                pos: r.get(0)?,
                conversation_id: r.get(1)?,
                kind: r.get(2)?,
                seq: r.get(3)?,
                actor_id: r.get(4)?,
                body: r.get(5)?,
                ts: r.get(6)?,
                client_id: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn read_counts(c: &Connection) -> Result<TableCounts> {
    let count = |table: &str| -> Result<u64> {
        let n: i64 = c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
        u64::try_from(n).map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(0, Type::Integer, "negative count".into())
                .into()
        })
    };
    Ok(TableCounts {
        meta: count("meta")?,
        users: count("users")?,
        sessions: count("sessions")?,
        conversations: count("conversations")?,
        members: count("members")?,
        member_spans: count("member_spans")?,
        session_keys: count("session_keys")?,
        events: count("events")?,
        head: schema::head(c)?,
    })
}
