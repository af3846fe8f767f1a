import { test, expect, waitUntilLive, FEATURED } from './fixtures';

test('with WebSockets blocked the page stays live through long polling', async ({ shop, browser }) => {
  const context = await browser.newContext();
  // A proxy that refuses WebSocket: every stock socket is closed at once.
  await context.routeWebSocket(/\/api\/stock\/ws/, (ws) => ws.close({ code: 1008, reason: 'blocked' }));
  const page = await context.newPage();
  await page.goto(`${shop.baseURL}/books/${FEATURED}`);
  await waitUntilLive(page, 'polling');

  const buyer = await browser.newContext();
  const response = await buyer.request.post(`${shop.baseURL}/cart`, { form: { session: 'buyer', action: 'add' } });
  expect(response.status()).toBe(200);
  await expect(page.locator('.stock')).toHaveText('Only 9 left');

  // The choice is remembered for the tab: a reload polls straight away.
  await page.reload();
  await waitUntilLive(page, 'polling');
  await buyer.request.post(`${shop.baseURL}/cart`, { form: { session: 'buyer', action: 'remove' } });
  await expect(page.locator('.stock')).toHaveText('Only 10 left');
});

test('after a server restart every open page ends on the right count', async ({ shop, browser }) => {
  const socketPage = await (await browser.newContext()).newPage();
  const pollingContext = await browser.newContext();
  await pollingContext.routeWebSocket(/\/api\/stock\/ws/, (ws) => ws.close());
  const pollingPage = await pollingContext.newPage();
  const catalog = await (await browser.newContext()).newPage();

  await socketPage.goto(`${shop.baseURL}/books/${FEATURED}`);
  await pollingPage.goto(`${shop.baseURL}/books/${FEATURED}`);
  await catalog.goto(`${shop.baseURL}/`);
  await waitUntilLive(socketPage);
  await waitUntilLive(pollingPage, 'polling');
  await waitUntilLive(catalog);

  await shop.restart();
  // Changed before the pages are back: they must resume to it, not miss it.
  const api = await browser.newContext();
  for (const session of ['r1', 'r2', 'r3']) {
    expect((await api.request.post(`${shop.baseURL}/cart`, { form: { session, action: 'add' } })).status()).toBe(200);
  }

  await expect(socketPage.locator('.stock')).toHaveText('Only 7 left');
  await expect(pollingPage.locator('.stock')).toHaveText('Only 7 left');
  await expect(catalog.locator(`[data-book="${FEATURED}"] .stock`)).toHaveText('Only 7 left');
  await waitUntilLive(socketPage);
  await waitUntilLive(catalog);

  // And they keep following afterwards.
  await api.request.post(`${shop.baseURL}/cart`, { form: { session: 'r1', action: 'remove' } });
  await expect(socketPage.locator('.stock')).toHaveText('Only 8 left');
  await expect(pollingPage.locator('.stock')).toHaveText('Only 8 left');
});

test('while the server is away the badge says reconnecting', async ({ shop, browser }) => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${shop.baseURL}/books/${FEATURED}`);
  await waitUntilLive(page);
  await shop.stop();
  await waitUntilLive(page, 'reconnecting…');
  await shop.start();
  await waitUntilLive(page);
});
