package tflite

import (
	"math/rand/v2"
	"testing"
)

var compareRefs = []struct {
	name string
	f    kernelFactory
	ref  func(x, y float64) bool
}{
	{"LESS", newLess, func(x, y float64) bool { return x < y }},
	{"LESS_EQUAL", newLessEqual, func(x, y float64) bool { return x <= y }},
	{"GREATER", newGreater, func(x, y float64) bool { return x > y }},
	{"GREATER_EQUAL", newGreaterEqual, func(x, y float64) bool { return x >= y }},
	{"EQUAL", newEqual, func(x, y float64) bool { return x == y }},
	{"NOT_EQUAL", newNotEqual, func(x, y float64) bool { return x != y }},
}

func boolRef(f func(x, y float64) bool) func(x, y float64) float64 {
	return func(x, y float64) float64 {
		if f(x, y) {
			return 1
		}
		return 0
	}
}

func TestCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(91, 92))
	for _, c := range broadcastCases {
		for _, typ := range []DataType{Float32, Int16, Int32, Int64, UInt8, Int8, Bool} {
			for _, op := range compareRefs {
				if typ == Bool && op.name != "EQUAL" && op.name != "NOT_EQUAL" {
					continue
				}
				a, b := randTensor(r, typ, c.a), randTensor(r, typ, c.b)
				out := run1(t, op.name, op.f, nil, newTensor("o", Bool, nil, nil), a, b)
				shape, want := refBinary(rawValues(a), c.a, rawValues(b), c.b, boolRef(op.ref))
				checkShape(t, out, shape, op.name)
				checkValues(t, out, want, op.name+" "+typ.String())
			}
		}
	}
	// Quantized inputs of different scales compare by real value (values chosen away from ties,
	// where TFLite's fixed-point rounding could decide either way).
	a := tensorQ(UInt8, []int{4}, 0.05, 128, 128, 148, 100, 200) // 0, 1, -1.4, 3.6
	b := tensorQ(UInt8, []int{4}, 0.02, 100, 101, 140, 30, 250)  // 0.02, 0.8, -1.4, 3
	checkValues(t, run1(t, "LESS", newLess, nil, newTensor("o", Bool, nil, nil), a, b), []float64{1, 0, 0, 0}, "LESS u8 scales")
	checkValues(t, run1(t, "EQUAL", newEqual, nil, newTensor("o", Bool, nil, nil), a, b), []float64{0, 0, 1, 0}, "EQUAL u8 scales")
	for _, c := range []struct {
		f        kernelFactory
		a, b, to DataType
	}{{newLess, Bool, Bool, Bool}, {newEqual, Float32, Int32, Bool}, {newEqual, Float32, Float32, Float32}, {newGreater, String, String, Bool}} {
		err := runOp(t, "CMP", c.f, nil, []*Tensor{newTensor("a", c.a, []int{1}, nil), newTensor("b", c.b, []int{1}, nil)}, []*Tensor{newTensor("o", c.to, nil, nil)})
		wantErr(t, err, true)
	}
}

func TestLogical(t *testing.T) {
	r := rand.New(rand.NewPCG(93, 94))
	for _, c := range broadcastCases {
		a, b := randTensor(r, Bool, c.a), randTensor(r, Bool, c.b)
		for _, op := range []struct {
			name string
			f    kernelFactory
			ref  func(x, y float64) bool
		}{{"LOGICAL_AND", newLogicalAnd, func(x, y float64) bool { return x != 0 && y != 0 }}, {"LOGICAL_OR", newLogicalOr, func(x, y float64) bool { return x != 0 || y != 0 }}} {
			out := run1(t, op.name, op.f, nil, newTensor("o", Bool, nil, nil), a, b)
			_, want := refBinary(rawValues(a), c.a, rawValues(b), c.b, boolRef(op.ref))
			checkValues(t, out, want, op.name)
		}
		out := run1(t, "LOGICAL_NOT", newLogicalNot, nil, newTensor("o", Bool, nil, nil), a)
		want := rawValues(a)
		for i := range want {
			want[i] = 1 - want[i]
		}
		checkValues(t, out, want, "LOGICAL_NOT")
	}
	err := runOp(t, "LOGICAL_AND", newLogicalAnd, nil, []*Tensor{tensorOf(Float32, []int{1}), tensorOf(Bool, []int{1})}, []*Tensor{newTensor("o", Bool, nil, nil)})
	wantErr(t, err, true)
}

func TestSelect(t *testing.T) {
	r := rand.New(rand.NewPCG(95, 96))
	// SELECT_V2 broadcasts all three.
	for _, shapes := range [][3][]int{
		{{3, 4}, {3, 4}, {3, 4}}, {{1, 4}, {3, 1}, {3, 4}}, {{}, {2, 3}, {3}}, {{2, 1, 3}, {2, 4, 3}, {3}}, {{4}, {1}, {4}},
	} {
		for _, typ := range []DataType{Float32, Int8, Int64, Bool} {
			cond, x, y := randTensor(r, Bool, shapes[0]), randTensor(r, typ, shapes[1]), randTensor(r, typ, shapes[2])
			out := run1(t, "SELECT_V2", newSelectV2, nil, newTensor("o", typ, nil, nil), cond, x, y)
			xy, _ := broadcastShape(shapes[1], shapes[2])
			shape, _ := broadcastShape(shapes[0], xy)
			checkShape(t, out, shape, "SELECT_V2")
			cv, xv, yv := rawValues(cond), rawValues(x), rawValues(y)
			want := make([]float64, numElements(shape))
			for o := range want {
				idx := unravel(o, shape)
				if cv[ravelBroadcast(idx, shapes[0])] != 0 {
					want[o] = xv[ravelBroadcast(idx, shapes[1])]
				} else {
					want[o] = yv[ravelBroadcast(idx, shapes[2])]
				}
			}
			checkValues(t, out, want, "SELECT_V2")
		}
	}
	// SELECT: same shapes, a scalar, or one condition per row.
	x, y := tensorOf(Int32, []int{3, 2}, 1, 2, 3, 4, 5, 6), tensorOf(Int32, []int{3, 2}, -1, -2, -3, -4, -5, -6)
	rows := tensorOf(Bool, []int{3}, 1, 0, 1)
	checkValues(t, run1(t, "SELECT", newSelect, nil, tensorOf(Int32, nil), rows, x, y), []float64{1, 2, -3, -4, 5, 6}, "SELECT rows")
	checkValues(t, run1(t, "SELECT", newSelect, nil, tensorOf(Int32, nil), tensorOf(Bool, []int{}, 0), x, y), rawValues(y), "SELECT scalar")
	same := tensorOf(Bool, []int{3, 2}, 1, 0, 0, 1, 1, 0)
	checkValues(t, run1(t, "SELECT", newSelect, nil, tensorOf(Int32, nil), same, x, y), []float64{1, -2, -3, 4, 5, -6}, "SELECT")
	for name, in := range map[string][]*Tensor{
		"condition not bool": {tensorOf(Int32, []int{3, 2}), x, y},
		"x and y differ":     {same, x, tensorOf(Int32, []int{2, 3})},
		"condition shape":    {tensorOf(Bool, []int{2}), x, y},
		"types":              {same, x, tensorOf(Float32, []int{3, 2})},
	} {
		if err := runOp(t, "SELECT", newSelect, nil, in, []*Tensor{tensorOf(Int32, nil)}); err == nil {
			t.Errorf("SELECT %s accepted", name)
		}
	}
	q1, q2 := quant8(Int8, []int{2}, 0.1, 0), quant8(Int8, []int{2}, 0.2, 0)
	if err := runOp(t, "SELECT_V2", newSelectV2, nil, []*Tensor{tensorOf(Bool, []int{2}), q1, q2}, []*Tensor{qOut(Int8, 0.1, 0)}); err == nil {
		t.Error("SELECT_V2 of differently quantized inputs accepted")
	}
}
