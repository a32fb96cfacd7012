// Package testcert makes throw-away TLS certificates for tests and for the
// bench's TLS lanes: a fresh key and a self-signed certificate for
// 127.0.0.1, ::1 and localhost, written as PEM files.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Pair is a self-signed certificate and its key on disk.
type Pair struct {
	CertFile, KeyFile string
	// Pool trusts the certificate, for clients.
	Pool *x509.CertPool
}

// ClientConfig returns a TLS client configuration that trusts the pair
// and offers only protos through ALPN (HTTP/1.1 when protos is empty).
func (p Pair) ClientConfig(protos ...string) *tls.Config {
	if len(protos) == 0 {
		protos = []string{"http/1.1"}
	}
	return &tls.Config{RootCAs: p.Pool, ServerName: "127.0.0.1", NextProtos: protos, MinVersion: tls.VersionTLS12}
}

// Write creates a fresh key and self-signed certificate in dir, as New
// does, and fails the test on any error.
func Write(t testing.TB, dir string) Pair {
	t.Helper()
	p, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// New creates a fresh key and self-signed certificate in dir, as cert.pem
// and key.pem (mode 0600).
func New(dir string) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("testcert: generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "gracekit test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Pair{}, fmt.Errorf("testcert: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, fmt.Errorf("testcert: marshal key: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, fmt.Errorf("testcert: parse certificate: %w", err)
	}
	p := Pair{
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
		Pool:     x509.NewCertPool(),
	}
	p.Pool.AddCert(cert)
	if err := writePEM(p.CertFile, "CERTIFICATE", der); err != nil {
		return Pair{}, err
	}
	if err := writePEM(p.KeyFile, "PRIVATE KEY", keyDER); err != nil {
		return Pair{}, err
	}
	return p, nil
}

func writePEM(path, kind string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("testcert: write %s: %w", path, err)
	}
	return nil
}
