// The Redis engine over TLS (rediss://) against a real redis-server that
// listens on a TLS port only and asks for client certificates
// (tls-auth-clients yes). A CA, a server certificate (SAN IP:127.0.0.1,
// DNS:localhost), a client certificate and, for the failure paths, a
// second CA and a server certificate for another name are made at test
// time with the openssl CLI. Covers: publish on A, delivery and resume on
// B; a large message (many TLS records each way); the host-name check by
// name (SNI) and by address; a CA that does not trust the server, a
// certificate for another name, no client certificate, plain redis://
// against the TLS port (each: /healthz degraded, publishes 503 at once, a
// log line with the reason, no hang); redis-server restarted mid-run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir, runCrier, startServer } from './lib/server.mjs';
import { fetchMetrics, sample0 } from './lib/metrics.mjs';
import { get } from './lib/http.mjs';
import { parseId, publish, publishOk, SseSub, until } from './lib/hub.mjs';
import { startRedis } from './lib/redis.mjs';

const T = { timeout: 60000 };

// ---- certificates ----------------------------------------------------------

const dir = makeTempDir();
const f = (name) => path.join(dir, name);
function openssl(...args) {
	execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 });
}
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
function makeCa(name) {
	openssl('req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=crier ${name}`);
}
function makeCert(name, ca, ext, serial) {
	fs.writeFileSync(f(`${name}.cnf`), ext);
	openssl('req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
	openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', serial, '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.cnf`);
}
makeCa('ca');
makeCa('other-ca');
makeCert('server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n', '0x1001');
makeCert('elsewhere', 'ca', 'subjectAltName=DNS:redis.elsewhere.example\n', '0x1002');
makeCert('client', 'ca', 'extendedKeyUsage=clientAuth\n', '0x2001');

/** redis-server's TLS settings (its certificate: server, or `cert`). */
function redisTls(cert = 'server') {
	return { cert: f(`${cert}.pem`), key: f(`${cert}.key`), ca: f('ca.pem'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

/** crier's flags for rediss://: trust `ca`, present the client certificate unless told not to. */
function tlsFlags({ ca = 'ca', client = true } = {}) {
	return ['--redis-tls-ca', f(`${ca}.pem`), ...(client ? ['--redis-tls-cert', f('client.pem'), '--redis-tls-key', f('client.key')] : [])];
}

function node(t, url, args = []) {
	return startServer(t, { args: ['--engine', 'redis', '--redis-url', url, ...args] });
}

async function healthy(s, timeoutMs = 10000) {
	return until(async () => (await s.request(get('/healthz', ['Connection: close']))).status === 200, timeoutMs, `node ${s.port} healthy`);
}

function events(sub) {
	return sub.eventList().map((e) => ({ id: e.id, event: e.event, data: e.data }));
}

/** A node that cannot reach Redis: degraded, publishes refused at once,
 * the reason in its log; it keeps trying (bounded waits throughout). */
async function assertRefused(s, reason) {
	const line = await s.waitForLog(/msg="redis unreachable/, 8000);
	assert.match(line, reason);
	const hz = await s.request(get('/healthz', ['Connection: close']));
	assert.equal(hz.status, 503);
	assert.equal(hz.text, 'degraded: redis\n');
	const t0 = Date.now();
	const r = await publish(s, 'never', 'x');
	assert.equal(r.status, 503, r.text);
	assert.ok(Date.now() - t0 < 1000, `503 at once, took ${Date.now() - t0} ms`);
	return line;
}

// ---- tests -----------------------------------------------------------------

test('rediss://: publish on A is delivered on B; B resumes from an id of A; a 300 KB message crosses intact', T, async (t) => {
	const redis = await startRedis(t, { tls: redisTls() });
	const [a, b] = await Promise.all([node(t, redis.url, tlsFlags()), node(t, redis.url.replace('127.0.0.1', 'localhost'), tlsFlags())]);
	await Promise.all([healthy(a), healthy(b)]);
	assert.match(await a.waitForLog(/msg="engine: redis"/), /tls="?on \(client certificate\)"?/);
	const sub = await SseSub.open(b, '/sub/secure');
	await sleep(300);
	const ids = [];
	for (let i = 0; i < 5; i++) ids.push(await publishOk(a, 'secure', `m${i}`));
	await sub.waitEvents(5, 10000);
	assert.deepEqual(
		events(sub).map((e) => [e.id, e.data]),
		ids.map((id, i) => [id, `m${i}`])
	);
	// Resume on B from the second id published on A: exactly the rest.
	const late = await SseSub.open(b, '/sub/secure', { headers: [`Last-Event-ID: ${ids[1]}`] });
	await late.waitEvents(3, 10000);
	assert.deepEqual(
		events(late).map((e) => e.id),
		ids.slice(2)
	);
	// A message larger than many TLS records, both ways (publish and pub/sub).
	const big = 'x'.repeat(300 * 1024 - 7) + 'the-end';
	const bigId = await publishOk(a, 'secure', big);
	await sub.waitEvents(6, 10000);
	const last = events(sub)[5];
	assert.equal(last.id, bigId);
	assert.equal(last.data.length, big.length);
	assert.ok(last.data === big, 'the large message arrived byte for byte');
	assert.equal(await redis.cli('XLEN', 'crier:h:secure'), '6');
	const m = (await fetchMetrics(a)).parsed;
	assert.equal(sample0(m, 'crier_redis_tls_handshake_failures_total'), 0);
	assert.equal(sample0(m, 'crier_redis_up'), 1);
});

test('rediss:// with a CA that did not sign the server certificate: degraded, 503, "certificate verify failed", counted, retried', T, async (t) => {
	const redis = await startRedis(t, { tls: redisTls() });
	const a = await node(t, redis.url, tlsFlags({ ca: 'other-ca' }));
	await assertRefused(a, /reason="TLS handshake: certificate verify failed \((self-signed certificate in certificate chain|unable to get local issuer certificate)\)"/);
	await until(async () => sample0((await fetchMetrics(a)).parsed, 'crier_redis_tls_handshake_failures_total') >= 3, 10000, 'retries with backoff, each counted');
	assert.ok(a.running);
});

test('rediss:// to a server whose certificate names another host: refused by the host-name check', T, async (t) => {
	const redis = await startRedis(t, { tls: redisTls('elsewhere') });
	const a = await node(t, redis.url, tlsFlags());
	await assertRefused(a, /certificate verify failed \(.*(mismatch|IP address).*\)/i);
	const b = await node(t, redis.url.replace('127.0.0.1', 'localhost'), tlsFlags());
	await assertRefused(b, /certificate verify failed \(.*(mismatch|hostname).*\)/i);
});

test('rediss:// without a client certificate when Redis demands one: degraded, 503, the TLS alert in the log, counted', T, async (t) => {
	const redis = await startRedis(t, { tls: redisTls() });
	const a = await node(t, redis.url, tlsFlags({ client: false }));
	await assertRefused(a, /reason="TLS handshake: .*certificate required/);
	assert.ok(sample0((await fetchMetrics(a)).parsed, 'crier_redis_tls_handshake_failures_total') >= 1);
	// The same Redis, with a certificate: fine.
	const b = await node(t, redis.url, tlsFlags());
	await healthy(b);
	await publishOk(b, 'ok', 'yes');
});

test('plain redis:// against the TLS port does not hang: a clear reason, backoff, publishes 503 at once', T, async (t) => {
	const redis = await startRedis(t, { tls: redisTls() });
	const a = await node(t, redis.url.replace('rediss://', 'redis://'), ['--redis-timeout', '1s']);
	await assertRefused(a, /reason="(.* before answering \(a TLS port\? that needs rediss:\/\/\)|connect timed out.*)"/);
	await sleep(1500);
	const hz = await a.request(get('/healthz', ['Connection: close']));
	assert.equal(hz.status, 503, 'never reported up');
	assert.equal(sample0((await fetchMetrics(a)).parsed, 'crier_redis_connections_up'), 0);
});

test('redis-server restarted mid-run: the nodes reconnect over TLS by themselves; the subscriber is told of the gap and goes on', T, async (t) => {
	const redis = await startRedis(t, { tls: redisTls() });
	const [a, b] = await Promise.all([node(t, redis.url, [...tlsFlags(), '--redis-timeout', '1s']), node(t, redis.url, [...tlsFlags(), '--redis-timeout', '1s'])]);
	await Promise.all([healthy(a), healthy(b)]);
	const sub = await SseSub.open(b, '/sub/restart');
	await sleep(300);
	const before = await publishOk(a, 'restart', 'before');
	await sub.waitEvents(1, 10000);
	await redis.kill();
	await a.waitForLog(/msg="redis connection lost"/, 5000);
	assert.equal((await publish(a, 'restart', 'during')).status, 503);
	await redis.restart();
	await Promise.all([healthy(a), healthy(b)]);
	const after = await publishOk(a, 'restart', 'after');
	assert.notEqual(parseId(after).epoch, parseId(before).epoch);
	await sub.waitFor(() => events(sub).some((e) => e.data === 'after'), 10000, 'the message after the restart');
	const evs = events(sub);
	assert.equal(evs[0].id, before);
	assert.equal(evs[1].event, 'crier.gap');
	assert.equal(evs[evs.length - 1].id, after);
	const m = (await fetchMetrics(a)).parsed;
	assert.ok(sample0(m, 'crier_redis_reconnects_total') >= 1);
	assert.equal(sample0(m, 'crier_redis_tls_handshake_failures_total'), 0);
});

test('start-up errors: unreadable --redis-tls-ca, a key without its certificate, a key that does not match', T, async () => {
	let r = await runCrier(['serve', '--listen', '127.0.0.1:0', '--engine', 'redis', '--redis-url', 'rediss://127.0.0.1:1', '--redis-tls-ca', f('missing.pem')]);
	assert.notEqual(r.code, 0);
	assert.match(r.stderr + r.stdout, /--redis-tls-ca: cannot load the CA certificates/);
	r = await runCrier(['serve', '--listen', '127.0.0.1:0', '--engine', 'redis', '--redis-url', 'rediss://127.0.0.1:1', '--redis-tls-key', f('client.key')]);
	assert.notEqual(r.code, 0);
	assert.match(r.stderr + r.stdout, /--redis-tls-key: needs --redis-tls-cert/);
	r = await runCrier(['serve', '--listen', '127.0.0.1:0', '--engine', 'redis', '--redis-url', 'rediss://127.0.0.1:1', '--redis-tls-cert', f('client.pem'), '--redis-tls-key', f('server.key')]);
	assert.notEqual(r.code, 0);
	assert.match(r.stderr + r.stdout, /--redis-tls-key: does not match --redis-tls-cert|cannot load the private key/);
});
