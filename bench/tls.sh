#!/usr/bin/env bash
# bench/tls.sh: TLS handshakes per second (full and resumed) and RSS per
# idle TLS connection, crier only, on loopback.
#
# Measurements (crier with WORKERS workers, a plain --listen for readiness
# and a --tls-listen port for the load; a certificate made here):
#   handshake  `openssl s_time` for S_TIME seconds per row, one client
#              process, each connection a full handshake then a close:
#                full_tls13   -new (TLS 1.3, X25519, the certificate's key)
#                full_tls12   -new -tls1_2
#                resumed_tls12 -reuse -tls1_2 (session tickets; s_time does
#                             not read TLS 1.3 tickets, so 1.3 resumption is
#                             covered by tests/e2e/tls.test.mjs instead)
#              per row: handshakes/s over wall time, the server's CPU per
#              handshake (/proc/PID/stat utime+stime), and how many the
#              server counted as resumed (crier_tls_resumed_total).
#   idle_rss   bench/tls_idle.mjs opens IDLE_CONNS connections, each one
#              GET /healthz with keep-alive then silent (TLS: resumed after
#              the first, as browsers do), and reports the server's RSS
#              growth per connection; the same with plain TCP for the
#              difference. One server per transport.
#
# KEYS: the certificate key types to measure ("ec" = P-256, "rsa" = 2048).
# The figures are noisy on a shared machine: client and server share the
# cores, and s_time is one single-threaded client (the server CPU per
# handshake is the steadier figure).
#
# stdout: one JSON line per row. stderr: a human summary. Also saved under
# bench/results/.
#
# Environment (defaults in brackets):
#   CRIER_BIN [build/crier, built with `make build` if missing]
#   KEYS ["ec rsa"]  S_TIME [10] seconds per s_time row  WORKERS [1]
#   IDLE_CONNS [3000]  SKIP_IDLE [0]  SKIP_HANDSHAKE [0]
#   CRIER_PORT [18491]  TLS_PORT [18492]  CRIER_FLAGS [] extra serve flags
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$ROOT/bench/results
KEYS=${KEYS:-ec rsa}
S_TIME=${S_TIME:-10}
WORKERS=${WORKERS:-1}
IDLE_CONNS=${IDLE_CONNS:-3000}
SKIP_IDLE=${SKIP_IDLE:-0}
SKIP_HANDSHAKE=${SKIP_HANDSHAKE:-0}
CRIER_PORT=${CRIER_PORT:-18491}
TLS_PORT=${TLS_PORT:-18492}
CRIER_FLAGS=${CRIER_FLAGS:-}
MAX_CONNS=$((IDLE_CONNS + 2000))

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_init tls tls
bench_need_crier
bench_need_tools "openssl curl nodejs" openssl curl node
[ "$S_TIME" -ge 1 ] && [ "$S_TIME" -le 60 ] || bench_die "S_TIME must be 1..60 seconds"

# A self-signed certificate of key type $1 into $TMP/$1.{pem,key}.
make_cert() { # ec|rsa
	local newkey
	case $1 in
	ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
	rsa) newkey=(-newkey rsa:2048) ;;
	*) bench_die "unknown key type '$1' in KEYS (ec, rsa)" ;;
	esac
	openssl req -x509 "${newkey[@]}" -nodes -keyout "$TMP/$1.key" -out "$TMP/$1.pem" \
		-days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null ||
		bench_die "openssl could not make a $1 certificate"
}

start_tls_crier() { # KEY
	bench_start_crier "$WORKERS" "" --tls-cert "$TMP/$1.pem" --tls-key "$TMP/$1.key" \
		--tls-listen "127.0.0.1:$TLS_PORT" --keepalive-timeout 10m
	for _ in $(seq 50); do
		[ "$(curl -sk -m 1 "https://127.0.0.1:$TLS_PORT/healthz" || true)" = ok ] && return 0
		sleep 0.1
	done
	bench_die "crier did not answer over TLS on $TLS_PORT"
}

# utime+stime of the server in clock ticks.
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }

metric() { # NAME: its value from /metrics on the plain port
	curl -s -m 2 "http://127.0.0.1:$CRIER_PORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

# One s_time row: ROW KEY S_TIME_FLAGS...
handshake_row() {
	local row=$1 key=$2
	shift 2
	local hz t0 t1 c0 c1 r0 r1 h0 h1 conns
	hz=$(getconf CLK_TCK)
	r0=$(metric crier_tls_resumed_total)
	h0=$(metric crier_tls_handshakes_total)
	c0=$(server_ticks)
	t0=$(date +%s.%N)
	timeout $((S_TIME + 20)) openssl s_time -connect "127.0.0.1:$TLS_PORT" -time "$S_TIME" "$@" \
		>"$TMP/s_time.out" 2>&1 || bench_die "openssl s_time $* failed: $(tail -n 3 "$TMP/s_time.out")"
	t1=$(date +%s.%N)
	c1=$(server_ticks)
	r1=$(metric crier_tls_resumed_total)
	h1=$(metric crier_tls_handshakes_total)
	conns=$(sed -n 's/^\([0-9]*\) connections in [0-9]* real seconds.*/\1/p' "$TMP/s_time.out" | tail -n 1)
	[ -n "$conns" ] || bench_die "no result from s_time: $(tail -n 3 "$TMP/s_time.out")"
	local line
	line=$(awk -v row="$row" -v key="$key" -v n="$conns" -v t0="$t0" -v t1="$t1" -v c0="$c0" \
		-v c1="$c1" -v hz="$hz" -v r="$((r1 - r0))" -v h="$((h1 - h0))" -v w="$WORKERS" 'BEGIN {
		s = t1 - t0; cpu_us = (c1 - c0) * 1e6 / hz
		printf "{\"bench\":\"tls_handshake\",\"row\":\"%s\",\"key\":\"%s\",\"workers\":%d,", row, key, w
		printf "\"handshakes\":%d,\"wall_s\":%.2f,\"handshakes_per_s\":%.0f,", n, s, n / s
		printf "\"server_cpu_us_per_handshake\":%.0f,\"server_counted\":%d,\"server_resumed\":%d}", \
			(h > 0 ? cpu_us / h : 0), h, r }')
	bench_emit "$line"
	bench_log "handshake $row ($key): $(jq -r '"\(.handshakes_per_s)/s, \(.server_cpu_us_per_handshake) us server CPU each, \(.server_resumed) of \(.server_counted) resumed"' <<<"$line" 2>/dev/null || echo "$line")"
}

for key in $KEYS; do make_cert "$key"; done

if [ "$SKIP_HANDSHAKE" != 1 ]; then
	for key in $KEYS; do
		start_tls_crier "$key"
		handshake_row full_tls13 "$key" -new
		handshake_row full_tls12 "$key" -new -tls1_2
		handshake_row resumed_tls12 "$key" -reuse -tls1_2
		bench_stop_server
	done
fi

if [ "$SKIP_IDLE" != 1 ]; then
	key=${KEYS%% *}
	for transport in tls plain; do
		start_tls_crier "$key"
		if [ "$transport" = tls ]; then
			args=(--port "$TLS_PORT" --tls)
		else
			args=(--port "$CRIER_PORT")
		fi
		line=$(node "$ROOT/bench/tls_idle.mjs" "${args[@]}" --pid "$SERVER_PID" \
			--conns "$IDLE_CONNS" --timeout-ms 120000) || bench_die "tls_idle.mjs failed"
		line=${line%\}},\"key\":\"$key\",\"workers\":$WORKERS}
		bench_emit "$line"
		bench_log "idle $transport: $(sed 's/.*"bytes_per_conn":\([0-9]*\).*/\1/' <<<"$line") bytes of server RSS per connection ($IDLE_CONNS connections)"
		bench_stop_server
	done
fi
