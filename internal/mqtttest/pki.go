package mqtttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throwaway certificate authority with a server certificate for 127.0.0.1/localhost and
// a client certificate, all written as PEM files into a test's temporary directory.
type PKI struct {
	CAFile         string // the CA certificate that signed ServerCertFile and ClientCertFile
	ServerCertFile string
	ServerKeyFile  string
	ClientCertFile string // client certificate for mTLS, common name ClientCN
	ClientKeyFile  string
	ClientCN       string

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	dir   string
}

// NewPKI generates a CA, a server certificate and a client certificate with common name clientCN.
// Each call makes an independent CA, so two PKIs can stand in for a "wrong CA".
func NewPKI(t testing.TB, clientCN string) *PKI {
	t.Helper()
	dir := t.TempDir()
	p := &PKI{dir: dir, ClientCN: clientCN}
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "mqtttest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("mqtttest: create CA: %v", err)
	}
	p.ca, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("mqtttest: parse CA: %v", err)
	}
	p.caKey = caKey
	p.CAFile = writePEM(t, dir, "ca.crt", "CERTIFICATE", der)

	p.ServerCertFile, p.ServerKeyFile = p.issue(t, "server", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.ClientCertFile, p.ClientKeyFile = p.issue(t, "client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: clientCN},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

func (p *PKI) issue(t testing.TB, name string, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatalf("mqtttest: issue %s certificate: %v", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("mqtttest: marshal %s key: %v", name, err)
	}
	return writePEM(t, p.dir, name+".crt", "CERTIFICATE", der), writePEM(t, p.dir, name+".key", "EC PRIVATE KEY", keyDER)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("mqtttest: generate key: %v", err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("mqtttest: serial: %v", err)
	}
	return n
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	// 0644 so a broker that dropped privileges can still read its files.
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	return path
}
