package ota

import (
	"context"
	"math"
	"slices"
	"time"
)

// Prediction is what one model produced for one frame, as the shadow comparison needs it.
type Prediction struct {
	// Detect is set for detectors: Detections is compared, else Classes.
	Detect     bool
	Classes    []Class // best first
	Detections []Detection
	LatencyMS  float64 // inference time
}

// Class is one classification result.
type Class struct {
	Index int
	Label string
	Score float64
}

// Detection is one detected object; the box may be in any unit, the same for both models.
type Detection struct {
	Class int
	Label string
	Score float64
	Box   Box
}

// Box is an axis-aligned rectangle: top-left corner, width and height.
type Box struct{ X, Y, W, H float64 }

// ShadowSample is one frame run by both models.
type ShadowSample struct {
	Active, Candidate Prediction
	// CandidateErr is the candidate's inference or decoding error; it refuses the candidate.
	CandidateErr error
}

// ShadowFigures are the results of a shadow run, in the status.
type ShadowFigures struct {
	Frames          int       `json:"frames"`
	Of              int       `json:"of"`
	AgreementPct    float64   `json:"agreement_pct"`
	MinAgreementPct int       `json:"min_agreement_pct"`
	MaxLatencyMS    int       `json:"max_latency_ms,omitempty"`
	Active          Latencies `json:"active_ms"`
	Candidate       Latencies `json:"candidate_ms"`
}

// Latencies summarise inference times in milliseconds.
type Latencies struct {
	Mean float64 `json:"mean"`
	P95  float64 `json:"p95"`
}

// IoUThreshold is the overlap at which two detections of the same label count as the same
// object.
const IoUThreshold = 0.5

// Agreement returns how much two predictions of one frame agree, from 0 to 1. Classifiers agree
// (1) when their top classes are the same, else 0. Detectors are matched greedily, highest
// overlap first, box to box with the same label and an IoU of at least 0.5; the agreement is
// 2·matched / (boxes of a + boxes of b), and 1 when neither found anything.
func Agreement(a, b Prediction) float64 {
	if a.Detect || b.Detect {
		return detectionAgreement(a.Detections, b.Detections)
	}
	switch {
	case len(a.Classes) == 0 && len(b.Classes) == 0:
		return 1
	case len(a.Classes) == 0 || len(b.Classes) == 0:
		return 0
	}
	if sameClass(a.Classes[0].Index, a.Classes[0].Label, b.Classes[0].Index, b.Classes[0].Label) {
		return 1
	}
	return 0
}

// sameClass compares labels when both have one (a new model may renumber its classes), indices
// otherwise.
func sameClass(ai int, al string, bi int, bl string) bool {
	if al != "" && bl != "" {
		return al == bl
	}
	return ai == bi
}

func detectionAgreement(a, b []Detection) float64 {
	if len(a)+len(b) == 0 {
		return 1
	}
	type pair struct {
		i, j int
		iou  float64
	}
	var pairs []pair
	for i, da := range a {
		for j, db := range b {
			if !sameClass(da.Class, da.Label, db.Class, db.Label) {
				continue
			}
			if v := IoU(da.Box, db.Box); v >= IoUThreshold {
				pairs = append(pairs, pair{i, j, v})
			}
		}
	}
	slices.SortStableFunc(pairs, func(x, y pair) int {
		switch {
		case x.iou > y.iou:
			return -1
		case x.iou < y.iou:
			return 1
		}
		return 0
	})
	usedA, usedB := make([]bool, len(a)), make([]bool, len(b))
	matched := 0
	for _, p := range pairs {
		if usedA[p.i] || usedB[p.j] {
			continue
		}
		usedA[p.i], usedB[p.j] = true, true
		matched++
	}
	return 2 * float64(matched) / float64(len(a)+len(b))
}

// IoU returns the intersection over union of two boxes (0 for empty ones).
func IoU(a, b Box) float64 {
	x0, y0 := math.Max(a.X, b.X), math.Max(a.Y, b.Y)
	x1, y1 := math.Min(a.X+a.W, b.X+b.W), math.Min(a.Y+a.H, b.Y+b.H)
	if x1 <= x0 || y1 <= y0 {
		return 0
	}
	inter := (x1 - x0) * (y1 - y0)
	union := a.W*a.H + b.W*b.H - inter
	if !(union > 0) {
		return 0
	}
	return inter / union
}

// shadowRun accumulates one shadow run.
type shadowRun struct {
	spec      ShadowSpec
	deadline  time.Time
	agreement float64 // sum over frames
	active    []float64
	candidate []float64
}

func (s *shadowRun) figures() *ShadowFigures {
	f := &ShadowFigures{Frames: len(s.active), Of: s.spec.Frames, MinAgreementPct: s.spec.MinAgreementPct,
		MaxLatencyMS: s.spec.MaxLatencyMS, Active: summarise(s.active), Candidate: summarise(s.candidate)}
	if n := len(s.active); n > 0 {
		f.AgreementPct = math.Round(1000*s.agreement/float64(n)) / 10
	}
	return f
}

func summarise(ms []float64) Latencies {
	if len(ms) == 0 {
		return Latencies{}
	}
	sum := 0.0
	for _, v := range ms {
		sum += v
	}
	return Latencies{Mean: round2(sum / float64(len(ms))), P95: round2(percentile(ms, 95))}
}

// percentile returns the nearest-rank p-th percentile.
func percentile(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func taskName(detect bool) string {
	if detect {
		return "detects"
	}
	return "classifies"
}

// startShadow starts the shadow run of the verified candidate.
func (u *Updater) startShadow(ctx context.Context) {
	sh, ok := u.rt.(Shadower)
	if !ok {
		u.finishRejected(reject(CheckShadow, "this agent cannot run a shadow model"))
		return
	}
	cand := u.reg.Update.Candidate
	if err := sh.StartShadow(ctx, cand.model()); err != nil {
		if ctx.Err() != nil {
			return
		}
		u.finishRejected(reject(CheckShadow, "the candidate does not run beside the active model: %v", err))
		return
	}
	u.shadow = &shadowRun{spec: *u.man.Shadow, deadline: time.Now().Add(u.cfg.ShadowTimeout)}
	u.shadowFig = u.shadow.figures()
	u.log.Info("shadow run started", "manifest", u.man.ID, "frames", u.man.Shadow.Frames)
	u.publishStatus(true)
}

func (u *Updater) stopShadow() {
	if sh, ok := u.rt.(Shadower); ok {
		sh.StopShadow()
	}
	u.shadowFig = u.shadow.figures()
	u.shadow = nil
	if up := u.reg.Update; up != nil {
		up.Shadow = u.shadowFig
	}
}

// shadowSample takes one sample and concludes the run when it has enough.
func (u *Updater) shadowSample(ctx context.Context, s ShadowSample) {
	run := u.shadow
	if run == nil {
		return
	}
	if s.CandidateErr != nil {
		u.stopShadow()
		u.finishRejected(reject(CheckShadow, "the candidate failed on a live frame: %v", s.CandidateErr))
		return
	}
	if s.Active.Detect != s.Candidate.Detect {
		u.stopShadow()
		u.finishRejected(reject(CheckShadow, "the candidate %s and the active model %s: their results cannot be compared (push a change of task without --shadow)",
			taskName(s.Candidate.Detect), taskName(s.Active.Detect)))
		return
	}
	run.agreement += Agreement(s.Active, s.Candidate)
	run.active = append(run.active, s.Active.LatencyMS)
	run.candidate = append(run.candidate, s.Candidate.LatencyMS)
	u.shadowFig = run.figures()
	if len(run.active) < run.spec.Frames {
		u.publishStatus(false)
		return
	}
	u.stopShadow()
	f := u.shadowFig
	u.log.Info("shadow run done", "agreement_pct", f.AgreementPct, "active_p95_ms", f.Active.P95, "candidate_p95_ms", f.Candidate.P95)
	switch {
	case f.AgreementPct < float64(run.spec.MinAgreementPct):
		u.finishRejected(reject(CheckShadow, "agreement %.1f%% over %d frames is below the required %d%%", f.AgreementPct, f.Frames, run.spec.MinAgreementPct))
	case run.spec.MaxLatencyMS > 0 && f.Candidate.P95 > float64(run.spec.MaxLatencyMS):
		u.finishRejected(reject(CheckShadow, "candidate p95 latency %.1f ms exceeds %d ms (active: %.1f ms)", f.Candidate.P95, run.spec.MaxLatencyMS, f.Active.P95))
	default:
		u.activate(ctx)
	}
}

func (u *Updater) shadowTimeout() {
	n := len(u.shadow.active)
	u.stopShadow()
	u.finishRejected(reject(CheckShadow, "only %d of %d frames within %s (is the camera delivering frames?)", n, u.man.Shadow.Frames, u.cfg.ShadowTimeout))
}
