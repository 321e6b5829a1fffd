// Hub subscribers across the process lifecycle: SIGTERM ends SSE streams
// with a final retry hint and closes subscriber WebSockets with 1001, and
// the process exits 0; the hub's /metrics families move as documented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { fetchMetrics, sample, sample0 } from './lib/metrics.mjs';
import { closed, openWs, waitWs, wsUrl } from './lib/wsclient.mjs';
import { channelInfo, publishOk, SseSub, until } from './lib/hub.mjs';

const T = { timeout: 60000 };

test('SIGTERM: SSE subscribers get a final "retry:" and EOF, WebSocket subscribers close 1001, exit 0', T, async (t) => {
	const s = await startServer(t, { args: ['--sse-retry', '1500ms', '--shutdown-timeout', '3s'] });
	const sses = [];
	for (let i = 0; i < 3; i++) sses.push(await SseSub.open(s, `/sub/bye,c${i}`));
	const wss = [];
	for (let i = 0; i < 3; i++) wss.push((await openWs(wsUrl(s, `/sub/bye`), { perMessageDeflate: i % 2 === 0 })).ws);
	for (let i = 0; i < 40 && (await channelInfo(s, 'bye')).json?.subscribers !== 6; i++) await sleep(25);
	await publishOk(s, 'bye', 'before');
	for (const x of sses) await x.waitEvents(1);
	for (const w of wss) await waitWs(w, (x) => x.inbox.length >= 1, 3000, 'a message');
	const { parsed } = await fetchMetrics(s);
	assert.equal(sample0(parsed, 'crier_connections_open', { transport: 'sse' }), 3);
	assert.equal(sample0(parsed, 'crier_connections_open', { transport: 'ws' }), 3);
	const t0 = Date.now();
	s.signal('SIGTERM');
	for (const x of sses) {
		await x.waitClose(5000);
		const last = x.items[x.items.length - 1];
		assert.deepEqual(last, { type: 'retry', ms: 1500 }, `the stream should end with "retry: 1500": ${JSON.stringify(x.items.slice(-3))}`);
		assert.equal(x.events, 1);
	}
	for (const w of wss) {
		const c = await closed(w, 5000);
		assert.equal(c.code, 1001, `close ${c.code} ${c.reason}`);
	}
	const e = await s.waitExit(8000);
	assert.equal(e.code, 0, `exit ${JSON.stringify(e)}`);
	assert.ok(Date.now() - t0 < 3000, `shutdown took ${Date.now() - t0} ms with every client cooperating`);
});

test('/metrics: hub families (channels, published, history, deliveries, gaps, connections)', T, async (t) => {
	const s = await startServer(t, { args: ['--history-size', '3'] });
	const m0 = (await fetchMetrics(s)).parsed;
	for (const [name, labels] of [
		['crier_hub_channels', {}],
		['crier_hub_published_total', {}],
		['crier_hub_history_messages', {}],
		['crier_hub_history_bytes', {}],
		['crier_hub_deliveries_total', {}],
		['crier_hub_channel_limit_total', {}],
		['crier_hub_history_evictions_total', { reason: 'count' }],
		['crier_hub_history_evictions_total', { reason: 'ttl' }],
		['crier_hub_history_evictions_total', { reason: 'bytes' }],
		['crier_hub_gaps_total', { reason: 'expired' }],
		['crier_hub_gaps_total', { reason: 'epoch' }],
		['crier_hub_gaps_total', { reason: 'unknown' }],
		['crier_hub_slow_consumers_total', { policy: 'disconnect' }],
		['crier_hub_slow_consumers_total', { policy: 'catchup' }],
		['crier_connections_open', { transport: 'sse' }],
		['crier_connections_open', { transport: 'ws' }],
	]) {
		assert.equal(sample(m0, name, labels), 0, `${name}${JSON.stringify(labels)} should be exported as 0 at start`);
	}
	const a = await SseSub.open(s, '/sub/m1,m2');
	const { ws } = await openWs(wsUrl(s, '/sub/m1'));
	for (let i = 0; i < 40 && (await channelInfo(s, 'm1')).json?.subscribers !== 2; i++) await sleep(25);
	for (let i = 0; i < 5; i++) await publishOk(s, 'm1', 'abcd');
	await publishOk(s, 'm2', 'xy');
	await a.waitEvents(6);
	await waitWs(ws, (w) => w.inbox.length >= 5, 3000, '5 messages');
	const m = (await fetchMetrics(s)).parsed;
	assert.equal(sample0(m, 'crier_hub_channels'), 2);
	assert.equal(sample0(m, 'crier_hub_published_total'), 6);
	assert.equal(sample0(m, 'crier_hub_history_messages'), 4);
	assert.equal(sample0(m, 'crier_hub_history_bytes'), 3 * 4 + 2);
	assert.equal(sample0(m, 'crier_hub_history_evictions_total', { reason: 'count' }), 2);
	assert.equal(sample0(m, 'crier_hub_deliveries_total'), 11);
	assert.equal(sample0(m, 'crier_connections_open', { transport: 'sse' }), 1);
	assert.equal(sample0(m, 'crier_connections_open', { transport: 'ws' }), 1);
	a.close();
	ws.close(1000);
	await closed(ws);
});

test('SIGHUP applies hub limits live: a smaller --history-size trims on the next publish', T, async (t) => {
	const s = await startServer(t, { config: 'history-size = 10\n' });
	for (let i = 0; i < 8; i++) await publishOk(s, 'live', `m${i}`);
	assert.equal((await channelInfo(s, 'live')).json.history.length, 8);
	const from = s.mark();
	s.writeConfig('history-size = 3\n');
	s.signal('SIGHUP');
	await s.waitForLog(/msg="?config reloaded/, 5000, { from });
	await publishOk(s, 'live', 'after');
	const info = (await channelInfo(s, 'live')).json;
	assert.equal(info.history.length, 3, JSON.stringify(info));
	const { parsed } = await fetchMetrics(s);
	assert.equal(sample0(parsed, 'crier_hub_history_evictions_total', { reason: 'count' }), 6);
});

test('idle channels are reaped once history expires, freeing --max-channels; a subscribed one stays', T, async (t) => {
	const s = await startServer(t, { args: ['--history-ttl', '300ms', '--max-channels', '3'] });
	const keep = await SseSub.open(s, '/sub/kept');
	assert.equal(keep.status, 200);
	await publishOk(s, 'a', 'x');
	await publishOk(s, 'b', 'y');
	const refused = await fetch(`http://127.0.0.1:${s.port}/pub/c`, { method: 'POST', body: 'z', signal: AbortSignal.timeout(5000) });
	assert.equal(refused.status, 503, 'three channels (kept, a, b): the fourth is refused');
	// History expires after 300 ms; the reaper runs every second.
	const deadline = Date.now() + 5000;
	let ok = false;
	while (!ok && Date.now() < deadline) {
		await sleep(200);
		const r = await fetch(`http://127.0.0.1:${s.port}/pub/c`, { method: 'POST', body: 'z', signal: AbortSignal.timeout(5000) });
		ok = r.status === 200;
	}
	assert.ok(ok, 'a new channel is accepted once idle ones are reaped');
	const { parsed } = await fetchMetrics(s);
	assert.ok(sample0(parsed, 'crier_hub_channels_reaped_total') >= 2);
	assert.equal((await channelInfo(s, 'a')).status, 404, 'a was reaped');
	// The subscribed channel survived and still delivers.
	await publishOk(s, 'kept', 'still here');
	await keep.waitFor(() => keep.items.some((e) => e.data === 'still here'), 5000, 'delivery on the kept channel');
});

test('one keep-alive connection: a long-poll answered, then an SSE stream on it, then closed', T, async (t) => {
	// The stream reuses the bytes the poll's state lived in: nothing of the
	// poll may be taken for the stream's own (its expiry, say) when it ends.
	const s = await startServer(t);
	const first = await publishOk(s, 'reuse', 'one');
	await publishOk(s, 'reuse', 'two');
	const sock = net.connect(s.port, '127.0.0.1');
	t.after(() => sock.destroy());
	let got = '';
	sock.setEncoding('latin1');
	sock.on('data', (d) => (got += d));
	const host = `Host: 127.0.0.1:${s.port}\r\n`;
	sock.write(`GET /sub/reuse?since=${first} HTTP/1.1\r\n${host}Accept: application/json\r\n\r\n`);
	await until(async () => /"two"/.test(got), 5000, 'the poll answer');
	assert.match(got, /^HTTP\/1\.1 200 /);
	sock.write(`GET /sub/reuse HTTP/1.1\r\n${host}Accept: text/event-stream\r\n\r\n`);
	await until(async () => /text\/event-stream[\s\S]*:ok/.test(got), 5000, 'the stream head');
	await publishOk(s, 'reuse', 'three');
	await until(async () => /data: three\n/.test(got), 5000, `the streamed message; got ${JSON.stringify(got)}`);
	sock.destroy();
	await sleep(200);
	assert.equal((await channelInfo(s, 'reuse')).status, 200, 'the hub carries on');
});
