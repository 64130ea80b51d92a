//! A native-protocol session: decodes frames, runs calls for the signed-in user, encodes
//! replies. Calls of one connection run one after another, so replies come in order; a burst
//! of `messages.send` frames that arrive together is stored in one go (see `handle_frames`).

use crate::AppState;
use crate::auth::Verified;
use crate::clock::now_ms;
use crate::conn::{CLOSE_POLICY, Link, Protocol};
use crate::hub::{ConnId, ConnInfo};
use crate::service::Outgoing;
use crate::sync;
use palaver_core::{CoreError, User, UserId, validate};
use palaver_proto::Dialect;
use palaver_proto::native::{self, Call, Incoming, Request, RpcError};
use palaver_store::Appended;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::sync::Arc;
use tungstenite::Utf8Bytes;

pub struct Session {
    state: Arc<AppState>,
    link: Link,
    /// The token verified at the upgrade, signed in by `open`.
    handshake: Option<Verified>,
    user: Option<User>,
    conn: Option<ConnId>,
    expires_at: Option<i64>,
}

type CallResult = Result<Box<RawValue>, RpcError>;

/// The response frame for a call's outcome; none for a notification (no id).
fn reply_to(id: Option<Value>, result: CallResult) -> Option<String> {
    let id = id?;
    Some(match result {
        Ok(v) => native::encode_result(&id, &v),
        Err(e) => native::encode_error(&id, &e),
    })
}

fn send_result(a: &Appended) -> Box<RawValue> {
    native::to_result(&native::SendResult {
        id: a.message.id.0,
        conversation: a.message.conversation,
        seq: a.message.seq,
        ts: a.message.ts,
        duplicate: a.duplicate,
    })
}

impl Session {
    pub fn new(state: Arc<AppState>, link: Link, handshake: Option<Verified>) -> Self {
        Self {
            state,
            link,
            handshake,
            user: None,
            conn: None,
            expires_at: None,
        }
    }

    /// Binds the connection to a verified user: registers it and announces presence.
    pub async fn authenticate(&mut self, verified: Verified) -> Result<User, CoreError> {
        if let Some(user) = &self.user {
            if user.id == verified.user {
                return Ok(user.clone());
            }
            return Err(CoreError::invalid(
                "this connection is already signed in as another user",
            ));
        }
        let user = self
            .state
            .store
            .user(verified.user)
            .await
            .map_err(|e| e.into_core())?
            .ok_or_else(|| CoreError::unauthenticated("invalid or expired token"))?;
        let info = ConnInfo {
            user: user.id,
            handle: user.handle.clone(),
            session: Some(verified.session.clone()),
            dialect: Dialect::Native,
            scope: None,
        };
        self.conn = Some(self.state.attach(&self.link, info, &user).await?);
        self.expires_at = Some(verified.expires_at);
        self.user = Some(user.clone());
        Ok(user)
    }

    /// Unregisters the connection; announces the user offline if it was their last.
    async fn finish(&mut self) {
        if let (Some(conn), Some(user)) = (self.conn.take(), self.user.as_ref()) {
            self.state.detach(conn, user).await;
        }
    }

    /// Handles one text frame; returns the reply frame, if any is due.
    async fn handle_frame(&mut self, text: &str) -> Option<String> {
        let decoded = native::decode(text, self.state.settings.limits.max_batch);
        self.handle_decoded(decoded).await
    }

    /// Handles frames that arrived together: runs of plain `messages.send` requests go to
    /// the store as one burst (in order, usually one commit), everything else one by one.
    /// Replies keep the order of the frames.
    async fn handle_frames(&mut self, texts: &[Utf8Bytes]) -> Vec<String> {
        let max_batch = self.state.settings.limits.max_batch;
        let mut out = Vec::new();
        let mut sends: Vec<(Option<Value>, native::Send)> = Vec::new();
        for text in texts {
            let decoded = native::decode(text.as_str(), max_batch);
            match decoded {
                Ok(Incoming::Single(Ok(req)))
                    if self.user.is_some() && req.method == "messages.send" =>
                {
                    match native::parse_call(&req.method, req.params) {
                        Ok(Call::MessagesSend(s)) => sends.push((req.id, s)),
                        other => {
                            out.extend(self.send_burst(std::mem::take(&mut sends)).await);
                            let result = match other {
                                Ok(call) => self.dispatch(call).await,
                                Err(e) => Err(e),
                            };
                            out.extend(reply_to(req.id, result));
                        }
                    }
                }
                other => {
                    out.extend(self.send_burst(std::mem::take(&mut sends)).await);
                    out.extend(self.handle_decoded(other).await);
                }
            }
        }
        out.extend(self.send_burst(sends).await);
        out
    }

    async fn send_burst(&mut self, sends: Vec<(Option<Value>, native::Send)>) -> Vec<String> {
        let Some(me) = self.user.as_ref().filter(|_| !sends.is_empty()) else {
            return Vec::new();
        };
        let (ids, outgoing): (Vec<_>, Vec<_>) = sends
            .into_iter()
            .map(|(id, s)| {
                let out = Outgoing {
                    to: s.to.0,
                    text: s.text,
                    client_id: s.client_id,
                };
                (id, out)
            })
            .unzip();
        let results = self.state.send_messages(me, outgoing).await;
        ids.into_iter()
            .zip(results)
            .filter_map(|(id, result)| {
                reply_to(id, result.map(|a| send_result(&a)).map_err(Into::into))
            })
            .collect()
    }

    async fn handle_decoded(&mut self, decoded: Result<Incoming, String>) -> Option<String> {
        match decoded {
            Err(reply) => Some(reply),
            Ok(Incoming::Single(item)) => self.handle_item(item).await,
            Ok(Incoming::Batch(items)) => {
                let mut replies = Vec::new();
                for item in items {
                    if let Some(r) = self.handle_item(item).await {
                        replies.push(r);
                    }
                }
                (!replies.is_empty()).then(|| native::encode_batch(&replies))
            }
        }
    }

    async fn handle_item(&mut self, item: Result<Request, (Value, RpcError)>) -> Option<String> {
        let req = match item {
            Ok(req) => req,
            Err((id, e)) => return Some(native::encode_error(&id, &e)),
        };
        let result = match native::parse_call(&req.method, req.params) {
            Ok(call) => self.dispatch(call).await,
            Err(e) => Err(e),
        };
        reply_to(req.id, result)
    }

    async fn dispatch(&mut self, call: Call) -> CallResult {
        if let Call::Auth { token } = &call {
            let verified = self.state.auth.check(token, now_ms()).await?;
            let user = self.authenticate(verified).await?;
            return Ok(native::to_result(&json!({ "user": user })));
        }
        if let Call::Ping = call {
            return Ok(native::to_result("pong"));
        }
        let Some(me) = self.user.clone() else {
            return Err(CoreError::unauthenticated("call `auth` first").into());
        };
        let st = &self.state;
        let v = match call {
            Call::Auth { .. } | Call::Ping => RawValue::NULL.to_owned(),
            Call::MeGet => native::to_result(&me),
            Call::MeUpdate(u) => {
                let user = st
                    .update_profile(me.id, u.display_name, u.avatar_url, u.status_text)
                    .await?;
                self.user = Some(user.clone());
                native::to_result(&user)
            }
            Call::UsersGet { user } => native::to_result(&st.user_by_address(&user.0).await?),
            Call::UsersSearch { query, limit } => {
                let max = st.settings.limits.search_max_limit;
                let limit = limit.unwrap_or(20.min(max));
                if limit == 0 || limit > max {
                    return Err(CoreError::invalid(format!("limit must be 1 to {max}")).into());
                }
                let query = validate::short_text("query", &query, 64)?;
                if query.is_empty() {
                    return Err(CoreError::invalid("query must not be empty").into());
                }
                let users = st
                    .store
                    .search_users(&query.to_lowercase(), limit)
                    .await
                    .map_err(|e| e.into_core())?;
                native::to_result(&users)
            }
            Call::RoomsCreate(r) => {
                let members: Vec<String> = r.members.into_iter().map(|a| a.0).collect();
                native::to_result(
                    &st.create_room(me.id, &r.name, &r.kind, &members, r.topic)
                        .await?,
                )
            }
            Call::RoomsDestroy { room } => native::to_result(
                &json!({ "destroyed": st.destroy_room(me.id, &room.0).await?.id }),
            ),
            Call::RoomsJoin { room } => native::to_result(&st.join_room(me.id, &room.0).await?),
            Call::RoomsLeave { room } => {
                native::to_result(&json!({ "left": st.leave_room(me.id, &room.0).await?.id }))
            }
            Call::RoomsAddMembers { room, members } => {
                let members: Vec<String> = members.into_iter().map(|a| a.0).collect();
                native::to_result(
                    &json!({ "added": st.add_members(me.id, &room.0, &members).await? }),
                )
            }
            Call::RoomsList => native::to_result(
                &st.store
                    .list_rooms(me.id)
                    .await
                    .map_err(|e| e.into_core())?,
            ),
            Call::RoomsMembers { room } => {
                let conv = st.room_by_address(&room.0).await?;
                st.require_member(&conv, me.id).await?;
                let members = st.store.members(conv.id).await.map_err(|e| e.into_core())?;
                let ids: Vec<UserId> = members.iter().map(|u| u.id).collect();
                let online = st.online(&ids).await;
                let entries: Vec<native::MemberEntry> = members
                    .into_iter()
                    .map(|u| native::MemberEntry {
                        online: online.contains(&u.id),
                        user: u,
                    })
                    .collect();
                native::to_result(&entries)
            }
            Call::MessagesSend(s) => {
                let a = st.send_message(&me, &s.to.0, s.text, s.client_id).await?;
                send_result(&a)
            }
            Call::MessagesHistory(h) => {
                let (messages, has_more) = st
                    .history(me.id, &h.conversation.0, h.before_seq, h.after_seq, h.limit)
                    .await?;
                native::to_result(&native::HistoryResult { messages, has_more })
            }
            Call::MessagesRead { conversation, seq } => {
                let (conv, last_read_seq, unread) =
                    st.mark_read(me.id, &conversation.0, seq).await?;
                native::to_result(&native::ReadResult {
                    conversation: conv.id,
                    last_read_seq,
                    unread,
                })
            }
            Call::ConversationsList => {
                native::to_result(&st.store.dialogs(me.id).await.map_err(|e| e.into_core())?)
            }
            Call::PresenceGet { users } => {
                let mut found = Vec::with_capacity(users.len());
                for addr in users.iter().take(500) {
                    found.push(st.user_by_address(&addr.0).await?);
                }
                let ids: Vec<UserId> = found.iter().map(|u| u.id).collect();
                let online = st.online(&ids).await;
                let out: Vec<native::PresenceEntry> = found
                    .into_iter()
                    .map(|u| native::PresenceEntry {
                        online: online.contains(&u.id),
                        user: u.id,
                        handle: u.handle,
                    })
                    .collect();
                native::to_result(&out)
            }
            Call::Typing { conversation } => {
                st.typing(&me, &conversation.0).await?;
                native::to_result(&json!({}))
            }
            Call::Sync { since, limit } => sync::sync(st, me.id, since.as_deref(), limit).await?,
        };
        Ok(v)
    }
}

#[async_trait::async_trait]
impl Protocol for Session {
    async fn open(&mut self) {
        if let Some(verified) = self.handshake.take()
            && let Err(e) = self.authenticate(verified).await
        {
            tracing::info!(error = %e, "could not start an authenticated session");
            self.link
                .control
                .close(CLOSE_POLICY, "authentication failed");
        }
    }

    async fn handle_text(&mut self, text: &str) -> Vec<String> {
        self.handle_frame(text).await.into_iter().collect()
    }

    async fn handle_texts(&mut self, texts: &[Utf8Bytes]) -> Vec<String> {
        self.handle_frames(texts).await
    }

    fn expires_in(&self) -> Option<std::time::Duration> {
        let left = self.expires_at? - now_ms();
        Some(std::time::Duration::from_millis(left.max(0) as u64))
    }

    async fn end(&mut self) {
        self.finish().await;
    }
}
