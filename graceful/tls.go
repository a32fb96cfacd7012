package graceful

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
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
		cert, err := loadKeyPair(certFile, keyFile)
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

// loadKeyPair reads a certificate and its key, with errors that say which
// file is at fault.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, fmt.Errorf("TLS needs both a certificate file and a key file (certificate %q, key %q)", certFile, keyFile)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read TLS key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}
