// `crier bench fanout|echo|connect` against the real hub: every mode runs
// briefly and prints one JSON line whose figures add up (fan-out on each of
// SSE, raw WebSocket, crier.v1 and long-poll delivers everything exactly
// once and in order; echo round trips with no mismatch; connect establishes
// every connection and, given the hub's pid, reports its memory); --human
// prints a table instead; a bad option is a usage error (exit 2); an
// unreachable hub is one clear sentence, exit 1, quickly; and --timeout on
// a job that cannot finish returns partial figures with complete=false.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCrier, SANITIZER_RE, startServer } from './lib/server.mjs';

const T = { timeout: 60000 };

function url(s) {
	return `http://127.0.0.1:${s.port}`;
}

/** Runs `crier bench ...`; returns the result with `json` (the parsed
 * stdout line, or null). */
async function bench(args, timeoutMs = 30000) {
	const r = await runCrier(['bench', ...args], { timeoutMs });
	assert.doesNotMatch(r.stderr, SANITIZER_RE, r.stderr);
	assert.equal(r.timedOut, false, `crier bench ${args.join(' ')} did not finish\n${r.stderr}`);
	const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
	r.json = null;
	if (lines.length === 1 && lines[0].startsWith('{')) r.json = JSON.parse(lines[0]);
	return r;
}

const NUMBERS = {
	fanout: ['subs', 'msgs', 'subscribed', 'failed', 'connect_s', 'published', 'expected', 'received', 'lost',
		'duplicated', 'out_of_order', 'deliveries_per_s', 'p50_us', 'p90_us', 'p99_us', 'p999_us', 'max_us',
		'rss_before_kb', 'rss_connected_kb', 'rss_per_conn_bytes', 'rss_peak_kb', 'errors', 'ack_p50_us'],
	echo: ['conns', 'round_trips', 'rps', 'p50_us', 'p90_us', 'p99_us', 'p999_us', 'max_us', 'errors',
		'connected', 'failed', 'mismatches', 'client_cpu_util'],
	connect: ['conns', 'connected', 'failed', 'dropped', 'connect_seconds', 'conns_per_s', 'rss_before_kb',
		'rss_after_kb', 'rss_per_conn_bytes', 'setup_p50_us', 'errors'],
};

function assertFields(j, mode) {
	assert.equal(j.bench, mode);
	for (const k of NUMBERS[mode]) assert.equal(typeof j[k], 'number', `${k} in ${JSON.stringify(j)}`);
	assert.equal(typeof j.complete, 'boolean');
}

for (const transport of ['sse', 'ws', 'wsproto', 'poll']) {
	test(`fanout over ${transport}: 50 subscribers x 200 messages, each delivered once, in order`, T, async (t) => {
		// History must hold the run: a poller between two polls is fed from it.
		const s = await startServer(t, { args: ['--history-size', '1000', '--poll-timeout', '30s'] });
		const r = await bench(['fanout', '--url', url(s), '--transport', transport, '--subs', '50',
			'--msgs', '200', '--channels', '2', '--publishers', '2', '--settle-ms', '100',
			'--timeout', '30', '--server-pid', String(s.pid)]);
		assert.equal(r.code, 0, r.stderr);
		const j = r.json;
		assert.ok(j, r.stdout);
		assertFields(j, 'fanout');
		assert.equal(j.transport, transport);
		assert.equal(j.subscribed, 50);
		assert.equal(j.published, 200);
		assert.equal(j.expected, 50 * 200 / 2);
		assert.equal(j.received, j.expected);
		for (const k of ['lost', 'duplicated', 'out_of_order', 'misrouted', 'stale', 'gaps', 'errors', 'failed'])
			assert.equal(j[k], 0, `${k}: ${JSON.stringify(j)}`);
		assert.equal(j.complete, true);
		assert.equal(j.timed_out, false);
		assert.ok(j.deliveries_per_s > 0);
		assert.ok(j.p50_us <= j.p99_us && j.p99_us <= j.max_us, JSON.stringify(j));
		assert.ok(j.rss_before_kb > 0 && j.rss_connected_kb > 0 && j.rss_peak_kb >= j.rss_connected_kb);
	});
}

test('fanout publishing over /ws (--pub-transport wsproto) is acknowledged and delivered', T, async (t) => {
	const s = await startServer(t);
	const r = await bench(['fanout', '--url', url(s), '--transport', 'ws', '--subs', '20', '--msgs', '100',
		'--pub-transport', 'wsproto', '--settle-ms', '50']);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.json.pub_transport, 'wsproto');
	assert.equal(r.json.published, 100);
	assert.equal(r.json.received, 2000);
	assert.equal(r.json.errors, 0);
});

test('fanout --pub-url publishes to another node: two memory-engine nodes share nothing, so all is lost', T, async (t) => {
	const a = await startServer(t);
	const b = await startServer(t);
	const r = await bench(['fanout', '--url', url(a), '--pub-url', url(b), '--transport', 'sse', '--subs', '5',
		'--msgs', '40', '--settle-ms', '50', '--drain', '0.5']);
	assert.equal(r.code, 1, r.stderr); // loss is an error
	assert.equal(r.json.pub_url, url(b));
	assert.equal(r.json.published, 40);
	assert.equal(r.json.received, 0);
	assert.equal(r.json.lost, 200);
	const info = await (await fetch(`${url(b)}/channels/bench0`, { signal: AbortSignal.timeout(5000) })).json();
	assert.equal(info.published, 40);
	const onA = await fetch(`${url(a)}/channels/bench0`, { signal: AbortSignal.timeout(5000) });
	assert.ok(onA.status === 404 || (await onA.json()).published === 0);
});

test('echo against crier serve --echo: round trips, no mismatch', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const r = await bench(['echo', '--url', `ws://127.0.0.1:${s.port}/echo`, '--conns', '10',
		'--duration', '1', '--warmup', '0.2', '--threads', '2', '--size', '200']);
	assert.equal(r.code, 0, r.stderr);
	const j = r.json;
	assertFields(j, 'echo');
	assert.equal(j.connected, 10);
	assert.ok(j.round_trips > 0, JSON.stringify(j));
	assert.equal(j.rps, j.round_trips); // one measured second
	assert.equal(j.errors, 0);
	assert.equal(j.mismatches, 0);
	assert.equal(j.complete, true);
	assert.ok(j.p50_us > 0 && j.p50_us <= j.p99_us && j.p99_us <= j.max_us, JSON.stringify(j));
});

test('echo without --echo on the hub fails clearly (the upgrade is refused)', T, async (t) => {
	const s = await startServer(t);
	const r = await bench(['echo', '--url', url(s), '--conns', '3', '--duration', '1']);
	assert.equal(r.code, 1);
	assert.equal(r.json.connected, 0);
	assert.equal(r.json.complete, false);
	assert.match(r.stderr, /no connection completed the upgrade.*404/);
});

for (const transport of ['http', 'sse', 'ws', 'wsproto', 'poll']) {
	test(`connect --transport ${transport}: 200 connections established, RSS per connection`, T, async (t) => {
		const s = await startServer(t, { args: ['--max-connections', '1000'] });
		const r = await bench(['connect', '--url', url(s), '--transport', transport, '--conns', '200',
			'--server-pid', String(s.pid), '--hold', '0.2', '--settle', '0.2', '--prime', '4']);
		assert.equal(r.code, 0, r.stderr);
		const j = r.json;
		assertFields(j, 'connect');
		assert.equal(j.transport, transport);
		assert.equal(j.connected, 200);
		assert.equal(j.failed, 0);
		assert.equal(j.dropped, 0);
		assert.equal(j.complete, true);
		assert.ok(j.conns_per_s > 0);
		assert.ok(j.rss_after_kb >= j.rss_before_kb && j.rss_per_conn_bytes >= 0, JSON.stringify(j));
	});
}

test('--human prints a table, not JSON', T, async (t) => {
	const s = await startServer(t);
	const r = await bench(['connect', '--url', url(s), '--conns', '20', '--human']);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.json, null);
	const lines = r.stdout.trim().split('\n');
	assert.equal(lines[0], 'crier bench connect');
	assert.match(r.stdout, /^ {2}connected +20$/m);
	assert.match(r.stdout, /^ {2}transport +http$/m);
	assert.ok(lines.length > 10);
});

test('bad options exit 2 with a message', async () => {
	for (const args of [
		['fanout', '--bogus'],
		['fanout', '--subs', 'many'],
		['fanout', '--transport', 'carrier-pigeon'],
		['fanout', '--size', '8'],
		['echo', '--subs', '5'],
		['connect', '--url', 'https://127.0.0.1:1'],
		['connect', '--conns'],
		['teleport'],
		[],
	]) {
		const r = await bench(args);
		assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
		assert.match(r.stderr, /crier bench/);
		assert.equal(r.stdout, '');
	}
	const help = await bench(['--help']);
	assert.equal(help.code, 0);
	assert.match(help.stdout, /crier bench fanout/);
	assert.match(help.stdout, /--server-pid PID/);
});

test('an unreachable hub fails fast with a clear message', async () => {
	const started = Date.now();
	for (const mode of ['fanout', 'echo', 'connect']) {
		const r = await bench([mode, '--url', 'http://127.0.0.1:1', '--timeout', '3']);
		assert.equal(r.code, 1, r.stderr);
		assert.match(r.stderr, /cannot connect to 127\.0\.0\.1:1 \(Connection refused\)/);
		assert.equal(r.stdout, '');
	}
	assert.ok(Date.now() - started < 15000);
});

test('--timeout on a job that cannot finish returns partial figures, complete=false', T, async (t) => {
	const s = await startServer(t);
	const started = Date.now();
	const r = await bench(['fanout', '--url', url(s), '--transport', 'ws', '--subs', '10', '--msgs', '1000',
		'--rate', '5', '--settle-ms', '0', '--timeout', '1.5']);
	const took = Date.now() - started;
	assert.equal(r.code, 1, r.stderr);
	const j = r.json;
	assert.ok(j, r.stdout);
	assert.equal(j.complete, false);
	assert.equal(j.timed_out, true);
	assert.equal(j.stop, 'timeout');
	assert.ok(j.published > 0 && j.published < 1000, JSON.stringify(j));
	// What was published arrived (give or take the publish in flight at the cut).
	assert.ok(Math.abs(j.received - j.published * 10) <= 10, JSON.stringify(j));
	assert.ok(j.lost > 0);
	assert.equal(j.duplicated + j.out_of_order, 0);
	assert.ok(took < 10000, `took ${took} ms`);
});
