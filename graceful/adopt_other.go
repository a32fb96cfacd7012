//go:build unix && !linux

package graceful

import "syscall"

// adoptBySystemd: only Linux has CLONE_PARENT (and systemd).
func adoptBySystemd(*syscall.ProcAttr) bool { return false }

func (c *osChild) watchAdopted() {}

func parentIsSystemd() bool { return false }

func processGone(pid int) bool { return !processAlive(pid) }
