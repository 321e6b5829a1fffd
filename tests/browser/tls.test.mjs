// Chromium (BoringSSL, a TLS stack that is not OpenSSL) against crier's
// TLS: the page lives on crier's https origin; its EventSource and its
// WebSocket (wss://) receive what is published on the plain port beside.
// The certificate is made at test time; the context accepts it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { makeTempDir, startServer } from '../e2e/lib/server.mjs';
import { assertNoConsoleErrors, launchBrowser, openTestPage, pageEvents, publish, screenshot, waitEvents } from './lib/browser.mjs';

test('EventSource and WebSocket over TLS in Chromium', { timeout: 40000 }, async (t) => {
	const dir = makeTempDir();
	const cert = path.join(dir, 'cert.pem');
	const key = path.join(dir, 'key.pem');
	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore', timeout: 20000 });
	const [srv, browser] = await Promise.all([
		startServer(t, { args: ['--tls-cert', cert, '--tls-key', key, '--tls-listen', '127.0.0.1:0'] }),
		launchBrowser(t),
	]);
	const tlsLine = await srv.waitForLog(/msg="?listening"? .*tls=on/, 5000);
	const tlsPort = Number(/addr=127\.0\.0\.1:(\d+)/.exec(tlsLine)[1]);
	const origin = `https://127.0.0.1:${tlsPort}`;
	const ctx = await openTestPage(t, browser, origin, { contextOptions: { ignoreHTTPSErrors: true } });
	const { page } = ctx;

	const health = await page.evaluate(async () => (await fetch('/healthz')).text());
	assert.equal(health, 'ok\n', 'GET /healthz over TLS from the page');

	await page.evaluate(() => window.openES('/sub/secure'));
	await waitEvents(page, 'open', 1);
	const sent = [];
	for (let i = 0; i < 5; i++) sent.push(await publish(srv.port, 'secure', `es ${i}`));
	const got = await waitEvents(page, 'message', 5);
	assert.deepEqual(
		got.map((e) => [e.id, e.data]),
		sent.map((s, i) => [s.id, `es ${i}`]),
	);
	await page.evaluate(() => window.closeES());

	await page.evaluate((url) => window.openWS(url), `wss://127.0.0.1:${tlsPort}/sub/secure`);
	await waitEvents(page, 'open', 2);
	const big = 'z'.repeat(50000); // several TLS records
	await publish(srv.port, 'secure', big);
	const all = await waitEvents(page, 'message', 6);
	assert.equal(all[5].data, big);
	assert.deepEqual(await pageEvents(page, 'error'), []);
	await screenshot(page, 'tls');
	assertNoConsoleErrors(ctx);
});
