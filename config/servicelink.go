package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Kubernetes gives every container, for every Service of its namespace
// (unless the pod sets enableServiceLinks: false), variables named after
// the Service in the style of Docker links. For a Service "myapp" with a
// TCP port 80 named http, on the cluster IP 10.0.0.1:
//
//	MYAPP_SERVICE_HOST=10.0.0.1
//	MYAPP_SERVICE_PORT=80
//	MYAPP_SERVICE_PORT_HTTP=80
//	MYAPP_PORT=tcp://10.0.0.1:80
//	MYAPP_PORT_80_TCP=tcp://10.0.0.1:80
//	MYAPP_PORT_80_TCP_PROTO=tcp
//	MYAPP_PORT_80_TCP_PORT=80
//	MYAPP_PORT_80_TCP_ADDR=10.0.0.1
//
// A Service named like the environment prefix (or starting with it, such
// as "myapp-db") would otherwise stop the program with "no setting has
// this environment variable". The loader recognises these variables by
// their names and their values together, so that a misspelt setting
// (MYAPP_SERVER_ADRESS=:8080) is still refused.

var (
	linkServiceHost = lazyRegexp(`^([A-Z0-9_]+?)_SERVICE_HOST$`)
	linkServicePort = lazyRegexp(`^([A-Z0-9_]+?)_SERVICE_PORT(?:_[A-Z0-9_]+)?$`)
	linkPortURL     = lazyRegexp(`^([A-Z0-9_]+?)_PORT$`)
	linkPort        = lazyRegexp(`^([A-Z0-9_]+?)_PORT_([0-9]{1,5})_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?$`)
	linkURL         = lazyRegexp(`^(tcp|udp|sctp)://(.+)$`)
)

// serviceLink reports whether the variable name=value has the name and
// the value of one that Kubernetes injects for a Service, and returns the
// Service's name as the variable spells it (MYAPP_DB for myapp-db).
func serviceLink(name, value string) (service string, ok bool) {
	if m := linkServiceHost().FindStringSubmatch(name); m != nil && isIP(value) {
		return m[1], true
	}
	if m := linkServicePort().FindStringSubmatch(name); m != nil && isPort(value) {
		return m[1], true
	}
	if m := linkPortURL().FindStringSubmatch(name); m != nil {
		if _, _, ok := linkAddress(value); ok {
			return m[1], true
		}
	}
	m := linkPort().FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	port, proto := m[2], strings.ToLower(m[3])
	switch m[4] {
	case "_PROTO":
		ok = value == proto
	case "_PORT":
		ok = value == port
	case "_ADDR":
		ok = isIP(value)
	default:
		p, u, linked := linkAddress(value)
		ok = linked && p == port && u == proto
	}
	return m[1], ok
}

// linkAddress reads "tcp://10.0.0.1:80" into its port and protocol.
func linkAddress(value string) (port, proto string, ok bool) {
	m := linkURL().FindStringSubmatch(value)
	if m == nil {
		return "", "", false
	}
	host, port, err := net.SplitHostPort(m[2])
	if err != nil || !isIP(host) || !isPort(port) {
		return "", "", false
	}
	return port, m[1], true
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n <= 65535 && strconv.Itoa(n) == s
}

// toolVariables are the variables gracekit's own test suite and CI read
// (see the README). They share the default prefix, and a developer who
// exports one (GRACEKIT_REQUIRE_TOOLS=1 go test ./...) must not stop every
// program the tests start: like service links, they are ignored with a
// debug line rather than refused as misspelt settings.
var toolVariables = []string{
	"GRACEKIT_REQUIRE_TOOLS",
	"GRACEKIT_REQUIRE_NSPAWN",
	"GRACEKIT_NSPAWN_ROOTFS",
	"GRACEKIT_NSPAWN_MIRROR",
	"GRACEKIT_CI_KEEP_MODCACHE",
}
