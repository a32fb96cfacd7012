package graceful

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// parentToSystemd makes a successor a child of this process's own
// parent (CLONE_PARENT) instead of a child of this process, when that
// parent is systemd supervising the service: NOTIFY_SOCKET is set and the
// parent's command name is systemd (the system or a user manager).
// systemd then follows, by MAINPID=, a process that is its own child: it
// waits for it on stop and records its exit status. A main process that is
// not its child ("alien") gets no wait on stop: systemd goes from SIGTERM
// straight to SIGKILL.
func parentToSystemd(attr *syscall.ProcAttr) bool {
	if !parentIsSystemd() {
		return false
	}
	attr.Sys = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_PARENT}
	return true
}

// parentIsSystemd reports whether systemd supervises this process as its
// child: NOTIFY_SOCKET is set and the parent's command name is systemd.
func parentIsSystemd() bool {
	if os.Getenv("NOTIFY_SOCKET") == "" || os.Getpid() == 1 {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", os.Getppid()))
	return err == nil && string(comm) == "systemd\n"
}

// processGone reports whether no trace of pid is left: not even a zombie,
// or a process whose threads are still exiting.
func processGone(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return errors.Is(err, os.ErrNotExist)
}

// watchSystemdChild waits for a child started by parentToSystemd to
// exit: it is not this process's child, so its parent (systemd) reaps it
// and this process only sees it gone (a pidfd, or polling where there is
// none).
func (c *osChild) watchSystemdChild() {
	pid := c.pidN
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		defer closeFd(fd)
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
