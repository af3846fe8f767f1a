import type { Browser, Page } from '@playwright/test';
import { test, expect, waitUntilLive, signInAsStaff, FEATURED, STAFF, STAFF_PASSWORD } from './fixtures';

// A new shopper's page of the featured book, once it holds one copy.
async function holdingOneCopy(baseURL: string, browser: Browser): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${baseURL}/books/${FEATURED}`);
  await waitUntilLive(page);
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.locator('.held')).toHaveText('You hold 1 copy.');
  return page;
}

test('staff restock and reprice, and every open page sees it live', async ({ shop, browser }) => {
  await shop.addStaff(STAFF, STAFF_PASSWORD);
  const shopper = await (await browser.newContext()).newPage();
  await shopper.goto(`${shop.baseURL}/books/${FEATURED}`);
  await waitUntilLive(shopper);
  await expect(shopper.locator('.price')).toHaveText('$20.00');
  // The shelf is an island of its own: it fetches itself again too.
  const shelf = await shopper.context().newPage();
  await shelf.goto(`${shop.baseURL}/`);
  await waitUntilLive(shelf);
  const card = shelf.locator(`.book-card[data-book="${FEATURED}"]`);
  await expect(card.locator('.price')).toHaveText('$20.00');
  let reloaded = false;
  for (const page of [shopper, shelf]) page.on('framenavigated', () => (reloaded = true));

  const admin = await (await browser.newContext()).newPage();
  await signInAsStaff(admin, shop.baseURL);

  const row = admin.locator(`tr[data-book="${FEATURED}"]`);
  await row.getByLabel('Copies to add').fill('5');
  await row.getByRole('button', { name: 'Restock' }).click();
  await expect(shopper.locator('.stock')).toHaveText('Only 15 left');

  await row.getByLabel('Price').fill('24.50');
  await row.getByRole('button', { name: 'Set price' }).click();
  await expect(shopper.locator('.price')).toHaveText('$24.50');
  await expect(card.locator('.price')).toHaveText('$24.50');
  await expect(card.locator('.stock')).toHaveText('Only 15 left');
  expect(reloaded, 'followed without a reload').toBe(false);
});

test('returning from the cart takes the line away without a reload', async ({ shop, browser }) => {
  const page = await holdingOneCopy(shop.baseURL, browser);

  await page.goto(`${shop.baseURL}/cart`);
  await waitUntilLive(page);
  let reloaded = false;
  page.on('framenavigated', () => (reloaded = true));
  await page.locator('.cart-line').getByRole('button', { name: 'Return' }).click();
  await expect(page.locator('.notice').first()).toHaveText('Returned: the copy is back on the shelf.');
  await expect(page.locator('.empty')).toContainText('Your cart is empty');
  expect(reloaded).toBe(false);
});

test('a wrong password is refused on the page', async ({ shop, browser }) => {
  await shop.addStaff(STAFF, STAFF_PASSWORD);
  const admin = await (await browser.newContext()).newPage();
  await admin.goto(`${shop.baseURL}/admin`);
  await admin.getByLabel('Name').fill(STAFF);
  await admin.getByLabel('Password').fill('not the password');
  await admin.getByRole('button', { name: 'Sign in' }).click();
  await expect(admin.locator('.notice')).toHaveText('Wrong name or password.');
  await expect(admin.locator('.signed-in')).toHaveCount(0);
});

test('a shopper checks out and sees the order', async ({ shop, browser }) => {
  const page = await holdingOneCopy(shop.baseURL, browser);

  await page.goto(`${shop.baseURL}/cart`);
  await expect(page.locator('.time-left')).toHaveText(/held for 1[45]:\d\d/);
  await page.getByRole('button', { name: 'Check out' }).click();
  await page.waitForURL(/\/orders\//);
  await expect(page.locator('h1')).toHaveText('Thank you for your order');
  await expect(page.locator('.order-line')).toContainText('The Definitive Guide to the Internet');
  await expect(page.locator('.total')).toHaveText('Total paid: $20.00');
});

test.describe('with a two-second hold', () => {
  test.use({ shopEnv: { LIVECART_RESERVATION_TTL: '2s' } });

  test('a lapsed hold puts the copy back on every page', async ({ shop, browser }) => {
    const mine = await (await browser.newContext()).newPage();
    const theirs = await (await browser.newContext()).newPage();
    await mine.goto(`${shop.baseURL}/books/${FEATURED}`);
    await theirs.goto(`${shop.baseURL}/books/${FEATURED}`);
    await waitUntilLive(mine);
    await waitUntilLive(theirs);
    const clicked = Date.now();
    await mine.getByRole('button', { name: 'Add to cart' }).click();
    await expect(theirs.locator('.stock')).toHaveText('Only 9 left');
    // The hold was committed before this page heard of it, so its deadline
    // is at most two seconds from now; the README promises the copy back on
    // every page within a second of the deadline.
    const seen = Date.now();
    for (const page of [mine, theirs]) {
      const left = Math.max(1, seen + 3_000 - Date.now());
      await expect(page.locator('.stock')).toHaveText('Only 10 left', { timeout: left });
    }
    expect(Date.now() - clicked, 'not before the deadline').toBeGreaterThanOrEqual(1_900);
  });
});
