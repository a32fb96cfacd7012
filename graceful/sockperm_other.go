//go:build !unix

package graceful

import "syscall"

// beforeBind does nothing where sockets have no Unix file mode.
func (p socketPerm) beforeBind(_, _ string, _ syscall.RawConn) error { return nil }
