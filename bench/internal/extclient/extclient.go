// Package extclient runs the external programs of the bench, clients
// nobody here wrote: wrk (HTTP/1.1 keep-alive load), h2load and curl
// (HTTP/2 over TLS), curl and gtlsclient over HTTP/3, nginx as a reverse
// proxy in front of a subject, Caddy as an HTTP/3 server that reloads, and
// valgrind's callgrind, which counts the instructions a subject executes.
// Every invocation of an outside tool is in this package; the rest of the
// bench calls these functions and reads their parsed results. None of
// these clients retries a failed request.
package extclient

import (
	"fmt"
	"os/exec"
	"strings"
)

// Need returns nil when every tool is on PATH, and otherwise an error
// naming the missing ones and the package that has them.
func Need(tools ...string) error {
	pkg := map[string]string{"wrk": "wrk", "h2load": "nghttp2-client", "curl": "curl", "nginx": "nginx",
		"valgrind": "valgrind", "callgrind_control": "valgrind", "gtlsclient": "ngtcp2-client", "caddy": "caddy"}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", t, pkg[t]))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not found: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Version returns the first line a tool prints for its version flag, or
// why it cannot run.
func Version(tool string, args ...string) string {
	out, _ := exec.Command(tool, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return tool + " not found"
	}
	return line
}
