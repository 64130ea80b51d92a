// The JSON-RPC 2.0 client over one WebSocket at a time (protocol.md §3), with reconnection:
// exponential backoff with jitter, a heartbeat the browser can see (`ping` calls, since
// WebSocket control frames are invisible to scripts), and a make-before-break `refresh()`.
//
// The connection knows nothing about chat: after each socket opens it runs `onOpen(rpc)` (sign
// in check and catch-up, with calls bound to that socket) and only then makes the socket
// current and reports `online`; `onOnline()` follows (resend the outbox, refresh presence).

import { healthy } from './api.js';

export class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

/** The socket closed (or was given up) before the reply came; the call may or may not have run. */
export class ConnectionLost extends Error {
  constructor(message = 'not connected') {
    super(message);
  }
}

export const UNAUTHENTICATED = -32001;
export const RESYNC_REQUIRED = -32010;

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const CALL_TIMEOUT_MS = 30000;
const IDLE_PING_MS = 25000;
const PING_TIMEOUT_MS = 10000;

/**
 * The wait before reconnect attempt `attempt` (0-based): the exponential cap, then "equal
 * jitter" (half fixed, half random) so that many clients dropped by one restart do not come
 * back in lockstep, while none waits much less than the cap.
 */
export function backoffDelay(attempt, random = Math.random) {
  const cap = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(attempt, 16));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** One WebSocket and the calls in flight on it. */
class Socket {
  constructor(url, { onopen, onclose, onnotification }) {
    this.pending = new Map();
    this.nextId = 1;
    this.opened = false;
    this.closed = false;
    this.lastRecv = Date.now();
    this.onclose = onclose;
    this.onnotification = onnotification;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      if (this.closed) return;
      this.opened = true;
      this.lastRecv = Date.now();
      onopen(this);
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => this.finish(ev.code, ev.reason);
    ws.onerror = () => {
      // Always followed by a close event, which is where we act.
    };
  }

  receive(data) {
    if (this.closed) return;
    this.lastRecv = Date.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      console.warn('palaver: unreadable frame from server');
      return;
    }
    for (const msg of Array.isArray(frame) ? frame : [frame]) {
      if (msg && typeof msg.method === 'string' && msg.id === undefined) {
        try {
          this.onnotification(msg.method, msg.params || {});
        } catch (e) {
          console.error('palaver: notification handler failed', msg.method, e);
        }
      } else if (msg && this.pending.has(msg.id)) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.error) p.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data));
        else p.resolve(msg.result);
      }
    }
  }

  call(method, params, timeout = CALL_TIMEOUT_MS) {
    if (this.closed || !this.opened) return Promise.reject(new ConnectionLost());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.has(id)) return;
        // Calls are answered in order; a reply this late means the socket is dead.
        this.abort(4000, `no reply to ${method}`);
      }, timeout);
      this.pending.set(id, { resolve, reject, timer, method });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params: params || {} }));
    });
  }

  notify(method, params) {
    if (this.closed || !this.opened) return false;
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', method, params: params || {} }));
    return true;
  }

  /** Gives up on this socket now, without waiting for the close handshake. */
  abort(code = 1000, reason = '') {
    try {
      this.ws.close(1000);
    } catch {
      // Already closing.
    }
    this.finish(code, reason);
  }

  finish(code, reason) {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ConnectionLost(`connection closed (${code})`));
    }
    this.pending.clear();
    this.onclose(this, code, reason);
  }
}

export class Connection {
  /**
   * @param {object} o
   * @param {string} o.url
   * @param {(rpc: {call: Function, notify: Function}) => Promise<void>} o.onOpen
   * @param {() => void} o.onOnline
   * @param {(method: string, params: object) => void} o.onNotification
   * @param {(state: string) => void} o.onState
   * @param {(reason: string) => void} o.onAuthLost
   */
  constructor(o) {
    this.o = o;
    this.sock = null; // the current socket, once its onOpen succeeded
    this.opening = null; // a socket being opened (reconnect or refresh)
    this.retiring = new Set();
    this.state = 'idle';
    this.everOnline = false;
    this.attempt = 0;
    this.refusedUpgrades = 0;
    this.retryTimer = null;
    this.nextRetryAt = 0;
    this.stopped = true;
    this.heartbeat = null;
    this.pinging = false;
    this.refreshWanted = false;
    this.lastClose = null;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.heartbeat = setInterval(() => this.checkAlive(false), 5000);
    this.open(false);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    for (const s of [this.sock, this.opening, ...this.retiring]) if (s) s.abort(1000, 'stopped');
    this.sock = null;
    this.opening = null;
    this.retiring.clear();
    this.setState('stopped');
  }

  get online() {
    return this.state === 'online';
  }

  call(method, params, timeout) {
    if (!this.sock || this.state !== 'online') return Promise.reject(new ConnectionLost());
    return this.sock.call(method, params, timeout);
  }

  notify(method, params) {
    return this.sock && this.state === 'online' ? this.sock.notify(method, params) : false;
  }

  /** Retry at once (a button, the browser's `online` event, the tab becoming visible). */
  retryNow() {
    if (this.stopped || this.sock || this.opening) return;
    clearTimeout(this.retryTimer);
    this.open(false);
  }

  /**
   * Opens a second socket and switches to it once it is signed in and caught up, then closes
   * the old one: the server routes live events by the conversations a connection had when it
   * signed in, so a direct conversation started since needs a new connection. The user stays
   * online throughout, so contacts see no presence flicker.
   */
  refresh() {
    if (this.stopped) return;
    if (this.state !== 'online' || this.opening) {
      this.refreshWanted = true;
      return;
    }
    this.refreshWanted = false;
    this.open(true);
  }

  /** Checks the current socket with a `ping` if it has been quiet (or at once if `now`). */
  async checkAlive(now) {
    const s = this.sock;
    if (!s || this.pinging || this.state !== 'online') return;
    if (!now && Date.now() - s.lastRecv < IDLE_PING_MS) return;
    this.pinging = true;
    try {
      await s.call('ping', {}, PING_TIMEOUT_MS);
    } catch {
      // The timeout already aborted the socket; a close is handled by its own event.
    } finally {
      this.pinging = false;
    }
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    if (state === 'online') this.everOnline = true;
    this.o.onState(state);
  }

  wsUrl() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}${this.o.path || '/ws'}`;
  }

  open(isRefresh) {
    if (!isRefresh) this.setState('connecting');
    const s = new Socket(this.wsUrl(), {
      onnotification: (m, p) => {
        // Every socket's events are applied (they are idempotent), so nothing falls into the
        // gap while one socket takes over from another.
        if (!this.stopped) this.o.onNotification(m, p);
      },
      onopen: (sock) => this.opened(sock, isRefresh),
      onclose: (sock, code, reason) => this.closed(sock, code, reason, isRefresh),
    });
    this.opening = s;
  }

  async opened(s, isRefresh) {
    const rpc = {
      call: (method, params, timeout) => s.call(method, params, timeout),
      notify: (method, params) => s.notify(method, params),
    };
    try {
      await this.o.onOpen(rpc);
    } catch (e) {
      if (this.opening !== s) return;
      if (e instanceof RpcError && e.code === UNAUTHENTICATED) {
        this.opening = null;
        s.abort(1000, 'unauthenticated');
        this.authLost('unauthenticated');
        return;
      }
      if (!(e instanceof ConnectionLost)) console.error('palaver: could not start the session', e);
      s.abort(4001, 'session start failed');
      return;
    }
    if (this.opening !== s || s.closed || this.stopped) return;
    this.opening = null;
    const old = this.sock;
    this.sock = s;
    this.attempt = 0;
    this.refusedUpgrades = 0;
    if (old && old !== s) this.retire(old);
    this.setState('online');
    this.o.onOnline();
    if (this.refreshWanted) this.refresh();
  }

  /** Closes an old socket once its calls in flight have their replies (or after 10 s). */
  retire(s) {
    this.retiring.add(s);
    const started = Date.now();
    const check = () => {
      if (s.closed) return this.retiring.delete(s);
      if (s.pending.size === 0 || Date.now() - started > 10000) {
        this.retiring.delete(s);
        s.abort(1000, 'replaced');
        return;
      }
      setTimeout(check, 100);
    };
    check();
  }

  async closed(s, code, reason, isRefresh) {
    this.lastClose = { code, reason };
    if (this.retiring.has(s)) {
      this.retiring.delete(s);
      return;
    }
    if (this.opening === s) this.opening = null;
    else if (this.sock === s) this.sock = null;
    else return;
    if (this.stopped) return;
    if (code === 1008) {
      // session revoked or expired: only a new login helps
      this.stopAll();
      this.authLost(reason || 'session ended');
      return;
    }
    if (isRefresh && this.sock) {
      // The replacement failed; the current socket is still fine (the session asks again).
      return;
    }
    if (!s.opened && (await this.upgradeRefused())) {
      this.stopAll();
      this.authLost('not accepted');
      return;
    }
    if (this.stopped || this.sock || this.opening) return;
    this.scheduleRetry();
  }

  /**
   * A WebSocket that fails before opening does not say why. When the server answers its
   * health check, it is up and refused us: a stored session cookie that is no longer valid
   * (401). Twice in a row is taken as that, not as a restart in progress.
   */
  async upgradeRefused() {
    if (!(await healthy())) {
      this.refusedUpgrades = 0;
      return false;
    }
    this.refusedUpgrades += 1;
    return this.refusedUpgrades >= 2;
  }

  stopAll() {
    for (const s of [this.sock, this.opening, ...this.retiring]) if (s) s.abort(1000, 'stopped');
    this.sock = null;
    this.opening = null;
    this.retiring.clear();
  }

  authLost(reason) {
    this.stop();
    this.o.onAuthLost(reason);
  }

  scheduleRetry() {
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.nextRetryAt = Date.now() + delay;
    // Reported even when already waiting: the retry time changed.
    this.state = 'waiting';
    this.o.onState('waiting');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped && !this.sock && !this.opening) this.open(false);
    }, delay);
  }
}
