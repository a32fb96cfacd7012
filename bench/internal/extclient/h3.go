package extclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/subject"
	"github.com/gracekit/gracekit/bench/internal/tree"
	"github.com/gracekit/gracekit/internal/loadgen"
)

// TrixieRoot returns the Debian trixie root file system that
// internal/nspawn builds (or GRACEKIT_NSPAWN_ROOTFS): its curl 8.14.1
// speaks HTTP/3, which bookworm's does not. curl runs in it with chroot,
// sharing the host's network, so the bench must run as root.
func TrixieRoot() (string, error) {
	dir := os.Getenv("GRACEKIT_NSPAWN_ROOTFS")
	if dir == "" {
		dir = "/var/cache/gracekit/nspawn-trixie"
	}
	if _, err := os.Stat(filepath.Join(dir, "usr/bin/curl")); err != nil {
		return "", fmt.Errorf("curl with HTTP/3: no trixie root file system in %s (built by `go test ./examples/systemd` as root)", dir)
	}
	if os.Geteuid() != 0 {
		return "", errors.New("curl with HTTP/3: chroot into the trixie root file system needs root")
	}
	return dir, nil
}

// H3CurlLoop runs workers loops of `curl --http3-only` from the root file
// system root against url until ctx ends: one process, one QUIC
// connection and one request each, never retried. A failure is a curl
// exit code, a non-2xx status or an answer over another protocol. A
// request still running when ctx ends is waited for and counted.
func H3CurlLoop(ctx context.Context, root, url string, workers int, t *load.H3Tally) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				class, msg, pid := curl3Once(root, url)
				t.Add(class, msg, pid)
			}
		})
	}
	wg.Wait()
}

func curl3Once(root, url string) (class, msg string, pid int) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chroot", root, "curl", "--http3-only", "-k", "-sS", "--max-time", "10",
		"-w", "\n%{http_code} %{http_version}", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return fmt.Sprintf("exit %d", ee.ExitCode()), strings.TrimSpace(stderr.String()), 0
	case err != nil:
		return "exec", err.Error(), 0
	}
	i := bytes.LastIndexByte(out, '\n')
	if i < 0 {
		return "output", string(out), 0
	}
	code, version, _ := strings.Cut(string(out[i+1:]), " ")
	switch {
	case !strings.HasPrefix(code, "2"):
		return "status " + code, string(out[:i]), 0
	case version != "3":
		return "not h3", "HTTP/" + version, 0
	}
	return "", "", loadgen.ParsePID(out[:i])
}

// GtlsLoop runs workers loops of ngtcp2's `gtlsclient` against url (at
// addr) until ctx ends: one process, one QUIC connection and one request
// each, never retried; dir receives the bodies. A failure is a non-zero
// exit or a body without "pid=".
func GtlsLoop(ctx context.Context, addr, url, dir string, workers int, t *load.H3Tally) {
	host, port, _ := net.SplitHostPort(addr)
	var n atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				class, msg, pid := gtlsOnce(host, port, url, dir, n.Add(1))
				t.Add(class, msg, pid)
			}
		})
	}
	wg.Wait()
}

func gtlsOnce(host, port, url, dir string, n int64) (class, msg string, pid int) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	name := "g" + strconv.FormatInt(n, 10)
	cmd := exec.CommandContext(ctx, "gtlsclient", "-q", "--exit-on-all-streams-close", "--timeout=10s",
		"--download="+dir, host, port, url+"?"+name)
	out, err := cmd.CombinedOutput()
	// gtlsclient names the file after what follows the URL's last '/'.
	body, rerr := os.ReadFile(filepath.Join(dir, "?"+name))
	_ = os.Remove(filepath.Join(dir, "?"+name))
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return fmt.Sprintf("exit %d", ee.ExitCode()), tail(string(out), 2), 0
	case err != nil:
		return "exec", err.Error(), 0
	case rerr != nil || !bytes.HasPrefix(body, []byte("pid=")):
		return "no body", tail(string(out), 2), 0
	}
	return "", "", loadgen.ParsePID(body)
}

// caddyfile serves HTTPS and HTTP/3 at one address with the run's
// certificate, and answers with the pid of the Caddy process, which the
// shell that starts it puts in BENCH_PID.
const caddyfile = `# written by the gracekit bench
{
	admin %[1]s
	http_port %[2]d
	https_port %[3]s
	auto_https disable_redirects
	skip_install_trust
	storage file_system %[4]s/data
	servers {
		protocols h1 h2 h3
	}
}
https://%[5]s {
	bind %[6]s
	tls %[7]s %[8]s
	respond "pid={env.BENCH_PID} read=0" 200
}
`

// Caddy is a running Caddy that serves HTTPS and HTTP/3 at Addr.
type Caddy struct {
	Addr, Dir, admin, conf string
	Tree                   *tree.Tree
	env                    []string
}

// StartCaddy writes a Caddyfile for addr (host:port, TCP and UDP) and the
// certificate in a new directory below workDir, starts `caddy run` under
// the reaper, and waits until it answers HTTPS (probe trusts the
// certificate).
func StartCaddy(reaperBin, workDir, addr, certFile, keyFile string, probe *tls.Config) (*Caddy, error) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		return nil, fmt.Errorf("caddy: %w (apt-get install caddy)", err)
	}
	dir, err := os.MkdirTemp(workDir, "caddy-")
	if err != nil {
		return nil, fmt.Errorf("caddy: %w", err)
	}
	admin, err := subject.FreePort()
	if err != nil {
		return nil, fmt.Errorf("caddy: %w", err)
	}
	httpAddr, err := subject.FreePort()
	if err != nil {
		return nil, fmt.Errorf("caddy: %w", err)
	}
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("caddy: %w", err)
	}
	hp, _ := strconv.Atoi(httpPort)
	c := &Caddy{Addr: addr, Dir: dir, admin: admin, conf: filepath.Join(dir, "Caddyfile"),
		env: []string{"HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "xdg-data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg-config")}}
	if err := os.WriteFile(c.conf, fmt.Appendf(nil, caddyfile, admin, hp, port, dir, addr, host, certFile, keyFile), 0o644); err != nil {
		return nil, fmt.Errorf("caddy: %w", err)
	}
	script := strings.Join(c.env, " ") + " BENCH_PID=$$ exec " + bin + " run --config " + c.conf + " --adapter caddyfile"
	t, err := tree.Start(reaperBin, filepath.Join(dir, "caddy.out"), []string{"/bin/sh", "-c", script})
	if err != nil {
		return nil, fmt.Errorf("caddy: %w", err)
	}
	c.Tree = t
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if code, _, err := load.GetTLS(addr, "/", time.Second, probe); err == nil && code == 200 {
			return c, nil
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by deadline
	}
	out, _ := os.ReadFile(filepath.Join(dir, "caddy.out"))
	_ = c.Close()
	return nil, fmt.Errorf("caddy in %s not answering within 15s: %s", dir, tail(string(out), 3))
}

// Reload runs `caddy reload --force` with the same Caddyfile: Caddy
// loads it again and replaces its servers in the same process, as a
// configuration change does.
func (c *Caddy) Reload(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "caddy", "reload", "--config", c.conf, "--adapter", "caddyfile", "--address", c.admin, "--force")
	cmd.Env = append(os.Environ(), c.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("caddy reload: %w: %s", err, tail(string(out), 2))
	}
	return nil
}

// Close stops Caddy and everything under its reaper.
func (c *Caddy) Close() error { return c.Tree.Close(10 * time.Second) }
