// Entry point: signs in (or shows the login screen), wires the views to the store, and keeps
// the address bar in step with the open conversation (#/c/<id>, #/dm/<handle>).

import * as api from './api.js';
import { h, isNarrow } from './dom.js';
import { Session } from './session.js';
import { Store, convTitle } from './store.js';
import { ChatView } from './ui-chat.js';
import { Dialogs } from './ui-dialogs.js';
import { ConversationList } from './ui-list.js';

const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.store = new Store();
    this.session = null;
    this.route = { convId: null, draft: null };
    this.screen = null;
    this.dialogs = new Dialogs(this.store, this);
    this.list = new ConversationList(this.store, this);
    this.chat = new ChatView($('chat'), this.store, null, this);
    this.store.subscribe((topics) => this.render(topics));
    window.addEventListener('hashchange', () => this.applyRoute());
    document.addEventListener('keydown', (e) => this.onKey(e));
    $('conn-retry').addEventListener('click', () => this.session && this.session.conn.retryNow());
    $('splash-retry').addEventListener('click', () => this.session && this.session.conn.retryNow());
    window.addEventListener('online', () => this.session && this.session.conn.retryNow());
    window.addEventListener('offline', () => this.session && this.session.conn.checkAlive(true));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible' || !this.session) return;
      if (this.session.conn.online) this.session.conn.checkAlive(true);
      else this.session.conn.retryNow();
    });
    this.countdown = setInterval(() => this.renderConn(), 1000);
    this.setupAuth();
  }

  boot() {
    this.show('splash');
    this.startSession();
  }

  show(screen) {
    this.screen = screen;
    $('splash').hidden = screen !== 'splash';
    $('auth').hidden = screen !== 'auth';
    $('app').hidden = screen !== 'app';
    document.body.dataset.screen = screen;
  }

  startSession() {
    if (this.session) this.session.stop();
    this.session = new Session(this.store, {
      onAuthLost: (reason) => this.signedOut(reason),
      onOnline: () => {
        if (this.screen !== 'app') {
          this.show('app');
          this.render(new Set(['all']));
          this.applyRoute();
        }
      },
      onConvGone: (id, why, p) => {
        if (this.route.convId !== id) return;
        const name = p.name ? `#${p.name}` : 'This conversation';
        this.toast(why === 'destroyed' ? `${name} was deleted.` : `You left ${name}.`);
        this.navigate(null, true);
      },
      onDraftResolved: (key, convId) => {
        if (this.chat.key === key) this.navigate(convId, true);
      },
    });
    this.chat.setSession(this.session);
    this.renderConn();
    this.session.start();
  }

  /** The session ended (logged out here or elsewhere, or the cookie is gone): log in again. */
  signedOut(reason) {
    if (this.session) this.session.stop();
    this.session = null;
    this.store.me = null;
    this.store.reset();
    this.store.setOutbox([]);
    this.chat.open(null);
    if (location.hash) history.replaceState(null, '', location.pathname);
    this.route = { convId: null, draft: null };
    this.show('auth');
    const msg = { 'session revoked': 'You were logged out.', 'session expired': 'Your session expired. Please log in again.' }[reason];
    $('auth-error').textContent = msg || '';
    $('auth-handle').focus();
  }

  async logout() {
    const session = this.session;
    if (session) {
      session.forget();
      session.stop();
    }
    try {
      await api.logout();
    } catch (e) {
      this.toastError('Logging out failed', e);
    }
    this.signedOut('');
  }

  // --- rendering ---------------------------------------------------------------------------

  render(topics) {
    if (topics.has('conn') || topics.has('all')) this.renderConn();
    if (this.screen !== 'app') return;
    this.list.render(topics);
    if (this.route.convId != null && this.store.convsLoaded && !this.store.convs.has(this.route.convId)) {
      this.navigate(null, true);
      return;
    }
    this.chat.render(topics);
    const unread = this.store.totalUnread();
    const conv = this.route.convId != null ? this.store.convs.get(this.route.convId) : null;
    const here = conv ? `${conv.kind === 'channel' ? '#' : ''}${convTitle(this.store, conv)} · ` : '';
    document.title = `${unread ? `(${unread}) ` : ''}${here}Palaver`;
  }

  renderConn() {
    const c = this.store.conn;
    document.body.dataset.conn = c.state;
    const waitS = Math.max(1, Math.ceil((c.nextRetryAt - Date.now()) / 1000));
    if (this.screen === 'splash') {
      const waiting = c.state === 'waiting';
      $('splash-text').textContent = waiting ? `Cannot reach Palaver. Trying again in ${waitS} s…` : 'Connecting…';
      $('splash-retry').hidden = !waiting;
      return;
    }
    const banner = $('conn-banner');
    const show = c.everOnline && c.state !== 'online' && c.state !== 'stopped' && c.state !== 'idle';
    banner.hidden = !show;
    if (!show) return;
    banner.dataset.state = c.state;
    $('conn-text').textContent = c.state === 'waiting' ? `You are offline. Reconnecting in ${waitS} s — messages you send will go out then.` : 'Reconnecting…';
    $('conn-retry').hidden = c.state !== 'waiting';
    if (this.chat.target) this.chat.render(new Set(['outbox']));
  }

  // --- routing -----------------------------------------------------------------------------

  navigate(convId, replace = false) {
    const hash = convId != null ? `#/c/${convId}` : '#/';
    if (location.hash === hash) {
      this.applyRoute();
      return;
    }
    if (replace) {
      history.replaceState(null, '', hash);
      this.applyRoute();
    } else {
      location.hash = hash;
    }
  }

  /** Opens the conversation with a user: the existing one, or a new one on first message. */
  openDM(user) {
    this.store.putUser(user);
    const conv = this.store.dmWith(user.id);
    if (conv) this.navigate(conv.id);
    else location.hash = `#/dm/${encodeURIComponent(user.handle)}`;
  }

  async applyRoute() {
    if (this.screen !== 'app') return;
    const hash = location.hash;
    let m;
    if ((m = /^#\/c\/(\d+)$/.exec(hash))) {
      const id = Number(m[1]);
      if (this.store.convsLoaded && !this.store.convs.has(id)) {
        this.navigate(null, true);
        return;
      }
      if (this.route.convId !== id || !this.chat.target) {
        this.route = { convId: id, draft: null };
        this.chat.open({ convId: id });
      }
    } else if ((m = /^#\/dm\/([^/]+)$/.exec(hash))) {
      const handle = decodeURIComponent(m[1]).toLowerCase();
      let user = [...this.store.users.values()].find((u) => u.handle === handle && !u.placeholder);
      if (!user) {
        try {
          user = await this.session.conn.call('users.get', { user: `@${handle}` });
          this.store.putUser(user);
        } catch (e) {
          this.toastError(`Cannot message @${handle}`, e);
          this.navigate(null, true);
          return;
        }
      }
      const existing = this.store.dmWith(user.id);
      if (existing) {
        this.navigate(existing.id, true);
        return;
      }
      this.route = { convId: null, draft: user };
      this.chat.open({ draft: user });
      this.session.refreshPresence([user.id]);
    } else {
      this.route = { convId: null, draft: null };
      this.chat.open(null);
    }
    $('app').classList.toggle('show-chat', this.route.convId != null || this.route.draft != null);
    if (this.chat.input) this.chat.autosize();
    this.render(new Set(['list']));
  }

  onKey(e) {
    if (this.screen !== 'app' || document.querySelector('dialog[open]')) return;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && (e.key === 'k' || e.key === 'K')) {
      e.preventDefault();
      this.dialogs.newMessage();
    } else if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      e.preventDefault();
      const next = this.list.neighbour(e.key === 'ArrowUp' ? -1 : 1);
      if (next) this.navigate(next.id);
    }
  }

  // --- toasts ------------------------------------------------------------------------------

  toast(text, kind = '') {
    const el = h(`div.toast${kind ? '.' + kind : ''}`, text);
    $('toasts').append(el);
    setTimeout(() => el.remove(), 4500);
  }

  toastError(prefix, e) {
    this.toast(`${prefix}: ${e && e.message ? e.message : e}`, 'error');
  }

  // --- logging in --------------------------------------------------------------------------

  setupAuth() {
    const form = $('auth-form');
    let mode = 'login';
    const setMode = (m) => {
      mode = m;
      const signup = m === 'signup';
      $('mode-login').setAttribute('aria-pressed', String(!signup));
      $('mode-signup').setAttribute('aria-pressed', String(signup));
      $('display-name-field').hidden = !signup;
      $('handle-hint').hidden = !signup;
      $('password-hint').hidden = !signup;
      $('auth-submit').textContent = signup ? 'Create account' : 'Log in';
      $('auth-handle-label').textContent = signup ? 'Handle' : 'Handle or e-mail';
      $('auth-password').autocomplete = signup ? 'new-password' : 'current-password';
      $('auth-handle').setAttribute('aria-describedby', signup ? 'handle-hint' : '');
      $('auth-password').setAttribute('aria-describedby', signup ? 'password-hint' : '');
      $('auth-error').textContent = '';
    };
    $('mode-login').addEventListener('click', () => setMode('login'));
    $('mode-signup').addEventListener('click', () => setMode('signup'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const err = $('auth-error');
      err.textContent = '';
      const handle = $('auth-handle').value.trim();
      const password = $('auth-password').value;
      const display_name = $('auth-display-name').value.trim();
      if (mode === 'signup' && !/^@?[a-z0-9][a-z0-9_.-]{1,31}$/i.test(handle)) {
        err.textContent = 'Handles are 2 to 32 characters: letters, digits, _ . and -, starting with a letter or digit.';
        $('auth-handle').focus();
        return;
      }
      if (!handle) {
        err.textContent = 'Enter your handle.';
        $('auth-handle').focus();
        return;
      }
      if (password.length < 8) {
        err.textContent = mode === 'signup' ? 'Choose a password of at least 8 characters.' : 'Enter your password (at least 8 characters).';
        $('auth-password').focus();
        return;
      }
      const submit = $('auth-submit');
      submit.disabled = true;
      try {
        if (mode === 'signup') await api.signup({ handle, password, display_name });
        else await api.login({ handle, password });
        $('auth-password').value = '';
        this.show('splash');
        this.startSession();
      } catch (ex) {
        err.textContent = ex.message;
      } finally {
        submit.disabled = false;
      }
    });
    this.setAuthMode = setMode;
  }
}

const app = new App();
window.palaver = app; // for the curious, and for the browser tests
app.boot();

// Keep the layout right when a phone rotates.
window.matchMedia('(max-width: 720px)').addEventListener('change', () => app.chat.target && !isNarrow() && app.chat.scroller && app.chat.render(new Set(['chat'])));
