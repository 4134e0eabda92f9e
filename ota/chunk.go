package ota

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// A chunk message is binary, so a 64 KiB chunk costs 64 KiB plus a 44-byte header on the wire:
//
//	offset  size  field
//	0       4     magic "EAC1"
//	4       32    SHA-256 of the whole model (raw bytes): which transfer the chunk belongs to
//	36      4     chunk size of the transfer, big-endian
//	40      4     chunk index, big-endian, from 0
//	44      n     data: chunk size bytes, fewer for the last chunk
//
// Chunks carry no signature: each is checked against its hash in the signed manifest.
const (
	chunkMagic      = "EAC1"
	ChunkHeaderSize = 44
)

// Chunk is one piece of a model file.
type Chunk struct {
	SHA256    [32]byte // of the whole model
	ChunkSize int
	Index     int
	Data      []byte
}

// ModelSHA returns the model's SHA-256 in lowercase hex.
func (c Chunk) ModelSHA() string { return hex.EncodeToString(c.SHA256[:]) }

// AppendChunk appends the chunk message for c to b.
func AppendChunk(b []byte, c Chunk) []byte {
	b = append(b, chunkMagic...)
	b = append(b, c.SHA256[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(c.ChunkSize))
	b = binary.BigEndian.AppendUint32(b, uint32(c.Index))
	return append(b, c.Data...)
}

var errChunk = errors.New("not a chunk message")

// ParseChunk decodes a chunk message. Data aliases msg.
func ParseChunk(msg []byte) (Chunk, error) {
	var c Chunk
	if len(msg) < ChunkHeaderSize || string(msg[:4]) != chunkMagic {
		return c, fmt.Errorf("%w: no %q header", errChunk, chunkMagic)
	}
	copy(c.SHA256[:], msg[4:36])
	cs := binary.BigEndian.Uint32(msg[36:40])
	idx := binary.BigEndian.Uint32(msg[40:44])
	if cs < MinChunkSize || cs > MaxChunkSize {
		return c, fmt.Errorf("%w: chunk size %d out of range", errChunk, cs)
	}
	if idx >= MaxChunkCount {
		return c, fmt.Errorf("%w: index %d out of range", errChunk, idx)
	}
	c.ChunkSize, c.Index, c.Data = int(cs), int(idx), msg[ChunkHeaderSize:]
	if len(c.Data) == 0 || len(c.Data) > c.ChunkSize {
		return c, fmt.Errorf("%w: %d data bytes for chunks of %d", errChunk, len(c.Data), c.ChunkSize)
	}
	return c, nil
}

// Limits of a chunk request.
const (
	MaxRequestSize   = 4 << 10
	MaxRequestRanges = 64
)

// Request asks the chunk servers for the chunks of a model a device still misses. It is JSON:
//
//	{"v":1,"sha256":"<hex>","chunk_size":65536,"chunks":[[0,9],[12,12]],"manifest":"<id>"}
//
// chunks lists inclusive index ranges. The answer goes to the device named by the topic the
// request came on, never by its payload.
type Request struct {
	SHA256    string   `json:"sha256"`
	ChunkSize int      `json:"chunk_size"`
	Ranges    [][2]int `json:"chunks"`
	Manifest  string   `json:"manifest,omitempty"` // informational: the update it serves
}

// Count returns how many chunks r asks for.
func (r Request) Count() int {
	n := 0
	for _, rg := range r.Ranges {
		n += rg[1] - rg[0] + 1
	}
	return n
}

// MarshalRequest encodes r.
func MarshalRequest(r Request) []byte {
	b, _ := json.Marshal(struct {
		V int `json:"v"`
		Request
	}{ManifestVersion, r})
	return b
}

// ParseRequest decodes and checks a chunk request.
func ParseRequest(msg []byte) (Request, error) {
	var r Request
	if len(msg) > MaxRequestSize {
		return r, fmt.Errorf("request of %d bytes, more than %d", len(msg), MaxRequestSize)
	}
	var w struct {
		V *int `json:"v"`
		Request
	}
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return r, fmt.Errorf("request: %w", err)
	}
	r = w.Request
	switch {
	case w.V == nil || *w.V != ManifestVersion:
		return r, fmt.Errorf("request: want \"v\":%d", ManifestVersion)
	case !isSHA256(r.SHA256):
		return r, errors.New("request: sha256 is not a lowercase hex SHA-256")
	case r.ChunkSize < MinChunkSize || r.ChunkSize > MaxChunkSize:
		return r, fmt.Errorf("request: chunk_size %d out of range", r.ChunkSize)
	case len(r.Ranges) == 0 || len(r.Ranges) > MaxRequestRanges:
		return r, fmt.Errorf("request: %d ranges (want 1 to %d)", len(r.Ranges), MaxRequestRanges)
	}
	for _, rg := range r.Ranges {
		if rg[0] < 0 || rg[0] > rg[1] || rg[1] >= MaxChunkCount {
			return r, fmt.Errorf("request: bad range %v", rg)
		}
	}
	return r, nil
}

// ranges turns sorted indices into inclusive ranges.
func ranges(idx []int) [][2]int {
	var out [][2]int
	for _, i := range idx {
		if n := len(out); n > 0 && out[n-1][1] == i-1 {
			out[n-1][1] = i
			continue
		}
		out = append(out, [2]int{i, i})
	}
	return out
}
