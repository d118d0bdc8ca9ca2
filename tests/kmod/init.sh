#!/bin/sh
# SPDX-License-Identifier: MIT
#
# init.sh - /init of the test VM built by tests/kmod/run.sh: loads the DRM modules and
# edge_npu.ko (two devices, debug stall allowed, 300 ms job timeout), runs the kernel test
# suite, the generic-netlink test (enpu_genl_test), the hostile-client suite (enpu_hostile) and, when present, an end-to-end npu-run
# on the NPU through the driver, unloads the module, loads it again with one engine per device
# for the clock-request and priority tests (enpu_kmod_test --qos), unloads it and prints the kernel log and one
# ENPU-RESULT line for the host to judge. The udev rule is judged first (udev.sh).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmp /tmp
echo "ENPU-BOOTED $(cut -d' ' -f1 /proc/uptime)"

TIMEOUT_MS=300
AUTOSUSPEND_MS=300
# how long the CTX_DESTROY/SUBMIT race runs: enpu_race_secs=N on the kernel command line
RACE_SECS=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^enpu_race_secs=//p')
RACE_SECS=${RACE_SECS:-10}
# jobs per thread of the load test (8 processes x 2 threads): enpu_load_jobs=N
LOAD_JOBS=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^enpu_load_jobs=//p')
LOAD_JOBS=${LOAD_JOBS:-1000}
mods=0
# rmmod edge_npu, retried while the module is in use: live jobs hold it until they are freed
# (each within the job timeout, once its file is closed)
unload() {
	n=0
	until rmmod edge_npu 2>/dev/null; do
		n=$((n + 1))
		if [ $n -ge 30 ]; then
			rmmod edge_npu # again, for its message
			return 1
		fi
		sleep 1
	done
	[ $n -eq 0 ] || echo "rmmod refused $n times while jobs lived"
}
# the module's dependencies in load order, as run.sh found them in this kernel's package
for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m.ko || mods=1
done
insmod /lib/modules/edge_npu.ko num_devices=2 debug_stall=1 job_timeout_ms=$TIMEOUT_MS \
	autosuspend_ms=$AUTOSUSPEND_MS || mods=1

echo "ENPU-TESTS-BEGIN"
tests=1
if [ $mods -eq 0 ]; then
	# the udev rule on the nodes of the loaded module (udev.sh is there when the host has udevadm)
	udev=0
	if [ -f /data/udev.sh ]; then
		sh /data/udev.sh || udev=1
	else
		echo "udev: skipped (no udevadm on the host)"
	fi
	/bin/enpu_kmod_test --timeout-ms $TIMEOUT_MS --autosuspend-ms $AUTOSUSPEND_MS \
		--race-secs "$RACE_SECS" --load-jobs "$LOAD_JOBS"
	tests=$?
	# generic netlink: statistics, and the events of a hung job and a frequency change
	/bin/enpu_genl_test --timeout-ms $TIMEOUT_MS || tests=1
	# hostile clients and faults; last of the clients, it ends with no object live
	/bin/enpu_hostile --timeout-ms $TIMEOUT_MS || tests=1
	[ $udev -eq 0 ] || tests=1
fi
e2e=none
if [ -x /bin/npu-run ] && [ -x /data/e2e.sh ]; then
	if sh /data/e2e.sh; then e2e=pass; else e2e=fail; fi
fi
# unload with work in flight and the fd open: rmmod must fail (EBUSY), cleanly
/bin/enpu_kmod_test --hold-jobs 8000 >/tmp/hold.log 2>&1 &
hold=$!
i=0
while ! grep -q holding /tmp/hold.log && [ $i -lt 5 ]; do
	sleep 1
	i=$((i + 1))
done
if rmmod edge_npu 2>/dev/null; then
	echo "FAIL rmmod with an open file and jobs in flight succeeded"
	tests=1
elif ! grep -q '^edge_npu ' /proc/modules; then
	echo "FAIL rmmod failed but the module is gone"
	tests=1
else
	echo "ok   rmmod with an open file and jobs in flight refused"
fi
wait $hold || tests=1
# unload with work in flight: a hung job and jobs behind it, their fd already closed. The
# jobs hold the module until the last is freed (each hung one within the job timeout): rmmod
# is refused (in use) until then.
/bin/enpu_kmod_test --leave-hung-job || tests=1
unload
rmmod_rc=$?
# clock requests and priorities across processes: the module again with one engine per
# device, so that two processes contend for it (enpu_kmod_test --qos)
if [ $rmmod_rc -eq 0 ]; then
	if insmod /lib/modules/edge_npu.ko num_engines=1 job_timeout_ms=$TIMEOUT_MS \
		autosuspend_ms=$AUTOSUSPEND_MS; then
		/bin/enpu_kmod_test --qos || tests=1
		unload || rmmod_rc=1
	else
		echo "FAIL insmod edge_npu num_engines=1"
		tests=1
	fi
fi
echo "ENPU-TESTS-END"
echo "ENPU-DMESG-BEGIN"
dmesg
echo "ENPU-DMESG-END"
echo "ENPU-RESULT modules=$mods tests=$tests e2e=$e2e rmmod=$rmmod_rc uptime=$(cut -d' ' -f1 /proc/uptime) "
poweroff -f
