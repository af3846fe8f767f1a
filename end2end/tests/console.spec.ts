import { test, expect, waitUntilLive, FEATURED } from './fixtures';

test('every page loads with a clean console, its title and a favicon', async ({ shop, browser }) => {
  const page = await (await browser.newContext()).newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()} (${page.url()})`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message} (${page.url()})`));
  const icon = await page.request.get(`${shop.baseURL}/favicon.ico`);
  expect(icon.status(), '/favicon.ico').toBe(200);
  expect(icon.headers()['content-type']).toMatch(/^image\//);
  for (const [path, status] of [
    ['/', 200],
    [`/books/${FEATURED}`, 200],
    ['/cart', 200],
    ['/admin', 200],
    ['/no-such-page', 404],
  ] as const) {
    // Each several times: in-order streaming once sent the head before
    // the page set its title, on one render in two.
    for (let i = 0; i < 4; i++) {
      const answer = await page.goto(`${shop.baseURL}${path}`);
      expect(answer!.status(), path).toBe(status);
      await waitUntilLive(page);
      expect(await page.title(), `${path}'s title`).toMatch(/livecart$/);
    }
  }
  await page.goto(`${shop.baseURL}/burts-books`);
  await page.waitForLoadState('load');
  // Chromium logs a page's own 404 as a failed load: that one is expected.
  const notFound = `error: Failed to load resource: the server responded with a status of 404 (Not Found) (${shop.baseURL}/no-such-page)`;
  expect(problems.filter((p) => p !== notFound)).toEqual([]);
});
