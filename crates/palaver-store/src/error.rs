//! The store's error type: domain refusals detected inside a transaction, or backend trouble.

use palaver_core::CoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A rule the transaction enforces (conflict, not found, not a member).
    #[error(transparent)]
    Domain(#[from] CoreError),
    /// The backend cannot be reached right now; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else the backend reported. Logged, never shown to clients.
    #[error("store failure: {0}")]
    Backend(String),
}

impl StoreError {
    /// The domain error a client should see.
    pub fn into_core(self) -> CoreError {
        match self {
            Self::Domain(e) => e,
            Self::Unavailable(_) => CoreError::unavailable("storage is unavailable, retry later"),
            Self::Backend(_) => CoreError::internal(),
        }
    }
}
