package ota

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ManifestVersion is the "v" of the manifests and envelopes this package writes and accepts.
const ManifestVersion = 1

// Manifest kinds.
const (
	KindUpdate   = "update"   // install the model the manifest describes
	KindRollback = "rollback" // return to the previous committed model
)

// Limits of the parser. A manifest that breaks one is rejected before anything is stored.
const (
	MaxEnvelopeSize = 512 << 10 // bytes of the whole signed envelope
	MinChunkSize    = 256
	MaxChunkSize    = 1 << 20
	MaxChunkCount   = 4096
	MaxLabels       = 10000
	maxLabelLen     = 256
	maxNameLen      = 128
	maxVersionLen   = 64
	maxTargets      = 10000
	maxShadowFrames = 10000
	maxHealthFrames = 100000
	maxHealthSecs   = 86400
	maxLatencyMS    = 600000
)

// signingDomain is prepended to the canonical manifest bytes before signing, so a signature
// made for a manifest can never be taken for one over some other message.
const signingDomain = "edge-agent-ota-manifest-v1\n"

// createdLayout is the only accepted form of Manifest.Created: UTC, whole seconds.
const createdLayout = "2006-01-02T15:04:05Z"

// Manifest describes one signed update (Kind update) or rollback request (Kind rollback).
//
// # Canonical form
//
// A manifest is signed, sent and verified as its canonical JSON bytes, and a device refuses
// manifest bytes that are not canonical (so each manifest has exactly one encoding and a
// signature cannot be moved onto a differently parsed text). The canonical form is RFC 8785
// (JSON Canonicalization Scheme) applied to the values a manifest holds:
//
//   - one JSON object, no whitespace between tokens;
//   - members sorted by key in byte order, each key once; members holding their zero value
//     (empty string, 0, false, empty list, absent object) are left out, except "v";
//   - integers only, in decimal without sign, leading zeros, fraction or exponent, below 2^53;
//   - strings as valid UTF-8, escaping only '"' as \", '\' as \\, and the control characters
//     U+0000..U+001F as \b \f \n \r \t or \u00xx (lowercase hex); everything else literal;
//   - lists in the order given, except target.devices and target.groups, which must be sorted
//     and free of duplicates;
//   - "created" as UTC with whole seconds, "2006-01-02T15:04:05Z".
//
// The signature is ed25519 over "edge-agent-ota-manifest-v1\n" followed by those bytes.
type Manifest struct {
	V       int       // ManifestVersion
	Kind    string    // KindUpdate or KindRollback
	ID      string    // random, 16 to 64 lowercase hex digits; names the update in statuses
	Created time.Time // when it was signed; a device ignores manifests older than one it handled
	KeyID   string    // KeyID of the signing key
	Target  Target

	// Update manifests only.
	Name       string   // model name, shown in records and statuses
	Version    string   // see CompareVersions
	SHA256     string   // of the model file, lowercase hex
	Size       int64    // of the model file, bytes
	ChunkSize  int      // bytes per chunk; the last one holds the rest
	ChunkCount int      // ceil(Size / ChunkSize)
	Chunks     []string // SHA-256 of each chunk, lowercase hex
	Labels     []string // class labels, line i = class i; empty: the model's own
	Rollback   bool     // allows an older version (or the same version with other bytes)
	Shadow     *ShadowSpec
	Health     *HealthSpec

	// Rollback manifests only: roll back only a device whose active model has this SHA-256
	// (empty: whatever is active).
	FromSHA256 string
}

// Target names the devices and groups a manifest is for.
type Target struct {
	Devices []string `json:"devices,omitempty"`
	Groups  []string `json:"groups,omitempty"`
}

// ShadowSpec asks for a shadow run before activation: the candidate runs beside the active model
// on Frames live frames and is activated only if the thresholds hold.
type ShadowSpec struct {
	Frames int `json:"frames"`
	// MinAgreementPct is the least agreement, in percent, between the two models' results.
	MinAgreementPct int `json:"min_agreement_pct,omitempty"`
	// MaxLatencyMS bounds the candidate's 95th percentile inference time; 0 means no bound.
	MaxLatencyMS int `json:"max_latency_ms,omitempty"`
}

// HealthSpec overrides the device's health window (ota.health_frames, ota.health_timeout).
type HealthSpec struct {
	Frames   int `json:"frames,omitempty"`
	TimeoutS int `json:"timeout_s,omitempty"`
}

// Envelope is the message published on a manifest topic: the canonical manifest bytes, the id of
// the key that signed them and the signature.
type Envelope struct {
	KeyID    string
	Manifest []byte // canonical manifest JSON
	Sig      []byte // ed25519 signature
}

var (
	hexRE    = regexp.MustCompile(`^[0-9a-f]+$`)
	targetRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// NewID returns a random manifest id.
func NewID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// ValidName reports whether s can be a device id or group name: 1 to 64 of A-Z a-z 0-9 _ . -,
// so that it is one MQTT topic level with no wildcard.
func ValidName(s string) bool { return targetRE.MatchString(s) }

// Canonical returns the manifest's canonical bytes (see Manifest). It fails on a manifest that
// Check would refuse.
func (m *Manifest) Canonical() ([]byte, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	return m.appendCanonical(nil), nil
}

// appendCanonical writes the members in sorted key order; keep it so when adding one.
func (m *Manifest) appendCanonical(b []byte) []byte {
	w := &canonWriter{b: append(b, '{')}
	if m.Kind == KindUpdate {
		w.intMember("chunk_count", int64(m.ChunkCount))
		w.intMember("chunk_size", int64(m.ChunkSize))
		w.strListMember("chunks", m.Chunks)
	}
	w.strMember("created", m.Created.UTC().Format(createdLayout))
	w.strMember("from_sha256", m.FromSHA256)
	if h := m.Health; h != nil && (h.Frames != 0 || h.TimeoutS != 0) {
		w.key("health")
		w.open()
		w.intMember("frames", int64(h.Frames))
		w.intMember("timeout_s", int64(h.TimeoutS))
		w.close()
	}
	w.strMember("id", m.ID)
	w.strMember("key_id", m.KeyID)
	w.strMember("kind", m.Kind)
	w.strListMember("labels", m.Labels)
	w.strMember("name", m.Name)
	if m.Rollback {
		w.key("rollback")
		w.b = append(w.b, "true"...)
	}
	w.strMember("sha256", m.SHA256)
	if s := m.Shadow; s != nil {
		w.key("shadow")
		w.open()
		w.intMember("frames", int64(s.Frames))
		w.intMember("max_latency_ms", int64(s.MaxLatencyMS))
		w.intMember("min_agreement_pct", int64(s.MinAgreementPct))
		w.close()
	}
	w.intMember("size", m.Size)
	w.key("target")
	w.open()
	w.strListMember("devices", m.Target.Devices)
	w.strListMember("groups", m.Target.Groups)
	w.close()
	w.key("v")
	w.b = strconv.AppendInt(w.b, int64(m.V), 10)
	w.strMember("version", m.Version)
	return append(w.b, '}')
}

// canonWriter writes canonical JSON members, leaving out zero values.
type canonWriter struct {
	b     []byte
	comma bool // a member has been written in the current object
}

func (w *canonWriter) key(k string) {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.comma = true
	w.b = appendCanonString(w.b, k)
	w.b = append(w.b, ':')
}

func (w *canonWriter) open() {
	w.b = append(w.b, '{')
	w.comma = false
}

func (w *canonWriter) close() {
	w.b = append(w.b, '}')
	w.comma = true
}

func (w *canonWriter) strMember(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.b = appendCanonString(w.b, v)
}

func (w *canonWriter) intMember(k string, v int64) {
	if v == 0 {
		return
	}
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *canonWriter) strListMember(k string, vs []string) {
	if len(vs) == 0 {
		return
	}
	w.key(k)
	w.b = append(w.b, '[')
	for i, v := range vs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendCanonString(w.b, v)
	}
	w.b = append(w.b, ']')
}

// appendCanonString appends s as an RFC 8785 JSON string. s must be valid UTF-8 (Check ensures
// it for every string of a manifest).
func appendCanonString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// wireManifest is the JSON shape a manifest is decoded from (unknown members are refused).
type wireManifest struct {
	ChunkCount int         `json:"chunk_count"`
	ChunkSize  int         `json:"chunk_size"`
	Chunks     []string    `json:"chunks"`
	Created    string      `json:"created"`
	FromSHA256 string      `json:"from_sha256"`
	Health     *HealthSpec `json:"health"`
	ID         string      `json:"id"`
	KeyID      string      `json:"key_id"`
	Kind       string      `json:"kind"`
	Labels     []string    `json:"labels"`
	Name       string      `json:"name"`
	Rollback   bool        `json:"rollback"`
	SHA256     string      `json:"sha256"`
	Shadow     *ShadowSpec `json:"shadow"`
	Size       int64       `json:"size"`
	Target     Target      `json:"target"`
	V          int         `json:"v"`
	Version    string      `json:"version"`
}

// ParseManifest decodes canonical manifest bytes and checks them (Check). It does not verify a
// signature: see OpenEnvelope. Errors are Rejections of CheckManifest.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxEnvelopeSize {
		return nil, reject(CheckManifest, "%d bytes, more than the %d allowed", len(data), MaxEnvelopeSize)
	}
	var head struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, reject(CheckManifest, "not a JSON object: %v", err)
	}
	if head.V == nil {
		return nil, reject(CheckManifest, "no \"v\"")
	}
	if *head.V != ManifestVersion {
		return nil, reject(CheckManifest, "version %d is not supported (this agent reads version %d); upgrade the agent", *head.V, ManifestVersion)
	}
	var w wireManifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, reject(CheckManifest, "%v", err)
	}
	if dec.More() {
		return nil, reject(CheckManifest, "data after the manifest object")
	}
	created, err := time.Parse(createdLayout, w.Created)
	if err != nil {
		return nil, reject(CheckManifest, "created %q is not a UTC time like 2006-01-02T15:04:05Z", w.Created)
	}
	m := &Manifest{V: w.V, Kind: w.Kind, ID: w.ID, Created: created, KeyID: w.KeyID, Target: w.Target,
		Name: w.Name, Version: w.Version, SHA256: w.SHA256, Size: w.Size, ChunkSize: w.ChunkSize,
		ChunkCount: w.ChunkCount, Chunks: w.Chunks, Labels: w.Labels, Rollback: w.Rollback,
		Shadow: w.Shadow, Health: w.Health, FromSHA256: w.FromSHA256}
	if err := m.Check(); err != nil {
		return nil, err
	}
	if canon := m.appendCanonical(nil); !bytes.Equal(canon, data) {
		return nil, reject(CheckManifest, "not in canonical form (%s)", firstDifference(data, canon))
	}
	return m, nil
}

func firstDifference(got, want []byte) string {
	n := min(len(got), len(want))
	i := 0
	for i < n && got[i] == want[i] {
		i++
	}
	ctx := func(b []byte) string {
		end := min(i+16, len(b))
		return strconv.Quote(string(b[i:end]))
	}
	return fmt.Sprintf("at byte %d: %s where the canonical form has %s", i, ctx(got), ctx(want))
}

// Check validates every field against the limits and rules above. Errors are Rejections of
// CheckManifest.
func (m *Manifest) Check() error {
	bad := func(format string, args ...any) error { return reject(CheckManifest, format, args...) }
	if m.V != ManifestVersion {
		return bad("version %d is not supported (want %d)", m.V, ManifestVersion)
	}
	if len(m.ID) < 16 || len(m.ID) > 64 || !hexRE.MatchString(m.ID) {
		return bad("id %q is not 16 to 64 lowercase hex digits", short(m.ID))
	}
	if m.Created.IsZero() || m.Created.Year() < 2000 || m.Created.Year() > 9999 || m.Created.Nanosecond() != 0 {
		return bad("created %v is not a time in whole seconds", m.Created)
	}
	if len(m.KeyID) != 16 || !hexRE.MatchString(m.KeyID) {
		return bad("key_id %q is not 16 lowercase hex digits", short(m.KeyID))
	}
	if err := checkTargetList("devices", m.Target.Devices); err != nil {
		return err
	}
	if err := checkTargetList("groups", m.Target.Groups); err != nil {
		return err
	}
	if len(m.Target.Devices)+len(m.Target.Groups) == 0 {
		return bad("target names no device and no group")
	}
	if m.FromSHA256 != "" && !isSHA256(m.FromSHA256) {
		return bad("from_sha256 is not a lowercase hex SHA-256")
	}
	switch m.Kind {
	case KindRollback:
		if m.Name != "" || m.Version != "" || m.SHA256 != "" || m.Size != 0 || m.ChunkSize != 0 || m.ChunkCount != 0 ||
			len(m.Chunks) != 0 || len(m.Labels) != 0 || m.Rollback || m.Shadow != nil || m.Health != nil {
			return bad("a rollback manifest carries only id, created, key_id, target and from_sha256")
		}
		return nil
	case KindUpdate:
	default:
		return bad("kind %q is neither %q nor %q", short(m.Kind), KindUpdate, KindRollback)
	}
	if m.FromSHA256 != "" {
		return bad("from_sha256 belongs to rollback manifests")
	}
	if err := checkText("name", m.Name, maxNameLen); err != nil {
		return err
	}
	if len(m.Version) > maxVersionLen {
		return bad("version longer than %d bytes", maxVersionLen)
	}
	if _, err := parseVersion(m.Version); err != nil {
		return bad("version %q: %v", short(m.Version), err)
	}
	if !isSHA256(m.SHA256) {
		return bad("sha256 is not a lowercase hex SHA-256")
	}
	if m.ChunkSize < MinChunkSize || m.ChunkSize > MaxChunkSize {
		return bad("chunk_size %d is not between %d and %d", m.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	if m.ChunkCount < 1 || m.ChunkCount > MaxChunkCount {
		return bad("chunk_count %d is not between 1 and %d", m.ChunkCount, MaxChunkCount)
	}
	if m.Size < 1 || m.Size > int64(m.ChunkCount)*int64(m.ChunkSize) || m.Size <= int64(m.ChunkCount-1)*int64(m.ChunkSize) {
		return bad("size %d does not make %d chunks of %d bytes", m.Size, m.ChunkCount, m.ChunkSize)
	}
	if len(m.Chunks) != m.ChunkCount {
		return bad("%d chunk hashes for %d chunks", len(m.Chunks), m.ChunkCount)
	}
	for i, h := range m.Chunks {
		if !isSHA256(h) {
			return bad("chunk hash %d is not a lowercase hex SHA-256", i)
		}
	}
	if len(m.Labels) > MaxLabels {
		return bad("%d labels, more than %d", len(m.Labels), MaxLabels)
	}
	for i, l := range m.Labels {
		// Labels travel as a file with one per line, trimmed (vision.ParseLabels): they must
		// survive that unchanged.
		if len(l) > maxLabelLen || !utf8.ValidString(l) || strings.ContainsAny(l, "\n\r\x00") || strings.TrimSpace(l) != l {
			return bad("label %d is not one trimmed line of UTF-8 up to %d bytes", i, maxLabelLen)
		}
	}
	if s := m.Shadow; s != nil {
		if s.Frames < 1 || s.Frames > maxShadowFrames {
			return bad("shadow.frames %d is not between 1 and %d", s.Frames, maxShadowFrames)
		}
		if s.MinAgreementPct < 0 || s.MinAgreementPct > 100 {
			return bad("shadow.min_agreement_pct %d is not between 0 and 100", s.MinAgreementPct)
		}
		if s.MaxLatencyMS < 0 || s.MaxLatencyMS > maxLatencyMS {
			return bad("shadow.max_latency_ms %d is not between 0 and %d", s.MaxLatencyMS, maxLatencyMS)
		}
	}
	if h := m.Health; h != nil {
		if h.Frames < 0 || h.Frames > maxHealthFrames {
			return bad("health.frames %d is not between 0 and %d", h.Frames, maxHealthFrames)
		}
		if h.TimeoutS < 0 || h.TimeoutS > maxHealthSecs {
			return bad("health.timeout_s %d is not between 0 and %d", h.TimeoutS, maxHealthSecs)
		}
		if h.Frames == 0 && h.TimeoutS == 0 {
			return bad("health is empty")
		}
	}
	return nil
}

func checkTargetList(what string, names []string) error {
	if len(names) > maxTargets {
		return reject(CheckManifest, "target.%s lists %d names, more than %d", what, len(names), maxTargets)
	}
	for i, n := range names {
		if !ValidName(n) {
			return reject(CheckManifest, "target.%s[%d] %q is not a valid name (1-64 of A-Z a-z 0-9 _ . -)", what, i, short(n))
		}
		if i > 0 && names[i-1] >= n {
			return reject(CheckManifest, "target.%s is not sorted and free of duplicates", what)
		}
	}
	return nil
}

func checkText(what, s string, maxLen int) error {
	if s == "" || len(s) > maxLen || !utf8.ValidString(s) {
		return reject(CheckManifest, "%s is not 1 to %d bytes of UTF-8", what, maxLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return reject(CheckManifest, "%s holds a control character", what)
		}
	}
	return nil
}

func isSHA256(s string) bool { return len(s) == 64 && hexRE.MatchString(s) }

// SortTarget sorts and de-duplicates a target's lists, as the canonical form requires.
func SortTarget(t Target) Target {
	clean := func(s []string) []string {
		s = slices.Clone(s)
		slices.Sort(s)
		return slices.Compact(s)
	}
	return Target{Devices: clean(t.Devices), Groups: clean(t.Groups)}
}

// Sign returns the envelope of m signed with priv; m.KeyID must be the key's id.
func Sign(m *Manifest, priv ed25519.PrivateKey) ([]byte, error) {
	pub, ok := priv.Public().(ed25519.PublicKey)
	if !ok || len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("sign: not an ed25519 private key")
	}
	if m.KeyID != KeyID(pub) {
		return nil, fmt.Errorf("sign: manifest key_id %q is not the signing key's id %s", m.KeyID, KeyID(pub))
	}
	canon, err := m.Canonical()
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(priv, signedBytes(canon))
	return Envelope{KeyID: m.KeyID, Manifest: canon, Sig: sig}.Marshal(), nil
}

func signedBytes(canon []byte) []byte {
	return append([]byte(signingDomain), canon...)
}

// Marshal encodes the envelope: {"key_id":...,"manifest":<manifest bytes>,"sig":<base64>,"v":1}.
// The manifest is embedded verbatim, so it stays readable in an MQTT client.
func (e Envelope) Marshal() []byte {
	b := []byte(`{"key_id":`)
	b = appendCanonString(b, e.KeyID)
	b = append(b, `,"manifest":`...)
	b = append(b, e.Manifest...)
	b = append(b, `,"sig":`...)
	b = appendCanonString(b, base64.StdEncoding.EncodeToString(e.Sig))
	b = append(b, `,"v":`...)
	b = strconv.AppendInt(b, ManifestVersion, 10)
	return append(b, '}')
}

// ParseEnvelope decodes an envelope without verifying it. Errors are Rejections of
// CheckManifest.
func ParseEnvelope(data []byte) (Envelope, error) {
	if len(data) > MaxEnvelopeSize {
		return Envelope{}, reject(CheckManifest, "%d bytes, more than the %d allowed", len(data), MaxEnvelopeSize)
	}
	var w struct {
		V        *int            `json:"v"`
		KeyID    string          `json:"key_id"`
		Manifest json.RawMessage `json:"manifest"`
		Sig      string          `json:"sig"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Envelope{}, reject(CheckManifest, "envelope: %v", err)
	}
	if dec.More() {
		return Envelope{}, reject(CheckManifest, "envelope: data after the object")
	}
	switch {
	case w.V == nil:
		return Envelope{}, reject(CheckManifest, "envelope: no \"v\"")
	case *w.V != ManifestVersion:
		return Envelope{}, reject(CheckManifest, "envelope version %d is not supported (this agent reads version %d); upgrade the agent", *w.V, ManifestVersion)
	case len(w.Manifest) == 0 || w.Manifest[0] != '{':
		return Envelope{}, reject(CheckManifest, "envelope: no manifest object")
	}
	sig, err := base64.StdEncoding.DecodeString(w.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Envelope{}, reject(CheckSignature, "sig is not the base64 of a %d-byte ed25519 signature", ed25519.SignatureSize)
	}
	return Envelope{KeyID: w.KeyID, Manifest: []byte(w.Manifest), Sig: sig}, nil
}

// OpenEnvelope parses an envelope, verifies its signature with the trusted key it names, and
// returns the manifest. The signature is checked before the manifest is parsed, and the manifest
// must name the same key. Errors are Rejections: CheckManifest or CheckSignature.
func OpenEnvelope(data []byte, keys []PublicKey) (*Manifest, error) {
	env, err := ParseEnvelope(data)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, &Rejection{Check: CheckSignature, Err: errNoKeys}
	}
	i := slices.IndexFunc(keys, func(k PublicKey) bool { return k.ID == env.KeyID })
	if i < 0 {
		return nil, reject(CheckSignature, "signed with key %q, which is not in ota.trusted_keys", short(env.KeyID))
	}
	if !ed25519.Verify(keys[i].Key, signedBytes(env.Manifest), env.Sig) {
		return nil, reject(CheckSignature, "does not verify with trusted key %s (tampered, or signed by another key)", env.KeyID)
	}
	m, err := ParseManifest(env.Manifest)
	if err != nil {
		return nil, err
	}
	if m.KeyID != env.KeyID {
		return nil, reject(CheckSignature, "the manifest names key %s but the envelope key %s", m.KeyID, env.KeyID)
	}
	return m, nil
}

// ChunkLen returns the length chunk i must have.
func (m *Manifest) ChunkLen(i int) int {
	if i == m.ChunkCount-1 {
		return int(m.Size - int64(m.ChunkCount-1)*int64(m.ChunkSize))
	}
	return m.ChunkSize
}

// Targets reports whether the manifest is for device or one of groups.
func (m *Manifest) Targets(device string, groups []string) bool {
	if _, ok := slices.BinarySearch(m.Target.Devices, device); ok {
		return true
	}
	for _, g := range groups {
		if _, ok := slices.BinarySearch(m.Target.Groups, g); ok {
			return true
		}
	}
	return false
}
