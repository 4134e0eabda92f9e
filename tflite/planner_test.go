package tflite

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// checkPlan verifies that no two buffers live at the same time share a byte, that offsets are
// aligned and inside the arena, and that the arena is no larger than the sum of the buffers and
// no smaller than the most memory live at one time.
func checkPlan(t *testing.T, allocs []allocation, total int) {
	t.Helper()
	sum, horizon := 0, 0
	for i, a := range allocs {
		if a.offset%arenaAlign != 0 || a.offset < 0 || a.offset+a.size > total {
			t.Fatalf("alloc %d %+v outside arena %d or misaligned", i, a, total)
		}
		sum += alignUp(a.size)
		horizon = max(horizon, a.last+1)
		for j := range i {
			b := allocs[j]
			if a.size == 0 || b.size == 0 || a.last < b.first || b.last < a.first {
				continue
			}
			if a.offset < b.offset+b.size && b.offset < a.offset+a.size {
				t.Fatalf("allocs %d %+v and %d %+v overlap in time and memory", i, a, j, b)
			}
		}
	}
	if total > sum {
		t.Fatalf("arena %d larger than the sum %d", total, sum)
	}
	for step := range horizon {
		live := 0
		for _, a := range allocs {
			if a.first <= step && step <= a.last {
				live += alignUp(a.size)
			}
		}
		if total < live {
			t.Fatalf("arena %d smaller than the %d bytes live at step %d", total, live, step)
		}
	}
}

func TestPlanArenaRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 300; iter++ {
		allocs := make([]allocation, 1+rng.IntN(40))
		for i := range allocs {
			first := rng.IntN(20)
			allocs[i] = allocation{size: rng.IntN(1000), first: first, last: first + rng.IntN(6)}
		}
		total := planArena(allocs)
		checkPlan(t, allocs, total)
	}
}

func TestPlanArenaReuse(t *testing.T) {
	// A chain: each buffer lives from its producer to its consumer; only neighbours overlap.
	allocs := []allocation{
		{size: 100, first: 0, last: 1},
		{size: 100, first: 1, last: 2},
		{size: 100, first: 2, last: 3},
		{size: 100, first: 3, last: 4},
	}
	total := planArena(allocs)
	checkPlan(t, allocs, total)
	if total != 2*112 {
		t.Errorf("arena %d, want %d (two buffers alternating)", total, 2*112)
	}
	// Largest first: a big buffer is placed at 0 and small ones fill around it.
	allocs = []allocation{
		{size: 10, first: 0, last: 0},
		{size: 1000, first: 1, last: 2},
		{size: 10, first: 2, last: 3},
		{size: 500, first: 3, last: 3},
	}
	total = planArena(allocs)
	checkPlan(t, allocs, total)
	if allocs[1].offset != 0 || allocs[3].offset != 0 || total != 1008+16 {
		t.Errorf("offsets %+v total %d", allocs, total)
	}
	// Buffers of one size: placing the short-lived one first (at 0) leaves the 16 bytes no
	// room below 64; placing the long-lived one first fits everything in 64, the most live at once.
	allocs = []allocation{
		{size: 32, first: 0, last: 0},
		{size: 32, first: 0, last: 2},
		{size: 32, first: 3, last: 3},
		{size: 16, first: 1, last: 3},
	}
	total = planArena(allocs)
	checkPlan(t, allocs, total)
	if total != 64 {
		t.Errorf("offsets %+v total %d, want 64", allocs, total)
	}
}

// chainOfReshapes builds in [2,3] -> n RESHAPE ops alternating [3,2] and [6] -> out.
func chainOfReshapes(n int) []byte {
	tensors := []fbt{tTensor("in", Float32, []int32{2, 3}, 0)}
	var ops []fbt
	for i := 1; i <= n; i++ {
		shape := []int32{3, 2}
		if i%2 == 0 {
			shape = []int32{6}
		}
		tensors = append(tensors, tTensor("t", Float32, shape, 0))
		ops = append(ops, tOp(0, []int32{int32(i - 1)}, []int32{int32(i)}, 17, fbt{shape}))
	}
	return encodeFB(tModel([]fbt{tOpcode(opReshape)},
		[]fbt{tSubgraph(tensors, []int32{0}, []int32{int32(n)}, ops)}, []fbt{tBuffer(nil)}), "TFL3")
}

func TestInterpreterArenaReuse(t *testing.T) {
	m, err := Load(chainOfReshapes(6))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	// 7 tensors of 24 bytes (32 aligned). The input lives throughout; at any operator only its
	// input and output are live besides, so the intermediates and the output share two slots.
	sum := 7 * 32
	if got := ip.ArenaSize(); got >= sum || got != 3*32 {
		t.Errorf("arena %d bytes, want %d (sum of tensors %d)", got, 3*32, sum)
	}
	var allocs []allocation
	for _, tn := range ip.tensors {
		a := ip.life[tn.index]
		a.size = len(tn.data)
		a.offset = int(uintptrOf(tn.data) - uintptrOf(ip.arena))
		allocs = append(allocs, a)
	}
	checkPlan(t, allocs, ip.ArenaSize())
	in := []float32{1, 2, 3, 4, 5, 6}
	for run := 0; run < 3; run++ {
		copy(ip.Input(0).Float32s(), in)
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
		if got := ip.Output(0).Float32s(); !slices.Equal(got, in) {
			t.Fatalf("run %d: output %v, want %v", run, got, in)
		}
		if got := ip.Input(0).Float32s(); !slices.Equal(got, in) {
			t.Fatalf("run %d: input overwritten: %v", run, got)
		}
		for i := range in {
			in[i] *= -2
		}
	}
}
