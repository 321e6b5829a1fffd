// Cross-origin subscribers: same-origin and origin-less requests are
// served; another Origin is refused (403) unless --allowed-origins allows
// it, and then the SSE response carries the CORS headers (origin echoed,
// credentials allowed, Vary: Origin). OPTIONS preflight answers 204.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventSource } from 'eventsource';
import { startServer } from './lib/server.mjs';
import { rawRequest } from './lib/http.mjs';
import { openWs, wsUrl, closed } from './lib/wsclient.mjs';
import { channelInfo, publishOk, SseSub } from './lib/hub.mjs';

const T = { timeout: 60000 };

async function sse(s, origin, { target = '/sub/co', headers = [] } = {}) {
	const h = origin === undefined ? headers : [`Origin: ${origin}`, ...headers];
	const sub = await SseSub.open(s, target, { headers: h });
	if (sub.status === 200) await sub.waitFor(() => sub.items.length >= 2, 3000, 'the SSE preamble');
	else {
		const n = Number(sub.headers['content-length'] ?? 0);
		await sub.waitFor(() => sub.body.length >= n || sub.closed, 3000, 'the refusal body');
	}
	sub.close();
	return sub;
}

function assertCors(sub, origin) {
	assert.equal(sub.headers['access-control-allow-origin'], origin, `ACAO for ${origin}: ${sub.head}`);
	assert.equal(sub.headers['access-control-allow-credentials'], 'true', sub.head);
	assert.match(sub.headers['vary'] ?? '', /\bOrigin\b/i, sub.head);
}

function assertNoCors(sub) {
	assert.equal(sub.headers['access-control-allow-origin'], undefined, sub.head);
	assert.equal(sub.headers['access-control-allow-credentials'], undefined, sub.head);
}

test('default: no Origin or the hub\'s own origin is served; any other Origin gets 403 (SSE, WebSocket, OPTIONS)', T, async (t) => {
	const s = await startServer(t);
	const none = await sse(s, undefined);
	assert.equal(none.status, 200);
	assertNoCors(none);
	const same = await sse(s, `http://127.0.0.1:${s.port}`);
	assert.equal(same.status, 200, `same origin: ${same.head}`);
	for (const o of ['http://evil.example', `http://127.0.0.1:${s.port + 1}`, `http://localhost:${s.port}`, 'null']) {
		const r = await sse(s, o);
		assert.equal(r.status, 403, `Origin ${o}: ${r.head}`);
		assertNoCors(r);
	}
	await assert.rejects(openWs(wsUrl(s, '/sub/co'), { origin: 'http://evil.example' }), (e) => e.status === 403);
	const pre = await s.request(
		rawRequest('OPTIONS', '/sub/co', { headers: ['Origin: http://evil.example', 'Access-Control-Request-Method: GET', 'Connection: close'] })
	);
	assert.equal(pre.status, 403, `preflight from a refused origin: ${pre.rawHead}`);
	assert.equal(pre.headers['access-control-allow-origin'], undefined);
	// A refused subscriber creates nothing.
	assert.equal((await channelInfo(s, 'co')).json.subscribers, 0);
});

test('--allowed-origins: exact origins and https://*.example.com wildcards; headers echo the origin, never *', T, async (t) => {
	const s = await startServer(t, { args: ['--allowed-origins', 'http://app.test:8080,https://*.example.com'] });
	for (const o of ['http://app.test:8080', 'https://a.example.com', 'https://deep.sub.example.com']) {
		const r = await sse(s, o);
		assert.equal(r.status, 200, `Origin ${o}: ${r.head}`);
		assertCors(r, o);
	}
	for (const o of [
		'http://app.test:8081',
		'https://app.test:8080',
		'http://app.test',
		'https://example.com',
		'http://a.example.com',
		'https://a.example.com.evil.net',
		'https://aexample.com',
		'https://a.example.com:8443',
	]) {
		const r = await sse(s, o);
		assert.equal(r.status, 403, `Origin ${o} must be refused: ${r.head}`);
	}
	// WebSocket with an allowed origin.
	const { ws } = await openWs(wsUrl(s, '/sub/co'), { origin: 'https://x.example.com' });
	ws.close(1000);
	await closed(ws);
});

test('--allowed-origins "*": every origin, still echoed (credentials allowed)', T, async (t) => {
	const s = await startServer(t, { args: ['--allowed-origins', '*'] });
	for (const o of ['http://anything.test', 'https://x.y.z:9999']) {
		const r = await sse(s, o);
		assert.equal(r.status, 200, r.head);
		assertCors(r, o);
		assert.notEqual(r.headers['access-control-allow-origin'], '*');
	}
});

test('OPTIONS preflight with an allowed Origin: 204, methods GET/OPTIONS, Last-Event-ID allowed', T, async (t) => {
	const s = await startServer(t, { args: ['--allowed-origins', 'http://app.test:8080'] });
	const r = await s.request(
		rawRequest('OPTIONS', '/sub/x,y', {
			host: `127.0.0.1:${s.port}`,
			headers: [
				'Origin: http://app.test:8080',
				'Access-Control-Request-Method: GET',
				'Access-Control-Request-Headers: last-event-id',
				'Connection: close',
			],
		})
	);
	assert.equal(r.status, 204, `${r.rawHead}\n${r.text}`);
	assert.equal(r.body.length, 0);
	assert.equal(r.headers['access-control-allow-origin'], 'http://app.test:8080');
	assert.equal(r.headers['access-control-allow-credentials'], 'true');
	assert.match(r.headers['vary'] ?? '', /\bOrigin\b/i);
	const methods = (r.headers['access-control-allow-methods'] ?? '').split(',').map((x) => x.trim().toUpperCase());
	assert.ok(methods.includes('GET') && methods.includes('OPTIONS'), `Allow-Methods: ${r.headers['access-control-allow-methods']}`);
	assert.match(r.headers['access-control-allow-headers'] ?? '', /\bLast-Event-ID\b/i);
	// The preflight does not subscribe or create the channel.
	assert.equal((await channelInfo(s, 'x')).status, 404);
});

test('eventsource with withCredentials and an allowed Origin: CORS headers on the stream, messages flow', T, async (t) => {
	const origin = 'http://app.test:8080';
	const s = await startServer(t, { args: ['--allowed-origins', origin] });
	let seenHeaders = null;
	const es = new EventSource(`http://127.0.0.1:${s.port}/sub/cred`, {
		withCredentials: true,
		fetch: async (url, init) => {
			const res = await fetch(url, { ...init, headers: { ...init.headers, Origin: origin } });
			seenHeaders = res.headers;
			return res;
		},
	});
	t.after(() => es.close());
	assert.equal(es.withCredentials, true);
	const got = [];
	es.onmessage = (e) => got.push(e.data);
	await new Promise((resolve, reject) => {
		es.onopen = resolve;
		es.onerror = (e) => reject(new Error(`eventsource error: ${e.message ?? e.type}`));
		setTimeout(() => reject(new Error('eventsource did not open in 5 s')), 5000);
	});
	assert.equal(seenHeaders.get('access-control-allow-origin'), origin);
	assert.equal(seenHeaders.get('access-control-allow-credentials'), 'true');
	for (let i = 0; i < 20 && (await channelInfo(s, 'cred')).json?.subscribers !== 1; i++) await sleep(25);
	await publishOk(s, 'cred', 'with credentials');
	const deadline = Date.now() + 3000;
	while (got.length < 1 && Date.now() < deadline) await sleep(20);
	assert.deepEqual(got, ['with credentials']);
	es.close();
});
