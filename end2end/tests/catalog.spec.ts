import { test, expect, waitUntilLive } from './fixtures';

const DDIA = 'designing-data-intensive-applications';

test('search finds a book by its author', async ({ shop, browser }) => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${shop.baseURL}/`);
  await waitUntilLive(page);
  await page.getByRole('searchbox', { name: 'Search the books' }).fill('Kleppmann');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/\?q=Kleppmann/);
  await expect(page.locator('.book-card')).toHaveCount(1);
  await expect(page.locator('.book-card h2')).toHaveText('Designing Data-Intensive Applications');
});

test('reserving a copy found by a search drops the count on another page', async ({ shop, browser }) => {
  const other = await (await browser.newContext()).newPage();
  await other.goto(`${shop.baseURL}/`);
  await waitUntilLive(other);
  const card = other.locator(`.book-card[data-book="${DDIA}"] .stock`);
  await expect(card).toHaveText('Only 5 left');

  const searcher = await (await browser.newContext()).newPage();
  await searcher.goto(`${shop.baseURL}/?q=data%20intensive`);
  await waitUntilLive(searcher);
  await searcher.getByRole('link', { name: 'Designing Data-Intensive Applications' }).click();
  await searcher.waitForURL(new RegExp(`/books/${DDIA}`));
  await searcher.getByRole('button', { name: 'Add to cart' }).click();
  await expect(searcher.locator('.held')).toHaveText('You hold 1 copy.');
  await expect(card).toHaveText('Only 4 left');

  // And the search page, open meanwhile, follows too.
  const results = await (await browser.newContext()).newPage();
  await results.goto(`${shop.baseURL}/?q=kleppmann`);
  await waitUntilLive(results);
  await expect(results.locator('.book-card .stock')).toHaveText('Only 4 left');
  await searcher.getByRole('button', { name: 'Return' }).click();
  await expect(results.locator('.book-card .stock')).toHaveText('Only 5 left');
  await expect(card).toHaveText('Only 5 left');
});

test('with JavaScript off the shelf pages forward and back', async ({ shop, browser }) => {
  const lines = ['title,author,price,copies'];
  for (let i = 1; i <= 30; i++) lines.push(`Paged Book ${i},Page Writer,5.00,2`);
  await shop.importBooks(lines);
  const page = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await page.goto(`${shop.baseURL}/`);
  await expect(page.locator('.book-card')).toHaveCount(24);
  await expect(page.locator('.pager .page')).toHaveText('Page 1 of 2');
  await expect(page.getByRole('link', { name: '« First' })).toHaveCount(0);
  await page.getByRole('link', { name: 'Next →' }).click();
  await page.waitForURL(/\?page=2/);
  await expect(page.locator('.pager .page')).toHaveText('Page 2 of 2');
  await expect(page.getByRole('link', { name: 'Last »' })).toHaveCount(0);
  await expect(page.locator('.book-card')).toHaveCount(13);
  await expect(page.locator('.book-card').last()).toContainText('Paged Book 30');
  await page.getByRole('link', { name: '← Previous' }).click();
  await expect(page.locator('.pager .page')).toHaveText('Page 1 of 2');
  await expect(page.locator('.book-card').first()).toContainText('The Definitive Guide to the Internet');
  await page.getByRole('link', { name: 'Last »' }).click();
  await page.waitForURL(/\?page=2/);
  await expect(page.locator('.pager .page')).toHaveText('Page 2 of 2');
  await page.getByRole('link', { name: '« First' }).click();
  await expect(page.locator('.pager .page')).toHaveText('Page 1 of 2');

  // A search without JavaScript is a plain GET form.
  await page.getByRole('searchbox', { name: 'Search the books' }).fill('Paged Book 17');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/\?q=Paged/);
  await expect(page.locator('.book-card')).toContainText(['Paged Book 17']);
  await expect(page.locator('.pager .page')).toHaveText('Page 1 of 1');
});
