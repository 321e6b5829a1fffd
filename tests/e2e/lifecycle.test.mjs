// Signals: graceful SIGTERM/SIGINT with open connections, the shutdown
// bound, a second signal, and SIGHUP config reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { Conn, get, rawRequest } from './lib/http.mjs';
import { assertWithin, expectRejection } from './lib/expect.mjs';

const T = { timeout: 30000 };

/** Resolves once new connections to port are refused (bounded). */
async function waitRefused(port, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	let last;
	while (Date.now() < deadline) {
		try {
			const c = await Conn.connect(port, { timeoutMs: 500 });
			// Accepted by the kernel: check whether it is served at all.
			await c.write(get('/healthz', ['Connection: close']));
			const got = await c.waitData(200);
			last = got ? c.buf.toString('latin1').split('\r\n')[0] : 'accepted, no answer';
			c.destroy();
		} catch (e) {
			if (e.code === 'ECONNREFUSED') return;
			last = e.message;
		}
		await sleep(50);
	}
	throw new Error(`new connections still accepted ${timeoutMs} ms after SIGTERM (last: ${last})`);
}

test('SIGTERM: idle connection closed, in-flight request completes, new connections refused, exit 0', T, async (t) => {
	const s = await startServer(t, { args: ['--shutdown-timeout', '2s', '--body-timeout', '10s', '--keepalive-timeout', '60s'] });
	const idle = await s.connect();
	await idle.write(get('/healthz'));
	assert.equal((await idle.readResponse()).status, 200);
	const busy = await s.connect();
	await busy.write(rawRequest('POST', '/healthz', { headers: ['Content-Length: 10'], body: '12345' }));
	await sleep(200); // let the server read the head and half the body

	const sigAt = Date.now();
	s.signal('SIGTERM');
	// The idle keep-alive connection is closed by the server, with no response.
	const extra = await idle.waitClose(1500);
	assert.equal(extra.length, 0, `idle connection got bytes: ${JSON.stringify(extra.toString('latin1'))}`);
	assert.ok(s.running, 'still running while a request is in flight');
	// The request in flight finishes normally, with Connection: close.
	await busy.write('67890');
	const r = await busy.readResponse({ timeoutMs: 2000 });
	if (r.status === 405) {
		assert.match(r.headers['connection'] ?? '', /close/i, 'the last response during shutdown says Connection: close');
	} else {
		assert.fail(`in-flight POST /healthz during shutdown answered ${r.status} ${r.reason}`);
	}
	await busy.waitClose(2000);
	await waitRefused(s.port, 1500);
	const e = await s.waitExit(Math.max(500, 5000 - (Date.now() - sigAt)));
	assert.equal(e.code, 0, `exit code (signal ${e.signal})\n${s.tail()}`);
	assertWithin(e.at - sigAt, 0, 5000, 'exit after SIGTERM');
});

test('SIGTERM on an idle server exits 0 promptly', T, async (t) => {
	const s = await startServer(t, { args: ['--shutdown-timeout', '5s'] });
	const sigAt = Date.now();
	const r = await s.stop('SIGTERM', 5000);
	assert.deepEqual(r, { code: 0, signal: null });
	assert.ok(Date.now() - sigAt < 2000, `idle server took ${Date.now() - sigAt} ms to exit`);
});

test('SIGINT is graceful too: idle connections closed, exit 0', T, async (t) => {
	const s = await startServer(t, { args: ['--shutdown-timeout', '5s'] });
	const c = await s.connect();
	await c.write(get('/healthz'));
	await c.readResponse();
	const sigAt = Date.now();
	s.signal('SIGINT');
	await c.waitClose(2000);
	const e = await s.waitExit(5000);
	assert.equal(e.code, 0);
	assert.ok(e.at - sigAt < 2500);
});

test('SIGTERM: a request that never completes does not hold the process past --shutdown-timeout', T, async (t) => {
	const s = await startServer(t, { args: ['--shutdown-timeout', '1s', '--body-timeout', '30s', '--header-timeout', '30s'] });
	const stuck = await s.connect();
	await stuck.write(rawRequest('POST', '/healthz', { headers: ['Content-Length: 100'], body: 'abc' }));
	const partial = await s.connect();
	await partial.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
	await sleep(200);
	const sigAt = Date.now();
	s.signal('SIGTERM');
	const e = await s.waitExit(5000);
	const took = e.at - sigAt;
	assert.equal(e.code, 0, `exit code at the shutdown timeout (signal ${e.signal})\n${s.tail()}`);
	// It waited for the in-flight request (graceful), but not past the bound.
	assertWithin(took, 700, 3000, 'exit at the 1 s shutdown timeout');
	await stuck.waitClose(1000);
	await partial.waitClose(1000);
});

for (const second of ['SIGTERM', 'SIGINT']) {
	test(`a second signal (SIGTERM then ${second}) exits at once`, T, async (t) => {
		const s = await startServer(t, { args: ['--shutdown-timeout', '20s', '--body-timeout', '60s'] });
		const stuck = await s.connect();
		await stuck.write(rawRequest('POST', '/healthz', { headers: ['Content-Length: 100'], body: 'abc' }));
		await sleep(200);
		s.signal('SIGTERM');
		await sleep(500);
		assert.ok(s.running, 'first SIGTERM waits for the in-flight request');
		const at = Date.now();
		s.signal(second);
		const e = await s.waitExit(3000);
		t.diagnostic(`second ${second}: exit code ${e.code}, signal ${e.signal}, after ${e.at - at} ms`);
		assert.ok(e.at - at < 1500, `exit ${e.at - at} ms after the second signal`);
		assert.ok(e.code !== null || e.signal !== null);
	});
}

const pad6k = rawRequest('GET', '/healthz', { headers: [['X-Pad', 'a'.repeat(6 * 1024)]] });

test('SIGHUP reloads max-header-bytes from the config file', T, async (t) => {
	const s = await startServer(t, { config: 'max-header-bytes = 8k\n' });
	const keep = await s.connect(); // a connection open across the reload
	await keep.write(get('/healthz'));
	assert.equal((await keep.readResponse()).status, 200);
	assert.equal((await s.request(pad6k)).status, 200, '6 KiB header under 8k');
	s.writeConfig('max-header-bytes = 4k\n');
	const from = s.mark();
	s.signal('SIGHUP');
	await s.waitForLog(/msg="?config reloaded/, 5000, { from });
	const c = await s.connect();
	await c.write(pad6k);
	await expectRejection(c, 431);
	assert.ok(s.running, 'still running after SIGHUP');
	// The reload did not disturb the open connection.
	await keep.write(get('/healthz'));
	assert.equal((await keep.readResponse()).status, 200);
	// And back.
	s.writeConfig('max-header-bytes = 8k\n');
	const from2 = s.mark();
	s.signal('SIGHUP');
	await s.waitForLog(/msg="?config reloaded/, 5000, { from: from2 });
	assert.equal((await s.request(pad6k)).status, 200, 'after reloading 8k again');
});

test('SIGHUP with a broken config file keeps the old config and keeps running', T, async (t) => {
	const s = await startServer(t, { config: 'max-header-bytes = 8k\n' });
	s.writeConfig('max-header-bytes = not-a-size\n');
	const from = s.mark();
	s.signal('SIGHUP');
	const line = await s.waitForLog(/level=(error|warn)/, 5000, { from });
	assert.match(line, /max-header-bytes|reload|config/);
	await sleep(200);
	assert.ok(s.running);
	assert.equal((await s.request(pad6k)).status, 200, 'old limit (8k) still in force');
});

test('SIGHUP with a changed listen address: "restart needed", the port is kept', T, async (t) => {
	const s = await startServer(t, { listen: null, config: 'listen = 127.0.0.1:0\n' });
	const port = s.port;
	s.writeConfig('listen = 127.0.0.1:1\n');
	const from = s.mark();
	s.signal('SIGHUP');
	const line = await s.waitForLog(/restart needed/, 5000, { from });
	assert.match(line, /listen/);
	await sleep(100);
	assert.ok(s.running);
	assert.equal((await s.request(get('/healthz'))).status, 200, 'still served on the original port');
	assert.equal(s.port, port);
});

test('SIGHUP applies live options: access-log turned on by the config file', T, async (t) => {
	const s = await startServer(t, { config: 'access-log = false\n' });
	let from = s.mark();
	await s.request(get('/healthz', ['Connection: close']));
	await sleep(200);
	assert.equal(s.logs.slice(from).filter((l) => /msg="?access\b/.test(l)).length, 0);
	s.writeConfig('access-log = true\n');
	from = s.mark();
	s.signal('SIGHUP');
	await s.waitForLog(/msg="?config reloaded/, 5000, { from });
	await s.request(get('/healthz', ['Connection: close']));
	await s.waitForLog(/msg="?(access|request)\b.*path="?\/healthz/, 3000, { from });
});

test('SIGHUP applies --max-connections live', T, async (t) => {
	const s = await startServer(t, { config: 'max-connections = 100\n' });
	s.writeConfig('max-connections = 1\n');
	const from = s.mark();
	s.signal('SIGHUP');
	await s.waitForLog(/msg="?config reloaded/, 5000, { from });
	const a = await s.connect();
	await a.write(get('/healthz'));
	assert.equal((await a.readResponse()).status, 200);
	const b = await s.connect();
	if (!(await b.waitData(300)) && !b.closed) await b.write(get('/healthz'));
	assert.equal((await b.readResponse({ timeoutMs: 3000 })).status, 503);
});
