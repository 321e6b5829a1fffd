// EventSource resumes after a lost connection with no loss and no
// duplicate: the browser talks to crier through a TCP proxy that the test
// cuts while a publisher keeps publishing; Chromium reconnects on its own
// and sends Last-Event-ID, and crier replays exactly what was missed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../e2e/lib/server.mjs';
import {
	EXPECTED,
	assertNoConsoleErrors,
	idSeq,
	launchBrowser,
	openTestPage,
	pageEvents,
	publish,
	screenshot,
	waitEvents,
} from './lib/browser.mjs';
import { headerOf, startProxy } from './lib/proxy.mjs';

/** Publishes `${prefix}${k}` every intervalMs until stop(); keeps the answers in order. */
function publisher(port, channels, prefix, intervalMs) {
	const sent = [];
	let running = true;
	const done = (async () => {
		for (let k = 0; running; k++) {
			const ch = channels[k % channels.length];
			const data = `${prefix}${k}`;
			const r = await publish(port, ch, data);
			sent.push({ id: r.id, data, channel: ch });
			await sleep(intervalMs);
		}
	})();
	return {
		sent,
		async stop() {
			running = false;
			await done;
			return sent;
		},
	};
}

function assertExactlyOnce(got, sent) {
	const gotPairs = got.map((e) => `${e.id} ${e.data}`);
	const sentPairs = sent.map((s) => `${s.id} ${s.data}`);
	const missing = sentPairs.filter((p) => !gotPairs.includes(p));
	const dups = gotPairs.filter((p, i) => gotPairs.indexOf(p) !== i);
	assert.deepEqual({ missing, dups }, { missing: [], dups: [] }, `page got ${got.length}, published ${sent.length}`);
	assert.deepEqual(gotPairs, sentPairs, 'every message exactly once, in publish order');
	for (let i = 1; i < got.length; i++) assert.ok(idSeq(got[i].id) > idSeq(got[i - 1].id));
}

for (const retry of ['300ms', '2s']) {
	test(`EventSource resumes with Last-Event-ID after a cut connection, no loss, no duplicate (retry ${retry})`, { timeout: 40000 }, async (t) => {
		const [srv, browser] = await Promise.all([startServer(t, { args: ['--sse-retry', retry] }), launchBrowser(t)]);
		const proxy = await startProxy(t, srv.port);
		const origin = `http://127.0.0.1:${proxy.port}`;
		const ctx = await openTestPage(t, browser, origin);
		const { page } = ctx;

		await page.evaluate(() => window.openES('/sub/feed,other'));
		await waitEvents(page, 'open', 1);
		assert.equal(proxy.heads.length, 1, 'the subscription went through the proxy');
		assert.equal(headerOf(proxy.heads[0], 'Last-Event-ID'), null, 'a first connection has no Last-Event-ID');

		const pub = publisher(srv.port, ['feed', 'other'], 'm', 15);
		await waitEvents(page, 'message', 10);
		const before = await pageEvents(page, 'message');
		const cutAt = before.length;
		// Lose the connection, and refuse reconnects for a while so the
		// outage spans more than one retry interval.
		proxy.cut(800);
		await waitEvents(page, 'error', 1);
		await waitEvents(page, 'open', 2, 15000);
		await sleep(300);
		const sent = await pub.stop();
		const got = await waitEvents(page, 'message', sent.length, 10000);
		await sleep(200); // anything extra (a duplicate) would arrive now
		const final = await pageEvents(page, 'message');

		// The reconnect carried the id of the last event the page saw.
		const resumeHeads = proxy.heads.slice(1).filter((h) => headerOf(h, 'Last-Event-ID') !== null);
		assert.ok(resumeHeads.length >= 1, `reconnect requests:\n${proxy.heads.slice(1).join('\n--\n')}`);
		const lastEventId = headerOf(resumeHeads.at(-1), 'Last-Event-ID');
		const idx = final.findIndex((e) => e.id === lastEventId);
		assert.ok(idx >= cutAt - 1, `Last-Event-ID ${lastEventId} is the last id the page had before the reconnect`);
		assert.ok(sent.length > final.slice(0, idx + 1).length, 'messages were published during the outage');
		const errs = await pageEvents(page, 'error');
		assert.ok(errs.every((e) => e.state === 'connecting'), `EventSource kept reconnecting: ${JSON.stringify(errs)}`);
		assert.deepEqual(await pageEvents(page, 'gap'), [], 'no gap: the missed messages were in history');
		assertExactlyOnce(final, sent);
		assert.equal(got.length, final.length);

		await screenshot(page, `sse_resume_${retry}`);
		const filtered = assertNoConsoleErrors(ctx, [EXPECTED.sseCut, EXPECTED.sseRefused]);
		t.diagnostic(`published ${sent.length}, ${sent.length - cutAt} after the cut; reconnect requests that reached crier ${proxy.heads.length - 1}; filtered console errors: ${filtered.map((e) => e.text).join(' | ')}`);
	});
}

test('EventSource resuming from an id older than history gets crier.gap reason expired, then the oldest held', { timeout: 30000 }, async (t) => {
	const [srv, browser] = await Promise.all([
		startServer(t, { args: ['--sse-retry', '300ms', '--history-size', '5'] }),
		launchBrowser(t),
	]);
	const proxy = await startProxy(t, srv.port);
	const ctx = await openTestPage(t, browser, `http://127.0.0.1:${proxy.port}`);
	const { page } = ctx;
	await page.evaluate(() => window.openES('/sub/ticks'));
	await waitEvents(page, 'open', 1);
	const before = [];
	for (let i = 0; i < 3; i++) before.push(await publish(srv.port, 'ticks', `before ${i}`));
	await waitEvents(page, 'message', 3);

	// While the browser cannot get back in, 12 messages go by: only the
	// last 5 stay in history.
	proxy.cut(60000);
	await waitEvents(page, 'error', 1);
	const during = [];
	for (let i = 0; i < 12; i++) during.push(await publish(srv.port, 'ticks', `during ${i}`));
	proxy.allow(); // let it back in
	const [gap] = await waitEvents(page, 'gap', 1, 10000);
	await waitEvents(page, 'message', 3 + 5);
	const after = await publish(srv.port, 'ticks', 'after');
	await waitEvents(page, 'message', 3 + 5 + 1);

	assert.deepEqual(gap.gap, { from: before.at(-1).id, to: during[7].id, reason: 'expired' });
	const seq = (await pageEvents(page)).filter((e) => e.kind === 'message' || e.kind === 'gap').map((e) => (e.kind === 'gap' ? 'gap' : `${e.id} ${e.data}`));
	assert.deepEqual(seq, [
		...before.map((s, i) => `${s.id} before ${i}`),
		'gap',
		...during.slice(7).map((s, i) => `${s.id} during ${i + 7}`),
		`${after.id} after`,
	]);
	await screenshot(page, 'sse_expired');
	assertNoConsoleErrors(ctx, [EXPECTED.sseCut, EXPECTED.sseRefused]);
});
