//! The `path-rooms` dialect's connections: a guest in the channel its URL path names, with a
//! nickname claimed by `identity`, heartbeats both ways (docs/dialects.md).
//!
//! Guests have no accounts. What they send is stored like any message, from a guest account
//! per nickname (handle `_g.<nickname>`, which sign-up can never produce) or from the shared
//! anonymous guest before they identify, so every other dialect sees it.

use super::Mount;
use crate::AppState;
use crate::conn::{self, CLOSE_POLICY, Link, Protocol};
use crate::hub::{ConnId, ConnInfo};
use crate::service::Outgoing;
use crate::ws::Frame;
use crate::ws::WsUpgrade;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use palaver_core::{Conversation, ConversationId, CoreError, User, validate};
use palaver_proto::Dialect;
use palaver_proto::path_rooms::{self as wire, Incoming};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tungstenite::Utf8Bytes;

/// Longest nickname accepted, in characters.
const MAX_NICKNAME_CHARS: usize = 32;

/// The routes this dialect serves under `mount`: the rest of the path is the channel.
pub fn routes(mount: &Mount) -> Router<Arc<AppState>> {
    Router::new()
        .route(&mount.path("/{*channel}"), get(upgrade))
        .route(&mount.path("/"), get(upgrade_root))
}

/// What this node keeps for the dialect: the nicknames claimed, per channel (unique among the
/// channel's connections), and the shared anonymous guest account.
#[derive(Default)]
pub struct NodeState {
    claimed: Mutex<HashMap<ConversationId, HashMap<String, ConnId>>>,
    /// Looked up (or created) once: every connection starts as this account, and nobody can
    /// sign in to change it (it has no password). Reading it per connection was 9 % of a
    /// connection storm.
    anonymous: tokio::sync::OnceCell<User>,
}

impl NodeState {
    async fn anonymous(&self, st: &AppState) -> Result<User, CoreError> {
        self.anonymous
            .get_or_try_init(|| guest_account(st, wire::ANONYMOUS_HANDLE, "guest"))
            .await
            .cloned()
    }

    fn claim(&self, room: ConversationId, nick: &str, conn: ConnId) -> bool {
        let mut g = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
        let names = g.entry(room).or_default();
        if names.contains_key(nick) {
            return false;
        }
        names.retain(|_, owner| *owner != conn);
        names.insert(nick.to_owned(), conn);
        true
    }

    fn release(&self, room: ConversationId, conn: ConnId) {
        let mut g = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(names) = g.get_mut(&room) {
            names.retain(|_, owner| *owner != conn);
            if names.is_empty() {
                g.remove(&room);
            }
        }
    }
}

async fn upgrade_root(st: State<Arc<AppState>>, ws: WsUpgrade) -> Response {
    upgrade(st, Path(String::new()), ws).await
}

async fn upgrade(
    State(st): State<Arc<AppState>>,
    Path(channel): Path<String>,
    ws: WsUpgrade,
) -> Response {
    crate::http::configure(ws, &st.settings)
        .on_upgrade(move |socket| {
            let state = st.clone();
            let make =
                move |link| Box::new(PathRooms::new(state, link, channel)) as Box<dyn Protocol>;
            let tracker = st.tracker.clone();
            tracker.track_future(conn::run(socket, st, make))
        })
        .into_response()
}

struct PathRooms {
    state: Arc<AppState>,
    link: Link,
    /// The channel as the path gave it (echoed in the `connection` frame).
    channel: String,
    room: Option<Conversation>,
    conn: Option<ConnId>,
    anonymous: Option<User>,
    nickname: Option<User>,
    joined: HashSet<i64>,
    last_heartbeat: Instant,
}

impl PathRooms {
    fn new(state: Arc<AppState>, link: Link, channel: String) -> Self {
        Self {
            state,
            link,
            channel,
            room: None,
            conn: None,
            anonymous: None,
            nickname: None,
            joined: HashSet::new(),
            last_heartbeat: Instant::now(),
        }
    }

    fn settings(&self) -> (Duration, Duration) {
        let d = &self.state.settings.dialects;
        (
            Duration::from_secs(d.path_rooms_heartbeat_secs),
            Duration::from_secs(d.path_rooms_identity_timeout_secs),
        )
    }

    /// The channel's room, created (owned by the anonymous guest) on first use.
    async fn room(&self, anonymous: &User) -> Result<Conversation, CoreError> {
        let name = validate::room_name(&self.channel.to_ascii_lowercase())?;
        let address = format!("#{name}");
        match self.state.room_by_address(&address).await {
            Ok(room) => Ok(room),
            Err(e) if e.kind == palaver_core::ErrorKind::NotFound => {
                match self
                    .state
                    .create_room(anonymous.id, &name, "channel", &[], None)
                    .await
                {
                    Ok(room) => Ok(room),
                    // Another connection created it first.
                    Err(_) => self.state.room_by_address(&address).await,
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn open_channel(&mut self) -> Result<(), CoreError> {
        let anonymous = self
            .state
            .dialects
            .path_rooms
            .anonymous(&self.state)
            .await?;
        let room = self.room(&anonymous).await?;
        // A room-bound connection needs only where delivery starts.
        let heads = [palaver_store::Head {
            conversation: room.id,
            last_seq: room.last_seq,
            members: 0,
        }];
        let info = ConnInfo {
            user: anonymous.id,
            handle: anonymous.handle.clone(),
            session: None,
            dialect: Dialect::PathRooms,
            scope: Some(room.id),
        };
        let reg = self.state.hub.register(
            info,
            &heads,
            self.link.tx.clone(),
            self.link.control.clone(),
        );
        self.conn = Some(reg.id);
        self.room = Some(room);
        self.anonymous = Some(anonymous);
        Ok(())
    }

    async fn identify(&mut self, nick: &str) -> bool {
        let (Some(room), Some(conn)) = (&self.room, self.conn) else {
            return false;
        };
        let valid = !nick.is_empty()
            && nick.chars().count() <= MAX_NICKNAME_CHARS
            && !nick.chars().any(char::is_control);
        if !valid || !self.state.dialects.path_rooms.claim(room.id, nick, conn) {
            return false;
        }
        match guest_account(&self.state, &wire::guest_handle(nick), nick).await {
            Ok(user) => {
                self.nickname = Some(user);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not create a guest account");
                self.state.dialects.path_rooms.release(room.id, conn);
                false
            }
        }
    }

    /// Sends messages of the current identity to the room, in order (frames that arrived
    /// together are stored in one go). The seed has no error frame: refusals are logged.
    async fn send(&mut self, texts: Vec<String>) {
        let (Some(room), Some(sender)) = (
            &self.room,
            self.nickname.as_ref().or(self.anonymous.as_ref()),
        ) else {
            return;
        };
        if texts.is_empty() {
            return;
        }
        let address = room.id.to_string();
        if self.joined.insert(sender.id.0)
            && let Err(e) = self.state.join_room(sender.id, &address).await
        {
            tracing::debug!(error = %e, "path-rooms join refused");
            return;
        }
        let sends = texts
            .into_iter()
            .map(|text| Outgoing {
                to: address.clone(),
                text,
                client_id: None,
            })
            .collect();
        for result in self.state.send_messages(sender, sends).await {
            if let Err(e) = result {
                tracing::debug!(error = %e, "path-rooms message refused");
            }
        }
    }
}

/// The guest account with `handle`, created on first use with an unusable password.
async fn guest_account(st: &AppState, handle: &str, display: &str) -> Result<User, CoreError> {
    let display = validate::display_name(display).unwrap_or_else(|_| "guest".into());
    super::passwordless_account(st, handle, &display, "!guest").await
}

#[async_trait::async_trait]
impl Protocol for PathRooms {
    async fn open(&mut self) {
        match self.open_channel().await {
            Ok(()) => {
                let frame = Frame::from(wire::connection_frame(&self.channel));
                self.link.tx.push_reply(frame);
            }
            Err(e) => {
                tracing::info!(error = %e, "path-rooms connection refused");
                self.link
                    .control
                    .close(CLOSE_POLICY, "invalid channel: use 2-64 of [a-z0-9_.-]");
            }
        }
    }

    async fn handle_text(&mut self, text: &str) -> Vec<String> {
        match wire::decode(text) {
            Some(Incoming::Heartbeat) => self.last_heartbeat = Instant::now(),
            Some(Incoming::Identity(nick)) => {
                let ok = self.identify(&nick).await;
                return vec![wire::identity_frame(ok)];
            }
            Some(Incoming::Message(text)) => self.send(vec![text]).await,
            None => {}
        }
        Vec::new()
    }

    /// Messages that arrived back to back are sent together; anything else in between is
    /// handled in its place.
    async fn handle_texts(&mut self, texts: &[Utf8Bytes]) -> Vec<String> {
        let mut out = Vec::new();
        let mut run = Vec::new();
        for text in texts {
            match wire::decode(text.as_str()) {
                Some(Incoming::Message(m)) => run.push(m),
                _ => {
                    self.send(std::mem::take(&mut run)).await;
                    out.extend(self.handle_text(text.as_str()).await);
                }
            }
        }
        self.send(run).await;
        out
    }

    fn tick_every(&self) -> Option<Duration> {
        Some(self.settings().0)
    }

    async fn tick(&mut self) -> Vec<String> {
        let timeout = self.settings().1;
        if self.nickname.is_some() && self.last_heartbeat.elapsed() > timeout {
            self.nickname = None;
            if let (Some(room), Some(conn)) = (&self.room, self.conn) {
                self.state.dialects.path_rooms.release(room.id, conn);
            }
        }
        vec![wire::heartbeat_frame(self.nickname.is_some())]
    }

    async fn end(&mut self) {
        if let (Some(room), Some(conn)) = (&self.room, self.conn.take()) {
            self.state.dialects.path_rooms.release(room.id, conn);
            self.state.hub.unregister(conn);
        }
    }
}
