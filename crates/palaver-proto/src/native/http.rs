//! The account API over HTTP: request bodies, response bodies, and the one mapping of domain
//! errors to HTTP statuses and `{"error":{"code","message"}}` bodies.

use palaver_core::{CoreError, ErrorKind, User};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct SignupRequest {
    pub handle: String,
    pub password: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    pub handle: Option<String>,
    pub email: Option<String>,
    pub password: String,
}

#[derive(Debug, Serialize)]
pub struct AuthResponse<'a> {
    pub user: &'a User,
    pub token: &'a str,
}

/// Decodes a JSON body, or says what is wrong with it.
pub fn decode_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, CoreError> {
    serde_json::from_slice(body).map_err(|e| CoreError::invalid(format!("invalid JSON body: {e}")))
}

/// The HTTP status for a domain error.
pub fn status_of(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::InvalidInput => 400,
        ErrorKind::Unauthenticated => 401,
        ErrorKind::Forbidden => 403,
        ErrorKind::NotFound => 404,
        ErrorKind::Conflict => 409,
        ErrorKind::RateLimited => 429,
        ErrorKind::Unavailable => 503,
        ErrorKind::Internal => 500,
    }
}

/// The JSON body of an error response.
pub fn error_body(e: &CoreError) -> String {
    serde_json::json!({ "error": { "code": e.kind.code(), "message": e.message } }).to_string()
}

/// Serialises a success body.
pub fn body<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}
