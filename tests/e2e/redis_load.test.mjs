// The Redis engine while a channel loads its history: the live messages
// that arrive meanwhile are held, and that holding is bounded. To keep a
// load from finishing, node B connects as an ACL user whose EVALSHA and
// EVAL are revoked: its SUBSCRIBE works (live messages arrive) but its
// load.lua is refused, retried every 250 ms, until the test grants them
// back. Meanwhile node A publishes far more than B may hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { fetchMetrics, sample0 } from './lib/metrics.mjs';

const metrics = async (s) => (await fetchMetrics(s)).parsed;
import { get } from './lib/http.mjs';
import { publishOk, Publisher, SseSub, until } from './lib/hub.mjs';
import { startRedis } from './lib/redis.mjs';

const T = { timeout: 90000 };

async function healthy(s, timeoutMs = 10000) {
	return until(async () => (await s.request(get('/healthz', ['Connection: close']))).status === 200, timeoutMs, `node ${s.port} healthy`);
}

/** n publishes of "p<i>" on one pipelined connection; their ids in order. */
async function flood(server, ch, n) {
	const pub = await Publisher.open(server);
	const ids = [];
	for (let i = 0; i < n; i += 50) {
		const batch = [];
		for (let j = i; j < Math.min(n, i + 50); j++) batch.push(pub.publish(ch, `p${j}`));
		for (const r of await Promise.all(batch)) {
			assert.equal(r.status, 200, r.text);
			ids.push(r.json.id);
		}
	}
	pub.close();
	return ids;
}

/** Redis, node A (the default user) and node B (ACL user nodeb, whose
 * scripts the tests revoke), both with --history-size 100. */
async function twoNodes(t) {
	const redis = await startRedis(t);
	await redis.cli('ACL', 'SETUSER', 'nodeb', 'on', '>secret', '~*', '&*', '+@all');
	const a = await startServer(t, { args: ['--engine', 'redis', '--redis-url', redis.url, '--history-size', '100'] });
	const b = await startServer(t, {
		args: ['--engine', 'redis', '--redis-url', `redis://nodeb:secret@127.0.0.1:${redis.port}/0`, '--history-size', '100'],
	});
	await Promise.all([healthy(a), healthy(b)]);
	return { redis, a, b };
}

test('a channel that loads while live messages pour in holds at most --history-size of them (256 at least), then reads on from the stream: gap notice, exact tail, live again', T, async (t) => {
	const { redis, a, b } = await twoNodes(t);
	const first = await publishOk(a, 'flood', 'before');

	// B may subscribe but not run its scripts: the channel stays loading.
	await redis.cli('ACL', 'SETUSER', 'nodeb', '-evalsha', '-eval');
	const sub = await SseSub.open(b, '/sub/flood', { headers: [`Last-Event-ID: ${first}`] });
	await until(async () => (await redis.cli('PUBSUB', 'NUMSUB', 'crier:c:flood')).endsWith('1'), 10000, 'B subscribed in Redis');
	await b.waitForLog(/loading a channel's history from redis failed/, 10000);

	const ids = await flood(a, 'flood', 600);
	await until(async () => sample0(await metrics(b), 'crier_redis_messages_total') >= 600, 10000, 'B received the flood');
	const m = await metrics(b);
	assert.ok(sample0(m, 'crier_redis_pending_messages') <= 256, `held ${sample0(m, 'crier_redis_pending_messages')} > 256`);
	assert.ok(sample0(m, 'crier_redis_pending_overflows_total') >= 1, 'the overflow is counted');
	assert.ok(sample0(m, 'crier_redis_pending_bytes') <= 256 * 4, 'bytes held are bounded with them');
	await b.waitForLog(/a loading channel held too many live messages/, 5000);
	assert.equal(sub.eventList().length, 0, 'nothing is delivered before the channel has loaded');

	// Loads work again: the stream says what it lost, and holds the rest.
	await redis.cli('ACL', 'SETUSER', 'nodeb', '+evalsha', '+eval');
	await sub.waitEvents(101, 15000);
	const evs = sub.eventList();
	assert.equal(evs[0].event, 'crier.gap', JSON.stringify(evs[0]));
	const gap = JSON.parse(evs[0].data);
	assert.equal(gap.from, first);
	assert.equal(gap.to, ids[500]);
	assert.deepEqual(
		evs.slice(1).map((e) => e.id),
		ids.slice(500)
	);
	assert.deepEqual(
		evs.slice(1).map((e) => e.data),
		ids.slice(500).map((_, i) => `p${500 + i}`)
	);

	// Ready and live: nothing held any more, the next messages arrive once each.
	const more = [];
	for (let i = 0; i < 5; i++) more.push(await publishOk(a, 'flood', `after${i}`));
	await sub.waitEvents(106, 10000);
	assert.deepEqual(
		sub
			.eventList()
			.slice(101)
			.map((e) => e.id),
		more
	);
	const after = await metrics(b);
	assert.equal(sample0(after, 'crier_redis_pending_messages'), 0);
	assert.equal(sample0(after, 'crier_redis_pending_bytes'), 0);
});

test('a refill after a lost subscription connection is bounded the same way: the flood while it loads is read from the stream, with a gap notice for what the stream lost', T, async (t) => {
	const { redis, a, b } = await twoNodes(t);
	const sub = await SseSub.open(b, '/sub/refill');
	await until(async () => (await redis.cli('PUBSUB', 'NUMSUB', 'crier:c:refill')).endsWith('1'), 10000, 'B subscribed in Redis');
	const live = [];
	for (let i = 0; i < 3; i++) live.push(await publishOk(a, 'refill', `live${i}`));
	await sub.waitEvents(3, 10000);

	// B's subscription connection drops; its reconnect subscribes again but
	// cannot load, while A floods the channel.
	await redis.cli('ACL', 'SETUSER', 'nodeb', '-evalsha', '-eval');
	const killedBefore = sample0(await metrics(b), 'crier_redis_reconnects_total');
	await redis.cli('CLIENT', 'KILL', 'USER', 'nodeb', 'TYPE', 'pubsub');
	await until(async () => sample0(await metrics(b), 'crier_redis_reconnects_total') > killedBefore, 10000, 'B reconnected');
	await until(async () => (await redis.cli('PUBSUB', 'NUMSUB', 'crier:c:refill')).endsWith('1'), 10000, 'B subscribed again');
	const ids = await flood(a, 'refill', 600);
	await until(async () => sample0(await metrics(b), 'crier_redis_pending_overflows_total') >= 1, 10000, 'the overflow counted');
	assert.ok(sample0(await metrics(b), 'crier_redis_pending_messages') <= 256);

	await redis.cli('ACL', 'SETUSER', 'nodeb', '+evalsha', '+eval');
	await sub.waitEvents(3 + 101, 15000);
	const evs = sub.eventList();
	assert.deepEqual(
		evs.slice(0, 3).map((e) => e.id),
		live
	);
	assert.equal(evs[3].event, 'crier.gap', JSON.stringify(evs[3]));
	const gap = JSON.parse(evs[3].data);
	assert.equal(gap.from, live[2]);
	// The notice comes before the refill's messages: a subscriber that hears
	// of the loss before they reach this node's history is told to: null
	// (not known yet), then gets them in order.
	assert.ok(gap.to === ids[500] || gap.to === null, `gap.to ${gap.to}`);
	assert.deepEqual(
		evs.slice(4).map((e) => e.id),
		ids.slice(500)
	);
	const next = await publishOk(a, 'refill', 'next');
	await sub.waitEvents(3 + 101 + 1, 10000);
	assert.equal(sub.eventList().at(-1).id, next);
	assert.equal(sample0(await metrics(b), 'crier_redis_pending_messages'), 0);
});
