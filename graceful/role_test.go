//go:build linux

package graceful

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/earlysignal"
	"github.com/gracekit/gracekit/internal/proctest"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// The tests of restarts run real processes: the test binary itself, which
// serves in a "role" when GRACEFUL_TEST_ROLE is set. The environment is
// inherited across restarts; what must change between restarts (crash,
// hang, invalid config) is read from the file named by
// GRACEFUL_TEST_BEHAVIOUR at start-up, as a real server reads its config.
const (
	envRole      = "GRACEFUL_TEST_ROLE"
	envGates     = "GRACEFUL_TEST_GATES" // directory of the test's gates (see cluster.gate)
	envAddr      = "GRACEFUL_TEST_ADDR"
	envPIDFile   = "GRACEFUL_TEST_PIDFILE"
	envBehaviour = "GRACEFUL_TEST_BEHAVIOUR"
	envTimeout   = "GRACEFUL_TEST_UPGRADE_TIMEOUT"
	envMaxGen    = "GRACEFUL_TEST_MAX_GENERATIONS"
	envDelay     = "GRACEFUL_TEST_SHUTDOWN_DELAY"
	envSignal    = "GRACEFUL_TEST_SIGNAL"
	envMode      = "GRACEFUL_TEST_MODE"
	// envProbation sets ProcessConfig.Probation; unset, it is 0 (off), so
	// that an old generation exits as soon as it has drained.
	envProbation = "GRACEFUL_TEST_PROBATION"
	// envListenFds is the LISTEN_FDS the activate role sets (1 unset).
	envListenFds = "GRACEFUL_TEST_LISTEN_FDS"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "":
		proctest.BecomeSubreaper()
	case "server":
		os.Exit(serverRole())
	case "activate":
		os.Exit(activateRole())
	default:
		fmt.Fprintf(os.Stderr, "unknown test role %q\n", os.Getenv(envRole))
		os.Exit(2)
	}
	goleak.VerifyTestMain(m)
}

// serverRole is a small gracekit server, like examples/reload, with hooks
// for the tests.
func serverRole() int {
	behaviour := "ok"
	if path := os.Getenv(envBehaviour); path != "" {
		if b, err := os.ReadFile(path); err == nil {
			behaviour = strings.TrimSpace(string(b))
		}
	}
	// Settings a new release may change, before the behaviour proper:
	// "json" logs in JSON, "signal=NAME" restarts on another signal.
	jsonLogs, restartSignal := false, os.Getenv(envSignal)
	for {
		first, rest, _ := strings.Cut(behaviour, " ")
		if first == "json" {
			jsonLogs = true
		} else if name, ok := strings.CutPrefix(first, "signal="); ok {
			restartSignal = name
		} else {
			break
		}
		behaviour = strings.TrimSpace(rest)
		if behaviour == "" {
			behaviour = "ok"
		}
	}
	var logger *slog.Logger
	if jsonLogs {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	addr := os.Getenv(envAddr)
	if a, ok := strings.CutPrefix(behaviour, "addr="); ok {
		// A new release that serves on another address.
		addr, behaviour = a, "ok"
	}
	if behaviour == "gated" {
		// A start that waits before NewProcess until the test opens the
		// gate, once the early catching has begun (internal/earlysignal
		// starts it on a goroutine; the kernel's SigCgt says nothing of
		// it, since the Go runtime installs its handler for SIGHUP at
		// start, and ends the process on a signal nobody asked for).
		<-earlysignal.Caught()
		fmt.Fprintf(os.Stderr, "test server: pid %d waits at the start gate\n", os.Getpid())
		if err := waitGate("start"); err != nil {
			fmt.Fprintln(os.Stderr, "test server:", err)
			return 1
		}
	}
	pcfg := DefaultProcessConfig()
	pcfg.Logger = logger
	pcfg.PIDFile = os.Getenv(envPIDFile)
	pcfg.ReadinessPath, pcfg.LivenessPath = "/ready", "/live"
	if d, err := time.ParseDuration(os.Getenv(envTimeout)); err == nil {
		pcfg.UpgradeTimeout = d
	}
	if d, err := time.ParseDuration(os.Getenv(envDelay)); err == nil {
		pcfg.ShutdownDelay = d
	}
	pcfg.Probation = 0
	if d, err := time.ParseDuration(os.Getenv(envProbation)); err == nil {
		pcfg.Probation = d
	}
	if n, err := strconv.Atoi(os.Getenv(envMaxGen)); err == nil {
		pcfg.MaxGenerations = n
	}
	if m := os.Getenv(envMode); m != "" {
		pcfg.Mode = RestartMode(m)
	}
	if name := restartSignal; name != "" {
		sig, err := SignalByName(name)
		if err != nil {
			logger.Error("bad signal", "error", err)
			return 1
		}
		pcfg.RestartSignal = sig
	}
	p, err := NewProcess(pcfg)
	if err != nil {
		logger.Error("NewProcess failed", "error", err)
		return 1
	}
	switch behaviour {
	case "crash":
		fmt.Fprintln(os.Stderr, "test server: crashing during start-up as asked")
		return 3
	case "badconfig":
		fmt.Fprintln(os.Stderr, "config.yaml:3: server.readTimeout: \"fast\" is not a duration")
		return 1
	case "hang":
		fmt.Fprintln(os.Stderr, "test server: hanging during start-up as asked")
		select {}
	case "stop":
		// A start-up that stops (SIGSTOP): SIGTERM does nothing to it.
		// Sent to this thread, not the process: a process-directed stop
		// is taken by whichever thread the kernel picks, and until that
		// one runs (milliseconds on a busy machine) this one goes on.
		runtime.LockOSThread()
		_ = syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGSTOP)
	case "crashafter":
		// A release that dies one second after it became ready.
		go func() {
			for !p.Stats().Ready {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(time.Second)
			fmt.Fprintln(os.Stderr, "test server: crashing one second after ready, as asked")
			os.Exit(3)
		}()
	}
	// The program's own handler of the restart signal, as an app that
	// reloads something on SIGHUP has: restarts must not unsubscribe it.
	var appHUP atomic.Int64
	hup := make(chan os.Signal, 16)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			appHUP.Add(1)
		}
	}()
	scfg := DefaultServerConfig()
	scfg.GracefulShutdownTimeout = 10 * time.Second
	// A load client stalled by a busy machine (the suite runs under
	// stress-ng too) may leave its keep-alive connection idle for a
	// while; closing it then races with its next request, as any HTTP/1.1
	// idle close does. The grace covers such stalls.
	scfg.IdleDrainGrace = 3 * time.Second
	scfg.IdleDrainGraceMin = scfg.IdleDrainGrace
	var srv *Server
	scfg.Handler = roleHandler(p, func() *Server { return srv }, &appHUP)
	srv, err = p.NewServer(addr, scfg)
	if err != nil {
		logger.Error("NewServer failed", "error", err)
		return 1
	}
	if behaviour == "gatedrun" {
		// Start-up done, not yet ready: the test can kill the parent here.
		if err := waitGate("run"); err != nil {
			logger.Error("gate", "error", err)
			return 1
		}
	}
	if err := p.Run(context.Background()); err != nil {
		logger.Error("Run failed", "error", err)
		return 1
	}
	return 0
}

// roleHandler serves the test endpoints.
func roleHandler(p *Process, server func() *Server, appSignals *atomic.Int64) http.Handler {
	pid := os.Getpid()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if g := r.URL.Query().Get("gate"); g != "" {
			// Held until the test opens the gate: a request that stays in
			// flight exactly as long as the test needs.
			if err := waitGate(g); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		if s := r.URL.Query().Get("sleep"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d > time.Minute {
				http.Error(w, "bad sleep", http.StatusBadRequest)
				return
			}
			time.Sleep(d)
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "pid=%d read=%d\n", pid, n)
	})
	mux.HandleFunc("/apphup", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, appSignals.Load())
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		st := p.Stats()
		st.Servers = nil
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("/inflight", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, server().Stats().InFlightRequests)
	})
	mux.HandleFunc("/fds", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, describeFds(listenerInode(server())))
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		for _, name := range []string{HandoverEnv, "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
			if v, ok := os.LookupEnv(name); ok {
				fmt.Fprintf(w, "%s=%s\n", name, v)
			}
		}
	})
	mux.HandleFunc("/orphan", func(w http.ResponseWriter, r *http.Request) {
		// The shell exits at once; its sleep is orphaned and re-parented
		// to the nearest reaper: PID 1 of the namespace.
		if err := exec.Command("/bin/sh", "-c", "sleep 0.05 &").Run(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "orphaned")
	})
	mux.HandleFunc("/restart", func(w http.ResponseWriter, r *http.Request) {
		if err := p.Restart(r.Context()); err != nil {
			http.Error(w, "restart: "+err.Error(), http.StatusConflict)
			return
		}
		fmt.Fprintf(w, "restarted by pid=%d\n", pid)
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
		_ = brw.Flush()
		go func() {
			defer conn.Close()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-Draining(r.Context()):
					fmt.Fprintf(conn, "bye from pid=%d\n", pid)
					return
				case <-tick.C:
					if _, err := fmt.Fprintf(conn, "tick pid=%d\n", pid); err != nil {
						return
					}
				}
			}
		}()
	})
	return mux
}

// waitGate blocks until the test opens the named gate (see cluster.gate).
func waitGate(name string) error {
	if strings.ContainsAny(name, "/.") {
		return fmt.Errorf("bad gate name %q", name)
	}
	// The marker tells the test which process waits here (the output of
	// a process that is starting is held by its parent).
	marker := filepath.Join(os.Getenv(envGates), name+".waiting")
	if err := os.WriteFile(marker, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return fmt.Errorf("gate %s: %w", name, err)
	}
	f, err := os.OpenFile(filepath.Join(os.Getenv(envGates), name), os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("gate %s: %w", name, err)
	}
	return f.Close()
}

// listenerInode returns the /proc/self/fd link of the server's listening
// socket.
func listenerInode(s *Server) string {
	s.mu.Lock()
	ln := s.rd.raw[0]
	s.mu.Unlock()
	return socketInode(ln)
}

// socketInode returns the /proc/self/fd link of ln's socket, or "".
func socketInode(ln net.Listener) string {
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		return ""
	}
	var st unix.Stat_t
	var statErr error
	if err := rc.Control(func(fd uintptr) { statErr = unix.Fstat(int(fd), &st) }); err != nil || statErr != nil {
		return ""
	}
	return fmt.Sprintf("socket:[%d]", st.Ino)
}

// descriptorsOf counts this process's descriptors of the socket whose
// /proc/self/fd link is inode.
func descriptorsOf(inode string) int {
	return strings.Count(describeFds(inode), " "+inode+"\n")
}

// describeFds lists the process's open descriptors above 2 with their
// close-on-exec flag, one per line: "fd cloexec|inherit target". Client
// connections come and go with the load and are left out; the listening
// socket (every descriptor of it) is in.
func describeFds(listener string) string {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return "error " + err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // the directory's own descriptor, closed by now
		}
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // a client connection closed since the listing
		}
		if strings.HasPrefix(target, "socket:") && target != listener {
			continue
		}
		state := "inherit"
		if flags&unix.FD_CLOEXEC != 0 {
			state = "cloexec"
		}
		fmt.Fprintf(&b, "%d %s %s\n", fd, state, target)
	}
	return b.String()
}

// activateRole plays systemd's socket activation: it sets LISTEN_PID to
// its own PID and replaces itself with the server role, which inherits
// fd 3 (the listener the test passed) and adopts it.
func activateRole() int {
	n := os.Getenv(envListenFds)
	if n == "" {
		n = "1"
	}
	env := []string{"LISTEN_PID=" + strconv.Itoa(os.Getpid()), "LISTEN_FDS=" + n, "LISTEN_FDNAMES=web", envRole + "=server"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envRole+"=") {
			env = append(env, kv)
		}
	}
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, env)
	}
	fmt.Fprintln(os.Stderr, "activate:", err)
	return 1
}
