package graceful

import (
	"log/slog"
	"os"
	"os/signal"
	"time"
)

// system is what a Process needs from the operating system. The real one
// is osSystem; the state machine's unit tests use a fake, so that every
// path of a restart is exercised without starting processes.
type system interface {
	lookupEnv(key string) (string, bool)
	unsetenv(key string) error
	environ() []string
	notifySignals(ch chan<- os.Signal, sigs ...os.Signal)
	stopSignals(ch chan<- os.Signal)
	activationListeners(logger *slog.Logger) ([]inheritedListener, error)
	startChild(spec childSpec) (child, error)
	sdNotify(state string) error
	processAlive(pid int) bool
}

// childSpec is everything needed to start the next generation.
type childSpec struct {
	exe        string
	args       []string
	dir        string
	env        []string
	generation int
	ancestors  []int
	mode       string
	listeners  []namedFile
	// restartSignal is ignored while the child starts, so that it
	// inherits "ignored" (SIGHUP) and cannot be killed by a restart
	// signal before it installs its own handler.
	restartSignal os.Signal
	rearm         func()
	logger        *slog.Logger
}

// namedFile is a listening socket's duplicate, with the name the child
// looks it up by.
type namedFile struct {
	name string
	file *os.File
}

// child is a started next generation, seen from its parent.
type child interface {
	pid() int
	// ready is closed when the child has reported ready.
	ready() <-chan struct{}
	// exited is closed once the child has exited and been reaped.
	exited() <-chan struct{}
	// exitStatus describes how the child ended (valid after exited).
	exitStatus() string
	// stderrTail returns the last lines the child wrote to standard
	// error before it was ready.
	stderrTail() string
	// stop asks the child to stop (SIGTERM), kills it after grace, and
	// returns once it has been reaped.
	stop(grace time.Duration)
}

// osSystem is the real operating system.
type osSystem struct{}

func (osSystem) lookupEnv(key string) (string, bool) { return os.LookupEnv(key) }
func (osSystem) unsetenv(key string) error           { return os.Unsetenv(key) }
func (osSystem) environ() []string                   { return os.Environ() }
func (osSystem) notifySignals(ch chan<- os.Signal, sigs ...os.Signal) {
	signal.Notify(ch, sigs...)
}
func (osSystem) stopSignals(ch chan<- os.Signal) { signal.Stop(ch) }
func (osSystem) activationListeners(logger *slog.Logger) ([]inheritedListener, error) {
	return activationListeners(logger)
}
func (osSystem) startChild(spec childSpec) (child, error) { return startChild(spec) }
func (osSystem) sdNotify(state string) error               { return sdNotify(state) }
func (osSystem) processAlive(pid int) bool                 { return processAlive(pid) }
