package tflite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/tflite/internal/fb"
)

// flexMapBytes builds a FlexBuffer map with 4-byte slots: int32 values become ints, float32
// values floats and bool values bools. It is the writer side the tests need, nothing more.
func flexMapBytes(m map[string]any) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	keyPos := make([]int, len(keys))
	for i, k := range keys {
		keyPos[i] = len(b)
		b = append(b, k...)
		b = append(b, 0)
	}
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u32(uint32(len(keys)))
	keysVec := len(b)
	for i := range keys {
		u32(uint32(len(b) - keyPos[i]))
	}
	u32(uint32(len(b) - keysVec)) // offset to the keys vector
	u32(4)                        // keys byte width
	u32(uint32(len(keys)))
	values := len(b)
	var types []byte
	for _, k := range keys {
		switch v := m[k].(type) {
		case int32:
			u32(uint32(v))
			types = append(types, byte(fb.FlexInt)<<2|2)
		case float32:
			u32(math.Float32bits(v))
			types = append(types, byte(fb.FlexFloat)<<2|2)
		case bool:
			x := uint32(0)
			if v {
				x = 1
			}
			u32(x)
			types = append(types, byte(fb.FlexBool)<<2|2)
		default:
			panic("flexMapBytes: unsupported value")
		}
	}
	b = append(b, types...)
	root := len(b)
	u32(uint32(root - values))
	return append(b, byte(fb.FlexMapType)<<2|2, 4)
}

func dppOptions(over map[string]any) map[string]any {
	m := map[string]any{
		"max_detections": int32(3), "max_classes_per_detection": int32(1), "num_classes": int32(3),
		"nms_score_threshold": float32(0.3), "nms_iou_threshold": float32(0.5),
		"y_scale": float32(10), "x_scale": float32(10), "h_scale": float32(5), "w_scale": float32(5),
	}
	for k, v := range over {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// cornerAnchors returns float anchors (center-size) equal to the given corner boxes, so that
// all-zero encodings decode to exactly these boxes (up to float rounding).
func cornerAnchors(boxes [][4]float32) *Tensor {
	var v []float32
	for _, b := range boxes {
		v = append(v, (b[0]+b[2])/2, (b[1]+b[3])/2, b[2]-b[0], b[3]-b[1])
	}
	return tensorF32([]int{len(boxes), 4}, v...)
}

type dppResult struct {
	boxes, classes, scores []float32
	count                  float32
}

func runDPP(t *testing.T, opts map[string]any, enc, cls, anchors *Tensor) (dppResult, error) {
	t.Helper()
	return runDPPPool(t, opts, nil, enc, cls, anchors)
}

// runDPPPool is runDPP with the op's work split over p (nil: one thread).
func runDPPPool(t *testing.T, opts map[string]any, p *pool, enc, cls, anchors *Tensor) (dppResult, error) {
	t.Helper()
	outs := []*Tensor{tensorF32(nil), tensorF32(nil), tensorF32(nil), tensorF32(nil)}
	n := &node{op: "TFLite_Detection_PostProcess", inputs: []*Tensor{enc, cls, anchors}, outputs: outs,
		opts: mapOptions{}, custom: flexMapBytes(opts), pool: p}
	k, err := newDetectionPostProcess(n)
	if err != nil {
		return dppResult{}, err
	}
	if err := k.prepare(n); err != nil {
		return dppResult{}, err
	}
	for _, o := range outs {
		o.data = alignedBytes(o.ByteSize())
		// Garbage in the outputs must not leak into the result.
		for i := range o.data {
			o.data[i] = 0x7f
		}
	}
	if err := k.eval(n); err != nil {
		return dppResult{}, err
	}
	return dppResult{outs[0].Float32s(), outs[1].Float32s(), outs[2].Float32s(), outs[3].Float32s()[0]}, nil
}

// The hand-made case: five boxes, three classes plus background.
var (
	dppBoxes = [][4]float32{
		{0, 0, 0.4, 0.4},
		{0, 0, 0.4, 0.38}, // IoU 0.95 with box 0
		{0.5, 0.5, 1, 1},
		{0.5, 0.5, 1, 1}, // same as box 2, but below the score threshold
		{0.6, 0, 0.9, 0.3},
	}
	dppScores = []float32{ // background, class 0, 1, 2
		0.9, 0.8, 0.1, 0.2,
		0.1, 0.05, 0.9, 0,
		0.1, 0.5, 0, 0.6,
		0.1, 0.2, 0.25, 0.1,
		0.1, 0.7, 0, 0,
	}
)

func dppInputs() (enc, cls, anchors *Tensor) {
	return tensorF32([]int{1, 5, 4}, make([]float32, 20)...), tensorF32([]int{1, 5, 4}, dppScores...), cornerAnchors(dppBoxes)
}

func checkDPP(t *testing.T, got dppResult, wantBoxes []int, wantClasses []float32, wantScores []float32, wantCount float32) {
	t.Helper()
	if got.count != wantCount {
		t.Errorf("count = %v, want %v", got.count, wantCount)
	}
	if len(got.classes) != len(wantClasses) || len(got.boxes) != 4*len(wantClasses) {
		t.Fatalf("output sizes %d, %d; want %d rows", len(got.boxes), len(got.classes), len(wantClasses))
	}
	for i := range wantClasses {
		if got.classes[i] != wantClasses[i] || math.Abs(float64(got.scores[i]-wantScores[i])) > 1e-6 {
			t.Errorf("row %d: class %v score %v; want %v %v", i, got.classes[i], got.scores[i], wantClasses[i], wantScores[i])
		}
		var want [4]float32
		if wantBoxes[i] >= 0 {
			want = dppBoxes[wantBoxes[i]]
		}
		for j := range 4 {
			if math.Abs(float64(got.boxes[i*4+j]-want[j])) > 1e-6 {
				t.Errorf("row %d: box %v, want %v", i, got.boxes[i*4:i*4+4], want)
				break
			}
		}
	}
}

func TestDetectionPostProcessFastNMS(t *testing.T) {
	enc, cls, anchors := dppInputs()
	got, err := runDPP(t, dppOptions(nil), enc, cls, anchors)
	if err != nil {
		t.Fatal(err)
	}
	// Box 1 (0.9) suppresses box 0 (0.8) even though their best classes differ; box 3 is under
	// the score threshold.
	checkDPP(t, got, []int{1, 4, 2}, []float32{1, 0, 2}, []float32{0.9, 0.7, 0.6}, 3)

	got, err = runDPP(t, dppOptions(map[string]any{"max_detections": int32(2)}), enc, cls, anchors)
	if err != nil {
		t.Fatal(err)
	}
	checkDPP(t, got, []int{1, 4}, []float32{1, 0}, []float32{0.9, 0.7}, 2)

	// Unused rows are zero when fewer boxes pass.
	got, err = runDPP(t, dppOptions(map[string]any{"max_detections": int32(6), "nms_score_threshold": float32(0.65)}), enc, cls, anchors)
	if err != nil {
		t.Fatal(err)
	}
	checkDPP(t, got, []int{1, 4, -1, -1, -1, -1}, []float32{1, 0, 0, 0, 0, 0}, []float32{0.9, 0.7, 0, 0, 0, 0}, 2)
}

func TestDetectionPostProcessFastNMSTwoClassesPerBox(t *testing.T) {
	enc, cls, anchors := dppInputs()
	got, err := runDPP(t, dppOptions(map[string]any{"max_classes_per_detection": int32(2)}), enc, cls, anchors)
	if err != nil {
		t.Fatal(err)
	}
	// Each selected box is repeated with its two best classes.
	checkDPP(t, got,
		[]int{1, 1, 4, 4, 2, 2},
		[]float32{1, 0, 0, 1, 2, 0},
		[]float32{0.9, 0.05, 0.7, 0, 0.6, 0.5}, 3)
}

func TestDetectionPostProcessRegularNMS(t *testing.T) {
	enc, cls, anchors := dppInputs()
	got, err := runDPP(t, dppOptions(map[string]any{"use_regular_nms": true, "max_detections": int32(4)}), enc, cls, anchors)
	if err != nil {
		t.Fatal(err)
	}
	// Per class, box 0 (class 0) no longer competes with box 1 (class 1); box 2 class 0 (0.5)
	// is fifth and dropped.
	checkDPP(t, got, []int{1, 0, 4, 2}, []float32{1, 0, 0, 2}, []float32{0.9, 0.8, 0.7, 0.6}, 4)

	// detections_per_class 1 keeps only the best box of class 0.
	got, err = runDPP(t, dppOptions(map[string]any{"use_regular_nms": true, "max_detections": int32(4), "detections_per_class": int32(1)}), enc, cls, anchors)
	if err != nil {
		t.Fatal(err)
	}
	checkDPP(t, got, []int{1, 0, 2, -1}, []float32{1, 0, 2, 0}, []float32{0.9, 0.8, 0.6, 0}, 3)
}

func TestDetectionPostProcessTiesAndThresholds(t *testing.T) {
	boxes := [][4]float32{
		{0, 0, 1, 0.5}, // IoU with box 1 is exactly 0.5: not suppressed at threshold 0.5
		{0, 0, 1, 1},
		{0, 0.6, 0.2, 0.8}, // disjoint from box 3, same score
		{0.5, 0.6, 0.7, 0.8},
	}
	scores := []float32{
		0, 0.5,
		0, 0.5,
		0, 0.4,
		0, 0.4,
	}
	for _, regular := range []bool{false, true} {
		opts := dppOptions(map[string]any{"num_classes": int32(1), "max_detections": int32(4), "use_regular_nms": regular,
			"nms_score_threshold": float32(0.4)})
		got, err := runDPP(t, opts, tensorF32([]int{1, 4, 4}, make([]float32, 16)...), tensorF32([]int{1, 4, 2}, scores...), cornerAnchors(boxes))
		if err != nil {
			t.Fatal(err)
		}
		var gotBoxes [][4]float32
		for i := range int(got.count) {
			gotBoxes = append(gotBoxes, [4]float32(got.boxes[i*4:i*4+4]))
		}
		// Equal scores keep index order; a score equal to the threshold passes.
		if got.count != 4 || !slices.EqualFunc(gotBoxes, boxes, nearBox) {
			t.Errorf("regular=%v: got %v boxes %v, want all four in index order", regular, got.count, gotBoxes)
		}
		// Just above 0.5, box 1 is suppressed by the earlier box 0.
		opts["nms_iou_threshold"] = float32(0.49)
		got, err = runDPP(t, opts, tensorF32([]int{1, 4, 4}, make([]float32, 16)...), tensorF32([]int{1, 4, 2}, scores...), cornerAnchors(boxes))
		if err != nil {
			t.Fatal(err)
		}
		if got.count != 3 || !nearBox([4]float32(got.boxes[4:8]), boxes[2]) {
			t.Errorf("regular=%v, iou 0.49: count %v, second box %v; want 3, %v", regular, got.count, got.boxes[4:8], boxes[2])
		}
	}
}

func nearBox(a, b [4]float32) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			return false
		}
	}
	return true
}

func TestDetectionPostProcessDecode(t *testing.T) {
	// anchor (y 0.5, x 0.5, h 0.2, w 0.4); encoding y=2.5 -> +0.25*h, x=-5 -> -0.5*w,
	// h=5*ln2 -> twice the anchor height, w=0 -> anchor width.
	enc := tensorF32([]int{1, 1, 4}, 2.5, -5, float32(5*math.Ln2), 0)
	anchors := tensorF32([]int{1, 4}, 0.5, 0.5, 0.2, 0.4)
	cls := tensorF32([]int{1, 1, 2}, 0, 0.9)
	got, err := runDPP(t, dppOptions(map[string]any{"num_classes": int32(1)}), enc, cls, anchors)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.35, 0.1, 0.75, 0.5}
	for i := range want {
		if math.Abs(float64(got.boxes[i]-want[i])) > 1e-6 {
			t.Fatalf("box %v, want %v", got.boxes[:4], want)
		}
	}
	if got.count != 1 || got.scores[0] != 0.9 || got.classes[0] != 0 {
		t.Errorf("count %v score %v class %v", got.count, got.scores[0], got.classes[0])
	}
}

func TestDetectionPostProcessQuantized(t *testing.T) {
	// The same case as TestDetectionPostProcessFastNMS with uint8 scores (scale 0.01) and uint8
	// encodings (zero point 128, so all-128 encodings decode to the anchors).
	cls := newTensor("scores", UInt8, []int{1, 5, 4}, &Quantization{Scale: []float32{0.01}, ZeroPoint: []int64{0}})
	for i, s := range dppScores {
		cls.UInt8s()[i] = uint8(math.Round(float64(s * 100)))
	}
	enc := newTensor("enc", UInt8, []int{1, 5, 4}, &Quantization{Scale: []float32{0.1}, ZeroPoint: []int64{128}})
	for i := range enc.UInt8s() {
		enc.UInt8s()[i] = 128
	}
	got, err := runDPP(t, dppOptions(nil), enc, cls, cornerAnchors(dppBoxes))
	if err != nil {
		t.Fatal(err)
	}
	checkDPP(t, got, []int{1, 4, 2}, []float32{1, 0, 2}, []float32{0.9, 0.7, 0.6}, 3)
}

func TestDetectionPostProcessErrors(t *testing.T) {
	enc, cls, anchors := dppInputs()
	tests := []struct {
		name string
		opts map[string]any
		enc  *Tensor
		cls  *Tensor
	}{
		{"no max_detections", dppOptions(map[string]any{"max_detections": nil}), enc, cls},
		{"zero iou threshold", dppOptions(map[string]any{"nms_iou_threshold": float32(0)}), enc, cls},
		{"zero scale", dppOptions(map[string]any{"h_scale": float32(0)}), enc, cls},
		{"zero classes per detection", dppOptions(map[string]any{"max_classes_per_detection": int32(0)}), enc, cls},
		{"class count mismatch", dppOptions(map[string]any{"num_classes": int32(1)}), enc, cls},
		{"box count mismatch", dppOptions(nil), tensorF32([]int{1, 4, 4}, make([]float32, 16)...), cls},
		{"short encodings", dppOptions(nil), tensorF32([]int{1, 5, 3}, make([]float32, 15)...), cls},
		{"int32 scores", dppOptions(nil), enc, newTensor("i", Int32, []int{1, 5, 4}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := runDPP(t, tt.opts, tt.enc, tt.cls, anchors); err == nil {
				t.Fatal("no error")
			}
		})
	}
	n := &node{op: "TFLite_Detection_PostProcess", inputs: []*Tensor{enc, cls, anchors},
		outputs: make([]*Tensor, 4), custom: []byte{1, 2}}
	if _, err := newDetectionPostProcess(n); !errors.Is(err, fb.ErrFlexBuffer) {
		t.Errorf("corrupt options: err = %v, want fb.ErrFlexBuffer", err)
	}
	// An anchor with a negative size decodes to an invalid box, which eval rejects.
	bad := cornerAnchors(dppBoxes)
	bad.Float32s()[2] = -1
	if _, err := runDPP(t, dppOptions(nil), enc, cls, bad); err == nil {
		t.Error("negative anchor: no error")
	}
}

func TestDetectionPostProcessNoAllocs(t *testing.T) {
	enc, cls, anchors := dppInputs()
	for _, regular := range []bool{false, true} {
		outs := []*Tensor{tensorF32(nil), tensorF32(nil), tensorF32(nil), tensorF32(nil)}
		n := &node{op: "dpp", inputs: []*Tensor{enc, cls, anchors}, outputs: outs, opts: mapOptions{},
			custom: flexMapBytes(dppOptions(map[string]any{"use_regular_nms": regular, "max_classes_per_detection": int32(2)}))}
		k, err := newDetectionPostProcess(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.prepare(n); err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			o.data = alignedBytes(o.ByteSize())
		}
		if a := testing.AllocsPerRun(20, func() {
			if err := k.eval(n); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("regular=%v: %v allocations per eval", regular, a)
		}
	}
}

func TestSortDecreasingStable(t *testing.T) {
	// Many ties over several merge runs.
	vals := make([]float32, 100)
	for i := range vals {
		vals[i] = float32((i * 37) % 7)
	}
	idx := make([]int32, len(vals))
	for i := range idx {
		idx[i] = int32(i)
	}
	sortDecreasing(idx, vals, make([]int32, len(idx)))
	for i := 1; i < len(idx); i++ {
		a, b := idx[i-1], idx[i]
		if vals[a] < vals[b] || (vals[a] == vals[b] && a > b) {
			t.Fatalf("not a stable decreasing order at %d: %v", i, idx)
		}
	}
}

// BenchmarkDetectionPostProcess runs the op at the SSD MobileNet size: 1917 anchors, 90 classes
// plus background, uint8 scores as the quantized model feeds them.
func BenchmarkDetectionPostProcess(b *testing.B) {
	const boxes, classes = 1917, 91
	rng := uint32(1)
	next := func() uint32 { rng = rng*1664525 + 1013904223; return rng >> 24 }
	enc := newTensor("enc", UInt8, []int{1, boxes, 4}, &Quantization{Scale: []float32{0.05}, ZeroPoint: []int64{128}})
	for i := range enc.UInt8s() {
		enc.UInt8s()[i] = uint8(108 + next()%40)
	}
	cls := newTensor("scores", UInt8, []int{1, boxes, classes}, &Quantization{Scale: []float32{1.0 / 256}, ZeroPoint: []int64{0}})
	for i := range cls.UInt8s() {
		// Mostly low scores, a few high ones, as after a sigmoid.
		v := next()
		if v > 250 {
			v = 100 + next()/2
		} else {
			v /= 16
		}
		cls.UInt8s()[i] = uint8(v)
	}
	anchors := tensorF32([]int{boxes, 4})
	for i := 0; i < boxes; i++ {
		a := anchors.Float32s()[i*4 : i*4+4]
		a[0], a[1] = float32(next())/256, float32(next())/256
		a[2], a[3] = 0.05+float32(next())/1024, 0.05+float32(next())/1024
	}
	for _, regular := range []bool{false, true} {
		name := "fast"
		if regular {
			name = "regular"
		}
		b.Run(name, func(b *testing.B) {
			outs := []*Tensor{tensorF32(nil), tensorF32(nil), tensorF32(nil), tensorF32(nil)}
			n := &node{op: "dpp", inputs: []*Tensor{enc, cls, anchors}, outputs: outs, opts: mapOptions{},
				custom: flexMapBytes(dppOptions(map[string]any{"num_classes": int32(90), "max_detections": int32(10),
					"nms_score_threshold": float32(1e-8), "nms_iou_threshold": float32(0.6), "use_regular_nms": regular}))}
			k, err := newDetectionPostProcess(n)
			if err != nil {
				b.Fatal(err)
			}
			if err := k.prepare(n); err != nil {
				b.Fatal(err)
			}
			for _, o := range outs {
				o.data = alignedBytes(o.ByteSize())
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := k.eval(n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDetectionPostProcessBytesMatchFloats checks the fast variant's byte path (fastNMSU8)
// against the float one on the same predictions: uint8 class scores, and the same scores
// dequantized into a float32 tensor, must give the same detections bit for bit, ties included
// (few distinct bytes, so most rows have several best classes).
func TestDetectionPostProcessBytesMatchFloats(t *testing.T) {
	const boxes, classes = 300, 12
	rng := rand.New(rand.NewPCG(3, 4))
	anchors := tensorF32([]int{boxes, 4})
	for i := range boxes {
		a := anchors.Float32s()[i*4 : i*4+4]
		a[0], a[1] = rng.Float32(), rng.Float32()
		a[2], a[3] = 0.05+rng.Float32()/4, 0.05+rng.Float32()/4
	}
	enc := tensorF32([]int{1, boxes, 4})
	for i := range enc.Float32s() {
		enc.Float32s()[i] = rng.Float32() - 0.5
	}
	for _, scale := range []float32{1.0 / 256, 0.37, 1e-35} {
		cls := newTensor("scores", UInt8, []int{1, boxes, classes + 1}, &Quantization{Scale: []float32{scale}, ZeroPoint: []int64{7}})
		for i := range cls.UInt8s() {
			cls.UInt8s()[i] = uint8(rng.IntN(6) * 40)
		}
		f := tensorF32([]int{1, boxes, classes + 1})
		for i, v := range cls.UInt8s() {
			f.Float32s()[i] = (float32(v) - 7) * scale
		}
		opts := dppOptions(map[string]any{"num_classes": int32(classes), "max_detections": int32(20),
			"nms_score_threshold": float32(-1e30), "nms_iou_threshold": float32(0.4)})
		got, err := runDPP(t, opts, enc, cls, anchors)
		if err != nil {
			t.Fatal(err)
		}
		want, err := runDPP(t, opts, enc, f, anchors)
		if err != nil {
			t.Fatal(err)
		}
		if got.count != want.count || got.count < 10 {
			t.Fatalf("scale %v: %v detections from bytes, %v from floats (want at least 10)", scale, got.count, want.count)
		}
		for name, pair := range map[string][2][]float32{"boxes": {got.boxes, want.boxes}, "classes": {got.classes, want.classes}, "scores": {got.scores, want.scores}} {
			for i := range pair[1] {
				if math.Float32bits(pair[0][i]) != math.Float32bits(pair[1][i]) {
					t.Fatalf("scale %v: %s[%d] = %v from bytes, %v from floats", scale, name, i, pair[0][i], pair[1][i])
				}
			}
		}
	}
	if orderKeeping(1e-35) || !orderKeeping(1.0/256) {
		t.Error("orderKeeping: want the byte path for 1/256 and not for 1e-35")
	}
}

// TestDetectionPostProcessPool runs an SSD-sized case (1917 boxes, 90 classes) on one thread and
// on a pool of two, fast and regular variants, and wants the same bytes; and a box made invalid
// in the pool's part must still fail the op.
func TestDetectionPostProcessPool(t *testing.T) {
	const boxes, classes = 1917, 91
	rng := rand.New(rand.NewPCG(5, 6))
	enc := newTensor("enc", UInt8, []int{1, boxes, 4}, &Quantization{Scale: []float32{0.05}, ZeroPoint: []int64{128}})
	for i := range enc.UInt8s() {
		enc.UInt8s()[i] = uint8(108 + rng.IntN(40))
	}
	cls := newTensor("scores", UInt8, []int{1, boxes, classes}, &Quantization{Scale: []float32{1.0 / 256}, ZeroPoint: []int64{0}})
	for i := range cls.UInt8s() {
		cls.UInt8s()[i] = uint8(rng.IntN(256))
	}
	anchors := tensorF32([]int{boxes, 4})
	for i := range boxes {
		a := anchors.Float32s()[i*4 : i*4+4]
		a[0], a[1], a[2], a[3] = rng.Float32(), rng.Float32(), 0.05+rng.Float32()/4, 0.05+rng.Float32()/4
	}
	p := newPool(2)
	defer p.close()
	run := func(regular bool, pl *pool) (dppResult, error) {
		return runDPPPool(t, dppOptions(map[string]any{"num_classes": int32(classes - 1), "max_detections": int32(10),
			"nms_score_threshold": float32(1e-8), "nms_iou_threshold": float32(0.6), "use_regular_nms": regular}), pl, enc, cls, anchors)
	}
	for _, regular := range []bool{false, true} {
		one, err := run(regular, nil)
		if err != nil {
			t.Fatal(err)
		}
		two, err := run(regular, p)
		if err != nil {
			t.Fatal(err)
		}
		if one.count != 10 {
			t.Fatalf("regular=%v: %v detections, want 10", regular, one.count)
		}
		if one.count != two.count || !slices.Equal(one.boxes, two.boxes) || !slices.Equal(one.classes, two.classes) || !slices.Equal(one.scores, two.scores) {
			t.Errorf("regular=%v: outputs differ between one thread and two", regular)
		}
	}
	anchors.Float32s()[(boxes-3)*4+2] = -1 // a negative height, in the second thread's half
	if _, err := run(false, p); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("decoded box %d is invalid", boxes-3)) {
		t.Errorf("invalid box: error %v, want decoded box %d is invalid", err, boxes-3)
	}
}

// TestSuppressMatchesTFLite checks suppress against TFLite's loop (each selected box marks every
// later box it overlaps; the next unmarked box is selected) on random boxes in clusters, as a
// detector's are around each object, with IoU thresholds from 0 to 1 and detection limits from
// 1 to all the boxes.
func TestSuppressMatchesTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	reference := func(boxes []float32, keep []int32, maxDet int, thr float32) []int32 {
		active := make([]bool, len(keep))
		for i := range active {
			active[i] = true
		}
		var selected []int32
		for i, b := range keep {
			if len(selected) >= maxDet {
				break
			}
			if !active[i] {
				continue
			}
			selected = append(selected, b)
			for j := i + 1; j < len(keep); j++ {
				if active[j] && iou((*[4]float32)(boxes[b*4:]), (*[4]float32)(boxes[keep[j]*4:])) > thr {
					active[j] = false
				}
			}
		}
		return selected
	}
	for trial := range 300 {
		n := 1 + r.IntN(400)
		boxes := make([]float32, n*4)
		centers := 1 + r.IntN(8)
		for b := range n {
			c := r.IntN(centers)
			cy, cx := float32(c%3)*0.3+0.1, float32(c/3)*0.3+0.1
			y, x := cy+r.Float32()*0.1, cx+r.Float32()*0.1
			h, w := 0.05+r.Float32()*0.2, 0.05+r.Float32()*0.2
			if r.IntN(20) == 0 {
				h = 0 // no area
			}
			copy(boxes[b*4:], []float32{y, x, y + h, x + w})
		}
		keep := make([]int32, 0, n)
		for b := range n {
			if r.IntN(4) != 0 {
				keep = append(keep, int32(b))
			}
		}
		r.Shuffle(len(keep), func(i, j int) { keep[i], keep[j] = keep[j], keep[i] })
		maxDet := 1 + r.IntN(n+1)
		if trial%3 == 0 {
			maxDet = 10
		}
		thr := []float32{0, 0.3, 0.5, 0.6, 1}[trial%5]
		k := &detectionPostProcess{boxes: boxes, iouThreshold: thr, selected: make([]int32, 0, n)}
		got := k.suppress(keep, maxDet)
		if want := reference(boxes, keep, maxDet, thr); !slices.Equal(got, want) {
			t.Fatalf("trial %d (%d boxes, %d kept, maxDet %d, IoU %v): selected %v, want %v", trial, n, len(keep), maxDet, thr, got, want)
		}
	}
}
