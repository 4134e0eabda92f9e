package tflite

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// countTask counts how often each index ran, and fails the test when two ranges run on one
// slot at once or on a slot out of range.
type countTask struct {
	t     testing.TB
	hits  []atomic.Int32
	busy  [8]atomic.Bool
	slots int
}

func newCountTask(t testing.TB, n, slots int) *countTask {
	return &countTask{t: t, hits: make([]atomic.Int32, n), slots: slots}
}

func (c *countTask) run(lo, hi, slot int) {
	if slot < 0 || slot >= c.slots {
		c.t.Errorf("range [%d, %d) ran on slot %d of %d", lo, hi, slot, c.slots)
		return
	}
	if c.busy[slot].Swap(true) {
		c.t.Errorf("two ranges ran on slot %d at once", slot)
	}
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
	c.busy[slot].Store(false)
}

// TestPoolRunsEveryIndexOnce hands the pool jobs back to back (its workers spinning), after
// pauses longer than spinFor (its workers and the caller parked), and with more threads than
// processors, and checks that every index of every job ran exactly once.
func TestPoolRunsEveryIndexOnce(t *testing.T) {
	for _, threads := range []int{2, 3, 5} {
		p := newPool(threads)
		c := newCountTask(t, 1000, threads)
		for job := range 400 {
			total := 1 + job*7%1000
			for i := range total {
				c.hits[i].Store(0)
			}
			p.do(total, 1+job%5, 1+job%3, c)
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

func (s *slowTask) run(lo, hi, _ int) {
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
		p.do(30, 10, 10, s)
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
		threads := 2 + r.IntN(3)
		p := newPool(threads)
		c := newCountTask(t, 64, threads)
		for range 200 + r.IntN(2000) {
			total := 1 + r.IntN(64)
			for i := range total {
				c.hits[i].Store(0)
			}
			p.do(total, 1+r.IntN(4), 1+r.IntN(3), c)
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

// slotTask records the slot each index ran on; ranges on slots other than 0 sleep per index.
type slotTask struct {
	slot  []atomic.Int32
	sleep time.Duration
}

func (s *slotTask) run(lo, hi, slot int) {
	for i := lo; i < hi; i++ {
		if slot != 0 {
			time.Sleep(s.sleep)
		}
		s.slot[i].Store(int32(slot))
	}
}

// TestPoolBalances checks that a thread which falls behind gives its units to the others: the
// workers' indices take a millisecond each and the caller's nothing, so the caller, done with its
// share at once, must take most of the workers' shares from them.
func TestPoolBalances(t *testing.T) {
	for _, threads := range []int{2, 3} {
		p := newPool(threads)
		s := &slotTask{slot: make([]atomic.Int32, 24*threads), sleep: time.Millisecond}
		for i := range s.slot {
			s.slot[i].Store(-1)
		}
		p.do(len(s.slot), 1, 1, s)
		p.close()
		mine := 0
		for i := range s.slot {
			switch s.slot[i].Load() {
			case -1:
				t.Fatalf("threads=%d: index %d never ran", threads, i)
			case 0:
				mine++
			}
		}
		// Equal shares would leave the caller its own; the workers, asleep in their first
		// units, should run under half of theirs.
		share := len(s.slot) / threads
		if want := len(s.slot) - (threads-1)*share/2; mine < want {
			t.Errorf("threads=%d: the caller ran %d of %d indices, want at least %d", threads, mine, len(s.slot), want)
		}
	}
}

// TestPoolUnits checks how do cuts a job: one call on one thread below two parts, else units of
// at least grain indices, at most unitsPerThread a thread, a multiple of the threads used.
func TestPoolUnits(t *testing.T) {
	p := newPool(2)
	defer p.close()
	cases := []struct {
		total, minPart, grain int
		calls                 int // ranges run
	}{
		{10, 6, 1, 1},    // under two parts: one call
		{12, 6, 6, 2},    // two parts of one unit
		{100, 32, 8, 12}, // 12 units of 8 or more
		{100, 32, 32, 2}, // 3 units of 32 would leave one thread two: 2 units
		{1000, 1, 1, 2 * unitsPerThread},
	}
	for _, c := range cases {
		var calls atomic.Int32
		var covered atomic.Int32
		p.do(c.total, c.minPart, c.grain, taskFunc(func(lo, hi, _ int) {
			calls.Add(1)
			covered.Add(int32(hi - lo))
			if c.calls > 1 && hi-lo < c.grain {
				t.Errorf("%+v: range [%d, %d) is under the grain", c, lo, hi)
			}
		}))
		if calls.Load() != int32(c.calls) || covered.Load() != int32(c.total) {
			t.Errorf("%+v: %d calls over %d indices, want %d over %d", c, calls.Load(), covered.Load(), c.calls, c.total)
		}
	}
}

// taskFunc adapts a function to task.
type taskFunc func(lo, hi, slot int)

func (f taskFunc) run(lo, hi, slot int) { f(lo, hi, slot) }
