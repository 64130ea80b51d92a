// Browser tests of the web client: two people in two browser contexts against a real server.
//
//   cd web/tests && npm ci && node --test
//
// PALAVER_BIN names the server binary (default /var/cache/palaver/target/debug/palaver).
// Without Chromium or the binary the tests skip loudly; PALAVER_TEST_STRICT=1 makes that a
// failure. Screenshots go to test-artifacts/screenshots/ at the repository root;
// PALAVER_UPDATE_SCREENSHOTS=1 also copies them to docs/screenshots/ (linked from the README).

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO, STRICT, Server, launchBrowser, missingPrerequisite } from './harness.mjs';

const SHOTS = join(REPO, 'test-artifacts', 'screenshots');
const DOC_SHOTS = join(REPO, 'docs', 'screenshots');
const UPDATE_DOCS = process.env.PALAVER_UPDATE_SCREENSHOTS === '1';
const T = 20000; // how long to wait for anything that involves the network

const missing = await missingPrerequisite();

if (missing) {
  const banner = '!'.repeat(78);
  console.error(`\n${banner}\n!! BROWSER TESTS ${STRICT ? 'CANNOT RUN' : 'SKIPPED'}: ${missing}\n${banner}\n`);
  test('web client in a real browser', { skip: STRICT ? false : `SKIPPED: ${missing}` }, () => {
    assert.fail(`PALAVER_TEST_STRICT=1 and ${missing}`);
  });
} else {
  test('web client in a real browser', { timeout: 300000 }, async (t) => {
    mkdirSync(SHOTS, { recursive: true });
    const server = new Server();
    await server.start();
    const browser = await launchBrowser();
    const people = {};
    try {
      const open = async (name) => {
        const context = await browser.newContext({ viewport: { width: 1240, height: 800 }, deviceScaleFactor: 1 });
        const page = await context.newPage();
        const p = { name, context, page, errors: [], requests: [] };
        page.on('pageerror', (e) => p.errors.push(`pageerror: ${e.message}`));
        page.on('console', (m) => {
          // Connection failures while the server is down are expected; nothing else is.
          if (m.type() === 'error' && !/WebSocket|Failed to load resource|ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_REFUSED/.test(m.text())) p.errors.push(`console: ${m.text()}`);
        });
        page.on('request', (r) => p.requests.push(r.url()));
        page.on('websocket', (ws) => p.requests.push(ws.url()));
        await page.goto(server.url);
        people[name] = p;
        return p;
      };
      const shot = async (p, file) => {
        const path = join(SHOTS, file);
        await p.page.waitForFunction(() => !document.querySelector('.toast'), null, { timeout: T }); // toasts go on their own
        await p.page.screenshot({ path });
        if (UPDATE_DOCS) {
          mkdirSync(DOC_SHOTS, { recursive: true });
          copyFileSync(path, join(DOC_SHOTS, file));
        }
      };

      // Each step builds on the ones before: after a failure the rest are skipped, not failed.
      let failed = null;
      const step = (name, fn) =>
        t.test(name, async (st) => {
          if (failed) return st.skip(`an earlier step failed: ${failed}`);
          try {
            await fn();
          } catch (e) {
            failed = name;
            throw e;
          }
        });

      const alice = await open('alice');
      const bob = await open('bob');

      await step('a visitor without a session sees the login screen', async () => {
        await alice.page.locator('#auth').waitFor({ timeout: T });
        assert.equal(await alice.page.getByRole('button', { name: 'Log in', exact: true }).count(), 2); // the mode switch and the submit button
        await shot(alice, '01-login.png');
        assert.deepEqual(await unnamedControls(alice.page), []);
      });

      await step('both sign up', async () => {
        await signup(alice.page, 'alice', 'Alice Liddell');
        await signup(bob.page, 'bob', 'Bob Builder');
        assert.equal(await alice.page.locator('.me-name').textContent(), 'Alice Liddell');
      });

      await step('alice finds bob by searching and sends a direct message', async () => {
        const page = alice.page;
        await page.getByRole('button', { name: 'New message' }).first().click();
        await page.getByLabel('Search people by name or handle').fill('bui');
        await page.locator('button.user-result[data-handle="bob"]').click();
        await page.waitForURL(/#\/dm\/bob$/);
        await page.getByRole('textbox', { name: 'Message Bob Builder' }).fill('Hi Bob! 👋 <b>not bold</b>');
        await page.keyboard.press('Enter');
        // Pending until acknowledged, then a real message in a real conversation.
        await page.waitForURL(/#\/c\/\d+$/, { timeout: T });
        await waitForBubble(page, 'Hi Bob! 👋 <b>not bold</b>');
        assert.equal(await page.locator('li.msg.pending').count(), 0);
        assert.equal(await page.locator('.bubble b').count(), 0, 'user text is never parsed as markup');
      });

      await step('bob sees an unread badge, opens it, the badge clears and alice sees "Seen"', async () => {
        const page = bob.page;
        const link = convLink(page, 'Alice Liddell');
        await link.locator('.badge', { hasText: '1' }).waitFor({ timeout: T });
        assert.match(await link.locator('.conv-preview').textContent(), /Hi Bob!/);
        await shot(bob, '02-conversations-unread.png');
        await link.click();
        await waitForBubble(page, 'Hi Bob! 👋 <b>not bold</b>');
        await link.locator('.badge').waitFor({ state: 'detached', timeout: T });
        await alice.page.locator('li.seen', { hasText: 'Seen' }).waitFor({ timeout: T });
      });

      await step('they chat, and the read marker moves as bob reads', async () => {
        await send(bob.page, 'Hey Alice! Good to hear from you.');
        await waitForBubble(alice.page, 'Hey Alice! Good to hear from you.');
        await send(alice.page, 'How are you?');
        // bob has the conversation open: it is read at once, and alice's "Seen" moves below it.
        await alice.page.waitForFunction(
          () => {
            const seen = document.querySelector('li.seen');
            const before = seen && seen.previousElementSibling;
            return before && before.querySelector('.text')?.textContent === 'How are you?';
          },
          null,
          { timeout: T },
        );
        await waitForBubble(bob.page, 'How are you?');
        await shot(alice, '03-direct-message.png');
      });

      await step('alice creates #general, bob joins, both chat', async () => {
        await createChannel(alice.page, 'general', 'Anything goes');
        await alice.page.waitForURL(/#\/c\/\d+$/);
        assert.equal(await alice.page.locator('.chat-title').textContent(), '#general');

        await bob.page.getByRole('button', { name: 'Channels and groups' }).click();
        await bob.page.getByRole('button', { name: 'Join #general' }).click();
        await bob.page.locator('.chat-title', { hasText: '#general' }).waitFor({ timeout: T });

        await send(alice.page, 'Welcome to #general!');
        await waitForBubble(bob.page, 'Welcome to #general!');
        await send(bob.page, 'Glad to be here.');
        await waitForBubble(alice.page, 'Glad to be here.');
      });

      await step('bob sees alice typing', async () => {
        const input = alice.page.getByRole('textbox', { name: 'Message #general' });
        await input.click();
        await alice.page.keyboard.type('I am typing someth', { delay: 25 });
        await bob.page.locator('.typing', { hasText: 'Alice Liddell is typing' }).waitFor({ timeout: T });
        await shot(bob, '04-channel-typing.png');
        await input.fill('');
        // and it goes away on its own
        await bob.page.locator('.typing', { hasText: 'typing' }).waitFor({ state: 'detached', timeout: T });
      });

      await step('the server restarts: both show offline, catch up, nothing missing or doubled', async () => {
        await server.stop();
        for (const p of [alice, bob]) await p.page.locator('#conn-banner').waitFor({ state: 'visible', timeout: T });
        // Keep bob away after the restart so that he really has to catch up.
        await bob.context.setOffline(true);
        await bob.page.locator('body[data-conn="waiting"]').waitFor({ timeout: T });
        await shot(bob, '05-offline.png');

        // A message written while offline waits, visibly.
        await send(bob.page, 'Sent while offline');
        await bob.page.locator('li.msg.pending', { hasText: 'Sent while offline' }).waitFor();

        await server.start();
        await alice.page.locator('body[data-conn="online"]').waitFor({ timeout: 40000 });
        const burst = ['catch-up 1', 'catch-up 2', 'catch-up 3', 'catch-up 4', 'catch-up 5'];
        for (const text of burst) await send(alice.page, text);
        for (const text of burst) await waitForBubble(alice.page, text);
        await openConv(alice.page, 'Bob Builder');
        await send(alice.page, 'Missed me?');
        await waitForBubble(alice.page, 'Missed me?');
        await openConv(alice.page, '#general');

        assert.equal(await bob.page.locator('li.msg.pending', { hasText: 'Sent while offline' }).count(), 1);
        await bob.context.setOffline(false);
        await bob.page.locator('body[data-conn="online"]').waitFor({ timeout: 40000 });
        await bob.page.locator('#conn-banner').waitFor({ state: 'hidden' });

        const expected = ['Welcome to #general!', 'Glad to be here.', ...burst, 'Sent while offline'];
        await waitForBubble(bob.page, 'Sent while offline');
        await waitForBubble(alice.page, 'Sent while offline');
        for (const p of [alice, bob]) {
          assert.deepEqual(await bubbleTexts(p.page), expected, `${p.name} sees every message of #general once, in order`);
          assert.equal(await p.page.locator('li.msg.pending').count(), 0);
        }
        // bob's direct conversation got alice's message while he was away.
        await convLink(bob.page, 'Alice Liddell').locator('.badge', { hasText: '1' }).waitFor({ timeout: T });

        // What the server stored, seen fresh: the same, once each.
        await bob.page.reload();
        await bob.page.locator('body[data-conn="online"]').waitFor({ timeout: T });
        await bob.page.locator('.chat-title', { hasText: '#general' }).waitFor({ timeout: T });
        await waitForBubble(bob.page, 'Sent while offline');
        assert.deepEqual(await bubbleTexts(bob.page), expected);
      });

      await step('history pages in as you scroll up', async () => {
        await createChannel(alice.page, 'history', '');
        const roomId = Number(/#\/c\/(\d+)$/.exec(alice.page.url())[1]);
        // Seed through the page's own connection (the UI path is covered above).
        await alice.page.evaluate(async (room) => {
          const conn = window.palaver.session.conn;
          await Promise.all(Array.from({ length: 130 }, (_, i) => conn.call('messages.send', { to: room, text: `old message ${i + 1}`, client_id: `seed-${room}-${i}` })));
        }, roomId);
        await bob.page.getByRole('button', { name: 'Channels and groups' }).click();
        await bob.page.getByRole('button', { name: 'Join #history' }).click();
        await waitForBubble(bob.page, 'old message 130');
        const first = (await bubbleTexts(bob.page)).length;
        assert.ok(first < 130, `only the newest page at first (${first})`);
        for (let i = 0; i < 20 && !(await bob.page.locator('.beginning').count()); i++) {
          await bob.page.locator('.scroller').evaluate((el) => (el.scrollTop = 0));
          await bob.page.waitForTimeout(300);
        }
        await bob.page.locator('.beginning', { hasText: 'very beginning of #history' }).waitFor({ timeout: T });
        const texts = await bubbleTexts(bob.page);
        assert.deepEqual(texts, Array.from({ length: 130 }, (_, i) => `old message ${i + 1}`));
      });

      await step('a private group: created with a member, then deleted', async () => {
        await alice.page.getByRole('button', { name: 'Channels and groups' }).click();
        await alice.page.getByRole('button', { name: 'Create' }).click();
        await alice.page.getByLabel('Private group').check();
        await alice.page.getByLabel('Name', { exact: true }).fill('secret');
        await alice.page.getByLabel('Add people').fill('bob');
        await alice.page.locator('button.user-result[data-handle="bob"]').click();
        await alice.page.getByRole('button', { name: 'Create group' }).click();
        await alice.page.locator('.chat-title', { hasText: 'secret' }).waitFor({ timeout: T });
        await send(alice.page, 'Just us two');
        await convLink(bob.page, 'secret').waitFor({ timeout: T });
        await alice.page.getByRole('button', { name: 'Details of secret' }).click();
        await alice.page.locator('.member-list .member', { hasText: 'Bob Builder' }).waitFor({ timeout: T });
        await alice.page.getByRole('button', { name: 'Delete' }).click();
        await alice.page.locator('dialog[open]').getByRole('button', { name: 'Delete' }).last().click();
        await convLink(alice.page, 'secret').waitFor({ state: 'detached', timeout: T });
        await convLink(bob.page, 'secret').waitFor({ state: 'detached', timeout: T });
      });

      await step('profile: status text reaches the other side', async () => {
        await bob.page.getByRole('button', { name: 'Your profile and settings' }).click();
        await bob.page.getByLabel('Status').fill('On the train 🚆');
        await bob.page.getByRole('button', { name: 'Save' }).click();
        await bob.page.locator('.me-status', { hasText: 'On the train' }).waitFor({ timeout: T });
        await convLink(alice.page, 'Bob Builder').click();
        await alice.page.locator('.chat-sub', { hasText: 'On the train 🚆' }).waitFor({ timeout: T });
      });

      await step('keyboard: Ctrl+K finds a person, Enter opens the conversation', async () => {
        const page = alice.page;
        await page.locator('textarea.composer-input').focus();
        await page.keyboard.press('Control+k');
        await page.getByLabel('Search people by name or handle').waitFor();
        await page.keyboard.type('bob');
        await page.locator('button.user-result[data-handle="bob"]').waitFor({ timeout: T });
        await page.keyboard.press('Enter');
        await page.locator('.chat-title', { hasText: 'Bob Builder' }).waitFor({ timeout: T });
        assert.equal(await page.locator('dialog[open]').count(), 0);
        // Alt+Up moves to the conversation above in the list (Bob's is not the newest).
        await page.keyboard.press('Alt+ArrowUp');
        await page.waitForFunction(() => document.querySelector('.chat-title')?.textContent !== 'Bob Builder', null, { timeout: T });
      });

      await step('every control has an accessible name', async () => {
        for (const p of [alice, bob]) assert.deepEqual(await unnamedControls(p.page), [], `${p.name}'s page`);
        await bob.page.getByRole('button', { name: 'Channels and groups' }).click();
        await bob.page.locator('dialog[open] .room-row').first().waitFor({ timeout: T });
        assert.deepEqual(await unnamedControls(bob.page), []);
        await bob.page.keyboard.press('Escape');
        await bob.page.locator('dialog[open]').waitFor({ state: 'detached' });
      });

      await step('bob leaves #history', async () => {
        await convLink(bob.page, '#history').click();
        await bob.page.getByRole('button', { name: 'Details of #history' }).click();
        await bob.page.locator('dialog[open]').getByRole('button', { name: 'Leave' }).click();
        await bob.page.locator('dialog[open]').getByRole('button', { name: 'Leave' }).last().click();
        await convLink(bob.page, '#history').waitFor({ state: 'detached', timeout: T });
        await bob.page.waitForURL(/#\/$/);
      });

      await step('overview: a busy conversation list', async () => {
        await convLink(alice.page, '#general').click();
        await openConv(bob.page, 'Alice Liddell');
        await send(bob.page, 'See you tomorrow at the station!');
        await convLink(alice.page, 'Bob Builder').locator('.badge', { hasText: '1' }).waitFor({ timeout: T });
        await send(alice.page, 'Thanks everyone, that was a good first day on Palaver.');
        await waitForBubble(alice.page, 'Thanks everyone, that was a good first day on Palaver.');
        await shot(alice, '08-overview.png');
      });

      await step('on a phone-width screen: one pane at a time', async () => {
        const page = bob.page;
        await page.setViewportSize({ width: 390, height: 800 });
        await page.goto(`${server.url}/#/`);
        await page.locator('body[data-conn="online"]').waitFor({ timeout: T });
        await convLink(page, '#general').waitFor({ timeout: T });
        assert.equal(await page.locator('#chat').isVisible(), false);
        const fits = () => page.evaluate(() => [...document.querySelectorAll('#sidebar, #chat, .conv-link, .chat-head, .composer')].filter((el) => el.offsetParent).every((el) => el.getBoundingClientRect().right <= window.innerWidth + 0.5));
        assert.ok(await fits(), 'nothing is wider than the screen');
        await shot(bob, '06-mobile-list.png');
        await convLink(page, '#general').click();
        await waitForBubble(page, 'Sent while offline');
        assert.equal(await page.locator('#sidebar').isVisible(), false);
        assert.ok(await fits(), 'nothing is wider than the screen');
        await shot(bob, '07-mobile-conversation.png');
        await page.getByRole('button', { name: 'Back to conversations' }).click();
        await page.locator('#sidebar').waitFor({ state: 'visible' });
        await page.setViewportSize({ width: 1240, height: 800 });
      });

      await step('log out, and log in again', async () => {
        const page = bob.page;
        await page.getByRole('button', { name: 'Your profile and settings' }).click();
        await page.getByRole('button', { name: 'Log out' }).click();
        await page.locator('#auth').waitFor({ timeout: T });
        await page.reload();
        await page.locator('#auth').waitFor({ timeout: T }); // the cookie is gone
        await page.getByLabel('Handle or e-mail').fill('bob');
        await page.getByLabel('Password').fill('battery staple');
        await page.locator('#auth-submit').click();
        await page.locator('body[data-conn="online"]').waitFor({ timeout: T });
        await convLink(page, '#general').waitFor({ timeout: T });
      });

      await step('only this server was contacted, and nothing failed on the pages', async () => {
        const origin = new URL(server.url);
        for (const p of Object.values(people)) {
          const foreign = p.requests.filter((u) => {
            const url = new URL(u);
            return url.protocol !== 'data:' && url.host !== origin.host;
          });
          assert.deepEqual(foreign, [], `${p.name}'s page made requests elsewhere`);
          assert.deepEqual(p.errors, [], `${p.name}'s page reported errors`);
        }
      });
    } finally {
      await browser.close();
      await server.cleanup();
    }
  });
}

// --- helpers ---------------------------------------------------------------------------------

async function signup(page, handle, name) {
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByLabel('Handle').fill(handle);
  await page.getByLabel('Display name').fill(name);
  await page.getByLabel('Password').fill(handle === 'bob' ? 'battery staple' : 'correct horse');
  await page.locator('#auth-submit').click();
  await page.locator('body[data-screen="app"][data-conn="online"]').waitFor({ timeout: T });
}

function convLink(page, title) {
  return page.locator('a.conv-link').filter({ has: page.locator('.conv-name', { hasText: title }) });
}

/**
 * Opens a conversation from the list and waits until its view is shown: a click changes the
 * location hash, and the view follows on the `hashchange` event, so typing right after the
 * click could land in the previous conversation's composer.
 */
async function openConv(page, title) {
  await convLink(page, title).click();
  await page.locator(`textarea.composer-input[placeholder="Message ${title}"]`).waitFor({ timeout: T });
}

async function send(page, text) {
  const input = page.locator('textarea.composer-input');
  await input.fill(text);
  await input.press('Enter');
}

/** Waits until `text` is shown as a stored (not pending) message. */
async function waitForBubble(page, text) {
  await page.waitForFunction((t) => [...document.querySelectorAll('li.msg:not(.pending) .text')].some((el) => el.textContent === t), text, { timeout: T });
}

/** The texts of the stored messages shown, top to bottom. */
function bubbleTexts(page) {
  return page.$$eval('li.msg:not(.pending) .text', (els) => els.map((el) => el.textContent));
}

/** Buttons, links and fields that a screen reader would announce without a name. */
function unnamedControls(page) {
  return page.evaluate(() => {
    const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
    const named = (el) => {
      if (el.getAttribute('aria-label')?.trim()) return true;
      const by = el.getAttribute('aria-labelledby');
      if (by && by.split(/\s+/).some((id) => document.getElementById(id)?.textContent.trim())) return true;
      if (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)?.textContent.trim()) return true;
      if (el.closest('label')?.textContent.trim()) return true;
      if (el.matches('button, a') && el.textContent.trim()) return true;
      return !!el.getAttribute('title')?.trim();
    };
    return [...document.querySelectorAll('button, a[href], input, textarea, select, [role="button"]')]
      .filter((el) => visible(el) && !named(el))
      .map((el) => el.outerHTML.slice(0, 120));
  });
}

async function createChannel(page, name, topic) {
  await page.getByRole('button', { name: 'Channels and groups' }).click();
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByLabel('Name', { exact: true }).fill(name);
  if (topic) await page.getByLabel('Topic').fill(topic);
  await page.getByRole('button', { name: 'Create channel' }).click();
  await page.locator('.chat-title', { hasText: `#${name}` }).waitFor({ timeout: T });
}
