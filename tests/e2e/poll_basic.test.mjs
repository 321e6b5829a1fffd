// Long-poll: GET /sub/{ch} without Upgrade and without Accept:
// text/event-stream (or with ?transport=poll) is answered 200
// application/json {"messages":[...],"next":"<id>"[,"gap":{...}]}: at once
// when there are messages after the cursor (bounded by
// --sse-max-backpressure), else held until one arrives or --poll-timeout
// passes. Cursor forms, `next` as a resume point, gaps, CORS, keep-alive,
// shutdown, zero loss under load, and the metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { metricsSnapshot } from './lib/wsclient.mjs';
import { channelInfo, checkIncreasing, ID_RE, parseId, publishOk, Publisher, SseSub } from './lib/hub.mjs';
import { PollClient, PollLoop, pollOnce } from './lib/poll.mjs';

const T = { timeout: 90000 };

async function waitSubscribers(s, ch, n, timeoutMs = 3000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const r = await channelInfo(s, ch);
		if (r.status === 200 && r.json.subscribers === n) return;
		if (Date.now() > deadline) throw new Error(`channel ${ch}: ${r.status} ${r.text} (waiting for ${n} subscribers)`);
		await sleep(10);
	}
}

/** Asserts a well-formed poll answer and returns its JSON. */
function answer(r, what = 'poll') {
	assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
	assert.match(r.headers['content-type'] ?? '', /^application\/json\b/, `${what}: ${r.rawHead}`);
	assert.ok(r.json, `${what}: body is not JSON: ${r.text.slice(0, 200)}`);
	const keys = Object.keys(r.json).sort();
	assert.ok(
		JSON.stringify(keys) === '["messages","next"]' || JSON.stringify(keys) === '["gap","messages","next"]',
		`${what}: keys ${keys}: ${r.text.slice(0, 200)}`
	);
	assert.ok(Array.isArray(r.json.messages), what);
	assert.match(r.json.next, ID_RE, `${what}: next`);
	for (const m of r.json.messages) {
		assert.equal(m.op, 'message', `${what}: ${JSON.stringify(m)}`);
		for (const k of Object.keys(m)) assert.ok(['op', 'channel', 'id', 'event', 'data', 'binary'].includes(k), `${what}: key ${k} in ${JSON.stringify(m)}`);
		assert.match(m.id, ID_RE);
		assert.equal(typeof m.data, 'string');
		if ('binary' in m) assert.equal(m.binary, true);
	}
	if (r.json.gap) assert.deepEqual(Object.keys(r.json.gap).sort(), ['from', 'reason', 'to'], `${what}: gap ${JSON.stringify(r.json.gap)}`);
	return r.json;
}

test('format: messages after the cursor are answered at once, all of them, with next = the last id', T, async (t) => {
	const s = await startServer(t, { args: ['--poll-timeout', '5s'] });
	const p = await Publisher.open(s);
	const first = (await p.publish('pf', 'zero')).json.id;
	const r1 = (await p.publish('pf', 'text\nwith "quotes" é', { event: 'note' })).json.id;
	const r2 = (await p.publish('pf', Buffer.from([0, 1, 2, 255]), { contentType: 'application/octet-stream' })).json.id;
	await p.publish('other', 'not subscribed');
	const r3 = (await p.publish('pf2', 'second channel')).json.id;
	const r = await pollOnce(s, `/sub/pf,pf2?since=${first}`);
	const j = answer(r);
	assert.ok(r.ms < 2000, `answered at once, took ${r.ms} ms`);
	assert.deepEqual(j, {
		messages: [
			{ op: 'message', channel: 'pf', id: r1, event: 'note', data: 'text\nwith "quotes" é' },
			{ op: 'message', channel: 'pf', id: r2, data: 'AAEC/w==', binary: true },
			{ op: 'message', channel: 'pf2', id: r3, data: 'second channel' },
		],
		next: r3,
	});
	// ?transport=poll wins over Accept: text/event-stream.
	const c = await PollClient.open(s);
	const r4 = await c.poll(`/sub/pf?transport=poll&since=${r1}`, { headers: ['Accept: text/event-stream'] });
	assert.deepEqual(
		answer(r4).messages.map((m) => m.id),
		[r2]
	);
	// Bad requests are refused like SSE's.
	const bad = await pollOnce(s, '/sub/bad%20name');
	assert.equal(bad.status, 400, `bad channel: ${bad.status} ${bad.text}`);
	c.close();
	p.close();
});

test('cursor: ?since=, ?lastEventId= and Last-Event-ID (which beats ?lastEventId= which beats ?since=)', T, async (t) => {
	const s = await startServer(t, { args: ['--poll-timeout', '300ms'] });
	const ids = [];
	for (let i = 0; i < 6; i++) ids.push(await publishOk(s, 'pc', `m${i}`));
	const cases = [
		[`/sub/pc?since=${ids[3]}`, [], [4, 5]],
		[`/sub/pc?lastEventId=${ids[2]}`, [], [3, 4, 5]],
		['/sub/pc', [`Last-Event-ID: ${ids[1]}`], [2, 3, 4, 5]],
		[`/sub/pc?lastEventId=garbage&since=garbage`, [`Last-Event-ID: ${ids[3]}`], [4, 5]],
		[`/sub/pc?lastEventId=${ids[2]}&since=garbage`, [], [3, 4, 5]],
	];
	for (const [target, headers, want] of cases) {
		const j = answer(await pollOnce(s, target, { headers }), `${target} ${headers}`);
		assert.deepEqual(
			j.messages.map((m) => m.data),
			want.map((i) => `m${i}`),
			`${target} ${headers}`
		);
		assert.equal(j.next, ids[5]);
		assert.equal(j.gap, undefined);
	}
});

test('next before the first message ever is <epoch>-0, and resuming from it replays everything', T, async (t) => {
	const s = await startServer(t, { args: ['--poll-timeout', '300ms'] });
	const r = await pollOnce(s, '/sub/fresh');
	const j = answer(r);
	assert.deepEqual(j.messages, []);
	assert.match(j.next, /^[0-9a-f]{8}-0$/, `next on an empty hub: ${r.text}`);
	assert.ok(r.ms >= 250 && r.ms < 3000, `held for --poll-timeout (300 ms): ${r.ms} ms`);
	const id0 = await publishOk(s, 'fresh', 'a');
	const id1 = await publishOk(s, 'fresh', 'b');
	assert.equal(parseId(id0).epoch, parseId(j.next).epoch, 'the same epoch as the ids');
	const j2 = answer(await pollOnce(s, `/sub/fresh?since=${j.next}`));
	assert.deepEqual(
		j2.messages.map((m) => m.id),
		[id0, id1]
	);
	assert.equal(j2.gap, undefined, 'no gap from <epoch>-0 when history holds everything');
	// With no cursor, a poll takes only what comes next (held, then one message).
	const c = await PollClient.open(s);
	const held = c.poll('/sub/fresh');
	await waitSubscribers(s, 'fresh', 1);
	const id2 = await publishOk(s, 'fresh', 'c');
	const j3 = answer(await held);
	assert.deepEqual(
		j3.messages.map((m) => m.id),
		[id2]
	);
	assert.equal(j3.next, id2);
	c.close();
});

test('held: answered right after a message arrives, or empty with the cursor at --poll-timeout', T, async (t) => {
	const s = await startServer(t, { args: ['--poll-timeout', '800ms'] });
	const last = await publishOk(s, 'ph', 'before');
	const c = await PollClient.open(s);
	// Timeout: nothing new.
	const tj = answer(await c.poll(`/sub/ph?since=${last}`));
	assert.deepEqual(tj, { messages: [], next: last });
	// A message arrives while held.
	const held = c.poll(`/sub/ph?since=${last}`);
	await waitSubscribers(s, 'ph', 1);
	await sleep(150);
	const before = Date.now();
	const id = await publishOk(s, 'ph', 'wake up');
	const r = await held;
	const after = Date.now() - before;
	assert.ok(after < 400, `answered ${after} ms after the publish`);
	assert.deepEqual(answer(r), { messages: [{ op: 'message', channel: 'ph', id, data: 'wake up' }], next: id });
	// A message on another channel does not answer it.
	const held2 = c.poll(`/sub/ph?since=${id}`);
	await waitSubscribers(s, 'ph', 1);
	await publishOk(s, 'not-ph', 'x');
	const r2 = await held2;
	assert.ok(r2.ms >= 650, `held for the timeout despite another channel's message: ${r2.ms} ms`);
	const j2 = answer(r2);
	assert.deepEqual(j2.messages, []);
	assert.equal(j2.next, id, 'next stays the cursor (a valid resume point for this subscription)');
	// The held subscription is gone after the answer.
	await waitSubscribers(s, 'ph', 0);
	c.close();
});

test('keep-alive: several polls (immediate, held-then-answered, timed out) on one connection', T, async (t) => {
	const s = await startServer(t, { args: ['--poll-timeout', '300ms'] });
	const c = await PollClient.open(s);
	let cursor = await publishOk(s, 'pk', 'm0');
	const seen = [];
	for (let i = 1; i <= 6; i++) {
		let r;
		if (i % 3 === 0) {
			r = await c.poll(`/sub/pk?since=${cursor}`); // times out
			assert.deepEqual(answer(r).messages, []);
		} else if (i % 3 === 1) {
			const id = await publishOk(s, 'pk', `m${i}`);
			r = await c.poll(`/sub/pk?since=${cursor}`); // immediate
			assert.deepEqual(
				answer(r).messages.map((m) => m.id),
				[id]
			);
		} else {
			const held = c.poll(`/sub/pk?since=${cursor}`);
			await waitSubscribers(s, 'pk', 1);
			await publishOk(s, 'pk', `m${i}`);
			r = await held;
		}
		assert.doesNotMatch(r.headers.connection ?? '', /close/i, `poll ${i} keeps the connection: ${r.rawHead}`);
		seen.push(...answer(r).messages.map((m) => m.data));
		cursor = r.json.next;
	}
	assert.deepEqual(seen, ['m1', 'm2', 'm4', 'm5']);
	assert.equal(c.polls, 6);
	assert.equal(c.closed, false);
	c.close();
});

test('answers are bounded by --sse-max-backpressure; following next gets everything, once, in order', T, async (t) => {
	const s = await startServer(t, { args: ['--sse-max-backpressure', '4k', '--history-size', '1000', '--poll-timeout', '300ms'] });
	const p = await Publisher.open(s);
	const ids = [];
	const body = (i) => `${String(i).padStart(4, '0')}:${'b'.repeat(190)}`;
	for (let i = 0; i < 120; i++) ids.push((await p.publish('pb', body(i))).json.id);
	const c = await PollClient.open(s);
	let cursor = `${parseId(ids[0]).epoch}-0`;
	const got = [];
	let answers = 0;
	while (got.length < ids.length && answers < 100) {
		const r = await c.poll(`/sub/pb?since=${cursor}`);
		const j = answer(r);
		assert.equal(j.gap, undefined);
		assert.ok(j.messages.length > 0, `poll ${answers}: an empty answer while ${ids.length - got.length} messages are due`);
		assert.ok(r.body.length <= 4096 + 400, `poll ${answers}: ${r.body.length} bytes, over the 4 KiB budget plus one message`);
		got.push(...j.messages);
		cursor = j.next;
		assert.equal(cursor, j.messages[j.messages.length - 1].id);
		answers++;
	}
	assert.ok(answers >= 5, `120 x 200 bytes in answers of 4 KiB need several polls (took ${answers})`);
	assert.deepEqual(
		got.map((m) => m.id),
		ids
	);
	assert.deepEqual(
		got.map((m) => m.data),
		ids.map((_, i) => body(i))
	);
	c.close();
	p.close();
});

test('gap notices in the answer: expired, epoch, unknown, then the oldest held messages', T, async (t) => {
	const s = await startServer(t, { args: ['--history-size', '4', '--poll-timeout', '300ms'] });
	const ids = [];
	for (let i = 0; i < 10; i++) ids.push(await publishOk(s, 'pg', `m${i}`));
	const s2 = await startServer(t);
	const foreign = await publishOk(s2, 'pg', 'x');
	const cases = [
		[ids[1], 'expired'],
		[foreign, 'epoch'],
		['garbage', 'unknown'],
	];
	for (const [since, reason] of cases) {
		const j = answer(await pollOnce(s, `/sub/pg?since=${encodeURIComponent(since)}`), `since=${since}`);
		assert.deepEqual(j.gap, { from: since, to: ids[6], reason }, `since=${since}`);
		assert.deepEqual(
			j.messages.map((m) => m.id),
			ids.slice(6)
		);
		assert.equal(j.next, ids[9]);
		// The same notice as SSE's.
		const sse = await SseSub.open(s, `/sub/pg?since=${encodeURIComponent(since)}`);
		await sse.waitEvents(5);
		const ev = sse.eventList();
		assert.equal(ev[0].event, 'crier.gap');
		assert.deepEqual(JSON.parse(ev[0].data), j.gap, 'SSE and poll give the same notice');
		sse.close();
		// Following next: no second notice.
		const j2 = answer(await pollOnce(s, `/sub/pg?since=${j.next}`));
		assert.deepEqual(j2, { messages: [], next: ids[9] });
	}
});

test('CORS as SSE: 403 for a disallowed origin; allowed origins echoed with credentials, also on held answers', T, async (t) => {
	const s = await startServer(t, { args: ['--allowed-origins', 'https://app.example', '--poll-timeout', '400ms'] });
	const id = await publishOk(s, 'pco', 'm0');
	const refused = await pollOnce(s, `/sub/pco?since=${parseId(id).epoch}-0`, { headers: ['Origin: https://evil.example'] });
	assert.equal(refused.status, 403, `disallowed origin: ${refused.rawHead}`);
	assert.equal(refused.headers['access-control-allow-origin'], undefined);
	assert.equal((await channelInfo(s, 'pco')).json.subscribers, 0);
	const cors = (r, what) => {
		assert.equal(r.headers['access-control-allow-origin'], 'https://app.example', `${what}: ${r.rawHead}`);
		assert.equal(r.headers['access-control-allow-credentials'], 'true', `${what}: ${r.rawHead}`);
		assert.match(r.headers.vary ?? '', /\bOrigin\b/i, `${what}: ${r.rawHead}`);
	};
	const c = await PollClient.open(s);
	const h = ['Origin: https://app.example'];
	const now = await c.poll(`/sub/pco?since=${parseId(id).epoch}-0`, { headers: h });
	assert.equal(answer(now).messages.length, 1);
	cors(now, 'immediate answer');
	const timedOut = await c.poll(`/sub/pco?since=${id}`, { headers: h });
	assert.deepEqual(answer(timedOut).messages, []);
	cors(timedOut, 'answer at --poll-timeout');
	const held = c.poll(`/sub/pco?since=${id}`, { headers: h });
	await waitSubscribers(s, 'pco', 1);
	await publishOk(s, 'pco', 'm1');
	const woken = await held;
	assert.equal(answer(woken).messages.length, 1);
	cors(woken, 'held answer woken by a publish');
	// Origin-less and same-origin polls are served without CORS headers.
	const plain = await c.poll(`/sub/pco?since=${parseId(id).epoch}-0`);
	assert.equal(answer(plain).messages.length, 2);
	assert.equal(plain.headers['access-control-allow-origin'], undefined);
	c.close();
});

test('shutdown: a held poll is answered (empty, with the cursor) on SIGTERM and the server exits 0', T, async (t) => {
	const s = await startServer(t); // default --poll-timeout 30s
	const id = await publishOk(s, 'pd', 'm0');
	const c1 = await PollClient.open(s);
	const c2 = await PollClient.open(s);
	const h1 = c1.poll(`/sub/pd?since=${id}`, { timeoutMs: 15000 });
	const h2 = c2.poll('/sub/pd,pd2', { timeoutMs: 15000 });
	await waitSubscribers(s, 'pd', 2);
	const t0 = Date.now();
	s.signal('SIGTERM');
	const [r1, r2] = await Promise.all([h1, h2]);
	const took = Date.now() - t0;
	assert.ok(took < 5000, `held polls answered ${took} ms after SIGTERM`);
	assert.deepEqual(answer(r1, 'held poll with a cursor'), { messages: [], next: id });
	assert.deepEqual(answer(r2, 'held poll without a cursor'), { messages: [], next: id });
	const e = await s.waitExit(10000);
	assert.equal(e.code, 0, `exit ${JSON.stringify(e)}`);
	c1.close();
	c2.close();
});

test('zero loss: a poll loop following next sees every message of 1,000 msg/s for 5 s, once, in order', { timeout: 120000 }, async (t) => {
	const s = await startServer(t, { args: ['--history-size', '5000', '--poll-timeout', '2s'] });
	const loop = new PollLoop(s, ['load'], { maxMs: 60000 });
	// Start from a known position so nothing published is before the cursor.
	loop.cursor = await publishOk(s, 'load', 'start');
	loop.start();
	await waitSubscribers(s, 'load', 1);
	const pubs = [];
	for (let i = 0; i < 4; i++) pubs.push(await Publisher.open(s));
	const RATE = 1000;
	const SECONDS = 5;
	const total = RATE * SECONDS;
	const published = [];
	const t0 = Date.now();
	let k = 0;
	const inflight = [];
	// Every 10 ms, publish what is due (pipelined on 4 keep-alive connections).
	while (k < total && Date.now() - t0 < SECONDS * 1000 + 10000) {
		const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * RATE) + 10);
		while (k < due) {
			const i = k++;
			inflight.push(
				pubs[i % pubs.length].publish('load', `n${i}`).then((r) => {
					if (r.status !== 200) throw new Error(`publish ${i}: ${r.status} ${r.text}`);
					published.push(r.json.id);
				})
			);
		}
		await sleep(10);
	}
	await Promise.all(inflight);
	const elapsed = (Date.now() - t0) / 1000;
	assert.equal(k, total, `published ${k} of ${total}`);
	assert.ok(elapsed < SECONDS * 2, `publishing ${total} took ${elapsed} s (the hub keeps up with ${RATE}/s)`);
	published.sort((a, b) => (parseId(a).seq < parseId(b).seq ? -1 : 1));
	await loop.wait((l) => l.messages().length >= total, 20000, `${total} messages`);
	await sleep(300);
	await loop.stop();
	const gaps = loop.items.filter((x) => x.gap);
	assert.deepEqual(gaps, [], 'no gap notice');
	const ids = loop.messages().map((m) => m.id);
	assert.equal(checkIncreasing(ids, 'poll loop'), '');
	assert.equal(ids.length, total, `saw ${ids.length} messages for ${total} published`);
	assert.deepEqual(ids, published, 'every published id exactly once, in order');
	assert.equal(new Set(loop.messages().map((m) => m.data)).size, total, 'every payload once');
	t.diagnostic(`${loop.answers} poll answers for ${total} messages (${(total / loop.answers).toFixed(1)} per answer) in ${elapsed.toFixed(2)} s`);
	for (const p of pubs) p.close();
});

test('metrics: poll deliveries count in crier_hub_deliveries_total', T, async (t) => {
	const s = await startServer(t, { args: ['--poll-timeout', '300ms'] });
	const id0 = await publishOk(s, 'pm', 'm0');
	const snap = await metricsSnapshot(s);
	await publishOk(s, 'pm', 'm1');
	await publishOk(s, 'pm', 'm2');
	const j = answer(await pollOnce(s, `/sub/pm?since=${id0}`));
	assert.equal(j.messages.length, 2);
	const c = await PollClient.open(s);
	const held = c.poll(`/sub/pm?since=${j.next}`);
	await waitSubscribers(s, 'pm', 1);
	await publishOk(s, 'pm', 'm3');
	assert.equal(answer(await held).messages.length, 1);
	const d = await snap();
	assert.equal(d.delta('crier_hub_deliveries_total'), 3, 'two replayed + one live message delivered to polls');
	assert.equal(d.delta('crier_hub_published_total'), 3);
	c.close();
});
