// The demo (GET /demo) in Chromium, two pages on one channel: a chat
// message typed in one page arrives in the other over /ws (crier.v1) and
// in both SSE feeds (native EventSource), with the same id everywhere.
// Then each Drop button, with messages published during the drop: the
// WebSocket side resumes with subscribe.since, the EventSource side with a
// new EventSource(...?lastEventId=); every message exactly once, in order.
// With a tiny history the resume gets a gap notice, shown on the page.
// No console errors; screenshots in artifacts/ (demo.png for the README).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../e2e/lib/server.mjs';
import { assertNoConsoleErrors, launchBrowser, openHubPage, publish, screenshot } from './lib/browser.mjs';

const demoState = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.demo)));

async function waitFor(page, fn, arg, what, timeoutMs = 8000) {
	try {
		await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 50 });
	} catch {
		throw new Error(`${what} within ${timeoutMs} ms; page state: ${JSON.stringify(await demoState(page))}`);
	}
}

const waitLive = (page) =>
	waitFor(page, () => window.demo && window.demo.ws.state === 'live' && window.demo.sse.state === 'live', null, 'both sides live');

const waitCount = (page, side, n) =>
	waitFor(page, ([s, k]) => window.demo[s].ids.length >= k, [side, n], `${n} messages on ${side}`);

/** Every side of every page saw exactly `want` (ids and data), in order, no gap. */
async function assertExactly(pages, want, what) {
	await sleep(300); // a duplicate would arrive now
	for (const [name, page] of pages) {
		const st = await demoState(page);
		for (const side of ['ws', 'sse']) {
			const got = st[side].ids.map((id, i) => ({ id, data: st[side].data[i] }));
			const missing = want.filter((w) => !got.some((g) => g.id === w.id));
			const dups = got.filter((g, i) => got.findIndex((x) => x.id === g.id) !== i);
			assert.deepEqual({ missing, dups }, { missing: [], dups: [] }, `${what}: ${name} ${side}`);
			assert.deepEqual(got, want, `${what}: ${name} ${side} has every message once, in order`);
			assert.deepEqual(st[side].gaps, [], `${what}: ${name} ${side} no gap`);
		}
	}
}

test('demo: chat between two pages over /ws and SSE; drop and resume on both transports, no loss, no duplicate', { timeout: 50000 }, async (t) => {
	const [srv, browser] = await Promise.all([startServer(t), launchBrowser(t)]);
	const origin = `http://127.0.0.1:${srv.port}`;
	const channel = 'room.demo';
	const a = await openHubPage(t, browser, `${origin}/demo?channel=${channel}&name=alice`);
	const b = await openHubPage(t, browser, `${origin}/demo?channel=${channel}&name=bob`);
	const wsFrames = [];
	a.page.on('websocket', (ws) => ws.on('framesent', (f) => wsFrames.push(String(f.payload))));
	await Promise.all([waitLive(a.page), waitLive(b.page)]);

	// 1. Alice types, everyone sees it (both pages, both transports).
	await a.page.fill('#ws-text', 'hello from alice');
	await a.page.click('#ws-send');
	await Promise.all([waitCount(a.page, 'ws', 1), waitCount(a.page, 'sse', 1), waitCount(b.page, 'ws', 1), waitCount(b.page, 'sse', 1)]);
	const first = (await demoState(b.page)).ws;
	assert.deepEqual(JSON.parse(first.data[0]), { from: 'alice', text: 'hello from alice' });
	const want = [{ id: first.ids[0], data: first.data[0] }];
	await b.page.fill('#ws-text', 'hi alice');
	await b.page.press('#ws-text', 'Enter');
	await waitCount(a.page, 'ws', 2);
	want.push({ id: (await demoState(a.page)).ws.ids[1], data: JSON.stringify({ from: 'bob', text: 'hi alice' }) });
	await Promise.all([waitCount(a.page, 'sse', 2), waitCount(b.page, 'ws', 2), waitCount(b.page, 'sse', 2)]);
	assert.match(await b.page.textContent('#ws-log'), /alice: hello from alice/);
	assert.match(await a.page.textContent('#sse-log'), /bob: hi alice/);
	await assertExactly([['alice', a.page], ['bob', b.page]], want, 'chat');

	const publishDuring = async (n, tag) => {
		for (let k = 0; k < n; k++) {
			const r = await publish(srv.port, channel, `${tag} ${k}`);
			want.push({ id: r.id, data: `${tag} ${k}` });
		}
	};

	// 2. Drop alice's WebSocket; publish while it is down; it resumes with since.
	const lastWs = (await demoState(a.page)).ws.lastId;
	await a.page.click('#ws-drop');
	await waitFor(a.page, () => window.demo.ws.state === 'reconnecting', null, 'ws reconnecting');
	await publishDuring(5, 'during ws drop');
	await waitFor(a.page, () => window.demo.ws.reconnects >= 1 && window.demo.ws.state === 'live', null, 'ws back');
	const resume = wsFrames.map((f) => JSON.parse(f)).filter((f) => f.op === 'subscribe').at(-1);
	assert.deepEqual(resume, { op: 'subscribe', ref: 'sub', channels: [channel], since: lastWs }, 'resumed from the last id');
	assert.match(await a.page.textContent('#ws-status'), /resumed/);

	// 3. Drop alice's EventSource; publish while it is down; it resumes with ?lastEventId=.
	await waitCount(a.page, 'sse', want.length);
	const lastSse = (await demoState(a.page)).sse.lastId;
	await a.page.click('#sse-drop');
	await publishDuring(5, 'during sse drop');
	await waitFor(a.page, () => window.demo.sse.reconnects >= 1 && window.demo.sse.state === 'live', null, 'sse back');
	const esUrls = a.requests.map((r) => r.url()).filter((u) => u.includes(`/sub/${channel}`));
	assert.equal(esUrls.at(-1), `${origin}/sub/${channel}?lastEventId=${encodeURIComponent(lastSse)}`);

	for (const p of [a.page, b.page]) await Promise.all([waitCount(p, 'ws', want.length), waitCount(p, 'sse', want.length)]);
	await assertExactly([['alice', a.page], ['bob', b.page]], want, 'after both drops');
	assert.match(await a.page.textContent('#ws-log'), /dropped at/);

	await a.page.fill('#ws-text', 'still here?');
	await screenshot(a.page, 'demo');
	assertNoConsoleErrors(a);
	assertNoConsoleErrors(b);
});

test('demo: a resume past history shows a gap notice on both sides', { timeout: 40000 }, async (t) => {
	const [srv, browser] = await Promise.all([startServer(t, { args: ['--history-size', '3'] }), launchBrowser(t)]);
	const channel = 'gappy';
	const ctx = await openHubPage(t, browser, `http://127.0.0.1:${srv.port}/demo?channel=${channel}`);
	const { page } = ctx;
	await waitLive(page);
	await publish(srv.port, channel, 'before');
	await Promise.all([waitCount(page, 'ws', 1), waitCount(page, 'sse', 1)]);

	await page.click('#ws-drop');
	await page.click('#sse-drop');
	// All at once, well inside the page's 250-300 ms before it reconnects.
	const answers = await Promise.all(Array.from({ length: 8 }, (_, k) => publish(srv.port, channel, `missed ${k}`)));
	const ids = answers.map((r) => r.id).sort((x, y) => Number(x.split('-')[1]) - Number(y.split('-')[1]));
	await waitFor(page, () => window.demo.ws.gaps.length === 1 && window.demo.sse.gaps.length === 1, null, 'a gap notice on each side');
	await Promise.all([waitCount(page, 'ws', 4), waitCount(page, 'sse', 4)]);
	const st = await demoState(page);
	for (const side of ['ws', 'sse']) {
		assert.equal(st[side].gaps[0].reason, 'expired', side);
		assert.deepEqual(st[side].ids.slice(1), ids.slice(-3), `${side}: then the 3 messages history still holds`);
	}
	assert.match(await page.textContent('#ws-log'), /messages lost after .*; continuing from .* \(expired\)/);
	assert.match(await page.textContent('#sse-log'), /messages lost after .*; continuing from .* \(expired\)/);
	await screenshot(page, 'demo_gap');
	assertNoConsoleErrors(ctx);
});
