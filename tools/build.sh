#!/bin/sh
# Installs what is missing, then configures (first time) and compiles edge-npu into build/.
# ninja shows its progress ([done/total] and each step: one updating line on a terminal).
set -eu
cd "$(dirname "$0")/.."
start=$(date +%s)
tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
	echo "build.sh: configuring build/ (meson setup)" >&2
	meson setup build >/dev/null
fi
echo "build.sh: compiling (about 70 s on 2 cores the first time)" >&2
meson compile -C build
echo "built in $(($(date +%s) - start)) s: build/tools/npu-run, build/tools/npu-mkmodel," \
	"build/driver/libedge-npu.so; man pages in build/doc/" >&2
