// The demo: one channel seen two ways. Left, a chat over the two-way /ws
// protocol (crier.v1, docs/protocol-ws.md); right, a read-only feed of the
// same channel over the browser's own EventSource. Each side shows ids,
// its connection state and gap notices, and has a Drop button that closes
// its connection and resumes from the last id it saw: /ws with
// subscribe.since, EventSource with a new EventSource(...?lastEventId=).
// window.demo exposes what each side received, for the browser tests.
import { $, setText, withToken } from './common.js';

const params = new URLSearchParams(location.search);
const CHANNEL = /^[A-Za-z0-9_.:@-]{1,128}$/.test(params.get('channel') || '') ? params.get('channel') : 'demo';
const MAX_LINES = 200; // log lines kept on screen per side

const demo = {
	channel: CHANNEL,
	ws: { state: 'connecting', lastId: null, ids: [], data: [], gaps: [], errors: [], reconnects: 0 },
	sse: { state: 'connecting', lastId: null, ids: [], data: [], gaps: [], reconnects: 0 },
};
window.demo = demo;

function status(side, state, text) {
	demo[side].state = state;
	const el = $(`${side}-status`);
	el.dataset.state = state;
	el.textContent = text || state;
}

function line(side, kind, parts) {
	const log = $(`${side}-log`);
	const li = document.createElement('li');
	li.className = kind;
	for (const [cls, text] of parts) {
		const span = document.createElement('span');
		span.className = cls;
		span.textContent = text;
		li.append(span);
	}
	log.append(li);
	while (log.children.length > MAX_LINES) log.firstElementChild.remove();
	log.scrollTop = log.scrollHeight;
}

// Chat messages are JSON {from, text}; anything else (curl, crier pub) is shown as is.
function describe(data) {
	try {
		const m = JSON.parse(data);
		if (m && typeof m.text === 'string') return [String(m.from || 'anon') + ': ', m.text];
	} catch {
		/* plain text */
	}
	return ['', data];
}

function received(side, id, data) {
	const s = demo[side];
	s.lastId = id;
	s.ids.push(id);
	s.data.push(data);
	setText(`${side}-last`, id);
	setText(`${side}-count`, s.ids.length);
	const [who, text] = describe(data);
	line(side, 'msg', [['id', id], ['who', who], ['text', text]]);
}

function gap(side, g) {
	demo[side].gaps.push(g);
	line(side, 'gap', [['id', 'gap'], ['text', `messages lost after ${g.from}; continuing from ${g.to ?? 'the next message'} (${g.reason})`]]);
}

function note(side, text) {
	line(side, 'note', [['text', text]]);
}

/* ---- /ws, crier.v1 ---- */

let ws = null;
let wsRetry = 0;
let wsRef = 0;

function wsUrl() {
	return withToken(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
}

function wsConnect() {
	status('ws', 'connecting', 'connecting…');
	const sock = new WebSocket(wsUrl(), 'crier.v1');
	ws = sock;
	sock.onopen = () => {
		const req = { op: 'subscribe', ref: 'sub', channels: [CHANNEL] };
		if (demo.ws.lastId) req.since = demo.ws.lastId;
		sock.send(JSON.stringify(req));
	};
	sock.onmessage = (e) => {
		let f;
		try {
			f = JSON.parse(e.data);
		} catch {
			return;
		}
		if (f.op === 'message' && f.channel === CHANNEL) received('ws', f.id, f.data);
		else if (f.op === 'gap') gap('ws', f);
		else if (f.op === 'ack' && f.ref === 'sub') {
			wsRetry = 0;
			status('ws', 'live', f.replayed ? `live (resumed, ${f.replayed} replayed)` : demo.ws.lastId ? 'live (resumed)' : 'live');
			$('ws-send').disabled = false;
		} else if (f.op === 'error') {
			demo.ws.errors.push(f);
			note('ws', `error ${f.code}: ${f.message}`);
		}
	};
	sock.onclose = (e) => {
		if (ws !== sock) return;
		$('ws-send').disabled = true;
		const delay = Math.min(5000, 250 * 2 ** wsRetry++);
		status('ws', 'reconnecting', `closed (${e.code}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
		setTimeout(() => {
			demo.ws.reconnects++;
			setText('ws-reconnects', demo.ws.reconnects);
			wsConnect();
		}, delay);
	};
}

function wsSend(ev) {
	ev.preventDefault();
	const text = $('ws-text').value.trim();
	if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
	const from = $('ws-name').value.trim() || 'anon';
	ws.send(JSON.stringify({ op: 'publish', ref: ++wsRef, channel: CHANNEL, data: JSON.stringify({ from, text }) }));
	$('ws-text').value = '';
}

function wsDrop() {
	if (!ws) return;
	note('ws', `dropped at ${demo.ws.lastId ?? 'the start'}`);
	wsRetry = 0;
	ws.close(1000, 'drop');
}

/* ---- EventSource ---- */

let es = null;

function sseConnect() {
	status('sse', 'connecting', 'connecting…');
	const base = `/sub/${CHANNEL}`;
	const url = demo.sse.lastId ? `${base}?lastEventId=${encodeURIComponent(demo.sse.lastId)}` : base;
	const src = new EventSource(withToken(url));
	es = src;
	src.onopen = () => status('sse', 'live', demo.sse.lastId ? 'live (resumed)' : 'live');
	src.onmessage = (e) => received('sse', e.lastEventId, e.data);
	src.addEventListener('crier.gap', (e) => {
		try {
			gap('sse', JSON.parse(e.data));
		} catch {
			/* not a notice */
		}
	});
	src.onerror = () => {
		if (es !== src) return;
		if (src.readyState === EventSource.CLOSED) {
			// Refused for good (an HTTP error): EventSource will not retry, we do.
			status('sse', 'reconnecting', 'refused; retrying in 2 s');
			setTimeout(sseReconnect, 2000);
		} else {
			// EventSource retries by itself, sending Last-Event-ID.
			status('sse', 'reconnecting', 'reconnecting (Last-Event-ID)…');
		}
	};
}

function sseReconnect() {
	demo.sse.reconnects++;
	setText('sse-reconnects', demo.sse.reconnects);
	sseConnect();
}

function sseDrop() {
	if (!es) return;
	note('sse', `dropped at ${demo.sse.lastId ?? 'the start'}`);
	es.close();
	es = null;
	status('sse', 'reconnecting', 'dropped; reopening…');
	setTimeout(sseReconnect, 300);
}

setText('channel', CHANNEL);
$('ws-name').value = params.get('name') || `guest-${Math.floor(Math.random() * 900 + 100)}`;
$('ws-send').disabled = true;
$('ws-form').addEventListener('submit', wsSend);
$('ws-drop').addEventListener('click', wsDrop);
$('sse-drop').addEventListener('click', sseDrop);
wsConnect();
sseConnect();
