// $sys.stats under the Redis engine: each node publishes its own snapshot
// through Redis (so it has ids from the one sequence, and history), on a
// Redis channel of its own, and each node's watchers see that node only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { get } from './lib/http.mjs';
import { publish, SseSub, until } from './lib/hub.mjs';
import { startRedis } from './lib/redis.mjs';

const T = { timeout: 90000 };
const STATS = '/sub/$sys.stats';

function node(t, redis, args = []) {
	return startServer(t, { args: ['--engine', 'redis', '--redis-url', redis.url, ...args] });
}

async function healthy(s, timeoutMs = 10000) {
	return until(async () => (await s.request(get('/healthz', ['Connection: close']))).status === 200, timeoutMs, `node ${s.port} healthy`);
}

test('$sys.stats on two Redis-engine nodes: each watcher gets its own node\'s snapshots, with ids of the one sequence and a resumable history', T, async (t) => {
	const redis = await startRedis(t);
	const [a, b] = await Promise.all([node(t, redis), node(t, redis)]);
	await Promise.all([healthy(a), healthy(b)]);
	// Three more SSE streams on A than on B.
	const extra = await Promise.all([0, 1, 2].map(() => SseSub.open(a, '/sub/news')));
	const onA = await SseSub.open(a, STATS);
	const onB = await SseSub.open(b, STATS);
	assert.equal(onA.status, 200);
	assert.equal(onB.status, 200);
	await Promise.all([onA.waitEvents(3, 8000), onB.waitEvents(3, 8000)]);
	const snapsA = onA.eventList().map((e) => JSON.parse(e.data));
	const snapsB = onB.eventList().map((e) => JSON.parse(e.data));
	assert.ok(snapsA.at(-1).connections.sse >= 4, `A: ${JSON.stringify(snapsA.at(-1).connections)}`);
	assert.equal(snapsB.at(-1).connections.sse, 1, `B: ${JSON.stringify(snapsB.at(-1).connections)}`);
	// One a second from each node, not both nodes' on each channel.
	const dt = snapsB.at(-1).time_ms - snapsB[0].time_ms;
	assert.ok(dt >= 1500 && dt <= 4000, `3 snapshots of B over ${dt} ms`);
	// Ids: one epoch, strictly increasing per stream, from Redis's sequence.
	const idsA = onA.eventList().map((e) => e.id);
	const idsB = onB.eventList().map((e) => e.id);
	const epoch = (await redis.cli('GET', 'crier:epoch')).trim();
	for (const id of [...idsA, ...idsB]) assert.match(id, new RegExp(`^${epoch}-\\d+$`));
	const seqs = (ids) => ids.map((id) => Number(id.split('-')[1]));
	for (const s of [seqs(idsA), seqs(idsB)]) assert.deepEqual(s, [...s].sort((x, y) => x - y));
	assert.equal(new Set([...idsA, ...idsB]).size, idsA.length + idsB.length, 'no id on both nodes');
	// Each node has its own bounded stream in Redis.
	const keys = (await redis.cli('--scan', '--pattern', 'crier:h:$sys.stats@*')).split('\n').filter(Boolean);
	assert.equal(keys.length, 2, `keys ${keys}`);
	for (const k of keys) assert.ok(Number(await redis.cli('XLEN', k)) <= 60);
	// A resume on A replays A's later snapshots exactly.
	const again = await SseSub.open(a, STATS, { headers: [`Last-Event-ID: ${idsA[0]}`] });
	await again.waitEvents(2, 6000);
	assert.deepEqual(
		again
			.eventList()
			.slice(0, 2)
			.map((e) => e.id),
		idsA.slice(1, 3)
	);
	// Publishing to it stays refused.
	assert.equal((await publish(a, '$sys.stats', 'fake')).status, 403);
	for (const s of extra) s.close();
});
