import { test, expect, waitUntilLive, FEATURED } from './fixtures';

test('a reservation in one page shows in another without a reload', async ({ shop, browser }) => {
  const alice = await browser.newContext();
  const bob = await browser.newContext();
  const mine = await alice.newPage();
  const theirs = await bob.newPage();
  await mine.goto(`${shop.baseURL}/books/${FEATURED}`);
  await theirs.goto(`${shop.baseURL}/books/${FEATURED}`);
  await expect(theirs.locator('.stock')).toHaveText('Only 10 left');
  await waitUntilLive(mine);
  await waitUntilLive(theirs);

  let reloaded = false;
  theirs.on('framenavigated', () => (reloaded = true));

  await mine.getByRole('button', { name: 'Add to cart' }).click();
  await expect(mine.locator('.notice')).toHaveText('Reserved: the copy is held in your cart.');
  await expect(mine.locator('.held')).toHaveText('You hold 1 copy.');
  await expect(theirs.locator('.stock')).toHaveText('Only 9 left');
  await expect(theirs.locator('.stock')).toHaveAttribute('aria-live', 'polite');
  expect(reloaded).toBe(false);

  // And back: returning the copy shows everywhere, the catalog too.
  const catalog = await bob.newPage();
  await catalog.goto(`${shop.baseURL}/`);
  await waitUntilLive(catalog);
  const card = catalog.locator(`[data-book="${FEATURED}"] .stock`);
  await expect(card).toHaveText('Only 9 left');
  await mine.getByRole('button', { name: 'Return' }).click();
  await expect(theirs.locator('.stock')).toHaveText('Only 10 left');
  await expect(card).toHaveText('Only 10 left');
});

test('with JavaScript off the form still reserves and the page shows the new count', async ({ shop, browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${shop.baseURL}/books/${FEATURED}`);
  await expect(page.locator('.stock')).toHaveText('Only 10 left');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.waitForURL(/notice=reserved/);
  await expect(page.locator('.stock')).toHaveText('Only 9 left');
  await expect(page.locator('.notice')).toHaveText('Reserved: the copy is held in your cart.');
  await expect(page.locator('.held')).toHaveText('You hold 1 copy.');

  await page.goto(`${shop.baseURL}/cart`);
  await expect(page.locator('.cart-line')).toContainText('The Definitive Guide to the Internet');
  await page.getByRole('button', { name: 'Return' }).click();
  await page.waitForURL(/notice=returned/);
  await expect(page.locator('.empty')).toContainText('Your cart is empty');
});

test('a book that sells out while the page is open turns to Sold out and cannot be added', async ({ shop, browser }) => {
  // Sell out the book through the API, then try from a page already open.
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${shop.baseURL}/books/structure-and-interpretation-of-computer-programs`);
  await waitUntilLive(page);
  await expect(page.locator('.stock')).toHaveText('Only 3 left');
  for (let i = 0; i < 3; i++) {
    const other = await browser.newContext();
    const response = await other.request.post(`${shop.baseURL}/api/cart/reserve`, {
      form: { book: 'structure-and-interpretation-of-computer-programs' },
    });
    expect(response.status()).toBe(200);
    await other.close();
  }
  await expect(page.locator('.stock')).toHaveText('Sold out');
  await expect(page.getByRole('button', { name: 'Add to cart' })).toBeDisabled();
});

test('the hydrated pages run under a script policy with nothing refused', async ({ shop, browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const refused: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
  });
  page.on('pageerror', (e) => refused.push(e.message));
  for (const path of ['/', `/books/${FEATURED}`, '/cart']) {
    const answer = await page.goto(`${shop.baseURL}${path}`);
    const policy = answer!.headers()['content-security-policy'] ?? '';
    expect(policy, path).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]+' 'wasm-unsafe-eval'/);
    expect(policy, path).toContain("frame-ancestors 'none'");
    await waitUntilLive(page);
  }
  // Live and interactive under the policy: a reservation goes through.
  await page.goto(`${shop.baseURL}/books/${FEATURED}`);
  await waitUntilLive(page);
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.locator('.held')).toHaveText('You hold 1 copy.');
  expect(refused).toEqual([]);
});
