// The dashboard (GET /) in Chromium: it follows $sys.stats over the
// browser's own EventSource and shows a channel with its subscriber count
// once a Node SSE client subscribes (and the new count when a second one
// does), charts that draw, a layout that fits a narrow window, a
// non-blank screenshot and no console error. Also writes the README
// screenshot (artifacts/dashboard.png).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../e2e/lib/server.mjs';
import { SseSub } from '../e2e/lib/hub.mjs';
import { assertNoConsoleErrors, launchBrowser, openHubPage, publish, screenshot } from './lib/browser.mjs';

/** Waits (bounded) until the channel's row shows `subs` subscribers. */
async function waitRow(page, channel, subs, timeoutMs = 6000) {
	try {
		await page.waitForFunction(
			([ch, n]) => {
				const row = [...document.querySelectorAll('#channels tbody tr')].find((r) => r.dataset.channel === ch);
				return row && row.querySelector('.subs').textContent === String(n);
			},
			[channel, subs],
			{ timeout: timeoutMs, polling: 100 },
		);
	} catch {
		const rows = await page.$$eval('#channels tbody tr', (rs) => rs.map((r) => r.textContent));
		throw new Error(`no row ${channel} with ${subs} subscribers within ${timeoutMs} ms; rows: ${JSON.stringify(rows)}`);
	}
}

test('dashboard: live over EventSource; shows a channel and its subscriber count; charts; narrow window', { timeout: 45000 }, async (t) => {
	const [srv, browser] = await Promise.all([startServer(t), launchBrowser(t)]);
	const origin = `http://127.0.0.1:${srv.port}`;
	const ctx = await openHubPage(t, browser, `${origin}/`);
	const { page } = ctx;

	// The page subscribes to the stats channel with the browser's EventSource.
	await page.waitForFunction(() => document.getElementById('status').dataset.state === 'live', null, { timeout: 8000 });
	assert.ok(ctx.requests.some((r) => r.url() === `${origin}/sub/$sys.stats`), 'EventSource on /sub/$sys.stats');

	const subs = [];
	t.after(() => subs.forEach((s) => s.close()));
	subs.push(await SseSub.open(srv, '/sub/sports.live'));
	await waitRow(page, 'sports.live', 1);
	subs.push(await SseSub.open(srv, '/sub/sports.live'));
	subs.push(await SseSub.open(srv, '/sub/weather'));
	await waitRow(page, 'sports.live', 2);
	await waitRow(page, 'weather', 1);

	// Some traffic, bounded in count and time, so the charts have a shape.
	const until = Date.now() + 4000;
	for (let k = 0; k < 120 && Date.now() < until; k++) {
		await publish(srv.port, k % 3 ? 'sports.live' : 'weather', `update ${k}`);
		await sleep(25);
	}
	await page.waitForFunction(() => Number(document.body.dataset.snapshots) >= 5, null, { timeout: 8000 });
	await page.waitForFunction(() => Number(document.getElementById('dps').textContent) > 0 || document.getElementById('dps').textContent.endsWith('k'), null, { timeout: 5000 });

	const view = await page.evaluate(() => ({
		conns: Number(document.getElementById('conns').textContent),
		by: document.getElementById('conns-by').textContent,
		line: document.querySelector('#chart-dps .line').getAttribute('d'),
		connLine: document.querySelector('#chart-conns .line').getAttribute('d'),
		order: [...document.querySelectorAll('#channels tbody tr')].map((r) => [r.dataset.channel, Number(r.querySelector('.subs').textContent)]),
		lastId: document.getElementById('last-id').textContent,
	}));
	assert.ok(view.conns >= 4, `connections: 3 Node streams + the page's: ${JSON.stringify(view)}`);
	assert.match(view.by, /sse [4-9]/);
	assert.match(view.line, /^M[\d.]+ [\d.]+(L[\d.]+ [\d.]+){3,}/, 'the deliveries chart has a line');
	assert.match(view.connLine, /^M/, 'the connections chart has a line');
	assert.deepEqual(view.order.slice(0, 1), [['sports.live', 2]], 'most subscribers first');
	assert.match(view.lastId, /^[0-9a-f]{8}-\d+$/, 'the last event id is shown');
	await screenshot(page, 'dashboard');

	// A subscriber leaving shows too.
	subs.shift().close();
	await waitRow(page, 'sports.live', 1);

	// Narrow window: one column, nothing wider than the viewport.
	await page.setViewportSize({ width: 380, height: 760 });
	await sleep(200);
	const fit = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
	assert.ok(fit.scroll <= fit.inner, `no horizontal scroll at 380 px: ${JSON.stringify(fit)}`);
	await screenshot(page, 'dashboard_narrow');
	assertNoConsoleErrors(ctx);
});
