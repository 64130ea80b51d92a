//! Maps PostgreSQL and pool failures onto `StoreError`, through a crate-internal error that `?`
//! converts into.

use deadpool_postgres::PoolError;
use palaver_core::CoreError;
use palaver_store::StoreError;
use tokio_postgres::error::SqlState;

/// The crate's internal error: a `StoreError`, or a retry signal one operation handles itself.
#[derive(Debug)]
pub(crate) enum Error {
    Store(StoreError),
    /// A concurrent first attempt stored a message under the same `(sender, client_id)` while
    /// this one was in flight; `append_message` retries and returns the original.
    ClientIdTaken,
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
            && e.as_db_error().and_then(|d| d.constraint()) == Some("events_client_id")
        {
            return Self::ClientIdTaken;
        }
        Self::Store(map_pg(&e))
    }
}

impl From<PoolError> for Error {
    fn from(e: PoolError) -> Self {
        Self::Store(match e {
            PoolError::Backend(e) => map_pg(&e),
            PoolError::NoRuntimeSpecified => StoreError::Backend(e.to_string()),
            // Timeouts, a closed pool, a failing connection hook: nothing to do but retry.
            other => StoreError::Unavailable(other.to_string()),
        })
    }
}

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Self {
        Self::Store(StoreError::Domain(e))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Store(StoreError::Backend(format!("event body encoding: {e}")))
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(e) => e,
            Error::ClientIdTaken => {
                StoreError::Domain(CoreError::conflict("that client id was already used"))
            }
        }
    }
}

/// Connection trouble (refused, closed, the server shutting down or refusing connections,
/// deadlock and serialisation failures) is `Unavailable`: the caller may retry. A unique
/// violation is a conflict (the operations check the domain conflicts first and word them;
/// this is the safety net for races). Anything else is a backend failure.
pub(crate) fn map_pg(e: &tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // No server response: an I/O failure or a closed connection, or a client-side decoding
        // error, which is a bug rather than an outage.
        let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
        return if e.is_closed() || io {
            StoreError::Unavailable(describe(e))
        } else {
            StoreError::Backend(describe(e))
        };
    };
    let code = db.code();
    if *code == SqlState::UNIQUE_VIOLATION {
        return StoreError::Domain(CoreError::conflict(match db.constraint() {
            Some("users_handle_key") => "that handle is already taken",
            Some("users_email_key") => "that e-mail address is already registered",
            Some("conversations_live_name") => "a room with that name already exists",
            _ => "it already exists",
        }));
    }
    let transient = [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::QUERY_CANCELED,
    ];
    // Class 08: connection exceptions.
    if transient.contains(code) || code.code().starts_with("08") {
        StoreError::Unavailable(describe(e))
    } else {
        StoreError::Backend(describe(e))
    }
}

/// The error with its causes: tokio-postgres's own text is only the kind ("db error").
fn describe(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
