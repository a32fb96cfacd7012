//go:build !unix

package graceful

import (
	"fmt"
	"os"
	"strings"
)

// namedSignal stands for a Unix restart signal on platforms that have none:
// it parses, so that one configuration file works everywhere, and never
// arrives.
type namedSignal string

func (s namedSignal) String() string { return string(s) }
func (s namedSignal) Signal()        {}

var stopSignals = []os.Signal{os.Interrupt}

var pipeSignals []os.Signal

// SignalByName returns the restart signal with the given name, one of
// [RestartSignalNames]. On this platform restarts are not supported and
// the signal never arrives.
func SignalByName(name string) (os.Signal, error) {
	for _, n := range RestartSignalNames() {
		if n == name {
			return namedSignal(name), nil
		}
	}
	return nil, fmt.Errorf("unknown restart signal %q: use one of %s", name, strings.Join(RestartSignalNames(), ", "))
}

func takeEarlyStops() []os.Signal { return nil }

func stopSignalByName(name string) (os.Signal, error) {
	if name == "SIGINT" {
		return os.Interrupt, nil
	}
	return nil, fmt.Errorf("unknown stop signal %q", name)
}
