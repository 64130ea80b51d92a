//! The storage seam: `trait Store`, its error type, and (feature `testkit`) the conformance
//! suite every backend runs.
//!
//! The store is the source of truth. It assigns every durable event a position `pos` in one
//! deployment-wide stream and every message a gap-free per-conversation `seq`, both inside the
//! transaction that stores them. A method that returns has committed.

pub mod dump;
mod error;
mod types;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use dump::{Dump, EventPages, TableCounts};
pub use error::StoreError;
pub use types::*;

use async_trait::async_trait;
use palaver_core::{Conversation, ConversationId, Event, Message, User, UserId};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- deployment ------------------------------------------------------------------------
    /// A random id fixed when the database was created; sync tokens of another epoch are void.
    async fn epoch(&self) -> Result<String>;
    /// The newest durable event position (0 for an empty store).
    async fn head(&self) -> Result<i64>;
    /// Returns the secret stored under `name`, storing `candidate` first if there is none.
    async fn secret(&self, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>>;

    // --- accounts ----------------------------------------------------------------------------
    /// Creates a user. `Conflict` if the handle or e-mail is taken.
    async fn create_user(&self, user: NewUser) -> Result<User>;
    /// The user and password hash for a login by handle or e-mail.
    async fn credentials(&self, login: &Login) -> Result<Option<Credentials>>;
    async fn set_password_hash(&self, user: UserId, hash: String) -> Result<()>;
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    async fn user_by_handle(&self, handle: &str) -> Result<Option<User>>;
    /// Users whose handle or display name contains `query` (case-insensitive), by handle.
    async fn search_users(&self, query: &str, limit: u32) -> Result<Vec<User>>;
    /// Applies a profile change and records a `UserUpdated` event.
    async fn update_profile(&self, user: UserId, patch: ProfilePatch, ts: i64) -> Result<Event>;

    async fn create_session(&self, session: NewSession) -> Result<()>;
    /// True when the session exists, is not revoked and has not expired at `now`.
    async fn session_active(&self, id: &str, now: i64) -> Result<bool>;
    async fn revoke_session(&self, id: &str, now: i64) -> Result<()>;

    /// Stores a session key by its hash. `NotFound` if the user or conversation does not
    /// exist, `Conflict` if the hash is already stored.
    async fn create_session_key(&self, key: NewSessionKey) -> Result<()>;
    /// The user and conversation of a session key that exists and is not revoked.
    async fn session_key(&self, hash: &str) -> Result<Option<(UserId, ConversationId)>>;
    /// Revokes a session key; false if there was no such key or it was already revoked.
    async fn revoke_session_key(&self, hash: &str, now: i64) -> Result<bool>;

    // --- rooms and membership ----------------------------------------------------------------
    /// Creates a channel or group owned by `owner`, with `owner` and `members` as members.
    /// Returns `RoomCreated` then one `MemberJoined` per added member other than the owner.
    /// `Conflict` if a live room has that name; `NotFound` if a member does not exist.
    async fn create_room(&self, room: NewRoom) -> Result<(Conversation, Vec<Event>)>;
    /// Marks a room destroyed, ends every membership, records `RoomDestroyed`.
    async fn destroy_room(&self, id: ConversationId, by: UserId, ts: i64) -> Result<Event>;
    /// Adds members; returns one `MemberJoined` per user who was not already a member.
    async fn add_members(
        &self,
        id: ConversationId,
        users: &[UserId],
        ts: i64,
    ) -> Result<Vec<Event>>;
    /// Removes a member; `None` if they were not one.
    async fn remove_member(
        &self,
        id: ConversationId,
        user: UserId,
        ts: i64,
    ) -> Result<Option<Event>>;
    /// A live (not destroyed) conversation by id.
    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>>;
    /// A live room by its lower-case name.
    async fn room_by_name(&self, name: &str) -> Result<Option<Conversation>>;
    /// The direct conversation between two users, if they have one.
    async fn find_direct_conversation(&self, a: UserId, b: UserId) -> Result<Option<Conversation>>;
    /// The direct conversation between two users, created (with both as members) if absent.
    async fn direct_conversation(&self, a: UserId, b: UserId, ts: i64) -> Result<Conversation>;
    async fn is_member(&self, id: ConversationId, user: UserId) -> Result<bool>;
    async fn members(&self, id: ConversationId) -> Result<Vec<User>>;
    /// Ids of the live conversations `user` is a member of.
    async fn conversation_ids(&self, user: UserId) -> Result<Vec<ConversationId>>;
    /// The live conversations `user` is a member of, by id, each with its newest `seq` (its
    /// `last_seq`: where live delivery to a newly connected user starts) and member count.
    async fn conversation_heads(&self, user: UserId) -> Result<Vec<Head>>;
    /// Every channel, plus the groups `user` belongs to.
    async fn list_rooms(&self, user: UserId) -> Result<Vec<RoomListing>>;
    /// The user's conversations, most recent activity first (the dialog list).
    async fn dialogs(&self, user: UserId) -> Result<Vec<Dialog>>;

    // --- messages ----------------------------------------------------------------------------
    /// Stores a message from a member, assigning the next `seq`, and moves the sender's read
    /// marker to it. With a `client_id` the sender already used, stores nothing and returns
    /// the first message with `duplicate: true`. `Forbidden` if the sender is not a member.
    async fn append_message(&self, message: NewMessage) -> Result<Appended>;
    /// Appends several messages as `append_message` would, one after another in the order
    /// given (so one sender's messages to a conversation keep their order), each with its
    /// own outcome. A backend may commit them together; none is reported before it is
    /// durable.
    async fn append_messages(&self, messages: Vec<NewMessage>) -> Vec<Result<Appended>> {
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            out.push(self.append_message(m).await);
        }
        out
    }
    /// Messages in ascending `seq`; see [`HistoryQuery`] for the window.
    async fn history(&self, query: HistoryQuery) -> Result<Vec<Message>>;
    /// Moves the read marker forward (never back, never past the newest message).
    /// `None` when it did not move.
    async fn mark_read(
        &self,
        id: ConversationId,
        user: UserId,
        seq: i64,
        ts: i64,
    ) -> Result<Option<Event>>;

    // --- sync ----------------------------------------------------------------------------------
    /// Durable events after `since` that `user` may see, in `pos` order: events of
    /// conversations while the user was a member, and profile changes of the user and of
    /// users sharing a conversation with them.
    async fn events_since(&self, user: UserId, since: i64, limit: u32) -> Result<Vec<Event>>;
    /// How many such events there are after `since`, counting at most `cap`.
    async fn count_events_since(&self, user: UserId, since: i64, cap: u32) -> Result<u32>;

    // --- presence across nodes -------------------------------------------------------------
    /// Creates or renews `node`'s lease until `expires_at` (ms). A node whose lease lapses is
    /// presumed dead and its users offline.
    async fn renew_lease(&self, node: &str, expires_at: i64) -> Result<()>;
    /// Records that `user` has (`online`) or no longer has connections on `node`.
    async fn set_presence(&self, node: &str, user: UserId, online: bool) -> Result<()>;
    /// Which of `users` have connections on a node whose lease is live at `now`.
    async fn online_users(&self, users: &[UserId], now: i64) -> Result<Vec<UserId>>;
    /// Removes every node whose lease lapsed before `now`, with its presence, and returns the
    /// users that left offline everywhere. Concurrent callers each get a disjoint share, so
    /// every such user is returned exactly once.
    async fn reap_expired_nodes(&self, now: i64) -> Result<Vec<UserId>>;
}
