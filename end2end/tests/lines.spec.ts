import type { Browser, Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { test, expect, waitUntilLive } from './fixtures';

const BOOK = 'a-signed-edition';

// A sold-out signed edition, and a launch of one copy opening in `seconds`.
async function launchOfOne(
  shop: { baseURL: string; importBooks(l: string[]): Promise<void>; launch(b: string, n: number, at: string): Promise<void> },
  seconds: number,
) {
  await shop.importBooks(['id,title,author,isbn,price,copies', `${BOOK},A Signed Edition,Ann Author,,30.00,0`]);
  await shop.launch(BOOK, 1, `+${seconds}s`);
  // The running shop publishes what the command wrote within a second.
  await expect
    .poll(async () => (await (await fetch(`${shop.baseURL}/api/stock`)).json()).lines?.[BOOK]?.state, {
      timeout: 5_000,
    })
    .toBe('scheduled');
}

async function shopperOn(browser: Browser, url: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(url);
  await waitUntilLive(page);
  return page;
}

test('a launch: join before the opening, get your place and your turn, and check out', async ({ shop, browser }) => {
  test.setTimeout(90_000);
  await launchOfOne(shop, 12);
  const url = `${shop.baseURL}/books/${BOOK}`;
  const first = await shopperOn(browser, url);
  const second = await shopperOn(browser, url);
  for (const page of [first, second]) {
    await expect(page.locator('.countdown')).toContainText('opens in');
    await expect(page.locator('.line')).toHaveAttribute('data-line-state', 'scheduled');
    await page.getByRole('button', { name: 'Join the line' }).click();
    await expect(page.locator('.your-place')).toContainText('You are in the line');
  }
  await expect(second.locator('.line-counts')).toContainText('2 waiting');

  // At the opening the draw picks who is first: exactly one page shows its turn.
  const turns = async () =>
    (await first.locator('.your-turn').count()) + (await second.locator('.your-turn').count());
  await expect.poll(turns, { timeout: 30_000 }).toBe(1);
  const [winner, other] = (await first.locator('.your-turn').count()) ? [first, second] : [second, first];
  await expect(winner.locator('.your-turn')).toContainText('A copy is held for you until');
  await expect(other.locator('.place')).toHaveText('2');
  await expect(other.locator('.ahead')).toHaveText('0');

  // In line (freshly loaded, as a shopper coming back finds it), the page
  // has no accessibility violations.
  await other.reload();
  await waitUntilLive(other);
  await expect(other.locator('.place')).toHaveText('2');
  await expect(other).toHaveTitle(/A Signed Edition/);
  const axe = await new AxeBuilder({ page: other }).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);
  await expect(other.locator('.line [aria-live="polite"]')).toHaveCount(1);

  // Every other page of the shop shows the offer as a banner.
  await winner.goto(`${shop.baseURL}/`);
  await expect(winner.locator('.offer-banner')).toContainText('A Signed Edition');
  await winner.goto(`${shop.baseURL}/cart`);
  await waitUntilLive(winner);
  await winner.getByRole('button', { name: 'Check out' }).click();
  await expect(winner).toHaveURL(/\/orders\//);

  // The last copy is bought: the other page says the line is sold out.
  await expect(other.locator('.line-closed')).toContainText('Sold out');
  await expect(other.locator('.line')).toHaveAttribute('data-line-state', 'closed');
});

test('without JavaScript, joining is a form and the line page refreshes itself', async ({ shop, browser }) => {
  await launchOfOne(shop, 3600);
  const page = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await page.goto(`${shop.baseURL}/books/${BOOK}`);
  await page.getByRole('button', { name: 'Join the line' }).click();
  await expect(page).toHaveURL(/notice=joined/);
  await expect(page.locator('.notice')).toContainText('You are in the line');
  await expect(page.locator('.your-place')).toContainText('You are in the line');
  // It loads itself again, so the count and the countdown move.
  const reloaded = page.waitForEvent('framenavigated', { timeout: 15_000 });
  await reloaded;
});

test('staff watch a line move on /admin without reloading', async ({ shop, browser }) => {
  await launchOfOne(shop, 3600);
  await shop.addStaff('desk', 'a long desk password');
  const admin = await (await browser.newContext()).newPage();
  await admin.goto(`${shop.baseURL}/admin`);
  await admin.getByLabel('Name').fill('desk');
  await admin.getByLabel('Password').fill('a long desk password');
  await admin.getByRole('button', { name: 'Sign in' }).click();
  await waitUntilLive(admin);
  let reloaded = false;
  admin.on('framenavigated', () => (reloaded = true));
  const row = admin.locator(`table.lines tr[data-book="${BOOK}"]`);
  await expect(row.locator('.line-state')).toHaveText('scheduled');
  await expect(row).toContainText('0 waiting');

  const shopper = await shopperOn(browser, `${shop.baseURL}/books/${BOOK}`);
  await shopper.getByRole('button', { name: 'Join the line' }).click();
  await expect(row).toContainText('1 waiting');
  expect(reloaded, 'followed without a reload').toBe(false);
});
