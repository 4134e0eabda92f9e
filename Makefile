# edge-agent: the two commands are `make run` and `make test` (see README.md).
# Every target installs what it needs on a fresh Debian 12 machine.

SHELL := /bin/bash
GO    ?= go
BIN   := bin
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the build and the tests need: OpenCV for gocv, ffmpeg and GStreamer for video
# sources, mosquitto for the MQTT tests, openssl for test certificates.
APT_PKGS := libopencv-dev pkg-config ffmpeg gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-tools gstreamer1.0-libav mosquitto mosquitto-clients openssl

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Fuzz time per fuzz target in `make test`; `make test-long` runs longer.
FUZZTIME ?= 10s

.PHONY: all deps build run test test-long bench vet fmt clean

all: build

# deps installs the Debian packages (only those missing) and downloads the Go modules.
deps:
	@dpkg -s $(APT_PKGS) >/dev/null 2>&1 || { \
		echo "installing Debian packages: $(APT_PKGS)"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(APT_PKGS); }
	$(GO) mod download

build: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/edge-agent ./cmd/edge-agent

# run starts the agent on its embedded defaults: the bundled sample clip, the bundled SSD model
# and an embedded MQTT broker on localhost:1883.
run: build
	$(BIN)/edge-agent run $(RUN_ARGS)

vet: deps
	$(GO) vet ./...

test: deps vet
	$(GO) test -timeout 14m ./...
	$(GO) test -run '^$$' -fuzz FuzzLoadModel -fuzztime $(FUZZTIME) ./tflite

test-long: deps
	$(GO) test -timeout 60m -tags long ./...
	$(GO) test -run '^$$' -fuzz FuzzLoadModel -fuzztime 10m ./tflite

bench: build
	$(GO) run ./cmd/tflite-bench

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)

# Cross builds, Debian packages and ARM tests under qemu.
-include deploy-arm/deploy.mk
