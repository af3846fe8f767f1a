// Burt's protocol (the Tornado book's) in Node.js, as most people would write it:
// node's http module and the `ws` package, the stock in memory. A peer for
// livecart's benchmark (bench/run.sh), not part of the shop.
//
//   POST /cart          session=<id>&action=add|remove  (409 when none left)
//   GET  /cart/status   long poll until the count changes
//   WS   /cart/status   {"inventoryCount":"N"} on every change
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const total = Number(process.env.TOTAL_COPIES || 10);
const carts = new Set();
let waiting = [];
const sockets = new Set();

const count = () => total - carts.size;
const message = () => `{"inventoryCount":"${count()}"}`;

function changed() {
  const body = message();
  const polls = waiting;
  waiting = [];
  for (const res of polls) res.end(body);
  for (const ws of sockets) ws.send(body);
}

function readForm(req, done) {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    body += chunk;
    if (body.length > 65536) req.destroy();
  });
  req.on('end', () => done(new URLSearchParams(body)));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://peer');
  if (req.method === 'POST' && url.pathname === '/cart') {
    readForm(req, (form) => {
      const session = form.get('session');
      const action = form.get('action');
      if (!session) { res.statusCode = 400; return res.end('session is required'); }
      if (action === 'add') {
        if (!carts.has(session)) {
          if (count() <= 0) { res.statusCode = 409; return res.end('no copies left'); }
          carts.add(session);
          changed();
        }
      } else if (action === 'remove') {
        if (carts.delete(session)) changed();
      } else {
        res.statusCode = 400;
        return res.end('unknown action');
      }
      res.setHeader('content-type', 'application/json');
      res.end(message());
    });
  } else if (req.method === 'GET' && url.pathname === '/cart/status') {
    res.setHeader('content-type', 'application/json');
    waiting.push(res);
    res.on('close', () => { waiting = waiting.filter((r) => r !== res); });
  } else if (req.method === 'POST' && url.pathname === '/gc' && typeof global.gc === 'function') {
    // The benchmark collects garbage before it reads memory (node --expose-gc),
    // so Node's figure is what it holds, not what it has yet to free.
    global.gc();
    res.end('collected');
  } else if (req.method === 'GET' && url.pathname === '/api/stock') {
    res.setHeader('content-type', 'application/json');
    res.end(`{"version":0,"stock":{"definitive-guide-to-the-internet":${count()}}}`);
  } else {
    res.statusCode = 404;
    res.end();
  }
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  if (!req.url.startsWith('/cart/status')) return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('error', () => sockets.delete(ws));
  });
});

const [host, port] = (process.env.PEER_ADDR || '127.0.0.1:3100').split(':');
server.keepAliveTimeout = 60_000;
server.listen(Number(port), host, () => console.log(`node peer listening on http://${host}:${port}`));
