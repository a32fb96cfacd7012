//go:build unix

package graceful

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// activationListeners adopts the sockets systemd passed by socket
// activation (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) and removes those
// variables from the environment. A passed descriptor that is not a
// listening stream socket is an error: the unit file and the program
// disagree, and guessing would serve the wrong socket.
func activationListeners(logger *slog.Logger) ([]inheritedListener, error) {
	files := activation.Files(true)
	var lns []inheritedListener
	for i, f := range files {
		fd := int(f.Fd())
		if err := checkListeningSocket(fd); err != nil {
			closeInherited(lns)
			for _, rest := range files[i:] {
				_ = rest.Close()
			}
			return nil, fmt.Errorf("passed socket %q: %w", f.Name(), err)
		}
		ln, err := net.FileListener(f)
		_ = f.Close()
		if err != nil {
			closeInherited(lns)
			for _, rest := range files[i+1:] {
				_ = rest.Close()
			}
			return nil, fmt.Errorf("passed socket %q: %w", f.Name(), err)
		}
		logger.Debug("adopted a socket from systemd", "name", f.Name(), "listening", formatAddr(ln.Addr()))
		lns = append(lns, inheritedListener{name: f.Name(), ln: ln, from: "systemd"})
	}
	return lns, nil
}

// sdNotify sends a state to systemd when NOTIFY_SOCKET is set, and does
// nothing otherwise. NOTIFY_SOCKET stays in the environment: the next
// generation needs it.
func sdNotify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

// monotonicUsec returns CLOCK_MONOTONIC in microseconds, which systemd
// requires with RELOADING=1 for Type=notify-reload.
func monotonicUsec() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "0"
	}
	return strconv.FormatInt(ts.Nano()/1000, 10)
}

// processAlive reports whether a process with that PID exists and has not
// exited. A zombie (exited, not yet reaped by whoever inherited it) is not
// alive: it serves nothing and holds no socket.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		// Gone between the two calls, or no procfs (then trust kill).
		_, noProc := os.Stat("/proc/self/stat")
		return noProc != nil
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain them.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}
