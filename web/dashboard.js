// The dashboard: one EventSource on the reserved channel $sys.stats, which
// the hub fills once a second while someone watches (src/hub/stats.h).
// Nothing here polls: if the stream stops, the numbers stop and the status
// says so. EventSource reconnects by itself with Last-Event-ID.
import { $, fmtDuration, fmtNum, setText, withToken } from './common.js';

const HISTORY = 300; // samples kept for the charts: 5 minutes at one a second
const samples = []; // {dps, conns}

function status(state, text) {
	const el = $('status');
	el.dataset.state = state;
	el.textContent = text;
}

// Draws values (oldest first) right-aligned into the 300x100 viewBox. The
// time axis spans the samples held, at least a minute and at most
// HISTORY, so a fresh page draws a line rather than a sliver.
function drawChart(svgId, values, peakId, unit) {
	const svg = $(svgId);
	const max = Math.max(1, ...values);
	const span = Math.min(HISTORY, Math.max(60, values.length));
	const step = 300 / (span - 1);
	const minutes = Math.round(span / 60);
	for (const el of svg.parentElement.querySelectorAll('.range')) el.textContent = `last ${minutes} min`;
	const x0 = 300 - (values.length - 1) * step;
	const pts = values.map((v, i) => `${(x0 + i * step).toFixed(1)} ${(98 - (v / max) * 94).toFixed(1)}`);
	const line = pts.length ? 'M' + pts.join('L') : '';
	svg.querySelector('.line').setAttribute('d', line);
	svg.querySelector('.area').setAttribute('d', pts.length ? `${line}L300 100L${x0.toFixed(1)} 100Z` : '');
	setText(peakId, `peak ${fmtNum(max)}${unit}`);
}

function row(ch) {
	const tr = document.createElement('tr');
	tr.dataset.channel = ch.name;
	for (const [cls, v] of [['name', ch.name], ['r subs', ch.subscribers], ['r rate', ch.rate_per_s.toFixed(1)], ['r pub', ch.published]]) {
		const td = document.createElement('td');
		td.className = cls;
		td.textContent = String(v);
		tr.append(td);
	}
	return tr;
}

function render(s) {
	setText('uptime', fmtDuration(s.uptime_s));
	setText('workers', `${s.workers} worker${s.workers === 1 ? '' : 's'}`);
	const c = s.connections;
	setText('conns', fmtNum(c.total));
	setText('conns-by', `ws ${c.ws} · sse ${c.sse} · http ${c.http}`);
	setText('dps', fmtNum(s.deliveries_per_s));
	setText('deliveries', `${fmtNum(s.deliveries_total)} total`);
	setText('pps', fmtNum(s.published_per_s));
	setText('published', `${fmtNum(s.published_total)} total`);
	setText('slow', fmtNum(s.slow_consumer_closes));
	setText('catchups', `${fmtNum(s.slow_consumer_catchups)} degraded to catch-up`);
	setText('gaps', fmtNum(s.gaps_sent));
	setText('authfail', fmtNum(s.auth_failures));
	setText('nchan', fmtNum(s.channels_total));
	setText('chan-note', s.channels.length < s.channels_total ? `(top ${s.channels.length} by subscribers)` : '');
	const body = $('channels').tBodies[0];
	body.replaceChildren(...s.channels.map(row));

	samples.push({ dps: s.deliveries_per_s, conns: c.total });
	if (samples.length > HISTORY) samples.shift();
	drawChart('chart-dps', samples.map((p) => p.dps), 'dps-peak', '/s');
	drawChart('chart-conns', samples.map((p) => p.conns), 'conns-peak', '');
}

function connect() {
	const es = new EventSource(withToken('/sub/$sys.stats'));
	es.onopen = () => status('live', 'live');
	es.onmessage = (e) => {
		let s;
		try {
			s = JSON.parse(e.data);
		} catch {
			return;
		}
		status('live', 'live');
		setText('last-id', e.lastEventId);
		render(s);
		document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + 1);
	};
	es.onerror = () => {
		if (es.readyState === EventSource.CLOSED) {
			// Refused (401/403, or --web on a hub that restarted): EventSource gives up.
			status('down', 'stream refused; retrying in 5 s');
			setTimeout(connect, 5000);
		} else {
			status('reconnecting', 'reconnecting…');
		}
	};
}

connect();
