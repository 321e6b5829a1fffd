// Long-poll clients for the end-to-end tests: GET /sub/{ch} without
// Upgrade and without Accept: text/event-stream, answered with
// {"messages":[...],"next":"<id>"[,"gap":{...}]}. A PollClient keeps one
// keep-alive connection (several polls on it, in order); a PollLoop follows
// `next` from poll to poll and keeps what it saw. Every wait is bounded.
import { connectSocket } from './hub.mjs';
import { parseResponse, rawRequest } from './http.mjs';

export class PollClient {
	static async open(server, { timeoutMs = 3000 } = {}) {
		const c = new PollClient(await connectSocket(server.port, timeoutMs), server.port);
		server.conns.add({ destroy: () => c.close() });
		return c;
	}

	constructor(sock, port) {
		this.sock = sock;
		this.port = port;
		this.buf = Buffer.alloc(0);
		this.closed = false;
		this.polls = 0;
		this._waiter = null;
		sock.on('data', (d) => {
			this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
			if (this._waiter) this._waiter();
		});
		sock.on('error', () => {});
		sock.on('close', () => {
			this.closed = true;
			if (this._waiter) this._waiter();
		});
	}

	/** Sends raw bytes and resolves the next response (bounded). */
	send(raw, { timeoutMs = 10000 } = {}) {
		if (this._waiter) return Promise.reject(new Error('one request at a time on a PollClient'));
		return new Promise((resolve, reject) => {
			const started = Date.now();
			const finish = (err, r) => {
				clearTimeout(timer);
				this._waiter = null;
				if (err) reject(err);
				else resolve(r);
			};
			const timer = setTimeout(
				() => finish(new Error(`no complete response within ${timeoutMs} ms; have ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`)),
				timeoutMs
			);
			this._waiter = () => {
				let res;
				try {
					res = parseResponse(this.buf, 0, { closed: this.closed });
				} catch (e) {
					finish(e);
					return;
				}
				if (res) {
					this.buf = this.buf.subarray(res.end);
					const r = res.response;
					r.ms = Date.now() - started;
					r.json = null;
					if (/^application\/json/i.test(r.headers['content-type'] ?? '')) {
						try {
							r.json = JSON.parse(r.text);
						} catch {
							/* left null: the caller asserts */
						}
					}
					finish(null, r);
				} else if (this.closed) {
					finish(new Error(`connection closed before a complete response; have ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`));
				}
			};
			this.sock.write(raw);
			this._waiter();
		});
	}

	/** GET target as a long-poll (no Accept: text/event-stream). */
	poll(target, { headers = [], timeoutMs = 10000 } = {}) {
		this.polls++;
		return this.send(rawRequest('GET', target, { host: `127.0.0.1:${this.port}`, headers }), { timeoutMs });
	}

	close() {
		this.closed = true;
		this.sock.destroy();
	}
}

/** One poll on a fresh connection (closed afterwards). */
export async function pollOnce(server, target, opts = {}) {
	const c = await PollClient.open(server);
	try {
		return await c.poll(target, opts);
	} finally {
		c.close();
	}
}

/**
 * Polls `chans` in a loop on one keep-alive connection, starting at
 * `since` (omitted: no cursor) and then following `next`. Each answer must
 * be 200 application/json {messages, next[, gap]}; items collects
 * {gap:{from,to,reason}} and message objects in arrival order. stop()
 * ends the loop after the poll in flight. done resolves with the items.
 */
export class PollLoop {
	constructor(server, chans, { since, maxMs = 60000, onAnswer } = {}) {
		this.server = server;
		this.target = `/sub/${chans.join(',')}`;
		this.cursor = since;
		this.maxMs = maxMs;
		this.onAnswer = onAnswer;
		this.items = [];
		this.answers = 0;
		this.stopped = false;
		this.error = null;
		this._waiters = new Set();
	}

	start() {
		this.done = this._run().catch((e) => {
			this.error = e;
			this._wake();
			throw e;
		});
		this.done.catch(() => {}); // surfaced by wait()/the caller
		return this;
	}

	async _run() {
		const c = await PollClient.open(this.server);
		this.client = c;
		const deadline = Date.now() + this.maxMs;
		try {
			while (!this.stopped) {
				if (Date.now() > deadline) throw new Error(`poll loop still running after ${this.maxMs} ms`);
				const q = this.cursor === undefined ? '' : `?since=${encodeURIComponent(this.cursor)}`;
				let r;
				try {
					r = await c.poll(this.target + q);
				} catch (e) {
					if (this.stopped) break; // stop() closed the connection
					throw e;
				}
				if (r.status !== 200 || !r.json) throw new Error(`poll ${this.target + q}: ${r.status} ${r.headers['content-type']} ${r.text.slice(0, 300)}`);
				const j = r.json;
				if (!Array.isArray(j.messages) || typeof j.next !== 'string') throw new Error(`poll answer without messages/next: ${r.text.slice(0, 300)}`);
				if (j.gap) this.items.push({ gap: j.gap });
				for (const m of j.messages) this.items.push(m);
				this.answers++;
				if (this.onAnswer) this.onAnswer(j, r);
				this.cursor = j.next;
				this._wake();
			}
		} finally {
			c.close();
		}
		return this.items;
	}

	_wake() {
		for (const w of [...this._waiters]) w();
	}

	messages() {
		return this.items.filter((x) => !x.gap);
	}

	/** Waits until pred(this) holds; rejects on timeout or a loop error. */
	wait(pred, timeoutMs, what) {
		return new Promise((resolve, reject) => {
			const check = () => {
				if (this.error) {
					finish();
					reject(this.error);
				} else if (pred(this)) {
					finish();
					resolve();
				}
			};
			const timer = setTimeout(() => {
				finish();
				reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.answers} answers, ${this.messages().length} messages, cursor ${this.cursor}`));
			}, timeoutMs);
			const finish = () => {
				clearTimeout(timer);
				this._waiters.delete(check);
			};
			this._waiters.add(check);
			check();
		});
	}

	/** Stops the loop: the poll in flight is abandoned (connection closed). */
	async stop(timeoutMs = 10000) {
		this.stopped = true;
		if (this.client) this.client.close();
		let timer;
		await Promise.race([
			this.done.catch(() => {}),
			new Promise((_, rej) => {
				timer = setTimeout(() => rej(new Error(`poll loop did not stop within ${timeoutMs} ms`)), timeoutMs);
			}),
		]).finally(() => clearTimeout(timer));
		if (this.error) throw this.error;
	}
}
