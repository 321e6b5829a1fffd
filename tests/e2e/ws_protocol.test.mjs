// Protocol violations from a raw client (RFC 6455 §5, §7.4, §8.1; RFC 7692):
// each must fail the connection with the right close code and a reason,
// count in crier_ws_protocol_errors_total{reason=...}, and leave the server
// serving everyone else. Also the message size limit (1009, fail-fast on
// the declared length), deflate bombs, and UTF-8 fail-fast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { closePayload, deflateMessage, encodeFrame, expectEcho, OP, WsRaw } from './lib/wsraw.mjs';
import { metricsSnapshot, rssKiB } from './lib/wsclient.mjs';

const T = { timeout: 90000 };
const KiB = 1024;
const MiB = 1 << 20;

const text = (s, extra = {}) => encodeFrame({ opcode: OP.TEXT, payload: s, ...extra });
const cont = (s, extra = {}) => encodeFrame({ opcode: OP.CONT, payload: s, ...extra });
const hex = (h) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const closeFrame = (payload) => encodeFrame({ opcode: OP.CLOSE, payload });

/**
 * Runs one violation: opens a raw WebSocket (opts), writes `bytes`, and
 * expects close `code` with a non-empty reason, the TCP close, the metric
 * crier_ws_protocol_errors_total{reason} +1, one close frame sent with that
 * code, and a working echo on a new connection afterwards.
 */
async function violation(s, { bytes, code, reason, open = {}, echoesBefore = 0 }) {
	const snap = await metricsSnapshot(s);
	const ws = await WsRaw.open(s, open);
	try {
		for (const b of Array.isArray(bytes) ? bytes : [bytes]) await ws.write(b);
		for (let i = 0; i < echoesBefore; i++) await ws.readMessage();
		const c = await ws.expectFail(code);
		assert.ok(c.reason.length > 0, `close ${code} without a reason text`);
		assert.equal(c.fin, true);
		const d = await snap();
		if (reason) {
			assert.equal(d.delta('crier_ws_protocol_errors_total', { reason }), 1, `crier_ws_protocol_errors_total{reason="${reason}"}`);
		}
		const slot = [1002, 1007, 1009].includes(code) ? String(code) : 'other';
		assert.equal(d.delta('crier_ws_close_frames_total', { direction: 'sent', code: slot }), 1, `close frames sent with ${code}`);
		return c;
	} finally {
		ws.destroy();
		await expectEcho(s, 'serving after a violation');
	}
}

test('framing violations: close 1002 with a reason, metric, server keeps serving', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const deflate = { extensions: 'permessage-deflate' };
	const cases = [
		['unmasked text frame', { bytes: text('hi', { mask: false }), code: 1002, reason: 'ws_unmasked' }],
		['unmasked close frame', { bytes: encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000), mask: false }), code: 1002, reason: 'ws_unmasked' }],
		['RSV1 without an extension', { bytes: text('hi', { rsv1: true }), code: 1002, reason: 'ws_rsv' }],
		['RSV2', { bytes: text('hi', { rsv2: true }), code: 1002, reason: 'ws_rsv' }],
		['RSV3', { bytes: text('hi', { rsv3: true }), code: 1002, reason: 'ws_rsv' }],
		['RSV2 with permessage-deflate', { bytes: text('hi', { rsv2: true }), code: 1002, reason: 'ws_rsv', open: deflate }],
		[
			'RSV1 on a continuation with permessage-deflate',
			{ bytes: Buffer.concat([text(deflateMessage('abc'), { rsv1: true, fin: false }), cont('x', { rsv1: true })]), code: 1002, reason: 'ws_rsv', open: deflate },
		],
		['RSV1 on a ping with permessage-deflate', { bytes: encodeFrame({ opcode: OP.PING, payload: 'p', rsv1: true }), code: 1002, reason: 'ws_rsv', open: deflate }],
		['opcode 3', { bytes: encodeFrame({ opcode: 0x3, payload: 'x' }), code: 1002, reason: 'ws_opcode' }],
		['opcode 7', { bytes: encodeFrame({ opcode: 0x7 }), code: 1002, reason: 'ws_opcode' }],
		['opcode 0xB', { bytes: encodeFrame({ opcode: 0xb, payload: 'x' }), code: 1002, reason: 'ws_opcode' }],
		['opcode 0xF', { bytes: encodeFrame({ opcode: 0xf }), code: 1002, reason: 'ws_opcode' }],
		['ping with 126 bytes', { bytes: encodeFrame({ opcode: OP.PING, payload: Buffer.alloc(126, 1) }), code: 1002, reason: 'ws_control_len' }],
		['close with 126 bytes', { bytes: closeFrame(closePayload(1000, 'x'.repeat(124))), code: 1002, reason: 'ws_control_len' }],
		['fragmented ping', { bytes: encodeFrame({ opcode: OP.PING, payload: 'p', fin: false }), code: 1002, reason: 'ws_control_frag' }],
		['continuation without a start', { bytes: cont('orphan'), code: 1002, reason: 'ws_cont' }],
		['non-final continuation without a start', { bytes: cont('orphan', { fin: false }), code: 1002, reason: 'ws_cont' }],
		['text inside a fragmented message', { bytes: Buffer.concat([text('a', { fin: false }), text('b')]), code: 1002, reason: 'ws_not_cont' }],
		[
			'binary inside a fragmented message',
			{ bytes: Buffer.concat([text('a', { fin: false }), encodeFrame({ opcode: OP.BINARY, payload: 'b' })]), code: 1002, reason: 'ws_not_cont' },
		],
		['continuation after a complete message', { bytes: Buffer.concat([text('whole'), cont('extra')]), code: 1002, reason: 'ws_cont', echoesBefore: 1 }],
		['64-bit length with the top bit set', { bytes: encodeFrame({ opcode: OP.BINARY, len64: 0x8000000000000001n }), code: 1002, reason: 'ws_len64' }],
	];
	for (const [name, c] of cases) {
		await t.test(name, async () => {
			const f = await violation(s, c);
			assert.ok(f.reason.length > 0);
		});
	}
});

test('close frame validity: invalid codes and 1-byte payloads are 1002, invalid UTF-8 reasons 1007', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
		await t.test(`close code ${code}`, () => violation(s, { bytes: closeFrame(closePayload(code, 'r')), code: 1002, reason: 'ws_close_code' }));
	}
	await t.test('close with a 1-byte payload', () => violation(s, { bytes: closeFrame(Buffer.from([0x03])), code: 1002, reason: 'ws_close_len' }));
	await t.test('close reason with invalid UTF-8', () =>
		violation(s, { bytes: closeFrame(Buffer.concat([closePayload(1000), hex('ff fe')])), code: 1007, reason: 'ws_utf8' })
	);
	await t.test('close reason with a truncated UTF-8 sequence', () =>
		violation(s, { bytes: closeFrame(Buffer.concat([closePayload(1000, 'ok '), hex('e2 82')])), code: 1007, reason: 'ws_utf8' })
	);
	// Valid codes the server must echo, not refuse.
	for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
		await t.test(`valid close code ${code} is echoed`, async () => {
			const ws = await WsRaw.open(s);
			await ws.sendClose(code, 'réason ✓');
			const c = await ws.readClose();
			assert.equal(c.code, code);
			await ws.waitTcpClose();
			ws.destroy();
		});
	}
});

test('invalid UTF-8 in text messages: 1007, at the first bad byte', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const bad = {
		'lone 0xff': 'ff',
		'continuation byte first': '80',
		'overlong NUL (c0 80)': 'c0 80',
		'overlong slash (e0 80 af)': 'e0 80 af',
		'UTF-16 surrogate (ed a0 80)': 'ed a0 80',
		'above U+10FFFF (f4 90 80 80)': 'f4 90 80 80',
		'truncated at the end (e2 82)': 'e2 82',
		'5-byte form (f8 88 80 80 80)': 'f8 88 80 80 80',
	};
	for (const [name, h] of Object.entries(bad)) {
		await t.test(name, () => violation(s, { bytes: text(Buffer.concat([Buffer.from('ok '), hex(h)])), code: 1007, reason: 'ws_utf8' }));
	}
	await t.test('invalid across a fragment boundary (e2 | 41)', () =>
		violation(s, { bytes: Buffer.concat([text(hex('41 e2'), { fin: false }), cont(hex('41'))]), code: 1007, reason: 'ws_utf8' })
	);
	await t.test('message ends inside a sequence split over fragments', () =>
		violation(s, { bytes: Buffer.concat([text(hex('41 f0 9f'), { fin: false }), cont(hex('a6'))]), code: 1007, reason: 'ws_utf8' })
	);
	await t.test('compressed text with invalid UTF-8', () =>
		violation(s, { bytes: text(deflateMessage(hex('41 42 ff 43')), { rsv1: true }), code: 1007, reason: 'ws_utf8', open: { extensions: 'permessage-deflate' } })
	);
	await t.test('binary messages are not UTF-8 checked', async () => {
		const ws = await WsRaw.open(s);
		await ws.sendBinary(hex('ff fe c0 80 ed a0 80'));
		const m = await ws.readMessage();
		assert.equal(m.opcode, OP.BINARY);
		assert.equal(m.data.toString('hex'), 'fffec080eda080');
		ws.destroy();
	});

	await t.test('fail-fast: the 1007 arrives before the second of three fragments is sent', async () => {
		const snap = await metricsSnapshot(s);
		const ws = await WsRaw.open(s);
		await ws.write(text(Buffer.concat([Buffer.from('valid start '), hex('ff'), Buffer.from(' more')]), { fin: false }));
		const c = await ws.readClose({ timeoutMs: 2000 });
		assert.equal(c.code, 1007, `got ${c.code} ${c.reason}`);
		assert.equal(c.before.length, 0);
		// The second and third fragments are written only now (the server may
		// have closed already: a write may fail, which is fine).
		await ws.write(cont('second', { fin: false }));
		await ws.write(cont('third'));
		await ws.waitTcpClose(3000);
		ws.destroy();
		const d = await snap();
		assert.equal(d.delta('crier_ws_protocol_errors_total', { reason: 'ws_utf8' }), 1);
		await expectEcho(s);
	});

	await t.test('fail-fast in a large single frame: close before the rest of the payload', async () => {
		const ws = await WsRaw.open(s);
		const frame = text(Buffer.concat([hex('ff'), Buffer.alloc(512 * KiB, 0x41)]));
		await ws.write(frame.subarray(0, 4096)); // header + the bad byte + some
		const c = await ws.readClose({ timeoutMs: 2000 });
		assert.equal(c.code, 1007);
		ws.destroy();
	});

	await t.test('a sequence split across fragments is not an error until proven invalid', async () => {
		const ws = await WsRaw.open(s);
		await ws.write(text(hex('41 e2 82'), { fin: false }));
		assert.equal(await ws.conn.waitData(300), false, 'server reacted to a valid partial sequence');
		await ws.write(cont(hex('ac 42')));
		const m = await ws.readMessage();
		assert.equal(m.data.toString('utf8'), 'A€B');
		ws.destroy();
	});
});

test('message size limit (--ws-max-message-bytes 64KiB): exact limit passes, one byte more is 1009', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--ws-max-message-bytes', '64KiB'] });
	const limit = 64 * KiB;
	await t.test('exactly the limit, one frame and fragmented', async () => {
		const ws = await WsRaw.open(s);
		await ws.sendBinary(Buffer.alloc(limit, 7));
		assert.equal((await ws.readMessage()).data.length, limit);
		await ws.write(
			Buffer.concat([
				encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(limit / 2, 1), fin: false }),
				cont(Buffer.alloc(limit / 2, 2)),
			])
		);
		assert.equal((await ws.readMessage()).data.length, limit);
		ws.destroy();
	});
	await t.test('limit + 1 in one frame', () => violation(s, { bytes: encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(limit + 1) }), code: 1009, reason: 'ws_too_big' }));
	await t.test('limit + 1 in text fragments', () =>
		violation(s, { bytes: Buffer.concat([text('a'.repeat(limit), { fin: false }), cont('b')]), code: 1009, reason: 'ws_too_big' })
	);
	await t.test('fail-fast: a frame header declaring limit + 1 is refused before its payload', async () => {
		const snap = await metricsSnapshot(s);
		const ws = await WsRaw.open(s);
		const frame = encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(limit + 1) });
		await ws.write(frame.subarray(0, 14)); // header (10 bytes + mask) only
		const c = await ws.readClose({ timeoutMs: 2000 });
		assert.equal(c.code, 1009);
		assert.ok(c.reason.length > 0);
		await ws.waitTcpClose(3000);
		ws.destroy();
		const d = await snap();
		assert.equal(d.delta('crier_ws_protocol_errors_total', { reason: 'ws_too_big' }), 1);
	});
	await t.test('a huge declared length (2^62) is 1009 at once', () =>
		violation(s, { bytes: encodeFrame({ opcode: OP.BINARY, len64: 1n << 62n }), code: 1009, reason: 'ws_too_big' })
	);
	await t.test('compressed message inflating to limit + 1', () =>
		violation(s, {
			bytes: encodeFrame({ opcode: OP.BINARY, payload: deflateMessage(Buffer.alloc(limit + 1)), rsv1: true }),
			code: 1009,
			reason: 'ws_too_big',
			open: { extensions: 'permessage-deflate' },
		})
	);
	await t.test('compressed message inflating to exactly the limit passes', async () => {
		const ws = await WsRaw.open(s, { extensions: 'permessage-deflate' });
		await ws.sendFrame({ opcode: OP.BINARY, payload: deflateMessage(Buffer.alloc(limit, 3)), rsv1: true });
		const m = await ws.readMessage();
		assert.equal(m.data.length, limit);
		ws.destroy();
	});
});

test('deflate bomb (10 MiB of zeros in ~10 KiB): 1009, RSS stays sane; invalid deflate data: 1007', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const open = { extensions: 'permessage-deflate; client_max_window_bits' };
	const rss0 = await rssKiB(s.pid);
	const bomb = zlib.deflateRawSync(Buffer.alloc(10 * MiB), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
	const bombPayload = bomb.subarray(0, bomb.length - 4); // drop 00 00 ff ff
	assert.ok(bombPayload.length < 20 * KiB);
	await t.test('one bomb', () => violation(s, { bytes: encodeFrame({ opcode: OP.BINARY, payload: bombPayload, rsv1: true }), code: 1009, reason: 'ws_too_big', open }));
	await t.test('a text bomb', () => violation(s, { bytes: encodeFrame({ opcode: OP.TEXT, payload: bombPayload, rsv1: true }), code: 1009, reason: 'ws_too_big', open }));
	await t.test('a bomb split in fragments', () => {
		const h = Math.floor(bombPayload.length / 2);
		return violation(s, {
			bytes: Buffer.concat([encodeFrame({ opcode: OP.BINARY, payload: bombPayload.subarray(0, h), rsv1: true, fin: false }), cont(bombPayload.subarray(h))]),
			code: 1009,
			reason: 'ws_too_big',
			open,
		});
	});
	await t.test('20 bombs on parallel connections, RSS bounded', async () => {
		const conns = await Promise.all(Array.from({ length: 20 }, () => WsRaw.open(s, open)));
		await Promise.all(conns.map((w) => w.sendFrame({ opcode: OP.BINARY, payload: bombPayload, rsv1: true })));
		for (const w of conns) {
			assert.equal((await w.readClose()).code, 1009);
			w.destroy();
		}
		const rss1 = await rssKiB(s.pid);
		assert.ok(rss1 - rss0 < 100 * 1024, `RSS grew from ${rss0} to ${rss1} KiB after deflate bombs`);
		await expectEcho(s);
	});
	await t.test('invalid deflate data (reserved block type)', () =>
		violation(s, { bytes: encodeFrame({ opcode: OP.BINARY, payload: hex('07 ff ff ff ff'), rsv1: true }), code: 1007, reason: 'ws_inflate', open })
	);
	await t.test('invalid deflate data (stored block with bad NLEN)', () =>
		violation(s, { bytes: encodeFrame({ opcode: OP.BINARY, payload: hex('00 05 00 00 00 41 41 41 41 41'), rsv1: true }), code: 1007, reason: 'ws_inflate', open })
	);
	await t.test('garbage after a final deflate block', () => {
		const z = zlib.deflateRawSync(Buffer.from('hello')); // BFINAL block, Z_FINISH
		return violation(s, { bytes: encodeFrame({ opcode: OP.BINARY, payload: Buffer.concat([z, hex('41 42 43 44')]), rsv1: true }), code: 1007, reason: 'ws_inflate', open });
	});
	await t.test('a final block followed by the single 00 of RFC 7692 §7.2.3.4 is fine', async () => {
		const ws = await WsRaw.open(s, open);
		const z = zlib.deflateRawSync(Buffer.from('final block'));
		await ws.sendFrame({ opcode: OP.TEXT, payload: Buffer.concat([z, hex('00')]), rsv1: true });
		const m = await ws.readMessage();
		assert.equal(m.data.toString(), 'final block');
		ws.destroy();
	});
	const rss2 = await rssKiB(s.pid);
	assert.ok(rss2 - rss0 < 100 * 1024, `RSS grew from ${rss0} to ${rss2} KiB`);
});

test('a flood of violations on many connections does not hurt the server', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const snap = await metricsSnapshot(s);
	const frames = [
		text('x', { mask: false }),
		encodeFrame({ opcode: 0x3 }),
		cont('x'),
		text(hex('ff')),
		closeFrame(closePayload(1005)),
		encodeFrame({ opcode: OP.PING, payload: 'p', fin: false }),
	];
	const conns = await Promise.all(Array.from({ length: 30 }, () => WsRaw.open(s)));
	await Promise.all(conns.map((w, i) => w.write(frames[i % frames.length])));
	for (const w of conns) {
		const c = await w.readClose();
		assert.ok([1002, 1007].includes(c.code), `got ${c.code}`);
		await w.waitTcpClose();
		w.destroy();
	}
	await sleep(50);
	const d = await snap();
	const total = ['ws_unmasked', 'ws_opcode', 'ws_cont', 'ws_utf8', 'ws_close_code', 'ws_control_frag'].reduce(
		(a, r) => a + d.delta('crier_ws_protocol_errors_total', { reason: r }),
		0
	);
	assert.equal(total, 30);
	await expectEcho(s);
});
