#!/usr/bin/env bash
# bench/redis_interest.sh: the Redis engine's choice between channel-interest
# tracking (each node SUBSCRIBEs to the channels it has subscribers on, what
# crier does) and one firehose per node (PSUBSCRIBE crier:c:*, every node
# gets everything and filters), measured on Redis itself.
#
# One redis-server, NODES subscription clients standing in for the nodes
# (redis-cli, as crier's subscription connection would), CHANNELS channels
# of which each node wants SHARE, picked at random; redis-benchmark publishes
# PUBLISHES messages of SIZE bytes to channels picked uniformly. Cases:
#   none       nobody subscribed: the cost of PUBLISH itself (baseline)
#   interest   each node SUBSCRIBEs to its SHARE channels
#   firehose   each node PSUBSCRIBEs crier:c:*
# Per case: redis-server CPU per publish (utime+stime from /proc), bytes it
# sent per publish (INFO total_net_output_bytes, the publishers' replies
# included), messages each node received per publish, and the share of
# those the node wanted. stdout: one JSON line per case, then a summary;
# also under bench/results/redis_interest-STAMP.*.
#
# Environment (defaults in brackets): CHANNELS [10000] NODES [3]
#   SHARE [1000] PUBLISHES [300000] SIZE [64] CLIENTS [4] PIPELINE [16]
#   REDIS_PORT [18713]
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$ROOT/bench/results
CHANNELS=${CHANNELS:-10000}
NODES=${NODES:-3}
SHARE=${SHARE:-1000}
PUBLISHES=${PUBLISHES:-300000}
SIZE=${SIZE:-64}
CLIENTS=${CLIENTS:-4}
PIPELINE=${PIPELINE:-16}
REDIS_PORT=${REDIS_PORT:-18713}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_init redis_interest redis-interest
bench_need_tools "redis-server redis-tools jq" redis-server redis-cli redis-benchmark jq

REDIS_PID=''
SUB_PIDS=()
stop_all() {
	local p
	for p in "${SUB_PIDS[@]}" $REDIS_PID; do kill "$p" 2>/dev/null || true; done
	for p in "${SUB_PIDS[@]}" $REDIS_PID; do wait "$p" 2>/dev/null || true; done
	SUB_PIDS=()
	REDIS_PID=''
}
trap 'rc=$?; stop_all; (exit $rc); bench_cleanup' EXIT

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

start_redis() {
	bench_port_free "$REDIS_PORT" || bench_die "port $REDIS_PORT is in use (set REDIS_PORT)"
	bench_start_redis --port "$REDIS_PORT"
}

net_out() { rcli info stats | tr -d '\r' | awk -F: '$1 == "total_net_output_bytes" { print $2 }'; }

# Starts the node stand-ins for CASE; node i's output in $TMP/CASE.i.
# (redis-benchmark's __rand_int__ is 12 digits, zero-padded.)
start_nodes() { # CASE
	local i
	for i in $(seq 1 "$NODES"); do
		case $1 in
		interest)
			awk -v seed="$i" -v share="$SHARE" -v channels="$CHANNELS" 'BEGIN {
				srand(seed)
				while (n < share) {
					c = int(rand() * channels)
					if (!(c in seen)) { seen[c] = 1; n++; printf "crier:c:%012d\n", c }
				}
			}' >"$TMP/wants.$i"
			# shellcheck disable=SC2046 # one argument per channel
			timeout 600 redis-cli -p "$REDIS_PORT" SUBSCRIBE $(cat "$TMP/wants.$i") \
				>"$TMP/$1.$i" 2>&1 &
			;;
		firehose)
			timeout 600 redis-cli -p "$REDIS_PORT" PSUBSCRIBE 'crier:c:*' >"$TMP/$1.$i" 2>&1 &
			;;
		esac
		SUB_PIDS+=($!)
	done
	# Every node's subscriptions confirmed (for interest, all its channels).
	local want=0
	case $1 in
	interest) want=$(sort -u "$TMP"/wants.* | wc -l) ;;
	firehose) want=1 ;;
	esac
	for _ in $(seq 1 200); do
		local clients have
		clients=$(rcli client list type pubsub | grep -c . || true)
		case $1 in
		interest) have=$(rcli pubsub channels 'crier:c:*' | wc -l) ;;
		firehose) have=$(rcli pubsub numpat) ;;
		*) return 0 ;;
		esac
		[ "${clients:-0}" -ge "$NODES" ] && [ "$have" -ge "$want" ] && return 0
		sleep 0.05
	done
	bench_die "the $1 subscribers did not come up"
}

run_case() { # CASE
	start_redis
	start_nodes "$1"
	local c0 n0 c1 n1 t0 t1
	c0=$(bench_tree_cpu_ticks "$REDIS_PID")
	n0=$(net_out)
	t0=$(date +%s.%N)
	timeout 600 redis-benchmark -p "$REDIS_PORT" -q -n "$PUBLISHES" -r "$CHANNELS" -c "$CLIENTS" \
		-P "$PIPELINE" PUBLISH 'crier:c:__rand_int__' "$(head -c "$SIZE" /dev/zero | tr '\0' x)" \
		>"$TMP/$1.bench" 2>&1
	t1=$(date +%s.%N)
	c1=$(bench_tree_cpu_ticks "$REDIS_PID")
	n1=$(net_out)
	sleep 0.5 # the nodes print what is still in flight
	local got=() i
	if [ "$1" != none ]; then
		for i in $(seq 1 "$NODES"); do
			got+=("$(grep -c -x -E 'p?message' "$TMP/$1.$i" || true)")
		done
	fi
	stop_all
	local hz
	hz=$(getconf CLK_TCK)
	local line
	line=$(jq -cn --arg c "$1" --argjson pubs "$PUBLISHES" --argjson ticks $((c1 - c0)) --argjson hz "$hz" \
		--argjson bytes $((n1 - n0)) --argjson secs "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
		--argjson share "$SHARE" --argjson channels "$CHANNELS" \
		--argjson got "[$(IFS=,; echo "${got[*]}")]" '{bench:"redis_interest", case:$c,
		channels:$channels, nodes:($got | length), share:$share, publishes:$pubs,
		publishes_per_s:($pubs / $secs | floor),
		redis_cpu_us_per_publish:($ticks / $hz * 1e6 / $pubs * 100 | round / 100),
		redis_bytes_out_per_publish:($bytes / $pubs * 10 | round / 10),
		node_msgs_per_publish:($got | map(. / $pubs * 1000 | round / 1000)),
		node_wanted_share:(if $c == "none" then null else ($share / $channels) end)}')
	bench_emit "$line"
	bench_log "$(jq -r '"\(.case | . + "          " | .[0:10]) redis CPU \(.redis_cpu_us_per_publish) us/publish, \(.redis_bytes_out_per_publish) B out/publish, \(.publishes_per_s) publishes/s; each node got \(.node_msgs_per_publish) msgs/publish"' <<<"$line")"
}

bench_emit "$(bench_machine_json crier commit)"
for c in none interest firehose; do run_case "$c"; done
summary=$(jq -cs '(map(select(.case == "none"))[0]) as $n |
	(map(select(.case == "interest"))[0]) as $i | (map(select(.case == "firehose"))[0]) as $f |
	{bench:"redis_interest_summary",
	 interest_cpu_us_over_publish:(($i.redis_cpu_us_per_publish - $n.redis_cpu_us_per_publish) * 100 | round / 100),
	 firehose_cpu_us_over_publish:(($f.redis_cpu_us_per_publish - $n.redis_cpu_us_per_publish) * 100 | round / 100),
	 firehose_over_interest_bytes:(($f.redis_bytes_out_per_publish - $n.redis_bytes_out_per_publish) /
		(($i.redis_bytes_out_per_publish - $n.redis_bytes_out_per_publish) | if . <= 0 then 1 else . end) * 10 | round / 10),
	 interest_node_msgs:($i.node_msgs_per_publish), firehose_node_msgs:($f.node_msgs_per_publish)}' "$OUT")
bench_emit "$summary"
bench_log "results: $OUT"
