#!/usr/bin/env bash
# test-arm.sh DIST PKG... proves the ARM builds work, under qemu-user against the target sysroots:
#   1. the tests of PKG... (the core packages) for arm64 and armv7, less those matching the
#      regexp $TEST_ARM_SKIP (tests that re-execute their own binary cannot under qemu-user
#      without binfmt_misc, which this script does not register on the machine);
#   2. cvprobe, a small gocv program, decodes a clip with the target's OpenCV/ffmpeg on amd64,
#      arm64 and armv7, and the frame statistics agree (predcmp);
#   3. the agent binaries DIST/{amd64,arm64,armhf}/edge-agent start (all their shared libraries
#      load) and report the same version; the arm64 agent runs the bundled model on the arm64
#      official TensorFlow Lite library ($TFLITE_DIR, make tflite-lib; `model inspect --runtime
#      tflite`) and `infer --runtime tflite` detects on it what amd64's pure-Go runtime does;
#      the arm64 agent runs the sample clip with the bundled model on the pure-Go runtime and
#      again with `--runtime tflite`, and its records match the amd64 agent's on the same runtime
#      (same detections: classes and labels equal, scores within a few quantization steps, boxes
#      within a few pixels; timestamps and timings ignored).
#   The tests of PKG... under qemu-aarch64 load the arm64 library (tflite/native, tflite/backend).
# Run from the repository root.
set -euo pipefail

dist=${1:?usage: test-arm.sh DIST PKG...}
shift
pkgs=("$@")
here=$(cd "$(dirname "$0")" && pwd)
xgo=$here/xgo.sh
go=${GO:-go}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { echo "== test-arm: $* ($(date -u +%T))" >&2; }

step "packaging tools' own tests"
"$go" -C "$here/../tools" test -count=1 ./...
"$go" -C "$here/../tools" build -o "$work/predcmp" ./predcmp

declare -A qemu
for arch in arm64 armhf; do
	qemu[$arch]=$("$xgo" "$arch" qemu)
done

# The official TensorFlow Lite library (make tflite-lib): Google's arm64 build runs under qemu-aarch64;
# there is no armhf build, so there the agent runs on its pure-Go runtime only.
tflite=${TFLITE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-agent/tflite-2.9.0}
lib_arm64=$tflite/linux_arm64/libtensorflowlite_c.so
lib_amd64=$tflite/linux_amd64/libtensorflowlite_c.so
for lib in "$lib_arm64" "$lib_amd64"; do
	[ -f "$lib" ] || { echo "test-arm: $lib missing (make tflite-lib)" >&2; exit 1; }
done

if [ "${#pkgs[@]}" -gt 0 ]; then
	for arch in arm64 armhf; do
		step "go test ${pkgs[*]} for $arch under ${qemu[$arch]%% *}"
		# On arm64 the tests of tflite/native and tflite/backend must load the arm64 library; on
		# armhf they find none and skip. qemu-user cannot start the vetting process (below).
		lib=
		[ "$arch" = arm64 ] && lib=$lib_arm64
		EDGE_AGENT_TFLITE_LIBRARY=$lib EDGE_AGENT_TFLITE_VET=off "$xgo" "$arch" test -count=1 -timeout 30m -exec "${qemu[$arch]}" \
			${TEST_ARM_SKIP:+-skip "$TEST_ARM_SKIP"} "${pkgs[@]}"
	done
	# qemu's default arm64 CPU has the dot-product extension (UDOT/SDOT, as a Pi 5); a Cortex-A72
	# (Pi 4) has not, and takes the SMLAL kernels: run the kernel and whole-model tests on it too.
	step "go test ./tflite -run 'SIMD|Golden|Published' for arm64 as a Cortex-A72 (no dotprod)"
	QEMU_CPU=cortex-a72 "$xgo" arm64 test -count=1 -timeout 30m -exec "${qemu[arm64]}" \
		-run 'SIMD|Golden|Published' ./tflite
fi

clip=testdata/clips/sample.mp4
if [ ! -f "$clip" ]; then
	clip=$work/probe.mp4
	ffmpeg -loglevel error -f lavfi -i testsrc=size=320x240:rate=10 -t 3 -pix_fmt yuv420p -c:v libx264 "$clip"
fi
step "cvprobe: decode $clip with gocv on amd64, arm64 and armv7"
for arch in amd64 arm64 armhf; do
	# -trimpath as for the agent, so that gocv's compiled C++ is shared through the build cache.
	(cd "$here/../tools" && "$xgo" "$arch" build -trimpath -o "$work/cvprobe-$arch" ./cvprobe)
done
"$work/cvprobe-amd64" -clip "$clip" -frames 20 >"$work/probe-amd64.jsonl"
for arch in arm64 armhf; do
	# shellcheck disable=SC2086 # the qemu command line is meant to split
	${qemu[$arch]} "$work/cvprobe-$arch" -clip "$clip" -frames 20 >"$work/probe-$arch.jsonl"
	# ffmpeg converts YUV to BGR with different SIMD code per CPU: on the sample clip the frame
	# means of amd64 and arm64 differ by up to 0.9 grey levels.
	"$work/predcmp" -ignore= -tol mean=1.5,small_mean=1.5 "$work/probe-amd64.jsonl" "$work/probe-$arch.jsonl"
done

step "agent binaries start under qemu and report the amd64 version"
"$dist/amd64/edge-agent" version >"$work/version-amd64"
for arch in arm64 armhf; do
	# shellcheck disable=SC2086
	${qemu[$arch]} "$dist/$arch/edge-agent" version >"$work/version-$arch"
	if ! cmp -s "$work/version-amd64" "$work/version-$arch"; then
		echo "test-arm: $arch agent reports $(cat "$work/version-$arch"), amd64 $(cat "$work/version-amd64")" >&2
		exit 1
	fi
done
echo "version: $(cat "$work/version-amd64")" >&2

ssd=models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite
cats=testdata/models/detect/cats_and_dogs.jpg
# qemu-user cannot start a foreign binary without binfmt_misc, so the process in which the agent
# vets a model before the official library builds it (tflite/native) is off under qemu.
export EDGE_AGENT_TFLITE_VET=off
step "the arm64 agent runs the bundled model on the arm64 official library under qemu"
# shellcheck disable=SC2086
out=$(${qemu[arm64]} "$dist/arm64/edge-agent" model inspect --runtime tflite --library "$lib_arm64" "$ssd" 2>&1) ||
	{ echo "$out" >&2; exit 1; }
grep -q '^choice: *tflite 2\.9\.0' <<<"$out" || { echo "test-arm: not run on the library: $out" >&2; exit 1; }
# `infer -h` exits 2 after printing the flags (and pipefail would count that).
infer_help=$("$dist/amd64/edge-agent" infer -h 2>&1 || true)
if grep -q -- '-runtime' <<<"$infer_help"; then
	step "infer: arm64 on the official runtime under qemu vs amd64 on the pure-Go runtime"
	"$dist/amd64/edge-agent" infer --runtime go --model "$ssd" --image "$cats" --json >"$work/infer-amd64.jsonl"
	# shellcheck disable=SC2086
	${qemu[arm64]} "$dist/arm64/edge-agent" infer --runtime tflite --library "$lib_arm64" --model "$ssd" --image "$cats" \
		--json >"$work/infer-arm64.jsonl"
	# The same input on both, but the two runtimes' quantized kernels round differently
	# (tflite/backend's agreement tests): on cats_and_dogs.jpg scores move by up to 3 steps of
	# 1/256 and box edges by up to 7 pixels of the 1200x600 image.
	"$work/predcmp" -ignore= -match detections -threshold 0.3 -tol score=0.03,x=10,y=10,w=10,h=10 \
		"$work/infer-amd64.jsonl" "$work/infer-arm64.jsonl"
else
	echo "test-arm: infer has no --runtime yet: the arm64 library's detections were compared by tflite/backend's tests only" >&2
fi

# `run -h` exits 2 after printing the flags.
run_help=$("$dist/amd64/edge-agent" run -h 2>&1 || true)
if grep -q -- '-once' <<<"$run_help"; then
	step "agent: arm64 under qemu vs amd64 on the sample clip"
	run_agent() { # run_agent ARCH OUT [agent flags...]: under qemu for ARM, with a fresh state
		local arch=$1 out=$2 state
		shift 2
		state=$(mktemp -d "$work/state-$arch.XXXX")
		# A free port for the status page, which the comparison does not need.
		# shellcheck disable=SC2086 # the qemu command line is meant to split
		EDGE_AGENT_HTTP_LISTEN=127.0.0.1:0 ${qemu[$arch]:-} "$dist/$arch/edge-agent" run --source testdata/clips/sample.mp4 \
			--model models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite \
			--labels models/labelmap.txt --once --print --no-mqtt --state-dir "$state" "$@" >"$out"
	}
	# Both on the pure-Go runtime: the default, auto, would time the runtimes and might pick either.
	run_agent amd64 "$work/agent-amd64.jsonl" --runtime go
	run_agent arm64 "$work/agent-arm64.jsonl" --runtime go
	if [ ! -s "$work/agent-amd64.jsonl" ]; then
		echo "test-arm: the amd64 agent printed no record" >&2
		exit 1
	fi
	# The model runs bit-exactly on both (the tflite golden tests above check that under qemu),
	# but OpenCV decodes, converts and resizes each frame with different SIMD code on each CPU, so
	# the model's uint8 input differs by a grey level here and there. On the sample clip that moves
	# scores by up to 6 quantization steps (1/256 each) and boxes by up to 4 pixels, and can push a
	# detection scoring near the 0.5 threshold to the other side of it.
	"$work/predcmp" -ignore ts,infer_ms -match detections -threshold 0.5 \
		-tol score=0.03,x=5,y=5,w=5,h=5 "$work/agent-amd64.jsonl" "$work/agent-arm64.jsonl"
	if grep -q -- '-runtime' <<<"$run_help"; then
		step "agent: arm64 on the official runtime (runtime: tflite) under qemu vs amd64 on it"
		run_agent amd64 "$work/agent-amd64-tflite.jsonl" --runtime tflite --library "$lib_amd64"
		run_agent arm64 "$work/agent-arm64-tflite.jsonl" --runtime tflite --library "$lib_arm64"
		# Google's arm64 build computes otherwise than its amd64 one (other optimized kernels),
		# on top of the frames' differences above: on the letterboxed frames of the sample clip
		# teddy bear scores move by up to 9 steps of 1/256 and one box by 22 pixels (the same
		# bear, IoU 0.88), against both the amd64 library and the pure-Go runtime. So boxes are
		# compared by overlap here.
		for want in agent-amd64-tflite agent-amd64; do
			"$work/predcmp" -ignore ts,infer_ms -match detections -threshold 0.5 \
				-tol score=0.04 -iou 0.85 "$work/$want.jsonl" "$work/agent-arm64-tflite.jsonl"
		done
	else
		echo "test-arm: the agent has no 'run --runtime' yet: the official runtime was checked through infer only" >&2
	fi
else
	echo "test-arm: the agent has no 'run --once' yet: only its start-up and version were checked" >&2
fi
step "all passed"
