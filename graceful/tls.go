package graceful

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// CreateListenerTLS binds the server's address (or adopts its inherited
// descriptor or configured listeners) and serves HTTPS on it. On a server
// that already has a plain listener and is not serving yet (one made by
// [Process.NewServer]), it switches that listener to TLS.
//
// certFile and keyFile name PEM files; both may be empty when tlsConfig
// (at most one) already carries Certificates, GetCertificate or
// GetConfigForClient. The given tls.Config is never modified: the server
// works on a clone, raises its MinVersion to TLS 1.2 when it is lower,
// and offers HTTP/2 and HTTP/1.1 through ALPN unless NextProtos is set.
func (s *Server) CreateListenerTLS(certFile, keyFile string, tlsConfig ...*tls.Config) error {
	cfg, err := buildTLSConfig(certFile, keyFile, tlsConfig...)
	if err != nil {
		return fmt.Errorf("graceful: server %s: %w", s.describe(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createListenerLocked(cfg)
}

// buildTLSConfig returns the TLS configuration a server uses.
func buildTLSConfig(certFile, keyFile string, given ...*tls.Config) (*tls.Config, error) {
	if len(given) > 1 {
		return nil, errors.New("at most one tls.Config may be given")
	}
	cfg := &tls.Config{}
	if len(given) == 1 && given[0] != nil {
		cfg = given[0].Clone()
	}
	switch {
	case certFile != "" || keyFile != "":
		cert, err := LoadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = append([]tls.Certificate{cert}, cfg.Certificates...)
	case len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil:
		return nil, errors.New("TLS needs a certificate: give a certificate file and a key file, or a tls.Config with Certificates or GetCertificate")
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	return cfg, nil
}

// LoadKeyPair reads a certificate chain and its private key from PEM
// files, as [tls.LoadX509KeyPair] does, with errors that say which file is
// at fault, and within bounds: each must be a regular file (or a symbolic
// link to one, as Kubernetes mounts secrets) of at most 1 MiB, so that a
// path naming a device, a terminal or a pipe gets an error at once rather
// than taking memory or time without bound. [Server.CreateListenerTLS]
// loads its files with it; use it for the certificates of other
// listeners (HTTP/3, gRPC) too.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, fmt.Errorf("TLS needs both a certificate file and a key file (certificate %q, key %q)", certFile, keyFile)
	}
	certPEM, err := readPEMFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read TLS certificate: %w", err)
	}
	keyPEM, err := readPEMFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read TLS key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// maxPEMFile bounds a certificate or key file: a chain of PEM
// certificates is a few kilobytes.
const maxPEMFile = 1 << 20

// readPEMFile reads a certificate or key file (see readRegularFile): a
// device such as /dev/zero, a terminal or a pipe would otherwise take
// memory or time without bound.
func readPEMFile(path string) ([]byte, error) {
	data, err := readRegularFile(path, maxPEMFile)
	if err != nil {
		return nil, fmt.Errorf("%w: give the path of a PEM file", err)
	}
	return data, nil
}
