// HTTP/1.1 basics of `crier serve`: /healthz, HEAD, keep-alive and close,
// HTTP/1.0, pipelining, 404/405/501, 100-continue, consumed bodies, access log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { get, rawRequest, chunked } from './lib/http.mjs';
import { expectRejection } from './lib/expect.mjs';

const T = { timeout: 30000 };

test('GET /healthz answers 200 "ok\\n" as text/plain', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	await c.write(get('/healthz'));
	const r = await c.readResponse();
	assert.equal(r.version, 'HTTP/1.1');
	assert.equal(r.status, 200);
	assert.equal(r.text, 'ok\n');
	assert.match(r.headers['content-type'] ?? '', /^text\/plain\b/);
	assert.equal(r.headers['content-length'], '3');
	assert.doesNotMatch(r.headers['connection'] ?? '', /close/i, 'HTTP/1.1 is keep-alive by default');
});

test('the listening line is logfmt with ts, level and addr', T, async (t) => {
	const s = await startServer(t);
	assert.match(s.listeningLine, /^ts=\d{4}-\d\d-\d\dT\S+ level=info msg="?listening"? .*addr=127\.0\.0\.1:\d+/);
	assert.ok(s.port > 0 && s.port < 65536);
});

test('HEAD /healthz: 200 with Content-Length and no body', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	// HEAD then GET pipelined: if HEAD carried a body, the second response
	// would not start right after the first head.
	await c.write(Buffer.concat([rawRequest('HEAD', '/healthz'), get('/healthz')]));
	const [h, g] = await c.readResponses(2, { heads: [true, false] });
	assert.equal(h.status, 200);
	assert.equal(h.headers['content-length'], '3');
	assert.equal(h.body.length, 0);
	assert.equal(g.status, 200);
	assert.equal(g.text, 'ok\n');
	assert.equal(c.unread().length, 0);
});

test('keep-alive: several requests on one connection', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	for (let i = 0; i < 5; i++) {
		await c.write(get('/healthz'));
		const r = await c.readResponse();
		assert.equal(r.status, 200, `request ${i}`);
		await sleep(20);
	}
	assert.equal(c.closed, false, 'connection still open');
});

test('Connection: close is honoured: response says close and the server closes', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	await c.write(get('/healthz', ['Connection: close']));
	const r = await c.readResponse();
	assert.equal(r.status, 200);
	assert.match(r.headers['connection'] ?? '', /close/i);
	const extra = await c.waitClose(3000);
	assert.equal(extra.length, 0);
});

test('HTTP/1.0 without keep-alive: response then close', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	await c.write(rawRequest('GET', '/healthz', { version: 'HTTP/1.0', host: null }));
	const r = await c.readResponse();
	assert.equal(r.status, 200);
	assert.equal(r.text, 'ok\n');
	await c.waitClose(3000);
});

test('HTTP/1.0 with Connection: keep-alive stays open and says so', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	const req = rawRequest('GET', '/healthz', { version: 'HTTP/1.0', headers: ['Connection: keep-alive'] });
	await c.write(req);
	const r1 = await c.readResponse();
	assert.equal(r1.status, 200);
	assert.match(r1.headers['connection'] ?? '', /keep-alive/i);
	await c.write(req);
	const r2 = await c.readResponse();
	assert.equal(r2.status, 200);
	assert.equal(c.closed, false);
});

test('pipelining: responses come back in request order', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	const reqs = [get('/healthz'), rawRequest('HEAD', '/healthz'), get('/nope'), get('/metrics'), get('/healthz')];
	await c.write(Buffer.concat(reqs));
	const rs = await c.readResponses(5, { heads: [false, true, false, false, false] });
	assert.deepEqual(
		rs.map((r) => r.status),
		[200, 200, 404, 200, 200]
	);
	assert.equal(rs[0].text, 'ok\n');
	assert.equal(rs[1].body.length, 0);
	assert.match(rs[3].text, /crier_build_info/);
	assert.equal(rs[4].text, 'ok\n');
});

test('pipelining: many requests in one write', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	const n = 50;
	await c.write(Buffer.concat(Array.from({ length: n }, () => get('/healthz'))));
	const rs = await c.readResponses(n, { timeoutMs: 10000 });
	assert.equal(rs.filter((r) => r.status === 200 && r.text === 'ok\n').length, n);
});

test('a request split into many small writes is parsed', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	await c.writeSlowly(get('/healthz', ['X-Split: yes']), { delayMs: 5, chunk: 3 });
	const r = await c.readResponse();
	assert.equal(r.status, 200);
});

test('unknown path -> 404, connection stays usable', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	// '/' is the dashboard (--web on by default, tests/e2e/web.test.mjs).
	for (const p of ['/nope', '/nope/', '/healthz/extra', '/HEALTHZ']) {
		await c.write(get(p));
		const r = await c.readResponse();
		assert.equal(r.status, 404, p);
	}
	await c.write(get('/healthz'));
	assert.equal((await c.readResponse()).status, 200);
});

test('query string does not change the route', T, async (t) => {
	const s = await startServer(t);
	const r = await s.request(get('/healthz?x=1&y=2'));
	assert.equal(r.status, 200);
});

test('known path, wrong method -> 405 with Allow: GET, HEAD', T, async (t) => {
	const s = await startServer(t);
	for (const [m, p] of [
		['POST', '/healthz'],
		['PUT', '/healthz'],
		['DELETE', '/metrics'],
		['PATCH', '/metrics'],
	]) {
		const c = await s.connect();
		await c.write(rawRequest(m, p, { headers: ['Content-Length: 0'] }));
		const r = await c.readResponse();
		assert.equal(r.status, 405, `${m} ${p}`);
		const allow = (r.headers['allow'] ?? '').split(',').map((x) => x.trim());
		assert.ok(allow.includes('GET') && allow.includes('HEAD'), `Allow for ${m} ${p}: ${r.headers['allow']}`);
		// The empty body was consumed: the connection is usable.
		await c.write(get('/healthz'));
		assert.equal((await c.readResponse()).status, 200, `after ${m} ${p}`);
		c.destroy();
	}
});

test('unknown method token -> 501', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	await c.write(rawRequest('FOO', '/healthz'));
	const r = await c.readResponse();
	assert.equal(r.status, 501);
});

test('POST with a Content-Length body to an unknown route: 404, body consumed, keep-alive', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	await c.write(rawRequest('POST', '/nope', { headers: ['Content-Length: 11'], body: 'hello world' }));
	await c.write(get('/healthz'));
	const [a, b] = await c.readResponses(2);
	assert.equal(a.status, 404);
	assert.equal(b.status, 200);
	assert.equal(b.text, 'ok\n');
});

test('POST with a valid chunked body to an unknown route: 404, body consumed, keep-alive', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	const body = chunked(['hello', ' ', 'world, a longer chunk'], 'X-Trailer: yes\r\n');
	await c.write(
		Buffer.concat([
			rawRequest('POST', '/nope', { headers: ['Transfer-Encoding: chunked'], body }),
			get('/healthz'),
		])
	);
	const [a, b] = await c.readResponses(2);
	assert.equal(a.status, 404);
	assert.equal(b.status, 200);
	assert.equal(c.closed, false);
});

test('POST with a valid chunked body to /healthz: 405, body consumed, keep-alive', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	// Chunk extensions are valid syntax and must be accepted.
	const body = '5;name=value\r\nhello\r\n6;q="quoted ext"\r\n world\r\n0\r\n\r\n';
	await c.write(rawRequest('POST', '/healthz', { headers: ['Transfer-Encoding: chunked'], body }));
	const a = await c.readResponse();
	assert.equal(a.status, 405);
	await c.write(get('/healthz'));
	const b = await c.readResponse();
	assert.equal(b.status, 200);
});

test('chunked body delivered in small pieces is consumed correctly', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	const raw = Buffer.concat([
		rawRequest('POST', '/nope', { headers: ['Transfer-Encoding: chunked'], body: chunked(['abc', 'defghij', 'k'.repeat(300)]) }),
		get('/healthz'),
	]);
	await c.writeSlowly(raw, { delayMs: 2, chunk: 7 });
	const [a, b] = await c.readResponses(2);
	assert.equal(a.status, 404);
	assert.equal(b.status, 200);
});

test('Expect: 100-continue on a matched route: 100 Continue first, then the final status', T, async (t) => {
	// GET /healthz is the only matched route here; a body on it is allowed
	// (and ignored), which makes it the positive case for 100-continue.
	const s = await startServer(t);
	const c = await s.connect();
	await c.write(rawRequest('GET', '/healthz', { headers: ['Content-Length: 5', 'Expect: 100-continue'] }));
	const interim = await c.readResponse({ timeoutMs: 3000 });
	assert.equal(interim.status, 100, `expected 100 Continue, got ${interim.status}`);
	assert.equal(interim.version, 'HTTP/1.1');
	assert.equal(await c.waitData(200), false, 'nothing after 100 Continue until the body is sent');
	await c.write('hello');
	const final = await c.readResponse();
	assert.equal(final.status, 200);
	await c.write(get('/healthz'));
	assert.equal((await c.readResponse()).status, 200, 'connection usable after the body');
});

test('Expect: 100-continue with the wrong method: final 405 without 100', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	await c.write(rawRequest('POST', '/healthz', { headers: ['Content-Length: 5', 'Expect: 100-continue'] }));
	const r = await c.readResponse({ timeoutMs: 3000 });
	assert.equal(r.status, 405, `expected the final 405 directly, got ${r.status}`);
});

test('Expect: 100-continue on an unknown route: final 404 without 100', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	await c.write(rawRequest('POST', '/nope', { headers: ['Content-Length: 5', 'Expect: 100-continue'] }));
	const r = await c.readResponse({ timeoutMs: 3000 });
	assert.equal(r.status, 404, `expected the final 404 directly, got ${r.status}`);
});

test('Expect: 100-continue with a body over --max-body-bytes: 413 without 100', T, async (t) => {
	const s = await startServer(t, { args: ['--max-body-bytes', '100'] });
	const c = await s.connect();
	await c.write(rawRequest('POST', '/healthz', { headers: ['Content-Length: 1000', 'Expect: 100-continue'] }));
	const r = await c.readResponse({ timeoutMs: 3000 });
	assert.equal(r.status, 413, `expected 413 directly, got ${r.status}`);
	assert.match(r.headers['connection'] ?? '', /close/i);
	await c.waitClose(3000);
});

test('--access-log writes one logfmt line per request', T, async (t) => {
	const s = await startServer(t, { args: ['--access-log'] });
	const from = s.mark();
	const r = await s.request(get('/healthz', ['Connection: close']));
	assert.equal(r.status, 200);
	const line = await s.waitForLog(/msg="?(access|request)\b/, 3000, { from });
	assert.match(line, /method="?GET"?(\s|$)/);
	assert.match(line, /path="?\/healthz"?(\s|$)/);
	assert.match(line, /status="?200"?(\s|$)/);
	assert.match(line, /^ts=\S+ level=\w+ /);
});

test('without --access-log there is no access line', T, async (t) => {
	const s = await startServer(t);
	const from = s.mark();
	await s.request(get('/healthz', ['Connection: close']));
	await sleep(300);
	const lines = s.logs.slice(from).filter((l) => /msg="?(access|request)\b/.test(l));
	assert.deepEqual(lines, []);
});

test('access log shows the query with every token= value redacted', T, async (t) => {
	const s = await startServer(t, { args: ['--access-log'] });
	const from = s.mark();
	assert.equal((await s.request(get('/healthz?since=abc&token=s3cr3t-value&x=1&token=again', ['Connection: close']))).status, 200);
	const line = await s.waitForLog(/msg="?(access|request)\b/, 3000, { from });
	assert.doesNotMatch(line, /s3cr3t|again/);
	assert.match(line, /path="?\/healthz"?(\s|$)/);
	assert.match(line, /query="?since=abc&token=REDACTED&x=1&token=REDACTED"?(\s|$)/);
	// Only a parameter named exactly token is a token.
	const from2 = s.mark();
	assert.equal((await s.request(get('/healthz?mytoken=visible', ['Connection: close']))).status, 200);
	const line2 = await s.waitForLog(/msg="?(access|request)\b/, 3000, { from: from2 });
	assert.match(line2, /query="?mytoken=visible"?/);
});

test('access log quotes hostile bytes: a path cannot forge fields or lines', T, async (t) => {
	const s = await startServer(t, { args: ['--access-log'] });
	const from = s.mark();
	const r = await s.request(get('/x"%20level=error%0Amsg=forged', ['Connection: close']));
	assert.equal(r.status, 404);
	const line = await s.waitForLog(/msg="?(access|request)\b/, 3000, { from });
	assert.match(line, /level=info /);
	assert.doesNotMatch(line, /[^\\]" level=error/);
	assert.equal(s.logs.slice(from).filter((l) => /^msg=forged|^\S*msg=forged/.test(l)).length, 0);
});

test('a bad request after a good one on the same connection: 200, then the rejection, then EOF', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	await c.write(
		Buffer.concat([
			get('/healthz'),
			Buffer.from('POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde', 'latin1'),
			get('/healthz'),
		])
	);
	const a = await c.readResponse();
	assert.equal(a.status, 200);
	await expectRejection(c, 400);
});

test('100 concurrent connections are all served', T, async (t) => {
	const s = await startServer(t);
	const conns = await Promise.all(Array.from({ length: 100 }, () => s.connect()));
	await Promise.all(conns.map((c) => c.write(get('/healthz'))));
	const rs = await Promise.all(conns.map((c) => c.readResponse({ timeoutMs: 10000 })));
	assert.equal(rs.filter((r) => r.status === 200).length, 100);
});

test('the client half-closing after its request still gets the response', T, async (t) => {
	const s = await startServer(t);
	const c = await s.connect();
	await c.write(get('/healthz'));
	c.end(); // FIN after the request
	const r = await c.readResponse();
	assert.equal(r.status, 200);
	await c.waitClose(3000);
});
