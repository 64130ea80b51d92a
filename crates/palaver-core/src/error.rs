//! The domain's failure kinds. Each has a stable code that every wire format maps in one place.

use thiserror::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input does not satisfy the documented rules (bad handle, empty text, ...).
    InvalidInput,
    /// The caller is not signed in, or its credentials are wrong or revoked.
    Unauthenticated,
    /// The caller is signed in but may not do this.
    Forbidden,
    /// The thing named does not exist (or the caller may not know it exists).
    NotFound,
    /// The thing being created already exists.
    Conflict,
    /// Too many requests; try later.
    RateLimited,
    /// A backend (database, bus) is down; the call may be retried.
    Unavailable,
    /// A bug or an unexpected backend failure; details are logged, not sent.
    Internal,
}

impl ErrorKind {
    /// The stable string code clients see.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// A domain error: a kind plus a human sentence safe to show to the caller.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct CoreError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CoreError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    pub fn internal() -> Self {
        Self::new(ErrorKind::Internal, "internal error")
    }
}
