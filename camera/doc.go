// Package camera opens frame sources (V4L2 devices, video files, RTSP/HTTP streams and GStreamer
// pipelines), always hands out the newest frame, reconnects, and preprocesses frames into model
// inputs. It hides gocv (OpenCV) from the rest of the agent: no package outside camera/ imports
// gocv.
//
// # Sources
//
// Open takes a Config whose URL selects the kind of source (see KindOf):
//
//	/dev/video0, 0, v4l2:/dev/v4l/by-id/...      V4L2 camera (OpenCV's V4L2 backend)
//	testdata/clips/sample.mp4, file:/path         video file (FFmpeg backend)
//	rtsp://..., http(s)://..., rtmp://, udp://   network stream (FFmpeg backend)
//	gst:... ! appsink, or any "a ! b ! appsink"  GStreamer pipeline
//
// A Raspberry Pi CSI camera (libcamera) is read through GStreamer:
//
//	gst:libcamerasrc ! video/x-raw,width=640,height=480,framerate=30/1 ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1
//
// A file read through GStreamer should set sync=false on its appsink, or it plays in real time.
//
// One goroutine per source reads frames. For a live source (everything but a file without
// MaxFPS) it keeps only the newest frame, closing the one it replaces, so slow inference never
// makes the stream lag: Next returns the newest frame not yet returned and Frame.Seq shows how
// many were skipped. A file without MaxFPS yields every frame in order, decoding the next while the
// consumer works on the current one. With MaxFPS a file plays like a camera at that rate.
//
// Live sources never give up: a device that is missing, busy, unplugged, or a stream that cannot
// be reached, ends or drops, is reopened with exponential backoff (Config.ReconnectInitial doubling
// up to ReconnectMax), and the source reports each change through Config.OnState and State with an
// error that says what is wrong (see the Err* sentinels; device nodes are checked before OpenCV
// sees them, so "missing", "permission denied — add the user to group video", "not a video4linux
// device" and "busy" are told apart). A file that ends stops with io.EOF, or loops (Config.Loop).
//
// # Frames and memory
//
// A Frame owns OpenCV memory (a gocv Mat) outside the Go heap: close every frame exactly once.
// Frame Mats are recycled through a small pool, and the Preprocessor keeps its working images, so
// steady-state capture and preprocessing do not allocate. TestMatLeak, built with gocv's matprofile
// tag, checks that no Mat is left open after 1,000 frames:
//
//	go test -tags matprofile -run TestMatLeak ./camera/
//
// # Preprocessing
//
// A Preprocessor fits a frame to the model input (Stretch, CenterCrop or Letterbox, bilinear),
// converts OpenCV's BGR to RGB (or gray), and writes the tensor bytes (UInt8: raw pixels, Int8:
// pixel-128, Float32: (pixel-Mean)/Std, see InputSpec). Run returns a Transform that maps the
// model's normalised box coordinates back to frame pixels, undoing the crop or letterbox.
// Frame.SnapshotJPEG draws detections and encodes a JPEG within a byte cap.
//
// # Motion
//
// Frame.DetectMotion runs a motion.Detector (package camera/motion) on a frame: the cheap pass that
// tells whether the frame is worth inferring and whether the camera looks frozen or blank.
//
// # Caveats
//
//   - OpenCV reads block in C and cannot be interrupted: Close waits for a read in progress, which
//     for a network stream that hangs without closing is bounded only by FFmpeg's read timeout
//     (30 s). A V4L2 read returns within the driver's timeout (10 s).
//   - RTSP over UDP loses frames on busy networks; set OPENCV_FFMPEG_CAPTURE_OPTIONS=rtsp_transport;tcp
//     in the agent's environment (systemd Environment=) to use TCP. The variable is read by OpenCV
//     and is process-wide, which is why this package does not set it.
//   - OpenCV and FFmpeg print their own warnings on stderr; OPENCV_LOG_LEVEL=ERROR quiets OpenCV.
//   - FFmpeg picks demuxers partly by file extension: a .txt file "plays" as rendered text.
//   - gocv v0.32.0 is the newest release that builds against Debian 12's OpenCV 4.6.
package camera
