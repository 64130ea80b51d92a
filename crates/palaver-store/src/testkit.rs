//! The conformance suite every `Store` backend runs (feature `testkit`).
//!
//! Each `pub async fn` takes a fresh, empty store and checks one area of the contract the way a
//! user of the trait would observe it. A backend runs them all with
//! [`store_conformance_tests!`](crate::store_conformance_tests), giving it an async expression
//! that yields a fresh `Arc<dyn Store>`; the calling crate needs `tokio` with `macros` and
//! `rt-multi-thread`.

use crate::{
    Appended, Head, HistoryQuery, Login, NewMessage, NewRoom, NewSession, NewUser, ProfilePatch,
    Store, StoreError,
};
use palaver_core::{
    Conversation, ConversationId, ConversationKind, ErrorKind, Event, EventBody, User, UserId,
};
use std::sync::Arc;

mod accounts;
mod messages;
mod presence;
mod rooms;
mod session_keys;
mod sync;

pub use accounts::*;
pub use messages::*;
pub use presence::*;
pub use rooms::*;
pub use session_keys::*;
pub use sync::*;

/// Defines one `#[tokio::test]` per conformance check, each on a store from `$fresh.await`.
#[macro_export]
macro_rules! store_conformance_tests {
    ($fresh:expr) => {
        $crate::__store_conformance_tests!($fresh;
            accounts_signup_conflicts, accounts_credentials, sessions_lifecycle,
            deployment_epoch_head_secret, rooms_create_conflict_destroy_reuse,
            rooms_unknown_member, membership_join_leave, room_listings, direct_get_or_create,
            messages_seq, messages_idempotent, messages_refused, messages_appended_together,
            history_windows,
            mark_read_forward_only, dialogs_order_and_unread, sync_membership_windows,
            sync_counting, profile_updates, search, concurrent_appends_gap_free,
            session_keys_lifecycle, presence_leases,
            presence_reaping_is_exactly_once_under_concurrency,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    ($fresh:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store: ::std::sync::Arc<dyn $crate::Store> = $fresh.await;
                $crate::testkit::$name(store).await;
            }
        )*
    };
}

// --- helpers ---------------------------------------------------------------------------------

/// The domain error kind of a failed call; panics on success or on a backend failure.
pub fn kind<T: std::fmt::Debug>(r: Result<T, StoreError>) -> ErrorKind {
    match r {
        Err(StoreError::Domain(e)) => e.kind,
        other => panic!("expected a domain error, got {other:?}"),
    }
}

/// Signs up `handle` with e-mail `handle@example.org` and display name `Handle`.
pub async fn signup(store: &dyn Store, handle: &str) -> User {
    let mut display = handle.to_owned();
    if let Some(first) = display.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    store
        .create_user(NewUser {
            handle: handle.into(),
            display_name: display,
            email: Some(format!("{handle}@example.org")),
            password_hash: format!("hash-of-{handle}"),
            created_at: 1,
        })
        .await
        .expect("signup")
}

pub async fn room(
    store: &dyn Store,
    owner: &User,
    name: &str,
    kind: ConversationKind,
    members: &[&User],
) -> (Conversation, Vec<Event>) {
    store
        .create_room(NewRoom {
            name: name.into(),
            kind,
            topic: None,
            owner: owner.id,
            members: members.iter().map(|u| u.id).collect(),
            ts: 2,
        })
        .await
        .expect("create_room")
}

pub async fn send_at(
    store: &dyn Store,
    c: ConversationId,
    from: &User,
    text: &str,
    ts: i64,
) -> Appended {
    store
        .append_message(NewMessage {
            conversation: c,
            sender: from.id,
            text: text.into(),
            client_id: None,
            ts,
        })
        .await
        .expect("append_message")
}

pub async fn send(store: &dyn Store, c: ConversationId, from: &User, text: &str) -> Appended {
    send_at(store, c, from, text, 10).await
}

/// A short description of an event for comparing streams: `message:alice:hi`,
/// `joined:bob`, `left:bob`, `created:main`, `destroyed:main`, `read:bob:3`, `user:alice`.
pub fn tag(e: &Event) -> String {
    match &e.body {
        EventBody::Message(m) => format!("message:{}:{}", m.sender_handle, m.text),
        EventBody::MemberJoined { handle, .. } => format!("joined:{handle}"),
        EventBody::MemberLeft { handle, .. } => format!("left:{handle}"),
        EventBody::RoomCreated { room } => {
            format!("created:{}", room.name.as_deref().unwrap_or(""))
        }
        EventBody::RoomDestroyed { name, .. } => {
            format!("destroyed:{}", name.as_deref().unwrap_or(""))
        }
        EventBody::Read { user, seq, .. } => format!("read:{user}:{seq}"),
        EventBody::UserUpdated { user, .. } => format!("user:{}", user.handle),
        other => format!("ephemeral:{}", other.name()),
    }
}

pub fn tags(events: &[Event]) -> Vec<String> {
    events.iter().map(tag).collect()
}

pub(crate) async fn since(store: &dyn Store, user: &User, pos: i64) -> Vec<String> {
    tags(
        &store
            .events_since(user.id, pos, 1000)
            .await
            .expect("events_since"),
    )
}

pub(crate) fn assert_ascending(events: &[Event]) {
    let pos: Vec<i64> = events
        .iter()
        .map(|e| e.pos.expect("durable events carry pos"))
        .collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "positions not ascending: {pos:?}"
    );
}

pub(crate) async fn seqs(store: &dyn Store, q: HistoryQuery) -> Vec<i64> {
    store
        .history(q)
        .await
        .expect("history")
        .iter()
        .map(|m| m.seq)
        .collect()
}

/// The texts of a conversation's first messages, oldest first.
pub(crate) async fn texts(store: &dyn Store, c: ConversationId) -> Vec<String> {
    store
        .history(window(c, None, None, 10))
        .await
        .expect("history")
        .into_iter()
        .map(|m| m.text)
        .collect()
}

pub(crate) fn window(
    c: ConversationId,
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    limit: u32,
) -> HistoryQuery {
    HistoryQuery {
        conversation: c,
        before_seq,
        after_seq,
        limit,
    }
}
