// Bounded helpers around the `ws` npm client (an independent WebSocket
// implementation) and the Python `websockets` client for the end-to-end
// tests. Every promise here rejects on a timeout; nothing waits forever.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { fetchMetrics, sample0 } from './metrics.mjs';

export { WebSocket };

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PY_DIR = path.join(HERE, '..', 'py');
/** The Debian Python that has python3-websockets (the pyenv one on PATH may not). */
export const PYTHON = process.env.CRIER_TEST_PYTHON || '/usr/bin/python3';

/** ws://127.0.0.1:PORT/path for a lib/server.mjs Server. */
export function wsUrl(server, p = '/echo') {
	return `ws://127.0.0.1:${server.port}${p}`;
}

/**
 * Opens a `ws` client and waits (bounded) for 'open'. Resolves
 * { ws, upgrade } where upgrade is the 101 response (headers). Every
 * message, ping and pong is queued on ws.inbox / ws.pings / ws.pongs.
 * Rejects with the HTTP status (err.status) on a refused handshake.
 */
export function openWs(url, opts = {}, { timeoutMs = 5000, protocols } = {}) {
	return new Promise((resolve, reject) => {
		const ws = protocols ? new WebSocket(url, protocols, opts) : new WebSocket(url, opts);
		ws.inbox = [];
		ws.pings = [];
		ws.pongs = [];
		ws.closeInfo = null;
		ws._waiters = new Set();
		const wake = () => {
			for (const w of [...ws._waiters]) w();
		};
		ws.on('message', (data, isBinary) => {
			ws.inbox.push({ data: Buffer.isBuffer(data) ? data : Buffer.concat(data), isBinary });
			wake();
		});
		ws.on('ping', (d) => {
			ws.pings.push(d);
			wake();
		});
		ws.on('pong', (d) => {
			ws.pongs.push(d);
			wake();
		});
		ws.on('close', (code, reason) => {
			ws.closeInfo = { code, reason: reason.toString('utf8'), at: Date.now() };
			wake();
		});
		ws.on('error', (e) => {
			ws.lastError = e;
			wake();
		});
		let upgrade = null;
		ws.once('upgrade', (res) => {
			upgrade = res;
		});
		const timer = setTimeout(() => {
			ws.terminate();
			reject(new Error(`WebSocket ${url} did not open within ${timeoutMs} ms`));
		}, timeoutMs);
		ws.once('unexpected-response', (req, res) => {
			clearTimeout(timer);
			const e = new Error(`handshake refused: ${res.statusCode}`);
			e.status = res.statusCode;
			e.headers = res.headers;
			res.resume();
			ws.terminate();
			reject(e);
		});
		ws.once('open', () => {
			clearTimeout(timer);
			resolve({ ws, upgrade });
		});
		ws.once('error', (e) => {
			clearTimeout(timer);
			if (ws.readyState !== WebSocket.OPEN) reject(e);
		});
	});
}

/** Waits until pred(ws) is truthy; rejects after timeoutMs. */
export function waitWs(ws, pred, timeoutMs, what) {
	return new Promise((resolve, reject) => {
		let done = false;
		const check = () => {
			if (done) return;
			const v = pred(ws);
			if (v) {
				finish();
				resolve(v);
			}
		};
		const timer = setTimeout(() => {
			finish();
			reject(
				new Error(
					`timed out after ${timeoutMs} ms waiting for ${what}` +
						(ws.closeInfo ? ` (closed ${ws.closeInfo.code} ${JSON.stringify(ws.closeInfo.reason)})` : '') +
						(ws.lastError ? ` (error: ${ws.lastError.message})` : '')
				)
			);
		}, timeoutMs);
		const finish = () => {
			done = true;
			clearTimeout(timer);
			ws._waiters.delete(check);
		};
		ws._waiters.add(check);
		check();
	});
}

/** Next message from ws.inbox (removed from it). */
export async function nextMessage(ws, timeoutMs = 5000) {
	await waitWs(ws, (w) => w.inbox.length > 0 || w.closeInfo, timeoutMs, 'a message');
	if (ws.inbox.length === 0) {
		throw new Error(`closed (${ws.closeInfo.code} ${JSON.stringify(ws.closeInfo.reason)}) instead of a message`);
	}
	return ws.inbox.shift();
}

/** Waits for the close event: { code, reason, at }. */
export function closed(ws, timeoutMs = 5000) {
	return waitWs(ws, (w) => w.closeInfo, timeoutMs, 'the close event');
}

/** Sends and awaits the send callback (bounded). */
export function send(ws, data, opts = {}, timeoutMs = 10000) {
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`send did not complete in ${timeoutMs} ms`)), timeoutMs);
		ws.send(data, opts, (err) => {
			clearTimeout(timer);
			if (err) reject(err);
			else resolve();
		});
	});
}

/** Sends msg and returns the echo (bounded). */
export async function echo(ws, msg, opts = {}, timeoutMs = 10000) {
	await send(ws, msg, opts, timeoutMs);
	return nextMessage(ws, timeoutMs);
}

/**
 * Snapshot of /metrics. Returns an async function that fetches /metrics
 * again and resolves { parsed, delta(name, labels), value(name, labels) }:
 * delta is the change of that series since the snapshot (absent = 0).
 */
export async function metricsSnapshot(server) {
	const a = await fetchMetrics(server);
	return async () => {
		const b = await fetchMetrics(server);
		return {
			parsed: b.parsed,
			delta(name, labels = {}) {
				return sample0(b.parsed, name, labels) - sample0(a.parsed, name, labels);
			},
			value(name, labels = {}) {
				return sample0(b.parsed, name, labels);
			},
		};
	};
}

/**
 * Runs a Python script from tests/e2e/py with the Debian python3 and a
 * hard timeout; resolves { code, signal, stdout, stderr, timedOut, json }
 * where json is the last stdout line parsed (or null).
 */
export function runPython(script, args, { timeoutMs = 60000 } = {}) {
	return new Promise((resolve, reject) => {
		const proc = spawn(PYTHON, [path.join(PY_DIR, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		let timedOut = false;
		proc.stdout.setEncoding('utf8');
		proc.stderr.setEncoding('utf8');
		proc.stdout.on('data', (d) => (stdout += d));
		proc.stderr.on('data', (d) => (stderr += d));
		const timer = setTimeout(() => {
			timedOut = true;
			proc.kill('SIGKILL');
		}, timeoutMs);
		proc.on('error', (e) => {
			clearTimeout(timer);
			reject(e);
		});
		proc.on('close', (code, signal) => {
			clearTimeout(timer);
			let json = null;
			const last = stdout.trim().split('\n').pop();
			try {
				json = last ? JSON.parse(last) : null;
			} catch {
				json = null;
			}
			resolve({ code, signal, stdout, stderr, timedOut, json });
		});
	});
}

/** Resident set size of a process in KiB (Linux /proc), or NaN. */
export async function rssKiB(pid) {
	const fs = await import('node:fs/promises');
	try {
		const s = await fs.readFile(`/proc/${pid}/status`, 'utf8');
		const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(s);
		return m ? Number(m[1]) : NaN;
	} catch {
		return NaN;
	}
}

/** Polls /metrics until pred(value of name{labels}) holds; resolves the
 * value, rejects after timeoutMs with the last value seen. */
export async function waitMetric(server, name, labels, pred, timeoutMs = 3000, what = '') {
	const deadline = Date.now() + timeoutMs;
	let v;
	for (;;) {
		const { parsed } = await fetchMetrics(server);
		v = sample0(parsed, name, labels);
		if (pred(v)) return v;
		if (Date.now() > deadline) {
			throw new Error(`${name}${JSON.stringify(labels)} still ${v} after ${timeoutMs} ms ${what}`);
		}
		await new Promise((r) => setTimeout(r, 50));
	}
}
