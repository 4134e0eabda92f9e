package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// States of a request: the committer takes a pending request; a caller whose context ends
// cancels it if the committer has not taken it yet.
const (
	reqPending int32 = iota
	reqTaken
	reqCancelled
)

// request is one Append, AppendBatch or Ack waiting for the committer.
type request struct {
	n     int                                     // records to append; 0 for an ack
	build func(i int, seq uint64) ([]byte, error) // encodes record i with its sequence number
	seqs  []uint64                                // records to delete (ack)
	enq   time.Time                               // when it was queued, for MaxCommitDelay
	state atomic.Int32
	done  chan struct{} // closed by the committer once the fields below are set

	first    uint64 // sequence number of the first appended record
	err      error
	panicked any // a panic in build, re-raised in the caller's goroutine
}

// size is what the request adds to a transaction's MaxBatch count.
func (r *request) size() int {
	if r.n > 0 {
		return r.n
	}
	return len(r.seqs)
}

// Append assigns the next sequence number, calls build with it to encode the record, and
// returns the sequence number once the record is committed to disk. Sequence numbers increase
// by one per record, are stored in the same transaction as the records, and are never reused.
//
// Appends from concurrent goroutines share transactions (group commit): the first waits up to
// Options.MaxCommitDelay for others, so a lone caller waits that long plus one commit.
//
// build runs on the committer goroutine while a write transaction is open: it must be quick
// and must not call the DB. The slice it returns is copied, so it may reuse a buffer. If build
// returns an error, Append returns it and nothing is stored; the sequence number it was given
// goes to the next record, since no record ever had it. A panic in build is raised again in
// the caller of Append.
//
// If ctx ends while Append waits, Append returns an error wrapping ctx.Err(); the record may
// still have been committed (it is then in the outbox and will be published). A write error,
// such as a full disk, is returned and recorded in Stats; the records already committed stay,
// and the next Append tries again.
func (db *DB) Append(ctx context.Context, build func(seq uint64) ([]byte, error)) (uint64, error) {
	r := &request{n: 1, build: func(_ int, seq uint64) ([]byte, error) { return build(seq) }}
	if err := db.submit(ctx, r); err != nil {
		return 0, err
	}
	return r.first, nil
}

// AppendBatch appends n records in one transaction, all or none: record i gets sequence number
// first+i and is encoded by build(i, first+i). It returns once all are committed. n must be
// between 1 and Options.MaxBatch. Otherwise it behaves like Append.
func (db *DB) AppendBatch(ctx context.Context, n int, build func(i int, seq uint64) ([]byte, error)) (first uint64, err error) {
	if n < 1 || n > db.opts.MaxBatch {
		return 0, fmt.Errorf("store: AppendBatch of %d records, want 1 to %d (Options.MaxBatch)", n, db.opts.MaxBatch)
	}
	r := &request{n: n, build: build}
	if err := db.submit(ctx, r); err != nil {
		return 0, err
	}
	return r.first, nil
}

// Ack deletes the records with the given sequence numbers. Unknown or already deleted numbers
// are ignored, so acking twice is harmless. Acks share transactions with appends and with each
// other; Ack returns once the deletion is committed.
func (db *DB) Ack(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	r := &request{seqs: seqs}
	return db.submit(context.Background(), r)
}

// submit queues r for the committer and waits for its outcome.
func (db *DB) submit(ctx context.Context, r *request) error {
	r.enq = time.Now()
	r.done = make(chan struct{})
	select {
	case db.reqs <- r:
	case <-db.stop:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("store: not queued, nothing stored: %w", ctx.Err())
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqCancelled) {
			return fmt.Errorf("store: withdrawn before commit, nothing stored: %w", ctx.Err())
		}
		return fmt.Errorf("store: stopped waiting; the commit is in progress and may succeed: %w", ctx.Err())
	case <-db.done:
		// The committer exited; it may have taken r in its last batch.
		if r.state.CompareAndSwap(reqPending, reqCancelled) {
			return ErrClosed
		}
		<-r.done
	}
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.err
}

// run is the committer goroutine: the only writer of the outbox and the counters. It takes a
// request, gathers more until MaxBatch or MaxCommitDelay, commits them in one transaction and
// repeats; between requests it runs maintenance. It exits when stop is closed, after
// committing what is queued.
func (db *DB) run() {
	defer close(db.done)
	// A fault reading the mapped file (damaged or truncated under us, a failing card) becomes
	// a panic that apply turns into ErrCorrupt, instead of killing the agent.
	debug.SetPanicOnFault(true)
	tick := time.NewTicker(db.opts.CompactInterval)
	defer tick.Stop()
	batch := make([]*request, 0, 64)
	for {
		var first *request
		select {
		case first = <-db.reqs:
		case <-tick.C:
			db.maintain()
			continue
		case <-db.stop:
			db.drain(batch)
			return
		}
		batch = db.gather(append(batch[:0], first))
		db.commit(batch)
		clear(batch)
	}
}

// gather adds requests to batch until it holds MaxBatch records or the first request has
// waited MaxCommitDelay; then it still takes what is already queued, without waiting.
func (db *DB) gather(batch []*request) []*request {
	size := 0
	for _, r := range batch {
		size += r.size()
	}
	var timeout <-chan time.Time // nil once there is no time left to wait
	if wait := time.Until(batch[0].enq.Add(db.opts.MaxCommitDelay)); wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		timeout = timer.C
	}
	for size < db.opts.MaxBatch {
		select {
		case r := <-db.reqs:
			batch = append(batch, r)
			size += r.size()
			continue
		default:
		}
		if timeout == nil {
			return batch
		}
		select {
		case r := <-db.reqs:
			batch = append(batch, r)
			size += r.size()
		case <-timeout:
			timeout = nil
		case <-db.stop:
			return batch
		}
	}
	return batch
}

// drain commits everything still queued when the store closes.
func (db *DB) drain(batch []*request) {
	for {
		batch = batch[:0]
		size := 0
	take:
		for size < db.opts.MaxBatch {
			select {
			case r := <-db.reqs:
				batch = append(batch, r)
				size += r.size()
			default:
				break take
			}
		}
		if len(batch) == 0 {
			return
		}
		db.commit(batch)
		clear(batch)
	}
}

// txResult is what one transaction changed.
type txResult struct {
	c              counters
	oldest, newest uint64
	appended       uint64
	acked          uint64
}

// commit runs the requests in batch that their callers have not withdrawn in one transaction,
// then wakes the callers.
func (db *DB) commit(batch []*request) {
	taken := batch[:0:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqPending, reqTaken) {
			taken = append(taken, r)
		}
	}
	if len(taken) == 0 {
		return
	}
	res, changed, err := db.apply(taken)
	if err != nil {
		db.noteError(err, true)
		db.log.Error("commit failed", "requests", len(taken), "err", err)
		for _, r := range taken {
			if r.err == nil && r.panicked == nil {
				r.err = err
			}
		}
	} else if changed {
		db.noteCommit(res)
	}
	if err == nil && res.appended > 0 {
		// Before waking the callers, so that a record Append has returned is always announced.
		select {
		case db.committed <- struct{}{}:
		default:
		}
	}
	for _, r := range taken {
		close(r.done)
	}
}

// noteCommit copies a committed transaction's result into stats.
func (db *DB) noteCommit(res txResult) {
	db.setCounters(res.c, res.oldest, res.newest)
	db.smu.Lock()
	defer db.smu.Unlock()
	db.stats.Appended += res.appended
	db.stats.Acked += res.acked
	db.stats.Commits++
	db.stats.Failing = false
}

// apply runs reqs in one write transaction: acks, then appends in queue order, then the bounds.
// It commits only if something changed. A request whose build fails gets its own error and
// takes no sequence numbers; an error of the transaction itself is returned for all.
func (db *DB) apply(reqs []*request) (res txResult, changed bool, err error) {
	db.hmu.RLock()
	defer db.hmu.RUnlock()
	if db.bdb == nil {
		return res, false, ErrClosed
	}
	tx, err := db.bdb.Begin(true)
	if err != nil {
		return res, false, fmt.Errorf("store: begin write transaction on %s: %w", db.path, err)
	}
	done := false
	defer func() {
		if r := recover(); r != nil {
			// bbolt panics on damaged pages; the callers get an error instead of the agent
			// dying, and the rollback releases the writer lock for the next transaction.
			_ = tx.Rollback()
			res, changed, err = txResult{}, false, fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, r)
			return
		}
		if !done {
			_ = tx.Rollback()
		}
	}()

	old, err := readCounters(tx)
	if err != nil {
		return res, false, fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, err)
	}
	c := old
	out := tx.Bucket(bucketOutbox)
	// Keys only grow, so pages split at the end: fill them instead of leaving them half empty.
	out.FillPercent = 0.95
	now := db.opts.now()

	for _, r := range reqs {
		if r.n > 0 {
			continue
		}
		for _, seq := range r.seqs {
			k := u64(seq)
			v := out.Get(k)
			if v == nil {
				continue
			}
			size := uint64(len(v) - recordHeader + recordOverhead)
			if err := out.Delete(k); err != nil {
				return res, false, fmt.Errorf("store: delete record %d from %s: %w", seq, db.path, err)
			}
			c.records = sub(c.records, 1)
			c.bytes = sub(c.bytes, size)
			res.acked++
		}
	}

	for _, r := range reqs {
		if r.n == 0 {
			continue
		}
		first := c.seq + 1
		vals, ok := db.build(r, first, now)
		if !ok {
			continue
		}
		for i, v := range vals {
			if err := out.Put(u64(first+uint64(i)), v); err != nil {
				return res, false, fmt.Errorf("store: put record %d in %s: %w", first+uint64(i), db.path, err)
			}
			c.bytes += uint64(len(v) - recordHeader + recordOverhead)
		}
		r.first = first
		c.seq += uint64(r.n)
		c.records += uint64(r.n)
		res.appended += uint64(r.n)
	}

	if err := db.enforceBounds(out, &c, now); err != nil {
		return res, false, err
	}
	if c == old {
		return res, false, nil
	}
	// Reserve the numbers in the high-water mark file before any record carries them, so that
	// a damaged file's successor starts above them.
	if err := db.reserveSeqs(c.seq); err != nil {
		return res, false, err
	}
	if err := writeCounters(tx, c, old); err != nil {
		return res, false, fmt.Errorf("store: write counters in %s: %w", db.path, err)
	}
	res.c = c
	res.oldest, res.newest = outboxBounds(out)
	done = true
	if err := tx.Commit(); err != nil {
		return res, false, fmt.Errorf("store: commit to %s: %w", db.path, err)
	}
	return res, true, nil
}

// build encodes the n records of r, numbered from first, as stored values. It reports false if
// r failed (its err or panicked is set).
func (db *DB) build(r *request, first uint64, now time.Time) (vals [][]byte, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			r.panicked = p
			vals, ok = nil, false
		}
	}()
	vals = make([][]byte, r.n)
	for i := range vals {
		seq := first + uint64(i)
		p, err := r.build(i, seq)
		if err != nil {
			r.err = fmt.Errorf("store: encode record %d: %w", seq, err)
			return nil, false
		}
		if db.opts.MaxBytes > 0 && int64(len(p))+recordOverhead > db.opts.MaxBytes {
			r.err = fmt.Errorf("%w: record %d is %d bytes, Options.MaxBytes is %d", ErrTooLarge, seq, len(p), db.opts.MaxBytes)
			return nil, false
		}
		if len(p)+recordHeader > bolt.MaxValueSize {
			r.err = fmt.Errorf("%w: record %d is %d bytes", ErrTooLarge, seq, len(p))
			return nil, false
		}
		v := make([]byte, recordHeader+len(p))
		binary.BigEndian.PutUint64(v, uint64(now.UnixNano()))
		copy(v[recordHeader:], p)
		vals[i] = v
	}
	return vals, true
}

// enforceBounds drops the oldest records while the outbox breaks a bound, counting each drop
// under its reason: first the expired, then by count, then by size.
func (db *DB) enforceBounds(out *bolt.Bucket, c *counters, now time.Time) error {
	cur := out.Cursor()
	drop := func(reason int, v []byte) error {
		if err := cur.Delete(); err != nil {
			return fmt.Errorf("store: drop oldest record from %s: %w", db.path, err)
		}
		c.records = sub(c.records, 1)
		c.bytes = sub(c.bytes, uint64(len(v)-recordHeader+recordOverhead))
		c.drops[reason]++
		return nil
	}
	if db.opts.MaxAge > 0 {
		cutoff := now.Add(-db.opts.MaxAge).UnixNano()
		for k, v := cur.First(); k != nil && recordTime(v) < cutoff; k, v = cur.First() {
			if err := drop(dropAge, v); err != nil {
				return err
			}
		}
	}
	over := func() (int, bool) {
		if db.opts.MaxRecords > 0 && c.records > uint64(db.opts.MaxRecords) {
			return dropRecords, true
		}
		if db.opts.MaxBytes > 0 && c.bytes > uint64(db.opts.MaxBytes) {
			return dropBytes, true
		}
		return 0, false
	}
	for reason, ok := over(); ok; reason, ok = over() {
		k, v := cur.First()
		if k == nil {
			// The counters drifted from the bucket; the bucket is the truth.
			db.log.Warn("outbox counters disagree with an empty outbox; resetting", "records", c.records, "bytes", c.bytes)
			c.records, c.bytes = 0, 0
			break
		}
		if err := drop(reason, v); err != nil {
			return err
		}
	}
	return nil
}

// recordTime is when a stored record was appended, in Unix nanoseconds; 0 for a value too
// short to hold it, so that the damaged record expires first.
func recordTime(v []byte) int64 {
	if len(v) < recordHeader {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// sub subtracts without wrapping below zero, so a drifted counter cannot turn huge.
func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// maintain expires old records and compacts the file if it is worth it. It runs on the
// committer goroutine between commits.
func (db *DB) maintain() {
	if db.opts.MaxAge > 0 {
		res, changed, err := db.apply(nil)
		if err != nil {
			db.noteError(err, true)
			db.log.Error("expiring old records failed", "err", err)
		} else if changed {
			db.noteCommit(res)
		}
	}
	if err := db.maybeCompact(); err != nil {
		db.log.Error("compaction failed", "err", err)
	}
}
