// The Redis engine's connection by host name: names are resolved off the
// event loop (libuv's thread pool), so a name that does not resolve, or a
// slow resolver, never stalls the node's clients; and a name resolves to
// the address Redis listens on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { get } from './lib/http.mjs';
import { publishOk, SseSub, until } from './lib/hub.mjs';
import { startRedis } from './lib/redis.mjs';

const T = { timeout: 60000 };

test('--redis-url with a host name (localhost): resolved, connected, publishes and delivers', T, async (t) => {
	const redis = await startRedis(t);
	const a = await startServer(t, { args: ['--engine', 'redis', '--redis-url', `redis://localhost:${redis.port}/0`] });
	await until(async () => (await a.request(get('/healthz', ['Connection: close']))).status === 200, 10000, 'healthy');
	const sub = await SseSub.open(a, '/sub/named');
	const id = await publishOk(a, 'named', 'hello');
	await sub.waitEvents(1, 5000);
	assert.equal(sub.eventList()[0].id, id);
});

test('a host name that does not resolve: degraded with the reason logged, retried, and the node answers at once meanwhile; SIGTERM still exits promptly', T, async (t) => {
	// RES_OPTIONS bounds a slow resolver (glibc): the name must fail within the wait below.
	const a = await startServer(t, {
		args: ['--engine', 'redis', '--redis-url', 'redis://no-such-host.invalid:6379/0', '--redis-timeout', '500ms'],
		env: { RES_OPTIONS: 'timeout:1 attempts:1' },
	});
	await a.waitForLog(/redis unreachable.*resolving no-such-host\.invalid/, 10000);
	const deadline = Date.now() + 2000;
	let n = 0;
	while (Date.now() < deadline) {
		const t0 = Date.now();
		const r = await a.request(get('/healthz', ['Connection: close']));
		assert.equal(r.status, 503, r.text);
		assert.ok(Date.now() - t0 < 500, `/healthz took ${Date.now() - t0} ms while Redis is unresolvable`);
		n++;
	}
	assert.ok(n > 5);
	const t0 = Date.now();
	const e = await a.stop('SIGTERM', 10000);
	assert.equal(e.code, 0);
	assert.ok(Date.now() - t0 < 5000, `exit took ${Date.now() - t0} ms`);
});
