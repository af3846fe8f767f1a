import AxeBuilder from '@axe-core/playwright';
import type { Browser, Page } from '@playwright/test';
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

// Sums the layout shifts the page makes from now on (none caused by its own
// input), as Chrome reports them to a PerformanceObserver.
async function watchLayoutShifts(page: Page): Promise<() => Promise<number>> {
  await page.evaluate(() => {
    const w = window as unknown as { shifted: number };
    w.shifted = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries() as unknown as { value: number; hadRecentInput: boolean }[]) {
        if (!entry.hadRecentInput) w.shifted += entry.value;
      }
    }).observe({ type: 'layout-shift', buffered: false });
  });
  return () => page.evaluate(() => (window as unknown as { shifted: number }).shifted);
}

for (const width of [390, 1280]) {
  test(`a count going to sold out and back moves nothing at ${width} px`, async ({ shop, browser }) => {
    await shop.importBooks(['title,author,price,copies', 'Last Copy,Someone Else,5.00,1']);
    const watcher = await pageIn(browser, 'light', width);
    await watcher.goto(`${shop.baseURL}/books/last-copy`);
    await waitUntilLive(watcher);
    await expect(watcher.locator('.stock')).toHaveText('Only 1 left');
    const shelf = await pageIn(browser, 'light', width);
    await shelf.goto(`${shop.baseURL}/?page=1`);
    await waitUntilLive(shelf);
    const card = shelf.locator('.book-card[data-book="last-copy"] .stock');
    await card.scrollIntoViewIfNeeded();
    // Let the first paint's own shifts (fonts, images) settle before watching.
    await watcher.waitForLoadState('load');
    await shelf.waitForLoadState('load');
    const shifts = [await watchLayoutShifts(watcher), await watchLayoutShifts(shelf)];

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
    // Layout shifts are reported after the frame that made them.
    await watcher.waitForTimeout(300);
    for (const shifted of shifts) expect(await shifted()).toBe(0);
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
