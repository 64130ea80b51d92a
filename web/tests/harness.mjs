// Test harness: runs a real `palaver serve` on a free port with a temporary database, and a
// headless Chromium through playwright-core (Debian's chromium; Playwright's own browser
// download is not used).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const PALAVER_BIN = process.env.PALAVER_BIN || '/var/cache/palaver/target/debug/palaver';
export const CHROMIUM = process.env.PALAVER_CHROMIUM || '/usr/bin/chromium';
export const STRICT = process.env.PALAVER_TEST_STRICT === '1';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why the browser tests cannot run here, or null when they can. */
export async function missingPrerequisite() {
  if (!existsSync(PALAVER_BIN)) return `the palaver binary is missing at ${PALAVER_BIN} (build it: cargo build -p palaver, or set PALAVER_BIN)`;
  if (!existsSync(CHROMIUM)) return `Chromium is missing at ${CHROMIUM} (apt-get install chromium, or set PALAVER_CHROMIUM)`;
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed (cd web/tests && npm ci)';
  }
  return null;
}

export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** A palaver server; `restart()` stops it (SIGTERM) and starts it again on the same port and database. */
export class Server {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'palaver-web-'));
    this.db = join(this.dir, 'palaver.db');
    this.proc = null;
    this.port = null;
    this.log = [];
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    // The port may still be held for a moment after a restart: try a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.spawnOnce();
        return;
      } catch (e) {
        if (attempt >= 20) throw e;
        await sleep(250);
      }
    }
  }

  spawnOnce() {
    return new Promise((res, rej) => {
      const proc = spawn(PALAVER_BIN, ['serve', '--listen', `127.0.0.1:${this.port}`, '--database', `sqlite://${this.db}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: serverEnv(),
      });
      let out = '';
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        rej(new Error(`palaver did not start: ${out}`));
      }, 15000);
      proc.stdout.on('data', (d) => {
        out += d;
        if (/palaver listening on http:\/\//.test(out)) {
          clearTimeout(timer);
          this.proc = proc;
          live.add(proc);
          proc.once('exit', () => live.delete(proc));
          res();
        }
      });
      proc.stderr.on('data', (d) => {
        this.log.push(String(d));
        if (this.log.length > 400) this.log.shift();
      });
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.proc !== proc) rej(new Error(`palaver exited (${code ?? signal}) before listening: ${this.log.slice(-5).join('')}`));
      });
    });
  }

  /** SIGTERM, then wait for the process to end (it drains its connections first). */
  async stop() {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((res) => proc.once('exit', res));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15000);
    await exited;
    clearTimeout(timer);
  }

  async cleanup() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The server reads its settings from PALAVER_* variables and refuses unknown ones, so the
 * test's own (PALAVER_BIN, PALAVER_TEST_STRICT, ...) are not passed on; PALAVER_LOG is.
 */
function serverEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PALAVER_')) env[k] = v;
  env.PALAVER_LOG = process.env.PALAVER_LOG || 'info';
  return env;
}

// A test that dies half-way must not leave servers behind.
const live = new Set();
process.on('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
});

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}
