// The sidebar: who I am, the buttons to start things, and the conversation list (rooms and
// direct messages by recent activity, with unread badges, previews and presence).

import { avatar, fill, formatShort, h, icon, iconButton, reconcile } from './dom.js';
import { convTitle, nameOf } from './store.js';

export class ConversationList {
  constructor(store, app) {
    this.store = store;
    this.app = app;
    this.ul = document.getElementById('conv-list');
    this.empty = document.getElementById('list-empty');
    this.meBtn = document.getElementById('me-btn');
    this.cache = new Map();
    this.meBtn.addEventListener('click', () => app.dialogs.profile());
    fill(
      document.getElementById('head-actions'),
      iconButton('edit', 'New message', () => app.dialogs.newMessage()),
      iconButton('hash', 'Channels and groups', () => app.dialogs.rooms()),
    );
    fill(
      this.empty,
      h('p.empty-title', 'No conversations yet'),
      h('p', 'Message someone, or join a channel to start talking.'),
      h('div.empty-actions', h('button.primary', { type: 'button', onclick: () => app.dialogs.newMessage() }, 'New message'), h('button.secondary', { type: 'button', onclick: () => app.dialogs.rooms() }, 'Browse channels')),
    );
    this.ul.addEventListener('keydown', (e) => this.onKey(e));
  }

  render(topics) {
    const s = this.store;
    if (topics.has('me') || topics.has('all') || topics.has('presence') || topics.has('conn')) this.renderMe();
    const convs = s.sortedConvs();
    const current = this.app.route.convId;
    reconcile(
      this.ul,
      this.cache,
      convs.map((conv) => ({
        key: conv.id,
        create: () => h('li.conv-item', h('a.conv-link', { href: `#/c/${conv.id}`, data: { conv: conv.id } })),
        update: (li) => this.updateItem(li.firstElementChild, conv, conv.id === current),
      })),
    );
    this.empty.hidden = convs.length > 0 || !s.convsLoaded;
  }

  renderMe() {
    const me = this.store.me;
    if (!me) return;
    const online = this.store.conn.state === 'online';
    fill(
      this.meBtn,
      avatar({ id: me.id, name: me.display_name, url: me.avatar_url, presence: online }),
      h('span.me-text', h('span.me-name', me.display_name || me.handle), h('span.me-status', me.status_text || `@${me.handle}`)),
    );
  }

  updateItem(a, conv, active) {
    const s = this.store;
    const title = convTitle(s, conv);
    const peer = conv.kind === 'dm' ? s.users.get(conv.peer) : null;
    const online = conv.kind === 'dm' ? s.presence.get(conv.peer) === true : undefined;
    const pending = s.outbox.filter((e) => e.key === `c:${conv.id}`);
    const last = conv.last_message;
    let preview;
    if (pending.length) {
      const p = pending[pending.length - 1];
      preview = [icon(p.state === 'failed' ? 'alert' : 'clock', 'tiny'), p.state === 'failed' ? 'Not sent: ' : 'You: ', p.text];
    } else if (last) {
      const who = s.me && last.sender === s.me.id ? 'You: ' : conv.kind === 'dm' ? '' : `${nameOf(s, last.sender)}: `;
      preview = [who, oneLine(last.text)];
    } else {
      preview = [conv.kind === 'dm' ? 'No messages yet' : conv.topic || 'No messages yet'];
    }
    a.classList.toggle('active', active);
    a.classList.toggle('unread', conv.unread > 0);
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
    const when = conv.last_message ? conv.last_message.ts : conv.last_activity;
    fill(
      a,
      avatar({ id: conv.kind === 'dm' ? conv.peer : conv.id, name: title, url: peer && peer.avatar_url, kind: conv.kind, presence: online }),
      h(
        'span.conv-main',
        h('span.conv-top', h('span.conv-name', conv.kind === 'dm' ? title : h('span', h('span.hash', conv.kind === 'group' ? '' : '#'), title)), when ? h('time.conv-time', { datetime: new Date(when).toISOString() }, formatShort(when)) : null),
        h(
          'span.conv-bottom',
          h('span.conv-preview', preview),
          conv.unread > 0 ? h('span.badge', { aria: { hidden: 'true' } }, conv.unread > 99 ? '99+' : String(conv.unread)) : null,
        ),
      ),
      h('span.sr-only', [conv.kind === 'dm' ? (online ? ', online' : ', offline') : conv.kind === 'group' ? ', private group' : ', channel', conv.unread > 0 ? `, ${conv.unread} unread` : '']),
    );
    a.dataset.unread = String(conv.unread || 0);
  }

  /** Arrow keys move between conversations. */
  onKey(e) {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const links = [...this.ul.querySelectorAll('a.conv-link')];
    const i = links.indexOf(document.activeElement);
    if (i < 0) return;
    e.preventDefault();
    const next = links[Math.max(0, Math.min(links.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)))];
    next.focus();
  }

  /** The conversation `delta` places from the open one (Alt+Up/Down). */
  neighbour(delta) {
    const convs = this.store.sortedConvs();
    const i = convs.findIndex((c) => c.id === this.app.route.convId);
    const j = i < 0 ? 0 : i + delta;
    return convs[j] || null;
  }
}

function oneLine(text) {
  return String(text).replace(/\s+/g, ' ').trim();
}
