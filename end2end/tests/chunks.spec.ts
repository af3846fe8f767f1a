import { test, expect, FEATURED, STAFF, STAFF_PASSWORD, signInAsStaff, waitUntilLive } from './fixtures';
import type { Page } from '@playwright/test';

// Each page loads the code of the islands it shows, and a shopper's visit to
// the shelf loads none of a book's counter, the cart or the staff desk: in
// the release build those islands are wasm chunks of their own
// (scripts/build-release.sh, Cargo.toml feature `split`).

/** The wasm files `page` asks for from now on, by name without the hash. */
function wasmAskedFor(page: Page): () => string[] {
  const asked: string[] = [];
  page.on('request', (request) => {
    const name = new URL(request.url()).pathname.split('/').pop()!;
    if (name.endsWith('.wasm')) asked.push(name.replace(/\.[^.]+\.wasm$/, ''));
  });
  return () => [...asked];
}

const islandChunk = (names: string[], island: string) => names.some((n) => n.startsWith(`split_${island}_loader_`));

/** The wasm files `page` preloads, by name without the hash. */
async function preloaded(page: Page): Promise<string[]> {
  return page.locator('link[rel="preload"][as="fetch"]').evaluateAll((links) =>
    links.map((l) => (l as HTMLLinkElement).href.split('/').pop()!.replace(/\.[^.]+\.wasm$/, '')),
  );
}

test('a page loads only the code of the islands it shows', async ({ shop, browser }) => {
  const page = await browser.newPage();
  const asked = wasmAskedFor(page);

  await page.goto(`${shop.baseURL}/`);
  await waitUntilLive(page);
  await expect(page.locator('.book-card').first()).toBeVisible();
  expect(asked()).toEqual(['livecart']);
  expect(await page.locator('link[rel="preload"][href*="split_"]').count()).toBe(0);

  // A book's page preloads its counter's chunks, loads them and
  // not the cart's or the desk's, and its counter works once hydrated (it
  // is served marked not yet hydrated, and marks itself when it is).
  const served = await (await page.request.get(`${shop.baseURL}/books/${FEATURED}`)).text();
  expect(served).toMatch(/<p (?=[^>]*class="price")(?=[^>]*data-hydrated="no")/);
  await page.goto(`${shop.baseURL}/books/${FEATURED}`);
  expect(islandChunk(await preloaded(page), 'book_counter')).toBe(true);
  await waitUntilLive(page);
  await expect(page.locator('.price')).toHaveAttribute('data-hydrated', 'yes');
  expect(islandChunk(asked(), 'book_counter')).toBe(true);
  expect(islandChunk(asked(), 'cart_lines')).toBe(false);
  expect(islandChunk(asked(), 'live_desk')).toBe(false);
  let reloaded = false;
  page.on('framenavigated', () => (reloaded = true));
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.locator('.held')).toHaveText('You hold 1 copy.');
  expect(reloaded, 'the hydrated counter posts without a reload').toBe(false);

  await page.goto(`${shop.baseURL}/cart`);
  expect(islandChunk(await preloaded(page), 'cart_lines')).toBe(true);
  await waitUntilLive(page);
  expect(islandChunk(asked(), 'cart_lines')).toBe(true);
  expect(islandChunk(asked(), 'live_desk')).toBe(false);

  // A page preloads nothing it will not show (an unused preload is a
  // warning in the console): not a missing book's 404, not the sign-in.
  await page.goto(`${shop.baseURL}/books/no-such-book`);
  expect(await preloaded(page)).toEqual(['livecart']);
  await page.goto(`${shop.baseURL}/admin`);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  expect(await preloaded(page)).toEqual(['livecart']);
  await page.close();

  // Staff load the desk's.
  await shop.addStaff(STAFF, STAFF_PASSWORD);
  const staff = await browser.newPage();
  const staffAsked = wasmAskedFor(staff);
  await signInAsStaff(staff, shop.baseURL);
  await staff.reload();
  const staffPreloads = await preloaded(staff);
  expect(islandChunk(staffPreloads, 'live_desk')).toBe(true);
  expect(islandChunk(staffPreloads, 'live_stock_line')).toBe(true);
  expect(islandChunk(staffPreloads, 'live_line_figures'), 'no line, no line figures').toBe(false);
  await waitUntilLive(staff);
  expect(islandChunk(staffAsked(), 'live_desk')).toBe(true);
  await expect(staff.locator('.desk-live')).toHaveText('(live)');
  await staff.close();
});

// A split island hydrates once its chunk has come, which may be after the
// page's socket has heard of a newer count. It must show that count, not
// keep the one the server rendered (hydration keeps the server's text
// until the value next changes): here the counter's chunk is held back
// until the page has heard of a copy reserved elsewhere.
test("a count that moves before its island has hydrated shows the new count", async ({ shop, browser }) => {
  const watcher = await browser.newPage();
  let release!: () => void;
  const chunkHeld = new Promise<void>((resolve) => (release = resolve));
  await watcher.route(/split_book_counter_/, async (route) => {
    await chunkHeld;
    await route.continue();
  });
  const heard: number[] = [];
  watcher.on('websocket', (socket) =>
    socket.on('framereceived', ({ payload }) => {
      try {
        const count = JSON.parse(String(payload))?.stock?.[FEATURED];
        if (typeof count === 'number') heard.push(count);
      } catch {
        // Not a stock message.
      }
    }),
  );
  await watcher.goto(`${shop.baseURL}/books/${FEATURED}`, { waitUntil: 'domcontentloaded' });
  // The page is live (its badge hydrates first), its counter not yet.
  await expect(watcher.locator('.badge')).toHaveText('live');
  await expect(watcher.locator('.stock')).toHaveText('Only 10 left');
  await expect(watcher.locator('.price')).toHaveAttribute('data-hydrated', 'no');

  const buyer = await browser.newPage();
  await buyer.goto(`${shop.baseURL}/books/${FEATURED}`);
  await waitUntilLive(buyer);
  await buyer.getByRole('button', { name: 'Add to cart' }).click();
  await expect(buyer.locator('.held')).toHaveText('You hold 1 copy.');
  await expect.poll(() => heard.includes(9), 'the watching page heard of the reservation').toBe(true);

  release();
  await waitUntilLive(watcher);
  await expect(watcher.locator('.stock')).toHaveText('Only 9 left');
  await expect(watcher.locator('.stock')).toHaveAttribute('data-count', '9');
});
