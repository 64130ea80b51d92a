// Modal dialogs (native <dialog>: focus is kept inside, Escape closes): starting a direct
// message, browsing and creating rooms, a room's details and members, and the profile.

import { avatar, debounce, fill, h, icon, iconButton } from './dom.js';

/** A dialog shell; `build(body, close)` fills it. Resolves with what `close(value)` got. */
function modal(title, build, { wide = false, onClose } = {}) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const body = h('div.dialog-body');
    const dlg = h(
      `dialog.dialog${wide ? '.wide' : ''}`,
      { aria: { labelledby: titleId } },
      h('header.dialog-head', h('h2', { id: titleId }, title), iconButton('close', 'Close', () => close(undefined))),
      body,
    );
    let result;
    const close = (value) => {
      result = value;
      if (dlg.open) dlg.close();
    };
    dlg.addEventListener('close', () => {
      onClose?.();
      dlg.remove();
      resolve(result);
    });
    // A click on the backdrop (outside the box) closes, as people expect.
    dlg.addEventListener('mousedown', (e) => {
      if (e.target === dlg) {
        const r = dlg.getBoundingClientRect();
        const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
        if (!inside) close(undefined);
      }
    });
    build(body, close, dlg);
    document.body.append(dlg);
    dlg.showModal();
  });
}

function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h('div.field', h('label', { for: id }, label), input, hint ? h('p.hint', hint) : null);
}

function errorText(e) {
  return e && e.message ? e.message : String(e);
}

/** A search box that lists users; `pick(user)` is called for the one chosen. */
function userPicker(session, store, { label, pick, exclude = () => false, placeholder = 'Name or @handle' }) {
  const input = h('input', { type: 'search', placeholder, autocomplete: 'off', spellcheck: 'false', aria: { label } });
  const results = h('ul.user-results', { aria: { label: 'People found' } });
  const status = h('p.picker-status', { role: 'status' });
  let seq = 0;
  const search = debounce(async () => {
    const q = input.value.trim().replace(/^@/, '');
    const mine = ++seq;
    if (!q) {
      fill(results);
      status.textContent = '';
      return;
    }
    try {
      const users = (await session.searchUsers(q)).filter((u) => !exclude(u));
      if (mine !== seq) return;
      for (const u of users) store.putUser(u);
      status.textContent = users.length ? '' : `Nobody matches “${q}”.`;
      fill(
        results,
        users.map((u) =>
          h(
            'li',
            h(
              'button.user-result',
              { type: 'button', onclick: () => pick(u), data: { handle: u.handle } },
              avatar({ id: u.id, name: u.display_name, url: u.avatar_url }),
              h('span.user-text', h('span.user-name', u.display_name), h('span.user-handle', `@${u.handle}`)),
            ),
          ),
        ),
      );
    } catch (e) {
      if (mine === seq) status.textContent = `Search failed: ${errorText(e)}`;
    }
  }, 180);
  input.addEventListener('input', search);
  input.addEventListener('keydown', (e) => {
    const buttons = [...results.querySelectorAll('button')];
    if (e.key === 'Enter') {
      e.preventDefault();
      if (buttons[0]) buttons[0].click();
    } else if (e.key === 'ArrowDown' && buttons[0]) {
      e.preventDefault();
      buttons[0].focus();
    }
  });
  results.addEventListener('keydown', (e) => {
    const buttons = [...results.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    if (e.key === 'ArrowDown' && i >= 0) {
      e.preventDefault();
      buttons[Math.min(buttons.length - 1, i + 1)].focus();
    } else if (e.key === 'ArrowUp' && i >= 0) {
      e.preventDefault();
      if (i === 0) input.focus();
      else buttons[i - 1].focus();
    }
  });
  return { el: h('div.picker', input, status, results), input, clear: () => { input.value = ''; fill(results); } };
}

export class Dialogs {
  constructor(store, app) {
    this.store = store;
    this.app = app;
  }

  get session() {
    return this.app.session;
  }

  /** Confirmation with a clear verb; resolves true or false. */
  async confirm(title, text, verb, danger = true) {
    return (
      (await modal(title, (body, close) => {
        const ok = h(`button.${danger ? 'danger' : 'primary'}`, { type: 'button', onclick: () => close(true) }, verb);
        fill(body, h('p', text), h('div.dialog-actions', h('button.secondary', { type: 'button', onclick: () => close(false) }, 'Cancel'), ok));
        queueMicrotask(() => ok.focus());
      })) === true
    );
  }

  /** "New message": find a person and open the conversation with them. */
  newMessage() {
    return modal('New message', (body, close) => {
      const me = this.store.me;
      const picker = userPicker(this.session, this.store, {
        label: 'Search people by name or handle',
        exclude: (u) => me && u.id === me.id,
        pick: (u) => {
          close(u);
          this.app.openDM(u);
        },
      });
      fill(body, h('p.muted', 'Find someone by their name or handle.'), picker.el);
      queueMicrotask(() => picker.input.focus());
    });
  }

  /** Channels: browse, join, open; create a channel or a private group. */
  rooms() {
    return modal(
      'Channels and groups',
      (body, close) => {
        const listEl = h('ul.room-list', { aria: { label: 'Channels and groups' } });
        const status = h('p.picker-status', { role: 'status' });
        const render = () => {
          const rooms = [...this.store.rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
          status.textContent = rooms.length ? '' : 'No channels yet. Create the first one!';
          fill(
            listEl,
            rooms.map((r) => {
              const joined = r.joined || this.store.convs.has(r.id);
              const action = joined
                ? h('button.secondary.small', { type: 'button', onclick: () => (close(r), this.app.navigate(r.id)), aria: { label: `Open ${r.kind === 'channel' ? '#' : ''}${r.name}` } }, 'Open')
                : h(
                    'button.primary.small',
                    {
                      type: 'button',
                      aria: { label: `Join #${r.name}` },
                      onclick: async (e) => {
                        e.currentTarget.disabled = true;
                        try {
                          await this.session.joinRoom(r.id);
                          close(r);
                          this.app.navigate(r.id);
                        } catch (err) {
                          status.textContent = `Could not join: ${errorText(err)}`;
                          render();
                        }
                      },
                    },
                    'Join',
                  );
              return h(
                'li.room-row',
                { data: { room: r.name } },
                avatar({ id: r.id, name: r.name, kind: r.kind }),
                h('span.room-text', h('span.room-name', r.kind === 'channel' ? `#${r.name}` : r.name), h('span.room-meta', [r.kind === 'group' ? 'Private group' : 'Channel', ` · ${r.member_count || 0} member${r.member_count === 1 ? '' : 's'}`, r.topic ? ` · ${r.topic}` : ''])),
                action,
              );
            }),
          );
        };
        const unsub = this.store.subscribe((topics) => {
          if (topics.has('rooms') || topics.has('list')) render();
        });
        body.closest('dialog')?.addEventListener('close', unsub);
        const heading = body.closest('dialog')?.querySelector('h2');
        const createBtn = h(
          'button.primary',
          {
            type: 'button',
            onclick: () => {
              if (heading) heading.textContent = 'New channel or group';
              this.createRoomForm(body, close, () => showList());
            },
          },
          icon('plus'),
          'Create',
        );
        const showList = () => {
          if (heading) heading.textContent = 'Channels and groups';
          fill(body, h('div.dialog-toolbar', h('p.muted', 'Public channels anyone can join, and the private groups you are in.'), createBtn), status, listEl);
          render();
        };
        showList();
        this.session.loadRooms().catch((e) => (status.textContent = `Could not load channels: ${errorText(e)}`));
      },
      { wide: true },
    );
  }

  createRoomForm(body, close, back) {
    const name = h('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. general', pattern: '[a-z0-9][a-z0-9_.\\-]{1,63}' });
    const topic = h('input', { name: 'topic', maxlength: 256, autocomplete: 'off', placeholder: 'What is it about? (optional)' });
    const kindChannel = h('input', { type: 'radio', name: 'kind', value: 'channel', checked: true, id: 'kind-channel' });
    const kindGroup = h('input', { type: 'radio', name: 'kind', value: 'group', id: 'kind-group' });
    const members = new Map();
    const chips = h('ul.chips', { aria: { label: 'People to add' } });
    const renderChips = () =>
      fill(
        chips,
        [...members.values()].map((u) => h('li.chip', h('span', u.display_name), iconButton('close', `Remove ${u.display_name}`, () => (members.delete(u.handle), renderChips()), 'tiny-btn'))),
      );
    const picker = userPicker(this.session, this.store, {
      label: 'Add people',
      exclude: (u) => u.id === this.store.me.id || members.has(u.handle),
      pick: (u) => {
        members.set(u.handle, u);
        renderChips();
        picker.clear();
        picker.input.focus();
      },
    });
    const membersBox = h('div.field', h('label', { for: picker.input.id || 'add-people' }, 'Add people (optional)'), chips, picker.el);
    picker.input.id = 'add-people';
    const error = h('p.form-error', { role: 'alert' });
    const submit = h('button.primary', { type: 'submit' }, 'Create channel');
    const sync = () => {
      submit.textContent = kindGroup.checked ? 'Create group' : 'Create channel';
    };
    kindChannel.addEventListener('change', sync);
    kindGroup.addEventListener('change', sync);
    name.addEventListener('input', () => {
      const v = name.value.toLowerCase().replace(/^#/, '').replace(/\s+/g, '-');
      if (v !== name.value) name.value = v;
    });
    const form = h(
      'form.stack',
      {
        novalidate: true,
        onsubmit: async (e) => {
          e.preventDefault();
          error.textContent = '';
          const n = name.value.trim().replace(/^#/, '');
          if (!/^[a-z0-9][a-z0-9_.-]{1,63}$/.test(n)) {
            error.textContent = 'Names are 2 to 64 characters: lower-case letters, digits, _ . and -, starting with a letter or digit.';
            name.focus();
            return;
          }
          submit.disabled = true;
          try {
            const room = await this.session.createRoom({ name: n, kind: kindGroup.checked ? 'group' : 'channel', topic: topic.value.trim(), members: [...members.values()].map((u) => u.id) });
            close(room);
            this.app.navigate(room.id);
          } catch (err) {
            error.textContent = errorText(err);
            submit.disabled = false;
          }
        },
      },
      h(
        'fieldset.kind',
        h('legend', 'Kind'),
        h('label.radio', kindChannel, h('span', h('strong', 'Channel'), h('span.muted', 'Public: anyone can find and join it'))),
        h('label.radio', kindGroup, h('span', h('strong', 'Private group'), h('span.muted', 'Only the people you add'))),
      ),
      field('Name', name),
      field('Topic', topic),
      membersBox,
      error,
      h('div.dialog-actions', h('button.secondary', { type: 'button', onclick: back }, 'Back'), submit),
    );
    fill(body, form);
    name.focus();
  }

  /** A room's details: topic, members (with presence), add people, leave, delete. */
  roomInfo(convId) {
    const conv = this.store.convs.get(convId);
    if (!conv) return null;
    const title = conv.kind === 'channel' ? `#${conv.name}` : conv.name;
    let unsub = null;
    return modal(
      title,
      (body, close) => {
        const me = this.store.me;
        const isOwner = conv.owner === me.id;
        const membersEl = h('ul.member-list', { aria: { label: 'Members' } });
        const status = h('p.picker-status', { role: 'status' });
        const renderMembers = () => {
          const members = this.store.members.get(convId);
          if (!members) {
            fill(membersEl, h('li.muted', 'Loading members…'));
            return;
          }
          const list = [...members.values()].sort((a, b) => (a.display_name || a.handle).localeCompare(b.display_name || b.handle));
          fill(
            membersEl,
            list.map((u) =>
              h(
                'li.member',
                avatar({ id: u.id, name: u.display_name, url: u.avatar_url, presence: this.store.presence.get(u.id) === true }),
                h('span.user-text', h('span.user-name', u.display_name || u.handle, u.id === me.id ? h('span.muted', ' (you)') : null, u.id === conv.owner ? h('span.tag', 'owner') : null), h('span.user-handle', `@${u.handle}`, u.status_text ? ` · ${u.status_text}` : '')),
                u.id !== me.id ? iconButton('edit', `Message ${u.display_name || u.handle}`, () => (close(), this.app.openDM(u)), 'small-icon') : null,
              ),
            ),
          );
        };
        unsub = this.store.subscribe((topics) => {
          if (topics.has('members') || topics.has('presence') || topics.has('users')) renderMembers();
        });
        const parts = [
          h('p.room-kind', conv.kind === 'group' ? [icon('lock', 'tiny'), ' Private group'] : [icon('hash', 'tiny'), ' Public channel']),
          conv.topic ? h('p.room-topic', conv.topic) : null,
          h('h3', 'Members'),
          membersEl,
        ];
        if (isOwner) {
          const picker = userPicker(this.session, this.store, {
            label: 'Add people to this room',
            exclude: (u) => this.store.members.get(convId)?.has(u.id),
            pick: async (u) => {
              try {
                await this.session.addMembers(convId, [u.id]);
                status.textContent = `${u.display_name} was added.`;
                picker.clear();
              } catch (e) {
                status.textContent = `Could not add ${u.display_name}: ${errorText(e)}`;
              }
            },
          });
          parts.push(h('h3', 'Add people'), picker.el, status);
        }
        const leave = h(
          'button.secondary',
          {
            type: 'button',
            onclick: async () => {
              if (!(await this.confirm(`Leave ${title}?`, conv.kind === 'group' ? 'You will need to be added again to come back.' : 'You can join again any time.', 'Leave'))) return;
              try {
                await this.session.leaveRoom(convId);
                close();
              } catch (e) {
                status.textContent = `Could not leave: ${errorText(e)}`;
              }
            },
          },
          icon('door'),
          'Leave',
        );
        const destroy = isOwner
          ? h(
              'button.danger',
              {
                type: 'button',
                onclick: async () => {
                  if (!(await this.confirm(`Delete ${title}?`, 'The room and its whole history are deleted for everyone. This cannot be undone.', 'Delete'))) return;
                  try {
                    await this.session.destroyRoom(convId);
                    close();
                  } catch (e) {
                    status.textContent = `Could not delete: ${errorText(e)}`;
                  }
                },
              },
              icon('trash'),
              'Delete',
            )
          : null;
        parts.push(isOwner ? null : status, h('div.dialog-actions.split', leave, destroy));
        fill(body, parts);
        renderMembers();
        this.session.loadMembers(convId).catch((e) => (status.textContent = `Could not load members: ${errorText(e)}`));
      },
      { onClose: () => unsub && unsub() },
    );
  }

  /** My profile: display name, status, picture; and logging out. */
  profile() {
    const me = this.store.me;
    if (!me) return null;
    return modal('Your profile', (body, close) => {
      const name = h('input', { name: 'display_name', value: me.display_name || '', maxlength: 64, required: true, autocomplete: 'name' });
      const statusText = h('input', { name: 'status_text', value: me.status_text || '', maxlength: 140, placeholder: 'What are you up to?' });
      const url = h('input', { name: 'avatar_url', type: 'url', value: me.avatar_url || '', maxlength: 512, placeholder: 'https://… (optional)' });
      const error = h('p.form-error', { role: 'alert' });
      const save = h('button.primary', { type: 'submit' }, 'Save');
      const form = h(
        'form.stack',
        {
          novalidate: true,
          onsubmit: async (e) => {
            e.preventDefault();
            error.textContent = '';
            if (!name.value.trim()) {
              error.textContent = 'Your display name cannot be empty.';
              name.focus();
              return;
            }
            save.disabled = true;
            try {
              await this.session.updateProfile({ display_name: name.value.trim(), status_text: statusText.value.trim(), avatar_url: url.value.trim() });
              close(true);
              this.app.toast('Profile saved');
            } catch (err) {
              error.textContent = errorText(err);
              save.disabled = false;
            }
          },
        },
        h('div.profile-card', avatar({ id: me.id, name: me.display_name, url: me.avatar_url, size: 'big' }), h('div', h('p.profile-name', me.display_name), h('p.muted', `@${me.handle}`))),
        field('Display name', name),
        field('Status', statusText, 'Shown next to your name. Up to 140 characters.'),
        field('Picture URL', url),
        error,
        h('div.dialog-actions.split', h('button.secondary', { type: 'button', onclick: () => (close(), this.app.logout()) }, icon('logout'), 'Log out'), save),
      );
      fill(body, form);
      queueMicrotask(() => name.focus());
    });
  }
}
