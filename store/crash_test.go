package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/store"
)

// producerEnv makes the test binary run as the crash test's producer instead of running tests.
const producerEnv = "STORE_CRASH_PRODUCER"

func TestMain(m *testing.M) {
	if path := os.Getenv(fsizeChildEnv); path != "" {
		if err := fileSizeLimitChild(path); err != nil {
			fmt.Fprintln(os.Stderr, "file size limit child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if path := os.Getenv(producerEnv); path != "" {
		if err := produce(path); err != nil {
			fmt.Fprintln(os.Stderr, "producer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// producerOptions make the producer exercise everything a crash can interrupt: group commits,
// acks, and compactions (the backlog grows and drains, and the thresholds are tiny).
var producerOptions = store.Options{
	LockTimeout:     5 * time.Second,
	MaxCommitDelay:  2 * time.Millisecond,
	CompactMinWaste: 64 << 10,
	CompactRatio:    2,
	CompactInterval: 20 * time.Millisecond,
}

// produce appends from several goroutines until it is killed, writing one line per event to
// stdout with a single write each:
//
//	A <seq>          the append of seq has returned: it is committed
//	K <seq> <seq>... these records are about to be acked (they may vanish from now on)
//	D <seq> <seq>... the ack has returned: they are gone
//	C <n>            the producer has compacted the file n times
func produce(path string) error {
	db, err := store.Open(path, producerOptions)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	emit := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = os.Stdout.WriteString(line)
	}
	for range 4 {
		go func() {
			for {
				seq, err := db.Append(context.Background(), func(seq uint64) ([]byte, error) { return payloadOf(seq), nil })
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(1)
				}
				emit(fmt.Sprintf("A %d\n", seq))
			}
		}()
	}
	go func() {
		for {
			first, err := db.AppendBatch(context.Background(), 50, func(_ int, seq uint64) ([]byte, error) {
				return append(payloadOf(seq), bytes.Repeat([]byte{' '}, 300)...), nil
			})
			if err != nil {
				fmt.Fprintln(os.Stderr, "append batch:", err)
				os.Exit(1)
			}
			var b strings.Builder
			for i := range uint64(50) {
				fmt.Fprintf(&b, "A %d\n", first+i)
			}
			emit(b.String())
		}
	}()
	// Let the backlog grow to a few thousand records, then drain it, so the file grows and
	// empties and compaction runs.
	for {
		if db.Stats().Records < 3000 {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		if n := db.Stats().Compactions; n > 0 {
			emit(fmt.Sprintf("C %d\n", n))
		}
		for db.Stats().Records > 100 {
			var seqs []uint64
			if err := db.Scan(0, 500, func(seq uint64, _ []byte) error {
				seqs = append(seqs, seq)
				return nil
			}); err != nil {
				return err
			}
			emit("K" + joinSeqs(seqs) + "\n")
			if err := db.Ack(seqs...); err != nil {
				return err
			}
			emit("D" + joinSeqs(seqs) + "\n")
		}
	}
}

func joinSeqs(seqs []uint64) string {
	var b strings.Builder
	for _, s := range seqs {
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(s, 10))
	}
	return b.String()
}

// TestCrash kills a producer process at random moments and checks after each kill that the
// store opens, that every append the producer saw return is still there (unless it was being
// acked), that every finished ack stuck, and that sequence numbers only ever grow.
func TestCrash(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var highest uint64 // the largest seq seen committed in earlier rounds
	compacted := 0     // rounds in which the producer compacted
	for round := range crashRounds {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), producerEnv+"="+path)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Mostly while appending and acking; sometimes while the producer is still starting.
		time.Sleep(time.Duration(20+rng.IntN(900)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: producer was not killed but exited: %v\n%s", round, err, stderr.String())
		}
		appended, acking, acked, compactions := parseProducer(t, stdout.Bytes())
		if compactions > 0 {
			compacted++
		}
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		present := map[uint64]bool{}
		var prev uint64
		if err := db.Scan(0, 1<<30, func(seq uint64, p []byte) error {
			if seq <= prev {
				return fmt.Errorf("seq %d after %d", seq, prev)
			}
			prev = seq
			if !bytes.HasPrefix(p, payloadOf(seq)) {
				return fmt.Errorf("record %d holds %q", seq, p)
			}
			present[seq] = true
			return nil
		}); err != nil {
			t.Fatalf("round %d: Scan: %v", round, err)
		}
		st := db.Stats()
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		var maxAppended uint64
		for _, seq := range appended {
			if seq <= highest {
				t.Fatalf("round %d: seq %d reused: earlier rounds reached %d", round, seq, highest)
			}
			if !present[seq] && !acking[seq] {
				t.Fatalf("round %d: seq %d was committed but is gone after the kill", round, seq)
			}
			maxAppended = max(maxAppended, seq)
		}
		for seq := range acked {
			if present[seq] {
				t.Fatalf("round %d: seq %d was acked but is back after the kill", round, seq)
			}
		}
		if st.LastSeq < maxAppended || st.LastSeq < highest {
			t.Fatalf("round %d: stored counter %d is behind seq %d", round, st.LastSeq, max(maxAppended, highest))
		}
		highest = st.LastSeq
		t.Logf("round %d: %d appends seen, %d acked, %d present, counter %d", round, len(appended), len(acked), len(present), st.LastSeq)
	}
	if highest == 0 {
		t.Fatal("the producer never committed anything")
	}
	t.Logf("the producer compacted in %d of %d rounds", compacted, crashRounds)
}

// parseProducer reads the producer's log; a line cut by the kill is ignored.
func parseProducer(t *testing.T, out []byte) (appended []uint64, acking, acked map[uint64]bool, compactions uint64) {
	acking, acked = map[uint64]bool{}, map[uint64]bool{}
	seen := map[uint64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		seqs := make([]uint64, 0, len(f)-1)
		for _, s := range f[1:] {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("producer wrote %q", sc.Text())
			}
			seqs = append(seqs, n)
		}
		switch f[0] {
		case "A":
			if seen[seqs[0]] {
				t.Fatalf("producer got seq %d twice", seqs[0])
			}
			seen[seqs[0]] = true
			appended = append(appended, seqs[0])
		case "K":
			for _, s := range seqs {
				acking[s] = true
			}
		case "D":
			for _, s := range seqs {
				acked[s] = true
			}
		case "C":
			compactions = seqs[0]
		}
	}
	return appended, acking, acked, compactions
}
