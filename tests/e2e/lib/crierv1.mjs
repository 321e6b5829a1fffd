// A client of the two-way crier.v1 protocol (GET /ws, docs/protocol-ws.md)
// on top of the `ws` npm client (lib/wsclient.mjs). Every frame the server
// sends is parsed as JSON and sorted into answers (ack, error: matched to
// requests by `ref`) and the stream (message, gap). Every wait is bounded.
import assert from 'node:assert/strict';
import { closed, openWs, send, waitWs, wsUrl } from './wsclient.mjs';

export const SUBPROTOCOL = 'crier.v1';

export class V1 {
	/**
	 * Opens /ws with subprotocol crier.v1 (or `protocols`) and waits for
	 * the handshake. opts go to the `ws` constructor (headers, origin...).
	 */
	static async open(server, { path = '/ws', protocols = SUBPROTOCOL, opts = {}, timeoutMs = 5000 } = {}) {
		const { ws, upgrade } = await openWs(wsUrl(server, path), opts, { timeoutMs, protocols });
		const c = new V1(ws);
		c.upgrade = upgrade;
		server.conns.add({ destroy: () => ws.terminate() });
		return c;
	}

	constructor(ws) {
		this.ws = ws;
		this.frames = []; // every parsed frame, in arrival order
		this.answers = []; // ack and error frames not yet taken by request()
		this.stream = []; // message and gap frames, in arrival order
		this.nonJson = []; // frames that did not parse (a failure to report)
		this.nextRef = 1;
	}

	// Moves what the ws client queued into the parsed lists.
	_drain() {
		while (this.ws.inbox.length) {
			const m = this.ws.inbox.shift();
			if (m.isBinary) {
				this.nonJson.push(`binary frame ${m.data.toString('hex').slice(0, 60)}`);
				continue;
			}
			const text = m.data.toString('utf8');
			let f;
			try {
				f = JSON.parse(text);
			} catch {
				this.nonJson.push(text);
				continue;
			}
			f._raw = text;
			this.frames.push(f);
			if (f.op === 'ack' || f.op === 'error') this.answers.push(f);
			else this.stream.push(f);
		}
	}

	/** Waits until pred(this) holds (re-checked on every frame); rejects
	 * on timeout or when the connection closes first. */
	async waitFor(pred, timeoutMs, what) {
		let v;
		try {
			await waitWs(
				this.ws,
				() => {
					this._drain();
					v = pred(this);
					return v || this.ws.closeInfo;
				},
				timeoutMs,
				what
			);
		} catch (e) {
			throw new Error(`${e.message}; ${this.describe()}`);
		}
		if (!v) {
			throw new Error(`connection closed (${this.ws.closeInfo.code} ${JSON.stringify(this.ws.closeInfo.reason)}) while waiting for ${what}; ${this.describe()}`);
		}
		return v;
	}

	describe() {
		this._drain();
		const last = this.frames.slice(-4).map((f) => f._raw.slice(0, 160));
		return `${this.frames.length} frames, ${this.stream.length} in the stream; last: ${JSON.stringify(last)}` + (this.nonJson.length ? `; non-JSON: ${JSON.stringify(this.nonJson.slice(0, 3))}` : '');
	}

	/** Sends a text frame (a string as is, anything else as JSON). */
	sendRaw(data, opts = {}) {
		return send(this.ws, typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data), opts);
	}

	/**
	 * Sends one request and returns its answer (ack or error, matched by
	 * ref: same value and same JSON type). A request without `ref` gets an
	 * integer one unless noRef; then the next unmatched answer is taken.
	 */
	async request(req, { noRef = false, timeoutMs = 5000 } = {}) {
		const r = { ...req };
		if (!noRef && !('ref' in r)) r.ref = this.nextRef++;
		await this.sendRaw(r);
		return this.answer(noRef ? undefined : r.ref, timeoutMs, JSON.stringify(r));
	}

	/** The answer carrying `ref` (or the oldest answer when ref is undefined). */
	async answer(ref, timeoutMs = 5000, what = `the answer to ref ${JSON.stringify(ref)}`) {
		const match = (f) => (ref === undefined ? true : JSON.stringify(f.ref) === JSON.stringify(ref));
		await this.waitFor(() => this.answers.some(match), timeoutMs, `the answer to ${what}`);
		const i = this.answers.findIndex(match);
		return this.answers.splice(i, 1)[0];
	}

	/** Sends a request and asserts an ack; returns the ack. */
	async ok(req, opts) {
		const a = await this.request(req, opts);
		assert.equal(a.op, 'ack', `expected an ack to ${JSON.stringify(req)}, got ${a._raw}`);
		return a;
	}

	/** ping -> ack, with the ref echoed: proves the connection still works. */
	async ping(what = 'ping') {
		const ref = `ping-${this.nextRef++}`;
		const a = await this.request({ op: 'ping', ref });
		assert.deepEqual(strip(a), { op: 'ack', ref }, `${what}: ${a._raw}`);
	}

	/** Stream frames with op "message". */
	messages() {
		this._drain();
		return this.stream.filter((f) => f.op === 'message');
	}

	/** Waits for at least n message frames in the stream. */
	waitMessages(n, timeoutMs = 5000) {
		return this.waitFor((c) => c.stream.filter((f) => f.op === 'message').length >= n, timeoutMs, `${n} message frames`);
	}

	waitClose(timeoutMs = 5000) {
		return closed(this.ws, timeoutMs);
	}

	close(code = 1000) {
		this.ws.close(code);
	}

	terminate() {
		this.ws.terminate();
	}
}

/** A frame without the parser's bookkeeping (_raw). */
export function strip(f) {
	const { _raw, ...rest } = f;
	return rest;
}
