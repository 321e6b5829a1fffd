// A running `crier sub` for the CLI tests: its stdout and stderr as lines,
// as they come; waits for a line, bounded, that also end when the process
// exits first; stop (SIGTERM, then SIGKILL if it hangs) and finish (wait
// for a self-ending run, with a sanitizer check). Any still running when
// the test process exits, however the test ended, are killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { childEnv, crierBin, SANITIZER_RE } from './server.mjs';

const live = new Set();
process.on('exit', () => {
	for (const p of live) p.kill('SIGKILL');
});

export class CrierSub {
	constructor(args) {
		this.proc = spawn(crierBin(), ['sub', ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
		live.add(this.proc);
		this.out = [];
		this.err = [];
		this.code = undefined;
		this.waiters = new Set();
		this.exit = new Promise((resolve) =>
			this.proc.on('close', (code, signal) => {
				live.delete(this.proc);
				this.code = code ?? signal;
				for (const w of [...this.waiters]) w();
				resolve(this.code);
			}),
		);
		for (const [stream, lines] of [
			[this.proc.stdout, this.out],
			[this.proc.stderr, this.err],
		]) {
			let partial = '';
			stream.setEncoding('utf8');
			stream.on('data', (d) => {
				partial += d;
				let i;
				while ((i = partial.indexOf('\n')) >= 0) {
					lines.push(partial.slice(0, i));
					partial = partial.slice(i + 1);
				}
				for (const w of [...this.waiters]) w();
			});
		}
	}

	get running() {
		return this.code === undefined;
	}

	/** Last lines of stderr, for failure messages. */
	tail(n = 15) {
		return this.err.slice(-n).map((l) => `  | ${l}`).join('\n');
	}

	/** Resolves with the first line of lines (this.out or this.err) matching
	 * re; rejects after timeoutMs, or when the process exits without one,
	 * with describe() in the message (default: all output so far). Scans
	 * each line once. */
	waitFor(lines, re, timeoutMs = 10000, describe = () => `stdout:\n${this.out.join('\n')}\nstderr:\n${this.err.join('\n')}`) {
		return new Promise((resolve, reject) => {
			let next = 0;
			const check = () => {
				for (; next < lines.length; next++) {
					if (re.test(lines[next])) {
						done();
						resolve(lines[next]);
						return;
					}
				}
				if (!this.running) {
					done();
					reject(new Error(`crier sub exited (${this.code}) without a line matching ${re}; ${describe()}`));
				}
			};
			const timer = setTimeout(() => {
				done();
				reject(new Error(`no line matching ${re} within ${timeoutMs} ms; ${describe()}`));
			}, timeoutMs);
			const done = () => {
				clearTimeout(timer);
				this.waiters.delete(check);
			};
			this.waiters.add(check);
			check();
		});
	}

	/** Waits (bounded: SIGKILL after timeoutMs) for a run that ends by
	 * itself; checks stderr for sanitizer reports. */
	async finish(timeoutMs = 20000) {
		const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
		const code = await this.exit;
		clearTimeout(timer);
		const stderr = this.err.join('\n');
		assert.doesNotMatch(stderr, SANITIZER_RE, stderr);
		return { code, stdout: this.out, stderr };
	}

	/** SIGTERM, then (bounded) the exit code; SIGKILL if it hangs. */
	async stop(timeoutMs = 10000) {
		if (this.running) this.proc.kill('SIGTERM');
		let timer;
		const hung = new Promise((resolve) => {
			timer = setTimeout(() => resolve('hung'), timeoutMs);
		});
		const r = await Promise.race([this.exit, hung]);
		clearTimeout(timer);
		if (r === 'hung') {
			this.proc.kill('SIGKILL');
			await this.exit;
			throw new Error(`crier sub did not exit within ${timeoutMs} ms of SIGTERM\n${this.tail()}`);
		}
		return r;
	}

	kill() {
		if (this.running) this.proc.kill('SIGKILL');
	}
}
