#!/bin/sh
# The whole test suite, as CI runs it: installs what is missing, then builds with -Werror and
# runs every test twice, in a normal build and under AddressSanitizer + UBSan (both replay the
# fuzz targets' corpora and regression inputs); the multi-threaded tests under
# ThreadSanitizer; then a bounded run of every fuzz target, the kernel module's tests in QEMU
# and the fast CPU kernels' op tests built for Arm64, under qemu-user.
set -eu
cd "$(dirname "$0")/.."

tools/install-deps.sh

run_suite() {
	dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" -Dwerror=true "$@" >/dev/null
	else
		meson setup "$dir" -Dwerror=true "$@" >/dev/null
	fi
	ninja -C "$dir"
	meson test -C "$dir" --print-errorlogs
}

echo "== normal build (build-ci)"
run_suite build-ci
echo "== AddressSanitizer + UndefinedBehaviorSanitizer build (build-ci-asan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
run_suite build-ci-asan -Db_sanitize=address,undefined -Db_lundef=false
echo "== ThreadSanitizer build (build-ci-tsan): the multi-threaded tests and the 8-session stress"
# Only what runs threads: the dispatcher, async jobs, telemetry's seqlocks, the completion ring
# (test_completion), many sessions on every device at once (test_stress), and the in-process
# NPU's thread under DVFS writes and a stall (test_npu_sim). 0 reports: halt_on_error fails
# the test. test_speculative: the draft pre-drafting on its own thread beside the verifier.
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
tsan_tests="test_exec test_jobs test_telemetry test_stress test_completion test_npu_sim test_speculative"
if [ -f build-ci-tsan/build.ninja ]; then
	meson configure build-ci-tsan -Db_sanitize=thread -Db_lundef=false >/dev/null
else
	meson setup build-ci-tsan -Db_sanitize=thread -Db_lundef=false >/dev/null
fi
ninja -C build-ci-tsan driver/jobs_epoll $(for t in $tsan_tests; do printf 'tests/%s ' "$t"; done)
meson test -C build-ci-tsan --no-rebuild --print-errorlogs $tsan_tests
unset TSAN_OPTIONS
echo "== fuzz targets, bounded (tests/fuzz/run.sh: clang + libFuzzer, ASan + UBSan; SKIP without clang)"
tests/fuzz/run.sh build-ci-fuzz || { rc=$?; [ "$rc" -eq 77 ] || exit "$rc"; }
echo "== kernel module under QEMU (tests/kmod/run.sh; SKIP only where qemu cannot run)"
ENPU_MESON_BUILD=build-ci tests/kmod/run.sh build-ci-kmod
echo "== Debian packages (tests/deb/build.sh: dpkg-buildpackage, lintian; install-check.sh: a clean chroot)"
tools/install-deps.sh --deb
deb_out=$(mktemp -d /tmp/edge-npu-deb.XXXXXX)
trap 'rm -rf "$deb_out"' EXIT
tests/deb/build.sh "$deb_out" >"$deb_out/summary.txt"
tests/deb/install-check.sh "$deb_out" || { rc=$?; [ "$rc" -eq 77 ] || exit "$rc"; }
echo "== fast CPU kernels for Arm64 (tests/cross/aarch64.sh: neon and scalar under qemu-user)"
# SKIP only where the cross packages cannot be installed (an archive without arm64)
if tools/install-deps.sh --cross; then
	tests/cross/aarch64.sh build-ci-aarch64 || { rc=$?; [ "$rc" -eq 77 ] || exit "$rc"; }
else
	echo "SKIP: the Arm64 cross compiler, qemu-user or Check for arm64 could not be installed"
fi
