#!/bin/sh
# SPDX-License-Identifier: MIT
#
# e2e.sh - inside the test VM (tests/kmod/init.sh runs it): npu-run on the same model and
# prompt with the NPU in process (--device npu) and through the kernel driver (--device
# npu-drm); the generated text must be identical and the driver must have run the matmuls.
# Then npu-bench npu prints the submit-to-complete time of an empty job both ways, and
# npu-top -J while npu-run works through the driver must list the kernel device and the
# process as a DRM client (fdinfo of the render node).
# Auto placement reads the admin's devfreq bounds; sessions' priorities pick the kernel
# contexts and the power manager's clock is the jobs' (enpu_session_prio, through the library,
# on the mW profile, whose plan gives the NPU the matmuls of the small test model).
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
# the driver's job fences waited for by poll() instead of on the io_uring: the same text
ENPU_NO_URING=1 npu-run "$@" --device npu-drm >/tmp/drm-poll.txt 2>/tmp/drm-poll.err ||
	{ cat /tmp/drm-poll.err; exit 1; }
cmp -s /tmp/drm.txt /tmp/drm-poll.txt ||
	{ echo "e2e: FAIL outputs differ with completions waited for by poll()"; exit 1; }
echo "e2e: identical output with completions waited for by poll() (ENPU_NO_URING=1)"

# auto placement reads the kernel driver's devfreq bounds (the admin caps the clock first)
df=/sys/class/devfreq/edge-npu.0
old_max=$(cat $df/max_freq)
echo 400000000 >$df/max_freq
npu-run "$@" -n 4 --device npu-drm --placement auto --profile /data/profiles/phone.prof >/tmp/auto.txt \
	2>/tmp/auto.err || { cat /tmp/auto.err; exit 1; }
echo "$old_max" >$df/max_freq
grep '^clock:' /tmp/auto.err | sed 's/^/e2e: /'
grep -q "^clock: *npu-drm: devfreq .*/edge-npu.0, governor simple_ondemand, admin bounds [0-9]*\.\.400 MHz" \
	/tmp/auto.err || { echo "e2e: FAIL auto placement did not read the devfreq bounds"; \
	cat /tmp/auto.err; exit 1; }
echo "e2e: auto placement read the admin's devfreq bounds"

# sessions' priorities pick the kernel contexts, the power manager's clock is the jobs'
if [ -x /bin/enpu_session_prio ]; then
	enpu_session_prio /data/model.gguf /data/profiles/mw.prof >/tmp/prio.txt 2>&1
	rc=$?
	sed 's/^/e2e: /' /tmp/prio.txt
	[ $rc -eq 0 ] || { echo "e2e: FAIL session priorities and clocks"; exit 1; }
fi

# submit-to-complete of an empty job, in process and through the driver (figures; checked:
# the waits are on the io_uring)
if [ -x /bin/npu-bench ]; then
	for dev in npu npu-drm; do
		npu-bench npu --device $dev --reps 500 >/tmp/bench.txt 2>&1 ||
			{ cat /tmp/bench.txt; exit 1; }
		sed 's/^/e2e: bench: /' /tmp/bench.txt
		# the kernel in the VM allows io_uring: the driver's fences are waited for on it
		grep -q "completions waited for with: io_uring" /tmp/bench.txt ||
			{ echo "e2e: FAIL $dev completions not on the io_uring"; exit 1; }
		# the same waits by poll(), beside them
		ENPU_NO_URING=1 npu-bench npu --device $dev --reps 500 >/tmp/bench.txt 2>&1 ||
			{ cat /tmp/bench.txt; exit 1; }
		sed 's/^/e2e: bench: /' /tmp/bench.txt
	done
fi

# npu-top while npu-run works through the driver
if [ -x /bin/npu-top ]; then
	npu-run -m /data/model.gguf -p "Once upon a time" -n 64 -t 2 --no-progress \
		--device npu-drm >/dev/null 2>&1 &
	run=$!
	found=0
	for i in 1 2 3 4 5 6 7 8 9 10; do
		npu-top -J -s 0.5 >/tmp/top.json 2>/tmp/top.err || { cat /tmp/top.err; exit 1; }
		want="\"pid\":$run,\"name\":\"npu-run\",\"device\":\"edge-npu.0\""
		if grep -q "$want,\"source\":\"fdinfo\"" /tmp/top.json; then
			found=1
			break
		fi
	done
	wait $run
	echo "e2e: npu-top -J: $(cat /tmp/top.json)"
	[ $found -eq 1 ] ||
		{ echo "e2e: FAIL npu-top does not show npu-run on edge-npu.0"; exit 1; }
	grep -q '"id":"edge-npu.0","kind":"npu","source":"kernel","driver":"edge_npu"' \
		/tmp/top.json || { echo "e2e: FAIL npu-top does not show edge-npu.0"; exit 1; }
	echo "e2e: npu-top shows the kernel device and its client"
fi
