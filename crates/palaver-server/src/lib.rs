//! The server as a library: the HTTP and WebSocket edge, connection tasks, routing of events
//! to connections, and `serve()`. It takes its store and bus as trait objects; the binary
//! chooses them.

mod accept;
mod auth;
mod authorize_hook;
mod clock;
mod conn;
mod dialects;
mod http;
mod hub;
mod rpc;
mod service;
pub mod settings;
mod sync;
mod web;
mod ws;

pub use conn::{CLOSE_GOING_AWAY, CLOSE_TOO_SLOW};
pub use dialects::session_key::{IssuedKey, issue_session_key, revoke_session_key};
pub use settings::{Settings, SqliteSettings};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use palaver_bus::{Bus, BusSink, Envelope};
use palaver_store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a request or connection needs, shared.
pub struct AppState {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    hub: Arc<hub::Hub>,
    auth: auth::Auth,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    epoch: String,
    /// This node's name in a cluster (presence leases); `None` on a single node.
    node: Option<String>,
    dialects: dialects::DialectState,
    /// Members of direct conversations seen so far; a pair never changes.
    dm_members: std::sync::Mutex<
        std::collections::HashMap<palaver_core::ConversationId, [palaver_core::UserId; 2]>,
    >,
    /// The newest messages of the conversations read lately (`messages.history`).
    recent: std::sync::Mutex<
        palaver_core::recent::RecentMessages<palaver_proto::native::EncodedMessage>,
    >,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("could not prepare the store: {0}")]
    Store(#[from] StoreError),
    #[error("server I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

struct HubSink(Arc<hub::Hub>);

impl BusSink for HubSink {
    fn deliver(&self, envelope: Arc<Envelope>) {
        self.0.deliver(envelope);
    }

    fn resync(&self) {
        self.0.spawn_reconcile();
    }
}

/// The dialects configured with a listener of their own.
fn own_listeners(settings: &Settings) -> Vec<(palaver_proto::Dialect, settings::DialectListener)> {
    use palaver_proto::Dialect;
    let d = &settings.dialects;
    [
        (Dialect::Channels, &d.channels),
        (Dialect::ChatClient, &d.chat_client),
        (Dialect::SessionKey, &d.session_key),
        (Dialect::Messenger, &d.messenger),
        (Dialect::PathRooms, &d.path_rooms),
    ]
    .into_iter()
    .filter(|(_, l)| l.listen.is_some())
    .map(|(dialect, l)| (dialect, l.clone()))
    .collect()
}

/// Binds a listener with the given `listen` backlog (tokio's own `bind` uses 128).
pub fn bind(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Serves on `listener` (and each dialect's own listener, if configured), calling `ready` once
/// all are bound, until `shutdown` is cancelled, then drains: stops accepting, lets
/// every connection answer its call in flight, closes each with 1001 ("service restart,
/// reconnect"), and returns within `shutdown_grace_secs`.
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    shutdown: CancellationToken,
    ready: impl FnOnce(),
) -> Result<(), ServeError> {
    let epoch = store.epoch().await?;
    let auth = auth::Auth::new(
        store.clone(),
        settings.auth.token_ttl_secs,
        settings.auth.hash_concurrency,
    )
    .await?;
    let hub = hub::Hub::new(
        store.clone(),
        bus.clone(),
        Duration::from_millis(settings.ws.gap_fill_ms),
        settings.limits.presence_max_room_members,
    );
    bus.attach(Arc::new(HubSink(hub.clone())));
    let tracker = TaskTracker::new();
    let grace = Duration::from_secs(settings.shutdown_grace_secs);
    let body_limit = settings.limits.max_http_body_bytes;
    // In a cluster (a shared bus), presence goes through leases in the store, one per
    // process: a node restarted under the same name must not take over the users its previous
    // process held (they lapse with the old lease and are announced offline).
    let node = settings.bus.as_ref().map(|_| {
        let name = settings
            .node_name
            .clone()
            .unwrap_or_else(|| format!("node-{}", std::process::id()));
        format!("{name}/{:08x}", rand::random::<u32>())
    });
    let lease = Duration::from_secs(settings.presence_lease_secs);
    let dialects = dialects::DialectState {
        authorize_hook: settings
            .dialects
            .authorize_hook()
            .map_err(ServeError::Config)?,
        ..Default::default()
    };
    let recent = palaver_core::recent::RecentMessages::new(
        settings.limits.history_cache_conversations,
        settings.limits.history_cache_depth,
    );
    let state = Arc::new(AppState {
        settings,
        store,
        bus,
        hub: hub.clone(),
        auth,
        tracker: tracker.clone(),
        shutdown: shutdown.clone(),
        epoch,
        node: node.clone(),
        dialects,
        dm_members: Default::default(),
        recent: std::sync::Mutex::new(recent),
    });
    let app = Router::new()
        .route("/healthz", get(http::healthz))
        .route("/api/v1/signup", post(http::signup))
        .route("/api/v1/login", post(http::login))
        .route("/api/v1/logout", post(http::logout))
        .route("/ws", get(http::ws))
        .merge(dialects::main_routes())
        .merge(dialects::session_key::admin_routes())
        .merge(web::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state.clone());

    for (dialect, listener) in own_listeners(&state.settings) {
        let addr = listener.listen.unwrap_or(state.settings.listen);
        let tcp = bind(addr, state.settings.listen_backlog)?;
        tracing::info!(dialect = dialect.name(), addr = %tcp.local_addr()?, "dialect listening");
        let default_path = if dialect == palaver_proto::Dialect::Channels {
            "/chat"
        } else {
            "/"
        };
        let path = listener.path.as_deref().unwrap_or(default_path);
        let router = dialects::own_routes(dialect, path)
            .layer(DefaultBodyLimit::max(body_limit))
            .with_state(state.clone());
        let stop = shutdown.clone();
        tracker.spawn(accept::serve_http(tcp, router, stop.cancelled_owned()));
    }

    if let Some(node) = node {
        let st = state.clone();
        tracing::info!(%node, "cluster mode: presence by lease");
        tracker.spawn(async move { st.run_presence_leases(node, lease).await });
    }

    // Every listener is bound: clients may connect.
    ready();

    let stop = shutdown.clone();
    let drain_hub = hub.clone();
    let graceful = async move {
        stop.cancelled().await;
        tracing::info!("shutting down: draining connections");
        drain_hub.drain_all(CLOSE_GOING_AWAY, "service restart, reconnect");
    };
    accept::serve_http(listener, app, graceful).await;
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            remaining = hub.connection_count(),
            "shutdown deadline passed; dropping connections"
        );
        hub.close_where(None, CLOSE_GOING_AWAY, "service restart, reconnect");
    }
    Ok(())
}
