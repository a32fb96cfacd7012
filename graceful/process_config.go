package graceful

import (
	"log/slog"
	"os"
	"time"
)

// RestartMode chooses how a [Process] replaces itself on restart.
type RestartMode string

const (
	// RestartModeReexec starts a new copy of the binary that inherits the
	// listening sockets; once it is ready the old process drains and
	// exits, so the service's PID changes with every restart. Use it
	// under systemd (with Type=notify-reload and NotifyAccess=all) or any
	// supervisor that follows MAINPID or a PID file.
	RestartModeReexec RestartMode = "reexec"

	// RestartModeSupervisor keeps the first process as a small supervisor
	// that owns the sockets and runs the server in worker processes; a
	// restart replaces the worker and the supervisor's PID never changes.
	// Use it as PID 1 in a container, under supervisord, or in a
	// foreground terminal.
	RestartModeSupervisor RestartMode = "supervisor"
)

// RestartModes returns the valid restart modes, for validation and docs.
func RestartModes() []RestartMode {
	return []RestartMode{RestartModeReexec, RestartModeSupervisor}
}

// ProcessConfig holds the settings of a [Process]: how it restarts, how
// long it waits for a new generation, and how it tells supervisors about
// itself. Start from [DefaultProcessConfig].
type ProcessConfig struct {
	// Mode is how a restart replaces the process: [RestartModeReexec]
	// (the default) or [RestartModeSupervisor].
	Mode RestartMode

	// RestartSignal is the signal that triggers a zero-downtime restart
	// (SIGHUP by default; see [RestartSignalNames]). SIGTERM and SIGINT
	// always mean a graceful shutdown. The other signals of
	// RestartSignalNames are caught and ignored, with a log line: one that
	// an earlier configuration named, and that an operator still sends
	// after a restart changed the setting, must not end the process,
	// which their default action would.
	RestartSignal os.Signal

	// UpgradeTimeout bounds how long a new generation may take to become
	// ready. Past it, the new process is stopped and the old one keeps
	// serving.
	UpgradeTimeout time.Duration

	// MaxGenerations bounds how many generations may be alive at once:
	// the serving one plus those still draining long requests. A restart
	// signal that would exceed it is postponed, and runs once an old
	// generation exits (only a stop drops it); [Process.Restart] returns
	// [ErrTooManyGenerations] instead. At least 2.
	MaxGenerations int

	// Probation is how long, after a restart, the old generation keeps
	// its copies of the sockets (it no longer accepts) so that it can
	// take over again if the new one dies: a new generation that exits
	// within Probation of becoming ready, without having handed over or
	// been asked to stop, is rolled back from, and the old one serves
	// again. The old generation (in supervisor mode, the supervisor) also
	// asks the new one over their link every 250 ms whether it is there;
	// one that has not answered for 2 s (stopped, wedged) is killed and
	// rolled back from, so a silent new generation is replaced within
	// about 2.25 s. Connections queued on the sockets meanwhile are
	// served; requests in flight on the process that died are lost. 0
	// turns rollback off. In supervisor mode the previous worker is the
	// one that serves again.
	Probation time.Duration

	// PIDFile, when set, holds the PID of the process that serves. It is
	// replaced atomically (without waiting for the disk): by a first start
	// before it reports ready, by a new generation just after (it never
	// names a process that is not ready, and the handover does not wait
	// for the rename), and by a generation that rolls back. It is removed
	// at the final shutdown. In supervisor mode it holds the supervisor's
	// PID, written once the first worker is ready, and again after a
	// restart if it no longer names the supervisor (removed or
	// overwritten meanwhile).
	PIDFile string

	// ShutdownDelay is how long, once a shutdown is requested, the
	// process keeps serving normally while its readiness endpoint
	// answers 503, so that load balancers stop sending before the
	// listeners close. A second SIGTERM or SIGINT skips the rest of it.
	ShutdownDelay time.Duration

	// ReadinessPath, when set, is served on every server of the process:
	// 200 while it serves, 503 from the moment a shutdown is requested.
	ReadinessPath string

	// LivenessPath, when set, is served on every server of the process:
	// 200 as long as the process runs, draining included.
	LivenessPath string

	// Executable is the binary a restart starts. Empty means the path
	// the running process was started by (its first argument, found in
	// PATH or made absolute at start-up, symlinks kept) when that path
	// names the running binary, else the running binary's own path: a new
	// binary installed at that path, or a symlink on it pointed at a new
	// binary, is what the restart runs.
	Executable string

	// Logger receives the process's structured log lines. Nil means
	// [slog.Default].
	Logger *slog.Logger
}

// Default values of [ProcessConfig], shared with the config package and
// the JSON Schema.
const (
	DefaultRestartMode       = RestartModeReexec
	DefaultRestartSignalName = "SIGHUP"
	DefaultUpgradeTimeout    = time.Minute
	DefaultMaxGenerations    = 3
	DefaultShutdownDelay     = 0
	DefaultProbation         = 5 * time.Second
)

// DefaultProcessConfig returns the process settings used when nothing else
// is said.
func DefaultProcessConfig() ProcessConfig {
	sig, _ := SignalByName(DefaultRestartSignalName)
	return ProcessConfig{
		Mode:           DefaultRestartMode,
		RestartSignal:  sig,
		UpgradeTimeout: DefaultUpgradeTimeout,
		MaxGenerations: DefaultMaxGenerations,
		ShutdownDelay:  DefaultShutdownDelay,
		Probation:      DefaultProbation,
	}
}
