package tflite

import (
	"cmp"
	"slices"
)

// arenaAlign is the alignment of every buffer in the arena: enough for any element type and for
// 128-bit vector loads.
const arenaAlign = 16

// allocation is one buffer to place in the arena: it is live from operator first to operator
// last, inclusive.
type allocation struct {
	size        int
	first, last int
	offset      int // set by planArena
}

// planArena places the allocations in one arena so that buffers whose lifetimes overlap never
// share bytes, and returns the arena size. Like TFLite's greedy-by-size planner it places the
// largest buffers first, each at the lowest offset where it fits between the buffers already
// placed that are live at the same time. Greedy is not optimal, and which of two buffers of one
// size goes first matters: it tries the one that comes to life first, then the one that lives
// longer, and keeps the smaller arena (BlazeFace with its RELUs fused: 1.69 MiB, then 1.5 MiB,
// the most its live tensors ever take at once).
// Offsets are arenaAlign-aligned.
func planArena(allocs []allocation) int {
	bySize := func(a, b allocation) int {
		if c := cmp.Compare(b.size, a.size); c != 0 {
			return c
		}
		return cmp.Compare(a.first, b.first)
	}
	byLast := func(a, b allocation) int {
		if c := cmp.Compare(b.size, a.size); c != 0 {
			return c
		}
		return cmp.Compare(b.last, a.last)
	}
	total := placeGreedy(allocs, bySize)
	offsets := make([]int, len(allocs))
	for i := range allocs {
		offsets[i] = allocs[i].offset
	}
	if t := placeGreedy(allocs, byLast); t < total {
		return t
	}
	for i := range allocs {
		allocs[i].offset = offsets[i]
	}
	return total
}

// placeGreedy sets the offsets of allocs, taking them in the order of less, and returns the
// arena size.
func placeGreedy(allocs []allocation, less func(a, b allocation) int) int {
	order := make([]int, len(allocs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return less(allocs[a], allocs[b]) })
	placed := make([]int, 0, len(allocs)) // indices into allocs, sorted by offset
	total := 0
	for _, i := range order {
		a := &allocs[i]
		size := alignUp(a.size)
		if size == 0 {
			a.offset = 0
			continue
		}
		offset := 0
		for _, j := range placed {
			p := &allocs[j]
			if p.last < a.first || a.last < p.first {
				continue // lifetimes do not overlap
			}
			if p.offset >= offset+size {
				break // a gap before p is large enough
			}
			offset = max(offset, p.offset+alignUp(p.size))
		}
		a.offset = offset
		total = max(total, offset+size)
		k, _ := slices.BinarySearchFunc(placed, offset, func(j, off int) int { return cmp.Compare(allocs[j].offset, off) })
		placed = slices.Insert(placed, k, i)
	}
	return total
}

func alignUp(n int) int { return (n + arenaAlign - 1) &^ (arenaAlign - 1) }
