// The signed-in session: the reconnect algorithm of protocol.md §10 on top of the connection,
// the outbox of unacknowledged sends (each with a client_id chosen once, so a retry can never
// duplicate), read markers, typing, and the calls behind every action of the UI.

import { Connection, ConnectionLost, RpcError, RESYNC_REQUIRED, UNAUTHENTICATED } from './connection.js';

const TYPING_SHOW_MS = 6000; // how long "typing..." stays after the last notification
const TYPING_SEND_MS = 3000; // how often we repeat `typing` while the user types
const PERIODIC_SYNC_MS = 60000; // while the page is visible: a safety net, events arrive live
const PERIODIC_SYNC_HIDDEN_MS = 120000;
const HISTORY_PAGE = 50;

export class Session {
  /**
   * @param {import('./store.js').Store} store
   * @param {{onAuthLost: Function, onConvGone: Function, onDraftResolved: Function, onMessage: Function}} hooks
   */
  constructor(store, hooks) {
    this.store = store;
    this.hooks = hooks;
    this.token = null;
    this.syncChain = Promise.resolve();
    this.syncQueued = false;
    this.reloading = null;
    this.reloadAgain = false;
    this.pendingReads = new Map();
    this.lastTypingSent = new Map();
    this.typingTimer = null;
    this.periodic = null;
    this.conn = new Connection({
      onOpen: (rpc) => this.onOpen(rpc),
      onOnline: () => this.onOnline(),
      onNotification: (method, params) => this.apply(method, params, false),
      onState: (state) => {
        store.conn = { state, everOnline: this.conn.everOnline, nextRetryAt: this.conn.nextRetryAt, lastClose: this.conn.lastClose };
        store.changed('conn');
        if (state !== 'online' && store.presence.size) {
          // Offline we cannot know who is online: show nobody as online until presence.get.
          store.presence.clear();
          store.changed('presence', 'list', 'chat');
        }
      },
      onAuthLost: (reason) => this.hooks.onAuthLost(reason),
    });
  }

  start() {
    this.conn.start();
    this.lastPeriodic = Date.now();
    this.periodic = setInterval(() => {
      const every = document.visibilityState === 'visible' ? PERIODIC_SYNC_MS : PERIODIC_SYNC_HIDDEN_MS;
      if (Date.now() - this.lastPeriodic < every) return;
      this.lastPeriodic = Date.now();
      this.periodicSync();
    }, 1000);
  }

  stop() {
    clearInterval(this.periodic);
    this.conn.stop();
  }

  // --- connecting and catching up ----------------------------------------------------------

  async onOpen(rpc) {
    const me = await rpc.call('me.get');
    const store = this.store;
    if (store.me && store.me.id !== me.id) {
      // Another account signed in from another tab: nothing of the old one applies.
      this.token = null;
      store.me = null;
      store.reset();
      store.setOutbox([]);
    }
    const first = !store.me;
    store.setMe(me);
    if (first) this.restore(me.id);
    if (!this.token) {
      // First start: take the token before loading anything (§10).
      this.token = (await rpc.call('sync', {})).next;
      store.reset();
    }
    if (!store.convsLoaded) await this.loadAll(rpc);
    try {
      await this.catchUp(rpc);
    } catch (e) {
      if (!(e instanceof RpcError && e.code === RESYNC_REQUIRED)) throw e;
      await this.resync(rpc);
    }
  }

  onOnline() {
    this.flushOutbox();
    for (const [conv, seq] of this.pendingReads) this.sendRead(conv, seq);
    this.refreshPresence();
    this.hooks.onOnline?.();
  }

  /** Loads the conversation list and the room directory. */
  async loadAll(rpc = this.conn) {
    const [dialogs, rooms] = await Promise.all([rpc.call('conversations.list'), rpc.call('rooms.list')]);
    this.store.setDialogs(dialogs);
    this.store.setRooms(rooms);
  }

  /** The token is unusable (-32010): start over, keeping the outbox. */
  async resync(rpc) {
    this.token = null;
    this.store.reset();
    this.token = (await rpc.call('sync', {})).next;
    await this.loadAll(rpc);
    await this.catchUp(rpc);
    this.persist();
  }

  /** `sync {since}` until nothing more is waiting; one catch-up at a time. */
  catchUp(rpc = this.conn) {
    const run = this.syncChain.catch(() => {}).then(() => this.catchUpNow(rpc));
    this.syncChain = run;
    return run;
  }

  async catchUpNow(rpc) {
    for (;;) {
      const r = await rpc.call('sync', { since: this.token });
      for (const ev of r.events) this.apply(ev.type, ev, true);
      this.token = r.next;
      this.persist();
      if (!r.has_more) return;
    }
  }

  /**
   * While connected, a sync now and then: events arrive live, so this is only a safety net
   * that also keeps the token from falling too far behind.
   */
  async periodicSync() {
    if (!this.conn.online || this.syncQueued || !this.token) return;
    this.syncQueued = true;
    try {
      await this.catchUp();
    } catch (e) {
      if (e instanceof RpcError && e.code === RESYNC_REQUIRED) {
        try {
          await this.resync(this.conn);
        } catch {
          // The next reconnect tries again.
        }
      }
    } finally {
      this.syncQueued = false;
    }
  }

  /** Reloads the conversation list (debounced into one call when several ask at once). */
  reloadDialogs() {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          const [dialogs, rooms] = await Promise.all([this.conn.call('conversations.list'), this.conn.call('rooms.list')]);
          this.store.setDialogs(dialogs);
          this.store.setRooms(rooms);
        } while (this.reloadAgain);
        // A new direct conversation: its peer was not a contact, so no presence came for them.
        const unknown = [...this.store.convs.values()].filter((c) => c.kind === 'dm' && c.peer && !this.store.presence.has(c.peer)).map((c) => c.peer);
        if (unknown.length) this.refreshPresence(unknown);
      } catch (e) {
        if (!(e instanceof ConnectionLost)) console.warn('palaver: reloading conversations failed', e);
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  // --- events ------------------------------------------------------------------------------

  /** Applies a notification or a `sync` event; applying one twice changes nothing. */
  apply(type, p, fromSync) {
    const store = this.store;
    const me = store.me ? store.me.id : null;
    switch (type) {
      case 'message': {
        const r = store.applyMessage(p);
        if (p.sender === me && p.client_id) this.removeFromOutbox(p.client_id);
        if (r.unknown) this.reloadDialogs().then(() => store.applyMessage(p));
        if (r.gapAfter != null) this.fillGap(p.conversation, r.gapAfter);
        if (r.isNew || r.unknown) this.hooks.onMessage?.(p, fromSync);
        break;
      }
      case 'read':
        store.applyRead(p);
        break;
      case 'room.created': {
        const old = store.rooms.get(p.room.id);
        store.putRoom({ member_count: 1, joined: p.room.kind === 'group' || p.room.owner === me, ...old, ...p.room });
        break;
      }
      case 'room.destroyed': {
        const had = store.convs.has(p.conversation);
        store.rooms.delete(p.conversation);
        store.changed('rooms');
        store.dropConv(p.conversation);
        if (had) this.hooks.onConvGone?.(p.conversation, 'destroyed', p);
        break;
      }
      case 'member.joined': {
        const room = store.rooms.get(p.conversation);
        if (p.user === me) {
          if (room) {
            const count = room.joined ? room.member_count : (room.member_count || 0) + 1;
            store.putRoom({ ...room, joined: true, member_count: count });
          }
          if (!store.convs.has(p.conversation)) {
            if (room) store.putRoomConv(room);
            this.reloadDialogs();
          }
        } else {
          if (room && !fromSync) store.putRoom({ ...room, member_count: (room.member_count || 0) + 1 });
          store.memberJoined(p);
        }
        break;
      }
      case 'member.left': {
        const room = store.rooms.get(p.conversation);
        if (p.user === me) {
          if (room) store.putRoom({ ...room, joined: false, member_count: Math.max(0, (room.member_count || 1) - 1) });
          const had = store.convs.has(p.conversation);
          store.dropConv(p.conversation);
          if (had) this.hooks.onConvGone?.(p.conversation, 'left', p);
        } else {
          if (room && !fromSync) store.putRoom({ ...room, member_count: Math.max(0, (room.member_count || 1) - 1) });
          store.memberLeft(p);
        }
        break;
      }
      case 'user.updated':
        store.putUser(p.user);
        break;
      case 'presence':
        store.setPresence(p.user, p.online);
        break;
      case 'typing':
        if (p.user !== me) {
          store.setTyping(p.conversation, p.user, p.handle, TYPING_SHOW_MS);
          this.scheduleTypingExpiry();
        }
        break;
      default:
        break;
    }
  }

  scheduleTypingExpiry() {
    clearTimeout(this.typingTimer);
    let next = Infinity;
    for (const [conv, m] of this.store.typing) {
      for (const t of m.values()) next = Math.min(next, t.until);
      if (m.size) this.store.changed(`typing:${conv}`);
    }
    if (next === Infinity) return;
    this.typingTimer = setTimeout(() => {
      for (const conv of this.store.typing.keys()) {
        this.store.typingIn(conv);
        this.store.changed(`typing:${conv}`);
      }
      this.scheduleTypingExpiry();
    }, Math.max(50, next - Date.now() + 20));
  }

  // --- history -----------------------------------------------------------------------------

  /** The newest page of a conversation, when it is opened for the first time. */
  async openHistory(convId) {
    const t = this.store.timeline(convId);
    if (t && t.loaded) return;
    const r = await this.conn.call('messages.history', { conversation: convId, limit: HISTORY_PAGE });
    this.store.addHistory(convId, r.messages, r.has_more, 'latest');
  }

  /** The page before the oldest message shown (scrolling up). Returns false at the start. */
  async loadOlder(convId) {
    const t = this.store.timeline(convId);
    if (!t || !t.loaded || !t.hasMoreBefore || t.loadingBefore) return false;
    const first = Math.min(...t.bySeq.keys());
    if (!Number.isFinite(first)) return false;
    t.loadingBefore = true;
    this.store.changed('chat');
    try {
      const r = await this.conn.call('messages.history', { conversation: convId, before_seq: first, limit: HISTORY_PAGE });
      this.store.addHistory(convId, r.messages, r.has_more, 'before');
      return r.messages.length > 0;
    } finally {
      t.loadingBefore = false;
      this.store.changed('chat');
    }
  }

  /** Fetches the messages between the last contiguous one and a newer one that arrived. */
  async fillGap(convId, after) {
    try {
      for (;;) {
        const r = await this.conn.call('messages.history', { conversation: convId, after_seq: after, limit: 200 });
        this.store.addHistory(convId, r.messages, true, 'after');
        if (!r.has_more || !r.messages.length) return;
        after = r.messages[r.messages.length - 1].seq;
      }
    } catch (e) {
      if (!(e instanceof ConnectionLost)) console.warn('palaver: filling a gap failed', e);
    }
  }

  // --- sending -----------------------------------------------------------------------------

  /**
   * Queues a message. `key` names the conversation in the outbox (`c:<id>`, or `dm:<handle>`
   * for a direct conversation that does not exist yet); `to` is its address.
   */
  send(key, to, text) {
    const entry = { client_id: newClientId(), key, to, text, ts: Date.now(), state: 'pending' };
    this.store.setOutbox([...this.store.outbox, entry]);
    this.persist();
    this.trySend(entry);
    return entry;
  }

  flushOutbox() {
    // Pipelined in order: the server runs one connection's calls in the order received.
    for (const e of this.store.outbox) if (e.state === 'pending') this.trySend(e);
  }

  retry(clientId) {
    const e = this.store.outbox.find((x) => x.client_id === clientId);
    if (!e) return;
    e.state = 'pending';
    e.error = null;
    this.store.setOutbox([...this.store.outbox]);
    this.trySend(e);
  }

  discard(clientId) {
    this.removeFromOutbox(clientId);
  }

  removeFromOutbox(clientId) {
    if (!this.store.outbox.some((e) => e.client_id === clientId)) return;
    this.store.setOutbox(this.store.outbox.filter((e) => e.client_id !== clientId));
    this.persist();
  }

  async trySend(entry) {
    if (entry.inflight || !this.conn.online) return;
    entry.inflight = true;
    let result;
    try {
      result = await this.conn.call('messages.send', { to: entry.to, text: entry.text, client_id: entry.client_id });
    } catch (e) {
      entry.inflight = false;
      if (e instanceof ConnectionLost) {
        // Resent with the same client_id once back online; if we still are (the socket that
        // carried it was being replaced), right away.
        if (this.conn.online) setTimeout(() => this.trySend(entry), 200);
        return;
      }
      if (e instanceof RpcError && (e.code === -32013 || e.code === -32029 || e.code === -32603)) {
        setTimeout(() => this.trySend(entry), 3000); // transient on the server's side
        return;
      }
      if (e instanceof RpcError && e.code === UNAUTHENTICATED) return;
      entry.state = 'failed';
      entry.error = e.message;
      this.store.setOutbox([...this.store.outbox]);
      this.persist();
      return;
    }
    entry.inflight = false;
    this.removeFromOutbox(entry.client_id);
    const me = this.store.me;
    const msg = {
      id: result.id,
      conversation: result.conversation,
      seq: result.seq,
      ts: result.ts,
      sender: me.id,
      sender_handle: me.handle,
      text: entry.text,
      client_id: entry.client_id,
    };
    if (!this.store.convs.has(result.conversation)) {
      // A direct conversation we just started: list it.
      await this.reloadDialogs();
    }
    this.store.applyMessage(msg);
    if (entry.key !== `c:${result.conversation}`) {
      for (const e of this.store.outbox) {
        if (e.key === entry.key) {
          e.key = `c:${result.conversation}`;
          e.to = result.conversation;
        }
      }
      this.store.setOutbox([...this.store.outbox]);
      this.persist();
      this.hooks.onDraftResolved?.(entry.key, result.conversation);
    }
  }

  // --- read markers and typing -------------------------------------------------------------

  /** I have seen everything up to `seq`. */
  markRead(convId, seq) {
    if (!this.store.markReadLocally(convId, seq)) return;
    const conv = this.store.convs.get(convId);
    this.pendingReads.set(convId, Math.max(this.pendingReads.get(convId) || 0, conv.last_read_seq));
    this.sendRead(convId, conv.last_read_seq);
  }

  async sendRead(convId, seq) {
    if (!this.conn.online) return;
    try {
      await this.conn.call('messages.read', { conversation: convId, seq });
      if ((this.pendingReads.get(convId) || 0) <= seq) this.pendingReads.delete(convId);
    } catch (e) {
      if (!(e instanceof ConnectionLost)) this.pendingReads.delete(convId);
    }
  }

  /** Called on every keystroke in a composer: tells others at most every few seconds. */
  typing(convId) {
    const now = Date.now();
    if (now - (this.lastTypingSent.get(convId) || 0) < TYPING_SEND_MS) return;
    if (this.conn.notify('typing', { conversation: convId })) this.lastTypingSent.set(convId, now);
  }

  stoppedTyping(convId) {
    this.lastTypingSent.delete(convId);
  }

  // --- presence ----------------------------------------------------------------------------

  /** Asks who is online: `only` these users, or every direct-message peer. */
  async refreshPresence(only = null) {
    const ids = new Set(only || []);
    if (!only) for (const c of this.store.convs.values()) if (c.kind === 'dm' && c.peer) ids.add(c.peer);
    if (!ids.size || !this.conn.online) return;
    try {
      const r = await this.conn.call('presence.get', { users: [...ids].slice(0, 500) });
      for (const p of r) this.store.setPresence(p.user, p.online);
    } catch (e) {
      if (!(e instanceof ConnectionLost)) console.warn('palaver: presence failed', e);
    }
  }

  // --- actions -----------------------------------------------------------------------------

  searchUsers(query) {
    return this.conn.call('users.search', { query, limit: 20 });
  }

  async loadRooms() {
    this.store.setRooms(await this.conn.call('rooms.list'));
  }

  async createRoom({ name, kind, topic, members }) {
    const params = { name, kind };
    if (topic) params.topic = topic;
    if (members && members.length) params.members = members;
    const room = await this.conn.call('rooms.create', params);
    this.store.putRoomConv(room);
    this.store.putRoom({ ...room, joined: true, member_count: 1 + (members ? members.length : 0) });
    this.reloadDialogs();
    return room;
  }

  async joinRoom(id) {
    const room = await this.conn.call('rooms.join', { room: id });
    this.store.putRoomConv(room);
    const old = this.store.rooms.get(room.id);
    this.store.putRoom({ ...room, joined: true, member_count: old && !old.joined ? (old.member_count || 0) + 1 : old?.member_count || 1 });
    // Joining is not the same as having read the room's past: start with nothing unread.
    if (room.last_seq > 0) this.markRead(room.id, room.last_seq);
    this.reloadDialogs();
    return room;
  }

  async leaveRoom(id) {
    await this.conn.call('rooms.leave', { room: id });
    this.apply('member.left', { conversation: id, user: this.store.me.id, handle: this.store.me.handle }, false);
  }

  async destroyRoom(id) {
    const conv = this.store.convs.get(id);
    await this.conn.call('rooms.destroy', { room: id });
    this.apply('room.destroyed', { conversation: id, name: conv ? conv.name : '', by: this.store.me.id }, false);
  }

  async addMembers(id, members) {
    const r = await this.conn.call('rooms.add_members', { room: id, members });
    await this.loadMembers(id);
    return r.added;
  }

  async loadMembers(id) {
    this.store.setMembers(id, await this.conn.call('rooms.members', { room: id }));
  }

  async updateProfile(fields) {
    const user = await this.conn.call('me.update', fields);
    this.store.putUser(user);
    return user;
  }

  // --- persistence -------------------------------------------------------------------------

  storageKey(userId) {
    return `palaver.v1.${userId}`;
  }

  /**
   * Keeps, per account, what survives a reload: the sync token together with the data it
   * describes that cannot be loaded again (other members' read markers), and the outbox.
   */
  persist() {
    const me = this.store.me;
    if (!me) return;
    const markers = [...this.store.markers].map(([c, m]) => [c, [...m]]);
    const outbox = this.store.outbox.map(({ client_id, key, to, text, ts, state, error }) => ({ client_id, key, to, text, ts, state, error }));
    try {
      localStorage.setItem(this.storageKey(me.id), JSON.stringify({ token: this.token, markers, outbox }));
    } catch {
      // Storage full or disabled: the session still works, a reload starts fresh.
    }
  }

  restore(userId) {
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(this.storageKey(userId)) || 'null');
    } catch {
      saved = null;
    }
    if (!saved) return;
    this.token = typeof saved.token === 'string' ? saved.token : null;
    if (this.token && Array.isArray(saved.markers)) {
      for (const [c, list] of saved.markers) this.store.markers.set(c, new Map(list));
    }
    if (Array.isArray(saved.outbox)) this.store.setOutbox(saved.outbox.map((e) => ({ ...e, inflight: false })));
  }

  /** Forgets everything this browser kept for the account. */
  forget() {
    const me = this.store.me;
    if (me) localStorage.removeItem(this.storageKey(me.id));
  }
}

/** A random idempotency key: 1-64 printable ASCII characters, unique per user. */
export function newClientId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return 'w-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
