#!/usr/bin/env bash
# fetch.sh [DIR] provisions the official TensorFlow Lite 2.9.0 C library (Google's prebuilt
# libtensorflowlite_c.so for linux amd64 and arm64, XNNPACK inside) from the npm package
# tfjs-tflite-node@0.0.2 into DIR, checking every file against SHA256SUMS:
#   DIR/linux_amd64/libtensorflowlite_c.so   DIR/linux_arm64/libtensorflowlite_c.so   DIR/include/
# DIR defaults to $XDG_CACHE_HOME/edge-agent/tflite-2.9.0 (~/.cache when unset), one of the places
# the agent looks for the library. A complete DIR is left alone; a damaged one is fetched again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-agent/tflite-2.9.0}
libs() { grep '/libtensorflowlite_c.so$' "$here/SHA256SUMS"; }

if [ -d "$dir" ] && (cd "$dir" && libs | sha256sum -c --status 2>/dev/null); then
	exit 0
fi
command -v npm >/dev/null || { echo "fetch.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$(dirname "$dir")"
tmp=$(mktemp -d "$dir.part.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "fetch.sh: npm pack tfjs-tflite-node@0.0.2 -> $dir" >&2
(cd "$tmp" && npm pack --silent tfjs-tflite-node@0.0.2 >/dev/null)
(cd "$tmp" && grep ' tfjs-tflite-node-0.0.2.tgz$' "$here/SHA256SUMS" | sha256sum -c --quiet) ||
	{ echo "fetch.sh: the npm package's checksum is not the one in $here/SHA256SUMS" >&2; exit 1; }
tar -C "$tmp" -xzf "$tmp/tfjs-tflite-node-0.0.2.tgz" package/cc_deps/linux_amd64 package/cc_deps/linux_arm64 \
	package/cc_deps/include
mkdir "$tmp/out"
for d in linux_amd64 linux_arm64 include; do
	mv "$tmp/package/cc_deps/$d" "$tmp/out/$d"
done
(cd "$tmp/out" && libs | sha256sum -c --quiet)
rm -rf "$dir"
mv "$tmp/out" "$dir"
echo "fetch.sh: $dir/linux_amd64/libtensorflowlite_c.so, $dir/linux_arm64/libtensorflowlite_c.so" >&2
