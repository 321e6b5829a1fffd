// WebSocket liveness and lifecycle: server pings and the idle timeout,
// the outbound byte budget (slow consumers closed with 1008, memory
// bounded), and graceful shutdown (close 1001, close timeout, exit 0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { fetchMetrics, sample0 } from './lib/metrics.mjs';
import { encodeFrame, expectEcho, FrameStream, handshakeRequest, OP, WsRaw } from './lib/wsraw.mjs';
import { closed, echo, metricsSnapshot, openWs, rssKiB, waitMetric, waitWs, wsUrl } from './lib/wsclient.mjs';
import { assertWithin } from './lib/expect.mjs';

const T = { timeout: 60000 };
const KiB = 1024;
const MiB = 1 << 20;

test('pings every --ws-ping-interval keep a ponging client alive past --ws-idle-timeout', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--ws-ping-interval', '200ms', '--ws-idle-timeout', '1s'] });
	const { ws } = await openWs(wsUrl(s)); // ws answers pings automatically
	await sleep(3000);
	assert.equal(ws.closeInfo, null, `node ws client closed: ${JSON.stringify(ws.closeInfo)}`);
	assert.ok(ws.pings.length >= 5, `only ${ws.pings.length} pings in 3 s at a 200 ms interval`);
	assert.ok(ws.pings.length <= 20, `${ws.pings.length} pings in 3 s at a 200 ms interval`);
	const m = await echo(ws, 'alive');
	assert.equal(m.data.toString(), 'alive');
	ws.close(1000);
	await closed(ws);
	const { parsed } = await fetchMetrics(s);
	assert.equal(sample0(parsed, 'crier_ws_idle_closes_total'), 0);
});

test('a silent peer is closed with 1001 after --ws-idle-timeout; any bytes (pongs) keep it alive', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--ws-ping-interval', '200ms', '--ws-idle-timeout', '1s'] });
	const snap = await metricsSnapshot(s);
	// Silent: never sends a byte after the handshake.
	const silent = await WsRaw.open(s);
	const t0 = Date.now();
	// A second raw client that answers every ping with a pong.
	const live = await WsRaw.open(s);
	let liveStop = false;
	const liveLoop = (async () => {
		let pings = 0;
		while (!liveStop && !live.closed) {
			let f;
			try {
				f = await live.readFrame({ timeoutMs: 500 });
			} catch {
				continue;
			}
			if (f.opcode === OP.PING) {
				pings++;
				await live.sendFrame({ opcode: OP.PONG, payload: f.payload });
			} else if (f.opcode === OP.CLOSE) return { pings, close: f };
		}
		return { pings, close: null };
	})();

	const c = await silent.readClose({ timeoutMs: 4000 });
	const closeAt = Date.now() - t0;
	assert.equal(c.code, 1001, `idle close code ${c.code} ${c.reason}`);
	assert.match(c.reason, /idle/i);
	assert.ok(c.before.every((f) => f.opcode === OP.PING), 'only pings before the idle close');
	assert.ok(c.before.length >= 2, `${c.before.length} pings before the idle close`);
	assertWithin(closeAt, 900, 2500, 'idle close');
	await silent.waitTcpClose(2000);
	silent.destroy();

	await sleep(Math.max(0, 2500 - (Date.now() - t0)));
	liveStop = true;
	const r = await liveLoop;
	assert.equal(r.close, null, `the ponging client was closed: ${r.close && r.close.code} ${r.close && r.close.reason}`);
	assert.ok(r.pings >= 5, `the ponging client saw ${r.pings} pings`);
	await live.sendText('still here');
	assert.equal((await live.readMessage()).data.toString(), 'still here');
	live.destroy();

	const d = await snap();
	assert.equal(d.delta('crier_ws_idle_closes_total'), 1);
	assert.equal(d.delta('crier_ws_close_frames_total', { direction: 'sent', code: '1001' }), 1);
});

test('slow consumer: over --ws-max-backpressure the server closes (1008), memory stays bounded, others unaffected', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--ws-max-backpressure', '64KiB', '--ws-close-timeout', '1s'] });
	const rss0 = await rssKiB(s.pid);
	const snap = await metricsSnapshot(s);
	const other = (await openWs(wsUrl(s))).ws;

	// The slow client: a raw socket that sends but never reads (paused).
	const sock = net.connect({ port: s.port, host: '127.0.0.1' });
	t.after(() => sock.destroy());
	await Promise.race([once(sock, 'connect'), sleep(3000).then(() => Promise.reject(new Error('connect timeout')))]);
	let head = Buffer.alloc(0);
	const stream = new FrameStream();
	const frames = [];
	let sockClosed = false;
	let sockError = null;
	sock.on('close', () => (sockClosed = true));
	sock.on('error', (e) => (sockError = e));
	const { bytes } = handshakeRequest({ host: `127.0.0.1:${s.port}` });
	sock.write(bytes);
	await new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error('no 101')), 5000);
		const onData = (d) => {
			head = Buffer.concat([head, d]);
			const i = head.indexOf('\r\n\r\n');
			if (i >= 0) {
				clearTimeout(timer);
				sock.off('data', onData);
				sock.pause();
				assert.match(head.toString('latin1', 0, 12), /^HTTP\/1\.1 101/);
				for (const f of stream.push(head.subarray(i + 4))) frames.push(f);
				resolve();
			}
		};
		sock.on('data', onData);
	});

	// Send masked 16 KiB binary messages (the server echoes each) until the
	// server gives up on us, at most 40 MiB or 15 s.
	const msg = encodeFrame({ opcode: OP.BINARY, payload: crypto.randomBytes(16 * KiB) });
	const deadline = Date.now() + 15000;
	let sent = 0;
	let slowSeen = false;
	while (Date.now() < deadline && sent < 40 * MiB && !sockClosed && !sockError) {
		if (!sock.write(msg)) {
			await Promise.race([once(sock, 'drain'), sleep(200)]);
		}
		sent += msg.length;
		if (sent % MiB < msg.length) {
			const { parsed } = await fetchMetrics(s);
			if (sample0(parsed, 'crier_ws_slow_consumer_closes_total') > 0) {
				slowSeen = true;
				break;
			}
			// Meanwhile, another client is served normally.
			const m = await echo(other, `ping at ${sent}`);
			assert.equal(m.data.toString(), `ping at ${sent}`);
		}
	}
	await waitMetric(s, 'crier_ws_slow_consumer_closes_total', {}, (v) => v === 1, 5000, `after sending ${sent} bytes without reading`);
	const rss1 = await rssKiB(s.pid);
	assert.ok(rss1 - rss0 < 100 * 1024, `server RSS grew from ${rss0} to ${rss1} KiB with a slow consumer (sent ${sent} bytes)`);

	// Now read whatever the server left for us: echoes, then a 1008 close
	// frame, then EOF; or (if the server had to drop the backlog) just EOF/reset.
	let closeFrame = null;
	sock.on('data', (d) => {
		for (const f of stream.push(d)) {
			if (f.opcode === OP.CLOSE && !closeFrame) closeFrame = f;
		}
	});
	for (const f of frames) if (f.opcode === OP.CLOSE) closeFrame = f;
	sock.resume();
	const t1 = Date.now();
	while (!sockClosed && Date.now() - t1 < 10000) await sleep(50);
	assert.ok(sockClosed, `the slow consumer's connection is still open 10 s after it started reading (read ${stream.bytes} bytes)`);
	t.diagnostic(`slow consumer: sent ${sent} bytes, then read ${stream.bytes} bytes in ${stream.frames} frames; RSS ${rss0} -> ${rss1} KiB`);
	if (closeFrame) {
		assert.equal(closeFrame.code, 1008, `slow consumer close ${closeFrame.code} ${closeFrame.reason}`);
		assert.match(closeFrame.reason, /slow/i);
	} else {
		t.diagnostic(`slow consumer: no close frame, connection ended after ${stream.bytes} bytes (${sockError ? sockError.code : 'EOF'})`);
	}
	const d = await snap();
	assert.equal(d.delta('crier_ws_slow_consumer_closes_total'), 1);
	if (closeFrame) assert.equal(d.delta('crier_ws_close_frames_total', { direction: 'sent', code: '1008' }), 1);
	assert.ok(slowSeen || d.delta('crier_ws_slow_consumer_closes_total') === 1);

	const m = await echo(other, 'unaffected');
	assert.equal(m.data.toString(), 'unaffected');
	other.close(1000);
	await closed(other);
	await expectEcho(s);
	await waitMetric(s, 'crier_connections_open', { transport: 'ws' }, (v) => v === 0, 3000);
	const rss2 = await rssKiB(s.pid);
	assert.ok(rss2 - rss0 < 100 * 1024, `server RSS grew from ${rss0} to ${rss2} KiB`);
});

test('a client that reads slowly but keeps up stays connected', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--ws-max-backpressure', '64KiB'] });
	const { ws } = await openWs(wsUrl(s));
	// Request/response at 16 KiB never queues more than one message.
	for (let i = 0; i < 200; i++) {
		const b = crypto.randomBytes(16 * KiB);
		const m = await echo(ws, b);
		assert.ok(m.data.equals(b));
	}
	ws.close(1000);
	assert.equal((await closed(ws)).code, 1000);
	const { parsed } = await fetchMetrics(s);
	assert.equal(sample0(parsed, 'crier_ws_slow_consumer_closes_total'), 0);
});

test('SIGTERM: open WebSockets get close 1001 "server shutting down", process exits 0', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--shutdown-timeout', '3s'] });
	const clients = [];
	for (let i = 0; i < 4; i++) clients.push((await openWs(wsUrl(s), { perMessageDeflate: i % 2 === 0 })).ws);
	for (const ws of clients) assert.equal((await echo(ws, 'before')).data.toString(), 'before');
	const sigAt = Date.now();
	s.signal('SIGTERM');
	for (const ws of clients) {
		const c = await closed(ws, 4000);
		assert.equal(c.code, 1001, `client saw close ${c.code} ${c.reason}`);
		assert.match(c.reason, /shut/i);
	}
	const e = await s.waitExit(6000);
	assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${s.tail()}`);
	assertWithin(e.at - sigAt, 0, 3000 + 2000, 'exit after SIGTERM with WebSockets open');
});

test('SIGTERM: a peer that never answers the close frame is dropped after --ws-close-timeout; exit 0', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--shutdown-timeout', '10s', '--ws-close-timeout', '1s'] });
	const mute = await WsRaw.open(s);
	const polite = await WsRaw.open(s);
	const sigAt = Date.now();
	s.signal('SIGTERM');
	const c1 = await mute.readClose({ timeoutMs: 3000 });
	assert.equal(c1.code, 1001);
	assert.ok(c1.reason.length > 0);
	const c2 = await polite.readClose({ timeoutMs: 3000 });
	assert.equal(c2.code, 1001);
	await polite.sendClose(1001);
	await polite.waitTcpClose(2000);
	const politeAt = Date.now() - sigAt;
	// The mute one: TCP dropped after the close timeout.
	await mute.waitTcpClose(4000);
	const muteAt = mute.conn.closedAt - sigAt;
	assertWithin(muteAt, 700, 3000, 'TCP drop of a peer that never answers the close frame (--ws-close-timeout 1s)');
	assert.ok(politeAt < muteAt, `the answering peer (${politeAt} ms) should close before the mute one (${muteAt} ms)`);
	const e = await s.waitExit(5000);
	assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${s.tail()}`);
	assertWithin(e.at - sigAt, 0, 4000, 'exit after SIGTERM (close timeout 1s, shutdown timeout 10s)');
	mute.destroy();
	polite.destroy();
});

test('SIGTERM with a message half-received and a ping in flight still exits 0', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--shutdown-timeout', '2s', '--ws-close-timeout', '500ms'] });
	const ws = await WsRaw.open(s);
	await ws.write(encodeFrame({ opcode: OP.TEXT, payload: 'first half ', fin: false }));
	const { ws: n } = await openWs(wsUrl(s));
	n.ping('x');
	await waitWs(n, (w) => w.pongs.length === 1, 2000, 'pong');
	s.signal('SIGTERM');
	const c = await ws.readClose({ timeoutMs: 3000 });
	assert.equal(c.code, 1001);
	await ws.sendClose(1000); // answer with something valid
	const nc = await closed(n, 3000);
	assert.equal(nc.code, 1001);
	const e = await s.waitExit(5000);
	assert.equal(e.code, 0);
	ws.destroy();
});

test('ping flood from a client that never reads: pongs count against --ws-max-backpressure, RSS bounded', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--ws-max-backpressure', '64KiB', '--ws-close-timeout', '1s'] });
	const rss0 = await rssKiB(s.pid);
	const sock = net.connect({ port: s.port, host: '127.0.0.1' });
	t.after(() => sock.destroy());
	await Promise.race([once(sock, 'connect'), sleep(3000).then(() => Promise.reject(new Error('connect timeout')))]);
	let sockClosed = false;
	sock.on('close', () => (sockClosed = true));
	sock.on('error', () => {});
	sock.write(handshakeRequest({ host: `127.0.0.1:${s.port}` }).bytes);
	await Promise.race([once(sock, 'data'), sleep(3000).then(() => Promise.reject(new Error('no 101')))]);
	sock.pause(); // never read again: every pong stays queued in the server
	const ping = encodeFrame({ opcode: OP.PING, payload: Buffer.alloc(125, 1) });
	const batch = Buffer.concat(Array(1000).fill(ping));
	const deadline = Date.now() + 12000;
	let sent = 0;
	let slow = 0;
	let rssMax = rss0;
	while (Date.now() < deadline && sent < 150e6 && !sockClosed) {
		if (!sock.write(batch)) await Promise.race([once(sock, 'drain'), sleep(300)]);
		sent += batch.length;
		if (sent % (5 * batch.length) === 0) {
			rssMax = Math.max(rssMax, await rssKiB(s.pid));
			const { parsed } = await fetchMetrics(s);
			slow = sample0(parsed, 'crier_ws_slow_consumer_closes_total');
			if (slow > 0 || rssMax - rss0 > 150 * 1024) break;
		}
	}
	rssMax = Math.max(rssMax, await rssKiB(s.pid));
	sock.destroy();
	assert.ok(
		rssMax - rss0 < 100 * 1024,
		`server RSS grew from ${rss0} to ${rssMax} KiB while a non-reading client sent ${sent} bytes of pings (slow consumer closes: ${slow})`
	);
	assert.equal(slow, 1, `a client that sent ${sent} bytes of pings without reading a pong was not closed as a slow consumer`);
	await expectEcho(s);
});

test('SIGTERM with a non-reading client holding a large backlog: dropped in bounded time, exit 0', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--ws-max-backpressure', '64MiB', '--shutdown-timeout', '3s', '--ws-close-timeout', '1s'] });
	const sock = net.connect({ port: s.port, host: '127.0.0.1' });
	t.after(() => sock.destroy());
	await Promise.race([once(sock, 'connect'), sleep(3000).then(() => Promise.reject(new Error('connect timeout')))]);
	sock.on('error', () => {});
	sock.write(handshakeRequest({ host: `127.0.0.1:${s.port}` }).bytes);
	await Promise.race([once(sock, 'data'), sleep(3000).then(() => Promise.reject(new Error('no 101')))]);
	sock.pause();
	const msg = encodeFrame({ opcode: OP.BINARY, payload: crypto.randomBytes(64 * KiB) });
	const deadline = Date.now() + 8000;
	let sent = 0;
	while (Date.now() < deadline && sent < 24 * MiB) {
		if (!sock.write(msg)) await Promise.race([once(sock, 'drain'), sleep(300)]);
		sent += msg.length;
	}
	await sleep(200);
	const sigAt = Date.now();
	s.signal('SIGTERM');
	const e = await s.waitExit(8000);
	assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${s.tail()}`);
	assertWithin(e.at - sigAt, 0, 3000 + 1500, `exit after SIGTERM with a stuck client holding ~${sent} bytes`);
});
