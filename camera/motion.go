package camera

import "github.com/edge-agent/edge-agent/camera/motion"

// DetectMotion runs d's cheap per-frame pass on f: whether something moved since the frames before
// (and so whether f is worth inferring, see motion.Gate) and whether the camera looks frozen or
// blank. It uses f's capture time as the frame's time.
func (f *Frame) DetectMotion(d *motion.Detector) (motion.Result, error) {
	if err := f.usable(); err != nil {
		return motion.Result{}, err
	}
	return d.Detect(f.mat, f.time)
}
