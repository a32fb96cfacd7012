// Package allocs holds the per-request allocation benchmark of the bench:
// the shared handler served by a plain http.Server and by gracekit's
// graceful.Server, driven over loopback by a client that allocates
// nothing per request, so that -benchmem shows the servers' own cost.
//
//	go test -run '^$' -bench . -benchmem ./allocs
package allocs
