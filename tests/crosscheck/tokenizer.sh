#!/bin/sh
# Cross-checks edge-npu's tokenizers against llama.cpp's, id for id: every vocabulary of
# ../shared/vocab on its own test texts and on N random texts (tok_texts.py: many scripts,
# spaces, digits, marks, emoji), and every byte-level BPE pre-tokenizer rule on those texts
# with each BPE vocabulary (the rule swapped into a copy: the rules, not the vocabularies,
# are what differ). Prints one line per pair with the number of texts whose ids differ.
# Not part of CI: it needs a llama.cpp build (libllama), which build-llama-bench.sh makes.
# usage: tests/crosscheck/tokenizer.sh [N]   (default 3000)
# Environment: BUILD (default build), LLAMA_SRC (default
# ${XDG_CACHE_HOME:-~/.cache}/edge-npu/llama.cpp/src: include/ and build/bin/libllama.so).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build}
llama=${LLAMA_SRC:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-npu/llama.cpp/src}
vocab=$root/../shared/vocab
n=${1:-3000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -f "$llama/build/bin/libllama.so" ]; then
	echo "tokenizer.sh: no libllama.so in $llama/build/bin: run build-llama-bench.sh or set LLAMA_SRC" >&2
	exit 77
fi
cc -std=c11 -O2 -o "$work/tok_llama" "$here/tok_llama.c" -I"$llama/include" \
	-I"$llama/ggml/include" -L"$llama/build/bin" -lllama -Wl,-rpath,"$llama/build/bin"
cc -std=c11 -O2 -o "$work/tok_enpu" "$here/tok_enpu.c" -I"$root" -I"$root/driver" \
	-I"$root/driver/include" "$build/driver/libenpu_driver.a" -lm -lpthread
python3 "$here/tok_texts.py" 1 "$n" >"$work/random.inp"

status=0
# compare VOCAB TEXTS LABEL
compare() {
	"$work/tok_llama" "$1" "$2" >"$work/llama.out"
	"$work/tok_enpu" ids "$1" "$2" >"$work/enpu.out"
	total=$(wc -l <"$work/llama.out")
	differ=$(diff "$work/llama.out" "$work/enpu.out" | grep -c '^<' || true)
	echo "$3: $differ of $total texts differ"
	[ "$differ" -eq 0 ] || status=1
}

for v in "$vocab"/*.gguf; do
	name=$(basename "$v" .gguf)
	[ -f "$v.inp" ] && compare "$v" "$v.inp" "$name, its vectors"
	compare "$v" "$work/random.inp" "$name, $n random texts"
done
for v in "$vocab"/ggml-vocab-gpt-2.gguf "$vocab"/ggml-vocab-gpt-neox.gguf; do
	for pre in default gpt-2 llama-bpe qwen2 qwen35 deepseek-llm deepseek-coder smollm falcon \
		bloom viking dbrx; do
		"$work/tok_enpu" repre "$v" "$work/v.gguf" "$pre"
		compare "$work/v.gguf" "$work/random.inp" "$(basename "$v" .gguf) as $pre, $n random texts"
	done
done
exit $status
