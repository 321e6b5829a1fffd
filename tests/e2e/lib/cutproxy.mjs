// A TCP proxy that kills connections, for testing clients that must
// reconnect and resume (cli_drops.test.mjs). It listens on 127.0.0.1:0,
// forwards bytes both ways to 127.0.0.1:targetPort, and cuts every proxied
// connection after a random lifetime drawn uniformly from [minMs, maxMs]:
// both sockets are destroyed at once, each with an RST (resetAndDestroy)
// or a plain close (FIN, or RST if unread bytes remain) chosen at random.
// A share of the cuts (midChunk) waits (up to maxMs) for the next chunk
// from the server and passes on only a random strict prefix of it before
// cutting, so the client sees streams end inside an SSE event, a WebSocket
// frame or an HTTP response, not only between them. Whatever the proxy
// read but did not write is lost, as on a real network. A close by either
// peer before the lifetime is passed on (a FIN as a FIN, an error as a
// destroy) and is not counted as a cut.
// node:net only; close() stops listening and destroys everything.
import net from 'node:net';
import { once } from 'node:events';

/** Destroys sock at once: with an RST when rst (and it is connected),
 * else a plain close. Returns whether an RST was sent. */
function kill(sock, rst) {
	if (sock.destroyed) return false;
	// resetAndDestroy() on a socket still connecting waits for the connect.
	if (rst && !sock.connecting && sock._handle) {
		sock.resetAndDestroy();
		return true;
	}
	sock.destroy();
	return false;
}

/** Forwards from → to with backpressure; a FIN from `from` is passed on. */
function forward(from, to, pair, onChunk) {
	from.on('data', (chunk) => {
		if (pair.dead || pair.frozen) return;
		if (onChunk && onChunk(chunk)) return;
		if (!to.write(chunk)) from.pause();
	});
	to.on('drain', () => {
		if (!pair.dead) from.resume();
	});
	from.on('end', () => {
		pair.ending = true;
		if (!pair.dead) to.end();
	});
}

/**
 * Starts the proxy; resolves once it listens with { port, stats, accepted,
 * cuts, open, close() }. stats: accepted (client connections), cuts
 * (connections the proxy killed), partial (cuts that passed on part of a
 * chunk first), rsts (sides reset rather than closed).
 *
 * targetPort  where to forward (127.0.0.1).
 * minMs/maxMs the range of a connection's lifetime.
 * midChunk    the share of cuts made inside a server chunk (0..1).
 * random      a () => [0, 1) source, for reproducible runs.
 */
export async function startCutProxy({ targetPort, minMs = 20, maxMs = 150, midChunk = 0.5, random = Math.random } = {}) {
	if (!(targetPort > 0)) throw new Error('startCutProxy: targetPort is required');
	if (!(minMs >= 0 && maxMs >= minMs)) throw new Error(`startCutProxy: bad lifetime range [${minMs}, ${maxMs}]`);
	const stats = { accepted: 0, cuts: 0, partial: 0, rsts: 0 };
	const pairs = new Set();
	let closed = false;

	const server = net.createServer({ pauseOnConnect: true }, (client) => {
		if (closed) {
			client.destroy();
			return;
		}
		stats.accepted++;
		const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
		// dead: cut or closed; frozen: nothing more is forwarded (a cut is
		// under way); ending: a peer sent a FIN; cutNext: cut in the next
		// server chunk.
		const pair = { client, upstream, timer: null, dead: false, frozen: false, ending: false, cutNext: false };
		pairs.add(pair);
		client.setNoDelay(true);
		upstream.setNoDelay(true);

		// Both sockets gone: forget the pair. An error, or a close before
		// the other side was ended, destroys the other side too.
		const gone = (other) => (hadError) => {
			if (hadError || !other.writableEnded) other.destroy();
			if (client.destroyed && upstream.destroyed) {
				pair.dead = true;
				clearTimeout(pair.timer);
				pairs.delete(pair);
			}
		};
		client.on('error', () => upstream.destroy());
		upstream.on('error', () => client.destroy());
		client.on('close', gone(upstream));
		upstream.on('close', gone(client));

		const cut = () => {
			if (pair.dead) return;
			pair.dead = true;
			clearTimeout(pair.timer);
			pairs.delete(pair);
			stats.cuts++;
			for (const s of [client, upstream]) if (kill(s, random() < 0.5)) stats.rsts++;
		};
		forward(client, upstream, pair, null);
		forward(upstream, client, pair, (chunk) => {
			if (!pair.cutNext) return false;
			// Pass on a strict prefix of this chunk, then cut.
			pair.cutNext = false;
			pair.frozen = true;
			upstream.pause();
			if (chunk.length < 2) {
				cut();
				return true;
			}
			stats.partial++;
			client.write(chunk.subarray(0, 1 + Math.floor(random() * (chunk.length - 1))), cut);
			return true;
		});
		client.resume();

		pair.timer = setTimeout(() => {
			if (pair.dead) return;
			if (pair.ending) {
				// Already closing by itself: not a cut.
				pair.dead = true;
				pairs.delete(pair);
				client.destroy();
				upstream.destroy();
				return;
			}
			if (random() >= midChunk) {
				cut();
				return;
			}
			pair.cutNext = true;
			pair.timer = setTimeout(cut, maxMs); // no chunk came: cut anyway
		}, minMs + random() * (maxMs - minMs));
	});
	server.listen(0, '127.0.0.1');
	await once(server, 'listening');

	return {
		port: server.address().port,
		stats,
		get accepted() {
			return stats.accepted;
		},
		get cuts() {
			return stats.cuts;
		},
		get open() {
			return pairs.size;
		},
		/** Stops listening and destroys every proxied connection. */
		close() {
			if (closed) return Promise.resolve();
			closed = true;
			for (const p of [...pairs]) {
				p.dead = true;
				clearTimeout(p.timer);
				p.client.destroy();
				p.upstream.destroy();
			}
			pairs.clear();
			return new Promise((resolve) => server.close(() => resolve()));
		},
	};
}
