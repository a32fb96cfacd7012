package http3

import (
	"net"
	"testing"
)

// fakeLink records what is sent on it.
type fakeLink struct {
	sent [][]byte
	err  error
}

func (l *fakeLink) send(b []byte) error {
	if l.err != nil {
		return l.err
	}
	l.sent = append(l.sent, append([]byte(nil), b...))
	return nil
}
func (l *fakeLink) read([]byte) (int, error) { select {} }
func (l *fakeLink) close() error             { return nil }

func shortPacket(t *testing.T, m *marker) []byte {
	t.Helper()
	id, err := m.GenerateConnectionID()
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]byte{0x40}, id.Bytes()...), make([]byte, 40)...)
}

// TestRoute sends packets of every kind through the router of generation
// 3, with generation 1 alive and generation 2 gone.
func TestRoute(t *testing.T) {
	key := [32]byte{4}
	m1, _ := newMarker(key, 1)
	m2, _ := newMarker(key, 2)
	m3, _ := newMarker(key, 3)
	m4, _ := newMarker(key, 4)
	own, l1, l2 := &fakeLink{}, &fakeLink{}, &fakeLink{err: net.ErrClosed}
	r := &router{m: m3, gen: 3, own: own, older: []*older{{gen: 1, link: l1}, {gen: 2, link: l2}}, stats: &counters{},
		in: make(chan packet, 16), closed: make(chan struct{})}
	r.pool.New = func() any { b := make([]byte, hdrLen+maxData); return &b }
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
	send := func(p []byte) {
		bp := r.pool.Get().(*[]byte)
		n := copy((*bp)[hdrLen:], p)
		r.route(bp, n, from, true)
	}
	initial := append([]byte{0xc0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8}, make([]byte, 1200)...)

	r.accepting.Store(true)
	send(shortPacket(t, m3)) // mine
	send(shortPacket(t, m1)) // generation 1: forwarded
	send(shortPacket(t, m2)) // generation 2 is gone: here, for a stateless reset
	send(shortPacket(t, m4)) // a newer generation: passed up
	send(initial)            // a new connection while serving: here
	r.accepting.Store(false)
	send(initial) // a new connection while draining: passed up

	if len(r.in) != 3 {
		t.Errorf("%d packets delivered here, want 3", len(r.in))
	}
	if len(l1.sent) != 1 {
		t.Fatalf("%d packets forwarded to generation 1, want 1", len(l1.sent))
	}
	if a, ok := decodeAddr(l1.sent[0][:hdrLen]); !ok || a.String() != from.String() {
		t.Errorf("the forwarded packet says it came from %v", a)
	}
	if len(own.sent) != 2 {
		t.Errorf("%d packets passed up, want 2", len(own.sent))
	}
	st := r.stats
	if st.packetsForwarded.Load() != 1 || st.packetsPassedUp.Load() != 2 {
		t.Errorf("counters: forwarded %d, passed up %d", st.packetsForwarded.Load(), st.packetsPassedUp.Load())
	}
	if !r.older[1].gone.Load() {
		t.Error("generation 2's closed link is not marked gone")
	}

	// After a rollback the newer generations are dead: their packets
	// stay here, for a stateless reset, and new connections too.
	r.newerGone.Store(true)
	r.accepting.Store(true)
	send(shortPacket(t, m4))
	send(initial)
	if len(r.in) != 5 || len(own.sent) != 2 {
		t.Errorf("after a rollback: %d packets delivered here (want 5), %d passed up (want 2)", len(r.in), len(own.sent))
	}
}
