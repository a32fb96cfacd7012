//go:build !unix

package graceful

import (
	"net"
	"os"
)

// Fd returns 0 on platforms without Unix descriptor passing (Windows):
// listening sockets cannot be handed to a child process there, so
// restarts are not supported. Graceful shutdown works as on Unix.
func (s *Server) Fd() uintptr {
	return 0
}

func adoptListener(fd int, _ string) (net.Listener, error) {
	return nil, errNoDescriptors
}

func fileListener(*os.File) (net.Listener, error)     { return nil, errNoDescriptors }
func filePacketConn(*os.File) (net.PacketConn, error) { return nil, errNoDescriptors }
func closeFd(int)                                     {}
func inspectSocket(int) (net.Addr, bool, error)       { return nil, false, errNoDescriptors }
func inheritable(int) error                           { return errNoDescriptors }
func markCloseOnExec(int)                             {}
func dupSocket(any) (int, error)                      { return -1, errNoDescriptors }

// socketOf keeps the socket just bound: without descriptor passing it is
// lent to its one server as it is.
func socketOf(c interface{ Close() error }, addr net.Addr, ep endpoint) (*socket, error) {
	return &socket{ep: ep, fd: -1, addr: addr, packet: ep.packet(), from: "bound", live: c}, nil
}

func dupFd(int) (int, error) { return -1, errNoDescriptors }
func waitEOF(int)            {}
func closeOnExecAbove()      {}

func statID(string) (fileID, error) { return fileID{}, errNoDescriptors }
func selfOrExe(exe string) string   { return exe }
