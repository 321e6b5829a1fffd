// Shared helpers of the crier pages: no framework, no build step.

// The page's own ?token= (for hubs run with --allow-query-token), passed on
// to the routes it subscribes with; a --jwt-cookie cookie needs nothing.
export function withToken(url) {
	const token = new URLSearchParams(location.search).get('token');
	if (!token) return url;
	return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
}

export function $(id) {
	return document.getElementById(id);
}

export function setText(id, text) {
	const el = $(id);
	if (el.textContent !== String(text)) el.textContent = String(text);
}

export function fmtNum(n) {
	if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + 'M';
	if (n >= 1e4) return (n / 1e3).toFixed(n >= 1e5 ? 0 : 1) + 'k';
	return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function fmtDuration(s) {
	const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
	const m = Math.floor((s % 3600) / 60), sec = s % 60;
	if (d) return `${d}d ${h}h`;
	if (h) return `${h}h ${m}m`;
	if (m) return `${m}m ${sec}s`;
	return `${sec}s`;
}
