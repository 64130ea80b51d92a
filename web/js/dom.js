// DOM helpers: element construction that never parses markup (user text is always set as
// textContent), keyed reconciliation of lists, icons, and formatting of names and times.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * h('button.primary', {type: 'submit', onclick: fn, aria: {label: 'Send'}}, 'Send')
 * Strings and numbers become text nodes; null/false children are skipped.
 */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  if (attrs) setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'aria') {
      for (const [a, av] of Object.entries(v)) if (av != null) el.setAttribute(`aria-${a}`, String(av));
    } else if (k === 'data') {
      for (const [a, av] of Object.entries(v)) if (av != null) el.dataset[a] = String(av);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'text') {
      el.textContent = v;
    } else if (k in el && typeof v !== 'string') {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  clear(el);
  append(el, children);
}

/**
 * Makes `container`'s children exactly `items` (each {key, create(), update?(el)}), in order,
 * reusing the element already made for a key. Elements are moved only when out of place, so
 * focus and text selection survive unrelated updates.
 */
export function reconcile(container, cache, items) {
  const keep = new Set();
  let i = 0;
  for (const item of items) {
    keep.add(item.key);
    let el = cache.get(item.key);
    if (!el) {
      el = item.create();
      cache.set(item.key, el);
    }
    if (item.update) item.update(el);
    const at = container.children[i];
    if (at !== el) container.insertBefore(el, at || null);
    i++;
  }
  while (container.children.length > i) container.lastElementChild.remove();
  for (const key of cache.keys()) if (!keep.has(key)) cache.delete(key);
}

// Icons: paths of a 24x24 stroke icon set drawn for this client.
const ICONS = {
  send: 'M4 12l16-8-6 16-3-7-7-1z',
  plus: 'M12 5v14M5 12h14',
  hash: 'M9 4L7 20M17 4l-2 16M4 9h16M3 15h16',
  lock: 'M6 11h12v9H6zM8 11V8a4 4 0 018 0v3',
  user: 'M12 12a4 4 0 100-8 4 4 0 000 8zM4 20c1.5-4 4.5-6 8-6s6.5 2 8 6',
  users: 'M9 11a3.5 3.5 0 100-7 3.5 3.5 0 000 7zM2.5 20c1-3.5 3.5-5.5 6.5-5.5s5.5 2 6.5 5.5M16 4.5a3.5 3.5 0 010 6.5M18 14.5c2 .8 3.2 2.6 3.8 5.5',
  edit: 'M4 20h4L19 9l-4-4L4 16zM14 6l4 4',
  back: 'M15 5l-7 7 7 7',
  close: 'M6 6l12 12M18 6L6 18',
  info: 'M12 11v6M12 7.5v.5M12 21a9 9 0 100-18 9 9 0 000 18z',
  search: 'M11 18a7 7 0 100-14 7 7 0 000 14zM16 16l4.5 4.5',
  logout: 'M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10',
  down: 'M6 9l6 6 6-6',
  clock: 'M12 21a9 9 0 100-18 9 9 0 000 18zM12 7v5l3 2',
  alert: 'M12 9v4M12 16.5v.5M10.3 4.3L2.6 18a2 2 0 001.7 3h15.4a2 2 0 001.7-3L13.7 4.3a2 2 0 00-3.4 0z',
  check: 'M5 12.5l4.5 4.5L19 7.5',
  retry: 'M20 11a8 8 0 10-2.3 5.7M20 4v7h-7',
  trash: 'M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13',
  door: 'M14 4h5v16h-5M4 12h11M11 8l4 4-4 4',
  settings: 'M12 15a3 3 0 100-6 3 3 0 000 6zM19.4 15a1.7 1.7 0 00.3 1.8l.1.1a2 2 0 11-2.8 2.8l-.1-.1a1.7 1.7 0 00-1.8-.3 1.7 1.7 0 00-1 1.5V21a2 2 0 11-4 0v-.1a1.7 1.7 0 00-1.1-1.5 1.7 1.7 0 00-1.8.3l-.1.1a2 2 0 11-2.8-2.8l.1-.1a1.7 1.7 0 00.3-1.8 1.7 1.7 0 00-1.5-1H3a2 2 0 110-4h.1a1.7 1.7 0 001.5-1.1 1.7 1.7 0 00-.3-1.8l-.1-.1a2 2 0 112.8-2.8l.1.1a1.7 1.7 0 001.8.3H9a1.7 1.7 0 001-1.5V3a2 2 0 114 0v.1a1.7 1.7 0 001 1.5 1.7 1.7 0 001.8-.3l.1-.1a2 2 0 112.8 2.8l-.1.1a1.7 1.7 0 00-.3 1.8V9a1.7 1.7 0 001.5 1H21a2 2 0 110 4h-.1a1.7 1.7 0 00-1.5 1z',
};

export function icon(name, cls = '') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', `icon ${cls}`.trim());
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', ICONS[name] || '');
  svg.append(path);
  return svg;
}

/** An icon-only button: the label is its accessible name and its tooltip. */
export function iconButton(name, label, onclick, cls = '') {
  return h(`button.icon-btn${cls ? '.' + cls : ''}`, { type: 'button', title: label, aria: { label }, onclick }, icon(name));
}

// --- names and avatars -------------------------------------------------------------------

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const chars = words.length > 1 ? [words[0], words[words.length - 1]].map((w) => [...w][0]) : [...(words[0] || '?')].slice(0, 2);
  return chars.join('').toUpperCase();
}

/** A colour class chosen by id so a person keeps their colour everywhere. */
export function hueClass(id) {
  return `hue-${Math.abs(Number(id) || 0) % 8}`;
}

/**
 * An avatar: the user's picture when they gave one, their initials otherwise; `presence` adds
 * a dot (true online, false offline, undefined none).
 */
export function avatar({ id, name, url, kind, presence, size = '' }) {
  const el = h(`span.avatar${size ? '.' + size : ''}`, { aria: { hidden: 'true' } });
  if (kind === 'channel') {
    el.classList.add('room');
    el.append(icon('hash'));
  } else if (kind === 'group') {
    el.classList.add('room');
    el.append(icon('lock'));
  } else if (url) {
    const img = h('img', { alt: '', src: url, referrerPolicy: 'no-referrer', loading: 'lazy', decoding: 'async' });
    img.addEventListener('error', () => {
      img.remove();
      el.classList.add(hueClass(id));
      el.textContent = initials(name);
    });
    el.append(img);
  } else {
    el.classList.add(hueClass(id));
    el.textContent = initials(name);
  }
  if (presence !== undefined) el.append(h(`span.presence${presence ? '.online' : ''}`));
  return el;
}

// --- time ----------------------------------------------------------------------------------

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const longDateFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const yearDateFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

function startOfDay(ts) {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

export function dayKey(ts) {
  return startOfDay(ts);
}

export function formatTime(ts) {
  return timeFmt.format(ts);
}

export function formatFull(ts) {
  return fullFmt.format(ts);
}

/** For the conversation list: a time today, a weekday this week, a date before. */
export function formatShort(ts, now = Date.now()) {
  const days = Math.round((startOfDay(now) - startOfDay(ts)) / 86400000);
  if (days <= 0) return timeFmt.format(ts);
  if (days < 7) return weekdayFmt.format(ts);
  if (new Date(ts).getFullYear() === new Date(now).getFullYear()) return dateFmt.format(ts);
  return yearDateFmt.format(ts);
}

/** For day separators in a conversation. */
export function formatDay(ts, now = Date.now()) {
  const days = Math.round((startOfDay(now) - startOfDay(ts)) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (new Date(ts).getFullYear() === new Date(now).getFullYear()) return longDateFmt.format(ts);
  return yearDateFmt.format(ts);
}

/** Runs `fn` at most once per `ms`, at the end of the burst. */
export function debounce(fn, ms) {
  let t = null;
  const d = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => {
      t = null;
      fn(...args);
    }, ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

export function isNarrow() {
  return window.matchMedia('(max-width: 720px)').matches;
}
