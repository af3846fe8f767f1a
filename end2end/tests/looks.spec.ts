import AxeBuilder from '@axe-core/playwright';
import type { Browser, Page } from '@playwright/test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, expect, waitUntilLive, signInAsStaff, STAFF, STAFF_PASSWORD } from './fixtures';

const DDIA = 'designing-data-intensive-applications';
const SCHEMES = ['light', 'dark'] as const;

async function pageIn(browser: Browser, colorScheme: 'light' | 'dark', width = 1280): Promise<Page> {
  const context = await browser.newContext({ colorScheme, viewport: { width, height: 900 } });
  return context.newPage();
}

test('every page has no accessibility violations, in light and in dark', async ({ shop, browser }) => {
  await shop.addStaff(STAFF, STAFF_PASSWORD);
  for (const scheme of SCHEMES) {
    const page = await pageIn(browser, scheme);
    const pages: [string, () => Promise<void>][] = [
      ['/', () => waitUntilLive(page)],
      [`/books/${DDIA}`, () => waitUntilLive(page)],
      ['/cart', () => waitUntilLive(page)],
      ['/?page=2', () => waitUntilLive(page)],
      ['/books/no-such-book', async () => {}],
      ['/burts-books', async () => {}],
      ['/admin', async () => {}],
    ];
    for (const [url, ready] of pages) {
      await page.goto(`${shop.baseURL}${url}`);
      await ready();
      const axe = await new AxeBuilder({ page }).analyze();
      expect(axe.violations.map((v) => `${scheme} ${url}: ${v.id}`)).toEqual([]);
    }
    // And the staff's pages, signed in.
    await signInAsStaff(page, shop.baseURL);
    for (const url of ['/admin', '/admin/orders']) {
      await page.goto(`${shop.baseURL}${url}`);
      const axe = await new AxeBuilder({ page }).analyze();
      expect(axe.violations.map((v) => `${scheme} ${url}: ${v.id}`)).toEqual([]);
    }
  }
});

test('every book has a cover that holds its place before it loads', async ({ shop, browser }) => {
  const page = await pageIn(browser, 'light');
  await page.goto(`${shop.baseURL}/`);
  await waitUntilLive(page);
  const covers = page.locator('.book-card img.cover');
  await expect(covers).toHaveCount(await page.locator('.book-card').count());
  const first = covers.first();
  await expect(first).toHaveAttribute('alt', '');
  await expect(first).toHaveAttribute('src', /^\/covers\/[a-z0-9-]+\.svg\?v=[0-9a-f]{16}$/);
  // The cover is an SVG drawn by the shop, cached for good at its address.
  const src = (await first.getAttribute('src'))!;
  const answer = await page.request.get(`${shop.baseURL}${src}`);
  expect(answer.status()).toBe(200);
  expect(answer.headers()['content-type']).toBe('image/svg+xml');
  expect(answer.headers()['cache-control']).toContain('immutable');
  expect(await answer.text()).toContain('<svg');

  const book = await pageIn(browser, 'light', 390);
  await book.goto(`${shop.baseURL}/books/${DDIA}`);
  const drawn = book.locator('figure.cover img.drawn');
  await expect(drawn).toHaveAttribute('alt', '');
  // Loaded and laid out at the shape of a paperback, in a phone's width.
  await expect.poll(() => drawn.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(200);
  const box = (await drawn.boundingBox())!;
  expect(Math.abs(box.height / box.width - 1.5)).toBeLessThan(0.02);
});

// The layout shifts the page has made since it began loading (none caused
// by its own input), as Chrome reports them to a PerformanceObserver: their
// sum, and what moved (to read when it is not 0).
async function watchLayoutShifts(page: Page): Promise<() => Promise<[number, string[]]>> {
  await page.evaluate(() => {
    const w = window as unknown as { shifted: number; moved: string[] };
    w.shifted = 0;
    w.moved = [];
    type Shift = { value: number; hadRecentInput: boolean; sources: { node?: Node; previousRect: DOMRectReadOnly; currentRect: DOMRectReadOnly }[] };
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries() as unknown as Shift[]) {
        if (entry.hadRecentInput) continue;
        w.shifted += entry.value;
        for (const s of entry.sources) {
          const node = s.node instanceof Element ? s.node.outerHTML.slice(0, 80) : String(s.node?.nodeName);
          w.moved.push(`${node}: (${s.previousRect.x},${s.previousRect.y}) → (${s.currentRect.x},${s.currentRect.y})`);
        }
      }
    }).observe({ type: 'layout-shift', buffered: true });
  });
  return () => page.evaluate(() => {
    const w = window as unknown as { shifted: number; moved: string[] };
    return [w.shifted, w.moved] as [number, string[]];
  });
}

/**
 * An upstream catalog of Open Library's shape (`/isbn/{isbn}.json` and
 * `/b/id/{id}-M.jpg`), so a book's page has a description under its
 * buttons and a real cover, sent `coverDelayMs` late, over the drawn one.
 */
async function upstreamCatalog(coverDelayMs: number): Promise<{ url: string; close: () => void }> {
  const cover = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="300"><rect width="200" height="300" fill="#345"/></svg>';
  const server = http.createServer((request, response) => {
    if (request.url?.startsWith('/isbn/')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({
        description: 'A book of one last copy, told at length so that it wraps over several lines under the buttons. '.repeat(4),
        number_of_pages: 321,
        covers: [42],
      }));
    } else if (request.url === '/b/id/42-M.jpg') {
      setTimeout(() => {
        response.writeHead(200, { 'content-type': 'image/svg+xml' });
        response.end(cover);
      }, coverDelayMs);
    } else {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

// Each worker's own upstream catalog, and shops that use it.
const withUpstream = test.extend<object, { upstream: string }>({
  upstream: [
    async ({}, use) => {
      const catalog = await upstreamCatalog(3_000);
      await use(catalog.url);
      catalog.close();
    },
    { scope: 'worker' },
  ],
  shopEnv: async ({ upstream }, use) => {
    await use({ LIVECART_CATALOG_URL: upstream, LIVECART_COVERS_URL: upstream });
  },
});

for (const width of [390, 1280]) {
    withUpstream(`a count going to sold out and back, and a real cover coming, move nothing at ${width} px`, async ({ shop, browser }) => {
      await shop.importBooks(['title,author,isbn,price,copies', 'Last Copy,Someone Else,9780000000002,5.00,1']);
      const watcher = await pageIn(browser, 'light', width);
      // Not waiting for `load`, which waits for the real cover.
      await watcher.goto(`${shop.baseURL}/books/last-copy`, { waitUntil: 'domcontentloaded' });
      const watcherShifted = await watchLayoutShifts(watcher);
      await waitUntilLive(watcher);
      await expect(watcher.locator('.stock')).toHaveText('Only 1 left');
      await expect(watcher.locator('.details .description')).toContainText('one last copy');
      const shelf = await pageIn(browser, 'light', width);
      await shelf.goto(`${shop.baseURL}/`);
      await waitUntilLive(shelf);
      const card = shelf.locator('.book-card[data-book="last-copy"] .stock');
      await card.scrollIntoViewIfNeeded();
      const shifts = [watcherShifted, await watchLayoutShifts(shelf)];

      // The real cover comes late, over the drawn one, in the same box.
      const real = watcher.locator('.book-page img.real-cover');
      await expect(real).toHaveAttribute('alt', 'Cover of Last Copy');
      await expect.poll(() => real.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(200);
      const [over, under] = [await real.boundingBox(), await watcher.locator('figure.cover img.drawn').boundingBox()];
      for (const side of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(over![side] - under![side])).toBeLessThan(1);

      const buyer = await pageIn(browser, 'light');
      await buyer.goto(`${shop.baseURL}/books/last-copy`);
      await waitUntilLive(buyer);
      await buyer.getByRole('button', { name: 'Add to cart' }).click();
      await expect(watcher.locator('.stock')).toHaveText('Sold out');
      await expect(card).toHaveText('Sold out');
      await expect(watcher.getByRole('button', { name: "Tell me when it's back" })).toBeVisible();
      await buyer.getByRole('button', { name: 'Return' }).click();
      await expect(watcher.locator('.stock')).toHaveText('Only 1 left');
      await expect(card).toHaveText('Only 1 left');
      await expect(watcher.getByRole('button', { name: "Tell me when it's back" })).toBeHidden();
      // Hidden, not removed: it keeps its box, so nothing after it moves.
      await expect(watcher.locator('.actions .tell')).toBeAttached();
      await expect(watcher.locator('.actions .tell')).toHaveCSS('visibility', 'hidden');
      // Layout shifts are reported after the frame that made them.
      await watcher.waitForTimeout(300);
      for (const shifted of shifts) {
        const [sum, moved] = await shifted();
        expect(sum, moved.join('\n')).toBe(0);
      }
    });
}

// The shop's look, kept: screenshots of the shelf, a book and the cart in
// both schemes at a phone's and a desktop's width, compared with the ones
// in looks.spec.ts-snapshots/. After a change to the look, look at the
// difference Playwright reports, and if it is meant, update them:
//   cd end2end && npx playwright test looks --update-snapshots
for (const scheme of SCHEMES) {
  for (const width of [390, 1280]) {
    test(`the shop looks as it should in ${scheme} at ${width} px`, async ({ shop, browser }) => {
      const page = await pageIn(browser, scheme, width);
      for (const [name, url] of [['shelf', '/'], ['book', `/books/${DDIA}`], ['cart', '/cart']]) {
        await page.goto(`${shop.baseURL}${url}`);
        await waitUntilLive(page);
        // Every cover in view drawn.
        await page.waitForLoadState('networkidle');
        await expect(page).toHaveScreenshot(`${name}-${scheme}-${width}.png`, {
          animations: 'disabled',
          caret: 'hide',
          maxDiffPixelRatio: 0.01,
        });
      }
    });
  }
}
