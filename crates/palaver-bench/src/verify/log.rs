//! The record of a run: what the simulated users sent, were told and received. Filled in by
//! the users, judged by `check`.

use std::collections::HashMap;

/// A user by index (0..users) in the run, not by server id.
pub type UserIx = usize;

/// The reply to one `messages.send`.
#[derive(Clone, Debug)]
pub struct Ack {
    pub user: UserIx,
    pub client_id: String,
    pub conversation: i64,
    pub id: i64,
    pub seq: i64,
    pub duplicate: bool,
    /// The peer of a direct conversation (sent to `@handle`); `None` for a channel.
    pub peer: Option<UserIx>,
    /// Sent again on purpose after an earlier ack: the server must say `duplicate: true`.
    pub repeat_of_acked: bool,
}

/// How a message reached a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A live `message` notification on the user's n-th connection.
    Live(u32),
    /// A `sync` event of the user's n-th token chain. Chain 0 starts from a token taken before
    /// the first message of the run; a later chain starts after a `resync_required`.
    Sync(u32),
    /// `messages.history`, read after a `resync_required`.
    History,
}

/// One message as one user received it.
#[derive(Clone, Copy, Debug)]
pub struct Delivery {
    pub id: i64,
    pub conversation: i64,
    pub seq: i64,
    pub via: Via,
}

/// One row of a user's final `conversations.list`.
#[derive(Clone, Copy, Debug)]
pub struct Dialog {
    pub conversation: i64,
    pub last_seq: i64,
    pub last_read_seq: i64,
    pub unread: i64,
}

/// Everything the run observed.
#[derive(Clone, Debug, Default)]
pub struct Log {
    pub users: usize,
    /// Channels every user joined before the first message.
    pub channels: Vec<i64>,
    pub acks: Vec<Ack>,
    /// Per user, in arrival order.
    pub deliveries: Vec<Vec<Delivery>>,
    /// Per user: the highest `last_read_seq` that `messages.read` returned, by conversation.
    pub read_replies: Vec<HashMap<i64, i64>>,
    /// Per user: the final `conversations.list`; `None` if it could not be fetched.
    pub dialogs: Vec<Option<Vec<Dialog>>>,
    /// The stored log by conversation (`messages.history` at the end): `(id, seq)` in order.
    pub history: HashMap<i64, Vec<(i64, i64)>>,
    /// Sends never acknowledged: `(user, client_id)`.
    pub unacked: Vec<(UserIx, String)>,
    /// Unexpected errors (a refused call, a user that gave up).
    pub errors: Vec<String>,
    /// Protocol deviations that cost a client work but lose nothing: `(kind, example)`.
    pub warnings: Vec<(&'static str, String)>,
}
