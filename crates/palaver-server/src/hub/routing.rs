//! How the hub's routes follow membership: changes that must happen before an event is
//! delivered (a joiner hears of their own join) and after (a leaver still hears of their leave).

use super::Inner;
use palaver_bus::Envelope;
use palaver_core::{ConversationId, Event, EventBody};
use std::sync::Arc;

/// Routing changes that must happen before delivery (a joiner hears of their own join).
/// Returns the conversation and position of a join that made a route whose start must be
/// looked up in the store.
pub(super) fn route_before(
    inner: &mut Inner,
    envelope: &Envelope,
) -> Option<(ConversationId, i64)> {
    let event = &envelope.event;
    if let (Some(name), Some(conv)) = (&envelope.room, event.body.conversation())
        && let Some(route) = inner.routes.get_mut(&conv)
        && route.name.as_deref() != Some(name.as_str())
    {
        route.name = Some(Arc::from(name.as_str()));
    }
    if let EventBody::Message(m) = &event.body {
        // A message naming users (a direct conversation, which has no join events) makes
        // them members of its route here.
        for user in &envelope.to.users {
            if let Some(entry) = inner.users.get_mut(user) {
                entry.convs.insert(m.conversation);
                let route = inner.route(m.conversation);
                route.members.insert(*user);
                // A direct conversation this node had no route for began after its member
                // connected here: all of it is theirs.
                route.next_seq.get_or_insert(1);
            }
        }
    }
    let mut anchor = None;
    match &event.body {
        EventBody::MemberJoined {
            conversation, user, ..
        } => {
            if let Some(entry) = inner.users.get_mut(user) {
                entry.convs.insert(*conversation);
                let route = inner.route(*conversation);
                route.members.insert(*user);
                // Messages after the join are the joiner's: where they start is in the store,
                // not in the order this node happens to hear them.
                if route.next_seq.is_none()
                    && !route.anchoring
                    && let Some(pos) = event.pos
                {
                    route.anchoring = true;
                    anchor = Some((*conversation, pos));
                }
            }
        }
        EventBody::RoomCreated { room } => {
            if let Some(owner) = room.owner
                && let Some(entry) = inner.users.get_mut(&owner)
            {
                entry.convs.insert(room.id);
                let route = inner.route(room.id);
                route.members.insert(owner);
                route.next_seq.get_or_insert(room.last_seq + 1);
            }
        }
        _ => {}
    }
    if let (None, [a, b], Some(conv)) = (
        &envelope.room,
        &envelope.to.users[..],
        event.body.conversation(),
    ) && let Some(route) = inner.routes.get_mut(&conv)
    {
        route.pair = Some([*a, *b]);
    }
    anchor
}

/// Routing changes that must happen after delivery (a leaver still hears of their leave).
pub(super) fn route_after(inner: &mut Inner, event: &Event) {
    match &event.body {
        // Counted here, once per delivered join: `route_before` also runs early for this
        // node's own joins (`Hub::route_early`), and again when the event comes back.
        EventBody::MemberJoined { conversation, .. } => {
            if let Some(route) = inner.routes.get_mut(conversation)
                && let Some(n) = &mut route.size
            {
                *n += 1;
            }
        }
        EventBody::MemberLeft {
            conversation, user, ..
        } => {
            if let Some(entry) = inner.users.get_mut(user) {
                entry.convs.remove(conversation);
            }
            if let Some(route) = inner.routes.get_mut(conversation) {
                if let Some(n) = &mut route.size {
                    *n -= 1;
                }
                route.members.remove(user);
                if route.members.is_empty() && route.watchers.is_empty() {
                    inner.drop_route(*conversation);
                }
            }
        }
        EventBody::RoomDestroyed { conversation, .. } => {
            if let Some(route) = inner.drop_route(*conversation) {
                for user in route.members {
                    if let Some(entry) = inner.users.get_mut(&user) {
                        entry.convs.remove(conversation);
                    }
                }
            }
        }
        _ => {}
    }
}
