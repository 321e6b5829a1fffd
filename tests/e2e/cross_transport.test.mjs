// One bus, four transports: subscribers of every transport started from
// the same resume point -- SSE (raw socket, Accept: text/event-stream), raw
// WebSocket (/sub upgrade), the /ws protocol (subscribe with since) and
// long-poll (a loop following `next`) -- see the identical id sequence and
// the identical gap notice (same from, to, reason), for a point inside
// history, an expired one (small --history-size), one from before a restart
// (another epoch), the start of this epoch, one ahead of the newest, and
// garbage. The same again across nodes with the Redis engine: published
// on node A, every subscriber on node B.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { channelInfo, parseId, publish, publishOk, Publisher, SseSub, until, WsSub } from './lib/hub.mjs';
import { OP } from './lib/wsraw.mjs';
import { strip, V1 } from './lib/crierv1.mjs';
import { PollLoop } from './lib/poll.mjs';
import { startRedis } from './lib/redis.mjs';

const HISTORY = 6;
const CHANS = ['cx', 'cy'];
const ALL = ['cx', 'cy', 'cz']; // cz is published to but not subscribed

async function waitSubscribers(s, ch, n, timeoutMs = 5000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const r = await channelInfo(s, ch);
		if (r.status === 200 && r.json.subscribers >= n) return;
		if (Date.now() > deadline) throw new Error(`channel ${ch}: ${r.status} ${r.text} (waiting for ${n} subscribers)`);
		await sleep(20);
	}
}

/** Opens one subscriber of every transport from `since`; each exposes
 * items(): [{gap:{from,to,reason}} | id, ...] in arrival order. */
async function openAll(s, since, idOf) {
	const q = `?since=${encodeURIComponent(since)}`;
	const target = `/sub/${CHANS.join(',')}${q}`;

	const sse = await SseSub.open(s, target);
	assert.equal(sse.status, 200, `SSE ${target}: ${sse.head}`);

	const rawItems = [];
	const rawBad = [];
	const raw = await WsSub.open(s, target, {
		onFrame: (f) => {
			if (f.opcode === OP.BINARY) rawBad.push('binary frame');
			if (f.opcode !== OP.TEXT) return;
			const text = f.payload.toString('utf8');
			if (text.startsWith('{')) {
				const j = JSON.parse(text);
				if (Object.keys(j).length === 1 && j['crier.gap']) {
					rawItems.push({ gap: j['crier.gap'] });
					return;
				}
			}
			rawItems.push(text); // mapped to its id later: the frame can beat the publish's answer
		},
	});

	const v1 = await V1.open(s);
	const ack = await v1.ok({ op: 'subscribe', ref: 'x', channels: CHANS, since });

	const poll = new PollLoop(s, CHANS, { since, maxMs: 30000 }).start();

	const sseItems = () =>
		sse.eventList().map((e) => {
			if (e.event === 'crier.gap') {
				assert.equal(e.id, undefined, 'SSE gap without an id line');
				return { gap: JSON.parse(e.data) };
			}
			assert.equal(idOf.get(e.data), e.id, `SSE id/data pair ${e.id} ${e.data}`);
			return e.id;
		});
	const v1Items = () =>
		v1.stream.map((f) => {
			if (f.op === 'gap') return { gap: { from: f.from, to: f.to, reason: f.reason } };
			assert.equal(f.op, 'message', f._raw);
			assert.equal(idOf.get(f.data), f.id, `/ws id/data pair ${f._raw}`);
			return f.id;
		});
	const pollItems = () =>
		poll.items.map((x) => {
			if (x.gap) return { gap: x.gap };
			assert.equal(idOf.get(x.data), x.id, `poll id/data pair ${JSON.stringify(x)}`);
			return x.id;
		});
	return {
		ack,
		transports: {
			sse: { items: sseItems, n: () => sse.events, close: () => sse.close() },
			ws: { items: () => rawItems.map((x) => (typeof x === 'string' ? idOf.get(x) ?? `unknown payload ${x}` : x)), n: () => rawItems.length, close: () => raw.close(), bad: rawBad },
			wsproto: { items: v1Items, n: () => (v1._drain(), v1.stream.length), close: () => v1.close() },
			poll: { items: pollItems, n: () => poll.items.length, close: () => poll.stop() },
		},
	};
}

test('cross-transport: SSE, raw WebSocket, /ws and long-poll see the same ids and the same gap notices from the same resume points', { timeout: 120000 }, async (t) => {
	// An id from an earlier life of the hub: the server before a restart.
	const before = await startServer(t);
	const oldId = await publishOk(before, 'cx', 'from the previous life');
	assert.equal((await before.stop('SIGTERM')).code, 0);

	const s = await startServer(t, { args: ['--history-size', String(HISTORY), '--poll-timeout', '1s'] });
	await crossTransport(t, { pubNode: s, s, oldId });
});

test('cross-transport across nodes (Redis engine): published on A, resumed on B by every transport, same ids and gap notices', { timeout: 120000 }, async (t) => {
	const redis = await startRedis(t);
	const args = ['--engine', 'redis', '--redis-url', redis.url, '--history-size', String(HISTORY), '--poll-timeout', '1s'];
	const [a, b] = await Promise.all([startServer(t, { args }), startServer(t, { args })]);
	// An id from an earlier life of Redis's history: before a FLUSHALL.
	const oldId = await until(async () => {
		const r = await publish(a, 'cx', 'from the previous life');
		return r.status === 200 && r.json.id;
	}, 10000, 'node A publishing');
	await redis.cli('FLUSHALL');
	await crossTransport(t, { pubNode: a, s: b, oldId });
});

async function crossTransport(t, { pubNode, s, oldId }) {
	const pub = await Publisher.open(pubNode);
	const published = []; // {id, ch, data} in id order
	const idOf = new Map(); // data -> id
	const publish = async (ch, data) => {
		const r = await pub.publish(ch, data);
		assert.equal(r.status, 200, `publish: ${r.status} ${r.text}`);
		published.push({ id: r.json.id, ch, data });
		idOf.set(data, r.json.id);
		return r.json.id;
	};
	for (let i = 0; i < 30; i++) await publish(ALL[i % 3], `p${i}`);
	const ids = published.map((m) => m.id);
	const epoch = parseId(ids[0]).epoch;
	assert.notEqual(parseId(oldId).epoch, epoch, 'the restart changed the epoch');

	// What history still holds for the subscribed channels: the last HISTORY of each.
	const held = CHANS.flatMap((ch) => published.filter((m) => m.ch === ch).slice(-HISTORY));
	held.sort((a, b) => (parseId(a.id).seq < parseId(b.id).seq ? -1 : 1));
	const heldIds = held.map((m) => m.id);
	const oldestHeld = heldIds[0];
	assert.equal(oldestHeld, ids[12], 'test setup: history of cx starts at p12');

	const cases = [
		{ name: 'inside history', since: ids[24], gap: null, replay: published.slice(25).filter((m) => CHANS.includes(m.ch)).map((m) => m.id) },
		{ name: 'expired', since: ids[3], gap: { from: ids[3], to: oldestHeld, reason: 'expired' }, replay: heldIds },
		{ name: 'start of this epoch (<epoch>-0)', since: `${epoch}-0`, gap: { from: `${epoch}-0`, to: oldestHeld, reason: 'expired' }, replay: heldIds },
		{ name: 'another epoch (before a restart)', since: oldId, gap: { from: oldId, to: oldestHeld, reason: 'epoch' }, replay: heldIds },
		{ name: 'ahead of the newest', since: `${epoch}-99999`, gap: { from: `${epoch}-99999`, to: oldestHeld, reason: 'unknown' }, replay: heldIds },
		{ name: 'garbage', since: 'not-an-id', gap: { from: 'not-an-id', to: oldestHeld, reason: 'unknown' }, replay: heldIds },
	];

	// All subscribers of all cases open at once, then live messages follow.
	const opened = [];
	for (const c of cases) opened.push({ c, subs: await openAll(s, c.since, idOf) });
	await waitSubscribers(s, 'cy', cases.length * 3); // SSE, raw WS and /ws of every case; polls come and go
	// Every subscriber has its replay before the live messages go out: with
	// the Redis engine a resume waits for the node to sync first, and live
	// messages published meanwhile would push the replay out of a history
	// of HISTORY messages (a different, also correct, gap notice).
	await until(
		() => opened.every(({ c, subs }) => Object.values(subs.transports).every((tr) => tr.n() >= c.replay.length + (c.gap ? 1 : 0))),
		20000,
		'every subscriber of every case to receive its replay',
	);
	const live = [];
	for (let i = 30; i < 39; i++) {
		const id = await publish(ALL[i % 3], `p${i}`);
		if (CHANS.includes(ALL[i % 3])) live.push(id);
	}

	for (const { c, subs } of opened) {
		await t.test(c.name, async () => {
			const expected = [...(c.gap ? [{ gap: c.gap }] : []), ...c.replay, ...live];
			// The /ws ack announces the replay and the gap.
			const ackWant = { op: 'ack', ref: 'x', replayed: c.replay.length, ...(c.gap ? { gap: c.gap } : {}) };
			assert.deepEqual(strip(subs.ack), ackWant, `/ws subscribe ack from ${c.since}`);
			const seen = {};
			for (const [name, tr] of Object.entries(subs.transports)) {
				const deadline = Date.now() + 15000;
				while (tr.n() < expected.length && Date.now() < deadline) await sleep(20);
				await sleep(100); // nothing extra may follow
				seen[name] = tr.items();
				if (tr.bad) assert.deepEqual(tr.bad, [], `${name}: unexpected frames`);
			}
			for (const [name, items] of Object.entries(seen)) {
				assert.deepEqual(items, expected, `${name} from ${c.since} (${c.name})`);
			}
			for (const tr of Object.values(subs.transports)) await tr.close();
		});
	}
	pub.close();
}
