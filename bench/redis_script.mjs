// bench/redis_script.mjs: what the Redis engine's publish script costs
// Redis itself (the one single-threaded resource every node shares), with
// the history bounds at work. Starts its own redis-server on a free
// loopback port, pipes CALLS publishes over CHANNELS random channels
// (redis-cli --pipe, as the nodes pipeline them) and reads the script's
// usec_per_call from INFO commandstats. No crier process is involved.
//
// Environment (defaults in brackets): CALLS [200000] CHANNELS [1000]
// SIZE [64] payload bytes, HISTORY_SIZE [100], TTL_MS [600000],
// MAX_BYTES [67108864], SCRIPT [src/engine/redis/publish.lua] (its KEYS
// and ARGV as of this version of the script).
// stdout: one JSON line.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, Redis } from '../tests/e2e/lib/redis.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = (k, d) => (process.env[k] !== undefined ? process.env[k] : d);
const CALLS = Number(env('CALLS', 200000));
const CHANNELS = Number(env('CHANNELS', 1000));
const SIZE = Number(env('SIZE', 64));
const HISTORY_SIZE = env('HISTORY_SIZE', '100');
const TTL_MS = env('TTL_MS', '600000');
const MAX_BYTES = env('MAX_BYTES', '67108864');
const SCRIPT = env('SCRIPT', path.join(ROOT, 'src/engine/redis/publish.lua'));

function resp(args) {
	const parts = [Buffer.from(`*${args.length}\r\n`)];
	for (const a of args) {
		const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
		parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
	}
	return Buffer.concat(parts);
}

const redis = await new Redis(await freePort()).start();
const port = redis.port;
const cli = (...args) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 120000, stdio: ['pipe', 'pipe', 'ignore'] }).trim();
try {
	const sha = cli('SCRIPT', 'LOAD', fs.readFileSync(SCRIPT, 'utf8'));
	const payload = Buffer.alloc(SIZE, 'p');
	const now = Date.now();
	let seed = 1;
	const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) % CHANNELS; // high bits: the low ones cycle
	const cmds = [];
	for (let i = 0; i < CALLS; i++) {
		const ch = `ch${rand()}`;
		// Ten publishes per millisecond of message time.
		const keys = ['crier:epoch', 'crier:seq', `crier:h:${ch}`, 'crier:bytes', 'crier:heads', 'crier:empty', 'crier:gone', 'crier:trimmed', 'crier:base', 'crier:oldest'];
		cmds.push(resp(['EVALSHA', sha, keys.length, ...keys, ch, '', 't', payload, HISTORY_SIZE, TTL_MS, now + Math.floor(i / 10), 'abcdef01', MAX_BYTES]));
	}
	const t0 = process.hrtime.bigint();
	const out = execFileSync('redis-cli', ['-p', String(port), '--pipe'], { input: Buffer.concat(cmds), encoding: 'utf8', timeout: 300000 });
	const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
	const stat = /cmdstat_evalsha:calls=(\d+),usec=(\d+),usec_per_call=([\d.]+).*failed_calls=(\d+)/.exec(cli('INFO', 'commandstats'));
	const mem = /used_memory:(\d+)/.exec(cli('INFO', 'memory'));
	const inner = /total_commands_processed:(\d+)/.exec(cli('INFO', 'stats'));
	console.log(
		JSON.stringify({
			bench: 'redis_script',
			script: path.relative(ROOT, SCRIPT),
			calls: Number(stat[1]),
			failed: Number(stat[4]),
			channels: CHANNELS,
			size: SIZE,
			history_size: Number(HISTORY_SIZE),
			ttl_ms: Number(TTL_MS),
			max_bytes: Number(MAX_BYTES),
			usec_per_call: Number(stat[3]),
			commands_per_call: Math.round((Number(inner[1]) / CALLS) * 100) / 100,
			wall_s: Math.round(wallS * 100) / 100,
			bytes_counted: Number(cli('GET', 'crier:bytes') || 0),
			used_memory: Number(mem[1]),
			pipe: out.trim().split('\n').pop(),
		})
	);
} finally {
	await redis.kill();
}
