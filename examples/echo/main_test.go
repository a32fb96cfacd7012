//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
