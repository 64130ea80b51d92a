//! The compatibility dialects: each seed protocol's adapter, and where it is mounted.
//!
//! Every dialect is reachable at `/compat/<name>` on the main listener, and config can give it
//! a listener of its own (`dialects.<name>.listen` and `.path`) so an existing client connects
//! to the same host, port and path as before.

pub mod channels;
pub mod chat_client;
pub mod messenger;
pub mod path_rooms;
pub mod session_key;

use crate::AppState;
use crate::clock::now_ms;
use axum::Router;
use palaver_core::{CoreError, User, validate};
use palaver_proto::Dialect;
use palaver_store::NewUser;
use std::sync::Arc;

/// State the dialects keep on this node.
#[derive(Default)]
pub struct DialectState {
    pub path_rooms: path_rooms::NodeState,
    pub messenger: messenger::Uploads,
    /// The chat-client authorize hook, when configured.
    pub authorize_hook: Option<crate::authorize_hook::AuthorizeHook>,
}

/// The account with `handle` for an identity Palaver does not hold the password of (a
/// path-rooms guest, a user the authorize hook named): created on first use with `marker` in
/// place of a password hash. `marker` is not a PHC string, so no password ever verifies.
pub(crate) async fn passwordless_account(
    st: &AppState,
    handle: &str,
    display: &str,
    marker: &str,
) -> Result<User, CoreError> {
    let core = |e: palaver_store::StoreError| e.into_core();
    if let Some(user) = st.store.user_by_handle(handle).await.map_err(core)? {
        return Ok(user);
    }
    let new = NewUser {
        handle: handle.to_owned(),
        display_name: validate::display_name(display).unwrap_or_else(|_| handle.to_owned()),
        email: None,
        password_hash: marker.to_owned(),
        created_at: now_ms(),
    };
    match st.store.create_user(new).await {
        Ok(user) => Ok(user),
        // Created meanwhile by another connection (or node).
        Err(_) => st
            .store
            .user_by_handle(handle)
            .await
            .map_err(core)?
            .ok_or_else(CoreError::internal),
    }
}

/// Where a dialect is mounted: under `prefix` (`/compat/<name>` on the main listener, or the
/// configured path on its own listener).
#[derive(Clone, Debug)]
pub struct Mount {
    /// Path prefix without a trailing slash; empty for the root.
    pub prefix: String,
    /// True on the dialect's own listener, where "any path" dialects accept every path.
    pub own_listener: bool,
}

impl Mount {
    fn main(dialect: Dialect) -> Self {
        Self {
            prefix: format!("/compat/{}", dialect.name()),
            own_listener: false,
        }
    }

    fn own(path: &str) -> Self {
        Self {
            prefix: path.trim_end_matches('/').to_owned(),
            own_listener: true,
        }
    }

    /// `prefix` joined with `rest` (which starts with `/`), or `/` for an empty result.
    pub fn path(&self, rest: &str) -> String {
        let p = format!("{}{}", self.prefix, rest);
        if p.is_empty() { "/".to_owned() } else { p }
    }
}

fn routes_of(dialect: Dialect, mount: &Mount) -> Router<Arc<AppState>> {
    match dialect {
        Dialect::Native => Router::new(),
        Dialect::Channels => channels::routes(mount),
        Dialect::ChatClient => chat_client::routes(mount),
        Dialect::SessionKey => session_key::routes(mount),
        Dialect::Messenger => messenger::routes(mount),
        Dialect::PathRooms => path_rooms::routes(mount),
    }
}

pub const ALL: [Dialect; 5] = [
    Dialect::Channels,
    Dialect::ChatClient,
    Dialect::SessionKey,
    Dialect::Messenger,
    Dialect::PathRooms,
];

/// Every dialect under `/compat/<name>`, for the main listener.
pub fn main_routes() -> Router<Arc<AppState>> {
    ALL.iter().fold(Router::new(), |r, d| {
        r.merge(routes_of(*d, &Mount::main(*d)))
    })
}

/// One dialect at `path`, for its own listener.
pub fn own_routes(dialect: Dialect, path: &str) -> Router<Arc<AppState>> {
    routes_of(dialect, &Mount::own(path))
}
