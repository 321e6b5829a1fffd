// Fan-out at scale: 10,000 messages published over several keep-alive
// connections reach 1,000 subscribers (half SSE on raw sockets, half raw
// WebSocket) with zero loss, no duplicate and every subscriber in id
// order. Bounded in time; the server may be an ASan build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { fetchMetrics, sample0 } from './lib/metrics.mjs';
import { OP } from './lib/wsraw.mjs';
import { channelInfo, parseId, Publisher, SseSub, WsSub } from './lib/hub.mjs';

const SUBS = Number(process.env.CRIER_FANOUT_SUBS || 1000);
const MSGS = Number(process.env.CRIER_FANOUT_MSGS || 10000);
const PUBS = 4;
const BUDGET_MS = 90000;

// Order-sensitive digest of a sequence of message numbers.
const step = (h, k) => (Math.imul(h, 31) + k + 1) >>> 0;

test(`${MSGS} messages to ${SUBS} subscribers (SSE + WebSocket): zero loss, in order`, { timeout: BUDGET_MS + 60000 }, async (t) => {
	const s = await startServer(t, {
		args: ['--history-size', String(MSGS), '--sse-max-backpressure', '16MiB', '--ws-max-backpressure', '16MiB', '--sse-heartbeat', '1m'],
	});
	const t0 = Date.now();
	const subs = [];
	for (let i = 0; i < SUBS; i++) {
		const st = { n: 0, h: 0, lastSeq: -1n, bad: '' };
		if (i % 2 === 0) {
			st.sub = await SseSub.open(s, '/sub/fan', {
				keep: false,
				onEvent: (e) => {
					const k = Number(e.data);
					const seq = parseId(e.id).seq;
					if (seq <= st.lastSeq && !st.bad) st.bad = `id ${e.id} after seq ${st.lastSeq}`;
					st.lastSeq = seq;
					st.n++;
					st.h = step(st.h, k);
				},
			});
		} else {
			st.sub = await WsSub.open(s, '/sub/fan', {
				onFrame: (f) => {
					if (f.opcode !== OP.TEXT) {
						if (!st.bad) st.bad = `frame opcode ${f.opcode}`;
						return;
					}
					st.n++;
					st.h = step(st.h, Number(f.payload.toString('latin1')));
				},
			});
		}
		subs.push(st);
	}
	for (let i = 0; i < 100 && (await channelInfo(s, 'fan')).json?.subscribers !== SUBS; i++) await sleep(50);
	assert.equal((await channelInfo(s, 'fan')).json.subscribers, SUBS);
	const tSubs = Date.now() - t0;

	// PUBS keep-alive publishers, each pipelining a window of 16 requests.
	const pubs = await Promise.all(Array.from({ length: PUBS }, () => Publisher.open(s)));
	const published = new Array(MSGS);
	let next = 0;
	const deadline = Date.now() + BUDGET_MS;
	await Promise.all(
		pubs.map(async (p) => {
			const inflight = new Set();
			while (next < MSGS && Date.now() < deadline) {
				const k = next++;
				const pr = p.publish('fan', String(k), { timeoutMs: 30000 }).then((r) => {
					if (r.status !== 200) throw new Error(`publish ${k}: ${r.status} ${r.text}`);
					published[k] = { seq: parseId(r.json.id).seq, k };
					inflight.delete(pr);
				});
				inflight.add(pr);
				if (inflight.size >= 16) await Promise.race(inflight);
			}
			await Promise.all(inflight);
		})
	);
	assert.equal(next, MSGS, `published only ${next} messages in ${BUDGET_MS} ms`);
	const tPub = Date.now() - t0 - tSubs;
	const order = [...published].sort((a, b) => (a.seq < b.seq ? -1 : 1));
	let want = 0;
	for (const m of order) want = step(want, m.k);

	// Wait (bounded) for every subscriber to have everything.
	const lag = () => subs.reduce((a, st) => a + (MSGS - st.n), 0);
	while (lag() > 0 && Date.now() < deadline) await sleep(100);
	const tAll = Date.now() - t0;
	const { parsed } = await fetchMetrics(s);
	t.diagnostic(
		`subscribe ${tSubs} ms, publish ${tPub} ms, all delivered at ${tAll} ms; deliveries_total ${sample0(parsed, 'crier_hub_deliveries_total')}, ` +
			`slow ${sample0(parsed, 'crier_hub_slow_consumers_total', { policy: 'disconnect' })}`
	);
	const short = subs.map((st, i) => [i, st]).filter(([, st]) => st.n !== MSGS || st.bad || st.sub.closed);
	assert.equal(
		short.length,
		0,
		`${short.length} subscribers incomplete or broken, e.g. ` +
			short.slice(0, 5).map(([i, st]) => `#${i} (${i % 2 ? 'ws' : 'sse'}) ${st.n}/${MSGS}${st.bad ? ' ' + st.bad : ''}${st.sub.closed ? ' closed' : ''}`).join('; ')
	);
	const wrong = subs.filter((st) => st.h !== want).length;
	assert.equal(wrong, 0, `${wrong} subscribers received the messages in another order than the ids`);
	await sleep(300);
	assert.equal(subs.filter((st) => st.n !== MSGS).length, 0, 'no duplicates after the end');
	assert.equal(sample0(parsed, 'crier_hub_slow_consumers_total', { policy: 'disconnect' }), 0);
	for (const p of pubs) p.close();
	for (const st of subs) st.sub.close();
});
