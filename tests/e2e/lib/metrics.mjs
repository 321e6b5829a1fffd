// A strict parser of the Prometheus text exposition format 0.0.4, for
// asserting on crier's /metrics. Any line that does not parse, a sample
// whose family has no TYPE, a duplicate series, a family split in two, or
// an inconsistent histogram throws with the offending line.
import { get } from './http.mjs';

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
const VALUE_RE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export class MetricsFormatError extends Error {}

function parseValue(s) {
	if (!VALUE_RE.test(s)) return undefined;
	if (/^[+]?Inf$/.test(s)) return Infinity;
	if (s === '-Inf') return -Infinity;
	if (s === 'NaN') return NaN;
	return Number(s);
}

function parseLabels(s, fail) {
	// s is the text between { and } (exclusive)
	const labels = {};
	let i = 0;
	const re = new RegExp(`(${LABEL})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`, 'y');
	while (i < s.length) {
		re.lastIndex = i;
		const m = re.exec(s);
		if (!m) fail(`bad label at ${JSON.stringify(s.slice(i))}`);
		if (m[1] in labels) fail(`duplicate label ${m[1]}`);
		labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
		i = re.lastIndex;
		if (i < s.length) {
			if (s[i] !== ',') fail(`expected ',' in labels at ${JSON.stringify(s.slice(i))}`);
			i++;
		}
	}
	return labels;
}

export function labelKey(labels) {
	return Object.keys(labels)
		.sort()
		.map((k) => `${k}=${JSON.stringify(labels[k])}`)
		.join(',');
}

/** Parses exposition text. Returns { families: Map<name, {name, type,
 * help, samples}>, samples: [{name, labels, value, family}] }. */
export function parseExposition(text) {
	if (text.length > 0 && !text.endsWith('\n')) throw new MetricsFormatError('exposition does not end with a newline');
	const families = new Map();
	const samples = [];
	const seen = new Set();
	let current = null; // family whose samples are being read
	const closed = new Set(); // families whose sample block has ended
	const lines = text.split('\n');
	lines.pop();
	lines.forEach((line, idx) => {
		const fail = (msg) => {
			throw new MetricsFormatError(`/metrics line ${idx + 1}: ${msg}: ${JSON.stringify(line)}`);
		};
		if (line === '') fail('empty line');
		if (line.startsWith('#')) {
			const hm = new RegExp(`^# HELP (${NAME})(?: (.*))?$`).exec(line);
			const tm = new RegExp(`^# TYPE (${NAME}) (\\S+)$`).exec(line);
			if (hm) {
				const f = families.get(hm[1]) || { name: hm[1], type: null, help: null, samples: [] };
				if (f.help !== null) fail('second HELP for the family');
				if (f.samples.length) fail('HELP after samples of the family');
				f.help = (hm[2] || '').replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
				families.set(hm[1], f);
			} else if (tm) {
				if (!TYPES.has(tm[2])) fail(`unknown type ${tm[2]}`);
				const f = families.get(tm[1]) || { name: tm[1], type: null, help: null, samples: [] };
				if (f.type !== null) fail('second TYPE for the family');
				if (f.samples.length) fail('TYPE after samples of the family');
				f.type = tm[2];
				families.set(tm[1], f);
			} else if (/^# (HELP|TYPE)\b/.test(line)) {
				fail('malformed HELP/TYPE');
			} else if (!/^#( |$)/.test(line)) {
				fail('malformed comment');
			}
			return;
		}
		const sm = new RegExp(`^(${NAME})(?:\\{(.*)\\})? +(\\S+)(?: +(-?\\d+))?$`).exec(line);
		if (!sm) fail('not a sample');
		const name = sm[1];
		const labels = sm[2] !== undefined ? parseLabels(sm[2], fail) : {};
		const value = parseValue(sm[3]);
		if (value === undefined) fail(`bad value ${sm[3]}`);
		let fam = families.get(name);
		if (!fam || fam.type === null) {
			const base = name.replace(/_(bucket|sum|count)$/, '');
			const bf = families.get(base);
			if (base !== name && bf && (bf.type === 'histogram' || (bf.type === 'summary' && !name.endsWith('_bucket')))) fam = bf;
			else fail('sample of a family without a TYPE line');
		}
		if (fam.type === 'histogram' && name === fam.name) fail('histogram sample without _bucket/_sum/_count');
		if (current !== fam) {
			if (closed.has(fam.name)) fail('samples of the family are not contiguous');
			if (current) closed.add(current.name);
			current = fam;
		}
		const key = `${name}{${labelKey(labels)}}`;
		if (seen.has(key)) fail('duplicate series');
		seen.add(key);
		const s = { name, labels, value, family: fam.name };
		fam.samples.push(s);
		samples.push(s);
	});
	for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
	return { families, samples };
}

function checkHistogram(f) {
	const groups = new Map();
	for (const s of f.samples) {
		const { le, ...rest } = s.labels;
		const k = labelKey(rest);
		if (!groups.has(k)) groups.set(k, { labels: rest, buckets: [], sum: undefined, count: undefined });
		const g = groups.get(k);
		if (s.name === `${f.name}_bucket`) {
			if (le === undefined) throw new MetricsFormatError(`${f.name}_bucket{${k}} without le`);
			const v = parseValue(le);
			if (v === undefined || Number.isNaN(v)) throw new MetricsFormatError(`${f.name}: bad le="${le}"`);
			g.buckets.push({ le: v, count: s.value });
		} else if (s.name === `${f.name}_sum`) g.sum = s.value;
		else if (s.name === `${f.name}_count`) g.count = s.value;
	}
	for (const [k, g] of groups) {
		const where = `${f.name}{${k}}`;
		if (g.buckets.length === 0) throw new MetricsFormatError(`${where}: no buckets`);
		for (let i = 1; i < g.buckets.length; i++) {
			if (!(g.buckets[i].le > g.buckets[i - 1].le)) throw new MetricsFormatError(`${where}: le not strictly ascending`);
			if (g.buckets[i].count < g.buckets[i - 1].count) throw new MetricsFormatError(`${where}: bucket counts decrease at le=${g.buckets[i].le}`);
		}
		const last = g.buckets[g.buckets.length - 1];
		if (last.le !== Infinity) throw new MetricsFormatError(`${where}: no le="+Inf" bucket`);
		if (g.count === undefined) throw new MetricsFormatError(`${where}: no _count`);
		if (g.sum === undefined) throw new MetricsFormatError(`${where}: no _sum`);
		if (last.count !== g.count) throw new MetricsFormatError(`${where}: +Inf bucket ${last.count} != _count ${g.count}`);
		g.buckets.forEach((b) => {
			if (!(b.count >= 0) || !Number.isInteger(b.count)) throw new MetricsFormatError(`${where}: bad bucket count ${b.count}`);
		});
	}
	f.histograms = groups;
}

/** Value of the series name{labels} (exact label set), or undefined. */
export function sample(parsed, name, labels = {}) {
	const k = labelKey(labels);
	const s = parsed.samples.find((x) => x.name === name && labelKey(x.labels) === k);
	return s ? s.value : undefined;
}

/** Value or 0 when the series is absent (for deltas of counters). */
export function sample0(parsed, name, labels = {}) {
	return sample(parsed, name, labels) ?? 0;
}

/** GETs /metrics on a fresh connection and parses it. Returns
 * { response, parsed, text }. */
export async function fetchMetrics(server, { timeoutMs = 5000 } = {}) {
	const response = await server.request(get('/metrics', ['Connection: close']), { timeoutMs });
	if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${response.text}`);
	const text = response.text;
	return { response, parsed: parseExposition(text), text };
}
