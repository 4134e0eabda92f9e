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
