package proc

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// WaitExit waits until pid has exited (it may still be an unreaped
// zombie) or timeout passes, through a pidfd that becomes readable on
// exit. It reports whether the process exited; a pid that no longer
// exists counts as exited.
func WaitExit(pid int, timeout time.Duration) (bool, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("proc: pidfd of %d: %w", pid, err)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("proc: polling pidfd of %d: %w", pid, err)
		}
		if n > 0 {
			return true, nil
		}
	}
}

// Alive reports whether pid exists and has not exited.
func Alive(pid int) bool {
	p, err := Stat(pid)
	return err == nil && !p.Zombie()
}
