//! This node's connections and the routing of events to them.
//!
//! The hub knows which users are connected here, and for each conversation with a connected
//! member, which of them belong to it. Events arrive from the bus already committed; the hub
//! encodes each once, then queues the same frame on every recipient connection. Messages of a
//! conversation are handed out strictly in `seq` order: one that arrives early waits, and a
//! gap that does not close by itself within `gap_fill` is filled from the store.
//!
//! All state sits behind one synchronous mutex that is never held across an `.await`.

use crate::conn::{ConnControl, Outbox};
use palaver_bus::{Bus, Envelope, Recipients, Topic};
use palaver_core::presence::PresenceTracker;
use palaver_core::{ConversationId, Event, EventBody, UserId};
use palaver_proto::dialect::Dialect;
use palaver_store::{Head, HistoryQuery, Store};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// The hub's maps and sets. Their keys are ids the server assigned, not client input, and a
/// message to a room of N looks up N users and N connections, so they hash with foldhash
/// rather than SipHash.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

mod anchor;
mod fanout;
mod flush;
mod reconcile;
mod routing;

use fanout::send_to;
use flush::Flushers;
use routing::{route_after, route_before};

pub type ConnId = u64;

/// How many missing messages one gap-fill fetch asks the store for.
const GAP_FILL_BATCH: u32 = 200;

struct Conn {
    user: UserId,
    handle: Arc<str>,
    session: Option<String>,
    dialect: Dialect,
    scope: Option<ConversationId>,
    tx: Arc<Outbox>,
    control: Arc<ConnControl>,
}

/// Who a new connection is and how it speaks.
pub struct ConnInfo {
    pub user: UserId,
    pub handle: String,
    /// The session (token) it signed in with, so logout can close it.
    pub session: Option<String>,
    pub dialect: Dialect,
    /// For connections bound to one conversation (a session key, a path room): they watch
    /// that conversation directly, only its events reach them, and they do not count for
    /// presence (their user may be a shared guest identity).
    pub scope: Option<ConversationId>,
}

#[derive(Default)]
struct UserEntry {
    conns: Vec<ConnId>,
    convs: HashSet<ConversationId>,
}

#[derive(Default)]
struct Route {
    members: HashSet<UserId>,
    /// The seq the next delivered message must have; `None` until known.
    next_seq: Option<i64>,
    /// `next_seq` is being looked up in the store (the route was made by a join); messages
    /// wait in `pending` meanwhile.
    anchoring: bool,
    /// Messages that arrived ahead of `next_seq`, by seq.
    pending: BTreeMap<i64, Arc<Envelope>>,
    filling: bool,
    /// Room-bound connections watching this conversation.
    watchers: Vec<ConnId>,
    /// The room's name, as the last envelope that named it said (for messages fetched to fill
    /// a gap, which come without one).
    name: Option<Arc<str>>,
    /// A direct conversation's two members, as the envelopes of its events name them (for
    /// messages fetched to fill a gap, which come without).
    pair: Option<[UserId; 2]>,
    /// How many members the conversation has, as the store said when a member connected
    /// (and joins and leaves heard since); `None` until known.
    size: Option<i64>,
}

#[derive(Default)]
struct Inner {
    /// Told which topics this node needs, as routes and users come and go.
    bus: Option<Arc<dyn Bus>>,
    next_id: ConnId,
    conns: HashMap<ConnId, Conn>,
    users: HashMap<UserId, UserEntry>,
    routes: HashMap<ConversationId, Route>,
    presence: PresenceTracker,
}

impl Inner {
    fn interest(&self, topic: Topic, on: bool) {
        if let Some(bus) = &self.bus {
            bus.set_interest(topic, on);
        }
    }

    /// The route of `conv`, created (and subscribed to) if new.
    fn route(&mut self, conv: ConversationId) -> &mut Route {
        if !self.routes.contains_key(&conv) {
            self.interest(Topic::Conversation(conv), true);
        }
        self.routes.entry(conv).or_default()
    }

    fn drop_route(&mut self, conv: ConversationId) -> Option<Route> {
        let route = self.routes.remove(&conv);
        if route.is_some() {
            self.interest(Topic::Conversation(conv), false);
        }
        route
    }

    fn user(&mut self, user: UserId) -> &mut UserEntry {
        if !self.users.contains_key(&user) {
            self.interest(Topic::User(user), true);
        }
        self.users.entry(user).or_default()
    }

    fn drop_user(&mut self, user: UserId) -> Option<UserEntry> {
        let entry = self.users.remove(&user);
        if entry.is_some() {
            self.interest(Topic::User(user), false);
        }
        entry
    }
}

pub struct Hub {
    inner: Mutex<Inner>,
    /// Write events to parked connections, after `inner` is let go.
    flushers: Flushers,
    store: Arc<dyn Store>,
    gap_fill: Duration,
    /// Presence is announced in conversations with at most this many members.
    presence_max_members: i64,
    me: Weak<Hub>,
}

/// What `register` tells the caller.
pub struct Registered {
    pub id: ConnId,
    pub came_online: bool,
}

impl Hub {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        gap_fill: Duration,
        presence_max_members: i64,
    ) -> Arc<Self> {
        bus.set_interest(Topic::Everyone, true);
        Arc::new_cyclic(|me| Self {
            inner: Mutex::new(Inner {
                bus: Some(bus),
                ..Inner::default()
            }),
            flushers: Flushers::start(),
            store,
            gap_fill,
            presence_max_members,
            me: me.clone(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than stopping delivery would, so keep going with the data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an authenticated connection. `heads` are the user's conversations with their
    /// newest seq: live delivery starts after them.
    pub fn register(
        &self,
        info: ConnInfo,
        heads: &[Head],
        tx: Arc<Outbox>,
        control: Arc<ConnControl>,
    ) -> Registered {
        let user = info.user;
        let mut g = self.lock();
        let inner = &mut *g;
        inner.next_id += 1;
        let id = inner.next_id;
        let conn = Conn {
            user,
            handle: Arc::from(info.handle),
            session: info.session,
            dialect: info.dialect,
            scope: info.scope,
            tx,
            control,
        };
        inner.conns.insert(id, conn);
        if let Some(conv) = info.scope {
            let route = inner.route(conv);
            route.watchers.push(id);
            if let Some(h) = heads.iter().find(|h| h.conversation == conv) {
                route.next_seq.get_or_insert(h.last_seq + 1);
            }
            return Registered {
                id,
                came_online: false,
            };
        }
        let entry = inner.user(user);
        entry.conns.push(id);
        entry.convs.extend(heads.iter().map(|h| h.conversation));
        for h in heads {
            let route = inner.route(h.conversation);
            route.members.insert(user);
            route.next_seq.get_or_insert(h.last_seq + 1);
            route.size = Some(h.members);
        }
        let came_online = inner.presence.connect(user);
        Registered { id, came_online }
    }

    /// Removes a connection. When it was the user's last, returns the conversations whose
    /// members should hear that the user went offline (see `presence_audience`).
    pub fn unregister(&self, id: ConnId) -> Option<Vec<ConversationId>> {
        let mut g = self.lock();
        let inner = &mut *g;
        let conn = inner.conns.remove(&id)?;
        if let Some(conv) = conn.scope {
            if let Some(route) = inner.routes.get_mut(&conv) {
                route.watchers.retain(|c| *c != id);
                if route.members.is_empty() && route.watchers.is_empty() {
                    inner.drop_route(conv);
                }
            }
            return None;
        }
        let user = conn.user;
        if let Some(entry) = inner.users.get_mut(&user) {
            entry.conns.retain(|c| *c != id);
        }
        if !inner.presence.disconnect(user) {
            return None;
        }
        let entry = inner.drop_user(user).unwrap_or_default();
        let audience = entry
            .convs
            .iter()
            .copied()
            .filter(|c| self.announces_presence(inner, *c))
            .collect();
        for conv in &entry.convs {
            if let Some(route) = inner.routes.get_mut(conv) {
                route.members.remove(&user);
                if route.members.is_empty() && route.watchers.is_empty() {
                    inner.drop_route(*conv);
                }
            }
        }
        Some(audience)
    }

    /// Whether presence is announced in `conv`: a direct conversation or a room of at most
    /// `limits.presence_max_room_members` members (in a bigger one, members ask with
    /// `presence.get` or `rooms.members`; announcing every arrival to everyone costs the
    /// square of the room's size).
    fn announces_presence(&self, inner: &Inner, conv: ConversationId) -> bool {
        inner
            .routes
            .get(&conv)
            .and_then(|r| r.size)
            .is_none_or(|n| self.announces_presence_in(n))
    }

    /// Whether presence is announced in a conversation of `members` members.
    pub fn announces_presence_in(&self, members: i64) -> bool {
        members <= self.presence_max_members
    }

    /// Recipients of a presence change of `user`: the user, and the members of their
    /// conversations where presence is announced.
    pub fn presence_audience(&self, user: UserId) -> Recipients {
        let g = self.lock();
        let conversations = g
            .users
            .get(&user)
            .map(|e| {
                e.convs
                    .iter()
                    .copied()
                    .filter(|c| self.announces_presence(&g, *c))
                    .collect()
            })
            .unwrap_or_default();
        Recipients {
            conversations,
            users: vec![user],
            everyone: false,
        }
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.lock().presence.is_online(user)
    }

    /// The users with a connection here that counts for presence.
    pub fn local_users(&self) -> Vec<UserId> {
        self.lock().users.keys().copied().collect()
    }

    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    /// Recipients of an event about `user` that their contacts should hear (presence,
    /// profile changes): the members of the user's conversations, and the user.
    pub fn contacts_of(&self, user: UserId) -> Recipients {
        let g = self.lock();
        let conversations = g
            .users
            .get(&user)
            .map(|e| e.convs.iter().copied().collect())
            .unwrap_or_default();
        Recipients {
            conversations,
            users: vec![user],
            everyone: false,
        }
    }

    /// Closes every connection of a session (logout) or of everyone (`None`, at shutdown).
    pub fn close_where(&self, session: Option<&str>, code: u16, reason: &'static str) {
        let g = self.lock();
        for conn in g.conns.values() {
            if session.is_none() || conn.session.as_deref() == session {
                conn.control.close(code, reason);
            }
        }
    }

    /// Asks every connection to finish its call in flight and close (graceful shutdown).
    pub fn drain_all(&self, code: u16, reason: &'static str) {
        for conn in self.lock().conns.values() {
            conn.control.drain(code, reason);
        }
    }

    /// Applies, before the event is published, the routing a membership change of this node's
    /// own users needs (a join, a room created, the first message of a direct conversation),
    /// so that this node follows the conversation even if the bus loses the event on its way
    /// back. Delivery still happens when the event comes back (or, if publishing fails,
    /// straight from `deliver`); doing the routing twice changes nothing.
    pub fn route_early(&self, envelope: &Envelope) {
        let early = match &envelope.event.body {
            EventBody::MemberJoined { .. } | EventBody::RoomCreated { .. } => true,
            EventBody::Message(_) => !envelope.to.users.is_empty(),
            _ => false,
        };
        if !early {
            return;
        }
        let mut g = self.lock();
        if let Some((conv, pos)) = route_before(&mut g, envelope) {
            self.spawn_anchor(conv, pos);
        }
    }

    /// Delivers a committed (or ephemeral) event to this node's recipients.
    pub fn deliver(&self, envelope: Arc<Envelope>) {
        let mut flush = Vec::new();
        {
            let mut g = self.lock();
            let inner = &mut *g;
            if let Some((conv, pos)) = route_before(inner, &envelope) {
                self.spawn_anchor(conv, pos);
            }
            if let EventBody::Message(m) = &envelope.event.body {
                let ready = self.sequence(inner, m.conversation, m.seq, &envelope);
                for env in ready {
                    send_to(inner, &env, true, &mut flush);
                }
            } else {
                send_to(
                    inner,
                    &envelope,
                    envelope.event.body.is_durable(),
                    &mut flush,
                );
            }
            route_after(inner, &envelope.event);
        }
        self.flushers.flush(flush);
    }

    /// Orders messages of one conversation by seq. Returns those now deliverable, in order.
    fn sequence(
        &self,
        inner: &mut Inner,
        conv: ConversationId,
        seq: i64,
        envelope: &Arc<Envelope>,
    ) -> Vec<Arc<Envelope>> {
        let Some(route) = inner.routes.get_mut(&conv) else {
            // No member is connected here; only "everyone" recipients could want it.
            return if envelope.to.everyone {
                vec![envelope.clone()]
            } else {
                Vec::new()
            };
        };
        let next = match route.next_seq {
            Some(next) => next,
            None if route.anchoring => {
                route.pending.insert(seq, envelope.clone());
                return Vec::new();
            }
            None => *route.next_seq.insert(seq),
        };
        if seq < next {
            return Vec::new(); // already delivered
        }
        route.pending.insert(seq, envelope.clone());
        self.release(conv, route)
    }

    /// Takes out of `route.pending` the messages next in line, drops those already behind,
    /// and starts filling the gap if some wait behind one.
    fn release(&self, conv: ConversationId, route: &mut Route) -> Vec<Arc<Envelope>> {
        let Some(mut n) = route.next_seq else {
            return Vec::new();
        };
        route.pending = route.pending.split_off(&n);
        let mut ready = Vec::new();
        while let Some(env) = route.pending.remove(&n) {
            ready.push(env);
            n += 1;
        }
        route.next_seq = Some(n);
        if !route.pending.is_empty() && !route.filling {
            route.filling = true;
            self.spawn_gap_fill(conv);
        }
        ready
    }

    fn spawn_gap_fill(&self, conv: ConversationId) {
        let Some(hub) = self.me.upgrade() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move { hub.fill_gap(conv).await });
    }

    /// Delivers, through the sequencer, the stored messages of `conv` after `after`.
    async fn fetch_after(&self, conv: ConversationId, after: i64) {
        let query = HistoryQuery {
            conversation: conv,
            before_seq: None,
            after_seq: Some(after),
            limit: GAP_FILL_BATCH,
        };
        match self.store.history(query).await {
            Ok(messages) => {
                for m in messages {
                    let envelope = Envelope {
                        id: 0,
                        event: Event {
                            pos: Some(m.id.0),
                            ts: m.ts,
                            body: EventBody::Message(m),
                        },
                        to: Recipients {
                            conversations: vec![conv],
                            users: Vec::new(),
                            everyone: false,
                        },
                        room: None,
                    };
                    self.deliver(Arc::new(envelope));
                }
            }
            Err(e) => {
                tracing::warn!(conversation = %conv, error = %e, "fetching missed messages failed")
            }
        }
    }

    /// Waits for a gap to close by itself, then fetches what is still missing.
    async fn fill_gap(self: Arc<Self>, conv: ConversationId) {
        loop {
            tokio::time::sleep(self.gap_fill).await;
            let after = {
                let mut g = self.lock();
                let Some(route) = g.routes.get_mut(&conv) else {
                    return;
                };
                match (route.next_seq, route.pending.is_empty()) {
                    (Some(next), false) => next - 1,
                    _ => {
                        route.filling = false;
                        return;
                    }
                }
            };
            self.fetch_after(conv, after).await;
        }
    }
}
