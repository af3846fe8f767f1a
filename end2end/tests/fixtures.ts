import { test as base, expect, Page } from '@playwright/test';
import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const root = path.resolve(__dirname, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
const binary = process.env.LIVECART_BIN ?? path.join(targetDir, 'release', 'livecart');

/** A livecart server of the test's own, on a free port with a fresh database. */
export class Shop {
  baseURL = '';
  private child?: ChildProcess;
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'livecart-e2e-'));

  constructor(private readonly env: Record<string, string> = {}) {}

  async start(): Promise<void> {
    // Restarts keep the port so open pages can reconnect to the same address.
    const addr = this.baseURL ? this.baseURL.replace('http://', '') : '127.0.0.1:0';
    const child = spawn(binary, [], {
      cwd: root,
      env: {
        ...process.env,
        LIVECART_DATABASE_URL: `sqlite://${path.join(this.dir, 'shop.db')}`,
        LEPTOS_SITE_ADDR: addr,
        LEPTOS_SITE_ROOT: path.join(root, 'target', 'site'),
        LIVECART_LOG: 'info',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child = child;
    const lines = readline.createInterface({ input: child.stdout! });
    this.baseURL = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('livecart did not start within 30 s')), 30_000);
      child.once('exit', (code) => reject(new Error(`livecart exited with ${code}`)));
      lines.on('line', (line) => {
        const at = line.indexOf('http://');
        if (at >= 0) {
          clearTimeout(timer);
          resolve(line.slice(at).trim());
        }
      });
    });
  }

  /** `livecart staff add NAME`, the password given on stdin. */
  async addStaff(name: string, password: string): Promise<void> {
    const child = spawn(binary, ['staff', 'add', name], {
      cwd: root,
      env: { ...process.env, LIVECART_DATABASE_URL: `sqlite://${path.join(this.dir, 'shop.db')}`, ...this.env },
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.stdin!.end(`${password}\n`);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`staff add exited with ${code}`);
  }

  /** `livecart books import` of a CSV file with these lines (header first). */
  async importBooks(lines: string[]): Promise<void> {
    const file = path.join(this.dir, 'import.csv');
    writeFileSync(file, lines.join('\n') + '\n');
    const child = spawn(binary, ['books', 'import', file], {
      cwd: root,
      env: { ...process.env, LIVECART_DATABASE_URL: `sqlite://${path.join(this.dir, 'shop.db')}`, ...this.env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`books import exited with ${code}`);
  }

  /** `livecart lines launch BOOK --copies N --at TIME`, as staff would run it. */
  async launch(book: string, copies: number, at: string): Promise<void> {
    const child = spawn(binary, ['lines', 'launch', book, '--copies', String(copies), '--at', at], {
      cwd: root,
      env: { ...process.env, LIVECART_DATABASE_URL: `sqlite://${path.join(this.dir, 'shop.db')}`, ...this.env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`lines launch exited with ${code}`);
  }

  /** One series of `/metrics`, e.g. `livecart_subscribers{transport="BurtsLongPoll"}`. */
  async gauge(series: string): Promise<number> {
    const text = await (await fetch(`${this.baseURL}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(series));
    return line ? Number(line.slice(series.length).trim()) : 0;
  }

  /** Waits until the series reads `want`. */
  async gaugeReaches(series: string, want: number): Promise<void> {
    await expect.poll(() => this.gauge(series), { timeout: 10_000 }).toBe(want);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    // A process ended by a signal has a signalCode and no exitCode.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const FEATURED = 'definitive-guide-to-the-internet';

export const test = base.extend<{ shop: Shop; shopEnv: Record<string, string> }>({
  shopEnv: [{}, { option: true }],
  shop: async ({ shopEnv }, use) => {
    const shop = new Shop(shopEnv);
    await shop.start();
    await use(shop);
    await shop.dispose();
  },
});

export const STAFF = 'burt';
export const STAFF_PASSWORD = 'correct horse battery staple';

/** Signs `page` in at `baseURL`'s `/admin` as staff added with `shop.addStaff`. */
export async function signInAsStaff(page: Page, baseURL: string, name = STAFF, password = STAFF_PASSWORD): Promise<void> {
  await page.goto(`${baseURL}/admin`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('.signed-in')).toContainText(name);
}

/** Waits until the page is hydrated and subscribed to the live stock. An
 * island whose code comes in a chunk of its own (release builds: a book's
 * counter, the cart, the desk) hydrates a moment after the badge; until it
 * has, a click would post its plain form, so its `data-hydrated` is awaited
 * too. */
export async function waitUntilLive(page: Page, label = 'live'): Promise<void> {
  await expect(page.locator('.badge')).toHaveText(label);
  await expect(page.locator('[data-hydrated="no"]')).toHaveCount(0);
}

export { expect };
