// The development loop (scripts/dev-check.sh starts `cargo leptos watch` in a
// scratch copy, DEV_CHECK_TREE, and serves it at DEV_CHECK_URL): edits in
// the copy reach the open tab, and the console stays clean meanwhile.
import { test, expect, Page } from '@playwright/test';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const base = process.env.DEV_CHECK_URL!;
const tree = process.env.DEV_CHECK_TREE!;
const rebuild = Number(process.env.DEV_CHECK_REBUILD_TIMEOUT_MS ?? 600_000);
const BOOK = '/books/definitive-guide-to-the-internet';

/** Every console error, uncaught exception, policy violation and warning
 *  the page logs, but the live-reload script's note that its socket closed
 *  (a page being reloaded closes it). */
function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    const where = `${m.location().url || page.url()}`;
    if (m.type() === 'error') problems.push(`error: ${m.text()} (${where})`);
    if (m.type() === 'warning' && !m.text().startsWith('Live-reload disconnected')) {
      problems.push(`warning: ${m.text()} (${where})`);
    }
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message} (${page.url()})`));
  return problems;
}

/** Waits for the page's live-reload script to open its socket (to
 *  cargo-leptos's reload port), saying what the console said if it never does. */
function reloadSocket(page: Page, problems: string[]): () => Promise<void> {
  const opened = page.waitForEvent('websocket', {
    predicate: (ws) => ws.url().endsWith('/live_reload'),
    timeout: 15_000,
  });
  opened.catch(() => {});
  return async () => {
    try {
      await opened;
    } catch {
      throw new Error(`no live-reload socket on ${page.url()}; the console said:\n${problems.join('\n')}`);
    }
  };
}

/** Hydrated and subscribed to the live stock (the badge says so). */
async function live(page: Page): Promise<void> {
  await expect(page.locator('.badge')).toHaveText('live', { timeout: 30_000 });
}

/** Marks the document, to tell a hot swap (same document) from a reload. */
async function mark(page: Page): Promise<void> {
  await page.evaluate(() => ((window as any).devCheckDocument = true));
}
async function marked(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as any).devCheckDocument === true);
}

test.beforeAll(() => {
  if (!base || !tree) throw new Error('run by scripts/dev-check.sh (DEV_CHECK_URL, DEV_CHECK_TREE)');
});

test('every page loads with a clean console and a favicon', async ({ page }) => {
  const problems = watchConsole(page);
  const icon = await page.request.get(`${base}/favicon.ico`);
  expect(icon.status(), '/favicon.ico').toBe(200);
  expect(icon.headers()['content-type']).toMatch(/^image\//);
  for (const [path, status, hydrates] of [
    ['/', 200, true],
    [BOOK, 200, true],
    ['/cart', 200, true],
    ['/admin', 200, true],
    ['/no-such-page', 404, true],
    ['/burts-books', 200, false],
  ] as const) {
    // The live-reload socket is opened by each Leptos page's script.
    const socket = hydrates ? reloadSocket(page, problems) : null;
    const answer = await page.goto(`${base}${path}`);
    expect(answer!.status(), path).toBe(status);
    if (socket) {
      await socket();
      await live(page);
    } else {
      await page.waitForLoadState('load');
    }
  }
  // Chromium logs a page's own 404 as a failed load: that one is expected.
  const notFound = `error: Failed to load resource: the server responded with a status of 404 (Not Found) (${base}/no-such-page)`;
  expect(problems.filter((p) => p !== notFound)).toEqual([]);
});

test('a style edit and a view edit reach the open tab', async ({ page }) => {
  const problems = watchConsole(page);
  const socket = reloadSocket(page, problems);
  await page.goto(`${base}${BOOK}`);
  await socket();
  await live(page);
  const outline = () => page.evaluate(() => getComputedStyle(document.body).outlineColor);
  expect(await outline()).not.toBe('rgb(1, 2, 3)');

  // A style rule: swapped into the open document, and served after a reload.
  await mark(page);
  let since = Date.now();
  appendFileSync(path.join(tree, 'style', 'main.css'), '\nbody{outline:3px solid rgb(1, 2, 3)}\n');
  await expect.poll(outline, { timeout: 30_000, message: 'the style edit in the open tab' }).toBe('rgb(1, 2, 3)');
  expect(await marked(page), 'the style was swapped in, the page not reloaded').toBe(true);
  console.log(`the style edit reached the open tab in ${Date.now() - since} ms`);
  await page.reload();
  await live(page);
  expect(await outline(), 'the style edit after a reload').toBe('rgb(1, 2, 3)');

  // A view's text (in an island: server and wasm both rebuild): the page
  // reloads by itself and hydrates again.
  const source = path.join(tree, 'src', 'app', 'book.rs');
  const text = readFileSync(source, 'utf8');
  expect(text.split('"Add to cart"').length - 1, `one "Add to cart" in ${source}`).toBe(1);
  await expect(page.locator('button.add'), 'the text before the edit').toHaveText('Add to cart');
  await mark(page);
  since = Date.now();
  writeFileSync(source, text.replace('"Add to cart"', '"Put it in the cart"'));
  await expect(page.locator('button.add')).toHaveText('Put it in the cart', { timeout: rebuild });
  expect(await marked(page), 'the page reloaded itself').toBe(false);
  await live(page);
  console.log(`the view edit was rebuilt, reloaded and live in ${Date.now() - since} ms`);
  await expect(page.getByRole('button', { name: 'Put it in the cart' })).toBeEnabled();
  expect(await outline(), 'the style edit survives the restart').toBe('rgb(1, 2, 3)');

  expect(problems).toEqual([]);
});
