package tflite

import "sync"

// task is a unit of kernel work split by index range. Kernels implement it on their own struct so
// that handing work to the pool allocates nothing.
type task interface {
	run(lo, hi int)
}

// pool runs tasks on a fixed set of worker goroutines, started by newPool and stopped by close.
type pool struct {
	threads int
	work    chan poolJob // nil when threads == 1
	wg      sync.WaitGroup
	stop    sync.Once
	// mu serializes do, so that its WaitGroup can live here: a local one would escape to the
	// heap through the work channel, costing an allocation per call.
	mu   sync.Mutex
	done sync.WaitGroup
}

type poolJob struct {
	t      task
	lo, hi int
	done   *sync.WaitGroup
}

func newPool(threads int) *pool {
	p := &pool{threads: max(threads, 1)}
	if p.threads > 1 {
		p.work = make(chan poolJob, p.threads)
		for i := 0; i < p.threads-1; i++ {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				for j := range p.work {
					j.t.run(j.lo, j.hi)
					j.done.Done()
				}
			}()
		}
	}
	return p
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
	for lo := chunk; lo < total; lo += chunk {
		p.done.Add(1)
		p.work <- poolJob{t: t, lo: lo, hi: min(lo+chunk, total), done: &p.done}
	}
	t.run(0, min(chunk, total))
	p.done.Wait()
}

// close stops the workers; the pool must not be used afterwards.
func (p *pool) close() {
	if p == nil || p.work == nil {
		return
	}
	p.stop.Do(func() { close(p.work) })
	p.wg.Wait()
}

// rowSlots splits a kernel's output rows over worker slots (task ranges of pool.do), each with
// its own region of the node's scratch. CONV_2D, DEPTHWISE_CONV_2D and the 2D pools use it.
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
