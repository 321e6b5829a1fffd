// A page served by its own HTTP server (another port: another origin)
// subscribes with a credentialed EventSource. crier lets it in only when
// the origin is in --allowed-origins, echoing it (never "*") with
// Access-Control-Allow-Credentials: true, as credentialed CORS requires.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { startServer } from '../e2e/lib/server.mjs';
import {
	PAGE_HTML,
	assertNoConsoleErrors,
	launchBrowser,
	openTestPage,
	pageEvents,
	publish,
	screenshot,
	waitEvents,
} from './lib/browser.mjs';

async function startPageServer(t) {
	const server = http.createServer((req, res) => {
		if (req.url === '/test.html') {
			res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
			res.end(PAGE_HTML);
		} else {
			res.writeHead(404);
			res.end();
		}
	});
	await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
	t.after(() => new Promise((resolve) => server.close(() => resolve())));
	server.closeIdleConnections?.();
	return { port: server.address().port, origin: `http://127.0.0.1:${server.address().port}` };
}

test('cross-origin EventSource withCredentials: allowed origin is echoed, messages arrive; other origins are refused', { timeout: 40000 }, async (t) => {
	const pages = await startPageServer(t);
	const [allowed, closed, browser] = await Promise.all([
		startServer(t, { args: ['--allowed-origins', pages.origin] }),
		startServer(t),
		launchBrowser(t),
	]);
	// A real loopback page talking to a loopback hub: no local-network-access
	// permission is needed (unlike a page the test intercepts).
	const ctx = await openTestPage(t, browser, pages.origin, { intercept: false, permissions: [] });
	const { page, context } = ctx;
	await context.addCookies([{ name: 'session', value: 'abc123', domain: '127.0.0.1', path: '/' }]);

	// Allowed: the origin is echoed with credentials, and messages flow.
	const hub = `http://127.0.0.1:${allowed.port}`;
	const respP = page.waitForResponse((r) => r.url().startsWith(`${hub}/sub/`));
	const reqP = page.waitForRequest((r) => r.url().startsWith(`${hub}/sub/`));
	await page.evaluate((url) => window.openES(url, { withCredentials: true, events: ['alert'] }), `${hub}/sub/alerts`);
	const [req, resp] = await Promise.all([reqP, respP]);
	const reqHeaders = await req.allHeaders();
	assert.equal(reqHeaders.origin, pages.origin, 'the browser sent its Origin');
	assert.match(reqHeaders.cookie || '', /session=abc123/, 'withCredentials sends the cookie');
	const h = await resp.allHeaders();
	assert.equal(resp.status(), 200);
	assert.equal(h['access-control-allow-origin'], pages.origin, 'the origin is echoed, not *');
	assert.equal(h['access-control-allow-credentials'], 'true');
	await waitEvents(page, 'open', 1);
	const sent = [await publish(allowed.port, 'alerts', 'cross 1'), await publish(allowed.port, 'alerts', 'cross 2', { event: 'alert' })];
	const got = await waitEvents(page, 'message', 2);
	assert.deepEqual(
		got.map((e) => [e.id, e.event, e.data]),
		[
			[sent[0].id, 'message', 'cross 1'],
			[sent[1].id, 'alert', 'cross 2'],
		],
	);
	await screenshot(page, 'cross_origin_allowed');
	assertNoConsoleErrors(ctx);

	// Not allowed: a hub without --allowed-origins must not let the page
	// read the stream; the browser fails the EventSource for good.
	await page.evaluate(() => window.closeES());
	const bad = `http://127.0.0.1:${closed.port}`;
	const failedP = page.waitForEvent('requestfailed', { predicate: (r) => r.url().startsWith(`${bad}/sub/`), timeout: 10000 });
	await page.evaluate((url) => window.openES(url, { withCredentials: true }), `${bad}/sub/alerts`);
	const [err] = await waitEvents(page, 'error', 1);
	assert.equal(err.state, 'closed', 'a CORS failure fails the EventSource (no reconnect)');
	const failed = await failedP;
	// What crier answered that request (the browser hides a refused
	// cross-origin response from the page): the same request from Node.
	const direct = await fetch(`${bad}/sub/alerts`, {
		headers: { Origin: pages.origin, Accept: 'text/event-stream', Cookie: 'session=abc123' },
		signal: AbortSignal.timeout(5000),
	});
	const directBody = await direct.text();
	assert.equal(direct.status, 403, `refused origin: ${direct.status} ${directBody}`);
	assert.equal(direct.headers.get('access-control-allow-origin'), null, 'no CORS grant for an origin not allowed');
	const r = await publish(closed.port, 'alerts', 'must not arrive');
	assert.equal(r.subscribers, 0, 'the refused page is no subscriber');
	const after = await pageEvents(page, 'message');
	assert.equal(after.length, 2, 'nothing from the refusing hub reached the page');
	t.diagnostic(`refusing hub: ${direct.status} ${JSON.stringify(directBody)}; browser: ${failed.failure()?.errorText}`);

	await screenshot(page, 'cross_origin_refused');
	const filtered = assertNoConsoleErrors(ctx, [/has been blocked by CORS policy/, /net::ERR_FAILED/]);
	assert.ok(filtered.length >= 1, 'Chromium reported the CORS refusal');
	t.diagnostic(`filtered console errors: ${filtered.map((e) => e.text).join(' | ')}`);
});
