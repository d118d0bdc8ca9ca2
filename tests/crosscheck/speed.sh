#!/bin/sh
# Speed against llama.cpp on this machine: npu-bench e2e and llama.cpp (node-llama-cpp's
# prebuilt CPU build) on the same GGUF, the same prefill and decode lengths and threads, one
# after the other. Not part of CI (it needs the npm registry).
# usage: tests/crosscheck/speed.sh MODEL.gguf...   Environment: BUILD (default build),
# THREADS (default 2), PROMPT (128), GEN (64), REPS (5).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build}
work=${XDG_CACHE_HOME:-$HOME/.cache}/edge-npu/crosscheck
threads=${THREADS:-2} prompt=${PROMPT:-128} gen=${GEN:-64} reps=${REPS:-5}
mkdir -p "$work"

if [ ! -d "$work/node_modules/node-llama-cpp" ]; then
	echo "installing node-llama-cpp (prebuilt llama.cpp) into $work" >&2
	cp "$here/package.json" "$work/"
	(cd "$work" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund >&2)
fi
cp "$here/llama_speed.mjs" "$work/"
for model in "$@"; do
	echo "== $model"
	"$build/tools/npu-bench" e2e -m "$model" --threads "$threads" --prompt-tokens "$prompt" \
		--gen-tokens "$gen" --reps "$reps" | sed 's/^/edge-npu:  /'
	(cd "$work" && node llama_speed.mjs "$model" "$threads" "$prompt" "$gen" "$reps")
done
