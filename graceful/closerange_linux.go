package graceful

import "golang.org/x/sys/unix"

// closeRangeCloexec marks the descriptors from first on close-on-exec in
// one system call (Linux 5.11 and later).
func closeRangeCloexec(first int) error {
	return unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}
