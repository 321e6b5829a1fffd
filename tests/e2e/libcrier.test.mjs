// libcrier as a user gets it: the in-tree example (examples/sub.c, built by
// `make`) subscribing against the real hub, and `cmake --install` into a
// temporary prefix, then the same example compiled out of the tree with
// nothing but `pkg-config --cflags --libs crier`, run against the hub.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, SANITIZER_RE, childEnv, crierBin, makeTempDir, startServer } from './lib/server.mjs';
import { publishOk } from './lib/hub.mjs';

const T = { timeout: 60000 };
const BUILD_DIR = path.dirname(crierBin());

/** Runs prog until it exits (bounded), publishing `msgs` on ch once it says "open". */
function runExample(prog, server, ch, msgs, env = {}) {
	return new Promise((resolve, reject) => {
		const p = spawn(prog, [`http://127.0.0.1:${server.port}`, ch, '--count', String(msgs.length)], {
			env: childEnv(env),
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		let out = '';
		let err = '';
		let published = false;
		const timer = setTimeout(() => {
			p.kill('SIGKILL');
			reject(new Error(`example timed out; stdout ${JSON.stringify(out)} stderr ${JSON.stringify(err)}`));
		}, 20000);
		p.stdout.setEncoding('utf8');
		p.stderr.setEncoding('utf8');
		p.stdout.on('data', (d) => (out += d));
		p.stderr.on('data', async (d) => {
			err += d;
			if (published || !/^open over /m.test(err)) return;
			published = true;
			try {
				for (const m of msgs) await publishOk(server, ch, m);
			} catch (e) {
				reject(e);
			}
		});
		p.on('close', (code) => {
			clearTimeout(timer);
			resolve({ code, out, err });
		});
	});
}

function check(r, ch, msgs) {
	assert.doesNotMatch(r.err, SANITIZER_RE, r.err);
	assert.equal(r.code, 0, r.err);
	const lines = r.out.trimEnd().split('\n');
	assert.equal(lines.length, msgs.length, r.out);
	lines.forEach((l, i) => {
		const [id, channel, event, ...data] = l.split(' ');
		assert.match(id, /^[0-9a-f]{8}-\d+$/);
		assert.equal(channel, ch);
		assert.equal(event, '-');
		assert.equal(data.join(' '), msgs[i]);
	});
	assert.match(r.err, /^open over wsproto$/m, 'auto picks /ws against crier');
}

test('examples/sub.c built in the tree prints what is published', T, async (t) => {
	const s = await startServer(t);
	const prog = path.join(BUILD_DIR, 'example_sub');
	assert.ok(fs.existsSync(prog), `${prog} is built by make`);
	const msgs = ['hello', 'two words', 'third'];
	check(await runExample(prog, s, 'ex1', msgs), 'ex1', msgs);
});

test('cmake --install puts libcrier, its header and crier.pc under a prefix; the example builds with pkg-config alone', T, async (t) => {
	const prefix = makeTempDir();
	t.after(() => fs.rmSync(prefix, { recursive: true, force: true }));
	execFileSync('cmake', ['--install', BUILD_DIR, '--prefix', prefix], { stdio: 'pipe' });
	const find = (name) => {
		const stack = [prefix];
		while (stack.length) {
			const d = stack.pop();
			for (const e of fs.readdirSync(d, { withFileTypes: true })) {
				const p = path.join(d, e.name);
				if (e.isDirectory()) stack.push(p);
				else if (e.name === name) return p;
			}
		}
		return null;
	};
	for (const f of ['crier', 'client.h', 'crier.pc', 'libcrier.a', 'libcrier.so']) assert.ok(find(f), `${f} installed`);
	assert.ok(find('client.h').endsWith(path.join('include', 'crier', 'client.h')));
	const pcDir = path.dirname(find('crier.pc'));
	const libDir = path.dirname(find('libcrier.so'));
	const env = { ...process.env, PKG_CONFIG_PATH: pcDir };
	const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'crier'], { env, encoding: 'utf8' }).trim().split(/\s+/);
	assert.ok(flags.includes('-lcrier'), flags.join(' '));
	assert.equal(execFileSync('pkg-config', ['--modversion', 'crier'], { env, encoding: 'utf8' }).trim(), fs.readFileSync(path.join(REPO_ROOT, 'CMakeLists.txt'), 'utf8').match(/project\(crier VERSION ([\d.]+)/)[1]);
	// A sanitizer build's library needs the sanitizer runtime in the program too.
	const cache = fs.readFileSync(path.join(BUILD_DIR, 'CMakeCache.txt'), 'utf8');
	const san = /^CRIER_SANITIZE:BOOL=ON$/m.test(cache) ? ['-fsanitize=address,undefined'] : [];
	const prog = path.join(prefix, 'example_sub');
	execFileSync('cc', ['-std=c11', '-Wall', '-Wextra', '-Werror', ...san, '-o', prog, path.join(REPO_ROOT, 'examples', 'sub.c'), ...flags, `-Wl,-rpath,${libDir}`], { stdio: 'pipe' });
	const s = await startServer(t);
	const msgs = ['from an installed libcrier'];
	check(await runExample(prog, s, 'ex2', msgs), 'ex2', msgs);
});
