// `crier pub` and `crier sub` (libcrier) against the real hub: ids printed
// by pub, sub over SSE, long-poll, crier.v1 (/ws) and raw WebSocket
// receiving what pub sends in order, json output, --since resume, a hub
// restart mid-stream (gap on stderr, reason epoch, then the stream
// continues), auto picking wsproto against crier and falling back through
// SSE to long-poll when the server offers neither, a WebSocket server whose
// pings must be answered and whose silence counts as death, and the exit
// codes: unreachable hub, 4xx refusal with the server's reason, bad URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { runCrier, SANITIZER_RE, startServer } from './lib/server.mjs';
import { CrierSub as Sub } from './lib/crier_sub.mjs';

const T = { timeout: 60000 };
const ID_RE = /^[0-9a-f]{8}-[1-9][0-9]*$/;

function url(s) {
	return `http://127.0.0.1:${s.port}`;
}

function noSanitizer(r) {
	assert.doesNotMatch(r.stderr, SANITIZER_RE, r.stderr);
}

async function pub(s, ch, data, extra = []) {
	const r = await runCrier(['pub', '--url', url(s), ...extra, ch, data]);
	noSanitizer(r);
	assert.equal(r.code, 0, r.stderr);
	const id = r.stdout.trim();
	assert.match(id, ID_RE);
	return id;
}

test('crier pub prints the id of DATA and of each stdin line, in order', T, async (t) => {
	const s = await startServer(t);
	const one = await pub(s, 'news', 'hello');
	const r = await runCrier(['pub', '--url', url(s), 'news'], { input: 'a\nb\n\nc\n' });
	noSanitizer(r);
	assert.equal(r.code, 0, r.stderr);
	const ids = r.stdout.trim().split('\n');
	assert.equal(ids.length, 4);
	const seqs = [one, ...ids].map((id) => Number(id.split('-')[1]));
	assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
});

for (const transport of ['sse', 'poll', 'wsproto', 'ws']) {
	test(`crier sub --transport ${transport} receives what crier pub sends, in order`, T, async (t) => {
		const s = await startServer(t);
		const seed = await pub(s, 'feed', 'seed');
		const sub = new Sub(['--url', url(s), '--transport', transport, '--since', seed, '--count', '5', '--timeout', '30', 'feed']);
		const r = await runCrier(['pub', '--url', url(s), '--event', 'tick', 'feed'], {
			input: 'm1\nm2 with spaces\nm3\nm4\nm5\n',
		});
		assert.equal(r.code, 0, r.stderr);
		const ids = r.stdout.trim().split('\n');
		const res = await sub.finish();
		assert.equal(res.code, 0, res.stderr);
		// Raw WebSocket frames carry neither the id nor the event type.
		const raw = transport === 'ws';
		const col = (i) => (raw ? '- feed message' : `${ids[i]} feed tick`);
		assert.deepEqual(res.stdout, [
			`${col(0)} m1`,
			`${col(1)} m2 with spaces`,
			`${col(2)} m3`,
			`${col(3)} m4`,
			`${col(4)} m5`,
		]);
		assert.match(res.stderr, new RegExp(`connected to .* \\(${transport}\\)`));
	});
}

test('auto picks wsproto against crier and prints messages published after it connected', T, async (t) => {
	const s = await startServer(t);
	const sub = new Sub(['--url', url(s), '--count', '2', '--timeout', '30', 'live']);
	await sub.waitFor(sub.err, /connected to .* \(wsproto\)$/);
	const a = await pub(s, 'live', 'first');
	const b = await pub(s, 'live', 'second');
	const res = await sub.finish();
	assert.equal(res.code, 0, res.stderr);
	assert.deepEqual(res.stdout, [`${a} live message first`, `${b} live message second`]);
});

test('--format json prints one parseable object per line, --since resumes exactly', T, async (t) => {
	const s = await startServer(t);
	const ids = [];
	for (let i = 0; i < 4; i++) ids.push(await pub(s, i % 2 ? 'b' : 'a', `line\n${i}`));
	const bin = await runCrier(['pub', '--url', url(s), '--binary', 'a'], { input: Buffer.from([0, 1, 2, 255]) });
	assert.equal(bin.code, 0, bin.stderr);
	for (const transport of ['sse', 'poll', 'wsproto']) {
		const r = await runCrier(
			['sub', '--url', url(s), '--transport', transport, '--format', 'json', '--since', ids[1], '--count', '3', '--timeout', '10', 'a,b'],
			{ timeoutMs: 20000 },
		);
		noSanitizer(r);
		assert.equal(r.code, 0, r.stderr);
		const objs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
		assert.deepEqual(
			objs.map((o) => [o.op, o.id, o.data, o.binary ?? false]),
			[
				['message', ids[2], 'line\n2', false],
				['message', ids[3], 'line\n3', false],
				['message', bin.stdout.trim(), Buffer.from([0, 1, 2, 255]).toString('base64'), true],
			],
			transport,
		);
		if (transport !== 'sse') assert.deepEqual(objs.map((o) => o.channel), ['a', 'b', 'a']);
	}
	// Raw WebSocket: the same messages from the same --since, binary as a
	// binary frame, but no ids and no channel (two are subscribed).
	const r = await runCrier(
		['sub', '--url', url(s), '--transport', 'ws', '--format', 'json', '--since', ids[1], '--count', '3', '--timeout', '10', 'a,b'],
		{ timeoutMs: 20000 },
	);
	noSanitizer(r);
	assert.equal(r.code, 0, r.stderr);
	assert.deepEqual(
		r.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((o) => [o.op, o.id, o.channel, o.data, o.binary ?? false]),
		[
			['message', '', null, 'line\n2', false],
			['message', '', null, 'line\n3', false],
			['message', '', null, Buffer.from([0, 1, 2, 255]).toString('base64'), true],
		],
	);
});

test('a hub restart mid-stream gives a gap (reason epoch) on stderr and the stream continues', { timeout: 90000 }, async (t) => {
	for (const transport of ['sse', 'poll', 'wsproto']) {
		const s1 = await startServer(t);
		const port = s1.port;
		const seed = await pub(s1, 'r', 'seed');
		const sub = new Sub(['--url', url(s1), '--transport', transport, '--format', 'json', '--since', seed, '--count', '3', '--timeout', '40', 'r']);
		const before = await pub(s1, 'r', 'before');
		await sub.waitFor(sub.out, /"before"/);
		await s1.stop();
		const s2 = await startServer(t, { listen: `127.0.0.1:${port}` });
		await sub.waitFor(sub.err, /connected/, 20000);
		const afterA = await pub(s2, 'r', 'after1');
		const afterB = await pub(s2, 'r', 'after2');
		const res = await sub.finish(40000);
		assert.equal(res.code, 0, res.stderr);
		assert.match(res.stderr, /gap from \S+ to \S+ \(reason epoch\)/, transport);
		const objs = res.stdout.map((l) => JSON.parse(l));
		const msgs = objs.filter((o) => o.op === 'message').map((o) => o.id);
		assert.deepEqual(msgs, [before, afterA, afterB], transport);
		const gap = objs.find((o) => o.op === 'gap');
		assert.equal(gap.reason, 'epoch');
		assert.equal(gap.from, before);
		assert.ok(objs.indexOf(gap) < objs.findIndex((o) => o.id === afterA));
		await s2.stop();
	}
});

test('auto falls back from wsproto through SSE to long-poll, saying why', T, async (t) => {
	const seen = [];
	const srv = http.createServer((req, res) => {
		seen.push(req.url);
		res.setHeader('Content-Type', 'application/json');
		const since = new URL(req.url, 'http://x').searchParams.get('since');
		const messages = since ? [] : [{ op: 'message', channel: 'c', id: '0000abcd-1', data: 'from poll' }];
		res.end(JSON.stringify({ messages, next: '0000abcd-1' }));
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	t.after(() => srv.close());
	const r = await runCrier(['sub', '--url', `http://127.0.0.1:${srv.address().port}`, '--count', '1', '--timeout', '10', 'c'], { timeoutMs: 15000 });
	noSanitizer(r);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, '0000abcd-1 c message from poll\n');
	assert.match(r.stderr, /\(poll\); wsproto unavailable: the server did not upgrade to a WebSocket \(HTTP status 200\); sse unavailable: the answer was not an event stream/);
	assert.match(seen.find((u) => u.includes('transport=poll')) ?? '', /transport=poll/);
});

test('a silent stream counts as dead after --heartbeat + margin; the reconnect resumes and skips duplicates', T, async (t) => {
	// A scripted hub: the first stream sends one event and then nothing (no
	// heartbeat comments); the second replays that event (a duplicate the
	// client must drop) and sends the next one.
	const reqs = [];
	const srv = http.createServer((req, res) => {
		reqs.push({ url: req.url, lastEventId: req.headers['last-event-id'], accept: req.headers.accept });
		res.writeHead(200, { 'Content-Type': 'text/event-stream' });
		res.write(':ok\n\nretry: 50\n\n');
		if (reqs.length === 1) res.write('id: 0000abcd-1\ndata: one\n\n');
		else res.write('id: 0000abcd-1\ndata: one\n\nid: 0000abcd-2\nevent: e\ndata: two\n\n');
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	t.after(() => {
		srv.closeAllConnections();
		srv.close();
	});
	const t0 = Date.now();
	const r = await runCrier(['sub', '--url', `http://127.0.0.1:${srv.address().port}`, '--transport', 'sse', '--heartbeat', '0.5', '--count', '2', '--timeout', '20', 'c'], { timeoutMs: 25000 });
	noSanitizer(r);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, '0000abcd-1 c message one\n0000abcd-2 c e two\n');
	assert.match(r.stderr, /silent for longer than the heartbeat \(500 ms\) plus 5000 ms; reconnecting/);
	assert.ok(Date.now() - t0 >= 5000, 'the silence limit is heartbeat + margin');
	assert.equal(reqs.length, 2);
	assert.equal(reqs[0].lastEventId, undefined);
	assert.equal(reqs[1].lastEventId, '0000abcd-1');
	assert.equal(reqs[1].accept, 'text/event-stream');
});

test('exit codes: unreachable hub, 4xx refusal (HTTP and crier.v1), bad URL', T, async (t) => {
	const s = await startServer(t);
	// A port with nothing listening: bound by --timeout, and by --max-attempts.
	const free = net.createServer();
	await new Promise((r) => free.listen(0, '127.0.0.1', r));
	const deadPort = free.address().port;
	await new Promise((r) => free.close(r));
	const t0 = Date.now();
	let r = await runCrier(['sub', '--url', `http://127.0.0.1:${deadPort}`, '--timeout', '2', 'x'], { timeoutMs: 15000 });
	assert.notEqual(r.code, 0);
	assert.ok(Date.now() - t0 < 10000);
	assert.match(r.stderr, /no connection to http:\/\/127\.0\.0\.1:\d+ within --timeout/);
	r = await runCrier(['sub', '--url', `http://127.0.0.1:${deadPort}`, '--max-attempts', '2', 'x'], { timeoutMs: 15000 });
	assert.equal(r.code, 1, r.stderr);
	assert.match(r.stderr, /cannot reach .*giving up after 2 failed attempts: connection refused/);
	r = await runCrier(['pub', '--url', `http://127.0.0.1:${deadPort}`, 'x', 'data']);
	assert.equal(r.code, 1, r.stderr);
	assert.match(r.stderr, /connection refused/);

	// The server refuses a bad channel name: its reason is printed.
	for (const transport of ['sse', 'poll']) {
		r = await runCrier(['sub', '--url', url(s), '--transport', transport, '--timeout', '10', 'bad name']);
		noSanitizer(r);
		assert.equal(r.code, 1, r.stderr);
		assert.match(r.stderr, /refused the subscription \(400\): .*channel names are 1-128 bytes/);
	}
	r = await runCrier(['pub', '--url', url(s), 'bad name', 'x']);
	noSanitizer(r);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /refused the message \(400\): .*channel names are 1-128 bytes/);

	for (const cmd of [['sub', 'x'], ['pub', 'x', 'y']]) {
		for (const u of ['nope', 'http://', 'http://host:99999', 'ftp://x']) {
			r = await runCrier([cmd[0], '--url', u, ...cmd.slice(1)]);
			assert.equal(r.code, 2, `${cmd[0]} ${u}: ${r.stderr}`);
			assert.match(r.stderr, /invalid --url/);
		}
	}
	// Over WebSocket: raw ws gets the HTTP refusal of the upgrade, crier.v1
	// the `error` answer to its subscribe.
	r = await runCrier(['sub', '--url', url(s), '--transport', 'ws', '--timeout', '10', 'bad name']);
	noSanitizer(r);
	assert.equal(r.code, 1, r.stderr);
	assert.match(r.stderr, /refused the subscription \(400\): .*channel names are 1-128 bytes/);
	r = await runCrier(['sub', '--url', url(s), '--transport', 'wsproto', '--timeout', '10', 'bad name']);
	noSanitizer(r);
	assert.equal(r.code, 1, r.stderr);
	assert.match(r.stderr, /refused the subscription \(400\): bad_channel: .*not a channel name/);
	r = await runCrier(['sub', '--url', url(s)]);
	assert.equal(r.code, 2);
	r = await runCrier(['sub', '--url', url(s), '--format', 'xml', 'x']);
	assert.equal(r.code, 2);
});

test('over wsproto: pings are answered, a silent socket counts as dead after --heartbeat + margin, the reconnect resumes, exit sends a close', { timeout: 60000 }, async (t) => {
	// A scripted crier.v1 server: the first connection acks, pings, sends
	// one message and then falls silent (no more pings); the second acks,
	// replays that message (a duplicate the client must drop) and sends the
	// next one.
	const { WebSocketServer } = await import('ws');
	const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (ps) => (ps.has('crier.v1') ? 'crier.v1' : false) });
	await new Promise((r) => wss.on('listening', r));
	t.after(() => {
		for (const c of wss.clients) c.terminate();
		wss.close();
	});
	const subs = [];
	const pongs = [];
	const closes = [];
	wss.on('connection', (ws, req) => {
		const n = subs.length;
		assert.equal(req.url, '/ws');
		assert.equal(req.headers['sec-websocket-extensions'], undefined);
		ws.on('pong', (p) => pongs.push(p.toString()));
		ws.on('close', (code) => closes.push(code));
		ws.on('message', (d) => {
			const m = JSON.parse(d.toString());
			subs.push(m);
			ws.send(JSON.stringify({ op: 'ack', ref: m.ref, replayed: n ? 1 : 0 }));
			const one = { op: 'message', channel: 'c', id: '0000abcd-1', data: 'one' };
			if (n === 0) {
				ws.ping('hello');
				setTimeout(() => ws.send(JSON.stringify(one)), 200);
			} else {
				ws.send(JSON.stringify(one));
				ws.send(JSON.stringify({ op: 'message', channel: 'c', id: '0000abcd-2', event: 'e', data: 'two' }));
			}
		});
	});
	const t0 = Date.now();
	const r = await runCrier(['sub', '--url', `http://127.0.0.1:${wss.address().port}`, '--transport', 'wsproto', '--heartbeat', '0.5', '--count', '2', '--timeout', '20', 'c'], { timeoutMs: 25000 });
	noSanitizer(r);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, '0000abcd-1 c message one\n0000abcd-2 c e two\n');
	assert.match(r.stderr, /WebSocket was silent for longer than the ping interval \(500 ms\) plus 5000 ms; reconnecting/);
	assert.ok(Date.now() - t0 >= 5000, 'the silence limit is the ping interval + margin');
	assert.deepEqual(pongs, ['hello']);
	assert.deepEqual(subs, [
		{ op: 'subscribe', ref: 1, channels: ['c'] },
		{ op: 'subscribe', ref: 1, channels: ['c'], since: '0000abcd-1' },
	]);
	for (let i = 0; i < 50 && closes.length < 2; i++) await new Promise((res) => setTimeout(res, 100));
	assert.equal(closes.at(-1), 1000, 'a normal close frame on exit');
});
