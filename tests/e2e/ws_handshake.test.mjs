// WebSocket opening handshake (RFC 6455 §4, RFC 7692 §5) on GET /echo:
// refusals and their status codes, the origin policy, the accept key,
// subprotocol and permessage-deflate negotiation, a first frame pipelined
// behind the handshake, and the handshake metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { startServer } from './lib/server.mjs';
import { fetchMetrics, sample } from './lib/metrics.mjs';
import { acceptFor, encodeFrame, inflateMessage, expectEcho, handshakeRequest, newKey, OP, WsRaw } from './lib/wsraw.mjs';
import { metricsSnapshot, openWs, closed, echo, runPython, wsUrl } from './lib/wsclient.mjs';

const T = { timeout: 30000 };
const REJECT_REASONS = ['ws_upgrade', 'ws_version', 'ws_key', 'ws_origin', 'ws_protocol'];

/** Sends a handshake built from opts on a fresh connection; returns the response. */
async function handshake(server, opts = {}) {
	const { bytes } = handshakeRequest({ host: `127.0.0.1:${server.port}`, ...opts });
	const c = await server.connect();
	try {
		await c.write(bytes);
		return await c.readResponse({ timeoutMs: 5000 });
	} finally {
		c.destroy();
	}
}

function assertRefusal(r, status, what) {
	assert.equal(r.status, status, `${what}: expected ${status}, got ${r.status} ${r.reason}\n${r.rawHead}\n${r.text}`);
	assert.equal(r.headers['sec-websocket-accept'], undefined, `${what}: a refusal carries no Sec-WebSocket-Accept`);
	assert.match(r.headers['content-type'] ?? '', /^text\/plain\b/i, `${what}: refusal body should be text/plain`);
	assert.ok(r.body.length > 0, `${what}: refusal should say why`);
}

test('without --echo, GET /echo is a plain 404 even with upgrade headers', T, async (t) => {
	const s = await startServer(t);
	const r = await handshake(s);
	assert.equal(r.status, 404, `${r.status} ${r.reason}`);
	assert.equal(r.headers['upgrade'], undefined);
	const { parsed } = await fetchMetrics(s);
	assert.equal(sample(parsed, 'crier_ws_upgrades_total'), 0);
});

test('handshake refusals: status, headers and crier_ws_handshake_rejected_total', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const m0 = await fetchMetrics(s);
	for (const reason of REJECT_REASONS) {
		assert.equal(
			sample(m0.parsed, 'crier_ws_handshake_rejected_total', { reason }),
			0,
			`crier_ws_handshake_rejected_total{reason="${reason}"} must be present at 0 from the start`
		);
	}
	assert.equal(sample(m0.parsed, 'crier_ws_upgrades_total'), 0);
	const protoReasons = ['ws_rsv', 'ws_opcode', 'ws_control_len', 'ws_control_frag', 'ws_cont', 'ws_not_cont', 'ws_unmasked', 'ws_masked', 'ws_len64', 'ws_close_code', 'ws_close_len', 'ws_utf8', 'ws_inflate', 'ws_too_big'];
	for (const reason of protoReasons) {
		assert.equal(sample(m0.parsed, 'crier_ws_protocol_errors_total', { reason }), 0, `crier_ws_protocol_errors_total{reason="${reason}"} present at 0`);
	}
	for (const name of ['crier_ws_slow_consumer_closes_total', 'crier_ws_idle_closes_total']) assert.equal(sample(m0.parsed, name), 0, `${name} present at 0`);
	for (const direction of ['in', 'out']) assert.equal(sample(m0.parsed, 'crier_ws_messages_total', { direction }), 0);
	for (const direction of ['sent', 'received']) {
		for (const code of ['1000', '1001', '1002', '1003', '1005', '1006', '1007', '1008', '1009', '1011', '4001', 'other']) {
			assert.equal(sample(m0.parsed, 'crier_ws_close_frames_total', { direction, code }), 0, `close frames ${direction} ${code} present at 0`);
		}
	}
	assert.equal(sample(m0.parsed, 'crier_connections_open', { transport: 'ws' }), 0);
	const snap = await metricsSnapshot(s);

	// No upgrade headers at all: 426 naming the protocol to upgrade to.
	let c = await s.connect();
	await c.write(`GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`);
	let r = await c.readResponse();
	c.destroy();
	assertRefusal(r, 426, 'plain GET /echo');
	assert.match(r.headers['upgrade'] ?? '', /^websocket$/i, `426 without Upgrade: websocket:\n${r.rawHead}`);

	r = await handshake(s, { upgrade: null });
	assertRefusal(r, 426, 'no Upgrade header');
	r = await handshake(s, { connection: 'keep-alive' });
	assertRefusal(r, 426, 'Connection without the upgrade token');
	r = await handshake(s, { upgrade: 'h2c' });
	assertRefusal(r, 426, 'Upgrade: h2c');
	r = await handshake(s, { httpVersion: 'HTTP/1.0' });
	assertRefusal(r, 426, 'HTTP/1.0 upgrade');

	// Unsupported version: 426 advertising 13.
	r = await handshake(s, { version: '12' });
	assertRefusal(r, 426, 'Sec-WebSocket-Version: 12');
	assert.equal(r.headers['sec-websocket-version'], '13', `426 must advertise version 13:\n${r.rawHead}`);
	r = await handshake(s, { version: null });
	assert.ok([400, 426].includes(r.status), `missing Sec-WebSocket-Version: ${r.status}`);

	// Bad keys: 400.
	const badKeys = [
		['missing', null],
		['not base64', 'not a key!!'],
		['15 bytes', Buffer.alloc(15, 1).toString('base64')],
		['17 bytes', Buffer.alloc(17, 1).toString('base64')],
		['empty', ''],
	];
	for (const [what, key] of badKeys) {
		r = await handshake(s, { key });
		assertRefusal(r, 400, `Sec-WebSocket-Key ${what}`);
	}
	r = await handshake(s, { headers: [`Sec-WebSocket-Key: ${newKey()}`] });
	assertRefusal(r, 400, 'two Sec-WebSocket-Key fields');

	// Origin not allowed by the default (same-origin) policy.
	r = await handshake(s, { origin: 'http://evil.example' });
	assertRefusal(r, 403, 'Origin: http://evil.example');
	r = await handshake(s, { origin: `http://127.0.0.1:${s.port + 1}` });
	assertRefusal(r, 403, 'Origin on another port');

	const d = await snap();
	// version: null may count as version or key depending on the order of
	// checks; everything else is unambiguous.
	assert.equal(d.delta('crier_ws_handshake_rejected_total', { reason: 'ws_upgrade' }), 5, 'ws_upgrade refusals');
	assert.ok(d.delta('crier_ws_handshake_rejected_total', { reason: 'ws_version' }) >= 1, 'ws_version refusals');
	assert.ok(d.delta('crier_ws_handshake_rejected_total', { reason: 'ws_key' }) >= 6, 'ws_key refusals');
	assert.equal(
		d.delta('crier_ws_handshake_rejected_total', { reason: 'ws_version' }) +
			d.delta('crier_ws_handshake_rejected_total', { reason: 'ws_key' }),
		8,
		'ws_version + ws_key refusals'
	);
	assert.equal(d.delta('crier_ws_handshake_rejected_total', { reason: 'ws_origin' }), 2, 'ws_origin refusals');
	assert.equal(d.delta('crier_ws_handshake_rejected_total', { reason: 'ws_protocol' }), 0);
	assert.equal(d.delta('crier_ws_upgrades_total'), 0, 'no refused handshake is an upgrade');
	assert.equal(d.value('crier_connections_open', { transport: 'ws' }), 0);
	await expectEcho(s);
});

test('101: accept key, Upgrade/Connection headers, no subprotocol or extension unless offered', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const snap = await metricsSnapshot(s);
	const key = 'dGhlIHNhbXBsZSBub25jZQ==';
	const ws = await WsRaw.open(s, { key });
	const r = ws.response;
	assert.equal(r.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'RFC 6455 §1.3 sample key');
	assert.equal(r.headers['sec-websocket-accept'], acceptFor(key));
	assert.match(r.headers['upgrade'] ?? '', /^websocket$/i);
	assert.match(r.headers['connection'] ?? '', /\bupgrade\b/i);
	assert.equal(r.headers['sec-websocket-protocol'], undefined);
	assert.equal(r.headers['sec-websocket-extensions'], undefined);
	assert.equal(r.headers['content-length'], undefined, '101 has no body framing');
	const d = await snap();
	assert.equal(d.delta('crier_ws_upgrades_total'), 1);
	assert.equal(d.value('crier_connections_open', { transport: 'ws' }), 1, 'one open WebSocket');
	await ws.sendClose(1000);
	await ws.readClose();
	await ws.waitTcpClose();
	ws.destroy();
});

test('header field names and tokens are case-insensitive; key with surrounding spaces', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const key = newKey();
	const c = await s.connect();
	await c.write(
		`GET /echo HTTP/1.1\r\nhost: 127.0.0.1:${s.port}\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n` +
			`sec-websocket-key:   ${key}  \r\nsec-websocket-version: 13\r\n\r\n`
	);
	const r = await c.readResponse();
	c.destroy();
	assert.equal(r.status, 101, `${r.status}\n${r.text}`);
	assert.equal(r.headers['sec-websocket-accept'], acceptFor(key));
});

test('requested subprotocol on /echo (which offers none): 101 without Sec-WebSocket-Protocol', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const ws = await WsRaw.open(s, { protocol: 'foo, bar' });
	assert.equal(ws.response.headers['sec-websocket-protocol'], undefined, ws.response.rawHead);
	ws.destroy();
	// Python websockets agrees: no subprotocol selected.
	const py = await runPython('handshake_client.py', [wsUrl(s), 'foo'], { timeoutMs: 20000 });
	assert.ok(py.json, `python client printed no JSON: ${py.stdout}\n${py.stderr}`);
	assert.equal(py.json.ok, true, JSON.stringify(py.json));
	assert.equal(py.json.subprotocol, null);
	assert.equal(py.json.echo_ok, true);
});

test('origin policy: default same-origin, "*", exact origins, wildcard subdomains', T, async (t) => {
	const def = await startServer(t, { args: ['--echo'] });
	const same = `http://127.0.0.1:${def.port}`;
	(await WsRaw.open(def, {})).destroy(); // no Origin: allowed
	(await WsRaw.open(def, { origin: same })).destroy();
	assert.equal((await handshake(def, { origin: 'http://evil.example' })).status, 403);
	assert.equal((await handshake(def, { origin: 'null' })).status, 403, 'Origin: null is refused unless listed');

	const any = await startServer(t, { args: ['--echo', '--allowed-origins', '*'] });
	(await WsRaw.open(any, { origin: 'http://evil.example' })).destroy();
	(await WsRaw.open(any, { origin: 'https://anything.example:8443' })).destroy();

	const list = await startServer(t, { args: ['--echo', '--allowed-origins', 'https://app.example,https://*.example.com'] });
	(await WsRaw.open(list, { origin: 'https://app.example' })).destroy();
	(await WsRaw.open(list, { origin: 'https://a.example.com' })).destroy();
	(await WsRaw.open(list, { origin: 'https://deep.sub.example.com' })).destroy();
	(await WsRaw.open(list, { origin: `http://127.0.0.1:${list.port}` })).destroy(); // same origin still fine
	const refused = [
		'https://evil.example',
		'http://app.example', // scheme differs
		'https://app.example.evil', // suffix trick
		'https://app.example:444', // port differs
		'https://example.com', // the wildcard needs a subdomain
		'https://evilexample.com',
		'http://a.example.com', // scheme of the wildcard entry differs
	];
	const snap = await metricsSnapshot(list);
	for (const o of refused) {
		const r = await handshake(list, { origin: o });
		assert.equal(r.status, 403, `Origin ${o} with --allowed-origins https://app.example,https://*.example.com: got ${r.status}`);
	}
	const d = await snap();
	assert.equal(d.delta('crier_ws_handshake_rejected_total', { reason: 'ws_origin' }), refused.length);

	// The node ws client sends Origin when asked; the policy applies.
	await assert.rejects(openWs(wsUrl(def), { origin: 'http://evil.example' }), (e) => e.status === 403);
	const { ws } = await openWs(wsUrl(def), { origin: same });
	ws.close(1000);
	await closed(ws);
});

test('permessage-deflate negotiation: response parameters', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const base = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
	const cases = [
		['permessage-deflate', base],
		['permessage-deflate; client_max_window_bits', base],
		['permessage-deflate; server_no_context_takeover', base],
		['permessage-deflate; server_max_window_bits=10', `${base}; server_max_window_bits=10`],
		['permessage-deflate; server_max_window_bits=15', `${base}; server_max_window_bits=15`],
		['permessage-deflate; server_max_window_bits=8, permessage-deflate', base], // 8 declined, second offer taken
		['permessage-deflate; bogus_param', null], // declined
		['x-webkit-deflate-frame', null],
	];
	for (const [offer, want] of cases) {
		const ws = await WsRaw.open(s, { extensions: offer });
		const got = ws.response.headers['sec-websocket-extensions'];
		if (want === null) assert.equal(got, undefined, `offer ${JSON.stringify(offer)}: expected no extension, got ${got}`);
		else {
			const norm = (x) => x.split(';').map((p) => p.trim().toLowerCase()).join('; ');
			assert.ok(got, `offer ${JSON.stringify(offer)}: no Sec-WebSocket-Extensions in the 101`);
			assert.equal(norm(got), norm(want), `offer ${JSON.stringify(offer)}`);
		}
		ws.destroy();
	}
	// --ws-deflate=false: never negotiated.
	const off = await startServer(t, { args: ['--echo', '--ws-deflate=false'] });
	const ws = await WsRaw.open(off, { extensions: 'permessage-deflate; client_max_window_bits' });
	assert.equal(ws.response.headers['sec-websocket-extensions'], undefined);
	ws.destroy();
	// Node ws negotiates and echoes with it.
	const n = await openWs(wsUrl(s), { perMessageDeflate: true });
	assert.match(n.upgrade.headers['sec-websocket-extensions'] ?? '', /permessage-deflate/);
	const m = await echo(n.ws, 'x'.repeat(1000));
	assert.equal(m.data.toString(), 'x'.repeat(1000));
	n.ws.close(1000);
	await closed(n.ws);
});

test('first frame pipelined in the same write as the handshake gets the 101 then the echo', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const first = Buffer.concat([
		encodeFrame({ opcode: OP.TEXT, payload: 'pipelined hello' }),
		encodeFrame({ opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]) }),
	]);
	const ws = await WsRaw.open(s, { firstFrames: first });
	const a = await ws.readMessage();
	assert.equal(a.opcode, OP.TEXT);
	assert.equal(a.data.toString(), 'pipelined hello');
	const b = await ws.readMessage();
	assert.equal(b.opcode, OP.BINARY);
	assert.deepEqual([...b.data], [1, 2, 3]);
	// Even the closing handshake in the same write.
	const ws2 = await WsRaw.open(s, {
		firstFrames: Buffer.concat([encodeFrame({ opcode: OP.TEXT, payload: 'and bye' }), encodeFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe8]) })]),
	});
	assert.equal((await ws2.readMessage()).data.toString(), 'and bye');
	const c = await ws2.readClose();
	assert.equal(c.code, 1000);
	await ws2.waitTcpClose();
	ws.destroy();
	ws2.destroy();
});

test('upgrade after a keep-alive request on the same connection; POST upgrade is refused', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const c = await s.connect();
	await c.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`);
	const h = await c.readResponse();
	assert.equal(h.status, 200);
	const { bytes, key } = handshakeRequest({ host: `127.0.0.1:${s.port}` });
	await c.write(bytes);
	const r = await c.readResponse();
	assert.equal(r.status, 101, `upgrade on a reused connection: ${r.status}`);
	assert.equal(r.headers['sec-websocket-accept'], acceptFor(key));
	const ws = new WsRaw(c, r, key);
	await ws.sendText('after keep-alive');
	assert.equal((await ws.readMessage()).data.toString(), 'after keep-alive');
	ws.destroy();

	const p = await s.connect();
	const post = handshakeRequest({ host: `127.0.0.1:${s.port}` }).bytes.toString('latin1').replace(/^GET /, 'POST ');
	await p.write(post.replace('\r\n\r\n', '\r\nContent-Length: 0\r\n\r\n'));
	const pr = await p.readResponse();
	assert.notEqual(pr.status, 101, 'POST must not upgrade');
	assert.ok(pr.status >= 400 && pr.status < 500, `POST /echo with upgrade headers: ${pr.status}`);
	p.destroy();
});

test('origin comparison is case-insensitive and knows default ports', T, async (t) => {
	const s = await startServer(t, { args: ['--echo', '--allowed-origins', 'https://app.example'] });
	(await WsRaw.open(s, { origin: 'HTTPS://APP.EXAMPLE' })).destroy();
	// Same origin with the default port written out on one side only.
	(await WsRaw.open(s, { host: 'crier.test', origin: 'http://crier.test:80' })).destroy();
	(await WsRaw.open(s, { host: 'crier.test:80', origin: 'http://crier.test' })).destroy();
	(await WsRaw.open(s, { host: 'Crier.Test', origin: 'http://crier.test' })).destroy();
	assert.equal((await handshake(s, { host: 'crier.test', origin: 'http://crier.test:8080' })).status, 403);
	assert.equal((await handshake(s, { host: 'crier.test', origin: 'http://other.test' })).status, 403);
});

test('server_max_window_bits=9: the server compresses within a 512-byte window', T, async (t) => {
	const s = await startServer(t, { args: ['--echo'] });
	const ws = await WsRaw.open(s, { extensions: 'permessage-deflate; server_max_window_bits=9' });
	assert.match(ws.response.headers['sec-websocket-extensions'] ?? '', /server_max_window_bits=9/);
	// A block of random text repeated at a distance of 4 KiB: a 32 KiB
	// window would copy it back, a 512-byte window cannot.
	const block = crypto.randomBytes(2048).toString('hex');
	const msg = block + block + block;
	await ws.sendText(msg);
	const f = await ws.readFrame();
	assert.equal(f.rsv1, true, 'the echo is compressed');
	const out = inflateMessage(f.payload);
	// (zlib's inflate does not enforce a window on one-shot output, so the
	// window shows in the size: each block must be compressed on its own.)
	const one = zlib.deflateRawSync(block, { level: 9 }).length;
	assert.ok(f.payload.length > 2.5 * one, `compressed ${msg.length} bytes to ${f.payload.length}; one block alone is ${one}: the repeats were found further back than 512 bytes`);
	assert.equal(out.toString(), msg);
	ws.destroy();
});
