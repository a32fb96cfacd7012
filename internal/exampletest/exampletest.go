//go:build linux

// Package exampletest holds what the tests of the examples share: they
// build an example, run it in its own process group and drive it from
// outside.
package exampletest

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/loadgen"
	"github.com/gracekit/gracekit/internal/proctest"
)

// Build builds the package in the current directory into a temporary
// binary named name.
func Build(t testing.TB, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// OptionalTool returns the path of a command a test can use besides its
// own clients, or "" when it is not installed; the test then says so with
// t.Log and goes on without it. With GRACEKIT_REQUIRE_TOOLS=1 (as in CI) a
// missing tool fails the test instead.
func OptionalTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("GRACEKIT_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is required (GRACEKIT_REQUIRE_TOOLS=1) but missing: %v", name, err)
	}
	t.Logf("%s is not installed (%v): its part of this test is skipped; install it, or set GRACEKIT_REQUIRE_TOOLS=1 to make this a failure", name, err)
	return ""
}

// FreeAddr returns a loopback address of network ("tcp" or "udp") that
// was free a moment ago.
func FreeAddr(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// HTTPPID returns the PID in the "pid=<pid>" answer to GET / on a fresh
// connection, 0 when there is none.
func HTTPPID(addr string) int {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return loadgen.ParsePID(b)
}

// WaitPID waits until a process other than not answers on addr, and
// returns its PID; on timeout it fails with what logs returns.
func WaitPID(t testing.TB, addr string, not int, logs func() string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if pid := HTTPPID(addr); pid != 0 && pid != not {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no process other than %d answers\n%s", not, logs())
	return 0
}

// Alive reports whether pid runs (a zombie does not).
func Alive(pid int) bool {
	st, ok := proctest.ReadStat(pid)
	return ok && st.State != "Z"
}

// PIDFile waits until the PID file at path names a running process and
// returns its PID. A supervisor writes the file only once its first worker
// is ready, which can be after that worker answers; reading it too early
// must not yield 0, which kill(2) takes as "my whole process group".
func PIDFile(t testing.TB, path string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid > 1 && Alive(pid) {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("PID file %s names no running process (%q)", path, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Signal sends sig to the single process pid. It refuses pid <= 1: kill(2)
// reads 0 and negative PIDs as process groups and -1 as every process, and
// a test must never signal the group it runs in.
func Signal(t testing.TB, pid int, sig syscall.Signal) {
	t.Helper()
	if pid <= 1 {
		t.Fatalf("refusing to send %v to PID %d", sig, pid)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("send %v to %d: %v", sig, pid, err)
	}
}
