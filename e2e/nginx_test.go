//go:build linux

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/proctest"
)

// TestNginxKeepAliveUpstreamAcrossRestarts puts nginx in front of
// examples/reload with an upstream keep-alive pool and no hidden retries
// (proxy_next_upstream off), over TCP and over a unix socket, and drives
// it with wrk GETs and, in a separate wrk run at the same time, POSTs with
// a body, while the service restarts restartsPerRun times. Every answer must be a 200
// with the expected body: wrk must report no socket error and no non-2xx
// answer, and nginx's access log must hold only 200s.
func TestNginxKeepAliveUpstreamAcrossRestarts(t *testing.T) {
	nginx := needTool(t, "nginx")
	wrk := needTool(t, "wrk")
	for _, tc := range []struct{ transport, mode string }{
		{"tcp", "reexec"}, {"unix", "reexec"}, {"tcp", "supervisor"}, {"unix", "supervisor"},
	} {
		transport, mode := tc.transport, tc.mode
		t.Run(transport+"-"+mode, func(t *testing.T) {
			dir := t.TempDir()
			workerUser := nginxWorkerUser()
			var addr, upstream, sockYAML string
			if transport == "tcp" {
				addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
				upstream = addr
			} else {
				sock := filepath.Join(socketDir(t), "app.sock")
				addr, upstream = "unix:"+sock, "unix:"+sock
				// nginx's workers must be able to connect.
				sockYAML = "  unixSocketMode: \"0660\"\n"
				if workerUser != "" && workerUser != "root" {
					sockYAML += "  unixSocketGroup: " + workerUser + "\n"
				}
			}
			s := startSubject(t, subjectOptions{
				name:       "reload-nginx-" + transport + "-" + mode,
				addr:       addr,
				yaml:       yamlSection("server", sockYAML) + "process:\n  mode: " + mode + "\n  readinessPath: /ready\n  probation: 1s\nlog:\n  level: warn\n",
				supervisor: mode == "supervisor",
			})

			port := freePort(t)
			front := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
			accessLog := filepath.Join(dir, "access.log")
			userLine := ""
			if workerUser != "" {
				userLine = "user " + workerUser + ";"
			}
			writeFile(t, filepath.Join(dir, "nginx.conf"), fmt.Sprintf(`%s
worker_processes 1;
events { worker_connections 1024; }
http {
    log_format e2e '$status $upstream_status $request_method';
    access_log %s e2e;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    upstream app {
        server %s;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:%d;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream off;
            proxy_read_timeout 60s;
        }
    }
}
`, userLine, accessLog, filepath.Join(dir, "client_body"), filepath.Join(dir, "proxy"),
				filepath.Join(dir, "fastcgi"), filepath.Join(dir, "uwsgi"), filepath.Join(dir, "scgi"),
				upstream, port))
			ng := startGroup(t, "nginx-"+transport, []string{nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"),
				"-g", "daemon off; pid " + filepath.Join(dir, "nginx.pid") + "; error_log stderr;"})
			waitFor(t, "nginx to answer 200 from the service", 30*time.Second, func() bool {
				if ng.Exited() {
					t.Fatalf("nginx exited\n%s", ng.Logs())
				}
				return plainGetPID(front) != 0
			}, ng.Logs)

			if transport == "unix" {
				st, err := os.Stat(strings.TrimPrefix(addr, "unix:"))
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("socket %s, nginx workers run as %s", st.Mode(), workerNames(ng))
			}

			get := startWrk(t, wrk, "GET", front, wrkScript(t, dir, false))
			post := startWrk(t, wrk, "POST", front, wrkScript(t, dir, true))
			began := time.Now()
			s.restarts(restartsPerRun, restartPause)
			took := time.Since(began)
			rg, rp := get.stop(t), post.stop(t)
			if n := s.distinctPIDs(); n < restartsPerRun+1 {
				t.Errorf("%d distinct serving processes seen, want at least %d", n, restartsPerRun+1)
			}
			s.stop()

			lines, not200, cut := accessLogStatuses(t, accessLog)
			t.Logf("nginx %s %s wrk GET: %d requests, %d wrong; wrk POST: %d requests, %d wrong; %d restarts in %s",
				transport, mode, rg.requests, rg.wrong, rp.requests, rp.wrong, restartsPerRun, took.Round(time.Millisecond))
			t.Logf("nginx %s %s access log: %d requests, %d not 200 (and %d cut by wrk's own stop, status 499)", transport, mode, lines, len(not200), cut)
			if cut > 16 { // wrk's 2 x 8 connections, closed at SIGINT with a request in flight
				t.Errorf("nginx logged %d requests closed by the client (499), more than wrk's 16 connections", cut)
			}
			if lines < rg.requests+rp.requests {
				t.Errorf("nginx logged %d requests, wrk made %d", lines, rg.requests+rp.requests)
			}
			if len(not200) > 0 {
				t.Errorf("nginx answered %d requests with another status than 200, e.g. %q\n%s", len(not200), not200[:min(len(not200), 10)], ng.Logs())
			}
		})
	}
}

// yamlSection returns "name:\n" and body, or nothing when body is empty
// (an empty section is an error).
func yamlSection(name, body string) string {
	if body == "" {
		return ""
	}
	return name + ":\n" + body
}

// nginxWorkerUser is the user nginx's workers run as: when the test runs
// as root, nginx switches its workers to an unprivileged user (www-data if
// it exists); otherwise they run as the test's user ("": no directive).
func nginxWorkerUser() string {
	if os.Geteuid() != 0 {
		return ""
	}
	if _, err := user.Lookup("www-data"); err == nil {
		return "www-data"
	}
	return "root"
}

// workerNames lists the users nginx's processes run as.
func workerNames(g *proctest.Group) string {
	var names []string
	for _, m := range g.Members() {
		pid := m.PID
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
				name := f[1]
				if u, err := user.LookupId(f[1]); err == nil {
					name = u.Username
				}
				names = append(names, fmt.Sprintf("%d:%s", pid, name))
			}
		}
	}
	return strings.Join(names, " ")
}

// plainGetPID sends one GET on a new connection and returns the PID the
// answer names, 0 if the request failed.
func plainGetPID(url string) int {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return 0
	}
	return parsePID(string(b))
}

// accessLogStatuses reads an access log in the e2e format ("$status
// $upstream_status $request_method") and returns its number of lines and
// the lines whose status is not 200, apart from the requests the client
// closed (499), which wrk does with the requests it has in flight when it
// stops: those it counts separately.
func accessLogStatuses(t *testing.T, path string) (int, []string, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, cut := 0, 0
	var bad []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		n++
		if strings.HasPrefix(line, "499 ") {
			cut++
			continue
		}
		if !strings.HasPrefix(line, "200 200 ") {
			bad = append(bad, line)
		}
	}
	return n, bad, cut
}
