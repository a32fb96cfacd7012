package http3

import (
	"bytes"
	"net"
	"testing"
)

func TestMarkerRoundTrip(t *testing.T) {
	key := [32]byte{1, 2, 3}
	for _, gen := range []int{1, 2, 7, 1 << 20} {
		m, err := newMarker(key, gen)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := newMarker(key, gen+1)
		seen := map[string]bool{}
		for range 100 {
			id, err := m.GenerateConnectionID()
			if err != nil {
				t.Fatal(err)
			}
			if id.Len() != cidLen {
				t.Fatalf("length %d", id.Len())
			}
			if seen[string(id.Bytes())] {
				t.Fatal("an ID was issued twice")
			}
			seen[string(id.Bytes())] = true
			if g, ok := other.generation(id.Bytes()); !ok || g != uint32(gen) {
				t.Fatalf("generation %d, %v; want %d", g, ok, gen)
			}
		}
	}
	stranger, _ := newMarker([32]byte{9}, 1)
	m, _ := newMarker(key, 3)
	id, _ := stranger.GenerateConnectionID()
	if _, ok := m.generation(id.Bytes()); ok {
		t.Error("an ID made with another key counts as the lineage's")
	}
	if _, ok := m.generation([]byte{1, 2, 3, 4, 5, 6, 7, 8}); ok {
		t.Error("a short ID counts as the lineage's")
	}
	if _, err := newMarker(key, 0); err == nil {
		t.Error("generation 0 accepted")
	}
}

func TestDestinationID(t *testing.T) {
	long := append([]byte{0xc0, 0, 0, 0, 1, 8}, bytes.Repeat([]byte{7}, 8)...)
	long = append(long, 0)
	id, isLong, ok := destinationID(long)
	if !ok || !isLong || !bytes.Equal(id, bytes.Repeat([]byte{7}, 8)) {
		t.Errorf("long header: %x %v %v", id, isLong, ok)
	}
	short := append([]byte{0x40}, bytes.Repeat([]byte{5}, cidLen+10)...)
	if id, isLong, ok := destinationID(short); !ok || isLong || len(id) != cidLen {
		t.Errorf("short header: %x %v %v", id, isLong, ok)
	}
	for _, bad := range [][]byte{nil, {0xc0, 0, 0}, {0xc0, 0, 0, 0, 1, 30, 1}, {0x40, 1, 2}} {
		if _, _, ok := destinationID(bad); ok {
			t.Errorf("%x parsed", bad)
		}
	}
}

func TestAddrHeader(t *testing.T) {
	for _, s := range []string{"127.0.0.1:443", "[::1]:8443", "[2001:db8::1]:1", "10.1.2.3:65535"} {
		a, err := net.ResolveUDPAddr("udp", s)
		if err != nil {
			t.Fatal(err)
		}
		h := make([]byte, hdrLen)
		encodeAddr(h, a)
		b, ok := decodeAddr(h)
		if !ok || b.String() != a.String() {
			t.Errorf("%s came back as %v (%v)", a, b, ok)
		}
	}
	if _, ok := decodeAddr(make([]byte, hdrLen)); ok {
		t.Error("family 0 accepted")
	}
}
