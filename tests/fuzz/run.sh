#!/bin/sh
# Bounded libFuzzer runs of every fuzz target (tests/fuzz/fuzz_*.c): a clang build with
# -Dfuzzing=true under AddressSanitizer + UBSan in its own build directory, then each target
# for ENPU_FUZZ_SECONDS (default 8) from its seed corpus and regression inputs, two targets
# at a time (ENPU_FUZZ_JOBS). What a run finds is kept in OUTDIR/findings/ and fails the
# script: minimise it (the message says how), fix the code, and add the minimised input to
# tests/fuzz/regressions/<target>/, which the normal test suite then replays.
# usage: tests/fuzz/run.sh [OUTDIR]   (default build-fuzz; relative to the checkout)
# Needs: clang and its fuzzer runtime (Debian: clang libclang-rt-14-dev; tools/install-deps.sh
# installs them). Exits 77 (skip) when they are missing.
set -eu
cd "$(dirname "$0")/../.."
out=${1:-build-fuzz}
seconds=${ENPU_FUZZ_SECONDS:-8}
jobs=${ENPU_FUZZ_JOBS:-2}
targets="gguf model_load tokenizer bpe npu_validate profile genl"

if ! command -v clang >/dev/null; then
	echo "SKIP: clang is not installed (tools/install-deps.sh)" >&2
	exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; return (int)n * 0; }\n' \
	>"$probe/probe.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2>/dev/null
then
	echo "SKIP: clang cannot link libFuzzer (Debian: apt-get install libclang-rt-14-dev)" >&2
	exit 77
fi

if [ ! -f "$out/build.ninja" ]; then
	CC=clang meson setup "$out" -Dfuzzing=true -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null
fi
# only the targets (and what they link): the rest of the tree has its own builds
exes=""
for t in $targets; do
	exes="$exes tests/fuzz/fuzz_$t"
done
# shellcheck disable=SC2086
ninja -C "$out" $exes >/dev/null

# a UBSan report is a finding like a crash; leaks are checked at the end of each input
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p "$out/findings" "$out/logs"

# Runs one target; its log goes to $out/logs/<target>.log, a summary line to stdout.
fuzz_one() {
	t=$1
	work="$out/corpus/$t" # what this run adds to the seeds stays out of the tree
	mkdir -p "$work"
	set -- "$work" "tests/fuzz/corpus/$t"
	[ -d "tests/fuzz/regressions/$t" ] && set -- "$@" "tests/fuzz/regressions/$t"
	if "$out/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/findings/$t-" "$@" \
		>"$out/logs/$t.log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/logs/$t.log")
		echo "fuzz $t: ok, $execs executions in ${seconds}s"
	else
		echo "fuzz $t: FAILED (log: $out/logs/$t.log); findings:" \
			"$(ls "$out/findings" | grep "^$t-" | tr '\n' ' ')"
		echo "  minimise: $out/tests/fuzz/fuzz_$t -minimize_crash=1 -max_total_time=60" \
			"-exact_artifact_path=tests/fuzz/regressions/$t/NAME FINDING"
		grep -m1 -E 'ERROR: |runtime error|fuzz invariant|Timeout|leak' "$out/logs/$t.log" |
			sed 's/^/  /'
		return 1
	fi
}

rm -f "$out/findings/"* "$out/failed"
start=$(date +%s)
# two at a time: each libFuzzer process is single-threaded
running=0
for t in $targets; do
	{ fuzz_one "$t" || touch "$out/failed"; } &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait
echo "fuzz: $(($(date +%s) - start))s for $(echo $targets | wc -w) targets, $seconds s each"
[ ! -e "$out/failed" ]
