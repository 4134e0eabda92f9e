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
# With PATCH_FROM and PATCH_TO set (hex), that byte string of the model is replaced first.
golden() {
	name=$1 model=$2
	shift 2
	mkdir -p "$here/$name" "$tmp/$name"
	run=$root/$model
	if [ -n "${PATCH_FROM:-}" ]; then
		run=$tmp/patched.tflite
		node -e '
			const fs = require("fs");
			const [src, dst, from, to] = process.argv.slice(1);
			const b = fs.readFileSync(src), f = Buffer.from(from, "hex"), t = Buffer.from(to, "hex");
			const i = b.indexOf(f);
			if (i < 0 || b.indexOf(f, i + 1) >= 0 || f.length !== t.length) throw new Error("patch must match once, same length");
			t.copy(b, i);
			fs.writeFileSync(dst, b);' "$root/$model" "$run" "$PATCH_FROM" "$PATCH_TO"
	fi
	node --experimental-wasm-relaxed-simd "$TFREF/run.mjs" "$run" "$@" \
		--runs 1 --warmup 0 --dump-inputs "$tmp/$name" --out "$tmp/$name.json" >/dev/null
	gzip -9n <"$tmp/$name/input0.bin" >"$here/$name/input0.bin.gz"
	node "$here/trim.mjs" "$tmp/$name.json" "$model" ${PATCH_FROM:+"$PATCH_FROM" "$PATCH_TO"} >"$here/$name/want.json"
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
# The SSD with regular (per-class) NMS: the custom options' "_output_quantized" key (true) renamed
# "use_regular_nms" in place, the map's keys re-sorted.
ssdopts=795f7363616c65005f6f75747075745f7175616e74697a6564006d61785f646574656374696f6e73006e6d735f73636f72655f7468726573686f6c6400775f7363616c6500785f7363616c65006e6d735f696f755f7468726573686f6c6400685f7363616c65006d61785f636c61737365735f7065725f646574656374696f6e006e756d5f636c6173736573000a86302977456a135851970a000000010000000a000000010000000000a040010000000a0000009a99193f77cc2b325a0000000000a04000002041000020416a0e06060e0e060e0e0e322601
ssdregular=795f7363616c65007573655f726567756c61725f6e6d730000006d61785f646574656374696f6e73006e6d735f73636f72655f7468726573686f6c6400775f7363616c6500785f7363616c65006e6d735f696f755f7468726573686f6c6400685f7363616c65006d61785f636c61737365735f7065725f646574656374696f6e006e756d5f636c6173736573000a2f28764469128c5851970a000000010000000a0000000000a040010000000a0000009a99193f77cc2b325a000000010000000000a04000002041000020410e06060e0e066a0e0e0e322601
PATCH_FROM=$ssdopts PATCH_TO=$ssdregular golden ssd_regular_cats $ssd --output-shapes "$ssdshapes" --input "$(image testdata/models/detect/cats_and_dogs.jpg 300 300 u8)"
PATCH_FROM=$ssdopts PATCH_TO=$ssdregular golden ssd_regular_prng $ssd --output-shapes "$ssdshapes" --gen prng
# No golden for int8_person/person_detect.tflite: both official WASM runtimes refuse to load it
# ("quantized_dimension must be in range [0, 1). Was 3."); its published results are checked by
# tflite/models_test.go.
golden hello_float_ramp $tiny/hello_world_float.tflite --gen ramp
golden hello_int8_prng $tiny/hello_world_int8.tflite --gen prng
golden sin_ramp $tiny/sin_model.tflite --gen ramp
golden mnist_3 $tiny/mnist_model.tflite --input "$(image $tiny/mnist_3.png 28 28 f01 --gray)"
golden mnist_prng $tiny/mnist_model.tflite --gen prng
