//! JSON-RPC error codes, and the one place domain errors map to them.

use palaver_core::{CoreError, ErrorKind};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    /// The stable application code put in `error.data.code`, when there is one.
    pub data_code: Option<&'static str>,
}

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
pub const UNAUTHENTICATED: i64 = -32001;
pub const FORBIDDEN: i64 = -32003;
pub const NOT_FOUND: i64 = -32004;
pub const CONFLICT: i64 = -32009;
pub const RESYNC_REQUIRED: i64 = -32010;
pub const UNAVAILABLE: i64 = -32013;
pub const RATE_LIMITED: i64 = -32029;

impl RpcError {
    fn new(code: i64, message: impl Into<String>, data_code: Option<&'static str>) -> Self {
        Self {
            code,
            message: message.into(),
            data_code,
        }
    }
    pub fn parse_error() -> Self {
        Self::new(PARSE_ERROR, "Parse error", None)
    }
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(
            INVALID_REQUEST,
            format!("Invalid Request: {}", detail.into()),
            None,
        )
    }
    pub fn method_not_found(method: &str) -> Self {
        let shown: String = method.chars().take(64).collect();
        Self::new(METHOD_NOT_FOUND, format!("Method not found: {shown}"), None)
    }
    pub fn invalid_params(detail: impl Into<String>) -> Self {
        Self::new(
            INVALID_PARAMS,
            format!("Invalid params: {}", detail.into()),
            Some("invalid_input"),
        )
    }
    pub fn resync_required() -> Self {
        Self::new(
            RESYNC_REQUIRED,
            "sync token too old or unknown: reload conversations and history, then sync without a token",
            Some("resync_required"),
        )
    }
}

impl From<CoreError> for RpcError {
    fn from(e: CoreError) -> Self {
        let code = match e.kind {
            ErrorKind::InvalidInput => INVALID_PARAMS,
            ErrorKind::Unauthenticated => UNAUTHENTICATED,
            ErrorKind::Forbidden => FORBIDDEN,
            ErrorKind::NotFound => NOT_FOUND,
            ErrorKind::Conflict => CONFLICT,
            ErrorKind::RateLimited => RATE_LIMITED,
            ErrorKind::Unavailable => UNAVAILABLE,
            ErrorKind::Internal => INTERNAL_ERROR,
        };
        Self::new(code, e.message, Some(e.kind.code()))
    }
}
