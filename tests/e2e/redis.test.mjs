// The Redis engine (--engine redis) with a real redis-server on a free
// loopback port and two or three crier nodes: one id sequence across
// nodes, delivery on every node in id order (SSE and WebSocket), a Lua
// script error, resume on another node with no loss and no duplicate,
// history bounds kept in Redis, Redis killed and replaced mid-run, and a
// FLUSHALL (new epoch, gap notice).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { fetchMetrics, sample0 } from './lib/metrics.mjs';
import { get } from './lib/http.mjs';
import { checkIncreasing, parseId, publish, publishOk, Publisher, SseSub, until, WsSub } from './lib/hub.mjs';
import { startRedis } from './lib/redis.mjs';

const T = { timeout: 90000 };

function node(t, redis, args = []) {
	return startServer(t, { args: ['--engine', 'redis', '--redis-url', redis.url, ...args] });
}

/** Waits until /healthz answers 200 (Redis connections up). */
async function healthy(s, timeoutMs = 10000) {
	return until(async () => (await s.request(get('/healthz', ['Connection: close']))).status === 200, timeoutMs, `node ${s.port} healthy`);
}

/** SSE events of a subscriber, gap notices included. */
function events(sub) {
	return sub.eventList().map((e) => ({ id: e.id, event: e.event, data: e.data }));
}

/** sub.waitEvents, and on a timeout the node's Redis counters and log tail. */
async function waitEv(sub, n, s, timeoutMs = 10000) {
	try {
		await sub.waitEvents(n, timeoutMs);
	} catch (e) {
		const m = await s.request(get('/metrics', ['Connection: close'])).catch(() => ({ text: '' }));
		const lines = m.text.split('\n').filter((l) => /^crier_(redis|hub_(published|deliveries|gaps))/.test(l));
		throw new Error(`${e.message}\n${lines.join('\n')}\n${s.tail(15)}`);
	}
}

function gapOf(ev) {
	assert.equal(ev.event, 'crier.gap', `expected a crier.gap event, got ${JSON.stringify(ev)}`);
	return JSON.parse(ev.data);
}

/** Text messages of a raw WebSocket subscriber. */
function wsCollector() {
	const got = [];
	return { got, onFrame: (f) => f.opcode === 1 && got.push(f.payload.toString('utf8')) };
}

test('publish on A: B and C (SSE, WebSocket) and A receive every message in id order, ids from one sequence', T, async (t) => {
	const redis = await startRedis(t);
	const [a, b, c] = await Promise.all([node(t, redis), node(t, redis), node(t, redis)]);
	await Promise.all([healthy(a), healthy(b), healthy(c)]);
	const subA = await SseSub.open(a, '/sub/news');
	const subB = await SseSub.open(b, '/sub/news');
	const ws = wsCollector();
	await WsSub.open(c, '/sub/news', { onFrame: ws.onFrame });
	// Publishes from two nodes, interleaved: one sequence for both.
	const pa = await Publisher.open(a);
	const pb = await Publisher.open(b);
	const ids = [];
	for (let i = 0; i < 60; i++) {
		const r = await (i % 3 === 2 ? pb : pa).publish('news', `m${i}`);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.channel, 'news');
		ids.push(r.json.id);
	}
	assert.equal(checkIncreasing(ids, 'publish answers across nodes'), '');
	assert.equal(new Set(ids.map((id) => parseId(id).epoch)).size, 1, 'one epoch');
	for (const sub of [subA, subB]) await sub.waitEvents(60, 10000);
	await until(() => ws.got.length >= 60, 10000, `60 WebSocket messages on C (have ${ws.got.length})`);
	const want = ids.map((id, i) => ({ id, data: `m${i}` }));
	for (const sub of [subA, subB]) {
		assert.deepEqual(
			events(sub).map((e) => ({ id: e.id, data: e.data })),
			want,
			`node ${sub === subA ? 'A' : 'B'} order`
		);
	}
	assert.deepEqual(ws.got, want.map((w) => w.data), 'node C (WebSocket) order');
	// The engine counts what it did.
	const m = (await fetchMetrics(a)).parsed;
	assert.equal(sample0(m, 'crier_redis_up'), 1);
	assert.ok(sample0(m, 'crier_redis_published_total') >= 40);
	assert.ok(sample0(m, 'crier_redis_messages_total') >= 60);
});

test('pipelined publishes on one keep-alive connection are answered in order, each once', T, async (t) => {
	const redis = await startRedis(t);
	const a = await node(t, redis);
	await healthy(a);
	const p = await Publisher.open(a);
	// Written back to back: each request waits, parked, behind the one before.
	const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => p.publish('piped', `x${i}`)));
	for (const r of answers) assert.equal(r.status, 200, r.text);
	const ids = answers.map((r) => r.json.id);
	assert.equal(checkIncreasing(ids), '');
	assert.equal(await redis.cli('XLEN', 'crier:h:piped'), '20');
});

test('a Lua error (a non-stream at the history key) answers 500 with the reason; the node keeps serving', T, async (t) => {
	const redis = await startRedis(t);
	const a = await node(t, redis);
	await healthy(a);
	await redis.cli('SET', 'crier:h:broken', 'not a stream');
	const r = await publish(a, 'broken', 'x');
	assert.equal(r.status, 500, r.text);
	assert.match(r.text, /publish script failed: WRONGTYPE/);
	await a.waitForLog(/level=error msg="publish script failed in redis" channel=broken/);
	const id = await publishOk(a, 'fine', 'y');
	assert.match(id, /^[0-9a-f]{8}-\d+$/);
	const m = (await fetchMetrics(a)).parsed;
	assert.equal(sample0(m, 'crier_redis_publish_errors_total', { reason: 'script' }), 1);
	assert.ok(a.running);
});

test('a malformed message on a node pub/sub channel is dropped, logged and counted; the stream goes on', T, async (t) => {
	const redis = await startRedis(t);
	const a = await node(t, redis);
	await healthy(a);
	const sub = await SseSub.open(a, '/sub/junk');
	const first = await publishOk(a, 'junk', 'one');
	await waitEv(sub, 1, a);
	await redis.cli('PUBLISH', 'crier:c:junk', 'not a crier message');
	await redis.cli('PUBLISH', 'crier:c:junk', 'zzzzzzzz-1\nt1\n\nbad epoch');
	const second = await publishOk(a, 'junk', 'two');
	await waitEv(sub, 2, a);
	assert.deepEqual(
		events(sub).map((e) => [e.id, e.data]),
		[
			[first, 'one'],
			[second, 'two'],
		]
	);
	await a.waitForLog(/msg="dropped a malformed message from redis"/);
	const m = (await fetchMetrics(a)).parsed;
	assert.equal(sample0(m, 'crier_redis_bad_messages_total'), 2);
});

test('/ws publish goes through Redis: acknowledged with the id, delivered on the other node; unavailable while Redis is away', T, async (t) => {
	const redis = await startRedis(t);
	const [a, b] = await Promise.all([node(t, redis), node(t, redis)]);
	await Promise.all([healthy(a), healthy(b)]);
	const sub = await SseSub.open(b, '/sub/wsp');
	const { V1 } = await import('./lib/crierv1.mjs');
	const c = await V1.open(a);
	const ids = [];
	for (let i = 0; i < 10; i++) {
		const f = await c.request({ op: 'publish', ref: `p${i}`, channel: 'wsp', event: 'e', data: `w${i}` });
		assert.equal(f.op, 'ack', JSON.stringify(f));
		assert.equal(f.ref, `p${i}`);
		ids.push(f.id);
	}
	assert.equal(checkIncreasing(ids), '');
	await sub.waitEvents(10, 10000);
	assert.deepEqual(
		events(sub).map((e) => [e.id, e.event, e.data]),
		ids.map((id, i) => [id, 'e', `w${i}`])
	);
	await redis.kill();
	await a.waitForLog(/msg="redis connection lost"/, 5000);
	const f = await c.request({ op: 'publish', ref: 'down', channel: 'wsp', data: 'x' });
	assert.equal(f.op, 'error');
	assert.equal(f.code, 'unavailable');
	assert.match(f.message, /Redis/);
});

test('resume on another node: subscribe on A, drop, resume on B from the last id, no loss and no duplicate while publishing continues', T, async (t) => {
	const redis = await startRedis(t);
	const [a, b, c] = await Promise.all([node(t, redis), node(t, redis), node(t, redis)]);
	await Promise.all([healthy(a), healthy(b), healthy(c)]);
	const chans = ['r1', 'r2'];
	const total = 300;
	const published = [];
	const pubs = [await Publisher.open(c), await Publisher.open(a)];
	let k = 0;
	const run = (async () => {
		const deadline = Date.now() + 30000;
		while (k < total && Date.now() < deadline) {
			const i = k++;
			const r = await pubs[i % 2].publish(chans[i % 2], String(i));
			assert.equal(r.status, 200, r.text);
			published.push({ id: r.json.id, data: String(i) });
			await sleep(2);
		}
	})();
	const first = await SseSub.open(a, '/sub/r1,r2');
	await first.waitFor(() => first.events >= 40, 15000, '40 events on A');
	first.close();
	const got = events(first);
	const last = got[got.length - 1].id;
	// Other publishes land while nobody listens; then B resumes.
	await sleep(100);
	const second = await SseSub.open(b, '/sub/r1,r2', { headers: [`Last-Event-ID: ${last}`] });
	await run;
	assert.equal(k, total, 'every publish answered within 30 s');
	published.sort((x, y) => (parseId(x.id).seq < parseId(y.id).seq ? -1 : 1));
	const firstIdx = published.findIndex((p) => p.id === got[0].id);
	assert.ok(firstIdx >= 0, 'the first event is one we published');
	const want = published.slice(firstIdx);
	await second.waitFor(() => got.length + second.events >= want.length, 15000, `${want.length} events in all`);
	const all = [...got, ...events(second)];
	assert.ok(!all.some((e) => e.event === 'crier.gap'), `no gap notice: ${JSON.stringify(all.filter((e) => e.event))}`);
	assert.deepEqual(
		all.map((e) => e.id),
		want.map((p) => p.id),
		'A then B: every message once, in id order'
	);
	assert.deepEqual(
		all.map((e) => e.data),
		want.map((p) => p.data)
	);
});

test('history bounds live in Redis: the stream keeps --history-size entries; a resume from before them gets a gap notice', T, async (t) => {
	const redis = await startRedis(t);
	const [a, b] = await Promise.all([node(t, redis, ['--history-size', '5']), node(t, redis, ['--history-size', '5'])]);
	await Promise.all([healthy(a), healthy(b)]);
	const ids = [];
	for (let i = 0; i < 20; i++) ids.push(await publishOk(a, 'bounded', `b${i}`));
	assert.equal(await redis.cli('XLEN', 'crier:h:bounded'), '5');
	// B never had the channel: it loads it from the stream on this subscribe.
	const sub = await SseSub.open(b, '/sub/bounded', { headers: [`Last-Event-ID: ${ids[2]}`] });
	await sub.waitEvents(6, 10000);
	const evs = events(sub);
	const g = gapOf(evs[0]);
	assert.equal(g.reason, 'expired');
	assert.equal(g.from, ids[2]);
	assert.equal(g.to, ids[15]);
	assert.deepEqual(
		evs.slice(1).map((e) => e.id),
		ids.slice(15)
	);
	// Exact replay from inside what is held: no notice.
	const exact = await SseSub.open(b, '/sub/bounded', { headers: [`Last-Event-ID: ${ids[16]}`] });
	await exact.waitEvents(3, 10000);
	assert.deepEqual(
		events(exact).map((e) => e.id),
		ids.slice(17)
	);
});

test('age bound: entries older than --history-ttl leave the stream', T, async (t) => {
	const redis = await startRedis(t);
	const a = await node(t, redis, ['--history-ttl', '1s']);
	await healthy(a);
	for (let i = 0; i < 5; i++) await publishOk(a, 'aging', `x${i}`);
	assert.equal(await redis.cli('XLEN', 'crier:h:aging'), '5');
	const pttl = Number(await redis.cli('PTTL', 'crier:h:aging'));
	assert.ok(pttl > 0 && pttl <= 1000, `an idle stream expires whole: PTTL ${pttl}`);
	await sleep(1200);
	await publishOk(a, 'aging', 'fresh');
	assert.equal(await redis.cli('XLEN', 'crier:h:aging'), '1');
});

test('Redis killed and replaced mid-run: publishes fail fast with 503, /healthz degraded, recovery by itself, subscribers told of the gap', T, async (t) => {
	const redis = await startRedis(t);
	const [a, b] = await Promise.all([node(t, redis, ['--redis-timeout', '1s']), node(t, redis, ['--redis-timeout', '1s'])]);
	await Promise.all([healthy(a), healthy(b)]);
	const sub = await SseSub.open(b, '/sub/outage');
	const before = [];
	for (let i = 0; i < 5; i++) before.push(await publishOk(a, 'outage', `before${i}`));
	await waitEv(sub, 5, b);
	await redis.kill();
	await a.waitForLog(/msg="redis connection lost"/, 5000);
	const t0 = Date.now();
	const r = await publish(a, 'outage', 'during');
	assert.equal(r.status, 503, r.text);
	assert.ok(Date.now() - t0 < 1500, `503 within the timeout, took ${Date.now() - t0} ms`);
	const hz = await a.request(get('/healthz', ['Connection: close']));
	assert.equal(hz.status, 503);
	assert.equal(hz.text, 'degraded: redis\n');
	// Connected clients stay connected.
	await sleep(300);
	assert.ok(!sub.closed, 'the subscriber on B stays connected');
	await redis.restart();
	await Promise.all([healthy(a), healthy(b)]);
	const after = await publishOk(a, 'outage', 'after');
	assert.notEqual(parseId(after).epoch, parseId(before[0]).epoch, 'the replaced Redis lost the history: a new epoch');
	await sub.waitFor(() => events(sub).some((e) => e.data === 'after'), 10000, 'the first message after recovery');
	const evs = events(sub);
	assert.deepEqual(
		evs.slice(0, 5).map((e) => e.id),
		before
	);
	const rest = evs.slice(5);
	const g = gapOf(rest[0]);
	assert.equal(g.reason, 'epoch');
	assert.equal(g.from, before[4]);
	assert.equal(rest[rest.length - 1].id, after);
	const m = (await fetchMetrics(a)).parsed;
	assert.ok(sample0(m, 'crier_redis_reconnects_total') >= 1);
	assert.ok(sample0(m, 'crier_redis_publish_errors_total', { reason: 'down' }) >= 1);
	assert.ok(a.running && b.running);
});

test('FLUSHALL: the next publish starts a new epoch and live subscribers get a gap notice (reason epoch) first', T, async (t) => {
	const redis = await startRedis(t);
	const [a, b] = await Promise.all([node(t, redis), node(t, redis)]);
	await Promise.all([healthy(a), healthy(b)]);
	const sub = await SseSub.open(b, '/sub/flush');
	const old = await publishOk(a, 'flush', 'old');
	await waitEv(sub, 1, b);
	await redis.cli('FLUSHALL');
	const fresh = await publishOk(a, 'flush', 'fresh');
	assert.notEqual(parseId(fresh).epoch, parseId(old).epoch);
	await sub.waitEvents(3, 10000);
	const evs = events(sub);
	assert.equal(evs[0].id, old);
	const g = gapOf(evs[1]);
	assert.equal(g.reason, 'epoch');
	assert.equal(g.from, old);
	assert.equal(g.to, fresh);
	assert.equal(evs[2].id, fresh);
	// A resume with an id of the old life is told too.
	const late = await SseSub.open(a, '/sub/flush', { headers: [`Last-Event-ID: ${old}`] });
	await late.waitEvents(2, 10000);
	const lg = gapOf(events(late)[0]);
	assert.equal(lg.reason, 'epoch');
	assert.equal(events(late)[1].id, fresh);
});

test('Redis that stops answering (SIGSTOP): publishes answer 503 after --redis-timeout, not later; fine again after SIGCONT', T, async (t) => {
	const redis = await startRedis(t);
	const a = await node(t, redis, ['--redis-timeout', '300ms']);
	await healthy(a);
	await publishOk(a, 'stall', 'before');
	redis.proc.kill('SIGSTOP');
	try {
		const t0 = Date.now();
		const r = await publish(a, 'stall', 'during');
		const took = Date.now() - t0;
		assert.equal(r.status, 503, r.text);
		assert.match(r.text, /--redis-timeout/);
		assert.ok(took >= 250 && took < 1500, `answered after ${took} ms`);
	} finally {
		redis.proc.kill('SIGCONT');
	}
	await until(async () => (await publish(a, 'stall', 'after')).status === 200, 10000, 'publishing again');
	const m = (await fetchMetrics(a)).parsed;
	assert.ok(sample0(m, 'crier_redis_publish_errors_total', { reason: 'timeout' }) >= 1);
});

test('a node lets go of a channel nobody there wants (UNSUBSCRIBE, replica dropped) and takes it back exactly on the next subscriber', T, async (t) => {
	const redis = await startRedis(t);
	const [a, b] = await Promise.all([node(t, redis), node(t, redis)]);
	await Promise.all([healthy(a), healthy(b)]);
	const sub = await SseSub.open(b, '/sub/churn');
	const ids = [];
	for (let i = 0; i < 5; i++) ids.push(await publishOk(a, 'churn', `c${i}`));
	await waitEv(sub, 5, b);
	assert.equal(await redis.cli('PUBSUB', 'NUMSUB', 'crier:c:churn'), 'crier:c:churn\n1');
	sub.close();
	// The reaper (about once a second) frees the channel and B unsubscribes.
	await until(async () => (await redis.cli('PUBSUB', 'NUMSUB', 'crier:c:churn')) === 'crier:c:churn\n0', 10000, 'B unsubscribed');
	const m = (await fetchMetrics(b)).parsed;
	assert.ok(sample0(m, 'crier_hub_channels_reaped_total') >= 1);
	for (let i = 5; i < 8; i++) ids.push(await publishOk(a, 'churn', `c${i}`));
	// Back on B from an id of the first subscription: exact replay from Redis.
	const again = await SseSub.open(b, '/sub/churn', { headers: [`Last-Event-ID: ${ids[4]}`] });
	await waitEv(again, 3, b);
	assert.deepEqual(
		events(again).map((e) => e.id),
		ids.slice(5)
	);
	// Quick churn: subscribe and drop repeatedly, then a subscriber still gets live messages.
	for (let i = 0; i < 5; i++) (await SseSub.open(b, '/sub/churn2')).close();
	await sleep(1500);
	const last = await SseSub.open(b, '/sub/churn2');
	await sleep(200);
	const id = await publishOk(a, 'churn2', 'live');
	await waitEv(last, 1, b);
	assert.equal(events(last)[0].id, id);
});

test('subscription connection killed mid-stream (CLIENT KILL TYPE pubsub): the node refills every channel from its stream in one order, no loss, no duplicate', T, async (t) => {
	const redis = await startRedis(t);
	const [a, b] = await Promise.all([node(t, redis), node(t, redis)]);
	await Promise.all([healthy(a), healthy(b)]);
	const sub = await SseSub.open(b, '/sub/k1,k2,k3');
	await sleep(200);
	const pubs = [await Publisher.open(a), await Publisher.open(a)];
	const ids = [];
	let kills = 0;
	for (let i = 0; i < 300; i++) {
		const r = await pubs[i % 2].publish(`k${(i % 3) + 1}`, `v${i}`);
		assert.equal(r.status, 200, r.text);
		ids.push(r.json.id);
		if (i % 60 === 30) {
			await redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
			kills++;
		}
	}
	await waitEv(sub, 300, b, 15000);
	const evs = events(sub);
	assert.ok(!evs.some((e) => e.event === 'crier.gap'), 'nothing was trimmed: no gap notice');
	assert.deepEqual(
		evs.map((e) => e.id),
		ids,
		`every message once, in id order, across ${kills} lost subscriptions`
	);
	const m = (await fetchMetrics(b)).parsed;
	assert.ok(sample0(m, 'crier_redis_reconnects_total') >= 1);
});

test('SCRIPT FLUSH: the next publish gets NOSCRIPT, loads the script again with EVAL and succeeds', T, async (t) => {
	const redis = await startRedis(t);
	const a = await node(t, redis);
	await healthy(a);
	const before = await publishOk(a, 'flushed', 'one');
	await redis.cli('SCRIPT', 'FLUSH');
	const after = await publishOk(a, 'flushed', 'two');
	assert.equal(parseId(after).seq, parseId(before).seq + 1n);
	// And the script is cached again: EVALSHA works for the next one.
	await publishOk(a, 'flushed', 'three');
	assert.equal(await redis.cli('XLEN', 'crier:h:flushed'), '3');
});
