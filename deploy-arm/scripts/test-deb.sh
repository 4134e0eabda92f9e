#!/usr/bin/env bash
# test-deb.sh DIST VERSION tests the Debian packages DIST/edge-agent_VERSION_{amd64,arm64,armhf}.deb.
#
# Every package is unpacked and inspected: architecture and version, the files and their modes
# (the TensorFlow Lite library and its license in the amd64 and arm64 packages, none in armhf),
# /etc/edge-agent/edge-agent.yaml as the only conffile and byte-equal to deploy-arm/edge-agent.yaml,
# the unit byte-equal to deploy-arm/edge-agent.service, the binary's ELF machine, and Depends equal
# to what deb-depends.sh derives from the binary (every package named exists in the target's
# Debian 12 sysroot).
#
# The amd64 package then goes through its life in a Debian 12 chroot made with mmdebstrap (minbase
# plus the package's Depends and systemd, cached as a tarball), with a policy-rc.d that logs and refuses every
# service action, and /run/systemd/system present so the maintainer scripts act as under systemd:
#   install  -> user edge-agent in group video, state directory, config mode 0640 root:edge-agent,
#               unit enabled but not started, the binary runs (its Depends pulled in every library
#               it needs) and accepts the shipped config (`run --check`), the TensorFlow Lite
#               library loads from /usr/lib/edge-agent (`model inspect --runtime tflite`, and
#               the agent's own check with model.runtime tflite),
#               `systemd-analyze verify` passes on the installed unit;
#   upgrade  -> to VERSION+upgradetest: the admin's edit of the config and the state survive, the
#               service is try-restarted (restarted only if running), still enabled;
#   remove   -> binary and library gone, service stopped, config and state kept;
#   purge    -> config, state, enablement and statoverride gone.
# Run from the repository root.
set -euo pipefail

dist=${1:?usage: test-deb.sh DIST VERSION}
version=${2:?usage: test-deb.sh DIST VERSION}
here=$(cd "$(dirname "$0")" && pwd)
cache=${SYSROOT_CACHE:-$HOME/.cache/edge-agent}
work=$(mktemp -d)
root=$work/root
cleanup() {
	for m in proc dev/pts dev; do
		if mountpoint -q "$root/$m" 2>/dev/null; then umount -l "$root/$m"; fi
	done
	rm -rf "$work"
}
trap cleanup EXIT

step() { echo "== test-deb: $* ($(date -u +%T))" >&2; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
check() { # check DESCRIPTION COMMAND...: fail with DESCRIPTION unless COMMAND succeeds
	local what=$1
	shift
	"$@" || fail "$what"
}

step "apt-mirrors.sh on a fixture apt configuration"
"$here/test-apt-mirrors.sh"

# ---- static inspection of every package ----
for arch in amd64 arm64 armhf; do
	deb=$dist/edge-agent_${version}_$arch.deb
	step "inspect $deb"
	[ -f "$deb" ] || fail "$deb missing (make deb)"
	x=$work/x-$arch
	mkdir -p "$x/ctl"
	dpkg-deb -x "$deb" "$x" && dpkg-deb -e "$deb" "$x/ctl"
	check "$arch: Architecture" test "$(dpkg-deb -f "$deb" Architecture)" = "$arch"
	check "$arch: Version" test "$(dpkg-deb -f "$deb" Version)" = "$version"
	check "$arch: conffiles" test "$(cat "$x/ctl/conffiles")" = /etc/edge-agent/edge-agent.yaml
	check "$arch: shipped config differs from deploy-arm/edge-agent.yaml" cmp "$x/etc/edge-agent/edge-agent.yaml" deploy-arm/edge-agent.yaml
	check "$arch: shipped unit differs from deploy-arm/edge-agent.service" cmp "$x/lib/systemd/system/edge-agent.service" deploy-arm/edge-agent.service
	for f in models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite models/labelmap.txt; do
		check "$arch: $f" cmp "$x/usr/share/edge-agent/$f" "$f"
	done
	check "$arch: /usr/bin/edge-agent not executable" test -x "$x/usr/bin/edge-agent"
	# The official TensorFlow Lite library: the checked 2.9.0 build for amd64 and arm64, none for armhf.
	lib=$x/usr/lib/edge-agent/libtensorflowlite_c.so
	case $arch in
	amd64 | arm64)
		want=$(awk -v f="linux_$arch/libtensorflowlite_c.so" '$2 == f {print $1}' third_party/tensorflow-lite/SHA256SUMS)
		check "$arch: $lib missing" test -f "$lib"
		check "$arch: $lib is not the TensorFlow Lite 2.9.0 build" test "$(sha256sum <"$lib" | cut -d' ' -f1)" = "$want"
		check "$arch: library license" cmp "$x/usr/lib/edge-agent/LICENSE.tensorflow-lite" third_party/tensorflow-lite/LICENSE
		check "$arch: library mode" test "$(stat -c %a "$lib")" = 644
		;;
	armhf) check "armhf: ships /usr/lib/edge-agent, which has no armhf build" test ! -e "$x/usr/lib/edge-agent" ;;
	esac
	for s in postinst prerm postrm; do
		check "$arch: $s" cmp "$x/ctl/$s" "deploy-arm/debian/$s"
	done
	case $arch in
	amd64) machine="Advanced Micro Devices X86-64" triplet=x86_64-linux-gnu admin=/var/lib/dpkg ;;
	arm64) machine=AArch64 triplet=aarch64-linux-gnu admin="$("$here/xgo.sh" arm64 sysroot)/var/lib/dpkg" ;;
	armhf) machine=ARM triplet=arm-linux-gnueabihf admin="$("$here/xgo.sh" armhf sysroot)/var/lib/dpkg" ;;
	esac
	got=$(readelf -h "$x/usr/bin/edge-agent" | sed -n 's/^ *Machine: *//p')
	check "$arch: binary is for '$got', not '$machine'" test "$got" = "$machine"
	want="adduser, $("$here/deb-depends.sh" "$x/usr/bin/edge-agent" "$admin" "$triplet")"
	check "$arch: Depends: got '$(dpkg-deb -f "$deb" Depends)', want '$want'" test "$(dpkg-deb -f "$deb" Depends)" = "$want"
	for p in $(dpkg-deb -f "$deb" Depends | sed -e 's/([^)]*)//g' -e 's/,/ /g'); do
		[ "$p" = adduser ] && continue
		check "$arch: Depends names $p, which the target's sysroot lacks" \
			dpkg-query --admindir="$admin" -W "$p" >/dev/null
	done
	echo "$arch: Depends: $(dpkg-deb -f "$deb" Depends)" >&2
done

# ---- the amd64 package's life in a Debian 12 chroot ----
deb=$dist/edge-agent_${version}_amd64.deb
# systemd and procps (/bin/kill) let `systemd-analyze verify --root` check the unit against a
# real Debian 12 system: targets, ExecReload's kill.
deps="$(dpkg-deb -f "$deb" Depends | sed -e 's/([^)]*)//g' -e 's/ //g'),systemd,procps"
key=$(echo "$deps" | sha256sum | cut -c1-16)
tarball=$cache/debroot-amd64-$key.tar
if [ ! -f "$tarball" ]; then
	step "create the Debian 12 test root (minbase + $deps)"
	mapfile -t mirrors < <("$here/apt-mirrors.sh" bookworm)
	[ "${#mirrors[@]}" -gt 0 ] || fail "no bookworm Debian source in /etc/apt"
	mkdir -p "$cache"
	delay=15
	for ((i = 1; ; i++)); do
		# mmdebstrap picks the output format from the name: keep .tar at the end.
		if mmdebstrap --quiet --variant=minbase --include="$deps" bookworm "$tarball.part.tar" "${mirrors[@]}"; then
			mv "$tarball.part.tar" "$tarball"
			break
		fi
		rm -f "$tarball.part.tar"
		((i < 4)) || fail "mmdebstrap failed $i times"
		echo "test-deb: mmdebstrap failed; retrying in ${delay}s" >&2
		sleep "$delay"
		delay=$((delay * 2))
	done
	# Roots made for an older Depends list are of no further use.
	find "$cache" -maxdepth 1 -name 'debroot-amd64-*.tar' ! -name "${tarball##*/}" -delete
fi
step "unpack the test root"
mkdir -p "$root"
tar -C "$root" -xf "$tarball"
mount -t proc proc "$root/proc"
cat >"$root/usr/sbin/policy-rc.d" <<'POLICY'
#!/bin/sh
# Log every service action the maintainer scripts ask for, and allow none.
echo "$*" >>/var/log/policy-rc.d.log
exit 101
POLICY
chmod 0755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/run/systemd/system"
: >"$root/var/log/policy-rc.d.log"
in_root() { chroot "$root" "$@"; }
policy_log() { cat "$root/var/log/policy-rc.d.log"; }
wants=$root/etc/systemd/system/multi-user.target.wants/edge-agent.service

step "install $version"
cp "$deb" "$root/tmp/v1.deb"
in_root dpkg -i /tmp/v1.deb >&2
check "not installed" test "$(in_root dpkg-query -W -f '${Status} ${Version}' edge-agent)" = "install ok installed $version"
check "user edge-agent" in_root getent passwd edge-agent >/dev/null
check "edge-agent not in group video" bash -c "chroot '$root' id -nG edge-agent | grep -qw video"
check "state dir" test "$(in_root stat -c '%U:%G %a' /var/lib/edge-agent)" = "edge-agent:edge-agent 750"
check "config mode" test "$(in_root stat -c '%U:%G %a' /etc/edge-agent/edge-agent.yaml)" = "root:edge-agent 640"
check "installed config differs from deploy-arm/edge-agent.yaml" cmp "$root/etc/edge-agent/edge-agent.yaml" deploy-arm/edge-agent.yaml
check "unit not enabled" test -L "$wants"
check "service started on install: $(policy_log)" test -z "$(policy_log)"
# The binary loads every shared library it links from the packages its Depends pulled in.
in_root /usr/bin/edge-agent version >&2 || fail "installed binary does not run"
# The shipped config is valid for the agent's strict loader, and names the installed model.
in_root /usr/bin/edge-agent run --check --config /etc/edge-agent/edge-agent.yaml >&2 || fail "the shipped config does not load"
if in_root ldd /usr/bin/edge-agent | grep -q 'not found'; then fail "unresolved libraries: $(in_root ldd /usr/bin/edge-agent | grep 'not found')"; fi
# The official TensorFlow Lite runtime loads from /usr/lib/edge-agent (the first place the agent
# looks) with what Depends installed, and runs the shipped model.
model=/usr/share/edge-agent/models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite
out=$(in_root /usr/bin/edge-agent model inspect --runtime tflite "$model" 2>&1) || fail "model inspect --runtime tflite: $out"
grep -q '^library: *'/usr/lib/edge-agent/libtensorflowlite_c.so'$' <<<"$out" || fail "the library did not load from /usr/lib/edge-agent: $out"
grep -q '^choice: *tflite 2.9.0' <<<"$out" || fail "model inspect --runtime tflite: $out"
if in_root ldd /usr/lib/edge-agent/libtensorflowlite_c.so | grep -q 'not found'; then fail "the TensorFlow Lite library has unresolved libraries"; fi
# The agent itself loads the shipped model on it from there: model.runtime tflite makes a library
# that does not load a configuration error.
in_root env EDGE_AGENT_MODEL_RUNTIME=tflite /usr/bin/edge-agent run --check --config /etc/edge-agent/edge-agent.yaml >&2 ||
	fail "the agent does not run the shipped config with model.runtime tflite"
step "systemd-analyze verify the installed unit"
systemd-analyze verify --root="$root" /lib/systemd/system/edge-agent.service
echo marker >"$root/var/lib/edge-agent/outbox.db"

step "upgrade to $version+upgradetest"
NFPM=${NFPM:-bin/nfpm} "$here/deb.sh" amd64 "$work/x-amd64/usr/bin/edge-agent" "$version+upgradetest" "$work/v2" >/dev/null
cp "$work/v2/edge-agent_${version}+upgradetest_amd64.deb" "$root/tmp/v2.deb"
echo "# edited by the admin" >>"$root/etc/edge-agent/edge-agent.yaml"
in_root dpkg -i --force-confold /tmp/v2.deb >&2
check "not upgraded" test "$(in_root dpkg-query -W -f '${Status} ${Version}' edge-agent)" = "install ok installed $version+upgradetest"
check "admin's config edit lost" grep -q '^# edited by the admin' "$root/etc/edge-agent/edge-agent.yaml"
check "config mode after upgrade" test "$(in_root stat -c '%U:%G %a' /etc/edge-agent/edge-agent.yaml)" = "root:edge-agent 640"
check "state lost on upgrade" test "$(cat "$root/var/lib/edge-agent/outbox.db")" = marker
check "unit not enabled after upgrade" test -L "$wants"
check "upgrade must try-restart (only), got: $(policy_log)" test "$(policy_log)" = "edge-agent.service try-restart"

step "remove"
: >"$root/var/log/policy-rc.d.log"
in_root dpkg -r edge-agent >&2
check "not removed" test "$(in_root dpkg-query -W -f '${Status}' edge-agent)" = "deinstall ok config-files"
check "binary left behind" test ! -e "$root/usr/bin/edge-agent"
check "TensorFlow Lite library left behind" test ! -e "$root/usr/lib/edge-agent"
check "unit file left behind" test ! -e "$root/lib/systemd/system/edge-agent.service"
check "remove must stop the service, got: $(policy_log)" test "$(policy_log)" = "edge-agent.service stop"
check "config removed before purge" test -f "$root/etc/edge-agent/edge-agent.yaml"
check "state removed before purge" test -f "$root/var/lib/edge-agent/outbox.db"

step "purge"
in_root dpkg -P edge-agent >&2
if in_root dpkg-query -W edge-agent >/dev/null 2>&1; then fail "still known to dpkg after purge"; fi
check "/etc/edge-agent left behind" test ! -e "$root/etc/edge-agent"
check "/var/lib/edge-agent left behind" test ! -e "$root/var/lib/edge-agent"
check "enablement left behind" test ! -e "$wants" -a ! -L "$wants"
check "mask left behind" test ! -e "$root/etc/systemd/system/edge-agent.service"
if in_root dpkg-statoverride --list /etc/edge-agent/edge-agent.yaml >/dev/null; then fail "statoverride left behind"; fi
if ls "$root"/var/lib/systemd/deb-systemd-helper-enabled/ 2>/dev/null | grep -q edge-agent; then
	fail "deb-systemd-helper state left behind"
fi

step "all passed"
