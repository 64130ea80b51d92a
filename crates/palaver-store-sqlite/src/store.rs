//! `impl Store for SqliteStore`: writes go to the writer thread, reads to the read pool.

use crate::writer::WriterState;
use crate::{SqliteStore, accounts, messages, presence, reads, rooms, rows, schema, sync};
use async_trait::async_trait;
use palaver_core::{Conversation, ConversationId, Event, Message, User, UserId};
use palaver_store::{
    Appended, Credentials, Dialog, Head, HistoryQuery, Login, NewMessage, NewRoom, NewSession,
    NewSessionKey, NewUser, ProfilePatch, Result, RoomListing, Store,
};

/// Runs a write operation on the writer thread, converting the crate error at the boundary.
macro_rules! write {
    ($store:expr, |$conn:ident, $state:ident| $body:expr) => {
        $store
            .writer
            .run(move |$conn, $state| $body.map_err(Into::into))
            .await
    };
}

/// A point read: runs in place when a read connection is idle.
macro_rules! read {
    ($store:expr, |$conn:ident| $body:expr) => {
        $store.readers.run(move |$conn| $body).await
    };
}

/// A read whose size the caller picks: always on a blocking thread.
macro_rules! scan {
    ($store:expr, |$conn:ident| $body:expr) => {
        $store.readers.run_blocking(move |$conn| $body).await
    };
}

#[async_trait]
impl Store for SqliteStore {
    async fn epoch(&self) -> Result<String> {
        Ok(self.epoch.clone())
    }

    async fn head(&self) -> Result<i64> {
        // What readers can see, not the writer's counter: that is updated only after COMMIT
        // returns, so a reader may already see events past it (and sync tokens name them).
        read!(self, |c| schema::head(c))
    }

    async fn secret(&self, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>> {
        let name = name.to_owned();
        write!(self, |c, _s| accounts::secret(c, &name, candidate))
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        write!(self, |c, _s| accounts::create_user(c, user))
    }

    async fn credentials(&self, login: &Login) -> Result<Option<Credentials>> {
        let login = login.clone();
        read!(self, |c| reads::credentials(c, &login))
    }

    async fn set_password_hash(&self, user: UserId, hash: String) -> Result<()> {
        write!(self, |c, _s| accounts::set_password_hash(c, user, &hash))
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        read!(self, |c| rows::user_by_id(c, id))
    }

    async fn user_by_handle(&self, handle: &str) -> Result<Option<User>> {
        let handle = handle.to_owned();
        read!(self, |c| reads::user_by_handle(c, &handle))
    }

    async fn search_users(&self, query: &str, limit: u32) -> Result<Vec<User>> {
        let query = query.to_owned();
        scan!(self, |c| reads::search_users(c, &query, limit))
    }

    async fn update_profile(&self, user: UserId, patch: ProfilePatch, ts: i64) -> Result<Event> {
        write!(self, |c, s| accounts::update_profile(c, s, user, patch, ts))
    }

    async fn create_session(&self, session: NewSession) -> Result<()> {
        write!(self, |c, _s| accounts::create_session(c, session))
    }

    async fn session_active(&self, id: &str, now: i64) -> Result<bool> {
        let id = id.to_owned();
        read!(self, |c| reads::session_active(c, &id, now))
    }

    async fn revoke_session(&self, id: &str, now: i64) -> Result<()> {
        let id = id.to_owned();
        write!(self, |c, _s| accounts::revoke_session(c, &id, now))
    }

    async fn create_session_key(&self, key: NewSessionKey) -> Result<()> {
        write!(self, |c, _s| accounts::create_session_key(c, key))
    }

    async fn session_key(&self, hash: &str) -> Result<Option<(UserId, ConversationId)>> {
        let hash = hash.to_owned();
        read!(self, |c| reads::session_key(c, &hash))
    }

    async fn revoke_session_key(&self, hash: &str, now: i64) -> Result<bool> {
        let hash = hash.to_owned();
        write!(self, |c, _s| accounts::revoke_session_key(c, &hash, now))
    }

    async fn create_room(&self, room: NewRoom) -> Result<(Conversation, Vec<Event>)> {
        write!(self, |c, s| rooms::create_room(c, s, room))
    }

    async fn destroy_room(&self, id: ConversationId, by: UserId, ts: i64) -> Result<Event> {
        write!(self, |c, s| rooms::destroy_room(c, s, id, by, ts))
    }

    async fn add_members(
        &self,
        id: ConversationId,
        users: &[UserId],
        ts: i64,
    ) -> Result<Vec<Event>> {
        let users = users.to_vec();
        write!(self, |c, s| rooms::add_members(c, s, id, &users, ts))
    }

    async fn remove_member(
        &self,
        id: ConversationId,
        user: UserId,
        ts: i64,
    ) -> Result<Option<Event>> {
        write!(self, |c, s| rooms::remove_member(c, s, id, user, ts))
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>> {
        read!(self, |c| rows::live_conversation(c, id))
    }

    async fn room_by_name(&self, name: &str) -> Result<Option<Conversation>> {
        let name = name.to_owned();
        read!(self, |c| reads::room_by_name(c, &name))
    }

    async fn find_direct_conversation(&self, a: UserId, b: UserId) -> Result<Option<Conversation>> {
        read!(self, |c| rooms::find_direct(c, a, b))
    }

    async fn direct_conversation(&self, a: UserId, b: UserId, ts: i64) -> Result<Conversation> {
        // Most calls find an existing conversation; only creation needs the writer.
        if a != b
            && let Some(found) = read!(self, |c| rooms::find_direct(c, a, b))?
        {
            return Ok(found);
        }
        write!(self, |c, _s| rooms::direct_conversation(c, a, b, ts))
    }

    async fn is_member(&self, id: ConversationId, user: UserId) -> Result<bool> {
        read!(self, |c| rows::read_marker(c, id, user)
            .map(|m| m.is_some()))
    }

    async fn members(&self, id: ConversationId) -> Result<Vec<User>> {
        scan!(self, |c| reads::members(c, id))
    }

    async fn conversation_ids(&self, user: UserId) -> Result<Vec<ConversationId>> {
        read!(self, |c| reads::conversation_ids(c, user))
    }

    async fn conversation_heads(&self, user: UserId) -> Result<Vec<Head>> {
        read!(self, |c| reads::conversation_heads(c, user))
    }

    async fn list_rooms(&self, user: UserId) -> Result<Vec<RoomListing>> {
        scan!(self, |c| reads::list_rooms(c, user))
    }

    async fn dialogs(&self, user: UserId) -> Result<Vec<Dialog>> {
        scan!(self, |c| reads::dialogs(c, user))
    }

    async fn append_message(&self, message: NewMessage) -> Result<Appended> {
        write!(self, |c, s| messages::append_message(c, s, message))
    }

    async fn append_messages(&self, batch: Vec<NewMessage>) -> Vec<Result<Appended>> {
        // Queued one after another without waiting for each commit, so they keep their
        // order and usually share one transaction.
        let mut answers = Vec::with_capacity(batch.len());
        for message in batch {
            let work = move |c: &rusqlite::Connection, s: &mut WriterState| {
                messages::append_message(c, s, message).map_err(Into::into)
            };
            answers.push(self.writer.submit(work).await);
        }
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(match answer {
                Ok(pending) => pending.await,
                Err(e) => Err(e),
            });
        }
        out
    }

    async fn history(&self, query: HistoryQuery) -> Result<Vec<Message>> {
        read!(self, |c| reads::history(c, query))
    }

    async fn mark_read(
        &self,
        id: ConversationId,
        user: UserId,
        seq: i64,
        ts: i64,
    ) -> Result<Option<Event>> {
        write!(self, |c, s| messages::mark_read(c, s, id, user, seq, ts))
    }

    async fn events_since(&self, user: UserId, since: i64, limit: u32) -> Result<Vec<Event>> {
        scan!(self, |c| sync::events_since(c, user, since, limit))
    }

    async fn count_events_since(&self, user: UserId, since: i64, cap: u32) -> Result<u32> {
        scan!(self, |c| sync::count_events_since(c, user, since, cap))
    }

    async fn renew_lease(&self, node: &str, expires_at: i64) -> Result<()> {
        let node = node.to_owned();
        write!(self, |c, _s| presence::renew_lease(c, &node, expires_at))
    }

    async fn set_presence(&self, node: &str, user: UserId, online: bool) -> Result<()> {
        let node = node.to_owned();
        write!(self, |c, _s| presence::set_presence(c, &node, user, online))
    }

    async fn online_users(&self, users: &[UserId], now: i64) -> Result<Vec<UserId>> {
        let users = users.to_vec();
        scan!(self, |c| presence::online_users(c, &users, now))
    }

    async fn reap_expired_nodes(&self, now: i64) -> Result<Vec<UserId>> {
        write!(self, |c, _s| presence::reap_expired_nodes(c, now))
    }
}
