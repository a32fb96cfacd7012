package nspawn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options describe a boot.
type Options struct {
	Rootfs string   // from [Rootfs]
	BindRO []string // "HOST[:CONTAINER]" paths to bind-mount read-only
	// BootTimeout bounds the wait for systemctl is-system-running to say
	// running or degraded; 60s if zero.
	BootTimeout time.Duration
}

// Machine is a booted container.
type Machine struct {
	cmd    *exec.Cmd
	leader int // the container's PID 1, as the host sees it
	logBuf *syncBuffer
	exited chan struct{}
	once   sync.Once
	closed error
}

// syncBuffer is the console output of systemd-nspawn.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Boot boots o.Rootfs read-only under a writable tmpfs overlay
// (systemd-nspawn --volatile=overlay: every boot starts from the pristine
// tree, and nothing is written to it) in a session of its own, and returns once systemd in
// it reports running or degraded. The caller must Close the machine.
func Boot(ctx context.Context, o Options) (*Machine, error) {
	if o.BootTimeout == 0 {
		o.BootTimeout = 60 * time.Second
	}
	args := []string{"-b", "-D", o.Rootfs, "--volatile=overlay", "--register=no", "--keep-unit", "--console=read-only",
		"--machine=gracekit-" + strconv.Itoa(os.Getpid())}
	for _, b := range o.BindRO {
		args = append(args, "--bind-ro="+b)
	}
	// No context here: the container must outlive Boot's ctx; Close ends it.
	cmd := exec.Command("systemd-nspawn", args...)
	// A pure cgroup v2 tree in the container, whatever the host has.
	cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	m := &Machine{cmd: cmd, logBuf: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = m.logBuf, m.logBuf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("systemd-nspawn: %w", err)
	}
	go func() {
		_ = cmd.Wait()
		close(m.exited)
	}()

	deadline := time.Now().Add(o.BootTimeout)
	fail := func(err error) (*Machine, error) {
		_ = m.Close()
		return nil, fmt.Errorf("%w\nsystemd-nspawn output:\n%s", err, tail([]byte(m.logBuf.String()), 4000))
	}
	// The container's PID 1 is the child of systemd-nspawn named systemd.
	for m.leader == 0 {
		m.leader = childNamed(cmd.Process.Pid, "systemd")
		if m.leader != 0 {
			break
		}
		if err := m.pause(ctx, deadline, "the container's systemd to start"); err != nil {
			return fail(err)
		}
	}
	var state string
	for {
		out, _ := m.Run(ctx, "systemctl", "is-system-running")
		state = strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			return m, nil
		}
		if err := m.pause(ctx, deadline, "systemd to boot (is-system-running: "+state+")"); err != nil {
			return fail(err)
		}
	}
}

// pause waits a little before the next poll, or says why it gives up.
func (m *Machine) pause(ctx context.Context, deadline time.Time, what string) error {
	if time.Now().After(deadline) {
		return fmt.Errorf("nspawn: timed out waiting for %s", what)
	}
	select {
	case <-m.exited:
		return fmt.Errorf("nspawn: systemd-nspawn exited while waiting for %s", what)
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(50 * time.Millisecond):
		return nil
	}
}

// childNamed returns a child of parent whose command name is name, or 0.
func childNamed(parent int, name string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.TrimSpace(string(comm)) == name {
			return pid
		}
	}
	return 0
}

// Leader is the host PID of the container's PID 1.
func (m *Machine) Leader() int { return m.leader }

// Console is what systemd-nspawn and the container's console printed.
func (m *Machine) Console() string { return m.logBuf.String() }

// nsenter is the command that runs args inside the container.
func (m *Machine) nsenter(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(m.leader), "-m", "-u", "-i", "-n", "-p", "-C", "--"}, args...)...)
}

// Run runs a command in the container and returns its standard output and
// error, combined. A command that fails returns an error that includes
// the output.
func (m *Machine) Run(ctx context.Context, args ...string) (string, error) {
	out, err := m.nsenter(ctx, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// WriteFile writes a file in the container, creating its directory.
func (m *Machine) WriteFile(ctx context.Context, path string, data []byte, perm os.FileMode) error {
	cmd := m.nsenter(ctx, "sh", "-c", `mkdir -p "$(dirname "$1")" && cat >"$1" && chmod "$2" "$1"`, "sh", path, strconv.FormatUint(uint64(perm.Perm()), 8))
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("write %s in the container: %w: %s", path, err, bytes.TrimSpace(out))
	}
	return nil
}

// Close powers the container off and waits for systemd-nspawn to exit
// (which removes the ephemeral copy); after 30 seconds, or if poweroff
// fails, it kills the container's PID 1 and the session of
// systemd-nspawn. It is safe to call more than once.
func (m *Machine) Close() error {
	m.once.Do(func() {
		if m.leader != 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, _ = m.Run(ctx, "systemctl", "poweroff", "--no-block")
			cancel()
		} else {
			_ = m.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-m.exited:
		case <-time.After(30 * time.Second):
			m.closed = errors.New("nspawn: the container did not power off within 30s; killed")
			if m.leader != 0 {
				_ = syscall.Kill(m.leader, syscall.SIGKILL) // ends its PID namespace
			}
			// Its session (systemd-nspawn is not reaped yet, so the ID
			// cannot have been reused).
			_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			<-m.exited
		}
	})
	return m.closed
}

// BuildStatic builds a Go main package as a static binary (CGO_ENABLED=0, so it runs on the container's libc or
// none) into dir and returns its path.
func BuildStatic(ctx context.Context, pkg, dir string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}
