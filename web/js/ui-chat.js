// The conversation view: history that pages in as you scroll up, live messages, pending
// sends, read markers ("Seen"), typing indicators and the composer.

import { avatar, dayKey, debounce, fill, formatDay, formatFull, formatTime, h, icon, iconButton, isNarrow, reconcile } from './dom.js';
import { convTitle, nameOf } from './store.js';

const GROUP_GAP_MS = 5 * 60 * 1000;
const MAX_TEXT_BYTES = 16384;
const NEAR_BOTTOM_PX = 80;
const LOAD_OLDER_PX = 400;

export class ChatView {
  constructor(root, store, session, app) {
    this.root = root;
    this.store = store;
    this.session = session;
    this.app = app;
    this.target = null; // {convId} | {draft: user}
    this.cache = new Map();
    this.drafts = new Map(); // unsent composer text per conversation
    this.divider = null; // seq after which "New messages" is drawn
    this.unseenBelow = 0;
    this.renderEmpty();
    document.addEventListener('visibilitychange', () => this.maybeMarkRead());
    window.addEventListener('focus', () => this.maybeMarkRead());
  }

  setSession(session) {
    this.session = session;
  }

  get key() {
    if (!this.target) return null;
    return this.target.convId != null ? `c:${this.target.convId}` : `dm:${this.target.draft.handle}`;
  }

  get conv() {
    return this.target && this.target.convId != null ? this.store.convs.get(this.target.convId) : null;
  }

  renderEmpty() {
    this.target = null;
    this.cache.clear();
    fill(
      this.root,
      h(
        'div.chat-empty',
        h('img', { src: '/assets/favicon.svg', alt: '', width: 64, height: 64 }),
        h('h2', 'Welcome to Palaver'),
        h('p', 'Pick a conversation on the left, or start a new one.'),
        h('p.kbd-hint', h('kbd', 'Ctrl'), ' + ', h('kbd', 'K'), ' to message someone · ', h('kbd', 'Alt'), ' + ', h('kbd', '↑'), ' ', h('kbd', '↓'), ' to switch conversations'),
      ),
    );
  }

  /** Shows a conversation (`{convId}`) or a direct conversation not started yet (`{draft: user}`). */
  open(target) {
    this.saveDraft();
    if (!target) {
      this.renderEmpty();
      return;
    }
    this.target = target;
    this.cache.clear();
    this.divider = null;
    this.unseenBelow = 0;
    this.initialScrollDone = false;
    this.build();
    const conv = this.conv;
    if (conv) {
      if (conv.unread > 0) this.divider = conv.last_read_seq;
      const t = this.store.timeline(conv.id);
      if (!t || !t.loaded) {
        this.session.openHistory(conv.id).catch((e) => this.app.toastError('Could not load messages', e));
      }
      if (conv.kind !== 'dm') this.session.loadMembers(conv.id).catch(() => {});
    }
    this.render(new Set(['all']));
    if (!isNarrow()) this.input.focus({ preventScroll: true });
  }

  /** The frame of the view: header, message list, typing line, composer. */
  build() {
    const label = this.placeholder();
    this.titleEl = h('h2.chat-title');
    this.subEl = h('p.chat-sub');
    this.avatarSlot = h('span.chat-avatar');
    this.infoBtn = iconButton('info', 'Conversation details', () => this.showInfo());
    this.head = h(
      'header.chat-head',
      iconButton('back', 'Back to conversations', () => this.app.navigate(null), 'back-btn'),
      this.avatarSlot,
      h('div.chat-head-text', this.titleEl, this.subEl),
      this.infoBtn,
    );
    this.topEl = h('div.history-top');
    this.list = h('ol.msgs');
    this.scroller = h('div.scroller', { tabindex: '0', role: 'log', aria: { label: `Messages`, live: 'polite', relevant: 'additions' } }, this.topEl, this.list);
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.jumpBtn = h('button.jump', { type: 'button', hidden: true, onclick: () => this.scrollToBottom(true) }, icon('down'), h('span.jump-text', 'New messages'));
    this.typingEl = h('div.typing', { aria: { live: 'polite' } });
    this.input = h('textarea.composer-input', { rows: 1, placeholder: label, aria: { label }, maxlength: 20000, enterkeyhint: 'send' });
    this.input.value = this.drafts.get(this.key) || '';
    this.input.addEventListener('keydown', (e) => this.onComposerKey(e));
    this.input.addEventListener('input', () => this.onInput());
    this.sendBtn = h('button.send-btn', { type: 'submit', title: 'Send (Enter)', aria: { label: 'Send' } }, icon('send'));
    this.composerError = h('p.composer-error', { role: 'alert' });
    this.form = h('form.composer', { onsubmit: (e) => this.submit(e) }, this.input, this.sendBtn);
    fill(this.root, this.head, h('div.scroll-wrap', this.scroller, this.jumpBtn), this.typingEl, this.composerError, this.form);
    this.autosize();
  }

  placeholder() {
    const t = this.target;
    if (t.draft) return `Message ${t.draft.display_name || t.draft.handle}`;
    const conv = this.conv;
    if (!conv) return 'Message';
    return conv.kind === 'dm' ? `Message ${convTitle(this.store, conv)}` : `Message ${conv.kind === 'channel' ? '#' : ''}${conv.name}`;
  }

  render(topics) {
    if (!this.target) return;
    const conv = this.conv;
    if (this.target.convId != null && !conv && this.store.convsLoaded) {
      // Not (or no longer) a member: the app decides where to go.
      return;
    }
    const all = topics.has('all');
    if (all || topics.has('users') || topics.has('presence') || topics.has('list') || topics.has('members')) this.renderHead();
    if (topics.has('users')) this.cache.clear(); // names and pictures in bubbles are drawn once
    if (all || topics.has('chat') || topics.has('outbox') || topics.has('users') || topics.has('markers')) this.renderMessages();
    if (all || (conv && topics.has(`typing:${conv.id}`)) || topics.has('users')) this.renderTyping();
  }

  renderHead() {
    const s = this.store;
    const conv = this.conv;
    const t = this.target;
    let title;
    let sub = [];
    let av;
    if (t.draft || (conv && conv.kind === 'dm')) {
      const user = t.draft ? s.users.get(t.draft.id) || t.draft : s.users.get(conv.peer);
      const online = user ? s.presence.get(user.id) === true : false;
      title = user ? user.display_name || user.handle : 'Direct message';
      sub = [h(`span.presence-text${online ? '.online' : ''}`, online ? 'Online' : 'Offline'), user ? ` · @${user.handle}` : '', user && user.status_text ? h('span.status-text', ` · ${user.status_text}`) : null];
      av = avatar({ id: user ? user.id : 0, name: title, url: user && user.avatar_url, presence: online });
      this.infoBtn.hidden = true;
    } else if (conv) {
      title = conv.kind === 'channel' ? `#${conv.name}` : conv.name;
      const members = s.members.get(conv.id);
      const count = members ? members.size : s.rooms.get(conv.id)?.member_count;
      sub = [conv.kind === 'group' ? 'Private group' : 'Channel', count ? ` · ${count} member${count === 1 ? '' : 's'}` : '', conv.topic ? h('span.status-text', ` · ${conv.topic}`) : null];
      av = avatar({ id: conv.id, name: conv.name, kind: conv.kind });
      this.infoBtn.hidden = false;
      this.infoBtn.setAttribute('aria-label', `Details of ${title}`);
      this.infoBtn.title = `Details of ${title}`;
    } else {
      title = 'Loading…';
    }
    this.titleEl.textContent = title;
    fill(this.subEl, sub);
    fill(this.avatarSlot, av || null);
    const label = this.placeholder();
    this.input.placeholder = label;
    this.input.setAttribute('aria-label', label);
    this.scroller.setAttribute('aria-label', `Messages in ${title}`);
  }

  /** The items of the message list, in order, each with a stable key. */
  items() {
    const s = this.store;
    const conv = this.conv;
    const me = s.me ? s.me.id : null;
    const items = [];
    const timeline = conv ? s.timeline(conv.id) : null;
    const msgs = timeline ? [...timeline.bySeq.values()].sort((a, b) => a.seq - b.seq) : [];
    // A message already stored is never also drawn as pending.
    const stored = new Set(msgs.map((m) => m.client_id).filter(Boolean));
    const pending = s.outbox.filter((e) => e.key === this.key && !stored.has(e.client_id));

    // Other members' read markers, drawn below the newest message they have read.
    const seenAt = new Map();
    if (conv) {
      const markers = s.markers.get(conv.id);
      if (markers) {
        const seqs = msgs.map((m) => m.seq);
        for (const [user, seq] of markers) {
          if (user === me) continue;
          let at = null;
          for (let i = seqs.length - 1; i >= 0; i--) {
            if (seqs[i] <= seq) {
              at = seqs[i];
              break;
            }
          }
          // Their own message says nothing: that they have read what came before it shows.
          if (at == null || timeline.bySeq.get(at).sender === user) continue;
          if (!seenAt.has(at)) seenAt.set(at, []);
          seenAt.get(at).push(user);
        }
      }
    }

    let prev = null;
    let lastDay = null;
    for (const m of msgs) {
      const day = dayKey(m.ts);
      if (day !== lastDay) {
        items.push({ key: `day:${day}`, create: () => h('li.day', h('span', formatDay(m.ts))) });
        lastDay = day;
        prev = null;
      }
      if (this.divider != null && m.seq === this.divider + 1 && m.sender !== me) {
        items.push({ key: 'divider', create: () => h('li.unread-divider', { id: 'unread-divider' }, h('span', 'New messages')) });
        prev = null;
      }
      const cont = prev && prev.sender === m.sender && m.ts - prev.ts < GROUP_GAP_MS;
      items.push({
        key: `m:${m.id}`,
        create: () => this.messageEl(m, m.sender === me),
        update: (el) => {
          el.classList.toggle('cont', !!cont);
        },
      });
      const readers = seenAt.get(m.seq);
      if (readers) {
        const text = conv.kind === 'dm' ? 'Seen' : `Seen by ${listNames(readers.map((u) => nameOf(s, u)))}`;
        items.push({
          key: `seen:${readers.join(',')}`,
          create: () => h('li.seen', { data: { seq: m.seq } }, icon('check', 'tiny'), h('span.seen-text')),
          update: (el) => {
            el.dataset.seq = String(m.seq);
            el.classList.toggle('own', m.sender === me);
            el.lastElementChild.textContent = text;
          },
        });
      }
      prev = m;
    }
    for (const e of pending) {
      items.push({
        key: `p:${e.client_id}`,
        create: () => this.pendingEl(e),
        update: (el) => this.updatePending(el, e),
      });
    }
    return { items, msgs, timeline };
  }

  renderMessages() {
    const sc = this.scroller;
    if (!sc) return;
    const wasAtBottom = sc.scrollHeight - sc.scrollTop - sc.clientHeight < NEAR_BOTTOM_PX;
    // Keep the first visible message where it is when older ones are added above it.
    const anchor = this.firstVisible();
    const anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
    const before = this.list.children.length;

    const { items, msgs, timeline } = this.items();
    reconcile(this.list, this.cache, items);
    this.renderTop(timeline, msgs);

    const conv = this.conv;
    const loaded = !conv || (timeline && timeline.loaded);
    if (!this.initialScrollDone && loaded) {
      this.initialScrollDone = true;
      const divider = this.list.querySelector('.unread-divider');
      if (divider) sc.scrollTop = Math.max(0, divider.offsetTop - 24);
      else sc.scrollTop = sc.scrollHeight;
    } else if (wasAtBottom) {
      sc.scrollTop = sc.scrollHeight;
    } else if (anchor && anchor.isConnected) {
      sc.scrollTop += anchor.getBoundingClientRect().top - anchorTop;
      if (this.list.children.length > before && msgs.length) {
        // New messages below while reading older ones.
        this.updateJump();
      }
    }
    this.updateJump();
    this.maybeMarkRead();
    // A short first page may not fill the screen: load more until it scrolls.
    if (timeline && timeline.loaded && timeline.hasMoreBefore && sc.scrollHeight <= sc.clientHeight + 10) this.loadOlder();
  }

  renderTop(timeline, msgs) {
    const conv = this.conv;
    let content;
    if (this.target.draft) {
      const u = this.target.draft;
      content = h('div.beginning', avatar({ id: u.id, name: u.display_name || u.handle, url: u.avatar_url, size: 'big' }), h('p', 'This is the beginning of your conversation with ', h('strong', u.display_name || u.handle), '.'), h('p.muted', 'Say hello!'));
    } else if (!timeline || !timeline.loaded) {
      content = h('div.loading', h('span.spinner', { aria: { hidden: 'true' } }), 'Loading messages…');
    } else if (timeline.loadingBefore) {
      content = h('div.loading', h('span.spinner', { aria: { hidden: 'true' } }), 'Loading earlier messages…');
    } else if (timeline.hasMoreBefore) {
      content = h('button.link-btn.load-older', { type: 'button', onclick: () => this.loadOlder() }, 'Load earlier messages');
    } else if (conv) {
      const title = convTitle(this.store, conv);
      const what = conv.kind === 'dm' ? ['This is the beginning of your conversation with ', h('strong', title), '.'] : ['This is the very beginning of ', h('strong', conv.kind === 'channel' ? `#${title}` : title), '.'];
      content = h('div.beginning', avatar({ id: conv.kind === 'dm' ? conv.peer : conv.id, name: title, kind: conv.kind, size: 'big', url: conv.kind === 'dm' ? this.store.users.get(conv.peer)?.avatar_url : null }), h('p', what), conv.topic ? h('p.muted', conv.topic) : msgs.length ? null : h('p.muted', 'No messages yet.'));
    }
    const state = content ? content.className : '';
    if (this.topEl.dataset.state !== state || state === 'beginning') {
      this.topEl.dataset.state = state;
      fill(this.topEl, content);
    }
  }

  messageEl(m, own) {
    const s = this.store;
    const conv = this.conv;
    const showSender = !own && conv && conv.kind !== 'dm';
    const sender = s.users.get(m.sender);
    const name = sender ? sender.display_name || sender.handle : m.sender_handle;
    return h(
      `li.msg${own ? '.own' : ''}`,
      { data: { seq: m.seq, id: m.id } },
      own ? null : avatar({ id: m.sender, name, url: sender && sender.avatar_url, size: 'small' }),
      h(
        'div.msg-body',
        showSender ? h('div.sender', name) : null,
        h(
          'div.bubble',
          h('span.sr-only', `${own ? 'You' : name}: `),
          h('span.text', linkify(m.text)),
          h('span.meta', h('time', { datetime: new Date(m.ts).toISOString(), title: formatFull(m.ts) }, formatTime(m.ts)), own ? icon('check', 'tiny sent') : null),
        ),
      ),
    );
  }

  pendingEl(e) {
    return h('li.msg.own.pending', { data: { clientId: e.client_id } }, h('div.msg-body', h('div.bubble', h('span.text', linkify(e.text)), h('span.meta'))), h('div.pending-actions'));
  }

  updatePending(el, e) {
    const failed = e.state === 'failed';
    el.classList.toggle('failed', failed);
    const meta = el.querySelector('.meta');
    fill(meta, failed ? [icon('alert', 'tiny'), ' Not sent'] : [icon('clock', 'tiny'), this.store.conn.state === 'online' ? ' Sending…' : ' Waiting for connection…']);
    const actions = el.querySelector('.pending-actions');
    if (failed) {
      if (!actions.firstChild) {
        fill(
          actions,
          h('span.pending-error', e.error || 'The server refused this message.'),
          h('button.link-btn', { type: 'button', onclick: () => this.session.retry(e.client_id) }, 'Retry'),
          h('button.link-btn.danger', { type: 'button', onclick: () => this.session.discard(e.client_id) }, 'Discard'),
        );
      }
    } else {
      fill(actions);
    }
  }

  renderTyping() {
    const conv = this.conv;
    const users = conv ? this.store.typingIn(conv.id) : [];
    const names = users.map((u) => nameOf(this.store, u));
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing`;
    else if (names.length > 2) text = 'Several people are typing';
    if (this.typingEl.dataset.text === text) return;
    this.typingEl.dataset.text = text;
    fill(this.typingEl, text ? [h('span.dots', { aria: { hidden: 'true' } }, h('i'), h('i'), h('i')), h('span', `${text}…`)] : null);
  }

  // --- scrolling and reading ---------------------------------------------------------------

  firstVisible() {
    const top = this.scroller.getBoundingClientRect().top;
    for (const el of this.list.children) {
      if (el.getBoundingClientRect().bottom > top) return el;
    }
    return null;
  }

  onScroll() {
    if (this.scroller.scrollTop < LOAD_OLDER_PX) this.loadOlder();
    this.updateJump();
    this.markReadSoon();
  }

  async loadOlder() {
    const conv = this.conv;
    if (!conv || this.loadingOlder) return;
    this.loadingOlder = true;
    try {
      await this.session.loadOlder(conv.id);
    } catch (e) {
      this.app.toastError('Could not load earlier messages', e);
    } finally {
      this.loadingOlder = false;
    }
  }

  atBottom() {
    const sc = this.scroller;
    return sc.scrollHeight - sc.scrollTop - sc.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom(smooth) {
    this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: smooth ? 'smooth' : 'auto' });
  }

  updateJump() {
    const conv = this.conv;
    const show = !this.atBottom() && conv && conv.unread > 0;
    this.jumpBtn.hidden = !show;
    if (show) this.jumpBtn.lastElementChild.textContent = `${conv.unread} new message${conv.unread === 1 ? '' : 's'}`;
  }

  markReadSoon = debounce(() => this.maybeMarkRead(), 150);

  /** Moves my read marker to the newest message on screen, while the page is visible. */
  maybeMarkRead() {
    const conv = this.conv;
    if (!conv || !this.scroller || document.visibilityState !== 'visible') return;
    if (conv.unread <= 0) return;
    const view = this.scroller.getBoundingClientRect();
    const items = this.list.children;
    for (let i = items.length - 1; i >= 0; i--) {
      const el = items[i];
      if (!el.classList.contains('msg') || el.classList.contains('pending')) continue;
      const r = el.getBoundingClientRect();
      if (r.top + Math.min(r.height, 32) <= view.bottom) {
        this.session.markRead(conv.id, Number(el.dataset.seq));
        return;
      }
    }
  }

  // --- composing ---------------------------------------------------------------------------

  onComposerKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey) {
      e.preventDefault();
      this.submit(e);
    } else if (e.key === 'Escape' && isNarrow()) {
      this.app.navigate(null);
    }
  }

  onInput() {
    this.autosize();
    this.composerError.textContent = '';
    const conv = this.conv;
    if (conv && this.input.value.trim()) this.session.typing(conv.id);
  }

  autosize() {
    const el = this.input;
    if (!el.isConnected || !el.offsetParent) {
      // Hidden (a phone showing the list): measure when shown.
      el.style.height = '';
      return;
    }
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  }

  submit(e) {
    e.preventDefault();
    const text = this.input.value;
    if (!text.trim()) return;
    if (new TextEncoder().encode(text).length > MAX_TEXT_BYTES) {
      this.composerError.textContent = `That message is too long (at most ${MAX_TEXT_BYTES} bytes).`;
      return;
    }
    const t = this.target;
    if (t.draft) this.session.send(this.key, `@${t.draft.handle}`, text);
    else this.session.send(this.key, t.convId, text);
    if (t.convId != null) this.session.stoppedTyping(t.convId);
    this.input.value = '';
    this.drafts.delete(this.key);
    this.autosize();
    this.input.focus();
    this.scrollToBottom(false);
  }

  saveDraft() {
    if (!this.target || !this.input) return;
    if (this.input.value) this.drafts.set(this.key, this.input.value);
    else this.drafts.delete(this.key);
  }

  showInfo() {
    const conv = this.conv;
    if (conv && conv.kind !== 'dm') this.app.dialogs.roomInfo(conv.id);
  }
}

/** "Ann", "Ann and Bo", "Ann, Bo and Cy", "Ann, Bo, Cy and 4 others". */
function listNames(names) {
  if (names.length <= 1) return names.join('');
  if (names.length <= 3) return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  return `${names.slice(0, 3).join(', ')} and ${names.length - 3} others`;
}

const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}]/g;

/** Text with web addresses as links; everything stays text nodes (no markup is parsed). */
function linkify(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer nofollow' }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
