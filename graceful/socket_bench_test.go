package graceful

import (
	"fmt"
	"net"
	"testing"
)

// BenchmarkTakeInheritedSockets measures what a new generation pays to
// find each of n inherited sockets for its n servers (sockets.take, as
// Process.NewServer calls it), with the sockets named in the order the
// servers ask for them: the cost per restart of a process with n
// servers, before any system call.
//
//	go test -run '^$' -bench TakeInheritedSockets -count 6 ./graceful
func BenchmarkTakeInheritedSockets(b *testing.B) {
	for _, n := range []int{10, 500, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			eps := make([]endpoint, n)
			inherited := make([]*socket, n)
			for i := range n {
				ep, err := parseAddress(fmt.Sprintf("127.0.0.1:%d", 20000+i))
				if err != nil {
					b.Fatal(err)
				}
				eps[i] = ep
				inherited[i] = &socket{name: ep.String(), fd: -1, addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 20000 + i}, from: "parent"}
			}
			for b.Loop() {
				ss := &sockets{inherited: append([]*socket(nil), inherited...)}
				for _, ep := range eps {
					if _, err := ss.take(ep, socketPerm{}, false); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
