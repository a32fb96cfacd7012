//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
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

	"github.com/gracekit/gracekit/internal/exampletest"
	"github.com/gracekit/gracekit/internal/proctest"
)

// The example's command line is part of gracekit's contract: these tests
// build the binary and drive it as a user or a supervisor would.

func TestMain(m *testing.M) {
	proctest.BecomeSubreaper() // old generations are orphaned: reap them here
	os.Exit(m.Run())
}

// start runs the example with args in a process group of its own, which
// the test's cleanup kills and reaps.
func start(t *testing.T, bin string, args ...string) *proctest.Group {
	t.Helper()
	return proctest.Start(t, proctest.Options{Name: "reload", Argv: append([]string{bin}, args...)})
}

func get(addr string) (string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// waitServing waits until the PID file names a process other than not and
// that process answers.
func waitServing(t *testing.T, addr, pidFile string, not int, logs func() string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if pid := readPID(pidFile); pid != 0 && pid != not {
			if body, err := get(addr); err == nil && strings.HasPrefix(body, fmt.Sprintf("pid=%d ", pid)) {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no process other than %d serves on %s\n%s", not, addr, logs())
	return 0
}

func TestCheckMode(t *testing.T) {
	bin := exampletest.Build(t, "reload")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("server:\n  maxHeaderBytes: 1MiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("server:\n  readTimeout: -5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-config", good, "-addr", ":9999", "-t").CombinedOutput()
	if err != nil {
		t.Fatalf("-t on a valid file: %v\n%s", err, out)
	}
	for _, want := range []string{`address: ":9999"`, "maxHeaderBytes: 1.0 MiB", good + ":2"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("-t output lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(bin, "-config", bad, "-t").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), bad+":2: server.readTimeout") {
		t.Fatalf("-t on an invalid file: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "-nosuchflag").CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("unknown flag: %v\n%s", err, out)
	}
}

// TestItsOwnLinesNameItsPID: the generations of a restart write to one
// stream, so the program's own lines, such as the error Run returned,
// name the process as the library's lines do.
func TestItsOwnLinesNameItsPID(t *testing.T) {
	bin := exampletest.Build(t, "reload")
	pidFile := filepath.Join(t.TempDir(), "missing", "reload.pid")
	cmd := exec.Command(bin, "-addr", exampletest.FreeAddr(t, "tcp"), "-pidfile", pidFile)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("with the PID file in a missing directory: %v, want exit status 1\n%s", err, out.String())
	}
	want := fmt.Sprintf("pid=%d", cmd.Process.Pid)
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "stopped with an error") {
			if !strings.Contains(line, want) {
				t.Errorf("the program's own error line does not name its pid (%s):\n%s", want, line)
			}
			return
		}
	}
	t.Fatalf("no \"stopped with an error\" line:\n%s", out.String())
}

// TestRestartRereadsConfigAndSurvivesABadOne: a restart reads the file
// again; a file made invalid fails the new process, never the old one.
func TestRestartRereadsConfigAndSurvivesABadOne(t *testing.T) {
	bin := exampletest.Build(t, "reload")
	dir := t.TempDir()
	addr := exampletest.FreeAddr(t, "tcp")
	pidFile := filepath.Join(dir, "reload.pid")
	conf := filepath.Join(dir, "reload.yaml")
	write := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("process:\n  upgradeTimeout: 10s\n  readinessPath: /ready\n")
	g := start(t, bin, "-addr", addr, "-pidfile", pidFile, "-config", conf)
	first := waitServing(t, addr, pidFile, 0, g.Logs)

	write("server:\n  readTimeout: fast\n")
	exampletest.Signal(t, first, syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(g.Output(), "restart failed; still serving") {
		if time.Now().After(deadline) {
			t.Fatalf("the restart with a bad config did not fail:\n%s", g.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(g.Output(), `server.readTimeout: \"fast\" is not a duration`) {
		t.Errorf("the old process's log does not say why the new one failed:\n%s", g.Logs())
	}
	if body, err := get(addr); err != nil || !strings.HasPrefix(body, fmt.Sprintf("pid=%d ", first)) {
		t.Fatalf("after the failed restart: %q %v, want the first process", body, err)
	}

	write("process:\n  upgradeTimeout: 10s\n")
	exampletest.Signal(t, first, syscall.SIGHUP)
	second := waitServing(t, addr, pidFile, first, g.Logs)
	if st := g.WaitFirst(30 * time.Second); st != "exit status 0" {
		t.Errorf("the first process exited with %s after handing over, want exit status 0", st)
	}
	exampletest.Signal(t, second, syscall.SIGTERM)
	g.WaitGone(second, 30*time.Second)
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("PID file after the final stop: %v", err)
	}
}

// TestStreamSaysGoodbyeOnRestart: a hijacked /stream hears that its
// process drains, says goodbye and closes; the next generation serves.
func TestStreamSaysGoodbyeOnRestart(t *testing.T) {
	bin := exampletest.Build(t, "reload")
	addr := exampletest.FreeAddr(t, "tcp")
	pidFile := filepath.Join(t.TempDir(), "reload.pid")
	g := start(t, bin, "-addr", addr, "-pidfile", pidFile)
	first := waitServing(t, addr, pidFile, 0, g.Logs)

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /stream HTTP/1.1\r\nHost: test\r\nUpgrade: demo\r\nConnection: Upgrade\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "demo" {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, fmt.Sprintf("tick pid=%d ", first)) {
		t.Fatalf("first line %q %v", line, err)
	}
	exampletest.Signal(t, first, syscall.SIGHUP)
	var last string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		last = line
	}
	if want := fmt.Sprintf("bye pid=%d draining\n", first); last != want {
		t.Errorf("last line of the stream %q, want %q", last, want)
	}
	second := waitServing(t, addr, pidFile, first, g.Logs)
	if st := g.WaitFirst(30 * time.Second); st != "exit status 0" {
		t.Errorf("first generation exit: %s, want exit status 0", st)
	}
	exampletest.Signal(t, second, syscall.SIGTERM)
	g.WaitGone(second, 30*time.Second)
}
