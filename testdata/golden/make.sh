#!/bin/sh
# Regenerates the golden outputs in this folder with the official TensorFlow Lite runtime
# (LiteRT.js, WASM, under Node.js). Run from anywhere; needs the runtime set up by
# ../shared/tfref/setup.sh in $TFREF_DIR (default ~/.cache/tfref), and ffmpeg to turn the JPEG/BMP
# test images into PNGs for make_input.mjs.
#
# Each case folder holds input0.bin.gz (the raw input tensor, gzipped) and want.json (the model
# path, the input and the reference outputs; quantized outputs are raw integers).
set -eu
TFREF=${TFREF_DIR:-$HOME/.cache/tfref}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# image SRC H W MODE [--gray]: a raw input file made from a test image (nearest-neighbour resize).
image() {
	src=$1 h=$2 w=$3 mode=$4
	shift 4
	png=$tmp/$(basename "$src").png
	ffmpeg -loglevel error -y -i "$root/$src" "$png"
	node "$TFREF/make_input.mjs" "$png" "$h" "$w" "$mode" "$tmp/img.bin" "$@" >/dev/null
	echo "$tmp/img.bin"
}

# golden NAME MODEL RUN_ARGS...: runs the reference (LiteRT.js) on MODEL and stores the case.
golden() {
	name=$1 model=$2
	shift 2
	mkdir -p "$here/$name" "$tmp/$name"
	node --experimental-wasm-relaxed-simd "$TFREF/run.mjs" "$root/$model" "$@" \
		--runs 1 --warmup 0 --dump-inputs "$tmp/$name" --out "$tmp/$name.json" >/dev/null
	gzip -9n <"$tmp/$name/input0.bin" >"$here/$name/input0.bin.gz"
	node "$here/trim.mjs" "$tmp/$name.json" "$model" >"$here/$name/want.json"
	echo "$name: $(wc -c <"$here/$name/input0.bin.gz") + $(wc -c <"$here/$name/want.json") bytes"
}

quant=testdata/models/classify_quant/mobilenet_v1_0.25_224_quant.tflite
float=testdata/models/classify_float/mobilenet_v1_0.25_224_1_metadata_1.tflite
ssd=models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite
ssdshapes="1,10,4;1,10;1,10;1"
tiny=testdata/models/tiny

golden classify_quant_burger $quant --input "$(image testdata/models/classify_quant/burger-224.png 224 224 u8)"
golden classify_quant_prng $quant --gen prng
golden classify_float_burger $float --input "$(image testdata/models/classify_quant/burger-224.png 224 224 fpm1)"
golden classify_float_ramp $float --gen ramp
golden ssd_cats $ssd --output-shapes "$ssdshapes" --input "$(image testdata/models/detect/cats_and_dogs.jpg 300 300 u8)"
golden ssd_prng $ssd --output-shapes "$ssdshapes" --gen prng
# No golden for int8_person/person_detect.tflite: both official WASM runtimes refuse to load it
# ("quantized_dimension must be in range [0, 1). Was 3."); its published results are checked by
# tflite/models_test.go.
golden hello_float_ramp $tiny/hello_world_float.tflite --gen ramp
golden hello_int8_prng $tiny/hello_world_int8.tflite --gen prng
golden sin_ramp $tiny/sin_model.tflite --gen ramp
golden mnist_3 $tiny/mnist_model.tflite --input "$(image $tiny/mnist_3.png 28 28 f01 --gray)"
golden mnist_prng $tiny/mnist_model.tflite --gen prng
