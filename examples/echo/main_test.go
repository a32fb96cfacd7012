//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/graceful"
	"github.com/gracekit/gracekit/internal/exampletest"
	"github.com/gracekit/gracekit/internal/proctest"
)

// These tests build the example and drive it from outside: raw TCP and
// UDP clients that never retry, 20 restarts in each process mode.

// clients runs TCP and UDP echo clients until stopped and counts.
type clients struct {
	tcpOK, tcpFailed, udpSent, udpAnswered atomic.Int64
	pids                                   sync.Map
	mu                                     sync.Mutex
	errs                                   []string
	stop                                   chan struct{}
	wg                                     sync.WaitGroup
}

func (c *clients) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 10 {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

func startClients(tcpAddr, udpAddr string) *clients {
	c := &clients{stop: make(chan struct{})}
	for i := range 2 {
		c.wg.Go(func() { // a new TCP connection per exchange
			for n := 0; ; n++ {
				select {
				case <-c.stop:
					return
				default:
				}
				line := fmt.Sprintf("tcp client %d line %d", i, n)
				got, err := tcpExchange(tcpAddr, line)
				if err != nil || !strings.HasSuffix(got, " "+line) {
					c.tcpFailed.Add(1)
					c.fail("tcp: %q %v", got, err)
					continue
				}
				c.tcpOK.Add(1)
				c.record(got)
			}
		})
	}
	c.wg.Go(func() { // one datagram at a time
		conn, err := net.Dial("udp", udpAddr)
		if err != nil {
			c.fail("udp dial: %v", err)
			return
		}
		defer conn.Close()
		buf := make([]byte, 1024)
		for n := 0; ; n++ {
			select {
			case <-c.stop:
				return
			default:
			}
			msg := fmt.Sprintf("datagram %d", n)
			if _, err := conn.Write([]byte(msg)); err != nil {
				c.fail("udp write: %v", err)
				continue
			}
			c.udpSent.Add(1)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				k, err := conn.Read(buf)
				if err != nil {
					c.fail("udp %q unanswered: %v", msg, err)
					break
				}
				if got := string(buf[:k]); strings.HasSuffix(got, " "+msg) {
					c.udpAnswered.Add(1)
					c.record(got)
					break
				}
				// An answer to an earlier datagram: keep reading.
			}
		}
	})
	return c
}

func (c *clients) record(answer string) {
	if pid, _, ok := strings.Cut(strings.TrimPrefix(answer, "pid="), " "); ok {
		c.pids.Store(pid, true)
	}
}

func (c *clients) end() { close(c.stop); c.wg.Wait() }

func tcpExchange(addr, line string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "%s\n", line); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func TestEchoAcrossRestarts(t *testing.T) {
	bin := exampletest.Build(t, "echo")
	proctest.BecomeSubreaper()
	for _, mode := range []string{"reexec", "supervisor"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			httpAddr, tcpAddr, udpAddr := exampletest.FreeAddr(t, "tcp"), exampletest.FreeAddr(t, "tcp"), exampletest.FreeAddr(t, "udp")
			conf := filepath.Join(dir, "echo.yaml")
			if err := os.WriteFile(conf, []byte("process:\n  mode: "+mode+"\n  probation: 0s\nlog:\n  level: warn\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			pidFile := filepath.Join(dir, "echo.pid")
			g := proctest.Start(t, proctest.Options{Name: "echo", Argv: []string{bin, "-addr", httpAddr, "-tcp", tcpAddr, "-udp", udpAddr, "-pidfile", pidFile, "-config", conf}})

			serving := exampletest.WaitPID(t, httpAddr, 0, g.Logs)
			c := startClients(tcpAddr, udpAddr)
			const restarts = 20
			for range restarts {
				exampletest.Signal(t, exampletest.PIDFile(t, pidFile), syscall.SIGHUP)
				next := exampletest.WaitPID(t, httpAddr, serving, g.Logs)
				g.WaitGone(serving, 30*time.Second)
				serving = next
			}
			c.end()
			generations := 0
			c.pids.Range(func(any, any) bool { generations++; return true })
			t.Logf("%s: %d restarts; TCP %d exchanges on new connections, %d failed; UDP %d datagrams sent, %d answered; answers came from %d processes",
				mode, restarts, c.tcpOK.Load(), c.tcpFailed.Load(), c.udpSent.Load(), c.udpAnswered.Load(), generations)
			if c.tcpFailed.Load() > 0 || c.udpAnswered.Load() != c.udpSent.Load() {
				t.Errorf("lost: %v", c.errs)
			}
			if c.tcpOK.Load() == 0 || c.udpAnswered.Load() == 0 || generations < 2 {
				t.Errorf("the clients did not reach enough generations: TCP %d, UDP %d, %d processes", c.tcpOK.Load(), c.udpAnswered.Load(), generations)
			}
			exampletest.Signal(t, exampletest.PIDFile(t, pidFile), syscall.SIGTERM)
			if mode == "supervisor" {
				if st := g.WaitFirst(60 * time.Second); st != "exit status 0" {
					t.Errorf("supervisor exit: %s", st)
				}
			}
		})
	}
}

// TestTCPEchoAnswersTheLinesItHasReadBeforeItCloses: a connection whose
// client has sent two lines in one write, as the drain begins, gets both
// answers before it is closed; closing after the first would throw the
// second away, read but unanswered, with a clean FIN the client cannot
// tell from an answer that never had to come.
func TestTCPEchoAnswersTheLinesItHasReadBeforeItCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &tcpEcho{pid: 7, grace: 10 * time.Second, ln: ln, conns: map[net.Conn]struct{}{}}
	served := make(chan error, 1)
	go func() { served <- e.Serve(context.Background()) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	exchange := func(send string, want ...string) {
		t.Helper()
		if _, err := c.Write([]byte(send)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for _, w := range want {
			if got, err := br.ReadString('\n'); err != nil || got != w {
				t.Fatalf("answer %q, %v; want %q", got, err, w)
			}
		}
	}
	// The connection is served: its handler waits for its first line
	// (it looks at the drain only after an answer).
	for {
		e.mu.Lock()
		n := len(e.conns)
		e.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	shut := make(chan error, 1)
	go func() { shut <- e.Shutdown(context.Background()) }()
	for {
		e.mu.Lock()
		draining := e.draining
		e.mu.Unlock()
		if draining {
			break
		}
		time.Sleep(time.Millisecond)
	}
	exchange("a\nb\n", "pid=7 a\n", "pid=7 b\n")
	if _, err := br.ReadString('\n'); err != io.EOF {
		t.Errorf("after the answers: %v, want the connection closed", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil && !errors.Is(err, graceful.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}
