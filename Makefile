# edge-agent: the two commands are `make run` and `make test` (see README.md).
# Every target installs what it needs on a fresh Debian 12 machine.

SHELL := /bin/bash
GO    ?= go
BIN   := bin
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the build and the tests need: OpenCV for gocv, ffmpeg and GStreamer for video
# sources, mosquitto for the MQTT tests, nats-server for the cluster tests (a 3-node NATS cluster
# with its MQTT gateway), openssl for test certificates.
APT_PKGS := libopencv-dev pkg-config ffmpeg gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-tools gstreamer1.0-libav mosquitto mosquitto-clients nats-server openssl

# Debian packages only the tests need: headless chromium for the status page test (never a
# downloaded browser) and Jinja2 to render the Home Assistant templates as Home Assistant does.
TEST_APT_PKGS := chromium python3-jinja2

# OPENCV=slim links a static OpenCV and FFmpeg cut down to what the agent uses
# (deploy-arm/scripts/opencv-slim.sh: built once from Debian's sources, about 20 minutes; amd64)
# instead of Debian's shared OpenCV, for about a third of the memory (docs/architecture.md,
# Memory). `make build OPENCV=slim`, `make bench-mem OPENCV=slim`, `make test-slim`.
OPENCV ?= debian
SLIM_APT_PKGS := cmake ninja-build nasm dpkg-dev libjpeg-dev libpng-dev zlib1g-dev libprotobuf-dev \
	protobuf-compiler libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
GOCV = $(if $(filter slim,$(OPENCV)),OPENCV=slim deploy-arm/scripts/xgo.sh $(GOHOSTARCH),$(GO))

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Fuzz time per fuzz target in `make test`; `make test-long` runs longer.
# FUZZMUL scales every fuzz target's execution budget (test-long runs 30 times as many).
FUZZMUL ?= 1

# The official TensorFlow Lite 2.9.0 C library (third_party/tensorflow-lite), fetched with npm and
# checked against its sha256 into the user's cache, where the agent finds it.
TFLITE_DIR  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/edge-agent/tflite-2.9.0
GOHOSTARCH  := $(shell $(GO) env GOHOSTARCH 2>/dev/null)
TFLITE_LIB  := $(TFLITE_DIR)/linux_$(GOHOSTARCH)/libtensorflowlite_c.so
# The tests use (and must load) that copy on the machines it exists for; elsewhere they skip.
TFLITE_TEST_ENV := $(if $(filter amd64 arm64,$(GOHOSTARCH)),EDGE_AGENT_TFLITE_LIBRARY=$(TFLITE_LIB))

.PHONY: all deps test-deps opencv-deps test-slim build run test test-long fuzz bench bench-insn bench-mem bench-fleet bench-motion bench-cluster vet fmt clean tflite-lib

all: build

# deps installs the Debian packages (only those missing) and downloads the Go modules.
deps: $(if $(filter slim,$(OPENCV)),opencv-deps)
	@dpkg -s $(APT_PKGS) >/dev/null 2>&1 || { \
		echo "installing Debian packages: $(APT_PKGS)"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(APT_PKGS); }
	$(GO) mod download

# opencv-deps installs what building the slim OpenCV needs.
opencv-deps:
	@dpkg -s $(SLIM_APT_PKGS) >/dev/null 2>&1 || { \
		echo "installing Debian packages for the slim OpenCV: $(SLIM_APT_PKGS)"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(SLIM_APT_PKGS); }

test-deps: deps
	@dpkg -s $(TEST_APT_PKGS) >/dev/null 2>&1 || { \
		echo "installing Debian packages for the tests: $(TEST_APT_PKGS)"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(TEST_APT_PKGS); }

build: deps
	$(GOCV) build -ldflags '$(LDFLAGS)' -o $(BIN)/edge-agent ./cmd/edge-agent

# tflite-lib provisions the official TensorFlow Lite library in $(TFLITE_DIR) (npm, installed with
# apt when missing).
tflite-lib:
	@command -v npm >/dev/null || { \
		echo "installing Debian package npm (to fetch the TensorFlow Lite library)"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends npm; }
	third_party/tensorflow-lite/fetch.sh $(TFLITE_DIR)

# run starts the agent on its embedded defaults: the bundled sample clip, the bundled SSD model
# on model.runtime auto (the pure-Go runtime and the library tflite-lib provisions, timed on the
# model, the faster kept) and an embedded MQTT broker on localhost:1883, printing every record as
# a JSON line and the status page's address (http://127.0.0.1:8080/).
run: build tflite-lib
	$(BIN)/edge-agent run --print $(RUN_ARGS)

vet: deps
	$(GO) vet ./...

# RACE_AGENT are the agent tests `make test` also runs under the race detector: the ones where
# goroutines meet (shutdown, reload, commands, HTTP, OTA swaps, camera health). The others run the
# model for minutes under it and add nothing the race detector could find.
RACE_AGENT := TestShutdownLeavesNoGoroutine|TestReloadWhileCameraMissing|TestCommands|TestReloadBetweenFrames|TestReloadSwapsModelOnlyIfItLoads|TestHTTPOnTheRunningAgent|TestOTAUpdateSwitchesModel|TestOTABadUpdatesKeepTheModel|TestLiveViewWithGating|TestFrozenCameraReopenedThenWatchdog|TestStalledStreamStopsWatchdog|TestMissingCameraKeepsRunning|TestReadyAndWatchdogWhileFramesFlow|TestBrokerURLFromEnvironment

# RACE_TFLITE are the tflite tests of the worker pool's hand-offs (its spinning and parking) and
# of the kernels that split work over it.
RACE_TFLITE := Pool|DetectionPostProcessPool|PadFloat|ThreadsAndClose|ColumnSplit|ArithQuantizedLUT|ArgMinMaxPool|ResizeBilinear8Exact

# FUZZ lists package:target:executions. The budgets are counts, not durations: with a duration
# Go 1.26's fuzz coordinator can fail a clean run with "context deadline exceeded" when the
# deadline lands while a worker is mid-call (golang/go#75804, fixed in Go 1.27). A count also
# includes the cached corpus's baseline, and each budget takes about 10 s here.
FUZZ := ./tflite:FuzzLoadModel:2000 ./tflite:FuzzGraph:4000 \
	./tflite/internal/fb:FuzzFlatbuffer:200000 ./tflite/internal/fb:FuzzFlexBuffer:100000 \
	./tflite/vision:FuzzDecodeImage:100000 ./ota:FuzzManifest:50000 ./ota:FuzzChunk:50000

test: test-deps vet tflite-lib
	$(TFLITE_TEST_ENV) $(GO) test -timeout 14m ./...
	$(GO) test -race -short -count=1 -run '$(RACE_AGENT)' ./agent/
	$(GO) test -race -short -count=1 ./sync/ ./ota/
	$(GO) test -race -count=1 -run '$(RACE_TFLITE)' ./tflite/
	$(GO) test -tags purego -count=1 ./tflite/
	$(GO) test -tags matprofile -run TestMatLeak -count=1 ./camera/
	$(MAKE) --no-print-directory fuzz

fuzz: deps
	@for f in $(FUZZ); do \
		IFS=: read -r pkg target n <<<"$$f"; n=$$((n * $(FUZZMUL))); \
		$(GO) test -list "^$$target$$" "$$pkg" | grep -qx "$$target" || { echo "fuzz: no target $$target in $$pkg"; exit 1; }; \
		echo "fuzz $$target for $${n} executions"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime "$${n}x" "$$pkg" || exit 1; \
	done

test-long: test-deps tflite-lib
	$(TFLITE_TEST_ENV) $(GO) test -timeout 60m -tags long ./...
	$(MAKE) --no-print-directory fuzz FUZZMUL=30

bench: build tflite-lib
	$(GO) run ./cmd/tflite-bench $(if $(TFLITE_TEST_ENV),-library $(TFLITE_LIB))

# bench-insn counts the instructions of one Invoke on one thread, ours next to the official
# library's, on amd64 (callgrind) and on arm64 under qemu-aarch64 with QEMU's counting plugin
# (deploy-arm/scripts/qemu-plugins.sh builds it once, about 2 minutes), as a CPU with the
# dot-product extension and as a Cortex-A72: the arm64 figures that wall time under emulation
# cannot give. About 13 minutes for every model; BENCH_MODELS names some instead.
BENCH_INSN_APT_PKGS := valgrind meson ninja-build libglib2.0-dev dpkg-dev
bench-insn: deploy-deps tflite-lib
	@dpkg -s $(BENCH_INSN_APT_PKGS) >/dev/null 2>&1 || { \
		echo "installing Debian packages for bench-insn: $(BENCH_INSN_APT_PKGS)"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(BENCH_INSN_APT_PKGS); }
	TFLITE_DIR=$(TFLITE_DIR) $(DEPLOY)/scripts/bench-insn.sh $(BENCH_MODELS)

# bench-mem runs the built binary under /usr/bin/time (its peak RSS, as a user would measure) on
# `version` (the floor: OpenCV's ~260 shared libraries and the binary), `infer` with the bundled
# SSD and `run --once` on the sample clip (MQTT off, then the embedded broker), and prints each
# peak with its file-backed and anonymous parts and the Go heap gctrace saw.
bench-mem: deps
	@dpkg -s time >/dev/null 2>&1 || { $(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends time; }
	$(GOCV) test -run '^$$' -bench '^BenchmarkMemory$$' -benchtime 1x ./cmd/edge-agent/ | grep -E '^(mem|ok|FAIL)'

# test-slim runs the tests of everything that touches OpenCV (capture, preprocessing, the agent
# and the binary end to end) linked against the slim OpenCV, and checks that binary is static in
# OpenCV and FFmpeg. Not part of `make test`: the first build of that OpenCV takes 20 minutes.
test-slim: test-deps opencv-deps tflite-lib
	$(MAKE) --no-print-directory build OPENCV=slim BIN=$(BIN)/slim
	@! ldd $(BIN)/slim/edge-agent | grep -E 'libopencv|libav(codec|format|util)|libswscale' || \
		{ echo "test-slim: the slim binary loads a shared OpenCV or FFmpeg"; exit 1; }
	OPENCV=slim $(TFLITE_TEST_ENV) deploy-arm/scripts/xgo.sh $(GOHOSTARCH) test -timeout 14m -count=1 ./camera/... ./agent/ ./cmd/edge-agent/

# bench-fleet pushes the bundled 4.2 MB model to 10, 100 and 500 simulated devices (the real
# device-side OTA code with a stand-in runtime) on a local mosquitto: time to all committed and
# the broker's message rate. FLEET_SIZES=10,50 picks other sizes.
bench-fleet: deps
	$(GO) test -run '^$$' -bench '^BenchmarkFleet$$' -benchtime 1x -timeout 60m ./ota/operator/

# bench-motion measures the motion pass next to one inference of the shipped SSD, and the CPU time
# per second of video with gating off and on over testdata/clips/motion.mp4 (same run, same
# machine). MOTION_BENCH_FULL=1 runs every inference instead of timing one (minutes).
bench-motion: deps
	$(GO) test -run '^$$' -bench 'Detect|InferSSD' -benchtime 2s ./camera/motion/
	$(GO) test -run '^$$' -bench Gating -benchtime 1x ./camera/motion/

# bench-cluster runs 10 and 100 simulated devices (the real sync client and bbolt outbox each, in
# one process) against a 3-node NATS cluster and against one mosquitto, side by side: records/s
# end to end, and after a node is SIGKILLed the time until every device is connected again and
# until a consumer has the backlog (sync/cluster_bench_test.go). BENCH_VERIFY=off runs the devices
# without the per-connection delivery check.
bench-cluster: deps
	$(GO) test -run '^$$' -bench Cluster -benchtime 1x -timeout 30m ./sync/

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)

# Cross builds, Debian packages and ARM tests under qemu.
-include deploy-arm/deploy.mk
