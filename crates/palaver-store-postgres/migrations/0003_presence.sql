-- Presence across nodes: each node's lease, and which users it holds.
CREATE TABLE nodes (
    name       TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE TABLE presence (
    node    TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (node, user_id)
);
CREATE INDEX presence_user ON presence (user_id);
