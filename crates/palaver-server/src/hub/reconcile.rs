//! Catching up after the bus may have lost envelopes (it reconnected, or dropped messages for
//! a slow consumer): every routed conversation is checked against the store and what this
//! node missed is fetched, and the memberships of this node's users are checked too, so that
//! a join or a leave whose event was lost still changes where messages go.

use super::Hub;
use palaver_core::{ConversationId, UserId};
use std::sync::Arc;

impl Hub {
    /// Reconciles in the background (the bus calls this from its event callback).
    pub fn spawn_reconcile(&self) {
        let Some(hub) = self.me.upgrade() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move { hub.reconcile().await });
    }

    async fn reconcile(self: Arc<Self>) {
        self.reconcile_memberships().await;
        let routed: Vec<(ConversationId, i64)> = {
            let g = self.lock();
            g.routes
                .iter()
                .filter_map(|(c, r)| r.next_seq.map(|n| (*c, n)))
                .collect()
        };
        let mut behind = 0usize;
        for (conv, next) in routed {
            match self.store.conversation(conv).await {
                Ok(Some(c)) if c.last_seq >= next => {
                    behind += 1;
                    self.catch_up(conv, c.last_seq).await;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(conversation = %conv, error = %e, "reconcile failed"),
            }
        }
        if behind > 0 {
            tracing::info!(
                conversations = behind,
                "filled messages the bus lost from the store"
            );
        }
    }

    /// Makes the routes of this node's users match their memberships in the store. A
    /// conversation joined while its event was lost is routed from its newest message on
    /// (earlier ones are in `sync` and history); one left or destroyed is no longer routed.
    async fn reconcile_memberships(&self) {
        let users: Vec<UserId> = self.lock().users.keys().copied().collect();
        let mut changed = 0usize;
        for user in users {
            let heads = match self.store.conversation_heads(user).await {
                Ok(heads) => heads,
                Err(e) => {
                    tracing::warn!(user = %user, error = %e, "reconcile failed");
                    continue;
                }
            };
            // The differences seen now may come from a join or leave that committed after
            // `heads` was read; each is confirmed with the store before it is applied.
            let candidates: Vec<(ConversationId, i64)> = {
                let g = self.lock();
                let Some(entry) = g.users.get(&user) else {
                    continue; // gone meanwhile
                };
                let stored: super::HashSet<ConversationId> =
                    heads.iter().map(|h| h.conversation).collect();
                let joined = heads
                    .iter()
                    .filter(|h| !entry.convs.contains(&h.conversation))
                    .map(|h| (h.conversation, h.last_seq));
                let left = entry.convs.iter().filter(|c| !stored.contains(c));
                joined.chain(left.map(|c| (*c, 0))).collect()
            };
            for (conv, head) in candidates {
                let member = match self.store.is_member(conv, user).await {
                    Ok(member) => member,
                    Err(e) => {
                        tracing::warn!(user = %user, error = %e, "reconcile failed");
                        continue;
                    }
                };
                let mut g = self.lock();
                let inner = &mut *g;
                let Some(entry) = inner.users.get_mut(&user) else {
                    break;
                };
                if member && entry.convs.insert(conv) {
                    let route = inner.route(conv);
                    route.members.insert(user);
                    route.next_seq.get_or_insert(head + 1);
                    changed += 1;
                } else if !member && entry.convs.remove(&conv) {
                    if let Some(route) = inner.routes.get_mut(&conv) {
                        route.members.remove(&user);
                        if route.members.is_empty() && route.watchers.is_empty() {
                            inner.drop_route(conv);
                        }
                    }
                    changed += 1;
                }
            }
        }
        if changed > 0 {
            tracing::info!(
                memberships = changed,
                "applied membership changes the bus lost"
            );
        }
    }

    /// Fetches `conv` batch by batch until this node has handed out everything up to `last`:
    /// after a long bus outage more may be missing than one fetch returns, and no later
    /// message may come to reveal the rest as a gap.
    async fn catch_up(&self, conv: ConversationId, last: i64) {
        let mut previous = None;
        loop {
            let next = self.lock().routes.get(&conv).and_then(|r| r.next_seq);
            match next {
                // Stop when a fetch moved nothing (the store failed, or the route is gone).
                Some(n) if n <= last && previous != Some(n) => {
                    previous = Some(n);
                    self.fetch_after(conv, n - 1).await;
                }
                _ => return,
            }
        }
    }
}
