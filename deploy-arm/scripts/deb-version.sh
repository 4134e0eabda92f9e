#!/usr/bin/env bash
# deb-version.sh prints a Debian package version for the current git checkout: v1.2.3 -> 1.2.3,
# v1.2.3-4-gabcdef -> 1.2.3+4.gabcdef, an untagged commit -> 0~git<commit count>.<hash>, each with
# "+dirty" for uncommitted changes. Debian versions must start with a digit and sort like the
# history, which the commit count provides for untagged builds.
set -euo pipefail

if d=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
	d=${d#v}
	base=${d%%-*}
	rest=${d#"$base"}
	echo "$base$(echo "$rest" | sed -e 's/^-//' -e 's/-dirty$/+dirty/' -e 's/^\([0-9]*\)-g/+\1.g/')" | sed 's/^\([^+]*\)+dirty$/\1+dirty/'
elif h=$(git rev-parse --short HEAD 2>/dev/null); then
	v="0~git$(git rev-list --count HEAD).$h"
	if ! git diff --quiet HEAD 2>/dev/null; then v="$v+dirty"; fi
	echo "$v"
else
	echo "0~dev"
fi
