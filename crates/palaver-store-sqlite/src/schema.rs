//! Connection setup and the embedded migrations, applied on open and tracked in `user_version`.

use crate::SqliteOptions;
use crate::error::Result;
use palaver_store::StoreError;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::Path;
use std::time::Duration;

const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Every schema change, in order; `user_version` is how many have been applied. Never edit a
/// shipped entry: append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    handle        TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    email         TEXT UNIQUE,
    password_hash TEXT NOT NULL,
    avatar_url    TEXT,
    status_text   TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE conversations (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('channel', 'group', 'dm')),
    name          TEXT,
    topic         TEXT,
    owner_id      INTEGER REFERENCES users(id),
    dm_key        TEXT UNIQUE,
    created_at    INTEGER NOT NULL,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    last_activity INTEGER NOT NULL,
    destroyed_at  INTEGER
);
-- A destroyed room's name may be reused.
CREATE UNIQUE INDEX conversations_live_name ON conversations(name)
    WHERE destroyed_at IS NULL AND name IS NOT NULL;

CREATE TABLE members (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    user_id         INTEGER NOT NULL REFERENCES users(id),
    last_read_seq   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_user ON members(user_id, conversation_id);

-- Membership history: the user sees the conversation's events with from_pos <= pos <= to_pos.
CREATE TABLE member_spans (
    user_id         INTEGER NOT NULL REFERENCES users(id),
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    from_pos        INTEGER NOT NULL,
    to_pos          INTEGER,
    PRIMARY KEY (user_id, conversation_id, from_pos)
) WITHOUT ROWID;

-- Every durable event, messages included. For a message `body` is its text, `seq` its
-- per-conversation number and its MessageId is `pos`; otherwise `body` is the JSON EventBody.
CREATE TABLE events (
    pos             INTEGER PRIMARY KEY,
    conversation_id INTEGER REFERENCES conversations(id),
    kind            TEXT NOT NULL,
    seq             INTEGER,
    actor_id        INTEGER NOT NULL REFERENCES users(id),
    body            TEXT NOT NULL,
    ts              INTEGER NOT NULL,
    client_id       TEXT
);
CREATE UNIQUE INDEX events_conversation_seq ON events(conversation_id, seq) WHERE seq IS NOT NULL;
CREATE UNIQUE INDEX events_client_id ON events(actor_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX events_conversation_pos ON events(conversation_id, pos);
"#,
    // 2: session keys of the `session-key` dialect, stored as SHA-256 hex.
    r#"
CREATE TABLE session_keys (
    hash            TEXT PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id),
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
) WITHOUT ROWID;
"#,
    // 3: presence across nodes: each node's lease, and which users it holds.
    r#"
CREATE TABLE nodes (
    name       TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE presence (
    node    TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    PRIMARY KEY (node, user_id)
) WITHOUT ROWID;
CREATE INDEX presence_user ON presence(user_id);
"#,
    // 4: each conversation's member count, kept by triggers, so a sign-in or a join into a
    // big room does not count its members row by row.
    r#"
CREATE TABLE member_counts (
    conversation_id INTEGER PRIMARY KEY,
    n               INTEGER NOT NULL
);
INSERT INTO member_counts (conversation_id, n)
    SELECT conversation_id, COUNT(*) FROM members GROUP BY conversation_id;
CREATE TRIGGER members_counted AFTER INSERT ON members BEGIN
    INSERT INTO member_counts (conversation_id, n) VALUES (NEW.conversation_id, 1)
        ON CONFLICT (conversation_id) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER members_uncounted AFTER DELETE ON members BEGIN
    UPDATE member_counts SET n = n - 1 WHERE conversation_id = OLD.conversation_id;
END;
"#,
];

/// Opens the write connection, applies missing migrations and makes sure an epoch exists.
/// Returns the connection and the epoch.
pub(crate) fn open_writer(path: &Path, options: &SqliteOptions) -> Result<(Connection, String)> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    stable_plans(&conn)?;
    // Takes effect only on a database without tables yet, before it turns to WAL.
    conn.execute_batch(&format!("PRAGMA page_size = {}", options.page_size))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(
            StoreError::Backend(format!("cannot switch to WAL (journal_mode is {mode})")).into(),
        );
    }
    let sync = if options.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA cache_size = -{}; \
         PRAGMA wal_autocheckpoint = {};",
        options.writer_cache_kib,
        options.checkpoint_pages.max(1)
    ))?;
    migrate(&conn)?;
    let epoch = ensure_epoch(&conn)?;
    Ok((conn, epoch))
}

/// Opens one connection of the read pool.
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    stable_plans(&conn)?;
    Ok(conn)
}

/// Plans that do not depend on bound values. Without this SQLite looks at a `LIMIT ?` value
/// when it plans, so every statement handed back to rusqlite's cache (which clears its
/// bindings) was compiled again on its next use: half the cost of a history page.
fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<()> {
    // Immediate, and the version re-read inside, so two processes opening one file at once
    // do not both migrate.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let outcome = (|| -> Result<()> {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::Backend(format!(
                "database schema version {version} is newer than this build ({known})"
            ))
            .into());
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            conn.execute_batch(sql)?;
            tracing::info!(version = i + 1, "applied sqlite migration");
        }
        conn.execute_batch(&format!("PRAGMA user_version = {known}"))?;
        Ok(())
    })();
    finish(conn, outcome)
}

fn ensure_epoch(conn: &Connection) -> Result<String> {
    let found: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(epoch) = found {
        return Ok(epoch);
    }
    let bytes: [u8; 16] = rand::random();
    let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let outcome = (|| -> Result<String> {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('epoch', ?1) ON CONFLICT (key) DO NOTHING",
            [&fresh],
        )?;
        Ok(
            conn.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
                r.get(0)
            })?,
        )
    })();
    finish(conn, outcome)
}

/// Commits on success, rolls back on failure.
fn finish<T>(conn: &Connection, outcome: Result<T>) -> Result<T> {
    match outcome {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}

/// The newest event position in the database.
pub(crate) fn head(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT COALESCE(MAX(pos), 0) FROM events", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    fn temp_path(tag: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "palaver-schema-{tag}-{}-{:x}.sqlite3",
            std::process::id(),
            rand::random::<u64>()
        ))
    }

    /// A database made before member counts were stored gets them counted on upgrade, and
    /// kept from then on.
    #[test]
    fn upgrading_counts_the_members_already_there() {
        let path = temp_path("upgrade");
        let old = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..3] {
            old.execute_batch(sql).unwrap();
        }
        old.execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO users (id, handle, display_name, password_hash, created_at)
                 VALUES (1, 'a', 'A', '', 0), (2, 'b', 'B', '', 0), (3, 'c', 'C', '', 0);
             INSERT INTO conversations (id, kind, name, created_at, last_activity)
                 VALUES (10, 'channel', 'big', 0, 0), (11, 'channel', 'small', 0, 0);
             INSERT INTO members (conversation_id, user_id)
                 VALUES (10, 1), (10, 2), (10, 3), (11, 1);",
        )
        .unwrap();
        drop(old);

        let (conn, _) = open_writer(&path, &SqliteOptions::default()).unwrap();
        let count = |id: i64| -> i64 {
            conn.query_row(
                "SELECT n FROM member_counts WHERE conversation_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!((count(10), count(11)), (3, 1));
        conn.execute_batch(
            "DELETE FROM members WHERE conversation_id = 10 AND user_id = 2;
             INSERT INTO members (conversation_id, user_id) VALUES (11, 3);",
        )
        .unwrap();
        assert_eq!((count(10), count(11)), (2, 2));
        drop(conn);
        crate::remove_database_files(&path);
    }

    /// A statement taken from rusqlite's cache (which clears its bindings) is reused as
    /// compiled, even with a `LIMIT ?`.
    #[test]
    fn cached_statements_are_not_compiled_again() {
        let path = temp_path("plans");
        let (writer, _) = open_writer(&path, &SqliteOptions::default()).unwrap();
        let reader = open_reader(&path).unwrap();
        let sql = "SELECT pos FROM events WHERE conversation_id = ?1 AND seq > ?2 \
                   ORDER BY seq DESC LIMIT ?3";
        for conv in 0..5 {
            let mut stmt = reader.prepare_cached(sql).unwrap();
            let rows = stmt
                .query_map(rusqlite::params![conv, 0, 51], |_| Ok(()))
                .unwrap()
                .count();
            assert_eq!(rows, 0);
        }
        let compiled_again = reader
            .prepare_cached(sql)
            .unwrap()
            .get_status(StatementStatus::RePrepare);
        assert_eq!(compiled_again, 0);
        drop((reader, writer));
        crate::remove_database_files(&path);
    }

    /// A new database gets the configured page size; an existing one keeps its own.
    #[test]
    fn page_size_applies_to_new_databases_only() {
        let path = temp_path("pages");
        let page_size = |conn: &Connection| -> u32 {
            conn.query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap()
        };
        let small = SqliteOptions {
            page_size: 2048,
            ..SqliteOptions::default()
        };
        let (conn, _) = open_writer(&path, &small).unwrap();
        assert_eq!(page_size(&conn), 2048);
        drop(conn);
        let large = SqliteOptions {
            page_size: 8192,
            ..SqliteOptions::default()
        };
        let (conn, _) = open_writer(&path, &large).unwrap();
        assert_eq!(page_size(&conn), 2048, "the file keeps its page size");
        let tables: i64 = conn
            .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert!(tables > 0, "the schema is there");
        drop(conn);
        crate::remove_database_files(&path);
    }

    #[test]
    fn the_writer_checkpoints_after_the_configured_pages() {
        let path = temp_path("checkpoint");
        let options = SqliteOptions {
            checkpoint_pages: 250,
            ..SqliteOptions::default()
        };
        let (conn, _) = open_writer(&path, &options).unwrap();
        let pages: u32 = conn
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(pages, 250);
        drop(conn);
        crate::remove_database_files(&path);
    }
}
