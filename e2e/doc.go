// Package e2e holds end-to-end tests of gracekit: they build
// examples/reload, run it as a user would (command line, configuration
// file, signals) and drive it with real clients and proxies that never
// retry a request: curl over HTTP/2 and HTTP/1.1, h2load, nginx and
// HAProxy in front, wrk behind them.
//
// Every test skips with a message naming the tool it lacks (curl, h2load,
// nginx, haproxy, wrk) unless GRACEKIT_REQUIRE_TOOLS=1 is set, which makes
// a missing tool a failure (CI sets it):
//
//	GRACEKIT_REQUIRE_TOOLS=1 go test -count=1 -v ./e2e
//
// The package has no code of its own; the tests are Linux-only.
package e2e
