#!/bin/sh
# Installs the packages tests/deb/build.sh made into a clean Debian 12 system (a minbase
# chroot copied from a debootstrapped base) and runs them there as a user
# would: npu-run with its default model, --version, the man pages, pkg-config, and the
# edge-npu-dkms package's sources, group and udev rule (building the module needs kernel
# headers and is left to tests/kmod/). Needs root and the Debian mirror.
# usage: tests/deb/install-check.sh DEBDIR [BASE] - BASE: a pristine bookworm root to copy
# (made with debootstrap and kept for the next run when it does not exist yet; default
# /tmp/edge-npu-bookworm); each run installs into a fresh copy, removed afterwards.
set -eu
debs=$(cd "$1" && pwd)
base=${2:-/tmp/edge-npu-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" -eq 0 ] || { echo "install-check: SKIP: needs root (chroot)" >&2; exit 77; }
if [ ! -x "$base/usr/bin/apt-get" ]; then
	echo "install-check: debootstrap bookworm into $base" >&2
	debootstrap --variant=minbase bookworm "$base" "$mirror" >"$base.log" 2>&1 ||
		{ tail -5 "$base.log" >&2; exit 1; }
fi
root=$(mktemp -d /tmp/edge-npu-root.XXXXXX)
cp -a "$base/." "$root/"
mkdir -p "$root/debs"
cp "$debs"/*.deb "$root/debs/"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc"; rm -rf "$root"' EXIT
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

in_root sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends /debs/libedge-npu0_*.deb /debs/libedge-npu-dev_*.deb \
	/debs/edge-npu-tools_*.deb man-db pkg-config >/tmp/apt.log 2>&1' || { tail -20 "$root/tmp/apt.log"; exit 1; }
in_root sh -c 'useradd -m user 2>/dev/null || true'
echo "== npu-run as a new user (first run generates the default model)"
in_root su user -s /bin/bash -c 'cd && time npu-run -n 8 && npu-run --version &&
	ls ~/.cache/edge-npu' 2>&1
in_root su user -c 'npu-run --help | tail -3'
in_root sh -c 'man -w npu-run edge_npu npu-top && pkg-config --libs --static edge-npu'
# the DKMS package: its sources, the group and the rule (the chroot has no kernel headers, so
# DKMS only registers the module; tests/kmod/ builds and loads it)
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	/debs/edge-npu-dkms_*.deb >/tmp/apt-dkms.log 2>&1' || { tail -20 "$root/tmp/apt-dkms.log"; exit 1; }
in_root sh -c 'getent group npu && ls /lib/udev/rules.d/72-edge-npu.rules \
	/usr/src/edge-npu-0.1.0/dkms.conf && dkms status'
echo "== installed: $(in_root dpkg-query -W -f '${Package} ${Version}, ' 'libedge-npu*' \
	'edge-npu-*')"
echo "install-check: ok"
