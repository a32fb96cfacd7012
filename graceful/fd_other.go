//go:build !unix

package graceful

import (
	"errors"
	"net"
	"os"
)

// errNoFdPassing is returned where Unix descriptor passing would be needed.
var errNoFdPassing = errors.New("listener descriptors cannot be inherited on this platform: not supported")

// Fd returns 0 on platforms without Unix descriptor passing (Windows):
// listening sockets cannot be handed to a child process there, so
// restarts are not supported. Graceful shutdown works as on Unix.
func (s *Server) Fd() uintptr {
	return 0
}

func dupListener(net.Listener) (*os.File, error) {
	return nil, errNoFdPassing
}

func adoptListener(fd int, _ string) (net.Listener, error) {
	return nil, errNoFdPassing
}
