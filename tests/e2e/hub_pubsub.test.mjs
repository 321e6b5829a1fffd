// The hub's publish/subscribe surface: POST /pub/{ch}, GET /sub/{ch,...}
// over SSE and raw WebSocket, GET /channels/{ch}, validation errors,
// limits (413, 503), ordering under concurrent publishers, binary and
// multi-line payloads, heartbeats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventSource } from 'eventsource';
import { startServer } from './lib/server.mjs';
import { fetchMetrics, sample0 } from './lib/metrics.mjs';
import { closed, nextMessage, openWs, send, waitWs, wsUrl } from './lib/wsclient.mjs';
import { rawRequest } from './lib/http.mjs';
import { channelInfo, checkIncreasing, ID_RE, parseId, publish, publishOk, Publisher, SseSub } from './lib/hub.mjs';

const T = { timeout: 60000 };

/** Subscribes with SSE and waits until the hub counts the subscriber. */
async function sseSub(s, target, opts = {}) {
	const sub = await SseSub.open(s, target, opts);
	assert.equal(sub.status, 200, `GET ${target}: ${sub.head}\n${sub.body}`);
	return sub;
}

/** Waits until channel ch reports n subscribers (subscription is live). */
async function waitSubscribers(s, ch, n, timeoutMs = 3000) {
	const deadline = Date.now() + timeoutMs;
	let last;
	for (;;) {
		last = await channelInfo(s, ch);
		if (last.status === 200 && last.json.subscribers === n) return;
		if (Date.now() > deadline) throw new Error(`channel ${ch}: ${last.status} ${last.text} (waiting for ${n} subscribers)`);
		await sleep(25);
	}
}

test('publish to an SSE subscriber: response headers, preamble, id/event/data framing, publish answer', T, async (t) => {
	const s = await startServer(t);
	const sub = await sseSub(s, '/sub/news');
	assert.equal(sub.headers['content-type'], 'text/event-stream');
	assert.equal(sub.headers['cache-control'], 'no-cache');
	assert.equal(sub.headers['x-accel-buffering'], 'no');
	assert.match(sub.headers['connection'] ?? '', /^close$/i);
	assert.equal(sub.headers['content-length'], undefined, 'an SSE stream has no Content-Length');
	assert.equal(sub.headers['transfer-encoding'], undefined, 'the SSE stream is close-delimited, not chunked');
	await waitSubscribers(s, 'news', 1);

	const r1 = await publish(s, 'news', 'hello');
	assert.equal(r1.status, 200, r1.text);
	assert.match(r1.head, /\r\ncontent-type: application\/json/i);
	assert.deepEqual(Object.keys(r1.json).sort(), ['channel', 'id', 'subscribers']);
	assert.equal(r1.json.channel, 'news');
	assert.equal(r1.json.subscribers, 1);
	assert.match(r1.json.id, ID_RE);
	const r2 = await publish(s, 'news', 'second', { event: 'update' });
	const r3 = await publish(s, 'news', 'third', { xEvent: 'a.b:c@d-e_F9' });
	assert.equal(r2.status, 200, r2.text);
	assert.equal(r3.status, 200, r3.text);
	assert.equal(checkIncreasing([r1.json.id, r2.json.id, r3.json.id]), '');
	await sub.waitEvents(3);

	const raw = sub.items;
	// The stream begins ":ok\n\nretry: 2000\n\n".
	assert.deepEqual(raw.slice(0, 2), [
		{ type: 'comment', text: 'ok' },
		{ type: 'retry', ms: 2000 },
	]);
	const evs = sub.eventList();
	assert.deepEqual(
		evs.map((e) => [e.id, e.event, e.data]),
		[
			[r1.json.id, undefined, 'hello'],
			[r2.json.id, 'update', 'second'],
			[r3.json.id, 'a.b:c@d-e_F9', 'third'],
		]
	);
	sub.close();
});

test('the SSE stream bytes are exactly as specified (preamble, id line first, --sse-retry)', T, async (t) => {
	const s = await startServer(t, { args: ['--sse-retry', '750ms'] });
	const sock = await s.connect();
	await sock.write(rawRequest('GET', '/sub/x', { host: `127.0.0.1:${s.port}`, headers: ['Accept: text/event-stream'] }));
	await sock.waitFor(() => sock.buf.indexOf('\r\n\r\n') >= 0, 3000, 'SSE head');
	await waitSubscribers(s, 'x', 1);
	const id = await publishOk(s, 'x', 'l1', { event: 'ev' });
	const expected = `:ok\n\nretry: 750\n\nid: ${id}\nevent: ev\ndata: l1\n\n`;
	await sock.waitFor(() => sock.buf.length - sock.buf.indexOf('\r\n\r\n') - 4 >= expected.length, 3000, 'one event');
	const body = sock.buf.subarray(sock.buf.indexOf('\r\n\r\n') + 4).toString('utf8');
	assert.equal(body, expected);
	sock.destroy();
});

test('transport negotiation: Accept: text/event-stream or ?transport=sse -> SSE; Upgrade -> WebSocket; anything else -> long-poll', T, async (t) => {
	const s = await startServer(t, { args: ['--poll-timeout', '200ms'] });
	for (const [target, headers] of [
		['/sub/n1', ['Accept: text/event-stream']],
		['/sub/n1', ['Accept: text/html, text/event-stream;q=0.9']],
		['/sub/n1?transport=sse', ['Accept: text/html']],
	]) {
		const sub = await sseSub(s, target, { headers });
		assert.equal(sub.headers['content-type'], 'text/event-stream', `${target} ${headers}`);
		await sub.waitFor(() => sub.items.length >= 2, 3000, 'the preamble');
		sub.close();
	}
	for (const [target, headers] of [
		['/sub/n1', {}],
		['/sub/n1', { Accept: 'application/json' }],
		['/sub/n1', { Accept: '*/*' }],
		['/sub/n1?transport=poll', { Accept: 'text/event-stream' }],
	]) {
		const r = await fetch(`http://127.0.0.1:${s.port}${target}`, { headers, signal: AbortSignal.timeout(5000) });
		assert.equal(r.status, 200, `${target} ${JSON.stringify(headers)}`);
		assert.match(r.headers.get('content-type') ?? '', /application\/json/);
		const body = await r.json();
		assert.deepEqual(body.messages, []);
		assert.match(body.next, /^[0-9a-f]{8}-0$/);
	}
	const { ws, upgrade } = await openWs(wsUrl(s, '/sub/n1'));
	assert.equal(upgrade.statusCode, 101);
	ws.close(1000);
	await closed(ws);
});

test('WebSocket subscriber: one text frame per message, no envelope; what the client sends is ignored', T, async (t) => {
	const s = await startServer(t);
	for (const perMessageDeflate of [true, false]) {
		const { ws, upgrade } = await openWs(wsUrl(s, '/sub/room'), { perMessageDeflate });
		if (perMessageDeflate) assert.match(upgrade.headers['sec-websocket-extensions'] ?? '', /permessage-deflate/);
		await waitSubscribers(s, 'room', 1);
		await send(ws, 'client chatter is ignored');
		await send(ws, Buffer.from([1, 2, 3]), { binary: true });
		const long = 'x'.repeat(70000);
		const id = await publishOk(s, 'room', '{"a":1}', { event: 'json' });
		await publishOk(s, 'room', long);
		await publishOk(s, 'room', 'ünïcödé ✓');
		const m1 = await nextMessage(ws);
		const m2 = await nextMessage(ws);
		const m3 = await nextMessage(ws);
		assert.equal(m1.isBinary, false);
		assert.equal(m1.data.toString(), '{"a":1}');
		assert.equal(m2.data.toString(), long);
		assert.equal(m3.data.toString(), 'ünïcödé ✓');
		assert.match(id, ID_RE);
		await sleep(200);
		assert.equal(ws.inbox.length, 0, 'nothing else (no echo of what the client sent)');
		assert.equal(ws.closeInfo, null);
		ws.close(1000);
		await closed(ws);
		await waitSubscribers(s, 'room', 0);
	}
});

test('validation: channel names, event names, UTF-8, body size; errors publish nothing', T, async (t) => {
	const s = await startServer(t, { args: ['--max-message-bytes', '1KiB'] });
	await publishOk(s, 'ok', 'first');
	const pub = await Publisher.open(s);
	const bad = async (ch, body, opts, status, re) => {
		const r = await pub.publish(ch, body, opts);
		assert.equal(r.status, status, `POST /pub/${ch} ${JSON.stringify(opts)}: ${r.status} ${r.text}`);
		if (re) assert.match(r.text, re, `POST /pub/${ch}: message ${JSON.stringify(r.text)}`);
		return r;
	};
	const allowed = /A-Z|a-z|0-9|\[A-Za-z0-9/;
	for (const ch of ['a%20b', 'a!b', 'caf%C3%A9', 'x'.repeat(129), 'a%2Fb', '%00']) {
		const r = await pub.publish(ch, 'x').catch((e) => ({ status: 'error', text: e.message }));
		assert.equal(r.status, 400, `POST /pub/${ch}: ${r.status} ${r.text}`);
		assert.match(r.text, allowed, `400 for ${ch} should say what is allowed: ${r.text}`);
		if (pub.closed) break;
	}
	const p2 = await Publisher.open(s);
	// 128 bytes is fine.
	await publishOk(p2, 'y'.repeat(128), 'x');
	await publishOk(p2, 'A-z_0.9:@', 'x');
	// Event names: 1..64 of [A-Za-z0-9_.:@-].
	const evBad = async (opts) => {
		const r = await p2.publish('ok', 'x', opts);
		assert.equal(r.status, 400, `event ${JSON.stringify(opts)}: ${r.status} ${r.text}`);
	};
	await evBad({ event: 'e'.repeat(65) });
	await evBad({ event: 'a b' });
	await evBad({ event: 'a\nb' });
	await evBad({ xEvent: 'with space' });
	await evBad({ xEvent: 'e'.repeat(65) });
	await evBad({ xEvent: 'é' });
	await publishOk(p2, 'ok', 'x', { event: 'e'.repeat(64) });
	// Invalid UTF-8 in a text message: 400; the same bytes as binary: 200.
	for (const b of [Buffer.from([0xff, 0xfe]), Buffer.from([0x61, 0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc0, 0xaf])]) {
		const r = await p2.publish('ok', b);
		assert.equal(r.status, 400, `invalid UTF-8 ${b.toString('hex')}: ${r.status} ${r.text}`);
		const r2 = await p2.publish('ok', b, { contentType: 'application/octet-stream' });
		assert.equal(r2.status, 200, `binary ${b.toString('hex')}: ${r2.status} ${r2.text}`);
	}
	// --max-message-bytes 1KiB.
	await publishOk(p2, 'ok', 'z'.repeat(1024));
	const big = await p2.publish('ok', 'z'.repeat(1025)).catch((e) => ({ status: 'error', text: e.message }));
	assert.equal(big.status, 413, `1025-byte message: ${big.status} ${big.text}`);
	const info = await channelInfo(s, 'ok');
	assert.equal(info.status, 200);
	// first + 64-byte-event message + 4 binaries + 1 KiB message.
	assert.equal(info.json.published, 7, `errors must not publish: ${info.text}`);
	// Subscribing with bad names is refused the same way.
	for (const target of ['/sub/a%20b', '/sub/a,,b', `/sub/${'x'.repeat(129)}`, '/sub/ok,bad!']) {
		const r = await s.request(rawRequest('GET', target, { headers: ['Connection: close'] }));
		assert.equal(r.status, 400, `GET ${target}: ${r.status} ${r.text}`);
		assert.match(r.text, allowed, `GET ${target}: ${r.text}`);
	}
	const many = Array.from({ length: 65 }, (_, i) => `c${i}`).join(',');
	const r65 = await s.request(rawRequest('GET', `/sub/${many}`, { headers: ['Connection: close'] }));
	assert.equal(r65.status, 400, `65 channels: ${r65.status} ${r65.text}`);
	pub.close();
	p2.close();
});

test('GET /channels/{ch}: JSON fields; 404 for an unknown channel; history bounded by --history-size', T, async (t) => {
	const s = await startServer(t, { args: ['--history-size', '3'] });
	const u = await channelInfo(s, 'nope');
	assert.equal(u.status, 404, u.text);
	const sub = await sseSub(s, '/sub/info');
	await waitSubscribers(s, 'info', 1);
	const e = await channelInfo(s, 'info');
	assert.deepEqual(e.json, { channel: 'info', subscribers: 1, published: 0, last_id: null, history: { length: 0, bytes: 0 } });
	assert.match(e.response.headers['content-type'], /^application\/json/);
	const payloads = ['a', 'bb', 'ccc', 'dddd', 'eeeee'];
	let id;
	for (const p of payloads) id = await publishOk(s, 'info', p);
	const i = await channelInfo(s, 'info');
	assert.deepEqual(i.json, { channel: 'info', subscribers: 1, published: 5, last_id: id, history: { length: 3, bytes: 3 + 4 + 5 } });
	sub.close();
	await waitSubscribers(s, 'info', 0);
});

test('--max-channels: a publish that would create one more channel gets 503; existing channels work', T, async (t) => {
	const s = await startServer(t, { args: ['--max-channels', '3'] });
	await publishOk(s, 'c1', 'x');
	await publishOk(s, 'c2', 'x');
	const sub = await sseSub(s, '/sub/c3');
	const r = await publish(s, 'c4', 'x');
	assert.equal(r.status, 503, `4th channel by publish: ${r.status} ${r.text}`);
	assert.equal((await channelInfo(s, 'c4')).status, 404);
	await publishOk(s, 'c3', 'still works');
	await sub.waitEvents(1);
	await publishOk(s, 'c1', 'x');
	const { parsed } = await fetchMetrics(s);
	assert.equal(sample0(parsed, 'crier_hub_channels'), 3);
	assert.equal(sample0(parsed, 'crier_hub_channel_limit_total'), 1);
	sub.close();
});

test('--max-channels: a subscription (SSE or WebSocket) that would create one more channel gets 503', T, async (t) => {
	const s = await startServer(t, { args: ['--max-channels', '2'] });
	await publishOk(s, 'c1', 'x');
	await publishOk(s, 'c2', 'x');
	const r2 = await s.request(rawRequest('GET', '/sub/c5', { headers: ['Connection: close'] }));
	assert.equal(r2.status, 503, `3rd channel by an SSE subscribe: ${r2.status} ${JSON.stringify(r2.text)}`);
	const r3 = await s.request(rawRequest('GET', '/sub/c1,c6', { headers: ['Connection: close'] }));
	assert.equal(r3.status, 503, `subscribe to an existing and a new channel: ${r3.status} ${JSON.stringify(r3.text)}`);
	let wsErr = null;
	try {
		const { ws } = await openWs(wsUrl(s, '/sub/c7'));
		const c = await closed(ws);
		wsErr = { status: 101, close: c };
	} catch (e) {
		wsErr = { status: e.status, message: e.message };
	}
	assert.equal(wsErr.status, 503, `a WebSocket subscription creating a 3rd channel: ${JSON.stringify(wsErr)}`);
	const { parsed } = await fetchMetrics(s);
	assert.equal(sample0(parsed, 'crier_hub_channels'), 2);
	assert.equal(sample0(parsed, 'crier_hub_channel_limit_total'), 3);
});

test('50 channels on one SSE connection and one WebSocket: every message, ids increasing', T, async (t) => {
	const s = await startServer(t);
	const chans = Array.from({ length: 50 }, (_, i) => `multi-${i}`);
	const sse = await sseSub(s, `/sub/${chans.join(',')}`);
	const { ws } = await openWs(wsUrl(s, `/sub/${chans.join(',')}`));
	await waitSubscribers(s, chans[49], 2);
	await waitSubscribers(s, chans[0], 2);
	const pub = await Publisher.open(s);
	const ids = [];
	// Each channel twice, in a shuffled order.
	const order = [...chans, ...chans].map((c, i) => [c, (i * 37) % 100]).sort((a, b) => a[1] - b[1]);
	for (const [c, k] of order) {
		const r = await pub.publish(c, `${c}/${k}`);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.subscribers, 2);
		ids.push(r.json.id);
	}
	await sse.waitEvents(100);
	await waitWs(ws, (w) => w.inbox.length >= 100, 5000, '100 WebSocket messages');
	const evs = sse.eventList();
	assert.deepEqual(
		evs.map((e) => e.id),
		ids
	);
	assert.deepEqual(
		evs.map((e) => e.data),
		order.map(([c, k]) => `${c}/${k}`)
	);
	assert.deepEqual(
		ws.inbox.map((m) => m.data.toString()),
		order.map(([c, k]) => `${c}/${k}`)
	);
	// Exactly 64 channels is allowed.
	const c64 = Array.from({ length: 64 }, (_, i) => `k${i}`).join(',');
	const s64 = await sseSub(s, `/sub/${c64}`);
	await waitSubscribers(s, 'k63', 1);
	await publishOk(pub, 'k63', 'last');
	await s64.waitEvents(1);
	pub.close();
	sse.close();
	s64.close();
	ws.close(1000);
});

test('concurrent publishers on several keep-alive connections: each subscriber gets every message, ids strictly increasing', T, async (t) => {
	const s = await startServer(t);
	const chans = ['o1', 'o2', 'o3', 'o4', 'o5'];
	const all = chans.join(',');
	const sses = [await sseSub(s, `/sub/${all}`), await sseSub(s, `/sub/o1,o3,o5`)];
	const wss = [(await openWs(wsUrl(s, `/sub/${all}`))).ws, (await openWs(wsUrl(s, `/sub/o2,o4`), { perMessageDeflate: false })).ws];
	for (const c of chans) await waitSubscribers(s, c, 3);
	const P = 4;
	const N = 250;
	const pubs = await Promise.all(Array.from({ length: P }, () => Publisher.open(s)));
	const published = []; // {id, ch, data}
	await Promise.all(
		pubs.map(async (p, pi) => {
			// Pipelined in windows of 10 so the publishers really interleave.
			for (let i = 0; i < N; i += 10) {
				const batch = [];
				for (let j = i; j < i + 10; j++) {
					const ch = chans[(pi * 7 + j * 3) % 5];
					const data = `p${pi}-${j}`;
					batch.push(p.publish(ch, data).then((r) => {
						assert.equal(r.status, 200, r.text);
						published.push({ id: r.json.id, ch, data });
					}));
				}
				await Promise.all(batch);
			}
		})
	);
	published.sort((a, b) => (parseId(a.id).seq < parseId(b.id).seq ? -1 : 1));
	const expectFor = (set) => published.filter((m) => set.includes(m.ch));
	// Ids of one publisher's messages increase in its send order.
	for (let pi = 0; pi < P; pi++) {
		const mine = published.filter((m) => m.data.startsWith(`p${pi}-`)).map((m) => Number(m.data.split('-')[1]));
		assert.deepEqual(mine, [...mine].sort((a, b) => a - b), `publisher ${pi}'s messages got ids out of its send order`);
	}
	const sets = [chans, ['o1', 'o3', 'o5']];
	for (let k = 0; k < 2; k++) {
		const exp = expectFor(sets[k]);
		await sses[k].waitEvents(exp.length, 10000);
		const evs = sses[k].eventList();
		assert.equal(checkIncreasing(evs.map((e) => e.id), `SSE subscriber ${k}`), '');
		assert.deepEqual(
			evs.map((e) => `${e.id} ${e.data}`),
			exp.map((m) => `${m.id} ${m.data}`),
			`SSE subscriber ${k}`
		);
	}
	const wsets = [chans, ['o2', 'o4']];
	for (let k = 0; k < 2; k++) {
		const exp = expectFor(wsets[k]);
		await waitWs(wss[k], (w) => w.inbox.length >= exp.length, 10000, `${exp.length} messages on WebSocket ${k}`);
		assert.deepEqual(
			wss[k].inbox.map((m) => m.data.toString()),
			exp.map((m) => m.data),
			`WebSocket subscriber ${k} (in id order)`
		);
	}
	await sleep(200);
	assert.equal(sses[0].events, P * N, 'no duplicates');
	for (const p of pubs) p.close();
	for (const x of sses) x.close();
	for (const w of wss) w.close(1000);
});

test('binary messages: SSE event crier.binary with base64 data; WebSocket binary frame', T, async (t) => {
	const s = await startServer(t);
	const sse = await sseSub(s, '/sub/bin');
	const { ws } = await openWs(wsUrl(s, '/sub/bin'));
	const { ws: ws2 } = await openWs(wsUrl(s, '/sub/bin'), { perMessageDeflate: false });
	await waitSubscribers(s, 'bin', 3);
	const blobs = [Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 10, 13]), Buffer.alloc(0), Buffer.from('plain ascii\n'), Buffer.alloc(100000, 0xab)];
	const ids = [];
	for (const b of blobs) ids.push(await publishOk(s, 'bin', b, { contentType: 'application/octet-stream' }));
	// A binary message keeps its own event name? The contract: event crier.binary.
	await sse.waitEvents(blobs.length);
	const evs = sse.eventList();
	for (let i = 0; i < blobs.length; i++) {
		assert.equal(evs[i].id, ids[i]);
		assert.equal(evs[i].event, 'crier.binary', `binary message ${i}: event ${evs[i].event}`);
		assert.equal(evs[i].data, blobs[i].toString('base64'), `binary message ${i} base64`);
		assert.ok(Buffer.from(evs[i].data, 'base64').equals(blobs[i]));
	}
	for (const w of [ws, ws2]) {
		await waitWs(w, (x) => x.inbox.length >= blobs.length, 5000, 'binary WebSocket messages');
		for (let i = 0; i < blobs.length; i++) {
			assert.equal(w.inbox[i].isBinary, true, `message ${i} should be a binary frame`);
			assert.ok(w.inbox[i].data.equals(blobs[i]), `message ${i} bytes differ`);
		}
		w.close(1000);
	}
	sse.close();
});

test('multi-line payloads (CR, LF, CRLF): one data line per line; the eventsource client sees LF-normalised data', T, async (t) => {
	const s = await startServer(t);
	const payloads = [
		'a\nb',
		'a\r\nb',
		'a\rb',
		'one\r\ntwo\rthree\nfour',
		'trailing\n',
		'\nleading',
		'blank\n\nline',
		'cr-lf-pair\r\n\r\nend',
		'data: looks like a field\nid: 0\nevent: x',
		': not a comment',
		'x',
	];
	const got = [];
	const es = new EventSource(`http://127.0.0.1:${s.port}/sub/ml`);
	t.after(() => es.close());
	const opened = new Promise((resolve, reject) => {
		es.onopen = resolve;
		setTimeout(() => reject(new Error('eventsource did not open in 5 s')), 5000);
	});
	es.addEventListener('message', (e) => got.push({ data: e.data, id: e.lastEventId, type: e.type }));
	es.addEventListener('multi', (e) => got.push({ data: e.data, id: e.lastEventId, type: e.type }));
	await opened;
	const sse = await sseSub(s, '/sub/ml');
	await waitSubscribers(s, 'ml', 2);
	const ids = [];
	for (let i = 0; i < payloads.length; i++) ids.push(await publishOk(s, 'ml', payloads[i], i % 2 ? { event: 'multi' } : {}));
	const deadline = Date.now() + 5000;
	while (got.length < payloads.length && Date.now() < deadline) await sleep(20);
	const norm = (p) => p.replace(/\r\n|\r/g, '\n');
	assert.deepEqual(
		got.map((g) => g.data),
		payloads.map(norm)
	);
	assert.deepEqual(
		got.map((g) => g.id),
		ids
	);
	assert.deepEqual(
		got.map((g) => g.type),
		payloads.map((_, i) => (i % 2 ? 'multi' : 'message'))
	);
	// On the wire: one data line per line of the payload.
	await sse.waitEvents(payloads.length);
	const evs = sse.eventList();
	for (let i = 0; i < payloads.length; i++) {
		assert.deepEqual(evs[i].lines, payloads[i].split(/\r\n|\r|\n/), `data lines of payload ${i}`);
	}
	sse.close();
});

test('an empty payload is delivered (one empty data line), not dropped', T, async (t) => {
	const s = await startServer(t);
	const got = [];
	const es = new EventSource(`http://127.0.0.1:${s.port}/sub/empty`);
	t.after(() => es.close());
	es.onmessage = (e) => got.push(e.data);
	const { ws } = await openWs(wsUrl(s, '/sub/empty'));
	await waitSubscribers(s, 'empty', 2);
	await publishOk(s, 'empty', '');
	await publishOk(s, 'empty', 'after');
	const deadline = Date.now() + 3000;
	while (got.length < 2 && Date.now() < deadline) await sleep(20);
	assert.deepEqual(got, ['', 'after']);
	assert.equal((await nextMessage(ws)).data.length, 0);
	assert.equal((await nextMessage(ws)).data.toString(), 'after');
	ws.close(1000);
});

test('SSE heartbeat comments arrive every --sse-heartbeat', T, async (t) => {
	const s = await startServer(t, { args: ['--sse-heartbeat', '300ms'] });
	const sub = await sseSub(s, '/sub/hb');
	const t0 = Date.now();
	await sleep(2000);
	const hb = sub.items.filter((x) => x.type === 'comment' && x.text === '').length;
	assert.ok(hb >= 4 && hb <= 9, `${hb} heartbeat comments in ${Date.now() - t0} ms at a 300 ms interval`);
	// Heartbeats are bare ':' lines, nothing an EventSource would dispatch.
	assert.equal(sub.events, 0);
	sub.close();
});
