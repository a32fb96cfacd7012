package graceful

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// HandoverEnv is the environment variable through which a process describes
// what it hands to the next generation (or a supervisor to a worker, or to
// its own next image in a supervisor upgrade). The
// new process removes it in NewProcess, so that the app's own subprocesses
// never see it. Its name is outside the GRACEKIT_ namespace of the config
// package, so that a program may load its configuration before it calls
// NewProcess.
const HandoverEnv = "GRACEFUL_HANDOVER"

// handoverVersion is the version of the handover description format.
const handoverVersion = 4

// maxHandoverSize bounds the handover description.
const maxHandoverSize = 1 << 20

// Roles of a process started by a handover.
const (
	roleNameProcess    = "process"    // a re-exec generation
	roleNameWorker     = "worker"     // a worker started by a supervisor
	roleNameSupervisor = "supervisor" // a supervisor's next image (see reexec_supervisor.go)
)

// handover is what a process passes to the one it starts: a successor in
// re-exec mode, or a worker in supervisor mode.
//
// The descriptors it names are exactly 3, 4, 5, ...: exec passes them in
// that order, and the child checks that each of them came from exec (see
// inheritable), so that no description, however crafted, makes a process
// serve a descriptor it opened itself.
type handover struct {
	Version    int    `json:"v"`
	Role       string `json:"role"`
	Generation int    `json:"generation"`
	// Ancestors are the older generations that may still be draining,
	// the parent last. In re-exec mode each has a lifeline: the read end
	// of a pipe whose write end only that generation holds, so that its
	// exit (EOF) is known without trusting a PID.
	Ancestors []ancestor `json:"ancestors"`
	// LinkFd is the child's end of a socket pair with the parent: the
	// child reports ready on it, and the two exchange their lifecycle
	// messages on it (see link.go).
	LinkFd int `json:"link_fd"`
	// StderrFd is the parent's own standard error. Until it is ready,
	// the child's fd 2 is a pipe to the parent, so that the parent can
	// report why a child failed; the child then switches to StderrFd.
	StderrFd int `json:"stderr_fd"`
	// PipeFd is the read end of that pipe. The child holds it so that a
	// write to its standard error never fails because the parent died;
	// it then copies what the pipe holds to StderrFd itself.
	PipeFd int `json:"pipe_fd"`
	// Sockets are the listening and datagram sockets, by name.
	Sockets []handoverSocket `json:"sockets"`
	// StateFd is, for a supervisor's next image, the file holding its
	// state (supervisorState), which names the other descriptors.
	StateFd int `json:"state_fd,omitempty"`
	// Totals are the counters of the lineage (see Stats), so that they
	// go on across generations.
	Totals map[string]uint64 `json:"totals,omitempty"`
}

// ancestor is an older generation, as the handover names it.
type ancestor struct {
	PID        int `json:"pid"`
	Generation int `json:"generation,omitempty"`
	// Lifeline is the descriptor of its lifeline, or -1 (a worker's
	// supervisor, whose link tells when it is gone).
	Lifeline int `json:"lifeline"`
	// DrainLimit bounds how long its drain may take (see
	// Process.boundedDrainLimit; 0: no bound).
	DrainLimit time.Duration `json:"drain_limit,omitempty"`
}

// handoverSocket names one socket handed over.
type handoverSocket struct {
	// Name is the address the program asked for (e.g. ":8080",
	// "unix:/run/app.sock", "udp:127.0.0.1:53").
	Name string `json:"name"`
	Fd   int    `json:"fd"`
	// FdName is the name systemd knows the socket by, when it came from
	// systemd.
	FdName string `json:"fd_name,omitempty"`
}

// encode renders the handover for the environment.
func (h handover) encode() (string, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("encode handover: %w", err)
	}
	return string(b), nil
}

// fds returns every descriptor the handover names, in fd order.
func (h handover) fds() []int {
	fds := []int{h.LinkFd, h.StderrFd, h.PipeFd}
	for _, a := range h.Ancestors {
		if a.Lifeline >= 0 {
			fds = append(fds, a.Lifeline)
		}
	}
	for _, s := range h.Sockets {
		fds = append(fds, s.Fd)
	}
	sort.Ints(fds)
	return fds
}

// parseHandover reads and checks a handover description. Everything in it
// comes from the environment, so nothing is trusted: unknown fields, bad
// descriptor numbers, gaps, duplicates and missing names are all errors.
func parseHandover(raw string) (handover, error) {
	if len(raw) > maxHandoverSize {
		return handover{}, fmt.Errorf("%s is %d bytes, more than the %d a handover description may have", HandoverEnv, len(raw), maxHandoverSize)
	}
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
		return handover{}, fmt.Errorf("%s has version %d; this binary understands version %d (a restart from a much older or newer gracekit is a full restart)", HandoverEnv, h.Version, handoverVersion)
	}
	var errs []error
	if h.Role == roleNameSupervisor {
		// The same process, after exec: no link, no parent; its state
		// file names the rest, which it checks as it reads it.
		if h.StateFd < 3 || h.LinkFd != 0 || len(h.Ancestors) != 0 || len(h.Sockets) != 0 {
			return handover{}, fmt.Errorf("%s: a supervisor's handover names its state file (fd 3 or above) and nothing else", HandoverEnv)
		}
		return h, nil
	}
	switch h.Role {
	case roleNameWorker:
		if h.Generation < 1 {
			errs = append(errs, fmt.Errorf("generation %d: a worker is generation 1 or later", h.Generation))
		}
	case roleNameProcess:
		if h.Generation < 2 {
			errs = append(errs, fmt.Errorf("generation %d: a handed-over process is generation 2 or later", h.Generation))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown role %q", h.Role))
	}
	if len(h.Ancestors) == 0 {
		errs = append(errs, errors.New("no ancestors: the parent's PID is missing"))
	}
	for _, a := range h.Ancestors {
		// PID 1 hands over only as a supervisor (in a container).
		if a.PID < 1 || (a.PID == 1 && h.Role != roleNameWorker) {
			errs = append(errs, fmt.Errorf("ancestor PID %d is not a process that can hand over", a.PID))
		}
		if h.Role == roleNameProcess && a.Lifeline < 0 {
			errs = append(errs, fmt.Errorf("ancestor PID %d has no lifeline", a.PID))
		}
	}
	// Who names each descriptor, described only for an error: with
	// thousands of sockets, a description each would be most of what a
	// new generation allocates on its way to ready.
	const (
		byLink = -1 - iota
		byStderr
		byPipe
		byAncestor // byAncestor - i: the lifeline of h.Ancestors[i]
	)
	describe := func(by int) string {
		switch {
		case by >= 0:
			return fmt.Sprintf("socket %q", h.Sockets[by].Name)
		case by == byLink:
			return "link"
		case by == byStderr:
			return "stderr"
		case by == byPipe:
			return "stderr pipe"
		}
		return fmt.Sprintf("lifeline of PID %d", h.Ancestors[byAncestor-by].PID)
	}
	seen := make(map[int]int, len(h.Sockets)+len(h.Ancestors)+3)
	names := make(map[string]bool, len(h.Sockets))
	check := func(by, fd int) {
		if other, dup := seen[fd]; dup {
			errs = append(errs, fmt.Errorf("%s fd %d is also given as %s", describe(by), fd, describe(other)))
			return
		}
		seen[fd] = by
	}
	check(byLink, h.LinkFd)
	check(byStderr, h.StderrFd)
	check(byPipe, h.PipeFd)
	for i, a := range h.Ancestors {
		if a.Lifeline >= 0 {
			check(byAncestor-i, a.Lifeline)
		}
	}
	for i, s := range h.Sockets {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("socket fd %d has no name", s.Fd))
		case names[s.Name]:
			errs = append(errs, fmt.Errorf("socket name %q is given twice", s.Name))
		}
		names[s.Name] = true
		check(i, s.Fd)
	}
	// exec passes the descriptors as 3, 4, 5, ...: any other number is
	// not one the parent passed.
	for i, fd := range h.fds() {
		if want := 3 + i; fd != want {
			errs = append(errs, fmt.Errorf("fd %d (%s): the descriptors of a handover are 3 to %d, in a row", fd, describe(seen[fd]), 2+len(seen)))
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return handover{}, fmt.Errorf("%s: %w", HandoverEnv, err)
	}
	return h, nil
}
