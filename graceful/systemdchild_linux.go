package graceful

import (
	"errors"
	"fmt"
	"os"
	"strings"
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

// containerParent says why this process's exit would end its container,
// or "" when it would not: its parent is outside its PID namespace
// (getppid is 0: it is the main process of a container, as in a
// Kubernetes pod that shares its PID namespace), or its parent is PID 1
// and a container init that exits with its child (tini, which docker run
// --init runs as docker-init, dumb-init, catatonit, which podman run
// --init runs). A PID 1 that is systemd, or any other init, is not one.
func containerParent() string {
	switch os.Getppid() {
	case 0:
		return "its parent is outside its PID namespace: it is the main process of its container, which ends when it exits"
	case 1:
		comm, err := os.ReadFile("/proc/1/comm")
		if err != nil {
			return ""
		}
		switch name := strings.TrimSpace(string(comm)); name {
		case "tini", "tini-static", "docker-init", "dumb-init", "catatonit":
			return fmt.Sprintf("its parent is PID 1, %s, a container init that ends the container when its child exits", name)
		}
	}
	return ""
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
