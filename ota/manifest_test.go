package ota

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixedKey is a deterministic signing key for golden tests.
func fixedKey() (ed25519.PrivateKey, PublicKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	return priv, PublicKey{ID: KeyID(pub), Key: pub}
}

func goldenManifest(t *testing.T) *Manifest {
	t.Helper()
	m, err := buildGolden()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func buildGolden() (*Manifest, error) {
	_, pub := fixedKey()
	model := bytes.Repeat([]byte("0123456789"), 60) // 600 bytes: chunks of 256, 256, 88
	m, err := NewUpdate(model, UpdateOptions{
		Name: "ssd \"mobile\"", Version: "1.2.0-rc.1", ChunkSize: 256, KeyID: pub.ID,
		Target:  Target{Devices: []string{"cam-2", "cam-1", "cam-1"}, Groups: []string{"lobby"}},
		Labels:  []string{"person", "caf\u00e9", "a\\b", "tab\there", "ctl\x1f", "line\u2028sep"},
		Shadow:  &ShadowSpec{Frames: 20, MinAgreementPct: 90, MaxLatencyMS: 250},
		Health:  &HealthSpec{Frames: 5},
		Created: time.Date(2025, 3, 4, 5, 6, 7, 890, time.UTC),
	})
	if err != nil {
		return nil, err
	}
	m.ID = "00112233445566778899aabbccddeeff"
	return m, nil
}

// TestCanonicalGolden pins the canonical form: key order, left-out zero values, escapes, the
// time format and sorted targets.
func TestCanonicalGolden(t *testing.T) {
	m := goldenManifest(t)
	got, err := m.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	model := strings.Repeat("0123456789", 60)
	want := `{"chunk_count":3,"chunk_size":256,"chunks":["` + sum(model[:256]) + `","` + sum(model[256:512]) + `","` + sum(model[512:]) + `"],` +
		`"created":"2025-03-04T05:06:07Z","health":{"frames":5},"id":"00112233445566778899aabbccddeeff","key_id":"` + m.KeyID + `",` +
		`"kind":"update","labels":["person","café","a\\b","tab\there","ctl\u001f","line` + "\u2028" + `sep"],` +
		`"name":"ssd \"mobile\"","sha256":"` + sum(model) + `","shadow":{"frames":20,"max_latency_ms":250,"min_agreement_pct":90},` +
		`"size":600,"target":{"devices":["cam-1","cam-2"],"groups":["lobby"]},"v":1,"version":"1.2.0-rc.1"}`
	if string(got) != want {
		t.Fatalf("canonical form\n got %s\nwant %s", got, want)
	}
	// The canonical bytes are valid JSON that decodes to the same values.
	var generic map[string]any
	if err := json.Unmarshal(got, &generic); err != nil {
		t.Fatal(err)
	}
	if l := generic["labels"].([]any); l[1] != "café" || l[4] != "ctl\x1f" || l[5] != "line\u2028sep" {
		t.Fatalf("labels decode as %q", l)
	}
	back, err := ParseManifest(got)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Canonical()
	if !bytes.Equal(again, got) {
		t.Fatalf("round trip changed the bytes:\n%s\n%s", got, again)
	}
}

func TestParseManifestRejectsNonCanonical(t *testing.T) {
	canon, err := goldenManifest(t).Canonical()
	if err != nil {
		t.Fatal(err)
	}
	c := string(canon)
	for _, tc := range []struct {
		name, text, want string
	}{
		{"space", strings.Replace(c, `{"chunk_count"`, `{ "chunk_count"`, 1), "canonical"},
		{"newline at end", c + "\n", "canonical"},
		{"key order", strings.Replace(c, `"v":1,"version":"1.2.0-rc.1"`, `"version":"1.2.0-rc.1","v":1`, 1), "canonical"},
		{"duplicate key", strings.Replace(c, `"size":600`, `"size":600,"size":600`, 1), "canonical"},
		{"escaped non-ASCII", strings.Replace(c, "café", `caf\u00e9`, 1), "canonical"},
		{"uppercase escape", strings.Replace(c, `\u001f`, `\u001F`, 1), "canonical"},
		{"escaped slash", strings.Replace(c, `a\\b`, `a\\b\/`, 1), "canonical"},
		{"exponent", strings.Replace(c, `"size":600`, `"size":6e2`, 1), "size"},
		{"explicit false", strings.Replace(c, `"name"`, `"rollback":false,"name"`, 1), "canonical"},
		{"empty list", strings.Replace(c, `"health"`, `"from_sha256":"","health"`, 1), "canonical"},
		{"case-folded key", strings.Replace(c, `"name"`, `"Name"`, 1), "canonical"},
		{"unknown field", strings.Replace(c, `"name"`, `"magic":1,"name"`, 1), "unknown field"},
		{"version 2", strings.Replace(c, `"v":1`, `"v":2`, 1), "version 2 is not supported"},
		{"no v", strings.Replace(c, `"v":1,`, ``, 1), `no "v"`},
		{"trailing data", c + "{}", "JSON object"},
		{"not JSON", "manifest", "not a JSON object"},
		{"unsorted target", strings.Replace(c, `["cam-1","cam-2"]`, `["cam-2","cam-1"]`, 1), "sorted"},
		{"fraction", strings.Replace(c, `"size":600`, `"size":600.0`, 1), "size"},
		{"created with millis", strings.Replace(c, `07Z`, `07.5Z`, 1), "created"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.text == c {
				t.Fatal("test case does not change the manifest")
			}
			_, err := ParseManifest([]byte(tc.text))
			if err == nil {
				t.Fatalf("accepted %s", tc.text)
			}
			if CheckOf(err) != CheckManifest || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a manifest rejection mentioning %q", err, tc.want)
			}
		})
	}
}

func TestManifestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(m *Manifest)
		want string
	}{
		{"short id", func(m *Manifest) { m.ID = "abc" }, "id"},
		{"bad key id", func(m *Manifest) { m.KeyID = "KEY" }, "key_id"},
		{"no target", func(m *Manifest) { m.Target = Target{} }, "no device and no group"},
		{"wildcard device", func(m *Manifest) { m.Target.Devices = []string{"cam/+"} }, "not a valid name"},
		{"empty name", func(m *Manifest) { m.Name = "" }, "name"},
		{"control in name", func(m *Manifest) { m.Name = "a\nb" }, "control character"},
		{"bad version", func(m *Manifest) { m.Version = "one" }, "version"},
		{"leading zero pre-release", func(m *Manifest) { m.Version = "1.0.0-01" }, "pre-release"},
		{"chunk size too small", func(m *Manifest) { m.ChunkSize = 100 }, "chunk_size"},
		{"count mismatch", func(m *Manifest) { m.ChunkCount = 4 }, "does not make"},
		{"hash count", func(m *Manifest) { m.Chunks = m.Chunks[:2] }, "chunk hashes"},
		{"bad chunk hash", func(m *Manifest) { m.Chunks[1] = strings.ToUpper(m.Chunks[1]) }, "chunk hash 1"},
		{"size zero", func(m *Manifest) { m.Size = 0 }, "size"},
		{"label with newline", func(m *Manifest) { m.Labels = []string{"a\nb"} }, "label 0"},
		{"untrimmed label", func(m *Manifest) { m.Labels = []string{" a"} }, "label 0"},
		{"shadow frames", func(m *Manifest) { m.Shadow.Frames = 0 }, "shadow.frames"},
		{"agreement", func(m *Manifest) { m.Shadow.MinAgreementPct = 101 }, "min_agreement_pct"},
		{"empty health", func(m *Manifest) { m.Health = &HealthSpec{} }, "health is empty"},
		{"from_sha256 on update", func(m *Manifest) { m.FromSHA256 = m.SHA256 }, "rollback manifests"},
		{"rollback with model", func(m *Manifest) { m.Kind = KindRollback }, "carries only"},
		{"unknown kind", func(m *Manifest) { m.Kind = "reboot" }, "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := goldenManifest(t)
			tc.edit(m)
			_, err := m.Canonical()
			if err == nil || CheckOf(err) != CheckManifest || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Canonical: %v, want a manifest error mentioning %q", err, tc.want)
			}
		})
	}
	rb, err := NewRollback(Target{Groups: []string{"b", "a"}}, "", goldenManifest(t).KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := rb.Canonical(); err != nil || !strings.Contains(string(c), `"kind":"rollback","target":{"groups":["a","b"]}`) {
		t.Fatalf("rollback manifest %s, %v", c, err)
	}
}

func TestSignAndOpen(t *testing.T) {
	priv, pub := fixedKey()
	m := goldenManifest(t)
	env, err := Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenEnvelope(env, []PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != m.ID || got.SHA256 != m.SHA256 || got.Labels[1] != "café" {
		t.Fatalf("opened %+v", got)
	}
	// The envelope embeds the manifest verbatim, so it reads as JSON.
	var e map[string]json.RawMessage
	if err := json.Unmarshal(env, &e); err != nil || !bytes.Contains(e["manifest"], []byte(`"name":"ssd \"mobile\""`)) {
		t.Fatalf("envelope %s: %v", env, err)
	}

	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	otherPub := PublicKey{ID: KeyID(other.Public().(ed25519.PublicKey)), Key: other.Public().(ed25519.PublicKey)}
	tampered := bytes.Replace(env, []byte(`"size":600`), []byte(`"size":601`), 1)
	forgedKeyID := bytes.Replace(env, []byte(`"key_id":"`+pub.ID), []byte(`"key_id":"`+otherPub.ID), 1)
	for _, tc := range []struct {
		name  string
		env   []byte
		keys  []PublicKey
		check string
		want  string
	}{
		{"no keys", env, nil, CheckSignature, "OTA is off"},
		{"untrusted key", env, []PublicKey{otherPub}, CheckSignature, "not in ota.trusted_keys"},
		{"tampered manifest", tampered, []PublicKey{pub}, CheckSignature, "does not verify"},
		{"key id swapped", forgedKeyID, []PublicKey{pub, otherPub}, CheckSignature, "does not verify"},
		{"bad signature encoding", bytes.Replace(env, []byte(`"sig":"`), []byte(`"sig":"!`), 1), []PublicKey{pub}, CheckSignature, "base64"},
		{"not an envelope", []byte(`{"v":1}`), []PublicKey{pub}, CheckManifest, "no manifest"},
		{"envelope v2", bytes.Replace(env, []byte(`"v":1}`), []byte(`"v":2}`), 1), []PublicKey{pub}, CheckManifest, "version 2"},
		{"too large", bytes.Repeat([]byte(" "), MaxEnvelopeSize+1), []PublicKey{pub}, CheckManifest, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenEnvelope(tc.env, tc.keys)
			if err == nil || CheckOf(err) != tc.check || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("OpenEnvelope: %v, want %s error mentioning %q", err, tc.check, tc.want)
			}
		})
	}
	// A key rotation: the device trusts the old and the new key; each verifies its own.
	m2 := goldenManifest(t)
	m2.KeyID = otherPub.ID
	env2, err := Sign(m2, other)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range [][]byte{env, env2} {
		if _, err := OpenEnvelope(e, []PublicKey{pub, otherPub}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Sign(m2, priv); err == nil {
		t.Fatal("Sign accepted a manifest naming another key")
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	pub, err := GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "signing.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing.key: %v, mode %v", err, fi.Mode())
	}
	if _, err := GenerateKey(dir); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Fatalf("second GenerateKey: %v", err)
	}
	priv, err := LoadSigningKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := ParsePublicKey(filepath.Join(dir, "signing.pub"))
	if err != nil {
		t.Fatal(err)
	}
	inline, err := ParsePublicKey(pub.Inline())
	if err != nil {
		t.Fatal(err)
	}
	if fromFile.ID != pub.ID || inline.ID != pub.ID || !priv.Public().(ed25519.PublicKey).Equal(pub.Key) {
		t.Fatalf("keys differ: %s %s %s", pub.ID, fromFile.ID, inline.ID)
	}
	if _, err := ParseTrustedKeys([]string{pub.Inline(), filepath.Join(dir, "signing.pub")}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate trusted key: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "signing.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigningKey(filepath.Join(dir, "signing.key")); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
	for _, bad := range []string{"ed25519:AAAA", filepath.Join(dir, "signing.key"), filepath.Join(dir, "missing.pub")} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted it", bad)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0},
		{"1.2", "1.2.0", 0},
		{"1.10.0", "1.9.0", 1},
		{"2", "10", -1},
		{"2.0.0-rc.1", "2.0.0", -1},
		{"2.0.0-rc.2", "2.0.0-rc.10", -1},
		{"2.0.0-alpha", "2.0.0-1", 1},
		{"2.0.0-alpha", "2.0.0-alpha.1", -1},
		{"1.0.0+build.5", "1.0.0+build.9", 0},
		{"20250304.120000", "20250304.115959", 1},
	} {
		got, ok := CompareVersions(tc.a, tc.b)
		if !ok || got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d", tc.a, tc.b, got, ok, tc.want)
		}
		if back, _ := CompareVersions(tc.b, tc.a); back != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d; not antisymmetric", tc.b, tc.a, back)
		}
	}
	for _, bad := range []string{"", "v1", "1..2", "1.0-", "1.0+", "1.x"} {
		if _, ok := CompareVersions(bad, "1"); ok {
			t.Errorf("CompareVersions accepted %q", bad)
		}
	}
}

func TestChunkAndRequest(t *testing.T) {
	model := bytes.Repeat([]byte{1, 2, 3}, 300)
	sha := sha256.Sum256(model)
	msg := ChunkMessage(model, sha, 256, 3)
	c, err := ParseChunk(msg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Index != 3 || c.ChunkSize != 256 || !bytes.Equal(c.Data, model[768:]) || c.ModelSHA() != hex.EncodeToString(sha[:]) {
		t.Fatalf("chunk %+v", c)
	}
	for name, bad := range map[string][]byte{
		"short":      msg[:10],
		"magic":      append([]byte("XXXX"), msg[4:]...),
		"no data":    msg[:ChunkHeaderSize],
		"too long":   append(ChunkMessage(model, sha, 256, 0), 1),
		"chunk size": append(append(append([]byte{}, msg[:36]...), 0, 0, 0, 1), msg[40:]...),
		"index":      append(append(append([]byte{}, msg[:40]...), 0xff, 0, 0, 0), msg[44:]...),
	} {
		if _, err := ParseChunk(bad); err == nil {
			t.Errorf("%s: ParseChunk accepted it", name)
		}
	}

	req := Request{SHA256: hex.EncodeToString(sha[:]), ChunkSize: 256, Ranges: ranges([]int{0, 1, 2, 5, 7, 8}), Manifest: "x"}
	if got := req.Ranges; len(got) != 3 || got[0] != [2]int{0, 2} || got[1] != [2]int{5, 5} || got[2] != [2]int{7, 8} || req.Count() != 6 {
		t.Fatalf("ranges %v", got)
	}
	back, err := ParseRequest(MarshalRequest(req))
	if err != nil || back.Count() != 6 || back.SHA256 != req.SHA256 {
		t.Fatalf("request round trip: %+v, %v", back, err)
	}
	for _, bad := range []string{
		`{"v":1,"sha256":"` + req.SHA256 + `","chunk_size":256,"chunks":[[3,1]]}`,
		`{"v":1,"sha256":"` + req.SHA256 + `","chunk_size":256,"chunks":[]}`,
		`{"v":1,"sha256":"` + req.SHA256 + `","chunk_size":1,"chunks":[[0,0]]}`,
		`{"v":1,"sha256":"abc","chunk_size":256,"chunks":[[0,0]]}`,
		`{"v":2,"sha256":"` + req.SHA256 + `","chunk_size":256,"chunks":[[0,0]]}`,
		`{"v":1,"sha256":"` + req.SHA256 + `","chunk_size":256,"chunks":[[0,0]],"x":1}`,
	} {
		if _, err := ParseRequest([]byte(bad)); err == nil {
			t.Errorf("ParseRequest accepted %s", bad)
		}
	}
}

func TestAgreement(t *testing.T) {
	box := func(x, y, w, h float64) Box { return Box{x, y, w, h} }
	det := func(label string, b Box) Detection { return Detection{Label: label, Box: b} }
	p := func(d ...Detection) Prediction { return Prediction{Detect: true, Detections: d} }
	cls := func(i int, label string) Prediction { return Prediction{Classes: []Class{{Index: i, Label: label}}} }
	for _, tc := range []struct {
		name string
		a, b Prediction
		want float64
	}{
		{"both empty", p(), p(), 1},
		{"one empty", p(det("cat", box(0, 0, 10, 10))), p(), 0},
		{"same box", p(det("cat", box(0, 0, 10, 10))), p(det("cat", box(0, 0, 10, 10))), 1},
		{"shifted, IoU 0.68", p(det("cat", box(0, 0, 10, 10))), p(det("cat", box(1, 1, 10, 10))), 1},
		{"shifted, IoU 0.39", p(det("cat", box(0, 0, 10, 10))), p(det("cat", box(3, 3, 10, 10))), 0},
		{"other label", p(det("cat", box(0, 0, 10, 10))), p(det("dog", box(0, 0, 10, 10))), 0},
		{"one of two", p(det("cat", box(0, 0, 10, 10)), det("dog", box(50, 50, 10, 10))), p(det("cat", box(0, 0, 10, 10))), 2.0 / 3},
		// Greedy by overlap: each box matches once.
		{"two on one", p(det("cat", box(0, 0, 10, 10)), det("cat", box(1, 0, 10, 10))), p(det("cat", box(0, 0, 10, 10))), 2.0 / 3},
		{"top-1 same", cls(3, "dog"), cls(3, "dog"), 1},
		{"top-1 renumbered, same label", cls(3, "dog"), cls(7, "dog"), 1},
		{"top-1 differs", cls(3, ""), cls(4, ""), 0},
	} {
		if got := Agreement(tc.a, tc.b); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("%s: Agreement = %.3f, want %.3f", tc.name, got, tc.want)
		}
	}
	if iou := IoU(box(0, 0, 10, 10), box(5, 0, 10, 10)); iou < 0.333 || iou > 0.334 {
		t.Errorf("IoU = %f, want 1/3", iou)
	}
	if got := percentile([]float64{5, 1, 4, 2, 3}, 95); got != 5 {
		t.Errorf("p95 = %v", got)
	}
}
