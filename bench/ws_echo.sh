#!/usr/bin/env bash
# bench/ws_echo.sh: WebSocket echo throughput/latency and RSS per idle
# WebSocket, crier against Node `ws` and nginx+nchan in the same run, on
# loopback.
#
# Measurements (each server, one after the other, never at the same time):
#   ws_echo  bench/wsbench echo: ECHO_CONNS connections, each with one
#            ECHO_SIZE-byte message in flight (send, wait for the echo, check
#            it byte for byte, repeat) for ECHO_DURATION s after ECHO_WARMUP s.
#            "pinned": server with 1 worker on CPU 0, wsbench (1 thread) on
#            CPU 1 (the fair split of a 2-core box); "shared": 2 workers,
#            wsbench with 2 threads, nothing pinned. Node is one process in
#            both (that is how people run it), pinned to CPU 0 in "pinned".
#   ws_idle  bench/wsbench idle: IDLE_CONNS WebSockets upgraded and left idle
#            (pings answered); the server's RSS growth per connection (pid +
#            descendants, so nginx's master and workers count).
#   ws_targets  the issue's targets, computed from the lines above.
#
# Peers:
#   crier        build/crier serve --echo, route /echo.
#   node-ws      bench/node_echo.mjs (ws 8, perMessageDeflate off), any path.
#   nginx-nchan  nginx-light + libnginx-mod-nchan: `nchan_pubsub websocket`
#                with `nchan_channel_id echo_$connection`, so each connection
#                publishes into and subscribes to its own channel (an echo).
#                For idle, NCHAN_IDLE_LOCATIONS picks /idle (all connections on
#                one channel, nchan's cheapest idle socket; used for the
#                target) and/or /echo (one channel per connection).
#
# stdout: one JSON line per server per measurement, plus "machine" and
# "ws_targets" lines. stderr: a human summary. Both also under bench/results/.
#
# Environment (defaults in brackets):
#   CRIER_BIN [build/crier, built with `make build` if missing]
#   SERVERS ["crier node-ws nginx-nchan"]  IDLE_SERVERS ["crier nginx-nchan"]
#   CONFIGS ["pinned"] (add "shared")      ROUNDS [1] echo runs per server
#   ECHO_CONNS [50]  ECHO_SIZE [64]  ECHO_DURATION [10]  ECHO_WARMUP [2]
#   ECHO_OPCODE [text|binary]  ECHO_TIMEOUT [10]
#   PINNED_THREADS [1]  SHARED_THREADS [2]  SHARED_WORKERS [2]
#   IDLE_CONNS [10000]  IDLE_WORKERS [1]  IDLE_HOLD [3]  IDLE_SETTLE [2]
#   IDLE_TIMEOUT [120]  NCHAN_IDLE_LOCATIONS ["/idle /echo"]
#   CRIER_PORT [18491]  NGINX_PORT [18492]  NODE_PORT [18493]
#   CRIER_FLAGS [] extra flags for `crier serve`
#   SKIP_ECHO [0]  SKIP_IDLE [0]
#   PROFILE [0]  1: perf stat on the server for the middle of each echo run,
#                adds syscalls and context switches per round trip
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$ROOT/bench/results
SERVERS=${SERVERS:-crier node-ws nginx-nchan}
IDLE_SERVERS=${IDLE_SERVERS:-crier nginx-nchan}
CONFIGS=${CONFIGS:-pinned}
ROUNDS=${ROUNDS:-1}
ECHO_CONNS=${ECHO_CONNS:-50}
ECHO_SIZE=${ECHO_SIZE:-64}
ECHO_DURATION=${ECHO_DURATION:-10}
ECHO_WARMUP=${ECHO_WARMUP:-2}
ECHO_OPCODE=${ECHO_OPCODE:-text}
ECHO_TIMEOUT=${ECHO_TIMEOUT:-10}
PINNED_THREADS=${PINNED_THREADS:-1}
SHARED_THREADS=${SHARED_THREADS:-2}
SHARED_WORKERS=${SHARED_WORKERS:-2}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_WORKERS=${IDLE_WORKERS:-1}
IDLE_HOLD=${IDLE_HOLD:-3}
IDLE_SETTLE=${IDLE_SETTLE:-2}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-120}
NCHAN_IDLE_LOCATIONS=${NCHAN_IDLE_LOCATIONS:-/idle /echo}
CRIER_PORT=${CRIER_PORT:-18491}
NGINX_PORT=${NGINX_PORT:-18492}
NODE_PORT=${NODE_PORT:-18493}
CRIER_FLAGS=${CRIER_FLAGS:-}
SKIP_ECHO=${SKIP_ECHO:-0}
SKIP_IDLE=${SKIP_IDLE:-0}
PROFILE=${PROFILE:-0}
NCHAN_SO=${NCHAN_SO:-/usr/share/nginx/modules/ngx_nchan_module.so}
# Connection ceiling for every server: above IDLE_CONNS with slack.
MAX_CONNS=$((IDLE_CONNS + 2000))

mkdir -p "$RESULTS_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$RESULTS_DIR/ws_echo-$STAMP.jsonl
LOG=$RESULTS_DIR/ws_echo-$STAMP.log
TMP=$(mktemp -d "${TMPDIR:-/tmp}/crier-bench-ws.XXXXXX")
SERVER_PID='' SERVER_PORT='' PERF_PID=''

log() { printf '%s\n' "$*" | tee -a "$LOG" >&2; }
emit() { printf '%s\n' "$1" | tee -a "$OUT"; }
die() {
	log "ws_echo.sh: $*"
	exit 1
}

# Stop the one server we run at a time: TERM, up to 5 s, then KILL, the
# children too (nginx workers), by the pids we saw, never by name.
stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	local kids
	kids=$(ps -o pid= --ppid "$SERVER_PID" 2>/dev/null || true)
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
	SERVER_PID=
}

cleanup() {
	local rc=$?
	[ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null
	stop_server
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'log "ws_echo.sh: line $LINENO failed: $BASH_COMMAND"' ERR
trap 'exit 130' INT TERM

port_free() { ! ss -Htln "sport = :$1" | grep -q .; }

wait_ready() { # PORT NAME LOGFILE
	for _ in $(seq 100); do
		kill -0 "$SERVER_PID" 2>/dev/null || {
			tail -n 20 "$3" >&2 || true
			die "$2 exited during start-up (log above)"
		}
		if [ "$(curl -s -m 1 "http://127.0.0.1:$1/healthz" || true)" = "ok" ]; then
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$3" >&2 || true
	die "$2 did not answer GET /healthz with ok within 10 s"
}

start_crier() { # WORKERS CPUSET(or empty)
	local pin=() extra=()
	[ -n "$2" ] && pin=(taskset -c "$2")
	port_free "$CRIER_PORT" || die "port $CRIER_PORT is in use (set CRIER_PORT)"
	read -ra extra <<<"$CRIER_FLAGS"
	"${pin[@]}" "$CRIER_BIN" serve --listen "127.0.0.1:$CRIER_PORT" --workers "$1" --echo \
		--max-connections "$MAX_CONNS" "${extra[@]}" 2>"$TMP/crier.log" &
	SERVER_PID=$!
	wait_ready "$CRIER_PORT" crier "$TMP/crier.log"
	SERVER_PORT=$CRIER_PORT ECHO_PATH=/echo
}

start_node() { # WORKERS(ignored: one process) CPUSET
	local pin=()
	[ -n "$2" ] && pin=(taskset -c "$2")
	port_free "$NODE_PORT" || die "port $NODE_PORT is in use (set NODE_PORT)"
	"${pin[@]}" node "$ROOT/bench/node_echo.mjs" "$NODE_PORT" 2>"$TMP/node.log" &
	SERVER_PID=$!
	wait_ready "$NODE_PORT" node-ws "$TMP/node.log"
	SERVER_PORT=$NODE_PORT ECHO_PATH=/echo
}

# nginx-light + nchan on an unprivileged port with everything under $TMP.
# /echo: each connection has its own channel (echo_$connection; $connection
# is nginx's connection serial number, unique across workers), so what it
# publishes comes back to it and to no one else. /idle: one shared channel.
write_nginx_conf() { # WORKERS
	local d=$TMP/nginx user_line=
	mkdir -p "$d/logs" "$d/tmp"
	[ "$(id -u)" = 0 ] && user_line="user root root;"
	cat >"$d/nginx.conf" <<EOF
load_module $NCHAN_SO;
$user_line
worker_processes $1;
worker_rlimit_nofile $((MAX_CONNS + 1000));
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events {
    worker_connections $MAX_CONNS;
    multi_accept off;
}
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location = /healthz {
            default_type text/plain;
            return 200 "ok\n";
        }
        location = /echo {
            nchan_pubsub websocket;
            nchan_channel_id echo_\$connection;
        }
        location = /idle {
            nchan_pubsub websocket;
            nchan_channel_id idle;
        }
    }
}
EOF
}

start_nginx() { # WORKERS CPUSET(or empty)
	local pin=()
	[ -n "$2" ] && pin=(taskset -c "$2")
	port_free "$NGINX_PORT" || die "port $NGINX_PORT is in use (set NGINX_PORT)"
	write_nginx_conf "$1"
	"${pin[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
		2>"$TMP/nginx/logs/stderr.log" &
	SERVER_PID=$!
	wait_ready "$NGINX_PORT" nginx "$TMP/nginx/logs/error.log"
	SERVER_PORT=$NGINX_PORT ECHO_PATH=/echo
}

start_server() { # NAME WORKERS CPUSET
	case $1 in
	crier) start_crier "$2" "$3" ;;
	node-ws) start_node "$2" "$3" ;;
	nginx-nchan) start_nginx "$2" "$3" ;;
	*) die "unknown server $1 (SERVERS takes crier, node-ws, nginx-nchan)" ;;
	esac
}

# Sum of user+system CPU of a process tree (utime+stime, in clock ticks).
tree_cpu_ticks() {
	local pids
	pids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
	for p in $1 $pids; do
		awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || true
	done | awk '{ s += $1 } END { print s + 0 }'
}

# Share of all CPUs busy over one second, from /proc/stat (0..1).
busy_cpu() {
	local a b
	a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
		printf "%.2f", (y[2] > x[2] ? (y[1] - x[1]) / (y[2] - x[2]) : 0) }'
}

# Busy ticks of the whole machine (user+nice+system+irq+softirq), USER_HZ.
machine_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# With PROFILE=1, perf stat on the server tree for the middle of the window.
start_profile() { # PID
	PERF_PID='' PERF_WINDOW_S=0
	[ "$PROFILE" = 1 ] || return 0
	command -v perf >/dev/null || die "PROFILE=1 needs perf (apt-get install linux-perf)"
	local pids
	pids=$( (ps -o pid= --ppid "$1" || true) | tr -d ' ' | tr '\n' ',')
	PERF_WINDOW_S=$(awk -v t="$ECHO_DURATION" 'BEGIN { w = t - 2; print (w < 1 ? 1 : w) }')
	(sleep 1 && exec timeout -s INT "$PERF_WINDOW_S" perf stat -x, -o "$TMP/perf.csv" \
		-e raw_syscalls:sys_enter,context-switches,task-clock -p "${pids}$1") \
		>/dev/null 2>&1 &
	PERF_PID=$!
}

profile_json() { # RPS
	[ -n "$PERF_PID" ] || {
		echo '{}'
		return 0
	}
	wait "$PERF_PID" 2>/dev/null || true
	PERF_PID=
	awk -F, -v rps="$1" -v w="$PERF_WINDOW_S" '
		$3 == "raw_syscalls:sys_enter" { sc = $1 }
		$3 == "context-switches" { cs = $1 }
		END { r = rps * w; if (r < 1) r = 1
		      printf "{\"syscalls_per_rt\":%.3f,\"ctx_switches_per_rt\":%.4f}\n", sc / r, cs / r }' \
		"$TMP/perf.csv"
}

run_echo() { # SERVER CONFIG ROUND
	local server=$1 config=$2 round=$3 workers threads scpu='' cpin=()
	if [ "$config" = pinned ]; then
		workers=1 threads=$PINNED_THREADS scpu=0 cpin=(taskset -c 1)
	else
		workers=$SHARED_WORKERS threads=$SHARED_THREADS
	fi
	[ "$server" = node-ws ] && workers=1
	start_server "$server" "$workers" "$scpu"
	local hz t0 t1 m0 m1 out rc=0
	hz=$(getconf CLK_TCK)
	"${cpin[@]}" timeout $((ECHO_WARMUP + ECHO_DURATION + ECHO_TIMEOUT + 30)) "$WSBENCH" echo \
		--url "ws://127.0.0.1:$SERVER_PORT$ECHO_PATH" --conns "$ECHO_CONNS" \
		--size "$ECHO_SIZE" --duration "$ECHO_DURATION" --warmup "$ECHO_WARMUP" \
		--timeout "$ECHO_TIMEOUT" --threads "$threads" "--$ECHO_OPCODE" \
		>"$TMP/echo.json" 2>>"$LOG" &
	local bench_pid=$!
	# Server CPU over the measured window only (after connect + warm-up).
	sleep "$(awk -v w="$ECHO_WARMUP" 'BEGIN { print w + 0.2 }')"
	t0=$(tree_cpu_ticks "$SERVER_PID") m0=$(machine_busy_ticks)
	start_profile "$SERVER_PID"
	sleep "$ECHO_DURATION"
	t1=$(tree_cpu_ticks "$SERVER_PID") m1=$(machine_busy_ticks)
	wait "$bench_pid" || rc=$?
	out=$(cat "$TMP/echo.json")
	[ -n "$out" ] || die "wsbench printed nothing for $server (exit $rc, see $LOG)"
	local prof cpu_s
	prof=$(profile_json "$(jq .rps <<<"$out")")
	stop_server
	cpu_s=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
	# Everything busy that was neither the server nor wsbench (the kernel's
	# softirq work lands on either, so this is only an estimate).
	local other
	other=$(awk -v a="$m0" -v b="$m1" -v hz="$hz" -v d="$ECHO_DURATION" -v s="$cpu_s" \
		-v c="$(jq .client_cpu_util <<<"$out")" \
		'BEGIN { o = (b - a) / hz / d - s / d - c; printf "%.2f", (o < 0 ? 0 : o) }')
	local line
	line=$(jq -c --arg server "$server" --arg config "$config" --argjson round "$round" \
		--argjson workers "$workers" --argjson cpu "$cpu_s" --argjson rc "$rc" \
		--argjson prof "$prof" --argjson dur "$ECHO_DURATION" --argjson other "$other" \
		'{bench, server:$server, config:$config, round:$round, workers:$workers} + . +
		 {server_cpu_s:$cpu, server_cpu_util:(($cpu / $dur) * 100 | round / 100),
		  server_cpu_us_per_rt:(if .round_trips > 0 then ($cpu * 1e6 / .round_trips * 100 | round / 100) else 0 end),
		  other_cpu_util:$other, exit_code:$rc} + $prof' <<<"$out")
	emit "$line"
	log "$(jq -r '"\(.server|.+"            "|.[0:11]) \(.config) w=\(.workers)  \(.rps) rt/s  p50 \(.p50_us) us  p99 \(.p99_us) us  p99.9 \(.p999_us) us  server \(.server_cpu_util) cores, \(.server_cpu_us_per_rt) us/rt  client \(.client_cpu_util) cores  others \(.other_cpu_util)  errors \(.errors)" + (if .syscalls_per_rt then "  syscalls/rt \(.syscalls_per_rt)" else "" end)' <<<"$line")"
	if awk -v o="$other" 'BEGIN { exit !(o > 0.1) }'; then
		log "warning: other processes used $other cores during $server's run: its rps and latency are noise"
	elif [ "$config" = pinned ] && awk -v u="$(jq .server_cpu_util <<<"$line")" 'BEGIN { exit !(u < 0.9) }'; then
		log "warning: $server used only $(jq .server_cpu_util <<<"$line") of CPU 0: it was not the bottleneck (the client was, or CPU 0 was shared); this rps is not comparable, us/rt still is"
	fi
}

run_idle() { # SERVER PATH
	local server=$1 path=$2 out rc=0
	start_server "$server" "$IDLE_WORKERS" ""
	out=$("$WSBENCH" idle --url "ws://127.0.0.1:$SERVER_PORT$path" --conns "$IDLE_CONNS" \
		--pid "$SERVER_PID" --hold "$IDLE_HOLD" --settle "$IDLE_SETTLE" \
		--timeout "$IDLE_TIMEOUT" 2>>"$LOG") || rc=$?
	stop_server
	[ -n "$out" ] || die "wsbench idle printed nothing for $server (exit $rc, see $LOG)"
	local line
	line=$(jq -c --arg server "$server" --arg path "$path" --argjson workers "$IDLE_WORKERS" \
		--argjson rc "$rc" '{bench, server:$server, path:$path, workers:$workers} + . +
		{exit_code:$rc}' <<<"$out")
	emit "$line"
	log "$(jq -r '"\(.server) \(.path) idle: \(.connected)/\(.conns) connected (\(.failed) failed, \(.dropped) dropped) in \(.connect_seconds) s; RSS \(.rss_before_kb) -> \(.rss_after_kb) KiB = \(.rss_per_conn_bytes) bytes/conn (PSS \(.pss_per_conn_bytes))"' <<<"$line")"
}

# The issue's targets from this run's lines: echo figures are the mean of
# the pinned rounds, over the quiet ones (other_cpu_util <= 0.1) if any.
# noisy_echo_lines counts the rounds another process disturbed.
emit_targets() {
	local line
	line=$(jq -cs '
		. as $all |
		def lines(s): [$all[] | select(.bench == "ws_echo" and .server == s and .config == "pinned")] |
			(map(select(.other_cpu_util <= 0.1))) as $quiet |
			if ($quiet | length) > 0 then $quiet else . end;
		def mean(f): map(f) | if length > 0 then (add / length) else null end;
		def echo(s): lines(s) | mean(.rps);
		def uspr(s): lines(s) | mean(.server_cpu_us_per_rt);
		def idle(s): [.[] | select(.bench == "ws_idle" and .server == s and .exit_code == 0) |
			.rss_per_conn_bytes] | if length > 0 then min else null end;
		def ratio(a; b): if a != null and b != null and b > 0 then (a / b * 100 | round / 100) else null end;
		{crier: echo("crier"), nchan: echo("nginx-nchan"), node: echo("node-ws"),
		 noisy: ([$all[] | select(.bench == "ws_echo" and .config == "pinned" and .other_cpu_util > 0.1)] | length),
		 ucrier: uspr("crier"), unchan: uspr("nginx-nchan"), unode: uspr("node-ws"),
		 icrier: idle("crier"), inchan: idle("nginx-nchan")} |
		{bench: "ws_targets", noisy_echo_lines: .noisy,
		 echo_vs_nchan: ratio(.crier; .nchan), echo_vs_nchan_met: ((ratio(.crier; .nchan) // 0) >= 1.5),
		 echo_vs_node: ratio(.crier; .node), echo_vs_node_met: ((ratio(.crier; .node) // 0) >= 3),
		 cpu_per_rt_nchan_over_crier: ratio(.unchan; .ucrier),
		 cpu_per_rt_node_over_crier: ratio(.unode; .ucrier),
		 idle_crier_bytes: .icrier, idle_nchan_min_bytes: .inchan,
		 idle_le_2kib_met: (.icrier != null and .icrier <= 2048),
		 idle_le_half_nchan_met: (.icrier != null and .inchan != null and .icrier <= .inchan / 2)}' "$OUT")
	emit "$line"
	log "$(jq -r '"targets (\(.noisy_echo_lines) noisy echo lines): echo crier/nchan \(.echo_vs_nchan)x (>= 1.5: \(.echo_vs_nchan_met)), crier/node \(.echo_vs_node)x (>= 3: \(.echo_vs_node_met)); server CPU per round trip: nchan \(.cpu_per_rt_nchan_over_crier)x crier, node \(.cpu_per_rt_node_over_crier)x crier; idle crier \(.idle_crier_bytes) B/conn (<= 2048: \(.idle_le_2kib_met)), nchan \(.idle_nchan_min_bytes) B/conn (<= half: \(.idle_le_half_nchan_met))"' <<<"$line")"
}

versions() {
	local crier_version=none ws_version=none
	[ -n "${CRIER_BIN:-}" ] && crier_version=$("$CRIER_BIN" version 2>/dev/null | head -n1 || true)
	for d in "$ROOT/bench/node_modules/ws" "$ROOT/tests/e2e/node_modules/ws"; do
		[ -f "$d/package.json" ] && ws_version=$(jq -r .version "$d/package.json") && break
	done
	emit "$(jq -cn --argjson nproc "$(nproc)" \
		--arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		--arg kernel "$(uname -r)" --argjson nofile "$(ulimit -Hn)" \
		--arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --argjson busy "$BUSY" \
		--arg crier "$crier_version" \
		--arg commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)" \
		--arg nginx "$(nginx -v 2>&1 | sed 's/^nginx version: //')" \
		--arg nchan "$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo unknown)" \
		--arg node "$(node --version 2>/dev/null || echo none)" --arg ws "$ws_version" \
		--arg stamp "$STAMP" \
		'{bench:"machine", stamp:$stamp, nproc:$nproc, cpu:$cpu, kernel:$kernel, loadavg:$load,
		  busy_cpu_before:$busy, nofile_hard:$nofile, crier:$crier, commit:$commit,
		  nginx:$nginx, nchan:$nchan, node:$node, ws:$ws}')"
	log "machine: $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), CPU busy before start $BUSY; nginx $(nginx -v 2>&1 | sed 's/^nginx version: nginx\///'), nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null), node $(node --version), ws $ws_version"
}

main() {
	for tool in nginx node curl jq taskset ss cc; do
		command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install nginx-light libnginx-mod-nchan nodejs curl jq util-linux iproute2 gcc)"
	done
	[ -f "$NCHAN_SO" ] || die "nchan module not found at $NCHAN_SO (apt-get install libnginx-mod-nchan, or set NCHAN_SO)"
	if [ ! -f "$ROOT/bench/node_modules/ws/package.json" ] &&
		[ ! -f "$ROOT/tests/e2e/node_modules/ws/package.json" ]; then
		(cd "$ROOT/bench" && npm ci --no-audit --no-fund >&2) || die "npm ci in bench/ failed"
	fi
	if [[ " $SERVERS $IDLE_SERVERS " == *" crier "* ]]; then
		if [ -z "${CRIER_BIN:-}" ]; then
			CRIER_BIN=$ROOT/build/crier
			[ -x "$CRIER_BIN" ] || (cd "$ROOT" && make build >&2) || die "make build failed"
		fi
		[ -x "$CRIER_BIN" ] || die "CRIER_BIN=$CRIER_BIN is not executable"
	fi
	WSBENCH=$RESULTS_DIR/wsbench
	cc -O2 -std=c11 -pthread -Wall -Wextra -Werror -o "$WSBENCH" "$ROOT/bench/wsbench.c" ||
		die "building bench/wsbench.c failed"

	BUSY=$(busy_cpu)
	versions
	if awk -v b="$BUSY" 'BEGIN { exit !(b > 0.1) }'; then
		log "warning: $(awk -v b="$BUSY" 'BEGIN { printf "%d", b * 100 }') % of the CPUs were busy before the run started: something else is running, throughput and tail latency from this run are noise"
	fi

	if [ "$SKIP_ECHO" != 1 ]; then
		log "-- WebSocket echo: $ECHO_CONNS connections, one $ECHO_SIZE-byte $ECHO_OPCODE message in flight each, ${ECHO_DURATION}s after ${ECHO_WARMUP}s warm-up (pinned: server 1 worker on CPU 0, wsbench -t$PINNED_THREADS on CPU 1)"
		for config in $CONFIGS; do
			for round in $(seq "$ROUNDS"); do
				for server in $SERVERS; do run_echo "$server" "$config" "$round"; done
			done
		done
	fi
	if [ "$SKIP_IDLE" != 1 ]; then
		log "-- RSS per idle WebSocket: $IDLE_CONNS connections, $IDLE_WORKERS worker(s)"
		for server in $IDLE_SERVERS; do
			case $server in
			nginx-nchan) for loc in $NCHAN_IDLE_LOCATIONS; do run_idle "$server" "$loc"; done ;;
			*) run_idle "$server" /echo ;;
			esac
		done
	fi
	emit_targets
	log "results: $OUT"
}

main "$@"
