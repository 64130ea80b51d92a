// Drives Palaver's `chat-client` dialect with the npm `chat-client@1.0.3` package, unchanged:
// starts the palaver binary (PALAVER_BIN, default /var/cache/palaver/target/debug/palaver) on
// a fresh database, signs two users up over HTTP, and scripts a session as the package's
// README does: authorize, send, the chatMessage push, getMessages, read, run(custom action).

'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

// The package expects a browser-global WebSocket.
global.WebSocket = require('ws');
const ChatClient = require('chat-client');

const BIN = process.env.PALAVER_BIN || '/var/cache/palaver/target/debug/palaver';
const STEP = 5000;

function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Starts `palaver serve` on 127.0.0.1:0; resolves with { base, stop }. */
function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palaver-npm-'));
  const env = { PALAVER_LOG: 'warn' };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PALAVER_') || k === 'PALAVER_LOG') env[k] = v;
  }
  const child = spawn(
    BIN,
    ['serve', '--listen', '127.0.0.1:0', '--database', `sqlite://${path.join(dir, 'db')}`],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const stop = () => {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const started = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`palaver exited early (${code})`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.trim().match(/^palaver listening on (http:\/\/\S+)/);
      if (m) resolve({ base: m[1].replace(/\/$/, ''), stop });
    });
  });
  return within(30000, started, 'palaver startup').catch((e) => {
    stop();
    throw e;
  });
}

async function signup(base, handle) {
  const res = await fetch(`${base}/api/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ handle, password: 'correct horse battery staple' }),
  });
  assert.equal(res.status, 201);
  const body = await res.json();
  return { token: body.token, id: String(body.user.id) };
}

/** A connected ChatClient (silent on rejections: the tests check them). */
function connect(base) {
  const url = `${base.replace(/^http/, 'ws')}/compat/chat-client`;
  const client = new ChatClient({ url, onError: () => {} });
  return within(STEP, new Promise((resolve) => client.whenOpened(() => resolve(client))), 'open');
}

function nextPush(client) {
  return within(STEP, new Promise((resolve) => {
    const listener = (msg) => {
      client.off('chatMessage', listener);
      resolve(msg);
    };
    client.on('chatMessage', listener);
  }), 'chatMessage');
}

test('the npm chat-client works unchanged against palaver', { timeout: 60000 }, async (t) => {
  if (!fs.existsSync(BIN)) {
    assert.fail(`no palaver binary at ${BIN}: build it (cargo build -p palaver) or set PALAVER_BIN`);
  }
  const server = await startServer();
  t.after(server.stop);
  const alice = await signup(server.base, 'alice');
  const bob = await signup(server.base, 'bob');

  const a = await connect(server.base);
  const b = await connect(server.base);
  t.after(() => { a.close(); b.close(); });

  await assert.rejects(within(STEP, a.authorize({ token: 'not-a-token' }), 'bad authorize'),
    (err) => err === 'authorizationFailed');
  const me = await within(STEP, a.authorize({ token: alice.token }), 'authorize alice');
  assert.equal(me._id, alice.id);
  assert.equal(me.handle, 'alice');
  assert.equal(me.token, alice.token);
  await within(STEP, b.authorize({ token: bob.token }), 'authorize bob');

  const pushed = nextPush(b);
  const sent = await within(STEP, a.send({ to: bob.id, type: 'text', value: 'Hi bob!' }), 'send');
  assert.equal(sent.to, bob.id);
  assert.equal(sent.from, alice.id);
  assert.equal(sent.value, 'Hi bob!');
  assert.match(sent.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const got = await pushed;
  assert.equal(got._id, sent._id);
  assert.equal(got.value, 'Hi bob!');
  assert.equal(got.from, alice.id);

  await assert.rejects(within(STEP, a.send({ value: 'no recipient' }), 'send without to'),
    (err) => typeof err === 'string' && err.includes("must contain a 'to' property"));

  await within(STEP, b.send({ to: alice.id, type: 'text', value: 'Hi alice' }), 'reply');
  const history = await within(STEP, b.getMessages({ with: alice.id, limit: 10, skip: 0 }), 'history');
  assert.deepEqual(history.map((m) => m.value), ['Hi alice', 'Hi bob!'], 'newest first');

  // The README marks a message read with its bare id.
  const read = await within(STEP, b.read(got._id), 'read');
  assert.equal(read.ok, 1);

  const listing = await within(STEP, a.run('getUsersAndGroups'), 'custom action');
  assert.deepEqual(listing.users.map((u) => u.handle).sort(), ['alice', 'bob']);
  assert.deepEqual(listing.groups, []);
});
