#!/bin/sh
# Builds llama.cpp's own llama-bench outside the tree, for speed.sh. The npm package
# node-llama-cpp (the version package.json pins) carries llama.cpp's source as a git bundle
# (llama/gitRelease.bundle); it is cloned and only the llama-bench target is built, natively
# for this CPU (GGML_NATIVE, as a user building llama.cpp here gets it). Nothing of llama.cpp
# enters this repository. Needs the npm registry, cmake and a C++ compiler; ~10 minutes on 2
# cores.
# usage: tests/crosscheck/build-llama-bench.sh [DIR]   (default
# ${XDG_CACHE_HOME:-~/.cache}/edge-npu/llama.cpp). Environment: JOBS (default 2).
# Prints the path of llama-bench last, for LLAMA_BENCH.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-npu/llama.cpp}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ ! -f "$dir/node_modules/node-llama-cpp/llama/gitRelease.bundle" ]; then
	echo "build-llama-bench: installing node-llama-cpp (for its llama.cpp source) into $dir" >&2
	cp "$here/package.json" "$dir/"
	# --ignore-scripts: its postinstall fetches prebuilt binaries, which this needs none of
	(cd "$dir" && npm install --ignore-scripts --no-audit --no-fund >&2)
fi
if [ ! -d "$dir/src/.git" ]; then
	git clone -q "$dir/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$dir/src" 2>&1 |
		grep -v -i 'detached\|advice' >&2 || true
fi
cmake -S "$dir/src" -B "$dir/src/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
	-DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >&2
cmake --build "$dir/src/build" --target llama-bench -j"${JOBS:-2}" >&2
echo "$dir/src/build/bin/llama-bench"
