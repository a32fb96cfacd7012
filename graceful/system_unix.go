//go:build unix

package graceful

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// inheritHandover takes what the parent handed over. Every descriptor the
// handover names must have come from exec (see inheritable); they are then
// made close-on-exec, so that the program's own subprocesses never get
// them.
func inheritHandover(h handover, logger *slog.Logger) (*link, []*socket, error) {
	// Each descriptor costs a few system calls; with hundreds of sockets
	// they are on the new generation's way to ready, so they are spread
	// over the processors.
	fds := h.fds()
	errs := make([]error, len(fds))
	concurrently(len(fds), func(i int) {
		if errs[i] = inheritable(fds[i]); errs[i] == nil {
			markCloseOnExec(fds[i])
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("%s names descriptors this process was not given: %w", HandoverEnv, err)
	}
	socks := make([]*socket, len(h.Sockets))
	errs = make([]error, len(h.Sockets))
	concurrently(len(h.Sockets), func(i int) {
		hs := h.Sockets[i]
		addr, packet, err := inspectSocket(hs.Fd)
		if err != nil {
			errs[i] = fmt.Errorf("socket %q handed over by the parent: %w", hs.Name, err)
			return
		}
		if !packet && h.Role != roleNameProcess {
			// A socket filter left by a worker that died in its final
			// shutdown would refuse every new connection. (A re-exec
			// parent hands over sockets it serves: none has one.)
			_ = listenAgain(hs.Fd)
		}
		socks[i] = &socket{name: hs.Name, fd: hs.Fd, addr: addr, packet: packet, from: "parent", fdName: hs.FdName}
	})
	fail := func(err error) (*link, []*socket, error) {
		for _, s := range socks {
			if s != nil {
				s.close()
			}
		}
		return nil, nil, err
	}
	for _, err := range errs {
		if err != nil {
			return fail(err)
		}
	}
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		for _, s := range socks {
			logger.Debug("inherited a socket", "name", s.name, "bound", formatAddr(s.addr), "from", "parent")
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(h.PipeFd, &st); err != nil || uint32(st.Mode)&unix.S_IFMT != unix.S_IFIFO {
		return fail(fmt.Errorf("stderr pipe fd %d is not a pipe", h.PipeFd))
	}
	l, err := openLink(h.LinkFd)
	if err != nil {
		return fail(err)
	}
	return l, socks, nil
}

// activationSockets takes the sockets systemd passed (LISTEN_FDS,
// LISTEN_PID, LISTEN_FDNAMES), socket activation's and the file-descriptor
// store's alike, and removes those variables from the environment. A
// passed descriptor that is neither a listening stream socket nor a bound
// datagram socket is an error: the unit file and the program disagree,
// and guessing would serve the wrong socket.
func activationSockets(logger *slog.Logger) ([]*socket, error) {
	if err := checkActivationFds(); err != nil {
		return nil, err
	}
	files := activation.Files(true)
	var socks []*socket
	var errs []error
	for i, f := range files {
		passed := activationFdsStart + i
		addr, packet, err := inspectSocket(passed)
		if err != nil {
			_ = f.Close()
			errs = append(errs, fmt.Errorf("passed socket %q: %w", f.Name(), err))
			continue
		}
		fd, err := unix.FcntlInt(uintptr(passed), unix.F_DUPFD_CLOEXEC, 0)
		_ = f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("passed socket %q (fd %d): %w", f.Name(), passed, err))
			continue
		}
		s := &socket{name: f.Name(), fd: fd, addr: addr, packet: packet, from: "systemd", fdName: f.Name()}
		if name, ok := fdStoreName(f.Name()); ok {
			s.name = name // one of ours, kept in the fd store
		}
		logger.Debug("inherited a socket", "name", s.name, "bound", formatAddr(addr), "from", "systemd", "fdname", f.Name())
		socks = append(socks, s)
	}
	if err := errors.Join(errs...); err != nil {
		for _, s := range socks {
			s.close()
		}
		return nil, err
	}
	return socks, nil
}

// activationFdsStart is the first descriptor of socket activation
// (SD_LISTEN_FDS_START).
const activationFdsStart = 3

// checkActivationFds checks, before activation.Files takes them, that
// the descriptors LISTEN_FDS names for this process were passed to it:
// open and not close-on-exec. A wrong count (a typing error, or a
// variable meant for another program) would otherwise have that package
// take and close descriptors this process opened itself, the Go
// runtime's poller among them, and the process would crash instead of
// saying what is wrong. Variables meant for another process (LISTEN_PID)
// or that do not parse are left to activation.Files, which ignores them.
func checkActivationFds() error {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil
	}
	for fd := activationFdsStart; fd < activationFdsStart+n; fd++ {
		if err := inheritable(fd); err != nil {
			return fmt.Errorf("LISTEN_FDS=%d names descriptors %d to %d, and %w; fix the service manager's socket settings or unset LISTEN_FDS and LISTEN_PID",
				n, activationFdsStart, activationFdsStart+n-1, err)
		}
	}
	return nil
}

// sdNotify sends a state to systemd when NOTIFY_SOCKET is set, and does
// nothing otherwise, with fds passed along (FDSTORE=1). NOTIFY_SOCKET
// stays in the environment: the next generation needs it.
func sdNotify(state string, fds ...int) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	} else if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("NOTIFY_SOCKET=%q is neither an absolute path nor an abstract socket", path)
	}
	fd, err := socketCloexec(unix.AF_UNIX, unix.SOCK_DGRAM)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer closeFd(fd)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(fd, []byte(state), oob, &unix.SockaddrUnix{Name: path}, 0); err != nil {
		return fmt.Errorf("sd_notify: send to %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	return nil
}

// sdBarrier waits until systemd has processed every message sent before
// (BARRIER=1: systemd closes the passed pipe's write end then), or until
// timeout. It returns at once without NOTIFY_SOCKET.
func sdBarrier(timeout time.Duration) error {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	pr, pw, err := pipeCloexec()
	if err != nil {
		return fmt.Errorf("sd_notify barrier: %w", err)
	}
	r := os.NewFile(uintptr(pr), "barrier")
	defer r.Close()
	err = sdNotify("BARRIER=1", pw)
	closeFd(pw)
	if err != nil {
		return err
	}
	_ = r.SetReadDeadline(time.Now().Add(timeout))
	var b [1]byte
	if _, err := r.Read(b[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil // EOF: systemd closed its copy
	} else if err != nil {
		return fmt.Errorf("sd_notify barrier: systemd did not answer within %s", timeout)
	}
	return nil
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

// processAlive reports whether a process with that PID runs. A zombie
// (exited, not yet reaped) does not: kill(pid, 0) would say it does.
func processAlive(pid int) bool {
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
			return s[i+2] != 'Z' && s[i+2] != 'X'
		}
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (osSystem) forkExec(exe string, args []string, attr *syscall.ProcAttr) (int, error) {
	return syscall.ForkExec(exe, args, attr)
}

func (osSystem) kill(pid int, sig syscall.Signal) error { return unix.Kill(pid, sig) }

// wait reaps the child pid (outside PID 1, where a reaper does it) and
// describes how it ended.
func (osSystem) wait(pid int) string {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err.Error()
		}
		return waitStatusString(ws)
	}
}

// pollChild reaps the child pid if it has exited, and says how it ended;
// running is true when pid is a child of this process that has not
// exited. For a PID that is no child of this one it returns "" and false.
func pollChild(pid int) (status string, running bool) {
	var ws unix.WaitStatus
	for {
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return "", false
		case got == 0:
			return "", true
		}
		return waitStatusString(ws), false
	}
}

func (osSystem) exec(exe string, args, env []string) error { return syscall.Exec(exe, args, env) }

// dupInheritable duplicates fd into a descriptor (3 or above) without
// close-on-exec, for a process image to come.
func dupInheritable(fd int) (int, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD, 3)
	if err != nil {
		return -1, fmt.Errorf("duplicate fd %d: %w", fd, err)
	}
	return dup, nil
}

func seekStart(fd int) error {
	_, err := unix.Seek(fd, 0, 0)
	return err
}

// readFull reads f into b until b is full or f ends.
func readFull(f *os.File, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := f.Read(b[n:])
		n += k
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
	return n, nil
}
