#!/usr/bin/env bash
# make.sh rebuilds sample.mp4 from real images committed under testdata/models/.
# Run from anywhere: bash testdata/clips/make.sh (needs ffmpeg with libx264).
#
# Timeline (640x480, 10 fps, 60 frames, 6 s):
#   frames  0-19  cats_and_dogs.jpg (1200x600) STRETCHED to 640x480: the SSD model sees the same
#                 pixels as the published tflite-support detection example (1200x600 stretched to
#                 300x300), so cats and a dog are expected here.
#   frames 20-29  burger.jpg (480x325) letterboxed (scaled to 640x433, black bars): no cat or dog.
#   frames 30-49  cats_and_dogs.jpg LETTERBOXED to 640x320 with black bars top and bottom.
#   frames 50-59  burger.jpg stretched to 640x480.
# Every frame is a keyframe-cheap still (libx264, no B-frames, a keyframe every 10 frames) so the
# clip stays small, decodes frame-exactly with OpenCV's FFmpeg backend and loops cleanly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
models="$here/../models"
cats="$models/detect/cats_and_dogs.jpg"
burger="$models/classify_quant/burger.jpg"

ffmpeg -hide_banner -loglevel error -y \
	-loop 1 -framerate 10 -t 2 -i "$cats" \
	-loop 1 -framerate 10 -t 1 -i "$burger" \
	-loop 1 -framerate 10 -t 2 -i "$cats" \
	-loop 1 -framerate 10 -t 1 -i "$burger" \
	-filter_complex "\
[0:v]scale=640:480,setsar=1,format=yuv420p[a];\
[1:v]scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2:black,setsar=1,format=yuv420p[b];\
[2:v]scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2:black,setsar=1,format=yuv420p[c];\
[3:v]scale=640:480,setsar=1,format=yuv420p[d];\
[a][b][c][d]concat=n=4:v=1:a=0,fps=10[out]" \
	-map "[out]" -c:v libx264 -preset veryslow -crf 18 -bf 0 -g 10 -pix_fmt yuv420p \
	-movflags +faststart -map_metadata -1 -fflags +bitexact -flags:v +bitexact \
	"$here/sample.mp4"

ffprobe -v error -count_frames -select_streams v:0 \
	-show_entries stream=width,height,nb_read_frames,r_frame_rate -of csv=p=0 "$here/sample.mp4"
ls -l "$here/sample.mp4"
