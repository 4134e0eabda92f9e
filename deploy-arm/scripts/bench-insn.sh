#!/usr/bin/env bash
# bench-insn.sh [MODEL...] counts the instructions one Invoke takes, on one thread, for the
# pure-Go runtime and the official TensorFlow Lite library (its own kernels, and XNNPACK), on
# amd64 with valgrind's callgrind and on arm64 under qemu-aarch64 with QEMU's instruction-counting
# plugin (qemu-plugins.sh), once as a CPU with the dot-product extension (qemu's "max", as a
# Cortex-A76 or a Pi 5) and once as a Cortex-A72 (a Pi 4, which lacks it). Wall time under
# emulation says nothing; an instruction count is the same for the same binary and input whatever
# the machine does. It prints one line per model and CPU:
#
#	insn MODEL_FILE arch=arm64 cpu=cortex-a72 go=297.3M tflite=1020M xnnpack=NA ratio=0.29
#
# ratio is go over the smallest official count; NA is a runtime that cannot run the model
# (the reason is on stderr). Each count is the difference between a process that invokes 1+K
# times and one that invokes once, over K (per_invoke below), so loading and start-up cancel
# out. The garbage collector is off, and so is Go's asynchronous preemption (a storm of signals
# under valgrind); GOMAXPROCS is 1, as the work is one thread's, so that no idle scheduler
# thread spins while the counter serializes the threads.
# MODEL defaults to what `tflite-bench -list` prints; CPUS (default "max cortex-a72") and
# RUNTIMES (default "go tflite xnnpack") narrow the runs. TFLITE_DIR is the official library's
# folder (make tflite-lib).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
go=${GO:-go}
tflite_dir=${TFLITE_DIR:?TFLITE_DIR: the folder make tflite-lib fills}
cpus=${CPUS:-max cortex-a72}
runtimes=${RUNTIMES:-go tflite xnnpack}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
"$go" build -o "$tmp/tflite-bench-amd64" ./cmd/tflite-bench
"$here/xgo.sh" arm64 build -o "$tmp/tflite-bench-arm64" ./cmd/tflite-bench
sysroot=$("$here/xgo.sh" arm64 sysroot)
qemu=$("$here/qemu-plugins.sh")

if [ $# -gt 0 ]; then
	models=("$@")
else
	mapfile -t models < <("$tmp/tflite-bench-amd64" -list)
fi

export GODEBUG=asyncpreemptoff=1 GOGC=off GOMAXPROCS=1 EDGE_AGENT_TFLITE_VET=off

# total ARCH CPU RUNTIME MODEL N prints the instructions of a whole process that invokes N times,
# or nothing when the runtime refuses the model (its error goes to stderr).
total() {
	local arch=$1 cpu=$2 rt=$3 model=$4 n=$5 out
	local args=(-invokes "$n" -runtime "$rt" -threads 1 -library "$tflite_dir/linux_$arch/libtensorflowlite_c.so" "$model")
	if [ "$arch" = amd64 ]; then
		out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$tmp/tflite-bench-amd64" "${args[@]}" 2>&1) ||
			{ echo "bench-insn.sh: $(basename "$model") $rt on $arch: $(echo "$out" | grep -v '^==' | tail -1)" >&2; return 0; }
		echo "$out" | sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p'
	else
		out=$("$qemu/qemu-aarch64" -L "$sysroot" -cpu "$cpu" -plugin "$qemu/libinsn.so,inline=on" -d plugin \
			"$tmp/tflite-bench-arm64" "${args[@]}" 2>&1) ||
			{ echo "bench-insn.sh: $(basename "$model") $rt on $arch $cpu: $(echo "$out" | grep -v '^insns:' | tail -1)" >&2; return 0; }
		echo "$out" | sed -n 's/^insns: \([0-9]*\)$/\1/p' | tail -1
	fi
}

# per_invoke ARCH CPU RUNTIME MODEL prints the instructions of one Invoke: the difference between
# a process that invokes 1+K times and one that invokes once, over K. K is 2, or 200 when those
# two invocations took under 20 M instructions. Then each total is the least of three runs: the Go
# runtime's own threads add a few hundred thousand instructions to a process, now and then far
# more, which would swamp a tiny model's count (what they add is never negative).
per_invoke() {
	local one more
	one=$(total "$@" 1)
	[ -n "$one" ] || return 0
	more=$(total "$@" 3)
	[ -n "$more" ] || return 0
	if [ $((more - one)) -ge 20000000 ]; then
		echo $(((more - one) / 2))
		return 0
	fi
	one=$(least "$@" 1)
	more=$(least "$@" 201)
	echo $(((more - one) / 200))
}

# least ARCH CPU RUNTIME MODEL N prints the smallest of three totals.
least() {
	local a b c
	a=$(total "$@") b=$(total "$@") c=$(total "$@")
	printf '%s\n' "$a" "$b" "$c" | sort -n | head -1
}

# millions prints a count in millions: 3 significant figures, at most one decimal.
millions() {
	awk -v n="$1" 'BEGIN { m = n / 1e6; if (m >= 100) printf "%.0fM", m; else if (m >= 1) printf "%.1fM", m; else printf "%.3gM", m }'
}

declare -A per
for model in "${models[@]}"; do
	for target in amd64:host $(for c in $cpus; do echo "arm64:$c"; done); do
		arch=${target%%:*} cpu=${target#*:}
		line="insn $(basename "$model") arch=$arch cpu=$cpu"
		per=()
		for rt in go tflite xnnpack; do
			per[$rt]=
			if [[ " $runtimes " == *" $rt "* ]]; then
				per[$rt]=$(per_invoke "$arch" "$cpu" "$rt" "$model")
			fi
			line+=" $rt=$([ -n "${per[$rt]}" ] && millions "${per[$rt]}" || echo NA)"
		done
		best=
		for rt in tflite xnnpack; do
			if [ -n "${per[$rt]}" ] && { [ -z "$best" ] || [ "${per[$rt]}" -lt "$best" ]; }; then
				best=${per[$rt]}
			fi
		done
		ratio=NA
		if [ -n "${per[go]}" ] && [ -n "$best" ]; then
			ratio=$(awk -v a="${per[go]}" -v b="$best" 'BEGIN { printf (a / b < 0.1 ? "%.2g" : "%.2f"), a / b }')
		fi
		echo "$line ratio=$ratio"
	done
done
