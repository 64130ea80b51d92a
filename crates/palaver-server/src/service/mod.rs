//! The application's use cases, shared by every protocol adapter: resolve addresses, apply
//! the core's rules, write through the store, then publish the committed events. This module
//! holds publishing and addressing; the use cases are in its submodules.

mod messages;
mod presence;
mod rooms;

pub(crate) use messages::Outgoing;

use crate::AppState;
use crate::clock::now_ms;
use palaver_bus::{Envelope, Recipients};
use palaver_core::{
    Conversation, ConversationId, ConversationKind, CoreError, Event, Target, User, UserId, policy,
};
use palaver_store::StoreError;
use std::sync::Arc;

type Result<T> = std::result::Result<T, CoreError>;

/// A store failure as the client sees it; backend trouble is logged once, here.
fn store_err(e: StoreError) -> CoreError {
    if !matches!(e, StoreError::Domain(_)) {
        tracing::error!(error = %e, "store call failed");
    }
    e.into_core()
}

impl AppState {
    /// Publishes a committed or ephemeral event. A bus failure is logged, not returned: the
    /// event is already durable (or disposable). This node's own connections then get it
    /// straight from the hub, so delivery on this node goes on while the bus is down; other
    /// nodes fill the gap from the store when the bus is back, and clients catch up with
    /// `sync`.
    pub async fn publish(&self, event: Event, to: Recipients, room: Option<&str>) {
        if !to.everyone && to.conversations.is_empty() && to.users.is_empty() {
            return;
        }
        let envelope = Arc::new(Envelope {
            id: rand::random(),
            event,
            to,
            room: room.map(str::to_owned),
        });
        self.hub.route_early(&envelope);
        if let Err(e) = self.bus.publish(envelope.clone()).await {
            tracing::warn!(error = %e, "bus publish failed; delivering on this node only");
            self.hub.deliver(envelope);
        }
    }

    /// A room's destruction: every connected user hears of a public channel's (it leaves the
    /// directory), only members of a group's.
    async fn publish_destroyed(&self, event: Event, conv: &Conversation) {
        if conv.kind == ConversationKind::Channel {
            let to = Recipients {
                everyone: true,
                ..Default::default()
            };
            self.publish(event, to, conv.name.as_deref()).await;
        } else {
            self.publish_to_conversation(event, conv.name.as_deref())
                .await;
        }
    }

    async fn publish_to_conversation(&self, event: Event, room: Option<&str>) {
        let to = match event.body.audience() {
            palaver_core::Audience::ConversationAndUser(c, u) => Recipients {
                conversations: vec![c],
                users: vec![u],
                everyone: false,
            },
            palaver_core::Audience::Everyone => Recipients {
                everyone: true,
                ..Default::default()
            },
            _ => Recipients {
                conversations: event.body.conversation().into_iter().collect(),
                ..Default::default()
            },
        };
        self.publish(event, to, room).await;
    }

    pub async fn user_by_address(&self, addr: &str) -> Result<User> {
        let found = match Target::parse(addr)? {
            Target::User(handle) => self.store.user_by_handle(&handle).await,
            Target::Conversation(id) => self.store.user(UserId(id.0)).await,
            Target::Room(_) => return Err(CoreError::invalid("expected `@handle` or a user id")),
        };
        found
            .map_err(store_err)?
            .ok_or_else(|| CoreError::not_found("no such user"))
    }

    /// A live channel or group named `#name` or by id.
    pub async fn room_by_address(&self, addr: &str) -> Result<Conversation> {
        let found = match Target::parse_room(addr)? {
            Target::Room(name) => self.store.room_by_name(&name).await,
            Target::Conversation(id) => self.store.conversation(id).await,
            Target::User(_) => unreachable_user(),
        };
        match found.map_err(store_err)? {
            Some(c) if c.kind != ConversationKind::Dm => Ok(c),
            _ => Err(CoreError::not_found("no such room")),
        }
    }

    /// Any conversation by address; `@handle` names the direct conversation with that user,
    /// which only sending creates (`create`); elsewhere a missing one is `NotFound`.
    pub async fn conversation_by_address(
        &self,
        actor: UserId,
        addr: &str,
        create: bool,
    ) -> Result<Conversation> {
        match Target::parse(addr)? {
            Target::User(handle) => {
                let peer = self
                    .store
                    .user_by_handle(&handle)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| CoreError::not_found("no such user"))?;
                if create {
                    return self
                        .store
                        .direct_conversation(actor, peer.id, now_ms())
                        .await
                        .map_err(store_err);
                }
                self.store
                    .find_direct_conversation(actor, peer.id)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| CoreError::not_found("no conversation with that user yet"))
            }
            Target::Room(name) => self
                .store
                .room_by_name(&name)
                .await
                .map_err(store_err)?
                .ok_or_else(|| CoreError::not_found("no such room")),
            Target::Conversation(id) => self
                .store
                .conversation(id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| CoreError::not_found("no such conversation")),
        }
    }

    /// Publishes an event of `conv` to its members, naming both members when it is a direct
    /// conversation: their nodes may not follow it yet (its first message creates it), and some
    /// dialects address direct conversations by user.
    pub(crate) async fn publish_in(&self, event: Event, conv: &Conversation) -> Result<()> {
        let users = match conv.kind {
            ConversationKind::Dm => self.direct_members(conv.id).await?,
            _ => Vec::new(),
        };
        let to = Recipients {
            conversations: vec![conv.id],
            users,
            everyone: false,
        };
        self.publish(event, to, conv.name.as_deref()).await;
        Ok(())
    }

    /// The two members of a direct conversation (they never change, so they are cached).
    async fn direct_members(&self, conv: ConversationId) -> Result<Vec<UserId>> {
        let cached = self
            .dm_members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&conv)
            .copied();
        if let Some(pair) = cached {
            return Ok(pair.to_vec());
        }
        let members: Vec<UserId> = self
            .store
            .members(conv)
            .await
            .map_err(store_err)?
            .iter()
            .map(|u| u.id)
            .collect();
        if let [a, b] = members[..] {
            self.dm_members
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(conv, [a, b]);
        }
        Ok(members)
    }

    pub async fn require_member(&self, conv: &Conversation, user: UserId) -> Result<()> {
        let member = self
            .store
            .is_member(conv.id, user)
            .await
            .map_err(store_err)?;
        policy::require_member(conv, member)
    }
}

fn unreachable_user() -> std::result::Result<Option<Conversation>, StoreError> {
    Err(StoreError::Domain(CoreError::invalid(
        "expected `#room` or a room id",
    )))
}
