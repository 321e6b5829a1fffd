// After a restart of the memory engine the history is gone and the epoch
// is new: EventSource's automatic reconnect (Last-Event-ID from the old
// life) must get an explicit crier.gap with reason "epoch", then the
// messages of the new server, with nothing silently skipped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer } from '../e2e/lib/server.mjs';
import {
	EXPECTED,
	assertNoConsoleErrors,
	idEpoch,
	idSeq,
	launchBrowser,
	openTestPage,
	pageEvents,
	publish,
	screenshot,
	waitEvents,
} from './lib/browser.mjs';

test('after a server restart EventSource gets crier.gap reason epoch, then the new messages', { timeout: 40000 }, async (t) => {
	const retry = ['--sse-retry', '1s'];
	const [a, browser] = await Promise.all([startServer(t, { args: retry }), launchBrowser(t)]);
	const port = a.port;
	const origin = `http://127.0.0.1:${port}`;
	const ctx = await openTestPage(t, browser, origin);
	const { page } = ctx;

	await page.evaluate(() => window.openES('/sub/jobs'));
	await waitEvents(page, 'open', 1);
	const old = [];
	for (let i = 0; i < 5; i++) old.push(await publish(port, 'jobs', `old ${i}`));
	await waitEvents(page, 'message', 5);

	// SIGTERM: crier ends the SSE stream (with a retry: hint) and exits.
	const exit = await a.stop('SIGTERM', 10000);
	assert.deepEqual(exit, { code: 0, signal: null }, `crier exit after SIGTERM\n${a.tail()}`);
	const errs = await waitEvents(page, 'error', 1);
	assert.equal(errs[0].state, 'connecting', 'EventSource reconnects by itself after the stream ended');

	// A new crier on the same port: new epoch, empty history.
	const b = await startServer(t, { listen: `127.0.0.1:${port}`, args: retry });
	assert.equal(b.port, port);
	const fresh = [await publish(port, 'jobs', 'new 0')];
	assert.notEqual(idEpoch(fresh[0].id), idEpoch(old[0].id), 'a restart changes the epoch');

	const [gap] = await waitEvents(page, 'gap', 1, 15000);
	for (let i = 1; i < 4; i++) fresh.push(await publish(port, 'jobs', `new ${i}`));
	await waitEvents(page, 'message', old.length + fresh.length);

	// The notice has no id: field, so the browser's last event id (what
	// it would resume from) stays the last real message's.
	assert.equal(gap.id, old.at(-1).id, 'a gap notice carries no id of its own');
	assert.equal(gap.gap.reason, 'epoch');
	assert.equal(gap.gap.from, old.at(-1).id, 'from: the Last-Event-ID the browser sent on its own');
	// "to" is the oldest message held when the browser came back: "new 0"
	// if it was published before the reconnect, or null if history was
	// still empty then (it is then delivered live).
	assert.ok(gap.gap.to === fresh[0].id || gap.gap.to === null, `gap.to: ${JSON.stringify(gap.gap)}`);

	const evs = (await pageEvents(page)).filter((e) => e.kind === 'message' || e.kind === 'gap');
	const seq = evs.map((e) => (e.kind === 'gap' ? `gap ${e.gap.reason}` : `${e.id} ${e.data}`));
	assert.deepEqual(seq, [
		...old.map((s, i) => `${s.id} old ${i}`),
		'gap epoch',
		...fresh.map((s, i) => `${s.id} new ${i}`),
	]);
	const newIds = evs.slice(old.length + 1).map((e) => e.id);
	for (let i = 1; i < newIds.length; i++) assert.ok(idSeq(newIds[i]) > idSeq(newIds[i - 1]));

	await screenshot(page, 'sse_epoch');
	const filtered = assertNoConsoleErrors(ctx, [EXPECTED.sseCut, EXPECTED.sseRefused]);
	t.diagnostic(`old epoch ${idEpoch(old[0].id)}, new ${idEpoch(fresh[0].id)}; gap ${JSON.stringify(gap.gap)}; filtered console errors: ${filtered.map((e) => e.text).join(' | ') || 'none'}`);
});
