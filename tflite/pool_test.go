package tflite

import (
	"sync/atomic"
	"testing"
	"time"
)

// countTask counts how often each index ran.
type countTask struct{ hits []atomic.Int32 }

func (c *countTask) run(lo, hi int) {
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

// TestPoolRunsEveryIndexOnce hands the pool jobs back to back (its workers spinning), after
// pauses longer than spinFor (its workers and the caller parked), and with more threads than
// processors, and checks that every index of every job ran exactly once.
func TestPoolRunsEveryIndexOnce(t *testing.T) {
	for _, threads := range []int{2, 3, 5} {
		p := newPool(threads)
		c := &countTask{hits: make([]atomic.Int32, 1000)}
		for job := range 400 {
			total := 1 + job*7%1000
			for i := range total {
				c.hits[i].Store(0)
			}
			p.do(total, 1+job%5, c)
			for i := range total {
				if n := c.hits[i].Load(); n != 1 {
					t.Fatalf("threads=%d job %d: index %d of %d ran %d times", threads, job, i, total, n)
				}
			}
			if job%50 == 0 {
				time.Sleep(2 * spinFor)
			}
		}
		p.close()
		p.close() // a second close is harmless
	}
}

// slowTask makes the caller's share quick and the workers' slow, so the caller parks in do.
type slowTask struct{ ran atomic.Int32 }

func (s *slowTask) run(lo, hi int) {
	if lo > 0 {
		time.Sleep(3 * spinFor)
	}
	s.ran.Add(int32(hi - lo))
}

// TestPoolCallerParks checks that do returns only when the workers' parts are done, also when it
// has waited longer than it spins.
func TestPoolCallerParks(t *testing.T) {
	p := newPool(3)
	defer p.close()
	for range 20 {
		s := &slowTask{}
		p.do(30, 1, s)
		if n := s.ran.Load(); n != 30 {
			t.Fatalf("do returned after %d of 30 indices", n)
		}
	}
}
