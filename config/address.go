package config

import (
	"github.com/gracekit/gracekit/graceful"
)

// AddressPattern is the regular expression, valid in Go and ECMAScript,
// that a server address matches: "unix:/" and a path, "systemd:" and a
// socket name, or anything ending in ":" and a port from 0 to 65535. The
// loader checks addresses with [graceful.ParseAddress], the rule the
// servers themselves follow, which also checks that the host part is well
// formed.
const AddressPattern = `^(?:unix:/[\s\S]+|systemd:[^:\x00]{1,255}|[\s\S]*:0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))$`

// checkAddress returns what is wrong with a server address, or "": the
// words of graceful.ParseAddress.
func checkAddress(addr string) string {
	if _, err := graceful.ParseAddress(addr); err != nil {
		return err.Error()
	}
	return ""
}

// sameSocket reports whether two valid addresses are one: a process
// names its sockets by their addresses, for a restart to hand each to
// the server that asks for it by that name, so two servers cannot share
// one, port 0 (any free port) included.
func sameSocket(a, b string) bool { return a == b }
