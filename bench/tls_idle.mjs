// bench/tls_idle.mjs: RSS per idle connection of a server, TLS or plain.
//
// Opens CONNS connections to 127.0.0.1:PORT (TLS when --tls), each does one
// GET /healthz with keep-alive and then stays open and silent. The
// server's RSS (/proc/PID/status VmRSS) is read before the first
// connection and after the last answer plus SETTLE_MS; the difference per
// connection is the figure. Prints one JSON line. Bounded: connections
// that are not answered within TIMEOUT_MS fail the run.
//
// usage: node tls_idle.mjs --port P --pid SERVER_PID --conns N [--tls]
//        [--concurrency 50] [--settle-ms 1000] [--timeout-ms 120000]
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const args = process.argv.slice(2);
const opt = (name, def) => {
	const i = args.indexOf(`--${name}`);
	return i >= 0 ? args[i + 1] : def;
};
const port = Number(opt('port'));
const pid = Number(opt('pid'));
const conns = Number(opt('conns', 2000));
const useTls = args.includes('--tls');
const concurrency = Number(opt('concurrency', 50));
const settleMs = Number(opt('settle-ms', 1000));
const timeoutMs = Number(opt('timeout-ms', 120000));
if (!port || !pid) {
	console.error('usage: node tls_idle.mjs --port P --pid SERVER_PID --conns N [--tls]');
	process.exit(2);
}

function rssKiB() {
	const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
	return Number(m[1]);
}

const sockets = [];
let session; // TLS: every connection after the first resumes, as browsers do
function openOne() {
	return new Promise((resolve, reject) => {
		const s = useTls
			? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, session })
			: net.connect(port, '127.0.0.1');
		if (useTls) s.on('session', (sess) => (session = sess));
		const timer = setTimeout(() => reject(new Error('connection not answered within 10 s')), 10000);
		let got = '';
		s.on(useTls ? 'secureConnect' : 'connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
		s.on('data', (d) => {
			got += d;
			if (got.endsWith('ok\n')) {
				clearTimeout(timer);
				resolve();
			}
		});
		s.on('error', (e) => {
			clearTimeout(timer);
			reject(e);
		});
		sockets.push(s);
	});
}

const overall = setTimeout(() => {
	console.error(`tls_idle: not done within ${timeoutMs} ms`);
	process.exit(1);
}, timeoutMs);

const before = rssKiB();
const started = Date.now();
let next = 0;
async function lane() {
	while (next < conns) {
		next++;
		await openOne();
	}
}
await openOne(); // one first, so the rest can resume its session
await Promise.all(Array.from({ length: concurrency }, lane));
await new Promise((r) => setTimeout(r, settleMs));
const after = rssKiB();
const open = sockets.filter((s) => !s.destroyed).length;
console.log(
	JSON.stringify({
		bench: 'tls_idle_rss',
		transport: useTls ? 'tls' : 'plain',
		conns: open,
		rss_before_kib: before,
		rss_after_kib: after,
		bytes_per_conn: Math.round(((after - before) * 1024) / open),
		connect_s: (Date.now() - started) / 1000,
	})
);
clearTimeout(overall);
for (const s of sockets) s.destroy();
