# Cross builds, Debian packages and ARM tests under qemu (deploy-arm/README.md). Included by the
# top Makefile, whose GO, BIN, SUDO, VERSION and LDFLAGS it uses.
#
#   make sysroot    Debian 12 arm64/armhf sysroots (cached in $(SYSROOT_CACHE))
#   make arm64      dist/arm64/edge-agent          (cgo + OpenCV, cross-compiled)
#   make armv7      dist/armhf/edge-agent          (GOARM=7)
#   make deb        dist/edge-agent_<v>_{amd64,arm64,armhf}.deb
#   make test-arm   core tests and the agent under qemu-user, compared with amd64
#   make test-deb   install/upgrade/remove/purge in a Debian 12 chroot, inspect the ARM packages

DEPLOY        := deploy-arm
DIST          ?= dist
# Sysroots and the test chroot are cached here between runs; delete the directory to rebuild.
SYSROOT_CACHE ?= $(HOME)/.cache/edge-agent
export SYSROOT_CACHE GO
XGO           := $(DEPLOY)/scripts/xgo.sh
DEB_VERSION   ?= $(shell $(DEPLOY)/scripts/deb-version.sh)
# Packages are stripped: a Pi has little storage and the symbols are in the build tree.
DEPLOY_LDFLAGS := $(LDFLAGS) -s -w
# Packages whose tests test-arm runs under qemu: the ones that need no outside daemon.
TEST_ARM_PKGS ?= ./tflite/... ./store/...
# store's crash and full-disk tests run their own test binary as a child process, which qemu-user
# cannot do without binfmt_misc (a machine-wide setting test-arm leaves alone).
TEST_ARM_SKIP ?= ^(TestCrash|TestFileSizeLimit)$$
export TEST_ARM_SKIP

# What cross-building and the package tests need on a Debian 12 amd64 machine.
DEPLOY_APT_PKGS := mmdebstrap qemu-user-static binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf \
	gcc-aarch64-linux-gnu g++-aarch64-linux-gnu gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf \
	pkg-config libopencv-dev ffmpeg systemd debian-archive-keyring

.PHONY: deploy-deps sysroot arm64 armv7 deb test-arm test-deb $(DIST)/amd64/edge-agent \
	$(DIST)/arm64/edge-agent $(DIST)/armhf/edge-agent

deploy-deps:
	@dpkg -s $(DEPLOY_APT_PKGS) >/dev/null 2>&1 || { \
		echo "installing Debian packages: $(DEPLOY_APT_PKGS)"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(DEPLOY_APT_PKGS); }

sysroot: deploy-deps
	$(DEPLOY)/scripts/sysroot.sh arm64 $$($(XGO) arm64 sysroot)
	$(DEPLOY)/scripts/sysroot.sh armhf $$($(XGO) armhf sysroot)

arm64: $(DIST)/arm64/edge-agent
armv7: $(DIST)/armhf/edge-agent

$(DIST)/arm64/edge-agent: deploy-deps
	$(XGO) arm64 build -trimpath -ldflags '$(DEPLOY_LDFLAGS)' -o $@ ./cmd/edge-agent
$(DIST)/armhf/edge-agent: deploy-deps
	$(XGO) armhf build -trimpath -ldflags '$(DEPLOY_LDFLAGS)' -o $@ ./cmd/edge-agent
$(DIST)/amd64/edge-agent: deploy-deps
	$(XGO) amd64 build -trimpath -ldflags '$(DEPLOY_LDFLAGS)' -o $@ ./cmd/edge-agent

$(BIN)/nfpm: $(DEPLOY)/tools/go.mod $(DEPLOY)/tools/go.sum
	$(GO) -C $(DEPLOY)/tools build -o $(CURDIR)/$@ github.com/goreleaser/nfpm/v2/cmd/nfpm

deb: $(DIST)/amd64/edge-agent $(DIST)/arm64/edge-agent $(DIST)/armhf/edge-agent $(BIN)/nfpm tflite-lib
	for a in amd64 arm64 armhf; do \
		NFPM=$(BIN)/nfpm TFLITE_DIR=$(TFLITE_DIR) $(DEPLOY)/scripts/deb.sh $$a $(DIST)/$$a/edge-agent $(DEB_VERSION) $(DIST) || exit 1; \
	done

test-arm: $(DIST)/amd64/edge-agent $(DIST)/arm64/edge-agent $(DIST)/armhf/edge-agent tflite-lib
	TFLITE_DIR=$(TFLITE_DIR) $(DEPLOY)/scripts/test-arm.sh $(DIST) $(TEST_ARM_PKGS)

test-deb: deb
	TFLITE_DIR=$(TFLITE_DIR) $(DEPLOY)/scripts/test-deb.sh $(DIST) $(DEB_VERSION)
