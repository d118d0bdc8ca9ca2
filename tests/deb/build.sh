#!/bin/sh
# Builds edge-npu's Debian packages from this tree (its tracked and new files, as a fresh
# export: nothing of a build directory leaks in) with dpkg-buildpackage, runs lintian on them,
# and lists what each package holds. usage: tests/deb/build.sh [OUTDIR] (default: a temporary
# directory, printed); exits 1 on a build failure or a lintian error.
set -eu
cd "$(dirname "$0")/../.."
out=${1:-$(mktemp -d /tmp/edge-npu-deb.XXXXXX)}
version=$(dpkg-parsechangelog -S Version)
src="$out/edge-npu-$version"

rm -rf "$src"
mkdir -p "$src"
git ls-files -co --exclude-standard -z | xargs -0 tar -cf - | tar -xf - -C "$src"
echo "deb: building in $src (the package's test suite runs too)" >&2
(cd "$src" && dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) ||
	{ tail -40 "$out/build.log" >&2; echo "deb: dpkg-buildpackage failed ($out/build.log)" >&2; exit 1; }
changes=$(ls "$out"/edge-npu_"$version"_*.changes)
echo "deb: lintian" >&2
lintian --fail-on error "$changes" | tee "$out/lintian.txt"
for deb in "$out"/*.deb; do
	echo "== $(basename "$deb")"
	dpkg-deb -c "$deb" | awk '{print "   " $6}' | grep -v '/$'
done
echo "deb: packages in $out" >&2
