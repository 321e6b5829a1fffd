// A raw WebSocket client for the end-to-end tests: the opening handshake
// written by hand, frames built with our own encoder (so a test can send
// anything, including what RFC 6455 forbids), and a strict parser of the
// server's frames. Built on lib/http.mjs's Conn, so every wait is bounded.
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { isUtf8 } from 'node:buffer';
import { Conn } from './http.mjs';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };

/** A fresh Sec-WebSocket-Key (base64 of 16 random bytes). */
export function newKey() {
	return crypto.randomBytes(16).toString('base64');
}

/** The Sec-WebSocket-Accept a server must answer for key. */
export function acceptFor(key) {
	return crypto.createHash('sha1').update(key + GUID).digest('base64');
}

/**
 * Builds an upgrade request. Every field can be changed or left out:
 * key/version/upgrade/connection/host: a string, or null to omit it.
 * origin, protocol, extensions: added when given. headers: extra lines.
 */
export function handshakeRequest(opts = {}) {
	const {
		path = '/echo',
		httpVersion = 'HTTP/1.1',
		host = 'crier.test',
		key = newKey(),
		version = '13',
		upgrade = 'websocket',
		connection = 'Upgrade',
		origin,
		protocol,
		extensions,
		headers = [],
	} = opts;
	let s = `GET ${path} ${httpVersion}\r\n`;
	if (host !== null) s += `Host: ${host}\r\n`;
	if (upgrade !== null) s += `Upgrade: ${upgrade}\r\n`;
	if (connection !== null) s += `Connection: ${connection}\r\n`;
	if (key !== null) s += `Sec-WebSocket-Key: ${key}\r\n`;
	if (version !== null) s += `Sec-WebSocket-Version: ${version}\r\n`;
	if (origin !== undefined) s += `Origin: ${origin}\r\n`;
	if (protocol !== undefined) s += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
	if (extensions !== undefined) s += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
	for (const h of headers) s += h + '\r\n';
	return { bytes: Buffer.from(s + '\r\n', 'latin1'), key };
}

/**
 * Encodes one frame. payload: Buffer or string (UTF-8).
 * mask: true (random key), false (unmasked: a violation from a client),
 * or a 4-byte Buffer. lenBytes: force the 16-bit (2) or 64-bit (8) length
 * form; len64: write this raw 64-bit length (BigInt) instead of the real one.
 */
export function encodeFrame({
	opcode = OP.TEXT,
	payload = Buffer.alloc(0),
	fin = true,
	rsv1 = false,
	rsv2 = false,
	rsv3 = false,
	mask = true,
	lenBytes,
	len64,
} = {}) {
	const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
	const len = data.length;
	const b0 = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (rsv2 ? 0x20 : 0) | (rsv3 ? 0x10 : 0) | (opcode & 0x0f);
	const masked = mask !== false;
	let form = lenBytes ?? (len < 126 ? 0 : len < 65536 ? 2 : 8);
	if (len64 !== undefined) form = 8;
	const hdr = Buffer.alloc(2 + form + (masked ? 4 : 0));
	hdr[0] = b0;
	if (form === 0) hdr[1] = len;
	else if (form === 2) {
		hdr[1] = 126;
		hdr.writeUInt16BE(len, 2);
	} else {
		hdr[1] = 127;
		hdr.writeBigUInt64BE(len64 !== undefined ? BigInt(len64) : BigInt(len), 2);
	}
	if (!masked) return Buffer.concat([hdr, data]);
	hdr[1] |= 0x80;
	const key = Buffer.isBuffer(mask) ? mask : crypto.randomBytes(4);
	key.copy(hdr, hdr.length - 4);
	const out = Buffer.alloc(len);
	for (let i = 0; i < len; i++) out[i] = data[i] ^ key[i & 3];
	return Buffer.concat([hdr, out]);
}

/** A close payload: 2-byte code (omitted when code is null) + reason. */
export function closePayload(code, reason = '') {
	if (code === null || code === undefined) return Buffer.alloc(0);
	const r = Buffer.isBuffer(reason) ? reason : Buffer.from(reason, 'utf8');
	const b = Buffer.alloc(2 + r.length);
	b.writeUInt16BE(code, 0);
	r.copy(b, 2);
	return b;
}

export class FrameError extends Error {}

/**
 * Parses one server frame from buf at offset. Returns { frame, end } or
 * null when more bytes are needed. Frames from a server must not be masked;
 * a masked one is reported (frame.masked) and unmasked, and the test decides.
 */
export function parseFrame(buf, offset = 0) {
	if (buf.length - offset < 2) return null;
	const b0 = buf[offset];
	const b1 = buf[offset + 1];
	let len = b1 & 0x7f;
	let pos = offset + 2;
	if (len === 126) {
		if (buf.length < pos + 2) return null;
		len = buf.readUInt16BE(pos);
		pos += 2;
	} else if (len === 127) {
		if (buf.length < pos + 8) return null;
		const big = buf.readBigUInt64BE(pos);
		if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new FrameError(`server frame with 64-bit length ${big}`);
		len = Number(big);
		pos += 8;
	}
	const masked = (b1 & 0x80) !== 0;
	let key;
	if (masked) {
		if (buf.length < pos + 4) return null;
		key = buf.subarray(pos, pos + 4);
		pos += 4;
	}
	if (buf.length < pos + len) return null;
	let payload = Buffer.from(buf.subarray(pos, pos + len));
	if (masked) for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
	const frame = {
		fin: (b0 & 0x80) !== 0,
		rsv1: (b0 & 0x40) !== 0,
		rsv2: (b0 & 0x20) !== 0,
		rsv3: (b0 & 0x10) !== 0,
		opcode: b0 & 0x0f,
		masked,
		payload,
	};
	if (frame.opcode === OP.CLOSE) {
		frame.code = len >= 2 ? payload.readUInt16BE(0) : null;
		frame.reason = len >= 2 ? payload.subarray(2).toString('utf8') : '';
	}
	return { frame, end: pos + len };
}

/** Inflates a permessage-deflate payload (RFC 7692 §7.2.2). */
export function inflateMessage(payload) {
	return zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0x00, 0x00, 0xff, 0xff])]), {
		finishFlush: zlib.constants.Z_SYNC_FLUSH,
	});
}

/** Deflates a message the way a permessage-deflate client does: raw
 * deflate, sync flush, without the trailing 00 00 ff ff (RFC 7692 §7.2.1). */
export function deflateMessage(data) {
	const d = zlib.deflateRawSync(Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8'), {
		finishFlush: zlib.constants.Z_SYNC_FLUSH,
	});
	const tail = d.subarray(d.length - 4);
	if (tail.equals(Buffer.from([0x00, 0x00, 0xff, 0xff]))) return d.subarray(0, d.length - 4);
	return d;
}

function describe(buf) {
	return JSON.stringify(buf.toString('latin1').slice(0, 300));
}

/**
 * A raw WebSocket connection. Frames from the server are parsed from the
 * underlying Conn's buffer, in order, with readFrame().
 */
export class WsRaw {
	constructor(conn, response, key) {
		this.conn = conn;
		this.response = response;
		this.key = key;
		this.frames = []; // every frame read so far
	}

	/**
	 * Opens a connection to server (a lib/server.mjs Server) and performs
	 * the handshake. opts: handshakeRequest options, plus `firstFrames`
	 * (Buffer sent in the same write as the handshake), `expectStatus`
	 * (default 101: anything else throws). Returns a WsRaw (status 101) or,
	 * when expectStatus is not 101, { conn, response }.
	 */
	static async open(server, opts = {}) {
		const { firstFrames, expectStatus = 101, timeoutMs = 5000, ...hs } = opts;
		if (hs.host === undefined) hs.host = `127.0.0.1:${server.port}`;
		const { bytes, key } = handshakeRequest(hs);
		const conn = await server.connect({ timeoutMs });
		await conn.write(firstFrames ? Buffer.concat([bytes, firstFrames]) : bytes);
		const response = await conn.readResponse({ timeoutMs });
		if (response.status !== expectStatus) {
			throw new Error(
				`handshake answered ${response.status} ${response.reason}, expected ${expectStatus}: ${response.rawHead}\n${response.text}`
			);
		}
		if (expectStatus !== 101) return { conn, response };
		return new WsRaw(conn, response, key);
	}

	get closed() {
		return this.conn.closed;
	}

	/** Sends raw bytes. Resolves false when the connection is closed. */
	write(bytes) {
		return this.conn.write(bytes);
	}

	/** Sends one frame (see encodeFrame). */
	sendFrame(f) {
		return this.write(encodeFrame(f));
	}

	sendText(s, extra = {}) {
		return this.sendFrame({ opcode: OP.TEXT, payload: s, ...extra });
	}

	sendBinary(b, extra = {}) {
		return this.sendFrame({ opcode: OP.BINARY, payload: b, ...extra });
	}

	sendClose(code, reason = '', extra = {}) {
		return this.sendFrame({ opcode: OP.CLOSE, payload: closePayload(code, reason), ...extra });
	}

	/** Next frame from the server (the first one not read yet). Rejects on
	 * timeout or when the connection closes before a whole frame. */
	async readFrame({ timeoutMs = 5000 } = {}) {
		let r;
		await this.conn.waitFor(
			() => {
				r = parseFrame(this.conn.buf, this.conn.offset);
				if (!r && this.conn.closed) {
					throw new FrameError(
						`connection closed before a whole frame; unread: ${describe(this.conn.buf.subarray(this.conn.offset))}` +
							(this.conn.reset ? ' (reset)' : '')
					);
				}
				return r;
			},
			timeoutMs,
			'a WebSocket frame'
		);
		this.conn.offset = r.end;
		this.frames.push(r.frame);
		const f = r.frame;
		// RFC 6455 §5.1-5.2: a client fails on masked server frames and on
		// RSV bits no extension explains.
		if (f.masked) throw new FrameError(`server sent a masked frame (opcode ${f.opcode})`);
		if (f.rsv2 || f.rsv3) throw new FrameError(`server frame with RSV2/RSV3 (opcode ${f.opcode})`);
		if (f.rsv1 && !/permessage-deflate/i.test(this.response.headers['sec-websocket-extensions'] ?? '')) {
			throw new FrameError(`server frame with RSV1 but no permessage-deflate negotiated (opcode ${f.opcode})`);
		}
		if (f.rsv1 && (f.opcode === OP.CONT || f.opcode >= 0x8)) throw new FrameError(`server set RSV1 on opcode ${f.opcode}`);
		if (f.opcode >= 0x8 && (!f.fin || f.payload.length > 125)) throw new FrameError(`bad server control frame (opcode ${f.opcode})`);
		if (f.opcode === OP.CLOSE && f.payload.length >= 2 && !isUtf8(f.payload.subarray(2))) {
			throw new FrameError('server close reason is not valid UTF-8');
		}
		return f;
	}

	/** True when a whole frame is waiting. */
	hasFrame() {
		return parseFrame(this.conn.buf, this.conn.offset) !== null;
	}

	/**
	 * Next data message, reassembled from fragments and inflated when
	 * compressed. Control frames in between: pings are answered with a pong
	 * unless autoPong is false; all are recorded in `controls`. A close
	 * frame throws (with .frame). Returns { opcode, data, compressed, frames }.
	 */
	async readMessage({ timeoutMs = 5000, autoPong = true, controls = [] } = {}) {
		const deadline = Date.now() + timeoutMs;
		const parts = [];
		let opcode = null;
		let compressed = false;
		let n = 0;
		for (;;) {
			const f = await this.readFrame({ timeoutMs: Math.max(1, deadline - Date.now()) });
			if (f.opcode >= 0x8) {
				controls.push(f);
				if (f.opcode === OP.CLOSE) {
					const e = new FrameError(`close frame ${f.code} ${JSON.stringify(f.reason)} instead of a message`);
					e.frame = f;
					throw e;
				}
				if (f.opcode === OP.PING && autoPong) await this.sendFrame({ opcode: OP.PONG, payload: f.payload });
				continue;
			}
			n++;
			if (opcode === null) {
				if (f.opcode === OP.CONT) throw new FrameError('server sent a continuation without a message start');
				opcode = f.opcode;
				compressed = f.rsv1;
			} else if (f.opcode !== OP.CONT) {
				throw new FrameError(`server started a new message (opcode ${f.opcode}) inside a fragmented one`);
			}
			parts.push(f.payload);
			if (f.fin) break;
		}
		let data = Buffer.concat(parts);
		if (compressed) data = inflateMessage(data);
		return { opcode, data, compressed, frames: n };
	}

	/**
	 * Reads frames until a close frame; skips (and records) anything else.
	 * Returns the close frame { code, reason, ... } plus `before` (the
	 * frames before it). Rejects on timeout or if TCP closes first.
	 */
	async readClose({ timeoutMs = 5000 } = {}) {
		const deadline = Date.now() + timeoutMs;
		const before = [];
		for (;;) {
			const f = await this.readFrame({ timeoutMs: Math.max(1, deadline - Date.now()) });
			if (f.opcode === OP.CLOSE) return { ...f, before };
			before.push(f);
		}
	}

	/** Waits for the server to close TCP; returns the unread bytes. */
	waitTcpClose(timeoutMs = 3000) {
		return this.conn.waitClose(timeoutMs);
	}

	/**
	 * The server must fail the connection: a close frame with `code` (and
	 * a non-empty reason), then TCP closes. Frames before the close are
	 * allowed only when allowBefore (e.g. echoes of earlier messages).
	 */
	async expectFail(code, { timeoutMs = 5000, allowBefore = false } = {}) {
		const c = await this.readClose({ timeoutMs });
		if (c.code !== code) {
			throw new FrameError(`expected close ${code}, got ${c.code} ${JSON.stringify(c.reason)}`);
		}
		if (!allowBefore && c.before.length) {
			throw new FrameError(`frames before the close: ${c.before.map((f) => `op=${f.opcode} len=${f.payload.length}`).join(', ')}`);
		}
		if (c.masked) throw new FrameError('the server masked its close frame');
		await this.waitTcpClose(timeoutMs);
		const rest = this.conn.buf.subarray(this.conn.offset);
		if (rest.length) throw new FrameError(`bytes after the close frame: ${describe(rest)}`);
		return c;
	}

	destroy() {
		this.conn.destroy();
	}
}

/** Opens a raw WebSocket to /echo, sends one text message and checks the echo. */
export async function expectEcho(server, text = 'still serving', opts = {}) {
	const ws = await WsRaw.open(server, opts);
	try {
		await ws.sendText(text);
		const m = await ws.readMessage();
		if (m.opcode !== OP.TEXT || m.data.toString('utf8') !== text) {
			throw new Error(`echo mismatch: opcode ${m.opcode}, ${JSON.stringify(m.data.toString('utf8').slice(0, 100))}`);
		}
		await ws.sendClose(1000, 'done');
		const c = await ws.readClose();
		if (c.code !== 1000) throw new Error(`close answered with ${c.code}`);
		await ws.waitTcpClose();
	} finally {
		ws.destroy();
	}
}

/**
 * An incremental parser of server frames for streams too large to keep
 * (backpressure tests): push() chunks, get frames back; only a partial
 * frame is retained. keepPayload: false drops data payloads (control
 * frame payloads are always kept).
 */
export class FrameStream {
	constructor({ keepPayload = false } = {}) {
		this.rest = Buffer.alloc(0);
		this.keepPayload = keepPayload;
		this.bytes = 0;
		this.frames = 0;
	}

	push(chunk) {
		this.bytes += chunk.length;
		this.rest = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
		const out = [];
		let off = 0;
		for (;;) {
			const r = parseFrame(this.rest, off);
			if (!r) break;
			off = r.end;
			this.frames++;
			if (!this.keepPayload && r.frame.opcode < 0x8) r.frame.payload = Buffer.alloc(0);
			out.push(r.frame);
		}
		this.rest = Buffer.from(this.rest.subarray(off));
		return out;
	}
}
