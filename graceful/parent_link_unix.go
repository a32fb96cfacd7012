//go:build unix

package graceful

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openParentLink checks the descriptors a handover names for the ready
// pipe and the parent's standard error, and keeps them from leaking into
// the app's own subprocesses.
func openParentLink(h handover) (*parentLink, error) {
	var st unix.Stat_t
	if err := unix.Fstat(h.ReadyFd, &st); err != nil {
		return nil, fmt.Errorf("ready pipe fd %d is not open: %w", h.ReadyFd, err)
	}
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFIFO {
		return nil, fmt.Errorf("ready pipe fd %d is not a pipe", h.ReadyFd)
	}
	unix.CloseOnExec(h.ReadyFd)
	if h.StderrFd > 0 {
		if err := unix.Fstat(h.StderrFd, &st); err != nil {
			return nil, fmt.Errorf("stderr fd %d is not open: %w", h.StderrFd, err)
		}
		unix.CloseOnExec(h.StderrFd)
	}
	return &parentLink{ready: os.NewFile(uintptr(h.ReadyFd), "ready pipe"), stderrFd: h.StderrFd}, nil
}

// switchStderr makes fd the process's standard error and closes fd.
func switchStderr(fd int) error {
	if err := unix.Dup2(fd, 2); err != nil {
		return err
	}
	return unix.Close(fd)
}

func closeFd(fd int) { _ = unix.Close(fd) }
