package graceful

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// killHolder kills pid with SIGKILL if it holds the pipe whose read end
// is fd in this process (an older generation's lifeline: see lifeline),
// and returns an error otherwise, so that a PID that names some other
// process is never signalled. The check and the signal go through a
// pidfd opened first, so that a PID reused meanwhile is not hit either.
func killHolder(pid, fd int) error {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer closeFd(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("lifeline: %w", err)
	}
	want := fmt.Sprintf("pipe:[%d]", st.Ino)
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("descriptors of %d: %w", pid, err)
	}
	for _, e := range entries {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && target == want {
			return unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0)
		}
	}
	return fmt.Errorf("process %d does not hold the lifeline of an older generation: not killed", pid)
}
