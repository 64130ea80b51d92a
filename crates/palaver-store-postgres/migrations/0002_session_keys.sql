-- Session keys of the `session-key` dialect, stored as SHA-256 hex: each signs its holder in
-- as one user, bound to one conversation.

CREATE TABLE session_keys (
    hash            TEXT PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users(id),
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
