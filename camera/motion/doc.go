// Package motion decides which camera frames are worth running the model on, and watches the
// frames for a frozen or blank camera, in one cheap pass per frame (well under 1% of one inference
// of the shipped SSD: see BenchmarkGating, which measures both in one run).
//
// # Detection
//
// A Detector shrinks each frame to a small gray image (Config.Width, 160 pixels wide by default,
// by area averaging, which also averages sensor noise away), blurs it (Config.Blur) and compares
// it with a running-average background (time constant Config.Background). A pixel has changed
// when it differs from the background by more than Config.PixelThreshold gray levels; a frame is
// Moving when at least Config.MinArea of the frame outside the mask changed. Result.Area is that
// fraction, the value the agent records as "motion":{"area":0.031}.
//
// Brightness: before comparing, the detector estimates the frame's gain relative to the
// background (the median of frame/background over pixels neither dark nor clipped, which moving
// objects covering less than half the frame do not move) and scales the background by it. A cloud,
// dusk or the camera's auto exposure changes the gain of the whole picture, so it is not motion
// however fast it happens. Light that changes the picture unevenly (a lamp switched on, the
// camera moved, a switch to night mode) changes much of the frame at once: at least
// Config.ResetArea appearing in one frame while nothing moved is a SceneChange, the background is
// replaced by the frame, and the next Config.Settle of frames is not compared, so that one
// inference looks at the new scene instead of "motion" firing until the background catches up.
//
// Mask: Config.Mask lists polygons, in coordinates relative to the frame (ParseMask reads
// "x1,y1,x2,y2,...; ..."), whose pixels never count as changed: a tree in the wind, a busy road,
// a clock burned into the picture.
//
// # Gating
//
// A Gate turns results into a Reason per frame (Reason.Infer says whether to run the model): the
// first frame, motion, Policy.PostFrames frames after motion stops (so that an object that stops
// is recorded where it stopped), a scene change, and a heartbeat at least every Policy.Heartbeat
// (by the frames' times) are inferred; everything else is skipped and counted by reason
// (Counter): no_motion, settling, blank, frozen.
//
// # Camera health
//
// From the same small images: a camera whose picture stays the same (no pixel of the small image
// changing by more than Config.FrozenDelta from one frame to the next, in at least two thirds of
// the frames of every sixth of Config.FrozenAfter: a hung camera whose encoder runs on still
// changes the picture a little at its key frames) is Frozen, unless a frame in that time showed
// motion or a scene change, which no frozen camera does (a slideshow or a video file's cuts hold
// still for seconds between them); one that delivers blank frames (gray levels'
// standard deviation below Config.BlankContrast: black, white or one colour) for
// Config.BlankAfter is Blank. Result.Health and Result.HealthChanged report it, for the agent to
// publish as camera states and events.
//
// # Caveats
//
//   - All times are the frames' capture times as passed to Detect, never the clock: a live camera's
//     frames carry their read times, and a video file judged by its own timeline needs its
//     frames' media times.
//   - A static scene filmed without noise and encoded so hard that successive frames decode
//     identically cannot be told from a frozen camera; FrozenAfter (30 s) and the key-frame
//     tolerance keep real cameras, whose noise changes every frame, out of that case.
//   - Gain estimation assumes that less than half of the picture moves, and an object that
//     covers ResetArea of the frame in the first frame it shows in (close to the lens) is taken
//     for a scene change: it is still inferred once, then found moving after Settle.
//   - Camera frames reach Detect through camera.Frame.DetectMotion; this package and package
//     camera are the only ones that import gocv.
package motion
