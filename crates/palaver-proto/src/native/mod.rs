//! The native protocol: JSON-RPC 2.0 over WebSocket text frames (see `docs/protocol.md`).

mod calls;
mod envelope;
mod errors;
pub mod http;
mod replies;

pub use calls::*;
pub use envelope::*;
pub use errors::*;
pub use replies::*;
