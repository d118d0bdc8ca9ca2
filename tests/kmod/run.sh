#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run.sh - the kernel module under QEMU: builds kmod/edge_npu.ko against the installed Debian
# kernel headers (the kernel version is the newest one in /lib/modules with headers and a
# /boot/vmlinuz, never `uname -r`), builds the in-VM test binaries statically, packs an
# initramfs (busybox-static, the module's dependencies from the kernel package, the module, the
# tests), boots that kernel in qemu-system-x86_64 (TCG) and runs tests/kmod/enpu_kmod_test, tests/kmod/enpu_hostile (hostile clients and faults) and,
# when the build has it, an end-to-end npu-run (tests/kmod/init.sh says what runs).
#
# Fails if a test fails, the module does not unload cleanly, or the kernel log has an oops,
# WARN, BUG, lockdep report or leaked BOs. Exits 0 with "SKIP: <reason>" only when the VM
# cannot be run at all on this machine (no qemu, no kernel image or headers).
#
# Usage: tests/kmod/run.sh [build-dir]     (default: build-kmod; or $ENPU_KMOD_BUILD)
#   ENPU_MESON_BUILD=<meson build dir>      where npu-run and npu-mkmodel are built (default:
#                                           <build-dir>/meson, configured and built here)
#   ENPU_KMOD_TIMEOUT=<seconds>             VM time limit (default 300)
#   ENPU_KMOD_RACE_SECS=<seconds>           how long the CTX_DESTROY/SUBMIT race runs (default 10)
#   ENPU_KMOD_LOAD_JOBS=<n>                 jobs per thread of the 8 x 2 load test (default 1000)
# The kernel runs with slub_debug=FZPU (red zones, poisoning, sanity checks: a use-after-free
# or overflow of a slab object is caught), a 30 s hung-task timeout and the soft-lockup
# watchdog; the run fails on any oops, WARN, BUG, soft lockup, hung task or RCU stall.
# The end-to-end step runs, inside the VM, npu-run on a small generated Q8_0 model with
# --device npu (in process) and --device npu-drm (through the module) and requires the same
# text from both.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-${ENPU_KMOD_BUILD:-$ROOT/build-kmod}}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac
VM_TIMEOUT=${ENPU_KMOD_TIMEOUT:-900}
CC=${CC:-gcc}

skip() {
	echo "SKIP: $*"
	exit 0
}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# ---- what this machine has ---------------------------------------------------------------
command -v qemu-system-x86_64 >/dev/null 2>&1 ||
	skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
qemu-system-x86_64 -version >/dev/null 2>&1 || skip "qemu-system-x86_64 does not start"
BUSYBOX=""
for b in /bin/busybox /usr/bin/busybox $(command -v busybox 2>/dev/null || true); do
	# static: no program interpreter
	if [ -x "$b" ] && ! readelf -l "$b" 2>/dev/null | grep -q INTERP; then
		BUSYBOX=$b
		break
	fi
done
[ -n "$BUSYBOX" ] || skip "no static busybox (apt-get install busybox-static)"
KVER=""
for v in $(ls -1 /lib/modules 2>/dev/null | sort -V -r); do
	if [ -e "/lib/modules/$v/build/Makefile" ] && [ -r "/boot/vmlinuz-$v" ]; then
		KVER=$v
		break
	fi
done
[ -n "$KVER" ] ||
	skip "no kernel with headers and image installed (apt-get install linux-headers-amd64 linux-image-amd64)"
KMODS=/lib/modules/$KVER/kernel

mkdir -p "$OUT"
LOG=$OUT/vm.log
echo "kernel $KVER, build dir $OUT"

# ---- the module, built from a copy so that the source tree stays clean ---------------------
SRC=$OUT/src
rm -rf "$SRC"
mkdir -p "$SRC/kmod/silicon" "$SRC/uapi/drm"
cp "$ROOT"/kmod/*.c "$ROOT"/kmod/*.h "$ROOT"/kmod/Kbuild "$SRC/kmod/"
cp "$ROOT"/kmod/silicon/*.c "$ROOT"/kmod/silicon/*.h "$SRC/kmod/silicon/"
cp "$ROOT"/uapi/*.h "$SRC/uapi/"
cp "$ROOT"/uapi/drm/*.h "$SRC/uapi/drm/"
make -s -C "/lib/modules/$KVER/build" M="$SRC/kmod" modules >"$OUT/kbuild.log" 2>&1 ||
	{ cat "$OUT/kbuild.log" >&2; fail "module build failed"; }
if grep -E 'warning:' "$OUT/kbuild.log" | grep -v 'Skipping BTF' >&2; then
	fail "module build has warnings"
fi

# ---- static test binaries ------------------------------------------------------------------
# shellcheck disable=SC2046
$CC -std=gnu11 -O2 -Wall -Wextra -Werror -static -pthread -I"$ROOT" \
	$(pkg-config --static --cflags libdrm) \
	-o "$OUT/enpu_kmod_test" "$ROOT/tests/kmod/enpu_kmod_test.c" \
	"$ROOT/kmod/silicon/npu_engine.c" \
	$(pkg-config --static --libs libdrm) || fail "test program build failed"
# shellcheck disable=SC2046
$CC -std=gnu11 -O2 -Wall -Wextra -Werror -static -pthread -I"$ROOT" \
	$(pkg-config --static --cflags libdrm) \
	-o "$OUT/enpu_hostile" "$ROOT/tests/kmod/enpu_hostile.c" \
	$(pkg-config --static --libs libdrm) || fail "hostile test program build failed"
# the generic-netlink subscriber, through the user-space reader (libnl-genl, static)
# shellcheck disable=SC2046
$CC -std=gnu11 -O2 -Wall -Wextra -Werror -static -I"$ROOT" \
	$(pkg-config --static --cflags libnl-genl-3.0) \
	-o "$OUT/enpu_genl_test" "$ROOT/tests/kmod/enpu_genl_test.c" \
	"$ROOT/hal/npu_drm/npu_drm_genl.c" \
	$(pkg-config --static --libs libnl-genl-3.0) 2>"$OUT/genl-build.log" ||
	{ cat "$OUT/genl-build.log" >&2; fail "genl test program build failed"; }

# ---- initramfs ---------------------------------------------------------------------------
RD=$OUT/initramfs
rm -rf "$RD"
mkdir -p "$RD/bin" "$RD/lib/modules" "$RD/proc" "$RD/sys" "$RD/dev" "$RD/tmp" "$RD/data"
cp "$BUSYBOX" "$RD/bin/busybox"
for app in sh mount umount insmod rmmod lsmod dmesg cat echo sleep poweroff ls grep mkdir \
	cut tr head tail wc cmp test [ uptime sed awk; do
	ln -s busybox "$RD/bin/$app"
done
for m in drivers/gpu/drm/drm drivers/gpu/drm/drm_shmem_helper \
	drivers/gpu/drm/scheduler/gpu-sched drivers/devfreq/governor_simpleondemand; do
	f=$KMODS/$m.ko
	[ -r "$f" ] || fail "missing $f in the kernel package"
	cp "$f" "$RD/lib/modules/"
done
cp "$SRC/kmod/edge_npu.ko" "$RD/lib/modules/"
cp "$OUT/enpu_kmod_test" "$OUT/enpu_genl_test" "$OUT/enpu_hostile" "$RD/bin/"

# ---- end-to-end: npu-run, its shared libraries, a small model ------------------------------
MB=${ENPU_MESON_BUILD:-$OUT/meson}
case $MB in /*) ;; *) MB=$ROOT/$MB ;; esac
if [ ! -f "$MB/build.ninja" ]; then
	meson setup "$MB" "$ROOT" >"$OUT/meson.log" 2>&1 ||
		{ cat "$OUT/meson.log" >&2; fail "meson setup for npu-run failed"; }
fi
ninja -C "$MB" tools/npu-run tools/npu-mkmodel tools/npu-top tools/npu-bench >"$OUT/ninja.log" 2>&1 ||
	{ cat "$OUT/ninja.log" >&2; fail "building npu-run failed"; }
"$MB/tools/npu-mkmodel" -o "$RD/data/model.gguf" --dim 128 --layers 2 --heads 4 --ffn 256 \
	--ctx 128 -t q8_0 >/dev/null || fail "npu-mkmodel failed"
cp "$MB/tools/npu-run" "$MB/tools/npu-top" "$MB/tools/npu-bench" "$RD/bin/"
# the dynamic loader and libraries, at their paths
for lib in $(ldd "$MB/tools/npu-run" "$MB/tools/npu-top" "$MB/tools/npu-bench" |
	awk '/:$/ { next } /=> \// { print $3 } /^[[:space:]]*\// { print $1 }' | sort -u); do
	mkdir -p "$RD$(dirname "$lib")"
	cp -L "$lib" "$RD$lib"
done
[ -e "$RD/lib64" ] || ln -s lib "$RD/lib64" 2>/dev/null || true
mkdir -p "$RD/data/profiles"
cp "$ROOT"/sched/profiles/*.prof "$RD/data/profiles/"
cp "$ROOT/tests/kmod/e2e.sh" "$RD/data/e2e.sh"
cp "$ROOT/tests/kmod/init.sh" "$RD/init"
chmod +x "$RD/init"
(cd "$RD" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1) >"$OUT/initramfs.gz" ||
	fail "initramfs"

# ---- boot ----------------------------------------------------------------------------------
echo "booting $KVER in qemu (TCG), log in $LOG"
start=$(date +%s.%N)
set +e
timeout "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 1G \
	-nographic -no-reboot -nic none -kernel "/boot/vmlinuz-$KVER" -initrd "$OUT/initramfs.gz" \
	-append "console=ttyS0 loglevel=4 panic=-1 oops=panic slub_debug=FZPU \
sysctl.kernel.hung_task_timeout_secs=30 enpu_race_secs=${ENPU_KMOD_RACE_SECS:-10} \
enpu_load_jobs=${ENPU_KMOD_LOAD_JOBS:-1000}" \
	</dev/null >"$LOG" 2>&1
qrc=$?
set -e
end=$(date +%s.%N)
tr -d '\r' <"$LOG" >"$LOG.txt"

# ---- verdict -------------------------------------------------------------------------------
sed -n '/^ENPU-TESTS-BEGIN/,/^ENPU-TESTS-END/p' "$LOG.txt" | grep -v '^ENPU-TESTS-'
result=$(grep '^ENPU-RESULT' "$LOG.txt" | tail -n 1 || true)
secs=$(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }')
[ $qrc -eq 124 ] && { tail -n 30 "$LOG.txt" >&2; fail "VM timed out after ${VM_TIMEOUT}s"; }
[ -n "$result" ] || { tail -n 40 "$LOG.txt" >&2; fail "VM ended without a result (qemu $qrc)"; }
echo "$result"

sed -n '/^ENPU-DMESG-BEGIN/,/^ENPU-DMESG-END/p' "$LOG.txt" >"$OUT/dmesg.txt"
bad=$(grep -E 'Oops|WARNING:|BUG:|kernel BUG|Call Trace|general protection|circular locking|lockdep|possible recursive locking|UBSAN|KASAN|refcount_t|list_del corruption|removed with [0-9]+ BOs live|removed with objects live|removed with objects live|soft lockup|blocked for more than|rcu.*stall|Poison overwritten|Redzone|Object padding|slab_out_of_bounds|killed entity' "$OUT/dmesg.txt" "$LOG.txt" || true)
if [ -n "$bad" ]; then
	echo "$bad" | head -n 20 >&2
	fail "the kernel logged an oops/WARN/BUG/lockdep report or a leak (see $OUT/dmesg.txt)"
fi
grep -q 'removed, 0 BOs live' "$OUT/dmesg.txt" || fail "module removal did not report 0 live BOs"
# the debugging the verdict relies on was on
grep -q 'slub_debug=FZPU' "$OUT/dmesg.txt" || fail "the kernel did not run with slub_debug=FZPU"

echo "$result" | grep -q 'tests=0 ' || fail "kernel tests failed"
echo "$result" | grep -q 'rmmod=0 ' || fail "module unload failed"
echo "$result" | grep -q 'e2e=fail' && fail "end-to-end npu-run failed"
echo "boot-to-result: ${secs} s (host wall clock, qemu start to power-off)"
echo "kernel module under QEMU: PASS"
