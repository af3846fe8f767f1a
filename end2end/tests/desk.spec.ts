import AxeBuilder from '@axe-core/playwright';
import { test, expect, waitUntilLive, signInAsStaff, FEATURED, STAFF, STAFF_PASSWORD } from './fixtures';

test("a sale in a shopper's browser moves the staff desk's counters and chart within a second", async ({ shop, browser }) => {
  await shop.addStaff(STAFF, STAFF_PASSWORD);
  const desk = await (await browser.newContext()).newPage();
  await signInAsStaff(desk, shop.baseURL);
  await expect(desk.locator('.desk-live')).toHaveAttribute('data-live', 'true');
  const figure = (name: string) => desk.locator(`[data-figure="${name}"]`);
  const chart = desk.locator('.orders-chart svg');
  await expect(figure('sold_today')).toHaveText('0');
  await expect(chart).toHaveAttribute('data-orders', '0');
  let reloaded = false;
  desk.on('framenavigated', () => (reloaded = true));

  // The desk, signed in and live, has no accessibility violations; its
  // chart's text alternative gives the figures.
  const axe = await new AxeBuilder({ page: desk }).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);
  await expect(chart).toHaveAttribute('aria-label', /0 in all/);

  const shopper = await (await browser.newContext()).newPage();
  await shopper.goto(`${shop.baseURL}/books/${FEATURED}`);
  await waitUntilLive(shopper);
  await shopper.getByRole('button', { name: 'Add to cart' }).click();
  await expect(shopper.locator('.held')).toHaveText('You hold 1 copy.');
  await expect(figure('copies_held')).toHaveText('1', { timeout: 1_000 });
  await expect(desk.locator(`.most-held li[data-book="${FEATURED}"] .held`)).toHaveText('1');

  await shopper.goto(`${shop.baseURL}/cart`);
  await waitUntilLive(shopper);
  await shopper.getByRole('button', { name: 'Check out' }).click();
  await expect(shopper).toHaveURL(/\/orders\//);
  await expect(figure('sold_today')).toHaveText('1', { timeout: 1_000 });
  await expect(figure('orders_last_hour')).toHaveText('1', { timeout: 1_000 });
  await expect(figure('copies_held')).toHaveText('0', { timeout: 1_000 });
  await expect(chart).toHaveAttribute('data-orders', '1', { timeout: 1_000 });
  await expect(chart.locator('rect[height="78"]')).toHaveCount(1);
  await expect(chart).toHaveAttribute('aria-label', /1 in all/);
  expect(reloaded, 'followed without a reload').toBe(false);

  // The orders page, too, has no accessibility violations.
  await desk.goto(`${shop.baseURL}/admin/orders`);
  await expect(desk.locator('h1')).toHaveText('Orders');
  const axeOrders = await new AxeBuilder({ page: desk }).analyze();
  expect(axeOrders.violations.map((v) => v.id)).toEqual([]);
});
