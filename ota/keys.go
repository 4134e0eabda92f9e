package ota

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// InlineKeyPrefix starts a public key written inline in the configuration instead of as a file:
// "ed25519:" followed by the standard base64 of the 32-byte key.
const InlineKeyPrefix = "ed25519:"

// PublicKey is a trusted signer's ed25519 public key with its id.
type PublicKey struct {
	ID  string // KeyID of Key
	Key ed25519.PublicKey
}

// KeyID returns a key's id: the first 8 bytes of the SHA-256 of the raw 32-byte public key, in
// lowercase hex. Manifests name their signer by it, so a device with several trusted keys (key
// rotation) knows which one to check.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Inline returns the key in the inline form accepted by ParsePublicKey.
func (k PublicKey) Inline() string { return InlineKeyPrefix + base64.StdEncoding.EncodeToString(k.Key) }

// GenerateKey writes a new ed25519 key pair into dir: signing.key (PKCS #8 PEM, mode 0600) and
// signing.pub (PKIX PEM, mode 0644). It refuses to overwrite an existing key.
func GenerateKey(dir string) (PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return PublicKey{}, fmt.Errorf("generate key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return PublicKey{}, fmt.Errorf("key directory: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return PublicKey{}, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return PublicKey{}, err
	}
	privPath, pubPath := filepath.Join(dir, "signing.key"), filepath.Join(dir, "signing.pub")
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return PublicKey{}, fmt.Errorf("%s exists; not overwriting a key (remove it or choose another directory)", p)
		}
	}
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return PublicKey{}, err
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return PublicKey{}, err
	}
	if err := syncDir(dir); err != nil {
		return PublicKey{}, err
	}
	return PublicKey{ID: KeyID(pub), Key: pub}, nil
}

// writeNew creates path exclusively with mode and writes data durably.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// LoadSigningKey reads a PKCS #8 PEM ed25519 private key. Like ssh, it refuses a key file that
// others can read.
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s is accessible by others (mode %04o); chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("signing key %s: not a PEM \"PRIVATE KEY\" (make one with edge-agent keygen)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: a %T, want ed25519", path, k)
	}
	return priv, nil
}

// ParsePublicKey reads one trusted key: either the inline form "ed25519:<base64>" or the path of
// a PKIX PEM public key file (signing.pub from GenerateKey, or `openssl pkey -pubout`).
func ParsePublicKey(s string) (PublicKey, error) {
	if rest, ok := strings.CutPrefix(s, InlineKeyPrefix); ok {
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return PublicKey{}, fmt.Errorf("inline key %q: want %s and the base64 of %d bytes", short(s), InlineKeyPrefix, ed25519.PublicKeySize)
		}
		return PublicKey{ID: KeyID(raw), Key: ed25519.PublicKey(raw)}, nil
	}
	data, err := os.ReadFile(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return PublicKey{}, fmt.Errorf("public key %s: not a PEM \"PUBLIC KEY\"", s)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key %s: %w", s, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return PublicKey{}, fmt.Errorf("public key %s: a %T, want ed25519", s, k)
	}
	return PublicKey{ID: KeyID(pub), Key: pub}, nil
}

// ParseTrustedKeys reads every entry of ota.trusted_keys (see ParsePublicKey). Duplicates are
// an error, since they usually mean a rotation went wrong.
func ParseTrustedKeys(entries []string) ([]PublicKey, error) {
	var keys []PublicKey
	seen := map[string]bool{}
	for i, e := range entries {
		k, err := ParsePublicKey(strings.TrimSpace(e))
		if err != nil {
			return nil, fmt.Errorf("trusted key %d: %w", i+1, err)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("trusted key %d: key %s is listed twice", i+1, k.ID)
		}
		seen[k.ID] = true
		keys = append(keys, k)
	}
	return keys, nil
}

var errNoKeys = errors.New("no trusted keys configured (ota.trusted_keys): OTA is off")

func short(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}

// syncDir fsyncs a directory so a rename or create in it survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
