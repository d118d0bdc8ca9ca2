#!/bin/sh
# The fast CPU backend's op tests (tests/test_cpu_fast.c, without its whole-model cases) built
# for Arm64 with Debian's cross compiler and run under qemu-user: every op of the "neon"
# (Advanced SIMD + dotprod) and "scalar" kernels against the reference backend, on 1 and 3
# threads. The HAL alone is built (no libdrm, OpenCL or driver), so only Check is needed for
# arm64.
# usage: tests/cross/aarch64.sh [OUTDIR]   (default build-aarch64; relative to the checkout)
# Needs: gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static check:arm64
# (tools/install-deps.sh --cross installs them). Exits 77 (skip) when they are missing.
set -eu
cd "$(dirname "$0")/../.."
out=${1:-build-aarch64}
cc=aarch64-linux-gnu-gcc
qemu=qemu-aarch64-static
libdir=/usr/lib/aarch64-linux-gnu

for tool in "$cc" "$qemu"; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is not installed (tools/install-deps.sh --cross)" >&2
		exit 77
	fi
done
if [ ! -f "$libdir/libcheck.a" ]; then
	echo "SKIP: Check for arm64 ($libdir/libcheck.a) is not installed" >&2
	exit 77
fi

mkdir -p "$out"
# the project's flags (meson.build: gnu11, _GNU_SOURCE, warning_level 2, werror in CI)
cflags="-std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -pthread"
cflags="$cflags -I. -Ihal/cpu -Idriver/include"
# testutil.c wants the vocabulary's path; the op tests never read it
vocab="$PWD/../shared/vocab/ggml-vocab-llama-spm.gguf"
objs=""
for src in hal/hal.c hal/quant.c hal/fence.c hal/devfreq.c hal/files.c hal/cpu/cpu_fast.c \
	hal/cpu/cpu_ref.c hal/cpu/threadpool.c hal/cpu/kernels_scalar.c hal/cpu/ext_scalar.c \
	tests/test_cpu_fast.c tests/testutil.c; do
	obj="$out/$(echo "$src" | tr / _).o"
	# shellcheck disable=SC2086
	$cc $cflags -DENPU_HAVE_NEON -DENPU_CPU_OPS_ONLY "-DENPU_SOURCE_ROOT=\"$PWD\"" \
		"-DENPU_VOCAB_PATH=\"$vocab\"" -c "$src" -o "$obj"
	objs="$objs $obj"
done
# shellcheck disable=SC2086
$cc $cflags -march=armv8.2-a+dotprod -c hal/cpu/kernels_neon.c -o "$out/kernels_neon.o"
# static: Debian 12's qemu-user (7.2) hangs in a dynamically linked program's first
# pthread_create, a statically linked one runs
# shellcheck disable=SC2086
$cc -static -pthread -o "$out/test_cpu_fast" $objs "$out/kernels_neon.o" \
	"$libdir/libcheck.a" "$libdir/libsubunit.a" -lm -lrt

echo "== test_cpu_fast (ops) on aarch64 under $qemu (neon and scalar kernels)"
# qemu's default CPU model ("max") has dotprod
ENPU_EXPECT_ISA=neon "$qemu" "$out/test_cpu_fast"
