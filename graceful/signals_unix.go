//go:build unix

package graceful

import (
	"fmt"
	"os"
	"os/signal"
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

// earlyRestart catches the restart signals from the start of a process
// that a handover started, until NewProcess takes over: a new generation
// (or worker) must not die of a restart signal while it starts, and the
// Go runtime kills a program on SIGHUP, SIGUSR1 and SIGUSR2 unless it has
// asked for them. This is package state because the OS makes it so:
// signal dispositions belong to the process. The parent could start the
// child with the signal ignored, but only by unsubscribing every
// signal.Notify of the program for it.
var earlyRestart = make(chan os.Signal, 8)

func init() {
	if _, ok := os.LookupEnv(HandoverEnv); ok {
		signal.Notify(earlyRestart, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	}
}

// takeEarlySignals stops the early catching and returns what it caught.
func takeEarlySignals() []os.Signal {
	signal.Stop(earlyRestart)
	var got []os.Signal
	for {
		select {
		case sig := <-earlyRestart:
			got = append(got, sig)
		default:
			return got
		}
	}
}
