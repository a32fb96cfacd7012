//go:build unix

package graceful

import (
	"fmt"
	"syscall"
)

// beforeBind runs on the new socket before bind(2): on Linux the file that
// bind creates takes its mode from the socket (less the umask), so the
// socket starts with the owner's bits only. Nobody else can connect until
// apply has set the group and then the full mode.
func (p socketPerm) beforeBind(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = syscall.Fchmod(int(fd), uint32(p.finalMode()&0o700))
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("set the unix socket's mode before binding: %w", err)
	}
	return nil
}
