package graceful

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// adoptBySystemd makes the next generation a child of this process's own
// parent (CLONE_PARENT), instead of a child of this process, when that
// parent is systemd supervising the service: NOTIFY_SOCKET is set and the
// parent's command name is systemd (the system or a user manager).
// systemd then follows, by MAINPID=, a process that is its own child: it
// waits for it on stop and records its exit status. A main process that
// is not its child ("alien") gets no wait on stop: systemd goes from
// SIGTERM straight to SIGKILL.
func adoptBySystemd(attr *os.ProcAttr) bool {
	if os.Getenv("NOTIFY_SOCKET") == "" || os.Getpid() == 1 {
		return false
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", os.Getppid())); err != nil || string(comm) != "systemd\n" {
		return false
	}
	attr.Sys = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_PARENT}
	return true
}

// watchAdopted waits for a child started by adoptBySystemd to exit: it is
// not this process's child, so its parent (systemd) reaps it and this
// process only sees it gone (pidfd, or polling where there is none).
func (c *osChild) watchAdopted() {
	pid := c.proc.Pid
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		defer unix.Close(fd)
		for {
			_, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
	} else {
		for processAlive(pid) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.markExited("exited (a child of systemd, which has its exit status)")
}
