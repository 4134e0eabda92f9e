package sync

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/store"
)

func openStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "outbox.db"), store.Options{})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestOutageStore is the acceptance test of issue #4: records appended to the real bbolt outbox
// at a steady rate while the broker is down for more than a second all arrive, in order,
// duplicates only repeating a seq.
func TestOutageStore(t *testing.T) {
	db := openStore(t)
	runOutage(t, db, func(ctx context.Context, i int) (uint64, error) {
		return db.Append(ctx, func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 200), nil })
	})
	waitFor(t, 5*time.Second, "outbox emptied", func() bool { return db.Stats().Records == 0 })
}

// TestResumeAfterRestart: records left in the outbox by a previous run (power cut before they
// were sent) are published first, in order, by the next one.
func TestResumeAfterRestart(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	path := filepath.Join(t.TempDir(), "outbox.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var appended []uint64
	first, err := db.AppendBatch(context.Background(), 300, func(_ int, seq uint64) ([]byte, error) {
		return recordPayload("dev1", seq, 50), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(300) {
		appended = append(appended, first+i)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub := subscribe(t, b.URL(), "edge/dev1/predictions", false)
	c, _ := newTestClient(t, fastConfig(b.URL(), "dev1"), db)
	startClient(t, c)
	seq, err := db.Append(context.Background(), func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 50), nil })
	if err != nil {
		t.Fatal(err)
	}
	appended = append(appended, seq)
	waitFor(t, 10*time.Second, "all records", func() bool {
		return checkOrder(appended, sub.seqs(t, "edge/dev1/predictions")) == nil
	})
	waitFor(t, 5*time.Second, "outbox emptied", func() bool { return db.Stats().Records == 0 })
}

// BenchmarkDrain100k measures draining a backlog of 100,000 records of ~300 bytes from the real
// store to a local mosquitto (target: under 30 s per drain).
func BenchmarkDrain100k(b *testing.B) {
	const n = 100_000
	br := mqtttest.Start(b, mqtttest.Options{Quiet: true})
	pad := strings.Repeat("x", 300-len(recordPayload("dev1", 100000, 0)))
	for b.Loop() {
		b.StopTimer()
		db, err := store.Open(filepath.Join(b.TempDir(), "outbox.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += 1000 {
			_, err := db.AppendBatch(context.Background(), 1000, func(_ int, seq uint64) ([]byte, error) {
				return recordPayload("dev1", seq, len(pad)), nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		cfg := fastConfig(br.URL(), "dev1")
		c, err := New(cfg, db, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- c.Run(ctx) }()
		for c.Stats().Acked < n {
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		if bl := db.Stats().Records; bl != 0 {
			b.Fatalf("backlog %d after drain", bl)
		}
		db.Close()
		b.ReportMetric(elapsed.Seconds(), "s/drain")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
		b.StartTimer()
	}
}
