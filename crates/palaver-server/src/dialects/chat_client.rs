//! The `chat-client` dialect's connections (docs/dialects.md): the npm `chat-client`'s RPC of
//! `authorize`, `create`, `getMessages`, `read` and the custom `getUsersAndGroups`, over the
//! shared use cases. Users are addressed by id (a string of the Palaver user id), groups (any
//! room) by conversation id with `isGroup`.

use super::session_key;
use super::{Mount, passwordless_account};
use crate::AppState;
use crate::clock::now_ms;
use crate::conn::{self, CLOSE_NORMAL, Link, Protocol};
use crate::hub::{ConnId, ConnInfo};
use crate::ws::WsUpgrade;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use palaver_core::{
    Conversation, ConversationId, ConversationKind, CoreError, EventBody, Message, User, UserId,
};
use palaver_proto::Dialect;
use palaver_proto::authorize_hook::{AUTHORIZATION_UNAVAILABLE, Answer};
use palaver_proto::chat_client::{self as wire, Request};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Most users `getUsersAndGroups` lists.
const MAX_USERS_LISTED: u32 = 1000;

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

async fn upgrade(State(st): State<Arc<AppState>>, ws: WsUpgrade) -> Response {
    if st.shutdown.is_cancelled() {
        return crate::http::error(CoreError::unavailable("server is shutting down"));
    }
    let tracker = st.tracker.clone();
    crate::http::configure(ws, &st.settings)
        .on_upgrade(move |socket| {
            let state = st.clone();
            let make = move |link| Box::new(ChatClient::new(state, link)) as Box<dyn Protocol>;
            tracker.track_future(conn::run(socket, st, make))
        })
        .into_response()
}

/// An authorized connection.
struct Signed {
    user: User,
    conn: ConnId,
    /// Set when authorized with a session key: the one room this connection may use.
    scope: Option<ConversationId>,
    /// When the token expires (none for session keys).
    expires_at: Option<i64>,
}

/// Who a token names.
struct Identity {
    user: UserId,
    /// The session it signed in with (so logout closes it); none for the authorize hook.
    session: Option<String>,
    scope: Option<ConversationId>,
    expires_at: Option<i64>,
}

type Reply = Result<Value, String>;

fn fail(e: CoreError) -> String {
    wire::error_text(&e)
}

struct ChatClient {
    state: Arc<AppState>,
    link: Link,
    me: Option<Signed>,
}

impl ChatClient {
    fn new(state: Arc<AppState>, link: Link) -> Self {
        Self {
            state,
            link,
            me: None,
        }
    }

    /// A Palaver token, else a session key.
    async fn identify(&self, token: &str) -> Option<Identity> {
        if let Ok(v) = self.state.auth.check(token, now_ms()).await {
            return Some(Identity {
                user: v.user,
                session: Some(v.session),
                scope: None,
                expires_at: Some(v.expires_at),
            });
        }
        let grant = session_key::resolve(&self.state, token).await?;
        Some(Identity {
            user: grant.user.id,
            session: Some(session_key::session_tag(&grant.hash)),
            scope: Some(grant.room.id),
            expires_at: None,
        })
    }

    /// The `authorize` data's token as a Palaver token or session key, else what the authorize
    /// hook says of the data (with the user object it sent, to echo).
    async fn authenticate(
        &self,
        data: &Value,
    ) -> Result<(Identity, Option<Map<String, Value>>), String> {
        let failed = || wire::AUTHORIZATION_FAILED.to_owned();
        if let Some(token) = wire::token(data)
            && let Some(id) = self.identify(&token).await
        {
            return Ok((id, None));
        }
        let Some(hook) = &self.state.dialects.authorize_hook else {
            return Err(failed());
        };
        let (handle, display, object) = match hook.ask(data).await {
            Ok(Answer::User {
                handle,
                display_name,
                object,
            }) => (handle, display_name, object),
            Ok(Answer::Denied) => return Err(failed()),
            Err(e) => {
                tracing::warn!(error = %e, "the chat-client authorize hook failed");
                return Err(AUTHORIZATION_UNAVAILABLE.to_owned());
            }
        };
        let display = display.unwrap_or_else(|| handle.clone());
        let user = passwordless_account(&self.state, &handle, &display, "!hook")
            .await
            .map_err(fail)?;
        let id = Identity {
            user: user.id,
            session: None,
            scope: None,
            expires_at: None,
        };
        Ok((id, Some(object)))
    }

    async fn authorize(&mut self, data: &Value) -> Reply {
        let (id, hooked) = self.authenticate(data).await?;
        let token = wire::token(data);
        let echo = |user: &User| wire::authorized_object(user, token.as_deref(), hooked.clone());
        if let Some(me) = &self.me {
            // Authorizing again must not register the socket twice (the seed's duplicates).
            if me.user.id == id.user {
                return Ok(echo(&me.user));
            }
            return Err(fail(CoreError::invalid(
                "this connection is already authorized as another user",
            )));
        }
        let st = &self.state;
        let user = match st.store.user(id.user).await {
            Ok(Some(u)) => u,
            _ => return Err(wire::AUTHORIZATION_FAILED.to_owned()),
        };
        let info = ConnInfo {
            user: user.id,
            handle: user.handle.clone(),
            session: id.session,
            dialect: Dialect::ChatClient,
            scope: id.scope,
        };
        let conn = st.attach(&self.link, info, &user).await.map_err(fail)?;
        let reply = echo(&user);
        self.me = Some(Signed {
            user,
            conn,
            scope: id.scope,
            expires_at: id.expires_at,
        });
        Ok(reply)
    }

    fn in_scope(me: &Signed, conversation: ConversationId) -> Result<(), String> {
        match me.scope {
            Some(s) if s != conversation => Err(fail(CoreError::forbidden(
                "this connection is bound to one room by its session key",
            ))),
            _ => Ok(()),
        }
    }

    async fn create(&self, me: &Signed, data: &Value) -> Reply {
        let sent = wire::parse_create(data)?;
        let st = &self.state;
        let (address, to) = if sent.is_group {
            let room = st.room_by_address(&sent.to).await.map_err(fail)?;
            Self::in_scope(me, room.id)?;
            (room.id.to_string(), room.id.to_string())
        } else {
            if me.scope.is_some() {
                return Err(fail(CoreError::forbidden(
                    "this connection is bound to one room by its session key",
                )));
            }
            let peer = st.user_by_address(&sent.to).await.map_err(fail)?;
            (format!("@{}", peer.handle), peer.id.to_string())
        };
        let appended = st
            .send_message(&me.user, &address, sent.text.clone(), None)
            .await
            .map_err(fail)?;
        Ok(wire::created_object(&sent, &appended.message, to))
    }

    async fn get_messages(&self, me: &Signed, data: &Value) -> Reply {
        let q = wire::parse_get_messages(data);
        let with = q.with.ok_or_else(|| {
            fail(CoreError::invalid(
                "getMessages needs `with`: a user id, or with isGroup a group id",
            ))
        })?;
        let st = &self.state;
        let me_id = me.user.id;
        let (conv, peer) = if q.is_group {
            let room = st.room_by_address(&with).await.map_err(fail)?;
            st.require_member(&room, me_id).await.map_err(fail)?;
            (room, None)
        } else {
            let peer = st.user_by_address(&with).await.map_err(fail)?;
            let found = st
                .store
                .find_direct_conversation(me_id, peer.id)
                .await
                .map_err(|e| fail(e.into_core()))?;
            match found {
                Some(c) => (c, Some(peer.id)),
                None => return Ok(json!([])),
            }
        };
        Self::in_scope(me, conv.id)?;
        let end = conv.last_seq - i64::from(q.skip);
        let limit = q.limit.min(st.settings.limits.history_max_limit);
        if end <= 0 || limit == 0 {
            return Ok(json!([]));
        }
        let messages = st
            .messages_page(&conv, Some(end + 1), None, limit)
            .await
            .map_err(fail)?;
        let out: Vec<Value> = messages
            .iter()
            .rev()
            .map(|m| Value::Object(self.object(me_id, &conv, peer, m)))
            .collect();
        Ok(Value::Array(out))
    }

    /// A message of `conv` as this dialect shows it to `me`; `peer` is the other member of a
    /// direct conversation.
    fn object(
        &self,
        me: UserId,
        conv: &Conversation,
        peer: Option<UserId>,
        m: &Message,
    ) -> serde_json::Map<String, Value> {
        if conv.kind == ConversationKind::Dm {
            let to = if m.sender == me { peer } else { Some(me) };
            wire::message_object(m, to.map(|u| u.to_string()), false)
        } else {
            wire::message_object(m, Some(conv.id.to_string()), true)
        }
    }

    async fn read(&self, me: &Signed, data: &Value) -> Reply {
        let id = wire::read_id(data)
            .ok_or_else(|| fail(CoreError::invalid("read needs the id of a message")))?;
        let st = &self.state;
        let not_found = || fail(CoreError::not_found("no such message"));
        // A message's id is its position in the event stream: the first event this user may
        // see from there on is the message, if it is theirs to see.
        let events = st
            .store
            .events_since(me.user.id, id.saturating_sub(1), 1)
            .await
            .map_err(|e| fail(e.into_core()))?;
        let message = match events.into_iter().next() {
            Some(e) if e.pos == Some(id) => match e.body {
                EventBody::Message(m) => m,
                _ => return Err(not_found()),
            },
            _ => return Err(not_found()),
        };
        Self::in_scope(me, message.conversation)?;
        let (conv, _marker, unread) = st
            .mark_read(me.user.id, &message.conversation.to_string(), message.seq)
            .await
            .map_err(fail)?;
        let peer = if conv.kind == ConversationKind::Dm {
            let members = st
                .store
                .members(conv.id)
                .await
                .map_err(|e| fail(e.into_core()))?;
            members
                .iter()
                .map(|u| u.id)
                .find(|u| *u != me.user.id)
                .or(Some(me.user.id))
        } else {
            None
        };
        let mut value = self.object(me.user.id, &conv, peer, &message);
        value.insert("read".into(), Value::Bool(true));
        Ok(json!({ "ok": 1, "value": value, "unread": unread }))
    }

    async fn users_and_groups(&self, me: &Signed) -> Reply {
        let st = &self.state;
        let core = |e: palaver_store::StoreError| fail(e.into_core());
        let mut rooms: Vec<Conversation> = st
            .store
            .list_rooms(me.user.id)
            .await
            .map_err(core)?
            .into_iter()
            .filter(|r| r.joined)
            .map(|r| r.room)
            .collect();
        if let Some(scope) = me.scope {
            rooms.retain(|r| r.id == scope);
        }
        let mut groups = Vec::with_capacity(rooms.len());
        for room in &rooms {
            let members = st.store.members(room.id).await.map_err(core)?;
            let ids: Vec<UserId> = members.iter().map(|u| u.id).collect();
            groups.push(wire::group_object(room, &ids));
        }
        let users = match me.scope {
            Some(scope) => st.store.members(scope).await.map_err(core)?,
            None => st
                .store
                .search_users("", MAX_USERS_LISTED)
                .await
                .map_err(core)?,
        };
        let users: Vec<Value> = users
            .iter()
            .map(|u| Value::Object(wire::user_object(u)))
            .collect();
        Ok(json!({ "users": users, "groups": groups }))
    }

    async fn handle(&mut self, req: Request) -> Vec<String> {
        if req.action == "authorize" {
            let result = self.authorize(&req.data).await;
            return vec![wire::reply(&req.id, result)];
        }
        let Some(me) = &self.me else {
            // The seed closes an unauthorized socket that asks for anything else.
            self.link.control.close(CLOSE_NORMAL, "");
            return Vec::new();
        };
        let result = match req.action.as_str() {
            "create" => self.create(me, &req.data).await,
            "getMessages" => self.get_messages(me, &req.data).await,
            "read" => self.read(me, &req.data).await,
            "getUsersAndGroups" => self.users_and_groups(me).await,
            // Unknown actions get no answer, as in the seed.
            _ => return Vec::new(),
        };
        vec![wire::reply(&req.id, result)]
    }
}

#[async_trait::async_trait]
impl Protocol for ChatClient {
    async fn handle_text(&mut self, text: &str) -> Vec<String> {
        match wire::decode(text) {
            Some(req) => self.handle(req).await,
            // Malformed JSON or no `type`: nothing is sent and the socket stays.
            None => Vec::new(),
        }
    }

    fn expires_in(&self) -> Option<Duration> {
        let left = self.me.as_ref()?.expires_at? - now_ms();
        Some(Duration::from_millis(left.max(0) as u64))
    }

    async fn end(&mut self) {
        if let Some(me) = self.me.take() {
            self.state.detach(me.conn, &me.user).await;
        }
    }
}
