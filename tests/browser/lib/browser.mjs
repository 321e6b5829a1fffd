// Debian's Chromium driven by playwright-core (no browser download), a test
// page served on crier's own origin by interception, and the checks every
// browser test shares: console errors, a non-blank screenshot.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = path.resolve(HERE, '..', 'artifacts');
export const PAGE_HTML = fs.readFileSync(path.join(HERE, 'page.html'), 'utf8');
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

const ARGS = [
	'--headless=new',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
];

/** Launches Chromium for test t (closed after it). playwright's launch()
 * gives every browser a fresh temporary user data dir, removed on close. */
export async function launchBrowser(t) {
	if (!fs.existsSync(CHROMIUM_BIN)) throw new Error(`no Chromium at ${CHROMIUM_BIN} (apt-get install chromium, or make deps)`);
	const browser = await chromium.launch({ executablePath: CHROMIUM_BIN, args: ARGS, timeout: 20000 });
	t.after(() => browser.close().catch(() => {}));
	return browser;
}

/** A new page of context whose console errors, page errors and requests
 * are collected. */
async function watchedPage(context) {
	const page = await context.newPage();
	page.setDefaultTimeout(15000);
	const consoleErrors = [];
	const pageErrors = [];
	const requests = [];
	page.on('console', (m) => {
		if (m.type() === 'error') consoleErrors.push({ text: m.text(), url: m.location()?.url || '', at: Date.now() });
	});
	page.on('pageerror', (e) => pageErrors.push(String(e)));
	page.on('request', (r) => requests.push(r));
	return { page, consoleErrors, pageErrors, requests };
}

/**
 * Opens the test page at `${origin}/test.html` in a fresh context. When
 * `intercept` (the default) the page itself is fulfilled by playwright
 * (crier serves no pages), so the page's origin is `origin` and its
 * EventSource/WebSocket requests to other paths go to the real server.
 * contextOptions go to browser.newContext (e.g. ignoreHTTPSErrors for a
 * test certificate). Returns {context, page, consoleErrors, pageErrors,
 * requests}.
 */
export async function openTestPage(t, browser, origin, { title = t.name, intercept = true, permissions = ['local-network-access'], contextOptions = {} } = {}) {
	const context = await browser.newContext({ viewport: { width: 900, height: 700 }, permissions, ...contextOptions });
	const { page, consoleErrors, pageErrors, requests } = await watchedPage(context);
	if (intercept) {
		await page.route(`${origin}/test.html`, (r) => r.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: PAGE_HTML }));
	}
	const resp = await page.goto(`${origin}/test.html`, { waitUntil: 'load' });
	assert.equal(resp.status(), 200, 'test page served');
	await page.evaluate((s) => {
		document.getElementById('title').textContent = s;
	}, title);
	return { context, page, consoleErrors, pageErrors, requests };
}

/**
 * Opens one of crier's own pages (GET /, /demo: served by the hub, so the
 * page is on a real loopback origin and needs no interception or extra
 * permission) in a fresh context. Returns {context, page, consoleErrors,
 * pageErrors, requests} like openTestPage.
 */
export async function openHubPage(t, browser, url, { viewport = { width: 1100, height: 760 } } = {}) {
	const context = await browser.newContext({ viewport });
	t.after(() => context.close().catch(() => {}));
	const { page, consoleErrors, pageErrors, requests } = await watchedPage(context);
	const resp = await page.goto(url, { waitUntil: 'load' });
	assert.equal(resp.status(), 200, `${url} served`);
	return { context, page, consoleErrors, pageErrors, requests };
}

/** Events the page recorded, optionally only of one kind. */
export async function pageEvents(page, kind) {
	const evs = await page.evaluate(() => window.events);
	return kind ? evs.filter((e) => e.kind === kind) : evs;
}

/** Waits (bounded) until the page recorded at least n events of kind. */
export async function waitEvents(page, kind, n, timeoutMs = 10000) {
	try {
		await page.waitForFunction(([k, c]) => window.events.filter((e) => e.kind === k).length >= c, [kind, n], {
			timeout: timeoutMs,
			polling: 50,
		});
	} catch (e) {
		const evs = await pageEvents(page).catch(() => []);
		throw new Error(`page saw ${evs.filter((x) => x.kind === kind).length} of ${n} '${kind}' events within ${timeoutMs} ms; ` +
			`last events: ${JSON.stringify(evs.slice(-8))}`);
	}
	return pageEvents(page, kind);
}

/**
 * Asserts the page logged no console error and threw nothing, except
 * console errors matching one of `expected` (the connection errors a test
 * provokes on purpose). Returns the errors that were filtered out.
 */
export function assertNoConsoleErrors(ctx, expected = []) {
	assert.deepEqual(ctx.pageErrors, [], 'uncaught exceptions on the test page');
	const filtered = [];
	const unexpected = [];
	for (const e of ctx.consoleErrors) (expected.some((re) => re.test(e.text)) ? filtered : unexpected).push(e);
	assert.deepEqual(unexpected.map((e) => e.text), [], 'unexpected console errors on the test page');
	return filtered;
}

// Connection errors Chromium logs when a stream is cut or a server is
// down; a test lists the ones its outage may cause.
export const EXPECTED = {
	sseCut: /^(GET |Failed to load resource: )?.*net::ERR_(CONNECTION_RESET|CONNECTION_CLOSED|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING)/,
	sseRefused: /^(GET |Failed to load resource: )?.*net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|SOCKET_NOT_CONNECTED)/,
	wsCut: /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/sub\/[^']*' failed/,
};

/**
 * Screenshots the page into artifacts/NAME.png and checks it is not blank:
 * a real PNG of some size whose pixels vary (decoded by the browser itself,
 * so no image library is needed).
 */
export async function screenshot(page, name) {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	const file = path.join(ARTIFACTS, `${name}.png`);
	const png = await page.screenshot({ path: file, fullPage: false });
	assert.ok(png.length > 3000, `screenshot ${file} is only ${png.length} bytes`);
	assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
	const stats = await page.evaluate(async (b64) => {
		const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
		const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
		const cv = new OffscreenCanvas(bmp.width, bmp.height);
		const cx = cv.getContext('2d');
		cx.drawImage(bmp, 0, 0);
		const d = cx.getImageData(0, 0, bmp.width, bmp.height).data;
		let sum = 0;
		let sum2 = 0;
		const colors = new Set();
		const n = d.length / 4;
		for (let i = 0; i < d.length; i += 4) {
			const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
			sum += y;
			sum2 += y * y;
			if (colors.size < 1000) colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
		}
		const mean = sum / n;
		return { width: bmp.width, height: bmp.height, variance: sum2 / n - mean * mean, colors: colors.size };
	}, png.toString('base64'));
	assert.ok(stats.variance > 20 && stats.colors > 8, `screenshot ${file} looks blank: ${JSON.stringify(stats)}`);
	return { file, bytes: png.length, ...stats };
}

/** Publishes data to crier at port; returns the parsed 200 answer. */
export async function publish(port, channel, data, { event } = {}) {
	const q = event ? `?event=${encodeURIComponent(event)}` : '';
	const r = await fetch(`http://127.0.0.1:${port}/pub/${channel}${q}`, {
		method: 'POST',
		body: data,
		signal: AbortSignal.timeout(5000),
	});
	const text = await r.text();
	assert.equal(r.status, 200, `publish to ${channel}: ${r.status} ${text}`);
	const j = JSON.parse(text);
	assert.match(j.id, /^[0-9a-f]{8}-\d+$/);
	assert.equal(j.channel, channel);
	return j;
}

/** Orders two crier ids (same epoch): <0, 0, >0. */
export function idSeq(id) {
	return Number(id.split('-')[1]);
}
export function idEpoch(id) {
	return id.split('-')[0];
}
