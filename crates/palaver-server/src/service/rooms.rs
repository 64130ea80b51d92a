//! Use cases of rooms: create, destroy, join, leave, add members.

use super::{Result, store_err};
use crate::AppState;
use crate::clock::now_ms;
use palaver_bus::Recipients;
use palaver_core::{
    Conversation, ConversationKind, CoreError, EventBody, User, UserId, policy, validate,
};
use palaver_store::NewRoom;

impl AppState {
    pub async fn create_room(
        &self,
        actor: UserId,
        name: &str,
        kind: &str,
        members: &[String],
        topic: Option<String>,
    ) -> Result<Conversation> {
        let name = validate::room_name(name.strip_prefix('#').unwrap_or(name))?;
        let kind = match ConversationKind::parse(kind) {
            Some(k @ (ConversationKind::Channel | ConversationKind::Group)) => k,
            _ => return Err(CoreError::invalid("kind must be \"channel\" or \"group\"")),
        };
        let topic = topic
            .map(|t| validate::short_text("topic", &t, 256))
            .transpose()?;
        let mut ids = Vec::with_capacity(members.len());
        for m in members {
            ids.push(self.user_by_address(m).await?.id);
        }
        let (room, events) = self
            .store
            .create_room(NewRoom {
                name,
                kind,
                topic,
                owner: actor,
                members: ids.clone(),
                ts: now_ms(),
            })
            .await
            .map_err(store_err)?;
        let name = room.name.clone();
        for event in events {
            if let EventBody::RoomCreated { room } = &event.body
                && room.kind == ConversationKind::Group
            {
                let mut users = ids.clone();
                users.push(actor);
                let to = Recipients {
                    conversations: vec![room.id],
                    users,
                    everyone: false,
                };
                self.publish(event, to, name.as_deref()).await;
            } else {
                self.publish_to_conversation(event, name.as_deref()).await;
            }
        }
        Ok(room)
    }

    pub async fn destroy_room(&self, actor: UserId, room: &str) -> Result<Conversation> {
        let conv = self.room_by_address(room).await?;
        let member = self
            .store
            .is_member(conv.id, actor)
            .await
            .map_err(store_err)?;
        policy::require_owner(&conv, actor, member, "destroyed")?;
        let event = self
            .store
            .destroy_room(conv.id, actor, now_ms())
            .await
            .map_err(store_err)?;
        self.publish_destroyed(event, &conv).await;
        Ok(conv)
    }

    pub async fn join_room(&self, actor: UserId, room: &str) -> Result<Conversation> {
        let conv = self.room_by_address(room).await?;
        if !self
            .store
            .is_member(conv.id, actor)
            .await
            .map_err(store_err)?
        {
            policy::may_join(&conv)?;
            for event in self
                .store
                .add_members(conv.id, &[actor], now_ms())
                .await
                .map_err(store_err)?
            {
                self.publish_to_conversation(event, conv.name.as_deref())
                    .await;
            }
        }
        Ok(conv)
    }

    pub async fn leave_room(&self, actor: UserId, room: &str) -> Result<Conversation> {
        let conv = self.room_by_address(room).await?;
        let member = self
            .store
            .is_member(conv.id, actor)
            .await
            .map_err(store_err)?;
        policy::may_leave(&conv, member)?;
        if let Some(event) = self
            .store
            .remove_member(conv.id, actor, now_ms())
            .await
            .map_err(store_err)?
        {
            self.publish_to_conversation(event, conv.name.as_deref())
                .await;
        }
        Ok(conv)
    }

    pub async fn add_members(
        &self,
        actor: UserId,
        room: &str,
        members: &[String],
    ) -> Result<Vec<User>> {
        let conv = self.room_by_address(room).await?;
        let member = self
            .store
            .is_member(conv.id, actor)
            .await
            .map_err(store_err)?;
        policy::require_owner(&conv, actor, member, "given members")?;
        let mut users = Vec::with_capacity(members.len());
        for m in members {
            users.push(self.user_by_address(m).await?);
        }
        let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        let events = self
            .store
            .add_members(conv.id, &ids, now_ms())
            .await
            .map_err(store_err)?;
        let mut added = Vec::new();
        for event in events {
            if let EventBody::MemberJoined { user, .. } = &event.body
                && let Some(u) = users.iter().find(|u| u.id == *user)
            {
                added.push(u.clone());
            }
            self.publish_to_conversation(event, conv.name.as_deref())
                .await;
        }
        Ok(added)
    }
}
