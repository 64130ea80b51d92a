//! Where live delivery of a conversation starts on a route that a join made: after the newest
//! message stored before the join. The first message this node hears may not be the first
//! after the join (two nodes publish independently), so the start is looked up in the store,
//! and messages that arrive meanwhile wait.

use super::{GAP_FILL_BATCH, Hub, send_to};
use palaver_core::ConversationId;
use palaver_store::HistoryQuery;
use std::sync::Arc;

impl Hub {
    pub(super) fn spawn_anchor(&self, conv: ConversationId, pos: i64) {
        let Some(hub) = self.me.upgrade() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move { hub.anchor(conv, pos).await });
    }

    async fn anchor(self: Arc<Self>, conv: ConversationId, pos: i64) {
        let start = self.first_seq_after(conv, pos).await;
        let mut flush = Vec::new();
        {
            let mut g = self.lock();
            let inner = &mut *g;
            let Some(route) = inner.routes.get_mut(&conv) else {
                return;
            };
            route.anchoring = false;
            if route.next_seq.is_none() {
                // Without the store, start with the earliest message heard (at worst one
                // that raced ahead of an earlier one is then missed live; `sync` has it).
                route.next_seq = start.or_else(|| route.pending.keys().next().copied());
            }
            let ready = self.release(conv, route);
            for env in ready {
                send_to(inner, &env, true, &mut flush);
            }
        }
        self.flushers.flush(flush);
    }

    /// The seq of the first message of `conv` stored after position `pos`, paging back from
    /// the newest; `None` if the store cannot say.
    async fn first_seq_after(&self, conv: ConversationId, pos: i64) -> Option<i64> {
        let mut before = None;
        loop {
            let query = HistoryQuery {
                conversation: conv,
                before_seq: before,
                after_seq: None,
                limit: GAP_FILL_BATCH,
            };
            let page = match self.store.history(query).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(conversation = %conv, error = %e, "cannot tell where a joiner's messages start");
                    return None;
                }
            };
            if let Some(m) = page.iter().rev().find(|m| m.id.0 < pos) {
                return Some(m.seq + 1);
            }
            match page.first() {
                Some(oldest) if page.len() == GAP_FILL_BATCH as usize => {
                    before = Some(oldest.seq);
                }
                // Every message of the conversation was stored after the join.
                _ => return Some(1),
            }
        }
    }
}
