#!/usr/bin/env bash
# deb.sh ARCH BINARY VERSION OUTDIR builds OUTDIR/edge-agent_VERSION_ARCH.deb with nfpm
# (deploy-arm/nfpm.yaml) from BINARY, built for the Debian architecture ARCH. Its Depends come from
# what BINARY links (deb-depends.sh) against the host's dpkg database for amd64 or the target
# sysroot's for arm64/armhf. The amd64 and arm64 packages also get the TensorFlow Lite library from
# $TFLITE_DIR (make tflite-lib). NFPM names the nfpm binary (default: bin/nfpm). Run from the repo root.
set -euo pipefail

arch=${1:?usage: deb.sh ARCH BINARY VERSION OUTDIR}
bin=${2:?usage: deb.sh ARCH BINARY VERSION OUTDIR}
version=${3:?usage: deb.sh ARCH BINARY VERSION OUTDIR}
out=${4:?usage: deb.sh ARCH BINARY VERSION OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
nfpm=${NFPM:-bin/nfpm}

case $arch in
amd64) triplet=x86_64-linux-gnu admin=/var/lib/dpkg ;;
arm64) triplet=aarch64-linux-gnu admin="$("$here/xgo.sh" arm64 sysroot)/var/lib/dpkg" ;;
armhf) triplet=arm-linux-gnueabihf admin="$("$here/xgo.sh" armhf sysroot)/var/lib/dpkg" ;;
*) echo "deb.sh: unsupported architecture $arch" >&2; exit 2 ;;
esac
if [ "$arch" = amd64 ] && [ "$(dpkg --print-architecture)" != amd64 ]; then
	echo "deb.sh: the amd64 package is built on an amd64 host" >&2
	exit 2
fi

depends=$("$here/deb-depends.sh" "$bin" "$admin" "$triplet")
echo "deb.sh: $arch Depends: $depends" >&2

# The amd64 and arm64 packages carry the official TensorFlow Lite library (the agent loads it with
# dlopen, so it is no Depends), checked against the sums it was fetched with; armhf has no build.
config=deploy-arm/nfpm.yaml
case $arch in
amd64 | arm64)
	tflite=${TFLITE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-agent/tflite-2.9.0}
	lib=$tflite/linux_$arch/libtensorflowlite_c.so
	want=$(awk -v f="linux_$arch/libtensorflowlite_c.so" '$2 == f {print $1}' third_party/tensorflow-lite/SHA256SUMS)
	if [ ! -f "$lib" ] || [ "$(sha256sum <"$lib" | cut -d' ' -f1)" != "$want" ]; then
		echo "deb.sh: $lib missing or not the checked TensorFlow Lite 2.9.0 build (make tflite-lib)" >&2
		exit 1
	fi
	config=$(mktemp --suffix=.yaml)
	trap 'rm -f "$config"' EXIT
	awk -v lib="$lib" '
		{ print }
		/^contents:$/ {
			print "  - src: " lib
			print "    dst: /usr/lib/edge-agent/libtensorflowlite_c.so"
			print "    file_info:"
			print "      mode: 0644"
			print "  - src: third_party/tensorflow-lite/LICENSE"
			print "    dst: /usr/lib/edge-agent/LICENSE.tensorflow-lite"
			print "    file_info:"
			print "      mode: 0644"
		}' deploy-arm/nfpm.yaml >"$config"
	;;
esac

mkdir -p "$out"
target="$out/edge-agent_${version}_$arch.deb"
rm -f "$target"
EDGE_AGENT_ARCH=$arch EDGE_AGENT_VERSION=$version EDGE_AGENT_BINARY=$bin EDGE_AGENT_DEPENDS=$depends \
	"$nfpm" package --config "$config" --packager deb --target "$target" >&2
echo "$target"
