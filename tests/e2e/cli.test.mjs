// The command line: version, help, usage errors (exit 2), bad values,
// address in use, and the log format of a normal start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, runCrier, parseLogfmt } from './lib/server.mjs';
import { get } from './lib/http.mjs';

const T = { timeout: 30000 };

test('crier version prints "crier X.Y.Z" and exits 0', T, async () => {
	const r = await runCrier(['version']);
	assert.equal(r.code, 0, r.stderr);
	assert.match(r.stdout, /^crier \d+\.\d+\.\d+/);
});

test('crier help exits 0 and names the commands', T, async () => {
	const r = await runCrier(['help']);
	assert.equal(r.code, 0, r.stderr);
	assert.match(r.stdout, /serve/);
	assert.match(r.stdout, /version/);
});

test('crier help serve lists every server flag', T, async () => {
	const r = await runCrier(['help', 'serve']);
	assert.equal(r.code, 0, r.stderr);
	for (const f of [
		'--listen',
		'--workers',
		'--max-connections',
		'--max-header-bytes',
		'--max-uri-bytes',
		'--max-headers',
		'--max-body-bytes',
		'--header-timeout',
		'--body-timeout',
		'--keepalive-timeout',
		'--shutdown-timeout',
		'--log-level',
		'--access-log',
		'--config',
	]) {
		const re = new RegExp(`--(\\[no-\\])?${f.slice(2)}\\b`);
		assert.match(r.stdout, re, `help serve mentions ${f}`);
	}
	assert.match(r.stdout, /CRIER_MAX_HEADER_BYTES/, 'help serve names the environment variables');
});

test('crier serve --help exits 0 without starting a server', T, async () => {
	const r = await runCrier(['serve', '--help'], { timeoutMs: 5000 });
	assert.equal(r.timedOut, false, 'serve --help must not start serving');
	assert.equal(r.code, 0, r.stderr);
	assert.match(r.stdout, /--listen/);
});

test('crier bogus exits 2 with a one-line error on stderr', T, async () => {
	const r = await runCrier(['bogus']);
	assert.equal(r.code, 2);
	const lines = r.stderr.trimEnd().split('\n');
	assert.equal(lines.length, 1, `one line expected, got: ${JSON.stringify(r.stderr)}`);
	assert.match(lines[0], /bogus/);
});

const usageErrors = [
	[['serve', '--bogus-flag'], /--bogus-flag/],
	[['serve', '--workers', '9999'], /--workers/],
	[['serve', '--workers', '0x'], /--workers/],
	[['serve', '--max-header-bytes', 'lots'], /--max-header-bytes/],
	[['serve', '--header-timeout', '5x'], /--header-timeout/],
	[['serve', '--log-level', 'loud'], /--log-level/],
	[['serve', '--listen', 'not-an-address'], /--listen|not-an-address/],
	[['serve', '--max-connections'], /--max-connections/], // missing value
];

for (const [args, re] of usageErrors) {
	test(`crier ${args.join(' ')} exits 2 naming the option`, T, async () => {
		const r = await runCrier(args, { timeoutMs: 5000 });
		assert.equal(r.timedOut, false, 'must fail at start-up, not serve');
		assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
		assert.match(r.stderr, re);
		assert.ok(r.stderr.trim().split('\n').length <= 3, `short error, got: ${r.stderr}`);
	});
}

test('bad value in an environment variable exits 2 naming it', T, async () => {
	const r = await runCrier(['serve', '--listen', '127.0.0.1:0'], { env: { CRIER_MAX_HEADER_BYTES: 'lots' }, timeoutMs: 5000 });
	assert.equal(r.timedOut, false);
	assert.equal(r.code, 2, r.stderr);
	assert.match(r.stderr, /CRIER_MAX_HEADER_BYTES|max-header-bytes/);
});

test('missing config file is a clear error', T, async () => {
	const r = await runCrier(['serve', '--listen', '127.0.0.1:0', '--config', '/nonexistent/crier.conf'], { timeoutMs: 5000 });
	assert.equal(r.timedOut, false);
	assert.notEqual(r.code, 0);
	assert.match(r.stderr, /nonexistent\/crier\.conf/);
});

test('crier serve on a port already in use exits non-zero with "address in use"', T, async () => {
	const blocker = net.createServer();
	await new Promise((res, rej) => {
		blocker.once('error', rej);
		blocker.listen(0, '127.0.0.1', res);
	});
	const port = blocker.address().port;
	try {
		const r = await runCrier(['serve', '--listen', `127.0.0.1:${port}`, '--workers', '2'], { timeoutMs: 8000 });
		assert.equal(r.timedOut, false, 'must fail, not serve');
		assert.notEqual(r.code, 0);
		assert.match(r.stderr, /in use|EADDRINUSE/i);
		assert.match(r.stderr, new RegExp(String(port)));
	} finally {
		blocker.close();
	}
});

test('every start-up log line is logfmt with ts, level and msg', T, async (t) => {
	const s = await startServer(t, { args: ['--log-level', 'debug'] });
	await s.request(get('/healthz'));
	await s.stop('SIGTERM', 5000);
	assert.ok(s.logs.length > 0);
	for (const line of s.logs) {
		const f = parseLogfmt(line);
		assert.ok(f, `not logfmt: ${JSON.stringify(line)}`);
		assert.match(f.ts ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, `ts in ${line}`);
		assert.match(f.level ?? '', /^(debug|info|warn|error)$/, `level in ${line}`);
		assert.ok(f.msg, `msg in ${line}`);
	}
});

test('--workers is reflected at start-up and 1 worker serves fine', T, async (t) => {
	const s = await startServer(t, { workers: 1 });
	const r = await s.request(get('/healthz'));
	assert.equal(r.status, 200);
});

test('durations and sizes accept their suffixes', T, async (t) => {
	const s = await startServer(t, {
		args: ['--header-timeout', '2500ms', '--body-timeout', '1m', '--keepalive-timeout', '1h', '--max-body-bytes', '1MiB', '--max-header-bytes', '16KiB'],
	});
	assert.equal((await s.request(get('/healthz'))).status, 200);
});
