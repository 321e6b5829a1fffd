# bench/lib.sh: helpers shared by bench/http.sh, ws_echo.sh, fanout.sh,
# transports.sh and compare.sh. Sourced, not run. The load generator is
# `crier bench` (fanout, echo, connect) of $CRIER_BIN (bench_need_crier).
# The script sets ROOT and RESULTS_DIR, then calls bench_init NAME once;
# the helpers use these globals:
#   BENCH_NAME STAMP OUT LOG TMP   set by bench_init
#   SERVER_PID SERVER_PORT         the one server running (bench_start_*)
#   PERF_PID                       a perf stat in the background, if any
#   STOP_WARN                      a name: bench_stop_server warns on KILL
#   CRIER_BIN CRIER_PORT CRIER_FLAGS MAX_CONNS   for bench_start_crier
#   CEILING CEILING_PORT           for bench_start_ceiling
#   NODE_PORT                      for bench_start_node
#   REDIS_PID                      set by bench_start_redis (the script defines rcli)
#   NGINX_PORT NGINX_MAIN NGINX_EVENTS NGINX_HTTP NGINX_SERVER
#                                  for bench_start_nginx (config fragments)
# shellcheck shell=bash disable=SC2034 # globals the scripts read

# Set STAMP, OUT and LOG (bench/results/NAME-STAMP.*), TMP and the traps.
bench_init() { # NAME TMP_TAG
	BENCH_NAME=$1
	mkdir -p "$RESULTS_DIR"
	STAMP=$(date -u +%Y%m%dT%H%M%SZ)
	OUT=$RESULTS_DIR/$1-$STAMP.jsonl
	LOG=$RESULTS_DIR/$1-$STAMP.log
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/crier-bench-$2.XXXXXX")
	SERVER_PID='' SERVER_PORT='' PERF_PID=''
	trap bench_cleanup EXIT
	trap 'bench_log "$BENCH_NAME.sh: line $LINENO failed: $BASH_COMMAND"' ERR
	trap 'exit 130' INT TERM
}

# Print a human line to stderr and append it to $LOG.
bench_log() { printf '%s\n' "$*" | tee -a "$LOG" >&2; }

# Print one JSON line to stdout and append it to $OUT.
bench_emit() { printf '%s\n' "$1" | tee -a "$OUT"; }

# Log "NAME.sh: MESSAGE" and exit 1.
bench_die() {
	bench_log "$BENCH_NAME.sh: $*"
	exit 1
}

# Stop the one server we run at a time: TERM, up to 5 s, then KILL, the
# children too (nginx workers), by the pids we saw, never by name. With
# STOP_WARN set (a name), log a warning when it needed the KILL.
bench_stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	local kids
	kids=$(ps -o pid= --ppid "$SERVER_PID" 2>/dev/null || true)
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -n "${STOP_WARN:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		bench_log "warning: $STOP_WARN (pid $SERVER_PID) still running 5 s after SIGTERM; killed"
	fi
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
	SERVER_PID=
}

# PROFILE=1: perf stat (system calls, context switches, CPU time) on PID and
# its children, in the background, from DELAY_S seconds on, for WINDOW_S
# seconds (0: until bench_perf_counts stop). Writes $TMP/perf.csv.
bench_perf_start() { # PID DELAY_S WINDOW_S
	PERF_PID=''
	[ "$PROFILE" = 1 ] || return 0
	command -v perf >/dev/null || bench_die "PROFILE=1 needs perf (apt-get install linux-perf)"
	local pids limit=()
	pids=$( (ps -o pid= --ppid "$1" || true) | tr -d ' ' | tr '\n' ',')
	[ "$3" = 0 ] || limit=(timeout -s INT "$3")
	rm -f "$TMP/perf.csv"
	(sleep "$2" && exec "${limit[@]}" perf stat -x, -o "$TMP/perf.csv" \
		-e raw_syscalls:sys_enter,context-switches,task-clock -p "${pids}$1") \
		>/dev/null 2>&1 &
	PERF_PID=$!
}

# Ends the perf run above (wait: for its window; stop: interrupt it now) and
# prints "SYSCALLS CONTEXT_SWITCHES"; prints nothing without one.
bench_perf_counts() { # wait|stop
	[ -n "${PERF_PID:-}" ] || return 0
	[ "$1" != stop ] || kill -INT "$PERF_PID" 2>/dev/null || true
	wait "$PERF_PID" 2>/dev/null || true
	PERF_PID=
	[ -s "$TMP/perf.csv" ] || return 0
	awk -F, '$3 == "raw_syscalls:sys_enter" { sc = $1 } $3 == "context-switches" { cs = $1 }
		END { print sc + 0, cs + 0 }' "$TMP/perf.csv"
}

# The perf run's counts per unit of work as a jq object, or {} without one.
# rate: waits for a window of PERF_WINDOW_S s at RATE units/s, and gives
# syscalls_per_UNIT and ctx_switches_per_UNIT. fanout: stops perf now and
# gives them per delivery and per published message.
bench_perf_json() { # rate UNIT RATE | fanout DELIVERIES PUBLISHED
	local counts
	counts=$(bench_perf_counts "$([ "$1" = rate ] && echo wait || echo stop)")
	[ -n "$counts" ] || {
		echo '{}'
		return 0
	}
	if [ "$1" = rate ]; then
		awk -v c="$counts" -v u="$2" -v rate="$3" -v w="$PERF_WINDOW_S" 'BEGIN { split(c, n, " ")
			r = rate * w; if (r < 1) r = 1
			printf "{\"syscalls_per_%s\":%.3f,\"ctx_switches_per_%s\":%.4f}\n", u, n[1] / r, u, n[2] / r }'
	else
		awk -v c="$counts" -v d="$2" -v m="$3" 'BEGIN { split(c, n, " "); sc = n[1]; cs = n[2]
			if (d < 1) d = 1; if (m < 1) m = 1
			printf "{\"perf_syscalls\":%d,\"syscalls_per_delivery\":%.4f,\"syscalls_per_msg\":%.2f,\"ctx_switches_per_msg\":%.3f}\n", sc, sc / d, sc / m, cs / m }'
	fi
}

# EXIT trap: stop perf and the server, remove $TMP, keep the exit status.
bench_cleanup() {
	local rc=$?
	[ -z "${PERF_PID:-}" ] || kill -INT "$PERF_PID" 2>/dev/null || true
	bench_stop_server
	rm -rf "$TMP"
	exit $rc
}

# Die unless every TOOL is on PATH; HINT is the apt-get line to suggest.
bench_need_tools() { # HINT TOOL...
	local hint=$1 tool
	shift
	for tool in "$@"; do
		command -v "$tool" >/dev/null || bench_die "$tool is not installed (apt-get install $hint)"
	done
}

# Set CRIER_BIN (default build/crier, built if missing) and check it runs
# and has the bench command. Every script needs it: `crier bench` is the
# load generator, whichever servers are measured.
bench_need_crier() {
	if [ -z "${CRIER_BIN:-}" ]; then
		CRIER_BIN=$ROOT/build/crier
		[ -x "$CRIER_BIN" ] || (cd "$ROOT" && make build >&2) || bench_die "make build failed"
	fi
	[ -x "$CRIER_BIN" ] || bench_die "CRIER_BIN=$CRIER_BIN is not executable"
	"$CRIER_BIN" help bench >/dev/null 2>&1 ||
		bench_die "$CRIER_BIN has no 'bench' command (rebuild it: make build)"
}

# Die unless the nchan module is at $NCHAN_SO.
bench_need_nchan() {
	[ -f "$NCHAN_SO" ] ||
		bench_die "nchan module not found at $NCHAN_SO (apt-get install libnginx-mod-nchan, or set NCHAN_SO)"
}

# Build bench/NAME.c into $RESULTS_DIR/NAME (extra cc flags after NAME): the
# reference servers that are not crier (bench/ceiling.c).
bench_build() { # NAME [CC_FLAG...]
	local name=$1
	shift
	cc -O2 -std=c11 "$@" -Wall -Wextra -Werror -o "$RESULTS_DIR/$name" "$ROOT/bench/$name.c" ||
		bench_die "building bench/$name.c failed"
}

# True when nothing listens on PORT (never benchmark someone else's server).
bench_port_free() { ! ss -Htln "sport = :$1" | grep -q .; }

# Wait up to 10 s for GET /healthz = ok on PORT from $SERVER_PID; else die
# with the tail of LOGFILE.
bench_wait_ready() { # PORT NAME LOGFILE
	for _ in $(seq 100); do
		kill -0 "$SERVER_PID" 2>/dev/null || {
			tail -n 20 "$3" >&2 || true
			bench_die "$2 exited during start-up (log above)"
		}
		if [ "$(curl -s -m 1 "http://127.0.0.1:$1/healthz" || true)" = "ok" ]; then
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$3" >&2 || true
	bench_die "$2 did not answer GET /healthz with ok within 10 s"
}

# Start crier on $CRIER_PORT (CPUSET empty: unpinned) with FLAGS and
# $CRIER_FLAGS, stderr to $TMP/crier.log, and wait until it answers.
bench_start_crier() { # WORKERS CPUSET [FLAG...]
	local workers=$1 pin=() extra=()
	[ -n "$2" ] && pin=(taskset -c "$2")
	shift 2
	bench_port_free "$CRIER_PORT" || bench_die "port $CRIER_PORT is in use (set CRIER_PORT)"
	read -ra extra <<<"$CRIER_FLAGS" # several flags, split on blanks
	"${pin[@]}" "$CRIER_BIN" serve --listen "127.0.0.1:$CRIER_PORT" --workers "$workers" \
		--max-connections "$MAX_CONNS" "$@" "${extra[@]}" 2>"$TMP/crier.log" &
	SERVER_PID=$!
	bench_wait_ready "$CRIER_PORT" crier "$TMP/crier.log"
	SERVER_PORT=$CRIER_PORT
}

# Start bench/ceiling.c (built into $CEILING by bench_build ceiling; one
# thread) on $CEILING_PORT and wait until it answers.
bench_start_ceiling() { # CPUSET(or empty)
	local pin=()
	[ -n "$1" ] && pin=(taskset -c "$1")
	bench_port_free "$CEILING_PORT" || bench_die "port $CEILING_PORT is in use (set CEILING_PORT)"
	"${pin[@]}" "$CEILING" --listen "127.0.0.1:$CEILING_PORT" 2>"$TMP/ceiling.log" &
	SERVER_PID=$!
	bench_wait_ready "$CEILING_PORT" ceiling "$TMP/ceiling.log"
	SERVER_PORT=$CEILING_PORT
}

# Start a redis-server on loopback, without persistence, with FLAG... (its
# port flags); its pid in REDIS_PID. Waits until the script's `rcli ping`
# answers.
bench_start_redis() { # FLAG...
	redis-server "$@" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
		>"$TMP/redis.log" 2>&1 &
	REDIS_PID=$!
	for _ in $(seq 1 100); do
		rcli ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.05
	done
	bench_die "redis-server did not start: $(tail -3 "$TMP/redis.log")"
}

# Start the Node `ws` echo server (bench/node_echo.mjs, one process) on
# $NODE_PORT and wait until it answers.
bench_start_node() { # CPUSET(or empty)
	local pin=()
	[ -n "$1" ] && pin=(taskset -c "$1")
	bench_port_free "$NODE_PORT" || bench_die "port $NODE_PORT is in use (set NODE_PORT)"
	"${pin[@]}" node "$ROOT/bench/node_echo.mjs" "$NODE_PORT" 2>"$TMP/node.log" &
	SERVER_PID=$!
	bench_wait_ready "$NODE_PORT" node-ws "$TMP/node.log"
	SERVER_PORT=$NODE_PORT
}

# Install bench/node_modules (the `ws` package for bench_start_node) unless
# it, or the end-to-end tests' copy, is there.
bench_need_node_ws() {
	[ -f "$ROOT/bench/node_modules/ws/package.json" ] ||
		[ -f "$ROOT/tests/e2e/node_modules/ws/package.json" ] ||
		(cd "$ROOT/bench" && npm ci --no-audit --no-fund >&2) || bench_die "npm ci in bench/ failed"
}

# The nginx+nchan peer's config fragments for bench_start_nginx: the module
# at $NCHAN_SO and the committed config in bench/peers/nchan/ (routes
# /pub/{ch}, /sub/{ch}, /echo and /idle, as crier serves them).
bench_nchan_config() {
	NGINX_MAIN="load_module $NCHAN_SO;"
	NGINX_HTTP=$(cat "$ROOT/bench/peers/nchan/http.conf") || bench_die "bench/peers/nchan/http.conf is missing"
	NGINX_SERVER=$(cat "$ROOT/bench/peers/nchan/server.conf") || bench_die "bench/peers/nchan/server.conf is missing"
}

# NGINX_WORKER_CONNS (default MAX_CONNS) sets worker_connections, which
# counts nginx's connection structures, not descriptors: nchan takes more
# than one per subscriber, and with too few nginx "reuses" (closes) live
# connections, publishers included.
# Start nginx on $NGINX_PORT with everything under a fresh $TMP/nginx: a
# config with GET /healthz plus the script's NGINX_MAIN (main context),
# NGINX_EVENTS, NGINX_HTTP and NGINX_SERVER fragments; wait until it answers.
bench_start_nginx() { # WORKERS CPUSET(or empty)
	local pin=() d=$TMP/nginx user_line=
	[ -n "$2" ] && pin=(taskset -c "$2")
	bench_port_free "$NGINX_PORT" || bench_die "port $NGINX_PORT is in use (set NGINX_PORT)"
	rm -rf "$d"
	mkdir -p "$d/logs" "$d/tmp"
	# As root, keep the workers' user root so they can use the temp prefix.
	[ "$(id -u)" = 0 ] && user_line="user root root;"
	cat >"$d/nginx.conf" <<EOF
${NGINX_MAIN:-}
$user_line
worker_processes $1;
worker_rlimit_nofile $((MAX_CONNS + 1000));
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events {
    worker_connections ${NGINX_WORKER_CONNS:-$MAX_CONNS};
    ${NGINX_EVENTS:-}
}
http {
    access_log off;
    ${NGINX_HTTP:-}
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
        ${NGINX_SERVER:-}
    }
}
EOF
	"${pin[@]}" nginx -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" 2>"$d/logs/stderr.log" &
	SERVER_PID=$!
	bench_wait_ready "$NGINX_PORT" nginx "$d/logs/error.log"
	SERVER_PORT=$NGINX_PORT
}

# Sum of user+system CPU of a process tree (utime+stime, in clock ticks).
bench_tree_cpu_ticks() { # PID
	local pids
	pids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
	for p in $1 $pids; do
		awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || true
	done | awk '{ s += $1 } END { print s + 0 }'
}

# Busy ticks (user+nice+system+irq+softirq) and all ticks of one /proc/stat
# line: "cpu" (all CPUs) or "cpu0", ...
bench_cpu_ticks() { awk -v c="$1" '$1 == c { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }

# Busy share (0..1, %.2f) between two bench_cpu_ticks samples.
bench_busy_share() { # BEFORE AFTER
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
		printf "%.2f", (y[2] > x[2] ? (y[1] - x[1]) / (y[2] - x[2]) : 0) }'
}

# Share of all CPUs busy over one second, from /proc/stat (0..1).
bench_busy_cpu() {
	local a b
	a=$(bench_cpu_ticks cpu)
	sleep 1
	b=$(bench_cpu_ticks cpu)
	bench_busy_share "$a" "$b"
}

# Log a warning when BUSY (from bench_busy_cpu) is above 0.1; TAIL ends it.
bench_warn_busy() { # BUSY [TAIL]
	if awk -v b="$1" 'BEGIN { exit !(b > 0.1) }'; then
		bench_log "warning: $(awk -v b="$1" 'BEGIN { printf "%d", b * 100 }') % of the CPUs were busy before the run started: ${2:-something else is running, throughput and tail latency from this run are noise}"
	fi
}

# The CPU model name, from /proc/cpuinfo.
bench_cpu_model() { awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo; }

# The 1, 5 and 15 minute load averages.
bench_loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# The "machine" JSON object: stamp, nproc, cpu, kernel, loadavg, then each
# FACT in order (busy nofile crier commit nginx nchan node wrk, or a JSON
# object to merge as is). busy reads $BUSY.
bench_machine_json() { # FACT...
	local obj fact v
	obj=$(jq -cn --arg stamp "$STAMP" --argjson nproc "$(nproc)" --arg cpu "$(bench_cpu_model)" \
		--arg kernel "$(uname -r)" --arg load "$(bench_loadavg)" \
		'{bench:"machine", stamp:$stamp, nproc:$nproc, cpu:$cpu, kernel:$kernel, loadavg:$load}')
	for fact in "$@"; do
		case $fact in
		busy) obj=$(jq -c --argjson v "$BUSY" '. + {busy_cpu_before:$v}' <<<"$obj") ;;
		nofile) obj=$(jq -c --argjson v "$(ulimit -Hn)" '. + {nofile_hard:$v}' <<<"$obj") ;;
		crier)
			v=none
			[ -n "${CRIER_BIN:-}" ] && v=$("$CRIER_BIN" version 2>/dev/null | head -n1 || true)
			obj=$(jq -c --arg v "$v" '. + {crier:$v}' <<<"$obj")
			;;
		commit)
			v=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
			obj=$(jq -c --arg v "$v" '. + {commit:$v}' <<<"$obj")
			;;
		nginx)
			v=$(nginx -v 2>&1 | sed 's/^nginx version: //')
			obj=$(jq -c --arg v "$v" '. + {nginx:$v}' <<<"$obj")
			;;
		nchan)
			v=$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo unknown)
			obj=$(jq -c --arg v "$v" '. + {nchan:$v}' <<<"$obj")
			;;
		node) obj=$(jq -c --arg v "$(node --version 2>/dev/null || echo none)" '. + {node:$v}' <<<"$obj") ;;
		wrk)
			v=$( (wrk -v 2>&1 || true) | awk 'NR == 1 { print $2 }')
			obj=$(jq -c --arg v "$v" '. + {wrk:$v}' <<<"$obj")
			;;
		*) obj=$(jq -c --argjson v "$fact" '. + $v' <<<"$obj") ;;
		esac
	done
	printf '%s\n' "$obj"
}
