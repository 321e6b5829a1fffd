#!/usr/bin/env bash
# bench/http.sh: HTTP/1.1 keep-alive throughput and RSS per idle keep-alive
# connection, crier against nginx in the same run, on loopback.
#
# Measurements (each server, one after the other, never at the same time):
#   http_rps  wrk with keep-alive on GET /healthz, in two configurations:
#             "pinned": the server with 1 worker on CPU 0, wrk -t1 on CPU 1
#                       (a fair one-core-each split on a 2-core box);
#             "shared": the server with 2 workers, wrk -t2, nothing pinned
#                       (server and load generator fight for both cores).
#   idle_rss  crier bench connect --transport http opens IDLE_CONNS
#             keep-alive connections, each after one full GET /healthz (no
#             priming, 1 s settle), and reports the server's RSS growth
#             per connection (pid + all descendants, so nginx's master and
#             workers count). Server with IDLE_WORKERS workers.
#
# stdout: one JSON line per server per measurement, plus one "machine" line.
# stderr: a human summary. Everything is also saved under bench/results/.
#
# Environment (defaults in brackets):
#   CRIER_BIN [build/crier, built with `make build` if missing]: also the
#     load generator of idle_rss (`crier bench connect`)
#   SERVERS ["crier nginx"]     CONFIGS ["pinned shared"]
#   WRK_DURATION [10s]  WRK_CONNS [50]  WRK_WARMUP [2s]  WRK_TIMEOUT [2s]
#   PINNED_WRK_THREADS [1]  SHARED_WRK_THREADS [2]  SHARED_WORKERS [2]
#   IDLE_CONNS [10000]  IDLE_WORKERS [1]  IDLE_HOLD [3]  IDLE_TIMEOUT [120]
#   CRIER_PORT [18481]  NGINX_PORT [18482]  SKIP_IDLE [0]  SKIP_RPS [0]
#   CRIER_FLAGS [] extra flags for `crier serve`
#   ROUNDS [1]   wrk runs per server and config, servers alternating
#   PROFILE [0]  1: count server syscalls/context switches per request (perf)
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$ROOT/bench/results
SERVERS=${SERVERS:-crier nginx}
CONFIGS=${CONFIGS:-pinned shared}
WRK_DURATION=${WRK_DURATION:-10s}
WRK_CONNS=${WRK_CONNS:-50}
WRK_WARMUP=${WRK_WARMUP:-2s}
WRK_TIMEOUT=${WRK_TIMEOUT:-2s}
PINNED_WRK_THREADS=${PINNED_WRK_THREADS:-1}
SHARED_WRK_THREADS=${SHARED_WRK_THREADS:-2}
SHARED_WORKERS=${SHARED_WORKERS:-2}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_WORKERS=${IDLE_WORKERS:-1}
IDLE_HOLD=${IDLE_HOLD:-3}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-120}
CRIER_PORT=${CRIER_PORT:-18481}
NGINX_PORT=${NGINX_PORT:-18482}
SKIP_IDLE=${SKIP_IDLE:-0}
SKIP_RPS=${SKIP_RPS:-0}
CRIER_FLAGS=${CRIER_FLAGS:-}
ROUNDS=${ROUNDS:-1}
PROFILE=${PROFILE:-0}
# Connection ceiling handed to both servers: above IDLE_CONNS with slack for
# wrk and the readiness probe.
MAX_CONNS=$((IDLE_CONNS + 2000))

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_init http http
# nginx-light, config fragments for bench_start_nginx.
NGINX_EVENTS='multi_accept off;'
NGINX_HTTP='keepalive_requests 100000000;
    keepalive_timeout 300s;'

start_server() { # NAME WORKERS CPUSET
	case $1 in
	crier) bench_start_crier "$2" "$3" ;;
	nginx) bench_start_nginx "$2" "$3" ;;
	*) bench_die "unknown server $1 (SERVERS takes crier and/or nginx)" ;;
	esac
}

# wrk prints latency as 1.23us / 4.56ms / 1.20s; convert to milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.3f", n }'
}

# Seconds in a wrk duration: 10s, 2m, 1h, or a bare number of seconds.
dur_s() {
	awk -v d="$1" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60; else if (d ~ /h$/) n *= 3600; print n }'
}

# With PROFILE=1: perf stat on the server for the middle of the measured
# window (from 1 s in, ending 1 s before the end).
start_profile() { # PID
	PERF_WINDOW_S=$(awk -v t="$(dur_s "$WRK_DURATION")" 'BEGIN { w = t - 2; print (w < 1 ? 1 : w) }')
	bench_perf_start "$1" 1 "$PERF_WINDOW_S"
}

# One wrk measurement: start the server, warm up, measure, stop, emit.
run_rps() { # SERVER CONFIG ROUND
	local server=$1 config=$2 round=$3 workers threads scpu='' wpin=()
	if [ "$config" = pinned ]; then
		workers=1 threads=$PINNED_WRK_THREADS scpu=0 wpin=(taskset -c 1)
	else
		workers=$SHARED_WORKERS threads=$SHARED_WRK_THREADS
	fi
	start_server "$server" "$workers" "$scpu"
	local url="http://127.0.0.1:$SERVER_PORT/healthz" hz t0 t1 out
	"${wpin[@]}" timeout 60 wrk -t"$threads" -c"$WRK_CONNS" -d"$WRK_WARMUP" "$url" >/dev/null
	hz=$(getconf CLK_TCK)
	t0=$(bench_tree_cpu_ticks "$SERVER_PID")
	start_profile "$SERVER_PID"
	out=$("${wpin[@]}" timeout 300 wrk -t"$threads" -c"$WRK_CONNS" -d"$WRK_DURATION" \
		--timeout "$WRK_TIMEOUT" --latency "$url")
	t1=$(bench_tree_cpu_ticks "$SERVER_PID")
	printf '%s\n' "== $server $config round $round" "$out" >>"$LOG"
	local rps prof
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	[ -n "$rps" ] || bench_die "could not parse wrk output for $server $config (see $LOG)"
	prof=$(bench_perf_json rate req "$rps")
	bench_stop_server
	emit_rps "$server" "$config" "$round" "$workers" "$threads" "$out" \
		"$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')" "$prof"
}

# Parse wrk --latency output into one http_rps JSON line and a summary line.
emit_rps() { # SERVER CONFIG ROUND WORKERS THREADS WRK_OUTPUT CPU_SECONDS PROFILE_JSON
	local out=$6 cpu_s=$7 rps reqs avg p50 p90 p99 errs non2xx uspr line
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
	avg=$(to_ms "$(awk '$1 == "Latency" { print $2; exit }' <<<"$out")")
	p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
	p90=$(to_ms "$(awk '$1 == "90%" { print $2 }' <<<"$out")")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
	errs=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' <<<"$out")
	non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
	uspr=$(awk -v c="$cpu_s" -v r="${reqs:-0}" 'BEGIN { printf "%.2f", (r > 0 ? c * 1e6 / r : 0) }')
	line=$(jq -cn --arg server "$1" --arg config "$2" --argjson round "$3" \
		--argjson workers "$4" --argjson threads "$5" --argjson conns "$WRK_CONNS" \
		--arg dur "$WRK_DURATION" --argjson rps "$rps" --argjson reqs "${reqs:-0}" \
		--argjson avg "$avg" --argjson p50 "$p50" --argjson p90 "$p90" --argjson p99 "$p99" \
		--argjson errs "${errs:-0}" --argjson non2xx "${non2xx:-0}" \
		--argjson cpu "$cpu_s" --argjson uspr "$uspr" --argjson prof "$8" \
		--argjson util "$(awk -v c="$cpu_s" -v d="$(dur_s "$WRK_DURATION")" 'BEGIN { printf "%.2f", c / d }')" \
		'{bench:"http_rps", server:$server, config:$config, round:$round, workers:$workers,
		  wrk_threads:$threads, wrk_conns:$conns, duration:$dur, rps:$rps, requests:$reqs,
		  avg_ms:$avg, p50_ms:$p50, p90_ms:$p90, p99_ms:$p99, socket_errors:$errs,
		  non_2xx:$non2xx, server_cpu_s:$cpu, server_cpu_util:$util,
		  server_cpu_us_per_req:$uspr} + $prof')
	bench_emit "$line"
	bench_log "$(jq -r '"\(.server|.+"      "|.[0:6]) \(.config|.+"      "|.[0:6]) workers=\(.workers)  \(.rps|floor) req/s  p50 \(.p50_ms) ms  p99 \(.p99_ms) ms  server CPU \(.server_cpu_util) cores, \(.server_cpu_us_per_req) us/req  errors \(.socket_errors + .non_2xx)" + (if .syscalls_per_req then "  syscalls/req \(.syscalls_per_req)" else "" end)' <<<"$line")"
	if [ "$2" = pinned ] && awk -v u="$(jq .server_cpu_util <<<"$line")" 'BEGIN { exit !(u < 0.9) }'; then
		bench_log "warning: $1 got only $(jq .server_cpu_util <<<"$line") of CPU 0: another process shared it or wrk was the bottleneck; this rps is not comparable (server_cpu_us_per_req still is)"
	fi
}

run_idle() { # SERVER
	local server=$1 out rc=0
	start_server "$server" "$IDLE_WORKERS" ""
	out=$("$CRIER_BIN" bench connect --transport http --url "http://127.0.0.1:$SERVER_PORT" \
		--conns "$IDLE_CONNS" --server-pid "$SERVER_PID" --prime 0 --settle 1 \
		--hold "$IDLE_HOLD" --timeout "$IDLE_TIMEOUT" 2>>"$LOG") || rc=$?
	bench_stop_server
	[ "$server" = crier ] && sed 's/^/crier: /' "$TMP/crier.log" | tail -n 20 >>"$LOG"
	[ -n "$out" ] || bench_die "crier bench connect printed nothing for $server (exit $rc, see $LOG)"
	bench_emit "$(jq -c --arg server "$server" --argjson workers "$IDLE_WORKERS" --argjson rc "$rc" \
		'{bench:"idle_rss", server:$server, workers:$workers} + . + {exit_code:$rc} |
		 .bench = "idle_rss"' <<<"$out")"
	bench_log "$(jq -r --arg s "$server" '"\($s) idle: \(.connected)/\(.conns) connected (\(.failed) failed, \(.dropped) dropped) in \(.connect_seconds) s; RSS \(.rss_before_kb) -> \(.rss_after_kb) KiB = \(.rss_per_conn_bytes) bytes/conn"' <<<"$out")"
}

main() {
	bench_need_tools "wrk nginx-light curl jq util-linux iproute2" wrk nginx curl jq taskset ss
	# crier is measured, or measures (crier bench connect for idle_rss).
	if [[ " $SERVERS " == *" crier "* ]] || [ "$SKIP_IDLE" != 1 ]; then bench_need_crier; fi

	bench_emit "$(bench_machine_json nofile crier commit nginx wrk)"
	bench_log "machine: $(nproc) x $(bench_cpu_model), kernel $(uname -r), load $(bench_loadavg)"

	if [ "$SKIP_RPS" != 1 ]; then
		bench_log "-- keep-alive GET /healthz, wrk -c$WRK_CONNS -d$WRK_DURATION (pinned: server CPU 0, wrk -t$PINNED_WRK_THREADS CPU 1; shared: $SHARED_WORKERS workers, wrk -t$SHARED_WRK_THREADS, unpinned)"
		for config in $CONFIGS; do
			for round in $(seq "$ROUNDS"); do
				for server in $SERVERS; do run_rps "$server" "$config" "$round"; done
			done
		done
	fi
	if [ "$SKIP_IDLE" != 1 ]; then
		bench_log "-- RSS per idle keep-alive connection, $IDLE_CONNS connections, $IDLE_WORKERS worker(s)"
		for server in $SERVERS; do run_idle "$server"; done
	fi
	bench_log "results: $OUT"
}

main "$@"
