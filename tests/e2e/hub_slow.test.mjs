// Slow subscribers: a subscriber that stops reading is dropped under
// --slow-policy disconnect (SSE: end of stream; WebSocket: close 1008),
// or kept and fed from history when it drains under --slow-policy
// catchup (with an "expired" gap notice when history moved on). Others
// are unaffected and server memory stays bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { fetchMetrics, sample0 } from './lib/metrics.mjs';
import { openWs, rssKiB, waitWs, wsUrl } from './lib/wsclient.mjs';
import { OP } from './lib/wsraw.mjs';
import { channelInfo, checkIncreasing, parseId, Publisher, SseSub, WsSub } from './lib/hub.mjs';

const T = { timeout: 120000 };
const KiB = 1024;
const MiB = 1 << 20;

async function waitSubscribers(s, ch, n, timeoutMs = 3000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const r = await channelInfo(s, ch);
		if (r.status === 200 && r.json.subscribers === n) return;
		if (Date.now() > deadline) throw new Error(`channel ${ch}: ${r.status} ${r.text} (waiting for ${n} subscribers)`);
		await sleep(20);
	}
}

/** A payload of `size` bytes that starts with "<k>:" (k = message number). */
function payload(k, size) {
	const head = `${k}:`;
	return head + 'p'.repeat(size - head.length);
}
const numOf = (data) => Number(data.slice(0, data.indexOf(':')));

/**
 * Publishes `size`-byte messages to ch, one at a time (so that readers
 * that keep up never hold more than a message or two), until
 * crier_hub_slow_consumers_total{policy} reaches `want` (checked every 4
 * messages), at most maxBytes or maxMs. Returns the published [{id, k}].
 */
async function floodUntilSlow(s, pub, ch, policy, { size = 64 * KiB, maxBytes = 60 * MiB, maxMs = 20000, want = 1, out = [] } = {}) {
	const deadline = Date.now() + maxMs;
	const start = out.length;
	for (;;) {
		for (let j = 0; j < 4; j++) {
			const k = out.length;
			const r = await pub.publish(ch, payload(k, size));
			assert.equal(r.status, 200, r.text);
			out.push({ id: r.json.id, k });
		}
		const { parsed } = await fetchMetrics(s);
		if (sample0(parsed, 'crier_hub_slow_consumers_total', { policy }) >= want) return out;
		if ((out.length - start) * size > maxBytes || Date.now() > deadline) {
			throw new Error(`${sample0(parsed, 'crier_hub_slow_consumers_total', { policy })} slow consumers counted (policy ${policy}, want ${want}) after ${out.length - start} messages of ${size} bytes`);
		}
	}
}

test('slow SSE and WebSocket subscribers under --slow-policy disconnect: dropped, others get everything, RSS bounded', T, async (t) => {
	const s = await startServer(t, {
		args: ['--sse-max-backpressure', '256KiB', '--ws-max-backpressure', '256KiB', '--history-size', '20', '--ws-close-timeout', '3s'],
	});
	const rss0 = await rssKiB(s.pid);
	// Two healthy readers, one of each transport.
	const okSse = await SseSub.open(s, '/sub/flood', { keep: false });
	const okSseData = [];
	okSse.onEvent = (e) => okSseData.push(numOf(e.data));
	const { ws: okWs } = await openWs(wsUrl(s, '/sub/flood'), { perMessageDeflate: false });
	// Two that stop reading right after the handshake.
	const slowSse = await SseSub.open(s, '/sub/flood', { keep: false });
	slowSse.pause();
	const slowWs = await WsSub.open(s, '/sub/flood');
	slowWs.pause();
	await waitSubscribers(s, 'flood', 4);
	const pub = await Publisher.open(s);
	const published = await floodUntilSlow(s, pub, 'flood', 'disconnect', { want: 2 });
	// The slow ones, when they read again, find their stream ended
	// (WebSocket: the backlog, then close 1008 "slow consumer").
	let wsClose = null;
	slowWs.onFrame = (f) => {
		if (f.opcode === OP.CLOSE) wsClose = f;
	};
	slowSse.resume();
	slowWs.resume();
	await slowSse.waitClose(10000);
	await slowWs.waitFor(() => slowWs.closed, 10000, 'the slow WebSocket to be closed');
	const rss1 = await rssKiB(s.pid);
	t.diagnostic(`published ${published.length} x 64 KiB; RSS ${rss0} -> ${rss1} KiB`);
	// (Under ASan freed memory sits in quarantine, so this bound is loose.)
	assert.ok(rss1 - rss0 < 150 * 1024, `server RSS grew from ${rss0} to ${rss1} KiB`);
	await waitSubscribers(s, 'flood', 2, 5000);
	// The healthy ones got every message, in order.
	await okSse.waitEvents(published.length, 20000);
	await waitWs(okWs, (w) => w.inbox.length >= published.length, 20000, 'every message on the healthy WebSocket');
	assert.deepEqual(okSseData, published.map((p) => p.k));
	assert.deepEqual(okWs.inbox.map((m) => numOf(m.data.toString('latin1', 0, 16))), published.map((p) => p.k));
	assert.ok(slowSse.events < published.length, `the slow SSE subscriber got ${slowSse.events} of ${published.length}`);
	assert.ok(wsClose || slowWs.closeFrame, `the slow WebSocket got no close frame: TCP closed after ${slowWs.messages} messages (${slowWs.stream.bytes} bytes) of ${published.length}`);
	const cf = wsClose || slowWs.closeFrame;
	assert.equal(cf.code, 1008, `close ${cf.code} ${cf.reason}`);
	assert.match(cf.reason, /slow consumer/);
	const { parsed } = await fetchMetrics(s);
	assert.equal(sample0(parsed, 'crier_hub_slow_consumers_total', { policy: 'disconnect' }), 2);
	assert.equal(sample0(parsed, 'crier_hub_slow_consumers_total', { policy: 'catchup' }), 0);
	assert.equal(sample0(parsed, 'crier_connections_open', { transport: 'sse' }), 1);
	assert.equal(sample0(parsed, 'crier_connections_open', { transport: 'ws' }), 1);
	pub.close();
	okSse.close();
	okWs.close(1000);
});

for (const transport of ['sse', 'ws']) {
	test(`--slow-policy catchup (${transport}): the slow subscriber stays, and after draining gets everything from history in order`, T, async (t) => {
		const s = await startServer(t, {
			args: ['--slow-policy', 'catchup', `--${transport}-max-backpressure`, '256KiB', '--history-size', '5000', '--history-max-bytes', '512MiB'],
		});
		const rss0 = await rssKiB(s.pid);
		const seen = [];
		let gaps = [];
		let slow;
		if (transport === 'sse') {
			slow = await SseSub.open(s, '/sub/cu', {
				keep: false,
				onEvent: (e) => (e.event === 'crier.gap' ? gaps.push(JSON.parse(e.data)) : seen.push({ id: e.id, k: numOf(e.data) })),
			});
		} else {
			slow = await WsSub.open(s, '/sub/cu', {
				onFrame: (f) => {
					if (f.opcode !== OP.TEXT) return;
					const txt = f.payload.toString('latin1', 0, 40);
					if (txt.startsWith('{"crier.gap"')) gaps.push(JSON.parse(f.payload.toString())['crier.gap']);
					else seen.push({ k: numOf(txt) });
					f.payload = null;
				},
			});
		}
		slow.pause();
		const ok = await SseSub.open(s, '/sub/cu', { keep: false });
		await waitSubscribers(s, 'cu', 2);
		const pub = await Publisher.open(s);
		const published = await floodUntilSlow(s, pub, 'cu', 'catchup', { size: 32 * KiB });
		// A few more while it is degraded.
		for (let i = 0; i < 20; i++) {
			const k = published.length;
			const r = await pub.publish('cu', payload(k, 32 * KiB));
			published.push({ id: r.json.id, k });
		}
		const rss1 = await rssKiB(s.pid);
		t.diagnostic(`published ${published.length} x 32 KiB before reading; RSS ${rss0} -> ${rss1} KiB`);
		assert.equal((await channelInfo(s, 'cu')).json.subscribers, 2, 'the slow subscriber is still subscribed');
		slow.resume();
		await slow.waitFor(() => seen.length >= published.length || slow.closed, 30000, `all ${published.length} messages after draining (have ${seen.length})`);
		assert.ok(!slow.closed, 'catchup keeps the connection');
		// Live again afterwards.
		const r = await pub.publish('cu', payload(published.length, 100));
		published.push({ id: r.json.id, k: published.length });
		await slow.waitFor(() => seen.length >= published.length, 10000, 'the live message after catching up');
		await sleep(200);
		assert.deepEqual(gaps, [], 'history held everything: no gap notice');
		assert.deepEqual(seen.map((x) => x.k), published.map((p) => p.k), 'every message once, in order');
		if (transport === 'sse') assert.deepEqual(seen.map((x) => x.id), published.map((p) => p.id));
		await ok.waitEvents(published.length, 20000);
		const { parsed } = await fetchMetrics(s);
		assert.equal(sample0(parsed, 'crier_hub_slow_consumers_total', { policy: 'catchup' }), 1);
		assert.equal(sample0(parsed, 'crier_hub_slow_consumers_total', { policy: 'disconnect' }), 0);
		pub.close();
		slow.close();
		ok.close();
	});
}

test('--slow-policy catchup with a short history: a gap notice (expired), then the oldest held, in order, then live', T, async (t) => {
	const s = await startServer(t, { args: ['--slow-policy', 'catchup', '--sse-max-backpressure', '256KiB', '--history-size', '10'] });
	const evs = [];
	const slow = await SseSub.open(s, '/sub/cs', { keep: false, onEvent: (e) => evs.push(e) });
	slow.pause();
	await waitSubscribers(s, 'cs', 1);
	const pub = await Publisher.open(s);
	const published = await floodUntilSlow(s, pub, 'cs', 'catchup', { size: 32 * KiB });
	for (let i = 0; i < 30; i++) {
		const k = published.length;
		const r = await pub.publish('cs', payload(k, 32 * KiB));
		published.push({ id: r.json.id, k });
	}
	slow.resume();
	const lastId = published[published.length - 1].id;
	await slow.waitFor(() => evs.some((e) => e.id === lastId) || slow.closed, 30000, 'the last published message');
	assert.ok(!slow.closed);
	await sleep(200);
	const gi = evs.findIndex((e) => e.event === 'crier.gap');
	assert.ok(gi >= 0, `a crier.gap event (got ${evs.length} events, none a gap)`);
	assert.equal(evs.filter((e) => e.event === 'crier.gap').length, 1, 'one gap notice');
	const gap = JSON.parse(evs[gi].data);
	assert.equal(gap.reason, 'expired', JSON.stringify(gap));
	const before = evs.slice(0, gi);
	const after = evs.slice(gi + 1);
	assert.equal(checkIncreasing([...before, ...after].map((e) => e.id), 'ids around the gap'), '');
	// Before the gap: a prefix of what was published, without holes.
	assert.deepEqual(before.map((e) => e.id), published.slice(0, before.length).map((p) => p.id));
	if (before.length) assert.equal(gap.from, before[before.length - 1].id, 'the gap starts at the last id delivered');
	assert.equal(gap.to, after[0].id, 'the gap ends at the first id delivered after it');
	// After the gap: a contiguous tail of what was published (the oldest held).
	const start = published.findIndex((p) => p.id === after[0].id);
	assert.ok(start > before.length, 'messages were really skipped');
	assert.deepEqual(after.map((e) => e.id), published.slice(start).map((p) => p.id));
	assert.ok(after.length <= 10 + 2, `${after.length} messages after the gap with --history-size 10`);
	const { parsed } = await fetchMetrics(s);
	assert.equal(sample0(parsed, 'crier_hub_slow_consumers_total', { policy: 'catchup' }), 1);
	assert.ok(sample0(parsed, 'crier_hub_gaps_total', { reason: 'expired' }) >= 1);
	// And live again.
	const r = await pub.publish('cs', 'live');
	await slow.waitFor(() => evs[evs.length - 1].id === r.json.id, 5000, 'the live message');
	assert.equal(parseId(r.json.id).epoch, parseId(lastId).epoch);
	pub.close();
	slow.close();
});

test('--slow-policy disconnect: a dropped subscriber that still does not read leaves the channel and the connection count promptly', T, async (t) => {
	const s = await startServer(t, { args: ['--sse-max-backpressure', '256KiB', '--ws-max-backpressure', '256KiB', '--ws-close-timeout', '10s', '--shutdown-timeout', '1s'] });
	const slowSse = await SseSub.open(s, '/sub/linger', { keep: false });
	slowSse.pause();
	const slowWs = await WsSub.open(s, '/sub/linger');
	slowWs.pause();
	await waitSubscribers(s, 'linger', 2);
	const pub = await Publisher.open(s);
	await floodUntilSlow(s, pub, 'linger', 'disconnect', { want: 2 });
	// Neither client reads. They are no longer subscribers: the publish
	// answer and /channels must not count them, and no more messages are
	// queued for them.
	await sleep(2000);
	const r = await pub.publish('linger', 'after the drop');
	const info = await channelInfo(s, 'linger');
	const { parsed } = await fetchMetrics(s);
	const open = { sse: sample0(parsed, 'crier_connections_open', { transport: 'sse' }), ws: sample0(parsed, 'crier_connections_open', { transport: 'ws' }) };
	assert.equal(r.json.subscribers, 0, `publish 2 s after both were dropped answers subscribers=${r.json.subscribers}; /channels: ${info.text}; connections_open ${JSON.stringify(open)}`);
	assert.equal(info.json.subscribers, 0, info.text);
	assert.equal(open.sse, 0, `SSE connection of a dropped subscriber still open 2 s later: ${JSON.stringify(open)}`);
	pub.close();
	slowSse.close();
	slowWs.close();
});
