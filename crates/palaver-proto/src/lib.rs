//! Every wire format Palaver speaks. Only this crate knows what bytes look like on the wire:
//! a protocol adapter decodes a frame into a typed call and encodes results and core events
//! into frames. The server never builds wire JSON itself.

pub mod authorize_hook;
pub mod channels;
pub mod chat_client;
pub mod dialect;
pub mod messenger;
pub mod native;
pub mod path_rooms;
pub mod session_key;

pub use dialect::{Dialect, EventContext, Recipient};
