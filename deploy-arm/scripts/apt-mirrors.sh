#!/usr/bin/env bash
# apt-mirrors.sh prints this machine's Debian apt sources for SUITE (default bookworm) as one-line
# "deb URI SUITE COMPONENTS" entries, one per line, for mmdebstrap. The mirror is read from the apt
# configuration at run time so that no host name is ever committed: CI and developers each use
# whatever mirror (or snapshot) their machine is configured with.
#
# Reads /etc/apt/sources.list.d/*.sources (deb822), /etc/apt/sources.list.d/*.list and
# /etc/apt/sources.list; only entries of type "deb" whose suite is SUITE or SUITE-* are kept, so
# third-party repositories (other suites) are left out. APT_SOURCES_DIR overrides /etc/apt for tests.
set -euo pipefail

suite=${1:-bookworm}
etc=${APT_SOURCES_DIR:-/etc/apt}

{
	shopt -s nullglob
	for f in "$etc"/sources.list.d/*.sources; do
		# deb822: paragraphs separated by blank lines; fields may be folded, comments start with #.
		awk -v OFS=' ' '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && uris != "" && suites != "") {
					n = split(uris, u, " "); m = split(suites, s, " ")
					for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print "deb", u[i], s[j], comps
				}
				types = uris = suites = comps = ""; enabled = 1
			}
			BEGIN { enabled = 1 }
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { if (enabled) flush(); else { types = uris = suites = comps = ""; enabled = 1 }; next }
			{
				line = $0
				if (match(line, /^[A-Za-z-]+:/)) {
					key = tolower(substr(line, 1, RLENGTH - 1)); val = substr(line, RLENGTH + 1)
				} else { val = line }   # folded continuation of the previous key
				gsub(/^[ \t]+|[ \t]+$/, "", val)
				if (key == "types") types = types " " val
				else if (key == "uris") uris = uris " " val
				else if (key == "suites") suites = suites " " val
				else if (key == "components") comps = comps " " val
				else if (key == "enabled" && tolower(val) == "no") enabled = 0
			}
			END { if (enabled) flush() }
		' "$f" | sed -E 's/  +/ /g'
	done
	for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# one-line format; drop "[options]" (the keyring of the host is not needed by mmdebstrap,
		# which verifies with debian-archive-keyring).
		sed -E -e 's/#.*//' -e 's/\[[^]]*\]//' -e 's/[ \t]+/ /g' -e 's/^ //' -e 's/ $//' "$f" | grep -E '^deb ' || true
	done
} | awk -v suite="$suite" '$1 == "deb" && ($3 == suite || index($3, suite "-") == 1) && !seen[$0]++'
