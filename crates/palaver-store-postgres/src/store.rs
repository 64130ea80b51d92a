//! `impl Store for PgStore`: each call takes a pooled connection; writes run in a transaction.

use crate::error::Error;
use crate::{PgStore, accounts, messages, presence, reads, rooms, rows, schema, sync};
use async_trait::async_trait;
use palaver_core::{Conversation, ConversationId, Event, Message, User, UserId};
use palaver_store::{
    Appended, Credentials, Dialog, Head, HistoryQuery, Login, NewMessage, NewRoom, NewSession,
    NewSessionKey, NewUser, ProfilePatch, Result, RoomListing, Store, StoreError,
};

/// Runs `$body` (a future of `crate::error::Result`) on a pooled connection `$c`.
macro_rules! with_client {
    ($store:expr, |$c:ident| $body:expr) => {
        async {
            let $c = $store.pool.get().await?;
            $body.await
        }
        .await
        .map_err(StoreError::from)
    };
}

/// Runs `$body` in a transaction `$tx` and commits it; an error rolls back.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        async {
            let mut client = $store.pool.get().await?;
            let $tx = client.transaction().await?;
            let out = $body.await?;
            $tx.commit().await?;
            Ok::<_, Error>(out)
        }
        .await
        .map_err(StoreError::from)
    };
}

#[async_trait]
impl Store for PgStore {
    async fn epoch(&self) -> Result<String> {
        Ok(self.epoch.clone())
    }

    async fn head(&self) -> Result<i64> {
        with_client!(self, |c| schema::head(&c))
    }

    async fn secret(&self, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>> {
        with_client!(self, |c| accounts::secret(&c, name, candidate))
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        with_client!(self, |c| accounts::create_user(&c, user))
    }

    async fn credentials(&self, login: &Login) -> Result<Option<Credentials>> {
        with_client!(self, |c| accounts::credentials(&c, login))
    }

    async fn set_password_hash(&self, user: UserId, hash: String) -> Result<()> {
        with_client!(self, |c| accounts::set_password_hash(&c, user, &hash))
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        with_client!(self, |c| rows::user_by_id(&c, id))
    }

    async fn user_by_handle(&self, handle: &str) -> Result<Option<User>> {
        with_client!(self, |c| reads::user_by_handle(&c, handle))
    }

    async fn search_users(&self, query: &str, limit: u32) -> Result<Vec<User>> {
        with_client!(self, |c| accounts::search_users(&c, query, limit))
    }

    async fn update_profile(&self, user: UserId, patch: ProfilePatch, ts: i64) -> Result<Event> {
        in_tx!(self, |tx| accounts::update_profile(&tx, user, patch, ts))
    }

    async fn create_session(&self, session: NewSession) -> Result<()> {
        with_client!(self, |c| accounts::create_session(&c, session))
    }

    async fn session_active(&self, id: &str, now: i64) -> Result<bool> {
        with_client!(self, |c| accounts::session_active(&c, id, now))
    }

    async fn revoke_session(&self, id: &str, now: i64) -> Result<()> {
        with_client!(self, |c| accounts::revoke_session(&c, id, now))
    }

    async fn create_session_key(&self, key: NewSessionKey) -> Result<()> {
        with_client!(self, |c| accounts::create_session_key(&c, key))
    }

    async fn session_key(&self, hash: &str) -> Result<Option<(UserId, ConversationId)>> {
        with_client!(self, |c| accounts::session_key(&c, hash))
    }

    async fn revoke_session_key(&self, hash: &str, now: i64) -> Result<bool> {
        with_client!(self, |c| accounts::revoke_session_key(&c, hash, now))
    }

    async fn create_room(&self, room: NewRoom) -> Result<(Conversation, Vec<Event>)> {
        in_tx!(self, |tx| rooms::create_room(&tx, room))
    }

    async fn destroy_room(&self, id: ConversationId, by: UserId, ts: i64) -> Result<Event> {
        in_tx!(self, |tx| rooms::destroy_room(&tx, id, by, ts))
    }

    async fn add_members(
        &self,
        id: ConversationId,
        users: &[UserId],
        ts: i64,
    ) -> Result<Vec<Event>> {
        in_tx!(self, |tx| rooms::add_members(&tx, id, users, ts))
    }

    async fn remove_member(
        &self,
        id: ConversationId,
        user: UserId,
        ts: i64,
    ) -> Result<Option<Event>> {
        in_tx!(self, |tx| rooms::remove_member(&tx, id, user, ts))
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>> {
        with_client!(self, |c| rows::live_conversation(&c, id))
    }

    async fn room_by_name(&self, name: &str) -> Result<Option<Conversation>> {
        with_client!(self, |c| reads::room_by_name(&c, name))
    }

    async fn find_direct_conversation(&self, a: UserId, b: UserId) -> Result<Option<Conversation>> {
        with_client!(self, |c| rooms::find_direct(&c, a, b))
    }

    async fn direct_conversation(&self, a: UserId, b: UserId, ts: i64) -> Result<Conversation> {
        // Most calls find an existing conversation; only creation needs a transaction.
        if a != b
            && let Some(found) = with_client!(self, |c| rooms::find_direct(&c, a, b))?
        {
            return Ok(found);
        }
        in_tx!(self, |tx| rooms::direct_conversation(&tx, a, b, ts))
    }

    async fn is_member(&self, id: ConversationId, user: UserId) -> Result<bool> {
        let marker = with_client!(self, |c| rows::read_marker(&c, id, user))?;
        Ok(marker.is_some())
    }

    async fn members(&self, id: ConversationId) -> Result<Vec<User>> {
        with_client!(self, |c| reads::members(&c, id))
    }

    async fn conversation_ids(&self, user: UserId) -> Result<Vec<ConversationId>> {
        with_client!(self, |c| reads::conversation_ids(&c, user))
    }

    async fn conversation_heads(&self, user: UserId) -> Result<Vec<Head>> {
        with_client!(self, |c| reads::conversation_heads(&c, user))
    }

    async fn list_rooms(&self, user: UserId) -> Result<Vec<RoomListing>> {
        with_client!(self, |c| reads::list_rooms(&c, user))
    }

    async fn dialogs(&self, user: UserId) -> Result<Vec<Dialog>> {
        with_client!(self, |c| reads::dialogs(&c, user))
    }

    async fn append_message(&self, message: NewMessage) -> Result<Appended> {
        let attempt = async {
            let mut client = self.pool.get().await?;
            // Two attempts: a second one runs only when a concurrent retry with the same client
            // id committed first, and then it finds that message and returns it.
            for _ in 0..2 {
                let tx = client.transaction().await?;
                match messages::append_message(&tx, &message).await {
                    Ok(appended) => {
                        tx.commit().await?;
                        return Ok(appended);
                    }
                    Err(Error::ClientIdTaken) => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(Error::ClientIdTaken)
        };
        attempt.await.map_err(StoreError::from)
    }

    async fn history(&self, query: HistoryQuery) -> Result<Vec<Message>> {
        with_client!(self, |c| reads::history(&c, query))
    }

    async fn mark_read(
        &self,
        id: ConversationId,
        user: UserId,
        seq: i64,
        ts: i64,
    ) -> Result<Option<Event>> {
        in_tx!(self, |tx| messages::mark_read(&tx, id, user, seq, ts))
    }

    async fn events_since(&self, user: UserId, since: i64, limit: u32) -> Result<Vec<Event>> {
        with_client!(self, |c| sync::events_since(&c, user, since, limit))
    }

    async fn count_events_since(&self, user: UserId, since: i64, cap: u32) -> Result<u32> {
        with_client!(self, |c| sync::count_events_since(&c, user, since, cap))
    }

    async fn renew_lease(&self, node: &str, expires_at: i64) -> Result<()> {
        with_client!(self, |c| presence::renew_lease(&c, node, expires_at))
    }

    async fn set_presence(&self, node: &str, user: UserId, online: bool) -> Result<()> {
        with_client!(self, |c| presence::set_presence(&c, node, user, online))
    }

    async fn online_users(&self, users: &[UserId], now: i64) -> Result<Vec<UserId>> {
        with_client!(self, |c| presence::online_users(&c, users, now))
    }

    async fn reap_expired_nodes(&self, now: i64) -> Result<Vec<UserId>> {
        in_tx!(self, |tx| presence::reap_expired_nodes(&tx, now))
    }
}
