package graceful

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// endpoint is a parsed server address: a network ("tcp" or "unix") and the
// address in that network's syntax.
type endpoint struct {
	network string
	address string
}

// parseAddress turns a server address into an endpoint. It accepts
// "host:port", ":port", "[ipv6]:port" and "unix:/path/to.sock".
func parseAddress(address string) (endpoint, error) {
	if path, ok := strings.CutPrefix(address, UnixAddressPrefix); ok {
		if path == "" {
			return endpoint{}, fmt.Errorf("address %q: the unix socket path is empty (write unix:/run/app.sock)", address)
		}
		return endpoint{network: "unix", address: path}, nil
	}
	if address == "" {
		return endpoint{}, fmt.Errorf("address is empty (write host:port, :port or unix:/path)")
	}
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return endpoint{}, fmt.Errorf("address %q is not host:port, :port or unix:/path: %w", address, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return endpoint{}, fmt.Errorf("address %q: port %q is not a number from 0 to 65535", address, port)
	}
	return endpoint{network: "tcp", address: address}, nil
}

// String gives the endpoint back in server address syntax.
func (e endpoint) String() string {
	if e.network == "unix" {
		return UnixAddressPrefix + e.address
	}
	return e.address
}

// formatAddr renders a listener's address in server address syntax, so
// that it can be passed back to [New].
func formatAddr(a net.Addr) string {
	if a == nil {
		return ""
	}
	if a.Network() == "unix" {
		return UnixAddressPrefix + a.String()
	}
	return a.String()
}

// matches reports whether a listener bound to actual is what the endpoint
// asks for. A TCP endpoint with port 0 matches nothing: "any free port" is
// not a particular socket. An empty host or "0.0.0.0"/"::" matches a
// listener on any wildcard address; a host name matches when it resolves
// to the listener's IP.
func (e endpoint) matches(actual net.Addr) bool {
	if actual == nil {
		return false
	}
	switch e.network {
	case "unix":
		return actual.Network() == "unix" && actual.String() == e.address
	case "tcp":
		got, ok := actual.(*net.TCPAddr)
		if !ok {
			return false
		}
		want, err := net.ResolveTCPAddr("tcp", e.address)
		if err != nil || want.Port == 0 || want.Port != got.Port {
			return false
		}
		if want.IP == nil || want.IP.IsUnspecified() {
			return got.IP == nil || got.IP.IsUnspecified()
		}
		return want.IP.Equal(got.IP)
	}
	return false
}

// wantsParticularSocket reports whether an endpoint names one socket (a
// path, or a non-zero port) rather than "any free port".
func wantsParticularSocket(ep endpoint) bool {
	if ep.network == "unix" {
		return true
	}
	_, port, err := net.SplitHostPort(ep.address)
	return err == nil && port != "0"
}
