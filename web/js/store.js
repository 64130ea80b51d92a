// The client's state and the rules for changing it. Every change is idempotent (protocol.md
// §10, "Applying events idempotently"): an event seen live and again from `sync` changes
// nothing the second time. Views subscribe to topics and re-render what changed.

export class Store {
  constructor() {
    this.listeners = new Set();
    this.dirty = new Set();
    this.flushQueued = false;
    this.reset();
    this.outbox = [];
    this.conn = { state: 'idle', everOnline: false, nextRetryAt: 0 };
  }

  /** Drops everything learned from the server (not the outbox: unsent messages survive). */
  reset() {
    this.me = this.me || null;
    /** @type {Map<number, object>} id -> User */
    this.users = new Map(this.me ? [[this.me.id, this.me]] : []);
    /** @type {Map<number, boolean>} */
    this.presence = new Map();
    /** @type {Map<number, object>} conversations I am a member of, by id */
    this.convs = new Map();
    this.convsLoaded = false;
    /** @type {Map<number, object>} channels and my groups (rooms.list), by id */
    this.rooms = new Map();
    /** @type {Map<number, object>} convId -> timeline */
    this.timelines = new Map();
    /** @type {Map<number, Map<number, number>>} convId -> userId -> last_read_seq (others) */
    this.markers = new Map();
    /** @type {Map<number, Map<number, {handle: string, until: number}>>} */
    this.typing = new Map();
    /** @type {Map<number, Map<number, object>>} convId -> members */
    this.members = new Map();
    this.changed('all');
  }

  // --- change notification ---------------------------------------------------------------

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Marks topics dirty; listeners run once per burst of changes, after the current task. */
  changed(...topics) {
    for (const t of topics) this.dirty.add(t);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      const topics = this.dirty;
      this.dirty = new Set();
      for (const fn of this.listeners) {
        try {
          fn(topics);
        } catch (e) {
          console.error('palaver: render failed', e);
        }
      }
    });
  }

  // --- users and presence ------------------------------------------------------------------

  setMe(user) {
    this.me = user;
    this.users.set(user.id, user);
    this.changed('me', 'list', 'chat');
  }

  putUser(user) {
    if (!user || user.id == null) return;
    this.users.set(user.id, user);
    if (this.me && user.id === this.me.id) this.me = user;
    this.changed('users', 'list', 'chat', 'me');
  }

  setPresence(userId, online) {
    if (this.presence.get(userId) === online) return;
    this.presence.set(userId, online);
    this.changed('presence', 'list', 'chat');
  }

  // --- conversations ---------------------------------------------------------------------

  /** Upserts from a `conversations.list` entry, keeping whatever is newer locally. */
  putDialog(d) {
    const c = d.conversation;
    const old = this.convs.get(c.id);
    if (d.peer) this.putUser(d.peer);
    const conv = {
      ...(old || {}),
      ...c,
      peer: d.peer ? d.peer.id : old?.peer,
      last_seq: Math.max(c.last_seq, old?.last_seq || 0),
      last_read_seq: Math.max(d.last_read_seq || 0, old?.last_read_seq || 0),
      last_activity: Math.max(d.last_activity || 0, old?.last_activity || 0),
      last_message: newer(d.last_message, old?.last_message),
    };
    conv.unread = Math.max(0, conv.last_seq - conv.last_read_seq);
    this.convs.set(c.id, conv);
    this.changed('list', `conv:${c.id}`);
    return conv;
  }

  /** Replaces the list from `conversations.list`: conversations not in it are gone. */
  setDialogs(dialogs) {
    const ids = new Set(dialogs.map((d) => d.conversation.id));
    for (const id of [...this.convs.keys()]) if (!ids.has(id)) this.dropConv(id);
    for (const d of dialogs) this.putDialog(d);
    this.convsLoaded = true;
    this.changed('list');
  }

  /** A conversation I just became a member of (room created or joined). */
  putRoomConv(room) {
    const old = this.convs.get(room.id);
    if (old) {
      this.convs.set(room.id, { ...old, ...room, last_seq: Math.max(old.last_seq, room.last_seq) });
    } else {
      this.convs.set(room.id, {
        ...room,
        last_read_seq: room.last_seq,
        unread: 0,
        last_message: null,
        last_activity: room.created_at,
      });
    }
    this.changed('list', `conv:${room.id}`);
  }

  dropConv(id) {
    this.convs.delete(id);
    this.timelines.delete(id);
    this.markers.delete(id);
    this.typing.delete(id);
    this.members.delete(id);
    this.changed('list', `conv:${id}`, 'chat');
  }

  putRoom(room) {
    const old = this.rooms.get(room.id);
    this.rooms.set(room.id, { ...(old || {}), ...room });
    this.changed('rooms');
  }

  setRooms(rooms) {
    this.rooms = new Map(rooms.map((r) => [r.id, r]));
    this.changed('rooms');
  }

  /** Sorted for the sidebar: most recent activity first. */
  sortedConvs() {
    return [...this.convs.values()].sort((a, b) => b.last_activity - a.last_activity || b.id - a.id);
  }

  /** The direct conversation with a user, if there is one. */
  dmWith(userId) {
    for (const c of this.convs.values()) if (c.kind === 'dm' && c.peer === userId) return c;
    return null;
  }

  totalUnread() {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread || 0;
    return n;
  }

  // --- messages --------------------------------------------------------------------------

  timeline(convId) {
    return this.timelines.get(convId);
  }

  ensureTimeline(convId) {
    let t = this.timelines.get(convId);
    if (!t) {
      t = { bySeq: new Map(), hasMoreBefore: true, loaded: false, loadingBefore: false };
      this.timelines.set(convId, t);
    }
    return t;
  }

  /** Adds a page of history. */
  addHistory(convId, messages, hasMoreBefore, direction) {
    const t = this.ensureTimeline(convId);
    for (const m of messages) this.insert(t, m);
    if (direction !== 'after') t.hasMoreBefore = hasMoreBefore;
    t.loaded = true;
    this.changed(`conv:${convId}`, 'chat');
  }

  insert(t, m) {
    if (t.bySeq.has(m.seq)) return false;
    t.bySeq.set(m.seq, m);
    if (m.sender_handle && !this.users.has(m.sender)) {
      // A placeholder until the profile is known; the handle is enough to show.
      this.users.set(m.sender, { id: m.sender, handle: m.sender_handle, display_name: m.sender_handle, placeholder: true });
    }
    return true;
  }

  /**
   * A `message` event or a send reply turned into a message. Returns what the caller must do
   * next: `unknown` (the conversation is not in the list: reload it) and `gapAfter` (seq of the
   * last contiguous message when this one skipped some: fetch the missing ones).
   */
  applyMessage(m) {
    const out = { unknown: false, gapAfter: null, isNew: false };
    const conv = this.convs.get(m.conversation);
    if (!conv) {
      out.unknown = true;
    } else {
      conv.last_seq = Math.max(conv.last_seq, m.seq);
      conv.last_message = newer(m, conv.last_message);
      conv.last_activity = Math.max(conv.last_activity || 0, m.ts);
      if (this.me && m.sender === this.me.id) conv.last_read_seq = Math.max(conv.last_read_seq, m.seq);
      conv.unread = Math.max(0, conv.last_seq - conv.last_read_seq);
    }
    if (this.me && m.sender !== this.me.id) {
      // Sending moves the sender's marker without a `read` event (protocol.md §7).
      let marks = this.markers.get(m.conversation);
      if (!marks) this.markers.set(m.conversation, (marks = new Map()));
      if ((marks.get(m.sender) || 0) < m.seq) marks.set(m.sender, m.seq);
    }
    const t = this.timelines.get(m.conversation);
    if (t && t.loaded) {
      const top = maxSeq(t);
      out.isNew = this.insert(t, m);
      if (out.isNew && top != null && m.seq > top + 1) out.gapAfter = top;
    }
    // Someone who sent a message has stopped typing.
    const typing = this.typing.get(m.conversation);
    if (typing && typing.delete(m.sender)) this.changed(`typing:${m.conversation}`);
    this.changed('list', `conv:${m.conversation}`, 'chat');
    return out;
  }

  /** A `read` event. */
  applyRead({ conversation, user, seq }) {
    if (this.me && user === this.me.id) {
      const conv = this.convs.get(conversation);
      if (!conv || seq <= conv.last_read_seq) return;
      conv.last_read_seq = seq;
      conv.unread = Math.max(0, conv.last_seq - seq);
      this.changed('list', `conv:${conversation}`, 'chat');
      return;
    }
    let m = this.markers.get(conversation);
    if (!m) this.markers.set(conversation, (m = new Map()));
    if ((m.get(user) || 0) >= seq) return;
    m.set(user, seq);
    this.changed(`conv:${conversation}`, 'chat', 'markers');
  }

  /** Local, before the server confirms: my marker moves when I have seen messages. */
  markReadLocally(convId, seq) {
    const conv = this.convs.get(convId);
    if (!conv || seq <= conv.last_read_seq) return false;
    conv.last_read_seq = Math.min(seq, conv.last_seq);
    conv.unread = Math.max(0, conv.last_seq - conv.last_read_seq);
    this.changed('list', `conv:${convId}`, 'chat');
    return true;
  }

  // --- members and typing ----------------------------------------------------------------

  setMembers(convId, users) {
    const m = new Map();
    for (const u of users) {
      const { online, ...user } = u;
      this.putUser(user);
      if (online !== undefined) this.presence.set(u.id, online);
      m.set(u.id, user);
    }
    this.members.set(convId, m);
    this.changed('members', 'presence', `conv:${convId}`);
  }

  memberJoined({ conversation, user, handle }) {
    const m = this.members.get(conversation);
    if (m && !m.has(user)) {
      m.set(user, this.users.get(user) || { id: user, handle, display_name: handle });
      this.changed('members');
    }
    const room = this.rooms.get(conversation);
    if (room && !m) this.changed('rooms');
  }

  memberLeft({ conversation, user }) {
    const m = this.members.get(conversation);
    if (m && m.delete(user)) this.changed('members');
    const marks = this.markers.get(conversation);
    if (marks && marks.delete(user)) this.changed('chat');
  }

  setTyping(conversation, user, handle, ms) {
    let m = this.typing.get(conversation);
    if (!m) this.typing.set(conversation, (m = new Map()));
    m.set(user, { handle, until: Date.now() + ms });
    this.changed(`typing:${conversation}`);
  }

  /** Who is typing in a conversation now (expired entries are dropped). */
  typingIn(conversation) {
    const m = this.typing.get(conversation);
    if (!m) return [];
    const now = Date.now();
    const out = [];
    for (const [user, t] of m) {
      if (t.until <= now) m.delete(user);
      else out.push(user);
    }
    return out;
  }

  // --- outbox ----------------------------------------------------------------------------

  outboxFor(convKey) {
    return this.outbox.filter((e) => e.key === convKey);
  }

  setOutbox(entries) {
    this.outbox = entries;
    this.changed('outbox', 'chat', 'list');
  }
}

function newer(a, b) {
  if (!a) return b || null;
  if (!b) return a;
  return a.seq >= b.seq ? a : b;
}

function maxSeq(t) {
  let max = null;
  for (const s of t.bySeq.keys()) if (max == null || s > max) max = s;
  return max;
}

/** Display name of a user id (their handle until the profile is known). */
export function nameOf(store, userId) {
  const u = store.users.get(userId);
  return u ? u.display_name || u.handle : 'someone';
}

/** How a conversation is called in the list and its header. */
export function convTitle(store, conv) {
  if (!conv) return '';
  if (conv.kind === 'dm') {
    const u = store.users.get(conv.peer);
    return u ? u.display_name || u.handle : 'Direct message';
  }
  return conv.name;
}
