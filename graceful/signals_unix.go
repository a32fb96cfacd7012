//go:build unix

package graceful

import (
	"fmt"
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

// SignalByName returns the restart signal with the given name, one of
// [RestartSignalNames].
func SignalByName(name string) (os.Signal, error) {
	if sig, ok := restartSignals[name]; ok {
		return sig, nil
	}
	return nil, fmt.Errorf("unknown restart signal %q: use one of %s", name, strings.Join(RestartSignalNames(), ", "))
}
