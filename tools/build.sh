#!/bin/sh
# Installs what is missing, then configures (first time) and compiles edge-npu into build/.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build >/dev/null
echo "built: build/tools/npu-run, build/tools/npu-mkmodel, build/driver/libedge-npu.so" >&2
