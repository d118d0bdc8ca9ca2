#!/bin/sh
# Cross-checks edge-npu against llama.cpp on GGUF models: same token ids, same greedy
# continuation, logit differences. llama.cpp is a source tree built with CMake when LLAMA_DIR
# names one (its build/bin/libllama.so, through llama_ref_dump.c), else node-llama-cpp's
# prebuilt CPU binaries from the npm registry. Not part of CI (it needs either).
# usage: tests/crosscheck/run.sh MODEL.gguf...
# Environment: BUILD (default build), ENPU_DEVICE (default cpu-ref), STEPS (default 32),
# LLAMA_DIR (a llama.cpp tree with build/bin/libllama.so; default: node-llama-cpp).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build}
work=${XDG_CACHE_HOME:-$HOME/.cache}/edge-npu/crosscheck
steps=${STEPS:-32}
mkdir -p "$work"

if [ -n "${LLAMA_DIR:-}" ]; then
	cc -std=c11 -O2 -o "$work/llama_ref_dump" "$here/llama_ref_dump.c" -I"$LLAMA_DIR/include" \
		-I"$LLAMA_DIR/ggml/include" -L"$LLAMA_DIR/build/bin" -lllama -lggml -lggml-base \
		-Wl,-rpath,"$LLAMA_DIR/build/bin" -lm
elif [ ! -d "$work/node_modules/node-llama-cpp" ]; then
	echo "installing node-llama-cpp (prebuilt llama.cpp) into $work" >&2
	cp "$here/package.json" "$work/"
	(cd "$work" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund >&2)
fi
cp "$here/llama_dump.mjs" "$here/compare.mjs" "$work/"
cc -std=c11 -O2 -o "$work/enpu_dump" "$here/enpu_dump.c" -I"$root/driver/include" \
	-L"$build/driver" -ledge-npu -Wl,-rpath,"$build/driver" -lm

status=0
for model in "$@"; do
	name=$(basename "$model" .gguf)
	set -- "Once upon a time" "Hello world" " The quick brown fox" "Le château de ma mère" \
		"3333 apples 🦙"
	"$work/enpu_dump" "$model" "$steps" "$@" >"$work/$name.enpu.jsonl"
	if [ -n "${LLAMA_DIR:-}" ]; then
		"$work/llama_ref_dump" "$model" "$steps" "$@" >"$work/$name.llama.jsonl"
	else
		(cd "$work" && node llama_dump.mjs "$model" "$steps" F32 "$@") >"$work/$name.llama.jsonl"
	fi
	echo "== $model (edge-npu ${ENPU_DEVICE:-cpu-ref} vs llama.cpp, F32 KV cache)"
	(cd "$work" && node compare.mjs "$name.enpu.jsonl" "$name.llama.jsonl") || status=1
done
exit $status
