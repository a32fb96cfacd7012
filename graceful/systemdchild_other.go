//go:build unix && !linux

package graceful

import (
	"errors"
	"syscall"
)

// parentToSystemd: only Linux has CLONE_PARENT (and systemd).
func parentToSystemd(*syscall.ProcAttr) bool { return false }

func (c *osChild) watchSystemdChild() {}

func parentIsSystemd() bool { return false }

// containerParent: only Linux has the PID namespaces of containers.
func containerParent() string { return "" }

func processGone(pid int) bool { return !processAlive(pid) }

func killLeftovers(uint64) int { return 0 }

func killHolder(int, int) error {
	return errors.New("only Linux can tell that a process holds a lifeline: not killed")
}
