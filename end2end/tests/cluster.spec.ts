import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, expect, waitUntilLive, signInAsStaff, Shop, FEATURED, STAFF, STAFF_PASSWORD } from './fixtures';

// Two livecart nodes on one PostgreSQL behind Debian's nginx, run with the
// shipped deploy/nginx/livecart.conf (scripts/nginx.sh). scripts/test.sh
// sets LIVECART_TEST_POSTGRES when PostgreSQL answers and installs nginx.
const admin = process.env.LIVECART_TEST_POSTGRES;
const root = path.resolve(__dirname, '..', '..');
const WEBSOCKETS = 'livecart_subscribers{transport="Websocket"}';

function psql(sql: string): void {
  const run = spawnSync('psql', [admin!, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`psql: ${run.stderr}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** nginx in front of the nodes; resolves once it accepts connections. */
async function startBalancer(nodes: Shop[], dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const ports = nodes.map((n) => new URL(n.baseURL).port);
  const child = spawn(path.join(root, 'scripts', 'nginx.sh'), [dir, String(port), ...ports], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await expect
    .poll(async () => fetch(`${url}/healthz`).then((r) => r.status).catch(() => 0), { timeout: 10_000 })
    .toBe(200);
  return { url, child };
}

test('through nginx, two pages on different nodes stay live, and still after a node is killed', async ({ browser }) => {
  test.skip(!admin, 'needs PostgreSQL (LIVECART_TEST_POSTGRES)');
  const name = `livecart_test_e2e_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  psql(`CREATE DATABASE ${name}`);
  const url = `${admin!.slice(0, admin!.lastIndexOf('/'))}/${name}`;
  const nodes = [new Shop({ LIVECART_DATABASE_URL: url }), new Shop({ LIVECART_DATABASE_URL: url })];
  const dir = mkdtempSync(path.join(tmpdir(), 'livecart-nginx-'));
  let balancer: ChildProcess | undefined;
  try {
    for (const node of nodes) await node.start();
    const started = await startBalancer(nodes, dir);
    balancer = started.child;

    // Each page's live connection goes to the node with fewer open ones.
    const mine = await (await browser.newContext()).newPage();
    await mine.goto(`${started.url}/books/${FEATURED}`);
    await waitUntilLive(mine);
    await expect.poll(async () => (await nodes[0].gauge(WEBSOCKETS)) + (await nodes[1].gauge(WEBSOCKETS))).toBe(1);
    // The second page's socket goes to the other node, unless a request of
    // its own page still open on that node tips nginx's count the other way:
    // then the page is opened again (its socket closed first).
    const sockets = async () => (await nodes[0].gauge(WEBSOCKETS)) + (await nodes[1].gauge(WEBSOCKETS));
    let theirs = await (await browser.newContext()).newPage();
    for (let tries = 1; ; tries++) {
      await theirs.goto(`${started.url}/books/${FEATURED}`);
      await waitUntilLive(theirs);
      await expect.poll(sockets).toBe(2);
      if ((await nodes[0].gauge(WEBSOCKETS)) === 1) break;
      expect(tries, 'one page on each node within five tries').toBeLessThan(5);
      await theirs.context().close();
      await expect.poll(sockets).toBe(1);
      theirs = await (await browser.newContext()).newPage();
    }
    await nodes[0].gaugeReaches(WEBSOCKETS, 1);
    await nodes[1].gaugeReaches(WEBSOCKETS, 1);
    await expect(theirs.locator('.stock')).toHaveText('Only 10 left');

    // A reservation through one node shows on the page the other serves.
    await mine.getByRole('button', { name: 'Add to cart' }).click();
    await expect(mine.locator('.held')).toHaveText('You hold 1 copy.');
    await expect(theirs.locator('.stock')).toHaveText('Only 9 left');

    // A staff desk, open on the node that stays, lists both nodes as up.
    await nodes[1].addStaff(STAFF, STAFF_PASSWORD);
    const desk = await (await browser.newContext()).newPage();
    await signInAsStaff(desk, nodes[1].baseURL);
    await expect(desk.locator('.desk-live')).toHaveAttribute('data-live', 'true');
    const nodeRow = (shop: Shop) => desk.locator(`tr.node[data-address="${new URL(shop.baseURL).host}"]`);
    await expect(nodeRow(nodes[0])).toHaveAttribute('data-state', 'up');
    await expect(nodeRow(nodes[1])).toHaveAttribute('data-state', 'up');
    let reloaded = false;
    desk.on('framenavigated', () => (reloaded = true));

    // One node dies. The page it served reconnects through nginx to the
    // other; a change made then reaches both pages.
    await nodes[0].stop('SIGKILL');
    const killedAt = Date.now();
    await theirs.getByRole('button', { name: 'Add to cart' }).click();
    await expect(theirs.locator('.held')).toHaveText('You hold 1 copy.');
    await expect(theirs.locator('.stock')).toHaveText('Only 8 left');
    await expect(mine.locator('.stock')).toHaveText('Only 8 left', { timeout: 5_000 });
    await waitUntilLive(mine);
    // Both pages, and the desk page's own stock socket.
    await nodes[1].gaugeReaches(WEBSOCKETS, 3);

    // The desk marks the dead node gone within 15 s of its death, live.
    await expect(nodeRow(nodes[0])).toHaveAttribute('data-state', 'gone', {
      timeout: Math.max(15_000 - (Date.now() - killedAt), 1),
    });
    await expect(nodeRow(nodes[1])).toHaveAttribute('data-state', 'up');
    expect(reloaded, 'followed without a reload').toBe(false);
  } finally {
    if (balancer && balancer.exitCode === null && balancer.signalCode === null) {
      await new Promise<void>((resolve) => {
        balancer!.once('exit', () => resolve());
        balancer!.kill('SIGTERM');
      });
    }
    for (const node of nodes) await node.dispose();
    rmSync(dir, { recursive: true, force: true });
    psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
});
