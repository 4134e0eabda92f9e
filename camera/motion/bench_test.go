package motion

import (
	"fmt"
	"image"
	"math"
	"os"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// clipMats decodes n frames of the motion clip starting at frame first.
func clipMats(b *testing.B, first, n int) []gocv.Mat {
	b.Helper()
	vc, err := gocv.VideoCaptureFile(motionClip)
	if err != nil {
		b.Fatal(err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	var out []gocv.Mat
	for i := 0; len(out) < n && vc.Read(&m); i++ {
		if i >= first {
			out = append(out, m.Clone())
		}
	}
	b.Cleanup(func() {
		for _, m := range out {
			m.Close()
		}
	})
	return out
}

// BenchmarkDetect measures the motion pass on one frame (the person walking in, so that every
// frame is compared and moving), at the clip's 640x480 and scaled up to common camera sizes.
func BenchmarkDetect(b *testing.B) {
	frames := clipMats(b, 200, 20)
	mask, _ := ParseMask(birdMask)
	for _, size := range []image.Point{{640, 480}, {1280, 720}, {1920, 1080}} {
		b.Run(fmt.Sprintf("%dx%d", size.X, size.Y), func(b *testing.B) {
			in := frames
			if size.X != 640 {
				in = make([]gocv.Mat, len(frames))
				for i, f := range frames {
					in[i] = gocv.NewMat()
					defer in[i].Close()
					gocv.Resize(f, &in[i], size, 0, 0, gocv.InterpolationLinear)
				}
			}
			d := newDetector(b, Config{Mask: mask, Settle: -1})
			at := t0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				at = at.Add(100 * time.Millisecond)
				if _, err := d.Detect(in[i%len(in)], at); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkInferSSD measures what a skipped frame saves: preprocessing and one inference of the
// shipped SSD (one thread), on a frame of the clip.
func BenchmarkInferSSD(b *testing.B) {
	frame := clipMats(b, 230, 1)[0]
	det := newSSD(b, 1)
	for b.Loop() {
		if err := det.infer(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGating measures the CPU time per second of video of the agent's work on the motion clip
// with gating off (decode, infer every frame) and on (decode, motion pass, infer the frames the
// gate lets through), over the whole clip and over its static stretches, and counts the
// inferences. Decoding and the motion pass are measured over the clip; an inference's CPU time
// is measured on frames of the clip in the same run, and multiplied by the number of
// inferences. With MOTION_BENCH_FULL=1 every inference is really run instead (gating off then
// takes about 1,300 inferences: minutes). Run it once: go test -run '^$' -bench Gating -benchtime 1x.
func BenchmarkGating(b *testing.B) {
	full := os.Getenv("MOTION_BENCH_FULL") == "1"
	mask, err := ParseMask(birdMask)
	if err != nil {
		b.Fatal(err)
	}
	det := newSSD(b, 1)
	for b.Loop() {
		// One pass decoding only, one decoding and running the gate: the difference is the
		// motion pass. In full mode the passes also infer (gating off: every frame).
		type pass struct {
			cpu            time.Duration
			frames, static int
			inferred       int
			staticInferred int
			staticCPU      time.Duration // CPU of the frames of static stretches
		}
		run := func(gating, infer bool) pass {
			vc, err := gocv.VideoCaptureFile(motionClip)
			if err != nil {
				b.Fatal(err)
			}
			defer vc.Close()
			d := newDetector(b, Config{Mask: mask})
			g := newGate(b, Policy{})
			m := gocv.NewMat()
			defer m.Close()
			var p pass
			start := cpuTime(b)
			for {
				c0 := cpuTime(b)
				if !vc.Read(&m) {
					break
				}
				at := time.Duration(math.Round(vc.Get(gocv.VideoCapturePosMsec))) * time.Millisecond
				isStatic := false
				for _, s := range statics {
					isStatic = isStatic || s.has(at)
				}
				doInfer := true
				if gating {
					r, err := d.Detect(m, t0.Add(at))
					if err != nil {
						b.Fatal(err)
					}
					doInfer = g.Decide(r).Infer()
				}
				if doInfer {
					p.inferred++
					if isStatic {
						p.staticInferred++
					}
					if infer {
						if err := det.infer(m); err != nil {
							b.Fatal(err)
						}
					}
				}
				p.frames++
				if isStatic {
					p.static++
					p.staticCPU += cpuTime(b) - c0
				}
			}
			p.cpu = cpuTime(b) - start
			return p
		}
		decode := run(false, false)
		gated := run(true, full)
		var off pass
		var inferCPU time.Duration
		if full {
			off = run(false, true)
			inferCPU = (off.cpu - decode.cpu) / time.Duration(off.inferred)
		} else {
			// The CPU time of one inference, from as many as fit in 3 s of CPU (at least 5).
			c0, n := cpuTime(b), 0
			frames := clipMats(b, 230, 1)
			for n < 5 || cpuTime(b)-c0 < 3*time.Second {
				if err := det.infer(frames[0]); err != nil {
					b.Fatal(err)
				}
				n++
			}
			inferCPU = (cpuTime(b) - c0) / time.Duration(n)
			off = decode
			off.inferred, off.staticInferred = decode.frames, decode.static
			off.cpu += time.Duration(off.frames) * inferCPU
			off.staticCPU += time.Duration(off.static) * inferCPU
			gated.cpu += time.Duration(gated.inferred) * inferCPU
			gated.staticCPU += time.Duration(gated.staticInferred) * inferCPU
		}
		video := float64(decode.frames) / clipFPS
		staticVideo := float64(decode.static) / clipFPS
		motionCPU := (gated.cpu - decode.cpu - time.Duration(gated.inferred)*inferCPU) / time.Duration(decode.frames)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(float64(gated.inferred), "inferences-gated")
		b.ReportMetric(float64(off.inferred), "inferences-all")
		b.ReportMetric(ms(inferCPU), "cpu-ms/inference")
		b.ReportMetric(ms(motionCPU), "cpu-ms/motion-pass")
		b.ReportMetric(ms(decode.cpu)/float64(decode.frames), "cpu-ms/decode")
		b.ReportMetric(ms(off.cpu)/video, "cpu-ms/video-s-off")
		b.ReportMetric(ms(gated.cpu)/video, "cpu-ms/video-s-on")
		b.ReportMetric(100*(1-float64(gated.cpu)/float64(off.cpu)), "%saved")
		b.ReportMetric(ms(off.staticCPU)/staticVideo, "static-cpu-ms/video-s-off")
		b.ReportMetric(ms(gated.staticCPU)/staticVideo, "static-cpu-ms/video-s-on")
		b.ReportMetric(100*(1-float64(gated.staticCPU)/float64(off.staticCPU)), "%saved-static")
		b.Logf("clip %.0f s, %d frames (%d in static stretches); inferences: %d gated, %d ungated (%d and %d static); "+
			"one inference %.1f ms CPU, one motion pass %.3f ms (%.2f%% of an inference), one decode %.2f ms; full=%v",
			video, decode.frames, decode.static, gated.inferred, off.inferred, gated.staticInferred, off.staticInferred,
			ms(inferCPU), ms(motionCPU), 100*float64(motionCPU)/float64(inferCPU), ms(decode.cpu)/float64(decode.frames), full)
	}
}
