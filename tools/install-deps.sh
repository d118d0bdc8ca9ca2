#!/bin/sh
# Installs the Debian 12 packages edge-npu builds and tests with, when any is missing.
# As root it runs apt-get; otherwise it prints the command to run and fails.
# --cross: also what tests/cross/aarch64.sh needs (an Arm64 cross compiler, qemu-user and
# Check for arm64, which adds arm64 as a dpkg foreign architecture).
# --deb: also what tests/deb/ needs (debhelper, DKMS's helper, lintian, debootstrap).
set -eu

packages="gcc meson ninja-build pkg-config scdoc libdrm-dev liburing-dev libnl-genl-3-dev check
libncurses-dev tmux ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd libfuse3-dev fuse3
linux-headers-amd64 linux-image-amd64 qemu-system-x86 busybox-static xz-utils clang
libclang-rt-14-dev udev locales"
cross=""
if [ "${1:-}" = "--cross" ]; then
	packages="$packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static check:arm64"
	cross=1
elif [ "${1:-}" = "--deb" ]; then
	packages="$packages dpkg-dev debhelper dh-dkms lintian debootstrap bash-completion"
fi

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# The second kernel the module is tested on: Debian 12 carries 6.12 (with CONFIG_DRM_ACCEL,
# the accel node) under versioned names only, so take the newest the archive lists unless a
# 6.12 kernel with headers is installed already.
if ! ls /boot/vmlinuz-6.12.* >/dev/null 2>&1 || ! ls -d /usr/src/linux-headers-6.12.*-amd64 >/dev/null 2>&1; then
	k612=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' 2>/dev/null |
		cut -d' ' -f1 | sed 's/^linux-image-//' | sort -V | tail -n 1)
	if [ -z "$k612" ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq
		k612=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' |
			cut -d' ' -f1 | sed 's/^linux-image-//' | sort -V | tail -n 1)
	fi
	[ -n "$k612" ] && missing="$missing linux-image-$k612 linux-headers-$k612"
fi
[ -z "$missing" ] && exit 0

added_arch=""
if [ -n "$cross" ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
	added_arch=1
fi
if [ "$(id -u)" -ne 0 ]; then
	if [ -n "$added_arch" ]; then
		echo "first: sudo dpkg --add-architecture arm64 && sudo apt-get update" >&2
	fi
	echo "edge-npu needs these Debian packages:$missing" >&2
	echo "install them with: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
[ -n "$added_arch" ] && dpkg --add-architecture arm64
# shellcheck disable=SC2086
if ! apt-get update -qq || ! apt-get install -y -qq --no-install-recommends $missing >/dev/null
then
	# an archive without arm64 must not leave the architecture behind for later apt runs
	[ -n "$added_arch" ] && dpkg --remove-architecture arm64 && apt-get update -qq
	echo "install-deps: apt-get could not install:$missing" >&2
	exit 1
fi
