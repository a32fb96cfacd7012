package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gracekit/gracekit/graceful"
)

// NewServers turns the server section into servers whose listeners are
// ready: an HTTP server on Address and, when HTTPSAddress is set, an HTTPS
// server on it with CertFile and KeyFile. Both serve handler and log to
// logger (nil means slog.Default).
//
// With a Process p, the servers come from p.NewServer, so that they
// inherit their listening sockets across restarts and p.Run serves them;
// with a nil p they are standalone: call Serve on each.
//
// NewServers checks s first (as [Load] does) and returns an *[Error] when
// it is invalid. When a listener cannot be created it closes the servers
// it has already built and returns the error: it never returns some of
// the servers.
func (s Server) NewServers(p *graceful.Process, handler http.Handler, logger *slog.Logger) ([]*graceful.Server, error) {
	if ps := s.Validate(); len(ps) > 0 {
		for i := range ps {
			ps[i].Key = "server." + ps[i].Key
		}
		return nil, &Error{Problems: ps}
	}
	cfg := s.ServerConfig()
	cfg.Handler = handler
	cfg.Logger = logger
	httpSrv, err := newServer(p, s.Address, cfg, "", "")
	if err != nil {
		return nil, fmt.Errorf("config: HTTP server on %s: %w", s.Address, err)
	}
	servers := []*graceful.Server{httpSrv}
	if s.HTTPSAddress != "" {
		httpsSrv, err := newServer(p, s.HTTPSAddress, cfg, s.CertFile, s.KeyFile)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("config: HTTPS server on %s: %w", s.HTTPSAddress, err), closeAll(servers))
		}
		servers = append(servers, httpsSrv)
	}
	return servers, nil
}

// newServer builds one server with its listener, TLS when certFile is set.
func newServer(p *graceful.Process, address string, cfg graceful.ServerConfig, certFile, keyFile string) (*graceful.Server, error) {
	if p != nil {
		srv, err := p.NewServer(address, cfg)
		if err != nil {
			return nil, err
		}
		if certFile != "" {
			// The process has bound (or inherited) a plain listener;
			// CreateListenerTLS serves TLS on it.
			if err := srv.CreateListenerTLS(certFile, keyFile); err != nil {
				return nil, errors.Join(err, closeAll([]*graceful.Server{srv}))
			}
		}
		return srv, nil
	}
	srv := graceful.New(address, 0, cfg)
	var err error
	if certFile != "" {
		err = srv.CreateListenerTLS(certFile, keyFile)
	} else {
		err = srv.CreateListener()
	}
	if err != nil {
		return nil, errors.Join(err, closeAll([]*graceful.Server{srv}))
	}
	return srv, nil
}

// closeAll closes servers that were built but never served.
func closeAll(servers []*graceful.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Close(ctx); err != nil && !errors.Is(err, graceful.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("close the server on %s: %w", srv.GetAddress(), err))
		}
	}
	return errors.Join(errs...)
}
