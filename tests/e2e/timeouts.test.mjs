// Slowloris and idle protection: --header-timeout, --body-timeout,
// --keepalive-timeout. Every wait is bounded; the bounds leave room for a
// sanitizer build on a loaded machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { get, rawRequest } from './lib/http.mjs';
import { assertRejectionShape, assertWithin, expectHealthy } from './lib/expect.mjs';
import { fetchMetrics, sample0 } from './lib/metrics.mjs';

const T = { timeout: 30000 };

async function timeoutsDelta(s, before) {
	const after = await fetchMetrics(s);
	const d = {};
	for (const phase of ['header', 'body', 'idle']) {
		d[phase] =
			sample0(after.parsed, 'crier_http_timeouts_total', { phase }) - sample0(before.parsed, 'crier_http_timeouts_total', { phase });
	}
	return d;
}

test('slowloris: a head trickling one byte per 300 ms gets 408 within the header timeout, others are served', T, async (t) => {
	const s = await startServer(t, { args: ['--header-timeout', '1s', '--keepalive-timeout', '30s'] });
	const before = await fetchMetrics(s);
	const slow = await s.connect();
	const started = Date.now();
	const head = `GET /healthz HTTP/1.1\r\nHost: crier.test\r\nX-Slow: ${'a'.repeat(100)}\r\n\r\n`;
	const trickle = slow.writeSlowly(head, { delayMs: 300, chunk: 1 });

	// Meanwhile a normal client is served, many times, promptly.
	let served = 0;
	const normal = (async () => {
		const c = await s.connect();
		while (!slow.closed && Date.now() - started < 4000) {
			const t0 = Date.now();
			await c.write(get('/healthz'));
			const r = await c.readResponse({ timeoutMs: 1000 });
			assert.equal(r.status, 200);
			assert.ok(Date.now() - t0 < 1000, 'normal client served within 1 s while a slowloris is connected');
			served++;
			await sleep(50);
		}
		c.destroy();
	})();
	normal.catch(() => {}); // awaited below; avoid an early unhandled rejection

	const r = await slow.readResponse({ timeoutMs: 4000 });
	const elapsed = Date.now() - started;
	assert.equal(r.status, 408);
	assertRejectionShape(r);
	await slow.waitClose(2000);
	assertWithin(elapsed, 900, 2500, '408 after the header timeout');
	await trickle;
	await normal;
	assert.ok(served >= 5, `normal client served ${served} times during the slowloris`);
	const d = await timeoutsDelta(s, before);
	assert.equal(d.header, 1, `timeouts_total{phase="header"} delta ${JSON.stringify(d)}`);
});

test('several slowloris connections at once are all cut, and the server stays responsive', T, async (t) => {
	const s = await startServer(t, { args: ['--header-timeout', '1s'] });
	const slows = await Promise.all(Array.from({ length: 20 }, () => s.connect()));
	const started = Date.now();
	const trickles = slows.map((c) => c.writeSlowly(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${'b'.repeat(50)}\r\n\r\n`, { delayMs: 250 }));
	await expectHealthy(s, 'with 20 slowloris connections open');
	for (const c of slows) {
		const r = await c.readResponse({ timeoutMs: 4000 });
		assert.equal(r.status, 408);
		await c.waitClose(2000);
	}
	assertWithin(Date.now() - started, 900, 3000, 'all slowloris connections cut');
	await Promise.all(trickles);
});

test('a connection that never sends anything is closed by the header timeout', T, async (t) => {
	const s = await startServer(t, { args: ['--header-timeout', '1s', '--keepalive-timeout', '30s'] });
	const c = await s.connect();
	const started = Date.now();
	await c.waitClose(3000);
	assertWithin(Date.now() - started, 700, 2500, 'silent new connection closed');
	// 408 or a silent close are both acceptable for a connection that sent nothing.
	if (c.unread().length > 0) {
		const r = await c.readResponse({ timeoutMs: 100 });
		assert.equal(r.status, 408);
	}
});

test('the header timeout is a total: steady trickling does not extend it', T, async (t) => {
	const s = await startServer(t, { args: ['--header-timeout', '1500ms'] });
	const c = await s.connect();
	const started = Date.now();
	const trickle = c.writeSlowly('GET /healthz HTTP/1.1\r\nHost: x\r\n' + 'X-A: b\r\n'.repeat(50), { delayMs: 100, chunk: 2 });
	const r = await c.readResponse({ timeoutMs: 5000 });
	assert.equal(r.status, 408);
	assertWithin(Date.now() - started, 1300, 3000, '408 at the 1.5 s header timeout');
	await c.waitClose(2000);
	await trickle;
});

test('body timeout: Content-Length 10, 3 bytes, then silence -> 408 and close', T, async (t) => {
	const s = await startServer(t, { args: ['--body-timeout', '1s', '--header-timeout', '10s'] });
	const before = await fetchMetrics(s);
	const c = await s.connect();
	await c.write(rawRequest('POST', '/nope', { headers: ['Content-Length: 10'], body: 'abc' }));
	const started = Date.now();
	// The server may answer 404 early for an unknown route; what matters
	// is that the stalled body ends in 408 and a close.
	let r = await c.readResponse({ timeoutMs: 4000 });
	if (r.status === 404) r = await c.readResponse({ timeoutMs: 4000 });
	assert.equal(r.status, 408);
	assertRejectionShape(r);
	await c.waitClose(2000);
	assertWithin(Date.now() - started, 800, 2500, '408 after the body timeout');
	const d = await timeoutsDelta(s, before);
	assert.equal(d.body, 1, `timeouts_total{phase="body"} delta ${JSON.stringify(d)}`);
});

test('body timeout on /healthz (known route): 408 and close', T, async (t) => {
	const s = await startServer(t, { args: ['--body-timeout', '1s'] });
	const c = await s.connect();
	await c.write(rawRequest('POST', '/healthz', { headers: ['Content-Length: 10'], body: 'abc' }));
	const started = Date.now();
	let r = await c.readResponse({ timeoutMs: 4000 });
	if (r.status === 405) r = await c.readResponse({ timeoutMs: 4000 });
	assert.equal(r.status, 408);
	await c.waitClose(2000);
	assertWithin(Date.now() - started, 800, 2500, '408 after the body timeout');
});

test('body timeout on a stalled chunked body -> 408 and close', T, async (t) => {
	const s = await startServer(t, { args: ['--body-timeout', '1s'] });
	const c = await s.connect();
	await c.write(rawRequest('POST', '/nope', { headers: ['Transfer-Encoding: chunked'], body: '5\r\nab' }));
	const started = Date.now();
	let r = await c.readResponse({ timeoutMs: 4000 });
	if (r.status === 404) r = await c.readResponse({ timeoutMs: 4000 });
	assert.equal(r.status, 408);
	await c.waitClose(2000);
	assertWithin(Date.now() - started, 800, 2500, '408 after the body timeout');
});

test('body timeout is about silence: a body trickling faster than the timeout completes', T, async (t) => {
	const s = await startServer(t, { args: ['--body-timeout', '1s'] });
	const c = await s.connect();
	await c.write(rawRequest('POST', '/nope', { headers: ['Content-Length: 8'] }));
	await c.writeSlowly('abcdefgh', { delayMs: 400 }); // 2.8 s in total
	await c.write(get('/healthz'));
	const [a, b] = await c.readResponses(2, { timeoutMs: 3000 });
	assert.equal(a.status, 404);
	assert.equal(b.status, 200);
});

test('keep-alive idle timeout: an idle connection is closed without a response', T, async (t) => {
	const s = await startServer(t, { args: ['--keepalive-timeout', '1s', '--header-timeout', '10s'] });
	const before = await fetchMetrics(s);
	const c = await s.connect();
	await c.write(get('/healthz'));
	assert.equal((await c.readResponse()).status, 200);
	const idleFrom = Date.now();
	const extra = await c.waitClose(3000);
	assertWithin(Date.now() - idleFrom, 700, 2500, 'idle keep-alive connection closed');
	assert.equal(extra.length, 0, `no bytes expected on idle close, got ${JSON.stringify(extra.toString('latin1'))}`);
	const d = await timeoutsDelta(s, before);
	assert.equal(d.idle, 1, `timeouts_total{phase="idle"} delta ${JSON.stringify(d)}`);
});

test('keep-alive: a request before the idle timeout resets it', T, async (t) => {
	const s = await startServer(t, { args: ['--keepalive-timeout', '1s'] });
	const c = await s.connect();
	for (let i = 0; i < 4; i++) {
		await c.write(get('/healthz'));
		assert.equal((await c.readResponse()).status, 200, `request ${i}`);
		await sleep(600); // 2.4 s in total, each gap under 1 s
	}
	assert.equal(c.closed, false);
});
