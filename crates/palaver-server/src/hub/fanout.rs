//! Fan-out: an event encoded at most once per dialect and queued on every recipient connection,
//! with the slow-consumer rule.

use super::{Conn, ConnId, Inner};
use crate::conn::{CLOSE_TOO_SLOW, Outbox, PushError, Pushed};
use crate::ws::Frame;
use palaver_bus::Envelope;
use palaver_core::{Event, UserId};
use palaver_proto::dialect::{self, Dialect, EventContext, Recipient};
use std::sync::Arc;

/// An event's frames, encoded at most once per dialect (or per recipient for the dialects
/// whose frames name the recipient).
struct Frames<'a> {
    event: &'a Event,
    ctx: EventContext<'a>,
    cache: [Option<Option<Frame>>; Dialect::COUNT],
}

impl<'a> Frames<'a> {
    fn new(event: &'a Event, ctx: EventContext<'a>) -> Self {
        Self {
            event,
            ctx,
            cache: Default::default(),
        }
    }

    fn for_conn(&mut self, conn: &Conn) -> Option<Frame> {
        let to = Recipient {
            user: conn.user,
            handle: &conn.handle,
            scope: conn.scope,
        };
        let (event, ctx) = (self.event, &self.ctx);
        let encode = || dialect::encode_event(conn.dialect, event, ctx, &to).map(Frame::from);
        if conn.dialect.per_recipient() {
            return encode();
        }
        self.cache[conn.dialect.index()]
            .get_or_insert_with(encode)
            .clone()
    }
}

/// Queues the event once on every recipient connection, and adds to `flush` those whose
/// outbox writes it itself (see `Outbox::flush`). A full queue closes a connection that would
/// lose a durable event (it resumes with `sync`); ephemeral events are just dropped.
pub(super) fn send_to(
    inner: &Inner,
    envelope: &Envelope,
    durable: bool,
    flush: &mut Vec<Arc<Outbox>>,
) {
    let to = &envelope.to;
    let conversation = envelope.event.body.conversation();
    let route = conversation.and_then(|c| inner.routes.get(&c));
    let pair = route
        .and_then(|r| r.pair.as_ref())
        .map_or(&[][..], |p| &p[..]);
    let ctx = EventContext {
        room: envelope
            .room
            .as_deref()
            .or(route.and_then(|r| r.name.as_deref())),
        users: if to.users.is_empty() { pair } else { &to.users },
    };
    let mut frames = Frames::new(&envelope.event, ctx);
    let mut targets: Vec<ConnId> = Vec::new();
    if to.everyone {
        targets.extend(inner.conns.keys().copied());
    } else {
        // Plain loops copying each user's slice: a `flat_map` here was pushed element by
        // element (5 % of a fan-out profile). Most users have one connection, and a
        // `memcpy` call for its 8 bytes cost 8 % of a fan-out to 10 000.
        let add_conns_of = |targets: &mut Vec<ConnId>, u: &UserId| {
            if let Some(entry) = inner.users.get(u) {
                match entry.conns[..] {
                    [one] => targets.push(one),
                    ref many => targets.extend_from_slice(many),
                }
            }
        };
        for conv in &to.conversations {
            if let Some(route) = inner.routes.get(conv) {
                targets.reserve(route.members.len() + route.watchers.len());
                for u in &route.members {
                    add_conns_of(&mut targets, u);
                }
                targets.extend_from_slice(&route.watchers);
            }
        }
        for u in &to.users {
            add_conns_of(&mut targets, u);
        }
        if to.conversations.len() + to.users.len() > 1 {
            targets.sort_unstable();
            targets.dedup();
        }
    }
    // Outboxes a flush holds locked are pushed to after the others (see `Outbox::try_push`);
    // each connection is in `targets` once, so its frames keep their order.
    let mut busy = Vec::new();
    for id in targets {
        let Some(conn) = inner.conns.get(&id) else {
            continue;
        };
        if conn.scope.is_some() && conn.scope != conversation {
            continue;
        }
        let Some(frame) = frames.for_conn(conn) else {
            continue;
        };
        match conn.tx.try_push(frame) {
            Ok(pushed) => queued(id, conn, pushed, durable, flush),
            Err(frame) => busy.push((id, conn, frame)),
        }
    }
    for (id, conn, frame) in busy {
        queued(id, conn, conn.tx.push(frame), durable, flush);
    }
}

/// Acts on what became of a frame queued for `conn`.
fn queued(
    id: ConnId,
    conn: &Conn,
    pushed: Result<Pushed, PushError>,
    durable: bool,
    flush: &mut Vec<Arc<Outbox>>,
) {
    match pushed {
        Ok(Pushed::Flush) => flush.push(conn.tx.clone()),
        Ok(Pushed::Queued) | Err(PushError::Closed) => {}
        Err(PushError::Full) if durable => {
            tracing::info!(conn_id = id, user_id = %conn.user, "closing a connection that cannot keep up");
            conn.control
                .close(CLOSE_TOO_SLOW, "too slow: reconnect and sync");
        }
        Err(PushError::Full) => {}
    }
}
