package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// steadyChildEnv, in a process's environment, makes it a steady client
// (see RunSteadyChildIfAsked): "addr|interval|ca", ca the PEM file of the
// certificate to trust for TLS, empty for plain HTTP.
const steadyChildEnv = "GRACEKIT_BENCH_STEADY_CLIENT"

// StartSteadyProcess runs a SteadyClient in a process of its own, the
// running executable started again with steadyChildEnv set (its main
// must call RunSteadyChildIfAsked first), until ctx ends. The latencies
// are then those of the server and the kernel, not of this process's Go
// scheduler: with thousands of idle clients reconnecting here at once, a
// steady client in this process waits its turn among them. caFile, when
// not empty, is the certificate the client trusts: it speaks TLS
// (HTTP/1.1 only). Call Wait after ctx ends.
func StartSteadyProcess(ctx context.Context, addr, caFile string, interval time.Duration) (*SteadyClient, error) {
	if _, child := os.LookupEnv(steadyChildEnv); child {
		// A program that did not call RunSteadyChildIfAsked would start
		// itself again and again.
		return nil, errors.New("steady client process: this process is one already; its main must call RunSteadyChildIfAsked first")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("steady client process: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), steadyChildEnv+"="+strings.Join([]string{addr, interval.String(), caFile}, "|"))
	cmd.Stderr = os.Stderr
	// The child stops when its standard input ends: at ctx's end, or
	// when this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("steady client process: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("steady client process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("steady client process: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = stdin.Close() })
	c := &SteadyClient{}
	c.wg.Go(func() {
		defer stop()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r, err := parseSteadyRecord(sc.Text())
			if err != nil {
				r = SteadyRequest{Due: time.Now(), Err: "steady client process: " + err.Error()}
			}
			c.mu.Lock()
			c.reqs = append(c.reqs, r)
			c.mu.Unlock()
		}
		if err := sc.Err(); err != nil {
			c.mu.Lock()
			c.reqs = append(c.reqs, SteadyRequest{Due: time.Now(), Err: "steady client process: read: " + err.Error()})
			c.mu.Unlock()
			// Keep reading, so that the child never blocks on a full pipe.
			_, _ = io.Copy(io.Discard, stdout)
		}
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			c.mu.Lock()
			c.reqs = append(c.reqs, SteadyRequest{Due: time.Now(), Err: "steady client process: " + err.Error()})
			c.mu.Unlock()
		}
	})
	return c, nil
}

// RunSteadyChildIfAsked makes this process a steady client when
// StartSteadyProcess started it: it sends requests until its standard
// input ends, writes one line per request to its standard output, and
// exits. Otherwise it returns at once.
func RunSteadyChildIfAsked() {
	spec, ok := os.LookupEnv(steadyChildEnv)
	if !ok {
		return
	}
	// The parent stops it (its standard input ends); a Ctrl-C in the
	// terminal is the parent's to handle.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	if err := runSteadyChild(spec, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "steady client process:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runSteadyChild(spec string, in io.Reader, out io.Writer) error {
	parts := strings.Split(spec, "|")
	if len(parts) != 3 {
		return fmt.Errorf("%s=%q: want addr|interval|ca", steadyChildEnv, spec)
	}
	interval, err := time.ParseDuration(parts[1])
	if err != nil || interval <= 0 {
		return fmt.Errorf("%s: interval %q: want a positive duration", steadyChildEnv, parts[1])
	}
	var cfg *tls.Config
	if parts[2] != "" {
		pem, err := os.ReadFile(parts[2])
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no certificate in it", parts[2])
		}
		cfg = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()
	c := &SteadyClient{out: make(chan SteadyRequest, 1024)}
	c.wg.Go(func() { c.loop(ctx, parts[0], cfg, interval, false) })
	c.wg.Go(func() { c.loop(ctx, parts[0], cfg, interval, true) })
	go func() {
		c.wg.Wait()
		close(c.out)
	}()
	w := bufio.NewWriter(out)
	for r := range c.out {
		fmt.Fprintln(w, formatSteadyRecord(r))
		// Each record goes out as it is made: the parent reads the
		// requests of a wave as soon as they are answered.
		if len(c.out) == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return w.Flush()
}

// A record is "due-unix-nanoseconds latency-nanoseconds keep-alive ok
// error", the flags 0 or 1, the error last as it may hold spaces.
func formatSteadyRecord(r SteadyRequest) string {
	msg := strings.ReplaceAll(r.Err, "\n", " ")
	if len(msg) > maxRecordErr {
		msg = msg[:maxRecordErr]
	}
	return fmt.Sprintf("%d %d %d %d %s", r.Due.UnixNano(), r.Latency, b2i(r.KeepAlive), b2i(r.OK), msg)
}

// maxRecordErr bounds a record's error, well within the parent's line
// limit.
const maxRecordErr = 1000

func parseSteadyRecord(line string) (SteadyRequest, error) {
	f := strings.SplitN(line, " ", 5)
	if len(f) != 5 {
		return SteadyRequest{}, fmt.Errorf("bad record %q", line)
	}
	var n [4]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return SteadyRequest{}, fmt.Errorf("bad record %q: %w", line, err)
		}
		n[i] = v
	}
	if n[2] > 1 || n[3] > 1 || n[2] < 0 || n[3] < 0 {
		return SteadyRequest{}, errors.New("bad record flags: " + line)
	}
	return SteadyRequest{Due: time.Unix(0, n[0]), Latency: time.Duration(n[1]), KeepAlive: n[2] == 1, OK: n[3] == 1, Err: f[4]}, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
