#!/usr/bin/env bash
# sysroot-dpkgdb.sh ROOT ARCH DEBINDEX finishes an mmdebstrap --variant=extract root (run as its
# extract hook, while the .deb files are still in ROOT/var/cache/apt/archives):
#   - records the packages in ROOT's dpkg database with DEBINDEX (the debindex tool), so that
#     `dpkg-query --admindir=ROOT/var/lib/dpkg -S FILE` answers which package ships FILE and its
#     shlibs file says what to depend on (the extract variant unpacks files, registers nothing);
#   - creates the links that update-alternatives would make for BLAS/LAPACK, which OpenCV's
#     libraries need at link and at run time.
set -euo pipefail

root=${1:?usage: sysroot-dpkgdb.sh ROOT ARCH DEBINDEX}
arch=${2:?usage: sysroot-dpkgdb.sh ROOT ARCH DEBINDEX}
debindex=${3:?usage: sysroot-dpkgdb.sh ROOT ARCH DEBINDEX}

shopt -s nullglob
debs=("$root"/var/cache/apt/archives/*.deb)
if [ "${#debs[@]}" -eq 0 ]; then
	echo "sysroot-dpkgdb.sh: no .deb files in $root/var/cache/apt/archives" >&2
	exit 1
fi
"$debindex" -admindir "$root/var/lib/dpkg" "${debs[@]}"
echo "$arch" >"$root/var/lib/dpkg/arch"

case $arch in
arm64) triplet=aarch64-linux-gnu ;;
armhf) triplet=arm-linux-gnueabihf ;;
amd64) triplet=x86_64-linux-gnu ;;
*) echo "sysroot-dpkgdb.sh: unsupported architecture $arch" >&2; exit 1 ;;
esac
libdir="$root/usr/lib/$triplet"
for lib in blas lapack; do
	for f in "$libdir/$lib/lib$lib.so.3" "$libdir/openblas-pthread/lib$lib.so.3" "$libdir/atlas/lib$lib.so.3"; do
		if [ -e "$f" ] && [ ! -e "$libdir/lib$lib.so.3" ]; then
			ln -s "${f#"$libdir/"}" "$libdir/lib$lib.so.3"
		fi
	done
	if [ ! -e "$libdir/lib$lib.so.3" ]; then
		echo "sysroot-dpkgdb.sh: no lib$lib.so.3 provider found under $libdir" >&2
		exit 1
	fi
done
