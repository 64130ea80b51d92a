//! Typed server settings with their defaults. The binary fills them from file, environment
//! and flags; every limit the server enforces is here.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address of the main listener.
    pub listen: SocketAddr,
    /// Connections the kernel queues on each listener until they are accepted (the `listen`
    /// backlog; Linux caps it at `net.core.somaxconn`). Too small and a burst of connects sees
    /// dropped SYNs, retried only after a second.
    pub listen_backlog: u32,
    /// `sqlite://PATH` (the default, embedded) or `postgres://…` (shared by several nodes).
    pub database: String,
    /// The bus other nodes share: `nats://HOST:PORT`. None: this node is alone.
    pub bus: Option<String>,
    /// This node's name in a cluster; unique per process. Default: generated at start.
    pub node_name: Option<String>,
    /// In a cluster, a node renews its presence lease every third of this; a node that stops
    /// (killed, cut off) has its users shown offline within about this long plus a third.
    pub presence_lease_secs: u64,
    pub auth: AuthSettings,
    pub limits: Limits,
    pub ws: WsSettings,
    pub dialects: DialectsSettings,
    /// The embedded store (`sqlite://` databases only).
    pub sqlite: SqliteSettings,
    /// Seconds a graceful shutdown may take before remaining connections are dropped.
    pub shutdown_grace_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Lifetime of a session token, in seconds.
    pub token_ttl_secs: u64,
    /// Password hashes computed at once (each takes ~19 MiB and ~30 ms of one core).
    pub hash_concurrency: usize,
    /// Mark the session cookie `Secure` (set this when serving over HTTPS).
    pub cookie_secure: bool,
    /// Handles of the users who may use the admin API (`/api/v1/admin/...`); none by default.
    pub admins: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest WebSocket message or frame accepted; larger ones close the connection (1009).
    pub max_frame_bytes: usize,
    /// Largest message text, in bytes.
    pub max_text_bytes: usize,
    /// Most calls in one JSON-RPC batch.
    pub max_batch: usize,
    /// Most text frames of one connection that are read and handled together when they
    /// arrive back to back (a burst of `messages.send` is stored in one commit). A burst also
    /// ends once it holds `4 × max_frame_bytes`.
    pub max_burst: usize,
    /// Presence (`online`/`offline`) is announced in direct conversations and in rooms with
    /// at most this many members; members of bigger rooms ask with `presence.get` or
    /// `rooms.members`.
    pub presence_max_room_members: i64,
    /// Frames queued for one connection before it counts as too slow and is closed (4008).
    pub outbound_queue: usize,
    /// Largest page of `messages.history`.
    pub history_max_limit: u32,
    /// Conversations whose newest messages are kept in memory, so a history page among them
    /// is served without reading the store; the least recently read are dropped first. 0
    /// keeps none.
    pub history_cache_conversations: usize,
    /// Newest messages kept for each of those conversations. A page is served from memory
    /// only when it fits (the default page of 50 does).
    pub history_cache_depth: usize,
    /// Largest page of `users.search`.
    pub search_max_limit: u32,
    /// Largest page of `sync`.
    pub sync_max_limit: u32,
    /// A sync token more than this many events behind gets the resync error instead.
    pub sync_max_backlog: u32,
    /// Largest request body of the HTTP API, in bytes.
    pub max_http_body_bytes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsSettings {
    /// Seconds between server pings.
    pub ping_interval_secs: u64,
    /// A connection that sends nothing (not even a pong) for this many seconds is closed.
    pub idle_timeout_secs: u64,
    /// Milliseconds a conversation may wait for a missing message before the node fetches
    /// it from the store.
    pub gap_fill_ms: u64,
    /// Browser origins (`https://chat.example.org`) besides the server's own that may open a
    /// WebSocket authenticated by the session cookie.
    pub allowed_origins: Vec<String>,
    /// Bytes read at a time while a frame is incomplete (once a frame's header is in, room
    /// for the whole frame is made). Between frames, a connection holds no read buffer.
    pub read_buffer_bytes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteSettings {
    /// Every commit reaches the disk before it is acknowledged (`synchronous = FULL`); false
    /// (`NORMAL`) may lose the last commits, never corrupt the file, on a power loss.
    pub synchronous_full: bool,
    /// Read-only connections serving reads at once.
    pub read_connections: usize,
    /// Most writes committed together in one transaction (group commit).
    pub max_batch: usize,
    /// Page size, in bytes, of a database Palaver creates (a power of two, 512 to 65536); an
    /// existing database keeps its own. Smaller pages write less per stored message and read
    /// more per history page.
    pub page_size: u32,
    /// The write connection's page cache, in KiB.
    pub writer_cache_kib: u32,
    /// WAL pages after which a commit also copies them into the database file (a
    /// checkpoint, inside that commit): the occasional slow acknowledgement.
    pub checkpoint_pages: u32,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        Self {
            synchronous_full: true,
            read_connections: 4,
            max_batch: 4096,
            page_size: 4096,
            writer_cache_kib: 32 * 1024,
            checkpoint_pages: 1000,
        }
    }
}

/// Where each compatibility dialect listens besides `/compat/<name>` on the main listener.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DialectsSettings {
    pub channels: DialectListener,
    pub chat_client: DialectListener,
    pub session_key: DialectListener,
    pub messenger: DialectListener,
    pub path_rooms: DialectListener,
    /// Seconds between the path-rooms server heartbeats.
    pub path_rooms_heartbeat_secs: u64,
    /// A path-rooms guest without a heartbeat for longer than this loses their nickname.
    pub path_rooms_identity_timeout_secs: u64,
    /// Messages of its room a `session-key` connection gets right after
    /// `{"authenticated":true}` (the newest ones, oldest first); 0 sends none.
    pub session_key_history: u32,
    /// Directory where the messenger dialect stores uploaded images (served at `/img/*`);
    /// relative to the working directory.
    pub messenger_upload_dir: String,
    /// Largest messenger image upload, in bytes; larger ones get 413.
    pub messenger_max_upload_bytes: usize,
    /// Messenger image uploads one user may make per minute.
    pub messenger_uploads_per_minute: u32,
    /// The chat-client authorize hook: an `http://` URL that a chat-client `authorize` whose
    /// data is neither a Palaver token nor a session key is POSTed to (docs/dialects.md).
    pub chat_client_authorize_hook: Option<String>,
    /// Milliseconds the authorize hook has to answer.
    pub chat_client_authorize_hook_timeout_ms: u64,
}

impl Default for DialectsSettings {
    fn default() -> Self {
        Self {
            channels: DialectListener::default(),
            chat_client: DialectListener::default(),
            session_key: DialectListener::default(),
            messenger: DialectListener::default(),
            path_rooms: DialectListener::default(),
            path_rooms_heartbeat_secs: 1,
            path_rooms_identity_timeout_secs: 5,
            session_key_history: 50,
            messenger_upload_dir: "messenger-img".into(),
            messenger_max_upload_bytes: 15 * 1024 * 1024,
            messenger_uploads_per_minute: 10,
            chat_client_authorize_hook: None,
            chat_client_authorize_hook_timeout_ms: 3000,
        }
    }
}

/// A dialect's own listener: off unless `listen` is set.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DialectListener {
    /// Address of the dialect's own listener (for example the seed's old port); none by default.
    pub listen: Option<SocketAddr>,
    /// Path the dialect is served under there; by default the seed's own (`/chat` for
    /// channels, `/` for the others, which accept any path).
    pub path: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            listen_backlog: 4096,
            database: "sqlite://palaver.db".into(),
            bus: None,
            node_name: None,
            presence_lease_secs: 10,
            auth: AuthSettings::default(),
            limits: Limits::default(),
            ws: WsSettings::default(),
            dialects: DialectsSettings::default(),
            sqlite: SqliteSettings::default(),
            shutdown_grace_secs: 10,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_ttl_secs: 7 * 24 * 3600,
            hash_concurrency: 2,
            cookie_secure: false,
            admins: Vec::new(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            max_text_bytes: 16 * 1024,
            max_batch: 32,
            max_burst: 256,
            presence_max_room_members: 100,
            outbound_queue: 1024,
            history_max_limit: 200,
            history_cache_conversations: 1000,
            history_cache_depth: 64,
            search_max_limit: 100,
            sync_max_limit: 500,
            sync_max_backlog: 10_000,
            max_http_body_bytes: 64 * 1024,
        }
    }
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            ping_interval_secs: 30,
            idle_timeout_secs: 75,
            gap_fill_ms: 200,
            allowed_origins: Vec::new(),
            read_buffer_bytes: 1024,
        }
    }
}

impl Settings {
    /// Checks values that deserialise fine but make no sense; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let page = self.sqlite.page_size;
        let checks: [(&str, bool); 16] = [
            (
                "limits.max_frame_bytes",
                self.limits.max_frame_bytes >= 1024,
            ),
            ("limits.max_text_bytes", self.limits.max_text_bytes >= 1),
            ("limits.max_batch", self.limits.max_batch >= 1),
            ("limits.max_burst", self.limits.max_burst >= 1),
            ("limits.outbound_queue", self.limits.outbound_queue >= 8),
            ("ws.ping_interval_secs", self.ws.ping_interval_secs >= 1),
            ("ws.read_buffer_bytes", self.ws.read_buffer_bytes >= 256),
            (
                "ws.idle_timeout_secs",
                self.ws.idle_timeout_secs > self.ws.ping_interval_secs,
            ),
            ("auth.token_ttl_secs", self.auth.token_ttl_secs >= 60),
            ("auth.hash_concurrency", self.auth.hash_concurrency >= 1),
            ("presence_lease_secs", self.presence_lease_secs >= 3),
            (
                "sqlite.page_size",
                page.is_power_of_two() && (512..=65536).contains(&page),
            ),
            ("sqlite.read_connections", self.sqlite.read_connections >= 1),
            ("sqlite.max_batch", self.sqlite.max_batch >= 1),
            ("sqlite.checkpoint_pages", self.sqlite.checkpoint_pages >= 1),
            (
                "dialects.chat_client_authorize_hook_timeout_ms",
                self.dialects.chat_client_authorize_hook_timeout_ms >= 1,
            ),
        ];
        if let Some((key, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(format!("setting `{key}` is out of range"));
        }
        self.dialects.authorize_hook().map(drop)
    }
}

impl DialectsSettings {
    /// The configured authorize hook, if any; `Err` if its URL is unusable.
    pub fn authorize_hook(&self) -> Result<Option<crate::authorize_hook::AuthorizeHook>, String> {
        let timeout = std::time::Duration::from_millis(self.chat_client_authorize_hook_timeout_ms);
        self.chat_client_authorize_hook
            .as_deref()
            .map(|url| crate::authorize_hook::AuthorizeHook::new(url, timeout))
            .transpose()
    }
}
