package ota

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// DefaultChunkSize is the chunk size NewUpdate uses unless told otherwise: small enough for
// brokers with low message size limits (AWS IoT Core allows 128 KiB), large enough that a
// 4 MB model is 64 messages.
const DefaultChunkSize = 64 << 10

// UpdateOptions are an operator's choices for NewUpdate.
type UpdateOptions struct {
	Name    string // required
	Version string // required; see CompareVersions
	Target  Target // sorted by NewUpdate
	// ChunkSize defaults to DefaultChunkSize.
	ChunkSize int
	Labels    []string
	Rollback  bool
	Shadow    *ShadowSpec
	Health    *HealthSpec
	// Created defaults to now; it is truncated to whole seconds.
	Created time.Time
	// KeyID is the signing key's id (KeyID).
	KeyID string
}

// NewUpdate describes model in an update manifest: its hash, size and the hash of every chunk.
// The manifest still has to be signed (Sign).
func NewUpdate(model []byte, o UpdateOptions) (*Manifest, error) {
	cs := o.ChunkSize
	if cs == 0 {
		cs = DefaultChunkSize
	}
	created := o.Created
	if created.IsZero() {
		created = time.Now()
	}
	m := &Manifest{V: ManifestVersion, Kind: KindUpdate, ID: NewID(), Created: created.UTC().Truncate(time.Second),
		KeyID: o.KeyID, Target: SortTarget(o.Target), Name: o.Name, Version: o.Version, Size: int64(len(model)),
		ChunkSize: cs, Labels: o.Labels, Rollback: o.Rollback, Shadow: o.Shadow, Health: o.Health}
	sum := sha256.Sum256(model)
	m.SHA256 = hex.EncodeToString(sum[:])
	if cs > 0 {
		m.ChunkCount = (len(model) + cs - 1) / cs
		if m.ChunkCount <= MaxChunkCount {
			for i := range m.ChunkCount {
				c := sha256.Sum256(model[i*cs : min((i+1)*cs, len(model))])
				m.Chunks = append(m.Chunks, hex.EncodeToString(c[:]))
			}
		}
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return m, nil
}

// NewRollback describes a rollback request. fromSHA256, when set, limits it to devices whose
// active model has that hash.
func NewRollback(target Target, fromSHA256, keyID string) (*Manifest, error) {
	m := &Manifest{V: ManifestVersion, Kind: KindRollback, ID: NewID(), Created: time.Now().UTC().Truncate(time.Second),
		KeyID: keyID, Target: SortTarget(target), FromSHA256: fromSHA256}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return m, nil
}

// ChunkMessage returns the chunk message of chunk i of model, for a transfer with chunkSize.
func ChunkMessage(model []byte, sha [32]byte, chunkSize, i int) []byte {
	data := model[i*chunkSize : min((i+1)*chunkSize, len(model))]
	return AppendChunk(make([]byte, 0, ChunkHeaderSize+len(data)), Chunk{SHA256: sha, ChunkSize: chunkSize, Index: i, Data: data})
}
