#!/usr/bin/env bash
# deb.sh ARCH BINARY VERSION OUTDIR builds OUTDIR/edge-agent_VERSION_ARCH.deb with nfpm
# (deploy-arm/nfpm.yaml) from BINARY, built for the Debian architecture ARCH. Its Depends come from
# what BINARY links (deb-depends.sh) against the host's dpkg database for amd64 or the target
# sysroot's for arm64/armhf. NFPM names the nfpm binary (default: bin/nfpm). Run from the repo root.
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

mkdir -p "$out"
target="$out/edge-agent_${version}_$arch.deb"
rm -f "$target"
EDGE_AGENT_ARCH=$arch EDGE_AGENT_VERSION=$version EDGE_AGENT_BINARY=$bin EDGE_AGENT_DEPENDS=$depends \
	"$nfpm" package --config deploy-arm/nfpm.yaml --packager deb --target "$target" >&2
echo "$target"
