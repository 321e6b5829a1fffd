// TLS end to end: a CA and server certificates made at test time with the
// openssl CLI, then curl, Node's tls/https and the `ws` client against the
// real binary. Covers the handshake policy (TLS 1.2 minimum, ALPN
// http/1.1, resumption), plain HTTP and silence on the TLS port, the
// SIGHUP certificate swap (open connections keep going, new ones see the
// new certificate, a broken file keeps the old one), --tls-listen beside
// a plain --listen, and start-up errors. Every wait is bounded.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { V1 } from './lib/crierv1.mjs';
import { fetchMetrics as fetchPlainMetrics, parseExposition, sample0 } from './lib/metrics.mjs';
import { makeTempDir, runCrier, startServer } from './lib/server.mjs';
import { openWs } from './lib/wsclient.mjs';

// ---- certificates ----------------------------------------------------------

const dir = makeTempDir();
function openssl(...args) {
	execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 });
}
// A CA, and two server certificates it signs (distinct serials) for the
// reload test; P-256 keys keep generation fast.
openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=crier test CA');
fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
for (const [name, serial] of [
	['a', '0x1001'],
	['b', '0x2002'],
]) {
	openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=localhost');
	openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial, '-out', `${name}.pem`, '-days', '2', '-extfile', 'ext.cnf');
}
const CA = path.join(dir, 'ca.pem');
const ca = fs.readFileSync(CA);
const SERIAL_A = '1001';
const SERIAL_B = '2002';

/** A private copy of certificate `name` (the reload test rewrites it). */
function certFiles(name = 'a') {
	const d = makeTempDir();
	const cert = path.join(d, 'cert.pem');
	const key = path.join(d, 'key.pem');
	fs.copyFileSync(path.join(dir, `${name}.pem`), cert);
	fs.copyFileSync(path.join(dir, `${name}.key`), key);
	return { cert, key };
}

async function startTls(t, { args = [], name = 'a', ...opts } = {}) {
	const files = certFiles(name);
	const server = await startServer(t, { ...opts, args: ['--tls-cert', files.cert, '--tls-key', files.key, ...args] });
	server.tlsFiles = files;
	return server;
}

// ---- clients ---------------------------------------------------------------

/** tls.connect, resolved on secureConnect; rejects on error or timeout. */
function tlsConnect(port, opts = {}, timeoutMs = 5000) {
	return new Promise((resolve, reject) => {
		const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...opts });
		const timer = setTimeout(() => {
			s.destroy();
			reject(new Error(`TLS connect to ${port} timed out`));
		}, timeoutMs);
		// TLS 1.2 announces its session before secureConnect, TLS 1.3 after.
		s.sessions = [];
		s.on('session', (sess) => s.sessions.push(sess));
		s.once('secureConnect', () => {
			clearTimeout(timer);
			resolve(s);
		});
		s.once('error', (e) => {
			clearTimeout(timer);
			s.destroy();
			reject(e);
		});
	});
}

/** The serial number (hex, upper case) of the certificate the server shows. */
async function servedSerial(port) {
	const s = await tlsConnect(port);
	const serial = s.getPeerCertificate().serialNumber.replace(/^0+/, '').toUpperCase();
	s.destroy();
	return serial;
}

/** GET over https with Node (bounded); resolves { status, body }. */
function httpsGet(port, p, timeoutMs = 5000) {
	return new Promise((resolve, reject) => {
		const req = https.get({ host: '127.0.0.1', port, path: p, ca, servername: 'localhost', agent: false, timeout: timeoutMs }, (res) => {
			let body = '';
			res.setEncoding('utf8');
			res.on('data', (d) => (body += d));
			res.on('end', () => resolve({ status: res.statusCode, body }));
		});
		req.on('timeout', () => req.destroy(new Error(`GET ${p} timed out`)));
		req.on('error', reject);
	});
}

async function tlsMetrics(port) {
	const r = await httpsGet(port, '/metrics');
	assert.equal(r.status, 200);
	return parseExposition(r.body);
}

/** POST /pub/ch over https (Node); resolves the JSON answer. */
function httpsPublish(port, ch, body, agent = false) {
	return new Promise((resolve, reject) => {
		const req = https.request({ host: '127.0.0.1', port, method: 'POST', path: `/pub/${ch}`, ca, servername: 'localhost', agent, timeout: 5000 }, (res) => {
			let text = '';
			res.setEncoding('utf8');
			res.on('data', (d) => (text += d));
			res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(`publish: ${res.statusCode} ${text}`))));
		});
		req.on('timeout', () => req.destroy(new Error('publish timed out')));
		req.on('error', reject);
		req.end(body);
	});
}

/** An SSE stream over https kept open; .text grows, waitFor(re) is bounded. */
function openSse(port, ch) {
	return new Promise((resolve, reject) => {
		const req = https.get({ host: '127.0.0.1', port, path: `/sub/${ch}`, ca, servername: 'localhost', agent: false, headers: { Accept: 'text/event-stream' } }, (res) => {
			const st = { res, req, text: '', ended: false, waiters: new Set() };
			res.setEncoding('utf8');
			res.on('data', (d) => {
				st.text += d;
				for (const w of [...st.waiters]) w();
			});
			res.on('end', () => {
				st.ended = true;
				for (const w of [...st.waiters]) w();
			});
			st.serial = res.socket.getPeerCertificate().serialNumber.replace(/^0+/, '').toUpperCase();
			st.waitFor = (re, timeoutMs = 5000) =>
				new Promise((ok, fail) => {
					const check = () => {
						if (typeof re === 'function' ? re(st.text) : re.test(st.text)) return done(ok);
						if (st.ended) return done(() => fail(new Error(`stream ended before ${re}: ${JSON.stringify(st.text.slice(-200))}`)));
					};
					const timer = setTimeout(() => done(() => fail(new Error(`no ${re} within ${timeoutMs} ms: ${JSON.stringify(st.text.slice(-200))}`))), timeoutMs);
					const done = (f) => {
						clearTimeout(timer);
						st.waiters.delete(check);
						f();
					};
					st.waiters.add(check);
					check();
				});
			st.close = () => req.destroy();
			resolve(st);
		});
		req.setTimeout(5000, () => req.destroy(new Error('SSE open timed out')));
		req.on('error', reject);
	});
}

function curl(args, timeoutMs = 10000) {
	return new Promise((resolve) => {
		execFile('curl', ['-sS', '--max-time', String(timeoutMs / 1000), ...args], { timeout: timeoutMs + 2000 }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
	});
}

/** Raw bytes to a port; resolves everything received until the server closes. */
function rawExchange(port, bytes, timeoutMs = 5000) {
	return new Promise((resolve, reject) => {
		const s = net.connect(port, '127.0.0.1');
		const chunks = [];
		const started = Date.now();
		const timer = setTimeout(() => {
			s.destroy();
			reject(new Error(`server did not close within ${timeoutMs} ms`));
		}, timeoutMs);
		s.on('connect', () => bytes && s.write(bytes));
		s.on('data', (d) => chunks.push(d));
		s.on('error', () => {}); // a reset is a close too
		s.on('close', () => {
			clearTimeout(timer);
			resolve({ data: Buffer.concat(chunks), ms: Date.now() - started });
		});
	});
}

/** Polls /metrics over TLS until pred(parsed) holds (bounded). */
async function waitMetrics(port, pred, what, timeoutMs = 5000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const m = await tlsMetrics(port);
		if (pred(m)) return m;
		if (Date.now() > deadline) throw new Error(`metrics never showed ${what}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

/** GET /healthz with Connection: close on an open TLS socket; the answer. */
function roundTrip(s, timeoutMs = 5000) {
	return new Promise((resolve) => {
		let text = '';
		const timer = setTimeout(() => resolve(text), timeoutMs);
		s.on('data', (d) => (text += d));
		s.on('end', () => {
			clearTimeout(timer);
			resolve(text);
		});
		s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
	});
}

const failures = (m, reason) => sample0(m, 'crier_tls_handshake_failures_total', { reason });

// ---- tests -----------------------------------------------------------------

test('curl --cacert fetches /healthz over TLS; ALPN is http/1.1', async (t) => {
	const server = await startTls(t);
	assert.match(server.listeningLine, /tls=on/);
	const r = await curl(['--cacert', CA, '-w', '\\n%{http_version} %{ssl_verify_result}', `https://127.0.0.1:${server.port}/healthz`]);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, 'ok\n\n1.1 0');
	const s = await tlsConnect(server.port, { ALPNProtocols: ['h2', 'http/1.1'] });
	assert.equal(s.alpnProtocol, 'http/1.1');
	assert.equal(s.getProtocol(), 'TLSv1.3');
	s.destroy();
	await waitMetrics(server.port, (m) => sample0(m, 'crier_tls_handshakes_total') >= 3, '3 handshakes');
});

test('curl SSE over TLS receives a published message', async (t) => {
	const server = await startTls(t);
	const proc = spawn('curl', ['-sSN', '--max-time', '10', '--cacert', CA, '-H', 'Accept: text/event-stream', `https://127.0.0.1:${server.port}/sub/news`]);
	t.after(() => proc.kill());
	let out = '';
	proc.stdout.on('data', (d) => (out += d));
	const deadline = Date.now() + 5000;
	while (!out.includes(':ok') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
	assert.ok(out.includes(':ok'), `no stream preamble: ${JSON.stringify(out)}`);
	const pub = await httpsPublish(server.port, 'news', 'over tls');
	while (!out.includes('data: over tls') && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 20));
	assert.match(out, new RegExp(`id: ${pub.id}\\ndata: over tls\\n`));
});

test('wss:// carries crier.v1 on /ws and a raw WebSocket on /sub', async (t) => {
	const server = await startTls(t);
	const { ws } = await openWs(`wss://127.0.0.1:${server.port}/ws`, { ca, servername: 'localhost' }, { protocols: 'crier.v1' });
	const c = new V1(ws);
	t.after(() => ws.terminate());
	await c.ok({ op: 'subscribe', channels: ['rt'] });
	const raw = (await openWs(`wss://127.0.0.1:${server.port}/sub/rt`, { ca, servername: 'localhost' })).ws;
	t.after(() => raw.terminate());
	// Larger than one TLS record, so sealing spans records.
	const big = 'x'.repeat(40000);
	const pub = await c.request({ op: 'publish', channel: 'rt', data: big });
	assert.equal(pub.op, 'ack', pub._raw);
	await c.waitMessages(1);
	assert.equal(c.messages()[0].data, big);
	const deadline = Date.now() + 5000;
	while (raw.inbox.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
	assert.equal(raw.inbox.length, 1, 'the raw WebSocket got the message');
	assert.equal(raw.inbox[0].data.toString('utf8'), big);
	await c.ping('after the large message');
});

test('a burst to a TLS subscriber is coalesced: far fewer writes than messages', async (t) => {
	const server = await startTls(t, { workers: 1 });
	const sse = await openSse(server.port, 'burst');
	t.after(() => sse.close());
	await sse.waitFor(/:ok/);
	const { ws } = await openWs(`wss://127.0.0.1:${server.port}/ws`, { ca, servername: 'localhost' }, { protocols: 'crier.v1' });
	const c = new V1(ws);
	t.after(() => ws.terminate());
	await c.ping('before the burst');
	const before = sample0(await tlsMetrics(server.port), 'crier_write_syscalls_total');
	const n = 200;
	// Pipelined: every publish sent before any answer is read.
	for (let i = 0; i < n; i++) c.sendRaw({ op: 'publish', ref: i, channel: 'burst', data: `m${i}` });
	const events = (text) => text.split('\ndata: m').length - 1;
	await sse.waitFor((text) => events(text) >= n, 10000);
	await c.waitFor(() => c.answers.length >= n, 10000, `${n} acks`);
	const writes = sample0(await tlsMetrics(server.port), 'crier_write_syscalls_total') - before;
	t.diagnostic(`${writes} writes for ${n} deliveries and ${n} acks`);
	// Uncoalesced: one write per delivery and per ack (2n), plus /metrics.
	assert.ok(writes < n / 2, `${writes} writes for ${n} deliveries and ${n} acks`);
});

test('TLS 1.1 is refused and counted; TLS 1.2 works', async (t) => {
	const server = await startTls(t);
	await assert.rejects(tlsConnect(server.port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), /protocol|version/i);
	const s = await tlsConnect(server.port, { maxVersion: 'TLSv1.2' });
	assert.equal(s.getProtocol(), 'TLSv1.2');
	s.destroy();
	const m = await tlsMetrics(server.port);
	assert.equal(failures(m, 'version'), 1);
});

test('ALPN: none offered is fine, h2 only is refused with no_application_protocol', async (t) => {
	const server = await startTls(t);
	const s = await tlsConnect(server.port);
	assert.equal(s.alpnProtocol, false);
	assert.match(await roundTrip(s), /^HTTP\/1\.1 200 /);
	await assert.rejects(tlsConnect(server.port, { ALPNProtocols: ['h2'] }), /application protocol/i);
	const m = await tlsMetrics(server.port);
	assert.equal(failures(m, 'alpn'), 1);
});

test('sessions resume (TLS 1.3 ticket and TLS 1.2)', async (t) => {
	const server = await startTls(t);
	for (const maxVersion of ['TLSv1.3', 'TLSv1.2']) {
		const first = await tlsConnect(server.port, { maxVersion });
		// TLS 1.3 tickets arrive after the handshake.
		first.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
		const deadline = Date.now() + 5000;
		while (first.sessions.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
		assert.ok(first.sessions.length > 0, `${maxVersion}: no session to resume`);
		const session = first.sessions.at(-1);
		first.destroy();
		const again = await tlsConnect(server.port, { maxVersion, session });
		assert.equal(again.isSessionReused(), true, `${maxVersion} resumed`);
		// A request answered: the server has finished its side too.
		assert.match(await roundTrip(again), /^HTTP\/1\.1 200 /);
		again.destroy();
	}
	const m = await tlsMetrics(server.port);
	assert.ok(sample0(m, 'crier_tls_resumed_total') >= 2);
});

test('plain HTTP to the TLS port: a 400 that says why, a close, a counter, no harm', async (t) => {
	const server = await startTls(t);
	const r = await rawExchange(server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
	assert.match(r.data.toString('latin1'), /^HTTP\/1\.1 400 [^]*speaks TLS/);
	// Garbage that is neither TLS nor HTTP is closed too.
	await rawExchange(server.port, Buffer.from('\x16\x03\x09\x00\x05hello-not-tls'));
	const m = await tlsMetrics(server.port);
	assert.equal(failures(m, 'plaintext'), 1);
	assert.ok(failures(m, 'version') + failures(m, 'other') >= 1);
	assert.equal((await httpsGet(server.port, '/healthz')).body, 'ok\n');
});

test('a stalled handshake is cut off by --header-timeout', async (t) => {
	const server = await startTls(t, { args: ['--header-timeout', '1s'] });
	// Half a ClientHello record header, then silence (slowloris over TLS).
	const r = await rawExchange(server.port, Buffer.from([0x16, 0x03, 0x01]), 5000);
	assert.ok(r.ms >= 800 && r.ms < 3500, `closed after ${r.ms} ms`);
	const silent = await rawExchange(server.port, null, 5000);
	assert.ok(silent.ms >= 800 && silent.ms < 3500, `silent one closed after ${silent.ms} ms`);
	const m = await waitMetrics(server.port, (p) => failures(p, 'incomplete') >= 1, 'the incomplete handshake');
	assert.equal(failures(m, 'incomplete'), 1);
	assert.ok(sample0(m, 'crier_http_timeouts_total', { phase: 'header' }) >= 2);
});

test('a TLS subscriber that stops reading is dropped by the outbound budget; others get everything', async (t) => {
	const server = await startTls(t, { args: ['--sse-max-backpressure', '256KiB'] });
	const slow = await tlsConnect(server.port);
	t.after(() => slow.destroy());
	slow.write('GET /sub/flood HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
	await new Promise((r) => slow.once('data', r));
	slow.pause();
	const fast = await openSse(server.port, 'flood');
	t.after(() => fast.close());
	await fast.waitFor(/:ok/);
	const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
	t.after(() => agent.destroy());
	const body = 'y'.repeat(32 * 1024);
	let sent = 0;
	const deadline = Date.now() + 30000;
	for (;;) {
		for (let i = 0; i < 10; i++, sent++) await httpsPublish(server.port, 'flood', body, agent);
		const m = await tlsMetrics(server.port);
		if (sample0(m, 'crier_hub_slow_consumers_total', { policy: 'disconnect' }) >= 1) break;
		assert.ok(sent < 1000 && Date.now() < deadline, `no slow consumer after ${sent} messages`);
	}
	const events = (text) => text.split('\ndata: y').length - 1;
	await fast.waitFor((text) => events(text) >= sent, 10000);
	assert.equal(events(fast.text), sent, 'the reading subscriber got every message');
	await server.waitForLog(/msg="sse slow consumer closed"/, 5000);
	assert.equal((await httpsGet(server.port, '/healthz')).body, 'ok\n');
});

test('over --max-connections a TLS client still gets its 503 (after the handshake)', async (t) => {
	const server = await startTls(t, { args: ['--max-connections', '1'] });
	const first = await tlsConnect(server.port);
	t.after(() => first.destroy());
	const second = await tlsConnect(server.port);
	const answer = await roundTrip(second);
	assert.match(answer, /^HTTP\/1\.1 503 /);
	second.destroy();
	assert.match(await roundTrip(first), /^HTTP\/1\.1 200 /);
});

test('SIGTERM ends a TLS event stream with its retry hint and close_notify', async (t) => {
	const server = await startTls(t);
	const sse = await openSse(server.port, 'bye');
	await sse.waitFor(/:ok/);
	const closeNotify = new Promise((resolve) => sse.res.socket.once('end', () => resolve(true)));
	server.proc.kill('SIGTERM');
	await sse.waitFor(/retry: \d+\n\n$/);
	assert.equal(await Promise.race([closeNotify, new Promise((r) => setTimeout(() => r(false), 5000))]), true);
	const exit = await server.waitExit(10000);
	assert.equal(exit.code, 0);
});

test('SIGHUP swaps the certificate: open streams continue, new connections see the new one, a broken file keeps it', async (t) => {
	const server = await startTls(t);
	const { cert, key } = server.tlsFiles;
	const sse = await openSse(server.port, 'live');
	t.after(() => sse.close());
	assert.equal(sse.serial, SERIAL_A);
	await sse.waitFor(/:ok/);

	fs.copyFileSync(path.join(dir, 'b.pem'), cert);
	fs.copyFileSync(path.join(dir, 'b.key'), key);
	let mark = server.mark();
	server.proc.kill('SIGHUP');
	await server.waitForLog(/msg="tls certificate loaded"/, 5000, { from: mark });
	// Workers adopt the new configuration asynchronously, within a moment.
	let serial;
	for (const until = Date.now() + 3000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
		serial = await servedSerial(server.port);
		if (serial === SERIAL_B) break;
	}
	assert.equal(serial, SERIAL_B);
	await httpsPublish(server.port, 'live', 'after-reload');
	await sse.waitFor(/data: after-reload\n/);

	fs.writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
	mark = server.mark();
	server.proc.kill('SIGHUP');
	await server.waitForLog(/msg="tls reload failed, keeping the current certificate"/, 5000, { from: mark });
	assert.equal(await servedSerial(server.port), SERIAL_B);
	await httpsPublish(server.port, 'live', 'after-bad-reload');
	await sse.waitFor(/data: after-bad-reload\n/);
	assert.equal(sse.ended, false);
});

test('--tls-listen serves TLS beside a plain --listen', async (t) => {
	const files = certFiles();
	const server = await startServer(t, { args: ['--tls-cert', files.cert, '--tls-key', files.key, '--tls-listen', '127.0.0.1:0'] });
	assert.match(server.listeningLine, /tls=off/);
	const tlsLine = await server.waitForLog(/msg="?listening"? .*tls=on/, 5000);
	const tlsPort = Number(/addr=127\.0\.0\.1:(\d+)/.exec(tlsLine)[1]);
	assert.notEqual(tlsPort, server.port);
	assert.equal((await httpsGet(tlsPort, '/healthz')).body, 'ok\n');
	const plain = (await fetchPlainMetrics(server)).parsed;
	assert.ok(sample0(plain, 'crier_tls_handshakes_total') >= 1, 'one metrics page for both');
	const r = await curl([`http://127.0.0.1:${server.port}/healthz`]);
	assert.equal(r.stdout, 'ok\n');
});

test('start-up refuses unusable TLS settings with exit 2 and a clear reason', async () => {
	const a = certFiles('a');
	const b = certFiles('b');
	const cases = [
		[['--tls-cert', path.join(dir, 'missing.pem'), '--tls-key', a.key], /--tls-cert: cannot load .*missing\.pem/],
		[['--tls-cert', a.cert, '--tls-key', b.key], /--tls-key: .* does not match the certificate/],
		[['--tls-cert', CA, '--tls-key', path.join(dir, 'ca.pem')], /--tls-key: cannot load/],
		[['--tls-cert', a.cert], /--tls-cert: needs --tls-key/],
		[['--tls-key', a.key], /--tls-key: needs --tls-cert/],
		[['--tls-listen', '127.0.0.1:0'], /--tls-listen: needs --tls-cert/],
	];
	for (const [args, re] of cases) {
		const r = await runCrier(['serve', '--listen', '127.0.0.1:0', ...args]);
		assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
		assert.match(r.stderr, re);
	}
});
