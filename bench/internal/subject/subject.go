// Package subject describes the servers the bench compares and runs one
// of them as a live instance: its own copy of the binary (so a scenario
// can install a broken release without touching the others), a fixed
// loopback port, a PID file, a config file, and a process tree under the
// reaper.
package subject

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gracekit/gracekit/bench/internal/proc"
	"github.com/gracekit/gracekit/bench/internal/subjectcfg"
	"github.com/gracekit/gracekit/bench/internal/tree"
)

// Spec describes a subject.
type Spec struct {
	// Name labels the subject in the results.
	Name string
	// Bin is the built binary.
	Bin string
	// Restartable is true for subjects that restart on SIGHUP.
	Restartable bool
	// ConfigFlag is true when the subject takes -config FILE.
	ConfigFlag bool
	// Extra are further arguments, after the shared ones.
	Extra []string
	// ValidConfig and InvalidConfig are config file contents that the
	// subject accepts and refuses at start.
	ValidConfig, InvalidConfig string
	// TLS, when set, is the client configuration of the bench's probes:
	// the subject serves HTTPS (Extra carries its certificate flags).
	TLS *tls.Config
	// Servers, when above 1, makes the subject serve that many servers,
	// on consecutive ports from its address on (-servers N).
	Servers int
}

// Args returns the command line every subject shares: -addr, -pidfile
// and, when the subject has it, -config.
func (s Spec) Args(addr, pidFile, config string) []string {
	args := []string{"-addr", addr, "-pidfile", pidFile}
	if s.ConfigFlag {
		args = append(args, "-config", config)
	}
	if s.Servers > 1 {
		args = append(args, "-servers", strconv.Itoa(s.Servers))
	}
	return append(args, s.Extra...)
}

// HasFlag reports whether the program bin lists flag (like "-config") in
// its -h usage text.
func HasFlag(bin, flag string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == flag {
			return true
		}
	}
	return false
}

// Instance is a running subject.
type Instance struct {
	Spec
	// Dir holds the instance's files; Exe is its copy of the binary.
	Dir, Exe string
	// Addr is the loopback host:port it serves.
	Addr             string
	PIDFile, Config  string
	Log              string
	Tree             *tree.Tree
	goodBin, goodCfg string
}

// FreePort returns a loopback address with a port that was free a moment
// ago.
func FreePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("picking a port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// FreePorts returns the loopback address of the first of n consecutive
// ports that were all free a moment ago.
func FreePorts(n int) (string, error) {
	if n <= 1 {
		return FreePort()
	}
	for try := 0; try < 50; try++ {
		base := 20000 + rand.IntN(40000-n)
		var lns []net.Listener
		for i := range n {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			_ = ln.Close()
		}
		if len(lns) == n {
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(base)), nil
		}
	}
	return "", fmt.Errorf("no %d consecutive free ports found", n)
}

// Launch starts spec under the reaper in a new directory below workDir and
// waits until it serves.
func Launch(spec Spec, workDir, reaperBin string) (*Instance, error) {
	dir, err := os.MkdirTemp(workDir, spec.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", spec.Name, err)
	}
	addr, err := FreePorts(spec.Servers)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", spec.Name, err)
	}
	in := &Instance{
		Spec: spec, Dir: dir, Exe: filepath.Join(dir, "server"), Addr: addr,
		PIDFile: filepath.Join(dir, "server.pid"), Config: filepath.Join(dir, "config.yaml"),
		Log: filepath.Join(dir, "server.log"), goodBin: spec.Bin, goodCfg: spec.ValidConfig,
	}
	if err := copyFile(spec.Bin, in.Exe); err != nil {
		return nil, fmt.Errorf("launch %s: %w", spec.Name, err)
	}
	if err := writeAtomic(in.Config, []byte(spec.ValidConfig)); err != nil {
		return nil, fmt.Errorf("launch %s: %w", spec.Name, err)
	}
	argv := append([]string{in.Exe}, spec.Args(addr, in.PIDFile, in.Config)...)
	t, err := tree.Start(reaperBin, in.Log, argv)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", spec.Name, err)
	}
	in.Tree = t
	if _, err := in.WaitServing(0, 15*time.Second); err != nil {
		_ = in.Close()
		return nil, fmt.Errorf("launch %s: %w (log: %s)", spec.Name, err, in.LogTail(5))
	}
	return in, nil
}

// Addrs returns every address the instance serves: Addr, and with
// Servers above 1 the ports that follow it.
func (in *Instance) Addrs() []string {
	addrs, err := subjectcfg.Addrs(in.Addr, max(in.Servers, 1))
	if err != nil {
		return []string{in.Addr}
	}
	return addrs
}

// PIDFromFile reads the instance's PID file.
func (in *Instance) PIDFromFile() (int, error) {
	data, err := os.ReadFile(in.PIDFile)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", in.PIDFile, err)
	}
	return pid, nil
}

// WaitServing polls the PID file and GET / until a live process of the
// tree, other than notPID, is named by the PID file and answers 200 with
// its own pid. It gives up after timeout.
func (in *Instance) WaitServing(notPID int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for n := 0; time.Now().Before(deadline) && n < 100_000; n++ {
		pid, err := in.PIDFromFile()
		switch {
		case err != nil:
			last = err
		case pid == notPID:
			last = fmt.Errorf("the pid file still names %d", pid)
		case !in.Tree.Contains(pid):
			last = fmt.Errorf("pid file names %d, which is not a live process of the subject", pid)
		default:
			if code, body, err := getRoot(in.Addr, in.TLS); err != nil {
				last = err
			} else if got := parsePID(body); code == 200 && got == pid {
				return pid, nil
			} else {
				last = fmt.Errorf("GET / answered %d from pid %d, pid file says %d", code, got, pid)
			}
		}
		time.Sleep(2 * time.Millisecond) // polling interval, bounded by deadline
	}
	return 0, fmt.Errorf("%s not serving within %s: %v", in.Name, timeout, last)
}

// Signal sends sig to pid, a process of this instance.
func (in *Instance) Signal(pid int, sig syscall.Signal) error {
	return in.Tree.Signal(pid, sig)
}

// InstallBinary replaces the instance's binary with path, atomically, as
// a deployment of a new release would; the next restart runs it.
func (in *Instance) InstallBinary(path string) error {
	tmp := in.Exe + ".new"
	if err := copyFile(path, tmp); err != nil {
		return fmt.Errorf("installing %s: %w", path, err)
	}
	if err := os.Rename(tmp, in.Exe); err != nil {
		return fmt.Errorf("installing %s: %w", path, err)
	}
	return nil
}

// FaultPIDs returns the pids the fault stand-ins announced in the
// instance's directory (see subjects/fault).
func (in *Instance) FaultPIDs() []int {
	data, err := os.ReadFile(filepath.Join(in.Dir, "fault-events"))
	if err != nil {
		return nil
	}
	var out []int
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if pid, err := strconv.Atoi(f[0]); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// RestoreBinary installs the subject's own binary again.
func (in *Instance) RestoreBinary() error { return in.InstallBinary(in.goodBin) }

// WriteConfig replaces the config file atomically.
func (in *Instance) WriteConfig(content string) error {
	return writeAtomic(in.Config, []byte(content))
}

// RestoreConfig writes the valid config again.
func (in *Instance) RestoreConfig() error { return in.WriteConfig(in.goodCfg) }

// StopReport tells how a stop went.
type StopReport struct {
	// Clean is true when every process of the tree exited on its own
	// after SIGTERM, within the timeout.
	Clean bool
	// Leftover lists the processes still alive at the timeout, which the
	// reaper then killed.
	Leftover []proc.Proc
	// Took is the time from SIGTERM to the last exit.
	Took time.Duration
}

// Stop sends SIGTERM to the serving process, waits up to timeout for the
// whole tree to exit, and then closes the tree (killing what is left).
func (in *Instance) Stop(timeout time.Duration) StopReport {
	var r StopReport
	start := time.Now()
	if pid, err := in.PIDFromFile(); err == nil && in.Tree.Contains(pid) {
		_ = in.Signal(pid, syscall.SIGTERM)
	} else {
		_ = in.Signal(in.Tree.First, syscall.SIGTERM)
	}
	deadline := start.Add(timeout)
	for n := 0; n < 1_000_000; n++ {
		live, err := in.Tree.Live()
		if err == nil && len(live) == 0 {
			r.Clean, r.Took = true, time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			r.Leftover, r.Took = live, time.Since(start)
			break
		}
		time.Sleep(5 * time.Millisecond) // polling interval, bounded by deadline
	}
	_ = in.Close()
	return r
}

// Close kills whatever is left of the instance and reaps it.
func (in *Instance) Close() error {
	if in.Tree == nil {
		return nil
	}
	return in.Tree.Close(10 * time.Second)
}

// LogTail returns the last n lines of the subject's output.
func (in *Instance) LogTail(n int) string {
	data, err := os.ReadFile(in.Log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
