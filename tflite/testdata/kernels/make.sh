#!/bin/sh
# Runs the official TensorFlow Lite runtime (LiteRT.js, see shared/tfref) on the single-op models
# in this folder (all, or the cases named as arguments) and stores its outputs as want.json.
# Models and inputs come from
#   go test -tags goldengen -run TestGenerateKernelGoldens ./tflite/
set -eu
TFREF_DIR=${TFREF_DIR:-$HOME/.cache/tfref}
cd "$(dirname "$0")"
[ $# -gt 0 ] || set -- */
for d in "$@"; do
	d=${d%/}
	inputs=$(ls "$d"/input*.bin | sort | paste -sd, -)
	node --experimental-wasm-relaxed-simd "$TFREF_DIR/run.mjs" "$d/model.tflite" --input "$inputs" \
		--warmup 0 --runs 1 --out "$d/want.json" >"$d/run.log" 2>&1 || { echo "$d: failed"; cat "$d/run.log"; }
	grep -E '^(ops|runtime)' "$d/run.log" | head -2 | sed "s|^|$d: |"
	rm -f "$d/run.log"
done
