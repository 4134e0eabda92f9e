#!/usr/bin/env bash
# debsrc.sh PACKAGE prints the directory of Debian bookworm's source of PACKAGE, unpacked with
# Debian's patches applied, fetching it first if needed. opencv-slim.sh and qemu-plugins.sh build
# from these trees.
#
# The sources come from the machine's own Debian mirror (apt-mirrors.sh) through apt-get source,
# which checks them against the signed index; a private apt state under $SYSROOT_CACHE/src keeps
# the machine's own apt configuration untouched. The index is refreshed once a day; offline, the
# last index is used. The newest version the index names is unpacked into
# $SYSROOT_CACHE/src/PACKAGE-VERSION, and a tree already there is reused.
set -euo pipefail

pkg=${1:?usage: debsrc.sh PACKAGE}
here=$(cd "$(dirname "$0")" && pwd)
src=${SYSROOT_CACHE:-$HOME/.cache/edge-agent}/src
apt=$src/apt
aptopts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
	-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)

if [ ! -f "$apt/sources.list" ] || [ -z "$(find "$apt/lists" -name '*Sources*' -mmin -1440 2>/dev/null | head -1)" ]; then
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	"$here/apt-mirrors.sh" bookworm | sed 's/^deb /deb-src [signed-by=\/usr\/share\/keyrings\/debian-archive-keyring.gpg] /' >"$apt/sources.list"
	# Offline with an older index: use what that index names rather than fail.
	apt-get "${aptopts[@]}" update -q >&2 ||
		[ -n "$(find "$apt/lists" -name '*Sources*' 2>/dev/null | head -1)" ]
fi
ver=$(apt-cache "${aptopts[@]}" showsrc "$pkg" | awk '/^Version:/{print $2}' | sort -V | tail -1)
if [ -z "$ver" ]; then
	echo "debsrc.sh: no source package $pkg in the index" >&2
	exit 1
fi
dir=$src/$pkg-${ver#*:}
if [ ! -f "$dir/.unpacked" ]; then
	rm -rf "$dir" "$src/$pkg.dl" && mkdir -p "$src/$pkg.dl"
	(cd "$src/$pkg.dl" && apt-get "${aptopts[@]}" source --download-only -q "$pkg=$ver" >&2 &&
		dpkg-source -x --no-check ./*.dsc "$dir" >&2)
	rm -rf "$src/$pkg.dl"
	touch "$dir/.unpacked"
fi
echo "$dir"
