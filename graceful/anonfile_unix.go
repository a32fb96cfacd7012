//go:build unix && !linux

package graceful

import (
	"os"

	"golang.org/x/sys/unix"
)

// anonFile makes a file with no name (close-on-exec).
func anonFile() (int, error) {
	f, err := os.CreateTemp("", "gracekit-supervisor-state-*")
	if err != nil {
		return -1, err
	}
	defer f.Close()
	_ = os.Remove(f.Name())
	return unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
}
