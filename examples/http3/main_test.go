//go:build linux

package main

// These tests run the example as a real process group, restart it with
// real signals, and judge it with HTTP/3 clients nobody here wrote: curl
// --http3-only (Debian trixie's, run by chroot in the root file system
// internal/nspawn caches), gtlsclient (Debian's ngtcp2-client) and
// headless Chromium forced onto QUIC. None of them retries. A missing
// tool skips its test, and fails it under GRACEKIT_REQUIRE_TOOLS=1.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	qhttp3 "github.com/quic-go/quic-go/http3"
	"golang.org/x/sys/unix"
)

var binary string

func TestMain(m *testing.M) {
	// Orphans of the server (a re-exec generation whose parent exited)
	// are reaped here, not by a slow PID 1.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	dir, err := os.MkdirTemp("", "gracekit-http3-example-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "http3")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// need skips the test when a tool is missing, or fails it under
// GRACEKIT_REQUIRE_TOOLS=1.
func need(t *testing.T, what, why string) {
	t.Helper()
	msg := fmt.Sprintf("%s is missing (%s)", what, why)
	if os.Getenv("GRACEKIT_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg + " and GRACEKIT_REQUIRE_TOOLS=1")
	}
	t.Skip(msg)
}

// trixieRoot returns the trixie root file system with curl 8.14.1, whose
// curl has HTTP/3.
func trixieRoot(t *testing.T) string {
	dir := os.Getenv("GRACEKIT_NSPAWN_ROOTFS")
	if dir == "" {
		dir = "/var/cache/gracekit/nspawn-trixie"
	}
	if _, err := os.Stat(filepath.Join(dir, "usr/bin/curl")); err != nil {
		need(t, "curl with HTTP/3", "the trixie root file system in "+dir+", built by internal/nspawn (go test ./examples/systemd as root)")
	}
	if os.Geteuid() != 0 {
		need(t, "root", "chroot into "+dir)
	}
	return dir
}

func lookTool(t *testing.T, name, pkg string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		need(t, name, "apt-get install "+pkg)
	}
	return p
}

// server is the example running as a process group.
type server struct {
	t       *testing.T
	dir     string
	addr    string
	pidfile string
	cmd     *exec.Cmd
	log     *os.File
	certPEM []byte
	spki    string
	// timeout bounds a client's request (20s unless a test sets less).
	timeout time.Duration
}

func freePort(t *testing.T) int {
	t.Helper()
	// A port free on TCP and on UDP.
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no port free on both TCP and UDP")
	return 0
}

func start(t *testing.T, mode string, extra ...string) *server {
	t.Helper()
	return startProbation(t, mode, "0s", extra...)
}

// startProbation starts the example with the given probation of an old
// generation after a restart.
func startProbation(t *testing.T, mode, probation string, extra ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), pidfile: filepath.Join(dir, "pid"), timeout: 20 * time.Second}
	s.writeCert()
	cfg := filepath.Join(dir, "h3.yaml")
	conf := fmt.Sprintf("process:\n  mode: %s\n  probation: %s\n  maxGenerations: 10\nserver:\n  idleDrainGrace: 500ms\n  gracefulShutdownTimeout: 30s\nlog:\n  level: info\n", mode, probation)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.log, err = os.Create(filepath.Join(dir, "log")); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-addr", s.addr, "-pidfile", s.pidfile, "-config", cfg,
		"-cert", filepath.Join(dir, "cert.pem"), "-key", filepath.Join(dir, "key.pem")}, extra...)
	s.cmd = exec.Command(binary, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.Env = cleanEnv()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	s.waitPID(0)
	return s
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GRACEKIT_") {
			env = append(env, kv)
		}
	}
	return env
}

// writeCert makes the certificate every generation serves, and its SPKI
// hash for Chromium's pin.
func (s *server) writeCert() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		s.t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		s.t.Fatal(err)
	}
	s.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(s.dir, "cert.pem"), s.certPEM, 0o600); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		s.t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(spki)
	s.spki = base64.StdEncoding.EncodeToString(sum[:])
}

// waitPID waits until the PID file names a live process other than not,
// and returns it: the readiness signal of a generation (re-exec mode) or
// of the supervisor.
func (s *server) waitPID(not int) int {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(s.pidfile)
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != not && syscall.Kill(pid, 0) == nil {
				return pid
			}
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no ready process in %s; log:\n%s", s.pidfile, s.logText())
	return 0
}

func (s *server) logText() string {
	b, _ := os.ReadFile(s.log.Name())
	return string(b)
}

var pidRe = regexp.MustCompile(`pid=(\d+)`)

// servingPID asks a fresh HTTP/3 connection which process answers.
func (s *server) servingPID(c *http.Client) int {
	s.t.Helper()
	resp, err := c.Get("https://" + s.addr + "/")
	if err != nil {
		s.t.Fatalf("GET: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := pidRe.FindSubmatch(b)
	if m == nil {
		s.t.Fatalf("answer without pid=: %q", b)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	return pid
}

var handedOverRe = regexp.MustCompile(`msg="handed over(; draining| to the new worker)"`)

// handovers counts the handovers the log reports so far: the old
// generation (re-exec mode) or the supervisor logs each once the new
// generation is ready and the old one begins to drain.
func (s *server) handovers() int {
	return len(handedOverRe.FindAllStringIndex(s.logText(), -1))
}

// restart sends the restart signal, waits until the log reports the
// handover, and then until a new connection is answered by a process
// other than old (the old generation stops taking new connections as its
// drain begins, just after the log line); it returns that process.
func (s *server) restart(old int) int {
	s.t.Helper()
	before := s.handovers()
	b, err := os.ReadFile(s.pidfile)
	if err != nil {
		s.t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s.handovers() > before {
			c := h3Client(s, nil)
			p := s.servingPID(c)
			c.CloseIdleConnections()
			if p != old {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no handover to a new generation after SIGHUP; log:\n%s", s.logText())
	return 0
}

func (s *server) stop() {
	if s.cmd.ProcessState == nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	// Everything of the group is gone, orphans included.
	for range 500 {
		if syscall.Kill(-s.cmd.Process.Pid, 0) != nil {
			break
		}
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		time.Sleep(10 * time.Millisecond)
	}
	s.log.Close()
	if s.t.Failed() {
		s.t.Logf("server log:\n%s", s.logText())
	}
}

// h3Client is a quic-go HTTP/3 client that trusts the server's
// certificate.
func h3Client(s *server, cache tls.ClientSessionCache) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.certPEM)
	tr := &qhttp3.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ClientSessionCache: cache},
		QUICConfig:      &quic.Config{},
	}
	if cache != nil {
		// Resume without 0-RTT: quic-go v0.65.0's client races with
		// itself (the race detector says so) when it sends 0-RTT.
		tr.Dial = func(ctx context.Context, addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Conn, error) {
			return quic.DialAddr(ctx, addr, tlsConf, conf)
		}
	}
	return &http.Client{Timeout: s.timeout, Transport: tr}
}

// tally counts the outcomes of a client's requests.
type tally struct {
	mu       sync.Mutex
	ok, fail int
	errs     []string
}

func (t *tally) add(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.ok++
		return
	}
	t.fail++
	if len(t.errs) < 10 {
		t.errs = append(t.errs, err.Error())
	}
}

// holdConnection runs, with loop, a client that keeps its QUIC
// connection (hc) and asks GET / again and again; the PIDs that answered
// it, in order, one entry for each change of PID, may be read once wg is
// done.
func holdConnection(ctx context.Context, wg *sync.WaitGroup, tl *tally, s *server, hc *http.Client) *[]int {
	var mu sync.Mutex
	var pids []int
	loop(ctx, wg, tl, func() error {
		resp, err := hc.Get("https://" + s.addr + "/")
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := pidRe.FindSubmatch(b); m != nil {
			p, _ := strconv.Atoi(string(m[1]))
			mu.Lock()
			if len(pids) == 0 || pids[len(pids)-1] != p {
				pids = append(pids, p)
			}
			mu.Unlock()
		}
		return err
	})
	return &pids
}

// loop runs one request after another until ctx ends.
func loop(ctx context.Context, wg *sync.WaitGroup, t *tally, one func() error) {
	wg.Go(func() {
		for ctx.Err() == nil {
			t.add(one())
		}
	})
}

func curlOnce(root, addr string, timeout time.Duration) error {
	cmd := exec.Command("chroot", root, "curl", "-sSkv", "--http3-only", "--max-time", strconv.Itoa(int(timeout/time.Second)), "https://"+addr+"/")
	var out, trace bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &trace
	err := cmd.Run()
	if err != nil || !bytes.HasPrefix(out.Bytes(), []byte("pid=")) || !bytes.Contains(out.Bytes(), []byte("HTTP/3")) {
		return fmt.Errorf("curl: %v: %q; trace:\n%s", err, out.Bytes(), trace.Bytes())
	}
	return nil
}

func gtlsOnce(dir, addr string, n int, timeout time.Duration) error {
	host, port, _ := net.SplitHostPort(addr)
	uri := fmt.Sprintf("/?g=%d", n)
	cmd := exec.Command("gtlsclient", "-q", "--exit-on-all-streams-close", fmt.Sprintf("--timeout=%ds", int(timeout/time.Second)), "--download="+dir, host, port, "https://"+addr+uri)
	out, err := cmd.CombinedOutput()
	body, rerr := os.ReadFile(filepath.Join(dir, uri[1:]))
	os.Remove(filepath.Join(dir, uri[1:]))
	if err != nil || rerr != nil || !bytes.HasPrefix(body, []byte("pid=")) {
		return fmt.Errorf("gtlsclient: %v %v: %q %q", err, rerr, out, body)
	}
	return nil
}

// download fetches ?bytes=n over a connection of its own and checks every
// byte; it returns the PID that served it. started receives that PID as
// soon as the first line of the body has arrived.
func download(s *server, n int, started chan<- int) (int, error) {
	defer close(started)
	c := h3Client(s, nil)
	defer c.CloseIdleConnections()
	resp, err := c.Get(fmt.Sprintf("https://%s/?bytes=%d", s.addr, n))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	head, err := br.ReadBytes('\n')
	m := pidRe.FindSubmatch(head)
	if err != nil || m == nil {
		return 0, fmt.Errorf("first line %q: %v", head, err)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	started <- pid
	rest, err := io.ReadAll(br)
	if err != nil {
		return 0, fmt.Errorf("after %d bytes: %w", len(head)+len(rest), err)
	}
	if len(head)+len(rest) != n {
		return 0, fmt.Errorf("%d bytes, want %d", len(head)+len(rest), n)
	}
	for i, b := range rest {
		if b != 'a'+byte(i%26) {
			return 0, fmt.Errorf("byte %d of the body is %q", len(head)+i, b)
		}
	}
	return pid, nil
}

// TestRestarts restarts the example 20 times per mode under curl and
// gtlsclient (a new connection per request), with a long download in
// flight at every fourth restart, and a quic-go client that holds one
// connection open: nothing fails, every download completes intact on the
// generation that began it, and the held connection's requests all get
// their answer.
func TestRestarts(t *testing.T) {
	root := trixieRoot(t)
	lookTool(t, "gtlsclient", "ngtcp2-client")
	for _, mode := range []string{"reexec", "supervisor"} {
		t.Run(mode, func(t *testing.T) {
			s := start(t, mode, "-rate", "1000000")
			gdir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var curl, gtls, held tally
			loop(ctx, &wg, &curl, func() error { return curlOnce(root, s.addr, s.timeout) })
			n := 0
			loop(ctx, &wg, &gtls, func() error { n++; return gtlsOnce(gdir, s.addr, n, s.timeout) })
			hc := h3Client(s, nil)
			answeredBy := holdConnection(ctx, &wg, &held, s, hc)

			pid := s.servingPID(h3Client(s, nil))
			var dl sync.WaitGroup
			var dlErrs []error
			var dlMu sync.Mutex
			for i := range 20 {
				if i%4 == 0 {
					started := make(chan int, 1)
					dl.Go(func() {
						_, err := download(s, 2_000_000, started)
						dlMu.Lock()
						dlErrs = append(dlErrs, err)
						dlMu.Unlock()
					})
					// The restart comes once the serving generation has
					// begun to send the body; the download must complete
					// on that generation.
					if p, ok := <-started; ok && p != pid {
						t.Errorf("download began on pid %d, not on the serving %d", p, pid)
					}
				}
				pid = s.restart(pid)
				if i%4 == 0 {
					dl.Wait() // the old generation has drained before the next restart
				}
			}
			dl.Wait()
			cancel()
			wg.Wait()
			hc.CloseIdleConnections()
			heldPIDs := map[int]bool{}
			for _, p := range *answeredBy {
				heldPIDs[p] = true
			}
			t.Logf("%s: curl %d ok %d failed; gtlsclient %d ok %d failed; held connection %d ok %d failed over %d generations",
				mode, curl.ok, curl.fail, gtls.ok, gtls.fail, held.ok, held.fail, len(heldPIDs))
			for _, tl := range []*tally{&curl, &gtls, &held} {
				if tl.fail > 0 {
					t.Errorf("%d failed: %s", tl.fail, strings.Join(tl.errs, "\n"))
				}
			}
			if curl.ok == 0 || gtls.ok == 0 || held.ok == 0 {
				t.Errorf("a client got no answer at all")
			}
			if len(heldPIDs) < 2 {
				t.Errorf("the held client saw %d generations; it should move on after the GOAWAY", len(heldPIDs))
			}
			for i, err := range dlErrs {
				if err != nil {
					t.Errorf("download %d: %v", i, err)
				}
			}
			if len(dlErrs) != 5 {
				t.Errorf("%d downloads, want 5", len(dlErrs))
			}
		})
	}
}

// TestResumption checks that a TLS session from one generation resumes on
// the next: with gtlsclient's session file and with Go's session cache.
func TestResumption(t *testing.T) {
	lookTool(t, "gtlsclient", "ngtcp2-client")
	s := start(t, "reexec")
	dir := t.TempDir()
	session, tp := filepath.Join(dir, "session.pem"), filepath.Join(dir, "tp")
	host, port, _ := net.SplitHostPort(s.addr)
	gtls := func(n int) string {
		uri := fmt.Sprintf("/?r=%d", n)
		out, err := exec.Command("gtlsclient", "-q", "--exit-on-all-streams-close", "--timeout=20s", "--session-file="+session, "--tp-file="+tp,
			"--download="+dir, host, port, "https://"+s.addr+uri).CombinedOutput()
		body, rerr := os.ReadFile(filepath.Join(dir, uri[1:]))
		if err != nil || rerr != nil {
			t.Fatalf("gtlsclient: %v %v %s", err, rerr, out)
		}
		return string(body)
	}
	cache := tls.NewLRUClientSessionCache(8)
	goGet := func() string {
		c := h3Client(s, cache)
		defer c.CloseIdleConnections()
		resp, err := c.Get("https://" + s.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if b := gtls(0); !strings.Contains(b, "resumed=false") {
		t.Fatalf("first gtlsclient connection: %q", b)
	}
	if b := goGet(); !strings.Contains(b, "resumed=false") {
		t.Fatalf("first Go connection: %q", b)
	}
	pid := s.servingPID(h3Client(s, nil))
	resumed := 0
	for i := range 3 {
		pid = s.restart(pid)
		for _, b := range []string{gtls(i + 1), goGet()} {
			if !strings.Contains(b, fmt.Sprintf("pid=%d ", pid)) {
				t.Errorf("answered by another process than the new generation %d: %q", pid, b)
			}
			if strings.Contains(b, "resumed=true") {
				resumed++
			} else {
				t.Errorf("after restart %d a full handshake: %q", i+1, b)
			}
		}
	}
	t.Logf("%d of 6 connections after a restart resumed a session of an older generation", resumed)
}

// TestChromium loads the page over HTTP/3 in headless Chromium before and
// after a restart.
func TestChromium(t *testing.T) {
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		need(t, "chromium", "apt-get install chromium")
	}
	s := start(t, "supervisor")
	load := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir="+t.TempDir(), "--enable-quic", "--origin-to-force-quic-on="+s.addr,
			"--ignore-certificate-errors-spki-list="+s.spki, "--dump-dom", "https://"+s.addr+"/")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("chromium: %v\n%s", err, errOut.String())
		}
		return out.String()
	}
	pid := s.servingPID(h3Client(s, nil))
	for i := range 2 {
		page := load()
		if !strings.Contains(page, fmt.Sprintf("pid=%d proto=HTTP/3.0", pid)) {
			t.Fatalf("load %d: want an HTTP/3 answer from pid %d, got %q", i, pid, page)
		}
		if i == 0 {
			pid = s.restart(pid)
		}
	}
}

// gate is a UDP relay between one client and the server, under the
// test's control: from a chosen datagram of the client on, it holds what
// the client sends until release, so that a handshake spans a restart at
// the point the test chooses. What the server sends passes at once.
type gate struct {
	t        *testing.T
	ln, up   *net.UDPConn
	passN    int           // client datagrams passed before holding; -1: until the server's Handshake packets
	replied  chan struct{} // closed at the server's first datagram (passN >= 0) or its first Handshake packet
	mu       sync.Mutex
	client   *net.UDPAddr
	n        int
	sizes    []int
	held     [][]byte
	released bool
	// dropUntil: the server's datagrams are dropped until then (set by
	// releaseAndDrop), as a lossy path would.
	dropUntil time.Time
	dropped   int
}

func newGate(t *testing.T, server string, passN int) *gate {
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.DialUDP("udp", nil, sa)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{t: t, ln: ln, up: up, passN: passN, replied: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(g.fromClient)
	wg.Go(g.fromServer)
	t.Cleanup(func() { ln.Close(); up.Close(); wg.Wait() })
	return g
}

func (g *gate) addr() string { return g.ln.LocalAddr().String() }

func (g *gate) fromClient() {
	buf := make([]byte, 65536)
	for {
		n, from, err := g.ln.ReadFromUDP(buf)
		if err != nil {
			return
		}
		g.mu.Lock()
		g.client = from
		g.n++
		g.sizes = append(g.sizes, n)
		hold := !g.released && (g.passN >= 0 && g.n > g.passN || g.passN < 0 && isClosed(g.replied))
		if hold {
			g.held = append(g.held, append([]byte(nil), buf[:n]...))
		}
		g.mu.Unlock()
		if !hold {
			_, _ = g.up.Write(buf[:n])
		}
	}
}

func (g *gate) fromServer() {
	buf := make([]byte, 65536)
	once := sync.OnceFunc(func() { close(g.replied) })
	for {
		n, err := g.up.Read(buf)
		if err != nil {
			return
		}
		if g.passN >= 0 || hasHandshake(buf[:n]) {
			once()
		}
		g.mu.Lock()
		client := g.client
		drop := time.Now().Before(g.dropUntil)
		if drop {
			g.dropped++
		}
		g.mu.Unlock()
		if !drop {
			_, _ = g.ln.WriteToUDP(buf[:n], client)
		}
	}
}

// releaseAndDrop releases what was held and drops the server's datagrams
// for d from then on.
func (g *gate) releaseAndDrop(d time.Duration) {
	g.mu.Lock()
	g.dropUntil = time.Now().Add(d)
	g.mu.Unlock()
	g.release()
}

// release sends what was held, in order, and lets everything pass from
// then on.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.released = true
	for _, b := range g.held {
		_, _ = g.up.Write(b)
	}
	g.t.Logf("gate: client datagrams %v; %d held until the release; %d of the server's dropped so far", g.sizes, len(g.held), g.dropped)
	g.held = nil
}

// hasHandshake reports whether a datagram holds a QUIC v1 Handshake packet
// (RFC 9000 section 17.2): the server's first flight.
func hasHandshake(b []byte) bool {
	for len(b) > 7 && b[0]&0x80 != 0 {
		typ := b[0] >> 4 & 3
		if typ == 2 {
			return true
		}
		i := 5
		i += 1 + int(b[i]) // destination connection ID
		if i >= len(b) {
			return false
		}
		i += 1 + int(b[i]) // source connection ID
		if typ == 0 {
			// An Initial packet: a token.
			tl, n := varint(b[min(i, len(b)):])
			if n == 0 {
				return false
			}
			i += n + int(tl)
		}
		l, n := varint(b[min(i, len(b)):])
		if n == 0 {
			return false
		}
		i += n + int(l)
		if i > len(b) {
			return false
		}
		b = b[i:]
	}
	return false
}

// varint decodes a QUIC variable-length integer; n is 0 when b is short.
func varint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0
	}
	v = uint64(b[0] & 0x3f)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestHandshakeAcrossRestart begins curl's handshake on one generation and
// lets it go on only after the restart, once the old generation's drain
// has had three times its idle grace: the old generation must complete
// the handshake and answer the request (the client's packets now reach
// the new generation, which forwards them). Two points of interruption:
// after the server's first flight (the client's Finished and its request
// held), and after the first datagram of curl's ClientHello (OpenSSL's
// post-quantum key share makes it span several), the rest held. A third
// case holds after the first flight and then loses the server's datagrams
// for three idle graces from the release on: the answer, whose handler
// returns at once, must not be cut by the close of the connection after
// its GOAWAY while it is still to be sent again.
func TestHandshakeAcrossRestart(t *testing.T) {
	root := trixieRoot(t)
	for _, mode := range []string{"reexec", "supervisor"} {
		for _, sc := range []struct {
			name  string
			passN int
			drop  time.Duration
		}{{"after the first flight", -1, 0}, {"inside the ClientHello", 1, 0}, {"answer lost for a while", -1, 1500 * time.Millisecond}} {
			t.Run(mode+"/"+strings.ReplaceAll(sc.name, " ", "_"), func(t *testing.T) {
				s := start(t, mode)
				pid := s.servingPID(h3Client(s, nil))
				g := newGate(t, s.addr, sc.passN)
				type result struct {
					out, trace []byte
					err        error
				}
				done := make(chan result, 1)
				go func() {
					cmd := exec.Command("chroot", root, "curl", "-sSkv", "--http3-only", "--max-time", "30", "https://"+g.addr()+"/")
					var out, trace bytes.Buffer
					cmd.Stdout, cmd.Stderr = &out, &trace
					err := cmd.Run()
					done <- result{out.Bytes(), trace.Bytes(), err}
				}()
				select {
				case <-g.replied:
				case r := <-done:
					t.Fatalf("curl ended before the server answered: %v\n%s", r.err, r.trace)
				case <-time.After(30 * time.Second):
					t.Fatal("the server did not answer curl's first datagrams")
				}
				s.restart(pid)
				// The client is slower than the old generation's idle
				// grace (500ms): that is the case under test, not a wait
				// for something to become ready.
				time.Sleep(1500 * time.Millisecond)
				// In the third case the server's datagrams are lost for
				// three idle graces from the release on: the answer,
				// written at once, reaches the client only when the
				// server sends it again.
				g.releaseAndDrop(sc.drop)
				r := <-done
				if r.err != nil || !bytes.HasPrefix(r.out, []byte(fmt.Sprintf("pid=%d ", pid))) {
					t.Fatalf("curl: %v: %q, want an answer from the old generation %d; trace:\n%s", r.err, r.out, pid, r.trace)
				}
			})
		}
	}
}

func (t *tally) counts() (ok, fail int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ok, t.fail
}

// waitLog waits until the server's log matches re.
func (s *server) waitLog(re *regexp.Regexp) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if re.MatchString(s.logText()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("the log never says %s", re)
}

var rolledBackRe = regexp.MustCompile(`msg="rolled back: (serving again|the previous worker serves again)"`)

// TestRollback kills the new generation (SIGKILL) within its probation:
// the old one reads the UDP socket again and serves HTTP/3. curl and
// gtlsclient (a new connection each) and a quic-go client holding its
// connection go on, each losing at most one request: the one it had on a
// connection to the process that died (after the rollback such a
// connection gets a stateless reset); new connections are answered by the old
// generation; a download it began before the restart completes; a later
// restart succeeds.
func TestRollback(t *testing.T) {
	root := trixieRoot(t)
	lookTool(t, "gtlsclient", "ngtcp2-client")
	for _, mode := range []string{"reexec", "supervisor"} {
		t.Run(mode, func(t *testing.T) {
			s := startProbation(t, mode, "1m", "-rate", "200000")
			// A request in flight on the process that dies hangs until
			// its client gives up.
			s.timeout = 5 * time.Second
			old := s.servingPID(h3Client(s, nil))
			started := make(chan int, 1)
			dlDone := make(chan error, 1)
			go func() {
				pid, err := download(s, 800_000, started) // 4s
				if err == nil && pid != old {
					err = fmt.Errorf("served by %d, not by the old generation %d", pid, old)
				}
				dlDone <- err
			}()
			if p := <-started; p != old {
				t.Fatalf("the download began on %d, not on %d", p, old)
			}

			gdir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var curl, gtls, held tally
			loop(ctx, &wg, &curl, func() error { return curlOnce(root, s.addr, s.timeout) })
			n := 0
			loop(ctx, &wg, &gtls, func() error { n++; return gtlsOnce(gdir, s.addr, n, s.timeout) })
			hc := h3Client(s, nil)
			// The held request in flight on the process that dies ends with
			// the stateless reset the old generation sends once it serves
			// again, not with the client giving up: with the 5s timeout of
			// the other clients, a slow rollback made it time out first and
			// then lose its next request on the same dead connection too,
			// so the count of failures depended on timing.
			hc.Timeout = 60 * time.Second
			answeredBy := holdConnection(ctx, &wg, &held, s, hc)

			next := s.restart(old)
			// Every client is served by the new generation, or at least
			// has been answered since the restart, before it dies.
			waitAnswers(t, 3, &curl, &gtls, &held)
			if err := syscall.Kill(next, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			s.waitLog(rolledBackRe)
			if p := s.servingPID(h3Client(s, nil)); p != old {
				t.Errorf("after the rollback a new connection is answered by %d, want the old generation %d", p, old)
			}
			// The clients go on against the old generation.
			waitAnswers(t, 5, &curl, &gtls, &held)
			cancel()
			wg.Wait()
			hc.CloseIdleConnections()
			if err := <-dlDone; err != nil {
				t.Errorf("download across the rollback: %v", err)
			}
			heldPIDs := *answeredBy
			t.Logf("%s: curl %d ok %d failed; gtlsclient %d ok %d failed; held connection %d ok %d failed, answered by %v (old %d, new %d)",
				mode, curl.ok, curl.fail, gtls.ok, gtls.fail, held.ok, held.fail, heldPIDs, old, next)
			for name, tl := range map[string]*tally{"curl": &curl, "gtlsclient": &gtls, "held connection": &held} {
				if tl.fail > 1 {
					t.Errorf("%s: %d failed, want at most one (on its connection to the process that died): %s", name, tl.fail, strings.Join(tl.errs, "\n"))
				} else if tl.fail == 1 {
					t.Logf("%s lost one request on its connection to the process that died: %s", name, tl.errs[0])
				}
			}
			if heldPIDs[len(heldPIDs)-1] != old {
				t.Errorf("the held client was answered last by %d, want the old generation %d", heldPIDs[len(heldPIDs)-1], old)
			}
			// A later restart succeeds.
			s.restart(old)
		})
	}
}

// waitAnswers waits until each client has had n more answers.
func waitAnswers(t *testing.T, n int, clients ...*tally) {
	t.Helper()
	base := make([]int, len(clients))
	for i, c := range clients {
		base[i], _ = c.counts()
	}
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < len(clients); {
		if ok, _ := clients[i].counts(); ok >= base[i]+n {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("client %d: fewer than %d answers in 60s", i, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
