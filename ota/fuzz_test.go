package ota

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// FuzzManifest feeds arbitrary bytes to the envelope and manifest parsers: they must never
// panic, and whatever ParseManifest accepts must be canonical (re-encoding gives the same bytes).
func FuzzManifest(f *testing.F) {
	priv, pub := fixedKey()
	m, err := buildGolden()
	if err != nil {
		f.Fatal(err)
	}
	canon, _ := m.Canonical()
	env, _ := Sign(m, priv)
	rb, _ := NewRollback(Target{Devices: []string{"cam-1"}}, "", pub.ID)
	rbEnv, _ := Sign(rb, priv)
	for _, s := range [][]byte{canon, env, rbEnv, []byte(`{"v":1}`), []byte(`{"v":1,"manifest":{},"sig":""}`), nil} {
		f.Add(s)
	}
	keys := []PublicKey{pub}
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := ParseManifest(data); err == nil {
			again, err := m.Canonical()
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("accepted a manifest that does not re-encode to itself: %v\n%s\n%s", err, data, again)
			}
		} else if CheckOf(err) == "" {
			t.Fatalf("error without a check: %v", err)
		}
		if m, err := OpenEnvelope(data, keys); err == nil {
			if m.KeyID != pub.ID {
				t.Fatalf("opened a manifest of key %s", m.KeyID)
			}
		} else if CheckOf(err) == "" {
			t.Fatalf("error without a check: %v", err)
		}
		_, _ = ParseEnvelope(data)
	})
}

// FuzzChunk feeds arbitrary bytes to the chunk and request parsers: no panic, and an accepted
// chunk re-encodes to the same message.
func FuzzChunk(f *testing.F) {
	model := bytes.Repeat([]byte("model"), 200)
	sha := sha256.Sum256(model)
	f.Add(ChunkMessage(model, sha, 256, 0))
	f.Add(ChunkMessage(model, sha, 256, 3))
	f.Add(MarshalRequest(Request{SHA256: "00", ChunkSize: 256, Ranges: [][2]int{{0, 3}}}))
	f.Add([]byte(`{"v":1,"sha256":"` + string(bytes.Repeat([]byte("a"), 64)) + `","chunk_size":256,"chunks":[[0,1]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := ParseChunk(data); err == nil {
			if !bytes.Equal(AppendChunk(nil, c), data) {
				t.Fatal("chunk does not re-encode to its message")
			}
			if len(c.Data) == 0 || len(c.Data) > c.ChunkSize || c.Index >= MaxChunkCount {
				t.Fatalf("accepted chunk out of bounds: %d bytes of %d, index %d", len(c.Data), c.ChunkSize, c.Index)
			}
		}
		if r, err := ParseRequest(data); err == nil {
			if n := r.Count(); n < 1 || n > MaxRequestRanges*MaxChunkCount {
				t.Fatalf("request of %d chunks", n)
			}
		}
	})
}
