#!/usr/bin/env bash
# xgo.sh ARCH GO-ARGS... runs the go command for a Debian target architecture (arm64, armhf or
# amd64) with cgo pointed at that architecture's sysroot, e.g.
#
#	xgo.sh arm64 build -o dist/arm64/edge-agent ./cmd/edge-agent
#	xgo.sh armhf test -exec "$(xgo.sh armhf qemu)" ./tflite
#
# The special command "qemu" prints the qemu-user command line that runs a binary of ARCH against
# the sysroot, and "sysroot" prints the sysroot directory.
#
# The sysroot (see sysroot.sh) is $SYSROOT_<ARCH> if set, else $SYSROOT_CACHE/sysroot-ARCH
# ($SYSROOT_CACHE defaults to ~/.cache/edge-agent); it is created if missing. For amd64 the host's
# own OpenCV is used and no sysroot is needed. GO names the go command (default: go).
#
# OPENCV=slim links the static slim OpenCV of opencv-slim.sh (built once, about 20 minutes)
# instead of Debian's shared one: gocv's customenv tag, with cgo's flags from that build.
set -euo pipefail

arch=${1:?usage: xgo.sh ARCH GO-ARGS...}
shift
here=$(cd "$(dirname "$0")" && pwd)
cache=${SYSROOT_CACHE:-$HOME/.cache/edge-agent}

case $arch in
arm64) goarch=arm64 triplet=aarch64-linux-gnu qemu=qemu-aarch64-static sr=${SYSROOT_arm64:-$cache/sysroot-arm64} ;;
armhf) goarch=arm triplet=arm-linux-gnueabihf qemu=qemu-arm-static sr=${SYSROOT_armhf:-$cache/sysroot-armhf} ;;
amd64) goarch=amd64 triplet=x86_64-linux-gnu qemu= sr= ;;
*) echo "xgo.sh: unsupported architecture $arch (want arm64, armhf or amd64)" >&2; exit 2 ;;
esac

if [ -n "$sr" ]; then
	"$here/sysroot.sh" "$arch" "$sr"
fi

case ${1:-} in
sysroot) echo "$sr"; exit 0 ;;
qemu)
	if [ -z "$qemu" ]; then echo "env"; exit 0; fi
	# -L makes the target's dynamic loader and libraries (from the sysroot) visible to the guest.
	echo "$qemu -L $sr"
	exit 0 ;;
esac

export GOOS=linux GOARCH=$goarch CGO_ENABLED=1
if [ "$arch" = armhf ]; then
	# Raspberry Pi 2 and later; Debian's armhf is ARMv7 with VFPv3-D16, hard float.
	export GOARM=7
fi
if [ -n "$sr" ]; then
	export CC="$triplet-gcc --sysroot=$sr" CXX="$triplet-g++ --sysroot=$sr"
	export PKG_CONFIG_LIBDIR="$sr/usr/lib/$triplet/pkgconfig:$sr/usr/share/pkgconfig"
	export PKG_CONFIG_SYSROOT_DIR="$sr"
	unset PKG_CONFIG_PATH
	# OpenCV's libraries pull in their own dependencies (BLAS, ffmpeg, GStreamer...): the linker
	# must find those in the sysroot too, not on the host.
	export CGO_LDFLAGS="${CGO_LDFLAGS:-} -Wl,-rpath-link=$sr/usr/lib/$triplet -Wl,-rpath-link=$sr/lib/$triplet"
fi
if [ "${OPENCV:-debian}" = slim ]; then
	cv=$("$here/opencv-slim.sh" "$arch")
	pcdirs=$cv/lib/pkgconfig:${PKG_CONFIG_LIBDIR:-$(pkg-config --variable pc_path pkg-config)}
	# opencv4.pc leaves out videoio's FFmpeg and GStreamer libraries: they are named here.
	libs=$(PKG_CONFIG_LIBDIR=$pcdirs pkg-config --static --libs opencv4 libavformat libavcodec libswscale libavutil \
		gstreamer-app-1.0 gstreamer-video-1.0 gstreamer-pbutils-1.0 gstreamer-audio-1.0 gstreamer-riff-1.0 gstreamer-base-1.0 gstreamer-1.0)
	export CGO_CPPFLAGS="${CGO_CPPFLAGS:-} -I$cv/include/opencv4"
	export CGO_LDFLAGS="${CGO_LDFLAGS:-} $libs"
	export GOFLAGS="${GOFLAGS:-} -tags=customenv"
elif [ "${OPENCV:-debian}" != debian ]; then
	echo "xgo.sh: OPENCV=$OPENCV: want debian or slim" >&2
	exit 2
fi
exec "${GO:-go}" "$@"
