// A smoke run of the web client in Firefox (Debian's firefox-esr), driven over WebDriver BiDi
// without any npm package (Playwright needs its own patched Firefox, which cannot be
// downloaded here). Manual, not part of CI:
//
//   apt-get install firefox-esr && node --experimental-websocket web/tests/firefox-smoke.mjs
//
// Two people sign up, message, see the badge, "Seen" and typing, ride out a server restart
// with a message sent while offline (delivered once), and open a dialog. Screenshots go to
// test-artifacts/screenshots/firefox-*.png. The profile sends everything but 127.0.0.1 to a
// dead local proxy and turns off Firefox's own services, so it contacts nothing outside.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PALAVER_BIN, REPO, Server, sleep } from './harness.mjs';

const FIREFOX = process.env.PALAVER_FIREFOX || 'firefox-esr';
if (spawnSync(FIREFOX, ['--version']).status !== 0) {
  console.error(`!!! FIREFOX SMOKE SKIPPED: ${FIREFOX} is not installed (apt-get install firefox-esr) !!!`);
  process.exit(0);
}
if (typeof WebSocket === 'undefined') {
  console.error('run with: node --experimental-websocket web/tests/firefox-smoke.mjs');
  process.exit(2);
}
console.log(`server: ${PALAVER_BIN}`);
const SHOTS = join(REPO, 'test-artifacts', 'screenshots');
mkdirSync(SHOTS, { recursive: true });
const srv = new Server(); await srv.start();
const prof = mkdtempSync(join(tmpdir(), 'palaver-firefox-'));
const prefs = {
  'network.proxy.type': 1, 'network.proxy.http': '127.0.0.1', 'network.proxy.http_port': 9,
  'network.proxy.ssl': '127.0.0.1', 'network.proxy.ssl_port': 9, 'network.proxy.socks': '127.0.0.1', 'network.proxy.socks_port': 9,
  'network.proxy.socks_remote_dns': true, 'network.proxy.no_proxies_on': '127.0.0.1', 'network.proxy.allow_hijacking_localhost': false,
  'network.dns.disablePrefetch': true, 'network.prefetch-next': false, 'network.trr.mode': 5, 'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false, 'app.update.enabled': false, 'app.update.auto': false, 'app.normandy.enabled': false,
  'browser.safebrowsing.malware.enabled': false, 'browser.safebrowsing.phishing.enabled': false, 'browser.safebrowsing.downloads.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false, 'datareporting.healthreport.uploadEnabled': false, 'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false, 'dom.push.enabled': false, 'extensions.update.enabled': false, 'browser.search.update': false,
  'services.settings.server': 'http://127.0.0.1:9/', 'browser.startup.homepage_override.mstone': 'ignore', 'browser.shell.checkDefaultBrowser': false,
  'browser.newtabpage.enabled': false, 'browser.startup.page': 0, 'extensions.getAddons.cache.enabled': false, 'media.gmp-manager.url': 'http://127.0.0.1:9/',
  'browser.aboutwelcome.enabled': false, 'datareporting.policy.firstRunURL': '', 'remote.active-protocols': 1,
};
writeFileSync(`${prof}/user.js`, Object.entries(prefs).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n'));
const port = 20000 + Math.floor(Math.random() * 20000);
const ff = spawn(FIREFOX, ['--headless', `--remote-debugging-port=${port}`, '--profile', prof, '--no-remote', 'about:blank'], { stdio: ['ignore', 'pipe', 'pipe'] });
let ffErr = ''; ff.stderr.on('data', d => ffErr += d);
for (let i = 0; i < 100 && !/WebDriver BiDi listening/.test(ffErr); i++) await sleep(200);
const ws = new WebSocket(`ws://127.0.0.1:${port}/session`);
await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
let id = 0; const waiting = new Map();
ws.onmessage = (ev) => { const m = JSON.parse(ev.data); if (m.id && waiting.has(m.id)) { const w = waiting.get(m.id); waiting.delete(m.id); m.type === 'error' ? w.j(new Error(m.error + ': ' + m.message)) : w.r(m.result); } };
const cmd = (method, params) => new Promise((r, j) => { const i = ++id; waiting.set(i, { r, j }); ws.send(JSON.stringify({ id: i, method, params })); });
await cmd('session.new', { capabilities: {} });
const contexts = [];
for (const name of ['alice', 'bob']) {
  const uc = await cmd('browser.createUserContext', {});
  const { context } = await cmd('browsingContext.create', { type: 'tab', userContext: uc.userContext });
  await cmd('browsingContext.setViewport', { context, viewport: { width: 1100, height: 720 } });
  await cmd('browsingContext.navigate', { context, url: srv.url, wait: 'complete' });
  contexts.push({ name, context });
}
const js = async (c, expression) => { const r = await cmd('script.evaluate', { expression, target: { context: c.context }, awaitPromise: true, resultOwnership: 'none' }); if (r.type !== 'success') throw new Error(`${c.name}: ${JSON.stringify(r.exceptionDetails?.text || r)}`); return r.result.value; };
const until = async (c, expr, what, ms = 20000) => { const t = Date.now(); while (Date.now() - t < ms) { if (await js(c, expr)) return; await sleep(200); } throw new Error(`${c.name}: timed out waiting for ${what}`); };
const shot = async (c, file) => { const { data } = await cmd('browsingContext.captureScreenshot', { context: c.context }); writeFileSync(file, Buffer.from(data, 'base64')); };
// Type into a field as a person would: set the value and fire input.
const fill = (sel, v) => `(() => { const el = document.querySelector(${JSON.stringify(sel)}); el.focus(); el.value = ${JSON.stringify(v)}; el.dispatchEvent(new Event('input', { bubbles: true })); return true; })()`;
const click = (sel) => `(() => { document.querySelector(${JSON.stringify(sel)}).click(); return true; })()`;
const [a, b] = contexts;
try {
  for (const c of contexts) await until(c, `document.body.dataset.screen === 'auth'`, 'login screen');
  await shot(a, join(SHOTS, 'firefox-01-login.png'));
  for (const [c, h, n] of [[a, 'alice', 'Alice Liddell'], [b, 'bob', 'Bob Builder']]) {
    await js(c, click('#mode-signup')); await js(c, fill('#auth-handle', h)); await js(c, fill('#auth-display-name', n)); await js(c, fill('#auth-password', 'password123'));
    await js(c, click('#auth-submit'));
    await until(c, `document.body.dataset.screen === 'app' && document.body.dataset.conn === 'online'`, 'signed in');
  }
  await js(a, `(location.hash = '#/dm/bob', true)`);
  await until(a, `!!document.querySelector('textarea.composer-input')`, 'composer');
  await js(a, fill('textarea.composer-input', 'Hello from Firefox'));
  await js(a, `(document.querySelector('form.composer').requestSubmit(), true)`);
  await until(a, `[...document.querySelectorAll('li.msg:not(.pending) .text')].some(e => e.textContent === 'Hello from Firefox')`, 'sent message');
  await until(b, `document.querySelector('a.conv-link .badge')?.textContent === '1'`, 'unread badge');
  await js(b, click('a.conv-link'));
  await until(b, `[...document.querySelectorAll('li.msg .text')].some(e => e.textContent === 'Hello from Firefox')`, 'message at bob');
  await until(a, `!!document.querySelector('li.seen')`, 'seen marker');
  await js(b, fill('textarea.composer-input', 'typing here'));
  await until(a, `/is typing/.test(document.querySelector('.typing')?.textContent || '')`, 'typing indicator');
  await shot(a, join(SHOTS, 'firefox-02-direct-message.png'));
  await srv.stop();
  await until(a, `!document.getElementById('conn-banner').hidden`, 'offline banner');
  await shot(b, join(SHOTS, 'firefox-03-offline.png'));
  await js(b, fill('textarea.composer-input', 'sent from firefox while offline'));
  await js(b, `(document.querySelector('form.composer').requestSubmit(), true)`);
  await until(b, `!!document.querySelector('li.msg.pending')`, 'pending bubble');
  await srv.start();
  for (const c of contexts) await until(c, `document.body.dataset.conn === 'online'`, 'back online', 40000);
  await until(a, `[...document.querySelectorAll('li.msg:not(.pending) .text')].filter(e => e.textContent === 'sent from firefox while offline').length === 1`, 'offline message delivered once');
  await js(b, click('#me-btn'));
  await until(b, `!!document.querySelector('dialog[open]')`, 'profile dialog');
  await shot(b, join(SHOTS, 'firefox-04-dialog.png'));
  console.log('FIREFOX SMOKE OK');
} catch (e) {
  console.log('FIREFOX SMOKE FAILED', e.message);
  process.exitCode = 1;
  await shot(a, join(SHOTS, 'firefox-failed-alice.png')).catch(() => {}); await shot(b, join(SHOTS, 'firefox-failed-bob.png')).catch(() => {});
} finally {
  ws.close();
  ff.kill('SIGTERM');
  await srv.cleanup();
  await sleep(500);
  rmSync(prof, { recursive: true, force: true });
}
