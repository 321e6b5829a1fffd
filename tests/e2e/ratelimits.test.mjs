// Abuse limits against the real hub: the per-address new-connection rate
// (429 with Retry-After before any upgrade, then recovery), the per-address
// connection cap (503, released on close), the publish rate per address and
// per token subject (HTTP 429 with Retry-After, /ws rate_limited), the
// per-token subscription cap (429 for SSE and for the /ws upgrade, released
// on close), --max-channels-per-conn on /sub and /ws, the /metrics counters,
// and a SIGHUP reload that changes a limit. All limits are off by default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { get } from './lib/http.mjs';
import { Publisher, SseSub, until } from './lib/hub.mjs';
import { V1 } from './lib/crierv1.mjs';
import { handshakeRequest } from './lib/wsraw.mjs';
import { fetchMetrics, sample0 } from './lib/metrics.mjs';

const T = { timeout: 30000 };
const KEY = 'a-test-secret-that-is-at-least-32-bytes-long';
const now = () => Math.floor(Date.now() / 1000);
const b64u = (b) => Buffer.from(b).toString('base64url');

function sign(claims) {
	const input = `${b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}`;
	return `${input}.${b64u(crypto.createHmac('sha256', KEY).update(input).digest())}`;
}
const token = (sub) => sign({ sub, exp: now() + 600, crier: { subscribe: ['*'], publish: ['*'] } });
const bearer = (tok) => [`Authorization: Bearer ${tok}`];

const healthz = (s) => s.request(get('/healthz', ['Connection: close']), { timeoutMs: 3000 });

async function limitRefused(s, limit, key) {
	const { parsed } = await fetchMetrics(s);
	return sample0(parsed, 'crier_limit_refused_total', { limit, key });
}

test('limits are off by default: many connections and publishes from one address pass', T, async (t) => {
	const s = await startServer(t);
	const rs = await Promise.all(Array.from({ length: 40 }, () => healthz(s)));
	assert.deepEqual(new Set(rs.map((r) => r.status)), new Set([200]));
	const p = await Publisher.open(s);
	for (let i = 0; i < 50; i++) assert.equal((await p.publish('news', `m${i}`)).status, 200);
	p.close();
	assert.equal(await limitRefused(s, 'conn_rate', 'ip'), 0);
	assert.equal(await limitRefused(s, 'publish_rate', 'ip'), 0);
});

test('--conn-rate-per-ip: past the burst a new connection gets 429 with Retry-After, no upgrade, then recovers', T, async (t) => {
	const s = await startServer(t, { args: ['--conn-rate-per-ip', '2', '--conn-burst-per-ip', '4'] });
	const first = [];
	for (let i = 0; i < 4; i++) first.push((await healthz(s)).status);
	assert.deepEqual(first, [200, 200, 200, 200]);
	const r = await healthz(s);
	assert.equal(r.status, 429, r.text);
	assert.match(r.headers['retry-after'], /^[1-9]\d*$/);
	assert.match(r.text, /too many new connections from this address/);
	// A WebSocket upgrade is refused the same way, before any 101.
	const c = await s.connect();
	await c.write(handshakeRequest({ path: '/sub/news', host: `127.0.0.1:${s.port}` }).bytes);
	const u = await c.readResponse({ timeoutMs: 3000 });
	assert.equal(u.status, 429);
	c.destroy();
	// Two tokens a second come back: after a second one connection passes.
	await sleep(1100);
	assert.equal((await healthz(s)).status, 200);
	await s.waitForLog(/refused by a limit.*what=connect.*reason=rate_limited/);
	// Refusals counted (the metrics request itself may need a token: wait).
	await sleep(600);
	assert.ok((await limitRefused(s, 'conn_rate', 'ip')) >= 2);
});

test('--max-conns-per-ip: the cap answers 503 and a closed connection frees its slot', T, async (t) => {
	const s = await startServer(t, { args: ['--max-conns-per-ip', '3'] });
	const held = [];
	for (let i = 0; i < 3; i++) {
		const c = await s.connect();
		await c.write(get('/healthz'));
		assert.equal((await c.readResponse({ timeoutMs: 3000 })).status, 200);
		held.push(c);
	}
	const r = await healthz(s);
	assert.equal(r.status, 503, r.text);
	assert.match(r.text, /too many connections from this address/);
	held.pop().destroy();
	await until(async () => (await healthz(s)).status === 200, 3000, 'a slot freed by the close');
	for (const c of held) c.destroy();
	await until(async () => (await limitRefused(s, 'conn_cap', 'ip')) >= 1, 3000, 'the conn_cap counter');
});

test('--publish-rate: anonymous publishers share their address bucket; 429 with Retry-After, then recovery', T, async (t) => {
	const s = await startServer(t, { args: ['--publish-rate', '2', '--publish-burst', '3'] });
	const a = await Publisher.open(s);
	const b = await Publisher.open(s);
	const st = [];
	for (let i = 0; i < 3; i++) st.push((await a.publish('news', `m${i}`)).status);
	assert.deepEqual(st, [200, 200, 200]);
	const r = await b.publish('news', 'one too many'); // another connection, same address
	assert.equal(r.status, 429, r.text);
	assert.match(r.head, /\r\nretry-after: 1(\r\n|$)/i);
	assert.match(r.text, /429 Too Many Requests/);
	// Nothing was published by the refused request.
	const info = await s.request(get('/channels/news', ['Connection: close']));
	assert.equal(JSON.parse(info.text).published, 3);
	await sleep(600);
	assert.equal((await a.publish('news', 'later')).status, 200);
	assert.equal(await limitRefused(s, 'publish_rate', 'ip'), 1);
	a.close();
	b.close();
});

test('--publish-rate with tokens: each subject has its own bucket, over HTTP and over /ws', T, async (t) => {
	const s = await startServer(t, {
		args: ['--auth', 'required', '--jwt-key', KEY, '--publish-rate', '1', '--publish-burst', '2'],
	});
	const p = await Publisher.open(s);
	const alice = bearer(token('alice'));
	assert.equal((await p.publish('news', '1', { headers: alice })).status, 200);
	assert.equal((await p.publish('news', '2', { headers: alice })).status, 200);
	assert.equal((await p.publish('news', '3', { headers: alice })).status, 429);
	// Bob, on the same connection and address, is not affected by Alice.
	assert.equal((await p.publish('news', 'b1', { headers: bearer(token('bob')) })).status, 200);
	// Alice over /ws shares her subject's (empty) bucket.
	const v = await V1.open(s, { opts: { headers: { Authorization: `Bearer ${token('alice')}` } } });
	const e = await v.request({ op: 'publish', channel: 'news', data: 'ws' });
	assert.equal(e.op, 'error', e._raw);
	assert.equal(e.code, 'rate_limited');
	assert.match(e.message, /retry in \d+ ms/);
	await v.ping('the connection carries on');
	await sleep(1100);
	await v.ok({ op: 'publish', channel: 'news', data: 'ws later' });
	assert.equal(await limitRefused(s, 'publish_rate', 'token'), 2);
	p.close();
	v.close();
});

test('--max-conns-per-token: a third stream for one subject gets 429 (SSE and /ws upgrade); closing one frees it', T, async (t) => {
	const s = await startServer(t, { args: ['--auth', 'required', '--jwt-key', KEY, '--max-conns-per-token', '2'] });
	const tok = bearer(token('carol'));
	const a = await SseSub.open(s, '/sub/news', { headers: tok });
	const b = await SseSub.open(s, '/sub/other', { headers: tok });
	assert.equal(a.status, 200);
	assert.equal(b.status, 200);
	const r = await s.request(get('/sub/news', ['Accept: text/event-stream', 'Connection: close', ...tok]));
	assert.equal(r.status, 429, r.text);
	assert.match(r.text, /too many connections for this token/);
	await assert.rejects(V1.open(s, { opts: { headers: { Authorization: `Bearer ${token('carol')}` } } }), /429/);
	// Long-polls are requests, not held streams: not counted against the cap.
	const poll = await s.request(get('/sub/news?since=00000000-1', ['Connection: close', ...tok]), { timeoutMs: 5000 });
	assert.notEqual(poll.status, 429);
	// Another subject is independent.
	const d = await SseSub.open(s, '/sub/news', { headers: bearer(token('dave')) });
	assert.equal(d.status, 200);
	a.close();
	await until(
		async () => (await s.request(get('/sub/news', ['Accept: text/event-stream', 'Connection: close', ...tok]), { timeoutMs: 3000 }).catch(() => ({ status: 0 }))).status !== 429,
		5000,
		'the closed stream to give back its slot',
	);
	assert.ok((await limitRefused(s, 'conn_cap', 'token')) >= 2);
	b.close();
	d.close();
});

test('--max-channels-per-conn: a longer /sub list gets 400; /ws counts across subscriptions', T, async (t) => {
	const s = await startServer(t, { args: ['--max-channels-per-conn', '3'] });
	const ok = await SseSub.open(s, '/sub/a,b,c');
	assert.equal(ok.status, 200);
	ok.close();
	const r = await s.request(get('/sub/a,b,c,d', ['Accept: text/event-stream', 'Connection: close']));
	assert.equal(r.status, 400);
	assert.match(r.text, /--max-channels-per-conn/);
	const v = await V1.open(s);
	await v.ok({ op: 'subscribe', channels: ['a', 'b'] });
	const e = await v.request({ op: 'subscribe', channels: ['c', 'd'] });
	assert.equal(e.op, 'error', e._raw);
	assert.equal(e.code, 'too_many_channels');
	await v.ok({ op: 'subscribe', channels: ['c'] });
	await v.ok({ op: 'unsubscribe', channels: ['a'] });
	await v.ok({ op: 'subscribe', channels: ['d'] });
	v.close();
});

test('SIGHUP applies a changed limit from the config file', T, async (t) => {
	const s = await startServer(t, { config: 'publish-rate = 0\n' });
	const p = await Publisher.open(s);
	for (let i = 0; i < 5; i++) assert.equal((await p.publish('news', `m${i}`)).status, 200);
	s.writeConfig('publish-rate = 1\npublish-burst = 1\n');
	const mark = s.mark();
	s.signal('SIGHUP');
	await s.waitForLog(/config reloaded/, 5000, { from: mark });
	const st = [(await p.publish('news', 'x')).status, (await p.publish('news', 'y')).status];
	assert.deepEqual(st, [200, 429]);
	p.close();
});
