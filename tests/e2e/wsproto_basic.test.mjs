// The two-way crier.v1 protocol on GET /ws (docs/protocol-ws.md), spoken
// by the independent `ws` npm client: the subprotocol, request/answer round
// trips with refs echoed exactly, the message and gap frames, resume with
// `since`, every error code (and the connection carrying on after each),
// close codes, and the ordering of /ws publishes among HTTP and other /ws
// publishes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { metricsSnapshot, openWs, closed, waitMetric, wsUrl } from './lib/wsclient.mjs';
import { channelInfo, checkIncreasing, ID_RE, parseId, publishOk, Publisher, SseSub, WsSub } from './lib/hub.mjs';
import { OP } from './lib/wsraw.mjs';
import { strip, V1 } from './lib/crierv1.mjs';

const T = { timeout: 90000 };

async function waitSubscribers(s, ch, n, timeoutMs = 3000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const r = await channelInfo(s, ch);
		if (r.status === 200 && r.json.subscribers === n) return;
		if (Date.now() > deadline) throw new Error(`channel ${ch}: ${r.status} ${r.text} (waiting for ${n} subscribers)`);
		await sleep(20);
	}
}

function assertError(a, code, ref, what) {
	assert.equal(a.op, 'error', `${what}: expected error ${code}, got ${a._raw}`);
	assert.equal(a.code, code, `${what}: ${a._raw}`);
	if (ref !== undefined) assert.deepEqual(a.ref, ref, `${what}: ref not echoed: ${a._raw}`);
	assert.equal(typeof a.message, 'string', `${what}: ${a._raw}`);
	assert.ok(a.message.length > 0, `${what}: empty message: ${a._raw}`);
	const keys = Object.keys(strip(a)).sort();
	assert.deepEqual(keys, ref === undefined && !('ref' in a) ? ['code', 'message', 'op'] : ['code', 'message', 'op', 'ref'], `${what}: ${a._raw}`);
}

test('handshake: crier.v1 is selected; no subprotocol is closed 1002 with a reason; other subprotocols get none back', T, async (t) => {
	const s = await startServer(t);
	const c = await V1.open(s);
	assert.equal(c.ws.protocol, 'crier.v1');
	assert.equal(c.upgrade.headers['sec-websocket-protocol'], 'crier.v1');
	await c.ping();
	const c2 = await V1.open(s, { protocols: ['other.v9', 'crier.v1'] });
	assert.equal(c2.ws.protocol, 'crier.v1', 'crier.v1 chosen among several offers');
	await c2.ping();

	const { ws } = await openWs(wsUrl(s, '/ws'));
	const info = await closed(ws, 5000);
	assert.equal(info.code, 1002, `no subprotocol: close ${info.code} ${JSON.stringify(info.reason)}`);
	assert.ok(info.reason.length > 0, 'the 1002 close carries a reason');
	assert.match(info.reason, /crier\.v1/, `reason names the subprotocol: ${JSON.stringify(info.reason)}`);

	// Offering only other subprotocols: the server selects none, which a
	// compliant client (ws, browsers) treats as a failed connection.
	await assert.rejects(openWs(wsUrl(s, '/ws'), {}, { protocols: ['chat', 'other.v2'] }), /subprotocol|closed|1002/i);
	await c.ping('first connection after the refused ones');
	c.close();
	c2.close();
});

test('a binary frame closes the connection with 1003; the hub keeps serving', T, async (t) => {
	const s = await startServer(t);
	const c = await V1.open(s);
	await c.ping();
	await c.sendRaw(Buffer.from([1, 2, 3]), { binary: true });
	const info = await c.waitClose(5000);
	assert.equal(info.code, 1003, `binary frame: close ${info.code} ${JSON.stringify(info.reason)}`);
	const c2 = await V1.open(s);
	await c2.ping('a new connection after the 1003');
	c2.close();
});

test('round trips: ping, subscribe, publish, unsubscribe are acked with ref echoed exactly (strings and integers)', T, async (t) => {
	const s = await startServer(t);
	const c = await V1.open(s);
	const refs = [0, 1, -1, 42, 9007199254740991, '', 'm-17', '1', 'ünï✓ 中', 'x'.repeat(56)];
	for (const ref of refs) {
		const a = await c.request({ op: 'ping', ref });
		assert.deepEqual(strip(a), { op: 'ack', ref }, `ping ref ${JSON.stringify(ref)}: ${a._raw}`);
		assert.equal(typeof a.ref, typeof ref, `ref type kept: ${a._raw}`);
	}
	// The string "1" and the integer 1 are different refs.
	const a1 = await c.request({ op: 'ping', ref: '7' });
	assert.equal(a1._raw.includes('"ref":"7"'), true, a1._raw);
	// Without a ref, the ack has none.
	const nr = await c.request({ op: 'ping' }, { noRef: true });
	assert.deepEqual(strip(nr), { op: 'ack' }, nr._raw);

	const sub = await c.request({ op: 'subscribe', ref: 'sub-1', channels: ['rt', 'rt2'] });
	assert.deepEqual(strip(sub), { op: 'ack', ref: 'sub-1', replayed: 0 }, sub._raw);
	const pub = await c.request({ op: 'publish', ref: 99, channel: 'rt', data: 'hello' });
	assert.deepEqual(Object.keys(strip(pub)).sort(), ['id', 'op', 'ref', 'subscribers'], pub._raw);
	assert.equal(pub.op, 'ack');
	assert.equal(pub.ref, 99);
	assert.match(pub.id, ID_RE);
	assert.equal(pub.subscribers, 1, `the publishing connection is the one subscriber: ${pub._raw}`);
	await c.waitMessages(1);
	assert.deepEqual(strip(c.messages()[0]), { op: 'message', channel: 'rt', id: pub.id, data: 'hello' });
	const un = await c.request({ op: 'unsubscribe', ref: 3, channels: ['rt'] });
	assert.deepEqual(strip(un), { op: 'ack', ref: 3 }, un._raw);
	const pub2 = await c.request({ op: 'publish', ref: 'after', channel: 'rt', data: 'not for me' });
	assert.equal(pub2.subscribers, 0, `no subscriber after unsubscribe: ${pub2._raw}`);
	const pub3 = await c.request({ op: 'publish', ref: 'other', channel: 'rt2', data: 'still subscribed' });
	assert.equal(pub3.subscribers, 1, pub3._raw);
	await c.waitMessages(2);
	await sleep(100);
	assert.deepEqual(
		c.messages().map((m) => [m.channel, m.data]),
		[
			['rt', 'hello'],
			['rt2', 'still subscribed'],
		],
		'unsubscribed channel delivers nothing more, the other channel of the subscription goes on'
	);
	// Publish ids are hub-wide and increasing.
	assert.equal(checkIncreasing([pub.id, pub2.id, pub3.id]), '');
	// Subscribing again after unsubscribing works.
	await c.ok({ op: 'subscribe', channels: ['rt'] });
	c.close();
});

test('message frames: event, binary (base64 both ways), exact keys; the same message on SSE and raw WebSocket', T, async (t) => {
	const s = await startServer(t);
	const c = await V1.open(s);
	const other = await V1.open(s);
	await c.ok({ op: 'subscribe', channels: ['mf'] });
	await other.ok({ op: 'subscribe', channels: ['mf'] });
	const sse = await SseSub.open(s, '/sub/mf');
	const raw = [];
	const wsub = await WsSub.open(s, '/sub/mf', { onFrame: (f) => (f.opcode === OP.TEXT || f.opcode === OP.BINARY) && raw.push(f) });
	await waitSubscribers(s, 'mf', 4);
	const p = await Publisher.open(s);
	const r1 = await p.publish('mf', 'from http', { event: 'note' });
	assert.equal(r1.status, 200);
	const r2 = await p.publish('mf', Buffer.from([0, 1, 2, 255]), { contentType: 'application/octet-stream' });
	assert.equal(r2.status, 200);
	const a3 = await c.ok({ op: 'publish', channel: 'mf', data: Buffer.from([9, 8, 7]).toString('base64'), binary: true, event: 'blob' });
	assert.equal(a3.subscribers, 4, a3._raw);
	const a4 = await c.ok({ op: 'publish', channel: 'mf', data: 'line1\nline2 "q" é', binary: false });
	const want = [
		{ op: 'message', channel: 'mf', id: r1.json.id, event: 'note', data: 'from http' },
		{ op: 'message', channel: 'mf', id: r2.json.id, data: 'AAEC/w==', binary: true },
		{ op: 'message', channel: 'mf', id: a3.id, event: 'blob', data: 'CQgH', binary: true },
		{ op: 'message', channel: 'mf', id: a4.id, data: 'line1\nline2 "q" é' },
	];
	for (const cl of [c, other]) {
		await cl.waitMessages(4);
		assert.deepEqual(cl.messages().map(strip), want);
	}
	// Every /ws subscriber gets the same bytes.
	assert.deepEqual(
		c.messages().map((m) => m._raw),
		other.messages().map((m) => m._raw)
	);
	await sse.waitEvents(4);
	assert.deepEqual(
		sse.eventList().map((e) => [e.id, e.event, e.data]),
		[
			[r1.json.id, 'note', 'from http'],
			[r2.json.id, 'crier.binary', 'AAEC/w=='],
			[a3.id, 'crier.binary', 'CQgH'],
			[a4.id, undefined, 'line1\nline2 "q" é'],
		]
	);
	await wsub.waitFor(() => raw.length >= 4, 5000, '4 raw frames');
	assert.deepEqual(
		raw.map((f) => [f.opcode, f.payload.toString('hex')]),
		[
			[OP.TEXT, Buffer.from('from http').toString('hex')],
			[OP.BINARY, '000102ff'],
			[OP.BINARY, '090807'],
			[OP.TEXT, Buffer.from('line1\nline2 "q" é').toString('hex')],
		]
	);
	c.close();
	other.close();
	sse.close();
	wsub.close();
	p.close();
});

test('subscribe with since: ack (replayed, gap) first, then the gap frame, then replayed messages, then live', T, async (t) => {
	const s = await startServer(t, { args: ['--history-size', '5'] });
	const p = await Publisher.open(s);
	const ids = [];
	for (let i = 0; i < 12; i++) ids.push((await p.publish('hs', `m${i}`)).json.id);

	// Inside history: exactly what came after.
	const c = await V1.open(s);
	const a = await c.ok({ op: 'subscribe', ref: 'in', channels: ['hs'], since: ids[8] });
	assert.deepEqual(strip(a), { op: 'ack', ref: 'in', replayed: 3 }, a._raw);
	await c.waitMessages(3);
	assert.deepEqual(
		c.messages().map((m) => [m.id, m.data]),
		[9, 10, 11].map((i) => [ids[i], `m${i}`])
	);
	assert.ok(!c.stream.some((f) => f.op === 'gap'), 'no gap inside history');
	const frameIdx = (cl, pred) => cl.frames.findIndex(pred);
	assert.ok(frameIdx(c, (f) => f.ref === 'in') < frameIdx(c, (f) => f.op === 'message'), 'the ack comes before the replay');

	// Expired: told first, then the oldest held (5 messages).
	const e = await V1.open(s);
	const ea = await e.ok({ op: 'subscribe', ref: 'exp', channels: ['hs'], since: ids[2] });
	const gap = { from: ids[2], to: ids[7], reason: 'expired' };
	assert.deepEqual(strip(ea), { op: 'ack', ref: 'exp', replayed: 5, gap }, ea._raw);
	await e.waitMessages(5);
	const gi = frameIdx(e, (f) => f.op === 'gap');
	assert.ok(gi >= 0, `a gap frame in the stream: ${e.describe()}`);
	assert.deepEqual(strip(e.frames[gi]), { op: 'gap', ...gap });
	assert.ok(frameIdx(e, (f) => f.ref === 'exp') < gi, 'ack before the gap frame');
	assert.ok(gi < frameIdx(e, (f) => f.op === 'message'), 'gap frame before the first replayed message');
	assert.deepEqual(
		e.messages().map((m) => m.id),
		ids.slice(7)
	);

	// Another epoch: an id from another process.
	const s2 = await startServer(t);
	const foreign = await publishOk(s2, 'hs', 'elsewhere');
	const ep = await V1.open(s);
	const epa = await ep.ok({ op: 'subscribe', ref: 1, channels: ['hs'], since: foreign });
	assert.deepEqual(strip(epa), { op: 'ack', ref: 1, replayed: 5, gap: { from: foreign, to: ids[7], reason: 'epoch' } }, epa._raw);
	await ep.waitMessages(5);

	// Unknown: garbage, and an id ahead of the newest.
	for (const since of ['garbage', `${parseId(ids[0]).epoch}-999999`]) {
		const u = await V1.open(s);
		const ua = await u.ok({ op: 'subscribe', ref: 2, channels: ['hs'], since });
		assert.equal(ua.gap?.reason, 'unknown', `since=${since}: ${ua._raw}`);
		assert.equal(ua.gap.from, since, ua._raw);
		await u.waitFor((cl) => cl.stream.some((f) => f.op === 'gap'), 3000, 'the gap frame');
		assert.deepEqual(strip(u.stream.find((f) => f.op === 'gap')), { op: 'gap', ...ua.gap });
		await u.waitMessages(ua.replayed);
		u.close();
	}

	// Live after the replay, on every one of them, in order.
	const live = await p.publish('hs', 'live');
	for (const cl of [c, e, ep]) {
		await cl.waitFor((x) => x.messages().some((m) => m.id === live.json.id), 3000, 'the live message');
		assert.equal(checkIncreasing(cl.messages().map((m) => m.id)), '');
	}
	// Two subscriptions on one connection keep their own positions.
	const two = await V1.open(s);
	await two.ok({ op: 'subscribe', channels: ['hs'], since: ids[10] });
	await p.publish('hs2', 'h2-0');
	const b = await two.ok({ op: 'subscribe', channels: ['hs2'], since: ids[11] });
	assert.equal(b.replayed, 1, `hs2 since the last hs message: one message to replay: ${b._raw}`);
	await two.waitMessages(3);
	await sleep(100);
	assert.deepEqual(two.messages().map((m) => m.data).sort(), ['h2-0', 'live', 'm11']);
	for (const cl of [c, e, ep, two]) cl.close();
	p.close();
});

test('errors: every code, ref echoed, and the connection carries on (ping acked after each)', T, async (t) => {
	const s = await startServer(t, { args: ['--max-message-bytes', '1k', '--max-channels', '4'] });
	const c = await V1.open(s);
	await c.ok({ op: 'subscribe', channels: ['held'] });
	await c.ok({ op: 'publish', channel: 'full1', data: 'x' });
	await c.ok({ op: 'publish', channel: 'full2', data: 'x' });
	// Channels now: held, full1, full2 (3 of 4).
	const big = 'x'.repeat(1025);
	const cases = [
		// [what, request (object or raw text), code, ref expected (undefined: not asserted)]
		['not JSON', '{bad', 'bad_json'],
		['empty frame', '', 'bad_json'],
		['an array', '[{"op":"ping"}]', 'bad_json'],
		['a string', '"ping"', 'bad_json'],
		['a number', '42', 'bad_json'],
		['null', 'null', 'bad_json'],
		['duplicate keys', '{"op":"ping","ref":1,"op":"ping"}', 'bad_json'],
		['missing op', { ref: 'no-op' }, 'bad_request', 'no-op'],
		['op not a string', { op: 5, ref: 11 }, 'bad_request', 11],
		['unknown key on ping', { op: 'ping', ref: 12, zz: 1 }, 'bad_request', 12],
		['unknown key on publish', { op: 'publish', ref: 13, channel: 'held', data: 'x', extra: true }, 'bad_request', 13],
		['since on unsubscribe', { op: 'unsubscribe', ref: 14, channels: ['held'], since: 'x' }, 'bad_request', 14],
		['subscribe without channels', { op: 'subscribe', ref: 15 }, 'bad_request', 15],
		['channels not an array', { op: 'subscribe', ref: 16, channels: 'held' }, 'bad_request', 16],
		['channels item not a string', { op: 'subscribe', ref: 17, channels: [1] }, 'bad_request', 17],
		['channels empty', { op: 'subscribe', ref: 18, channels: [] }, 'bad_request', 18],
		['65 channels', { op: 'subscribe', ref: 19, channels: Array.from({ length: 65 }, (_, i) => `c${i}`) }, 'bad_request', 19],
		['since not a string', { op: 'subscribe', ref: 20, channels: ['x1'], since: 5 }, 'bad_request', 20],
		['publish without channel', { op: 'publish', ref: 21, data: 'x' }, 'bad_request', 21],
		['publish without data', { op: 'publish', ref: 22, channel: 'held' }, 'bad_request', 22],
		['data not a string', { op: 'publish', ref: 23, channel: 'held', data: 5 }, 'bad_request', 23],
		['channel not a string', { op: 'publish', ref: 24, channel: ['held'], data: 'x' }, 'bad_request', 24],
		['event not a string', { op: 'publish', ref: 25, channel: 'held', data: 'x', event: 5 }, 'bad_request', 25],
		['binary not a boolean', { op: 'publish', ref: 26, channel: 'held', data: 'x', binary: 'yes' }, 'bad_request', 26],
		['ref a float', { op: 'ping', ref: 1.5 }, 'bad_request'],
		['ref a boolean', { op: 'ping', ref: true }, 'bad_request'],
		['ref null', { op: 'ping', ref: null }, 'bad_request'],
		['ref an object', { op: 'ping', ref: { a: 1 } }, 'bad_request'],
		['ref of 57 characters', { op: 'ping', ref: 'r'.repeat(57) }, 'bad_request'],
		['unknown op', { op: 'nope', ref: 'u1' }, 'unknown_op', 'u1'],
		['op in upper case', { op: 'PING', ref: 'u2' }, 'unknown_op', 'u2'],
		['bad channel on subscribe', { op: 'subscribe', ref: 30, channels: ['bad name'] }, 'bad_channel', 30],
		['empty channel name', { op: 'subscribe', ref: 31, channels: [''] }, 'bad_channel', 31],
		['129-byte channel name', { op: 'subscribe', ref: 32, channels: ['c'.repeat(129)] }, 'bad_channel', 32],
		['bad channel on publish', { op: 'publish', ref: 33, channel: 'a/b', data: 'x' }, 'bad_channel', 33],
		['bad channel on unsubscribe', { op: 'unsubscribe', ref: 34, channels: ['ü'] }, 'bad_channel', 34],
		['bad event', { op: 'publish', ref: 40, channel: 'held', data: 'x', event: 'bad ev' }, 'bad_event', 40],
		['empty event', { op: 'publish', ref: 41, channel: 'held', data: 'x', event: '' }, 'bad_event', 41],
		['65-byte event', { op: 'publish', ref: 42, channel: 'held', data: 'x', event: 'e'.repeat(65) }, 'bad_event', 42],
		['binary data not base64', { op: 'publish', ref: 50, channel: 'held', data: '!!!!', binary: true }, 'bad_data', 50],
		['binary data of a bad length', { op: 'publish', ref: 51, channel: 'held', data: 'AAE', binary: true }, 'bad_data', 51],
		['text over --max-message-bytes', { op: 'publish', ref: 60, channel: 'held', data: big }, 'too_large', 60],
		['binary over --max-message-bytes', { op: 'publish', ref: 61, channel: 'held', data: Buffer.alloc(1025).toString('base64'), binary: true }, 'too_large', 61],
		['not_subscribed', { op: 'unsubscribe', ref: 80, channels: ['never'] }, 'not_subscribed', 80],
		['not_subscribed, one of two', { op: 'unsubscribe', ref: 81, channels: ['held', 'never'] }, 'not_subscribed', 81],
		['already_subscribed', { op: 'subscribe', ref: 90, channels: ['held'] }, 'already_subscribed', 90],
	];
	for (const [what, req, code, ref] of cases) {
		await t.test(what, async () => {
			let a;
			if (typeof req === 'string') {
				await c.sendRaw(req);
				a = await c.answer(undefined, 5000, what);
			} else {
				await c.sendRaw(req);
				a = await c.answer('ref' in req && ref !== undefined ? req.ref : undefined, 5000, what);
			}
			assertError(a, code, ref, what);
			await c.ping(`after ${what}`);
		});
	}
	await t.test('exactly --max-message-bytes is accepted', async () => {
		const a = await c.ok({ op: 'publish', channel: 'held', data: 'y'.repeat(1024) });
		assert.match(a.id, ID_RE);
	});
	await t.test('channel_limit on publish and subscribe at --max-channels, and the metric', async () => {
		const snap = await metricsSnapshot(s);
		await c.ok({ op: 'publish', channel: 'full3', data: 'x' }); // the 4th channel
		const a = await c.request({ op: 'publish', ref: 70, channel: 'full5', data: 'x' });
		assertError(a, 'channel_limit', 70, 'publish to a 5th channel');
		const b = await c.request({ op: 'subscribe', ref: 71, channels: ['full6'] });
		assertError(b, 'channel_limit', 71, 'subscribe to a 5th channel');
		await c.ping('after channel_limit');
		const d = await snap();
		assert.equal(d.delta('crier_hub_channel_limit_total'), 2, 'crier_hub_channel_limit_total');
		await c.ok({ op: 'publish', channel: 'full1', data: 'existing channels still work' });
	});
	await t.test('a refused subscribe subscribes to nothing (all or nothing)', async () => {
		assertError(await c.request({ op: 'subscribe', ref: 'mix', channels: ['full1', 'bad name'] }), 'bad_channel', 'mix', 'mixed');
		assertError(await c.request({ op: 'subscribe', ref: 'mix2', channels: ['full2', 'held'] }), 'already_subscribed', 'mix2', 'mixed');
		const a = await c.ok({ op: 'subscribe', channels: ['full1', 'full2'] });
		assert.equal(a.replayed, 0);
		// A refused unsubscribe leaves the subscription as it was.
		assertError(await c.request({ op: 'unsubscribe', ref: 'u', channels: ['full1', 'never'] }), 'not_subscribed', 'u', 'mixed unsubscribe');
		const pa = await c.ok({ op: 'publish', channel: 'full1', data: 'still here' });
		assert.equal(pa.subscribers, 1, `full1 still subscribed after a refused unsubscribe: ${pa._raw}`);
	});
	await t.test('no error left unanswered, nothing but JSON objects', async () => {
		await c.ping('at the end');
		assert.deepEqual(c.answers, [], 'every answer was matched to a request');
		assert.deepEqual(c.nonJson, []);
		assert.equal(c.ws.closeInfo, null, 'the connection is still open');
	});
	c.close();
});

test('ordering: a client sees its own publishes in order with HTTP and other /ws publishes (ids strictly increasing)', T, async (t) => {
	const s = await startServer(t, { args: ['--history-size', '2000'] });
	const a = await V1.open(s);
	const b = await V1.open(s);
	await a.ok({ op: 'subscribe', channels: ['ord', 'ord2'] });
	await b.ok({ op: 'subscribe', channels: ['ord'] });
	const sse = await SseSub.open(s, '/sub/ord,ord2');
	await waitSubscribers(s, 'ord', 3);
	const pubs = [await Publisher.open(s), await Publisher.open(s)];
	const N = 200;
	const sent = []; // {id, ch, data}
	const run = async (who, k) => {
		for (let i = 0; i < N; i++) {
			const ch = i % 4 === 3 ? 'ord2' : 'ord';
			const data = `${who}-${i}`;
			let id;
			if (who === 'a' || who === 'b') {
				const cl = who === 'a' ? a : b;
				const ack = await cl.ok({ op: 'publish', channel: ch, data });
				id = ack.id;
			} else {
				const r = await pubs[k].publish(ch, data);
				assert.equal(r.status, 200);
				id = r.json.id;
			}
			sent.push({ id, ch, data });
		}
	};
	await Promise.all([run('a'), run('b'), run('h0', 0), run('h1', 1)]);
	sent.sort((x, y) => (parseId(x.id).seq < parseId(y.id).seq ? -1 : 1));
	const forA = sent.filter((m) => m.ch === 'ord' || m.ch === 'ord2');
	const forB = sent.filter((m) => m.ch === 'ord');
	await a.waitMessages(forA.length, 20000);
	await b.waitMessages(forB.length, 20000);
	await sse.waitEvents(forA.length, 20000);
	await sleep(200);
	const seen = (cl) => cl.messages().map((m) => `${m.id} ${m.channel} ${m.data}`);
	assert.equal(checkIncreasing(a.messages().map((m) => m.id), 'client a'), '');
	assert.equal(checkIncreasing(b.messages().map((m) => m.id), 'client b'), '');
	assert.deepEqual(seen(a), forA.map((m) => `${m.id} ${m.ch} ${m.data}`), 'client a: everything, once, in id order (its own publishes included)');
	assert.deepEqual(seen(b), forB.map((m) => `${m.id} ${m.ch} ${m.data}`), 'client b');
	assert.deepEqual(
		sse.eventList().map((e) => e.id),
		a.messages().map((m) => m.id),
		'SSE and /ws see one order'
	);
	for (const p of pubs) p.close();
	a.close();
	b.close();
	sse.close();
});

test('shutdown: /ws connections get close 1001 and the server exits 0', T, async (t) => {
	const s = await startServer(t);
	const c = await V1.open(s);
	await c.ok({ op: 'subscribe', channels: ['bye'] });
	s.signal('SIGTERM');
	const info = await c.waitClose(10000);
	assert.equal(info.code, 1001, `close ${info.code} ${JSON.stringify(info.reason)}`);
	const e = await s.waitExit(10000);
	assert.equal(e.code, 0, `exit ${JSON.stringify(e)}`);
});

test('metrics: connections_open{transport="ws"} counts /ws connections; deliveries count /ws subscribers', T, async (t) => {
	const s = await startServer(t);
	const snap = await metricsSnapshot(s);
	const base = (await snap()).value('crier_connections_open', { transport: 'ws' });
	const cls = [];
	for (let i = 0; i < 3; i++) cls.push(await V1.open(s));
	await waitMetric(s, 'crier_connections_open', { transport: 'ws' }, (v) => v === base + 3, 3000, 'with 3 /ws connections');
	for (const cl of cls) await cl.ok({ op: 'subscribe', channels: ['met'] });
	for (let i = 0; i < 5; i++) await cls[0].ok({ op: 'publish', channel: 'met', data: `m${i}` });
	for (const cl of cls) await cl.waitMessages(5);
	const d = await snap();
	assert.equal(d.delta('crier_hub_deliveries_total'), 15, '3 /ws subscribers x 5 messages');
	assert.equal(d.delta('crier_hub_published_total'), 5, 'publishes over /ws count as publishes');
	for (const cl of cls) cl.close();
	await waitMetric(s, 'crier_connections_open', { transport: 'ws' }, (v) => v === base, 3000, 'after closing them');
});
