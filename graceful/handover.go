package graceful

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// HandoverEnv is the environment variable through which a process describes
// what it hands to the next generation (or a supervisor to a worker). The
// new process removes it in NewProcess, so that the app's own subprocesses
// never see it. Its name is outside the GRACEKIT_ namespace of the config
// package, so that a program may load its configuration before it calls
// NewProcess.
const HandoverEnv = "GRACEFUL_HANDOVER"

// handoverVersion is the version of the handover description format.
const handoverVersion = 1

// workerMode marks a handover from a supervisor to a worker process.
const workerMode = "worker"

// maxHandoverFd bounds the descriptor numbers a handover may name.
const maxHandoverFd = 1 << 16

// handover is what a parent passes to the process it starts on restart.
type handover struct {
	Version    int `json:"v"`
	Generation int `json:"generation"`
	// Ancestors are the PIDs of older generations that may still be
	// draining, the parent last.
	Ancestors []int `json:"ancestors"`
	// ReadyFd is the write end of the pipe on which the child says it is
	// ready.
	ReadyFd int `json:"ready_fd"`
	// StderrFd, when not zero, is the parent's own standard error: the
	// child's fd 2 is a pipe to the parent until it is ready, so that
	// the parent can report why a child failed, and the child switches
	// to this descriptor once it is ready.
	StderrFd int `json:"stderr_fd,omitempty"`
	// Mode is the restart mode of the parent: "reexec", or "worker" for
	// a worker started by a supervisor.
	Mode string `json:"mode,omitempty"`
	// ControlFd, for a worker, is the read end of a pipe on which its
	// supervisor sends commands ("drain"); its end means the supervisor
	// is gone.
	ControlFd int `json:"control_fd,omitempty"`
	// Listeners are the listening sockets, by name.
	Listeners []handoverListener `json:"listeners"`
}

// handoverListener names one inherited listening socket.
type handoverListener struct {
	// Name is the address the parent's server was created with (e.g.
	// ":8080", "unix:/run/app.sock"), or the name the app gave it.
	Name string `json:"name"`
	Fd   int    `json:"fd"`
}

// encode renders the handover for the environment.
func (h handover) encode() (string, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("encode handover: %w", err)
	}
	return string(b), nil
}

// parseHandover reads and checks a handover description. Everything in it
// comes from the environment, so nothing is trusted: unknown fields, bad
// descriptor numbers, duplicates and missing names are all errors.
func parseHandover(raw string) (handover, error) {
	var h handover
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return handover{}, fmt.Errorf("%s is not a valid handover description: %w", HandoverEnv, err)
	}
	if dec.More() {
		return handover{}, fmt.Errorf("%s has trailing data after the handover description", HandoverEnv)
	}
	if h.Version != handoverVersion {
		return handover{}, fmt.Errorf("%s has version %d; this binary understands version %d", HandoverEnv, h.Version, handoverVersion)
	}
	var errs []error
	switch {
	case h.Mode == workerMode && h.Generation < 1:
		errs = append(errs, fmt.Errorf("generation %d: a worker is generation 1 or later", h.Generation))
	case h.Mode != workerMode && h.Generation < 2:
		errs = append(errs, fmt.Errorf("generation %d: a handed-over process is generation 2 or later", h.Generation))
	}
	if len(h.Ancestors) == 0 {
		errs = append(errs, errors.New("no ancestors: the parent's PID is missing"))
	}
	for _, pid := range h.Ancestors {
		// PID 1 hands over only as a supervisor (in a container).
		if pid < 1 || (pid == 1 && h.Mode != workerMode) {
			errs = append(errs, fmt.Errorf("ancestor PID %d is not a process that can hand over", pid))
		}
	}
	switch h.Mode {
	case "", string(RestartModeReexec), workerMode:
	default:
		errs = append(errs, fmt.Errorf("unknown mode %q", h.Mode))
	}
	seen := map[int]string{}
	checkFd := func(what string, fd int) {
		if fd < 3 || fd >= maxHandoverFd {
			errs = append(errs, fmt.Errorf("%s fd %d is out of range (3 to %d)", what, fd, maxHandoverFd-1))
			return
		}
		if other, dup := seen[fd]; dup {
			errs = append(errs, fmt.Errorf("%s fd %d is also given as %s", what, fd, other))
			return
		}
		seen[fd] = what
	}
	checkFd("ready pipe", h.ReadyFd)
	if h.StderrFd != 0 {
		checkFd("stderr", h.StderrFd)
	}
	if h.ControlFd != 0 {
		checkFd("control pipe", h.ControlFd)
	}
	if (h.ControlFd != 0) != (h.Mode == workerMode) {
		errs = append(errs, errors.New("a control pipe is given exactly to workers"))
	}
	names := map[string]bool{}
	for _, l := range h.Listeners {
		if l.Name == "" {
			errs = append(errs, fmt.Errorf("listener fd %d has no name", l.Fd))
		} else if names[l.Name] {
			errs = append(errs, fmt.Errorf("listener name %q is given twice", l.Name))
		}
		names[l.Name] = true
		checkFd(fmt.Sprintf("listener %q", l.Name), l.Fd)
	}
	if err := errors.Join(errs...); err != nil {
		return handover{}, fmt.Errorf("%s: %w", HandoverEnv, err)
	}
	return h, nil
}
