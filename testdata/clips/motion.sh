#!/usr/bin/env bash
# motion.sh rebuilds motion.mp4, the clip the motion-gating tests and benchmarks decode, from real
# photos committed in this repository. Run from anywhere: bash testdata/clips/motion.sh (needs
# ffmpeg with libx264). With --sources it first remakes src/*.png from the originals they were scaled
# from, in the shared model folder ($SHARED, default ../shared beside the repository: read-only, on
# the development machines only).
#
# The scene is a room with three pets (cats_and_dogs.jpg) and a bird on a rail in the top right
# corner that sways like a tree in the wind (the area a user would mask). 640x480, 10 fps, 130 s;
# every frame gets light temporal noise, as a camera sensor gives it. Timeline, in seconds:
#
#     0 - 20    static (only the bird sways)
#    20 - 28    a person walks in from the right (20-22.5), stands still (22.5-25.5), leaves (25.5-28)
#    28 - 40    static
#    40 - 44    the light fades to 55% (a cloud, or auto exposure): a gain ramp, no motion
#    44 - 56    static, dim
#    56         lights on: back to full light from a lamp above the centre (brighter there, darker
#               in the corners): one sudden change of the whole picture
#    56 - 66    static, lamp lit
#    66 - 70    a person walks across from left to right
#    70 - 80    static
#    80 - 115   frozen: the frame at 80 s repeats (a hung camera whose encoder runs on)
#   115 - 122   black, with sensor noise (lens covered, lights out)
#   122 - 130   static
#
# The encoder settings keep the clip small (about 250 KB): a key frame every 10 s (no scene-cut key
# frames), CRF 38. The key frames are what a frozen camera's stream still changes at.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/src"
if [[ "${1:-}" == --sources ]]; then
	shared="${SHARED:-$here/../../../shared}/models"
	ffmpeg -hide_banner -loglevel error -y -i "$shared/pose/squat.bmp" -vf scale=-2:260:flags=area "$src/squat-214x260.png"
	ffmpeg -hide_banner -loglevel error -y -i "$shared/segment/bird_segmentation.bmp" -vf scale=110:110:flags=area "$src/bird-110x110.png"
fi
room="$here/../models/detect/cats_and_dogs.jpg"
fps=10
# Gain k as the eq filter writes it on 8-bit luma: contrast k, brightness 0.437*(k-1) keeps black
# (16) at black, so the change is a change of exposure, not an offset.
k='if(lt(t,40),1,if(lt(t,44),1-0.45*(t-40)/4,if(lt(t,56),0.55,1)))'

ffmpeg -hide_banner -loglevel error -y \
	-loop 1 -framerate $fps -t 130 -i "$room" \
	-loop 1 -framerate $fps -t 130 -i "$src/bird-110x110.png" \
	-loop 1 -framerate $fps -t 130 -i "$src/squat-214x260.png" \
	-filter_complex "\
[0:v]scale=640:480,setsar=1,format=yuv420p[room];\
[1:v]format=yuv420p[bird];\
[2:v]format=yuv420p,split[p1][p2];\
[room][bird]overlay=x='520+6*sin(PI*t)':y=10[s1];\
[s1][p1]overlay=x='if(lt(t,22.5),640-(t-20)*88,if(lt(t,25.5),420,420+(t-25.5)*88))':y=200:enable='between(t,20,28)'[s2];\
[s2][p2]overlay=x='-220+(t-66)*215':y=190:enable='between(t,66,70)'[s3];\
[s3]eq=contrast='$k':brightness='0.437*($k-1)':eval=frame[s4];\
[s4]vignette=angle=PI/5:enable='gte(t,56)'[s5];\
[s5]drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,115,122)'[s6];\
[s6]noise=alls=6:allf=t,split[a][b];\
[a][b]freezeframes=first=$((80*fps)):last=$((115*fps-1)):replace=$((80*fps))[out]" \
	-map "[out]" -c:v libx264 -preset veryslow -crf 38 -bf 0 -g $((10*fps)) -x264-params scenecut=0 \
	-pix_fmt yuv420p -movflags +faststart -map_metadata -1 -fflags +bitexact -flags:v +bitexact \
	"$here/motion.mp4"

ffprobe -v error -count_frames -select_streams v:0 \
	-show_entries stream=width,height,nb_read_frames,r_frame_rate -of csv=p=0 "$here/motion.mp4"
ls -l "$here/motion.mp4"
