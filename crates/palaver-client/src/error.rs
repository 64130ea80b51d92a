//! The errors of the client: transport failures, refused upgrades, JSON-RPC errors, timeouts.

use serde_json::Value;
use std::fmt;
use thiserror::Error;

/// The code and reason of a WebSocket close frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    pub code: u16,
    pub reason: String,
}

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.code, self.reason)
    }
}

#[derive(Debug, Error)]
pub enum ClientError {
    /// The server answered a call with a JSON-RPC error object.
    #[error("rpc error {code}: {message}")]
    Rpc {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// The WebSocket upgrade was refused with a plain HTTP response (e.g. 401 for a bad token).
    #[error("websocket upgrade refused with HTTP {status}")]
    Rejected { status: u16, body: Option<String> },
    /// The connection was closed (with the close frame, if one came) before the awaited frame.
    #[error("connection closed: {}", .0.as_ref().map_or_else(|| "without a close frame".to_owned(), ToString::to_string))]
    Closed(Option<CloseInfo>),
    /// Nothing matching arrived in time.
    #[error("timed out")]
    Timeout,
    /// The server sent something that does not follow the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("invalid url: {0}")]
    Url(String),
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl ClientError {
    /// The JSON-RPC error code, if this is a JSON-RPC error.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            Self::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// `error.data.code` (the stable string code), if this is a JSON-RPC error that has one.
    pub fn data_code(&self) -> Option<&str> {
        match self {
            Self::Rpc { data: Some(d), .. } => d.get("code").and_then(Value::as_str),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
