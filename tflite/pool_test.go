package tflite

import (
	"math/rand/v2"
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

// TestPoolStress hands random jobs to pools of 2-4 threads (more goroutines than this machine's
// processors, so that any of them can be descheduled anywhere) for a few seconds, with pauses
// that let the workers park, and checks every index of every job ran exactly once. It found a
// wake-up handshake that a descheduled caller could complete one job late.
func TestPoolStress(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	budget := 3 * time.Second
	if testing.Short() {
		budget = time.Second
	}
	deadline := time.Now().Add(budget)
	jobs := 0
	for time.Now().Before(deadline) {
		p := newPool(2 + r.IntN(3))
		c := &countTask{hits: make([]atomic.Int32, 64)}
		for range 200 + r.IntN(2000) {
			total := 1 + r.IntN(64)
			for i := range total {
				c.hits[i].Store(0)
			}
			p.do(total, 1+r.IntN(4), c)
			jobs++
			for i := range total {
				if n := c.hits[i].Load(); n != 1 {
					t.Fatalf("job %d: index %d of %d ran %d times", jobs, i, total, n)
				}
			}
			if r.IntN(500) == 0 {
				time.Sleep(time.Duration(r.IntN(400)) * time.Microsecond)
			}
		}
		p.close()
	}
	t.Logf("%d jobs", jobs)
}
