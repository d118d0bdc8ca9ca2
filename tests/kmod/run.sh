#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run.sh - the kernel module under QEMU, on every installed kernel: for each kernel in
# /lib/modules with headers and a /boot/vmlinuz (never `uname -r`; Debian 12's 6.1, where the
# device is a render node, and 6.12, where it is an accel node), builds kmod/edge_npu.ko
# against its headers, packs an initramfs (busybox-static, the module's dependencies from the
# kernel package in load order, the module, the statically built tests), boots that kernel in
# qemu-system-x86_64 (KVM when /dev/kvm works, else TCG) and runs tests/kmod/enpu_kmod_test, tests/kmod/enpu_hostile (hostile
# clients and faults) and, when the build has it, an end-to-end npu-run (tests/kmod/init.sh says what runs).
#
# Fails if a test fails, the module does not unload cleanly, or the kernel log has an oops,
# WARN, BUG, lockdep report or leaked BOs. Exits 0 with "SKIP: <reason>" only when the VM
# cannot be run at all on this machine (no qemu, no kernel image or headers).
#
# Usage: tests/kmod/run.sh [build-dir]     (default: build-kmod; or $ENPU_KMOD_BUILD)
#   ENPU_KMOD_KERNELS="<kver> ..."          only these kernels (default: every installed one)
#   ENPU_MESON_BUILD=<meson build dir>      where npu-run and npu-mkmodel are built (default:
#                                           <build-dir>/meson, configured and built here)
#   ENPU_KMOD_TIMEOUT=<seconds>             VM time limit (default 900)
#   ENPU_KMOD_ACCEL=kvm|tcg                 the accelerator (default: kvm when a probe boot
#                                           under KVM reaches the kernel, else tcg)
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
	echo "FAIL: ${KVER:+$KVER: }$*" >&2
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
# Headers: the kernel package's build link, or Debian's headers directory when the link is
# missing (headers installed without the image's link).
kdir_of() {
	for d in "/lib/modules/$1/build" "/usr/src/linux-headers-$1"; do
		[ -e "$d/Makefile" ] && { echo "$d"; return 0; }
	done
	return 1
}
KVER=""
KVERS=${ENPU_KMOD_KERNELS:-}
if [ -z "$KVERS" ]; then
	for v in $(ls -1 /lib/modules 2>/dev/null | sort -V); do
		kdir_of "$v" >/dev/null && [ -r "/boot/vmlinuz-$v" ] && KVERS="$KVERS $v"
	done
fi
[ -n "$KVERS" ] ||
	skip "no kernel with headers and image installed (apt-get install linux-headers-amd64 linux-image-amd64)"

mkdir -p "$OUT"
echo "kernels: ${KVERS# }, build dir $OUT"

# ---- static test binaries ------------------------------------------------------------------
# shellcheck disable=SC2046
$CC -std=gnu11 -O2 -Wall -Wextra -Werror -static -pthread -I"$ROOT" \
	$(pkg-config --static --cflags libdrm) \
	-o "$OUT/enpu_kmod_test" "$ROOT/tests/kmod/enpu_kmod_test.c" \
	"$ROOT/kmod/silicon/npu_engine.c" "$ROOT/kmod/silicon/npu_mmu.c" \
	$(pkg-config --static --libs libdrm) || fail "test program build failed"
# shellcheck disable=SC2046
$CC -std=gnu11 -O2 -Wall -Wextra -Werror -static -pthread -I"$ROOT" \
	$(pkg-config --static --cflags libdrm) \
	-o "$OUT/enpu_hostile" "$ROOT/tests/kmod/enpu_hostile.c" \
	$(pkg-config --static --libs libdrm) || fail "hostile test program build failed"
# the generic-netlink subscriber, through the user-space reader (libnl-genl, static)
# shellcheck disable=SC2046
$CC -std=gnu11 -O2 -Wall -Wextra -Werror -static -I"$ROOT" \
	$(pkg-config --static --cflags libnl-genl-3.0 libdrm) \
	-o "$OUT/enpu_genl_test" "$ROOT/tests/kmod/enpu_genl_test.c" \
	"$ROOT/hal/npu_drm/npu_drm_genl.c" \
	$(pkg-config --static --libs libnl-genl-3.0) 2>"$OUT/genl-build.log" ||
	{ cat "$OUT/genl-build.log" >&2; fail "genl test program build failed"; }

# ---- what every kernel's initramfs holds: busybox, the tests, npu-run and a model ------------
RD=$OUT/rootfs
rm -rf "$RD"
mkdir -p "$RD/bin" "$RD/lib/modules" "$RD/proc" "$RD/sys" "$RD/dev" "$RD/tmp" "$RD/data"
cp "$BUSYBOX" "$RD/bin/busybox"
for app in sh mount umount insmod rmmod lsmod dmesg cat echo sleep poweroff ls grep mkdir \
	cut tr head tail wc cmp test [ uptime sed awk; do
	ln -s busybox "$RD/bin/$app"
done
cp "$OUT/enpu_kmod_test" "$OUT/enpu_genl_test" "$OUT/enpu_hostile" "$RD/bin/"

# ---- end-to-end: npu-run, its shared libraries, a small model ------------------------------
MB=${ENPU_MESON_BUILD:-$OUT/meson}
case $MB in /*) ;; *) MB=$ROOT/$MB ;; esac
# the guest mounts a tmpfs on /tmp (init.sh), which would hide the libraries copied there
case $MB in
/tmp/*) fail "meson build dir $MB: the VM covers /tmp with a tmpfs; use one elsewhere" ;;
esac
if [ ! -f "$MB/build.ninja" ]; then
	meson setup "$MB" "$ROOT" >"$OUT/meson.log" 2>&1 ||
		{ cat "$OUT/meson.log" >&2; fail "meson setup for npu-run failed"; }
fi
ninja -C "$MB" tools/npu-run tools/npu-mkmodel tools/npu-top tools/npu-bench \
	driver/libedge-npu.so.0.1.0 >"$OUT/ninja.log" 2>&1 ||
	{ cat "$OUT/ninja.log" >&2; fail "building npu-run failed"; }
# sessions' priorities and clocks reaching the kernel, through the public API (the shared
# library, found at its build path in the VM as on the host)
# shellcheck disable=SC2046
$CC -std=gnu11 -O2 -Wall -Wextra -Werror -I"$ROOT" $(pkg-config --cflags libdrm) \
	-o "$OUT/enpu_session_prio" "$ROOT/tests/kmod/enpu_session_prio.c" -L"$MB/driver" \
	-ledge-npu -Wl,-rpath,"$MB/driver" $(pkg-config --libs libdrm) ||
	fail "session priority test build failed"
"$MB/tools/npu-mkmodel" -o "$RD/data/model.gguf" --dim 128 --layers 2 --heads 4 --ffn 256 \
	--ctx 128 -t q8_0 >/dev/null || fail "npu-mkmodel failed"
cp "$MB/tools/npu-run" "$MB/tools/npu-top" "$MB/tools/npu-bench" "$OUT/enpu_session_prio" "$RD/bin/"
# the udev rule, judged in the VM by udevadm test beside the Debian rules it works with
UDEVADM=$(command -v udevadm || true)
if [ -n "$UDEVADM" ]; then
	cp -L "$UDEVADM" "$RD/bin/udevadm"
	mkdir -p "$RD/usr/lib/udev/rules.d" "$RD/etc/udev/rules.d" "$RD/run"
	for r in 50-udev-default 70-uaccess 71-seat 73-seat-late; do
		cp "/usr/lib/udev/rules.d/$r.rules" "$RD/usr/lib/udev/rules.d/" ||
			fail "no /usr/lib/udev/rules.d/$r.rules (package udev)"
	done
	cp "$ROOT/kmod/72-edge-npu.rules" "$ROOT/tests/kmod/udev.sh" "$RD/data/"
	printf 'root:x:0:0:root:/:/bin/sh\n' >"$RD/etc/passwd"
	printf 'root:x:0:\nvideo:x:44:\nrender:x:105:\nnpu:x:990:\n' >"$RD/etc/group"
fi
# the dynamic loader and libraries, at their paths
for lib in $(ldd "$MB/tools/npu-run" "$MB/tools/npu-top" "$MB/tools/npu-bench" "$OUT/enpu_session_prio" \
	${UDEVADM:+"$UDEVADM"} |
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

# ---- one kernel: its module, its initramfs, one boot, the verdict ----------------------------
# The modules edge_npu.ko needs, dependencies first, from the kernel package's modinfo (6.12
# adds drm_kms_helper under drm_shmem_helper), plus the devfreq governor it asks for by name.
mod_file() { find "$KMODS" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" | head -n 1; }
mod_order() {
	local m f # recursion: each level keeps its own (dash and bash have local)
	for m in "$@"; do
		case " $ORDER " in *" $m "*) continue ;; esac
		f=$(mod_file "$m")
		[ -n "$f" ] || fail "module $m is not in the kernel package"
		# shellcheck disable=SC2046
		mod_order $(modinfo -F depends "$f" | tr ',' ' ')
		ORDER="$ORDER $m"
	done
}

boot_kernel() {
	KVER=$1
	KMODS=/lib/modules/$KVER/kernel
	K=$OUT/$KVER
	LOG=$K/vm.log
	mkdir -p "$K"
	echo "== kernel $KVER"

	# the module, built from a copy so that the source tree stays clean
	SRC=$K/src
	rm -rf "$SRC"
	mkdir -p "$SRC/kmod/silicon" "$SRC/uapi/drm"
	cp "$ROOT"/kmod/*.c "$ROOT"/kmod/*.h "$ROOT"/kmod/Kbuild "$SRC/kmod/"
	cp "$ROOT"/kmod/silicon/*.c "$ROOT"/kmod/silicon/*.h "$SRC/kmod/silicon/"
	cp "$ROOT"/uapi/*.h "$SRC/uapi/"
	cp "$ROOT"/uapi/drm/*.h "$SRC/uapi/drm/"
	make -s -C "$(kdir_of "$KVER")" M="$SRC/kmod" modules >"$K/kbuild.log" 2>&1 ||
		{ cat "$K/kbuild.log" >&2; fail "module build failed"; }
	if grep -E 'warning:' "$K/kbuild.log" | grep -v 'Skipping BTF' >&2; then
		fail "module build has warnings"
	fi

	# the initramfs: the common tree, the modules (decompressed: busybox insmod takes plain
	# .ko files) and their load order for init.sh
	KRD=$K/initramfs
	rm -rf "$KRD"
	cp -a "$RD" "$KRD"
	ORDER=""
	# shellcheck disable=SC2046
	mod_order $(modinfo -F depends "$SRC/kmod/edge_npu.ko" | tr ',' ' ') governor_simpleondemand
	for m in $ORDER; do
		f=$(mod_file "$m")
		case $f in
		*.xz) xz -dc "$f" >"$KRD/lib/modules/$m.ko" ;;
		*.zst) zstd -qdc "$f" >"$KRD/lib/modules/$m.ko" ;;
		*) cp "$f" "$KRD/lib/modules/$m.ko" ;;
		esac || fail "cannot unpack $f"
	done
	echo "$ORDER" >"$KRD/lib/modules/order"
	cp "$SRC/kmod/edge_npu.ko" "$KRD/lib/modules/"
	(cd "$KRD" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1) >"$K/initramfs.gz" ||
		fail "initramfs"

	# boot. A kernel that dies before it runs /init (no ENPU-BOOTED line: nothing of the
	# project has run yet) is booted again, at most twice: under TCG with two vCPUs, 6.12 was
	# seen to oops on an int3 in sched_clock_cpu while patching its own text at boot (once in
	# some twenty boots of this suite on a 2-core VM), and a CI run must not fail on that.
	# The log of each such boot stays beside vm.log.
	echo "booting $KVER in qemu ($ACCEL_NAME), log in $LOG"
	boot=1
	while :; do
		start=$(date +%s.%N)
		set +e
		# shellcheck disable=SC2086 # the accelerator's options are words
		timeout "$VM_TIMEOUT" qemu-system-x86_64 $ACCEL_OPTS -smp 2 -m 1G \
			-nographic -no-reboot -nic none -kernel "/boot/vmlinuz-$KVER" \
			-initrd "$K/initramfs.gz" \
			-append "console=ttyS0 loglevel=4 panic=-1 oops=panic slub_debug=FZPU \
sysctl.kernel.hung_task_timeout_secs=30 enpu_race_secs=${ENPU_KMOD_RACE_SECS:-10} \
enpu_load_jobs=${ENPU_KMOD_LOAD_JOBS:-1000}" \
			</dev/null >"$LOG" 2>&1
		qrc=$?
		set -e
		end=$(date +%s.%N)
		tr -d '\r' <"$LOG" >"$LOG.txt"
		grep -a -q 'ENPU-BOOTED' "$LOG.txt" || [ $qrc -eq 124 ] || [ $boot -ge 3 ] || {
			grep -a -m 1 -E 'Oops|Kernel panic|BUG:' "$LOG.txt" >&2 || true
			cp "$LOG.txt" "$LOG.boot$boot.txt"
			echo "the kernel died before /init (boot $boot, log in $LOG.boot$boot.txt): booting again" >&2
			boot=$((boot + 1))
			continue
		}
		break
	done

	# the verdict
	sed -n '/^ENPU-TESTS-BEGIN/,/^ENPU-TESTS-END/p' "$LOG.txt" | grep -a -v '^ENPU-TESTS-'
	result=$(grep -a '^ENPU-RESULT' "$LOG.txt" | tail -n 1 || true)
	secs=$(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }')
	[ $qrc -eq 124 ] && { tail -n 30 "$LOG.txt" >&2; fail "VM timed out after ${VM_TIMEOUT}s"; }
	[ -n "$result" ] || { tail -n 40 "$LOG.txt" >&2; fail "VM ended without a result (qemu $qrc)"; }
	echo "$result"

	sed -n '/^ENPU-DMESG-BEGIN/,/^ENPU-DMESG-END/p' "$LOG.txt" >"$K/dmesg.txt"
	bad=$(grep -E 'Oops|WARNING:|BUG:|kernel BUG|Call Trace|general protection|circular locking|lockdep|possible recursive locking|UBSAN|KASAN|refcount_t|list_del corruption|removed with [0-9]+ BOs live|removed with objects live|not freed at removal|soft lockup|blocked for more than|rcu.*stall|Poison overwritten|Redzone|Object padding|slab_out_of_bounds|killed entity' "$K/dmesg.txt" "$LOG.txt" || true)
	if [ -n "$bad" ]; then
		echo "$bad" | head -n 20 >&2
		fail "the kernel logged an oops/WARN/BUG/lockdep report or a leak (see $K/dmesg.txt)"
	fi
	grep -q 'removed, 0 BOs live' "$K/dmesg.txt" || fail "module removal did not report 0 live BOs"
	# the debugging the verdict relies on was on
	grep -q 'slub_debug=FZPU' "$K/dmesg.txt" || fail "the kernel did not run with slub_debug=FZPU"

	echo "$result" | grep -q 'tests=0 ' || fail "kernel tests failed"
	echo "$result" | grep -q 'rmmod=0 ' || fail "module unload failed"
	echo "$result" | grep -q 'e2e=fail' && fail "end-to-end npu-run failed"
	echo "boot-to-result: ${secs} s (host wall clock, qemu start to power-off)"
	echo "$KVER: kernel module under QEMU: PASS"
}

# KVM when it works here: the VM then runs at the host's speed, and a busy host cannot starve
# it into job timeouts the way it starves TCG's translated vCPUs. /dev/kvm alone says little:
# nested under another hypervisor it may open and then fail at the first MSR write or with a
# "KVM internal error", so a probe boots the first kernel without an initramfs (it panics at
# once on the missing root, which is the sign it ran) and TCG is used when that does not show.
kvm_works() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	# (the braces' 2>/dev/null takes the shell's own "Aborted" when qemu asserts, as it does)
	{ (timeout 20 qemu-system-x86_64 -accel kvm -cpu host -smp 1 -m 256M -nographic \
		-no-reboot -nic none -kernel "/boot/vmlinuz-$1" -append "console=ttyS0 panic=-1" \
		</dev/null 2>&1) | tr -d '\r' |
		grep -q 'Kernel panic\|VFS: Unable to mount root'; } 2>/dev/null
}
ACCEL_NAME=${ENPU_KMOD_ACCEL:-}
if [ -z "$ACCEL_NAME" ]; then
	# shellcheck disable=SC2086 # the first word of the list
	if kvm_works $(echo $KVERS | cut -d' ' -f1); then ACCEL_NAME=kvm; else ACCEL_NAME=tcg; fi
fi
case $ACCEL_NAME in
kvm) ACCEL_OPTS="-accel kvm -cpu host" ;;
tcg) ACCEL_OPTS="-accel tcg,thread=multi -cpu max" ;;
*) fail "ENPU_KMOD_ACCEL=$ACCEL_NAME: kvm or tcg" ;;
esac
echo "accelerator: $ACCEL_NAME"

# every kernel runs, whatever the one before did: a subshell each, so that fail (or any failed
# command, set -e) ends only that one; not tested with || or if, which would turn set -e off
failed=""
for v in $KVERS; do
	set +e
	(
		set -e
		boot_kernel "$v"
	)
	rc=$?
	set -e
	[ $rc -eq 0 ] || failed="$failed $v"
done
KVER=""
[ -z "$failed" ] || fail "the kernel suite failed on$failed"
echo "kernel module under QEMU: PASS on ${KVERS# }"
