// The web pages built into the binary (GET /, /demo, /_web/...) and the
// reserved stats channel they read ($sys.stats): caching (ETag, 304,
// no-cache), the security headers on every answer, HEAD, 404s, --web off,
// a snapshot's fields, publish refused on every path, and the grant the
// channel needs when auth is on. The browser side is tests/browser/web_*.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer } from './lib/server.mjs';
import { Conn, get, rawRequest } from './lib/http.mjs';
import { SseSub, publish } from './lib/hub.mjs';
import { V1 } from './lib/crierv1.mjs';
import { fetchMetrics, sample } from './lib/metrics.mjs';

const T = { timeout: 30000 };
const CSP =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const STATS = '/sub/$sys.stats';

function assertSecurityHeaders(r, what) {
	assert.equal(r.headers['content-security-policy'], CSP, `${what}: CSP`);
	assert.equal(r.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
	assert.equal(r.headers['referrer-policy'], 'no-referrer', `${what}: referrer policy`);
}

test('GET / and /demo: HTML with a strong ETag, no-cache and the security headers', T, async (t) => {
	const s = await startServer(t);
	for (const [path, marker] of [
		['/', /<title>crier · dashboard<\/title>/],
		['/demo', /<title>crier · demo<\/title>/],
	]) {
		const r = await s.request(get(path));
		assert.equal(r.status, 200, path);
		assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
		assert.match(r.headers.etag, /^"[0-9a-f]{16}"$/, `${path}: strong ETag`);
		assert.equal(r.headers['cache-control'], 'no-cache');
		assertSecurityHeaders(r, path);
		assert.match(r.text, marker);
		assert.equal(Number(r.headers['content-length']), r.body.length);
		// CSP forbids inline code: the pages must not need any.
		assert.doesNotMatch(r.text, /<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=/i, `${path}: no inline script or style`);
	}
	const a = await s.request(get('/'));
	const b = await s.request(get('/demo'));
	assert.notEqual(a.headers.etag, b.headers.etag);
});

test('assets: JS and CSS types; every file the pages reference is served', T, async (t) => {
	const s = await startServer(t);
	const html = (await s.request(get('/'))).text + (await s.request(get('/demo'))).text;
	const refs = new Set([...html.matchAll(/(?:src|href)="(\/_web\/[^"]+)"/g)].map((m) => m[1]));
	assert.ok(refs.size >= 4, `pages reference their assets: ${[...refs]}`);
	const types = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' };
	for (const ref of refs) {
		const r = await s.request(get(ref));
		assert.equal(r.status, 200, ref);
		assert.equal(r.headers['content-type'], types[ref.split('.').pop()], ref);
		assertSecurityHeaders(r, ref);
	}
	// Module imports inside the scripts resolve too.
	const js = (await s.request(get('/_web/dashboard.js'))).text;
	for (const m of js.matchAll(/from '\.\/([^']+)'/g)) assert.equal((await s.request(get(`/_web/${m[1]}`))).status, 200, m[1]);
});

test('If-None-Match: 304 with no body for the current ETag (strong, weak, list, *); 200 otherwise', T, async (t) => {
	const s = await startServer(t);
	const first = await s.request(get('/_web/style.css'));
	const etag = first.headers.etag;
	for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
		const r = await s.request(get('/_web/style.css', [`If-None-Match: ${inm}`]));
		assert.equal(r.status, 304, `If-None-Match: ${inm}`);
		assert.equal(r.body.length, 0);
		assert.equal(r.headers.etag, etag);
		assert.equal(r.headers['cache-control'], 'no-cache');
		assert.equal(Number(r.headers['content-length']), first.body.length, 'the 200 length (RFC 9110 §8.6)');
		assertSecurityHeaders(r, '304');
	}
	const stale = await s.request(get('/_web/style.css', ['If-None-Match: "0000000000000000"']));
	assert.equal(stale.status, 200);
	assert.deepEqual(stale.body, first.body);
	// A 304 keeps the connection usable: a second request on it is answered.
	const rootTag = (await s.request(get('/'))).headers.etag;
	const c = await Conn.connect(s.port);
	try {
		await c.write(Buffer.concat([get('/', [`If-None-Match: ${rootTag}`]), get('/healthz')]));
		assert.equal((await c.readResponse()).status, 304);
		const next = await c.readResponse();
		assert.equal(next.status, 200);
		assert.equal(next.text, 'ok\n');
	} finally {
		c.destroy();
	}
});

test('HEAD: the GET headers, no body; unknown asset 404; POST 405', T, async (t) => {
	const s = await startServer(t);
	const g = await s.request(get('/demo'));
	const h = await s.request(rawRequest('HEAD', '/demo'), { head: true });
	assert.equal(h.status, 200);
	assert.equal(h.headers.etag, g.headers.etag);
	assert.equal(h.headers['content-length'], g.headers['content-length']);
	assert.equal(h.body.length, 0);
	assertSecurityHeaders(h, 'HEAD');
	for (const p of ['/_web/nope.js', '/_web/../src/cli/main.c', '/_web/index.html/x', '/index.html', '/demo/']) {
		const r = await s.request(get(p));
		assert.equal(r.status, 404, p);
	}
	const nf = await s.request(get('/_web/nope.js'));
	assert.match(nf.text, /404 Not Found/);
	assertSecurityHeaders(nf, '404');
	const post = await s.request(rawRequest('POST', '/', { headers: ['Content-Length: 0'] }));
	assert.equal(post.status, 405);
	assert.match(post.headers.allow, /GET, HEAD/);
});

test('--web off: every page and asset is a 404; the hub routes and the stats channel still work', T, async (t) => {
	const s = await startServer(t, { args: ['--web', 'off'] });
	for (const p of ['/', '/demo', '/_web/style.css', '/_web/dashboard.js']) {
		const r = await s.request(get(p));
		assert.equal(r.status, 404, p);
		assert.match(r.text, /--web off/);
	}
	assert.equal((await s.request(get('/healthz'))).status, 200);
	const sub = await SseSub.open(s, STATS);
	assert.equal(sub.status, 200);
	await sub.waitEvents(1, 4000);
});

test('$sys.stats: a snapshot a second while watched, with ids and every field', T, async (t) => {
	const s = await startServer(t);
	await publish(s, 'news', 'one');
	const other = await SseSub.open(s, '/sub/news');
	const sub = await SseSub.open(s, STATS);
	assert.equal(sub.status, 200);
	await publish(s, 'news', 'two');
	await sub.waitEvents(3, 6000);
	const evs = sub.eventList();
	const snaps = evs.map((e) => JSON.parse(e.data));
	const ids = evs.map((e) => e.id);
	assert.ok(ids.every((id) => /^[0-9a-f]{8}-\d+$/.test(id)), `ids ${ids}`);
	const last = snaps.at(-1);
	for (const k of [
		'time_ms', 'uptime_s', 'workers', 'published_total', 'published_per_s', 'deliveries_total', 'deliveries_per_s',
		'slow_consumer_closes', 'slow_consumer_catchups', 'gaps_sent', 'auth_failures', 'channels_total',
	]) assert.equal(typeof last[k], 'number', `field ${k} in ${JSON.stringify(last)}`);
	assert.equal(last.workers, 2);
	assert.ok(last.connections.sse >= 2, `two SSE streams open: ${JSON.stringify(last.connections)}`);
	assert.equal(last.connections.total, last.connections.http + last.connections.ws + last.connections.sse);
	const news = last.channels.find((c) => c.name === 'news');
	assert.deepEqual({ ...news, rate_per_s: 0 }, { name: 'news', subscribers: 1, published: 2, rate_per_s: 0 });
	assert.ok(last.channels.find((c) => c.name === '$sys.stats')?.subscribers === 1);
	// Sorted by subscribers; the snapshot's own deliveries are counted.
	const subsList = last.channels.map((c) => c.subscribers);
	assert.deepEqual(subsList, [...subsList].sort((a, b) => b - a));
	assert.ok(last.deliveries_total >= 2 && last.published_total >= 3);
	// One a second (bounded: 3 events took 2-3 s, not 30 snapshots).
	const dt = snaps.at(-1).time_ms - snaps[0].time_ms;
	assert.ok(dt >= 1500 && dt <= 4000, `3 snapshots over ${dt} ms`);
	// History: a resume from the first id replays the later snapshots.
	const again = await SseSub.open(s, STATS, { headers: [`Last-Event-ID: ${ids[0]}`] });
	await again.waitEvents(2, 4000);
	assert.equal(again.eventList()[0].id, ids[1]);
	other.close();
});

test('$sys.stats: nothing is published while nobody watches', T, async (t) => {
	const s = await startServer(t);
	await new Promise((r) => setTimeout(r, 1500));
	const m = (await fetchMetrics(s)).parsed;
	assert.equal(sample(m, 'crier_hub_published_total'), 0);
});

test('publishing to $sys.stats is refused: HTTP 403, /ws forbidden; other $ names are invalid', T, async (t) => {
	const s = await startServer(t);
	const r = await publish(s, '$sys.stats', 'fake');
	assert.equal(r.status, 403);
	assert.match(r.text, /reserved for the server: subscribe only/);
	assert.equal((await publish(s, '$sys.other', 'x')).status, 400);
	assert.equal((await s.request(get('/sub/$sys.other', ['Accept: text/event-stream']))).status, 400);
	const m = (await fetchMetrics(s)).parsed;
	assert.equal(sample(m, 'crier_auth_failures_total', { reason: 'auth_forbidden' }), 1);
	assert.ok(s.logs.some((l) => /request refused/.test(l) && /reserved_channel/.test(l)), 'a log line says why');

	const c = await V1.open(s);
	const e = await c.request({ op: 'publish', channel: '$sys.stats', data: 'x' });
	assert.equal(e.op, 'error');
	assert.equal(e.code, 'forbidden');
	assert.match(e.message, /reserved for the server: subscribe only/);
	// The same connection may subscribe to it and gets snapshots.
	const ack = await c.request({ op: 'subscribe', channels: ['$sys.stats'] });
	assert.equal(ack.op, 'ack');
	const msg = await c.waitFor((x) => x.stream.find((f) => f.op === 'message'), 4000, 'a stats snapshot over /ws');
	assert.equal(msg.channel, '$sys.stats');
	assert.equal(typeof JSON.parse(msg.data).uptime_s, 'number');
});

const KEY = 'a-test-secret-that-is-at-least-32-bytes-long';
const b64u = (b) => Buffer.from(b).toString('base64url');
function sign(claims) {
	const input = `${b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}`;
	return `${input}.${b64u(crypto.createHmac('sha256', KEY).update(input).digest())}`;
}
const token = (subscribe) => sign({ sub: 'u', exp: Math.floor(Date.now() / 1000) + 600, crier: { subscribe, publish: [] } });

test('auth required: the pages are public, $sys.stats needs its own exact grant ("*" is not enough)', T, async (t) => {
	const s = await startServer(t, { args: ['--auth', 'required', '--jwt-key', KEY] });
	assert.equal((await s.request(get('/'))).status, 200, 'static pages hold no data');
	assert.equal((await s.request(get('/_web/dashboard.js'))).status, 200);
	const sse = (tok) => s.request(get(STATS, ['Accept: text/event-stream', 'Connection: close', ...(tok ? [`Authorization: Bearer ${tok}`] : [])]), { timeoutMs: 3000 }).catch((e) => ({ status: 0, e }));
	assert.equal((await sse(null)).status, 401);
	const all = await sse(token(['*']));
	assert.equal(all.status, 403);
	assert.match(all.text, /does not grant subscribe on '\$sys\.stats'/);
	const ok = await SseSub.open(s, STATS, { headers: [`Authorization: Bearer ${token(['$sys.stats'])}`] });
	assert.equal(ok.status, 200);
	await ok.waitEvents(1, 4000);
	const snap = JSON.parse(ok.eventList()[0].data);
	assert.ok(snap.auth_failures >= 2, `auth failures counted: ${snap.auth_failures}`);
	ok.close();
});

test('$sys.stats works on a hub at --max-channels (reserved channels are outside the limit)', T, async (t) => {
	const s = await startServer(t, { args: ['--max-channels', '2'] });
	await publish(s, 'a', '1');
	await publish(s, 'b', '1');
	assert.equal((await publish(s, 'c', '1')).status, 503, 'the hub is full');
	const sub = await SseSub.open(s, STATS);
	assert.equal(sub.status, 200);
	await sub.waitEvents(1, 4000);
	assert.equal(JSON.parse(sub.eventList()[0].data).channels_total, 3);
});
