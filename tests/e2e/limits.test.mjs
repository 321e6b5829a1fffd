// Size and count limits (at and just over each bound), their sources
// (flag > env > config file), and --max-connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, runCrier } from './lib/server.mjs';
import { get, rawRequest } from './lib/http.mjs';
import { expectRejection, assertRejectionShape } from './lib/expect.mjs';
import { fetchMetrics, parseExposition, sample0 } from './lib/metrics.mjs';

const T = { timeout: 30000 };

/** A GET /healthz whose head is exactly `total` bytes long. */
function headOfSize(total) {
	const base = rawRequest('GET', '/healthz', { headers: [['X-Pad', '']] }).length;
	const pad = total - base;
	assert.ok(pad >= 0);
	return rawRequest('GET', '/healthz', { headers: [['X-Pad', 'a'.repeat(pad)]] });
}

test('--max-header-bytes: a head just under passes, far over gets 431', T, async (t) => {
	const s = await startServer(t, { args: ['--max-header-bytes', '2k', '--max-uri-bytes', '512'] });
	const ok = await s.request(headOfSize(2000));
	assert.equal(ok.status, 200);
	const c = await s.connect();
	await c.write(Buffer.concat([headOfSize(4096), get('/healthz')]));
	await expectRejection(c, 431);
});

test('--max-header-bytes: a head that never ends is cut at the limit (431 before the blank line)', T, async (t) => {
	const s = await startServer(t, { args: ['--max-header-bytes', '1k', '--max-uri-bytes', '512', '--header-timeout', '10s'] });
	const c = await s.connect();
	await c.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(3000)}`);
	const r = await c.readResponse({ timeoutMs: 3000 });
	assert.equal(r.status, 431);
	assertRejectionShape(r);
	await c.waitClose(3000);
});

test('--max-uri-bytes: target at the limit passes, one over gets 414', T, async (t) => {
	const s = await startServer(t, { args: ['--max-uri-bytes', '256'] });
	const at = '/healthz?' + 'q'.repeat(256 - '/healthz?'.length);
	assert.equal(at.length, 256);
	assert.equal((await s.request(get(at))).status, 200);
	const c = await s.connect();
	await c.write(Buffer.concat([get(at + 'q'), get('/healthz')]));
	await expectRejection(c, 414);
});

test('--max-headers: at the limit passes, over gets 431', T, async (t) => {
	const s = await startServer(t, { args: ['--max-headers', '10'] });
	const hdrs = (n) => Array.from({ length: n }, (_, i) => `X-H${i}: v`);
	// Host counts as a field: 1 + 9 = 10.
	assert.equal((await s.request(get('/healthz', hdrs(9)))).status, 200);
	const c = await s.connect();
	await c.write(Buffer.concat([get('/healthz', hdrs(11)), get('/healthz')]));
	await expectRejection(c, 431);
});

test('--max-body-bytes: a body at the limit is consumed, one over gets 413 (Content-Length)', T, async (t) => {
	const s = await startServer(t, { args: ['--max-body-bytes', '100'] });
	const c = await s.connect();
	await c.write(Buffer.concat([rawRequest('POST', '/nope', { headers: ['Content-Length: 100'], body: 'x'.repeat(100) }), get('/healthz')]));
	const [a, b] = await c.readResponses(2);
	assert.equal(a.status, 404);
	assert.equal(b.status, 200);
	// Over the limit: answered as soon as the head is read, before any body byte.
	const d = await s.connect();
	await d.write(rawRequest('POST', '/nope', { headers: ['Content-Length: 101'] }));
	const r = await d.readResponse({ timeoutMs: 3000 });
	assert.equal(r.status, 413);
	assertRejectionShape(r);
	await d.waitClose(3000);
});

test('--max-body-bytes: chunked at the limit passes, over gets 413', T, async (t) => {
	const s = await startServer(t, { args: ['--max-body-bytes', '100'] });
	const c = await s.connect();
	const body100 = `32\r\n${'x'.repeat(50)}\r\n32\r\n${'y'.repeat(50)}\r\n0\r\n\r\n`;
	await c.write(Buffer.concat([rawRequest('POST', '/nope', { headers: ['Transfer-Encoding: chunked'], body: body100 }), get('/healthz')]));
	const [a, b] = await c.readResponses(2);
	assert.equal(a.status, 404);
	assert.equal(b.status, 200);
	const d = await s.connect();
	// One chunk announcing more than the limit: rejected from its size line.
	await d.write(rawRequest('POST', '/nope', { headers: ['Transfer-Encoding: chunked'], body: '65\r\n' }));
	const r = await d.readResponse({ timeoutMs: 3000 });
	assert.equal(r.status, 413);
	await d.waitClose(3000);
});

const big6k = rawRequest('GET', '/healthz', { headers: [['X-Pad', 'a'.repeat(6 * 1024)]] });

test('limit sources: env CRIER_MAX_HEADER_BYTES applies', T, async (t) => {
	const s = await startServer(t, { env: { CRIER_MAX_HEADER_BYTES: '4k' } });
	const c = await s.connect();
	await c.write(big6k);
	await expectRejection(c, 431);
});

test('limit sources: the flag beats the environment', T, async (t) => {
	const s = await startServer(t, { env: { CRIER_MAX_HEADER_BYTES: '4k' }, args: ['--max-header-bytes', '8k'] });
	assert.equal((await s.request(big6k)).status, 200);
});

test('limit sources: the environment beats the config file', T, async (t) => {
	const s = await startServer(t, { env: { CRIER_MAX_HEADER_BYTES: '4k' }, config: 'max-header-bytes = 8k\n' });
	const c = await s.connect();
	await c.write(big6k);
	await expectRejection(c, 431);
});

test('limit sources: the config file beats the default', T, async (t) => {
	const s = await startServer(t, { config: '# comment\n\nmax-header-bytes = 4k\n' });
	const c = await s.connect();
	await c.write(big6k);
	await expectRejection(c, 431);
});

test('--max-connections 3: the 4th connection gets 503 and close; a freed slot is reused', T, async (t) => {
	const s = await startServer(t, { args: ['--max-connections', '3'] });
	const idle = [];
	for (let i = 0; i < 3; i++) {
		const c = await s.connect();
		await c.write(get('/healthz'));
		assert.equal((await c.readResponse()).status, 200, `connection ${i + 1}`);
		idle.push(c);
	}
	let rejected = 0;
	const fourth = await s.connect();
	// The server may answer as soon as it accepts; only write if it has not.
	if (!(await fourth.waitData(300)) && !fourth.closed) await fourth.write(get('/healthz'));
	const r = await fourth.readResponse({ timeoutMs: 3000 });
	assert.equal(r.status, 503);
	assertRejectionShape(r);
	await fourth.waitClose(3000);
	rejected++;
	// The idle ones are untouched.
	await idle[0].write(get('/healthz'));
	assert.equal((await idle[0].readResponse()).status, 200);

	idle[2].destroy();
	// The server notices the close asynchronously: retry (bounded) until served.
	let served = null;
	const deadline = Date.now() + 3000;
	while (Date.now() < deadline) {
		const c = await s.connect();
		if (!(await c.waitData(100)) && !c.closed) await c.write(get('/healthz'));
		const x = await c.readResponse({ timeoutMs: 3000 });
		if (x.status === 200) {
			served = c;
			break;
		}
		assert.equal(x.status, 503);
		rejected++;
		c.destroy();
		await sleep(100);
	}
	assert.ok(served, 'a new connection is served after one of the three closed');
	served.destroy();
	idle[0].destroy();
	idle[1].destroy();
	// /metrics needs a slot too: retry until the closes are noticed.
	let m;
	for (let i = 0; i < 30; i++) {
		try {
			m = await fetchMetrics(s);
			break;
		} catch {
			await sleep(100);
		}
	}
	assert.ok(m, '/metrics reachable once connections are closed');
	assert.equal(sample0(m.parsed, 'crier_connections_rejected_total', { reason: 'max_connections' }) >= 1, true);
	// Only count the 503s this test saw (metrics fetch retries may add more if they hit the cap).
	assert.ok(sample0(m.parsed, 'crier_connections_rejected_total', { reason: 'max_connections' }) >= rejected);
});

test('--max-connections: exact rejected count on a quiet server', T, async (t) => {
	const s = await startServer(t, { args: ['--max-connections', '2'] });
	const a = await s.connect();
	await a.write(get('/healthz'));
	await a.readResponse();
	const b = await s.connect();
	await b.write(get('/healthz'));
	await b.readResponse();
	for (let i = 0; i < 3; i++) {
		const c = await s.connect();
		if (!(await c.waitData(200)) && !c.closed) await c.write(get('/healthz'));
		assert.equal((await c.readResponse({ timeoutMs: 3000 })).status, 503);
		await c.waitClose(3000);
	}
	b.destroy();
	let m;
	let seen503 = 3;
	for (let i = 0; i < 30 && !m; i++) {
		const r = await s.request(get('/metrics', ['Connection: close'])).catch(() => null);
		if (r && r.status === 200) m = r;
		else {
			if (r && r.status === 503) seen503++;
			await sleep(100);
		}
	}
	assert.ok(m, '/metrics served after freeing a slot');
	const parsed = parseExposition(m.text);
	const v = sample0(parsed, 'crier_connections_rejected_total', { reason: 'max_connections' });
	assert.equal(v, seen503, 'rejected_total{reason="max_connections"} equals the 503s the test saw');
	// a is still open: one slot is free once the /metrics connection is gone.
	let ok = false;
	for (let i = 0; i < 30 && !ok; i++) {
		const r = await s.request(get('/healthz', ['Connection: close'])).catch(() => null);
		ok = r !== null && r.status === 200;
		if (!ok) await sleep(100);
	}
	assert.ok(ok, 'served again once a slot is free');
});

test('--max-header-bytes below --max-uri-bytes is refused at start-up (exit 2)', T, async () => {
	const r = await runCrier(['serve', '--listen', '127.0.0.1:0', '--max-header-bytes', '1k'], { timeoutMs: 5000 });
	assert.equal(r.timedOut, false);
	assert.equal(r.code, 2, r.stderr);
	assert.match(r.stderr, /max-header-bytes/);
});
