//! The `channels` dialect's connections: a Palaver user (token by `?token=`, `Authorization:
//! Bearer` or cookie) sending the README's commands and messages (docs/dialects.md).

use super::Mount;
use crate::AppState;
use crate::auth::Verified;
use crate::clock::now_ms;
use crate::conn::{self, Link, Protocol};
use crate::hub::{ConnId, ConnInfo};
use crate::ws::WsUpgrade;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use palaver_core::{CoreError, User};
use palaver_proto::Dialect;
use palaver_proto::channels::{self as wire, Action, Incoming};
use serde::Deserialize;
use std::sync::Arc;

/// The routes this dialect serves under `mount`.
pub fn routes(mount: &Mount) -> Router<Arc<AppState>> {
    Router::new().route(&mount.path(""), get(upgrade))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn upgrade(
    State(st): State<Arc<AppState>>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    ws: WsUpgrade,
) -> Response {
    let Some(token) = q
        .token
        .or_else(|| crate::http::token_from_headers(&headers))
    else {
        return crate::http::error(CoreError::unauthenticated("a Palaver token is required"));
    };
    let verified = match st.auth.check(&token, now_ms()).await {
        Ok(v) => v,
        Err(e) => return crate::http::error(e),
    };
    crate::http::configure(ws, &st.settings)
        .on_upgrade(move |socket| {
            let state = st.clone();
            let make =
                move |link| Box::new(Channels::new(state, link, verified)) as Box<dyn Protocol>;
            let tracker = st.tracker.clone();
            tracker.track_future(conn::run(socket, st, make))
        })
        .into_response()
}

struct Channels {
    state: Arc<AppState>,
    link: Link,
    verified: Verified,
    user: Option<User>,
    conn: Option<ConnId>,
}

impl Channels {
    fn new(state: Arc<AppState>, link: Link, verified: Verified) -> Self {
        Self {
            state,
            link,
            verified,
            user: None,
            conn: None,
        }
    }

    async fn attach(&mut self) -> Result<(), CoreError> {
        let st = &self.state;
        let user = st
            .store
            .user(self.verified.user)
            .await
            .map_err(|e| e.into_core())?
            .ok_or_else(|| CoreError::unauthenticated("invalid or expired token"))?;
        let info = ConnInfo {
            user: user.id,
            handle: user.handle.clone(),
            session: Some(self.verified.session.clone()),
            dialect: Dialect::Channels,
            scope: None,
        };
        self.conn = Some(st.attach(&self.link, info, &user).await?);
        self.user = Some(user);
        Ok(())
    }

    /// Runs one command or message. Success needs no reply: the events it causes come back.
    async fn run(&self, user: &User, incoming: Incoming) -> Result<(), (String, CoreError)> {
        let st = &self.state;
        match incoming {
            Incoming::Command { action, target } => {
                let result = match action {
                    Action::Create => st
                        .create_room(user.id, &target, "channel", &[], None)
                        .await
                        .map(drop),
                    Action::Destroy => st.destroy_room(user.id, &target).await.map(drop),
                    Action::Join => st.join_room(user.id, &target).await.map(drop),
                    Action::Leave => st.leave_room(user.id, &target).await.map(drop),
                };
                result.map_err(|e| (target, e))
            }
            Incoming::Message { target, message } => st
                .send_message(user, &target, message, None)
                .await
                .map(drop)
                .map_err(|e| (target, e)),
        }
    }
}

#[async_trait::async_trait]
impl Protocol for Channels {
    async fn open(&mut self) {
        if let Err(e) = self.attach().await {
            tracing::info!(error = %e, "channels connection could not sign in");
            self.link
                .control
                .close(conn::CLOSE_POLICY, "authentication failed");
        }
    }

    async fn handle_text(&mut self, text: &str) -> Vec<String> {
        let Some(user) = self.user.clone() else {
            return Vec::new();
        };
        let incoming = match wire::decode(text) {
            Ok(i) => i,
            Err(error_frame) => return vec![error_frame],
        };
        match self.run(&user, incoming).await {
            Ok(()) => Vec::new(),
            Err((target, e)) => vec![wire::error_frame(Some(&target), &e.message)],
        }
    }

    fn expires_in(&self) -> Option<std::time::Duration> {
        let left = self.verified.expires_at - now_ms();
        Some(std::time::Duration::from_millis(left.max(0) as u64))
    }

    async fn end(&mut self) {
        if let (Some(conn), Some(user)) = (self.conn.take(), self.user.as_ref()) {
            self.state.detach(conn, user).await;
        }
    }
}
