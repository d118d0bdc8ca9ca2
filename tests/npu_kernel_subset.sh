#!/bin/sh
# SPDX-License-Identifier: MIT
#
# npu_kernel_subset.sh - proves that the simulated silicon (kmod/silicon/*.c: the engine, the
# device model and the MMU) stays inside the C subset the Linux kernel accepts, by building it the way a kernel build would: no system headers (-nostdinc,
# only the typedef stubs in tests/kernel-stub/linux/), no floating-point registers
# (-mgeneral-regs-only), no VLAs, no builtins, bounded stack frames, -D__KERNEL__. Then:
#   - the objects may call nothing but memcpy, memset and div64_u64 (and each other);
#   - the call graph has no cycle (no recursion);
#   - negative controls: a float, a libc include and a VLA each fail the same build, so this
#     check can fail.
# Usage: npu_kernel_subset.sh [source-root]   (default: the parent of this script's directory)
# Exit status 0 on success; the reason on stderr otherwise.
set -eu

ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
CC=${CC:-gcc}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

FLAGS="-std=gnu11 -O2 -Wall -Wextra -Werror -Wvla -Werror=vla -Wframe-larger-than=1024
 -Wdeclaration-after-statement -Wmissing-prototypes -Wstrict-prototypes -Wshadow
 -Werror=double-promotion -mgeneral-regs-only -fno-builtin -ffreestanding -nostdinc
 -fno-common -D__KERNEL__ -isystem $ROOT/tests/kernel-stub"

fail() {
	echo "npu_kernel_subset: $*" >&2
	exit 1
}

SILICON="npu_engine npu_device npu_mmu npu_thermal"
for f in $SILICON; do
	# shellcheck disable=SC2086
	$CC $FLAGS -fcallgraph-info -c "$ROOT/kmod/silicon/$f.c" -o "$TMP/$f.o" \
		-dumpdir "$TMP/" 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "$f.c does not build"; }
done
# the device model calls the engine (and its host through a table): link them as one object
ld -r -o "$TMP/silicon.o" "$TMP/npu_engine.o" "$TMP/npu_device.o" "$TMP/npu_mmu.o" \
	"$TMP/npu_thermal.o"
undef=$(nm -u "$TMP/silicon.o" | awk '{print $2}' | grep -v -x -e memcpy -e memset \
	-e div64_u64 || true)
[ -z "$undef" ] || fail "silicon uses symbols outside the kernel subset: $undef"

# Prints a function on a call-graph cycle of the gcc -fcallgraph-info file $1, if any.
find_cycle() {
	awk -F'"' '/^edge:/ { print $2, $4 }' "$1" | awk '
	{ out[$1] = out[$1] " " $2; nodes[$1] = 1; nodes[$2] = 1 }
	function visit(n,    i, k, succ) {
		if (state[n] == 1) { found = n; return }
		if (state[n] == 2) return
		state[n] = 1
		k = split(out[n], succ, " ")
		for (i = 1; i <= k && !found; i++) visit(succ[i])
		state[n] = 2
	}
	END { for (m in nodes) if (!found) visit(m); print found }'
}

# one call graph for both files (calls through the platform table are not edges: the host's)
cat "$TMP/npu_engine.ci" "$TMP/npu_device.ci" "$TMP/npu_mmu.ci" "$TMP/npu_thermal.ci" \
	>"$TMP/silicon.ci"
ci="$TMP/silicon.ci"
[ -s "$ci" ] || fail "no call graph produced"
grep -q '^edge:' "$ci" || fail "empty call graph"
cycle=$(find_cycle "$ci")
[ -z "$cycle" ] || fail "recursion through $cycle"

# Negative controls: each must be refused by the same flags, for the reason named (so that a
# control failing on, say, a missing prototype does not hide a blind check).
control() {
	printf '%s\n' "$2" >"$TMP/ctl.c"
	# shellcheck disable=SC2086
	if $CC $FLAGS -c "$TMP/ctl.c" -o "$TMP/ctl.o" 2>"$TMP/ctl.err"; then
		fail "negative control '$1' compiled: the check is blind"
	fi
	grep -q -i -E "$3" "$TMP/ctl.err" ||
		fail "negative control '$1' failed for another reason: $(cat "$TMP/ctl.err")"
}
control float '#include <linux/types.h>
u32 f(u32 x);
u32 f(u32 x) { float y = (float)x * 0.5f; return (u32)y; }' 'general-regs-only|SSE'
control libc '#include <stdio.h>
int f(void);
int f(void) { return 0; }' 'stdio.h'
control vla '#include <linux/types.h>
u32 f(u32 n);
u32 f(u32 n) { u8 a[n]; a[0] = 1; return a[0]; }' 'variable length array'
control bigframe '#include <linux/types.h>
#include <linux/string.h>
u32 f(u32 n);
u32 f(u32 n) { u8 a[4096]; memset(a, 1, sizeof(a)); return a[n & 4095]; }' 'frame size'
printf 'int g(int);\nint f(int x) { return x ? g(x - 1) : 0; }\nint g(int x) { return f(x); }\n' \
	>"$TMP/rec.c"
$CC -O0 -fcallgraph-info -c "$TMP/rec.c" -o "$TMP/rec.o" -dumpdir "$TMP/"
[ -n "$(find_cycle "$TMP/rec.ci")" ] ||
	fail "negative control 'recursion' not detected: the check is blind"

echo "npu_kernel_subset: ok (kmod/silicon/{npu_engine,npu_device,npu_mmu,npu_thermal}.c are kernel C: no float, libc, VLA, recursion)"
