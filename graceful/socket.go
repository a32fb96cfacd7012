package graceful

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// A socket is a listening stream socket or a bound datagram socket that
// the Process holds for a generation and hands to the next one. Its
// descriptor stays open in the Process for as long as the generation
// lives (until the end of its probation after a handover), whatever the
// servers and services that use it do with their own copies: the kernel
// keeps queueing connections and datagrams on it, so none is refused
// while one generation replaces another.
type socket struct {
	name string   // handover key: the endpoint as written (see endpoint.String)
	ep   endpoint // as the program asked for it
	fd   int      // the Process's own descriptor, close-on-exec; -1 where there is none
	// file holds fd for net.FileListener and net.FilePacketConn, which
	// take an *os.File: made on first use and kept until close, so that a
	// listener costs the one duplicate net makes and no more (with
	// thousands of servers, a restart's path to ready is mostly this).
	file   *os.File
	addr   net.Addr // where it is bound
	packet bool
	from   string // "bound", "parent", "supervisor" or "systemd"
	// fdName is the name systemd knows the socket by, if it passed it.
	fdName string
	// prep is a listener made ahead, on another goroutine, for an
	// inherited stream socket (see prepareListeners); listener lends it.
	prep *prepared
	// live is the bound listener or packet connection itself, where the
	// platform cannot duplicate descriptors (fd is then -1): it is lent
	// once.
	live any
}

// sockets is the set of sockets of a Process.
type sockets struct {
	owned     []*socket // used by this generation, in the order asked
	inherited []*socket // received and not (yet) used
	// byName indexes owned by name, so that a process with thousands of
	// servers takes each socket in constant time.
	byName map[string]*socket
}

// take returns the socket for ep: one this generation already uses (when
// reuse is set, for a rollback), else the inherited one with ep's systemd
// name, exact name or address, else a freshly bound one.
func (ss *sockets) take(ep endpoint, perm socketPerm, reuse bool) (*socket, error) {
	name := ep.String()
	if s := ss.byName[name]; s != nil {
		if reuse {
			return s, nil
		}
		return nil, fmt.Errorf("the process already listens on %s", name)
	}
	if s, err := ss.inherit(ep, name); s != nil || err != nil {
		if err == nil && (ep.network == "unix" || ep.network == "unixgram") {
			// The settings may have changed since the socket was bound.
			err = perm.apply(s.addr.String())
		}
		if err != nil {
			return nil, err
		}
		ss.own(s)
		return s, nil
	}
	if ep.fdName != "" {
		return nil, fmt.Errorf("no socket named %q was passed by systemd%s", ep.fdName, ss.unusedHint())
	}
	s, err := bindSocket(ep, perm)
	if err != nil {
		return nil, fmt.Errorf("%w%s", err, ss.unusedHint())
	}
	s.name = name
	ss.own(s)
	return s, nil
}

// own adds s, named, to the sockets this generation uses.
func (ss *sockets) own(s *socket) {
	if ss.byName == nil {
		// Sized for the inherited sockets, which a program usually
		// takes every one of.
		ss.byName = make(map[string]*socket, len(ss.inherited)+1)
	}
	ss.owned = append(ss.owned, s)
	ss.byName[s.name] = s
}

// ownedSocket returns the socket this generation uses for ep, or nil.
func (ss *sockets) ownedSocket(ep endpoint) *socket { return ss.byName[ep.String()] }

// drop closes a socket this generation took and no longer uses.
func (ss *sockets) drop(s *socket) {
	if s == nil {
		return
	}
	ss.owned = slices.DeleteFunc(ss.owned, func(o *socket) bool { return o == s })
	if ss.byName[s.name] == s {
		delete(ss.byName, s.name)
	}
	s.close()
}

// inherit takes the inherited socket for ep out of the inherited set: by
// systemd name for "systemd:NAME", else by exact name, else (for an
// endpoint that names a particular socket) by address. A socket found by
// name must be of ep's kind and bound where ep says, so that a confused
// or hostile environment cannot make the process serve the wrong socket.
func (ss *sockets) inherit(ep endpoint, name string) (*socket, error) {
	pick := func(i int) *socket {
		s := ss.inherited[i]
		if i == 0 {
			// Servers usually ask in the order the sockets came.
			ss.inherited = ss.inherited[1:]
		} else {
			ss.inherited = slices.Delete(ss.inherited, i, i+1)
		}
		s.name, s.ep = name, ep
		return s
	}
	for i, s := range ss.inherited {
		byName := s.name == name || (ep.fdName != "" && s.fdName == ep.fdName)
		if !byName {
			continue
		}
		if !ep.sameKind(s.addr) || s.packet != ep.packet() {
			return nil, fmt.Errorf("inherited socket %q is %s, not a %s socket", name, describeSocket(s), ep.network)
		}
		if ep.fdName == "" && ep.particular() && !ep.matches(s.addr) {
			return nil, fmt.Errorf("inherited socket %q is bound to %s", name, formatAddr(s.addr))
		}
		return pick(i), nil
	}
	if ep.fdName != "" || !ep.particular() {
		return nil, nil
	}
	for i, s := range ss.inherited {
		if s.packet == ep.packet() && ep.sameKind(s.addr) && ep.matches(s.addr) {
			return pick(i), nil
		}
	}
	return nil, nil
}

// unusedHint names the inherited sockets nothing has taken, for an error
// about binding: a socket systemd passed on another address than the
// configured one is the usual cause of "address already in use".
func (ss *sockets) unusedHint() string {
	if len(ss.inherited) == 0 {
		return ""
	}
	names := make([]string, 0, len(ss.inherited))
	for _, s := range ss.inherited {
		names = append(names, fmt.Sprintf("%s (%s, from %s)", formatAddr(s.addr), s.name, s.from))
	}
	return fmt.Sprintf(" (inherited sockets that match no address the program asked for: %s)", strings.Join(names, ", "))
}

// describeSocket says what kind of socket s is, for errors.
func describeSocket(s *socket) string {
	kind := "a listening stream socket"
	if s.packet {
		kind = "a datagram socket"
	}
	return fmt.Sprintf("%s on %s", kind, formatAddr(s.addr))
}

// bindSocket binds a fresh socket for ep.
func bindSocket(ep endpoint, perm socketPerm) (*socket, error) {
	if ep.packet() {
		pc, err := listenPacket(context.Background(), ep, perm)
		if err != nil {
			return nil, err
		}
		return socketOf(pc, pc.LocalAddr(), ep)
	}
	ln, err := listen(context.Background(), ep, perm)
	if err != nil {
		return nil, err
	}
	return socketOf(ln, ln.Addr(), ep)
}

// listener returns a listener on s for one server or service: a
// descriptor of its own, which it may close when it stops; the socket
// stays open in the Process.
func (s *socket) listener() (net.Listener, error) {
	if s.packet {
		return nil, fmt.Errorf("%s is a datagram socket: use ListenPacket", s.name)
	}
	if pr := s.prep; pr != nil {
		s.prep = nil
		f, ln, err := pr.get(s.fd, s.name)
		s.file = f
		if err != nil {
			return nil, fmt.Errorf("socket %s: %w", s.name, err)
		}
		return ln, nil
	}
	if s.fd < 0 {
		ln, ok := s.live.(net.Listener)
		if !ok {
			return nil, fmt.Errorf("socket %s: %w, and it is in use", s.name, errNoDescriptors)
		}
		s.live = nil
		return ln, nil
	}
	ln, err := fileListener(s.osFile())
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", s.name, err)
	}
	return ln, nil
}

// packetConn returns a packet connection on s, as listener does.
func (s *socket) packetConn() (net.PacketConn, error) {
	if !s.packet {
		return nil, fmt.Errorf("%s is a stream socket: use Listen", s.name)
	}
	if s.fd < 0 {
		pc, ok := s.live.(net.PacketConn)
		if !ok {
			return nil, fmt.Errorf("socket %s: %w, and it is in use", s.name, errNoDescriptors)
		}
		s.live = nil
		return pc, nil
	}
	pc, err := filePacketConn(s.osFile())
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", s.name, err)
	}
	return pc, nil
}

// close closes the Process's descriptor. It never removes a unix socket
// file: during a handover the path belongs to whoever serves it next.
func (s *socket) close() {
	if pr := s.prep; pr != nil {
		s.prep = nil
		pr.once.Do(func() {}) // no longer made; or made: closed here
		if pr.ln != nil {
			_ = pr.ln.Close()
		}
		if pr.file != nil {
			s.file = pr.file
		}
	}
	switch {
	case s.file != nil:
		_ = s.file.Close()
		s.file = nil
	case s.fd >= 0:
		closeFd(s.fd)
	}
	s.fd = -1
}

// osFile returns s.file, made if need be; s.fd must be open.
func (s *socket) osFile() *os.File {
	if s.file == nil {
		s.file = os.NewFile(uintptr(s.fd), s.name)
	}
	return s.file
}

// listenPacket binds a fresh datagram socket for ep.
func listenPacket(ctx context.Context, ep endpoint, perm socketPerm) (net.PacketConn, error) {
	var lc net.ListenConfig
	if ep.network == "unixgram" {
		if err := removeStaleSocket("unixgram", ep.address); err != nil {
			return nil, err
		}
		if perm.set() {
			lc.Control = perm.beforeBind
		}
	}
	pc, err := lc.ListenPacket(ctx, ep.network, ep.address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", ep, err)
	}
	if ep.network == "unixgram" {
		if err := perm.apply(ep.address); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	return pc, nil
}

var errNoDescriptors = errors.New("this platform cannot pass sockets between processes")

// A prepared listener is one made for an inherited stream socket before
// the program asks for it. A new generation with thousands of servers
// spends most of its way to ready making their listeners (each an
// os.File, a duplicate and its registration with the poller); made on a
// goroutine of their own, they are made on another core while the program
// sets up its servers, and the successor serves sooner.
type prepared struct {
	once sync.Once
	file *os.File // the socket's own descriptor, for socket.file
	ln   net.Listener
	err  error
}

// get makes the listener on fd, once; a call made meanwhile waits for it.
func (pr *prepared) get(fd int, name string) (*os.File, net.Listener, error) {
	pr.once.Do(func() {
		pr.file = os.NewFile(uintptr(fd), name)
		pr.ln, pr.err = fileListener(pr.file)
	})
	return pr.file, pr.ln, pr.err
}

// concurrently calls f(i) for each i from 0 to n-1, spread over as many
// goroutines as there are processors to run them, each taking a run of at
// least 64 calls: fewer are not worth a goroutine. It returns once every
// call has returned; f must be safe to call concurrently for distinct i.
func concurrently(n int, f func(i int)) {
	const minRun = 64
	workers := min(runtime.GOMAXPROCS(0), n/minRun)
	if workers < 2 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		from, to := n*w/workers, n*(w+1)/workers
		run := func() {
			for i := from; i < to; i++ {
				f(i)
			}
		}
		if w == workers-1 {
			run() // the last run on the caller's goroutine
			break
		}
		wg.Go(run)
	}
	wg.Wait()
}

// prepareListeners makes listeners for the inherited stream sockets on a
// goroutine that ends once it has made them all. It goes from the last to
// the first: the program usually asks for them in the order they came,
// making the listeners of those it reaches first itself, and the two meet
// without waiting on each other. A socket taken or closed first is
// skipped (see socket.listener and socket.close).
func prepareListeners(socks []*socket) {
	type job struct {
		pr   *prepared
		fd   int
		name string
	}
	var jobs []job
	for _, s := range socks {
		if s.packet || s.fd < 0 || s.prep != nil || s.file != nil {
			continue
		}
		s.prep = &prepared{}
		jobs = append(jobs, job{s.prep, s.fd, s.name})
	}
	if len(jobs) == 0 {
		return
	}
	go func() {
		for _, j := range slices.Backward(jobs) {
			_, _, _ = j.pr.get(j.fd, j.name)
		}
	}()
}
