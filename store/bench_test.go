package store_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/store"
)

// benchPayload is a prediction-sized record (~300 bytes) that carries its seq.
func benchPayload(seq uint64) []byte {
	p := make([]byte, 0, 300)
	p = append(p, `{"seq":`...)
	p = strconv.AppendUint(p, seq, 10)
	p = append(p, `,"pad":"`...)
	p = append(p, bytes.Repeat([]byte{'x'}, 300-len(p)-2)...)
	return append(p, `"}`...)
}

func reportRecords(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppend measures durable appends (each returns after its fsync) from one goroutine and
// from many.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		delay    time.Duration
		parallel int // goroutines per GOMAXPROCS; 0: one caller
	}{
		{"sequential/delay=10ms", 0, 0},
		{"sequential/delay=none", -1, 0},
		{"parallel-64/delay=10ms", 0, 32},
		{"parallel-64/delay=none", -1, 32},
		{"parallel-512/delay=10ms", 0, 256},
	} {
		b.Run(bc.name, func(b *testing.B) {
			db := openT(b, filepath.Join(b.TempDir(), "bench.db"), store.Options{MaxCommitDelay: bc.delay})
			build := func(seq uint64) ([]byte, error) { return benchPayload(seq), nil }
			b.SetBytes(300)
			if bc.parallel == 0 {
				for b.Loop() {
					if _, err := db.Append(context.Background(), build); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(bc.parallel)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := db.Append(context.Background(), build); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			reportRecords(b, b.N)
			st := db.Stats()
			b.ReportMetric(float64(st.Appended)/float64(max(st.Commits, 1)), "records/commit")
		})
	}
}

// BenchmarkAppendBatch measures AppendBatch: one transaction and one fsync per batch.
func BenchmarkAppendBatch(b *testing.B) {
	for _, n := range []int{64, 256, 1024} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			db := openT(b, filepath.Join(b.TempDir(), "bench.db"), store.Options{MaxCommitDelay: -1})
			build := func(_ int, seq uint64) ([]byte, error) { return benchPayload(seq), nil }
			b.SetBytes(int64(300 * n))
			for b.Loop() {
				if _, err := db.AppendBatch(context.Background(), n, build); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, b.N*n)
		})
	}
}

// BenchmarkAck measures the publisher's side: acking records one by one from concurrent callers
// (PUBACKs) while the backlog drains.
func BenchmarkAck(b *testing.B) {
	db := openT(b, filepath.Join(b.TempDir(), "bench.db"), store.Options{MaxRecords: -1, MaxBytes: -1})
	build := func(_ int, seq uint64) ([]byte, error) { return benchPayload(seq), nil }
	for n := b.N; n > 0; n -= 1024 {
		if _, err := db.AppendBatch(context.Background(), min(n, 1024), build); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.SetParallelism(32)
	var next atomicCounter
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.Ack(next.add()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRecords(b, b.N)
}

type atomicCounter struct{ n atomic.Uint64 }

func (c *atomicCounter) add() uint64 { return c.n.Add(1) }
