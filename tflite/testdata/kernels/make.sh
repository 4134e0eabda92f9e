#!/bin/sh
# Runs the official TensorFlow Lite runtime on the single-op models in this folder (all, or the
# cases named as arguments) and stores its outputs as want.json: LiteRT.js (see shared/tfref), or
# for the cases holding a file "native" the official C library (see shared/tfnative, TFLite's own
# kernels). Models and inputs come from
#   go test -tags goldengen -run TestGenerateKernelGoldens ./tflite/
set -eu
TFREF_DIR=${TFREF_DIR:-$HOME/.cache/tfref}
TFNATIVE=${TFNATIVE:-$HOME/.cache/tfnative/tfnative}
cd "$(dirname "$0")"
[ $# -gt 0 ] || set -- */
for d in "$@"; do
	d=${d%/}
	inputs=$(ls "$d"/input*.bin | sort | paste -sd, -)
	if [ -f "$d/native" ]; then
		"$TFNATIVE" "$d/model.tflite" "$inputs" "$d/want.json" 1 0 1 >"$d/run.log" 2>&1 || { echo "$d: failed"; cat "$d/run.log"; }
		echo "$d: tfnative $(head -1 "$d/run.log")"
	else
		node --experimental-wasm-relaxed-simd "$TFREF_DIR/run.mjs" "$d/model.tflite" --input "$inputs" \
			--warmup 0 --runs 1 --out "$d/want.json" >"$d/run.log" 2>&1 || { echo "$d: failed"; cat "$d/run.log"; }
		grep -E '^(ops|runtime)' "$d/run.log" | head -2 | sed "s|^|$d: |"
	fi
	rm -f "$d/run.log"
done
