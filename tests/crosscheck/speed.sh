#!/bin/sh
# Speed against llama.cpp on this machine: `npu-bench e2e` and llama.cpp's own `llama-bench`
# (its defaults: F16 KV cache) on the same GGUF file, the same prompt and generation lengths
# and threads, in interleaved rounds (edge-npu, llama.cpp, edge-npu, ...) so that both face
# the same drift of a shared host. Prints each round, then per model the range over the rounds
# of both tools' prefill and decode tokens/s and of their ratios (edge-npu / llama.cpp, each
# ratio within one round). Not part of CI (llama-bench is built from the npm registry).
#
# usage: tests/crosscheck/speed.sh [--llama-bench PATH] MODEL.gguf...
# llama-bench: --llama-bench PATH or LLAMA_BENCH; build it once with build-llama-bench.sh
# (which prints its path). Environment: BUILD (default build), THREADS (2), PROMPT (128),
# GEN (64), DEPTH (0: both tools' tests from an empty cache; N: from N tokens, npu-bench's
# --depth and llama-bench's -d), REPS (5: repetitions inside each tool's run, of which both report the mean),
# ROUNDS (3), LLAMA_ARGS (more llama-bench options, e.g. "--poll 0":
# its threads then sleep instead of spinning while they wait, which a host shared with other
# work needs), and ENPU_CPU_ISA etc. reach npu-bench unchanged.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build}
threads=${THREADS:-2} prompt=${PROMPT:-128} gen=${GEN:-64} reps=${REPS:-5} rounds=${ROUNDS:-3}
depth=${DEPTH:-0}
lb=${LLAMA_BENCH:-}
if [ "${1:-}" = "--llama-bench" ]; then
	lb=${2:?--llama-bench needs a path}
	shift 2
fi
if [ $# -eq 0 ] || [ -z "$lb" ] || [ ! -x "$lb" ]; then
	echo "usage: LLAMA_BENCH=PATH $0 MODEL.gguf...  (or --llama-bench PATH)" >&2
	echo "llama-bench: build it with $here/build-llama-bench.sh [DIR]" >&2
	exit 2
fi
[ -x "$build/tools/npu-bench" ] || { echo "speed.sh: no $build/tools/npu-bench" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# npu-bench e2e's mean tokens/s of prefill and decode (its CSV rows ppN and tgN, by column
# name), as llama-bench's mean: "PP TG".
enpu_run() {
	"$build/tools/npu-bench" e2e -m "$1" --threads "$threads" --prompt-tokens "$prompt" \
		--gen-tokens "$gen" --depth "$depth" --reps "$reps" -o csv >"$out/enpu.csv" 2>"$out/enpu.err" ||
		{ cat "$out/enpu.err" >&2; return 1; }
	awk -F, '/^model,/ { for (i = 1; i <= NF; i++) col[$i] = i; next }
	     !("test" in col) { next }
	     $col["test"] ~ /^pp/ { pp = $col["tps_mean"] }
	     $col["test"] ~ /^tg/ { tg = $col["tps_mean"] }
	     END { if (pp == "" || tg == "") exit 1; print pp, tg }' "$out/enpu.csv"
}
# llama-bench's mean tokens/s of its pp and tg tests: "PP TG" (its CSV quotes every field but
# the header's).
llama_run() {
	# shellcheck disable=SC2086 # LLAMA_ARGS: words to pass as they are
	"$lb" -m "$1" -t "$threads" -p "$prompt" -n "$gen" -d "$depth" -r "$reps" ${LLAMA_ARGS:-} -o csv \
		>"$out/llama.csv" 2>"$out/llama.err" || { cat "$out/llama.err" >&2; return 1; }
	awk -F'","' 'NR == 1 { n = split($0, h, ","); for (i = 1; i <= n; i++) col[h[i]] = i; next }
	     { gsub(/^"|"$/, "") }
	     $col["n_gen"] == 0 { pp = $col["avg_ts"] }
	     $col["n_prompt"] == 0 { tg = $col["avg_ts"] }
	     END { if (pp == "" || tg == "") exit 1; print pp, tg }' "$out/llama.csv"
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "host: ${cpu:-unknown CPU}, $(nproc) CPUs online; $threads threads, prompt $prompt," \
	"generate $gen, depth $depth, $reps repetitions per run, $rounds interleaved rounds"
echo "edge-npu: $build/tools/npu-bench e2e${ENPU_CPU_ISA:+ (ENPU_CPU_ISA=$ENPU_CPU_ISA)}"
echo "llama.cpp: $lb -t $threads -p $prompt -n $gen -d $depth -r $reps ${LLAMA_ARGS:+$LLAMA_ARGS }(its defaults otherwise)"
: >"$out/all"
for model in "$@"; do
	for r in $(seq 1 "$rounds"); do
		load=$(cut -d' ' -f1-3 /proc/loadavg)
		e=$(enpu_run "$model") || { echo "speed.sh: npu-bench failed on $model" >&2; exit 1; }
		l=$(llama_run "$model") || { echo "speed.sh: llama-bench failed on $model" >&2; exit 1; }
		echo "$model $r $e $l" >>"$out/all"
		echo "$e $l" | awk -v m="$model" -v r="$r" -v load="$load" '{
			printf "%s round %d: prefill %.0f vs %.0f tok/s (%.2fx), decode %.1f vs %.1f tok/s (%.2fx), load average before %s\n",
			       m, r, $1, $3, $1 / $3, $2, $4, $2 / $4, load }'
	done
done
echo
echo "| model | edge-npu prefill | llama.cpp prefill | ratio | edge-npu decode | llama.cpp decode | ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
awk '
function lo(a, b) { return a == "" || b < a ? b : a }
function hi(a, b) { return a == "" || b > a ? b : a }
{
	m = $1
	if (!(m in seen)) { seen[m] = 1; order[n++] = m }
	ep[m, 0] = lo(ep[m, 0], $3); ep[m, 1] = hi(ep[m, 1], $3)
	et[m, 0] = lo(et[m, 0], $4); et[m, 1] = hi(et[m, 1], $4)
	lp[m, 0] = lo(lp[m, 0], $5); lp[m, 1] = hi(lp[m, 1], $5)
	lt[m, 0] = lo(lt[m, 0], $6); lt[m, 1] = hi(lt[m, 1], $6)
	rp[m, 0] = lo(rp[m, 0], $3 / $5); rp[m, 1] = hi(rp[m, 1], $3 / $5)
	rt[m, 0] = lo(rt[m, 0], $4 / $6); rt[m, 1] = hi(rt[m, 1], $4 / $6)
}
END {
	for (i = 0; i < n; i++) {
		m = order[i]
		printf "| %s | %.0f-%.0f tok/s | %.0f-%.0f | %.2f-%.2fx | %.1f-%.1f tok/s | %.1f-%.1f | %.2f-%.2fx |\n",
		       m, ep[m, 0], ep[m, 1], lp[m, 0], lp[m, 1], rp[m, 0], rp[m, 1],
		       et[m, 0], et[m, 1], lt[m, 0], lt[m, 1], rt[m, 0], rt[m, 1]
	}
}' "$out/all"
