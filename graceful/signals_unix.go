//go:build unix

package graceful

import (
	"fmt"
	"github.com/gracekit/gracekit/internal/earlysignal"
	"os"
	"strings"
	"syscall"
)

// restartSignals maps the names accepted for [ProcessConfig.RestartSignal]
// to signals.
var restartSignals = map[string]os.Signal{
	"SIGHUP":  syscall.SIGHUP,
	"SIGUSR1": syscall.SIGUSR1,
	"SIGUSR2": syscall.SIGUSR2,
}

// stopSignals are the signals that ask for a graceful shutdown.
var stopSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT}

// pipeSignals are caught so that a write to a standard output or error
// whose reader is gone fails with EPIPE, rather than ending the process.
var pipeSignals = []os.Signal{syscall.SIGPIPE}

// SignalByName returns the restart signal with the given name, one of
// [RestartSignalNames].
func SignalByName(name string) (os.Signal, error) {
	if sig, ok := restartSignals[name]; ok {
		return sig, nil
	}
	return nil, fmt.Errorf("unknown restart signal %q: use one of %s", name, strings.Join(RestartSignalNames(), ", "))
}

// takeEarlySignals returns the restart signals caught since the program
// started (see internal/earlysignal), and stops catching them that way.
func takeEarlySignals() []os.Signal { return earlysignal.TakeRestart() }

// takeEarlyStops does the same for SIGTERM and SIGINT in a supervisor's
// next image.
func takeEarlyStops() []os.Signal { return earlysignal.TakeStop() }

// stopSignalByName returns SIGTERM or SIGINT by name.
func stopSignalByName(name string) (os.Signal, error) {
	switch name {
	case "SIGTERM":
		return syscall.SIGTERM, nil
	case "SIGINT":
		return syscall.SIGINT, nil
	}
	return nil, fmt.Errorf("unknown stop signal %q", name)
}
