package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/gracekit/gracekit/graceful"
)

// AddressPattern is the regular expression, valid in Go and ECMAScript,
// that a server address matches: "unix:/" and a path, or anything ending
// in ":" and a port from 0 to 65535. The loader also checks that the host
// part is well formed and that a unix path is absolute.
const AddressPattern = `^(?:unix:/[\s\S]+|[\s\S]*:0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))$`

// addressForms says what an address may look like, for error messages.
const addressForms = `write "host:port", ":port", ":0" for any free port, or "unix:/absolute/path.sock"`

// checkAddress returns what is wrong with a server address, or "".
func checkAddress(addr string) string {
	if addr == "" {
		return "the address is empty: " + addressForms
	}
	if path, ok := strings.CutPrefix(addr, graceful.UnixAddressPrefix); ok {
		switch {
		case path == "":
			return fmt.Sprintf("%q has no socket path: write unix:/absolute/path.sock", addr)
		case !strings.HasPrefix(path, "/"):
			return fmt.Sprintf("%q names the relative path %q: unix socket paths must be absolute, such as unix:/run/app.sock", addr, path)
		case path == "/":
			return fmt.Sprintf("%q names the root directory: write the path of the socket file, such as unix:/run/app.sock", addr)
		}
		return ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		reason := err.Error()
		if ae, ok := err.(*net.AddrError); ok {
			reason = ae.Err
		}
		return fmt.Sprintf("%q is not an address (%s): %s", addr, reason, addressForms)
	}
	if port == "" {
		return fmt.Sprintf("%q has no port: write a port from 0 to 65535 after the colon (0 picks any free port)", addr)
	}
	n, err := strconv.ParseUint(port, 10, 64)
	if err != nil && !isDigits(port) {
		return fmt.Sprintf("%q has the port %q, which is not a number: write a port from 0 to 65535 (0 picks any free port)", addr, port)
	}
	if err != nil || n > 65535 {
		return fmt.Sprintf("%q has the port %s, out of range: write a port from 0 to 65535 (0 picks any free port)", addr, port)
	}
	return ""
}

// addressPort returns the TCP port of a valid address, or -1 for a unix
// socket.
func addressPort(addr string) int {
	if strings.HasPrefix(addr, graceful.UnixAddressPrefix) {
		return -1
	}
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return n
}
