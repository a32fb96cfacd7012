package graceful

import (
	"net"
	"sync/atomic"
	"testing"
)

// TestEndpointLiteralAgreesWithTheResolver checks the resolver-free path
// of endpoint.matches against the resolver, for the endpoints it takes
// and those it leaves to the resolver.
func TestEndpointLiteralAgreesWithTheResolver(t *testing.T) {
	for _, network := range []string{"tcp", "tcp4", "tcp6", "udp", "udp4"} {
		for _, address := range []string{
			"127.0.0.1:8080", "0.0.0.0:8080", "[::]:8080", "[::1]:8080", "[::ffff:127.0.0.1]:8080",
			"[fe80::1%lo]:8080", ":8080", "localhost:8080", "127.0.0.1:0", "127.0.0.1:9000",
		} {
			ep, err := parseNetworkAddress(network, address)
			if err != nil {
				t.Fatalf("parseNetworkAddress(%q, %q): %v", network, address, err)
			}
			for _, got := range []net.Addr{
				&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, &net.TCPAddr{IP: net.IPv6loopback, Port: 8080},
				&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080},
				&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 8080, Zone: "lo"}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081},
				&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080},
			} {
				var want bool
				switch a := got.(type) {
				case *net.TCPAddr:
					if r, err := net.ResolveTCPAddr(ep.network, ep.address); err == nil && ep.network[:3] == "tcp" {
						want = sameIPPort(r.IP, r.Port, a.IP, a.Port)
					}
				case *net.UDPAddr:
					if r, err := net.ResolveUDPAddr(ep.network, ep.address); err == nil && ep.network[:3] == "udp" {
						want = sameIPPort(r.IP, r.Port, a.IP, a.Port)
					}
				}
				if m := ep.matches(got); m != want {
					t.Errorf("endpoint %s %q matches %s: %v, the resolver says %v", ep.network, ep.address, got, m, want)
				}
			}
		}
	}
}

// TestConcurrentlyCallsEachIndexOnce covers the runs concurrently splits
// n into, below and above what it spreads over goroutines.
func TestConcurrentlyCallsEachIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 127, 128, 129, 1000} {
		calls := make([]atomic.Int32, n)
		concurrently(n, func(i int) { calls[i].Add(1) })
		for i := range calls {
			if c := calls[i].Load(); c != 1 {
				t.Fatalf("n=%d: f(%d) was called %d times", n, i, c)
			}
		}
	}
}
