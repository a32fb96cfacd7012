package http3

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Datagrams between generations carry the client's address in front of
// the QUIC packet: the address family (4 or 6), 16 bytes of IP address
// (IPv4 mapped into IPv6) and 2 bytes of port.
const (
	hdrLen  = 19
	maxData = 2048 // a QUIC packet is at most 1452 bytes from quic-go, 1500 on an Ethernet path
)

// A packet is a datagram the router hands the transport.
type packet struct {
	buf  *[]byte
	n    int
	from *net.UDPAddr
}

// A link is one end of a socket pair between two generations.
type link interface {
	// send sends one datagram without waiting: a full queue is an error
	// (the datagram is dropped, as a full UDP buffer drops one).
	send(b []byte) error
	read(b []byte) (int, error)
	close() error
}

// older is a generation older than this one that still lives and drains.
type older struct {
	gen  uint32
	pid  int
	link link
	gone atomic.Bool // its end of the pair is closed: it has exited
}

// A router stands between the shared UDP socket and this generation's
// QUIC transport. It reads the socket while this generation serves, and
// the datagrams older generations pass up and newer ones forward down,
// and sends each packet where its connection lives:
//
//   - a packet whose destination connection ID bears this generation's
//     mark goes to this generation's transport, and so does one with the
//     mark of a newer generation after a rollback (they have died: the
//     transport answers with a stateless reset);
//   - one with the mark of an older generation still alive is forwarded
//     to it over its socket pair (it answers on its own descriptor of the
//     UDP socket);
//   - one with the mark of a newer generation, or without a mark (a new
//     connection) once this generation no longer takes new connections,
//     is passed up over this generation's own pair to the newest one,
//     which routes it again;
//   - anything else (a new connection while this generation serves, a
//     packet of a generation that has exited) goes to this generation's
//     transport, which answers a dead connection with a stateless reset
//     (the reset key is the lineage's).
//
// A packet passed up is read by any newer generation (each holds the
// pair's other end); one that no longer takes new connections passes it
// up again, so it climbs to the newest generation, which keeps it. A
// packet forwarded down reaches its owner, which never routes it again.
type router struct {
	m     *marker
	gen   uint32
	udp   net.PacketConn // this generation's descriptor of the shared socket
	own   link           // in: packets forwarded down to us; out: packets passed up
	older []*older
	stats *counters

	accepting atomic.Bool // unmarked packets (new connections) stay here
	newerGone atomic.Bool // no newer generation lives: their packets stay here

	in     chan packet
	closed chan struct{}
	pool   sync.Pool
	wg     sync.WaitGroup

	mu      sync.Mutex
	udpDone chan struct{} // non-nil while the UDP socket is read
	readDL  deadline
}

func newRouter(m *marker, udp net.PacketConn, own link, olds []*older, stats *counters) *router {
	r := &router{
		m:      m,
		gen:    m.gen,
		udp:    udp,
		own:    own,
		older:  olds,
		stats:  stats,
		in:     make(chan packet, 1024),
		closed: make(chan struct{}),
	}
	r.readDL.init()
	r.pool.New = func() any { b := make([]byte, hdrLen+maxData); return &b }
	if own != nil {
		r.wg.Go(func() { r.readLink(own, true) })
	}
	for _, o := range olds {
		r.wg.Go(func() { r.readLink(o.link, false) })
	}
	return r
}

// startUDP makes this generation read the shared socket.
func (r *router) startUDP() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.udpDone != nil {
		return
	}
	_ = r.udp.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	r.udpDone = done
	go func() {
		defer close(done)
		r.readUDP()
	}()
}

// stopUDP stops reading the shared socket; a datagram already read is
// routed first.
func (r *router) stopUDP() {
	r.mu.Lock()
	done := r.udpDone
	r.udpDone = nil
	r.mu.Unlock()
	if done == nil {
		return
	}
	_ = r.udp.SetReadDeadline(time.Now())
	<-done
}

func (r *router) readUDP() {
	for {
		bp := r.pool.Get().(*[]byte)
		buf := *bp
		n, from, err := r.udp.ReadFrom(buf[hdrLen:])
		if err != nil {
			r.pool.Put(bp)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return // stopUDP
			}
			select {
			case <-r.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		ua, _ := from.(*net.UDPAddr)
		if ua == nil {
			r.pool.Put(bp)
			continue
		}
		r.route(bp, n, ua, true)
	}
}

// readLink reads the datagrams of one socket pair: forwarded down to this
// generation (own), or passed up by an older one.
func (r *router) readLink(l link, own bool) {
	for {
		bp := r.pool.Get().(*[]byte)
		buf := *bp
		n, err := l.read(buf)
		if err != nil {
			r.pool.Put(bp)
			return
		}
		if n < hdrLen {
			r.pool.Put(bp)
			continue
		}
		from, ok := decodeAddr(buf[:hdrLen])
		if !ok {
			r.pool.Put(bp)
			continue
		}
		if own {
			r.stats.packetsForwardedIn.Add(1)
			r.deliver(bp, n-hdrLen, from)
			continue
		}
		r.route(bp, n-hdrLen, from, false)
	}
}

// route sends one packet (at buf[hdrLen:hdrLen+n]) where it belongs.
func (r *router) route(bp *[]byte, n int, from *net.UDPAddr, fromUDP bool) {
	data := (*bp)[hdrLen : hdrLen+n]
	id, _, ok := destinationID(data)
	if ok {
		if g, marked := r.m.generation(id); marked {
			switch {
			case g == r.gen:
				r.deliver(bp, n, from)
				return
			case g < r.gen:
				for _, o := range r.older {
					if o.gen == g && !o.gone.Load() {
						if r.forward(o, bp, n, from) {
							return
						}
						break
					}
				}
				r.deliver(bp, n, from) // its generation has exited: a stateless reset
				return
			case r.newerGone.Load():
				r.deliver(bp, n, from)
				return
			default:
				r.passUp(bp, n, from)
				return
			}
		}
	}
	if r.accepting.Load() || r.own == nil {
		r.deliver(bp, n, from)
		return
	}
	r.passUp(bp, n, from)
}

func (r *router) forward(o *older, bp *[]byte, n int, from *net.UDPAddr) bool {
	buf := *bp
	encodeAddr(buf[:hdrLen], from)
	err := o.link.send(buf[:hdrLen+n])
	if err != nil && !errors.Is(err, errQueueFull) {
		o.gone.Store(true) // ECONNREFUSED: the older generation has exited
		return false
	}
	if err != nil {
		r.stats.packetsDropped.Add(1)
	} else {
		r.stats.packetsForwarded.Add(1)
	}
	r.pool.Put(bp)
	return true
}

func (r *router) passUp(bp *[]byte, n int, from *net.UDPAddr) {
	buf := *bp
	encodeAddr(buf[:hdrLen], from)
	if err := r.own.send(buf[:hdrLen+n]); err != nil {
		r.stats.packetsDropped.Add(1)
	} else {
		r.stats.packetsPassedUp.Add(1)
	}
	r.pool.Put(bp)
}

func (r *router) deliver(bp *[]byte, n int, from *net.UDPAddr) {
	select {
	case r.in <- packet{buf: bp, n: n, from: from}:
	case <-r.closed:
		r.pool.Put(bp)
	}
}

// close stops every reader. The links to older generations and the UDP
// descriptor are closed; the own link is closed too (its file, passed on,
// stays open in the Process).
func (r *router) close() {
	r.stopUDP()
	select {
	case <-r.closed:
		return
	default:
	}
	close(r.closed)
	if r.own != nil {
		_ = r.own.close()
	}
	for _, o := range r.older {
		_ = o.link.close()
	}
	r.wg.Wait()
	_ = r.udp.Close()
}

func encodeAddr(h []byte, a *net.UDPAddr) {
	ap := a.AddrPort()
	ip := ap.Addr()
	h[0] = 6
	if ip.Unmap().Is4() {
		h[0] = 4
	}
	b := ip.As16()
	copy(h[1:17], b[:])
	binary.BigEndian.PutUint16(h[17:19], ap.Port())
}

func decodeAddr(h []byte) (*net.UDPAddr, bool) {
	ip := netip.AddrFrom16([16]byte(h[1:17]))
	switch h[0] {
	case 4:
		ip = ip.Unmap()
		if !ip.Is4() {
			return nil, false
		}
	case 6:
	default:
		return nil, false
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(h[17:19]))), true
}

// conn is the net.PacketConn the QUIC transport reads and writes: it
// reads what the router delivers and writes to the shared socket.
type conn struct{ r *router }

func (c conn) ReadFrom(p []byte) (int, net.Addr, error) {
	r := c.r
	for {
		t, changed := r.readDL.get()
		var timer <-chan time.Time
		if !t.IsZero() {
			d := time.Until(t)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			tm := time.NewTimer(d)
			defer tm.Stop()
			timer = tm.C
		}
		select {
		case pk := <-r.in:
			n := copy(p, (*pk.buf)[hdrLen:hdrLen+pk.n])
			r.pool.Put(pk.buf)
			return n, pk.from, nil
		case <-changed:
		case <-timer:
			return 0, nil, os.ErrDeadlineExceeded
		case <-r.closed:
			return 0, nil, net.ErrClosed
		}
	}
}

func (c conn) WriteTo(p []byte, addr net.Addr) (int, error) { return c.r.udp.WriteTo(p, addr) }
func (c conn) Close() error                                 { return nil }
func (c conn) LocalAddr() net.Addr                          { return c.r.udp.LocalAddr() }
func (c conn) SetDeadline(t time.Time) error                { return c.SetReadDeadline(t) }
func (c conn) SetReadDeadline(t time.Time) error            { c.r.readDL.set(t); return nil }
func (c conn) SetWriteDeadline(time.Time) error             { return nil }

// SetReadBuffer and SetWriteBuffer size the shared socket's buffers.
func (c conn) SetReadBuffer(n int) error {
	if s, ok := c.r.udp.(interface{ SetReadBuffer(int) error }); ok {
		return s.SetReadBuffer(n)
	}
	return nil
}

func (c conn) SetWriteBuffer(n int) error {
	if s, ok := c.r.udp.(interface{ SetWriteBuffer(int) error }); ok {
		return s.SetWriteBuffer(n)
	}
	return nil
}

// deadline is a read deadline that wakes a waiting reader when it moves.
type deadline struct {
	mu      sync.Mutex
	t       time.Time
	changed chan struct{}
}

func (d *deadline) init() { d.changed = make(chan struct{}) }

func (d *deadline) get() (time.Time, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.t, d.changed
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t = t
	close(d.changed)
	d.changed = make(chan struct{})
}

var errQueueFull = errors.New("the peer's queue is full")
