-- Palaver's PostgreSQL schema, version 1. The same data model as the SQLite store.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- The head of the deployment-wide event stream: the newest committed `pos`. One row, updated
-- (and so row-locked) as the last step of every durable write, which makes positions follow
-- commit order.
CREATE TABLE stream_head (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    pos       BIGINT NOT NULL
);
INSERT INTO stream_head (singleton, pos) VALUES (TRUE, 0);

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle        TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    email         TEXT,
    password_hash TEXT NOT NULL,
    avatar_url    TEXT,
    status_text   TEXT,
    created_at    BIGINT NOT NULL,
    CONSTRAINT users_handle_key UNIQUE (handle),
    -- NULLs are distinct: users without an e-mail do not collide.
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE conversations (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('channel', 'group', 'dm')),
    name          TEXT,
    topic         TEXT,
    owner_id      BIGINT REFERENCES users(id),
    dm_key        TEXT,
    created_at    BIGINT NOT NULL,
    last_seq      BIGINT NOT NULL DEFAULT 0,
    last_activity BIGINT NOT NULL,
    destroyed_at  BIGINT,
    CONSTRAINT conversations_dm_key UNIQUE (dm_key)
);
-- A destroyed room's name may be reused.
CREATE UNIQUE INDEX conversations_live_name ON conversations(name)
    WHERE destroyed_at IS NULL AND name IS NOT NULL;

CREATE TABLE members (
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    user_id         BIGINT NOT NULL REFERENCES users(id),
    last_read_seq   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_user ON members(user_id, conversation_id);

-- Membership history: the user sees the conversation's events with from_pos <= pos <= to_pos.
CREATE TABLE member_spans (
    user_id         BIGINT NOT NULL REFERENCES users(id),
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    from_pos        BIGINT NOT NULL,
    to_pos          BIGINT,
    PRIMARY KEY (user_id, conversation_id, from_pos)
);

-- Every durable event, messages included. For a message `body` is its text, `seq` its
-- per-conversation number and its MessageId is `pos`; otherwise `body` is the JSON EventBody.
CREATE TABLE events (
    pos             BIGINT PRIMARY KEY,
    conversation_id BIGINT REFERENCES conversations(id),
    kind            TEXT NOT NULL,
    seq             BIGINT,
    actor_id        BIGINT NOT NULL REFERENCES users(id),
    body            TEXT NOT NULL,
    ts              BIGINT NOT NULL,
    client_id       TEXT
);
CREATE UNIQUE INDEX events_conversation_seq ON events(conversation_id, seq) WHERE seq IS NOT NULL;
CREATE UNIQUE INDEX events_client_id ON events(actor_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX events_conversation_pos ON events(conversation_id, pos);
