// A TCP proxy between the browser and crier that a test can cut: the
// browser talks to the proxy's port, crier sees the proxy. cut() resets
// every open connection (the browser sees a lost connection, crier a
// vanished subscriber); while refusing, new connections are reset at once.
// The first bytes of each connection (its request head) are kept so a test
// can see what the browser sent on reconnect (Last-Event-ID, ?since=).
import net from 'node:net';

export async function startProxy(t, targetPort) {
	const pairs = new Set();
	const heads = [];
	let refusing = false;
	let refuseTimer;
	const server = net.createServer((client) => {
		if (refusing) {
			client.resetAndDestroy();
			return;
		}
		const up = net.connect(targetPort, '127.0.0.1');
		const pair = { client, up };
		pairs.add(pair);
		let head = '';
		const end = () => {
			pairs.delete(pair);
			client.destroy();
			up.destroy();
		};
		client.on('data', (d) => {
			if (head.length < 4096 && !head.includes('\r\n\r\n')) {
				head += d.toString('latin1');
				if (head.includes('\r\n\r\n')) heads.push(head.slice(0, head.indexOf('\r\n\r\n')));
			}
		});
		client.pipe(up);
		up.pipe(client);
		client.on('error', end);
		up.on('error', end);
		client.on('close', end);
		up.on('close', end);
	});
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', resolve);
	});
	const proxy = {
		port: server.address().port,
		heads,
		get open() {
			return pairs.size;
		},
		/** Resets every open connection; refuses new ones for refuseMs. */
		cut(refuseMs = 0) {
			for (const p of [...pairs]) {
				pairs.delete(p);
				p.client.resetAndDestroy();
				p.up.destroy();
			}
			clearTimeout(refuseTimer);
			refusing = refuseMs > 0;
			if (refusing) refuseTimer = setTimeout(() => (refusing = false), refuseMs).unref();
		},
		/** Accepts connections again (ends a refusal early). */
		allow() {
			clearTimeout(refuseTimer);
			refusing = false;
		},
		close() {
			proxy.cut(0);
			return new Promise((resolve) => server.close(() => resolve()));
		},
	};
	t.after(() => proxy.close());
	return proxy;
}

/** The value of header `name` in a raw request head, or null. */
export function headerOf(head, name) {
	const re = new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, 'im');
	const m = re.exec(head);
	return m ? m[1] : null;
}
