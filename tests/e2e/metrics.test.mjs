// /metrics: strict Prometheus text format 0.0.4, the families of the
// server foundation, and counters that reflect what the test did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { get, rawRequest } from './lib/http.mjs';
import { expectRejection } from './lib/expect.mjs';
import { fetchMetrics, parseExposition, sample, sample0, MetricsFormatError } from './lib/metrics.mjs';

const T = { timeout: 30000 };

const FAMILIES = {
	crier_build_info: 'gauge',
	crier_connections_open: 'gauge',
	crier_connections_accepted_total: 'counter',
	crier_connections_rejected_total: 'counter',
	crier_http_requests_total: 'counter',
	crier_http_parse_errors_total: 'counter',
	crier_http_timeouts_total: 'counter',
	crier_bytes_received_total: 'counter',
	crier_bytes_sent_total: 'counter',
	crier_loop_lag_seconds: 'histogram',
};

test('the exposition parser itself rejects malformed input', () => {
	const bad = [
		'foo 1\n', // no TYPE
		'# TYPE foo counter\nfoo{a="b" 1\n',
		'# TYPE foo counter\nfoo 1 2 3\n',
		'# TYPE foo counter\nfoo abc\n',
		'# TYPE foo counter\nfoo 1',
		'# TYPE foo counter\nfoo 1\nfoo 2\n',
		'# TYPE foo widget\nfoo 1\n',
		'# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
		'# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
		'# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n',
	];
	for (const b of bad) assert.throws(() => parseExposition(b), MetricsFormatError, JSON.stringify(b));
	const ok = '# HELP foo_total Foo.\n# TYPE foo_total counter\nfoo_total{a="x\\"y",b="z"} 3\n# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.7\nh_count 2\n';
	const p = parseExposition(ok);
	assert.equal(sample(p, 'foo_total', { a: 'x"y', b: 'z' }), 3);
});

test('/metrics is valid Prometheus text 0.0.4 with every foundation family', T, async (t) => {
	const s = await startServer(t, { workers: 2 });
	// Some traffic first so the lag histogram has observations.
	for (let i = 0; i < 3; i++) await s.request(get('/healthz'));
	await sleep(200);
	const { response, parsed, text } = await fetchMetrics(s);
	assert.equal(response.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
	for (const [name, type] of Object.entries(FAMILIES)) {
		const f = parsed.families.get(name);
		assert.ok(f, `family ${name} missing from /metrics:\n${text}`);
		assert.equal(f.type, type, `TYPE of ${name}`);
		assert.ok(f.help && f.help.length > 0, `HELP of ${name}`);
	}
	// Every family is crier_-prefixed (no stray families).
	for (const name of parsed.families.keys()) assert.match(name, /^crier_/, name);

	const bi = parsed.samples.filter((x) => x.name === 'crier_build_info');
	assert.equal(bi.length, 1);
	assert.equal(bi[0].value, 1);
	assert.match(bi[0].labels.version ?? '', /^\d+\.\d+\.\d+/);
	assert.ok((bi[0].labels.commit ?? '').length > 0, 'build_info commit label');

	assert.ok(sample(parsed, 'crier_connections_open', { transport: 'http' }) >= 1, 'connections_open{transport="http"} counts this connection');
	assert.ok(sample(parsed, 'crier_connections_accepted_total', { transport: 'http' }) >= 4);
	assert.ok(sample(parsed, 'crier_bytes_received_total') > 0);
	assert.ok(sample(parsed, 'crier_bytes_sent_total') > 0);

	const lag = parsed.families.get('crier_loop_lag_seconds');
	const workers = [...lag.histograms.values()].map((g) => g.labels.worker).sort();
	assert.deepEqual(workers, ['0', '1'], 'one lag histogram per worker');
	for (const g of lag.histograms.values()) {
		assert.ok(g.buckets.length >= 5, 'several lag buckets');
		assert.ok(g.buckets.some((b) => b.le === 0.001), 'a 1 ms bucket');
		assert.ok(g.sum >= 0);
	}
	for (const x of parsed.samples) {
		if (FAMILIES[x.family] === 'counter') assert.ok(x.value >= 0 && Number.isFinite(x.value), `${x.name} = ${x.value}`);
	}
	// Known parse error reasons should be pre-initialised at 0 (so rate()
	// works from the first scrape); missing ones are reported, not failed.
	const reasons = ['cl_and_te', 'cl_conflict', 'cl_invalid', 'te_unsupported', 'te_http10', 'obs_fold', 'header_space', 'header_name', 'header_value', 'control_char', 'bare_cr', 'bare_lf', 'chunk_size', 'chunk_ext', 'chunk_crlf', 'chunk_trailer', 'no_host', 'dup_host', 'head_too_large', 'too_many_headers', 'uri_too_long', 'body_too_large', 'version', 'h2_preface', 'request_line', 'target', 'method', 'expect'];
	const missing = reasons.filter((r) => sample(parsed, 'crier_http_parse_errors_total', { reason: r }) === undefined);
	if (missing.length) t.diagnostic(`parse_errors_total reasons not pre-initialised: ${missing.join(', ')}`);
	const missingPhases = ['header', 'body', 'idle'].filter((p) => sample(parsed, 'crier_http_timeouts_total', { phase: p }) === undefined);
	if (missingPhases.length) t.diagnostic(`timeouts_total phases not pre-initialised: ${missingPhases.join(', ')}`);
});

test('HEAD /metrics has no body; DELETE /metrics is 405', T, async (t) => {
	const s = await startServer(t);
	const h = await s.request(rawRequest('HEAD', '/metrics'), { head: true });
	assert.equal(h.status, 200);
	assert.equal(h.body.length, 0);
	assert.match(h.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
	const d = await s.request(rawRequest('DELETE', '/metrics'));
	assert.equal(d.status, 405);
	assert.match(d.headers['allow'] ?? '', /GET/);
	assert.match(d.headers['allow'] ?? '', /HEAD/);
});

test('counters reflect the test traffic exactly', T, async (t) => {
	const s = await startServer(t);
	const before = await fetchMetrics(s);
	const K = 7;
	const c = await s.connect();
	let sent = 0;
	let received = 0;
	for (let i = 0; i < K; i++) {
		const req = get('/healthz');
		await c.write(req);
		sent += req.length;
		const r = await c.readResponse();
		assert.equal(r.status, 200);
	}
	received = c.buf.length;
	const n404 = await s.connect();
	await n404.write(get('/nope'));
	assert.equal((await n404.readResponse()).status, 404);
	await n404.write(rawRequest('POST', '/healthz', { headers: ['Content-Length: 0'] }));
	assert.equal((await n404.readResponse()).status, 405);
	const bad = await s.connect();
	await bad.write(`POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
	await expectRejection(bad, 400);

	const after = await fetchMetrics(s);
	const delta = (name, labels) => sample0(after.parsed, name, labels) - sample0(before.parsed, name, labels);
	assert.equal(delta('crier_http_requests_total', { route: '/healthz', status: '200' }), K, 'requests_total{/healthz,200}');
	assert.equal(delta('crier_http_requests_total', { route: 'unmatched', status: '404' }), 1, 'requests_total{unmatched,404}');
	assert.equal(delta('crier_http_requests_total', { route: '/healthz', status: '405' }), 1, 'requests_total{/healthz,405}');
	assert.equal(delta('crier_http_parse_errors_total', { reason: 'cl_and_te' }), 1, 'parse_errors_total{cl_and_te}');
	const otherErrors = after.parsed.samples
		.filter((x) => x.name === 'crier_http_parse_errors_total' && x.labels.reason !== 'cl_and_te')
		.filter((x) => x.value !== sample0(before.parsed, x.name, x.labels));
	assert.deepEqual(otherErrors.map((x) => x.labels.reason), [], 'no other parse error counted');
	// 3 test connections + the second /metrics one (the first was accepted before `before`).
	const acc = delta('crier_connections_accepted_total', { transport: 'http' });
	assert.ok(acc >= 3 && acc <= 4, `accepted_total delta ${acc}`);
	assert.ok(delta('crier_bytes_received_total', {}) >= sent, 'bytes_received counts the requests');
	assert.ok(delta('crier_bytes_sent_total', {}) >= received, 'bytes_sent counts the responses');
	// The only route labels are route patterns or "unmatched" (no raw paths).
	for (const x of after.parsed.samples.filter((y) => y.name === 'crier_http_requests_total')) {
		assert.ok(['/healthz', '/metrics', 'unmatched'].includes(x.labels.route), `route label ${x.labels.route}`);
		assert.match(x.labels.status, /^(\d{3}|other)$/);
	}
});

test('crier_connections_open follows open connections', T, async (t) => {
	const s = await startServer(t);
	const conns = [];
	for (let i = 0; i < 3; i++) {
		const c = await s.connect();
		await c.write(get('/healthz'));
		await c.readResponse();
		conns.push(c);
	}
	const m1 = await fetchMetrics(s);
	assert.equal(sample(m1.parsed, 'crier_connections_open', { transport: 'http' }), 4, '3 idle + the /metrics connection');
	for (const c of conns) c.destroy();
	let v;
	const deadline = Date.now() + 3000;
	while (Date.now() < deadline) {
		v = sample((await fetchMetrics(s)).parsed, 'crier_connections_open', { transport: 'http' });
		if (v === 1) break;
		await sleep(100);
	}
	assert.equal(v, 1, 'only the /metrics connection remains open');
});

test('the loop lag histogram keeps counting while the server runs', T, async (t) => {
	const s = await startServer(t);
	const count = (p) => [...p.families.get('crier_loop_lag_seconds').histograms.values()].reduce((a, g) => a + g.count, 0);
	const a = count((await fetchMetrics(s)).parsed);
	await sleep(1500);
	const b = count((await fetchMetrics(s)).parsed);
	assert.ok(b > a, `lag observations grow while idle (${a} -> ${b})`);
});
