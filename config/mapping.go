package config

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gracekit/gracekit/graceful"
)

// ServerConfig returns the graceful server settings that s describes.
// Handler, Logger and Listeners are left for the caller to set; the
// addresses and TLS files are used by [Server.NewServers].
func (s Server) ServerConfig() graceful.ServerConfig {
	return graceful.ServerConfig{
		ReadTimeout:             time.Duration(s.ReadTimeout),
		ReadHeaderTimeout:       time.Duration(s.ReadHeaderTimeout),
		WriteTimeout:            time.Duration(s.WriteTimeout),
		IdleTimeout:             time.Duration(s.IdleTimeout),
		GracefulShutdownTimeout: time.Duration(s.GracefulShutdownTimeout),
		IdleDrainGrace:          time.Duration(s.IdleDrainGrace),
		IdleDrainGraceMin:       time.Duration(s.IdleDrainGraceMin),
		HijackedGrace:           time.Duration(s.HijackedGrace),
		MaxHeaderBytes:          int(s.MaxHeaderBytes),
		KeepAlive:               s.KeepAlive,
		UnixSocketMode:          parseSocketMode(s.UnixSocketMode),
		UnixSocketGroup:         s.UnixSocketGroup,
	}
}

// parseSocketMode reads an octal mode such as "0660"; an empty or invalid
// one (which [Load] refuses) gives 0.
func parseSocketMode(m string) fs.FileMode {
	n, err := strconv.ParseUint(strings.TrimPrefix(m, "0o"), 8, 32)
	if err != nil {
		return 0
	}
	return fs.FileMode(n)
}

// formatSocketMode writes a mode as parseSocketMode reads it.
func formatSocketMode(m fs.FileMode) string {
	if m == 0 {
		return ""
	}
	return fmt.Sprintf("%04o", uint32(m))
}

// serverFrom is the inverse of ServerConfig, used to build the defaults
// from the graceful package's single source.
func serverFrom(c graceful.ServerConfig) Server {
	return Server{
		ReadTimeout:             Duration(c.ReadTimeout),
		ReadHeaderTimeout:       Duration(c.ReadHeaderTimeout),
		WriteTimeout:            Duration(c.WriteTimeout),
		IdleTimeout:             Duration(c.IdleTimeout),
		GracefulShutdownTimeout: Duration(c.GracefulShutdownTimeout),
		IdleDrainGrace:          Duration(c.IdleDrainGrace),
		IdleDrainGraceMin:       Duration(c.IdleDrainGraceMin),
		HijackedGrace:           Duration(c.HijackedGrace),
		MaxHeaderBytes:          Size(c.MaxHeaderBytes),
		KeepAlive:               c.KeepAlive,
		UnixSocketMode:          formatSocketMode(c.UnixSocketMode),
		UnixSocketGroup:         c.UnixSocketGroup,
	}
}

// ProcessConfig returns the graceful process settings that p describes.
// It fails when the restart signal is not one of
// graceful.RestartSignalNames. Executable and Logger are left for the
// caller to set.
func (p Process) ProcessConfig() (graceful.ProcessConfig, error) {
	sig, err := graceful.SignalByName(p.RestartSignal)
	if err != nil {
		return graceful.ProcessConfig{}, fmt.Errorf("config: process.restartSignal: %w", err)
	}
	return graceful.ProcessConfig{
		Mode:           p.Mode,
		RestartSignal:  sig,
		UpgradeTimeout: time.Duration(p.UpgradeTimeout),
		MaxGenerations: p.MaxGenerations,
		Probation:      time.Duration(p.Probation),
		PIDFile:        p.PIDFile,
		ShutdownDelay:  time.Duration(p.ShutdownDelay),
		ReadinessPath:  p.ReadinessPath,
		LivenessPath:   p.LivenessPath,
	}, nil
}

// processFrom is the inverse of ProcessConfig, without the signal, whose
// name the caller knows.
func processFrom(c graceful.ProcessConfig) Process {
	return Process{
		Mode:           c.Mode,
		UpgradeTimeout: Duration(c.UpgradeTimeout),
		MaxGenerations: c.MaxGenerations,
		Probation:      Duration(c.Probation),
		PIDFile:        c.PIDFile,
		ShutdownDelay:  Duration(c.ShutdownDelay),
		ReadinessPath:  c.ReadinessPath,
		LivenessPath:   c.LivenessPath,
	}
}

// SlogLevel returns the slog level named by l.Level; an unknown name (which
// [Load] refuses) gives slog.LevelInfo.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// NewLogger returns a logger that writes to w at l's level, as text or as
// JSON lines. An unknown format (which [Load] refuses) gives text.
func (l Log) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.SlogLevel()}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
