#!/bin/sh
# run.sh SECONDS - runs every libFuzzer target built in build-fuzz/ for
# SECONDS each, with its dictionary and a scratch copy of its seed corpus
# (target fuzz_<stem> uses tests/fuzz/<stem>.dict and corpus/<stem>/), so
# the corpus in the repository is never modified. Prints one line per
# target and a final "fuzz: N passed, M failed"; exits non-zero when any
# target crashed, and leaves the crash input and log in the scratch dir.
#
# Build the targets first:
#   CC=clang cmake -S . -B build-fuzz -DCRIER_FUZZ=ON && cmake --build build-fuzz
set -u

secs=${1:-}
case $secs in
'' | *[!0-9]*)
	echo "usage: $0 SECONDS" >&2
	exit 2
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bindir=${CRIER_FUZZ_BUILD:-$root/build-fuzz}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/crier-fuzz.XXXXXX")
passed=0
failed=0

for bin in "$bindir"/fuzz_*; do
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		continue
	fi
	name=$(basename "$bin")
	stem=${name#fuzz_}
	work="$scratch/$stem"
	mkdir -p "$work/corpus" "$work/crash"
	if [ -d "$here/corpus/$stem" ]; then
		cp "$here/corpus/$stem"/* "$work/corpus/" 2>/dev/null
	fi
	dict=""
	[ -f "$here/$stem.dict" ] && dict="-dict=$here/$stem.dict"
	log="$work/log"
	# shellcheck disable=SC2086 # $dict is empty or a single word
	"$bin" -max_total_time="$secs" -print_final_stats=0 $dict \
		-artifact_prefix="$work/crash/" "$work/corpus" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "$name: ok, ${runs:-?} runs in ${secs}s, corpus $(find "$work/corpus" -type f | wc -l)"
	else
		failed=$((failed + 1))
		echo "$name: FAILED (exit $rc), log $log, inputs in $work/crash/"
		grep -m 5 -E 'ERROR|invariant|SUMMARY' "$log" | sed 's/^/    /'
	fi
done

if [ $((passed + failed)) -eq 0 ]; then
	echo "fuzz: no targets in $bindir (build with -DCRIER_FUZZ=ON)" >&2
	exit 1
fi
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ] && rm -rf "$scratch"
[ $failed -eq 0 ]
