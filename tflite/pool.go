package tflite

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// task is a unit of kernel work split by index range. Kernels implement it on their own struct so
// that handing work to the pool allocates nothing.
type task interface {
	// run computes indices [lo, hi) as thread slot, 0 <= slot < the pool's threads. A slot runs
	// one range at a time, so a kernel may give each slot its own scratch.
	run(lo, hi, slot int)
}

// pool runs tasks on a fixed set of worker goroutines, started by newPool and stopped by close.
//
// A model is a chain of tens to hundreds of short ops (BlazeFace's take 10-50 µs each), and each
// op is split over the threads, so the hand-off is on the critical path twice per op. Handing work
// over a channel and waiting on a WaitGroup parks the goroutines between ops, and waking a parked
// one costs 5-50 µs of scheduler and futex latency: with 2 threads that made BlazeFace slower than
// with one. So, as XNNPACK's pthreadpool does, each worker has its own mailbox and spins on it for
// a while after its part before it parks, and the caller spins for the workers' parts before it
// parks; between ops of one Invoke nobody sleeps. A worker spins for at most spinFor after the
// last op of an Invoke, then parks until the next.
//
// Equal shares finish apart when the threads do not run at one speed: a core shared with another
// process, a hypervisor's other guest on the sibling hyperthread, a worker that wakes late. Halves
// then left the caller waiting 10-20% of an Invoke. So a job is cut into units, each thread claims
// the units of its own share one at a time from the front, and a thread whose share is done takes
// half of what is left of another's from the back (pthreadpool's work stealing). A worker that
// has not taken its job by the time the caller is done is skipped: the caller has run its units.
type pool struct {
	threads int
	workers []*poolWorker // threads-1 of them; the calling goroutine is slot 0, worker i slot i+1
	// mu serializes do: the job fields below and the workers' mailboxes hold one job at a time.
	mu sync.Mutex
	// The job do posts: t over [0, total) in units equal parts, shares[i] the units thread
	// slot i has not claimed yet. They are written before the posts and read by a worker only
	// after it has taken its post.
	t      task
	total  int
	units  int
	shares []share
	// left counts the workers posted whose part is not over (taken and running, or not yet
	// taken); gen numbers the jobs.
	left atomic.Int32
	gen  uint64
	// waiter is the job whose caller sleeps on wake (0: none), woken by the worker that
	// finishes that job's last part. Holding the job, not a flag, keeps a worker that is slow
	// between its last decrement and its wake-up from waking the caller of a later job.
	waiter atomic.Uint64
	wake   chan struct{}
	wg     sync.WaitGroup
	stop   sync.Once
}

// share is a thread slot's unclaimed units [lo, hi) as lo<<32 | hi, alone on its cache line: its
// owner claims from the front, other threads steal from the back.
type share struct {
	r atomic.Uint64
	_ [56]byte
}

// poolWorker is one worker's mailbox, padded so that two workers' fields never share a cache
// line (the caller writes one while the other spins on its own).
type poolWorker struct {
	_    [64]byte
	slot int
	// job is 2*gen while job gen is posted and not taken, 2*gen+1 once the worker took it, 0
	// once the caller took the post back (it finished the job without the worker).
	job    atomic.Uint64
	seq    atomic.Uint64 // bumped by do for each part it posts here
	parked atomic.Uint64 // while the worker sleeps on wake: the seq it waits for; else 0
	quit   atomic.Bool
	wake   chan struct{}
	_      [64]byte
}

// spinFor is how long a goroutine of the pool polls for its next event before it parks.
const spinFor = 200 * time.Microsecond

// unitsPerThread is how many units a job has per thread at most: enough to even out threads
// running a third apart, few enough that claiming them costs nothing next to the kernels.
const unitsPerThread = 16

func newPool(threads int) *pool {
	p := &pool{threads: max(threads, 1), wake: make(chan struct{}, 1)}
	p.shares = make([]share, p.threads)
	for i := range p.threads - 1 {
		w := &poolWorker{slot: i + 1, wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		p.wg.Add(1)
		go p.work(w)
	}
	return p
}

// work is a worker's loop: wait for a post in the mailbox, take it, run units, report it done.
func (p *pool) work(w *poolWorker) {
	defer p.wg.Done()
	var seen uint64 // not w.seq.Load(): do may post before this goroutine first runs
	for {
		spinUntil(func() bool { return w.seq.Load() != seen || w.quit.Load() })
		if w.seq.Load() == seen && !w.quit.Load() {
			// Park, waiting for post seen+1. do bumps seq before it looks at parked, and we
			// set parked before we look at seq again, so one of us sees the other; whoever
			// then clears parked owns the wake-up (do sends it, or we consume it or never
			// need it). parked holds the post awaited, so a post whose CAS comes late (its
			// goroutine descheduled while we ran its part and came back here) cannot wake
			// us for the next one.
			// (A swap, not a store: the same under Go's memory model, but qemu-user on an
			// x86 host lets a plain store pass the load after it, which lost this wake-up and
			// hung an arm64 agent under test-arm.)
			w.parked.Swap(seen + 1)
			if w.seq.Load() != seen || w.quit.Load() {
				if !w.parked.CompareAndSwap(seen+1, 0) {
					<-w.wake
				}
			} else {
				<-w.wake
			}
		}
		if w.quit.Load() {
			return
		}
		seen = w.seq.Load()
		j := w.job.Load()
		if j == 0 || j&1 == 1 || !w.job.CompareAndSwap(j, j+1) {
			continue // taken back by the caller, who finished that job alone
		}
		p.runUnits(w.slot)
		if p.left.Add(-1) == 0 && p.waiter.CompareAndSwap(j/2, 0) {
			p.wake <- struct{}{}
		}
	}
}

// spinUntil polls done for up to spinFor, yielding the processor between polls so that the
// goroutines it waits for can run even with fewer Ps than threads. It reports whether done held.
func spinUntil(done func() bool) bool {
	deadline := time.Now().Add(spinFor)
	for i := 0; ; i++ {
		if done() {
			return true
		}
		if i&63 == 63 && time.Now().After(deadline) {
			return false
		}
		if i&7 == 7 {
			runtime.Gosched()
		}
	}
}

// runUnits runs units of the current job as thread slot until none is left unclaimed: its own
// share first, then halves of the others'.
func (p *pool) runUnits(slot int) {
	for {
		u, ok := p.shares[slot].claim()
		if !ok {
			if !p.steal(slot) {
				return
			}
			continue
		}
		p.t.run(u*p.total/p.units, (u+1)*p.total/p.units, slot)
	}
}

// claim takes the first unit of the share.
func (s *share) claim() (int, bool) {
	for {
		v := s.r.Load()
		lo, hi := v>>32, v&0xffffffff
		if lo >= hi {
			return 0, false
		}
		if s.r.CompareAndSwap(v, v+1<<32) {
			return int(lo), true
		}
	}
}

// steal moves the last half (rounded up) of another slot's unclaimed units into slot's own share,
// which is empty. It reports whether it found any.
func (p *pool) steal(slot int) bool {
	for i := 1; i < len(p.shares); i++ {
		victim := &p.shares[(slot+i)%len(p.shares)]
		for {
			v := victim.r.Load()
			lo, hi := v>>32, v&0xffffffff
			if lo >= hi {
				break
			}
			mid := hi - (hi-lo+1)/2
			if victim.r.CompareAndSwap(v, lo<<32|mid) {
				// No one steals from an empty share, and a thief holding an older value of
				// ours fails its CAS: units once claimed never come back, so our share never
				// holds the same range twice.
				p.shares[slot].r.Store(mid<<32 | hi)
				return true
			}
		}
	}
	return false
}

// do runs t over [0, total): on one thread if total is under 2*minPart, else on up to threads
// slots with at least minPart indices each, in units of at least grain indices (a thread that
// falls behind gives its units to the others). It returns when every index is done.
func (p *pool) do(total, minPart, grain int, t task) {
	parts := 1
	if p != nil {
		parts = min(p.threads, total/max(minPart, 1))
	}
	if parts < 2 {
		t.run(0, total, 0)
		return
	}
	units := min(total/max(grain, 1), parts*unitsPerThread)
	units = max(units/parts*parts, parts)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.t, p.total, p.units = t, total, units
	for i := range p.shares {
		lo, hi := uint64(i*units/parts), uint64((i+1)*units/parts)
		if i >= parts {
			lo, hi = 0, 0
		}
		p.shares[i].r.Store(lo<<32 | hi)
	}
	posted := p.workers[:parts-1]
	p.left.Store(int32(len(posted)))
	for _, w := range posted {
		w.job.Store(2 * p.gen)
		if s := w.seq.Add(1); w.parked.CompareAndSwap(s, 0) {
			w.wake <- struct{}{}
		}
	}
	p.runUnits(0)
	// Every unit is claimed now. Take back the posts not taken yet; wait for the others.
	for _, w := range posted {
		if w.job.CompareAndSwap(2*p.gen, 0) {
			p.left.Add(-1)
		}
	}
	if spinUntil(func() bool { return p.left.Load() == 0 }) {
		return
	}
	// Park until the last part's worker wakes us, with the same handshake as a worker's.
	p.waiter.Swap(p.gen) // a swap for qemu-user, as the worker's parked
	if p.left.Load() == 0 {
		if p.waiter.CompareAndSwap(p.gen, 0) {
			return
		}
	}
	<-p.wake
}

// close stops the workers; the pool must not be used afterwards.
func (p *pool) close() {
	if p == nil {
		return
	}
	p.stop.Do(func() {
		for _, w := range p.workers {
			w.quit.Store(true)
			if v := w.parked.Load(); v != 0 && w.parked.CompareAndSwap(v, 0) {
				w.wake <- struct{}{}
			}
		}
	})
	p.wg.Wait()
}

// slotScratch gives each thread slot of a kernel's pool.do its own region of the node's scratch.
// CONV_2D, DEPTHWISE_CONV_2D, the 2D pools and the resizes use it.
type slotScratch struct {
	slots     int // the pool's threads, hence scratch regions
	slotBytes int // scratch bytes per slot; 0 for none
}

// setScratch asks for one scratch region of slotBytes per thread slot.
func (s *slotScratch) setScratch(n *node, slotBytes int) {
	s.slots = 1
	if n.pool != nil {
		s.slots = n.pool.threads
	}
	s.slotBytes = slotBytes
	n.scratchSize = s.slots * slotBytes
}

// scratchFor returns slot's scratch region (nil if none).
func (s *slotScratch) scratchFor(n *node, slot int) []byte {
	if s.slotBytes == 0 {
		return nil
	}
	return n.scratch[slot*s.slotBytes : (slot+1)*s.slotBytes]
}

// ceilDiv returns n/m rounded up, for n >= 0 and m > 0.
func ceilDiv(n, m int) int { return (n + m - 1) / m }
