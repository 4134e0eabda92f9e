#!/usr/bin/env bash
# test-apt-mirrors.sh checks apt-mirrors.sh on a fixture apt configuration: deb822 and one-line
# sources, folded fields, disabled entries, deb-src, options in brackets, comments and other
# releases' suites.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
etc=$(mktemp -d)
trap 'rm -rf "$etc"' EXIT
mkdir -p "$etc/sources.list.d"
cat >"$etc/sources.list" <<'SRC'
deb [signed-by=/usr/share/keyrings/x.gpg] http://one.invalid/debian bookworm main contrib
# deb http://commented.invalid/debian bookworm main
deb-src http://one.invalid/debian bookworm main
deb http://other.invalid/ubuntu jammy main
SRC
cat >"$etc/sources.list.d/debian.sources" <<'SRC'
Types: deb deb-src
URIs: http://two.invalid/debian
  http://three.invalid/debian
Suites: bookworm bookworm-updates
Components: main
# a comment inside a paragraph

Enabled: no
Types: deb
URIs: http://disabled.invalid/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://four.invalid/debian-security
Suites: bookworm-security
Components: main
SRC
want='deb http://two.invalid/debian bookworm main
deb http://two.invalid/debian bookworm-updates main
deb http://three.invalid/debian bookworm main
deb http://three.invalid/debian bookworm-updates main
deb http://four.invalid/debian-security bookworm-security main
deb http://one.invalid/debian bookworm main contrib'
got=$(APT_SOURCES_DIR=$etc "$here/apt-mirrors.sh" bookworm)
if [ "$got" != "$want" ]; then
	echo "test-apt-mirrors.sh: FAIL: got"
	echo "$got"
	echo "want"
	echo "$want"
	exit 1
fi >&2
if [ -n "$(APT_SOURCES_DIR=$etc "$here/apt-mirrors.sh" trixie)" ]; then
	echo "test-apt-mirrors.sh: FAIL: entries for a suite that is not configured" >&2
	exit 1
fi
echo "test-apt-mirrors.sh: ok" >&2
