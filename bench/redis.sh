#!/usr/bin/env bash
# bench/redis.sh: what the Redis engine costs (issue 10), in one run against
# one node with the memory engine as the baseline.
#
# Cases (each with its servers started fresh, all on loopback):
#   memory     one crier node (--engine memory, WORKERS workers), `crier bench
#              fanout` with SUBS subscribers on one channel and MSGS messages
#              of SIZE bytes from PUBLISHERS x WINDOW, as fast as taken.
#   redis      a redis-server and two crier nodes (--engine redis): two
#              `crier bench fanout` processes at once, SUBS/2 subscribers
#              each; process 0 subscribes on node 1 and publishes to node 2,
#              process 1 the other way round (each on its own channel), so
#              every delivery crosses Redis. The same deliveries in all as
#              the memory case (MSGS messages to each half).
#   latency-memory, latency-redis
#              LAT_SUBS subscribers, LAT_MSGS messages at LAT_RATE/s from one
#              publisher waiting for each answer: publish->deliver and
#              publish->answer latency at a load both engines sustain; the
#              difference is what Redis adds. Across nodes for redis.
# Redis round trips per publish: the nodes' crier_redis_round_trips_total
# (commands sent) over the redis case, divided by the messages published;
# the commands Redis ran per publish (total_commands_processed, which
# counts the scripts' inner calls too); and the read() calls redis-server
# made per publish (syscr in /proc/PID/io): under pipelining several
# publishes share one network round trip, so this falls below 1; and
# redis-server's CPU time per publish (what bounds a cluster's publishes/s).
#
# stdout: "machine", one JSON line per case, one "redis_summary" line with
# per-node deliveries/s of the redis case as a share of the memory case
# (the issue's target: each node >= 50 %). stderr: a summary per case.
# Both also under bench/results/redis-STAMP.*.
#
# Environment (defaults in brackets):
#   CRIER_BIN [build/crier, built with `make build` if missing]
#   SUBS [4000]  MSGS [2000]  SIZE [64]  PUBLISHERS [4]  WINDOW [8]
#   WORKERS [1]  TIMEOUT [90]
#   LAT_SUBS [100]  LAT_MSGS [2000]  LAT_RATE [1000]
#   CRIER_PORT [18701]  NODE2_PORT [18702]  REDIS_PORT [18703]
#   REDIS_TLS [0]: 1 runs the redis cases over rediss:// (a CA, server and
#              client certificates made with openssl in the run's temp dir;
#              redis-server on a TLS-only port asking for client certificates)
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$ROOT/bench/results
SUBS=${SUBS:-4000}
MSGS=${MSGS:-2000}
SIZE=${SIZE:-64}
PUBLISHERS=${PUBLISHERS:-4}
WINDOW=${WINDOW:-8}
WORKERS=${WORKERS:-1}
TIMEOUT=${TIMEOUT:-90}
LAT_SUBS=${LAT_SUBS:-100}
LAT_MSGS=${LAT_MSGS:-2000}
LAT_RATE=${LAT_RATE:-1000}
CRIER_PORT=${CRIER_PORT:-18701}
NODE2_PORT=${NODE2_PORT:-18702}
REDIS_PORT=${REDIS_PORT:-18703}
MAX_CONNS=$((SUBS + 1000))
CRIER_FLAGS=${CRIER_FLAGS:-}
REDIS_TLS=${REDIS_TLS:-0}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_init redis redis
bench_need_tools "redis-server jq" redis-server redis-cli jq
bench_need_crier

EXTRA_PIDS=()
# The second node and redis-server are ours to stop (lib.sh stops SERVER_PID).
REDIS_PID=''
redis_cleanup() {
	local p
	for p in "${EXTRA_PIDS[@]}" $REDIS_PID; do kill "$p" 2>/dev/null || true; done
	for p in "${EXTRA_PIDS[@]}" $REDIS_PID; do wait "$p" 2>/dev/null || true; done
	EXTRA_PIDS=()
	REDIS_PID=''
}
trap 'rc=$?; redis_cleanup; (exit $rc); bench_cleanup' EXIT

# REDIS_TLS=1: certificates for redis-server and crier (P-256, made here).
REDIS_SERVER_TLS=()
REDIS_CLI_TLS=()
CRIER_REDIS_TLS=()
make_tls() {
	local o=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes) n
	openssl req -x509 "${o[@]}" -keyout "$TMP/ca.key" -out "$TMP/ca.pem" -days 1 \
		-subj /CN=bench-ca 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/server.cnf"
	printf 'extendedKeyUsage=clientAuth\n' >"$TMP/client.cnf"
	for n in server client; do
		openssl req "${o[@]}" -keyout "$TMP/$n.key" -out "$TMP/$n.csr" -subj "/CN=$n" 2>/dev/null
		openssl x509 -req -in "$TMP/$n.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" \
			-set_serial "0x$RANDOM" -days 1 -extfile "$TMP/$n.cnf" -out "$TMP/$n.pem" 2>/dev/null
	done
	REDIS_SERVER_TLS=(--port 0 --tls-port "$REDIS_PORT" --tls-cert-file "$TMP/server.pem"
		--tls-key-file "$TMP/server.key" --tls-ca-cert-file "$TMP/ca.pem")
	REDIS_CLI_TLS=(--tls --cacert "$TMP/ca.pem" --cert "$TMP/client.pem" --key "$TMP/client.key")
	CRIER_REDIS_TLS=(--redis-tls-ca "$TMP/ca.pem" --redis-tls-cert "$TMP/client.pem"
		--redis-tls-key "$TMP/client.key")
}

rcli() {
	redis-cli -p "$REDIS_PORT" "${REDIS_CLI_TLS[@]}" "$@"
}

start_redis() {
	bench_port_free "$REDIS_PORT" || bench_die "port $REDIS_PORT is in use (set REDIS_PORT)"
	[ "$REDIS_TLS" = 1 ] && make_tls
	local port=(--port "$REDIS_PORT")
	[ "$REDIS_TLS" = 1 ] && port=("${REDIS_SERVER_TLS[@]}")
	bench_start_redis "${port[@]}"
}

# crier_redis_round_trips_total of the node on PORT (requests it sent to Redis).
round_trips() {
	curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "crier_redis_round_trips_total" { print $2 }'
}

redis_reads() { # read() calls redis-server has made
	awk '$1 == "syscr:" { print $2 }' "/proc/$REDIS_PID/io"
}

redis_commands() {
	rcli info stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }'
}

# The second node, on NODE2_PORT, with the same flags as the first.
start_node2() {
	bench_port_free "$NODE2_PORT" || bench_die "port $NODE2_PORT is in use (set NODE2_PORT)"
	"$CRIER_BIN" serve --listen "127.0.0.1:$NODE2_PORT" --workers "$WORKERS" \
		--max-connections "$MAX_CONNS" "$@" 2>"$TMP/node2.log" &
	EXTRA_PIDS+=($!)
	bench_wait_ready "$NODE2_PORT" node2 "$TMP/node2.log"
}

# One `crier bench fanout` into $TMP/NAME.json. Args: NAME URL PUB_URL FLAG...
fanout() {
	local name=$1 url=$2 pub=$3
	shift 3
	timeout $((TIMEOUT + 30)) "$CRIER_BIN" bench fanout --url "$url" --pub-url "$pub" \
		--transport ws --size "$SIZE" --timeout "$TIMEOUT" "$@" >"$TMP/$name.json" 2>>"$LOG" || true
	[ -s "$TMP/$name.json" ] || bench_die "crier bench fanout ($name) printed nothing; see $LOG"
}

emit_case() { # CASE FILE
	local line
	line=$(jq -c --arg c "$1" '{bench:"redis_run", case:$c} + .' "$2")
	bench_emit "$line"
	bench_log "$(jq -r '"\(.case | . + "               " | .[0:15]) \(.deliveries_per_s) deliveries/s  p50 \(.p50_us) us  p99 \(.p99_us) us  ack p50 \(.ack_p50_us) us  lost \(.lost) errors \(.errors)"' <<<"$line")"
}

bench_emit "$(bench_machine_json nofile crier commit)"
U1=http://127.0.0.1:$CRIER_PORT
U2=http://127.0.0.1:$NODE2_PORT
RURL=redis://127.0.0.1:$REDIS_PORT
[ "$REDIS_TLS" = 1 ] && RURL=rediss://127.0.0.1:$REDIS_PORT

# memory
bench_start_crier "$WORKERS" "" --engine memory
fanout memory "$U1" "$U1" --subs "$SUBS" --msgs "$MSGS" --publishers "$PUBLISHERS" --window "$WINDOW"
emit_case memory "$TMP/memory.json"
fanout latency-memory "$U1" "$U1" --subs "$LAT_SUBS" --msgs "$LAT_MSGS" --rate "$LAT_RATE" \
	--publishers 1 --window 1
emit_case latency-memory "$TMP/latency-memory.json"
bench_stop_server

# redis: two nodes, deliveries crossing
start_redis
bench_start_crier "$WORKERS" "" --engine redis --redis-url "$RURL" "${CRIER_REDIS_TLS[@]}"
start_node2 --engine redis --redis-url "$RURL" "${CRIER_REDIS_TLS[@]}"
# Redis's counters: commands, read() calls, CPU ticks, and the nodes' round trips.
redis_counters() {
	echo "$(redis_commands) $(redis_reads) $(bench_tree_cpu_ticks "$REDIS_PID")" \
		"$(($(round_trips "$CRIER_PORT") + $(round_trips "$NODE2_PORT")))"
}
read -r c0 r0 k0 rt0 <<<"$(redis_counters)"
half=$((SUBS / 2))
fanout redis.0 "$U1" "$U2" --subs "$half" --msgs "$MSGS" --publishers "$PUBLISHERS" \
	--window "$WINDOW" --sub-path "/sub/p0_%s" --pub-path "/pub/p0_%s" &
p0=$!
fanout redis.1 "$U2" "$U1" --subs "$half" --msgs "$MSGS" --publishers "$PUBLISHERS" \
	--window "$WINDOW" --sub-path "/sub/p1_%s" --pub-path "/pub/p1_%s" &
p1=$!
wait "$p0" "$p1"
read -r c1 r1 k1 rt1 <<<"$(redis_counters)"
jq -cs --argjson cmds $((c1 - c0)) --argjson rts $((rt1 - rt0)) --argjson reads $((r1 - r0)) --argjson ticks $((k1 - k0)) --argjson hz "$(getconf CLK_TCK)" '{bench:"fanout", transport:"ws", nodes:2,
	subs:(map(.subs) | add), published:(map(.published) | add),
	expected:(map(.expected) | add), received:(map(.received) | add), lost:(map(.lost) | add),
	duplicated:(map(.duplicated) | add), out_of_order:(map(.out_of_order) | add),
	errors:(map(.errors) | add), delivery_window_s:(map(.delivery_window_s) | max),
	per_node_deliveries_per_s:(map(.deliveries_per_s)), p50_us:(map(.p50_us) | max),
	p99_us:(map(.p99_us) | max), ack_p50_us:(map(.ack_p50_us) | max),
	complete:(map(.complete) | all), redis_commands:$cmds, round_trips:$rts, redis_reads:$reads} |
	. + {deliveries_per_s:(if .delivery_window_s > 0 then (.received / .delivery_window_s | floor) else 0 end),
	     redis_commands_per_publish:(if .published > 0 then ($cmds / .published * 100 | round / 100) else null end),
	     round_trips_per_publish:(if .published > 0 then ($rts / .published * 100 | round / 100) else null end),
	     redis_reads_per_publish:(if .published > 0 then ($reads / .published * 100 | round / 100) else null end),
	     redis_cpu_us_per_publish:(if .published > 0 then ($ticks / $hz * 1e6 / .published * 10 | round / 10) else null end)}' \
	"$TMP/redis.0.json" "$TMP/redis.1.json" >"$TMP/redis.json"
emit_case redis "$TMP/redis.json"
fanout latency-redis "$U1" "$U2" --subs "$LAT_SUBS" --msgs "$LAT_MSGS" --rate "$LAT_RATE" \
	--publishers 1 --window 1
emit_case latency-redis "$TMP/latency-redis.json"
bench_stop_server
redis_cleanup

summary=$(jq -cs --argjson tls "$([ "$REDIS_TLS" = 1 ] && echo true || echo false)" '
	(map(select(.case == "memory"))[0]) as $m | (map(select(.case == "redis"))[0]) as $r |
	(map(select(.case == "latency-memory"))[0]) as $lm | (map(select(.case == "latency-redis"))[0]) as $lr |
	{bench:"redis_summary", redis_tls:$tls, memory_deliveries_per_s:$m.deliveries_per_s,
	 redis_deliveries_per_s:$r.deliveries_per_s, redis_per_node_deliveries_per_s:$r.per_node_deliveries_per_s,
	 per_node_share_of_memory:($r.per_node_deliveries_per_s | map(. / $m.deliveries_per_s * 100 | round / 100)),
	 redis_commands_per_publish:$r.redis_commands_per_publish,
	 round_trips_per_publish:$r.round_trips_per_publish,
	 redis_reads_per_publish:$r.redis_reads_per_publish,
	 redis_cpu_us_per_publish:$r.redis_cpu_us_per_publish,
	 added_p50_us:($lr.p50_us - $lm.p50_us), added_p99_us:($lr.p99_us - $lm.p99_us),
	 added_ack_p50_us:($lr.ack_p50_us - $lm.ack_p50_us),
	 clean:([$m, $r, $lm, $lr] | map(.lost == 0 and .errors == 0) | all)}' "$OUT")
bench_emit "$summary"
bench_log "$(jq -r '"per node (redis, 2 nodes) / memory (1 node): \(.per_node_share_of_memory) (target >= 0.5 each); round trips to Redis per publish \(.round_trips_per_publish) (commands Redis ran, inner script calls included: \(.redis_commands_per_publish); read() calls Redis made: \(.redis_reads_per_publish); redis-server CPU per publish \(.redis_cpu_us_per_publish) us); added latency p50 \(.added_p50_us) us, p99 \(.added_p99_us) us, publish answer p50 \(.added_ack_p50_us) us; clean \(.clean)"' <<<"$summary")"
bench_log "results: $OUT"
