//! Palaver's domain core: ids, users, conversations, messages, membership rules and events.
//!
//! Nothing here does I/O, reads a clock or draws randomness: every decision is a function of
//! the state and the input it is given, so it cannot fail for environmental reasons and is
//! tested with plain unit tests.

pub mod address;
pub mod error;
pub mod event;
pub mod ids;
pub mod model;
pub mod policy;
pub mod presence;
pub mod recent;
pub mod validate;

pub use address::Target;
pub use error::{CoreError, ErrorKind};
pub use event::{Audience, Event, EventBody};
pub use ids::{ConversationId, MessageId, UserId};
pub use model::{Conversation, ConversationKind, Message, User};
