#!/bin/sh
# SPDX-License-Identifier: MIT
#
# udev.sh - inside the test VM (tests/kmod/init.sh runs it): kmod/72-edge-npu.rules judged by
# `udevadm test` on each node of the NPU, beside the Debian rules it works with (50-udev-default,
# 70-uaccess, 71-seat, 73-seat-late). Each node must end in group npu (gid 990 in the VM's
# /etc/group), mode 0660, without the uaccess tag (an ACL for the active seat's user: the
# uaccess builtin must not be queued either) nor the seat tags 71-seat.rules adds to every
# uaccess node and every DRM card node (6.1's primary node is the NPU's: logind would take it
# for a seat's graphics). The
# drm nodes are first run without the rule: Debian's rules must tag them uaccess and queue the
# ACL there, or the check could not see the rule fail.
fail=0
nodes=0
check() {
	echo "udev: FAIL $*"
	fail=1
}
for n in /sys/class/drm/card* /sys/class/drm/renderD* /sys/class/accel/accel*; do
	[ -e "$n/device/driver" ] || continue
	case $(readlink "$n/device/driver") in */edge-npu) ;; *) continue ;; esac
	nodes=$((nodes + 1))
	dev=/dev/$(sed -n 's/^DEVNAME=//p' "$n/uevent")
	# udevadm test writes the device's database (/run/udev/data) and reads it back when it
	# prints the result: each run starts without one, or the first run's tags come back
	rm -f /etc/udev/rules.d/72-edge-npu.rules
	rm -rf /run/udev
	if [ "${n#/sys/class/drm/}" != "$n" ]; then
		udevadm test --action=add "$n" >/tmp/udev.out 2>&1
		grep -q '^TAGS=.*:uaccess:' /tmp/udev.out && grep -q "RUN 'uaccess'" /tmp/udev.out ||
			check "$dev: no uaccess tag and ACL from Debian's rules alone"
	fi
	cp /data/72-edge-npu.rules /etc/udev/rules.d/
	rm -rf /run/udev
	udevadm test --action=add "$n" >/tmp/udev.out 2>&1
	grep -q "Setting permissions $dev, uid=0, gid=990, mode=0660" /tmp/udev.out ||
		check "$dev: not group npu, mode 0660: $(grep 'Setting permissions' /tmp/udev.out)"
	# TAGS: every tag a rule set (systemd 252 matches these), CURRENT_TAGS: those kept
	tags=$(sed -n 's/^TAGS=//p' /tmp/udev.out)
	current=$(sed -n 's/^CURRENT_TAGS=//p' /tmp/udev.out)
	case "$tags $current" in
	*:uaccess:* | *:seat:* | *:master-of-seat:*)
		check "$dev: tagged $tags (current $current)"
		grep -E 'rules.d/7[0-3]-|TAG' /tmp/udev.out
		;;
	esac
	! grep -q "RUN 'uaccess'" /tmp/udev.out || check "$dev: 73-seat-late.rules runs the uaccess ACL"
	echo "udev: $dev group npu, mode 0660, tags '$tags'"
done
[ $nodes -gt 0 ] || check "no device node of edge-npu in /sys/class/drm or /sys/class/accel"
exit $fail
