//! A Rust client of Palaver's native protocol: account calls over HTTP and JSON-RPC 2.0 over
//! WebSocket. Used by the end-to-end tests and the load generator, so it favours plain,
//! predictable behaviour over cleverness: one reader task per connection, everything else
//! happens in the caller's task.

pub mod error;
pub mod http;
pub mod ws;

pub use error::{ClientError, CloseInfo};
pub use ws::{Client, Notification, RawFrame};
