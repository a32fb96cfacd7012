// Package subjectcfg checks the config file of the bench's own subjects:
// it must be a YAML mapping. A subject that is given a broken file exits
// non-zero during its initialisation, as a real service would, which is
// what the "invalid config at restart" scenario provokes. It also spells
// out the addresses of a subject that serves several servers.
package subjectcfg

import (
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"go.yaml.in/yaml/v3"
)

// Check reads path and reports whether it holds a YAML mapping. An empty
// path means no config file and is accepted.
func Check(path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// MaxServers bounds the -servers flag of the bench's subjects.
const MaxServers = 1000

// Addrs returns the n addresses a subject with -servers n serves: addr
// and the n-1 ports that follow it on the same host.
func Addrs(addr string, n int) ([]string, error) {
	if n < 1 || n > MaxServers {
		return nil, fmt.Errorf("-servers %d: want 1 to %d", n, MaxServers)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-addr %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port+n-1 > 65535 {
		return nil, fmt.Errorf("-addr %q with -servers %d: ports out of range", addr, n)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = net.JoinHostPort(host, strconv.Itoa(port+i))
	}
	return out, nil
}

// HandleSignals runs, in a goroutine of its own, what the tableflip
// subjects do on a signal: SIGHUP calls upgrade (a failure is logged),
// SIGTERM and SIGINT call stop.
func HandleSignals(upgrade func() error, stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			if s != syscall.SIGHUP {
				stop()
				continue
			}
			if err := upgrade(); err != nil {
				log.Printf("upgrade failed: %v", err)
			}
		}
	}()
}
