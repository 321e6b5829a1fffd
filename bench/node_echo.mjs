// bench/node_echo.mjs: the Node `ws` peer of the WebSocket echo benchmark.
//
// A minimal `ws` WebSocketServer that sends every message back on the
// connection it came from, with the same opcode (text stays text, binary
// stays binary), on any path. perMessageDeflate is off, as for crier and
// nchan in the same benchmark. One process, one thread: that is the peer as
// people run it. It answers GET /healthz with "ok" so the benchmark script
// can wait for it the same way as for the other servers.
//
//   node bench/node_echo.mjs PORT [HOST]
//
// `ws` is resolved from bench/node_modules (npm ci --prefix bench) and, as a
// fallback, from tests/e2e/node_modules, which `make test` installs.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let ws;
for (const base of ['./node_modules/ws', '../tests/e2e/node_modules/ws']) {
  try {
    ws = require(base);
    break;
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
  }
}
if (!ws) {
  console.error('node_echo: the ws package is missing: run `npm ci --prefix bench`');
  process.exit(2);
}

const port = Number(process.argv[2] || 18493);
const host = process.argv[3] || '127.0.0.1';
const server = createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' });
  res.end(req.url === '/healthz' ? 'ok\n' : 'not found\n');
});
const wss = new ws.WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (sock) => {
  sock.on('message', (data, isBinary) => sock.send(data, { binary: isBinary }));
  sock.on('error', () => {});
});
server.listen({ port, host, backlog: 4096 }, () => {
  console.error(`node_echo: listening on ${host}:${port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
