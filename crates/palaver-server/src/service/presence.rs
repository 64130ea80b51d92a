//! Who is online (on this node, or on any live node of a cluster), presence announcements,
//! the node's lease, and profile changes (which contacts hear of like presence).

use super::{Result, store_err};
use crate::AppState;
use crate::clock::now_ms;
use crate::conn::Link;
use crate::hub::{ConnId, ConnInfo};
use palaver_bus::Recipients;
use palaver_core::{CoreError, Event, EventBody, User, UserId, validate};
use palaver_store::ProfilePatch;

impl AppState {
    pub async fn update_profile(
        &self,
        actor: UserId,
        display_name: Option<String>,
        avatar_url: Option<String>,
        status_text: Option<String>,
    ) -> Result<User> {
        let patch = ProfilePatch {
            display_name: display_name
                .map(|d| validate::display_name(&d))
                .transpose()?,
            avatar_url: avatar_url.map(|a| validate::avatar_url(&a)).transpose()?,
            status_text: status_text
                .map(|s| validate::short_text("status_text", &s, 140))
                .transpose()?,
        };
        if patch.display_name.is_none() && patch.avatar_url.is_none() && patch.status_text.is_none()
        {
            // Nothing to change: no event, no broadcast.
            return self
                .store
                .user(actor)
                .await
                .map_err(store_err)?
                .ok_or_else(|| CoreError::not_found("no such user"));
        }
        let event = self
            .store
            .update_profile(actor, patch, now_ms())
            .await
            .map_err(store_err)?;
        let user = match &event.body {
            EventBody::UserUpdated { user, .. } => user.clone(),
            _ => return Err(CoreError::internal()),
        };
        let to = self.hub.contacts_of(actor);
        self.publish(event, to, None).await;
        Ok(user)
    }

    /// Registers a signed-in connection with the hub; announces the user online if it is
    /// their first connection (on any node, in a cluster).
    pub async fn attach(&self, link: &Link, info: ConnInfo, user: &User) -> Result<ConnId> {
        let heads = self
            .store
            .conversation_heads(user.id)
            .await
            .map_err(store_err)?;
        let reg = self
            .hub
            .register(info, &heads, link.tx.clone(), link.control.clone());
        if reg.came_online {
            let elsewhere = match &self.node {
                Some(node) => {
                    let before = self.online_elsewhere(user.id).await;
                    if let Err(e) = self.store.set_presence(node, user.id, true).await {
                        tracing::warn!(error = %e, "could not record presence");
                    }
                    before
                }
                None => false,
            };
            if !elsewhere {
                let to = self.hub.presence_audience(user.id);
                self.announce_presence(user, true, to).await;
            }
        }
        Ok(reg.id)
    }

    /// Unregisters a connection; announces the user offline if it was their last (on any
    /// node, in a cluster).
    pub async fn detach(&self, conn: ConnId, user: &User) {
        let Some(conversations) = self.hub.unregister(conn) else {
            return;
        };
        if let Some(node) = &self.node {
            if let Err(e) = self.store.set_presence(node, user.id, false).await {
                tracing::warn!(error = %e, "could not record presence");
            }
            if self.online_elsewhere(user.id).await {
                return;
            }
        }
        let to = Recipients {
            conversations,
            users: Vec::new(),
            everyone: false,
        };
        self.announce_presence(user, false, to).await;
    }

    /// In a cluster: whether a live node other than this one holds the user. A store failure
    /// counts as "no" (the announcement may repeat; it may not be lost).
    async fn online_elsewhere(&self, user: UserId) -> bool {
        self.store
            .online_users(&[user], now_ms())
            .await
            .map(|u| !u.is_empty())
            .unwrap_or(false)
    }

    /// Which of `users` are online: connected to this node, or (in a cluster) to any node
    /// whose lease is live.
    pub async fn online(&self, users: &[UserId]) -> std::collections::HashSet<UserId> {
        let mut online: std::collections::HashSet<UserId> = users
            .iter()
            .copied()
            .filter(|u| self.hub.is_online(*u))
            .collect();
        if self.node.is_some() {
            match self.store.online_users(users, now_ms()).await {
                Ok(found) => online.extend(found),
                Err(e) => {
                    tracing::warn!(error = %e, "presence lookup failed; answering from this node")
                }
            }
        }
        online
    }

    /// In a cluster, keeps this node's lease and announces the users of nodes whose lease
    /// lapsed (they died without saying goodbye). Runs until shutdown.
    pub async fn run_presence_leases(&self, node: String, lease: std::time::Duration) {
        let every = lease / 3;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut renewed: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = now_ms();
            if let Err(e) = self
                .store
                .renew_lease(&node, now + lease.as_millis() as i64)
                .await
            {
                tracing::warn!(error = %e, "could not renew this node's presence lease");
                continue;
            }
            // A renewal was missed (the database was down, or this process stalled): another
            // node may have reaped this one meanwhile.
            if renewed.is_some_and(|at| at.elapsed() > every * 3 / 2) {
                self.restore_reaped(&node).await;
            }
            renewed = Some(tokio::time::Instant::now());
            match self.store.reap_expired_nodes(now).await {
                Ok(gone) => {
                    for id in gone {
                        self.announce_gone(id).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not reap lapsed nodes"),
            }
        }
    }

    /// Puts back the presence of this node's users that another node reaped while this one
    /// could not renew its lease, and announces them online again: the reaper announced them
    /// offline, and without this they would look offline until they reconnect.
    async fn restore_reaped(&self, node: &str) {
        let here = self.hub.local_users();
        if here.is_empty() {
            return;
        }
        let listed: std::collections::HashSet<UserId> =
            match self.store.online_users(&here, now_ms()).await {
                Ok(found) => found.into_iter().collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "could not check this node's presence");
                    return;
                }
            };
        for id in here.into_iter().filter(|u| !listed.contains(u)) {
            if let Err(e) = self.store.set_presence(node, id, true).await {
                tracing::warn!(error = %e, "could not record presence");
                continue;
            }
            if !self.hub.is_online(id) {
                // They left meanwhile, maybe before what was just written: take it back.
                let _ = self.store.set_presence(node, id, false).await;
                continue;
            }
            if let Ok(Some(user)) = self.store.user(id).await {
                tracing::info!(user_id = %id, "presence restored after this node's lease lapsed");
                let to = self.hub.presence_audience(id);
                self.announce_presence(&user, true, to).await;
            }
        }
    }

    /// Announces offline a user whose node died.
    async fn announce_gone(&self, id: UserId) {
        let (user, conversations) = match (
            self.store.user(id).await,
            self.store.conversation_heads(id).await,
        ) {
            (Ok(Some(user)), Ok(heads)) => {
                let conversations = heads
                    .into_iter()
                    .filter(|h| self.hub.announces_presence_in(h.members))
                    .map(|h| h.conversation)
                    .collect::<Vec<_>>();
                (user, conversations)
            }
            _ => return,
        };
        tracing::info!(user_id = %id, "user's node stopped renewing its lease: offline");
        let to = Recipients {
            conversations,
            users: Vec::new(),
            everyone: false,
        };
        self.announce_presence(&user, false, to).await;
    }

    /// Tells a user's contacts that they came online or went offline.
    pub async fn announce_presence(&self, user: &User, online: bool, to: Recipients) {
        let event = Event {
            pos: None,
            ts: now_ms(),
            body: EventBody::Presence {
                user: user.id,
                handle: user.handle.clone(),
                online,
            },
        };
        self.publish(event, to, None).await;
    }
}
