//! `/signup`, `/login`, `/exit`, `/upload-image` and `/img/*` with the seed's bodies, statuses
//! and error names. The `auth` cookie holds an ordinary Palaver session token.

use super::{blocking, cookie_token};
use crate::AppState;
use crate::clock::now_ms;
use crate::conn::CLOSE_NORMAL;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use palaver_core::{ErrorKind, User, validate};
use palaver_proto::messenger::http::{self as wire, HttpError};
use palaver_proto::messenger::{DEFAULT_IMG, handle_of, is_upload_name, join_name, multipart};
use palaver_store::{Login, NewUser};
use rand::RngCore;
use std::path::PathBuf;
use std::sync::Arc;

fn respond(status: u16, content_type: &'static str, body: impl Into<Body>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

fn error(e: HttpError) -> Response {
    respond(e.status(), "application/json; charset=utf-8", e.body())
}

fn text(body: &'static str) -> Response {
    respond(200, "text/html; charset=utf-8", body)
}

fn with_cookie(mut resp: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// A new session for `user`, as the response that sets its cookie.
async fn signed_in(st: &AppState, user: &User, body: &'static str) -> Response {
    let now = now_ms();
    match st.auth.issue(user.id, now).await {
        Ok((token, _)) => with_cookie(
            text(body),
            wire::auth_cookie(&token, now, st.settings.auth.cookie_secure),
        ),
        Err(_) => error(HttpError::Unspecified),
    }
}

/// `POST /signup {"user":{tag,firstName,lastName,email,password}}`. The seed's rules apply
/// first, then Palaver's (handle 2-32 characters, password 8+): failing either is
/// `IncorrectDataError`.
pub async fn signup(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let body = wire::decode_body(content_type(&headers), &body)?;
        let s = wire::parse_signup(&body)?;
        let incorrect = |_| HttpError::IncorrectData;
        let handle = validate::handle(&handle_of(&s.tag)).map_err(incorrect)?;
        validate::password(&s.password).map_err(incorrect)?;
        let email = validate::email(&s.email).map_err(incorrect)?;
        let display_name =
            validate::display_name(&join_name(&s.first_name, &s.last_name)).map_err(incorrect)?;
        let password_hash = st
            .auth
            .hash(s.password)
            .await
            .map_err(|_| HttpError::Unspecified)?;
        let created = st
            .store
            .create_user(NewUser {
                handle,
                display_name,
                email: Some(email),
                password_hash,
                created_at: now_ms(),
            })
            .await;
        created.map_err(|e| match e.into_core().kind {
            ErrorKind::Conflict => HttpError::UserAlreadyExist,
            _ => HttpError::Unspecified,
        })
    }
    .await;
    match result {
        Ok(user) => signed_in(&st, &user, wire::SIGNUP_OK).await,
        Err(e) => error(e),
    }
}

/// `POST /login {"user":{email,password}}`.
pub async fn login(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let body = wire::decode_body(content_type(&headers), &body)?;
        let (email, password) = wire::parse_login(&body)?;
        let login = Login::Email(email.trim().to_lowercase());
        let creds = st
            .store
            .credentials(&login)
            .await
            .map_err(|_| HttpError::Unspecified)?;
        let stored = creds.as_ref().map(|c| c.password_hash.clone());
        if !st.auth.verify(password, stored).await {
            return Err(HttpError::Auth);
        }
        creds.map(|c| c.user).ok_or(HttpError::Auth)
    }
    .await;
    match result {
        Ok(user) => signed_in(&st, &user, wire::LOGIN_OK).await,
        Err(e) => error(e),
    }
}

/// `GET /exit`: clears the cookie and, unlike the seed, revokes its session (closing the
/// WebSockets opened with it, as the seed's client expects of a missing cookie).
pub async fn exit(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie_token(&headers)
        && let Ok(v) = st.auth.check(&token, now_ms()).await
    {
        if let Err(e) = st.auth.revoke(&v.session, now_ms()).await {
            tracing::warn!(error = %e, "could not revoke a messenger session");
        }
        st.hub
            .close_where(Some(&v.session), CLOSE_NORMAL, wire::CLOSE_NO_AUTH_JWT);
    }
    let resp = (StatusCode::OK, Body::empty()).into_response();
    with_cookie(resp, wire::clear_cookie())
}

fn upload_dir(st: &AppState) -> PathBuf {
    PathBuf::from(&st.settings.dialects.messenger_upload_dir)
}

fn random_name(ext: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.{ext}")
}

/// `POST /upload-image`, multipart with the file in field `image`.
pub async fn upload(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let headers = req.headers();
    let Some(token) = cookie_token(headers) else {
        return error(HttpError::NoAuthJwt);
    };
    let Ok(v) = st.auth.check(&token, now_ms()).await else {
        return error(HttpError::Unspecified);
    };
    let d = &st.settings.dialects;
    let limit = d.messenger_max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let boundary = content_type(headers).and_then(multipart::boundary);
    if !st
        .dialects
        .messenger
        .admit(v.user, now_ms(), d.messenger_uploads_per_minute)
    {
        return error(HttpError::FilesLimitExceeding);
    }
    let Ok(body) = axum::body::to_bytes(req.into_body(), limit).await else {
        return too_large();
    };
    let Some((filename, data)) = boundary.and_then(|b| multipart::file(&body, &b, "image")) else {
        return error(HttpError::Unspecified);
    };
    let name = random_name(&multipart::extension(&filename));
    let dir = upload_dir(&st);
    let (path, data) = (dir.join(&name), body.slice_ref(data));
    let stored = blocking(move || {
        std::fs::create_dir_all(path.parent().unwrap_or(&path))?;
        std::fs::write(&path, &data)
    })
    .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, dir = %dir.display(), "could not store a messenger upload");
        return error(HttpError::Unspecified);
    }
    respond(
        200,
        "application/json; charset=utf-8",
        wire::upload_body(&name),
    )
}

fn too_large() -> Response {
    let mut resp = respond(413, "text/plain; charset=utf-8", wire::TOO_LARGE);
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// `GET /img/<name>`: only names this dialect generates, from the upload directory, plus a
/// built-in `default.jpg`. Served so that a file can never act as a page of this origin.
pub async fn image(State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let (content_type, body) = if is_upload_name(&name) {
        let path = upload_dir(&st).join(&name);
        match blocking(move || std::fs::read(path)).await {
            Ok(bytes) => (wire::content_type_of(&name), Body::from(bytes)),
            Err(_) => return StatusCode::NOT_FOUND.into_response(),
        }
    } else if name == DEFAULT_IMG {
        ("image/svg+xml", Body::from(wire::DEFAULT_IMG_SVG))
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut resp = respond(200, content_type, body);
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}
