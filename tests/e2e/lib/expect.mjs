// Assertions shared by the suites.
import assert from 'node:assert/strict';
import { get } from './http.mjs';

/** Asserts a rejection: exactly one complete response with `status`, a
 * short text/plain reason body and Connection: close, then the server
 * closes the connection without answering anything sent after the bad
 * request. Returns the response. */
export async function expectRejection(conn, status, { timeoutMs = 5000, closeTimeoutMs = 3000 } = {}) {
	const r = await conn.readResponse({ timeoutMs });
	assert.equal(r.status, status, `expected ${status}, got ${r.status} ${r.reason}: ${JSON.stringify(r.text)}`);
	assertRejectionShape(r);
	const extra = await conn.waitClose(closeTimeoutMs);
	assert.equal(
		extra.length,
		0,
		`server sent bytes after the rejection (a second request was read?): ${JSON.stringify(extra.toString('latin1').slice(0, 300))}`
	);
	return r;
}

export function assertRejectionShape(r) {
	assert.match(r.headers['connection'] ?? '', /\bclose\b/i, `rejection ${r.status} without Connection: close: ${r.rawHead}`);
	assert.match(r.headers['content-type'] ?? '', /^text\/plain\b/i, `rejection ${r.status} body is not text/plain: ${r.rawHead}`);
	assert.ok(r.body.length > 0 && r.body.length <= 512, `rejection ${r.status} body should be a short reason, got ${r.body.length} bytes`);
}

/** Asserts the server still serves GET /healthz on a new connection. */
export async function expectHealthy(server, what = 'after the previous step') {
	const r = await server.request(get('/healthz', ['Connection: close']), { timeoutMs: 5000 });
	assert.equal(r.status, 200, `GET /healthz ${what}: ${r.status}`);
	assert.equal(r.text, 'ok\n');
}

/** Elapsed-time assertion with a readable message. */
export function assertWithin(ms, lo, hi, what) {
	assert.ok(ms >= lo && ms <= hi, `${what}: took ${ms} ms, expected between ${lo} and ${hi} ms`);
}
