//go:build !unix

package graceful

import (
	"log/slog"
	"os"
	"syscall"
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

func startChild(system, childSpec) (child, error) { return nil, ErrRestartNotSupported }

func (osSystem) forkExec(string, []string, *syscall.ProcAttr) (int, error) {
	return 0, ErrRestartNotSupported
}
func (osSystem) kill(int, syscall.Signal) error { return ErrRestartNotSupported }
func (osSystem) wait(int) string                { return "" }
func pollChild(int) (string, bool)              { return "", false }

func takeEarlySignals() []os.Signal { return nil }

func parentIsSystemd() bool { return false }

func containerParent() string { return "" }

func processGone(int) bool { return true }

func (osSystem) exec(string, []string, []string) error { return ErrRestartNotSupported }
func dupInheritable(int) (int, error)                  { return -1, ErrRestartNotSupported }
func seekStart(int) error                              { return ErrRestartNotSupported }
func readFull(*os.File, []byte) (int, error)           { return 0, ErrRestartNotSupported }
func anonFile() (int, error)                           { return -1, ErrRestartNotSupported }
func followWorker(system, int, *link, *reaper) child   { return nil }

func pipeCloexec() (int, int, error)     { return -1, -1, ErrRestartNotSupported }
func childEnviron(env []string) []string { return env }

func killHolder(int, int) error { return ErrRestartNotSupported }
