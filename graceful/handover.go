package graceful

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// handoverEnv is the environment variable through which a parent describes
// what it hands to the next generation. The child removes it as soon as it
// has read it, so that the app's own subprocesses never see it.
const handoverEnv = "GRACEKIT_HANDOVER"

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
		return handover{}, fmt.Errorf("%s is not a valid handover description: %w", handoverEnv, err)
	}
	if dec.More() {
		return handover{}, fmt.Errorf("%s has trailing data after the handover description", handoverEnv)
	}
	if h.Version != handoverVersion {
		return handover{}, fmt.Errorf("%s has version %d; this binary understands version %d", handoverEnv, h.Version, handoverVersion)
	}
	var errs []error
	if h.Generation < 2 {
		errs = append(errs, fmt.Errorf("generation %d: a handed-over process is generation 2 or later", h.Generation))
	}
	if len(h.Ancestors) == 0 {
		errs = append(errs, errors.New("no ancestors: the parent's PID is missing"))
	}
	for _, pid := range h.Ancestors {
		if pid <= 1 {
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
		return handover{}, fmt.Errorf("%s: %w", handoverEnv, err)
	}
	return h, nil
}
