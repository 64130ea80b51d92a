//! Maps SQLite failures onto `StoreError`, through a crate-internal wrapper that `?` converts into.

use palaver_core::CoreError;
use palaver_store::StoreError;
use rusqlite::{ErrorCode, ffi};

/// The crate's internal error: a `StoreError` that every failure source converts into, so the
/// operations can use `?` on rusqlite, serde and domain errors alike.
#[derive(Debug)]
pub(crate) struct Error(pub(crate) StoreError);

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self(map_sqlite(e))
    }
}

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Self {
        Self(StoreError::Domain(e))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self(StoreError::Backend(format!("event body encoding: {e}")))
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        e.0
    }
}

/// Busy, locked and I/O trouble may pass, so it is `Unavailable`; a UNIQUE violation is a
/// conflict (the operations check the domain conflicts first and word them better; this is
/// the safety net); anything else is a backend failure.
pub(crate) fn map_sqlite(e: rusqlite::Error) -> StoreError {
    let Some(code) = e.sqlite_error() else {
        return StoreError::Backend(e.to_string());
    };
    match code.code {
        ErrorCode::DatabaseBusy
        | ErrorCode::DatabaseLocked
        | ErrorCode::SystemIoFailure
        | ErrorCode::CannotOpen
        | ErrorCode::DiskFull
        | ErrorCode::FileLockingProtocolFailed
        | ErrorCode::OutOfMemory => StoreError::Unavailable(e.to_string()),
        ErrorCode::ConstraintViolation if code.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE => {
            StoreError::Domain(CoreError::conflict("it already exists"))
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

/// A copy of an error, for telling every job of a failed batch the same thing.
pub(crate) fn duplicate(e: &StoreError) -> StoreError {
    match e {
        StoreError::Domain(d) => StoreError::Domain(d.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Backend(m) => StoreError::Backend(m.clone()),
    }
}
