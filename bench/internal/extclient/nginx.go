package extclient

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/subject"
	"github.com/gracekit/gracekit/bench/internal/tree"
)

// nginxConf is the proxy configuration of the nginx lane: keep-alive
// connections to the upstream (a pool of 32 per worker), HTTP/1.1 with the
// Connection header cleared, and no retry of a failed request on another
// try (proxy_next_upstream off), so that what the subject drops on a
// restart reaches the client as an error.
const nginxConf = `# written by the gracekit bench
worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream subject {
        server %[2]s;
        keepalive 32;
    }
    server {
        listen %[3]s;
        location / {
            proxy_pass http://subject;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream off;
        }
    }
}
`

// Nginx is a running nginx in front of one upstream.
type Nginx struct {
	// Addr is where it listens; Dir holds its configuration and logs.
	Addr, Dir string
	Tree      *tree.Tree
}

// StartNginx writes a configuration for upstream (host:port) in a new
// directory below workDir, starts nginx under the reaper, and waits until
// a GET / through it answers 200.
func StartNginx(reaperBin, workDir, upstream string) (*Nginx, error) {
	dir, err := os.MkdirTemp(workDir, "nginx-")
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	addr, err := subject.FreePort()
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, upstream, addr), 0o644); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	t, err := tree.Start(reaperBin, filepath.Join(dir, "nginx.out"), []string{bin, "-p", dir, "-c", conf})
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	n := &Nginx{Addr: addr, Dir: dir, Tree: t}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if code, _, err := load.Get(addr, "/", time.Second); err == nil && code == 200 {
			return n, nil
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by deadline
	}
	_ = n.Close()
	return nil, fmt.Errorf("nginx in %s not answering 200 through %s within 10s: %s", dir, addr, n.ErrorLines(3))
}

// UpstreamErrors counts the lines of nginx's error log that name the
// upstream, and returns the first few of them.
func (n *Nginx) UpstreamErrors(keep int) (int, []string) {
	data, _ := os.ReadFile(filepath.Join(n.Dir, "error.log"))
	count := 0
	var first []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, "upstream") {
			continue
		}
		count++
		if len(first) < keep {
			// Drop the timestamp and pids: "2026/12/02 13:00:00 [error] 1#1: *5 ".
			if _, rest, ok := strings.Cut(line, ": "); ok {
				line = rest
			}
			first = append(first, line)
		}
	}
	return count, first
}

// ErrorLines returns the last n lines of nginx's error log and output.
func (n *Nginx) ErrorLines(k int) string {
	a, _ := os.ReadFile(filepath.Join(n.Dir, "error.log"))
	b, _ := os.ReadFile(filepath.Join(n.Dir, "nginx.out"))
	return tail(string(a)+string(b), k)
}

// Close stops nginx and everything under its reaper.
func (n *Nginx) Close() error { return n.Tree.Close(10 * time.Second) }
