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
	run(lo, hi int)
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
type pool struct {
	threads int
	workers []*poolWorker // threads-1 of them; the calling goroutine is the first thread
	// mu serializes do: workers' mailboxes hold one job at a time.
	mu sync.Mutex
	// left counts the parts handed to workers and not yet finished; gen numbers the jobs.
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

// poolWorker is one worker's mailbox, padded so that two workers' fields never share a cache
// line (the caller writes one while the other spins on its own).
type poolWorker struct {
	_      [64]byte
	t      task
	lo, hi int
	gen    uint64        // the job the part belongs to
	seq    atomic.Uint64 // bumped by do for each part it posts here
	parked atomic.Uint64 // while the worker sleeps on wake: the seq it waits for; else 0
	quit   atomic.Bool
	wake   chan struct{}
	_      [64]byte
}

// spinFor is how long a goroutine of the pool polls for its next event before it parks.
const spinFor = 200 * time.Microsecond

func newPool(threads int) *pool {
	p := &pool{threads: max(threads, 1), wake: make(chan struct{}, 1)}
	for range p.threads - 1 {
		w := &poolWorker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		p.wg.Add(1)
		go p.work(w)
	}
	return p
}

// work is a worker's loop: wait for a part in the mailbox, run it, report it done.
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
			w.parked.Store(seen + 1)
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
		t, lo, hi, gen := w.t, w.lo, w.hi, w.gen
		t.run(lo, hi)
		if p.left.Add(-1) == 0 && p.waiter.CompareAndSwap(gen, 0) {
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

// post hands [lo, hi) of t to worker w.
func (p *pool) post(w *poolWorker, t task, lo, hi int) {
	w.t, w.lo, w.hi, w.gen = t, lo, hi, p.gen
	if s := w.seq.Add(1); w.parked.CompareAndSwap(s, 0) {
		w.wake <- struct{}{}
	}
}

// do runs t over [0, total), split into at most threads ranges of at least minChunk indices;
// the calling goroutine takes the first range. It returns when every range is done.
func (p *pool) do(total, minChunk int, t task) {
	if p == nil || p.threads == 1 || total < 2*max(minChunk, 1) {
		t.run(0, total)
		return
	}
	parts := min(p.threads, total/max(minChunk, 1))
	chunk := (total + parts - 1) / parts
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.left.Store(int32((total+chunk-1)/chunk - 1)) // the ranges after the caller's
	for i, lo := 0, chunk; lo < total; i, lo = i+1, lo+chunk {
		p.post(p.workers[i], t, lo, min(lo+chunk, total))
	}
	t.run(0, min(chunk, total))
	if spinUntil(func() bool { return p.left.Load() == 0 }) {
		return
	}
	// Park until the last part's worker wakes us, with the same handshake as a worker's.
	p.waiter.Store(p.gen)
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

// rowSlots splits a kernel's output rows over worker slots (task ranges of pool.do), each with
// its own region of the node's scratch. CONV_2D, DEPTHWISE_CONV_2D, the 2D pools and the resizes
// use it.
type rowSlots struct {
	slots     int // worker threads, hence scratch regions
	slotBytes int // scratch bytes per slot; 0 for none
	active    int // slots used by the current eval
	rows      int // rows of the current eval
}

// setScratch asks for one scratch region of slotBytes per worker thread.
func (s *rowSlots) setScratch(n *node, slotBytes int) {
	s.slots = 1
	if n.pool != nil {
		s.slots = n.pool.threads
	}
	s.slotBytes = slotBytes
	n.scratchSize = s.slots * slotBytes
}

// start splits rows output rows over as many slots as the scratch holds, giving none fewer
// than minRows, and returns the number of slots to run.
func (s *rowSlots) start(n *node, rows, minRows int) int {
	s.rows = rows
	s.active = s.slots
	if s.slotBytes > 0 {
		s.active = min(s.active, len(n.scratch)/s.slotBytes)
	}
	s.active = max(1, min(s.active, rows/minRows))
	return s.active
}

// span returns the output rows [r0, r1) of slots [lo, hi) and slot lo's scratch (nil if none).
func (s *rowSlots) span(n *node, lo, hi int) (r0, r1 int, scratch []byte) {
	r0, r1 = lo*s.rows/s.active, hi*s.rows/s.active
	if s.slotBytes > 0 {
		scratch = n.scratch[lo*s.slotBytes : (lo+1)*s.slotBytes]
	}
	return r0, r1, scratch
}
