#!/usr/bin/env bash
# bench/compare.sh: crier side by side with its peers, the same `crier bench`
# cases against each server in one run, then one table with ratios
# (crier / peer). Peers: nginx+nchan (Debian nginx-light +
# libnginx-mod-nchan, config in bench/peers/nchan/, 127.0.0.1 only), the
# "ceiling" (bench/ceiling.c: the least work a correct fan-out can do) for
# the fan-out cases, Node `ws` (bench/node_echo.mjs) for echo.
#
# Cases (CASES picks; each server is started fresh for each case, one at a
# time, and stopped after it):
#   fanout-ws-1k fanout-sse-1k fanout-ws-5k fanout-sse-5k
#           crier bench fanout: 1,000 or 5,000 subscribers on one channel,
#           FANOUT_MSGS messages of SIZE bytes from PUBLISHERS x WINDOW, as
#           fast as the hub takes them: deliveries/s (and p99).
#   fanout-big
#           BIG_SUBS subscribers over BIG_PROCS concurrent crier bench
#           processes (one per BIG_SUBS / BIG_PROCS, each on its own channel:
#           a process's messages reach its own subscribers), BIG_MSGS each:
#           summed deliveries over the longest delivery window. BIG_SUBS is
#           capped to what the open-file limit lets the server hold.
#   echo    crier bench echo: ECHO_CONNS WebSockets, one message in flight
#           each, ECHO_DURATION s after ECHO_WARMUP s: round trips/s.
#   connect crier bench connect --transport http: CONNECT_CONNS connections,
#           each after a full GET /healthz: connections/s.
#   idle    crier bench connect --transport ws on /sub/bench0: IDLE_CONNS
#           idle WebSocket subscribers, the server's RSS per connection
#           (pid + children; lower is better).
# Servers per case: fan-out: crier, nginx-nchan, ceiling; echo: crier,
# nginx-nchan, node-ws; connect and idle: crier, nginx-nchan (PEERS drops
# some). Every run is "pinned": the server with 1 worker on CPU 0, the load
# generator(s) on CPU 1 (the fair split of a 2-core box).
#
# stdout: "machine", one JSON line per run (crier bench's figures plus
# server and case), one "compare" line with the table's figures. stderr:
# a summary per run, then the table. Both also under
# bench/results/compare-STAMP.*.
#
# Environment (defaults in brackets):
#   CRIER_BIN [build/crier, built with `make build` if missing]
#   CASES ["fanout-ws-1k fanout-sse-1k fanout-ws-5k fanout-sse-5k fanout-big
#          echo connect idle"]
#   PEERS ["nginx-nchan ceiling node-ws"]
#   FANOUT_MSGS [600]  SIZE [64]  PUBLISHERS [4]  WINDOW [8]  TIMEOUT [90]
#   BIG_SUBS [20000]  BIG_PROCS [4]  BIG_MSGS [200]
#   ECHO_CONNS [50]  ECHO_DURATION [10]  ECHO_WARMUP [2]
#   CONNECT_CONNS [10000]  IDLE_CONNS [10000]
#   CRIER_PORT [18691]  NGINX_PORT [18692]  CEILING_PORT [18693]  NODE_PORT [18694]
#   CRIER_FLAGS [] extra flags for `crier serve`
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$ROOT/bench/results
CASES=${CASES:-fanout-ws-1k fanout-sse-1k fanout-ws-5k fanout-sse-5k fanout-big echo connect idle}
PEERS=${PEERS:-nginx-nchan ceiling node-ws}
FANOUT_MSGS=${FANOUT_MSGS:-600}
SIZE=${SIZE:-64}
PUBLISHERS=${PUBLISHERS:-4}
WINDOW=${WINDOW:-8}
TIMEOUT=${TIMEOUT:-90}
BIG_SUBS=${BIG_SUBS:-20000}
BIG_PROCS=${BIG_PROCS:-4}
BIG_MSGS=${BIG_MSGS:-200}
ECHO_CONNS=${ECHO_CONNS:-50}
ECHO_DURATION=${ECHO_DURATION:-10}
ECHO_WARMUP=${ECHO_WARMUP:-2}
CONNECT_CONNS=${CONNECT_CONNS:-10000}
IDLE_CONNS=${IDLE_CONNS:-10000}
CRIER_PORT=${CRIER_PORT:-18691}
NGINX_PORT=${NGINX_PORT:-18692}
CEILING_PORT=${CEILING_PORT:-18693}
NODE_PORT=${NODE_PORT:-18694}
CRIER_FLAGS=${CRIER_FLAGS:-}
NCHAN_SO=${NCHAN_SO:-/usr/share/nginx/modules/ngx_nchan_module.so}
MAX_CONNS=1000

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_init compare compare
bench_nchan_config

# The servers that run a case: crier, then the peers asked for.
case_servers() { # CASE
	local all
	case $1 in
	fanout-*) all="nginx-nchan ceiling" ;;
	echo) all="nginx-nchan node-ws" ;;
	*) all="nginx-nchan" ;;
	esac
	printf 'crier'
	for s in $all; do [[ " $PEERS " != *" $s "* ]] || printf ' %s' "$s"; done
	echo
}

# Connections a case holds at most (the server's --max-connections).
case_conns() { # CASE
	case $1 in
	*-1k) echo 1000 ;;
	*-5k) echo 5000 ;;
	fanout-big) echo "$BIG_SUBS" ;;
	echo) echo "$ECHO_CONNS" ;;
	connect) echo "$CONNECT_CONNS" ;;
	idle) echo "$IDLE_CONNS" ;;
	*) bench_die "unknown case $1 (CASES takes fanout-ws-1k fanout-sse-1k fanout-ws-5k fanout-sse-5k fanout-big echo connect idle)" ;;
	esac
}

start_server() { # NAME CASE: 1 worker on CPU 0
	MAX_CONNS=$(($(case_conns "$2") + 1000))
	NGINX_WORKER_CONNS=$((2 * MAX_CONNS))
	[ "$MAX_CONNS" -le "$FD_CAP" ] || MAX_CONNS=$FD_CAP
	case $1 in
	crier)
		if [ "$2" = echo ]; then bench_start_crier 1 0 --echo; else bench_start_crier 1 0; fi ;;
	nginx-nchan) bench_start_nginx 1 0 ;;
	ceiling) bench_start_ceiling 0 ;;
	node-ws) bench_start_node 0 ;;
	esac
}

# One run of crier bench on CPU 1 against the running server; its JSON
# line goes to $TMP/run.json. Exit status: crier bench's.
run_bench() { # CASE
	local url="http://127.0.0.1:$SERVER_PORT" sub_t
	case $1 in
	fanout-ws-* | fanout-sse-*)
		sub_t=${1#fanout-}
		sub_t=${sub_t%-*}
		taskset -c 1 timeout $((TIMEOUT + 30)) "$CRIER_BIN" bench fanout --url "$url" \
			--transport "$sub_t" --subs "$(case_conns "$1")" --msgs "$FANOUT_MSGS" --size "$SIZE" \
			--publishers "$PUBLISHERS" --window "$WINDOW" --timeout "$TIMEOUT" \
			--server-pid "$SERVER_PID" >"$TMP/run.json" 2>>"$LOG" ;;
	fanout-big) run_big "$url" ;;
	echo)
		taskset -c 1 timeout $((ECHO_WARMUP + ECHO_DURATION + 60)) "$CRIER_BIN" bench echo \
			--url "ws://127.0.0.1:$SERVER_PORT/echo" --conns "$ECHO_CONNS" --size "$SIZE" \
			--duration "$ECHO_DURATION" --warmup "$ECHO_WARMUP" >"$TMP/run.json" 2>>"$LOG" ;;
	connect)
		taskset -c 1 timeout $((TIMEOUT + 30)) "$CRIER_BIN" bench connect --url "$url" \
			--transport http --conns "$CONNECT_CONNS" --timeout "$TIMEOUT" >"$TMP/run.json" 2>>"$LOG" ;;
	idle)
		taskset -c 1 timeout $((TIMEOUT + 60)) "$CRIER_BIN" bench connect --url "$url/sub/bench0" \
			--transport ws --conns "$IDLE_CONNS" --server-pid "$SERVER_PID" --timeout "$TIMEOUT" \
			>"$TMP/run.json" 2>>"$LOG" ;;
	esac
}

# BIG_PROCS crier bench fanout processes at once, process i on channel
# p{i}_bench0; their lines summed into one.
run_big() { # URL
	local pids=() rc=0 per=$((BIG_SUBS / BIG_PROCS))
	for i in $(seq 0 $((BIG_PROCS - 1))); do
		taskset -c 1 timeout $((TIMEOUT + 30)) "$CRIER_BIN" bench fanout --url "$1" \
			--transport ws --subs "$per" --msgs "$BIG_MSGS" --size "$SIZE" \
			--publishers "$PUBLISHERS" --window "$WINDOW" --timeout "$TIMEOUT" \
			--sub-path "/sub/p${i}_%s" --pub-path "/pub/p${i}_%s" \
			>"$TMP/big.$i.json" 2>>"$LOG" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=$?; done
	jq -cs '{bench:"fanout", transport:"ws", processes:length, subs:(map(.subs) | add),
		subscribed:(map(.subscribed) | add), expected:(map(.expected) | add),
		received:(map(.received) | add), lost:(map(.lost) | add),
		duplicated:(map(.duplicated) | add), out_of_order:(map(.out_of_order) | add),
		errors:(map(.errors) | add), delivery_window_s:(map(.delivery_window_s) | max),
		p99_us:(map(.p99_us) | max), complete:(map(.complete) | all)} |
		. + {deliveries_per_s:(if .delivery_window_s > 0 then (.received / .delivery_window_s | floor) else 0 end)}' \
		"$TMP"/big.*.json >"$TMP/run.json"
	rm -f "$TMP"/big.*.json
	return "$rc"
}

run_case() { # SERVER CASE
	local server=$1 case=$2 rc=0 line
	start_server "$server" "$case"
	run_bench "$case" || rc=$?
	bench_stop_server
	[ -s "$TMP/run.json" ] || bench_die "crier bench printed nothing for $server $case (exit $rc, see $LOG)"
	line=$(jq -c --arg server "$server" --arg case "$case" --argjson rc "$rc" \
		'{bench:"compare_run", case:$case, server:$server, mode:.bench} + . +
		 {exit_code:$rc} | .bench = "compare_run"' "$TMP/run.json")
	rm -f "$TMP/run.json"
	bench_emit "$line"
	bench_log "$(jq -r '"\(.case|.+"              "|.[0:14]) \(.server|.+"           "|.[0:11]) " +
		(if .mode == "fanout" then "\(.deliveries_per_s) deliveries/s  p99 \(.p99_us) us  lost \(.lost) errors \(.errors)"
		 elif .mode == "echo" then "\(.rps) round trips/s  p99 \(.p99_us) us  errors \(.errors)"
		 elif .case == "idle" then "\(.rss_per_conn_bytes) bytes/conn  \(.connected)/\(.conns) connected"
		 else "\(.conns_per_s) conns/s  \(.connected)/\(.conns) connected  failed \(.failed)" end) +
		(if .complete == false then "  INCOMPLETE" else "" end)' <<<"$line")"
}

# The table: per case, the figure of each server and crier / peer.
emit_table() {
	local line
	line=$(jq -cs '
		def fig: if .mode == "fanout" then .deliveries_per_s elif .mode == "echo" then .rps
			elif .case == "idle" then .rss_per_conn_bytes else .conns_per_s end;
		def ratio(a; b): if a != null and b != null and b > 0 then (a / b * 100 | round / 100) else null end;
		[.[] | select(.bench == "compare_run")] as $runs |
		reduce $runs[].case as $c ([]; if index([$c]) then . else . + [$c] end) |
		map(. as $c | [$runs[] | select(.case == $c)]) | map(
			(map({key:.server, value:fig}) | from_entries) as $f |
			{case:.[0].case, unit:(if .[0].mode == "fanout" then "deliveries/s"
				elif .[0].mode == "echo" then "round trips/s"
				elif .[0].case == "idle" then "bytes/conn (lower is better)" else "conns/s" end),
			 crier:$f.crier, nchan:$f["nginx-nchan"], ceiling:$f.ceiling, node:$f["node-ws"],
			 crier_vs_nchan:ratio($f.crier; $f["nginx-nchan"]),
			 crier_vs_ceiling:ratio($f.crier; $f.ceiling), crier_vs_node:ratio($f.crier; $f["node-ws"]),
			 clean:((map(.errors // 0) | add) == 0)}) |
		{bench:"compare", rows:.}' "$OUT")
	bench_emit "$line"
	bench_log ""
	bench_log "$(jq -r '
		def n: if . == null then "-" else tostring end;
		(["case", "unit", "crier", "nchan", "crier/nchan", "ceiling", "crier/ceil", "node-ws", "crier/node"] | @tsv),
		(.rows[] | [.case, .unit, (.crier | n), (.nchan | n), (.crier_vs_nchan | n), (.ceiling | n),
			(.crier_vs_ceiling | n), (.node | n), (.crier_vs_node | n)] | @tsv)' <<<"$line" |
		awk -F'\t' '{ printf "%-14s %-30s %12s %12s %12s %12s %11s %10s %11s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }')"
}

main() {
	bench_need_tools "nginx-light libnginx-mod-nchan nodejs curl jq util-linux iproute2 gcc" \
		nginx node curl jq taskset ss cc
	[[ " $PEERS " != *" nginx-nchan "* ]] || bench_need_nchan
	[[ " $PEERS " != *" node-ws "* ]] || bench_need_node_ws
	bench_need_crier
	CEILING=$RESULTS_DIR/ceiling
	[[ " $PEERS " != *" ceiling "* ]] || bench_build ceiling
	# What one process may hold: crier serve keeps 256 descriptors aside.
	FD_CAP=$(($(ulimit -Hn) - 300))
	if [ "$BIG_SUBS" -gt $((FD_CAP - 100)) ]; then
		bench_log "note: BIG_SUBS $BIG_SUBS lowered to $((FD_CAP - 100)): the open-file limit is $(ulimit -Hn)"
		BIG_SUBS=$((FD_CAP - 100))
	fi
	BUSY=$(bench_busy_cpu)
	bench_emit "$(bench_machine_json busy nofile crier commit nginx nchan node)"
	bench_log "machine: $(nproc) x $(bench_cpu_model), kernel $(uname -r), load $(bench_loadavg), CPU busy before start $BUSY"
	bench_warn_busy "$BUSY"
	bench_log "-- compare (pinned: each server 1 worker on CPU 0, crier bench on CPU 1): $CASES"
	for case in $CASES; do
		case_conns "$case" >/dev/null
		for server in $(case_servers "$case"); do run_case "$server" "$case"; done
	done
	emit_table
	bench_log "results: $OUT"
}

main "$@"
