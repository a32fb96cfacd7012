package graceful

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
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
	// earlySignals returns the restart signals caught since the program
	// started (see signals_unix.go), and stops catching them that way.
	earlySignals() []os.Signal
	// inherit takes what the parent handed over: the link and the
	// sockets, after checking every descriptor.
	inherit(h handover, logger *slog.Logger) (*link, []*socket, error)
	// stderrSwitch returns what moves the new process's standard error
	// off the pipe to its parent (see handover.StderrFd).
	stderrSwitch(h handover) *stderrSwitch
	// activationSockets takes the sockets systemd passed.
	activationSockets(logger *slog.Logger) ([]*socket, error)
	// forkExec starts a process (see syscall.ForkExec), wait waits for
	// it to exit and returns its status, kill signals it: the lowest seam
	// of a restart. The unit tests' fake runs a fake process behind it
	// that speaks the real link protocol.
	forkExec(exe string, args []string, attr *syscall.ProcAttr) (int, error)
	wait(pid int) string
	kill(pid int, sig syscall.Signal) error
	// exec replaces this process's image (a supervisor's, see
	// reexec_supervisor.go); it returns only on failure.
	exec(exe string, args, env []string) error
	// blockForExec holds the signals back for the moment of an exec;
	// restore undoes it when the exec failed.
	blockForExec(sigs ...os.Signal) (restore func())
	// sdNotify sends a state to systemd, with descriptors for FDSTORE=1.
	sdNotify(state string, fds ...int) error
	// sdBarrier waits until systemd has processed what was sent.
	sdBarrier(timeout time.Duration) error
	processAlive(pid int) bool
	// parentIsSystemd reports whether systemd supervises the process as
	// its child (see parentToSystemd).
	parentIsSystemd() bool
	// containerParent says why this process's exit would end its
	// container, or "" (see containerParent).
	containerParent() string
	exit(code int)
}

// childSpec is everything needed to start the next generation or a
// worker.
type childSpec struct {
	exe      string
	args     []string
	dir      string
	env      []string
	handover handover // role, generation, ancestors, totals; startChild fills in the descriptors
	sockets  []*socket
	// state is the first message on the link; files are the files passed
	// on, sent with it.
	state linkMsg
	files []heldFile
	// reaper, when set, reaps the child instead of a wait of its own
	// (a supervisor that is PID 1 reaps every process).
	reaper *reaper
}

// child is a process started by startChild, seen from its parent.
type child interface {
	pid() int
	// ready is closed when the child has reported ready.
	ready() <-chan struct{}
	// readyHandover returns what the child passed as it became ready:
	// the sockets it serves and the files it passes on, a worker's with
	// their descriptors, which the caller then owns.
	readyHandover() ([]handoverSocket, []int, []passedFile, []int)
	// failure is the child's own account of why it failed before it was
	// ready, if it gave one.
	failure() string
	// readyMessage returns the message a worker sent as it became
	// ready, without its descriptors (see readyHandover).
	readyMessage() linkMsg
	// messages delivers the child's messages after it is ready; it is
	// closed when the link closes. The receiver owns the descriptors of
	// a resumed message (linkMsg.fds); those of the others are closed.
	messages() <-chan linkMsg
	send(m linkMsg) error
	// exited is closed once the child has exited and been reaped.
	exited() <-chan struct{}
	// linkFd returns a new descriptor of this process's end of the link,
	// which the caller closes.
	linkFd() (int, error)
	// exitStatus describes how the child ended (valid after exited).
	exitStatus() string
	// stderrTail returns the last lines the child wrote to standard
	// error before it was ready.
	stderrTail() string
	// outputCopied is closed once what the child wrote to the standard
	// error this process gave it has all been copied out (the child
	// switches to its own at ready, or exits).
	outputCopied() <-chan struct{}
	// signal sends a signal to the child unless it has been reaped.
	signal(sig os.Signal)
	// stop asks the child to stop (SIGTERM), kills it after grace, and
	// returns once it has been reaped; then it kills the processes the
	// child left holding its descriptors (see killLeftovers), and
	// returns how many.
	stop(grace time.Duration) int
}

// osSystem is the real operating system.
type osSystem struct{}

func (osSystem) lookupEnv(key string) (string, bool) { return os.LookupEnv(key) }
func (osSystem) unsetenv(key string) error           { return os.Unsetenv(key) }
func (osSystem) environ() []string                   { return os.Environ() }
func (osSystem) notifySignals(ch chan<- os.Signal, sigs ...os.Signal) {
	signal.Notify(ch, sigs...)
}
func (osSystem) stopSignals(ch chan<- os.Signal)       { signal.Stop(ch) }
func (osSystem) blockForExec(sigs ...os.Signal) func() { return blockForExec(sigs...) }
func (osSystem) earlySignals() []os.Signal             { return takeEarlySignals() }
func (osSystem) inherit(h handover, logger *slog.Logger) (*link, []*socket, error) {
	return inheritHandover(h, logger)
}
func (osSystem) stderrSwitch(h handover) *stderrSwitch { return newStderrSwitch(h.StderrFd, h.PipeFd) }
func (osSystem) activationSockets(logger *slog.Logger) ([]*socket, error) {
	return activationSockets(logger)
}
func (osSystem) sdNotify(state string, fds ...int) error { return sdNotify(state, fds...) }
func (osSystem) sdBarrier(timeout time.Duration) error   { return sdBarrier(timeout) }
func (osSystem) parentIsSystemd() bool                   { return parentIsSystemd() }
func (osSystem) containerParent() string                 { return containerParent() }
func (osSystem) processAlive(pid int) bool               { return processAlive(pid) }
func (osSystem) exit(code int)                           { os.Exit(code) }
