package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/store"
)

// damagedStore writes a store with records 1..n (published: acked), closes it and returns its
// path and the highest seq it issued.
func damagedStore(t *testing.T, n int) (string, uint64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edge-agent.db")
	db := openT(t, path, store.Options{MaxCommitDelay: -1})
	var first, last uint64
	for left := n; left > 0; left -= 1000 {
		f, err := db.AppendBatch(context.Background(), min(left, 1000), func(_ int, seq uint64) ([]byte, error) {
			return append(payloadOf(seq), bytes.Repeat([]byte{'x'}, 200)...), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if first == 0 {
			first = f
		}
		last = f + uint64(min(left, 1000)) - 1
	}
	// Half of them were published, as in a running agent.
	var acks []uint64
	for s := first; s < first+uint64(n)/2; s++ {
		acks = append(acks, s)
	}
	if err := db.Ack(acks...); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return path, last
}

func TestRecoverCorrupt(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, path string){
		"random-bytes": func(t *testing.T, path string) {
			junk := bytes.Repeat([]byte{0x5a, 0xc3, 0x17, 0x99}, 8192)
			writeFile(t, path, junk)
		},
		"truncated": func(t *testing.T, path string) {
			if err := os.Truncate(path, 3000); err != nil {
				t.Fatal(err)
			}
		},
		"zeroed-page": func(t *testing.T, path string) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Zero the page holding the root of the live tree, as a card that lost a block
			// would. bbolt's meta page (after a 16-byte page header): magic, version,
			// page size, flags (4 bytes each), then the root bucket's page id; the meta with
			// the higher transaction id (at 16+48) is the live one.
			const pageSize = 4096
			meta := func(i int) (root, txid uint64) {
				m := data[i*pageSize+16:]
				return binary.LittleEndian.Uint64(m[16:]), binary.LittleEndian.Uint64(m[48:])
			}
			root, tx0 := meta(0)
			if r1, tx1 := meta(1); tx1 > tx0 {
				root = r1
			}
			off := int(root) * pageSize
			if root < 2 || off+pageSize > len(data) {
				t.Fatalf("root page %d outside the %d-byte file", root, len(data))
			}
			clear(data[off : off+pageSize])
			writeFile(t, path, data)
		},
	} {
		t.Run(name, func(t *testing.T) {
			path, last := damagedStore(t, 3000)
			damage(t, path)
			damaged, _ := os.ReadFile(path)

			// Without the option the file is refused and left alone.
			if _, err := store.Open(path, store.Options{VerifyOnOpen: true}); !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			db, err := store.Open(path, store.Options{VerifyOnOpen: true, RecoverCorrupt: true, MaxCommitDelay: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			r := db.Recovered()
			if r == nil || !errors.Is(r.Cause, store.ErrCorrupt) || r.FromClock {
				t.Fatalf("Recovered() = %+v", r)
			}
			kept, err := os.ReadFile(r.MovedTo)
			if err != nil || !bytes.Equal(kept, damaged) {
				t.Fatalf("damaged file not kept byte for byte at %s: %v", r.MovedTo, err)
			}
			if !strings.HasPrefix(filepath.Base(r.MovedTo), "edge-agent.db.corrupt-") {
				t.Errorf("moved to %s", r.MovedTo)
			}
			seq, err := db.Append(context.Background(), func(seq uint64) ([]byte, error) { return payloadOf(seq), nil })
			if err != nil {
				t.Fatal(err)
			}
			if seq <= last || seq != r.NextSeq {
				t.Fatalf("first seq after recovery %d (NextSeq %d), want above %d", seq, r.NextSeq, last)
			}
			if st := db.Stats(); st.Records != 1 {
				t.Fatalf("fresh store holds %d records", st.Records)
			}
			db.Close()
			// A restart of the fresh store is a normal open that continues its numbers.
			db2 := openT(t, path, store.Options{VerifyOnOpen: true, RecoverCorrupt: true, MaxCommitDelay: -1})
			if db2.Recovered() != nil {
				t.Fatal("a healthy file was recovered")
			}
			if s2 := appendN(t, db2, 1)[0]; s2 != seq+1 {
				t.Fatalf("seq after restart %d, want %d", s2, seq+1)
			}
		})
	}
}

// TestSeqNeverRepeats recovers twice, the second time with the high-water mark file gone too,
// and deletes the database once: every time the numbers continue above all issued before.
func TestSeqNeverRepeats(t *testing.T) {
	path, last := damagedStore(t, 10)
	writeFile(t, path, []byte("garbage garbage garbage"))
	db := openT(t, path, store.Options{RecoverCorrupt: true, MaxCommitDelay: -1})
	s := appendN(t, db, 5)
	if s[0] <= last {
		t.Fatalf("seq %d after recovery, want above %d", s[0], last)
	}
	last = s[4]
	db.Close()

	// The database deleted by hand: the high-water mark keeps the numbers going.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	db = openT(t, path, store.Options{RecoverCorrupt: true, MaxCommitDelay: -1})
	if s := appendN(t, db, 1)[0]; s <= last {
		t.Fatalf("seq %d after deleting the file, want above %d", s, last)
	} else {
		last = s
	}
	db.Close()

	// Both the database and its high-water mark damaged: the clock numbers the fresh file.
	writeFile(t, path, []byte("garbage again"))
	writeFile(t, path+".seq", []byte("not a number"))
	db = openT(t, path, store.Options{RecoverCorrupt: true, MaxCommitDelay: -1})
	r := db.Recovered()
	if r == nil || !r.FromClock {
		t.Fatalf("Recovered() = %+v, want FromClock", r)
	}
	s2 := appendN(t, db, 1)[0]
	if s2 <= last || s2 < uint64(time.Now().Add(-time.Minute).Unix())<<20 || s2 >= 1<<53 {
		t.Fatalf("clock seq %d, want above %d, near now<<20 and below 2^53", s2, last)
	}
	// The mark file is rewritten for the next time.
	b, err := os.ReadFile(path + ".seq")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil || n <= s2 {
		t.Fatalf("high-water mark %q after the clock recovery, want above %d", b, s2)
	}
	// Two damaged files in the same second are both kept.
	db.Close()
	writeFile(t, path, []byte("third garbage"))
	db = openT(t, path, store.Options{RecoverCorrupt: true})
	if db.Recovered() == nil {
		t.Fatal("not recovered")
	}
	matches, _ := filepath.Glob(path + ".corrupt-*")
	if len(matches) != 3 {
		t.Fatalf("kept %d damaged files, want 3: %v", len(matches), matches)
	}
}

// TestHighWaterMarkReserved checks the mark stays ahead of the numbers the file issues, also
// across a block boundary.
func TestHighWaterMarkReserved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	db := openT(t, path, store.Options{MaxCommitDelay: -1})
	mark := func() uint64 {
		b, err := os.ReadFile(path + ".seq")
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	first := mark()
	if first == 0 {
		t.Fatal("no mark")
	}
	// Issue numbers up to the mark and past it.
	for left := int(first) + 10; left > 0; {
		n := min(left, 1024)
		if _, err := db.AppendBatch(context.Background(), n, func(_ int, seq uint64) ([]byte, error) { return []byte("r"), nil }); err != nil {
			t.Fatal(err)
		}
		left -= n
		if err := db.Ack(seqsUpTo(db.Stats().LastSeq)...); err != nil {
			t.Fatal(err)
		}
	}
	if last, m := db.Stats().LastSeq, mark(); m <= last || m == first {
		t.Fatalf("mark %d (was %d) after issuing up to %d", m, first, last)
	}
}

func seqsUpTo(n uint64) []uint64 {
	s := make([]uint64, 0, 1024)
	for i := n; i > 0 && len(s) < 1024; i-- {
		s = append(s, i)
	}
	return s
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
