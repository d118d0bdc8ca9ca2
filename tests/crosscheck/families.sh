#!/bin/sh
# Writes one small random model of each layout npu-mkmodel knows (llama, Llama-3 and linear
# rope scaling, qwen2, phi3, gemma, gemma2) with the llama SPM vocabulary, and cross-checks
# each against llama.cpp with run.sh. usage: tests/crosscheck/families.sh [TYPE...]
# (weight types, default f32 q8_0). Environment: as run.sh (LLAMA_DIR, BUILD, ENPU_DEVICE,
# STEPS), VOCAB (default ../shared/vocab/ggml-vocab-llama-spm.gguf), OUT (where the models
# go, default a temporary directory).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build}
vocab=${VOCAB:-$root/../shared/vocab/ggml-vocab-llama-spm.gguf}
out=${OUT:-$(mktemp -d)}
[ $# -gt 0 ] || set -- f32 q8_0
shape="--dim 256 --layers 2 --heads 8 --kv-heads 4 --ffn 512"
# the Gemmas: heads of 96 (not dim / heads), GQA 4/2; gemma2 slides a window of 6
gshape="--dim 256 --layers 4 --heads 4 --kv-heads 2 --head-dim 96 --ffn 512"

models=
for t in "$@"; do
	for l in "llama:" "llama3:--rope-scaling llama3" "linear:--rope-scaling linear:4" \
		"qwen2:--arch qwen2" "phi3:--arch phi3" "gemma:--arch gemma" \
		"gemma2:--arch gemma2 --sliding-window 6"; do
		name=${l%%:*}
		opts=${l#*:}
		case $name in gemma*) s=$gshape ;; *) s=$shape ;; esac
		# shellcheck disable=SC2086 # the options are words
		"$build/tools/npu-mkmodel" -o "$out/$name-$t.gguf" -t "$t" $s $opts --vocab "$vocab"
		models="$models $out/$name-$t.gguf"
	done
done
# shellcheck disable=SC2086
exec "$here/run.sh" $models
