// Authentication against the real hub: JWTs made here with node:crypto
// (HS256, RS256, ES256), checked by crier with the algorithm from its own
// configuration. Each refusal has its status, a WWW-Authenticate challenge
// and no subscription behind it; grants are per channel and per action;
// the publish key publishes and nothing else; a query-string token is
// refused unless --allow-query-token, and never reaches the access log;
// a token's exp ends a live SSE stream (event crier.auth) and a raw
// WebSocket (4001) on time, while a crier.v1 connection that refreshes
// its token stays up; a cross-site WebSocket carrying the cookie is
// refused (CSWSH); crier sub/pub send --token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, runCrier, startServer } from './lib/server.mjs';
import { get } from './lib/http.mjs';
import { SseSub, WsSub, channelInfo, publish, until } from './lib/hub.mjs';
import { V1 } from './lib/crierv1.mjs';
import { openWs, wsUrl, closed } from './lib/wsclient.mjs';
import { fetchMetrics, sample0 } from './lib/metrics.mjs';

async function refusedCount(s, reason) {
	const { parsed } = await fetchMetrics(s);
	return sample0(parsed, 'crier_auth_failures_total', { reason });
}

const T = { timeout: 30000 };
const KEY = 'a-test-secret-that-is-at-least-32-bytes-long';
const now = () => Math.floor(Date.now() / 1000);
const b64u = (b) => Buffer.from(b).toString('base64url');

function sign(claims, { alg = 'HS256', key = KEY, header = {} } = {}) {
	const input = `${b64u(JSON.stringify({ alg, typ: 'JWT', ...header }))}.${b64u(JSON.stringify(claims))}`;
	let sig = Buffer.alloc(0);
	if (alg.startsWith('HS')) sig = crypto.createHmac(`sha${alg.slice(2)}`, key).update(input).digest();
	else if (alg.startsWith('RS')) sig = crypto.sign(`sha${alg.slice(2)}`, Buffer.from(input), key);
	else if (alg.startsWith('ES')) sig = crypto.sign(`sha${alg.slice(2)}`, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
	return `${input}.${b64u(sig)}`;
}

const grants = (subscribe, publish = []) => ({ sub: 'user-1', exp: now() + 600, crier: { subscribe, publish } });

async function hub(t, extra = []) {
	return startServer(t, { args: ['--auth', 'required', '--jwt-key', KEY, '--access-log', ...extra] });
}

function subReq(s, target, headers = []) {
	return s.request(get(target, ['Accept: text/event-stream', 'Connection: close', ...headers]), { timeoutMs: 3000 }).catch((e) => ({ status: 0, error: e }));
}

/** The status of a subscribe attempt that must be refused, and its head. */
async function refused(s, target, headers, status) {
	const r = await subReq(s, target, headers);
	assert.equal(r.status, status, `GET ${target} ${JSON.stringify(headers)} -> ${r.status} ${r.text ?? ''}`);
	return r;
}

const bearer = (tok) => [`Authorization: Bearer ${tok}`];

test('required: no token 401 with a Bearer challenge; a valid token streams; other channels 403', T, async (t) => {
	const s = await hub(t);
	let r = await refused(s, '/sub/news', [], 401);
	assert.match(r.headers['www-authenticate'], /^Bearer realm="crier"$/);
	assert.match(r.text, /authentication required/);
	const tok = sign(grants(['news', 'user.1.*']));
	const sub = await SseSub.open(s, '/sub/news,user.1.inbox', { headers: bearer(tok) });
	assert.equal(sub.status, 200);
	r = await refused(s, '/sub/news,sports', bearer(tok), 403);
	assert.match(r.text, /does not grant subscribe on 'sports'/);
	r = await refused(s, '/sub/user.2.inbox', bearer(tok), 403);
	// Nothing subscribed behind the refusals: only the open stream counts.
	const info = await channelInfo(s, 'news').catch(() => null);
	assert.ok(info === null || info.status !== 200 || info.json.subscribers <= 1);
	sub.close();
});

test('every bad token is a 401 naming the reason, and subscribes nothing', T, async (t) => {
	const s = await hub(t, ['--jwt-issuer', 'https://issuer.example', '--jwt-audience', 'crier']);
	const good = { ...grants(['news']), iss: 'https://issuer.example', aud: ['other', 'crier'] };
	assert.equal((await SseSub.open(s, '/sub/news', { headers: bearer(sign(good)) })).status, 200);
	const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
	const cases = [
		['expired', sign({ ...good, exp: now() - 5 }), /token expired/],
		['not yet valid', sign({ ...good, nbf: now() + 300 }), /not yet valid/],
		['wrong issuer', sign({ ...good, iss: 'https://evil.example' }), /issuer/],
		['wrong audience', sign({ ...good, aud: 'someone-else' }), /audience/],
		['wrong key', sign(good, { key: 'another-secret-that-is-also-32-bytes-long!!' }), /signature/],
		['alg none', sign(good, { alg: 'none' }), /algorithm/],
		['HS512 instead of HS256', sign(good, { alg: 'HS512' }), /algorithm/],
		['RS/HS confusion', sign(good, { key: publicKey.export({ type: 'spki', format: 'pem' }) }).replace(/^[^.]+/, b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))), /signature/],
		['tampered', sign(good).replace(/\.([^.]+)\./, `.${b64u(JSON.stringify({ ...good, crier: { subscribe: ['*'] } }))}.`), /signature/],
		['malformed', 'not-a-jwt', /malformed/],
		['not bearer', null, /malformed/],
	];
	for (const [what, tok, re] of cases) {
		const r = await refused(s, '/sub/news', tok === null ? ['Authorization: Basic dXNlcjpwYXNz'] : bearer(tok), 401);
		assert.match(r.text, re, what);
		assert.match(r.headers['www-authenticate'], /^Bearer realm="crier", error="invalid_token"/, what);
	}
	// Every refusal is counted by reason.
	assert.equal(await refusedCount(s, 'auth_expired'), 1);
	assert.equal(await refusedCount(s, 'auth_not_yet_valid'), 1);
	assert.equal(await refusedCount(s, 'auth_alg'), 2);
	assert.equal(await refusedCount(s, 'auth_signature'), 3);
	assert.equal(await refusedCount(s, 'auth_malformed'), 2);
	assert.equal(await refusedCount(s, 'auth_missing'), 0);
});

test('RS256 and ES256 public keys; an HS256 token signed with the RSA public key is refused', T, async (t) => {
	const dir = makeTempDir();
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
	const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
	const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
	fs.writeFileSync(path.join(dir, 'rsa.pem'), rsaPem);
	fs.writeFileSync(path.join(dir, 'ec.pem'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
	const s1 = await startServer(t, { args: ['--auth', 'required', '--jwt-public-key', path.join(dir, 'rsa.pem')] });
	assert.equal((await SseSub.open(s1, '/sub/news', { headers: bearer(sign(grants(['news']), { alg: 'RS256', key: rsa.privateKey })) })).status, 200);
	let r = await refused(s1, '/sub/news', bearer(sign(grants(['news']), { alg: 'HS256', key: rsaPem })), 401);
	assert.match(r.text, /algorithm/);
	const s2 = await startServer(t, { args: ['--auth', 'required', '--jwt-public-key', path.join(dir, 'ec.pem')] });
	assert.equal((await SseSub.open(s2, '/sub/news', { headers: bearer(sign(grants(['news']), { alg: 'ES256', key: ec.privateKey })) })).status, 200);
	r = await refused(s2, '/sub/news', bearer(sign(grants(['news']), { alg: 'RS256', key: rsa.privateKey })), 401);
});

test('publish needs a publish grant or the publish key; the publish key cannot subscribe', T, async (t) => {
	const s = await hub(t, ['--publish-key', 'backend-secret']);
	const tok = sign(grants(['*'], ['chat.*']));
	let r = await publish(s, 'chat.room1', 'hi', { headers: bearer(tok) });
	assert.equal(r.status, 200, r.text);
	r = await publish(s, 'news', 'hi', { headers: bearer(tok) });
	assert.equal(r.status, 403);
	assert.match(r.text, /does not grant publish on 'news'/);
	r = await publish(s, 'news', 'hi');
	assert.equal(r.status, 401);
	r = await publish(s, 'news', 'hi', { headers: bearer('backend-secret') });
	assert.equal(r.status, 200, r.text);
	r = await publish(s, 'news', 'hi', { headers: bearer('backend-secreT') });
	assert.equal(r.status, 401);
	await refused(s, '/sub/news', bearer('backend-secret'), 403);
	// Channel info is for subscribers too.
	r = await s.request(get('/channels/news', ['Connection: close']));
	assert.equal(r.status, 401);
	r = await s.request(get('/channels/news', [...bearer(tok), 'Connection: close']));
	assert.equal(r.status, 200);
});

test('optional: anonymous may subscribe but not publish; a bad token is still a 401', T, async (t) => {
	const s = await startServer(t, { args: ['--auth', 'optional', '--jwt-key', KEY] });
	assert.equal((await SseSub.open(s, '/sub/anything')).status, 200);
	assert.equal((await publish(s, 'anything', 'x')).status, 403);
	await refused(s, '/sub/anything', bearer('garbage'), 401);
	assert.equal((await publish(s, 'anything', 'x', { headers: bearer(sign(grants([], ['*']))) })).status, 200);
});

test('?token= is refused unless --allow-query-token, and is redacted in the access log', T, async (t) => {
	const tok = sign(grants(['news']));
	const s1 = await hub(t);
	const r = await refused(s1, `/sub/news?token=${tok}`, [], 401);
	assert.match(r.text, /query string not accepted/);
	const s2 = await hub(t, ['--allow-query-token']);
	const from = s2.mark();
	const sub = await SseSub.open(s2, `/sub/news?token=${tok}`);
	assert.equal(sub.status, 200);
	sub.close();
	await s2.waitForLog(/msg="?access/, 3000, { from });
	const logs = s2.logs.slice(from).join('\n');
	assert.match(logs, /token=REDACTED/);
	assert.ok(!logs.includes(tok.split('.')[2]), 'the signature never reaches the log');
	assert.ok(!logs.includes(tok.split('.')[1]), 'nor the claims');
});

test('a cookie token works with --jwt-cookie; a cross-site WebSocket carrying it is refused (CSWSH)', T, async (t) => {
	const s = await hub(t, ['--jwt-cookie', 'crier_token']);
	const tok = sign(grants(['news']));
	assert.equal((await SseSub.open(s, '/sub/news', { headers: [`Cookie: theme=dark; crier_token=${tok}`] })).status, 200);
	const ws = await WsSub.open(s, '/sub/news', { headers: [`Cookie: crier_token=${tok}`, `Origin: http://127.0.0.1:${s.port}`] });
	assert.equal(ws.status, 101);
	ws.close();
	await assert.rejects(WsSub.open(s, '/sub/news', { headers: [`Cookie: crier_token=${tok}`, 'Origin: https://evil.example'] }), /403/);
});

test('exp ends a live SSE stream with event crier.auth, and a raw WebSocket with 4001, on time', T, async (t) => {
	const s = await hub(t);
	const exp = now() + 2;
	const tok = sign({ ...grants(['news']), exp });
	const sse = await SseSub.open(s, '/sub/news', { headers: bearer(tok) });
	const ws = await WsSub.open(s, '/sub/news', { headers: bearer(tok) });
	assert.equal((await publish(s, 'news', 'before', { headers: bearer(sign(grants([], ['news']))) })).status, 200);
	await sse.waitClose(8000);
	const ended = Date.now() / 1000;
	assert.ok(ended >= exp - 0.05 && ended < exp + 2, `ended at ${ended}, exp ${exp}: ${JSON.stringify(sse.items)} ${s.logs.slice(-5).join("\n")}`);
	const evs = sse.items.filter((i) => i.type === 'event');
	assert.equal(evs.at(-1).event, 'crier.auth');
	assert.deepEqual(JSON.parse(evs.at(-1).data), { reason: 'expired' });
	assert.ok(evs.some((e) => e.data === 'before'));
	await ws.waitFor(() => ws.closeFrame, 5000, 'the close frame');
	assert.equal(ws.closeFrame.payload.readUInt16BE(0), 4001);
	assert.equal(ws.closeFrame.payload.subarray(2).toString(), 'token expired');
	assert.equal(await refusedCount(s, 'auth_expired_live'), 2);
});

test('crier.v1: per-request grants, refresh keeps the connection past exp, no refresh closes with 4001', T, async (t) => {
	const s = await hub(t);
	const exp = now() + 2;
	const tok = sign({ ...grants(['news'], ['chat']), exp });
	const headers = { Authorization: `Bearer ${tok}` };
	await assert.rejects(V1.open(s), /401/);
	const a = await V1.open(s, { opts: { headers } });
	const b = await V1.open(s, { opts: { headers } });
	await a.ok({ op: 'subscribe', channels: ['news'] });
	let e = await a.request({ op: 'subscribe', channels: ['sports'] });
	assert.equal(e.op, 'error');
	assert.equal(e.code, 'forbidden');
	e = await a.request({ op: 'publish', channel: 'news', data: 'x' });
	assert.equal(e.code, 'forbidden');
	await a.ok({ op: 'publish', channel: 'chat', data: 'x' });
	e = await a.request({ op: 'refresh', token: sign({ ...grants(['news']), exp: now() - 1 }) });
	assert.equal(e.code, 'unauthorized');
	assert.match(e.message, /expired/);
	e = await a.request({ op: 'refresh', token: sign({ ...grants(['news']), sub: 'someone-else' }) });
	assert.equal(e.code, 'unauthorized');
	const ack = await a.ok({ op: 'refresh', token: sign({ ...grants(['news']), exp: now() + 60 }) });
	assert.ok(ack.exp > exp);
	const info = await closed(b.ws, 8000);
	assert.equal(info.code, 4001);
	assert.equal(info.reason, 'token expired');
	await new Promise((r) => setTimeout(r, 500));
	assert.equal(a.ws.closeInfo, null, 'the refreshed connection is still open');
	await a.ping('after exp');
	a.close();
	// Two forbidden requests and the other-subject refresh; one live expiry (b).
	assert.equal(await refusedCount(s, 'auth_forbidden'), 3);
	assert.equal(await refusedCount(s, 'auth_expired_live'), 1);
	assert.equal(await refusedCount(s, 'auth_expired'), 1);
});

test('crier sub and crier pub send --token (header, or ?token= with --token-in-query)', T, async (t) => {
	const s = await hub(t, ['--allow-query-token']);
	const url = `http://127.0.0.1:${s.port}`;
	const tok = sign(grants(['news'], ['news']));
	let r = await runCrier(['pub', '--url', url, 'news', 'nope']);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /401/);
	r = await runCrier(['pub', '--url', url, '--token', tok, 'news', 'one']);
	assert.equal(r.code, 0, r.stderr);
	const first = r.stdout.trim();
	r = await runCrier(['pub', '--url', url, 'news', 'two'], { env: { CRIER_TOKEN: tok } });
	assert.equal(r.code, 0, r.stderr);
	for (const [transport, extra] of [['sse', []], ['wsproto', ['--token-in-query']], ['poll', []], ['ws', ['--token-in-query']]]) {
		// --since the first id: the second message comes from history at once.
		r = await runCrier(['sub', '--url', url, '--transport', transport, '--token', tok, ...extra, '--since', first, '--count', '1', '--timeout', '8', 'news'], { timeoutMs: 15000 });
		assert.equal(r.code, 0, `${transport}: ${r.stderr}`);
		assert.match(r.stdout, /news \S+ two\n$/, transport);
	}
	r = await runCrier(['sub', '--url', url, '--transport', 'sse', '--max-attempts', '1', 'news'], { timeoutMs: 10000 });
	assert.equal(r.code, 1);
	assert.match(r.stderr, /401|authentication required/);
});
