// A real redis-server for the Redis engine's tests: started on a free
// loopback port with no persistence (--save '' --appendonly no), stopped
// (SIGKILL) when the test ends. kill() and restart() simulate an outage
// and a replaced instance (same port, empty data); cli() runs redis-cli.
// With tls ({cert, key, ca, authClients}) it listens on a TLS port only
// (--port 0 --tls-port P); cli() then speaks TLS with tls.clientCert/Key.
import { execFile, spawn } from 'node:child_process';
import net from 'node:net';

const REDIS_SERVER = process.env.CRIER_TEST_REDIS_SERVER || 'redis-server';
const REDIS_CLI = process.env.CRIER_TEST_REDIS_CLI || 'redis-cli';

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

export class Redis {
	constructor(port, tls = null) {
		this.port = port;
		this.tls = tls;
		this.proc = null;
		this.log = '';
	}

	get url() {
		return `${this.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}/0`;
	}

	/** The TLS arguments of redis-server (none without tls). */
	tlsArgs() {
		if (!this.tls) return ['--port', String(this.port)];
		const { cert, key, ca, authClients = 'yes' } = this.tls;
		return ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', ca, '--tls-auth-clients', authClients];
	}

	/** Starts redis-server and waits (bounded) until it accepts commands. */
	async start(timeoutMs = 5000) {
		const args = [...this.tlsArgs(), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
		const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
		this.proc = proc;
		this.exited = new Promise((resolve) => proc.on('exit', resolve));
		proc.stdout.setEncoding('utf8');
		proc.stdout.on('data', (d) => (this.log += d));
		proc.stderr.setEncoding('utf8');
		proc.stderr.on('data', (d) => (this.log += d));
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			if (/Ready to accept connections/.test(this.log)) return this;
			if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not start:\n${this.log}`);
			await new Promise((r) => setTimeout(r, 20));
		}
	}

	/** SIGKILL: the data (no persistence) is gone with it. */
	async kill() {
		if (this.proc && this.proc.exitCode === null) {
			this.proc.kill('SIGKILL');
			await this.exited;
		}
		this.proc = null;
	}

	/** A new, empty instance on the same port. */
	async restart() {
		await this.kill();
		this.log = '';
		return this.start();
	}

	/** Runs redis-cli against this instance; resolves its trimmed stdout. */
	cli(...args) {
		return new Promise((resolve, reject) => {
			const tlsArgs = this.tls ? ['--tls', '--cacert', this.tls.ca, '--cert', this.tls.clientCert, '--key', this.tls.clientKey] : [];
			execFile(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(this.port), ...tlsArgs, ...args], { timeout: 5000 }, (err, stdout, stderr) => {
				if (err) reject(new Error(`redis-cli ${args.join(' ')}: ${err.message} ${stderr}`));
				else resolve(stdout.trim());
			});
		});
	}
}

/** Starts a redis-server for test t (killed after it); opts.tls as in Redis. */
export async function startRedis(t, { tls = null } = {}) {
	const r = new Redis(await freePort(), tls);
	await r.start();
	t.after(() => r.kill());
	return r;
}
