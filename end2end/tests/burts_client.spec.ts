import { test, expect, waitUntilLive, FEATURED } from './fixtures';

// The Tornado book's own jQuery client, served at /burts-books, against the
// same inventory as the storefront.
for (const transport of ['longpoll', 'websocket']) {
  test(`the book's ${transport} client and the storefront see each other`, async ({ shop, browser }) => {
    const book = await (await browser.newContext()).newPage();
    const store = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    book.on('pageerror', (e) => errors.push(e.message));

    await book.goto(`${shop.baseURL}/burts-books?transport=${transport}`);
    await store.goto(`${shop.baseURL}/books/${FEATURED}`);
    await expect(book.locator('#count')).toHaveText('10');
    await waitUntilLive(store);
    // The book's client has its long poll or socket open.
    const series = transport === 'websocket' ? 'BurtsWebsocket' : 'BurtsLongPoll';
    await shop.gaugeReaches(`livecart_subscribers{transport="${series}"}`, 1);

    await book.locator('#add-button').click();
    await expect(book.locator('#remove-from-cart')).toBeVisible();
    await expect(store.locator('.stock')).toHaveText('Only 9 left');
    await expect(book.locator('#count')).toHaveText('9');

    await store.getByRole('button', { name: 'Add to cart' }).click();
    await expect(book.locator('#count')).toHaveText('8');

    await book.locator('#remove-button').click();
    await expect(book.locator('#add-to-cart')).toBeVisible();
    await expect(store.locator('.stock')).toHaveText('Only 9 left');
    await expect(book.locator('#count')).toHaveText('9');
    expect(errors).toEqual([]);
  });
}
