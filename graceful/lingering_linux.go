package graceful

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// killHolder kills pid with SIGKILL if it holds the pipe whose read end
// is fd in this process (an older generation's lifeline: see lifeline),
// and returns an error otherwise, so that a PID that names some other
// process is never signalled.
func killHolder(pid, fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("lifeline: %w", err)
	}
	err := killHolding(pid, fmt.Sprintf("pipe:[%d]", st.Ino))
	if errors.Is(err, errNotHolding) {
		return fmt.Errorf("process %d does not hold the lifeline of an older generation: not killed", pid)
	}
	return err
}

// errNotHolding: the process does not hold the descriptor killHolding
// looks for.
var errNotHolding = errors.New("not a holder")

// killHolding kills pid with SIGKILL if one of its descriptors is want
// (as /proc shows it, "pipe:[inode]"), and returns errNotHolding if
// none is. The check and the signal go through a pidfd opened first, so
// that a PID reused meanwhile is not hit.
func killHolding(pid int, want string) error {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer closeFd(pfd)
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
	return errNotHolding
}

// killLeftovers kills every process but this one that holds the socket
// whose inode is ino: the child's end of the link of a child that failed
// to start, which only that child and what it started hold. A wrapper
// script that runs a program without exec, or a program that starts
// another before it fails, leaves processes that inherited the child's
// descriptors, the listening sockets among them; they would keep those
// sockets open, accepting connections nobody serves, after every
// generation has exited. It returns how many it killed.
func killLeftovers(ino uint64) int {
	if ino == 0 {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	want := fmt.Sprintf("socket:[%d]", ino)
	self := os.Getpid()
	killed := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if killHolding(pid, want) == nil {
			killed++
		}
	}
	return killed
}
