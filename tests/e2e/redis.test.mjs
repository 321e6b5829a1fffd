// The Redis engine (--engine redis) with a real redis-server on a free
// loopback port and two or three crier nodes: one id sequence across
// nodes, delivery on every node in id order (SSE and WebSocket), a Lua
// script error, resume on another node with no loss and no duplicate,
// history bounds kept in Redis (count, bytes across streams, age; the
// byte count checked against the streams), Redis killed and replaced
// mid-run, and a FLUSHALL (new epoch, gap notice, byte count reset).
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
	assert.equal(await countedBytes(redis), 5 * 3, 'the count bound keeps the byte count');
	assert.equal(await redis.cli('ZSCORE', 'crier:heads', 'bounded'), String(parseId(ids[15]).seq));
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

/** Payload bytes actually held in every crier:h:* stream, summed in Redis. */
const SUM_LUA = `local s = 0
for _, k in ipairs(redis.call('KEYS', 'crier:h:*')) do
	for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do
		for i = 1, #e[2], 2 do if e[2][i] == 'd' then s = s + #e[2][i + 1] end end
	end
end
return s`;

async function heldBytes(redis) {
	return Number(await redis.cli('EVAL', SUM_LUA, '0'));
}

/** crier:bytes, and its agreement with what the streams hold. */
async function countedBytes(redis) {
	const counted = Number((await redis.cli('GET', 'crier:bytes')) || '0');
	assert.equal(counted, await heldBytes(redis), 'crier:bytes is the sum of the payloads held');
	return counted;
}

test('byte bound in Redis: --history-max-bytes across all streams, the oldest node-wide leave first; resume before them is told, after them replays exactly', T, async (t) => {
	const redis = await startRedis(t);
	const args = ['--history-max-bytes', '4KiB'];
	const [a, b] = await Promise.all([node(t, redis, args), node(t, redis, args)]);
	await Promise.all([healthy(a), healthy(b)]);
	const kib = 'k'.repeat(1024);
	// seq order: y1 y1 y1 y2 y2 y2 y3 y3, from both nodes; 8 KiB for a 4 KiB bound.
	const plan = ['y1', 'y1', 'y1', 'y2', 'y2', 'y2', 'y3', 'y3'];
	const ids = [];
	for (const [i, ch] of plan.entries()) {
		ids.push(await publishOk(i % 2 ? b : a, ch, `${i}:${kib}`.slice(0, 1024)));
		assert.ok((await countedBytes(redis)) <= 4096, `after publish ${i}`);
	}
	// The four newest are held: y2's last two and y3's; y1 went first, whole.
	assert.equal(await countedBytes(redis), 4096);
	assert.equal(await redis.cli('XLEN', 'crier:h:y1'), '0');
	assert.equal(await redis.cli('XLEN', 'crier:h:y2'), '2');
	assert.equal(await redis.cli('XLEN', 'crier:h:y3'), '2');
	assert.equal(await redis.cli('ZRANGE', 'crier:heads', '0', '-1'), 'y2\ny3');
	// A third node never had these channels: it loads them on the resume.
	const c = await node(t, redis, args);
	await healthy(c);
	const before = await SseSub.open(c, '/sub/y1,y2', { headers: [`Last-Event-ID: ${ids[1]}`] });
	await waitEv(before, 3, c);
	const evs = events(before);
	const g = gapOf(evs[0]);
	assert.equal(g.reason, 'expired');
	assert.equal(g.from, ids[1]);
	assert.equal(g.to, ids[4]);
	assert.deepEqual(
		evs.slice(1).map((e) => e.id),
		ids.slice(4, 6)
	);
	// The emptied stream alone still tells a resume from before its end.
	const y1 = await SseSub.open(b, '/sub/y1', { headers: [`Last-Event-ID: ${ids[0]}`] });
	await waitEv(y1, 1, b);
	assert.equal(gapOf(events(y1)[0]).reason, 'expired');
	// From inside what is held: exact, no notice.
	const exact = await SseSub.open(b, '/sub/y2,y3', { headers: [`Last-Event-ID: ${ids[4]}`] });
	await waitEv(exact, 3, b);
	await sleep(200);
	assert.deepEqual(
		events(exact).map((e) => e.id),
		ids.slice(5)
	);
	// B holds y2 and y3 now: a resume there only syncs the sequence (a load
	// of no entries), which must not fail in the script.
	const synced = await SseSub.open(b, '/sub/y2,y3', { headers: [`Last-Event-ID: ${ids[5]}`] });
	await waitEv(synced, 2, b);
	assert.deepEqual(
		events(synced).map((e) => e.id),
		ids.slice(6)
	);
	assert.ok(!b.logs.some((l) => /history from redis failed/.test(l)), b.tail(10));
});

test('byte bound follows SIGHUP: a smaller history-max-bytes trims Redis on the next publish', T, async (t) => {
	const redis = await startRedis(t);
	const a = await startServer(t, { args: ['--engine', 'redis', '--redis-url', redis.url], config: 'history-max-bytes = 64KiB\n' });
	await healthy(a);
	for (let i = 0; i < 10; i++) await publishOk(a, `hup${i % 3}`, 'h'.repeat(1000));
	assert.equal(await countedBytes(redis), 10000);
	const from = a.mark();
	a.writeConfig('history-max-bytes = 2500\n');
	a.signal('SIGHUP');
	await a.waitForLog(/msg="?config reloaded/, 5000, { from });
	await publishOk(a, 'hup0', 'h'.repeat(1000));
	assert.equal(await countedBytes(redis), 2000);
});

test('SIGHUP lowering history-size: Redis trims at most 32 entries a publish, and a load meanwhile tells a resume what it leaves out', T, async (t) => {
	const redis = await startRedis(t);
	const a = await startServer(t, { args: ['--engine', 'redis', '--redis-url', redis.url], config: 'history-size = 100\n' });
	await healthy(a);
	const ids = [];
	for (let i = 0; i < 60; i++) ids.push(await publishOk(a, 'shrink', `s${i}`));
	const from = a.mark();
	a.writeConfig('history-size = 3\n');
	a.signal('SIGHUP');
	await a.waitForLog(/msg="?config reloaded/, 5000, { from });
	ids.push(await publishOk(a, 'shrink', 's60'));
	assert.equal(await redis.cli('XLEN', 'crier:h:shrink'), String(61 - 32));
	assert.equal(await countedBytes(redis), (61 - 32) * 3);
	// A node with the same bound loads the newest 3: a resume from before them is told.
	const b = await node(t, redis, ['--history-size', '3']);
	await healthy(b);
	const sub = await SseSub.open(b, '/sub/shrink', { headers: [`Last-Event-ID: ${ids[50]}`] });
	await waitEv(sub, 4, b);
	const evs = events(sub);
	assert.equal(gapOf(evs[0]).to, ids[58]);
	assert.deepEqual(
		evs.slice(1).map((e) => e.id),
		ids.slice(58)
	);
	// The next publish takes the rest down to the bound.
	await publishOk(a, 'shrink', 's61');
	assert.equal(await redis.cli('XLEN', 'crier:h:shrink'), '3');
	assert.equal(await countedBytes(redis), 9);
});

test('a stream written before the byte bound (no count, a PEXPIRE) is adopted on its next publish: counted, persistent', T, async (t) => {
	const redis = await startRedis(t);
	const a = await node(t, redis);
	await healthy(a);
	await publishOk(a, 'other', 'x'); // seq 1, and the epoch
	const seq = await redis.cli('INCR', 'crier:seq');
	await redis.cli('XADD', 'crier:h:legacy', `${seq}-0`, 'e', '', 'f', 't', 'd', 'old', 't', String(Date.now()));
	await redis.cli('PEXPIRE', 'crier:h:legacy', '60000');
	await publishOk(a, 'legacy', 'new');
	assert.equal(await redis.cli('PTTL', 'crier:h:legacy'), '-1');
	assert.equal(await redis.cli('ZSCORE', 'crier:heads', 'legacy'), seq);
	assert.equal(await countedBytes(redis), 'x'.length + 'old'.length + 'new'.length);
});

test('age bound in Redis: an idle channel is trimmed by publishes elsewhere; an expired entry not trimmed yet is not replayed', T, async (t) => {
	const redis = await startRedis(t);
	const args = ['--history-ttl', '1s'];
	const [a, b] = await Promise.all([node(t, redis, args), node(t, redis, args)]);
	await Promise.all([healthy(a), healthy(b)]);
	const idle = [];
	for (let i = 0; i < 3; i++) idle.push(await publishOk(a, 'idle', `i${i}`));
	assert.equal(await redis.cli('XLEN', 'crier:h:idle'), '3');
	assert.equal(await redis.cli('PTTL', 'crier:h:idle'), '-1', 'a stream with entries has no TTL: its bytes are counted');
	await sleep(1200);
	// Nobody published since: the entries are still there, but not served.
	assert.equal(await redis.cli('XLEN', 'crier:h:idle'), '3');
	const stale = await SseSub.open(b, '/sub/idle', { headers: [`Last-Event-ID: ${idle[0]}`] });
	await waitEv(stale, 1, b);
	await sleep(200);
	const sevs = events(stale);
	assert.equal(sevs.length, 1, JSON.stringify(sevs));
	const g = gapOf(sevs[0]);
	assert.equal(g.reason, 'expired');
	assert.equal(g.to, null);
	stale.close();
	// A publish on another channel trims the idle one (from the node-wide head).
	await publishOk(a, 'busy', 'b0');
	assert.equal(await redis.cli('XLEN', 'crier:h:idle'), '0');
	assert.equal(await countedBytes(redis), 2);
	assert.match(await redis.cli('ZSCORE', 'crier:empty', 'idle'), /^\d+$/);
	// Kept empty for the TTL (its "evicted" marker), then deleted; its last
	// id is recorded, so a resume from before it is still told, on a node
	// that never had the channel, before and after the stream comes back.
	await sleep(1200);
	const b1 = await publishOk(a, 'busy', 'b1');
	assert.equal(await redis.cli('EXISTS', 'crier:h:idle'), '0');
	assert.equal(await redis.cli('ZSCORE', 'crier:gone', 'idle'), String(parseId(idle[2]).seq));
	assert.equal(await redis.cli('XLEN', 'crier:h:busy'), '1', 'b0 aged out too');
	const c = await node(t, redis, args);
	await healthy(c);
	const lost = await SseSub.open(c, '/sub/idle', { headers: [`Last-Event-ID: ${idle[1]}`] });
	await waitEv(lost, 1, c);
	assert.equal(gapOf(events(lost)[0]).reason, 'expired');
	lost.close();
	const back = await publishOk(a, 'idle', 'back');
	const d = await node(t, redis, args);
	await healthy(d);
	const again = await SseSub.open(d, '/sub/idle', { headers: [`Last-Event-ID: ${idle[1]}`] });
	await waitEv(again, 2, d);
	const ag = gapOf(events(again)[0]);
	assert.equal(ag.from, idle[1]);
	assert.equal(ag.to, back);
	assert.equal(events(again)[1].id, back);
	// A channel that never had a stream costs a resume nothing.
	const quiet = await SseSub.open(d, '/sub/busy,never', { headers: [`Last-Event-ID: ${b1}`] });
	const b2 = await publishOk(a, 'busy', 'b2');
	await waitEv(quiet, 1, d);
	await sleep(200);
	assert.deepEqual(events(quiet), [{ id: b2, event: undefined, data: 'b2' }]);
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
	// The byte count and the heads started over with the epoch.
	assert.equal(await countedBytes(redis), 'fresh'.length);
	assert.equal(await redis.cli('ZRANGE', 'crier:heads', '0', '-1'), 'flush');
	// A resume with an id of the old life is told too.
	const late = await SseSub.open(a, '/sub/flush', { headers: [`Last-Event-ID: ${old}`] });
	await late.waitEvents(2, 10000);
	const lg = gapOf(events(late)[0]);
	assert.equal(lg.reason, 'epoch');
	assert.equal(events(late)[1].id, fresh);
});

test('crier:seq or crier:epoch lost alone (deleted, evicted): a new epoch with a gap notice, and a stream holding ids of the lost sequence is started again instead of failing every publish', T, async (t) => {
	const redis = await startRedis(t);
	const [a, b] = await Promise.all([node(t, redis), node(t, redis)]);
	await Promise.all([healthy(a), healthy(b)]);
	const sub = await SseSub.open(b, '/sub/partial');
	const old = [];
	for (let i = 0; i < 3; i++) old.push(await publishOk(a, 'partial', `old${i}`));
	await waitEv(sub, 3, b);

	// The sequence alone: it restarts below what the stream holds.
	await redis.cli('DEL', 'crier:seq');
	const fresh = await publishOk(a, 'partial', 'fresh');
	assert.notEqual(parseId(fresh).epoch, parseId(old[0]).epoch);
	assert.equal(parseId(fresh).seq, 1n);
	assert.equal(await redis.cli('XLEN', 'crier:h:partial'), '1', 'the stale entries went');
	assert.equal(await countedBytes(redis), 'fresh'.length);
	await sub.waitEvents(5, 10000);
	const evs = events(sub);
	assert.equal(gapOf(evs[3]).reason, 'epoch');
	assert.equal(evs[4].id, fresh);

	// The epoch alone: a new one, and the sequence goes on.
	await redis.cli('DEL', 'crier:epoch');
	const next = await publishOk(a, 'partial', 'next');
	assert.notEqual(parseId(next).epoch, parseId(fresh).epoch);
	assert.equal(parseId(next).seq, 2n);
	await sub.waitEvents(7, 10000);
	assert.equal(gapOf(events(sub)[5]).reason, 'epoch');
	assert.equal(events(sub)[6].id, next);
	// A node loading the channel afresh sees only this life's entries.
	const c = await node(t, redis);
	await healthy(c);
	const late = await SseSub.open(c, '/sub/partial', { headers: [`Last-Event-ID: ${fresh}`] });
	await late.waitEvents(2, 10000);
	assert.equal(gapOf(events(late)[0]).reason, 'epoch');
	assert.deepEqual(
		events(late)
			.slice(1)
			.map((e) => e.id),
		[next]
	);
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
