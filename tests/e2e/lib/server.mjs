// Starts the real crier binary for a test and guarantees it is gone when
// the test ends (pass or fail). The binary comes from $CRIER_BIN, default
// build-asan/crier at the repository root.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Conn, request } from './http.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function crierBin() {
	return process.env.CRIER_BIN || path.join(REPO_ROOT, 'build-asan', 'crier');
}

// Every child still alive when this test process exits is killed.
const live = new Set();
process.on('exit', () => {
	for (const p of live) {
		try {
			p.kill('SIGKILL');
		} catch {
			/* already gone */
		}
	}
});

export const SANITIZER_RE = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)/;

/** Environment for a child: ours without any CRIER_* variable, plus extra. */
export function childEnv(extra = {}) {
	const env = {};
	for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CRIER_')) env[k] = v;
	return { ...env, ...extra };
}

/** Parses one logfmt line into an object (quoted values unescaped). */
export function parseLogfmt(line) {
	const out = {};
	const re = /\s*([^\s=]+)=("((?:[^"\\]|\\.)*)"|[^\s]*)/gy;
	let m;
	let last = 0;
	while ((m = re.exec(line)) !== null) {
		out[m[1]] = m[3] !== undefined ? m[3].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c)) : m[2];
		last = re.lastIndex;
	}
	if (line.slice(last).trim() !== '') return null;
	return out;
}

export function makeTempDir() {
	return fs.mkdtempSync(path.join(os.tmpdir(), 'crier-e2e-'));
}

class Server {
	constructor(proc, opts) {
		this.proc = proc;
		this.logs = [];
		this.stdout = '';
		this.port = 0;
		this.exit = null; // {code, signal, at}
		this.conns = new Set();
		this.tmpDir = opts.tmpDir;
		this.configPath = opts.configPath;
		this._logWaiters = new Set();
		this._exitWaiters = new Set();
		let partial = '';
		proc.stderr.setEncoding('utf8');
		proc.stderr.on('data', (d) => {
			partial += d;
			let i;
			while ((i = partial.indexOf('\n')) >= 0) {
				this.logs.push(partial.slice(0, i));
				partial = partial.slice(i + 1);
			}
			for (const w of [...this._logWaiters]) w();
		});
		proc.stderr.on('end', () => {
			if (partial) this.logs.push(partial);
			partial = '';
			for (const w of [...this._logWaiters]) w();
		});
		proc.stdout.setEncoding('utf8');
		proc.stdout.on('data', (d) => {
			this.stdout += d;
		});
		proc.on('exit', (code, signal) => {
			this.exit = { code, signal, at: Date.now() };
			live.delete(proc);
			for (const w of [...this._exitWaiters]) w();
			for (const w of [...this._logWaiters]) w();
		});
	}

	get pid() {
		return this.proc.pid;
	}

	get running() {
		return this.exit === null;
	}

	/** Index of the next log line; pass as `from` to waitForLog. */
	mark() {
		return this.logs.length;
	}

	/** Resolves with the first stderr line (at index >= from) matching re;
	 * rejects after timeoutMs or when the process exits without it. */
	waitForLog(re, timeoutMs = 5000, { from = 0 } = {}) {
		return new Promise((resolve, reject) => {
			const check = () => {
				for (let i = from; i < this.logs.length; i++) {
					if (re.test(this.logs[i])) {
						done();
						resolve(this.logs[i]);
						return;
					}
				}
				if (this.exit && this.proc.stderr.readableEnded) {
					done();
					reject(new Error(`process exited (${JSON.stringify(this.exit)}) without a log line matching ${re}\n${this.tail()}`));
				}
			};
			const timer = setTimeout(() => {
				done();
				reject(new Error(`no log line matching ${re} within ${timeoutMs} ms\n${this.tail()}`));
			}, timeoutMs);
			const done = () => {
				clearTimeout(timer);
				this._logWaiters.delete(check);
			};
			this._logWaiters.add(check);
			check();
		});
	}

	/** Last lines of stderr, for failure messages. */
	tail(n = 30) {
		return this.logs.slice(-n).map((l) => `  | ${l}`).join('\n');
	}

	signal(sig) {
		if (this.running) this.proc.kill(sig);
	}

	/** Waits for the process to exit; resolves {code, signal, at};
	 * rejects after timeoutMs (the process is left running). */
	waitExit(timeoutMs = 10000) {
		return new Promise((resolve, reject) => {
			const check = () => {
				if (this.exit) {
					done();
					resolve(this.exit);
				}
			};
			const timer = setTimeout(() => {
				done();
				reject(new Error(`process ${this.pid} did not exit within ${timeoutMs} ms\n${this.tail()}`));
			}, timeoutMs);
			const done = () => {
				clearTimeout(timer);
				this._exitWaiters.delete(check);
			};
			this._exitWaiters.add(check);
			check();
		});
	}

	/** Sends `signal` and waits (bounded) for the exit: {code, signal}. */
	async stop(signal = 'SIGTERM', timeoutMs = 10000) {
		if (!this.running) return { code: this.exit.code, signal: this.exit.signal };
		this.proc.kill(signal);
		const e = await this.waitExit(timeoutMs);
		return { code: e.code, signal: e.signal };
	}

	kill() {
		if (this.running) this.proc.kill('SIGKILL');
	}

	/** Opens a tracked connection (destroyed at the end of the test). */
	connect(opts = {}) {
		return Conn.connect(this.port, { ...opts, track: (c) => this.conns.add(c) });
	}

	/** One request on a fresh connection; returns the response. */
	request(raw, opts) {
		return request(this.port, raw, opts);
	}

	/** Rewrites the config file (the server was started with one). */
	writeConfig(text) {
		fs.writeFileSync(this.configPath, text);
	}

	/** Sanitizer reports found on stderr, as text ('' when none). */
	sanitizerReport() {
		const i = this.logs.findIndex((l) => SANITIZER_RE.test(l));
		return i < 0 ? '' : this.logs.slice(Math.max(0, i - 2), i + 40).join('\n');
	}

	async cleanup() {
		for (const c of this.conns) c.destroy();
		this.conns.clear();
		if (this.running) {
			this.proc.kill('SIGTERM');
			try {
				await this.waitExit(5000);
			} catch {
				this.proc.kill('SIGKILL');
				await this.waitExit(5000).catch(() => {});
			}
		}
		if (this.tmpDir) fs.rmSync(this.tmpDir, { recursive: true, force: true });
	}
}

// Servers started by each test context, stopped together after it.
const testServers = new WeakMap();

/**
 * Starts `crier serve --listen 127.0.0.1:0 --workers 2 [args]` and waits
 * (bounded) for its `msg=listening` line.
 *
 * t        the test context: the process is stopped after the test, and the
 *          test fails if the sanitizers reported anything.
 * args     extra flags.
 * env      extra environment (CRIER_* from the runner's env are removed).
 * config   text of a config file, passed with --config (server.configPath).
 * listen   the --listen value, or null to pass no --listen flag.
 * workers  the --workers value, or null to pass none.
 */
export async function startServer(t, opts = {}) {
	const { args = [], env = {}, config = null, listen = '127.0.0.1:0', workers = 2, readyTimeoutMs = 10000 } = opts;
	const tmpDir = makeTempDir();
	let configPath;
	const argv = ['serve'];
	if (listen !== null) argv.push('--listen', listen);
	if (workers !== null) argv.push('--workers', String(workers));
	if (config !== null) {
		configPath = path.join(tmpDir, 'crier.conf');
		fs.writeFileSync(configPath, config);
		argv.push('--config', configPath);
	}
	argv.push(...args);
	const bin = crierBin();
	if (!fs.existsSync(bin)) throw new Error(`crier binary not found at ${bin} (set CRIER_BIN or run make build-asan)`);
	const proc = spawn(bin, argv, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
	live.add(proc);
	const server = new Server(proc, { tmpDir, configPath });
	server.argv = argv;
	if (t) {
		// One after-hook per test stops every server the test started, and
		// only then fails on sanitizer reports: a throwing hook would skip
		// the hooks after it and leave a server (and the test process) alive.
		let servers = testServers.get(t);
		if (!servers) {
			servers = [];
			testServers.set(t, servers);
			t.after(async () => {
				const reports = [];
				for (const sv of servers) {
					await sv.cleanup();
					const report = sv.sanitizerReport();
					if (report) reports.push(report);
				}
				if (reports.length) throw new Error(`sanitizer report on crier's stderr:\n${reports.join('\n----\n')}`);
			});
		}
		servers.push(server);
	}
	let line;
	try {
		line = await server.waitForLog(/msg="?listening"?(\s|$)/, readyTimeoutMs);
	} catch (e) {
		if (!t) await server.cleanup();
		throw new Error(`crier ${argv.join(' ')} did not start: ${e.message}`);
	}
	const m = /addr="?\[?[^\s"]*?\]?:(\d+)"?/.exec(line);
	if (!m) throw new Error(`cannot find addr=HOST:PORT in ${JSON.stringify(line)}`);
	server.port = Number(m[1]);
	server.listeningLine = line;
	return server;
}

/** Runs `crier args...` to completion (bounded): {code, signal, stdout, stderr, timedOut}. */
export function runCrier(args, { env = {}, timeoutMs = 10000, input } = {}) {
	return new Promise((resolve, reject) => {
		const proc = spawn(crierBin(), args, { env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
		live.add(proc);
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
			live.delete(proc);
			resolve({ code, signal, stdout, stderr, timedOut });
		});
		if (input !== undefined) proc.stdin.end(input);
		else proc.stdin.end();
	});
}
