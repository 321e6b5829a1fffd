// Chromium's native WebSocket on GET /sub: each message one text frame,
// no envelope. The page loses its connection twice (the proxy cuts it; the
// page closes it itself) while a publisher keeps publishing, and reconnects
// with ?since=<id of the last message it got>: no loss, no duplicate.
//
// Raw WebSocket frames carry no id, so the page learns ids out of band:
// the test maps the last payload the page got to the id the publish
// answered with, and hands that id to the page's reconnect.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../e2e/lib/server.mjs';
import {
	EXPECTED,
	assertNoConsoleErrors,
	launchBrowser,
	openTestPage,
	pageEvents,
	publish,
	screenshot,
	waitEvents,
} from './lib/browser.mjs';
import { startProxy } from './lib/proxy.mjs';

test('WebSocket subscriber reconnects with ?since= after a cut and after a close, no loss, no duplicate', { timeout: 40000 }, async (t) => {
	const [srv, browser] = await Promise.all([startServer(t), launchBrowser(t)]);
	const proxy = await startProxy(t, srv.port);
	const origin = `http://127.0.0.1:${proxy.port}`;
	const ctx = await openTestPage(t, browser, origin);
	const { page } = ctx;
	const path = '/sub/room,lobby';

	await page.evaluate((url) => window.openWS(url), `ws://127.0.0.1:${proxy.port}${path}`);
	await waitEvents(page, 'open', 1);
	assert.match(proxy.heads[0], /^GET \/sub\/room,lobby HTTP\/1\.1\r\n/);
	assert.match(proxy.heads[0], /\r\nUpgrade: websocket/i);

	const sent = [];
	const byData = new Map();
	let running = true;
	const pub = (async () => {
		for (let k = 0; running; k++) {
			const data = k % 5 === 0 ? JSON.stringify({ k, text: `json ${k}` }) : `w${k}`;
			const r = await publish(srv.port, k % 3 ? 'room' : 'lobby', data);
			sent.push({ id: r.id, data });
			byData.set(data, r.id);
			await sleep(15);
		}
	})();

	const reconnect = async (how, nOpen) => {
		const msgs = await pageEvents(page, 'message');
		const last = msgs.at(-1);
		const since = byData.get(last.data);
		assert.ok(since, `the page's last message ${JSON.stringify(last.data)} was published by the test`);
		await sleep(400); // publishing goes on while the page is away
		await page.evaluate((url) => window.openWS(url), `ws://127.0.0.1:${proxy.port}${path}?since=${encodeURIComponent(since)}`);
		await waitEvents(page, 'open', nOpen);
		assert.match(proxy.heads.at(-1), new RegExp(`^GET /sub/room,lobby\\?since=${since} HTTP/1\\.1\\r\\n`), `${how}: resume request`);
		return since;
	};

	// 1. The connection is lost under the page (abortive close, no close frame).
	await waitEvents(page, 'message', 10);
	proxy.cut();
	const [closed1] = await waitEvents(page, 'close', 1);
	assert.equal(closed1.code, 1006, 'a lost connection closes with 1006');
	await reconnect('after a cut', 2);

	// 2. The page closes the socket itself, cleanly.
	const n = (await pageEvents(page, 'message')).length;
	await waitEvents(page, 'message', n + 10);
	await page.evaluate(() => window.closeWS());
	const closed2 = (await waitEvents(page, 'close', 2))[1];
	assert.equal(closed2.code, 1000);
	assert.equal(closed2.clean, true);
	await reconnect('after a close', 3);

	await sleep(300);
	running = false;
	await pub;
	await waitEvents(page, 'message', sent.length, 10000);
	await sleep(200); // a duplicate would arrive now
	const got = (await pageEvents(page, 'message')).map((e) => e.data);
	const want = sent.map((s) => s.data);
	const missing = want.filter((d) => !got.includes(d));
	const dups = got.filter((d, i) => got.indexOf(d) !== i);
	assert.deepEqual({ missing, dups }, { missing: [], dups: [] }, `page got ${got.length}, published ${sent.length}`);
	assert.deepEqual(got, want, 'every message exactly once, in publish order');
	assert.deepEqual(await pageEvents(page, 'gap'), [], 'no gap notice: everything missed was in history');

	await screenshot(page, 'ws_resume');
	const filtered = assertNoConsoleErrors(ctx, [EXPECTED.wsCut]);
	t.diagnostic(`published ${sent.length}; filtered console errors: ${filtered.map((e) => e.text).join(' | ') || 'none'}`);
});
