// Raw-socket HTTP/1.1 client for the end-to-end tests: a connection that
// keeps every byte it receives, a strict response parser that can take
// several pipelined responses off one stream, and request builders.
// Every wait is bounded: a timeout rejects, nothing hangs.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const CRLF = '\r\n';

/** Builds a raw request. headers: array of [name, value] or "Name: value"
 * strings, sent exactly in that order. host: null to omit the Host field. */
export function rawRequest(method, target, opts = {}) {
	const { version = 'HTTP/1.1', host = 'crier.test', headers = [], body } = opts;
	let s = `${method} ${target} ${version}\r\n`;
	if (host !== null) s += `Host: ${host}\r\n`;
	for (const h of headers) s += (Array.isArray(h) ? `${h[0]}: ${h[1]}` : h) + '\r\n';
	s += '\r\n';
	const head = Buffer.from(s, 'latin1');
	if (body === undefined) return head;
	return Buffer.concat([head, Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1')]);
}

/** A simple GET with a Host header. */
export function get(target = '/healthz', headers = []) {
	return rawRequest('GET', target, { headers });
}

/** Encodes data (string or Buffer, or an array of pieces) as chunked. */
export function chunked(pieces, trailer = '') {
	const arr = Array.isArray(pieces) ? pieces : [pieces];
	let out = '';
	for (const p of arr) {
		const b = Buffer.from(p, 'latin1');
		if (b.length === 0) continue;
		out += b.length.toString(16) + '\r\n' + b.toString('latin1') + '\r\n';
	}
	return out + '0\r\n' + trailer + '\r\n';
}

export class ResponseParseError extends Error {}

function bodyless(status, head) {
	return head || (status >= 100 && status < 200) || status === 204 || status === 304;
}

/**
 * Parses one HTTP/1.x response from buf starting at `offset`.
 * Returns { response, end } or null when more bytes are needed.
 * `head`: the request was HEAD (no body whatever the headers say).
 * `closed`: the stream has ended (a body without framing runs to the end).
 * Throws ResponseParseError on malformed bytes (the test then fails with
 * a readable message).
 */
export function parseResponse(buf, offset = 0, { head = false, closed = false } = {}) {
	const headEnd = buf.indexOf('\r\n\r\n', offset, 'latin1');
	if (headEnd < 0) {
		if (closed && buf.length > offset) {
			throw new ResponseParseError(
				`stream ended inside a response head: ${JSON.stringify(buf.subarray(offset).toString('latin1').slice(0, 200))}`
			);
		}
		return null;
	}
	const headText = buf.subarray(offset, headEnd).toString('latin1');
	const lines = headText.split('\r\n');
	for (const l of lines) {
		if (l.includes('\n') || l.includes('\r')) {
			throw new ResponseParseError(`bare CR/LF in response head: ${JSON.stringify(headText)}`);
		}
	}
	const m = /^(HTTP\/1\.[01]) (\d{3}) ?(.*)$/.exec(lines[0]);
	if (!m) throw new ResponseParseError(`bad status line: ${JSON.stringify(lines[0])}`);
	const status = Number(m[2]);
	const headerList = [];
	const headers = {};
	for (const l of lines.slice(1)) {
		const hm = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/.exec(l);
		if (!hm) throw new ResponseParseError(`bad header line: ${JSON.stringify(l)}`);
		const name = hm[1].toLowerCase();
		headerList.push([hm[1], hm[2]]);
		headers[name] = name in headers ? `${headers[name]}, ${hm[2]}` : hm[2];
	}
	const response = {
		version: m[1],
		status,
		reason: m[3],
		headers,
		headerList,
		rawHead: headText,
		body: Buffer.alloc(0),
		trailers: {},
		get text() {
			return this.body.toString('utf8');
		},
	};
	let pos = headEnd + 4;
	if (bodyless(status, head)) return { response, end: pos };

	const te = headers['transfer-encoding'];
	const cl = headers['content-length'];
	if (te !== undefined) {
		if (!/(^|,)\s*chunked\s*$/i.test(te)) throw new ResponseParseError(`unsupported response TE: ${te}`);
		const parts = [];
		for (;;) {
			const le = buf.indexOf('\r\n', pos, 'latin1');
			if (le < 0) return incomplete(closed, 'chunk size line');
			const sizeLine = buf.subarray(pos, le).toString('latin1');
			const sm = /^([0-9A-Fa-f]+)(;.*)?$/.exec(sizeLine);
			if (!sm) throw new ResponseParseError(`bad chunk size line: ${JSON.stringify(sizeLine)}`);
			const size = parseInt(sm[1], 16);
			pos = le + 2;
			if (size === 0) {
				// trailer section
				for (;;) {
					const tl = buf.indexOf('\r\n', pos, 'latin1');
					if (tl < 0) return incomplete(closed, 'chunked trailer');
					const line = buf.subarray(pos, tl).toString('latin1');
					pos = tl + 2;
					if (line === '') break;
					const tm = /^([^:]+):\s*(.*?)\s*$/.exec(line);
					if (!tm) throw new ResponseParseError(`bad trailer: ${JSON.stringify(line)}`);
					response.trailers[tm[1].toLowerCase()] = tm[2];
				}
				response.body = Buffer.concat(parts);
				return { response, end: pos };
			}
			if (buf.length < pos + size + 2) return incomplete(closed, 'chunk data');
			parts.push(buf.subarray(pos, pos + size));
			if (buf.toString('latin1', pos + size, pos + size + 2) !== '\r\n') {
				throw new ResponseParseError('chunk data not followed by CRLF');
			}
			pos += size + 2;
		}
	}
	if (cl !== undefined) {
		if (!/^\d+$/.test(cl)) throw new ResponseParseError(`bad response Content-Length: ${cl}`);
		const n = Number(cl);
		if (buf.length < pos + n) return incomplete(closed, `body (${buf.length - pos}/${n} bytes)`);
		response.body = Buffer.from(buf.subarray(pos, pos + n));
		return { response, end: pos + n };
	}
	// No framing: the body runs to the end of the stream.
	if (!closed) return null;
	response.body = Buffer.from(buf.subarray(pos));
	response.unframed = true;
	return { response, end: buf.length };
}

function incomplete(closed, what) {
	if (closed) throw new ResponseParseError(`stream ended inside the response ${what}`);
	return null;
}

/** Parses every complete response in a finished stream. */
export function parseAll(buf, { heads = [] } = {}) {
	const out = [];
	let off = 0;
	while (off < buf.length) {
		const r = parseResponse(buf, off, { head: heads[out.length] ?? false, closed: true });
		out.push(r.response);
		off = r.end;
	}
	return out;
}

/** Waits until pred() is truthy; obj has _waiters (a Set of checks it
 * runs on input) and describe() (for the timeout message). */
export function waitOn(obj, pred, timeoutMs, what) {
	return new Promise((resolve, reject) => {
		let done = false;
		const check = () => {
			if (done) return;
			let v;
			try {
				v = pred();
			} catch (e) {
				finish();
				reject(e);
				return;
			}
			if (v) {
				finish();
				resolve(v);
			}
		};
		const timer = setTimeout(() => {
			finish();
			reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${obj.describe()}`));
		}, timeoutMs);
		const finish = () => {
			done = true;
			clearTimeout(timer);
			obj._waiters.delete(check);
		};
		obj._waiters.add(check);
		check();
	});
}

/**
 * A TCP connection that records everything it receives.
 * Responses are consumed in order with readResponse(); close/EOF is
 * observable with waitClose(). An RST (ECONNRESET) counts as closed and
 * sets `reset`.
 */
export class Conn {
	constructor(sock) {
		this.sock = sock;
		this.buf = Buffer.alloc(0);
		this.offset = 0; // bytes of buf consumed by readResponse
		this.closed = false;
		this.ended = false; // clean EOF (FIN) seen
		this.reset = false;
		this.error = null;
		this.closedAt = null;
		this.bytesWritten = 0;
		this._waiters = new Set();
		sock.on('data', (d) => {
			this.buf = Buffer.concat([this.buf, d]);
			this._wake();
		});
		sock.on('end', () => {
			this.ended = true;
		});
		sock.on('error', (e) => {
			this.error = e;
			if (e.code === 'ECONNRESET' || e.code === 'EPIPE') this.reset = true;
			this._markClosed();
		});
		sock.on('close', () => this._markClosed());
	}

	_markClosed() {
		if (!this.closed) {
			this.closed = true;
			this.closedAt = Date.now();
		}
		this._wake();
	}

	_wake() {
		for (const w of [...this._waiters]) w();
	}

	/** Opens a connection; rejects with the socket error (err.code, e.g.
	 * ECONNREFUSED) or on timeout. */
	static connect(port, { host = '127.0.0.1', timeoutMs = 3000, track } = {}) {
		return new Promise((resolve, reject) => {
			const sock = net.connect({ port, host });
			sock.setNoDelay(true);
			const timer = setTimeout(() => {
				sock.destroy();
				reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
			}, timeoutMs);
			const onErr = (e) => {
				clearTimeout(timer);
				reject(e);
			};
			sock.once('error', onErr);
			sock.once('connect', () => {
				clearTimeout(timer);
				sock.off('error', onErr);
				const c = new Conn(sock);
				if (track) track(c);
				resolve(c);
			});
		});
	}

	/** What arrived so far, for a failure message. */
	describe() {
		return `received so far: ${JSON.stringify(this.buf.toString('latin1').slice(0, 600))}${this.closed ? ' (connection closed)' : ' (connection open)'}`;
	}

	/** Waits until pred() is true; rejects after timeoutMs with `what`. */
	waitFor(pred, timeoutMs, what) {
		return waitOn(this, pred, timeoutMs, what);
	}


	/** Writes bytes; resolves when handed to the kernel. If the peer has
	 * closed, resolves false instead of throwing (tests then check close). */
	write(data) {
		const b = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
		if (this.closed || this.sock.destroyed) return Promise.resolve(false);
		return new Promise((resolve) => {
			this.sock.write(b, (err) => {
				if (!err) this.bytesWritten += b.length;
				resolve(!err);
			});
		});
	}

	/** Writes data in pieces of `chunk` bytes (or the given array of
	 * pieces) with `delayMs` between them; stops early when the connection
	 * closes. Returns the number of pieces written. */
	async writeSlowly(data, { delayMs = 100, chunk = 1 } = {}) {
		let pieces = data;
		if (!Array.isArray(data)) {
			const b = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
			pieces = [];
			for (let i = 0; i < b.length; i += chunk) pieces.push(b.subarray(i, i + chunk));
		}
		let n = 0;
		for (let i = 0; i < pieces.length; i++) {
			if (this.closed) break;
			if (i > 0) await sleep(delayMs);
			if (this.closed) break;
			if (!(await this.write(pieces[i]))) break;
			n++;
		}
		return n;
	}

	/** Reads the next complete response. `head`: it answers a HEAD. */
	async readResponse({ timeoutMs = 5000, head = false } = {}) {
		let result;
		await this.waitFor(
			() => {
				result = parseResponse(this.buf, this.offset, { head, closed: this.closed });
				if (!result && this.closed) {
					throw new Error(
						`connection closed before a complete response; unread bytes: ` +
							JSON.stringify(this.buf.subarray(this.offset).toString('latin1').slice(0, 400)) +
							(this.reset ? ' (reset)' : '')
					);
				}
				return result;
			},
			timeoutMs,
			'a complete response'
		);
		this.offset = result.end;
		result.response.receivedAt = Date.now();
		return result.response;
	}

	/** Reads n responses; heads[i] true when request i was a HEAD. */
	async readResponses(n, { timeoutMs = 5000, heads = [] } = {}) {
		const out = [];
		const deadline = Date.now() + timeoutMs;
		for (let i = 0; i < n; i++) {
			out.push(await this.readResponse({ timeoutMs: Math.max(1, deadline - Date.now()), head: heads[i] ?? false }));
		}
		return out;
	}

	/** Resolves true if any unread byte arrives within timeoutMs, false
	 * otherwise (also false when the connection closes without data). */
	async waitData(timeoutMs) {
		try {
			await this.waitFor(() => this.buf.length > this.offset || this.closed, timeoutMs, 'data');
		} catch {
			return false;
		}
		return this.buf.length > this.offset;
	}

	/** Waits for the peer to close; returns the bytes received after the
	 * last response consumed (should usually be empty). Rejects on timeout. */
	async waitClose(timeoutMs = 3000) {
		await this.waitFor(() => this.closed, timeoutMs, 'the server to close the connection');
		return this.buf.subarray(this.offset);
	}

	/** Bytes not consumed by readResponse. */
	unread() {
		return this.buf.subarray(this.offset);
	}

	/** Half-close: send FIN, keep reading. */
	end() {
		this.sock.end();
	}

	destroy() {
		this.sock.destroy();
	}
}

/** One request on a new connection; returns its (first) response. */
export async function request(port, raw, { timeoutMs = 5000, head = false } = {}) {
	const c = await Conn.connect(port, { timeoutMs });
	try {
		await c.write(raw);
		return await c.readResponse({ timeoutMs, head });
	} finally {
		c.destroy();
	}
}
