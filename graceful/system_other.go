//go:build !unix

package graceful

import (
	"log/slog"
	"os"
	"time"
)

func activationSockets(*slog.Logger) ([]*socket, error) { return nil, nil }

func inheritHandover(handover, *slog.Logger) (*link, []*socket, error) {
	return nil, nil, ErrRestartNotSupported
}

func sdNotify(string, ...int) error { return nil }

func sdBarrier(time.Duration) error { return nil }

func monotonicUsec() string { return "0" }

func processAlive(int) bool { return false }

func startChild(childSpec) (child, error) { return nil, ErrRestartNotSupported }

func takeEarlySignals() []os.Signal { return nil }

func parentIsSystemd() bool { return false }

func processGone(int) bool { return true }
