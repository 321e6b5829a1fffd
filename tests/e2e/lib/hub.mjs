// Helpers for the hub suites (hub_*.test.mjs): publishing over keep-alive
// connections, an incremental SSE parser (WHATWG rules) on raw sockets,
// light raw-WebSocket subscribers for fan-out, and id arithmetic.
// Every wait is bounded; nothing keeps an unbounded copy of a stream
// unless asked to.
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { get, rawRequest, waitOn } from './http.mjs';
import { FrameStream, handshakeRequest, OP } from './wsraw.mjs';

export const ID_RE = /^([0-9a-f]{8})-(\d+)$/;

/** Splits an id into { epoch, seq (BigInt) }; throws on a malformed id. */
export function parseId(id) {
	const m = ID_RE.exec(id ?? '');
	if (!m) throw new Error(`malformed message id ${JSON.stringify(id)}`);
	return { epoch: m[1], seq: BigInt(m[2]) };
}

/** Compares two ids of one epoch by sequence (-1, 0, 1). */
export function cmpId(a, b) {
	const x = parseId(a);
	const y = parseId(b);
	if (x.epoch !== y.epoch) throw new Error(`ids of different epochs: ${a} vs ${b}`);
	return x.seq < y.seq ? -1 : x.seq > y.seq ? 1 : 0;
}

/** Asserts that ids are strictly increasing; returns an error text or ''. */
export function checkIncreasing(ids, what = 'ids') {
	for (let i = 1; i < ids.length; i++) {
		if (cmpId(ids[i - 1], ids[i]) >= 0) return `${what}: ${ids[i - 1]} then ${ids[i]} at index ${i}`;
	}
	return '';
}

function withTimeout(p, ms, what) {
	let timer;
	return Promise.race([
		p,
		new Promise((_, rej) => {
			timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms);
		}),
	]).finally(() => clearTimeout(timer));
}

/** Opens a plain TCP socket to 127.0.0.1:port (bounded). */
export async function connectSocket(port, timeoutMs = 3000) {
	const sock = net.connect({ port, host: '127.0.0.1' });
	sock.setNoDelay(true);
	try {
		await withTimeout(once(sock, 'connect'), timeoutMs, `connect to ${port}`);
	} catch (e) {
		sock.destroy();
		throw e;
	}
	return sock;
}

/**
 * A keep-alive HTTP/1.1 connection for publishing. Responses must carry
 * Content-Length (crier's do). Requests are answered in order; several
 * may be in flight (pipelined) when publish() is not awaited.
 */
export class Publisher {
	static async open(server, { timeoutMs = 3000 } = {}) {
		const p = new Publisher(await connectSocket(server.port, timeoutMs));
		server.conns.add({ destroy: () => p.close() });
		return p;
	}

	constructor(sock) {
		this.sock = sock;
		this.buf = Buffer.alloc(0);
		this.pending = [];
		this.closed = false;
		sock.on('data', (d) => {
			this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
			this._parse();
		});
		const fail = (e) => {
			this.closed = true;
			for (const p of this.pending.splice(0)) p.reject(e || new Error('publisher connection closed'));
		};
		sock.on('error', fail);
		sock.on('close', () => fail(null));
	}

	_parse() {
		for (;;) {
			const he = this.buf.indexOf('\r\n\r\n');
			if (he < 0) return;
			const head = this.buf.toString('latin1', 0, he);
			const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
			const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
			const n = cl ? Number(cl[1]) : 0;
			if (this.buf.length < he + 4 + n) return;
			const body = this.buf.toString('utf8', he + 4, he + 4 + n);
			this.buf = this.buf.subarray(he + 4 + n);
			const p = this.pending.shift();
			if (!p) continue;
			p.done();
			const r = { status: m ? Number(m[1]) : 0, head, text: body, json: null };
			if (/\r\ncontent-type:\s*application\/json/i.test(head)) {
				try {
					r.json = JSON.parse(body);
				} catch {
					/* left null: the test asserts on it */
				}
			}
			p.resolve(r);
		}
	}

	/** Sends one raw request; resolves {status, head, text, json}. */
	send(raw, timeoutMs = 10000) {
		if (this.closed) return Promise.reject(new Error('publisher connection closed'));
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => reject(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
			this.pending.push({ resolve, reject, done: () => clearTimeout(timer) });
			this.sock.write(raw);
		});
	}

	/** POST /pub/{ch}. opts: event (query), xEvent (header), contentType,
	 * headers (extra lines). body: string or Buffer. */
	publish(ch, body, opts = {}) {
		return this.send(pubRequest(ch, body, opts), opts.timeoutMs);
	}

	close() {
		this.closed = true;
		this.sock.destroy();
	}
}

/** The raw bytes of POST /pub/{ch}. */
export function pubRequest(ch, body, { event, xEvent, contentType, headers = [], close = false } = {}) {
	const b = Buffer.isBuffer(body) ? body : Buffer.from(body ?? '', 'utf8');
	const h = [`Content-Length: ${b.length}`];
	if (contentType) h.push(`Content-Type: ${contentType}`);
	if (xEvent !== undefined) h.push(`X-Event: ${xEvent}`);
	if (close) h.push('Connection: close');
	h.push(...headers);
	const target = `/pub/${ch}` + (event !== undefined ? `?event=${encodeURIComponent(event)}` : '');
	return rawRequest('POST', target, { headers: h, body: b });
}

/** One publish on a fresh connection; resolves {status, head, text, json}. */
export async function publish(server, ch, body, opts = {}) {
	const p = await Publisher.open(server);
	try {
		return await p.publish(ch, body, opts);
	} finally {
		p.close();
	}
}

/** Publishes and asserts a 200 with an id; returns the id. */
export async function publishOk(pubOrServer, ch, body, opts = {}) {
	const r = pubOrServer instanceof Publisher ? await pubOrServer.publish(ch, body, opts) : await publish(pubOrServer, ch, body, opts);
	if (r.status !== 200 || !r.json || typeof r.json.id !== 'string') {
		throw new Error(`POST /pub/${ch} answered ${r.status}: ${r.text}`);
	}
	return r.json.id;
}

/** GET /channels/{ch}: {status, json, text}. */
export async function channelInfo(server, ch) {
	const r = await server.request(get(`/channels/${ch}`, ['Connection: close']));
	let json = null;
	try {
		json = JSON.parse(r.text);
	} catch {
		/* not JSON */
	}
	return { status: r.status, json, text: r.text, response: r };
}

/**
 * Incremental text/event-stream parser following the WHATWG rules: lines
 * end at CR, LF or CRLF; `:` lines are comments; fields id, event, data,
 * retry; an event is dispatched at a blank line when it has data or an
 * event name. Each item is pushed to onItem:
 *   {type:'event', id (string|undefined: the id line of this event),
 *    event (string|undefined), data (lines joined with \n), lines}
 *   {type:'comment', text}   {type:'retry', ms}
 */
export class SseParser {
	constructor(onItem) {
		this.onItem = onItem;
		this.partial = '';
		this.skipLF = false;
		this.decoder = new TextDecoder('utf-8');
		this._reset();
	}

	_reset() {
		this.cur = { id: undefined, event: undefined, lines: [], fields: 0 };
	}

	push(chunk) {
		let s = this.decoder.decode(chunk, { stream: true });
		if (this.skipLF && s.startsWith('\n')) s = s.slice(1);
		this.skipLF = false;
		let start = 0;
		const text = this.partial + s;
		this.partial = '';
		for (let i = 0; i < text.length; i++) {
			const c = text.charCodeAt(i);
			if (c !== 10 && c !== 13) continue;
			this._line(text.slice(start, i));
			if (c === 13) {
				if (i + 1 < text.length) {
					if (text.charCodeAt(i + 1) === 10) i++;
				} else this.skipLF = true;
			}
			start = i + 1;
		}
		this.partial = text.slice(start);
	}

	_line(line) {
		if (line === '') {
			const c = this.cur;
			if (c.lines.length || c.event !== undefined || c.id !== undefined) {
				this.onItem({ type: 'event', id: c.id, event: c.event, data: c.lines.join('\n'), lines: c.lines });
			}
			this._reset();
			return;
		}
		if (line[0] === ':') {
			this.onItem({ type: 'comment', text: line.slice(1) });
			return;
		}
		const k = line.indexOf(':');
		const name = k < 0 ? line : line.slice(0, k);
		let value = k < 0 ? '' : line.slice(k + 1);
		if (value[0] === ' ') value = value.slice(1);
		if (name === 'data') this.cur.lines.push(value);
		else if (name === 'event') this.cur.event = value;
		else if (name === 'id') this.cur.id = value;
		else if (name === 'retry') this.onItem({ type: 'retry', ms: Number(value) });
	}
}

/**
 * An SSE subscriber on a raw socket. open() sends GET target with the
 * given header lines and parses the response head (any status). When the
 * status is 200, the body is parsed into `items` (events, comments,
 * retry) unless keep is false; `onEvent` sees every event as it comes.
 * pause()/resume() stop and restart reading (for slow-consumer tests).
 */
export class SseSub {
	static async open(server, target, { headers = [], host, timeoutMs = 5000, keep = true, onEvent, rawHead = false } = {}) {
		const sock = await connectSocket(server.port, timeoutMs);
		const sub = new SseSub(sock, { keep, onEvent });
		server.conns.add({ destroy: () => sock.destroy() });
		// EventSource's Accept: without it, GET /sub/... is a long-poll.
		const hs = headers.some((h) => /^accept:/i.test(h)) ? headers : [...headers, 'Accept: text/event-stream'];
		sock.write(rawRequest('GET', target, { host: host ?? `127.0.0.1:${server.port}`, headers: hs }));
		await sub.waitFor(() => sub.head !== null || sub.closed, timeoutMs, `the response head of GET ${target}`);
		if (sub.head === null) throw new Error(`GET ${target}: connection closed before a response head`);
		return sub;
	}

	constructor(sock, { keep = true, onEvent } = {}) {
		this.sock = sock;
		this.keep = keep;
		this.onEvent = onEvent;
		this.items = [];
		this.events = 0;
		this.comments = 0;
		this.bytes = 0;
		this.head = null;
		this.status = 0;
		this.headers = {};
		this.body = Buffer.alloc(0); // non-200 bodies only
		this.closed = false;
		this.ended = false;
		this.error = null;
		this._pre = Buffer.alloc(0);
		this._waiters = new Set();
		this.parser = new SseParser((it) => {
			if (it.type === 'event') {
				this.events++;
				if (this.onEvent) this.onEvent(it);
			} else if (it.type === 'comment') this.comments++;
			if (this.keep) this.items.push(it);
		});
		sock.on('data', (d) => this._data(d));
		sock.on('end', () => {
			this.ended = true;
		});
		sock.on('error', (e) => {
			this.error = e;
		});
		sock.on('close', () => {
			this.closed = true;
			this._wake();
		});
	}

	_data(d) {
		this.bytes += d.length;
		if (this.head === null) {
			this._pre = Buffer.concat([this._pre, d]);
			const i = this._pre.indexOf('\r\n\r\n');
			if (i < 0) return;
			this.head = this._pre.toString('latin1', 0, i);
			const lines = this.head.split('\r\n');
			this.status = Number((/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]) || [])[1] || 0);
			for (const l of lines.slice(1)) {
				const k = l.indexOf(':');
				const name = l.slice(0, k).trim().toLowerCase();
				const v = l.slice(k + 1).trim();
				this.headers[name] = name in this.headers ? `${this.headers[name]}, ${v}` : v;
			}
			d = this._pre.subarray(i + 4);
			this._pre = null;
		}
		if (this.status === 200) this.parser.push(d);
		else this.body = Buffer.concat([this.body, d]);
		this._wake();
	}

	_wake() {
		for (const w of [...this._waiters]) w();
	}

	/** Waits until pred() is truthy (re-checked on data and close). */
	waitFor(pred, timeoutMs, what) {
		return waitOn(this, pred, timeoutMs, what);
	}

	/** Event items only (needs keep). */
	eventList() {
		return this.items.filter((x) => x.type === 'event');
	}

	/** Waits for at least n events (counted, kept or not). */
	waitEvents(n, timeoutMs = 5000) {
		return this.waitFor(() => this.events >= n, timeoutMs, `${n} SSE events (have ${this.events})`);
	}

	waitClose(timeoutMs = 5000) {
		return this.waitFor(() => this.closed, timeoutMs, 'the server to end the stream');
	}

	describe() {
		const evs = this.keep ? this.eventList() : [];
		const last = evs.slice(-3).map((e) => `${e.event ?? ''}#${e.id ?? ''}:${e.data.slice(0, 40)}`);
		return `status ${this.status}, ${this.events} events, ${this.comments} comments, ${this.bytes} bytes, ${this.closed ? 'closed' : 'open'}; last: ${JSON.stringify(last)}`;
	}

	pause() {
		this.sock.pause();
	}

	resume() {
		this.sock.resume();
	}

	close() {
		this.sock.destroy();
	}
}

/**
 * A raw WebSocket subscriber without permessage-deflate, for big fan-out
 * and slow-consumer tests: frames are parsed incrementally (only a
 * partial frame is kept) and handed to onFrame; messages are not
 * reassembled (crier sends each message as one frame).
 */
export class WsSub {
	static async open(server, target, { timeoutMs = 5000, onFrame, headers = [], extensions } = {}) {
		const sock = await connectSocket(server.port, timeoutMs);
		const sub = new WsSub(sock, onFrame);
		server.conns.add({ destroy: () => sock.destroy() });
		const { bytes } = handshakeRequest({ path: target, host: `127.0.0.1:${server.port}`, headers, extensions });
		sock.write(bytes);
		await sub.waitFor(() => sub.head !== null || sub.closed, timeoutMs, `the handshake answer for ${target}`);
		if (sub.status !== 101) throw new Error(`GET ${target} (upgrade) answered: ${sub.head}`);
		return sub;
	}

	constructor(sock, onFrame) {
		this.sock = sock;
		this.onFrame = onFrame;
		this.stream = new FrameStream({ keepPayload: true });
		this.head = null;
		this.status = 0;
		this.closed = false;
		this.closeFrame = null;
		this.messages = 0;
		this._pre = Buffer.alloc(0);
		this._waiters = new Set();
		sock.on('data', (d) => {
			if (this.head === null) {
				this._pre = Buffer.concat([this._pre, d]);
				const i = this._pre.indexOf('\r\n\r\n');
				if (i < 0) return;
				this.head = this._pre.toString('latin1', 0, i);
				this.status = Number((/^HTTP\/1\.1 (\d{3})/.exec(this.head) || [])[1] || 0);
				d = this._pre.subarray(i + 4);
				this._pre = null;
			}
			for (const f of this.stream.push(d)) {
				if (f.opcode === OP.CLOSE) this.closeFrame = f;
				else if (f.opcode === OP.TEXT || f.opcode === OP.BINARY) this.messages++;
				if (this.onFrame) this.onFrame(f);
			}
			this._wake();
		});
		sock.on('error', () => {});
		sock.on('close', () => {
			this.closed = true;
			this._wake();
		});
	}

	_wake() {
		for (const w of [...this._waiters]) w();
	}

	waitFor(pred, timeoutMs, what) {
		return waitOn(this, pred, timeoutMs, what);
	}

	describe() {
		return `${this.messages} messages, ${this.closed ? 'closed' : 'open'}`;
	}

	pause() {
		this.sock.pause();
	}

	resume() {
		this.sock.resume();
	}

	close() {
		this.sock.destroy();
	}
}

/** Polls an async condition every intervalMs until it holds (bounded). */
export async function until(fn, timeoutMs, what) {
	const deadline = Date.now() + timeoutMs;
	let last;
	for (;;) {
		last = await fn();
		if (last) return last;
		if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
		await sleep(50);
	}
}
