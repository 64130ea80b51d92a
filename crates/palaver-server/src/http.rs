//! The HTTP edge: health check, account endpoints, and the WebSocket upgrade.

use crate::AppState;
use crate::auth::Verified;
use crate::clock::now_ms;
use crate::conn::{self, CLOSE_POLICY, Protocol};
use crate::rpc::Session;
use crate::ws::WsUpgrade;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use palaver_core::{CoreError, User, validate};
use palaver_proto::native::http::{self as wire, AuthResponse, LoginRequest, SignupRequest};
use palaver_store::{Login, NewUser};
use serde::Deserialize;
use std::sync::Arc;

pub const COOKIE_NAME: &str = "palaver_token";

fn json(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(crate) fn error(e: CoreError) -> Response {
    json(wire::status_of(e.kind), wire::error_body(&e))
}

fn with_cookie(mut resp: Response, value: &str, max_age: i64, secure: bool) -> Response {
    let secure = if secure { "; Secure" } else { "" };
    let cookie =
        format!("{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The answer to a signup or login: the user and token, and the token as the session cookie.
fn signed_in(st: &AppState, status: u16, result: Result<(User, String), CoreError>) -> Response {
    match result {
        Ok((user, token)) => {
            let resp = json(
                status,
                wire::body(&AuthResponse {
                    user: &user,
                    token: &token,
                }),
            );
            with_cookie(
                resp,
                &token,
                st.auth.ttl_secs(),
                st.settings.auth.cookie_secure,
            )
        }
        Err(e) => error(e),
    }
}

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn signup(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let result = async {
        let req: SignupRequest = wire::decode_body(&body)?;
        let handle = validate::handle(req.handle.strip_prefix('@').unwrap_or(&req.handle))?;
        validate::password(&req.password)?;
        let display_name = match &req.display_name {
            Some(d) => validate::display_name(d)?,
            None => handle.clone(),
        };
        let email = req.email.as_deref().map(validate::email).transpose()?;
        let password_hash = st.auth.hash(req.password).await?;
        let user = st
            .store
            .create_user(NewUser {
                handle,
                display_name,
                email,
                password_hash,
                created_at: now_ms(),
            })
            .await
            .map_err(|e| e.into_core())?;
        let (token, _) = st.auth.issue(user.id, now_ms()).await?;
        Ok::<_, CoreError>((user, token))
    }
    .await;
    signed_in(&st, 201, result)
}

pub async fn login(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let result = async {
        let req: LoginRequest = wire::decode_body(&body)?;
        let login = match (&req.handle, &req.email) {
            (Some(h), None) => Login::Handle(h.strip_prefix('@').unwrap_or(h).to_ascii_lowercase()),
            (None, Some(e)) => Login::Email(e.trim().to_ascii_lowercase()),
            _ => return Err(CoreError::invalid("give either handle or email")),
        };
        let creds = st
            .store
            .credentials(&login)
            .await
            .map_err(|e| e.into_core())?;
        let stored = creds.as_ref().map(|c| c.password_hash.clone());
        if !st.auth.verify(req.password, stored).await {
            return Err(CoreError::unauthenticated(
                "wrong handle, e-mail or password",
            ));
        }
        let user = creds.map(|c| c.user).ok_or_else(CoreError::internal)?;
        let (token, _) = st.auth.issue(user.id, now_ms()).await?;
        Ok((user, token))
    }
    .await;
    signed_in(&st, 200, result)
}

pub async fn logout(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(token) = token_from_headers(&headers) else {
        return error(CoreError::unauthenticated("no token given"));
    };
    let result = async {
        let v = st.auth.check(&token, now_ms()).await?;
        st.auth.revoke(&v.session, now_ms()).await?;
        st.hub
            .close_where(Some(&v.session), CLOSE_POLICY, "session revoked");
        Ok::<_, CoreError>(())
    }
    .await;
    match result {
        Ok(()) => with_cookie(
            json(200, "{}".into()),
            "",
            0,
            st.settings.auth.cookie_secure,
        ),
        Err(e) => error(e),
    }
}

/// A browser upgrade authenticated by the cookie must come from this server's own origin or
/// one configured in `ws.allowed_origins` (cross-site WebSocket hijacking). Clients that send
/// no `Origin` are not browsers and are let through.
pub(crate) fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), CoreError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let same = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| !host.is_empty() && rest.eq_ignore_ascii_case(host));
    if same || allowed.iter().any(|a| a == origin) {
        return Ok(());
    }
    Err(CoreError::forbidden(
        "this origin may not open a WebSocket with the session cookie",
    ))
}

/// A token from `Authorization: Bearer` or the session cookie.
pub(crate) fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE_NAME && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

#[derive(Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

pub async fn ws(
    State(st): State<Arc<AppState>>,
    Query(q): Query<WsQuery>,
    headers: HeaderMap,
    upgrade: WsUpgrade,
) -> Response {
    if st.shutdown.is_cancelled() {
        return error(CoreError::unavailable("server is shutting down"));
    }
    // Only the cookie is sent by a browser on its own: check where such an upgrade comes from.
    let by_cookie = q.token.is_none() && !headers.contains_key(header::AUTHORIZATION);
    let token = q.token.or_else(|| token_from_headers(&headers));
    if token.is_some()
        && by_cookie
        && let Err(e) = check_origin(&headers, &st.settings.ws.allowed_origins)
    {
        return error(e);
    }
    let verified: Option<Verified> = match token {
        Some(t) => match st.auth.check(&t, now_ms()).await {
            Ok(v) => Some(v),
            Err(e) => return error(e),
        },
        None => None,
    };
    let state = st.clone();
    let tracker = st.tracker.clone();
    configure(upgrade, &st.settings).on_upgrade(move |socket| {
        let st = state.clone();
        let make = move |link| Box::new(Session::new(st, link, verified)) as Box<dyn Protocol>;
        tracker.track_future(conn::run(socket, state, make))
    })
}

/// The WebSocket limits every protocol's upgrade applies.
pub(crate) fn configure(upgrade: WsUpgrade, settings: &crate::Settings) -> WsUpgrade {
    upgrade
        .max_message_size(settings.limits.max_frame_bytes)
        .read_buffer_size(settings.ws.read_buffer_bytes)
}
