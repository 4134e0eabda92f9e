#!/usr/bin/env bash
# sysroot.sh ARCH DIR builds (once) a Debian 12 target sysroot for cross-compiling the agent with cgo
# and for running the ARM binaries and tests under qemu-user (-L DIR).
#
# ARCH is a Debian architecture (arm64, armhf, amd64). The sysroot holds the target's OpenCV (dev
# files and the runtime libraries with their ffmpeg/GStreamer dependencies), libc and libstdc++,
# extracted (not installed: no maintainer script runs, so no emulation is needed) with mmdebstrap's
# extract variant. Installing libopencv-dev:ARCH next to the host's through multiarch conflicts, so a
# separate root is used instead.
#
# The result is cached: DIR/.edge-agent-sysroot records the package list it was built from, and a
# second run with the same list does nothing. It is built in a temporary directory and renamed into
# place only when complete, so an interrupted run never leaves a half sysroot behind. Mirror errors
# are retried with backoff. The mirror is this machine's apt configuration (apt-mirrors.sh).
#
# Besides the extracted files the sysroot gets:
#   - the libblas.so.3 / liblapack.so.3 links that update-alternatives would have made;
#   - a minimal dpkg database (var/lib/dpkg/status and info/*.list) built from the .deb files, so
#     that `dpkg --admindir=DIR/var/lib/dpkg -S` maps a shared object to its Debian package.
set -euo pipefail

arch=${1:?usage: sysroot.sh ARCH DIR}
dest=${2:?usage: sysroot.sh ARCH DIR}
here=$(cd "$(dirname "$0")" && pwd)
suite=${SYSROOT_SUITE:-bookworm}
attempts=${SYSROOT_ATTEMPTS:-4}

# What the build links against (libopencv-dev brings every OpenCV module with its runtime
# dependencies, including the ffmpeg libraries of videoio) and what the agent needs at run time.
pkgs=${SYSROOT_PACKAGES:-libopencv-dev,libc6-dev,libstdc++-12-dev,gstreamer1.0-plugins-base}
stamp="suite=$suite arch=$arch packages=$pkgs v=3"

if [ -f "$dest/.edge-agent-sysroot" ] && [ "$(cat "$dest/.edge-agent-sysroot")" = "$stamp" ]; then
	exit 0
fi

mapfile -t mirrors < <("$here/apt-mirrors.sh" "$suite")
if [ "${#mirrors[@]}" -eq 0 ]; then
	echo "sysroot.sh: no '$suite' Debian source found in /etc/apt (sources.list, sources.list.d/*.sources)" >&2
	exit 1
fi

mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$dest.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The extract hook runs while the downloaded .deb files are still in the root's apt cache.
"${GO:-go}" -C "$here/../tools" build -o "$tmp.debindex" ./debindex
trap 'rm -rf "$tmp" "$tmp.debindex"' EXIT
hook="'$here/sysroot-dpkgdb.sh' \"\$1\" $arch '$tmp.debindex'"

delay=15
log=$tmp.log
trap 'rm -rf "$tmp" "$tmp.debindex" "$log"' EXIT
for ((i = 1; ; i++)); do
	echo "sysroot.sh: building $arch sysroot in $dest (attempt $i/$attempts)" >&2
	rm -rf "$tmp" && mkdir -p "$tmp"
	if mmdebstrap --variant=extract --arch="$arch" --include="$pkgs" \
		--extract-hook="$hook" "$suite" "$tmp" "${mirrors[@]}" 2> >(tee "$log" >&2); then
		break
	fi
	if ((i >= attempts)); then
		echo "sysroot.sh: mmdebstrap failed $attempts times; giving up" >&2
		exit 1
	fi
	# A mirror caught mid-sync can serve an update suite's index that does not match its Release
	# file, for hours. After two tries with it, build from the other suites (the release suite
	# itself is never dropped): a build sysroot at the point release is still a bookworm sysroot.
	if ((i >= 2)); then
		for bad in $(sed -n 's#.*Failed to fetch [^ ]*/dists/\([^/ ]*\)/.*#\1#p' "$log" | sort -u); do
			if [ "$bad" != "$suite" ]; then
				echo "sysroot.sh: WARNING: leaving out suite $bad, whose index the mirror serves broken" >&2
				mapfile -t mirrors < <(printf '%s\n' "${mirrors[@]}" | awk -v bad="$bad" '$3 != bad')
			fi
		done
	fi
	echo "sysroot.sh: mmdebstrap failed; retrying in ${delay}s" >&2
	sleep "$delay"
	delay=$((delay * 2))
done
rm -f "$log"

echo "$stamp" >"$tmp/.edge-agent-sysroot"
rm -rf "$dest.old"
if [ -e "$dest" ]; then mv "$dest" "$dest.old"; fi
mv "$tmp" "$dest"
rm -f "$tmp.debindex"
trap - EXIT
rm -rf "$dest.old"
echo "sysroot.sh: $arch sysroot ready: $dest" >&2
