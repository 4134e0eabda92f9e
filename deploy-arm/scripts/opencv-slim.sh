#!/usr/bin/env bash
# opencv-slim.sh ARCH builds (once) the "slim" OpenCV the agent can be linked against instead of
# Debian's, and prints the directory it is installed in. ARCH is amd64 (the host); cross builds
# for arm64 and armhf are not written yet.
#
# Why: Debian's OpenCV is built with everything (GDAL, GDCM, OpenEXR, Qt, gphoto2, FFmpeg with
# every codec library Debian has), so the agent loads about 260 shared libraries and a process
# that does nothing has a resident set of about 95 MB, most of a Pi Zero 2 W's budget. The slim
# build is static and holds only what the agent uses:
#
#   - OpenCV 4.6.0 (Debian's source package, with Debian's patches): the modules gocv compiles
#     (core, imgproc, imgcodecs, videoio, highgui, objdetect, features2d, flann, calib3d, dnn,
#     photo, video); images in JPEG and PNG (and the built-in BMP, PNM, HDR, Sun raster);
#     capture from V4L2 devices, FFmpeg and GStreamer; no GUI, no OpenCL, no IPP.
#   - FFmpeg 5.1 (Debian's source package) cut down to the decoders, demuxers and protocols of
#     cameras and video files: H.264, HEVC, MJPEG, MPEG-4, VP8/VP9, FFV1 and raw video; MP4/MOV,
#     Matroska/WebM, AVI, MPEG-TS, FLV, MJPEG over HTTP, RTSP/RTP over TCP and UDP; plain HTTP
#     (no TLS).
#   - GStreamer, libjpeg, libpng, zlib and protobuf stay Debian's shared libraries (small, and
#     GStreamer's plugins are Debian's anyway).
#
# The sources come from the machine's Debian mirror (debsrc.sh: apt-get source, checked against
# the signed index) into $SYSROOT_CACHE/src; the build goes to $SYSROOT_CACHE/opencv-slim-ARCH,
# stamped with the recipe number and the source versions, so a second run does nothing, and a
# new recipe or a Debian update of either source rebuilds. It is built in a temporary directory and renamed
# into place only when complete.
# Build time on 2 cores: about 20 minutes for amd64. JOBS overrides the parallelism.
set -euo pipefail

arch=${1:?usage: opencv-slim.sh ARCH}
here=$(cd "$(dirname "$0")" && pwd)
cache=${SYSROOT_CACHE:-$HOME/.cache/edge-agent}
jobs=${JOBS:-$(nproc)}

if [ "$arch" != amd64 ] || [ "$(dpkg --print-architecture)" != amd64 ]; then
	echo "opencv-slim.sh: only the amd64 build on an amd64 host is written so far (asked: $arch)" >&2
	exit 2
fi

opencv_src=$("$here/debsrc.sh" opencv)
ffmpeg_src=$("$here/debsrc.sh" ffmpeg)

# Bump recipe when a configure or cmake option below changes: the cache is rebuilt.
recipe=1
stamp="recipe=$recipe opencv=$(basename "$opencv_src") ffmpeg=$(basename "$ffmpeg_src") arch=$arch"
dest=$cache/opencv-slim-$arch
if [ -f "$dest/.edge-agent-opencv" ] && [ "$(cat "$dest/.edge-agent-opencv")" = "$stamp" ]; then
	echo "$dest"
	exit 0
fi

syspc=$(pkg-config --variable pc_path pkg-config)

tmp=$(mktemp -d "$dest.tmp.XXXXXX")
# Installed under a fixed path first (the .pc files name it), renamed to $dest when complete.
prefix=$dest.build
rm -rf "$prefix"
trap 'rm -rf "$tmp" "$prefix"' EXIT

echo "opencv-slim.sh: building FFmpeg ($(basename "$ffmpeg_src")) for $arch" >&2
mkdir -p "$tmp/ffmpeg" && cd "$tmp/ffmpeg"
export PKG_CONFIG_LIBDIR=$syspc
unset PKG_CONFIG_PATH
"$ffmpeg_src/configure" --prefix="$prefix" \
	--enable-static --disable-shared --enable-pic --disable-programs --disable-doc \
	--disable-avdevice --disable-avfilter --disable-postproc --disable-swresample \
	--disable-autodetect --enable-pthreads --enable-zlib --disable-debug \
	--disable-everything \
	--enable-decoder=h264,hevc,mjpeg,mpeg4,vp8,vp9,ffv1,rawvideo \
	--enable-encoder=ffv1,mjpeg,rawvideo \
	--enable-parser=h264,hevc,mjpeg,mpeg4video,vp8,vp9 \
	--enable-demuxer=mov,matroska,avi,mpegts,flv,mjpeg,mpjpeg,h264,hevc,rtsp,rtp,sdp,rawvideo \
	--enable-muxer=avi,matroska,mov,mp4 \
	--enable-protocol=file,pipe,tcp,udp,rtp,http,httpproxy \
	--enable-bsf=h264_mp4toannexb,hevc_mp4toannexb \
	>"$tmp/ffmpeg.log" 2>&1 || { tail -30 "$tmp/ffmpeg.log" >&2; exit 1; }
make -j"$jobs" >>"$tmp/ffmpeg.log" 2>&1 || { tail -30 "$tmp/ffmpeg.log" >&2; exit 1; }
make install >>"$tmp/ffmpeg.log" 2>&1

echo "opencv-slim.sh: building OpenCV ($(basename "$opencv_src")) for $arch" >&2
export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig:$syspc
cmake -G Ninja -S "$opencv_src" -B "$tmp/opencv" \
	-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_SHARED_LIBS=OFF \
	-DENABLE_PIC=ON -DOPENCV_GENERATE_PKGCONFIG=ON \
	-DBUILD_LIST=core,imgproc,imgcodecs,videoio,highgui,objdetect,features2d,flann,calib3d,dnn,photo,video \
	-DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF \
	-DBUILD_DOCS=OFF -DBUILD_JAVA=OFF -DBUILD_opencv_python2=OFF -DBUILD_opencv_python3=OFF \
	-DBUILD_ZLIB=OFF -DBUILD_JPEG=OFF -DBUILD_PNG=OFF -DBUILD_PROTOBUF=OFF -DPROTOBUF_UPDATE_FILES=ON \
	-DWITH_JPEG=ON -DWITH_PNG=ON -DWITH_TIFF=OFF -DWITH_WEBP=OFF -DWITH_OPENJPEG=OFF -DWITH_JASPER=OFF \
	-DWITH_OPENEXR=OFF -DWITH_GDAL=OFF -DWITH_GDCM=OFF -DWITH_IMGCODEC_HDR=ON -DWITH_AVIF=OFF \
	-DWITH_FFMPEG=ON -DWITH_GSTREAMER=ON -DWITH_V4L=ON -DWITH_1394=OFF -DWITH_GPHOTO2=OFF \
	-DWITH_GTK=OFF -DWITH_QT=OFF -DWITH_OPENGL=OFF -DWITH_VTK=OFF -DWITH_WAYLAND=OFF \
	-DWITH_IPP=OFF -DWITH_ITT=OFF -DWITH_TBB=OFF -DWITH_OPENMP=OFF -DWITH_PTHREADS_PF=ON \
	-DWITH_OPENCL=OFF -DWITH_VA=OFF -DWITH_VA_INTEL=OFF -DWITH_CUDA=OFF -DWITH_OPENVX=OFF \
	-DWITH_LAPACK=OFF -DWITH_EIGEN=OFF -DWITH_PROTOBUF=ON -DWITH_QUIRC=OFF -DWITH_ADE=OFF \
	-DWITH_CAROTENE=OFF -DWITH_ONNX=OFF -DWITH_HALIDE=OFF -DWITH_VULKAN=OFF -DWITH_FLATBUFFERS=OFF \
	-DOPENCV_ENABLE_NONFREE=OFF -DCV_TRACE=OFF \
	>"$tmp/opencv.log" 2>&1 || { tail -40 "$tmp/opencv.log" >&2; exit 1; }
ninja -C "$tmp/opencv" -j"$jobs" install >>"$tmp/opencv.log" 2>&1 || { grep -B2 -A12 'FAILED\|error:' "$tmp/opencv.log" | head -60 >&2; exit 1; }

grep -rlF "$prefix" "$prefix/lib/pkgconfig" "$prefix/lib/cmake" | xargs sed -i "s#$prefix#$dest#g"
sed -n '/General configuration/,/Install to/p' "$tmp/opencv.log" >"$prefix/opencv-build-info.txt"
echo "$stamp" >"$prefix/.edge-agent-opencv"
rm -rf "$dest.old"
if [ -e "$dest" ]; then mv "$dest" "$dest.old"; fi
mv "$prefix" "$dest"
rm -rf "$dest.old"
echo "opencv-slim.sh: $arch slim OpenCV ready: $dest" >&2
echo "$dest"
