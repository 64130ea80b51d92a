//! The `session-key` dialect's connections (docs/dialects.md): `?session_key=` names a key
//! issued by the CLI or the admin API, which binds the connection to one user and one room.
//! Also the issuing and revoking of keys, and the admin endpoints that do it.
//!
//! Keys are 32 random bytes in hex; only their SHA-256 is stored.

use super::Mount;
use crate::AppState;
use crate::clock::now_ms;
use crate::conn::{
    self, CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TOO_SLOW, Link, Outbox, Protocol, PushError, Pushed,
};
use crate::hub::{ConnId, ConnInfo};
use crate::ws::Frame;
use crate::ws::WsUpgrade;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use palaver_bus::Recipients;
use palaver_core::{Conversation, ConversationKind, CoreError, ErrorKind, Event, User, policy};
use palaver_proto::Dialect;
use palaver_proto::native::http as http_wire;
use palaver_proto::session_key::{self as wire, Incoming};
use palaver_store::{NewSessionKey, Store};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The routes this dialect serves under `mount`: any path on its own listener, the prefix and
/// everything below it on the main one.
pub fn routes(mount: &Mount) -> Router<Arc<AppState>> {
    if mount.own_listener {
        return Router::new().fallback(upgrade);
    }
    let mut paths = vec![mount.path(""), mount.path("/"), mount.path("/{*rest}")];
    paths.dedup();
    paths
        .iter()
        .fold(Router::new(), |r, p| r.route(p, get(upgrade)))
}

/// The admin API for keys, on the main listener.
pub fn admin_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/admin/session-keys", post(admin_create))
        .route("/api/v1/admin/session-keys/{key}", delete(admin_revoke))
}

/// The SHA-256 of a key, in hex: what the store keeps.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.trim().as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session name a key's connections register under, so revoking the key closes them.
pub(crate) fn session_tag(hash: &str) -> String {
    format!("session-key:{hash}")
}

/// A freshly issued key.
#[derive(Debug)]
pub struct IssuedKey {
    /// The key itself; it is shown once and never stored.
    pub key: String,
    pub user: User,
    pub room: Conversation,
    /// `MemberJoined` when issuing the key made the user join the channel.
    pub joined: Vec<Event>,
}

/// Issues a key for `user` (a handle, `@` optional) in `room` (`#name`, a name or an id; a
/// channel or a group). With `join`, a user who is not a member joins a channel (the caller
/// publishes `IssuedKey::joined`); without it, and always for a group, the user must be a
/// member already. The CLI passes `join: false`: it writes to a database a running server
/// may be using, and only the server may append to the event stream.
pub async fn issue_session_key(
    store: &dyn Store,
    user: &str,
    room: &str,
    join: bool,
    now: i64,
) -> Result<IssuedKey, CoreError> {
    let handle = palaver_core::validate::handle(user.trim().trim_start_matches('@'))?;
    let user = store
        .user_by_handle(&handle)
        .await
        .map_err(|e| e.into_core())?
        .ok_or_else(|| CoreError::not_found("no such user"))?;
    let room_text = room.trim();
    let found = match room_text.parse::<i64>() {
        Ok(id) => store.conversation(palaver_core::ConversationId(id)).await,
        Err(_) => {
            let name = palaver_core::validate::room_name(room_text.trim_start_matches('#'))?;
            store.room_by_name(&name).await
        }
    };
    let room = match found.map_err(|e| e.into_core())? {
        Some(c) if c.kind != ConversationKind::Dm => c,
        _ => return Err(CoreError::not_found("no such room")),
    };
    let mut joined = Vec::new();
    if !store
        .is_member(room.id, user.id)
        .await
        .map_err(|e| e.into_core())?
    {
        policy::may_join(&room)?;
        if !join {
            return Err(CoreError::forbidden(
                "the user is not a member of that room: let them join it first (the admin \
                 API joins them to a channel)",
            ));
        }
        joined = store
            .add_members(room.id, &[user.id], now)
            .await
            .map_err(|e| e.into_core())?;
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = hex(&bytes);
    store
        .create_session_key(NewSessionKey {
            hash: hash_key(&key),
            user: user.id,
            conversation: room.id,
            created_at: now,
        })
        .await
        .map_err(|e| e.into_core())?;
    Ok(IssuedKey {
        key,
        user,
        room,
        joined,
    })
}

/// Revokes a key; false when there was no such (live) key.
pub async fn revoke_session_key(store: &dyn Store, key: &str, now: i64) -> Result<bool, CoreError> {
    store
        .revoke_session_key(&hash_key(key), now)
        .await
        .map_err(|e| e.into_core())
}

/// What a valid key grants: a user, bound to a room they are still a member of.
pub(crate) struct Grant {
    pub user: User,
    pub room: Conversation,
    pub hash: String,
}

/// The grant of `key`, or `None` when the key is unknown or revoked, or its user or room is
/// gone, or the user has left the room.
pub(crate) async fn resolve(st: &AppState, key: &str) -> Option<Grant> {
    let hash = hash_key(key);
    let found = async {
        let Some((user, room)) = st.store.session_key(&hash).await? else {
            return Ok(None);
        };
        let (Some(user), Some(room)) = (
            st.store.user(user).await?,
            st.store.conversation(room).await?,
        ) else {
            return Ok(None);
        };
        let member = st.store.is_member(room.id, user.id).await?;
        Ok::<_, palaver_store::StoreError>(member.then_some((user, room)))
    }
    .await;
    match found {
        Ok(grant) => grant.map(|(user, room)| Grant { user, room, hash }),
        Err(e) => {
            tracing::warn!(error = %e, "could not check a session key");
            None
        }
    }
}

#[derive(Deserialize)]
struct KeyQuery {
    session_key: Option<String>,
}

async fn upgrade(
    State(st): State<Arc<AppState>>,
    query: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
    ws: WsUpgrade,
) -> Response {
    if st.shutdown.is_cancelled() {
        return crate::http::error(CoreError::unavailable("server is shutting down"));
    }
    // A bad or missing key still gets its WebSocket, closed at once with 1000, as the seed did.
    let grant = match query.ok().and_then(|Query(q)| q.session_key) {
        Some(key) => resolve(&st, &key).await,
        None => None,
    };
    let tracker = st.tracker.clone();
    crate::http::configure(ws, &st.settings)
        .on_upgrade(move |socket| {
            let state = st.clone();
            let make =
                move |link| Box::new(SessionKey::new(state, link, grant)) as Box<dyn Protocol>;
            tracker.track_future(conn::run(socket, st, make))
        })
        .into_response()
}

struct SessionKey {
    state: Arc<AppState>,
    link: Link,
    grant: Option<Grant>,
    conn: Option<ConnId>,
    /// The hub's queue for this connection while `forward` passes it on.
    live: Option<Arc<Outbox>>,
}

impl SessionKey {
    fn new(state: Arc<AppState>, link: Link, grant: Option<Grant>) -> Self {
        Self {
            state,
            link,
            grant,
            conn: None,
            live: None,
        }
    }

    /// Registers the connection, then sends `{"authenticated":true}` and the room's recent
    /// history. Live frames queue up meanwhile and are passed on afterwards, less any the
    /// history already held, so the client sees every message once, in order.
    async fn start(&mut self) -> Result<(), CoreError> {
        let Some(grant) = &self.grant else {
            return Err(CoreError::unauthenticated("bad session key"));
        };
        let st = &self.state;
        // Live frames wait in a queue of their own until the history is out.
        let live = Arc::new(Outbox::new(st.settings.limits.outbound_queue));
        let hub_link = Link {
            tx: live.clone(),
            control: self.link.control.clone(),
        };
        let info = ConnInfo {
            user: grant.user.id,
            handle: grant.user.handle.clone(),
            session: Some(session_tag(&grant.hash)),
            dialect: Dialect::SessionKey,
            scope: Some(grant.room.id),
        };
        self.conn = Some(st.attach(&hub_link, info, &grant.user).await?);
        drop(hub_link);

        let room = st
            .store
            .conversation(grant.room.id)
            .await
            .map_err(|e| e.into_core())?;
        let wanted = st.settings.dialects.session_key_history as usize;
        let mut history = match room {
            Some(room) => {
                st.messages_page(&room, None, None, wanted.max(1) as u32)
                    .await?
            }
            None => Vec::new(),
        };
        let boundary = history.last().map(|m| m.id.0).unwrap_or(0);
        history.drain(..history.len().saturating_sub(wanted));
        let frames = std::iter::once(wire::AUTHENTICATED.to_owned())
            .chain(history.iter().map(|m| wire::encode_message(m)));
        for frame in frames {
            self.link.tx.push_reply(Frame::from(frame));
        }
        self.live = Some(live.clone());
        st.tracker.spawn(forward(live, self.link.clone(), boundary));
        Ok(())
    }
}

/// Passes live frames on to the connection, dropping those up to `boundary` (the newest
/// message id the history held). The room's messages arrive in order, so after the first
/// newer one every frame passes unread. Ends when the connection ends (`live` is closed); a
/// connection whose queue is full is closed as too slow, as the hub would.
async fn forward(live: Arc<Outbox>, link: Link, boundary: i64) {
    let mut spliced = boundary == 0;
    while let Some(frame) = live.recv().await {
        if !spliced {
            match frame.payload().and_then(wire::message_id) {
                Some(id) if id <= boundary => continue,
                _ => spliced = true,
            }
        }
        match link.tx.push(frame) {
            Ok(Pushed::Flush) => link.tx.flush(),
            Ok(Pushed::Queued) => {}
            Err(PushError::Closed) => return,
            Err(PushError::Full) => {
                link.control
                    .close(CLOSE_TOO_SLOW, "too slow: reconnect and sync");
                return;
            }
        }
    }
}

#[async_trait::async_trait]
impl Protocol for SessionKey {
    async fn open(&mut self) {
        if let Err(e) = self.start().await {
            if e.kind != ErrorKind::Unauthenticated {
                tracing::warn!(error = %e, "could not start a session-key connection");
            }
            self.link.control.close(CLOSE_NORMAL, "");
        }
    }

    async fn handle_text(&mut self, text: &str) -> Vec<String> {
        let Some(grant) = &self.grant else {
            return Vec::new();
        };
        match wire::decode(text) {
            Incoming::Ignore => {}
            Incoming::Missing => self.link.control.close(CLOSE_NORMAL, ""),
            Incoming::Say(said) => {
                let room = grant.room.id.to_string();
                // The echo comes back through the hub, like everyone else's copy.
                if let Err(e) = self
                    .state
                    .send_message(&grant.user, &room, said, None)
                    .await
                {
                    match e.kind {
                        ErrorKind::Forbidden | ErrorKind::NotFound => {
                            self.link.control.close(CLOSE_NORMAL, "")
                        }
                        _ => tracing::debug!(error = %e, "session-key message refused"),
                    }
                }
            }
        }
        Vec::new()
    }

    async fn end(&mut self) {
        if let Some(live) = self.live.take() {
            live.close();
        }
        if let (Some(conn), Some(grant)) = (self.conn.take(), self.grant.as_ref()) {
            self.state.detach(conn, &grant.user).await;
        }
    }
}

// --- admin API ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct CreateKey {
    user: String,
    room: serde_json::Value,
}

/// The signed-in caller, if they are listed in `auth.admins`.
async fn admin(st: &AppState, headers: &HeaderMap) -> Result<User, CoreError> {
    let token = crate::http::token_from_headers(headers)
        .ok_or_else(|| CoreError::unauthenticated("no token given"))?;
    let verified = st.auth.check(&token, now_ms()).await?;
    let user = st
        .store
        .user(verified.user)
        .await
        .map_err(|e| e.into_core())?
        .ok_or_else(|| CoreError::unauthenticated("invalid or expired token"))?;
    let listed = st.settings.auth.admins.iter().any(|h| {
        h.trim()
            .trim_start_matches('@')
            .eq_ignore_ascii_case(&user.handle)
    });
    if !listed {
        return Err(CoreError::forbidden("admin rights required (auth.admins)"));
    }
    Ok(user)
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn admin_create(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        admin(&st, &headers).await?;
        let req: CreateKey = http_wire::decode_body(&body)?;
        let room = match &req.room {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err(CoreError::invalid("`room` must be a name or an id")),
        };
        let issued = issue_session_key(st.store.as_ref(), &req.user, &room, true, now_ms()).await?;
        for event in issued.joined.iter().cloned() {
            let to = Recipients {
                conversations: vec![issued.room.id],
                ..Default::default()
            };
            st.publish(event, to, issued.room.name.as_deref()).await;
        }
        Ok(issued)
    }
    .await;
    match result {
        Ok(issued) => json(
            StatusCode::CREATED,
            serde_json::json!({
                "key": issued.key,
                "user": issued.user.id,
                "room": issued.room.id,
            })
            .to_string(),
        ),
        Err(e) => crate::http::error(e),
    }
}

async fn admin_revoke(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let result = async {
        admin(&st, &headers).await?;
        if !revoke_session_key(st.store.as_ref(), &key, now_ms()).await? {
            return Err(CoreError::not_found("no such session key"));
        }
        let tag = session_tag(&hash_key(&key));
        st.hub
            .close_where(Some(&tag), CLOSE_POLICY, "session revoked");
        Ok(())
    }
    .await;
    match result {
        Ok(()) => json(StatusCode::OK, "{}".into()),
        Err(e) => crate::http::error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: i64) -> Frame {
        Frame::from(format!(
            r#"{{"time":"2026-01-01T00:00:00.000Z","user":"a","message":"m{id}","id":{id}}}"#
        ))
    }

    #[tokio::test]
    async fn forwarding_drops_what_the_history_held_then_passes_everything() {
        let live = Arc::new(Outbox::new(16));
        let link = Link {
            tx: Arc::new(Outbox::new(16)),
            control: Default::default(),
        };
        for id in [4, 5, 6, 7] {
            // No socket: the connection's task writes every frame.
            assert_eq!(live.push(frame(id)), Ok(Pushed::Queued));
        }
        live.close();
        forward(live, link.clone(), 5).await;
        link.tx.close();
        let mut got = Vec::new();
        while let Some(f) = link.tx.recv().await {
            got.push(f.payload().and_then(wire::message_id).unwrap());
        }
        assert_eq!(got, [6, 7]);
    }

    #[test]
    fn keys_are_stored_as_their_sha256() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash_key(" abc\n"), hash_key("abc"), "pasted with spaces");
    }
}
