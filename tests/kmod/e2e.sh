#!/bin/sh
# SPDX-License-Identifier: MIT
#
# e2e.sh - inside the test VM (tests/kmod/init.sh runs it): npu-run on the same model and
# prompt with the NPU in process (--device npu) and through the kernel driver (--device
# npu-drm); the generated text must be identical and the driver must have run the matmuls.
export XDG_RUNTIME_DIR=/tmp
set -- -m /data/model.gguf -p "Once upon a time" -n 16 -t 2 --no-progress
npu-run "$@" --device npu >/tmp/npu.txt 2>/tmp/npu.err || { cat /tmp/npu.err; exit 1; }
npu-run "$@" --device npu-drm >/tmp/drm.txt 2>/tmp/drm.err || { cat /tmp/drm.err; exit 1; }
echo "e2e: npu:     $(cat /tmp/npu.txt)"
echo "e2e: npu-drm: $(cat /tmp/drm.txt)"
grep '^device:' /tmp/drm.err | sed 's/^/e2e: /'
grep -q 'npu-drm *ran [1-9]' /tmp/drm.err || { echo "e2e: FAIL npu-drm ran no op"; exit 1; }
cmp -s /tmp/npu.txt /tmp/drm.txt || { echo "e2e: FAIL outputs differ"; exit 1; }
echo "e2e: identical output"
