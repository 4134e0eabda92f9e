package tflite

import (
	"math"

	"github.com/edge-agent/edge-agent/tflite/internal/fb"
)

// TFLite_Detection_PostProcess is the custom op that ends SSD detectors: it decodes the box
// encodings against the anchors (center-size encoding) and runs non-maximum suppression, either
// the fast class-agnostic variant or the regular per-class one, with the semantics of TFLite's
// kernels/detection_postprocess.cc. Ties between equal scores keep the lower index first, which
// is what TFLite's stable sort does (its partial sorts are unspecified on ties; a stable order is
// one of the orders they may produce).

const (
	dppBoxEncodings = 0
	dppClassScores  = 1
	dppAnchors      = 2

	dppOutBoxes   = 0
	dppOutClasses = 1
	dppOutScores  = 2
	dppOutCount   = 3

	dppDefaultDetectionsPerClass = 100
)

type detectionPostProcess struct {
	maxDetections          int
	maxClassesPerDetection int
	detectionsPerClass     int
	useRegularNMS          bool
	scoreThreshold         float32
	iouThreshold           float32
	numClasses             int
	yScale, xScale         float32
	hScale, wScale         float32

	// Set by prepare; eval only reads and overwrites these.
	numBoxes   int
	numScores  int       // classes per box in the class predictions, background included
	boxes      []float32 // decoded boxes, numBoxes x (ymin, xmin, ymax, xmax)
	scores     []float32 // dequantised class predictions (uint8 input only, unless bytesFast)
	bytesFast  bool      // fast NMS on uint8 predictions picks classes on the bytes (fastNMSU8)
	bestBytes  []byte    // bytesFast: each box's best class byte
	maxScores  []float32 // fast NMS: best class score per box; regular: one class's scores
	topClasses []int32   // fast NMS: numBoxes x the best classes of each box
	keep       []int32   // indices of boxes above the score threshold
	order      []int32   // sort output
	sortTmp    []int32   // merge sort buffer
	selected   []int32
	// Operands of the current eval, for the pool's run callback.
	enc, anchors, cls *Tensor
	// regular NMS: candidates kept so far plus the new ones of the current class.
	candBox   []int32 // box index * numScores + class column
	candScore []float32
	candTmpB  []int32
	candTmpS  []float32
}

func newDetectionPostProcess(n *node) (kernel, error) {
	if len(n.inputs) != 3 || len(n.outputs) != 4 {
		return nil, n.errorf("got %d inputs and %d outputs, want 3 and 4", len(n.inputs), len(n.outputs))
	}
	root, err := fb.FlexRoot(n.custom)
	if err != nil {
		return nil, n.errorf("custom options: %w", err)
	}
	m, err := root.AsMap()
	if err != nil {
		return nil, n.errorf("custom options: %w", err)
	}
	k := &detectionPostProcess{}
	ints := []struct {
		key string
		dst *int
		def int
	}{
		{"max_detections", &k.maxDetections, 0},
		{"max_classes_per_detection", &k.maxClassesPerDetection, 0},
		{"detections_per_class", &k.detectionsPerClass, dppDefaultDetectionsPerClass},
		{"num_classes", &k.numClasses, 0},
	}
	for _, f := range ints {
		v, err := m.Get(f.key)
		if err != nil {
			return nil, n.errorf("custom option %s: %w", f.key, err)
		}
		if v.IsNull() {
			*f.dst = f.def
			continue
		}
		i, err := v.AsInt32()
		if err != nil {
			return nil, n.errorf("custom option %s: %w", f.key, err)
		}
		*f.dst = int(i)
	}
	floats := []struct {
		key string
		dst *float32
	}{
		{"nms_score_threshold", &k.scoreThreshold},
		{"nms_iou_threshold", &k.iouThreshold},
		{"y_scale", &k.yScale},
		{"x_scale", &k.xScale},
		{"h_scale", &k.hScale},
		{"w_scale", &k.wScale},
	}
	for _, f := range floats {
		v, err := m.Get(f.key)
		if err != nil {
			return nil, n.errorf("custom option %s: %w", f.key, err)
		}
		x, err := v.AsFloat64()
		if err != nil {
			return nil, n.errorf("custom option %s: %w", f.key, err)
		}
		*f.dst = float32(x)
	}
	v, err := m.Get("use_regular_nms")
	if err != nil {
		return nil, n.errorf("custom option use_regular_nms: %w", err)
	}
	if k.useRegularNMS, err = v.AsBool(); err != nil {
		return nil, n.errorf("custom option use_regular_nms: %w", err)
	}

	// Limits keep the preallocated scratch bounded whatever the options say.
	const maxCount = 1 << 16
	switch {
	case k.maxDetections <= 0 || k.maxDetections > maxCount:
		return nil, n.errorf("max_detections %d out of range (1..%d)", k.maxDetections, maxCount)
	case k.numClasses <= 0 || k.numClasses > maxCount:
		return nil, n.errorf("num_classes %d out of range (1..%d)", k.numClasses, maxCount)
	case k.maxClassesPerDetection <= 0 || k.maxClassesPerDetection > maxCount:
		// Only the fast variant uses it, but prepare sizes the outputs with it, as TFLite does.
		return nil, n.errorf("max_classes_per_detection %d out of range (1..%d)", k.maxClassesPerDetection, maxCount)
	case k.maxDetections*k.maxClassesPerDetection > maxCount:
		return nil, n.errorf("max_detections x max_classes_per_detection exceeds %d", maxCount)
	case k.useRegularNMS && (k.detectionsPerClass <= 0 || k.detectionsPerClass > maxCount):
		return nil, n.errorf("detections_per_class %d out of range (1..%d)", k.detectionsPerClass, maxCount)
	case !(k.iouThreshold > 0 && k.iouThreshold <= 1):
		return nil, n.errorf("nms_iou_threshold %v not in (0, 1]", k.iouThreshold)
	case k.yScale == 0 || k.xScale == 0 || k.hScale == 0 || k.wScale == 0:
		return nil, n.errorf("box scales must be non-zero (y %v, x %v, h %v, w %v)", k.yScale, k.xScale, k.hScale, k.wScale)
	}
	return k, nil
}

func (k *detectionPostProcess) prepare(n *node) error {
	enc, cls, anchors := n.inputs[dppBoxEncodings], n.inputs[dppClassScores], n.inputs[dppAnchors]
	if enc == nil || cls == nil || anchors == nil {
		return n.errorf("all three inputs are required")
	}
	if enc.Rank() != 3 || cls.Rank() != 3 || anchors.Rank() != 2 {
		return n.errorf("input ranks %d, %d, %d; want 3, 3, 2", enc.Rank(), cls.Rank(), anchors.Rank())
	}
	numBoxes := enc.Dim(1)
	switch {
	case enc.Dim(0) != 1 || cls.Dim(0) != 1:
		return n.errorf("%w: batch size %d (only 1)", errUnsupported, enc.Dim(0))
	case enc.Dim(2) < 4:
		return n.errorf("box encodings have %d values per box, want at least 4", enc.Dim(2))
	case cls.Dim(1) != numBoxes || anchors.Dim(0) != numBoxes:
		return n.errorf("box counts differ: encodings %d, class predictions %d, anchors %d", numBoxes, cls.Dim(1), anchors.Dim(0))
	case anchors.Dim(1) != 4:
		return n.errorf("anchors have %d values, want 4", anchors.Dim(1))
	case cls.Dim(2) != k.numClasses && cls.Dim(2) != k.numClasses+1:
		return n.errorf("class predictions have %d classes, want num_classes %d or one more for background", cls.Dim(2), k.numClasses)
	}
	for _, t := range []*Tensor{enc, cls, anchors} {
		switch t.Type() {
		case Float32:
		case UInt8:
			if q := t.Quantization(); q == nil || len(q.Scale) != 1 || len(q.ZeroPoint) != 1 {
				return n.errorf("uint8 input %q needs per-tensor quantization", t.Name())
			}
		default:
			return n.errorf("%w: input %q of type %s", errUnsupported, t.Name(), t.Type())
		}
	}
	for i, o := range n.outputs {
		if o == nil {
			return n.errorf("output %d is required", i)
		}
		if o.Type() != Float32 {
			return n.errorf("%w: output %d of type %s (want float32)", errUnsupported, i, o.Type())
		}
	}
	numDetected := k.maxDetections * k.maxClassesPerDetection
	n.outputs[dppOutBoxes].shape = []int{1, numDetected, 4}
	n.outputs[dppOutClasses].shape = []int{1, numDetected}
	n.outputs[dppOutScores].shape = []int{1, numDetected}
	n.outputs[dppOutCount].shape = []int{1}

	k.numBoxes, k.numScores = numBoxes, cls.Dim(2)
	k.boxes = make([]float32, numBoxes*4)
	k.scores = nil
	k.bytesFast = cls.Type() == UInt8 && !k.useRegularNMS && k.maxClassesPerDetection == 1 &&
		orderKeeping(cls.Quantization().Scale[0])
	k.bestBytes = nil
	if cls.Type() == UInt8 && !k.bytesFast {
		k.scores = make([]float32, numBoxes*k.numScores)
	}
	if k.bytesFast {
		k.bestBytes = make([]byte, numBoxes)
	}
	k.maxScores = make([]float32, numBoxes)
	k.keep = make([]int32, numBoxes)
	k.order = make([]int32, max(numBoxes, k.numClasses))
	k.sortTmp = make([]int32, max(numBoxes, k.numClasses))
	k.selected = make([]int32, 0, max(k.maxDetections, k.detectionsPerClass))
	if k.useRegularNMS {
		c := numBoxes + k.maxDetections
		k.candBox, k.candScore = make([]int32, c), make([]float32, c)
		k.candTmpB, k.candTmpS = make([]int32, c), make([]float32, c)
		k.order = make([]int32, max(c, k.numClasses))
		k.sortTmp = make([]int32, max(c, k.numClasses))
	} else {
		k.topClasses = make([]int32, numBoxes*min(k.maxClassesPerDetection, k.numClasses))
	}
	return nil
}

func (k *detectionPostProcess) eval(n *node) error {
	// The per-box part (decoding, and on the byte path each box's best class) splits over the
	// pool: on the SSD it is most of this op, which otherwise runs on one thread at the end.
	k.enc, k.anchors, k.cls = n.inputs[dppBoxEncodings], n.inputs[dppAnchors], n.inputs[dppClassScores]
	n.pool.do(k.numBoxes, dppMinBoxesPerSlot, dppMinBoxesPerSlot/4, k)
	k.enc, k.anchors, k.cls = nil, nil, nil
	for i := 0; i < k.numBoxes; i++ {
		// TFLite rejects boxes with min > max (a negative anchor size, say); NaN fails too.
		if b := k.boxes[i*4 : i*4+4]; !(b[0] <= b[2] && b[1] <= b[3]) {
			return n.errorf("decoded box %d is invalid: %v", i, b)
		}
	}
	boxes := n.outputs[dppOutBoxes].Float32s()
	classes := n.outputs[dppOutClasses].Float32s()
	outScores := n.outputs[dppOutScores].Float32s()
	// TFLite leaves unused rows of the fast variant as they were; zeros make runs reproducible.
	clear(boxes)
	clear(classes)
	clear(outScores)
	cls := n.inputs[dppClassScores]
	var count int
	if k.bytesFast {
		count = k.fastNMSU8(boxes, classes, outScores)
	} else {
		scores := cls.Float32s()
		if cls.Type() == UInt8 {
			q := cls.Quantization()
			scale, zp := q.Scale[0], float32(q.ZeroPoint[0])
			for i, v := range cls.UInt8s() {
				k.scores[i] = (float32(v) - zp) * scale
			}
			scores = k.scores
		}
		if k.useRegularNMS {
			count = k.regularNMS(scores, boxes, classes, outScores)
		} else {
			count = k.fastNMS(scores, boxes, classes, outScores)
		}
	}
	n.outputs[dppOutCount].Float32s()[0] = float32(count)
	return nil
}

// dppMinBoxesPerSlot is the box count below which a worker is not worth it (about 40 µs of work).
const dppMinBoxesPerSlot = 256

// run decodes boxes [lo, hi) and, on the byte path, finds their best classes.
func (k *detectionPostProcess) run(lo, hi, _ int) {
	k.decodeBoxes(k.enc, k.anchors, lo, hi)
	if k.bytesFast {
		k.bestClassesU8(k.cls, lo, hi)
	}
}

// loadBoxValues returns the first four values of row box of a float32 or uint8 tensor.
func loadBoxValues(t *Tensor, stride, box int) (y, x, h, w float32) {
	i := box * stride
	if t.Type() == UInt8 {
		q := t.Quantization()
		scale, zp := q.Scale[0], float32(q.ZeroPoint[0])
		d := t.UInt8s()[i : i+4]
		return (float32(d[0]) - zp) * scale, (float32(d[1]) - zp) * scale,
			(float32(d[2]) - zp) * scale, (float32(d[3]) - zp) * scale
	}
	d := t.Float32s()[i : i+4]
	return d[0], d[1], d[2], d[3]
}

// decodeBoxes turns the center-size encodings of boxes [lo, hi), relative to the anchors, into
// corner boxes. Like TFLite it computes in float64 and rounds each result to float32.
func (k *detectionPostProcess) decodeBoxes(enc, anchors *Tensor, lo, hi int) {
	stride := enc.Dim(2)
	for i := lo; i < hi; i++ {
		by, bx, bh, bw := loadBoxValues(enc, stride, i)
		ay, ax, ah, aw := loadBoxValues(anchors, 4, i)
		// The explicit conversions of the products keep the compiler from fusing them with the
		// additions (Go may on arm64), which would round differently from TFLite.
		yc := float32(float64(float64(by)/float64(k.yScale)*float64(ah)) + float64(ay))
		xc := float32(float64(float64(bx)/float64(k.xScale)*float64(aw)) + float64(ax))
		hh := float32(0.5 * math.Exp(float64(bh)/float64(k.hScale)) * float64(ah))
		hw := float32(0.5 * math.Exp(float64(bw)/float64(k.wScale)) * float64(aw))
		b := k.boxes[i*4 : i*4+4]
		b[0], b[1], b[2], b[3] = yc-hh, xc-hw, yc+hh, xc+hw
	}
}

// fastNMS keeps the best classes of each box and suppresses overlaps using each box's best
// score, across classes. It returns the number of boxes written.
func (k *detectionPostProcess) fastNMS(scores, boxes, classes, outScores []float32) int {
	offset := k.numScores - k.numClasses
	perBox := min(k.maxClassesPerDetection, k.numClasses)
	for b := 0; b < k.numBoxes; b++ {
		row := scores[b*k.numScores+offset : b*k.numScores+offset+k.numClasses]
		top := k.topClasses[b*perBox : (b+1)*perBox]
		if perBox == 1 {
			best := 0
			for c := 1; c < len(row); c++ {
				if row[c] > row[best] {
					best = c
				}
			}
			top[0] = int32(best)
		} else {
			order := k.order[:len(row)]
			for c := range order {
				order[c] = int32(c)
			}
			sortDecreasing(order, row, k.sortTmp)
			copy(top, order)
		}
		k.maxScores[b] = row[top[0]]
	}
	selected := k.nmsSingleClass(k.maxScores, k.maxDetections)
	for i, b := range selected {
		row := scores[int(b)*k.numScores+offset:]
		for c, cls := range k.topClasses[int(b)*perBox : (int(b)+1)*perBox] {
			o := i*k.maxClassesPerDetection + c
			copy(boxes[o*4:o*4+4], k.boxes[b*4:b*4+4])
			classes[o] = float32(cls)
			outScores[o] = row[cls]
		}
	}
	return len(selected)
}

// orderKeeping reports whether dequantizing with scale keeps distinct bytes distinct, so that
// the first largest byte of a row is also its first largest score: (b - zp) * scale rounds
// monotonically, and only an underflow (or an infinite scale) could make two products equal.
func orderKeeping(scale float32) bool { return scale >= 1e-30 && scale <= 1e30 }

// bestClassesU8 finds the best class of boxes [lo, hi) on the bytes of uint8 class predictions
// (fastNMSU8), with its byte and its dequantized score.
func (k *detectionPostProcess) bestClassesU8(cls *Tensor, lo, hi int) {
	q := cls.Quantization()
	scale, zp := q.Scale[0], float32(q.ZeroPoint[0])
	raw := cls.UInt8s()
	offset := k.numScores - k.numClasses
	for b := lo; b < hi; b++ {
		row := raw[b*k.numScores+offset : b*k.numScores+offset+k.numClasses]
		// The maximum first, in four chains (each max waits for the one before), then its
		// first position, which is the class TFLite's stable sort puts first.
		var m0, m1, m2, m3 byte
		c := 0
		for ; c+4 <= len(row); c += 4 {
			m0, m1, m2, m3 = max(m0, row[c]), max(m1, row[c+1]), max(m2, row[c+2]), max(m3, row[c+3])
		}
		for ; c < len(row); c++ {
			m0 = max(m0, row[c])
		}
		bv := max(m0, m1, m2, m3)
		best := 0
		for row[best] != bv {
			best++
		}
		k.topClasses[b] = int32(best)
		k.bestBytes[b] = bv
		k.maxScores[b] = (float32(bv) - zp) * scale
	}
}

// fastNMSU8 is fastNMS with one class per detection on uint8 class predictions, once
// bestClassesU8 has run: it orders the boxes by a counting sort of their best bytes and
// dequantizes only the scores it uses. That is the same result (see orderKeeping: bytes order
// as their scores do, and the counting sort is stable) in a fraction of the time.
func (k *detectionPostProcess) fastNMSU8(boxes, classes, outScores []float32) int {
	var count [256]int32
	for b := 0; b < k.numBoxes; b++ {
		if k.maxScores[b] >= k.scoreThreshold {
			count[k.bestBytes[b]]++
		}
	}
	// Positions by decreasing byte; boxes of one byte keep their order.
	var at [256]int32
	n := int32(0)
	for v := 255; v >= 0; v-- {
		at[v] = n
		n += count[v]
	}
	keep := k.keep[:n]
	for b := 0; b < k.numBoxes; b++ {
		if k.maxScores[b] >= k.scoreThreshold {
			v := k.bestBytes[b]
			keep[at[v]] = int32(b)
			at[v]++
		}
	}
	selected := k.suppress(keep, k.maxDetections)
	for i, b := range selected {
		copy(boxes[i*4:i*4+4], k.boxes[b*4:b*4+4])
		classes[i] = float32(k.topClasses[b])
		outScores[i] = k.maxScores[b]
	}
	return len(selected)
}

// regularNMS runs NMS per class and keeps the best maxDetections boxes over all classes.
func (k *detectionPostProcess) regularNMS(scores, boxes, classes, outScores []float32) int {
	offset := k.numScores - k.numClasses
	kept := 0
	classScores := k.maxScores
	for c := 0; c < k.numClasses; c++ {
		for b := 0; b < k.numBoxes; b++ {
			classScores[b] = scores[b*k.numScores+c+offset]
		}
		selected := k.nmsSingleClass(classScores, k.detectionsPerClass)
		total := kept
		for _, b := range selected {
			k.candBox[total] = b*int32(k.numScores) + int32(c+offset)
			k.candScore[total] = classScores[b]
			total++
		}
		order := k.order[:total]
		for i := range order {
			order[i] = int32(i)
		}
		sortDecreasing(order, k.candScore[:total], k.sortTmp)
		kept = min(total, k.maxDetections)
		for i, j := range order[:kept] {
			k.candTmpB[i], k.candTmpS[i] = k.candBox[j], k.candScore[j]
		}
		copy(k.candBox, k.candTmpB[:kept])
		copy(k.candScore, k.candTmpS[:kept])
	}
	for i := 0; i < kept; i++ {
		b := int(k.candBox[i]) / k.numScores
		copy(boxes[i*4:i*4+4], k.boxes[b*4:b*4+4])
		classes[i] = float32(int(k.candBox[i]) - b*k.numScores - offset)
		outScores[i] = k.candScore[i]
	}
	return kept
}

// nmsSingleClass returns the indices of at most maxDet boxes, by decreasing score, that score at
// least the threshold and overlap no better-scoring selected box by more than the IoU threshold.
// The result aliases k.selected.
func (k *detectionPostProcess) nmsSingleClass(scores []float32, maxDet int) []int32 {
	keep := k.keep[:0]
	for i, s := range scores {
		if s >= k.scoreThreshold {
			keep = append(keep, int32(i))
		}
	}
	// Sorting the kept indices by their scores is the same as TFLite's sort of the kept scores:
	// both orders are stable over increasing box index.
	sortDecreasing(keep, scores, k.sortTmp)
	return k.suppress(keep, maxDet)
}

// suppress returns at most maxDet of the boxes keep lists by decreasing score, each overlapping
// no earlier selected box by more than the IoU threshold. The result aliases k.selected.
//
// TFLite marks, for each box it selects, every later box overlapping it, and selects the next
// box left unmarked. A box is unmarked exactly when it overlaps none of the boxes selected before
// it, so checking each box against those few gives the same selection, and the loop stops at
// the maxDet-th. On the SSD (its score threshold of 1e-8 keeps all 1917 boxes, 10 detections)
// that is a few hundred IoUs instead of about 19,000.
func (k *detectionPostProcess) suppress(keep []int32, maxDet int) []int32 {
	selected := k.selected[:0]
	limit := min(len(keep), maxDet)
	for _, b := range keep {
		if len(selected) >= limit {
			break
		}
		bb := (*[4]float32)(k.boxes[b*4:])
		overlaps := false
		for _, s := range selected {
			if iou((*[4]float32)(k.boxes[s*4:]), bb) > k.iouThreshold {
				overlaps = true
				break
			}
		}
		if !overlaps {
			selected = append(selected, b)
		}
	}
	k.selected = selected
	return selected
}

// iou is the intersection over union of two corner boxes; 0 if either has no area.
// The float32 conversions of products prevent fused multiply-adds, so every platform rounds
// each step as TFLite does.
func iou(a, b *[4]float32) float32 {
	h := max(min(a[2], b[2])-max(a[0], b[0]), 0)
	w := max(min(a[3], b[3])-max(a[1], b[1]), 0)
	if h == 0 || w == 0 {
		// Most pairs do not meet, and the division below would give 0 for them too.
		return 0
	}
	areaA := float32((a[2] - a[0]) * (a[3] - a[1]))
	areaB := float32((b[2] - b[0]) * (b[3] - b[1]))
	if areaA <= 0 || areaB <= 0 {
		return 0
	}
	inter := float32(h * w)
	return inter / (areaA + areaB - inter)
}

// sortDecreasing stable-sorts idx by decreasing vals[idx[i]] (a merge sort, so it does not
// allocate: tmp must be at least as long as idx).
func sortDecreasing(idx []int32, vals []float32, tmp []int32) {
	n := len(idx)
	const run = 16
	for lo := 0; lo < n; lo += run {
		hi := min(lo+run, n)
		for i := lo + 1; i < hi; i++ {
			for j := i; j > lo && vals[idx[j]] > vals[idx[j-1]]; j-- {
				idx[j], idx[j-1] = idx[j-1], idx[j]
			}
		}
	}
	src, dst := idx, tmp[:n]
	for width := run; width < n; width *= 2 {
		for lo := 0; lo < n; lo += 2 * width {
			mid, hi := min(lo+width, n), min(lo+2*width, n)
			i, j, o := lo, mid, lo
			for i < mid && j < hi {
				// Take from the right run only when strictly greater, which keeps the sort stable.
				if vals[src[j]] > vals[src[i]] {
					dst[o] = src[j]
					j++
				} else {
					dst[o] = src[i]
					i++
				}
				o++
			}
			o += copy(dst[o:], src[i:mid])
			copy(dst[o:], src[j:hi])
		}
		src, dst = dst, src
	}
	if n > 0 && &src[0] != &idx[0] {
		copy(idx, src)
	}
}
