//! A messenger WebSocket: the cookie is checked before anything else, a refused connection is
//! opened and then closed with 1000 and the seed's JSON reason, and an accepted one is
//! registered for live events before its first frame is read (the seed dropped frames sent in
//! the first ~20 ms).

use super::{calls, cookie_token};
use crate::AppState;
use crate::auth::Verified;
use crate::clock::now_ms;
use crate::conn::{self, CLOSE_NORMAL, Link, Protocol};
use crate::hub::{ConnId, ConnInfo};
use crate::ws::{Socket, WsUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use palaver_core::User;
use palaver_proto::Dialect;
use palaver_proto::messenger::http::{CLOSE_NO_AUTH_JWT, CLOSE_UNSPECIFIED};
use palaver_proto::messenger::{self as wire};
use std::sync::Arc;
use std::time::Duration;

/// How long a refused connection waits for the client's close frame.
const REFUSE_LINGER: Duration = Duration::from_secs(1);

/// `GET <prefix>/api`.
pub async fn upgrade(
    st: Arc<AppState>,
    headers: HeaderMap,
    ws: WsUpgrade,
    prefix: String,
) -> Response {
    if st.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "server is shutting down").into_response();
    }
    let signed_in = match cookie_token(&headers) {
        None => Err(CLOSE_NO_AUTH_JWT),
        Some(token) => match st.auth.check(&token, now_ms()).await {
            Err(_) => Err(CLOSE_UNSPECIFIED),
            Ok(v) => match st.store.user(v.user).await {
                Ok(Some(user)) => Ok((v, user)),
                _ => Err(CLOSE_UNSPECIFIED),
            },
        },
    };
    let img_base = img_base(&st, &headers, &prefix);
    let tracker = st.tracker.clone();
    crate::http::configure(ws, &st.settings)
        .on_upgrade(move |socket| {
            let task = match signed_in {
                Err(reason) => Either::Left(refuse(socket, reason)),
                Ok((verified, me)) => {
                    let state = st.clone();
                    let make = move |link| {
                        Box::new(Session::new(state, link, verified, me, img_base))
                            as Box<dyn Protocol>
                    };
                    Either::Right(conn::run(socket, st, make))
                }
            };
            tracker.track_future(task)
        })
        .into_response()
}

/// Where this mount serves uploads, as the client reached it: avatar URLs point there.
fn img_base(st: &AppState, headers: &HeaderMap, prefix: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = if st.settings.auth.cookie_secure {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}{prefix}/img/")
}

/// Opens, then closes with 1000 and `reason`, as the seed does for a bad handshake.
async fn refuse(socket: Socket, reason: &'static str) {
    conn::refuse(socket, CLOSE_NORMAL, reason, REFUSE_LINGER).await;
}

/// One signed-in messenger connection.
pub struct Session {
    pub(super) state: Arc<AppState>,
    link: Link,
    verified: Verified,
    /// The user as signed in (id and handle never change).
    pub(super) me: User,
    conn: Option<ConnId>,
    /// `<scheme>://<host><prefix>/img/`, for the avatar URL of an uploaded `img`.
    pub(super) img_base: String,
}

impl Session {
    fn new(
        state: Arc<AppState>,
        link: Link,
        verified: Verified,
        me: User,
        img_base: String,
    ) -> Self {
        Self {
            state,
            link,
            verified,
            me,
            conn: None,
            img_base,
        }
    }
}

#[async_trait::async_trait]
impl Protocol for Session {
    async fn open(&mut self) {
        let info = ConnInfo {
            user: self.me.id,
            handle: self.me.handle.clone(),
            session: Some(self.verified.session.clone()),
            dialect: Dialect::Messenger,
            scope: None,
        };
        match self.state.attach(&self.link, info, &self.me).await {
            Ok(id) => self.conn = Some(id),
            Err(e) => {
                tracing::warn!(error = %e, "could not register a messenger connection");
                self.link.control.close(CLOSE_NORMAL, CLOSE_UNSPECIFIED);
            }
        }
    }

    async fn handle_text(&mut self, text: &str) -> Vec<String> {
        let reply = match wire::decode(text) {
            Err(reply) => reply,
            Ok(req) => match wire::parse_call(&req.method, &req.args) {
                Err(e) => wire::encode_error(&req.id, e),
                Ok(call) => match calls::run(self, call).await {
                    Ok(result) => wire::encode_raw_result(&req.id, &result),
                    Err(e) => wire::encode_error(&req.id, e),
                },
            },
        };
        vec![reply]
    }

    fn expires_in(&self) -> Option<Duration> {
        let left = self.verified.expires_at - now_ms();
        Some(Duration::from_millis(left.max(0) as u64))
    }

    async fn end(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.state.detach(conn, &self.me).await;
        }
    }
}
