// Chromium's native EventSource against the real crier: in-order delivery,
// multi-line data, named events; the page lives on crier's own origin.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer } from '../e2e/lib/server.mjs';
import {
	assertNoConsoleErrors,
	launchBrowser,
	openTestPage,
	pageEvents,
	publish,
	screenshot,
	waitEvents,
	idSeq,
} from './lib/browser.mjs';

test('EventSource receives published messages in order, multi-line data and named events', { timeout: 30000 }, async (t) => {
	const [srv, browser] = await Promise.all([startServer(t), launchBrowser(t)]);
	const origin = `http://127.0.0.1:${srv.port}`;
	const ctx = await openTestPage(t, browser, origin);
	const { page } = ctx;

	// Requests to other paths of the intercepted origin reach the real hub.
	const health = await page.evaluate(async () => {
		const r = await fetch('/healthz');
		return { status: r.status, body: await r.text() };
	});
	assert.equal(health.status, 200, `GET /healthz from the page: ${JSON.stringify(health)}`);

	const subResp = page.waitForResponse((r) => r.url().startsWith(`${origin}/sub/`));
	await page.evaluate(() => window.openES('/sub/news,scores', { events: ['score'] }));
	const resp = await subResp;
	assert.equal(resp.status(), 200);
	assert.match(resp.headers()['content-type'] || '', /^text\/event-stream/);
	await waitEvents(page, 'open', 1);

	const sent = [];
	sent.push(await publish(srv.port, 'news', 'first'));
	assert.equal(sent[0].subscribers, 1, 'the page is a subscriber of the real hub');
	sent.push(await publish(srv.port, 'news', 'line one\nline two\n\nline four'));
	sent.push(await publish(srv.port, 'scores', '{"home":2,"away":1}', { event: 'score' }));
	sent.push(await publish(srv.port, 'news', 'ünïcødé ✓ 🎉'));
	for (let i = 0; i < 20; i++) sent.push(await publish(srv.port, i % 2 ? 'news' : 'scores', `burst ${i}`));

	const got = await waitEvents(page, 'message', sent.length);
	assert.equal(got.length, sent.length, 'no duplicates');
	const want = [
		{ id: sent[0].id, event: 'message', data: 'first' },
		{ id: sent[1].id, event: 'message', data: 'line one\nline two\n\nline four' },
		{ id: sent[2].id, event: 'score', data: '{"home":2,"away":1}' },
		{ id: sent[3].id, event: 'message', data: 'ünïcødé ✓ 🎉' },
		...sent.slice(4).map((s, i) => ({ id: s.id, event: 'message', data: `burst ${i}` })),
	];
	assert.deepEqual(
		got.map(({ id, event, data }) => ({ id, event, data })),
		want,
	);
	for (let i = 1; i < got.length; i++) assert.ok(idSeq(got[i].id) > idSeq(got[i - 1].id), 'ids strictly increase');
	assert.deepEqual(await pageEvents(page, 'error'), [], 'no EventSource error');
	assert.deepEqual(await pageEvents(page, 'gap'), []);

	await screenshot(page, 'sse_basic');
	assertNoConsoleErrors(ctx);
});
