#!/usr/bin/env bash
# deb-depends.sh BINARY ADMINDIR TRIPLET prints the Debian Depends of BINARY (comma-separated), derived
# from what it actually links:
#   1. the sonames in the ELF's DT_NEEDED entries (readelf -d);
#   2. the package that ships each soname in the target's library directories, according to the
#      dpkg database ADMINDIR (/var/lib/dpkg for the host, SYSROOT/var/lib/dpkg for a sysroot);
#   3. the dependency that package's shlibs file declares for that soname, e.g.
#      "libopencv-core406 (>= 4.6.0+dfsg)". Where that names no version (libstdc++6, libgcc-s1)
#      or there is no shlibs entry, "PACKAGE (>= UPSTREAM-VERSION)" of the version linked
#      against: stricter than symbol-level analysis, always satisfiable on the target release.
# A soname that no package ships is an error: the package would install and then fail to start.
set -euo pipefail

bin=${1:?usage: deb-depends.sh BINARY ADMINDIR TRIPLET}
admin=${2:?usage: deb-depends.sh BINARY ADMINDIR TRIPLET}
triplet=${3:?usage: deb-depends.sh BINARY ADMINDIR TRIPLET}

readelf=readelf
if command -v "$triplet-readelf" >/dev/null; then readelf=$triplet-readelf; fi
mapfile -t needed < <("$readelf" -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p')

# shlibs_key SONAME prints "NAME VERSION" as shlibs files spell it: libfoo.so.6 -> "libfoo 6",
# libfoo-1.2.so -> "libfoo 1.2".
shlibs_key() {
	case $1 in
	*.so.*) echo "${1%%.so.*} ${1#*.so.}" ;;
	*-*.so) local b=${1%.so}; echo "${b%-*} ${b##*-}" ;;
	*) echo "${1%.so} " ;;
	esac
}

deps=()
for so in "${needed[@]}"; do
	owner=$(dpkg-query --admindir="$admin" -S "/lib/$triplet/$so" "/usr/lib/$triplet/$so" 2>/dev/null |
		head -n1 | sed -e 's/: .*//' -e 's/,.*//') || true
	if [ -z "$owner" ]; then
		echo "deb-depends.sh: $bin needs $so, which no package in $admin ships under /lib/$triplet or /usr/lib/$triplet" >&2
		exit 1
	fi
	pkg=${owner%%:*}
	dep=
	for f in "$admin/info/$owner.shlibs" "$admin/info/$pkg.shlibs" "$admin/info/$pkg:"*.shlibs; do
		[ -f "$f" ] || continue
		key=$(shlibs_key "$so")
		dep=$(awk -v name="${key% *}" -v ver="${key#* }" '
			/^[ \t]*#/ || /^udeb:/ { next }
			$1 == name && $2 == ver { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' "$f")
		[ -n "$dep" ] && break
	done
	if [ -z "$dep" ] || [ "$dep" = "$pkg" ]; then
		version=$(dpkg-query --admindir="$admin" -W -f '${Version}' "$owner")
		upstream=${version%-*}
		dep="$pkg (>= $upstream)"
	fi
	deps+=("$dep")
done

if [ "${#deps[@]}" -eq 0 ]; then
	exit 0 # a static binary depends on nothing
fi
printf '%s\n' "${deps[@]}" | sort -u | paste -sd, - | sed 's/,/, /g'
