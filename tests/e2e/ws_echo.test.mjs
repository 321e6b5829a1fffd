// GET /echo with independent clients: the `ws` npm client (with and
// without permessage-deflate), our raw client for byte-level fragment
// splits, and Python `websockets`. Echo sizes across every length
// encoding up to the 1 MiB message limit, fragmentation, ping/pong, the
// closing handshake, compression on the wire, and the message metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer } from './lib/server.mjs';
import { deflateMessage, encodeFrame, OP, WsRaw } from './lib/wsraw.mjs';
import { closed, echo, metricsSnapshot, nextMessage, openWs, runPython, send, waitMetric, waitWs, wsUrl } from './lib/wsclient.mjs';

const T = { timeout: 60000 };
const MiB = 1 << 20;
const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, MiB];

function asciiText(n) {
	const a = 'abcdefghijklmnopqrstuvwxyz0123456789 {}[]":,';
	let s = '';
	while (s.length < n) s += a;
	return s.slice(0, n);
}

for (const deflate of [false, true]) {
	test(`node ws echo, text and binary, sizes 0..1MiB, perMessageDeflate=${deflate}`, T, async (t) => {
		const s = await startServer(t, { args: ['--echo'] });
		const { ws, upgrade } = await openWs(wsUrl(s), { perMessageDeflate: deflate });
		if (deflate) assert.match(upgrade.headers['sec-websocket-extensions'] ?? '', /permessage-deflate/);
		else assert.equal(upgrade.headers['sec-websocket-extensions'], undefined);
		const snap = await metricsSnapshot(s);
		let n = 0;
		for (const size of SIZES) {
			const text = asciiText(size);
			let m = await echo(ws, text);
			assert.equal(m.isBinary, false, `text ${size}: came back binary`);
			assert.equal(m.data.length, size, `text ${size}: echo length`);
			assert.ok(m.data.toString('utf8') === text, `text ${size}: echo differs`);
			const bin = crypto.randomBytes(size);
			m = await echo(ws, bin);
			assert.equal(m.isBinary, true, `binary ${size}: came back text`);
			assert.ok(m.data.equals(bin), `binary ${size}: echo differs (got ${m.data.length} bytes)`);
			n += 2;
		}
		// Multi-byte UTF-8 survives as text.
		const intl = 'héllo wörld — 🦀🎉 日本語のテキスト 中文 한국어 '.repeat(100);
		const m = await echo(ws, intl);
		assert.equal(m.isBinary, false);
		assert.equal(m.data.toString('utf8'), intl);
		n++;
		const d = await snap();
		assert.equal(d.delta('crier_ws_messages_total', { direction: 'in' }), n, 'messages in');
		assert.equal(d.delta('crier_ws_messages_total', { direction: 'out' }), n, 'messages out');
		ws.close(1000, 'bye');
		const c = await closed(ws);
		assert.equal(c.code, 1000);
	});

	test(`node ws fragmented sends come back as one message, perMessageDeflate=${deflate}`, T, async (t) => {
		const s = await startServer(t, { args: ['--echo'] });
		const { ws } = await openWs(wsUrl(s), { perMessageDeflate: deflate });
		// Text in three fragments (ws sends each piece as one frame).
		const parts = ['first part, ', 'sécond pärt, ', 'third 🦀 part'];
		await send(ws, parts[0], { fin: false });
		await send(ws, parts[1], { fin: false });
		await send(ws, parts[2], { fin: true });
		let m = await nextMessage(ws);
		assert.equal(m.isBinary, false);
		assert.equal(m.data.toString('utf8'), parts.join(''));
		// Binary: many fragments, including empty ones and a large one.
		const bparts = [crypto.randomBytes(10), Buffer.alloc(0), crypto.randomBytes(70000), Buffer.alloc(0), crypto.randomBytes(3)];
		for (let i = 0; i < bparts.length; i++) {
			await send(ws, bparts[i], { binary: true, fin: i === bparts.length - 1 });
		}
		m = await nextMessage(ws);
		assert.equal(m.isBinary, true);
		assert.ok(m.data.equals(Buffer.concat(bparts)), `fragmented binary echo differs (got ${m.data.length} bytes)`);
		// A ping between fragments is answered at once and does not break the message.
		await send(ws, 'before ping ', { fin: false });
		ws.ping(Buffer.from('mid'));
		await waitWs(ws, (w) => w.pongs.length >= 1, 3000, 'the pong to a ping between fragments');
		await send(ws, 'after ping', { fin: true });
		m = await nextMessage(ws);
		assert.equal(m.data.toString(), 'before ping after ping');
		// 1 MiB exactly, in 16 fragments: the limit counts the whole message.
		const big = crypto.randomBytes(MiB);
		for (let i = 0; i < 16; i++) {
			await send(ws, big.subarray(i * 65536, (i + 1) * 65536), { binary: true, fin: i === 15 });
		}
		m = await nextMessage(ws, 10000);
		assert.ok(m.data.equals(big), 'fragmented 1 MiB echo');
		ws.close(1000);
		assert.equal((await closed(ws)).code, 1000);
	});
}

test('text split across fragments inside multi-byte characters (raw client, every split point)', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const ws = await WsRaw.open(s);
	const text = 'a€🦀中é🎉z';
	const bytes = Buffer.from(text, 'utf8');
	for (let i = 1; i < bytes.length; i++) {
		await ws.write(
			Buffer.concat([
				encodeFrame({ opcode: OP.TEXT, payload: bytes.subarray(0, i), fin: false }),
				encodeFrame({ opcode: OP.CONT, payload: bytes.subarray(i), fin: true }),
			])
		);
		const m = await ws.readMessage();
		assert.equal(m.opcode, OP.TEXT);
		assert.equal(m.data.toString('utf8'), text, `split at byte ${i}`);
	}
	// One byte per fragment, each in its own write.
	await ws.sendFrame({ opcode: OP.TEXT, payload: bytes.subarray(0, 1), fin: false });
	for (let i = 1; i < bytes.length; i++) {
		await ws.sendFrame({ opcode: OP.CONT, payload: bytes.subarray(i, i + 1), fin: i === bytes.length - 1 });
	}
	const m = await ws.readMessage();
	assert.equal(m.data.toString('utf8'), text, 'one byte per fragment');
	// A frame header and payload dribbled one byte per write.
	const frame = encodeFrame({ opcode: OP.TEXT, payload: '🦀 dribbled' });
	await ws.conn.writeSlowly(frame, { delayMs: 5, chunk: 1 });
	assert.equal((await ws.readMessage()).data.toString('utf8'), '🦀 dribbled');
	// Lengths in non-minimal encodings are accepted (RFC 6455 does not require minimal).
	await ws.sendFrame({ opcode: OP.TEXT, payload: 'short in 16 bits', lenBytes: 2 });
	assert.equal((await ws.readMessage()).data.toString(), 'short in 16 bits');
	await ws.sendFrame({ opcode: OP.BINARY, payload: Buffer.from('short in 64 bits'), lenBytes: 8 });
	assert.equal((await ws.readMessage()).data.toString(), 'short in 64 bits');
	await ws.sendClose(1000, 'done');
	assert.equal((await ws.readClose()).code, 1000);
	await ws.waitTcpClose();
	ws.destroy();
});

test('raw client with permessage-deflate: compressed messages, fragmented compressed message, server compresses its echo', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const ws = await WsRaw.open(s, { extensions: 'permessage-deflate; client_max_window_bits' });
	assert.match(ws.response.headers['sec-websocket-extensions'] ?? '', /permessage-deflate/);
	const text = JSON.stringify({ hello: 'world', list: Array.from({ length: 200 }, (_, i) => i) });
	await ws.sendFrame({ opcode: OP.TEXT, payload: deflateMessage(text), rsv1: true });
	let m = await ws.readMessage();
	assert.equal(m.data.toString(), text);
	assert.equal(m.compressed, true, 'the server compresses a compressible echo');
	// A compressed message split across three frames: RSV1 only on the first.
	const z = deflateMessage(text.repeat(3));
	const a = Math.floor(z.length / 3);
	await ws.write(
		Buffer.concat([
			encodeFrame({ opcode: OP.TEXT, payload: z.subarray(0, a), rsv1: true, fin: false }),
			encodeFrame({ opcode: OP.CONT, payload: z.subarray(a, 2 * a), fin: false }),
			encodeFrame({ opcode: OP.CONT, payload: z.subarray(2 * a), fin: true }),
		])
	);
	m = await ws.readMessage();
	assert.equal(m.data.toString(), text.repeat(3));
	// Uncompressed messages are still fine on a deflate connection.
	await ws.sendText('plain');
	m = await ws.readMessage();
	assert.equal(m.data.toString(), 'plain');
	// A compressed empty message.
	await ws.sendFrame({ opcode: OP.BINARY, payload: deflateMessage(Buffer.alloc(0)), rsv1: true });
	m = await ws.readMessage();
	assert.equal(m.opcode, OP.BINARY);
	assert.equal(m.data.length, 0);
	// Each message is independent (no context takeover): the same text twice
	// decodes on its own both times.
	for (let i = 0; i < 2; i++) {
		await ws.sendFrame({ opcode: OP.TEXT, payload: deflateMessage(text), rsv1: true });
		m = await ws.readMessage();
		assert.equal(m.data.toString(), text);
	}
	await ws.sendClose(1000);
	assert.equal((await ws.readClose()).code, 1000);
	ws.destroy();
});

test('compression on the wire: 1 MiB of JSON echoes with far fewer bytes sent', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const { ws } = await openWs(wsUrl(s), { perMessageDeflate: true });
	const unit = JSON.stringify({ id: 12345, channel: 'news', data: { title: 'hello', body: 'the same body again' } }) + '\n';
	let payload = unit.repeat(Math.floor(MiB / unit.length));
	payload += ' '.repeat(MiB - payload.length); // exactly 1 MiB, the default limit
	assert.equal(Buffer.byteLength(payload), MiB);
	const snap = await metricsSnapshot(s);
	const m = await echo(ws, payload);
	assert.equal(m.data.length, MiB);
	assert.ok(m.data.toString() === payload, 'compressed echo differs');
	const d = await snap();
	const sent = d.delta('crier_bytes_sent_total');
	assert.ok(sent < MiB / 4, `crier_bytes_sent_total grew by ${sent} for a 1 MiB compressible echo (expected < ${MiB / 4})`);
	ws.close(1000);
	await closed(ws);
});

test('ping with payload gets a pong with the same payload', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const { ws } = await openWs(wsUrl(s), { perMessageDeflate: false });
	for (const p of [Buffer.alloc(0), Buffer.from('ping-123'), crypto.randomBytes(125)]) {
		const before = ws.pongs.length;
		ws.ping(p);
		await waitWs(ws, (w) => w.pongs.length > before, 3000, `pong for a ${p.length}-byte ping`);
		assert.ok(ws.pongs[before].equals(p), `pong payload differs for a ${p.length}-byte ping`);
	}
	// Unsolicited pongs are ignored (no answer, no close).
	ws.pong(Buffer.from('unsolicited'));
	const m = await echo(ws, 'still here');
	assert.equal(m.data.toString(), 'still here');
	ws.close(1000);
	await closed(ws);
});

test('closing handshake: codes and reasons echoed, no-payload close, close-frame metrics', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const snap = await metricsSnapshot(s);
	const cases = [
		[1000, 'bye', 1000],
		[1001, 'going', 1001],
		[3000, 'app', 3000],
		[4999, 'max', 4999],
		[4001, '', 4001],
		[undefined, undefined, 1005],
	];
	for (const [code, reason, want] of cases) {
		const { ws } = await openWs(wsUrl(s));
		const t0 = Date.now();
		if (code === undefined) ws.close();
		else ws.close(code, reason);
		const c = await closed(ws, 5000);
		assert.equal(c.code, want, `client close ${code}: server answered ${c.code}`);
		assert.ok(Date.now() - t0 < 2000, `close ${code} took ${Date.now() - t0} ms`);
	}
	// The raw client sees the exact server close frame: the code is echoed,
	// and an empty close is answered with an empty close.
	let ws = await WsRaw.open(s);
	await ws.sendClose(3000, 'x');
	let c = await ws.readClose();
	assert.equal(c.code, 3000);
	await ws.waitTcpClose();
	ws.destroy();
	ws = await WsRaw.open(s);
	await ws.sendFrame({ opcode: OP.CLOSE, payload: Buffer.alloc(0) });
	c = await ws.readClose();
	assert.equal(c.payload.length, 0, `empty close answered with ${c.payload.length} bytes (code ${c.code})`);
	await ws.waitTcpClose();
	ws.destroy();

	const d = await snap();
	const recv = (code) => d.delta('crier_ws_close_frames_total', { direction: 'received', code });
	const sent = (code) => d.delta('crier_ws_close_frames_total', { direction: 'sent', code });
	assert.equal(recv('1000'), 1);
	assert.equal(recv('1001'), 1);
	assert.equal(recv('4001'), 1);
	assert.equal(recv('1005'), 2);
	assert.equal(recv('other'), 3, '3000, 4999, 3000 count as other');
	assert.equal(sent('1000'), 1);
	assert.equal(sent('1001'), 1);
	assert.equal(sent('4001'), 1);
	assert.equal(sent('1005'), 2);
	assert.equal(sent('other'), 3);
	await waitMetric(s, 'crier_connections_open', { transport: 'ws' }, (v) => v === 0, 3000, 'after all closes');
});

test('crier_connections_open{transport="ws"} counts open WebSockets', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const clients = [];
	for (let i = 0; i < 5; i++) clients.push((await openWs(wsUrl(s))).ws);
	await waitMetric(s, 'crier_connections_open', { transport: 'ws' }, (v) => v === 5, 3000);
	clients[0].close(1000);
	clients[1].terminate(); // vanishes without a close frame
	await closed(clients[0]);
	await waitMetric(s, 'crier_connections_open', { transport: 'ws' }, (v) => v === 3, 3000);
	for (const c of clients.slice(2)) c.close(1000);
	await Promise.all(clients.slice(2).map((c) => closed(c)));
	await waitMetric(s, 'crier_connections_open', { transport: 'ws' }, (v) => v === 0, 3000);
});

test('message over 1 MiB (default limit) from node ws: close 1009, other clients unaffected', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	for (const deflate of [false, true]) {
		const snap = await metricsSnapshot(s);
		const other = (await openWs(wsUrl(s))).ws;
		const { ws } = await openWs(wsUrl(s), { perMessageDeflate: deflate });
		ws.send(deflate ? Buffer.alloc(MiB + 1, 'a') : crypto.randomBytes(MiB + 1));
		const c = await closed(ws, 10000);
		assert.equal(c.code, 1009, `deflate=${deflate}: closed with ${c.code} ${c.reason}`);
		assert.ok(c.reason.length > 0, '1009 close carries a reason');
		const m = await echo(other, 'unaffected');
		assert.equal(m.data.toString(), 'unaffected');
		other.close(1000);
		await closed(other);
		const d = await snap();
		assert.equal(d.delta('crier_ws_protocol_errors_total', { reason: 'ws_too_big' }), 1);
		assert.equal(d.delta('crier_ws_close_frames_total', { direction: 'sent', code: '1009' }), 1);
	}
});

test('python websockets client: echoes 0..1MiB, fragments, ping, close (deflate and not)', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	for (const mode of ['none', 'deflate']) {
		const r = await runPython('echo_client.py', [wsUrl(s), mode], { timeoutMs: 45000 });
		assert.equal(r.timedOut, false, `python client timed out (${mode})\n${r.stderr}`);
		assert.ok(r.json, `python client printed no JSON (${mode}): ${r.stdout}\n${r.stderr}`);
		const j = r.json;
		assert.equal(j.ok, true, `python client failed (${mode}): ${j.error}\n${r.stderr}`);
		assert.equal(j.subprotocol, null);
		if (mode === 'deflate') assert.match(j.extensions ?? '', /permessage-deflate/);
		else assert.equal(j.extensions, null);
		assert.equal(j.echoes.length, 12);
		for (const e of j.echoes) {
			assert.ok(e.type_ok && e.equal, `${mode}: ${e.kind} ${e.size}: ${JSON.stringify(e)}`);
		}
		assert.equal(j.fragmented_text.equal, true, JSON.stringify(j.fragmented_text));
		assert.equal(j.fragmented_binary.equal, true, JSON.stringify(j.fragmented_binary));
		assert.equal(j.pong, true);
		assert.equal(j.close_code, 1000);
		assert.equal(r.code, 0);
	}
});

test('after the client close frame nothing more is processed; close inside a fragmented message is answered', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const snap = await metricsSnapshot(s);
	let ws = await WsRaw.open(s);
	await ws.write(
		Buffer.concat([
			encodeFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe8]) }),
			encodeFrame({ opcode: OP.TEXT, payload: 'after close' }),
			encodeFrame({ opcode: OP.PING, payload: 'after close' }),
		])
	);
	let c = await ws.readClose();
	assert.equal(c.code, 1000);
	assert.equal(c.before.length, 0);
	const rest = await ws.waitTcpClose();
	assert.equal(rest.length, 0, `bytes after the close frame: ${rest.toString('hex')}`);
	ws.destroy();
	// A close between fragments of a message: answered at once, message dropped.
	ws = await WsRaw.open(s);
	await ws.write(
		Buffer.concat([encodeFrame({ opcode: OP.TEXT, payload: 'half', fin: false }), encodeFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe9]) })])
	);
	c = await ws.readClose();
	assert.equal(c.code, 1001);
	assert.equal(c.before.length, 0);
	await ws.waitTcpClose();
	ws.destroy();
	const d = await snap();
	assert.equal(d.delta('crier_ws_messages_total', { direction: 'in' }), 0);
	assert.equal(d.delta('crier_ws_messages_total', { direction: 'out' }), 0);
});

test('pings, pongs and closes are not counted as messages', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const snap = await metricsSnapshot(s);
	const { ws } = await openWs(wsUrl(s));
	for (let i = 0; i < 5; i++) ws.ping(`p${i}`);
	await waitWs(ws, (w) => w.pongs.length === 5, 3000, '5 pongs');
	await echo(ws, 'one');
	ws.close(1000);
	await closed(ws);
	const d = await snap();
	assert.equal(d.delta('crier_ws_messages_total', { direction: 'in' }), 1);
	assert.equal(d.delta('crier_ws_messages_total', { direction: 'out' }), 1);
	assert.equal(d.delta('crier_ws_upgrades_total'), 1);
});

test('200 concurrent clients on 2 workers each get exactly their own echoes, in order', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const clients = await Promise.all(Array.from({ length: 200 }, (_, i) => openWs(wsUrl(s), { perMessageDeflate: i % 3 === 0 })));
	await waitMetric(s, 'crier_connections_open', { transport: 'ws' }, (v) => v === 200, 5000);
	await Promise.all(
		clients.map(async ({ ws }, i) => {
			for (let k = 0; k < 20; k++) ws.send(`client ${i} message ${k} ${'x'.repeat(k * 10)}`);
			await waitWs(ws, (w) => w.inbox.length >= 20 || w.closeInfo, 15000, `20 echoes for client ${i}`);
			ws.inbox.forEach((m, k) => assert.equal(m.data.toString(), `client ${i} message ${k} ${'x'.repeat(k * 10)}`));
			ws.close(1000);
			await closed(ws);
		})
	);
	await waitMetric(s, 'crier_connections_open', { transport: 'ws' }, (v) => v === 0, 5000);
});

test('large compressed multi-byte text (inflated in pieces, UTF-8 checked across piece boundaries)', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const { ws } = await openWs(wsUrl(s), { perMessageDeflate: true });
	const unit = 'héllo wörld — 🦀🎉 日本語のテキスト 中文 한국어 ';
	const ub = Buffer.byteLength(unit);
	for (const bytes of [64 * 1024 + 7, MiB - 300]) {
		let msg = unit.repeat(Math.floor(bytes / ub));
		// Vary it a little so it is not one trivially repeated pattern.
		msg += [...Array(50)].map((_, i) => String.fromCodePoint(0x1f600 + i)).join('');
		const m = await echo(ws, msg, {}, 20000);
		assert.equal(m.isBinary, false);
		assert.ok(m.data.toString('utf8') === msg, `${Buffer.byteLength(msg)}-byte multi-byte text echo differs`);
	}
	// And from the raw client, with a ping between compressed fragments.
	const raw = await WsRaw.open(s, { extensions: 'permessage-deflate' });
	const msg = unit.repeat(3000);
	const z = deflateMessage(msg);
	const cut = [0, 1, 2, Math.floor(z.length / 2), z.length];
	const frames = [];
	for (let i = 0; i + 1 < cut.length; i++) {
		frames.push(encodeFrame({ opcode: i === 0 ? OP.TEXT : OP.CONT, payload: z.subarray(cut[i], cut[i + 1]), rsv1: i === 0, fin: i === cut.length - 2 }));
		if (i === 1) frames.push(encodeFrame({ opcode: OP.PING, payload: 'mid' }));
	}
	await raw.write(Buffer.concat(frames));
	const controls = [];
	const m = await raw.readMessage({ controls });
	assert.equal(m.data.toString('utf8'), msg);
	assert.equal(controls.length, 1);
	assert.equal(controls[0].opcode, OP.PONG);
	assert.equal(controls[0].payload.toString(), 'mid');
	raw.destroy();
	ws.close(1000);
	await closed(ws);
});
