#!/usr/bin/env bash
# qemu-plugins.sh builds (once) a qemu-aarch64 user-mode emulator that loads TCG plugins, with
# QEMU's instruction-counting plugin, and prints the directory holding both (qemu-aarch64 and
# libinsn.so). bench-insn.sh counts the instructions of an arm64 Invoke with it.
#
# Why a build of our own: Debian's qemu-user-static is linked statically and so cannot load
# plugins, and no Debian package ships them. This is Debian's own qemu source package (debsrc.sh),
# configured for the aarch64 user-mode target alone: about 2 minutes on 2 cores. The result goes
# to $SYSROOT_CACHE/qemu-plugins, stamped with the recipe and the source version, and is built in
# a temporary directory renamed into place when complete. It is a measuring tool only: the ARM
# tests keep using Debian's qemu-user-static.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${SYSROOT_CACHE:-$HOME/.cache/edge-agent}
jobs=${JOBS:-$(nproc)}

qemu_src=$("$here/debsrc.sh" qemu)

# Bump recipe when a configure option below changes: the cache is rebuilt.
recipe=1
stamp="recipe=$recipe qemu=$(basename "$qemu_src")"
dest=$cache/qemu-plugins
if [ -f "$dest/.edge-agent-qemu" ] && [ "$(cat "$dest/.edge-agent-qemu")" = "$stamp" ]; then
	echo "$dest"
	exit 0
fi

tmp=$(mktemp -d "$dest.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "qemu-plugins.sh: building qemu-aarch64 with plugins ($(basename "$qemu_src"))" >&2
mkdir -p "$tmp/build" && cd "$tmp/build"
# Debian's source drops QEMU's bundled meson: the system's is used (package meson).
"$qemu_src/configure" --target-list=aarch64-linux-user --enable-plugins --disable-system \
	--disable-tools --disable-docs --disable-werror --meson=meson \
	>"$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log" >&2; exit 1; }
ninja -j"$jobs" qemu-aarch64 tests/plugin/libinsn.so >>"$tmp/build.log" 2>&1 ||
	{ tail -30 "$tmp/build.log" >&2; exit 1; }
mkdir "$tmp/out"
cp qemu-aarch64 tests/plugin/libinsn.so "$tmp/out/"
echo "$stamp" >"$tmp/out/.edge-agent-qemu"
rm -rf "$dest"
mv "$tmp/out" "$dest"
echo "$dest"
